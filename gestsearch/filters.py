"""Which clips a search may return: filters on the video path, the video, the speaker track, the
clip's duration, when its video was indexed and whether the clip's person is the one speaking.

Filters are resolved to the set of matching clip ids before ranking (``GestureStore.matching_clip_ids``),
and the nearest-neighbour search runs over that set only, so k hits come back whenever k clips match.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from gestsearch.errors import QueryError

_GLOB = set("*?[")


@dataclass(frozen=True)
class ClipFilter:
    """Every field left None matches everything; the fields that are set must all match.

    ``path``: a folder (every video under it), a file name, or a glob. A glob without ``/`` matches the file
    name (``*.mp4``, ``interview_*``); one with ``/`` matches the whole path, and a relative one
    the end of it (``2019/*/*.mp4``); ``*`` crosses folders. ``video``: one video's path.
    ``indexed_after`` / ``indexed_before``: ISO 8601 dates or times (UTC unless a zone is given).
    ``min_speaking``: drop the clips whose speaking score is below it (``search --speakers-only``,
    :data:`~gestsearch.constants.SPEAKING_THRESHOLD`); clips without a score (one person in view, no
    speech, or an index made before the scores) are kept.
    """

    path: str | None = None
    video: str | None = None
    track: int | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    indexed_after: str | None = None
    indexed_before: str | None = None
    min_speaking: float | None = None

    def __post_init__(self) -> None:
        if self.track is not None and (isinstance(self.track, bool) or not isinstance(self.track, int) or self.track < 0):
            raise QueryError(f"the track filter must be a track number (0, 1, ...), got {self.track!r}")
        for name in ("min_duration_s", "max_duration_s"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise QueryError(f"the {name.replace('_', ' ')[:-2]} filter must be a number of seconds ≥ 0, got {value!r}")
        if self.min_speaking is not None and not (
            isinstance(self.min_speaking, (int, float)) and not isinstance(self.min_speaking, bool) and 0 <= self.min_speaking <= 1
        ):
            raise QueryError(f"the speaking score threshold must be a number in [0, 1], got {self.min_speaking!r}")
        if None not in (self.min_duration_s, self.max_duration_s) and self.min_duration_s > self.max_duration_s:
            raise QueryError(f"the minimum duration {self.min_duration_s} s is above the maximum {self.max_duration_s} s")
        for name in ("path", "video"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise QueryError(f"the {name} filter is empty")
        after, before = _time(self.indexed_after, "indexed_after"), _time(self.indexed_before, "indexed_before")
        if after and before and after >= before:
            raise QueryError(f"indexed_after {self.indexed_after} is not before indexed_before {self.indexed_before}")

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))

    @property
    def on_videos(self) -> bool:
        """Whether the filter looks at the video (path, identity or indexing time), not only the clip."""
        return any(x is not None for x in (self.path, self.video, self.indexed_after, self.indexed_before))

    def to_dict(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def clip_where(self, has_speaking: bool = True) -> str | None:
        """The SQL condition on the clips table for the clip fields (track, duration, speaking score);
        ``has_speaking`` False: the table has no speaking column (every clip counts as unscored)."""
        parts = []
        if self.track is not None:
            parts.append(f"track = {int(self.track)}")
        if self.min_duration_s is not None:
            parts.append(f"end_s - start_s >= {float(self.min_duration_s)!r}")
        if self.max_duration_s is not None:
            parts.append(f"end_s - start_s <= {float(self.max_duration_s)!r}")
        if self.min_speaking is not None and has_speaking:
            parts.append(f"(speaking IS NULL OR speaking >= {float(self.min_speaking)!r})")
        return " AND ".join(parts) or None

    def matches_video(self, path: str, indexed_at: str) -> bool:
        """Whether a video (its path as stored, and its indexing time) passes the video fields."""
        if self.video is not None and Path(path) != Path(self.video).expanduser().absolute():
            return False
        if self.path is not None and not _path_matches(path, self.path):
            return False
        when = _time(indexed_at, "indexed_at")
        after, before = _time(self.indexed_after, "indexed_after"), _time(self.indexed_before, "indexed_before")
        if after is not None and not (when and when >= after):
            return False
        return before is None or bool(when and when < before)


def _path_matches(path: str, pattern: str) -> bool:
    if not _GLOB & set(pattern):
        if "/" not in pattern and Path(path).name == pattern:  # a bare file name
            return True
        folder = str(Path(pattern).expanduser().absolute())
        return path == folder or path.startswith(folder.rstrip("/") + "/")
    if "/" not in pattern:
        return fnmatch.fnmatchcase(Path(path).name, pattern)
    if not pattern.startswith(("/", "*", "~")):
        pattern = "*/" + pattern
    return fnmatch.fnmatchcase(path, str(Path(pattern).expanduser()) if pattern.startswith("~") else pattern)


def _time(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        when = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"{name} must be an ISO 8601 date or time such as 2026-12-03 or 2026-12-03T10:00, got {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
