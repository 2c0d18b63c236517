"""Synthetic vectors and records for the store's tests and benchmarks (no media, no models)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import lancedb
import numpy as np

from gestsearch.atomic import write_json
from gestsearch.constants import DIM
from gestsearch.store.db import GestureStore
from gestsearch.store.meta import META_NAME, SPEAKING_FORMAT
from gestsearch.store.records import (
    ClipRecord,
    ClipSummary,
    PackedFrames,
    VideoRecord,
    clip_id_for,
    now_iso,
    video_id_for,
)
from gestsearch.store.schema import CLIPS, VIDEOS, VIDEOS_SCHEMA, clips_schema
from gestsearch.types import FrameEncoding

CLIP_STRIDE = 50  # frames between clip starts in a synthetic video


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered_vectors(
    n: int, n_clusters: int, spread: float = 1.0, seed: int = 0, centres_seed: int | None = None
) -> np.ndarray:
    """(n, 512) float32 unit vectors around ``n_clusters`` random centres.

    ``spread`` is the norm of the Gaussian offset added to a unit centre before normalising
    (1.0: cosine ≈ 0.7 to the centre). Isotropic random data makes ANN recall meaningless;
    embeddings form clusters like these. ``centres_seed`` (default ``seed``) lets queries be
    drawn around the same centres as the data with another ``seed``.
    """
    centres_rng = np.random.default_rng(seed if centres_seed is None else centres_seed)
    centres = _unit(centres_rng.standard_normal((n_clusters, DIM)))
    rng = np.random.default_rng([seed, 1])
    offsets = rng.standard_normal((n, DIM)).astype(np.float32) * (spread / np.sqrt(DIM))
    return _unit(centres[rng.integers(0, n_clusters, n)] + offsets)


def synthetic_video(
    path: str | Path, fingerprint: str, n_clips: int, n_frames: int = 75, version: int = 0
) -> tuple[VideoRecord, list[ClipRecord]]:
    """An indexed video record at ``path`` with ``n_clips`` clips of ``n_frames`` frames each.

    Deterministic in (path, version); another ``version`` stands for changed file content.
    Every other clip has a content vector and two words.
    """
    path = str(path)
    digest = hashlib.sha256(os.fsencode(path) + f":{version}".encode()).hexdigest()
    rng = np.random.default_rng(int(digest[:16], 16))
    video_id = video_id_for(path)
    n_total = CLIP_STRIDE * (n_clips - 1) + n_frames if n_clips else 0
    video = VideoRecord(
        video_id=video_id,
        path=path,
        content_hash=digest,
        size_bytes=1000 * n_total,
        mtime=1.7e9 + version,
        duration_s=n_total / 25,
        fps=25.0,
        n_tracks=1,
        status="indexed",
        reason="",
        fingerprint=fingerprint,
    )
    clips = []
    for i in range(n_clips):
        start, end = i * CLIP_STRIDE, i * CLIP_STRIDE + n_frames - 1
        frames = _unit(rng.standard_normal((n_frames, DIM)))
        speech = i % 2 == 0
        clips.append(
            ClipRecord(
                clip_id=clip_id_for(video_id, digest, 0, start, end),
                video_id=video_id,
                path=path,
                track=0,
                start_s=start / 25,
                end_s=(end + 1) / 25,
                start_frame=start,
                end_frame=end,
                gesture=_unit(frames.mean(axis=0)),
                frames=frames.astype(np.float16),
                content=_unit(rng.standard_normal(DIM)) if speech else None,
                words=[("hello", start, start + 10), ("world", start + 11, end)] if speech else [],
                text="hello world" if speech else "",
            )
        )
    return video, clips


def index_made_before(path: Path, fingerprint: str, format_: int, frames: FrameEncoding = "int8") -> None:
    """An empty index as format ``format_`` (1–3) made it, for the tests that older indexes still
    read and grow: frame vectors in the clips table, the speaking column from format 3 on, the
    frame encoding named in the meta from format 2 on (format 1: float16)."""
    if format_ not in (1, 2, 3):
        raise ValueError(f"no earlier format {format_}")
    path.mkdir(parents=True, exist_ok=True)
    db = lancedb.connect(path)
    db.create_table(VIDEOS, schema=VIDEOS_SCHEMA)
    db.create_table(CLIPS, schema=clips_schema(frames, speaking=format_ >= SPEAKING_FORMAT, frame_files=False))
    meta = {"format": format_, "fingerprint": fingerprint, "created_at": now_iso(), "dim": DIM}
    write_json(path / META_NAME, meta if format_ == 1 else {**meta, "frames": frames}, indent=1)


def candidate_summaries(store: GestureStore, ids: Iterable[int]) -> tuple[list[ClipSummary], PackedFrames]:
    """The summaries and frame vectors of the clips with these ids, in index order, read as search
    reads its candidates."""
    with store.reading():
        found = store.candidates(ids)
        return store.summaries(found), found.frames
