"""Exact inner-product search as a matrix product in torch: the GPU searcher where FAISS has no
GPU support (faiss-cpu next to a CUDA torch), and runnable on the CPU the same way.

The vectors live on ``device`` in blocks of up to ``BLOCK_ROWS`` rows, float32 (scores as exact
as FAISS's flat index) or float16 (half the memory, 1 GB per million 512-d vectors; scores within
``FLOAT16_TOLERANCE``). A search multiplies ``QUERY_BATCH`` queries at a time by each block and
keeps a running top k, so at most QUERY_BATCH × BLOCK_ROWS scores are held at once.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from gestsearch.constants import DIM

BLOCK_ROWS = 1 << 18  # vectors per block (512 MB at float32)
QUERY_BATCH = 256  # queries per product: 256 × BLOCK_ROWS float32 scores = 256 MB at most
FLOAT16_TOLERANCE = 2e-3  # float16 vs float32 scores of L2-normalised vectors (rounding of both)


class MatmulIndex:
    """Vectors under int64 ids, searched exactly by inner product on ``device``.

    ``search`` answers as a FAISS index does: (scores float32 (Q, k), ids int64 (Q, k)), best
    first, padded with score -inf and id -1 when fewer than k vectors are indexed.
    """

    def __init__(self, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        self.device = torch.device(device)
        self.dtype = dtype
        self._blocks: list[torch.Tensor] = []  # (rows, DIM) on device
        self._block_ids: list[torch.Tensor] = []  # (rows,) int64 on device
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []  # added on the host, not yet uploaded

    @classmethod
    def from_batches(
        cls, batches: Iterable[tuple[np.ndarray, np.ndarray]], device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
    ) -> MatmulIndex:
        """An index of the (ids (b,) int64, vectors (b, 512)) batches."""
        index = cls(device, dtype)
        for ids, vectors in batches:
            index.add(ids, vectors)
        index._upload()
        return index

    @property
    def ntotal(self) -> int:
        return sum(len(ids) for ids in self._block_ids) + sum(len(ids) for ids, _ in self._pending)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``vectors`` (n, 512) under ``ids`` (n,); uploaded a block at a time (small batches
        would otherwise make many small blocks, a product each)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, DIM)
        self._pending.append((np.ascontiguousarray(ids, dtype=np.int64), vectors))
        if sum(len(i) for i, _ in self._pending) >= BLOCK_ROWS:
            self._upload()

    def remove(self, ids: np.ndarray) -> None:
        """Remove the vectors stored under ``ids`` (ids not indexed are ignored)."""
        self._upload()
        gone = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64)).to(self.device)
        for i, block_ids in enumerate(self._block_ids):
            keep = ~torch.isin(block_ids, gone)
            if not bool(keep.all()):
                self._blocks[i], self._block_ids[i] = self._blocks[i][keep], block_ids[keep]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` of each (Q, 512) query by inner product: (scores (Q, k), ids (Q, k))."""
        self._upload()
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, DIM)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for start in range(0, len(queries), QUERY_BATCH):
            batch = torch.from_numpy(queries[start : start + QUERY_BATCH]).to(self.device, self.dtype)
            best, best_ids = self._top(batch, k)
            scores[start : start + len(batch), : best.shape[1]] = best.cpu().numpy()
            ids[start : start + len(batch), : best.shape[1]] = best_ids.cpu().numpy()
        return scores, ids

    def _top(self, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        best = torch.empty(len(queries), 0, device=self.device)
        best_ids = torch.empty(len(queries), 0, dtype=torch.int64, device=self.device)
        for block, block_ids in zip(self._blocks, self._block_ids):
            if not len(block):
                continue
            top, rows = (queries @ block.T).float().topk(min(k, len(block)), dim=1)
            best, order = torch.cat([best, top], 1).topk(min(k, best.shape[1] + top.shape[1]), dim=1)
            best_ids = torch.cat([best_ids, block_ids[rows]], 1).gather(1, order)
        return best, best_ids

    def _upload(self) -> None:
        """Move the pending vectors to the device, topping up the last block first."""
        if not self._pending:
            return
        ids = np.concatenate([i for i, _ in self._pending])
        vectors = np.concatenate([v for _, v in self._pending])
        self._pending = []
        if self._blocks and len(self._blocks[-1]) < BLOCK_ROWS:
            room = BLOCK_ROWS - len(self._blocks[-1])
            head = torch.from_numpy(vectors[:room]).to(self.device, self.dtype)
            self._blocks[-1] = torch.cat([self._blocks[-1], head])
            self._block_ids[-1] = torch.cat([self._block_ids[-1], torch.from_numpy(ids[:room]).to(self.device)])
            ids, vectors = ids[room:], vectors[room:]
        for start in range(0, len(ids), BLOCK_ROWS):
            self._blocks.append(torch.from_numpy(vectors[start : start + BLOCK_ROWS]).to(self.device, self.dtype))
            self._block_ids.append(torch.from_numpy(ids[start : start + BLOCK_ROWS]).to(self.device))
