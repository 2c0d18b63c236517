"""Storage of the gesture index: LanceDB tables, FAISS sidecar, record types."""

# Before any store module imports lancedb: skips building LanceDB's REST namespace client (0.84 s of a
# 1.6–2.2 s `import lancedb`), which a local index never uses.
import gestsearch.store.lancedb_import  # noqa: F401
from gestsearch.filters import ClipFilter
from gestsearch.store.ann import (
    FLAT_MAX,
    NPROBE,
    AnnConfig,
    exact_search,
    gpu_available,
    nlist_for,
)
from gestsearch.store.db import LANCE_INDEX_MIN, GestureStore
from gestsearch.store.info import AnnInfo, IndexInfo
from gestsearch.store.records import (
    Candidates,
    ClipRecord,
    ClipSpans,
    ClipSummary,
    PackedFrames,
    VideoRecord,
    clip_id_for,
    content_hash,
    covered_frames,
    now_iso,
    video_id_for,
)
from gestsearch.store.repair import RepairReport, TableRepair, repair_index
from gestsearch.types import COLUMNS  # re-exported: callers import it from here

__all__ = [
    "COLUMNS",
    "FLAT_MAX",
    "LANCE_INDEX_MIN",
    "NPROBE",
    "PackedFrames",
    "AnnConfig",
    "AnnInfo",
    "Candidates",
    "ClipFilter",
    "ClipRecord",
    "ClipSpans",
    "ClipSummary",
    "GestureStore",
    "IndexInfo",
    "RepairReport",
    "TableRepair",
    "VideoRecord",
    "clip_id_for",
    "content_hash",
    "covered_frames",
    "exact_search",
    "gpu_available",
    "nlist_for",
    "now_iso",
    "repair_index",
    "video_id_for",
]
