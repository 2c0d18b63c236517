"""Records of the gesture index and the stable identifiers they carry.

Times follow the project conventions: frames are 25 fps indices from the start of the video,
word boundaries are ``(word, start_frame, end_frame)`` with both ends inclusive.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from gestsearch.errors import MediaError
from gestsearch.types import Boundary, VideoStatus


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # scheme://, e.g. s3://bucket/talk.mp4


def video_id_for(path: str | Path) -> str:
    """Stable id of a video file: sha1 (hex) of its absolute path, as the file system spells it
    (bytes: a name that is not valid UTF-8 hashes like any other), or of its URI as written
    (``s3://bucket/talk.mp4``: a path would collapse its ``//``)."""
    if isinstance(path, str) and _URI.match(path):
        return hashlib.sha1(os.fsencode(path)).hexdigest()
    return hashlib.sha1(os.fsencode(Path(path).absolute())).hexdigest()


# A file name need not be valid UTF-8; Python carries its undecodable bytes as lone surrogates
# (U+DC80-U+DCFF), which Arrow strings cannot hold. Stored paths therefore write such a byte as
# \xNN and a backslash as \\, which is lossless and leaves every other path unchanged.
_ESCAPE = "\\"


def stored_path(path: str) -> str:
    """``path`` as the index stores it (valid UTF-8, reversible with :func:`loaded_path`)."""
    if not any(c == _ESCAPE or "\udc80" <= c <= "\udcff" for c in path):
        return path
    return "".join(
        _ESCAPE * 2 if c == _ESCAPE else f"\\x{ord(c) - 0xDC00:02x}" if "\udc80" <= c <= "\udcff" else c for c in path
    )


def loaded_path(text: str) -> str:
    """The path :func:`stored_path` stored (undecodable bytes back as lone surrogates)."""
    if _ESCAPE not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text.startswith(_ESCAPE * 2, i):
            out.append(_ESCAPE)
            i += 2
        elif text.startswith("\\x", i) and len(text) >= i + 4 and _is_hex(text[i + 2 : i + 4]):
            out.append(chr(0xDC00 + int(text[i + 2 : i + 4], 16)))
            i += 4
        else:  # a lone backslash of an index written before paths were escaped
            out.append(text[i])
            i += 1
    return "".join(out)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def content_hash(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """sha256 (hex) of the file's bytes, read in chunks of ``chunk_bytes``.

    Raises MediaError when the file cannot be read.
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while block := f.read(chunk_bytes):
                digest.update(block)
    except OSError as e:
        raise MediaError(path, f"cannot read file ({e.strerror or e})") from e
    return digest.hexdigest()


def covered_frames(videos: np.ndarray, tracks: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> int:
    """Frames of video the clips hold, each counted once: clip i spans frames ``starts[i]`` to
    ``ends[i]`` (inclusive) of track ``tracks[i]`` of video ``videos[i]`` (any keys that tell
    videos apart). Overlapping clips of one track (windows every 2 s of 4) share frames; this is
    the one "frames" figure that ``index`` and ``info`` both report. Vectorised: ``info`` counts
    every clip of the index."""
    starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    if not len(starts):
        return 0
    video = np.unique(np.asarray(videos), return_inverse=True)[1].ravel()
    track = np.asarray(tracks, np.int64)
    order = np.lexsort((starts, track, video))
    video, track, starts, ends = video[order], track[order], starts[order], ends[order]
    new_group = np.r_[True, (video[1:] != video[:-1]) | (track[1:] != track[:-1])]
    # each (video, track) moved past the last: one running maximum then never crosses a group
    shift = (np.cumsum(new_group) - 1) * (int(ends.max()) - int(starts.min()) + 2)
    starts, ends = starts + shift, ends + shift
    seen = np.r_[np.iinfo(np.int64).min // 2, np.maximum.accumulate(ends)[:-1]]  # last frame counted before i
    return int(np.maximum(ends - np.maximum(starts, seen + 1) + 1, 0).sum())


def clip_id_for(video_id: str, content_hash: str, track: int, start_frame: int, end_frame: int) -> int:
    """Stable, unique int64 id (63 bits, never negative) of a clip.

    The video id is part of the key so that two copies of the same file at different paths
    get different clip ids; the content hash makes ids change when the file changes.
    """
    key = f"{video_id}:{content_hash}:{track}:{start_frame}:{end_frame}".encode()
    return int.from_bytes(hashlib.sha1(key).digest()[:8], "big") & ((1 << 63) - 1)


@dataclass
class VideoRecord:
    """One video file of the archive, indexed or failed.

    ``video_id`` must be ``video_id_for(path)``. ``reason`` is "" when ``status == "indexed"``.
    ``fingerprint`` names the model checkpoints that produced the clip vectors.
    """

    video_id: str
    path: str
    content_hash: str
    size_bytes: int
    mtime: float  # seconds since the epoch
    duration_s: float
    fps: float  # native frame rate of the file
    n_tracks: int  # speaker tracks found
    status: VideoStatus
    reason: str
    fingerprint: str
    indexed_at: str = field(default_factory=now_iso)


@dataclass
class ClipSummary:
    """Where a clip is and what is said in it: a :class:`ClipRecord` without its vectors (what
    search reads of each candidate besides its frame vectors)."""

    clip_id: int
    video_id: str
    path: str
    track: int
    start_s: float
    end_s: float
    start_frame: int  # 25 fps, from the video start, inclusive
    end_frame: int  # inclusive
    text: str
    # how well the track's gestures match the clip's speech against the other people in view, [0, 1];
    # None with nobody to compare with, and in indexes made before the score (ingest/speaking.py)
    speaking: float | None = field(default=None, kw_only=True)


@dataclass
class ClipRecord(ClipSummary):
    """The retrieval unit: a stretch of one speaker track.

    Vectors are L2-normalised (the store normalises them on write).
    ``frames`` has shape (n, 512), one gesture vector per 25 fps frame; the store keeps them as
    int8 with a scale per vector (float16 in indexes made before) and reads them back as float32.
    ``content`` is None when the clip has no speech with a known transcript.
    """

    gesture: np.ndarray  # float32 (512,), pooled
    frames: np.ndarray  # float32 (n, 512) as read (any float type on write)
    content: np.ndarray | None  # float32 (512,) pooled, or None
    words: list[Boundary]


@dataclass(frozen=True)
class PackedFrames:
    """The frame vectors of several clips back to back, as the index stores them.

    ``codes`` (F, 512) are int8 with ``scales`` (F,) float32, a vector being ``codes × scale``;
    or float16 with ``scales`` None. ``lengths`` (C,) counts the frames of each clip, in order.
    Scoring reads the codes in cache-sized blocks: dequantising all of them at once would
    allocate (and page-fault) F × 512 float32 on every query.
    """

    codes: np.ndarray
    scales: np.ndarray | None
    lengths: np.ndarray

    @classmethod
    def of(cls, frames: Sequence[np.ndarray]) -> PackedFrames:
        """Float (n_c, D) arrays of several clips, packed without quantising."""
        lengths = np.array([len(f) for f in frames], dtype=np.int64)
        if not len(frames):
            return cls(np.zeros((0, 0), np.float32), None, lengths)
        return cls(np.concatenate([np.asarray(f) for f in frames], axis=0), None, lengths)

    @property
    def starts(self) -> np.ndarray:
        """Index of each clip's first frame in ``codes``, (C,) int64."""
        return np.cumsum(self.lengths) - self.lengths

    def clip(self, i: int) -> np.ndarray:
        """The frame vectors of clip ``i``, float32 (n, D)."""
        first = int(self.starts[i])
        codes = self.codes[first : first + int(self.lengths[i])].astype(np.float32)
        return codes if self.scales is None else codes * self.scales[first : first + len(codes), None]


@dataclass(frozen=True)
class ClipSpans:
    """Where several clips are, one entry a clip: what search merges overlapping candidates by.

    ``videos`` holds one key per video (its clips share it): the write_id of the video's commit in
    an index snapshot (one per indexed video), or any other value that tells videos apart.
    """

    videos: np.ndarray  # (C,)
    tracks: np.ndarray  # (C,) int
    start_s: np.ndarray  # (C,) float
    end_s: np.ndarray  # (C,) float

    @classmethod
    def of(cls, clips: Sequence[ClipSummary]) -> ClipSpans:
        """The spans of ``clips`` (keyed by video id)."""
        return cls(
            np.array([c.video_id for c in clips], dtype=object),
            np.array([c.track for c in clips], dtype=np.int64),
            np.array([c.start_s for c in clips], dtype=np.float64),
            np.array([c.end_s for c in clips], dtype=np.float64),
        )


@dataclass(frozen=True)
class Candidates:
    """What search's exact stage reads of its candidates, in index order: their ids, spans,
    speaking scores and frame vectors. The rest of a clip's summary (path, text, ...) is read for
    the hits alone (``GestureStore.summaries``): at 1M clips LanceDB's take costs ~2 ms a column,
    which for 300 candidates' dozen columns was most of a warm query."""

    ids: np.ndarray  # (C,) int64
    spans: ClipSpans
    speaking: np.ndarray  # (C,) float32, NaN where the index has no score
    frames: PackedFrames
    rows: np.ndarray  # (C,) int64, their row offsets in the clips table at ``version``
    version: int  # of the clips table they were read from
