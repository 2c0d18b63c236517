"""The gesture index: two LanceDB tables (``videos``, ``clips``) and a FAISS sidecar per column.

``GestureStore`` is the one entry point; the pieces it delegates to are
meta.py (directory layout, meta file, making an index), writer.py (the crash-safe commit
protocol), framefiles.py (the frame vectors, one file per commit), snapshot.py (lock-free
consistent reads, LanceDB vector search), ann.py (the FAISS sidecar) and info.py (what ``info``
reports).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import lancedb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gestsearch.constants import DIM
from gestsearch.errors import QueryError, StoreError
from gestsearch.filters import ClipFilter
from gestsearch.store.ann import AnnConfig, AnnIndex, AnnSidecar, exact_search
from gestsearch.store.failures import guarded, storage_errors
from gestsearch.store.framefiles import FRAMES_DIR, FrameFiles
from gestsearch.store.info import IndexInfo
from gestsearch.store.lock import READ_LOCK_NAME, ReadLocks, WriterLock
from gestsearch.store.meta import ANN_DIR, check_new_index_place, exists, no_index, open_meta
from gestsearch.store.records import (
    Candidates,
    ClipRecord,
    ClipSummary,
    VideoRecord,
    covered_frames,
    loaded_path,
    video_id_for,
)
from gestsearch.store.schema import (
    CLIPS,
    VIDEOS,
    clips_from_arrow,
    has_speaking,
    normalise,
    sql_str,
    video_from_row,
)
from gestsearch.store.snapshot import HAS_CONTENT, Snapshots, Versions
from gestsearch.store.writer import IndexWriter
from gestsearch.types import BACKENDS, COLUMNS, FRAME_ENCODINGS, Backend, Column, FrameEncoding, check_choice

F = TypeVar("F", bound=Callable[..., Any])

LANCE_INDEX_MIN = 100_000  # clips from which optimize() builds LanceDB's own vector indexes
KEEP_VERSIONS = timedelta(hours=1)  # old table versions optimize() keeps while readers are inside a read
# LanceDB's metadata cache (1 GiB by default) keeps the manifest of every table version, each listing
# every fragment: with one commit (and fragment) per video, an indexer grew by 0.25 MiB per video at
# first and ~1 MiB per video at 1,000 (+581 MiB over 1,000 videos of 30 clips; +88 MiB with this cap,
# flat after 300: benchmarks/bench_commit_memory.py). Old versions' manifests are not read again; all
# reads of 30k uncompacted clips need 32 MiB.
METADATA_CACHE_BYTES = 64 << 20


def reads(method: F) -> F:
    """A read of the index: :func:`guarded`, holding the shared read lock (lock.py) throughout,
    so the versions it reads stay on disk until it returns."""

    @functools.wraps(method)
    def wrapper(self: GestureStore, *args: Any, **kwargs: Any) -> Any:
        with self._read_locks.hold():
            return method(self, *args, **kwargs)

    return guarded(wrapper)  # type: ignore[return-value]


class GestureStore:
    """An index directory, opened for reading or (one process at a time) for writing.

    Use ``GestureStore.open``; close it (or use ``with``) to release the writer lock.
    One object per thread: its caches (snapshot, in-memory FAISS indexes) are not locked.
    """

    def __init__(self, path: Path, meta: dict, db: lancedb.DBConnection, lock: WriterLock | None, ann: AnnConfig):
        self.path = path
        self._meta = meta
        self._videos = db.open_table(VIDEOS)
        self._clips = db.open_table(CLIPS)
        self._frame_files = FrameFiles(path / FRAMES_DIR, meta["frames"])
        self._writer = None if lock is None else IndexWriter(
            path, meta["fingerprint"], self._videos, self._clips, lock, self._frame_files
        )
        self._snapshots = Snapshots(path, db, self._videos, self._clips, self._frame_files)
        self._sidecar = AnnSidecar(path / ANN_DIR, ann)
        self._read_locks = ReadLocks(path)
        self._clip_count: tuple[Versions, int] | None = None

    # ---------------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        path: str | Path,
        fingerprint: str | None = None,
        create: bool = False,
        read_only: bool = False,
        ann: AnnConfig | None = None,
        frames: FrameEncoding = "int8",
    ) -> GestureStore:
        """Open the index at ``path``.

        ``fingerprint``: the models in use; FingerprintMismatch when the index was built with others
        (None: no check, e.g. for ``info``). ``create``: make a new index when there is none
        (needs ``fingerprint``). ``read_only``: take no lock and change nothing. ``ann``: FAISS settings.
        ``frames``: how a new index stores frame vectors (an existing one keeps its own encoding).
        Raises StoreError when there is no index, it is unreadable or another process writes it.
        """
        path = Path(path)
        if create and read_only:
            raise ValueError("cannot create an index read-only")
        if create and fingerprint is None:
            raise ValueError("a new index needs the model fingerprint")
        check_choice(frames, FRAME_ENCODINGS, "frames", ValueError)
        if not create and not exists(path):
            raise no_index(path)
        if create:
            check_new_index_place(path)
        lock = None
        if not read_only:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the index directory {path}: {e.strerror or e}") from e
            lock = WriterLock.acquire(path)
        try:
            if lock is not None:  # before the first write: readers hold it from their next read on
                (path / READ_LOCK_NAME).touch()
            meta = open_meta(path, fingerprint, create, frames)
            with storage_errors(path):
                try:
                    session = lancedb.Session(metadata_cache_size_bytes=METADATA_CACHE_BYTES)
                    db = lancedb.connect(path, read_consistency_interval=timedelta(0), session=session)
                    store = cls(path, meta, db, lock, ann or AnnConfig())
                except ValueError as e:
                    raise StoreError(f"index at {path} is unreadable: {e}") from e
                if store._writer is not None:
                    store._writer.delete_invisible_clips()
            return store
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    def close(self) -> None:
        """Release the writer lock (if held). The object must not be used afterwards."""
        self._read_locks.close()
        self._frame_files.close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> GestureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def fingerprint(self) -> str:
        return self._meta["fingerprint"]

    @property
    def read_only(self) -> bool:
        return self._writer is None

    @property
    def frame_encoding(self) -> FrameEncoding:
        """How this index stores frame vectors."""
        return self._meta["frames"]

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Several reads as one (a search's stages): they see the same version of the index, and
        hold the read lock throughout (see :meth:`optimize`)."""
        with storage_errors(self.path), self._read_locks.hold(), self._snapshots.held():
            yield

    # ---------------------------------------------------------------- videos

    @reads
    def video_by_path(self, path: str | Path) -> VideoRecord | None:
        """The record of the video at ``path`` (indexed or failed), or None."""
        rows = self._videos.search().where(f"video_id = {sql_str(video_id_for(path))}").to_arrow()
        return video_from_row(rows.to_pylist()[0]) if rows.num_rows else None

    @reads
    def videos(self) -> list[VideoRecord]:
        """All video records (indexed and failed), sorted by path."""
        rows = self._videos.search().to_arrow().to_pylist()
        return sorted((video_from_row(r) for r in rows), key=lambda v: v.path)

    # ---------------------------------------------------------------- writing

    @guarded
    def add_video(self, video: VideoRecord, clips: list[ClipRecord]) -> None:
        """Store an indexed video with its clips, replacing any earlier version of the same path.

        Atomic for readers and under kill: they see the whole new version or the old one.
        Vectors are L2-normalised on the way in; frames are stored as :attr:`frame_encoding`.
        """
        self._writable().add_video(video, clips)

    @guarded
    def record_failure(self, video: VideoRecord) -> None:
        """Store a video that could not be indexed (status "failed", non-empty reason).

        Clips of an earlier, indexed version of the file are removed.
        """
        self._writable().record_failure(video)

    @guarded
    def remove_videos(self, paths: Iterable[str | Path]) -> int:
        """Remove the videos at ``paths`` and their clips (for --prune); returns how many existed."""
        return self._writable().remove_videos(paths)

    @guarded
    def optimize(self, lance_index_min: int = LANCE_INDEX_MIN, keep_versions: timedelta = KEEP_VERSIONS) -> None:
        """Compact both tables, index the clips' video ids, build LanceDB's vector indexes on ``gesture`` and
        ``content`` once there are ``lance_index_min`` clips (for ``backend="lance"``), and free
        the space of old table versions (replaced clips, compacted fragments, leftovers of killed
        writes). Ends with ``refresh_ann()``.

        Old versions go as soon as no reader is inside a read: readers hold ``read.lock`` shared
        for each read (one query, or a whole ``iter_clips``), so one that started before finishes
        on the version it pinned. While a reader is inside a read, only versions older than
        ``keep_versions`` go; the rest goes at the next ``optimize``.
        """
        self._writable().optimize(lance_index_min, keep_versions)
        self.refresh_ann()

    def _writable(self) -> IndexWriter:
        if self._writer is None:
            raise StoreError(f"index at {self.path} is open read-only")
        return self._writer

    # ---------------------------------------------------------------- reading clips

    @reads
    def clips_by_ids(self, ids: Iterable[int]) -> list[ClipRecord]:
        """The clips with these ids, in the order given (ids not in the index are left out)."""
        ids = np.asarray(list(ids), dtype=np.int64)
        if not len(ids):
            return []
        snapshot = self._snapshots.take()
        rows = snapshot.rows_by_ids(np.unique(ids), list(snapshot.columns))
        by_id = {clip.clip_id: clip for clip in clips_from_arrow(rows, snapshot.frames_of(rows))}
        return [by_id[i] for i in ids.tolist() if i in by_id]

    @reads
    def candidates(self, ids: Iterable[int]) -> Candidates:
        """What search's exact stage reads of its candidates, in index order (ids not in the index
        are left out): their spans and speaking scores from memory, their frame vectors as stored.
        Read their hits' :meth:`summaries` in the same :meth:`reading` block."""
        return self._snapshots.take().candidates(np.unique(np.asarray(list(ids), dtype=np.int64)))

    @reads
    def summaries(self, candidates: Candidates, which: Iterable[int] | None = None) -> list[ClipSummary]:
        """The summaries of ``candidates`` at positions ``which`` (all by default), in that order.
        StoreError unless read in the :meth:`reading` block that read the candidates (or with the
        index unchanged since)."""
        which = np.arange(len(candidates.ids)) if which is None else np.asarray(list(which), dtype=np.int64)
        if not len(which):
            return []
        return self._snapshots.take().summaries(candidates, which)

    @reads
    def clips_of_video(self, path: str | Path) -> list[ClipRecord]:
        """The visible clips of the video at ``path``, by start frame (none when it is not indexed)."""
        where = f"video_id = {sql_str(video_id_for(path))}"
        snapshot = self._snapshots.take()
        rows = snapshot.rows(list(snapshot.columns), where)
        clips = clips_from_arrow(rows, snapshot.frames_of(rows))
        return sorted(clips, key=lambda c: (c.start_frame, c.track))

    @reads
    def all_clip_ids(self) -> np.ndarray:
        """Ids of all visible clips, int64, sorted."""
        return np.sort(self._snapshots.take().rows(["id", "write_id"]).column("id").to_numpy())

    @reads
    def clip_count(self) -> int:
        snapshot = self._snapshots.take()
        if self._clip_count is None or self._clip_count[0] != snapshot.versions:
            self._clip_count = snapshot.versions, snapshot.rows(["write_id"]).num_rows
        return self._clip_count[1]

    def iter_clips(self, batch: int = 256) -> Iterator[ClipRecord]:
        """Every visible clip, read ``batch`` rows at a time from one snapshot (for eval, brute force)."""
        with storage_errors(self.path), self._read_locks.hold():
            snapshot = self._snapshots.take()
            for batch_rows in snapshot.clips.search().to_batches(batch):
                rows = snapshot.visible(pa.Table.from_batches([batch_rows]))
                yield from clips_from_arrow(rows, snapshot.frames_of(rows))

    # ---------------------------------------------------------------- search

    @reads
    def matching_clip_ids(self, where: ClipFilter) -> np.ndarray:
        """Ids of the visible clips that pass ``where``, int64, sorted."""
        snapshot = self._snapshots.take()
        clip_where = where.clip_where(has_speaking(snapshot.columns))
        if not where.on_videos:
            rows = snapshot.rows(["id", "write_id"], clip_where)
            return np.sort(rows.column("id").to_numpy())
        videos = self._videos.search().where("status = 'indexed'").select(["video_id", "path", "indexed_at"]).to_arrow()
        chosen = [v for v, path, at in zip(*(videos.column(c).to_pylist() for c in ("video_id", "path", "indexed_at")))
                  if where.matches_video(loaded_path(path), at or "")]
        if not chosen:
            return np.empty(0, np.int64)
        rows = snapshot.rows(["id", "write_id", "video_id"], clip_where)
        rows = rows.filter(pc.is_in(rows.column("video_id"), value_set=pa.array(chosen, pa.string())))
        return np.sort(rows.column("id").to_numpy())

    @reads
    def search_pooled(
        self,
        query: np.ndarray,
        k: int,
        column: Column = "gesture",
        backend: Backend = "faiss",
        among: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` clips by cosine similarity of a pooled vector column.

        ``query``: (512,) or (Q, 512), normalised here. ``column``: "gesture", or "content" (only
        clips with speech + transcript have one). ``backend``: "faiss" (the sidecar; exact up to
        50k clips, IVF beyond, IVF-PQ beyond 200k with its candidates re-scored exactly from a copy
        of their vectors beside it, ``ann.ExactCopy``: the scores are exact cosines in every case)
        or "lance" (LanceDB's own vector search, e.g. for object storage).
        ``among``: clip ids (e.g. :meth:`matching_clip_ids`) to search instead of the whole index.
        Returns ids int64 (Q, k) and scores float32 (Q, k), best first; when fewer than k clips
        match, the rest is id -1 with score -inf.
        """
        check_choice(column, COLUMNS, "column", ValueError)
        check_choice(backend, BACKENDS, "backend", ValueError)
        if k < 1:
            raise QueryError(f"k must be at least 1, got {k}")
        queries = _query_vectors(query)
        snapshot = self._snapshots.take()
        if backend == "lance":
            if among is None:
                return snapshot.search(queries, k, column)
            return exact_search(*snapshot.vectors_by_ids(among, column), queries, k)
        return self._sidecar.search(column, snapshot, queries, k, among, save=not self.read_only)

    @reads
    def refresh_ann(self) -> dict[Column, dict]:
        """Bring the FAISS sidecars up to date with the tables (saved when writable); their descriptions."""
        return {column: self._ann_index(column).describe() for column in COLUMNS}

    def _ann_index(self, column: Column) -> AnnIndex:
        return self._sidecar.index_for(column, self._snapshots.take(), save=not self.read_only)

    # ---------------------------------------------------------------- info

    @reads
    def info(self) -> IndexInfo:
        """Counts, fingerprint, ANN index per column, bytes on disk, LanceDB version."""
        snapshot = self._snapshots.take()
        videos = self._videos.search().select(["status", "duration_s"]).to_arrow().to_pylist()
        statuses = [v["status"] for v in videos]
        clips = snapshot.rows(["write_id", "track", "start_frame", "end_frame"])  # a write_id per indexed video
        ann = {column: self._sidecar.saved_info(column, snapshot.versions) for column in COLUMNS}
        # a fresh sidecar holds every visible content vector; counting them in LanceDB reads the
        # vectors (2 GB, 2 s and +800 MB resident at 1M clips)
        with_content = ann["content"].count if ann["content"].fresh else snapshot.rows(["write_id"], HAS_CONTENT).num_rows
        return IndexInfo(
            path=self.path,
            fingerprint=self.fingerprint,
            created_at=self._meta["created_at"],
            videos_indexed=statuses.count("indexed"),
            videos_failed=statuses.count("failed"),
            clips=clips.num_rows,
            clip_rows=self._clips.count_rows(),
            clips_with_content=with_content,
            frames=covered_frames(*(clips.column(c).to_numpy() for c in ("write_id", "track", "start_frame", "end_frame"))),
            ann=ann,
            bytes_on_disk=sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file()),
            lancedb_version=lancedb.__version__,
            table_versions=snapshot.versions,
            video_seconds=round(sum(v["duration_s"] or 0.0 for v in videos if v["status"] == "indexed"), 3),
        )


def _query_vectors(query: np.ndarray) -> np.ndarray:
    """``query`` (512,) or (Q, 512) as normalised float32 (Q, 512); QueryError when unusable."""
    queries = np.asarray(query, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None]
    if queries.ndim != 2 or queries.shape[1] != DIM:
        raise QueryError(f"query vectors must have shape ({DIM},) or (Q, {DIM}), got {np.shape(query)}")
    try:
        return normalise(queries)
    except ValueError as e:
        raise QueryError(f"unusable query vector: {e}") from e
