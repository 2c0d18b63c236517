"""What ``GestureStore.info`` reports about an index (``gestsearch info``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from gestsearch.store.snapshot import Versions
from gestsearch.types import Column


@dataclass(frozen=True)
class AnnInfo:
    """The saved FAISS sidecar of one column."""

    type: str  # "flat", "ivf", "ivfpq" (compressed, candidates re-scored exactly) or "none" when nothing usable is saved
    count: int | None = None  # vectors in it
    nlist: int | None = None  # IVF only
    nprobe: int | None = None  # IVF only
    fresh: bool | None = None  # whether it reflects the tables as they are now

    def to_dict(self) -> dict:
        """The fields that apply (not None)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class IndexInfo:
    """Counts, fingerprint, ANN index per column, bytes on disk and versions of an index."""

    path: Path
    fingerprint: str  # of the models that made the vectors
    created_at: str  # ISO 8601, UTC
    videos_indexed: int
    videos_failed: int
    clips: int  # visible clips
    clip_rows: int  # clip rows stored, including those of a running writer's uncommitted video
    clips_with_content: int
    frames: int  # of video held by the visible clips, each frame once (records.covered_frames)
    ann: dict[Column, AnnInfo]
    bytes_on_disk: int
    lancedb_version: str
    table_versions: Versions
    video_seconds: float  # duration of the indexed videos

    @property
    def bytes_per_video_second(self) -> float | None:
        """What the index costs on disk per second of indexed video (None while it holds none)."""
        return round(self.bytes_on_disk / self.video_seconds, 1) if self.video_seconds > 0 else None

    def to_dict(self) -> dict:
        """Plain JSON-ready data (``gestsearch info --json``), fields in declaration order, then
        ``bytes_per_video_second``."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["bytes_per_video_second"] = self.bytes_per_video_second
        data["path"] = str(self.path)
        data["ann"] = {column: ann.to_dict() for column, ann in self.ann.items()}
        data["table_versions"] = asdict(self.table_versions)
        return data
