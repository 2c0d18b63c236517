"""Speaker tracking (``speaker_tracks``, mode "auto") over a set of videos: CPU and wall time, and
whether another checkout finds the same tracks.

The videos: the raw samples of ``../shared/data/gestsync_samples``, the first two
``jegal_samples`` (pre-cropped) and a synthetic archive (``gestsearch synth``, 480x270, seed 9999).
Each pass runs in a fresh process; with ``--baseline DIR`` the passes alternate between this tree
and that checkout (e.g. ``git worktree add --detach /tmp/gs-head HEAD``), whose ``PYTHONPATH`` is
that tree, and the tracks of the two are compared.

    .venv/bin/python benchmarks/bench_tracks.py [--clips 12] [--rounds 2] [--baseline /tmp/gs-head]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from trees import alternating, on_tree

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def videos(archive: Path) -> list[Path]:
    return (sorted((SHARED / "gestsync_samples").glob("*.mp4")) + sorted((SHARED / "jegal_samples").glob("*.avi"))[:2]
            + sorted(archive.glob("*.mp4")))


def worker(archive: Path) -> None:
    """``--worker``: one tracking pass in this process; prints a JSON line."""
    from gestsearch.media.tracks import speaker_tracks

    cpu, start = os.times(), time.perf_counter()
    tracks = {v.name: [[t.start_frame, t.end_frame, t.box and list(t.box)] for t in speaker_tracks(v)] for v in videos(archive)}
    wall, after = time.perf_counter() - start, os.times()
    print(json.dumps({"wall_s": wall, "cpu_s": after.user - cpu.user + after.system - cpu.system, "tracks": tracks}))


def one_pass(tree: Path, archive: Path) -> dict:
    load = os.getloadavg()[0]
    row = on_tree(tree, [str(Path(__file__).resolve()), "--worker", str(archive)], tree)
    return {**row, "load": f"{load:.2f} → {os.getloadavg()[0]:.2f}"}


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        worker(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="another checkout to track the same videos with, alternated")
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"needs the shared sample videos in {SHARED}")
    from gestsearch.synth import generate_corpus

    trees = {"this tree": REPO} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "archive"
        generate_corpus(archive, args.clips, seed=9999)
        rows = []
        for r, name in alternating(list(trees), args.rounds):
            rows.append({**one_pass(trees[name], archive), "tree": name, "round": r})
    print(f"{len(rows[0]['tracks'])} videos, {sum(len(t) for t in rows[0]['tracks'].values())} tracks (this tree's first pass)")
    print("| round | code | wall s | CPU s | load avg (1 min) before → after |\n|---|---|---:|---:|---|")
    for row in rows:
        print(f"| {row['round']} | {row['tree']} | {row['wall_s']:.2f} | {row['cpu_s']:.2f} | {row['load']} |")
    if args.baseline:
        mine, theirs = ([row["tracks"] for row in rows if row["tree"] == name][0] for name in trees)
        differ = [name for name in mine if mine[name] != theirs.get(name)]
        print("same tracks in every video" if not differ else f"tracks differ in {len(differ)}: {', '.join(differ)}")


if __name__ == "__main__":
    main()
