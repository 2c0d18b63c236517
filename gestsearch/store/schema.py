"""Arrow schemas of the two LanceDB tables and conversion from and to the records.

Frame vectors are stored as int8 codes with one float32 scale per vector (``max |x| / 127``):
a quarter of float32 and half of float16 on disk and per query, with word-coupling rankings
unchanged in benchmarks/bench_frames.py. Indexes made before keep float16 frames; every read
handles both (the index's meta names the encoding).

Where the frame vectors live: from format 4 in frame files beside the tables (framefiles.py),
the clips table keeping each clip's ``frame_offset`` into its commit's file; before, in the
``frames`` (and ``frame_scales``) columns. ``frames_in_files`` tells them apart by the columns.

The ``speaking`` column (float32, null when there is nothing to compare: see ingest/speaking.py)
is new in format 3. Older clips tables lack it: their clips read as ``speaking`` None, and clips
added to them are written without it (``has_speaking`` tells them apart by their columns).

Both tables carry a ``write_id`` (random int64, one per ``add_video``/``record_failure`` call).
A clip row is visible only while the row of its video in ``videos`` has the same write_id and
status "indexed": the video row is the commit marker of its clips.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gestsearch.constants import DIM
from gestsearch.store.records import ClipRecord, PackedFrames, VideoRecord, loaded_path, stored_path
from gestsearch.text import printable
from gestsearch.types import FrameEncoding

VIDEOS, CLIPS = "videos", "clips"  # table names

VECTOR = pa.list_(pa.float32(), DIM)
FRAME_CODES: dict[FrameEncoding, pa.DataType] = {"int8": pa.int8(), "float16": pa.float16()}
SCALES = pa.list_(pa.float32())  # one per frame vector (int8 frames only)
INT8_MAX = 127
WORDS = pa.list_(pa.struct([("word", pa.string()), ("start", pa.int32()), ("end", pa.int32())]))

VIDEOS_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("path", pa.string()),
        pa.field("content_hash", pa.string()),
        pa.field("size_bytes", pa.int64()),
        pa.field("mtime", pa.float64()),
        pa.field("duration_s", pa.float64()),
        pa.field("fps", pa.float64()),
        pa.field("n_tracks", pa.int32()),
        pa.field("status", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("fingerprint", pa.string()),
        pa.field("indexed_at", pa.string()),
        pa.field("write_id", pa.int64()),
    ]
)


def clips_schema(encoding: FrameEncoding, speaking: bool = True, frame_files: bool = True) -> pa.Schema:
    """The clips table's schema, with frame vectors stored as ``encoding``, with or without the
    ``speaking`` column, in frame files or (``frame_files`` False) in the table (without either:
    the tables of indexes made before them)."""
    if frame_files:
        frames = [pa.field(FRAME_OFFSET, pa.int64())]
    else:
        frames = [pa.field("frames", pa.list_(pa.list_(FRAME_CODES[encoding], DIM)))]
        if encoding == "int8":
            frames.append(pa.field("frame_scales", SCALES))
    return pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("video_id", pa.string()),
            pa.field("write_id", pa.int64()),
            pa.field("path", pa.string()),
            pa.field("track", pa.int32()),
            pa.field("start_s", pa.float64()),
            pa.field("end_s", pa.float64()),
            pa.field("start_frame", pa.int32()),
            pa.field("end_frame", pa.int32()),
            pa.field("n_frames", pa.int32()),
            pa.field("gesture", VECTOR),
            pa.field("content", VECTOR, nullable=True),
            *frames,
            pa.field("words", WORDS),
            pa.field("text", pa.string()),
            *([pa.field(SPEAKING, pa.float32(), nullable=True)] if speaking else []),
        ]
    )


def has_speaking(columns: Iterable[str]) -> bool:
    """Whether a clips table with these columns stores speaking scores (format 3 on)."""
    return SPEAKING in columns


def frames_in_files(columns: Iterable[str]) -> bool:
    """Whether a clips table with these columns keeps its frame vectors in frame files (format 4 on)."""
    return FRAME_OFFSET in columns


SUMMARY_COLUMNS = ["id", "video_id", "path", "track", "start_s", "end_s", "start_frame", "end_frame", "text"]
SPEAKING = "speaking"
FRAME_OFFSET = "frame_offset"  # byte offset of the clip's block in its commit's frame file
FRAME_LOCATION = ("write_id", FRAME_OFFSET, "n_frames")  # what FrameFiles.read needs of a clip


def summary_columns(columns: Iterable[str]) -> list[str]:
    """The columns a :class:`ClipSummary` is read from, in a clips table with these columns."""
    return SUMMARY_COLUMNS + [SPEAKING] if has_speaking(columns) else list(SUMMARY_COLUMNS)


# What a reader keeps in memory of every row of the clips table it reads (besides the id): what
# search ranks and merges its candidates by and finds their frames with, ~45 bytes a clip.
RESIDENT_COLUMNS = ("write_id", "track", "start_s", "end_s", SPEAKING, FRAME_OFFSET, "n_frames")


def resident_columns(columns: Iterable[str]) -> list[str]:
    """The :data:`RESIDENT_COLUMNS` a clips table with these columns has."""
    columns = set(columns)
    return [c for c in RESIDENT_COLUMNS if c in columns]


def frame_columns(columns: Iterable[str]) -> list[str]:
    """The columns a clip's frame vectors are read with, in a clips table with these columns."""
    columns = list(columns)
    if frames_in_files(columns):
        return [FRAME_OFFSET, "n_frames"]  # with the write_id that every read of rows takes
    return ["frames", "frame_scales"] if "frame_scales" in columns else ["frames"]


def normalise(x: np.ndarray) -> np.ndarray:
    """L2-normalise along the last axis, as float32. Raises ValueError on zero or non-finite rows."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise ValueError("vectors must be finite and non-zero")
    return x / norms


def sql_str(value: str) -> str:
    """``value`` as a SQL string literal (for ``where`` filters)."""
    return "'" + value.replace("'", "''") + "'"


def video_table(video: VideoRecord, write_id: int) -> pa.Table:
    row = {**asdict(video), "path": stored_path(video.path), "reason": printable(video.reason), "write_id": write_id}
    return pa.Table.from_pylist([row], schema=VIDEOS_SCHEMA)


def video_from_row(row: dict) -> VideoRecord:
    return VideoRecord(**{f.name: row[f.name] for f in fields(VideoRecord)} | {"path": loaded_path(row["path"])})


def vector_array(rows: np.ndarray, mask: np.ndarray | None = None, dtype: pa.DataType = pa.float32()) -> pa.FixedSizeListArray:
    """(n, 512) rows → fixed-size-list array of ``dtype`` (the inverse of :func:`vectors_of`);
    ``mask`` marks null rows."""
    flat = pa.array(np.ascontiguousarray(rows, dtype=dtype.to_pandas_dtype()).ravel(), type=dtype)
    return pa.FixedSizeListArray.from_arrays(flat, DIM, mask=None if mask is None else pa.array(mask))


def _check_clip(clip: ClipRecord) -> None:
    frames = np.asarray(clip.frames)
    if frames.ndim != 2 or frames.shape[1] != DIM or len(frames) == 0:
        raise ValueError(f"clip {clip.clip_id}: frames must have shape (n>=1, {DIM}), got {frames.shape}")
    for name in ("gesture", "content"):
        vec = getattr(clip, name)
        if vec is not None and np.shape(vec) != (DIM,):
            raise ValueError(f"clip {clip.clip_id}: {name} must have shape ({DIM},), got {np.shape(vec)}")
    if clip.end_frame < clip.start_frame or clip.end_s < clip.start_s:
        raise ValueError(f"clip {clip.clip_id}: ends before it starts")


def quantize(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float (n, D) vectors as int8 codes (n, D) and float32 scales (n,): vector ≈ codes × scale."""
    frames = np.asarray(frames, dtype=np.float32)
    scales = np.abs(frames).max(axis=1) / INT8_MAX  # > 0: the vectors are normalised
    return np.rint(frames / scales[:, None]).astype(np.int8), scales.astype(np.float32)


def pack_frames(clips: list[ClipRecord], encoding: FrameEncoding) -> PackedFrames:
    """The clips' frame vectors as stored: checked, L2-normalised, then coded as ``encoding``."""
    for clip in clips:
        _check_clip(clip)
    lengths = np.array([len(c.frames) for c in clips], dtype=np.int64)
    values = normalise(np.concatenate([np.asarray(c.frames) for c in clips]))
    if encoding == "int8":
        return PackedFrames(*quantize(values), lengths)
    return PackedFrames(values.astype(np.float16), None, lengths)


def clips_table(
    clips: list[ClipRecord],
    write_id: int,
    frames: PackedFrames,
    frame_offsets: np.ndarray | None = None,
    speaking: bool = True,
) -> pa.Table:
    """Arrow rows of ``clips`` (L2-normalising every vector) with their ``frames`` as
    :func:`pack_frames` made them: their blocks' ``frame_offsets`` in a frame file, or the frames
    themselves when None (a table made before frame files); with the speaking scores, unless
    ``speaking`` is False (a table made before them)."""
    n_frames = frames.lengths.astype(np.int32)
    encoding: FrameEncoding = "float16" if frames.scales is None else "int8"
    if frame_offsets is not None:
        stored = {FRAME_OFFSET: pa.array(np.asarray(frame_offsets, np.int64))}
    else:
        offsets = np.concatenate([[0], np.cumsum(n_frames)]).astype(np.int32)  # of the list columns
        stored = {
            "frames": pa.ListArray.from_arrays(
                pa.array(offsets), pa.FixedSizeListArray.from_arrays(pa.array(frames.codes.ravel()), DIM)
            ),
            **({} if frames.scales is None else {"frame_scales": pa.ListArray.from_arrays(pa.array(offsets), pa.array(frames.scales))}),
        }
    has_content = np.array([c.content is not None for c in clips])
    content = np.stack([normalise(c.content) if c.content is not None else np.zeros(DIM, np.float32) for c in clips])
    columns = {
        "id": pa.array([c.clip_id for c in clips], pa.int64()),
        "video_id": pa.array([c.video_id for c in clips], pa.string()),
        "write_id": pa.array(np.full(len(clips), write_id, dtype=np.int64)),
        "path": pa.array([stored_path(c.path) for c in clips], pa.string()),
        "track": pa.array([c.track for c in clips], pa.int32()),
        "start_s": pa.array([c.start_s for c in clips], pa.float64()),
        "end_s": pa.array([c.end_s for c in clips], pa.float64()),
        "start_frame": pa.array([c.start_frame for c in clips], pa.int32()),
        "end_frame": pa.array([c.end_frame for c in clips], pa.int32()),
        "n_frames": pa.array(n_frames),
        "gesture": vector_array(normalise(np.stack([c.gesture for c in clips]))),
        "content": vector_array(content, mask=~has_content),
        **stored,
        "words": pa.array(
            [[{"word": w, "start": s, "end": e} for w, s, e in c.words] for c in clips], type=WORDS
        ),
        "text": pa.array([c.text for c in clips], pa.string()),
    }
    if speaking:
        columns[SPEAKING] = pa.array([c.speaking for c in clips], pa.float32())
    return pa.Table.from_pydict(columns, schema=clips_schema(encoding, speaking, frame_files=frame_offsets is not None))


def vectors_of(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Non-null rows of a fixed-size-list vector column as (n, 512) numpy."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).reshape(-1, DIM)


def packed_frames(table: pa.Table) -> PackedFrames:
    """The frame vectors of the rows of ``table`` (its frame columns, in a table made before
    frame files), in row order."""
    column = table.column("frames").combine_chunks()
    lengths = pc.list_value_length(column).to_numpy().astype(np.int64)
    values = column.flatten()  # fixed-size lists, one per frame
    codes = values.flatten().to_numpy(zero_copy_only=False).reshape(-1, DIM)
    scales = None
    if "frame_scales" in table.column_names:
        scales = table.column("frame_scales").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return PackedFrames(codes, scales, lengths)


def _summary_fields(table: pa.Table) -> list[dict]:
    """ClipSummary's fields of each row of ``table`` (the id column is ``clip_id``; paths are
    unescaped; no speaking column: None). Read column by column."""
    columns = table.select(summary_columns(table.column_names)).to_pydict()
    paths = {path: loaded_path(path) for path in set(columns["path"])}  # a video's clips share one
    columns["path"] = [paths[path] for path in columns["path"]]
    columns["clip_id"] = columns.pop("id")
    columns.setdefault(SPEAKING, [None] * table.num_rows)
    names = list(columns)
    return [dict(zip(names, values)) for values in zip(*columns.values())]


def clips_from_arrow(table: pa.Table, packed: PackedFrames) -> list[ClipRecord]:
    """ClipRecords of the rows of ``table`` (all columns of the clips schema) with their frame
    vectors ``packed``, in row order."""
    if table.num_rows == 0:
        return []
    frames = [packed.clip(i) for i in range(len(packed.lengths))]
    gesture = vectors_of(table.column("gesture"))
    content_column = table.column("content").combine_chunks()
    has_content = content_column.is_valid().to_numpy(zero_copy_only=False)
    content_rows = iter(vectors_of(content_column))
    content = [next(content_rows) if present else None for present in has_content]
    words = table.column("words").to_pylist()
    return [
        ClipRecord(
            **fields,
            gesture=gesture[i],
            frames=frames[i],
            content=content[i],
            words=[(w["word"], w["start"], w["end"]) for w in words[i]],
        )
        for i, fields in enumerate(_summary_fields(table))
    ]
