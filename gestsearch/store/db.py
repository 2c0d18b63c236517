"""The gesture index: two LanceDB tables (``videos``, ``clips``) and a FAISS sidecar per column.

Directory layout of an index at PATH::

    PATH/gestsearch.json   fingerprint of the models that made the vectors, format, creation time
    PATH/videos.lance      one row per video file (indexed or failed)
    PATH/clips.lance       one row per clip: pooled vectors, per-frame vectors, words, text
    PATH/ann/              FAISS sidecar (see ann.py), rebuilt from the tables when missing or stale
    PATH/write.lock        held (flock) by the one writer

Crash safety: every LanceDB write is one atomic commit. ``add_video`` appends the clips with a
fresh ``write_id``, then upserts the video row carrying that write_id (the commit point), then
deletes the clips of the replaced version. Readers only see clips whose write_id is the one of an
indexed video row, so a kill at any moment shows the whole video or none of it (the previous
version while it is being replaced); a writer's ``open`` deletes the invisible leftovers.

Readers never lock: each read takes a consistent snapshot (video rows + a clips table pinned at
one version), checked against concurrent commits of the videos table.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lancedb.index import BTree, IvfPq

from gestsearch.errors import FingerprintMismatch, QueryError, StoreError
from gestsearch.store.ann import AnnConfig, AnnIndex, Versions, read_meta
from gestsearch.store.lock import LOCK_NAME, WriterLock
from gestsearch.store.records import DIM, ClipRecord, VideoRecord, now_iso, video_id_for
from gestsearch.store.schema import (
    CLIPS_SCHEMA,
    VIDEOS_SCHEMA,
    clips_from_arrow,
    clips_table,
    normalise,
    vectors_of,
    video_from_row,
    video_table,
)

META_NAME = "gestsearch.json"
FORMAT = 1
VIDEOS, CLIPS = "videos", "clips"
COLUMNS = ("gesture", "content")
HAS_CONTENT = "content IS NOT NULL"
BACKENDS = ("faiss", "lance")
LANCE_INDEX_MIN = 100_000  # clips from which optimize() builds LanceDB's own vector indexes
LANCE_REFINE = 10  # exact re-scoring of k·10 candidates after LanceDB's approximate (PQ) search
ID_CHUNK = 2048  # ids per "id IN (...)" query
SNAPSHOT_TRIES = 20
COMPACT_VIDEOS_EVERY = 50  # commits
KEEP_VERSIONS = timedelta(hours=1)  # old table versions optimize() keeps for running readers


@dataclass(frozen=True)
class _Snapshot:
    """A consistent view: the write_ids of indexed videos and the clips table pinned with them."""

    versions: Versions
    live: pa.Array  # int64 write_ids of the video rows with status "indexed"
    clips: lancedb.table.Table  # pinned at versions.clips (read-only)

    def visible(self, rows: pa.Table) -> pa.Table:
        """The rows (which have a write_id column) that belong to an indexed video."""
        return rows.filter(pc.is_in(rows.column("write_id"), value_set=self.live))

    def rows(self, columns: list[str], where: str | None = None) -> pa.Table:
        query = self.clips.search().select(columns)
        return self.visible((query.where(where) if where else query).to_arrow())

    def rows_by_ids(self, ids: np.ndarray, columns: list[str]) -> pa.Table:
        """Visible rows with these clip ids (any order), ``ID_CHUNK`` ids per query."""
        parts = [
            self.rows(columns, f"id IN ({','.join(map(str, ids[i : i + ID_CHUNK].tolist()))})")
            for i in range(0, len(ids), ID_CHUNK)
        ]
        return pa.concat_tables(parts) if parts else self.clips.schema.empty_table().select(columns)


class GestureStore:
    """An index directory, opened for reading or (one process at a time) for writing.

    Use ``GestureStore.open``; close it (or use ``with``) to release the writer lock.
    One object per thread: its caches (snapshot, in-memory FAISS indexes) are not locked.
    """

    def __init__(self, path: Path, meta: dict, db: lancedb.DBConnection, lock: WriterLock | None, ann: AnnConfig):
        self.path = path
        self._meta = meta
        self._db = db
        self._videos = db.open_table(VIDEOS)
        self._clips = db.open_table(CLIPS)
        self._lock = lock
        self._ann_config = ann
        self._ann: dict[str, AnnIndex] = {}
        self._live_cache: tuple[int, pa.Array] | None = None
        self._pinned: lancedb.table.Table | None = None
        self._commits = 0

    # ---------------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        path: str | Path,
        fingerprint: str | None = None,
        create: bool = False,
        read_only: bool = False,
        ann: AnnConfig | None = None,
    ) -> GestureStore:
        """Open the index at ``path``.

        ``fingerprint``: the models in use; FingerprintMismatch when the index was built with others
        (None: no check, e.g. for ``info``). ``create``: make a new index when there is none
        (needs ``fingerprint``). ``read_only``: take no lock and change nothing. ``ann``: FAISS settings.
        Raises StoreError when there is no index, it is unreadable or another process writes it.
        """
        path = Path(path)
        if create and read_only:
            raise ValueError("cannot create an index read-only")
        if create and fingerprint is None:
            raise ValueError("a new index needs the model fingerprint")
        if not create and not (path / META_NAME).is_file():
            raise StoreError(f"no index at {path} (run `gestsearch index` first)")
        lock = None
        if not read_only:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the index directory {path}: {e.strerror or e}") from e
            lock = WriterLock.acquire(path)
        try:
            meta = _read_meta(path)
            if meta is None:
                if not create:  # deleted since the check above
                    raise StoreError(f"no index at {path} (run `gestsearch index` first)")
                meta = _create(path, fingerprint)
            if fingerprint is not None and fingerprint != meta["fingerprint"]:
                raise FingerprintMismatch(
                    f"index at {path} was built with model fingerprint {meta['fingerprint']}, but the models "
                    f"in use have fingerprint {fingerprint}; use another --db or re-index with the same models"
                )
            try:
                db = lancedb.connect(path, read_consistency_interval=timedelta(0))
                store = cls(path, meta, db, lock, ann or AnnConfig())
            except (OSError, ValueError, RuntimeError) as e:
                raise StoreError(f"index at {path} is unreadable: {e}") from e
            if lock is not None:
                store._delete_invisible_clips()
            return store
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    def close(self) -> None:
        """Release the writer lock (if held). The object must not be used afterwards."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> GestureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def fingerprint(self) -> str:
        return self._meta["fingerprint"]

    @property
    def read_only(self) -> bool:
        return self._lock is None

    # ---------------------------------------------------------------- videos

    def video_by_path(self, path: str | Path) -> VideoRecord | None:
        """The record of the video at ``path`` (indexed or failed), or None."""
        rows = self._videos.search().where(f"video_id = {_sql_str(video_id_for(path))}").to_arrow()
        return video_from_row(rows.to_pylist()[0]) if rows.num_rows else None

    def videos(self) -> list[VideoRecord]:
        """All video records (indexed and failed), sorted by path."""
        rows = self._videos.search().to_arrow().to_pylist()
        return sorted((video_from_row(r) for r in rows), key=lambda v: v.path)

    # ---------------------------------------------------------------- writing

    def add_video(self, video: VideoRecord, clips: list[ClipRecord]) -> None:
        """Store an indexed video with its clips, replacing any earlier version of the same path.

        Atomic for readers and under kill: they see the whole new version or the old one.
        Vectors are L2-normalised on the way in; frames are stored as float16.
        """
        self._check_video(video, "indexed")
        for clip in clips:
            if clip.video_id != video.video_id:
                raise ValueError(f"clip {clip.clip_id} belongs to video {clip.video_id}, not {video.video_id}")
        if len({c.clip_id for c in clips}) != len(clips):
            raise ValueError(f"duplicate clip ids in {video.path}")
        self._commit(video, clips)

    def record_failure(self, video: VideoRecord) -> None:
        """Store a video that could not be indexed (status "failed", non-empty reason).

        Clips of an earlier, indexed version of the file are removed.
        """
        self._check_video(video, "failed")
        if not video.reason:
            raise ValueError("a failed video needs a reason")
        self._commit(video, [])

    def remove_videos(self, paths: Iterable[str | Path]) -> int:
        """Remove the videos at ``paths`` and their clips (for --prune); returns how many existed."""
        self._require_writer()
        ids = ",".join(_sql_str(video_id_for(p)) for p in paths)
        if not ids:
            return 0
        removed = self._videos.delete(f"video_id IN ({ids})").num_deleted_rows  # commit point
        self._clips.delete(f"video_id IN ({ids})")
        return removed

    def _commit(self, video: VideoRecord, clips: list[ClipRecord]) -> None:
        write_id = secrets.randbits(63)
        if clips:
            self._clips.add(clips_table(clips, write_id))  # invisible until the video row below names write_id
        merged = (
            self._videos.merge_insert("video_id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute(video_table(video, write_id))
        )
        if merged.num_updated_rows:  # the clips of the replaced version
            self._clips.delete(f"video_id = {_sql_str(video.video_id)} AND write_id != {write_id}")
        self._commits += 1
        if self._commits % COMPACT_VIDEOS_EVERY == 0:
            self._videos.optimize()  # one fragment per commit makes merge_insert scan ever more files

    def _check_video(self, video: VideoRecord, status: str) -> None:
        self._require_writer()
        if video.status != status:
            raise ValueError(f"{video.path}: status must be {status!r}, got {video.status!r}")
        if video.video_id != video_id_for(video.path):
            raise ValueError(f"{video.path}: video_id must be video_id_for(path)")
        if video.fingerprint != self.fingerprint:
            raise FingerprintMismatch(
                f"{video.path} was embedded with model fingerprint {video.fingerprint}, but the index at "
                f"{self.path} holds fingerprint {self.fingerprint}"
            )

    def _require_writer(self) -> None:
        if self._lock is None:
            raise StoreError(f"index at {self.path} is open read-only")

    def _delete_invisible_clips(self) -> None:
        """Delete clip rows no video row commits (left by a killed writer)."""
        committed = self._videos.search().select(["write_id"]).to_arrow().column("write_id")
        present = pc.unique(self._clips.search().select(["write_id"]).to_arrow().column("write_id"))
        orphans = pc.filter(present, pc.invert(pc.is_in(present, value_set=committed)))
        if len(orphans):
            self._clips.delete(f"write_id IN ({','.join(map(str, orphans.to_pylist()))})")

    def optimize(self, lance_index_min: int = LANCE_INDEX_MIN, keep_versions: timedelta = KEEP_VERSIONS) -> None:
        """Compact both tables, free the space of table versions older than ``keep_versions``
        (replaced clips, leftovers of killed writes), index clip ids, and build LanceDB's vector
        indexes on ``gesture`` and ``content`` once there are ``lance_index_min`` clips (for
        ``backend="lance"``). Ends with ``refresh_ann()``.

        Call it at the end of an indexing run. A reader still holding a snapshot older than
        ``keep_versions`` (e.g. a long ``iter_clips``) may then fail.
        """
        self._require_writer()
        for table in (self._videos, self._clips):
            # delete_unverified: no write can be in progress, this process holds the write lock
            table.optimize(cleanup_older_than=keep_versions, delete_unverified=True)
        indexed = {column for index in self._clips.list_indices() for column in index.columns}
        if "id" not in indexed:
            self._clips.create_index("id", config=BTree())
        if self._clips.count_rows() >= lance_index_min:
            for column in COLUMNS:
                if column not in indexed:
                    self._clips.create_index(column, config=IvfPq(distance_type="cosine", num_sub_vectors=DIM // 8))
        self.refresh_ann()

    # ---------------------------------------------------------------- reading clips

    def clips_by_ids(self, ids: Iterable[int]) -> list[ClipRecord]:
        """The clips with these ids, in the order given (ids not in the index are left out)."""
        ids = np.asarray(list(ids), dtype=np.int64)
        if not len(ids):
            return []
        rows = self._snapshot().rows_by_ids(np.unique(ids), CLIPS_SCHEMA.names)
        by_id = {clip.clip_id: clip for clip in clips_from_arrow(rows)}
        return [by_id[i] for i in ids.tolist() if i in by_id]

    def clips_of_video(self, path: str | Path) -> list[ClipRecord]:
        """The visible clips of the video at ``path``, by start frame (none when it is not indexed)."""
        where = f"video_id = {_sql_str(video_id_for(path))}"
        clips = clips_from_arrow(self._snapshot().rows(CLIPS_SCHEMA.names, where))
        return sorted(clips, key=lambda c: (c.start_frame, c.track))

    def all_clip_ids(self) -> np.ndarray:
        """Ids of all visible clips, int64, sorted."""
        return np.sort(self._snapshot().rows(["id", "write_id"]).column("id").to_numpy())

    def clip_count(self) -> int:
        return self._snapshot().rows(["write_id"]).num_rows

    def iter_clips(self, batch: int = 256) -> Iterator[ClipRecord]:
        """Every visible clip, read ``batch`` rows at a time from one snapshot (for eval, brute force)."""
        snapshot = self._snapshot()
        for rows in snapshot.clips.search().to_batches(batch):
            yield from clips_from_arrow(snapshot.visible(pa.Table.from_batches([rows])))

    # ---------------------------------------------------------------- search

    def search_pooled(
        self, query: np.ndarray, k: int, column: str = "gesture", backend: str = "faiss"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` clips by cosine similarity of a pooled vector column.

        ``query``: (512,) or (Q, 512), normalised here. ``column``: "gesture", or "content" (only
        clips with speech + transcript have one). ``backend``: "faiss" (the sidecar; exact up to
        50k clips, IVF beyond) or "lance" (LanceDB's own vector search, e.g. for object storage).
        Returns ids int64 (Q, k) and scores float32 (Q, k), best first; when fewer than k clips
        match, the rest is id -1 with score -inf.
        """
        if column not in COLUMNS:
            raise ValueError(f"column must be one of {COLUMNS}, got {column!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if k < 1:
            raise QueryError(f"k must be at least 1, got {k}")
        queries = np.asarray(query, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None]
        if queries.ndim != 2 or queries.shape[1] != DIM:
            raise QueryError(f"query vectors must have shape ({DIM},) or (Q, {DIM}), got {np.shape(query)}")
        try:
            queries = normalise(queries)
        except ValueError as e:
            raise QueryError(f"unusable query vector: {e}") from e
        if backend == "lance":
            return self._lance_search(queries, k, column)
        return self._ann_for(column).search(queries, k)

    def refresh_ann(self) -> dict[str, dict]:
        """Bring the FAISS sidecars up to date with the tables (saved when writable); their descriptions."""
        return {column: self._ann_for(column).describe() for column in COLUMNS}

    def _ann_for(self, column: str) -> AnnIndex:
        """The in-memory index of ``column``, loaded, updated or rebuilt to match the tables."""
        snapshot = self._snapshot()
        ann = self._ann.get(column)
        if ann is not None and ann.versions == snapshot.versions:
            return ann
        ann_dir = self.path / "ann"
        meta = read_meta(ann_dir, column)
        saved_fresh = meta is not None and Versions(**meta["versions"]) == snapshot.versions
        loaded = AnnIndex.load(ann_dir, column, self._ann_config) if ann is None or saved_fresh else None
        up_to_date_on_disk = loaded is not None and loaded.versions == snapshot.versions
        ann = self._synced(loaded or ann, snapshot, column)
        self._ann[column] = ann
        if not self.read_only and not up_to_date_on_disk:
            ann.save(ann_dir)
        return ann

    def _synced(self, ann: AnnIndex | None, snapshot: _Snapshot, column: str) -> AnnIndex:
        where = HAS_CONTENT if column == "content" else None
        if ann is not None and ann.versions == snapshot.versions:
            return ann
        ids = snapshot.rows(["id", "write_id"], where).column("id").to_numpy()
        if ann is None or ann.needs_rebuild(len(ids)):
            rows = snapshot.rows(["id", "write_id", column], where)
            ids = rows.column("id").to_numpy()
            return AnnIndex.build(column, ids, vectors_of(rows.column(column)), snapshot.versions, self._ann_config)
        have = ann.ids()
        added = np.setdiff1d(ids, have)
        rows = snapshot.rows_by_ids(added, ["id", "write_id", column])
        removed = np.setdiff1d(have, ids)
        ann.update(rows.column("id").to_numpy(), vectors_of(rows.column(column)), removed, snapshot.versions)
        return ann

    def _lance_search(self, queries: np.ndarray, k: int, column: str) -> tuple[np.ndarray, np.ndarray]:
        snapshot = self._snapshot()
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        for q, vector in enumerate(queries):
            fetch = k
            while True:  # over-fetch until k visible rows (invisible ones are rare leftovers)
                found = (
                    snapshot.clips.search(vector, vector_column_name=column)
                    .metric("cosine")
                    .refine_factor(LANCE_REFINE)
                    .select(["id", "write_id", "_distance"])
                    .limit(fetch)
                    .to_arrow()
                )
                hits = snapshot.visible(found)
                if hits.num_rows >= k or found.num_rows < fetch:
                    break
                fetch *= 2
            n = min(k, hits.num_rows)
            ids[q, :n] = hits.column("id").to_numpy()[:n]
            scores[q, :n] = 1.0 - hits.column("_distance").to_numpy()[:n]
        return ids, scores

    # ---------------------------------------------------------------- snapshot, info

    def _snapshot(self) -> _Snapshot:
        """Write_ids of indexed videos plus the clips table pinned at a version consistent with them.

        Clips only disappear after the video row that committed them changed, so if the videos
        table did not change while we read it and the clips version, the pair is consistent.
        """
        for _ in range(SNAPSHOT_TRIES):
            videos_version = self._videos.version
            if self._live_cache is None or self._live_cache[0] != videos_version:
                rows = self._videos.search().where("status = 'indexed'").select(["write_id"]).to_arrow()
                live = rows.column("write_id").combine_chunks()
            else:
                live = self._live_cache[1]
            clips_version = self._clips.version
            if self._videos.version == videos_version:
                break
        else:
            raise StoreError(f"index at {self.path} changes too fast to read a consistent view")
        self._live_cache = (videos_version, live)
        if self._pinned is None or self._pinned.version != clips_version:
            self._pinned = self._db.open_table(CLIPS)
            self._pinned.checkout(clips_version)
        return _Snapshot(Versions(videos_version, clips_version), live, self._pinned)

    def info(self) -> dict:
        """Counts, fingerprint, ANN index per column, bytes on disk, LanceDB version."""
        snapshot = self._snapshot()
        statuses = self._videos.search().select(["status"]).to_arrow().column("status").to_pylist()
        clips = snapshot.rows(["write_id", "n_frames"])
        ann = {}
        for column in COLUMNS:
            meta = read_meta(self.path / "ann", column)
            if meta is None:
                ann[column] = {"type": "none"}
            else:
                fresh = Versions(**meta["versions"]) == snapshot.versions
                ann[column] = {k: meta[k] for k in ("type", "count", "nlist", "nprobe") if k in meta} | {"fresh": fresh}
        return {
            "path": str(self.path),
            "fingerprint": self.fingerprint,
            "created_at": self._meta["created_at"],
            "videos_indexed": statuses.count("indexed"),
            "videos_failed": statuses.count("failed"),
            "clips": clips.num_rows,
            "clip_rows": self._clips.count_rows(),  # + rows of a running writer's uncommitted video
            "clips_with_content": snapshot.rows(["write_id"], HAS_CONTENT).num_rows,
            "frames": int(pc.sum(clips.column("n_frames")).as_py() or 0),
            "ann": ann,
            "bytes_on_disk": sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file()),
            "lancedb_version": lancedb.__version__,
            "table_versions": {VIDEOS: snapshot.versions.videos, CLIPS: snapshot.versions.clips},
        }


def _sql_str(value: str) -> str:
    """``value`` as a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _read_meta(path: Path) -> dict | None:
    try:
        meta = json.loads((path / META_NAME).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise StoreError(f"index at {path} is unreadable ({META_NAME}: {e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "fingerprint" not in meta:
        raise StoreError(f"{path} holds an index of an unknown format")
    return meta


def _create(path: Path, fingerprint: str) -> dict:
    """Make the tables, then write the meta file last (an index exists once it is there)."""
    tmp = path / f".{META_NAME}.tmp"
    ours = {LOCK_NAME, f"{VIDEOS}.lance", f"{CLIPS}.lance", "ann", tmp.name}
    leftovers = {p.name for p in path.iterdir()} - ours
    if leftovers:
        raise StoreError(f"{path} is not empty and not a gestsearch index; choose another --db")
    db = lancedb.connect(path)
    db.create_table(VIDEOS, schema=VIDEOS_SCHEMA, exist_ok=True)
    db.create_table(CLIPS, schema=CLIPS_SCHEMA, exist_ok=True)
    meta = {"format": FORMAT, "fingerprint": fingerprint, "created_at": now_iso(), "dim": DIM}
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, path / META_NAME)
    return meta
