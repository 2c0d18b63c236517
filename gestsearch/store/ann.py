"""FAISS sidecar over the pooled vectors of one clips column ("gesture" or "content").

Inner product on L2-normalised float32 (512,) vectors, i.e. cosine similarity, keyed by clip id.
LanceDB stays the system of record: the sidecar records the LanceDB table versions it reflects
and ``AnnSidecar`` brings it up to date from a snapshot (incrementally, or rebuilt) whenever they
differ.

Index type: exact ``IndexIDMap(IndexFlatIP)`` up to ``flat_max`` vectors (default 50,000), beyond
that ``IndexIVFFlat`` with nlist ≈ 4·sqrt(N) and ``nprobe`` lists searched per query (chosen for
recall@10 ≥ 0.95 against exact search, see benchmarks/bench_ann.py). An IVF index is retrained when
the collection has doubled since training.

On disk, in ``PATH/ann/``: ``<column>.<token>.faiss`` (the index) and ``<column>.json`` (which
file, the table versions, parameters). The json is replaced atomically (tmp + ``os.replace``)
after its index file is complete, so a reader or a crash sees the old pair or the new one.

Searches run on a GPU copy when FAISS has GPU support and sees a GPU (same results).
"""

from __future__ import annotations

import functools
import json
import math
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from gestsearch.atomic import atomic_path, write_json
from gestsearch.constants import DIM
from gestsearch.store.info import AnnInfo
from gestsearch.store.schema import vectors_of
from gestsearch.store.snapshot import HAS_CONTENT, Snapshot, Versions
from gestsearch.types import Column

FLAT_MAX = 50_000  # exact search up to this many vectors
NPROBE = 16  # IVF lists searched per query (benchmarks/README_store.md)
TRAIN_POINTS_PER_LIST = 64  # k-means sample size per IVF list
MIN_POINTS_PER_LIST = 39  # FAISS's own minimum for a meaningful k-means
REGROW_FACTOR = 2.0  # retrain IVF once the collection has grown this much since training
GPU_MAX_K = 2048  # FAISS GPU search limit


@dataclass(frozen=True)
class AnnConfig:
    flat_max: int = FLAT_MAX
    nprobe: int = NPROBE
    use_gpu: bool = True


def nlist_for(n: int) -> int:
    """IVF list count for ``n`` vectors: ~4·sqrt(n), with at least 39 training points per list."""
    return max(1, min(round(4 * math.sqrt(n)), n // MIN_POINTS_PER_LIST))


def gpu_available() -> bool:
    """True when the installed FAISS has GPU support and sees a GPU (faiss-cpu: never)."""
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


class AnnIndex:
    """A FAISS index over one column, with the table versions it reflects."""

    def __init__(self, column: Column, index: faiss.Index, versions: Versions, trained_count: int, config: AnnConfig):
        self.column = column
        self.index = index
        self.versions = versions
        self.trained_count = trained_count  # vectors the IVF lists were trained on (0 for flat)
        self.config = config
        self._gpu_index: faiss.Index | None = None
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = config.nprobe

    @property
    def kind(self) -> str:
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
        n = len(ids)
        if n <= config.flat_max:
            index: faiss.Index = faiss.IndexIDMap(faiss.IndexFlatIP(DIM))
            trained = 0
        else:
            quantizer = faiss.IndexFlatIP(DIM)
            index = faiss.IndexIVFFlat(quantizer, DIM, nlist_for(n), faiss.METRIC_INNER_PRODUCT)
            index.cp.max_points_per_centroid = TRAIN_POINTS_PER_LIST
            index.train(vectors)
            trained = n
        index.add_with_ids(vectors, ids)
        return cls(column, index, versions, trained, config)

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
        """Whether an index of ``n`` vectors should be rebuilt rather than updated in place."""
        if self.kind == "flat":
            return n > self.config.flat_max
        return n <= self.config.flat_max // 2 or n > REGROW_FACTOR * self.trained_count

    def update(self, add_ids: np.ndarray, add_vectors: np.ndarray, remove_ids: np.ndarray, versions: Versions) -> None:
        """Remove ``remove_ids``, then add ``add_vectors`` (n, 512) under ``add_ids``."""
        if len(remove_ids):
            self.index.remove_ids(np.ascontiguousarray(remove_ids, dtype=np.int64))
        if len(add_ids):
            vectors = np.ascontiguousarray(add_vectors, dtype=np.float32).reshape(-1, DIM)
            self.index.add_with_ids(vectors, np.ascontiguousarray(add_ids, dtype=np.int64))
        self.versions = versions
        self._gpu_index = None

    def search(self, queries: np.ndarray, k: int, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` clip ids and cosine scores for each (Q, 512) normalised query, over the whole
        index or only the clip ids ``among`` (every inverted list is then searched, so the result
        is exact within them and full whenever k of them are indexed).

        Returns ids int64 (Q, k) and scores float32 (Q, k), best first; missing results
        (fewer than k vectors) are id -1 with score -inf.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if among is None:
            scores, ids = self._searcher(k).search(queries, k)
        else:  # on the CPU index: FAISS GPU indexes take no id selector
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(among, dtype=np.int64))
            params = (faiss.SearchParametersIVF(sel=selector, nprobe=int(self.index.nlist)) if self.kind == "ivf"
                      else faiss.SearchParameters(sel=selector))
            scores, ids = self.index.search(queries, k, params=params)
        scores = scores.astype(np.float32)
        scores[ids < 0] = -np.inf
        return ids.astype(np.int64), scores

    def _searcher(self, k: int) -> faiss.Index:
        if not (self.config.use_gpu and k <= GPU_MAX_K and self.count and gpu_available()):
            return self.index
        if self._gpu_index is None:
            self._gpu_index = faiss.index_cpu_to_gpu(_gpu_resources(), 0, self.index)
            if isinstance(self.index, faiss.IndexIVF):
                faiss.GpuParameterSpace().set_index_parameter(self._gpu_index, "nprobe", self.config.nprobe)
        return self._gpu_index

    def describe(self) -> dict:
        info: dict = {"type": self.kind, "count": self.count, "gpu": self.config.use_gpu and gpu_available()}
        if self.kind == "ivf":
            info.update(nlist=int(self.index.nlist), nprobe=int(self.index.nprobe), trained_on=self.trained_count)
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
            return cls(column, index, Versions(**meta["versions"]), meta["trained_count"], config)
        return None


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
            rows = snapshot.rows(["id", "write_id", column], where)
            ids = rows.column("id").to_numpy()
            return AnnIndex.build(column, ids, vectors_of(rows.column(column)), snapshot.versions, self.config)
        have = ann.ids()
        added = np.setdiff1d(ids, have)
        rows = snapshot.rows_by_ids(added, ["id", "write_id", column])
        removed = np.setdiff1d(have, ids)
        ann.update(rows.column("id").to_numpy(), vectors_of(rows.column(column)), removed, snapshot.versions)
        return ann


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
