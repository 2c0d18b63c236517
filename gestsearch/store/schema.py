"""Arrow schemas of the two LanceDB tables and conversion from and to the records.

Both tables carry a ``write_id`` (random int64, one per ``add_video``/``record_failure`` call).
A clip row is visible only while the row of its video in ``videos`` has the same write_id and
status "indexed": the video row is the commit marker of its clips.
"""

from __future__ import annotations

from dataclasses import asdict, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gestsearch.constants import DIM
from gestsearch.store.records import ClipRecord, VideoRecord, loaded_path, stored_path
from gestsearch.text import printable

VIDEOS, CLIPS = "videos", "clips"  # table names

VECTOR = pa.list_(pa.float32(), DIM)
FRAMES = pa.list_(pa.list_(pa.float16(), DIM))
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

CLIPS_SCHEMA = pa.schema(
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
        pa.field("frames", FRAMES),
        pa.field("words", WORDS),
        pa.field("text", pa.string()),
    ]
)


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


def _vectors(rows: np.ndarray, mask: np.ndarray | None = None) -> pa.FixedSizeListArray:
    """(n, 512) float32 → fixed-size-list array; ``mask`` marks null rows."""
    flat = pa.array(np.ascontiguousarray(rows, dtype=np.float32).ravel())
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


def clips_table(clips: list[ClipRecord], write_id: int) -> pa.Table:
    """Arrow rows of ``clips`` (L2-normalising every vector; frames stored as float16)."""
    for clip in clips:
        _check_clip(clip)
    n_frames = np.array([len(c.frames) for c in clips], dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(n_frames)]).astype(np.int32)
    frame_values = normalise(np.concatenate([np.asarray(c.frames) for c in clips])).astype(np.float16)
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
        "gesture": _vectors(normalise(np.stack([c.gesture for c in clips]))),
        "content": _vectors(content, mask=~has_content),
        "frames": pa.ListArray.from_arrays(
            pa.array(offsets), pa.FixedSizeListArray.from_arrays(pa.array(frame_values.ravel()), DIM)
        ),
        "words": pa.array(
            [[{"word": w, "start": s, "end": e} for w, s, e in c.words] for c in clips], type=WORDS
        ),
        "text": pa.array([c.text for c in clips], pa.string()),
    }
    return pa.Table.from_pydict(columns, schema=CLIPS_SCHEMA)


def vectors_of(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Non-null rows of a fixed-size-list vector column as (n, 512) numpy."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).reshape(-1, DIM)


def clips_from_arrow(table: pa.Table) -> list[ClipRecord]:
    """ClipRecords of the rows of ``table`` (all CLIPS_SCHEMA columns), in row order."""
    if table.num_rows == 0:
        return []
    frame_column = table.column("frames").combine_chunks()
    lengths = pc.list_value_length(frame_column).to_numpy()
    frames = np.split(vectors_of(frame_column.flatten()), np.cumsum(lengths)[:-1])
    gesture = vectors_of(table.column("gesture"))
    content_column = table.column("content").combine_chunks()
    has_content = content_column.is_valid().to_numpy(zero_copy_only=False)
    content_rows = iter(vectors_of(content_column))
    content = [next(content_rows) if present else None for present in has_content]
    scalars = table.select(
        ["id", "video_id", "path", "track", "start_s", "end_s", "start_frame", "end_frame", "words", "text"]
    ).to_pylist()
    return [
        ClipRecord(
            clip_id=row["id"],
            video_id=row["video_id"],
            path=loaded_path(row["path"]),
            track=row["track"],
            start_s=row["start_s"],
            end_s=row["end_s"],
            start_frame=row["start_frame"],
            end_frame=row["end_frame"],
            gesture=gesture[i],
            frames=frames[i],
            content=content[i],
            words=[(w["word"], w["start"], w["end"]) for w in row["words"]],
            text=row["text"],
        )
        for i, row in enumerate(scalars)
    ]
