"""The FAISS sidecar: recall@10 of its parameters against exact search, and its cost at scale.

Data: clustered synthetic unit vectors (isotropic random vectors make ANN recall meaningless),
queries drawn around the same centres. Three sets: "tight" (200 points per cluster, cosine ≈ 0.7 to
the centre), "loose" (200 per cluster, ≈ 0.45) and "fine" (20 per cluster, ≈ 0.7: many small
clusters, each split over few IVF lists). Looser or smaller clusters than these put a query's true
neighbours at the level of chance similarities (≈ 0.2 for 512-d), where recall measures noise.

Parameters (in memory): IVF recall and latency per nprobe; IVF-PQ recall per re-scoring factor.
Scale (``--full``): a light index (pooled gesture vectors, one frame per clip, 5,000 clips per
video) of 10k, 100k and 1M clips is written under ``--store-dir``; each sidecar type is built from
it by ``refresh_ann`` in a process of its own (build time, peak RSS; at nice 5), then a search
process opens the index read-only and runs queries (its RSS, warm ``search_pooled`` latency,
recall@10), each once the 1-minute load is at most ``QUIET_LOAD`` (or after waiting
``QUIET_WAIT_S``). IVF-PQ is searched twice: re-scoring its candidates from its exact copy (float32),
then as an index saved without one (reading them from LanceDB, the baseline), with how often the
two give the same top k. 10M is extrapolated from the growth between 100k and 1M.

    .venv/bin/python benchmarks/bench_ann.py            # parameters at 10k and 100k vectors
    .venv/bin/python benchmarks/bench_ann.py --full --store-dir /big/disk/ann   # + scale, ~1 h, ~3.5 GB RAM
    .venv/bin/python benchmarks/bench_ann.py --json out.json
    .venv/bin/python benchmarks/bench_ann.py --sizes --full --scale-sizes 1000000 --scale-data tight \
        --kinds ivfpq --store-dir /big/disk/ann     # IVF-PQ at 1M only (the light index is kept)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from gestsearch import runtime
from gestsearch.store import NPROBE, AnnConfig, GestureStore, VideoRecord, clip_id_for, nlist_for, video_id_for
from gestsearch.store import ann as ann_module
from gestsearch.store.ann import COPY_SUFFIX, IDS_SUFFIX, PQ_M, REFINE, AnnIndex, Versions
from gestsearch.store.meta import ANN_DIR
from gestsearch.store.records import ClipRecord
from gestsearch.testing.store import clustered_vectors

K = 10
N_QUERIES = 1000
N_SINGLE = 200  # queries timed one at a time
NPROBES = (1, 2, 4, 8, 16, 32, 64)
REFINES = (1, 2, 4, 8, 16)
PQ_MS = (64, 128)
DATASETS = {"tight": (200, 1.0), "loose": (200, 2.0), "fine": (20, 1.0)}  # points per cluster, spread
SCALE_SIZES = (10_000, 100_000, 1_000_000)
CLIPS_PER_VIDEO = 5_000
STAGE1_K = 300  # what search asks stage 1 for (constants.DEFAULT_CANDIDATES)
N_TIMED = 200  # store queries timed (exact search: N_TIMED_FLAT, ~1 s each at 1M)
N_TIMED_FLAT = 20
KINDS = ("flat", "ivf", "ivfpq")
RESCORES = ("copy", "table")  # IVF-PQ candidates re-scored from its exact copy, or from LanceDB
BUILD_NICE = 5
QUIET_LOAD = 2.5  # searches are timed once the 1-minute load average is at most this
QUIET_WAIT_S = 300
FP = "bench-ann"


def _recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e) - {-1}) / K for f, e in zip(found, exact)]))


class _TopK:
    """The exact top ``K`` ids of each query, over vectors seen a block at a time."""

    def __init__(self, queries: np.ndarray):
        self.queries = queries
        self.scores = np.empty((len(queries), 0), np.float32)
        self.ids = np.empty((len(queries), 0), np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        scores = np.concatenate([self.scores, self.queries @ vectors.T], axis=1)
        ids = np.concatenate([self.ids, np.broadcast_to(ids, (len(self.queries), len(ids)))], axis=1)
        top = np.argpartition(-scores, min(K, scores.shape[1] - 1), axis=1)[:, :K]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), axis=1), 1)
        self.scores, self.ids = np.take_along_axis(scores, top, 1), np.take_along_axis(ids, top, 1)


def _exact_top(data: np.ndarray, queries: np.ndarray, chunk: int = 50_000) -> np.ndarray:
    """Row numbers of the exact top ``K`` of each query."""
    top = _TopK(queries)
    for start in range(0, len(data), chunk):
        top.add(np.arange(start, min(start + chunk, len(data))), data[start : start + chunk])
    return top.ids


def _median_ms(fn, items) -> float:
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def _vectors(count: int, n: int, name: str, seed: int) -> np.ndarray:
    """``count`` vectors of data set ``name`` at collection size ``n`` (which sets the clusters)."""
    per_cluster, spread = DATASETS[name]
    return clustered_vectors(count, max(10, n // per_cluster), spread=spread, seed=seed, centres_seed=0)


# ------------------------------------------------------------------ parameters (in memory)


def bench(n: int, name: str) -> dict:
    per_cluster, spread = DATASETS[name]
    data, queries = _vectors(n, n, name, seed=0), _vectors(N_QUERIES, n, name, seed=1)
    ids = np.arange(n, dtype=np.int64)
    exact = _exact_top(data, queries)
    row: dict = {"n": n, "data": name, "spread": spread, "clusters": max(10, n // per_cluster), "nlist": nlist_for(n)}

    flat = AnnIndex.build("gesture", ids, data, Versions(0, 0), AnnConfig(flat_max=n, use_gpu=False))
    start = time.perf_counter()
    flat.search(queries, K)
    row["flat"] = {
        "single_ms": _median_ms(lambda q: flat.index.search(q[None], K), queries[:N_SINGLE]),
        "batch_ms_per_query": 1000 * (time.perf_counter() - start) / N_QUERIES,
    }

    start = time.perf_counter()
    ivf = AnnIndex.build("gesture", ids, data, Versions(0, 0), AnnConfig(flat_max=0, pq_min=n, use_gpu=False))
    row["ivf_build_s"] = time.perf_counter() - start
    row["ivf"] = []
    for nprobe in NPROBES:
        ivf.index.nprobe = nprobe
        start = time.perf_counter()
        found, _ = ivf.search(queries, K)
        row["ivf"].append({
            "nprobe": nprobe,
            "recall@10": _recall(found, exact),
            "single_ms": _median_ms(lambda q: ivf.index.search(q[None], K), queries[:N_SINGLE]),
            "batch_ms_per_query": 1000 * (time.perf_counter() - start) / N_QUERIES,
        })

    row["ivfpq"] = []
    lookup = lambda wanted: (wanted, data[wanted])  # noqa: E731 (ids are row numbers)
    for m in PQ_MS:
        start = time.perf_counter()
        config = AnnConfig(flat_max=0, pq_min=0, pq_m=m, use_gpu=False)
        pq = AnnIndex.build("gesture", ids, data, Versions(0, 0), config)
        build_s = time.perf_counter() - start
        found, _ = pq.search(queries, K)  # PQ order, no re-scoring
        result = {"m": m, "build_s": build_s, "recall@10 no refine": _recall(found, exact), "refine": []}
        for refine in REFINES:
            pq.config = AnnConfig(flat_max=0, pq_min=0, pq_m=m, refine=refine, use_gpu=False)
            found, _ = pq.search(queries, K, exact=lookup)
            result["refine"].append({
                "refine": refine,
                "recall@10": _recall(found, exact),
                "single_ms": _median_ms(lambda q, pq=pq: pq.search(q[None], K, exact=lookup), queries[:N_SINGLE]),
            })
        row["ivfpq"].append(result)
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
        print(f"| {r['nprobe']}{mark} | {r['recall@10']:.3f} | {r['single_ms']:.3f} | {r['batch_ms_per_query']:.4f} |")
    for pq in row["ivfpq"]:
        mark = " (default)" if pq["m"] == PQ_M else ""
        print(f"IVF-PQ m={pq['m']}{mark} nprobe {NPROBE}: build {pq['build_s']:.1f} s, "
              f"recall@10 without re-scoring {pq['recall@10 no refine']:.3f}")
        print("| refine | recall@10 | single query ms (vectors in memory) |")
        print("|---:|---:|---:|")
        for r in pq["refine"]:
            mark = " (default)" if r["refine"] == REFINE else ""
            print(f"| {r['refine']}{mark} | {r['recall@10']:.3f} | {r['single_ms']:.3f} |")


# ------------------------------------------------------------------ scale (a light index, one process per step)


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    """Start VmHWM (peak RSS) afresh, so that it measures what follows (Linux)."""
    Path("/proc/self/clear_refs").write_text("5")


def write_light_index(path: Path, n: int, name: str) -> None:
    """``n`` clips of one frame each (the frame is the pooled vector), no speech, and the exact
    top-10 of the queries in ``truth.npz``."""
    top = _TopK(_vectors(N_QUERIES, n, name, seed=1))
    # flat while writing: the cheapest sidecar that optimize() builds at the end
    with GestureStore.open(path / "db", fingerprint=FP, create=True, ann=AnnConfig(flat_max=n, use_gpu=False)) as store:
        for v, start in enumerate(range(0, n, CLIPS_PER_VIDEO)):
            count = min(CLIPS_PER_VIDEO, n - start)
            vectors = _vectors(count, n, name, seed=1000 + v)
            video_path = f"/bench/ann/{name}/v{v:05d}.mp4"
            video = VideoRecord(video_id=video_id_for(video_path), path=video_path, content_hash=f"h{v}",
                                size_bytes=1, mtime=1.7e9, duration_s=count / 25, fps=25.0, n_tracks=1,
                                status="indexed", reason="", fingerprint=FP)
            clips = [
                ClipRecord(clip_id=clip_id_for(video.video_id, video.content_hash, 0, i, i), video_id=video.video_id,
                           path=video_path, track=0, start_s=i / 25, end_s=(i + 1) / 25, start_frame=i, end_frame=i,
                           text="", gesture=vectors[i], frames=vectors[i : i + 1], content=None, words=[])
                for i in range(count)
            ]
            store.add_video(video, clips)
            top.add(np.array([c.clip_id for c in clips], np.int64), vectors)
        store.optimize(lance_index_min=2 * n)  # compaction and the BTree on id, no LanceDB vector index
    np.savez(path / "truth.npz", queries=top.queries, ids=top.ids)


def child_build(path: Path, kind: str) -> dict:
    """Build the sidecar of type ``kind`` from the light index (run in a process of its own)."""
    os.nice(max(0, BUILD_NICE - os.nice(0)))
    n = int(json.loads((path / "meta.json").read_text())["n"])
    config = {"flat": AnnConfig(flat_max=n), "ivf": AnnConfig(flat_max=0, pq_min=n),
              "ivfpq": AnnConfig(flat_max=0, pq_min=0)}[kind]
    shutil.rmtree(path / "db" / ANN_DIR, ignore_errors=True)
    with GestureStore.open(path / "db", fingerprint=FP, ann=config) as store:
        before = _status_mb("VmRSS")
        _reset_peak()
        start = time.perf_counter()
        cpu = time.process_time()
        described = store.refresh_ann()["gesture"]
        files = list((path / "db" / ANN_DIR).glob("gesture.*"))
        return {"kind": kind, "build_s": time.perf_counter() - start, "build_cpu_s": time.process_time() - cpu,
                "rss_before_mb": before, "peak_mb": _status_mb("VmHWM"), "index": described,
                "file_mb": sum(f.stat().st_size for f in files if f.suffix == ".faiss") / 2**20,
                "copy_mb": sum(f.stat().st_size for f in files if f.suffix in (COPY_SUFFIX, IDS_SUFFIX)) / 2**20}


def child_search(path: Path, kind: str, n_timed: int, rescore: str) -> dict:
    """What a search process costs: open read-only, load the sidecar, run queries. ``rescore``
    "table": IVF-PQ reads its candidates' vectors from LanceDB, as for an index saved without an
    exact copy. The results go to ``found-<kind>-<rescore>.npz`` for :func:`agreement`. numpy's BLAS
    on one thread, as in ``gestsearch search`` and ``serve``: with two on busy cores, re-scoring's
    small matrix products took ~8 ms instead of ~0.03."""
    runtime.set_threads(runtime.SMALL_MODEL_THREADS)
    if rescore == "table":
        ann_module.ExactCopy.named = classmethod(lambda cls, directory, entry: None)  # type: ignore[method-assign]
    truth = np.load(path / "truth.npz")
    queries, want = truth["queries"][: 2 * n_timed], truth["ids"][:n_timed]
    store = GestureStore.open(path / "db", fingerprint=FP, read_only=True)
    opened = _status_mb("VmRSS")
    start = time.perf_counter()
    store.search_pooled(queries[0], K)
    load_s = time.perf_counter() - start
    found = [store.search_pooled(q, K) for q in queries[:n_timed]]
    ids = np.concatenate([f[0] for f in found])
    k10_p50 = _median_ms(lambda q: store.search_pooled(q, K), queries[n_timed:])
    k300_p50 = _median_ms(lambda q: store.search_pooled(q, STAGE1_K), queries[:n_timed])
    stage1 = [store.search_pooled(q, STAGE1_K) for q in queries[:n_timed]]
    np.savez(path / f"found-{kind}-{rescore}.npz", ids10=ids, scores10=np.concatenate([f[1] for f in found]),
             ids300=np.concatenate([f[0] for f in stage1]), scores300=np.concatenate([f[1] for f in stage1]))
    return {
        "rescore": rescore,
        "rss_open_mb": opened,
        "first_query_s": load_s,
        "recall@10": _recall(ids, want),
        "k10_p50_ms": k10_p50,
        "k300_p50_ms": k300_p50,
        "rss_mb": _status_mb("VmRSS"),
        "peak_mb": _status_mb("VmHWM"),
    }


def agreement(path: Path, kind: str) -> dict:
    """How the copy's re-scoring compares with LanceDB's on the same queries: the share of queries
    with the same top k in the same order, and as a set; the mean overlap; and the largest score
    difference at the same rank (whichever clips hold it: a swap of near-ties stays within it)."""
    copy, table = (np.load(path / f"found-{kind}-{rescore}.npz") for rescore in RESCORES)
    out: dict = {}
    for k in (10, STAGE1_K):
        ids, want = copy[f"ids{k}"], table[f"ids{k}"]
        overlap = [len(set(a) & set(b)) / k for a, b in zip(ids.tolist(), want.tolist())]
        scores, want_scores = copy[f"scores{k}"], table[f"scores{k}"]
        finite = np.isfinite(scores) & np.isfinite(want_scores)
        out[f"same_order@{k}"] = float((ids == want).all(axis=1).mean())
        out[f"same_set@{k}"] = float(np.mean([o == 1.0 for o in overlap]))
        out[f"overlap@{k}"] = float(np.mean(overlap))
        out[f"max_rank_score_diff@{k}"] = float(np.abs(scores - want_scores)[finite].max())
    return out


def _quiet() -> float:
    """Wait until the 1-minute load is at most QUIET_LOAD (at most QUIET_WAIT_S); the load then."""
    deadline = time.monotonic() + QUIET_WAIT_S
    while os.getloadavg()[0] > QUIET_LOAD and time.monotonic() < deadline:
        time.sleep(10)
    return os.getloadavg()[0]


def _child(step: str, path: Path, kind: str, rescore: str = "copy") -> dict:
    command = [sys.executable, __file__, "--child", step, "--store-dir", str(path), "--kind", kind, "--rescore", rescore]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def scale(n: int, name: str, root: Path, kinds: list[str]) -> dict:
    path = root / f"{name}-{n}"
    if not (path / "meta.json").exists():
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        start = time.perf_counter()
        write_light_index(path, n, name)
        (path / "meta.json").write_text(json.dumps({"n": n, "data": name, "write_s": time.perf_counter() - start}))
    row: dict = {"n": n, "data": name, "load": os.getloadavg()[0]}
    for kind in kinds:
        row[kind] = b = _child("build", path, kind)
        print(f"N={n:,} {kind} (built: {b['index']['type']}): build {b['build_s']:.1f} s ({b['build_cpu_s']:.0f} CPU-s), "
              f"peak {b['peak_mb']:.0f} MB (before {b['rss_before_mb']:.0f}), file {b['file_mb']:.1f} MB "
              f"+ exact copy {b['copy_mb']:.1f} MB", flush=True)
        for rescore in RESCORES if b["index"]["type"] == "ivfpq" else RESCORES[:1]:
            load = _quiet()
            s = _child("search", path, kind, rescore)
            s["load_before"], s["load_after"] = load, os.getloadavg()[0]
            b["search" if rescore == "copy" else "search_" + rescore] = s
            print(f"  search ({rescore}, load {load:.1f} -> {s['load_after']:.1f}): process {s['rss_mb']:.0f} MB "
                  f"(open {s['rss_open_mb']:.0f}), first query {s['first_query_s']:.2f} s, recall@10 {s['recall@10']:.3f}, "
                  f"p50 k=10 {s['k10_p50_ms']:.2f} ms, k=300 {s['k300_p50_ms']:.2f} ms", flush=True)
        if "search_table" in b:
            b["agreement"] = agreement(path, kind)
            print(f"  copy vs table: {b['agreement']}", flush=True)
    return row


def extrapolate(rows: list[dict], to: int = 10_000_000) -> dict:
    """Build CPU time, build peak and search-process RSS at ``to`` clips from the two largest sizes
    measured (an extrapolation, not a measurement): CPU time along the power law through them
    (k-means grows like N, assigning vectors to lists like N^1.5), memory along the line through
    them (it is the index, the training sample and a fixed part)."""
    a, b = sorted(rows, key=lambda r: r["n"])[-2:]
    out: dict = {}
    for kind in [kind for kind in KINDS if kind in a and kind in b]:
        cpu_a, cpu_b = a[kind]["build_cpu_s"], b[kind]["build_cpu_s"]
        exponent = float(np.log(cpu_b / cpu_a) / np.log(b["n"] / a["n"]))
        out[kind] = {"build_cpu_s": cpu_b * (to / b["n"]) ** exponent, "cpu_exponent": exponent}
        memory = {"peak_mb": (a[kind]["peak_mb"], b[kind]["peak_mb"]),
                  "search_rss_mb": (a[kind]["search"]["rss_mb"], b[kind]["search"]["rss_mb"])}
        for key, (at_a, at_b) in memory.items():
            out[kind][key] = at_b + (at_b - at_a) * (to - b["n"]) / (b["n"] - a["n"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also the scale run (light indexes of 10k-1M clips)")
    parser.add_argument("--sizes", type=int, nargs="*", help="override the parameter sizes")
    parser.add_argument("--scale-sizes", type=int, nargs="*", default=list(SCALE_SIZES))
    parser.add_argument("--data", nargs="*", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--scale-data", choices=list(DATASETS), default="fine")
    parser.add_argument("--kinds", nargs="*", choices=KINDS, default=list(KINDS), help="sidecar types of the scale run")
    parser.add_argument("--store-dir", type=Path, help="where the light indexes go (kept; default: a temporary folder)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--child", choices=["build", "search"], help=argparse.SUPPRESS)
    parser.add_argument("--kind", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--rescore", choices=RESCORES, default="copy", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child == "build":
            print(json.dumps(child_build(args.store_dir, args.kind)))
        else:
            n_timed = N_TIMED_FLAT if args.kind == "flat" else N_TIMED
            print(json.dumps(child_search(args.store_dir, args.kind, n_timed, args.rescore)))
        return
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads, k={K}, {N_QUERIES} queries, "
          f"load {os.getloadavg()[0]:.1f}")
    results: dict = {"parameters": [], "scale": []}
    for n in args.sizes if args.sizes is not None else [10_000, 100_000]:
        for name in args.data:
            results["parameters"].append(bench(n, name))
            _print(results["parameters"][-1])
    if args.full:
        root = args.store_dir or Path(tempfile.mkdtemp(prefix="bench-ann-"))
        for n in args.scale_sizes:
            results["scale"].append(scale(n, args.scale_data, root, args.kinds))
        if len(results["scale"]) >= 2:
            results["extrapolated_10M"] = extrapolate(results["scale"])
            print("10M clips, EXTRAPOLATED from the two largest sizes:")
            for kind, figures in results["extrapolated_10M"].items():
                print(f"  {kind}: build {figures['build_cpu_s']:.0f} CPU-s (N^{figures['cpu_exponent']:.2f}), "
                      f"build peak {figures['peak_mb']:.0f} MB, search process {figures['search_rss_mb']:.0f} MB")
        if args.store_dir is None:
            shutil.rmtree(root)
    print(f"load {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
