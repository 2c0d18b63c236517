"""Query latency of ``gestsearch search``'s two stages on synthetic clips, one query at a time.

Stage 1: FAISS over pooled 512-d clip vectors, top ``CANDIDATES`` (exact ``IndexFlatIP``
at 10k clips; ``IndexIVFFlat`` with nlist ≈ 4·sqrt(N), trained on a sample, and the
smallest nprobe whose recall@10 against exact search is ≥ 0.95 at 100k and 1M).
Stage 2: exact word coupling (:func:`gestsearch.scoring.coupling_scores`) of the
candidates' frame vectors, 75 frames × 512 int8 codes with a scale each per clip (as the store
keeps them, read as :class:`~gestsearch.store.PackedFrames`), fusion and the top-10 sort;
then the merge of overlapping windows of one speaker track into one hit
(:func:`~gestsearch.search.engine.distinct_moments`, on candidates laid out as 4 s windows every
2 s, the layout of an index without transcripts, so merges happen), then the word peaks of the top
10 (:func:`word_peaks`). The frames of a million clips
would take 77 GB, so stage 2 reads each candidate's frames from a pool of ``POOL``
synthetic clips (candidate id modulo ``POOL``): exactly the data stage 2 touches per
query, from memory (the store read is not timed, nor is the text encoder).

    python benchmarks/bench_search.py [--quick] [--queries 210] [--threads N] [--out benchmarks/README_search.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import torch

from gestsearch.scoring import coupling_scores, fuse, word_peaks
from gestsearch.search.engine import distinct_moments
from gestsearch.store import ClipSpans, PackedFrames
from gestsearch.store.schema import quantize
from gestsearch.vectors import l2_normalize

DIM = 512
FRAMES = 75
CANDIDATES = 200
TOP = 10
WORDS = 4
POOL = 4_000  # synthetic clips whose frames stand in for any candidate's
WARM_UP = 10  # untimed first queries
TARGET_RECALL = 0.95
NPROBES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
HEADER = (
    "clips", "index", "nprobe", "recall@10", f"recall@{CANDIDATES}", "build (s)",
    "stage 1 p50 / p95 (ms)", "stage 2 p50 / p95 (ms)", "merge p50 / p95 (ms)", "peaks p50 / p95 (ms)",
    "total p50 / p95 (ms)", "merge share of total p50",
)  # fmt: skip
WINDOWS_PER_VIDEO = 20  # candidate id → (video, 4 s window every 2 s): overlapping windows of one track


def windows(clip_ids: np.ndarray) -> ClipSpans:
    """What :func:`distinct_moments` reads of these clips."""
    starts = 2.0 * (clip_ids % WINDOWS_PER_VIDEO)
    return ClipSpans(clip_ids // WINDOWS_PER_VIDEO, np.zeros(len(clip_ids), np.int64), starts, starts + 4.0)


@dataclass
class Row:
    """Measurements at one gallery size; latencies in ms per timed query."""

    n_clips: int
    index: str
    nprobe: int | None
    recall_top: float
    recall_candidates: float
    build_s: float
    stage1_ms: np.ndarray
    stage2_ms: np.ndarray
    merge_ms: np.ndarray
    peaks_ms: np.ndarray

    def cells(self) -> list[str]:
        total = self.stage1_ms + self.stage2_ms + self.merge_ms + self.peaks_ms
        latencies = (self.stage1_ms, self.stage2_ms, self.merge_ms, self.peaks_ms, total)
        return [
            f"{self.n_clips:,}",
            self.index,
            "-" if self.nprobe is None else str(self.nprobe),
            f"{self.recall_top:.3f}",
            f"{self.recall_candidates:.3f}",
            f"{self.build_s:.1f}",
            *(f"{np.percentile(ms, 50):.2f} / {np.percentile(ms, 95):.2f}" for ms in latencies),
            f"{100 * np.percentile(self.merge_ms, 50) / np.percentile(total, 50):.1f} %",
        ]


def near(rng: np.random.Generator, centers: np.ndarray, spread: float) -> np.ndarray:
    """Normalised points around ``centers`` (..., DIM): cosine to their centre ≈ 1/sqrt(1 + spread²)."""
    noise = rng.standard_normal(centers.shape, dtype=np.float32) * np.float32(spread / np.sqrt(DIM))
    return l2_normalize(centers + noise)


def clustered(rng: np.random.Generator, n: int, n_centers: int) -> np.ndarray:
    """``n`` normalised clip vectors (n, DIM) around ``n_centers`` random centres, made 100k at a time."""
    centers = l2_normalize(rng.standard_normal((n_centers, DIM), dtype=np.float32))
    out = np.empty((n, DIM), dtype=np.float32)
    for lo in range(0, n, 100_000):
        hi = min(n, lo + 100_000)
        out[lo:hi] = near(rng, centers[rng.integers(0, n_centers, hi - lo)], spread=1.0)
    return out


def make_queries(rng: np.random.Generator, clips: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Word vectors (n, WORDS, DIM) scattered around random clips, and their pooled query vectors (n, DIM)."""
    words = near(rng, np.repeat(clips[rng.integers(0, len(clips), n), None], WORDS, axis=1), spread=1.0)
    return words, l2_normalize(words.mean(axis=1))


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth)]))


def build_index(clips: np.ndarray, rng: np.random.Generator) -> tuple[faiss.Index, str]:
    if len(clips) <= 10_000:
        index, name = faiss.IndexFlatIP(DIM), "Flat"
    else:
        nlist = int(round(4 * np.sqrt(len(clips))))
        index, name = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, nlist, faiss.METRIC_INNER_PRODUCT), f"IVF{nlist}"
        index.cp.niter = 10
        index.train(clips[rng.choice(len(clips), min(len(clips), 32 * nlist), replace=False)])
    index.add(clips)
    return index, name


def tune_nprobe(index: faiss.IndexIVF, queries: np.ndarray, truth: np.ndarray) -> int:
    """The smallest nprobe of NPROBES reaching TARGET_RECALL at 10 (the largest when none does)."""
    for nprobe in NPROBES:
        index.nprobe = nprobe
        if recall(index.search(queries, TOP)[1], truth, TOP) >= TARGET_RECALL:
            return nprobe
    return NPROBES[-1]


def bench(n_clips: int, n_queries: int, pool: tuple[np.ndarray, np.ndarray], seed: int = 0) -> Row:
    """``pool``: int8 codes (POOL, FRAMES, DIM) and scales (POOL, FRAMES) of the synthetic clips."""
    rng = np.random.default_rng(seed)
    clips = clustered(rng, n_clips, max(20, n_clips // 500))
    _, tune_pooled = make_queries(rng, clips, n_queries)
    test_words, test_pooled = make_queries(rng, clips, n_queries)
    exact = faiss.IndexFlatIP(DIM)
    exact.add(clips)
    tune_truth, test_truth = exact.search(tune_pooled, TOP)[1], exact.search(test_pooled, CANDIDATES)[1]
    del exact

    start = time.perf_counter()
    index, name = build_index(clips, rng)
    build_s = time.perf_counter() - start
    nprobe = tune_nprobe(index, tune_pooled, tune_truth) if isinstance(index, faiss.IndexIVF) else None
    if nprobe is not None:
        index.nprobe = nprobe

    labels = [f"w{i}" for i in range(WORDS)]
    times, found = [], []
    for words in test_words:
        t0 = time.perf_counter()
        pooled, ids = index.search(l2_normalize(words.mean(axis=0))[None], CANDIDATES)
        t1 = time.perf_counter()
        rows = ids[0] % len(pool[0])  # contiguous copies, as the store's read returns them
        frames = PackedFrames(pool[0][rows].reshape(-1, DIM), pool[1][rows].ravel(), np.full(len(rows), FRAMES))
        order = np.argsort(-fuse(pooled[0], coupling_scores(words, frames)), kind="stable")
        t2 = time.perf_counter()
        top = [i for i, _ in distinct_moments(order, windows(ids[0]), TOP)]
        t3 = time.perf_counter()
        for i in top:
            word_peaks(labels, words, frames.clip(i))
        t4 = time.perf_counter()
        times.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3))
        found.append(ids[0])
    ms = np.array(times[WARM_UP:]).T * 1000.0
    found = np.stack(found)
    return Row(
        n_clips, name, nprobe, recall(found, test_truth, TOP), recall(found, test_truth, CANDIDATES), build_s, *ms
    )


def report(rows: list[Row], n_queries: int, load: tuple[float, float]) -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    names = (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    cpu = next(names, platform.processor())
    table = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    table += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    notes = f"""
Machine: {cpu}, {os.cpu_count()} cores; FAISS {faiss.__version__} and torch {torch.__version__} with \
{torch.get_num_threads()} thread(s), numpy {np.__version__}. One query at a time: {n_queries - WARM_UP} timed \
queries after {WARM_UP} warm-up ones. Load average (1 min) {load[0]:.1f} at the start, {load[1]:.1f} at the end \
(other work on the machine inflates the p95s).

- Clips: L2-normalised 512-d pooled vectors around N/500 random cluster centres (cosine ≈ 0.7 to the centre).
  Each query has {WORDS} word vectors scattered around a random clip; stage 1 searches their normalised mean.
- Stage 1: top {CANDIDATES} from FAISS. IVF: nlist = 4·sqrt(N), trained on 32·nlist sampled vectors (10 k-means
  iterations); nprobe = the smallest of {list(NPROBES)} with recall@10 ≥ {TARGET_RECALL} against exact search on a
  separate set of tuning queries. Both recall columns are measured on the timed queries.
- Stage 2: exact word coupling of the {CANDIDATES} candidates ({FRAMES} frames × {DIM} int8 codes with a scale
  each, as the index keeps them: {CANDIDATES * FRAMES:,} frame vectors per query, converted to float32 a block at a
  time), fusion with the pooled cosine and the sort.
  Frames come from an in-memory pool of {POOL:,} synthetic clips (candidate id mod {POOL:,}): the same data per
  query as a real index of any size; reading it from the store is not timed.
- Merge: the best {TOP} distinct moments of the sorted candidates (overlapping windows of one speaker track are
  one hit; candidates are laid out as {WINDOWS_PER_VIDEO} windows of 4 s every 2 s per video, so merges happen).
- Peaks: word peaks (softmax over words, temperature 0.07) of the top {TOP} hits.
- Not timed: the text/audio encoder, the store read of the candidates' frames, printing.
- Threads: `--threads` (default 1, the latency of one query). On this shared 2-core machine, 2 threads made
  single queries 5-10x slower (flat search and stage 2) whenever other processes kept the cores busy.
"""
    return "# Search latency (synthetic clips)\n\n" + "\n".join(table) + "\n" + notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only 10k and 100k clips")
    parser.add_argument("--queries", type=int, default=200 + WARM_UP, help="queries per size, warm-up included")
    parser.add_argument("--threads", type=int, default=1, help="FAISS and torch threads (1: latency of one query)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("README_search.md"))
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    rng = np.random.default_rng(1)
    codes, scales = quantize(clustered(rng, POOL * FRAMES, 64))
    pool = codes.reshape(POOL, FRAMES, DIM), scales.reshape(POOL, FRAMES)
    rows = []
    for n_clips in (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000):
        rows.append(bench(n_clips, args.queries, pool))
        print(" | ".join(rows[-1].cells()), flush=True)
    args.out.write_text(report(rows, args.queries, (load_before, os.getloadavg()[0])))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
