"""Where the videos to index are: a folder, one video, or a text file listing videos.

A list holds one video a line: a local path (relative to the list's folder), a ``file://`` URI,
or the URI of an object elsewhere (``s3://bucket/talk.mp4``, ``gs://…``, ``hdfs://…``: whatever
``pyarrow.fs`` reads). Blank lines and lines starting with ``#`` are skipped. A local video is
named in the index by its absolute path, an object elsewhere by its URI; such an object is copied
to a temporary file (with its transcript sidecars) by whoever embeds it, so that a cluster can
read an archive from shared storage.
"""

from __future__ import annotations

import functools
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from gestsearch.constants import VIDEO_EXTENSIONS
from gestsearch.errors import ConfigError, GestsearchError, MediaError

# what load_audio and load_transcript read beside a video (gestsearch.media.audio, .sidecars)
SIDECAR_SUFFIXES = (".wav", ".txt", ".json", ".srt", ".vtt")
# the schemes pyarrow.fs reads besides file://; checked by name, as opening one may take the network
REMOTE_SCHEMES = ("s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss")
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class RemoteStat:
    """Size and modification time of an object elsewhere: what tells whether it changed."""

    size: int
    mtime: float  # seconds since the epoch; 0.0 when the store keeps none


def is_remote(key: str) -> bool:
    """Whether ``key`` is the URI of an object elsewhere (not a local path, not ``file://``)."""
    return bool(_URI.match(key))


def find_videos(folder: Path) -> list[Path]:
    """Video files under ``folder`` (recursively), sorted; hidden directories are skipped."""
    return sorted(
        p for p in folder.rglob("*")
        if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def find_sources(target: Path) -> list[str]:
    """The videos ``target`` names, as index keys: absolute paths and URIs.

    ``target``: a folder (its videos, recursively), a video file, or a text file listing videos.
    Raises GestsearchError when it is none of these, or a list line names an unsupported URI.
    """
    target = target.resolve()
    if not target.exists():
        raise GestsearchError(f"{target}: no such file or directory")
    if target.is_dir():
        return [str(p) for p in find_videos(target)]
    if target.suffix.lower() in VIDEO_EXTENSIONS:
        return [str(target)]
    return read_list(target)


def read_list(path: Path) -> list[str]:
    """The videos a list file names, in its order, each once (see the module docstring)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GestsearchError(
            f"{path}: not a video (suffixes {', '.join(VIDEO_EXTENSIONS)}) nor a UTF-8 text file listing videos"
        ) from None
    except OSError as e:
        raise GestsearchError(f"{path}: cannot read the list ({e.strerror or e})") from e
    keys: dict[str, None] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keys[_key(line, path.parent, f"{path}:{number}")] = None
    if keys and not any(is_remote(key) or Path(key).exists() for key in keys):  # a text file, not a list
        raise GestsearchError(
            f"{path}: not a video (suffixes {', '.join(VIDEO_EXTENSIONS)}), and none of its {len(keys)} line(s) "
            "names a file or URI (a list holds one video path or URI a line)"
        )
    return list(keys)


def _key(entry: str, base: Path, where: str) -> str:
    match = _URI.match(entry)
    if match is None:
        return str((base / Path(entry).expanduser()).resolve())
    if match.group(1).lower() == "file":
        parsed = urlparse(entry)
        if parsed.netloc not in ("", "localhost"):
            raise ConfigError(f"{where}: {entry}: a file:// URI names a file of this machine (file:///path)")
        return str(Path(url2pathname(unquote(parsed.path))).resolve())
    if match.group(1).lower() not in REMOTE_SCHEMES:  # stops the run before any work
        raise ConfigError(
            f"{where}: {entry}: unsupported URI scheme {match.group(1)!r} (use a path, file://, or {', '.join(s + '://' for s in REMOTE_SCHEMES)})"
        )
    return entry


def remote_stat(uri: str) -> RemoteStat:
    """Size and modification time of the object at ``uri``; MediaError when it cannot be read."""
    fs, path = _filesystem(uri)
    from pyarrow.fs import FileType

    try:
        info = fs.get_file_info(path)
    except OSError as e:
        raise MediaError(uri, f"cannot reach the object ({_first_line(e)})") from e
    if info.type != FileType.File:
        raise MediaError(uri, "no such object")
    return RemoteStat(int(info.size or 0), info.mtime.timestamp() if info.mtime else 0.0)


@contextmanager
def fetched(uri: str) -> Iterator[Path]:
    """A local copy of the video at ``uri``, with the transcript sidecars beside it, in a temporary
    folder removed when the block ends. MediaError when the object cannot be read."""
    fs, path = _filesystem(uri)
    from pyarrow.fs import FileType

    source = PurePosixPath(path)
    with tempfile.TemporaryDirectory(prefix="gestsearch-fetch-") as folder:
        local = Path(folder) / source.name
        _copy(fs, path, local, uri)
        sidecars = [str(source.with_suffix(suffix)) for suffix in SIDECAR_SUFFIXES]
        try:
            found = fs.get_file_info(sidecars)  # type: ignore[attr-defined]
        except OSError:
            found = []
        for info in found:
            if info.type == FileType.File:
                _copy(fs, info.path, local.with_suffix(PurePosixPath(info.path).suffix), uri)
        yield local


def _copy(fs: object, source: str, target: Path, uri: str) -> None:
    try:
        with fs.open_input_stream(source) as stream, open(target, "wb") as out:  # type: ignore[attr-defined]
            shutil.copyfileobj(stream, out, 1 << 20)
    except OSError as e:
        raise MediaError(uri, f"cannot copy {source} ({_first_line(e)})") from e


def _filesystem(uri: str) -> tuple[object, str]:
    """``pyarrow.fs`` file system and path of ``uri`` (one file system per bucket or host).
    MediaError when it cannot be reached."""
    parsed = urlparse(uri)
    root = f"{parsed.scheme}://{parsed.netloc}/" + (f"?{parsed.query}" if parsed.query else "")
    try:
        fs, base = _root(root)
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError, or a JVM loader's error for hdfs
        raise MediaError(uri, f"cannot open its file system ({_first_line(e)})") from e
    return fs, f"{base.rstrip('/')}/{unquote(parsed.path).lstrip('/')}"


@functools.lru_cache(maxsize=64)
def _root(root: str) -> tuple[object, str]:
    from pyarrow.fs import FileSystem

    return FileSystem.from_uri(root)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
