"""Storage of the gesture index: LanceDB tables, FAISS sidecar, record types."""

from gestsearch.store.ann import FLAT_MAX, NPROBE, AnnConfig, gpu_available, nlist_for
from gestsearch.store.db import COLUMNS, LANCE_INDEX_MIN, GestureStore
from gestsearch.store.records import (
    DIM,
    ClipRecord,
    VideoRecord,
    Word,
    clip_id_for,
    content_hash,
    now_iso,
    video_id_for,
)

__all__ = [
    "COLUMNS",
    "DIM",
    "FLAT_MAX",
    "LANCE_INDEX_MIN",
    "NPROBE",
    "AnnConfig",
    "ClipRecord",
    "GestureStore",
    "VideoRecord",
    "Word",
    "clip_id_for",
    "content_hash",
    "gpu_available",
    "nlist_for",
    "now_iso",
    "video_id_for",
]
