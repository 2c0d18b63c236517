"""FAISS sidecar over the pooled vectors of one clips column ("gesture" or "content").

Inner product on L2-normalised float32 (512,) vectors, i.e. cosine similarity, keyed by clip id.
LanceDB stays the system of record: the sidecar records the LanceDB table versions it reflects
and ``AnnSidecar`` brings it up to date from a snapshot (incrementally, or rebuilt) whenever they
differ.

Index type (``AnnConfig``), chosen by the number N of vectors:

- ``flat``: exact ``IndexIDMap(IndexFlatIP)`` up to ``flat_max`` (default 50,000);
- ``ivf``: ``IndexIVFFlat`` with nlist ≈ 4·sqrt(N), ``nprobe`` lists searched per query (recall@10
  ≥ 0.95 against exact search, see benchmarks/bench_ann.py), up to ``pq_min`` (default 200,000);
- ``ivfpq``: ``IndexIVFPQ`` beyond that (128 sub-quantizers × 8 bits): 128 bytes per vector
  instead of 2 KB, so that a search process stays under 1 GB at 1M clips. Its scores are
  approximate, so the store asks it for ``refine`` × k candidates (default 4), reads their exact
  vectors from a copy beside the index (``ExactCopy``; from LanceDB for clips the copy lacks) and
  returns the exact top k with exact cosines.

An IVF index is retrained when the collection has doubled since training. A (re)build reads a
random sample of the column to train on (``TRAIN_POINTS_PER_LIST`` per list) and then adds the
vectors in streamed batches of ``BUILD_BATCH`` rows, so its memory is the index plus the sample
plus one batch (and the ids, 8 bytes a clip), never the float32 column.

On disk, in ``PATH/ann/``: ``<column>.<token>.faiss`` (the index), for IVF-PQ its exact copy
``<column>.<token>.f32`` + ``.ids``, and ``<column>.json`` (which files, how many rows of the
copy, the table versions, parameters). The json is replaced atomically (tmp + ``os.replace``)
after the files it names are complete and on disk, so a reader or a crash sees the old set or the
new one.

Flat and IVF searches run on a GPU copy when FAISS has GPU support and sees a GPU (same results).
Otherwise, when ``AnnConfig.device`` is a CUDA device, they run as an exact matrix product in torch
on that GPU (``gestsearch.store.matmul``): the same results for flat, exact ones for IVF. IVF-PQ
searches stay on the CPU either way (see ``AnnIndex._searcher``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import secrets
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import faiss
import numpy as np

from gestsearch.atomic import atomic_path, write_json
from gestsearch.constants import DIM
from gestsearch.errors import StoreError
from gestsearch.store.info import AnnInfo
from gestsearch.store.snapshot import HAS_CONTENT, Snapshot, Versions
from gestsearch.types import Column

if TYPE_CHECKING:
    from gestsearch.store.matmul import MatmulIndex

AnnKind = Literal["flat", "ivf", "ivfpq"]

FLAT_MAX = 50_000  # exact search up to this many vectors
PQ_MIN = 200_000  # IVF-PQ beyond this many vectors (benchmarks/README.md, "ANN index at scale")
NPROBE = 16  # IVF lists searched per query (benchmarks/README.md)
REFINE = 4  # IVF-PQ: candidates re-scored exactly per result asked for
PQ_M = 128  # IVF-PQ sub-quantizers (bytes per vector): 4-d sub-vectors
PQ_BITS = 8  # bits per sub-quantizer code: 256 centroids each
TRAIN_POINTS_PER_LIST = 64  # k-means sample size per IVF list (and per PQ centroid)
MIN_POINTS_PER_LIST = 39  # FAISS's own minimum for a meaningful k-means
BUILD_BATCH = 2048  # table rows read at a time while building (4 MB of float32 vectors)
REGROW_FACTOR = 2.0  # retrain IVF once the collection has grown this much since training
GPU_MAX_K = 2048  # FAISS GPU search limit
SAMPLE_SEED = 0  # the same snapshot always gives the same training sample
COPY_DTYPE = np.dtype("<f4")  # IVF-PQ's exact copy: the float32 vectors (ExactCopy says why not float16)
ID_DTYPE = np.dtype("<i8")
COPY_ROW = DIM * COPY_DTYPE.itemsize  # bytes of one vector in the copy
COPY_SUFFIX, IDS_SUFFIX = ".f32", ".ids"
COMPACT_FACTOR = 2.0  # the copy is written afresh when it has this many rows per live vector
READ_ROWS = 2048  # rows of the copy read at a time (the reused buffer: 4 MB)

# clip ids -> (the ids found, their float32 (n, 512) vectors), in any order
VectorLookup = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class AnnConfig:
    flat_max: int = FLAT_MAX
    pq_min: int = PQ_MIN
    nprobe: int = NPROBE
    refine: int = REFINE
    pq_m: int = PQ_M
    pq_bits: int = PQ_BITS
    use_gpu: bool = True
    device: str = "cpu"  # the process's torch device; a CUDA one searches there without FAISS GPU

    def kind_for(self, n: int) -> AnnKind:
        """The index type a collection of ``n`` vectors is built as."""
        if n <= self.flat_max:
            return "flat"
        # below 39 vectors per PQ centroid the codebooks cannot be trained
        return "ivfpq" if n > self.pq_min and n >= 2**self.pq_bits * MIN_POINTS_PER_LIST else "ivf"


def nlist_for(n: int) -> int:
    """IVF list count for ``n`` vectors: ~4·sqrt(n), with at least 39 training points per list."""
    return max(1, min(round(4 * math.sqrt(n)), n // MIN_POINTS_PER_LIST))


def train_size(kind: AnnKind, n: int, pq_bits: int = PQ_BITS) -> int:
    """How many of ``n`` vectors an index of ``kind`` is trained on (0: it needs no training)."""
    if kind == "flat":
        return 0
    centroids = max(nlist_for(n), 2**pq_bits) if kind == "ivfpq" else nlist_for(n)
    return min(n, TRAIN_POINTS_PER_LIST * centroids)


def gpu_available() -> bool:
    """True when the installed FAISS has GPU support and sees a GPU (faiss-cpu: never)."""
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def _empty_index(kind: AnnKind, n: int, config: AnnConfig) -> faiss.Index:
    if kind == "flat":
        return faiss.IndexIDMap(faiss.IndexFlatIP(DIM))
    quantizer = faiss.IndexFlatIP(DIM)
    if kind == "ivf":
        index = faiss.IndexIVFFlat(quantizer, DIM, nlist_for(n), faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFPQ(quantizer, DIM, nlist_for(n), config.pq_m, config.pq_bits, faiss.METRIC_INNER_PRODUCT)
        index.pq.cp.max_points_per_centroid = TRAIN_POINTS_PER_LIST
    index.cp.max_points_per_centroid = TRAIN_POINTS_PER_LIST
    return index


class AnnIndex:
    """A FAISS index over one column, with the table versions it reflects."""

    def __init__(
        self,
        column: Column,
        index: faiss.Index,
        versions: Versions,
        trained_count: int,
        config: AnnConfig,
        train_sample: int = 0,
        exact_copy: ExactCopy | None = None,
    ):
        self.column = column
        self.index = index
        self.versions = versions
        self.trained_count = trained_count  # vectors in the collection when the IVF lists were trained (0 for flat)
        self.train_sample = train_sample  # vectors the training actually used (a sample of those)
        self.config = config
        self.exact_copy = exact_copy  # IVF-PQ: where candidates' vectors are read first (None: LanceDB only)
        self._gpu_index: faiss.Index | MatmulIndex | None = None
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = config.nprobe

    @property
    def kind(self) -> AnnKind:
        if isinstance(self.index, faiss.IndexIVFPQ):
            return "ivfpq"
        return "ivf" if isinstance(self.index, faiss.IndexIVF) else "flat"

    @property
    def count(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(
        cls, column: Column, ids: np.ndarray, vectors: np.ndarray, versions: Versions, config: AnnConfig
    ) -> AnnIndex:
        """Index ``vectors`` (n, 512) float32, L2-normalised, under ``ids`` (n,) int64."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, DIM)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        size = train_size(config.kind_for(len(ids)), len(ids), config.pq_bits)
        rows = np.sort(np.random.default_rng(SAMPLE_SEED).choice(len(ids), size, replace=False))
        return cls.from_batches(column, len(ids), vectors[rows], [(ids, vectors)], versions, config)

    @classmethod
    def from_batches(
        cls,
        column: Column,
        n: int,
        sample: np.ndarray,
        batches: Iterable[tuple[np.ndarray, np.ndarray]],
        versions: Versions,
        config: AnnConfig,
        copy_to: Path | None = None,
    ) -> AnnIndex:
        """An index of the ``n`` vectors that ``batches`` yields as (ids (b,) int64, vectors (b, 512)),
        trained on ``sample`` (about ``train_size`` of them; ignored for flat).

        ``copy_to``: for IVF-PQ, write its exact copy into this directory as the vectors go by
        (a writer's sidecar directory; the copy is named by a json once the index is saved).
        """
        kind = config.kind_for(n)
        index = _empty_index(kind, n, config)
        if kind != "flat":
            index.train(np.ascontiguousarray(sample, dtype=np.float32).reshape(-1, DIM))
        copy = None if kind != "ivfpq" or copy_to is None else _CopyWriter(copy_to, f"{column}.{secrets.token_hex(6)}", 0)
        with copy or contextlib.nullcontext():
            for ids, vectors in batches:
                vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, DIM)
                index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
                if copy is not None:
                    copy.append(ids, vectors)
        if kind == "flat":
            return cls(column, index, versions, 0, config)
        return cls(column, index, versions, n, config, len(sample), copy.opened() if copy is not None else None)

    def ids(self) -> np.ndarray:
        """Every clip id in the index, int64 (order unspecified)."""
        if isinstance(self.index, faiss.IndexIDMap):
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        lists = self.index.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
            for i in range(self.index.nlist)
            if lists.list_size(i)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)

    def needs_rebuild(self, n: int) -> bool:
        """Whether an index of ``n`` vectors should be rebuilt rather than updated in place: when
        it should change type (going back, only at half the threshold) or has doubled."""
        config = self.config
        if self.kind == "flat":
            return n > config.flat_max
        if n <= config.flat_max // 2:
            return True
        if self.kind == "ivf" and config.kind_for(n) == "ivfpq":
            return True
        if self.kind == "ivfpq" and n <= config.pq_min // 2:
            return True
        return n > REGROW_FACTOR * self.trained_count

    def update(self, add_ids: np.ndarray, add_vectors: np.ndarray, remove_ids: np.ndarray, versions: Versions) -> None:
        """Remove ``remove_ids``, then add ``add_vectors`` (n, 512) under ``add_ids``."""
        vectors = np.ascontiguousarray(add_vectors, dtype=np.float32).reshape(-1, DIM)
        if len(remove_ids):
            self.index.remove_ids(np.ascontiguousarray(remove_ids, dtype=np.int64))
        if len(add_ids):
            self.index.add_with_ids(vectors, np.ascontiguousarray(add_ids, dtype=np.int64))
            if self.exact_copy is not None:  # removed ids keep their rows, unreachable
                self.exact_copy.add(np.asarray(add_ids, dtype=np.int64), vectors)
        self.versions = versions
        if self._gpu_index is None or isinstance(self._gpu_index, faiss.Index):
            self._gpu_index = None  # a FAISS GPU copy is made again on the next search
        else:  # the torch copy follows in place
            self._gpu_index.remove(remove_ids)
            self._gpu_index.add(add_ids, vectors)

    def search(
        self, queries: np.ndarray, k: int, among: np.ndarray | None = None, exact: VectorLookup | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` clip ids and cosine scores for each (Q, 512) normalised query, over the whole
        index or only the clip ids ``among`` (every inverted list is then searched, so the result
        is exact within them and full whenever k of them are indexed).

        ``exact``: where an IVF-PQ index reads the exact vectors of its ``refine`` × k candidates
        that its ``exact_copy`` lacks, to re-score them; the scores are then exact cosines, and a
        search ``among`` at most ``refine`` × k ids is exact. Without it an IVF-PQ index returns
        its approximate order and scores (benchmarks only).

        Returns ids int64 (Q, k) and scores float32 (Q, k), best first; missing results
        (fewer than k vectors) are id -1 with score -inf.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        rescore = self.kind == "ivfpq" and exact is not None
        fetch = k * self.config.refine if rescore else k
        if among is None:
            scores, ids = self._searcher(fetch).search(queries, fetch)
        else:  # on the CPU index: FAISS GPU indexes take no id selector
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(among, dtype=np.int64))
            params = (faiss.SearchParametersIVF(sel=selector, nprobe=int(self.index.nlist)) if self.kind != "flat"
                      else faiss.SearchParameters(sel=selector))
            scores, ids = self.index.search(queries, fetch, params=params)
        if rescore:
            return _rescored(queries, ids.astype(np.int64), self._with_copy(exact), k)
        scores = scores.astype(np.float32)
        scores[ids < 0] = -np.inf
        return ids.astype(np.int64), scores

    def _with_copy(self, exact: VectorLookup) -> VectorLookup:
        """``exact`` behind the exact copy: it reads only the ids the copy lacks (an index saved
        without one, or a reader's additions since the saved version)."""
        copy = self.exact_copy
        if copy is None:
            return exact

        def lookup(wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            found, vectors = copy.read(wanted)
            missing = np.setdiff1d(wanted, found, assume_unique=True)
            if not len(missing):
                return found, vectors
            more_ids, more_vectors = exact(missing)
            return np.concatenate([found, more_ids]), np.concatenate([vectors, np.asarray(more_vectors, np.float32)])

        return lookup

    def _gpu_searcher(self) -> Literal["faiss", "torch"] | None:
        """Who searches this index on a GPU, if anyone. IVF-PQ stays on the CPU: FAISS GPU takes
        at most 96 bytes a code, and reading the candidates' exact vectors, not the scan, is what
        an IVF-PQ search costs."""
        if not (self.config.use_gpu and self.kind != "ivfpq"):
            return None
        if gpu_available():
            return "faiss"
        return "torch" if self.config.device.startswith("cuda") else None

    def _searcher(self, k: int) -> faiss.Index | MatmulIndex:
        """The index that answers a search for ``k`` results: a GPU copy where there is one."""
        gpu = self._gpu_searcher()
        if gpu is None or not self.count or (gpu == "faiss" and k > GPU_MAX_K):
            return self.index
        if self._gpu_index is None and gpu == "faiss":
            self._gpu_index = faiss.index_cpu_to_gpu(_gpu_resources(), 0, self.index)
            if isinstance(self.index, faiss.IndexIVF):
                faiss.GpuParameterSpace().set_index_parameter(self._gpu_index, "nprobe", self.config.nprobe)
        elif self._gpu_index is None:
            from gestsearch.store.matmul import MatmulIndex  # torch: imported only where it searches

            self._gpu_index = MatmulIndex.from_batches(self.stored(), self.config.device)
        return self._gpu_index

    def stored(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The indexed (ids int64, float32 vectors) of a flat or IVF index, a batch at a time."""
        if isinstance(self.index, faiss.IndexIDMap):
            ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
            for start in range(0, len(ids), BUILD_BATCH):
                yield ids[start : start + BUILD_BATCH], self.index.index.reconstruct_n(start, min(BUILD_BATCH, len(ids) - start))
            return
        if self.kind != "ivf":
            raise ValueError(f"an {self.kind} index does not keep its vectors")
        lists = self.index.invlists
        for i in range(self.index.nlist):
            size = lists.list_size(i)
            if size:
                ids = faiss.rev_swig_ptr(lists.get_ids(i), size).astype(np.int64)
                codes = faiss.rev_swig_ptr(lists.get_codes(i), size * lists.code_size)
                yield ids, codes.view(np.float32).reshape(size, DIM).copy()

    def describe(self) -> dict:
        info: dict = {"type": self.kind, "count": self.count, "gpu": self._gpu_searcher() is not None}
        if self.kind != "flat":
            info.update(nlist=int(self.index.nlist), nprobe=int(self.index.nprobe), trained_on=self.train_sample)
        if self.kind == "ivfpq":
            info.update(m=int(self.index.pq.M), bits=int(self.index.pq.nbits), refine=self.config.refine,
                        exact_copy=self.exact_copy is not None)
        return info

    def save(self, directory: Path) -> None:
        """Write the index (and append to its exact copy) and then, atomically, its json; remove
        the index files and copies no json names."""
        directory.mkdir(parents=True, exist_ok=True)
        if self.exact_copy is not None:
            self.exact_copy = self.exact_copy.saved(self.ids, self.count)
        name = f"{self.column}.{secrets.token_hex(6)}.faiss"
        with atomic_path(directory / name, durable=True) as tmp:
            faiss.write_index(self.index, str(tmp))
        meta = {"file": name, "versions": asdict(self.versions), "trained_count": self.trained_count, **self.describe()}
        keep = {name}
        if self.exact_copy is not None:
            meta["copy"] = {"stem": self.exact_copy.stem, "rows": self.exact_copy.rows}
            keep |= {f"{self.exact_copy.stem}{suffix}" for suffix in (COPY_SUFFIX, IDS_SUFFIX)}
        write_json(directory / f"{self.column}.json", meta, indent=1, durable=True)
        for old in directory.glob(f"{self.column}.*"):
            if old.suffix in (".faiss", COPY_SUFFIX, IDS_SUFFIX) and old.name not in keep:
                old.unlink(missing_ok=True)

    @classmethod
    def load(cls, directory: Path, column: Column, config: AnnConfig) -> AnnIndex | None:
        """The saved index of ``column``, or None when it is missing or unreadable."""
        for _ in range(3):  # a concurrent save may delete the file named by the json we just read
            meta = read_meta(directory, column)
            if meta is None:
                return None
            try:
                index = faiss.read_index(str(directory / meta["file"]))
            except RuntimeError:
                if (directory / meta["file"]).exists():
                    return None  # corrupt
                continue
            if index.ntotal != meta["count"] or index.d != DIM:
                return None
            sample = meta.get("trained_on", meta["trained_count"])
            copy = ExactCopy.named(directory, meta.get("copy"))
            return cls(column, index, Versions(**meta["versions"]), meta["trained_count"], config, sample, copy)
        return None


def _rescored(
    queries: np.ndarray, candidates: np.ndarray, exact: VectorLookup, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The exact top ``k`` of each query's ``candidates`` (Q, c) ids (-1: none), scored with the
    vectors ``exact`` reads; as ``AnnIndex.search`` returns them."""
    out_ids = np.full((len(queries), k), -1, dtype=np.int64)
    out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    found, vectors = exact(np.unique(candidates[candidates >= 0]))
    if not len(found):
        return out_ids, out_scores
    order = np.argsort(found)
    found, vectors = found[order], np.ascontiguousarray(vectors[order], dtype=np.float32)
    rows = np.minimum(np.searchsorted(found, candidates), len(found) - 1)
    known = (candidates >= 0) & (found[rows] == candidates)
    for q, query in enumerate(queries):
        ids, rows_q = candidates[q][known[q]], rows[q][known[q]]
        # one query (search's case) has read only its own candidates: scoring them all and then
        # picking is 10x quicker than a product over a freshly gathered copy
        scores = (vectors @ query)[rows_q] if len(queries) == 1 else vectors[rows_q] @ query
        best = np.argsort(-scores, kind="stable")[:k]
        out_ids[q, : len(best)] = ids[best]
        out_scores[q, : len(best)] = scores[best]
    return out_ids, out_scores


class ExactCopy:
    """The copy of an IVF-PQ index's vectors that its candidates are re-scored with.

    Two files in ``PATH/ann/``: ``<stem>.f32`` (rows of 512 float32, 2 KB a vector) and
    ``<stem>.ids`` (the clip id of each row, int64), of which the index's json names the first
    ``rows``. Rows are only appended (vectors added since the last save, ``pending`` until then);
    a removed id keeps its row, unreachable since the index never returns it, until a save finds
    the dead rows outnumbering the live ones and writes a compacted copy under a new stem. A clip
    id's vector never changes (the id covers the video's content hash and the models), so a
    re-added id may have two rows; the later one is used.

    Rows are read with ``os.preadv`` into one reused buffer, not memory-mapped: the pages a
    search touches stay in the page cache instead of adding up in the search process's RSS.

    float32, the values LanceDB holds, so re-scoring gives the same scores and order as reading
    them from LanceDB. A float16 copy (1 KB a vector) moves a cosine by at most 2^-11 ≈ 4.9e-4
    (each component by at most 2^-11 of itself), ~1e-5 in practice; at 1M clips that reordered
    near-ties: the same top 10 in the same order for 96.5 % of queries, the same top 300 as a set
    for 95 %, in the same order for 2.5 % (benchmarks/README.md). The reads cost the same, one
    positioned read a candidate (within one 4 KB page either way), so only the disk space differs:
    1 KB more a clip, whose int8 frame vectors take ~38 KB for 3 s.
    """

    def __init__(self, directory: Path, stem: str, rows: int):
        self.directory = directory
        self.stem = stem
        self.rows = rows  # rows in the file that the json names
        # sorted clip ids and the row of each, read on first use: a build's writer that only
        # saves never holds them next to its training sample
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None
        self._pending_ids = np.empty(0, np.int64)  # added since the last save, sorted
        self._pending = np.empty((0, DIM), COPY_DTYPE)
        # both held open: a writer may remove the files (a compacted copy replaces them) while
        # this object still serves a reader that loaded their json
        self._fd = os.open(directory / f"{stem}{COPY_SUFFIX}", os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)
        self._ids_fd = os.open(directory / f"{stem}{IDS_SUFFIX}", os.O_RDONLY)
        weakref.finalize(self, os.close, self._ids_fd)
        self._slices: list[memoryview] = []  # one row each, of one reused buffer

    @classmethod
    def named(cls, directory: Path, entry: object) -> ExactCopy | None:
        """The copy that an index json's ``copy`` entry names; None when there is none (saved
        before copies existed, or not IVF-PQ) or it is unusable (its clips are then read from LanceDB)."""
        if not isinstance(entry, dict) or not isinstance(entry.get("stem"), str) or not isinstance(entry.get("rows"), int):
            return None
        return cls.open(directory, entry["stem"], entry["rows"])

    @classmethod
    def open(cls, directory: Path, stem: str, rows: int) -> ExactCopy | None:
        """The copy ``stem`` with ``rows`` rows, or None when its files are missing or too short."""
        try:
            copy = cls(directory, stem, rows)
        except OSError:
            return None
        return copy if rows >= 0 and copy._intact() else None

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Hold the vectors (n, 512) of ``ids`` (n,) until :meth:`saved` appends them."""
        ids, rows = _last_rows(np.concatenate([self._pending_ids, ids]), np.arange(len(self._pending_ids) + len(ids)))
        self._pending = np.concatenate([self._pending, vectors.astype(COPY_DTYPE)])[rows]
        self._pending_ids = ids

    def read(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The clip ids among the sorted unique ``ids`` that the copy holds, and their vectors
        as float32 (n, 512)."""
        saved_ids, saved_rows = self._saved_rows()
        in_file, at = _lookup(saved_ids, ids)
        in_memory, pending = _lookup(self._pending_ids, ids)
        fresh = ~np.isin(in_file, in_memory, assume_unique=True)
        in_file, rows = in_file[fresh], saved_rows[at[fresh]]
        order = np.argsort(rows)  # front to back through the file
        vectors = np.concatenate([self._read_rows(rows[order]), self._pending[pending].astype(np.float32)])
        return np.concatenate([in_file[order], in_memory]), vectors

    def saved(self, live: Callable[[], np.ndarray], count: int) -> ExactCopy:
        """This copy with its pending rows appended to its files (fsynced), ready for a json to
        name it; or a compacted copy of the ``live()`` ids (``count`` of them) under a new stem,
        when dead rows would outnumber live ones or the files are no longer there to append to."""
        if self.rows + len(self._pending_ids) > COMPACT_FACTOR * max(count, 1) or not self._intact():
            return self._compacted(np.sort(live()))
        with _CopyWriter(self.directory, self.stem, self.rows) as writer:
            writer.append(self._pending_ids, self._pending)
        if self._sorted is not None:
            saved_ids, saved_rows = self._sorted
            rows = np.arange(self.rows, writer.rows)
            self._sorted = _last_rows(np.concatenate([saved_ids, self._pending_ids]), np.concatenate([saved_rows, rows]))
        self.rows = writer.rows
        self._pending_ids, self._pending = np.empty(0, np.int64), np.empty((0, DIM), COPY_DTYPE)
        return self

    def _saved_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The sorted clip ids of the saved rows, and the (last) row of each."""
        if self._sorted is None:
            data = os.pread(self._ids_fd, self.rows * ID_DTYPE.itemsize, 0)
            if len(data) < self.rows * ID_DTYPE.itemsize:
                raise StoreError(f"the exact vector copy {self.directory / self.stem}{IDS_SUFFIX} is shorter than its json says")
            self._sorted = _last_rows(np.frombuffer(data, ID_DTYPE), np.arange(self.rows))
        return self._sorted

    def _intact(self) -> bool:
        """Whether the files still hold the rows the json names (a copy is appended to in place)."""
        try:
            sizes = [(self.directory / f"{self.stem}{suffix}").stat().st_size for suffix in (IDS_SUFFIX, COPY_SUFFIX)]
        except OSError:
            return False
        return sizes[0] >= self.rows * ID_DTYPE.itemsize and sizes[1] >= self.rows * COPY_ROW

    def _compacted(self, live: np.ndarray) -> ExactCopy:
        column = self.stem.split(".")[0]
        with _CopyWriter(self.directory, f"{column}.{secrets.token_hex(6)}", 0) as writer:
            for start in range(0, len(live), BUILD_BATCH):
                batch = live[start : start + BUILD_BATCH]
                found, vectors = self.read(batch)
                order = np.argsort(found)
                writer.append(found[order], vectors[order])
        return writer.opened()

    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        """The vectors (n, 512) of these file rows as float32, read ``READ_ROWS`` at a time."""
        out = np.empty((len(rows), DIM), np.float32)
        for start in range(0, len(rows), READ_ROWS):
            part = rows[start : start + READ_ROWS]
            if len(self._slices) < len(part):
                view = memoryview(bytearray(min(len(rows), READ_ROWS) * COPY_ROW))
                self._slices = [view[i : i + COPY_ROW] for i in range(0, len(view), COPY_ROW)]
            offsets = (part * COPY_ROW).tolist()
            read = sum(os.preadv(self._fd, (row,), offset) for row, offset in zip(self._slices, offsets))
            if read != len(part) * COPY_ROW:
                raise StoreError(f"the exact vector copy {self.directory / self.stem}{COPY_SUFFIX} is shorter than its json says")
            buffer = self._slices[0].obj
            out[start : start + len(part)] = np.frombuffer(buffer, COPY_DTYPE, len(part) * DIM).reshape(-1, DIM)
        return out


class _CopyWriter:
    """Appends rows to the files of an exact copy from row ``start`` on (what is beyond it: a save
    cut short, dropped), flushed to disk when the block ends; :meth:`opened` then reads them."""

    def __init__(self, directory: Path, stem: str, start: int):
        self.directory, self.stem, self.rows = directory, stem, start
        directory.mkdir(parents=True, exist_ok=True)
        # a new stem is made; an existing one must be there (ExactCopy.saved checks), never padded
        self._files = [open(directory / f"{stem}{suffix}", "r+b" if start else "wb")  # noqa: SIM115 (closed by __exit__)
                       for suffix in (IDS_SUFFIX, COPY_SUFFIX)]
        for file, row_bytes in zip(self._files, (ID_DTYPE.itemsize, COPY_ROW)):
            file.truncate(start * row_bytes)
            file.seek(start * row_bytes)

    def __enter__(self) -> _CopyWriter:
        return self

    def append(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._files[0].write(np.ascontiguousarray(ids, dtype=ID_DTYPE).tobytes())
        self._files[1].write(np.ascontiguousarray(vectors, dtype=COPY_DTYPE).reshape(-1, DIM).tobytes())
        self.rows += len(ids)

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            if exc_type is None:
                for file in self._files:
                    file.flush()
                    os.fsync(file.fileno())
        finally:
            for file in self._files:
                file.close()

    def opened(self) -> ExactCopy:
        copy = ExactCopy.open(self.directory, self.stem, self.rows)
        if copy is None:
            raise StoreError(f"the exact vector copy {self.directory / self.stem} just written cannot be read")
        return copy


def _last_rows(ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique ``ids`` and, for each, the last of the ``rows`` given with it."""
    order = np.argsort(ids, kind="stable")
    ids, rows = ids[order], rows[order]
    last = np.append(ids[1:] != ids[:-1], True) if len(ids) else np.empty(0, bool)
    return ids[last].astype(np.int64), rows[last].astype(np.int64)


def _lookup(keys: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``ids`` found in the sorted ``keys``, and their positions there."""
    if not len(keys):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    at = np.minimum(np.searchsorted(keys, ids), len(keys) - 1)
    hit = keys[at] == ids
    return ids[hit], at[hit]


def read_meta(directory: Path, column: Column) -> dict | None:
    """The json of the saved index of ``column``, or None when it is missing or unreadable."""
    try:
        meta = json.loads((directory / f"{column}.json").read_text())
        Versions(**meta["versions"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return meta if {"file", "type", "count", "trained_count"} <= meta.keys() else None


class AnnSidecar:
    """The in-memory indexes of the columns of one store, kept in step with its tables.

    Saved in ``directory`` (``PATH/ann``) by writers; readers load what is saved and bring it up
    to date in memory only. One object per thread: the indexes are not locked.
    """

    def __init__(self, directory: Path, config: AnnConfig):
        self.directory = directory
        self.config = config
        self._indexes: dict[Column, AnnIndex] = {}

    def index_for(self, column: Column, snapshot: Snapshot, save: bool) -> AnnIndex:
        """The index of ``column``, loaded, updated or rebuilt to match ``snapshot``.

        ``save``: write it to ``directory`` when the saved one is stale (writers only).
        """
        ann = self._indexes.get(column)
        if ann is not None and ann.versions == snapshot.versions:
            return ann
        meta = read_meta(self.directory, column)
        saved_fresh = meta is not None and Versions(**meta["versions"]) == snapshot.versions
        loaded = AnnIndex.load(self.directory, column, self.config) if ann is None or saved_fresh else None
        up_to_date_on_disk = loaded is not None and loaded.versions == snapshot.versions
        ann = self._synced(loaded or ann, snapshot, column, save)
        self._indexes[column] = ann
        if save and not up_to_date_on_disk:
            ann.save(self.directory)
        return ann

    def search(
        self,
        column: Column,
        snapshot: Snapshot,
        queries: np.ndarray,
        k: int,
        among: np.ndarray | None,
        save: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``AnnIndex.search`` in the index of ``column`` matching ``snapshot`` (see ``index_for``),
        with exact scores: IVF-PQ candidates are re-scored with their vectors in ``snapshot``."""
        ann = self.index_for(column, snapshot, save)
        return ann.search(queries, k, among, exact=functools.partial(snapshot.vectors_by_ids, column=column))

    def saved_info(self, column: Column, versions: Versions) -> AnnInfo:
        """The saved index of ``column`` as ``info`` reports it, fresh when it reflects ``versions``."""
        meta = read_meta(self.directory, column)
        if meta is None:
            return AnnInfo("none")
        return AnnInfo(
            type=meta["type"],
            count=meta["count"],
            nlist=meta.get("nlist"),
            nprobe=meta.get("nprobe"),
            fresh=Versions(**meta["versions"]) == versions,
        )

    def _synced(self, ann: AnnIndex | None, snapshot: Snapshot, column: Column, save: bool) -> AnnIndex:
        where = HAS_CONTENT if column == "content" else None
        if ann is not None and ann.versions == snapshot.versions:
            return ann
        ids = snapshot.rows(["id", "write_id"], where).column("id").to_numpy()
        if ann is None or ann.needs_rebuild(len(ids)):
            kind = self.config.kind_for(len(ids))
            sample = _sample(snapshot, column, train_size(kind, len(ids), self.config.pq_bits), len(ids))
            batches = _batches(snapshot, column)
            copy_to = self.directory if save else None  # readers re-score from LanceDB until a writer saves
            return AnnIndex.from_batches(column, len(ids), sample, batches, snapshot.versions, self.config, copy_to)
        have = ann.ids()
        added = np.setdiff1d(ids, have)
        added_ids, added_vectors = snapshot.vectors_by_ids(added, column)
        ann.update(added_ids, added_vectors, np.setdiff1d(have, ids), snapshot.versions)
        return ann


def _sample(snapshot: Snapshot, column: Column, size: int, n: int) -> np.ndarray:
    """About ``size`` random vectors, float32 (about size, 512), of the ``n`` visible rows that
    have one: rows are drawn at random offsets of the pinned table, which also holds rows that are
    not visible or have no vector, so as many more offsets are drawn as those make up."""
    total = snapshot.clips.count_rows()
    draw = min(total, math.ceil(size * total / max(n, 1)))
    offsets = np.sort(np.random.default_rng(SAMPLE_SEED).choice(total, draw, replace=False))
    sample = np.empty((draw, DIM), np.float32)
    filled = 0
    for start in range(0, draw, BUILD_BATCH):
        _, vectors = snapshot.vectors_at(offsets[start : start + BUILD_BATCH], column)
        sample[filled : filled + len(vectors)] = vectors
        filled += len(vectors)
    return sample[:filled]


def _batches(snapshot: Snapshot, column: Column) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The visible (ids, vectors) of ``column``, ``BUILD_BATCH`` table rows at a time. Read by
    offsets, which holds only these rows in memory: LanceDB's own scan reads far ahead (hundreds
    of MB at 100k clips)."""
    total = snapshot.clips.count_rows()
    for start in range(0, total, BUILD_BATCH):
        ids, vectors = snapshot.vectors_at(np.arange(start, min(start + BUILD_BATCH, total)), column)
        if len(ids):
            yield ids, vectors


def exact_search(ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` of ``queries`` (Q, 512) among ``vectors`` (n, 512) stored under ``ids`` (n,).

    Inner product (cosine when both are L2-normalised), with the flat index the sidecar uses
    for small collections. Returns ids int64 (Q, k) and scores float32 (Q, k) as
    ``AnnIndex.search`` does.
    """
    config = AnnConfig(flat_max=max(FLAT_MAX, len(ids)))  # the default settings, but flat (exact) at any size
    # the column only names the files of a saved index; this one is never saved
    return AnnIndex.build("gesture", ids, vectors, Versions(0, 0), config).search(queries, k)


@functools.cache
def _gpu_resources() -> object:
    """One set of GPU resources (scratch memory, streams) per process."""
    return faiss.StandardGpuResources()
