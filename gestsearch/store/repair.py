"""Repair of a damaged index: ``gestsearch repair``.

A deleted or unreadable file inside an index (a data file of a table, an index file, the FAISS
sidecar) makes every command fail with :class:`~gestsearch.errors.IndexDamaged`. ``repair_index``,
holding the writer lock:

1. reads the newest version of each table (``videos``, ``clips``) in full: every row of every
   column, then every index it has;
2. when that fails, walks LanceDB's version history newest → oldest and ``restore()``s the newest
   version that reads in full (a new version whose rows are the old one's); with no readable
   version left, the table is made again, empty. A LanceDB index whose files are damaged while
   the rows read is dropped and built again by ``optimize``;
3. makes the two tables agree again (see writer.py: the video row commits its clips). A video row
   whose clips were lost is marked failed (:data:`LOST_REASON`), so ``gestsearch index FOLDER``
   embeds exactly those videos again (it skips only rows "indexed" with the same content hash);
   clips no video row commits any more are deleted, as a writer's ``open`` does;
4. marks the videos whose frame file (framefiles.py) is missing or shorter than their clips need
   as failed, as in 3, and deletes their clips;
5. removes a FAISS sidecar that is unreadable or was built from rows that changed, and builds it
   again from the tables.

It reports what it restored and what was lost. An index that reads in full is left untouched.

Which videos lost their clips: an indexed row without clips is ambiguous (a video can have none),
so it counts as lost unless its commit provably came before the clips version the table holds
now: clips are added before the video row that commits them, and only deleted after that row
changed, so a row already in the newest ``videos`` version no younger than that clips version
has all its clips there.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import lancedb
import numpy as np
import pyarrow as pa

from gestsearch.errors import IndexDamaged, StoreError
from gestsearch.store.ann import AnnConfig, AnnIndex
from gestsearch.store.ann import read_meta as read_ann_meta
from gestsearch.store.db import KEEP_VERSIONS, LANCE_INDEX_MIN, GestureStore
from gestsearch.store.failures import lance_message, storage_errors
from gestsearch.store.framefiles import FRAMES_DIR, FrameFiles, block_bytes
from gestsearch.store.lock import WriterLock
from gestsearch.store.meta import ANN_DIR, FRAME_FILES_FORMAT, META_NAME, SPEAKING_FORMAT, exists, read_meta
from gestsearch.store.schema import CLIPS, FRAME_OFFSET, VIDEOS, VIDEOS_SCHEMA, clips_schema, frames_in_files, sql_str
from gestsearch.store.writer import IndexWriter
from gestsearch.types import COLUMNS

LOST_REASON = "lost in repair; re-run `gestsearch index` to embed it again"
READ_BATCH = 1024  # rows per batch of a full read (the clips table holds per-frame vectors)
ID_CHUNK = 1024  # video ids per "video_id IN (...)" statement

# What reading a damaged table raises: LanceDB reports missing and truncated files as RuntimeError,
# pyarrow its own errors as ValueError / OSError subclasses. Anything else is a bug, not damage,
# and must not make a readable version look unreadable (that would restore an older one).
READ_ERRORS = (RuntimeError, OSError, ValueError, pa.ArrowException)


TableState = Literal["ok", "restored", "recreated"]


@dataclass
class TableRepair:
    """What ``repair_index`` found and did in one table."""

    name: str
    state: TableState = "ok"  # restored: an older version; recreated: empty, no version was readable
    latest_version: int | None = None  # the newest version before the repair (None: none could be listed)
    restored_version: int | None = None  # the version whose rows the table holds now, when restored
    rows_before: int | None = None  # rows of the newest version, as its manifest says (None: unknown)
    error: str = ""  # why the newest version (or the table) could not be read
    dropped_indexes: list[str] = field(default_factory=list)  # damaged LanceDB indexes, built again

    @property
    def damaged(self) -> bool:
        return self.state != "ok" or bool(self.dropped_indexes)


@dataclass
class RepairReport:
    """What ``repair_index`` found, restored and lost. ``repaired`` is False for a clean index."""

    path: str
    tables: dict[str, TableRepair]
    ann_error: str = ""  # why the FAISS sidecar was unusable ("" when it was fine or absent)
    frames_error: str = ""  # which frame files were missing or short ("" when none was)
    ann_rebuilt: bool = False  # the sidecar was removed and built again from the repaired tables
    lost_videos: list[str] = field(default_factory=list)  # paths whose clips are gone: index them again
    clips_before: int | None = None  # clip rows of the newest clips version (None: unknown)
    clips_after: int | None = None  # visible clips after the repair
    videos_before: int | None = None  # video rows (indexed and failed) of the newest videos version
    videos_after: int | None = None  # video rows after the repair (lost ones count, marked failed)

    @property
    def repaired(self) -> bool:
        """Whether anything was damaged (and so changed)."""
        return bool(self.ann_error or self.frames_error) or any(t.damaged for t in self.tables.values())

    def to_dict(self) -> dict:
        return {"repaired": self.repaired, **asdict(self)}


def repair_index(path: str | Path) -> RepairReport:
    """Make the index at ``path`` readable again, losing as little as its table versions allow.

    Takes the writer lock (StoreError while an indexer runs); StoreError when ``path`` holds no
    index; DiskFull when the disk fills up. See the module docstring for what it does.
    """
    path = Path(path)
    if not exists(path):  # checked before locking: the lock file would litter a foreign folder
        raise StoreError(f"no index at {path} ({META_NAME} is missing); nothing to repair")
    lock = WriterLock.acquire(path)
    try:
        meta = read_meta(path)
        if meta is None:  # deleted since exists() looked
            raise StoreError(f"no index at {path} ({META_NAME} is missing); nothing to repair")
        try:
            with storage_errors(path):
                return _repair(path, meta, lock)
        except IndexDamaged as e:  # still damaged after all: pointing at `repair` again would loop
            raise StoreError(
                f"index at {path} could not be repaired ({lance_message(e.__cause__ or e)}); "
                "index the videos again into a new --db"
            ) from e
    finally:
        lock.release()


def _repair(path: Path, meta: dict, lock: WriterLock) -> RepairReport:
    db = lancedb.connect(path, read_consistency_interval=timedelta(0))
    # the clips version whose rows the table holds once repaired, and the videos history before
    # the repair: both decide which video rows without clips lost them (module docstring)
    schema = clips_schema(meta["frames"], speaking=meta["format"] >= SPEAKING_FORMAT, frame_files=meta["format"] >= FRAME_FILES_FORMAT)
    clips_report, clips_time = _repair_table(db, CLIPS, schema)
    videos_history = _history(db, VIDEOS)
    videos_report, _ = _repair_table(db, VIDEOS, VIDEOS_SCHEMA)
    report = RepairReport(
        str(path),
        {VIDEOS: videos_report, CLIPS: clips_report},
        clips_before=clips_report.rows_before,
        videos_before=videos_report.rows_before,
    )
    for table in report.tables.values():
        table.error = _within(path, table.error)
    rows_changed = videos_report.state != "ok" or clips_report.state != "ok"

    frame_files = FrameFiles(path / FRAMES_DIR, meta["frames"])

    def writer() -> IndexWriter:  # on the restored tables, under the lock we hold
        return IndexWriter(path, meta["fingerprint"], db.open_table(VIDEOS), db.open_table(CLIPS), lock, frame_files)

    if rows_changed:
        committed = _committed_before(db, videos_history, clips_time)
        report.lost_videos = _settle(db, committed)
        writer().delete_invisible_clips()
    report.frames_error, frames_lost = _settle_frames(db, frame_files)
    if report.frames_error:
        report.lost_videos = sorted(set(report.lost_videos) | set(frames_lost))
        rows_changed = True
    if videos_report.dropped_indexes or clips_report.dropped_indexes:
        writer().optimize(LANCE_INDEX_MIN, KEEP_VERSIONS)  # builds the indexes that are missing now

    report.ann_error = _ann_error(path / ANN_DIR)
    # a sidecar records the table versions it reflects; a table made again starts its versions
    # anew, so an old sidecar could pass for fresh: remove it whenever rows changed
    if report.ann_error or rows_changed:
        shutil.rmtree(path / ANN_DIR, ignore_errors=True)
        report.ann_rebuilt = True

    # the one writer lock is ours already, so the store is built directly instead of open()ed
    store = GestureStore(path, meta, db, lock if report.repaired else None, AnnConfig())
    if report.repaired:
        store.refresh_ann()  # saves the rebuilt sidecar
    info = store.info()  # reads what commands read: proves the index works
    report.clips_after, report.videos_after = info.clips, info.videos_indexed + info.videos_failed
    if not report.repaired:  # the manifest counts rows; a clean index reports what it shows
        report.clips_before, report.videos_before = report.clips_after, report.videos_after
    return report


# ---------------------------------------------------------------- tables


def _repair_table(db: lancedb.DBConnection, name: str, schema: pa.Schema) -> tuple[TableRepair, datetime | None]:
    """Check the table ``name`` and restore its newest readable version (or make it again, empty).

    Returns the report and the time of the version whose rows it holds (None: made again).
    """
    report = TableRepair(name)
    table = None
    try:
        table = db.open_table(name)
        versions = sorted(table.list_versions(), key=lambda v: v["version"])
    except READ_ERRORS as e:  # no manifest left, or the table's directory is gone
        report.error = lance_message(e)
        versions = []
    if table is not None and versions:
        newest = versions[-1]
        report.latest_version = newest["version"]
        report.rows_before = _manifest_rows(newest)
        error = _unreadable(table)
        if error is None:
            report.dropped_indexes = _drop_damaged_indexes(table)
            return report, newest["timestamp"]
        report.error = error
        for version in reversed(versions[:-1]):
            table.checkout(version["version"])
            if _unreadable(table) is None:
                table.restore()  # a new newest version with the rows of the checked-out one
                report.state, report.restored_version = "restored", version["version"]
                report.dropped_indexes = _drop_damaged_indexes(table)
                return report, version["timestamp"]
    # no version reads: an empty table keeps the index usable (its videos get indexed again)
    with contextlib.suppress(*READ_ERRORS):  # nothing left to drop: create_table overwrites what remains
        db.drop_table(name)
    db.create_table(name, schema=schema, mode="overwrite")
    report.state = "recreated"
    return report, None


def _unreadable(table: lancedb.table.Table) -> str | None:
    """Why the table's current version cannot be read in full, or None when it can."""
    try:
        # one small column first: it opens every data file, so a missing one fails fast while
        # the history is walked; then every column of every row (checksums, truncated files)
        for _ in table.search().select([table.schema.names[0]]).to_batches(READ_BATCH):
            pass
        rows = sum(batch.num_rows for batch in table.search().to_batches(READ_BATCH))
        expected = table.count_rows()
    except READ_ERRORS as e:
        return lance_message(e)
    return None if rows == expected else f"read {rows} rows of {expected}"


def _drop_damaged_indexes(table: lancedb.table.Table) -> list[str]:
    """Drop the LanceDB indexes of ``table`` that cannot be read; their names."""
    dropped = []
    for index in table.list_indices():
        try:
            _probe_index(table, index.columns[0])
        except READ_ERRORS:
            table.drop_index(index.name)
            dropped.append(index.name)
    return dropped


def _probe_index(table: lancedb.table.Table, column: str) -> None:
    """A query that uses the index on ``column`` (raises when its files are damaged)."""
    kind = table.schema.field(column).type
    if pa.types.is_fixed_size_list(kind):
        query = np.full(kind.list_size, kind.list_size**-0.5, dtype=np.float32)
        table.search(query, vector_column_name=column).metric("cosine").select(["_distance"]).limit(1).to_arrow()
    else:
        literal = "0" if pa.types.is_integer(kind) else "''"
        table.search().where(f"{column} = {literal}").select([column]).to_arrow()


def _manifest_rows(version: dict) -> int | None:
    try:
        return int(version["metadata"]["total_rows"])
    except (KeyError, TypeError, ValueError):
        return None


def _history(db: lancedb.DBConnection, name: str) -> list[dict]:
    """The versions of the table ``name`` (empty when they cannot be listed)."""
    try:
        return sorted(db.open_table(name).list_versions(), key=lambda v: v["version"])
    except READ_ERRORS:
        return []


# ---------------------------------------------------------------- agreement of the tables


def _committed_before(db: lancedb.DBConnection, videos_history: list[dict], clips_time: datetime | None) -> set[int]:
    """Write_ids of the video rows committed before the clips version the table holds now.

    That is the indexed rows of the newest videos version no younger than it; empty when that
    version is unknown or unreadable (no proof: rows without clips then count as lost).
    """
    if clips_time is None:
        return set()
    older = [v for v in videos_history if v["timestamp"] <= clips_time]
    if not older:
        return set()
    table = db.open_table(VIDEOS)
    try:
        table.checkout(older[-1]["version"])
        rows = table.search().where("status = 'indexed'").select(["write_id"]).to_arrow()
    except READ_ERRORS:
        return set()
    return set(rows.column("write_id").to_pylist())


def _settle(db: lancedb.DBConnection, committed: set[int]) -> list[str]:
    """Mark the indexed videos whose clips were lost as failed; the paths of every video that
    lost clips (those, and those whose clips no video row commits any more)."""
    videos = db.open_table(VIDEOS)
    rows = videos.search().select(["video_id", "path", "status", "write_id"]).to_arrow().to_pylist()
    clips = db.open_table(CLIPS).search().select(["write_id", "path"]).to_arrow()
    with_clips = set(clips.column("write_id").to_pylist())
    lost = [
        r for r in rows if r["status"] == "indexed" and r["write_id"] not in with_clips and r["write_id"] not in committed
    ]
    _mark_lost(videos, [r["video_id"] for r in lost])
    row_ids = {r["write_id"] for r in rows}
    clip_rows = zip(clips.column("write_id").to_pylist(), clips.column("path").to_pylist())
    orphans = {path for write_id, path in clip_rows if write_id not in row_ids}
    return sorted({r["path"] for r in lost} | orphans)


def _settle_frames(db: lancedb.DBConnection, frame_files: FrameFiles) -> tuple[str, list[str]]:
    """Mark the videos whose frame file is missing or short as failed and delete their clips;
    what was wrong ("" when nothing was) and the paths of those videos."""
    clips = db.open_table(CLIPS)
    if not frames_in_files(clips.schema.names):  # a table made before frame files
        return "", []
    rows = clips.search().select(["write_id", FRAME_OFFSET, "n_frames"]).to_arrow()
    ends = rows.column(FRAME_OFFSET).to_numpy() + block_bytes(rows.column("n_frames").to_numpy(), frame_files.encoding)
    needed: dict[int, int] = {}
    for write_id, end in zip(rows.column("write_id").to_pylist(), ends.tolist()):
        needed[write_id] = max(end, needed.get(write_id, 0))
    missing = frame_files.missing(needed)
    if not missing:
        return "", []
    videos = db.open_table(VIDEOS)
    lost = [r for r in videos.search().select(["video_id", "path", "write_id"]).to_arrow().to_pylist() if r["write_id"] in missing]
    _mark_lost(videos, [r["video_id"] for r in lost])
    ids = sorted(missing)
    for i in range(0, len(ids), ID_CHUNK):
        clips.delete(f"write_id IN ({','.join(map(str, ids[i : i + ID_CHUNK]))})")
    return f"{len(missing)} frame file(s) missing or short", sorted(r["path"] for r in lost)


def _mark_lost(videos: lancedb.table.Table, video_ids: list[str]) -> None:
    """Mark these videos failed with :data:`LOST_REASON`, one commit per chunk of ids (not per video)."""
    ids = [sql_str(v) for v in video_ids]
    for i in range(0, len(ids), ID_CHUNK):
        where = f"video_id IN ({','.join(ids[i : i + ID_CHUNK])})"
        videos.update(where=where, values={"status": "failed", "reason": LOST_REASON})


# ---------------------------------------------------------------- FAISS sidecar


def _ann_error(directory: Path) -> str:
    """Why the saved FAISS sidecar in ``directory`` is unusable; "" when it is fine or absent."""
    for column in COLUMNS:
        if not (directory / f"{column}.json").exists():
            continue  # none saved yet (an index file without its json is a save cut short: harmless)
        if read_ann_meta(directory, column) is None:
            return f"{column}.json is unreadable"
        if AnnIndex.load(directory, column, AnnConfig(use_gpu=False)) is None:
            return f"the {column} index file is missing or unreadable"
    return ""


def _within(path: Path, text: str) -> str:
    """``text`` with the files of the index named relative to it (LanceDB names them in full,
    sometimes without the leading slash)."""
    root = str(path.resolve())
    return text.replace(root + "/", "").replace(root.lstrip("/") + "/", "")
