"""Indexing throughput (frames/s) and bytes on disk per indexed second of video.

Renders a synthetic archive (gestsearch synth), indexes it with paper-size models
(seeded weights in the official format: same architecture and cost as the released ones)
and, when present, the bundled tiny demo model; reports frames/s end to end (decode, face
masking, GestSync, JEGAL, LanceDB + FAISS writes) and bytes on disk per second of video.

    .venv/bin/python benchmarks/bench_index.py [--clips 20]

``--pipelining`` instead indexes the archive with the paper-size model twice per round,
alternating decode + face masking in the indexing thread (``prefetch=0``, the baseline) and in
a background thread one chunk ahead (``prefetch=1``, the default when a core is left for it), with one embedder (same
backend and threads) and an untimed warm-up; it prints frames/s of each and their ratio, with the
load average before and after each pass.

    .venv/bin/python benchmarks/bench_index.py --pipelining [--clips 12] [--rounds 2] [--backend auto]

``--baseline DIR`` times the same paper-size indexing with this tree's code and with another
checkout's (e.g. ``git worktree add --detach /tmp/gs-base REV``), each pass in a fresh process
whose ``PYTHONPATH`` is that tree, alternating and swapping the order every round; each process
first indexes one video untimed (OpenVINO compiles on its first call). Besides wall time, each pass's
CPU time (all its threads) per frame: the work done, which a shared machine's load blurs less.

    .venv/bin/python benchmarks/bench_index.py --baseline /tmp/gs-base [--clips 12] [--rounds 2] [--precision bf16]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from trees import alternating, on_tree


def paper_checkpoints(directory: Path) -> tuple[Path, Path, Path]:
    """Seeded official-format GestSync/JEGAL and a tiny XLM-R (../shared/reference/make_checkpoint.py)."""
    import importlib.util
    import shutil

    reference = Path(__file__).resolve().parents[2] / "shared" / "reference"
    spec = importlib.util.spec_from_file_location("make_checkpoint", reference / "make_checkpoint.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    paths = [directory / "gestsync.pth", directory / "jegal.pth", directory / "text"]
    for kind, path in zip(("gestsync", "jegal"), paths):
        torch.save(maker.to_official_checkpoint(maker.build_state_dict(kind, 1)), path)
    maker.save_xlmr(1, str(paths[2]))
    for f in (reference / "tiny_tokenizer").iterdir():
        shutil.copy(f, paths[2] / f.name)
    return tuple(paths)


def run(label: str, archive: Path, db: Path, settings, embedder=None, prefetch: int = 1) -> dict:
    from gestsearch.embedding import Embedder
    from gestsearch.store import GestureStore
    from indexer.pipeline import index_folder

    embedder = embedder or Embedder.from_settings(settings)
    start = time.perf_counter()
    summary = index_folder(archive, embedder, db, prefetch=prefetch)
    seconds = time.perf_counter() - start
    with GestureStore.open(db, read_only=True) as store:
        info = store.info()
        video_s = sum(v.duration_s for v in store.videos())
    return {
        "model": label, "videos": len(summary.indexed), "frames": summary.frames, "seconds": seconds,
        "frames_per_s": summary.frames / seconds, "bytes_per_video_s": info.bytes_on_disk / video_s,
        "clips": info.clips,
    }


def pipelining(archive: Path, tmp: Path, rounds: int, backend: str) -> None:
    """Same archive, same embedder: decode + masking inline (baseline) vs in the prefetch thread."""
    import os
    import shutil

    from gestsearch.config import Settings
    from gestsearch.embedding import Embedder
    from gestsearch.media.masking import PREFETCH_CHUNKS

    gs, jg, text = paper_checkpoints(tmp)
    embedder = Embedder.from_settings(Settings(gestsync=gs, jegal=jg, text_model=str(text), device="cpu", backend=backend))
    warm = tmp / "warm"
    warm.mkdir()
    shutil.copy(next(archive.glob("*.mp4")), warm)
    run("warm-up", warm, tmp / "db_warm", None, embedder)
    variants = {"decode + masking inline (baseline)": 0, f"prefetch thread, {PREFETCH_CHUNKS} chunk ahead": PREFETCH_CHUNKS}
    rows = []
    for r in range(rounds):
        for label, prefetch in variants.items():
            load = os.getloadavg()[0]
            row = run(label, archive, tmp / f"db_{r}_{prefetch}", None, embedder, prefetch)
            rows.append({**row, "load": f"{load:.2f} → {os.getloadavg()[0]:.2f}"})
    print(f"backend {embedder.backend}, {embedder.threads} thread(s); {rows[0]['frames']} frames, {rows[0]['videos']} videos")
    print("| round | variant | seconds | frames/s | load avg (1 min) before → after |\n|---|---|---:|---:|---|")
    for k, row in enumerate(rows):
        print(f"| {k // 2 + 1} | {row['model']} | {row['seconds']:.1f} | {row['frames_per_s']:.1f} | {row['load']} |")
    base = sum(r["seconds"] for r in rows[0::2])
    piped = sum(r["seconds"] for r in rows[1::2])
    print(f"speed-up (total time, all rounds): {base / piped:.3f}x")


REPO = Path(__file__).resolve().parents[1]


def index_pass(archive: Path, checkpoints: Path, db: Path, precision: str = "fp32") -> None:
    """One timed indexing pass in this process (``--worker``): prints a JSON row."""
    import shutil

    from gestsearch.config import Settings
    from gestsearch.embedding import Embedder

    settings = Settings(gestsync=checkpoints / "gestsync.pth", jegal=checkpoints / "jegal.pth",
                        text_model=str(checkpoints / "text"), device="cpu", precision=precision)
    embedder = Embedder.from_settings(settings)
    warm = db.parent / f"{db.name}-warm"
    warm.mkdir()
    shutil.copy(next(archive.glob("*.mp4")), warm)
    run("warm-up", warm, db.parent / f"{db.name}-warm.lance", None, embedder)
    load = os.getloadavg()[0]
    cpu = os.times()
    row = run("pass", archive, db, None, embedder)
    after = os.times()
    cpu_s = after.user - cpu.user + after.system - cpu.system  # all the process's threads
    print(json.dumps({**row, "cpu_ms_per_frame": 1e3 * cpu_s / row["frames"], "load": f"{load:.2f} → {os.getloadavg()[0]:.2f}"}))


def against_baseline(archive: Path, tmp: Path, baseline: Path, rounds: int, precision: str = "fp32") -> None:
    """This tree and ``baseline`` alternated, each pass a fresh process on that tree's code."""
    paper_checkpoints(tmp)
    trees = {"this tree": REPO, "baseline": baseline.resolve()}
    rows: list[dict] = []
    for r, name in alternating(list(trees), rounds):
        argv = [str(Path(__file__).resolve()), "--worker", str(archive), str(tmp), str(tmp / f"db_{r}_{len(rows)}"), precision]
        rows.append({**on_tree(trees[name], argv, tmp), "tree": name, "round": r})
    print(f"baseline: {trees['baseline']}; {rows[0]['frames']} frames, {rows[0]['videos']} videos, paper size, {precision}")
    print("| round | code | seconds | frames/s | CPU ms a frame | load avg (1 min) before → after |\n|---|---|---:|---:|---:|---|")
    for row in rows:
        print(f"| {row['round']} | {row['tree']} | {row['seconds']:.1f} | {row['frames_per_s']:.1f} "
              f"| {row['cpu_ms_per_frame']:.1f} | {row['load']} |")
    total = {name: sum(row["seconds"] for row in rows if row["tree"] == name) for name in trees}
    cpu = {name: sum(row["cpu_ms_per_frame"] for row in rows if row["tree"] == name) for name in trees}
    print(f"speed-up (total time, all rounds): {total['baseline'] / total['this tree']:.3f}x; "
          f"CPU time: {cpu['baseline'] / cpu['this tree']:.3f}x")


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        index_pass(*(Path(a) for a in sys.argv[2:5]), *sys.argv[5:6])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--pipelining", action="store_true", help="prefetch thread vs inline decoding, same run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backend", default="auto", help="GestSync backend for --pipelining (auto, torch, openvino)")
    parser.add_argument("--baseline", type=Path, help="another checkout to time the same indexing with, alternated")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="GestSync precision of --baseline passes")
    args = parser.parse_args()
    from gestsearch.config import Settings
    from gestsearch.synth import generate_corpus

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate_corpus(tmp / "archive", args.clips, seed=9999)
        if args.pipelining:
            pipelining(tmp / "archive", tmp, args.rounds, args.backend)
            return
        if args.baseline:
            against_baseline(tmp / "archive", tmp, args.baseline, args.rounds, args.precision)
            return
        rows = []
        try:
            from gestsearch.assets import bundled_model

            bundled_model()
            rows.append(run("bundled tiny", tmp / "archive", tmp / "db_tiny", Settings(device="cpu")))
        except Exception as e:
            print(f"(bundled tiny model skipped: {e})")
        gs, jg, text = paper_checkpoints(tmp)
        rows.append(run("paper size (seeded weights)", tmp / "archive", tmp / "db_paper",
                        Settings(gestsync=gs, jegal=jg, text_model=str(text), device="cpu")))
    print(f"{args.clips} synthetic clips, 480x270, 25 fps, 2 threads")
    print("| model | videos | frames | seconds | frames/s | bytes on disk per video second | clips |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['videos']} | {r['frames']} | {r['seconds']:.1f} | {r['frames_per_s']:.1f} "
              f"| {r['bytes_per_video_s']:,.0f} | {r['clips']} |")


if __name__ == "__main__":
    main()
