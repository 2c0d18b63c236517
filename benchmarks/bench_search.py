"""Query latency of ``gestsearch search``'s two stages on synthetic clips, one query at a time.

Stage 1: FAISS over pooled 512-d clip vectors, top ``CANDIDATES`` (exact ``IndexFlatIP``
at 10k clips; ``IndexIVFFlat`` with nlist ≈ 4·sqrt(N), trained on a sample, and the
smallest nprobe whose recall@10 against exact search is ≥ 0.95 at 100k and 1M).
Stage 2: exact word coupling (:func:`gestsearch.search.scoring.coupling_scores`) of the
candidates' frame vectors, 75 frames × 512 float16 per clip, plus the word peaks of the
top 10 (:func:`word_peaks`). The frames of a million clips would take 77 GB, so stage 2
reads the candidates' frames from a pool of ``POOL`` synthetic clips (candidate id modulo
``POOL``): the exact amount of data stage 2 touches per query, from memory (the store
read is not timed). The text encoder is not timed either.

    python benchmarks/bench_search.py [--quick] [--queries 200] [--out benchmarks/README_search.md]
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

from gestsearch.search.scoring import coupling_scores, l2_normalize, word_peaks

DIM = 512
FRAMES = 75
CANDIDATES = 200
TOP = 10
WORDS = 4
POOL = 4_000  # synthetic clips whose frames stand in for any candidate's
TARGET_RECALL = 0.95
NPROBES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass
class Row:
    n_clips: int
    index: str
    nprobe: int | None
    recall_top: float
    recall_candidates: float
    build_s: float
    stage1_ms: np.ndarray
    stage2_ms: np.ndarray
    peaks_ms: np.ndarray

    def cells(self) -> list[str]:
        total = self.stage1_ms + self.stage2_ms + self.peaks_ms
        return [
            f"{self.n_clips:,}",
            self.index,
            "-" if self.nprobe is None else str(self.nprobe),
            f"{self.recall_top:.3f}",
            f"{self.recall_candidates:.3f}",
            f"{self.build_s:.1f}",
            *(f"{np.percentile(ms, 50):.2f} / {np.percentile(ms, 95):.2f}" for ms in
              (self.stage1_ms, self.stage2_ms, self.peaks_ms, total)),
        ]  # fmt: skip


def clustered(rng: np.random.Generator, centers: np.ndarray, n: int, spread: float) -> np.ndarray:
    """``n`` normalised vectors around random ``centers``: cosine to the centre ≈ 1/sqrt(1 + spread²)."""
    out = np.empty((n, centers.shape[1]), dtype=np.float32)
    for lo in range(0, n, 100_000):
        hi = min(n, lo + 100_000)
        noise = rng.standard_normal((hi - lo, centers.shape[1]), dtype=np.float32) * (spread / np.sqrt(DIM))
        out[lo:hi] = l2_normalize(centers[rng.integers(0, len(centers), hi - lo)] + noise)
    return out


def near(rng: np.random.Generator, targets: np.ndarray, spread: float) -> np.ndarray:
    return l2_normalize(targets + rng.standard_normal(targets.shape, dtype=np.float32) * (spread / np.sqrt(DIM)))


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth)]))


def build_index(clips: np.ndarray, rng: np.random.Generator) -> tuple[faiss.Index, str]:
    n = len(clips)
    if n <= 10_000:
        index = faiss.IndexFlatIP(DIM)
        index.add(clips)
        return index, "Flat"
    nlist = int(round(4 * np.sqrt(n)))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 10
    index.train(clips[rng.choice(n, min(n, 32 * nlist), replace=False)])
    index.add(clips)
    return index, f"IVF{nlist},Flat"


def tune_nprobe(index: faiss.Index, queries: np.ndarray, truth: np.ndarray) -> int:
    for nprobe in NPROBES:
        index.nprobe = nprobe
        if recall(index.search(queries, TOP)[1], truth, TOP) >= TARGET_RECALL:
            return nprobe
    return NPROBES[-1]


def make_queries(rng: np.random.Generator, clips: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Word vectors (n, WORDS, DIM) scattered around random clips, and their pooled query vectors (n, DIM)."""
    targets = clips[rng.integers(0, len(clips), n)]
    words = near(rng, np.repeat(targets[:, None], WORDS, axis=1), spread=1.0)
    return words, l2_normalize(words.mean(axis=1))


def bench(n_clips: int, n_queries: int, pool: np.ndarray, seed: int = 0) -> Row:
    rng = np.random.default_rng(seed)
    centers = l2_normalize(rng.standard_normal((max(20, n_clips // 500), DIM), dtype=np.float32))
    clips = clustered(rng, centers, n_clips, spread=1.0)
    _, tune_pooled = make_queries(rng, clips, n_queries)
    test_words, test_pooled = make_queries(rng, clips, n_queries)
    exact = faiss.IndexFlatIP(DIM)
    exact.add(clips)
    tune_truth = exact.search(tune_pooled, TOP)[1]
    test_truth = exact.search(test_pooled, CANDIDATES)[1]
    del exact

    start = time.perf_counter()
    index, name = build_index(clips, rng)
    build_s = time.perf_counter() - start
    nprobe = None
    if isinstance(index, faiss.IndexIVF):
        nprobe = tune_nprobe(index, tune_pooled, tune_truth)
        index.nprobe = nprobe

    labels = [f"w{i}" for i in range(WORDS)]
    stage1, stage2, peaks, found = [], [], [], []
    for i, words in enumerate(test_words):
        t0 = time.perf_counter()
        pooled, ids = index.search(l2_normalize(words.mean(axis=0))[None], CANDIDATES)
        t1 = time.perf_counter()
        frames = [pool[j % len(pool)] for j in ids[0]]
        coupling = coupling_scores(words, frames)
        order = np.argsort(-(0.5 * pooled[0] + 0.5 * coupling))[:TOP]
        t2 = time.perf_counter()
        for j in order:
            word_peaks(labels, words, frames[j])
        t3 = time.perf_counter()
        found.append(ids[0])
        if i >= 10:  # warm-up
            stage1.append(t1 - t0)
            stage2.append(t2 - t1)
            peaks.append(t3 - t2)
    found = np.stack(found)
    ms = lambda xs: np.array(xs) * 1000.0  # noqa: E731
    return Row(n_clips, name, nprobe, recall(found, test_truth, TOP), recall(found, test_truth, CANDIDATES),
               build_s, ms(stage1), ms(stage2), ms(peaks))  # fmt: skip


def report(rows: list[Row], n_queries: int, load: tuple[float, float]) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    header = ["clips", "index", "nprobe", "recall@10", f"recall@{CANDIDATES}", "build (s)",
              "stage 1 p50 / p95 (ms)", "stage 2 p50 / p95 (ms)", "peaks p50 / p95 (ms)", "total p50 / p95 (ms)"]  # fmt: skip
    lines = [
        "# Search latency (synthetic)",
        "",
        f"Machine: {cpu}, {os.cpu_count()} cores; FAISS {faiss.__version__} and torch {torch.__version__} with"
        f" {torch.get_num_threads()} thread(s), numpy {np.__version__}. One query at a time, {n_queries - 10} timed"
        f" queries after 10 warm-up ones. Load average (1 min) {load[0]:.1f} at the start, {load[1]:.1f} at the end:"
        f" other work on the machine inflates the p95s.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r.cells()) + " |" for r in rows),
        "",
        f"- Clips: 512-d L2-normalised pooled vectors around N/500 random cluster centres (cosine ≈ 0.7 to the"
        f" centre); each query has {WORDS} word vectors scattered around a random clip; stage 1 searches their"
        f" normalised mean.",
        f"- Stage 1: top {CANDIDATES} from FAISS. IVF: nlist = 4·sqrt(N), trained on 32·nlist sampled vectors"
        f" (10 k-means iterations); nprobe = the smallest of {list(NPROBES)} with recall@10 ≥ {TARGET_RECALL}"
        f" against exact search on a separate set of tuning queries. Recall columns are measured on the timed queries.",
        f"- Stage 2: exact word coupling of the {CANDIDATES} candidates ({FRAMES} frames × {DIM} float16 each,"
        f" upcast to float32: {CANDIDATES * FRAMES:,} frame vectors per query), fusion and the top-{TOP} sort."
        f" Frames come from an in-memory pool of {POOL:,} synthetic clips (candidate id mod {POOL}): the same"
        f" amount of data per query as a real index, but reading it from the store is not timed.",
        f"- Peaks: word peaks (softmax over words at temperature 0.07) of the top {TOP} hits.",
        "- Not timed: the text/audio encoder, the store read of the candidates' frames, printing.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only 10k and 100k clips")
    parser.add_argument("--queries", type=int, default=210, help="queries per size (the first 10 are warm-up)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="FAISS and torch threads")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("README_search.md"))
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    rng = np.random.default_rng(1)
    pool = clustered(rng, l2_normalize(rng.standard_normal((64, DIM), dtype=np.float32)), POOL * FRAMES, 1.0)
    pool = pool.astype(np.float16).reshape(POOL, FRAMES, DIM)
    rows = []
    for n_clips in (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000):
        rows.append(bench(n_clips, args.queries, pool))
        print(" | ".join(rows[-1].cells()), flush=True)
    args.out.write_text(report(rows, args.queries, (load_before, os.getloadavg()[0])))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
