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
  vectors from LanceDB and returns the exact top k with exact cosines.

An IVF index is retrained when the collection has doubled since training. A (re)build reads a
random sample of the column to train on (``TRAIN_POINTS_PER_LIST`` per list) and then adds the
vectors in streamed batches of ``BUILD_BATCH`` rows, so its memory is the index plus the sample
plus one batch (and the ids, 8 bytes a clip), never the float32 column.

On disk, in ``PATH/ann/``: ``<column>.<token>.faiss`` (the index) and ``<column>.json`` (which
file, the table versions, parameters). The json is replaced atomically (tmp + ``os.replace``)
after its index file is complete, so a reader or a crash sees the old pair or the new one.

Flat and IVF searches run on a GPU copy when FAISS has GPU support and sees a GPU (same results).
Otherwise, when ``AnnConfig.device`` is a CUDA device, they run as an exact matrix product in torch
on that GPU (``gestsearch.store.matmul``): the same results for flat, exact ones for IVF. IVF-PQ
searches stay on the CPU either way (see ``AnnIndex._searcher``).
"""

from __future__ import annotations

import functools
import json
import math
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import faiss
import numpy as np

from gestsearch.atomic import atomic_path, write_json
from gestsearch.constants import DIM
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
    ):
        self.column = column
        self.index = index
        self.versions = versions
        self.trained_count = trained_count  # vectors in the collection when the IVF lists were trained (0 for flat)
        self.train_sample = train_sample  # vectors the training actually used (a sample of those)
        self.config = config
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
    ) -> AnnIndex:
        """An index of the ``n`` vectors that ``batches`` yields as (ids (b,) int64, vectors (b, 512)),
        trained on ``sample`` (about ``train_size`` of them; ignored for flat)."""
        kind = config.kind_for(n)
        index = _empty_index(kind, n, config)
        if kind != "flat":
            index.train(np.ascontiguousarray(sample, dtype=np.float32).reshape(-1, DIM))
        for ids, vectors in batches:
            vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, DIM)
            index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
        if kind == "flat":
            return cls(column, index, versions, 0, config)
        return cls(column, index, versions, n, config, train_sample=len(sample))

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
        to re-score them; the scores are then exact cosines, and a search ``among`` at most
        ``refine`` × k ids is exact. Without it an IVF-PQ index returns its approximate order and
        scores (benchmarks only).

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
            return _rescored(queries, ids.astype(np.int64), exact, k)
        scores = scores.astype(np.float32)
        scores[ids < 0] = -np.inf
        return ids.astype(np.int64), scores

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
            info.update(m=int(self.index.pq.M), bits=int(self.index.pq.nbits), refine=self.config.refine)
        return info

    def save(self, directory: Path) -> None:
        """Write the index and then, atomically, its json; remove index files no json names."""
        directory.mkdir(parents=True, exist_ok=True)
        name = f"{self.column}.{secrets.token_hex(6)}.faiss"
        with atomic_path(directory / name, durable=True) as tmp:
            faiss.write_index(self.index, str(tmp))
        meta = {"file": name, "versions": asdict(self.versions), "trained_count": self.trained_count, **self.describe()}
        write_json(directory / f"{self.column}.json", meta, indent=1, durable=True)
        for old in directory.glob(f"{self.column}.*.faiss"):
            if old.name != name:
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
            return cls(column, index, Versions(**meta["versions"]), meta["trained_count"], config, sample)
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
        scores = vectors[rows_q] @ query
        best = np.argsort(-scores, kind="stable")[:k]
        out_ids[q, : len(best)] = ids[best]
        out_scores[q, : len(best)] = scores[best]
    return out_ids, out_scores


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
        ann = self._synced(loaded or ann, snapshot, column)
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

    def _synced(self, ann: AnnIndex | None, snapshot: Snapshot, column: Column) -> AnnIndex:
        where = HAS_CONTENT if column == "content" else None
        if ann is not None and ann.versions == snapshot.versions:
            return ann
        ids = snapshot.rows(["id", "write_id"], where).column("id").to_numpy()
        if ann is None or ann.needs_rebuild(len(ids)):
            kind = self.config.kind_for(len(ids))
            sample = _sample(snapshot, column, train_size(kind, len(ids), self.config.pq_bits), len(ids))
            batches = _batches(snapshot, column)
            return AnnIndex.from_batches(column, len(ids), sample, batches, snapshot.versions, self.config)
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
