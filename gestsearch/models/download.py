"""`gestsearch models download`: the official checkpoints from the authors' published URLs.

Resumable (a ``NAME.part`` file is continued with an HTTP Range request), verified by size,
moved into place only when complete, and recorded with its SHA-256 in ``checksums.json``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from gestsearch.atomic import write_json
from gestsearch.errors import GestsearchError
from gestsearch.models.checkpoint import file_sha256
from gestsearch.progress import Progress, Update

# From the JEGAL README (its jegal.pth link carries a doubled "https://", fixed here).
OFFICIAL_BASE_URL = "https://www.robots.ox.ac.uk/~vgg/research/jegal/checkpoints"
OFFICIAL_FILES = ("gestsync.pth", "jegal.pth")
CHECKSUMS = "checksums.json"


class DownloadError(GestsearchError):
    """A download failed (network, HTTP status, short read)."""


@dataclass
class Downloaded:
    name: str
    path: str
    url: str
    sha256: str
    bytes: int
    status: str  # "downloaded" | "resumed" | "present"


def default_model_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(os.environ.get("GESTSEARCH_MODEL_DIR") or Path(base) / "gestsearch" / "models")


def download_official(
    out_dir: Path | None = None, base_url: str = OFFICIAL_BASE_URL, force: bool = False, progress: Progress | None = None
) -> list[Downloaded]:
    """Download ``gestsync.pth`` and ``jegal.pth`` into ``out_dir`` (default: the user cache)."""
    out_dir = out_dir or default_model_dir()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create {out_dir}: {e.strerror or e}") from e
    return [fetch(f"{base_url.rstrip('/')}/{name}", out_dir / name, force, progress) for name in OFFICIAL_FILES]


def fetch(url: str, dest: Path, force: bool = False, progress: Progress | None = None, timeout: float = 60) -> Downloaded:
    """Download ``url`` to ``dest``, resuming a partial ``dest.part``; record its SHA-256."""
    recorded = _checksums(dest.parent).get(dest.name)
    if dest.is_file() and not force and recorded and recorded.get("bytes") == dest.stat().st_size:
        return Downloaded(dest.name, str(dest), url, recorded["sha256"], dest.stat().st_size, "present")
    part = dest.with_name(dest.name + ".part")
    if force:
        part.unlink(missing_ok=True)
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if offset and response.status != 206:  # the server ignored the range: start again
                offset = 0
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length is not None else None
            done = offset
            with open(part, "ab" if offset else "wb") as f:
                while block := response.read(1 << 20):
                    f.write(block)
                    done += len(block)
                    if progress:
                        progress(Update(dest.name, done, total, unit="bytes"))
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # nothing left to fetch: the part file is already complete
            total = done = offset
        else:
            raise DownloadError(f"cannot download {url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", None) or e
        raise DownloadError(f"cannot download {url}: {reason} (run again to resume)") from e
    if total is not None and done != total:
        raise DownloadError(f"download of {url} stopped at {done} of {total} bytes (run again to resume)")
    os.replace(part, dest)
    digest = file_sha256(dest)
    _record(dest, url, digest)
    return Downloaded(dest.name, str(dest), url, digest, dest.stat().st_size, "resumed" if offset else "downloaded")


def _checksums(directory: Path) -> dict:
    try:
        return json.loads((directory / CHECKSUMS).read_text())
    except (OSError, ValueError):
        return {}


def _record(dest: Path, url: str, digest: str) -> None:
    table = _checksums(dest.parent)
    table[dest.name] = {
        "sha256": digest, "bytes": dest.stat().st_size, "url": url,
        "downloaded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(dest.parent / CHECKSUMS, table)
