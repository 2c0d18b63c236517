"""Consistent reads without locks: snapshots of the index and LanceDB's vector search over them.

Readers never lock: each read takes a consistent snapshot (the write_ids of indexed video rows +
the clips table pinned at one version), checked against concurrent commits of the videos table.
A clip row is visible only when its write_id is one of an indexed video row (see writer.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from gestsearch.errors import StoreError
from gestsearch.store.framefiles import FrameFiles
from gestsearch.store.records import Candidates, ClipSpans, ClipSummary, PackedFrames, loaded_path
from gestsearch.store.schema import (
    CLIPS,
    FRAME_LOCATION,
    RESIDENT_COLUMNS,
    SPEAKING,
    SUMMARY_COLUMNS,
    frame_columns,
    frames_in_files,
    packed_frames,
    resident_columns,
    vectors_of,
)
from gestsearch.types import Column

HAS_CONTENT = "content IS NOT NULL"  # the clips with a "content" vector (speech + transcript)
SNAPSHOT_TRIES = 20
LANCE_REFINE = 10  # exact re-scoring of k·10 candidates after LanceDB's approximate (PQ) search


@dataclass(frozen=True)
class Versions:
    """LanceDB table versions an index reflects."""

    videos: int
    clips: int


@dataclass(frozen=True)
class Snapshot:
    """A consistent view: the write_ids of indexed videos and the clips table pinned with them."""

    versions: Versions
    live: pa.Array  # int64 write_ids of the video rows with status "indexed"
    clips: lancedb.table.Table  # pinned at versions.clips (read-only)
    columns: tuple[str, ...]  # of the clips table at that version
    resident: ResidentRows  # where each clip id's rows are in that version, and what search ranks by
    frame_files: FrameFiles  # of the index (used from format 4 on)

    @property
    def frame_columns(self) -> list[str]:
        """The columns :meth:`frames_of` reads a clip's frame vectors with."""
        return frame_columns(self.columns)

    def frames_of(self, rows: pa.Table) -> PackedFrames:
        """The frame vectors of ``rows`` (read with write_id and :attr:`frame_columns`), in row order."""
        if not frames_in_files(rows.column_names):
            return packed_frames(rows)
        return self.frame_files.read(*(rows.column(c).to_numpy() for c in FRAME_LOCATION))

    def visible(self, rows: pa.Table) -> pa.Table:
        """The rows (which have a write_id column) that belong to an indexed video."""
        mask = pc.is_in(rows.column("write_id"), value_set=self.live)
        return rows if pc.all(mask).as_py() is not False else rows.filter(mask)  # filter copies every column

    def rows(self, columns: list[str], where: str | None = None) -> pa.Table:
        """Visible rows (``columns`` must include write_id) matching the SQL filter ``where``."""
        query = self.clips.search().select(columns)
        return self.visible((query.where(where) if where else query).to_arrow())

    def rows_by_ids(self, ids: np.ndarray, columns: list[str]) -> pa.Table:
        """Visible rows (``columns`` must include write_id) with these clip ids, in table order.

        Taken by row offset: a filter ``id IN (...)`` costs a third more for search's 300 candidates.
        """
        return self.rows_at(self.resident.offsets(np.asarray(ids, dtype=np.int64)), columns)

    def rows_at(self, offsets: np.ndarray, columns: list[str]) -> pa.Table:
        """Visible rows (``columns`` must include write_id) at these row offsets of the pinned table."""
        if not len(offsets):
            return self.clips.schema.empty_table().select(columns)
        return self.visible(self.clips.take_offsets(np.asarray(offsets).tolist()).select(columns).to_arrow())

    def candidates(self, ids: np.ndarray) -> Candidates:
        """The visible clips with these ids, in index order, as search's exact stage reads them:
        from memory but for the frame vectors."""
        rows = self.resident.offsets(np.asarray(ids, dtype=np.int64))
        write_ids = self.resident.column("write_id", rows)
        visible = np.isin(write_ids, self.live.to_numpy())
        rows, write_ids = rows[visible], write_ids[visible]
        if frames_in_files(self.columns):
            frames = self.frame_files.read(*(self.resident.column(c, rows) for c in FRAME_LOCATION))
        else:
            frames = self.frames_of(self.rows_at(rows, ["write_id", *self.frame_columns]))
        speaking = self.resident.column(SPEAKING, rows)
        return Candidates(
            ids=self.resident.ids(rows),
            # an indexed video has one write_id in a snapshot: it tells the candidates' videos apart
            spans=ClipSpans(write_ids, *(self.resident.column(c, rows) for c in ("track", "start_s", "end_s"))),
            speaking=np.full(len(rows), np.nan, np.float32) if speaking is None else speaking,
            frames=frames,
            rows=rows,
            version=self.versions.clips,
        )

    def summaries(self, candidates: Candidates, which: np.ndarray) -> list[ClipSummary]:
        """The summaries of the candidates at positions ``which`` (in that order), read from
        ``candidates``' version of the clips table: only what memory lacks is taken from LanceDB."""
        if candidates.version != self.versions.clips:
            raise StoreError("candidates and their summaries must be read in one store.reading() block")
        which = np.asarray(which, dtype=np.int64)
        order = np.argsort(candidates.rows[which])  # take_offsets returns rows in table order
        taken = [c for c in SUMMARY_COLUMNS if c not in RESIDENT_COLUMNS and c != "id"]
        rows = self.clips.take_offsets(candidates.rows[which][order].tolist()).select(taken).to_arrow().to_pydict()
        rows["path"] = [loaded_path(path) for path in rows["path"]]
        at = np.empty_like(order)
        at[order] = np.arange(len(order))  # where each asked candidate's row came back
        spans, speaking = candidates.spans, candidates.speaking
        return [
            ClipSummary(
                clip_id=int(candidates.ids[i]), track=int(spans.tracks[i]), start_s=float(spans.start_s[i]),
                end_s=float(spans.end_s[i]), speaking=None if np.isnan(speaking[i]) else float(speaking[i]),
                **{c: rows[c][j] for c in taken},
            )
            for i, j in zip(which.tolist(), at.tolist())
        ]

    def vectors_by_ids(self, ids: np.ndarray, column: Column) -> tuple[np.ndarray, np.ndarray]:
        """The ids (n,) and ``column`` vectors (n, 512) of the visible clips with these ids that have one."""
        return self.vectors_at(self.resident.offsets(np.asarray(ids, dtype=np.int64)), column)

    def vectors_at(self, offsets: np.ndarray, column: Column) -> tuple[np.ndarray, np.ndarray]:
        """The ids (n,) and ``column`` vectors (n, 512) of the visible rows at these offsets that have one."""
        rows = self.rows_at(offsets, ["id", "write_id", column])
        rows = rows.filter(pc.is_valid(rows.column(column)))
        return rows.column("id").to_numpy(), vectors_of(rows.column(column))

    def search(self, queries: np.ndarray, k: int, column: Column) -> tuple[np.ndarray, np.ndarray]:
        """LanceDB's own top-``k`` cosine search of normalised (Q, 512) ``queries`` in ``column``.

        Returns ids int64 (Q, k) and scores float32 (Q, k), best first, padded with id -1 and
        score -inf when fewer than k visible clips match.
        """
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        for q, vector in enumerate(queries):
            fetch = k
            while True:  # over-fetch until k visible rows (invisible ones are rare leftovers)
                found = (
                    self.clips.search(vector, vector_column_name=column)
                    .metric("cosine")
                    .refine_factor(LANCE_REFINE)
                    .select(["id", "write_id", "_distance"])
                    .limit(fetch)
                    .to_arrow()
                )
                hits = self.visible(found)
                if hits.num_rows >= k or found.num_rows < fetch:
                    break
                fetch *= 2
            n = min(k, hits.num_rows)
            ids[q, :n] = hits.column("id").to_numpy()[:n]
            scores[q, :n] = 1.0 - hits.column("_distance").to_numpy()[:n]
        return ids, scores


class ResidentRows:
    """One version of the clips table as far as search's exact stage needs it, in memory: clip id →
    row offsets, and each row's :data:`~gestsearch.store.schema.RESIDENT_COLUMNS` (~60 bytes a clip
    with the ids; read whole on first use, 0.6 s at 1M clips). Ids repeat while a writer replaces
    a video with the same content."""

    def __init__(self, table: lancedb.table.Table, columns: Iterable[str]):
        self._table = table
        self._names = resident_columns(columns)
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None
        self._ids = np.zeros(0, np.int64)
        self._columns: dict[str, np.ndarray] = {}

    def offsets(self, ids: np.ndarray) -> np.ndarray:
        """The offsets of every row with one of ``ids``, sorted (int64)."""
        sorted_ids, order = self._load()
        first, end = np.searchsorted(sorted_ids, ids, "left"), np.searchsorted(sorted_ids, ids, "right")
        counts = end - first
        # first[i], first[i] + 1, ..., end[i] - 1 for every id, without a Python loop
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.sort(order[np.repeat(first, counts) + within]).astype(np.int64)

    def ids(self, offsets: np.ndarray) -> np.ndarray:
        self._load()
        return self._ids[offsets]

    def column(self, name: str, offsets: np.ndarray) -> np.ndarray | None:
        """``name`` at these rows (speaking: NaN for null); None when the table lacks the column."""
        self._load()
        values = self._columns.get(name)
        return None if values is None else values[offsets]

    def _load(self) -> tuple[np.ndarray, np.ndarray]:
        if self._sorted is None:
            rows = self._table.search().select(["id", *self._names]).to_arrow()
            self._ids = rows.column("id").to_numpy()
            self._columns = {name: pc.fill_null(rows.column(name), np.nan).to_numpy() if name == SPEAKING
                             else rows.column(name).to_numpy() for name in self._names}
            order = np.argsort(self._ids, kind="stable")
            self._sorted = self._ids[order], order
        return self._sorted


class Snapshots:
    """Takes snapshots of one index, reusing the live write_ids and the pinned clips table while
    the tables have not changed (one object per thread: the caches are not locked)."""

    def __init__(
        self,
        path: Path,
        db: lancedb.DBConnection,
        videos: lancedb.table.Table,
        clips: lancedb.table.Table,
        frame_files: FrameFiles,
    ):
        self._path = path
        self._frame_files = frame_files
        self._db = db
        self._videos = videos
        self._clips = clips
        self._live_cache: tuple[int, pa.Array] | None = None
        self._pinned: tuple[lancedb.table.Table, tuple[str, ...], ResidentRows] | None = None
        self._held: Snapshot | None = None

    @contextmanager
    def held(self) -> Iterator[Snapshot]:
        """One snapshot for every :meth:`take` inside the block (an inner block shares the outer one):
        several reads see the same version, and pay for checking the versions once."""
        if self._held is not None:
            yield self._held
            return
        self._held = self.take()
        try:
            yield self._held
        finally:
            self._held = None

    def take(self) -> Snapshot:
        """Write_ids of indexed videos plus the clips table pinned at a version consistent with them.

        Clips only disappear after the video row that committed them changed, so if the videos
        table did not change while we read it and the clips version, the pair is consistent.
        """
        if self._held is not None:
            return self._held
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
            raise StoreError(f"index at {self._path} changes too fast to read a consistent view")
        self._live_cache = (videos_version, live)
        if self._pinned is None or self._pinned[0].version != clips_version:
            table = self._db.open_table(CLIPS)
            table.checkout(clips_version)
            columns = tuple(table.schema.names)
            self._pinned = table, columns, ResidentRows(table, columns)
        return Snapshot(Versions(videos_version, clips_version), live, *self._pinned, self._frame_files)
