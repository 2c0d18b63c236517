"""Which model: the checkpoints the settings name and the fingerprint an index records of them.

Without torch, so that a text query answered by the numpy encoder (``gestsearch.models.numpy_text``)
and the torch ``Embedder`` name the same model the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from gestsearch.atomic import write_json
from gestsearch.config import Settings, cache_dir
from gestsearch.errors import ConfigError
from gestsearch.models.checkpoint import file_sha256

DIGESTS_FILE = "sha256.json"  # in gestsearch's cache folder: {resolved path: [size, mtime_ns, inode, sha256]}
DIGESTS_KEPT = 64  # files remembered (the most recently hashed)


@dataclass
class ModelInfo:
    name: str  # shown to users: which model produced the vectors
    fingerprint: str  # identifies the checkpoints; the index refuses to mix fingerprints


def resolve_checkpoints(settings: Settings) -> tuple[Path, Path, str, str]:
    """(gestsync.pth, jegal.pth, text model, display name): the configured checkpoints, else the
    bundled demo model."""
    if settings.gestsync and settings.jegal:
        text = Path(settings.text_model).name if Path(settings.text_model).is_dir() else settings.text_model
        return settings.gestsync, settings.jegal, settings.text_model, f"{settings.gestsync.name} + {settings.jegal.name} + {text}"
    if settings.gestsync or settings.jegal:
        raise ConfigError("give both --gestsync and --jegal (or neither, for the bundled demo model)")
    from gestsearch.assets import bundled_model

    return (*bundled_model(), "bundled tiny demo model (trained on the synthetic corpus)")


_FINGERPRINTS: dict[tuple, str] = {}


def fingerprint(gestsync: Path, jegal: Path, text_model: str) -> str:
    """16 hex digits identifying the weights (file contents) and the text model."""
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in (gestsync, jegal)) + (text_model,)
    if key not in _FINGERPRINTS:
        text_id = _text_model_id(text_model)
        digest = hashlib.sha256(f"{file_digest(gestsync)}:{file_digest(jegal)}:{text_id}".encode())
        _FINGERPRINTS[key] = digest.hexdigest()[:16]
    return _FINGERPRINTS[key]


def _text_model_id(text_model: str) -> str:
    """A local text model is identified by its weight files, a hub model by its id."""
    path = Path(text_model)
    if not path.is_dir():
        return text_model
    weights = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin"))
    return ",".join(file_digest(p) for p in weights) or text_model


def file_digest(path: Path) -> str:
    """``file_sha256(path)``, remembered across processes in the user's cache: the official
    checkpoints and XLM-R base are about 1.4 GB to hash, most of a second on every cold query.
    An entry holds only while the file keeps its size, modification time and inode; a cache that
    cannot be read or written is a cache miss, never an error."""
    stat = path.stat()
    key, stamp = str(path.resolve()), [stat.st_size, stat.st_mtime_ns, stat.st_ino]
    file = cache_dir() / DIGESTS_FILE
    try:
        known = json.loads(file.read_text())
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    entry = known.get(key)
    if isinstance(entry, list) and entry[:3] == stamp and len(entry) == 4:
        return entry[3]
    digest = file_sha256(path)
    known.pop(key, None)
    known[key] = [*stamp, digest]
    with contextlib.suppress(OSError):
        write_json(file, dict(list(known.items())[-DIGESTS_KEPT:]), indent=None)
    return digest
