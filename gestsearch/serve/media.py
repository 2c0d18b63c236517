"""Which files the service may send, and the mp4 cuts it makes on demand.

Only videos that are in the index are ever served, looked up by their id, never by a path
from the request. A file is sent only while it is still the file that was indexed (a regular
file of the recorded size and modification time, symlinks followed), so a video replaced by a
link to something else after indexing is refused.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from gestsearch.config import cache_dir
from gestsearch.constants import FPS
from gestsearch.errors import QueryError
from gestsearch.media.cut import cut_clip
from gestsearch.store import GestureStore, VideoRecord

MAX_CUT_S = 120.0  # a cut is a moment, not a programme
CUT_CACHE_FILES = 512  # oldest cuts are removed beyond this many


def servable_file(video: VideoRecord) -> Path:
    """The indexed file of ``video``, checked to be the one that was indexed; QueryError else."""
    path = Path(video.path)
    try:
        stat = path.stat()  # follows links: what would be sent
    except OSError:
        raise QueryError(f"{path.name}: the video is no longer where it was indexed") from None
    if not path.is_file() or stat.st_size != video.size_bytes or abs(stat.st_mtime - video.mtime) > 1e-3:
        raise QueryError(f"{path.name}: the file changed since it was indexed (run `gestsearch index` again)")
    return path


def video_of_clip(store: GestureStore, clip_id: int) -> tuple[VideoRecord, float, float]:
    """The video record of a clip, and the clip's start and end in seconds; QueryError when unknown."""
    clips = store.clips_by_ids([clip_id])
    if not clips:
        raise QueryError(f"no clip with id {clip_id} in the index")
    clip = clips[0]
    video = store.video_by_path(clip.path)
    if video is None or video.status != "indexed":
        raise QueryError(f"no clip with id {clip_id} in the index")
    return video, clip.start_s, clip.end_s


class CutCache:
    """mp4 cuts of indexed videos, keyed by the file's content hash and the span in frames."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._lock = threading.Lock()

    def cut(self, video: VideoRecord, start_s: float, end_s: float) -> Path:
        if not (0 <= start_s < end_s) or end_s - start_s > MAX_CUT_S:
            raise QueryError(f"a cut spans 0 < end - start ≤ {MAX_CUT_S:.0f} s (got {start_s}-{end_s})")
        if start_s >= video.duration_s:
            raise QueryError(f"{Path(video.path).name} lasts {video.duration_s:.2f} s; the cut starts at {start_s:.2f} s")
        source = servable_file(video)
        first, last = round(start_s * FPS), round(min(end_s, video.duration_s) * FPS)
        key = hashlib.sha1(f"{video.content_hash}:{first}:{last}".encode()).hexdigest()[:20]
        target = self.directory / f"{key}.mp4"
        with self._lock:  # one encoder at a time; a second request for the same cut waits for the first
            if not target.is_file():
                self.directory.mkdir(parents=True, exist_ok=True)
                cut_clip(source, first / FPS, max(last, first + 1) / FPS, target)
                self._trim()
        return target

    def _trim(self) -> None:
        cuts = sorted(self.directory.glob("*.mp4"), key=lambda p: p.stat().st_mtime)
        for old in cuts[: max(0, len(cuts) - CUT_CACHE_FILES)]:
            old.unlink(missing_ok=True)


def default_cache_dir() -> Path:
    return cache_dir() / "cuts"
