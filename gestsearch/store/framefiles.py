"""Frame vectors in files beside the tables (format 4): one immutable file per commit.

Why not a LanceDB column: search's exact stage reads the frame vectors of its 300 candidates
(~11.6 MB). LanceDB's take of the list columns spent 30–45 ms on them on 2 cores; one positioned
read a clip from the page cache takes ~4–6 ms (benchmarks/README.md, "Frame vectors in files").
Everything else about a clip stays in the clips table.

Layout: ``PATH/frames/<write_id as 16 hex digits>.frames`` holds the frames of the clips one
``add_video`` commits, one block per clip: its scales (n float32, int8 frames only), then its
codes (n × 512 int8, or float16). The clip's row keeps the block's byte ``frame_offset`` and its
``n_frames``.

Crash safety: a file is written whole and flushed before the clip rows that point into it are
added (writer.py), so a committed clip's frames are always complete. A file stays until no clip
row names its write_id and no reader is inside a read (the rule for old table versions): then
``remove_unused`` deletes it, with the temporary files of killed writes.
"""

from __future__ import annotations

import os
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from gestsearch.atomic import atomic_path, is_temporary
from gestsearch.constants import DIM
from gestsearch.errors import IndexDamaged
from gestsearch.store.failures import index_damaged
from gestsearch.store.records import PackedFrames
from gestsearch.types import FrameEncoding

FRAMES_DIR = "frames"
SUFFIX = ".frames"
# Frame files a reader keeps open (LRU): a share of the process's soft descriptor limit, at most
# OPEN_FILES_MAX. A search touches up to 300 files; at 1M clips in 2,000 files, keeping 512 open
# left ~277 to open per query, half of stage 2's frame read (benchmarks/README.md).
OPEN_FILES_MAX = 4096
OPEN_FILES_SHARE = 4  # a quarter of the limit: LanceDB, sockets and media files need the rest
OPEN_FILES_MIN = 16
OPEN_FILES_WANTED = OPEN_FILES_MAX * OPEN_FILES_SHARE  # the soft limit under which all OPEN_FILES_MAX stay open
CODE_DTYPES: dict[FrameEncoding, np.dtype] = {"int8": np.dtype(np.int8), "float16": np.dtype(np.float16)}
SCALE_DTYPE = np.dtype(np.float32)


def open_files_allowed() -> int:
    """How many frame files a reader keeps open (see :data:`OPEN_FILES_MAX`)."""
    try:
        import resource
    except ImportError:  # not a Unix
        return OPEN_FILES_MIN
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return OPEN_FILES_MAX
    return max(OPEN_FILES_MIN, min(OPEN_FILES_MAX, soft // OPEN_FILES_SHARE))


def file_name(write_id: int) -> str:
    return f"{write_id:016x}{SUFFIX}"


def block_bytes(n_frames: np.ndarray | int, encoding: FrameEncoding) -> np.ndarray | int:
    """Bytes of the block of a clip with ``n_frames`` frame vectors."""
    per_frame = DIM * CODE_DTYPES[encoding].itemsize + (SCALE_DTYPE.itemsize if encoding == "int8" else 0)
    return n_frames * per_frame


class FrameFiles:
    """The frame files of one index. One object per thread: its cache of open files is not locked."""

    def __init__(self, directory: Path, encoding: FrameEncoding):
        self.directory = directory
        self.encoding = encoding
        self._open: OrderedDict[int, int] = OrderedDict()  # write_id → file descriptor, least recent first
        self.max_open = open_files_allowed()
        weakref.finalize(self, _close_all, self._open)

    def write(self, write_id: int, frames: PackedFrames) -> np.ndarray:
        """Write the file of ``write_id`` with the clips' frames (codes and scales as stored) and
        flush it to disk; the byte offset of each clip's block (int64)."""
        sizes = block_bytes(frames.lengths, self.encoding)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        starts = frames.starts
        with atomic_path(self.directory / file_name(write_id), durable=True) as tmp, open(tmp, "wb") as f:
            for start, n in zip(starts.tolist(), frames.lengths.tolist()):
                if frames.scales is not None:
                    f.write(np.ascontiguousarray(frames.scales[start : start + n], SCALE_DTYPE).data)
                f.write(np.ascontiguousarray(frames.codes[start : start + n], CODE_DTYPES[self.encoding]).data)
        return offsets

    def read(self, write_ids: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> PackedFrames:
        """The frames of the clips whose blocks are at ``offsets`` in the files of ``write_ids``,
        ``lengths`` frames each, in the order given: one positioned read a clip, straight into
        the arrays returned. IndexDamaged when a file is missing or short."""
        lengths = np.asarray(lengths, np.int64)
        ends = np.cumsum(lengths)
        codes = np.empty((int(ends[-1]) if len(ends) else 0, DIM), CODE_DTYPES[self.encoding])
        scales = np.empty(len(codes), SCALE_DTYPE) if self.encoding == "int8" else None
        # byte ranges of each clip in the arrays, computed at once: the loop below is only the reads
        code_view, code_row = memoryview(codes.reshape(-1).view(np.uint8)), DIM * codes.itemsize
        code_ranges = zip(((ends - lengths) * code_row).tolist(), (ends * code_row).tolist())
        if scales is None:
            buffers = [[code_view[a:b]] for a, b in code_ranges]
        else:
            scale_view, scale_row = memoryview(scales.view(np.uint8)), SCALE_DTYPE.itemsize
            scale_ranges = zip(((ends - lengths) * scale_row).tolist(), (ends * scale_row).tolist())
            buffers = [[scale_view[a:b], code_view[c:d]] for (a, b), (c, d) in zip(scale_ranges, code_ranges)]
        for write_id, offset, into in zip(np.asarray(write_ids).tolist(), np.asarray(offsets).tolist(), buffers):
            if os.preadv(self._fd(write_id), into, offset) != sum(len(b) for b in into):
                raise self._damaged(write_id, "is shorter than its clips need")
        return PackedFrames(codes, scales, lengths)

    def remove_unused(self, used: Iterable[int]) -> int:
        """Delete the files of write_ids not in ``used`` and leftover temporary files (only while
        no reader is inside a read); how many files went."""
        keep = {file_name(w) for w in used}
        removed = 0
        for entry in self._entries():
            if entry.name not in keep and (entry.suffix == SUFFIX or is_temporary(entry)):
                entry.unlink(missing_ok=True)
                removed += 1
        return removed

    def missing(self, needed: dict[int, int]) -> set[int]:
        """The write_ids among ``needed`` (write_id → bytes its clips' blocks need) whose file is
        missing or shorter."""
        lost = set()
        for write_id, size in needed.items():
            try:
                if (self.directory / file_name(write_id)).stat().st_size < size:
                    lost.add(write_id)
            except OSError:
                lost.add(write_id)
        return lost

    def close(self) -> None:
        _close_all(self._open)

    def _entries(self) -> list[Path]:
        try:
            return list(self.directory.iterdir())
        except FileNotFoundError:
            return []

    def _fd(self, write_id: int) -> int:
        fd = self._open.get(write_id)
        if fd is not None:
            self._open.move_to_end(write_id)
            return fd
        try:
            fd = os.open(self.directory / file_name(write_id), os.O_RDONLY)
        except FileNotFoundError:
            raise self._damaged(write_id, "is missing") from None
        self._open[write_id] = fd
        if len(self._open) > self.max_open:
            os.close(self._open.popitem(last=False)[1])
        return fd

    def _damaged(self, write_id: int, what: str) -> IndexDamaged:
        return index_damaged(self.directory.parent, f"the frame file {FRAMES_DIR}/{file_name(write_id)} {what}")


def _close_all(descriptors: OrderedDict[int, int]) -> None:
    while descriptors:
        os.close(descriptors.popitem()[1])
