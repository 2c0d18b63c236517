"""Recall@10 and latency of the FAISS sidecar's IVF parameters against exact search.

Data: clustered synthetic unit vectors (isotropic random vectors make ANN recall meaningless),
queries drawn around the same centres. Three sets: "tight" (200 points per cluster, cosine ≈ 0.7 to
the centre), "loose" (200 per cluster, ≈ 0.45) and "fine" (20 per cluster, ≈ 0.7: many small
clusters, each split over few IVF lists). Looser or smaller clusters than these put a query's true
neighbours at the level of chance similarities (≈ 0.2 for 512-d), where recall measures noise.

    .venv/bin/python benchmarks/bench_ann.py            # 10k and 100k vectors
    .venv/bin/python benchmarks/bench_ann.py --full     # also 1M (~4 GB RAM, minutes)
    .venv/bin/python benchmarks/bench_ann.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import time

import faiss
import numpy as np

from gestsearch.store import NPROBE, AnnConfig, nlist_for
from gestsearch.store.ann import AnnIndex, Versions
from gestsearch.testing.store import clustered_vectors

K = 10
N_QUERIES = 1000
N_SINGLE = 200  # queries timed one at a time
NPROBES = (1, 2, 4, 8, 16, 32, 64)
DATASETS = {"tight": (200, 1.0), "loose": (200, 2.0), "fine": (20, 1.0)}  # points per cluster, spread


def _recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact)]))


def _single_query_ms(index: faiss.Index, queries: np.ndarray) -> float:
    times = []
    for q in queries[:N_SINGLE]:
        start = time.perf_counter()
        index.search(q[None], K)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def bench(n: int, name: str) -> dict:
    per_cluster, spread = DATASETS[name]
    n_clusters = max(10, n // per_cluster)
    data = clustered_vectors(n, n_clusters, spread=spread, seed=0)
    queries = clustered_vectors(N_QUERIES, n_clusters, spread=spread, seed=1, centres_seed=0)
    ids = np.arange(n, dtype=np.int64)

    flat = AnnIndex.build("gesture", ids, data, Versions(0, 0), AnnConfig(flat_max=n, use_gpu=False))
    start = time.perf_counter()
    exact, _ = flat.search(queries, K)
    flat_batch_ms = 1000 * (time.perf_counter() - start) / N_QUERIES
    row = {
        "n": n,
        "data": name,
        "spread": spread,
        "clusters": n_clusters,
        "flat": {"single_ms": _single_query_ms(flat.index, queries), "batch_ms_per_query": flat_batch_ms},
    }

    start = time.perf_counter()
    ivf = AnnIndex.build("gesture", ids, data, Versions(0, 0), AnnConfig(flat_max=0, use_gpu=False))
    row["ivf_build_s"] = time.perf_counter() - start
    row["nlist"] = nlist_for(n)
    row["ivf"] = []
    for nprobe in NPROBES:
        ivf.index.nprobe = nprobe
        start = time.perf_counter()
        found, _ = ivf.search(queries, K)
        batch_ms = 1000 * (time.perf_counter() - start) / N_QUERIES
        row["ivf"].append(
            {
                "nprobe": nprobe,
                "recall@10": _recall(found, exact),
                "single_ms": _single_query_ms(ivf.index, queries),
                "batch_ms_per_query": batch_ms,
            }
        )
    return row


def _print(row: dict) -> None:
    flat = row["flat"]
    print(
        f"\nN={row['n']:,} {row['data']} (spread {row['spread']}, {row['clusters']} clusters), nlist={row['nlist']}, "
        f"IVF build {row['ivf_build_s']:.1f} s; exact: {flat['single_ms']:.2f} ms single, "
        f"{flat['batch_ms_per_query']:.3f} ms/query batched"
    )
    print("| nprobe | recall@10 | single query ms | batched ms/query |")
    print("|---:|---:|---:|---:|")
    for r in row["ivf"]:
        mark = " (default)" if r["nprobe"] == NPROBE else ""
        print(
            f"| {r['nprobe']}{mark} | {r['recall@10']:.3f} | {r['single_ms']:.3f} | {r['batch_ms_per_query']:.4f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also 1M vectors")
    parser.add_argument("--sizes", type=int, nargs="*", help="override the collection sizes")
    parser.add_argument("--data", nargs="*", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    sizes = args.sizes or ([10_000, 100_000, 1_000_000] if args.full else [10_000, 100_000])
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, k={K}, {N_QUERIES} queries")
    rows = []
    for n in sizes:
        for name in args.data:
            rows.append(bench(n, name))
            _print(rows[-1])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
