"""GestSync per-frame features: shared 3-D trunk vs the released per-window procedure.

Each method runs in its own process (so peak memory is its own), on the same random
face-masked 100-frame clip and the same random paper-size weights; the script checks that
both give the same features and prints the speed ratio.

    .venv/bin/python benchmarks/bench_trunk.py [--frames 100] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def run_method(method: str, frames: int, threads: int, out: Path) -> None:
    from gestsearch.models import GestSync

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = GestSync().eval()
    clip = torch.rand(frames, 270, 480, 3, generator=torch.Generator().manual_seed(1))
    clip[:, :111] = 0  # face-mask band
    start = time.perf_counter()
    feats = model.frame_features(clip) if method == "shared" else model.frame_features_per_window(clip)
    seconds = time.perf_counter() - start
    np.save(out, feats.numpy())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # GiB (ru_maxrss is KiB)
    print(json.dumps({"method": method, "seconds": seconds, "per_frame_s": seconds / frames, "peak_gib": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--method", choices=["shared", "per_window"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.method:
        run_method(args.method, args.frames, args.threads, args.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for method in ("per_window", "shared"):
            out = Path(tmp) / f"{method}.npy"
            cmd = [sys.executable, __file__, "--method", method, "--frames", str(args.frames),
                   "--threads", str(args.threads), "--out", str(out)]
            line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            results[method] = json.loads(line) | {"features": np.load(out)}
    diff = float(np.abs(results["shared"]["features"] - results["per_window"]["features"]).max())
    ratio = results["per_window"]["seconds"] / results["shared"]["seconds"]
    print(f"clip: {args.frames} frames, 270x480, {args.threads} threads, paper-size GestSync")
    for m in ("per_window", "shared"):
        r = results[m]
        print(f"  {m:<10} {r['seconds']:7.2f} s  {r['per_frame_s']:.4f} s/frame  peak {r['peak_gib']:.2f} GiB")
    print(f"  speed-up {ratio:.1f}x, max |difference| {diff:.2e}")


if __name__ == "__main__":
    main()
