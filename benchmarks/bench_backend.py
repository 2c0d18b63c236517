"""GestSync per frame on the CPU: torch (the reference path) vs OpenVINO fp32, and bf16 where the
CPU computes in bfloat16 natively, in one run.

Same random paper-size weights and the same random face-masked clip for every backend; each
backend's features are checked against torch's. Rounds alternate between the backends, so a change
in machine load hits them alike; the figures are medians over rounds. Besides wall time, the CPU
time of the process per frame (all its threads): on a machine shared with other jobs it shows the
work each backend does, which wall time then blurs. Also timed: building the
OpenVINO models (conversion + compilation, once per process) and the two parts of the work, the
3-D trunk (per step, 64-frame chunks) and the window transformer (per window, batches of 256).

    .venv/bin/python benchmarks/bench_backend.py [--frames 100] [--threads 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch

from gestsearch.models import GestSync
from gestsearch.models.backend import native_bf16, openvino_kernels
from gestsearch.models.gestsync import Kernels


def timed(run: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = run()
    return time.perf_counter() - start, out


def cpu_timed(run: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, result)."""
    cpu = time.process_time()
    seconds, out = timed(run)
    return seconds, time.process_time() - cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()

    torch.manual_seed(0)
    model = GestSync().eval()
    clip = torch.rand(args.frames, 270, 480, 3, generator=torch.Generator().manual_seed(1))
    clip[:, :111] = 0  # face-mask band
    kernels: dict[str, Kernels] = {"torch": model.kernels}
    build_s = {}
    for precision in ("fp32", "bf16") if native_bf16() else ("fp32",):
        build_s[precision], kernels[f"openvino {precision}"] = timed(lambda p=precision: openvino_kernels(model, p, args.threads))

    chunk = torch.cat([clip[:1].expand(4, -1, -1, -1), clip[:64]])[None]  # one trunk call: 68 frames → 64 steps
    windows = torch.randn(256, model.config.steps_per_window, model.config.dim, generator=torch.Generator().manual_seed(2))
    per_frame: dict[str, list[float]] = {name: [] for name in kernels}
    cpu_per_frame: dict[str, list[float]] = {name: [] for name in kernels}
    per_step: dict[str, list[float]] = {name: [] for name in kernels}
    per_window: dict[str, list[float]] = {name: [] for name in kernels}
    features = {}
    with torch.no_grad():
        for k in kernels.values():  # warm-up: first calls allocate and pick kernels
            model.frame_features(clip[:30], kernels=k)
        for _ in range(args.rounds):
            for name, k in kernels.items():
                seconds, cpu, features[name] = cpu_timed(lambda k=k: model.frame_features(clip, kernels=k))
                per_frame[name].append(seconds / args.frames)
                cpu_per_frame[name].append(cpu / args.frames)
                per_step[name].append(timed(lambda k=k: k.steps(chunk))[0] / 64)
                per_window[name].append(timed(lambda k=k: k.window_means(windows))[0] / 256)

    median = {name: statistics.median(v) for name, v in per_frame.items()}
    cpu_median = {name: statistics.median(v) for name, v in cpu_per_frame.items()}
    print(f"GestSync, paper size, random weights: {args.frames}-frame clip 270x480, {args.threads} threads, "
          f"{args.rounds} alternating rounds (medians); torch {torch.__version__}")
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"{'backend':<15}{'ms/frame':>10}{'speed-up':>10}{'CPU ms/frame':>14}{'CPU ratio':>11}{'trunk ms/step':>15}"
          f"{'window ms':>11}{'max |diff|':>12}{'rel. diff':>11}")
    reference = features["torch"]
    for name in kernels:
        diff = float((features[name] - reference).abs().max())
        relative = diff / float(reference.abs().max())
        print(f"{name:<15}{median[name] * 1e3:>10.2f}{median['torch'] / median[name]:>9.2f}x"
              f"{cpu_median[name] * 1e3:>14.2f}{cpu_median['torch'] / cpu_median[name]:>10.2f}x"
              f"{statistics.median(per_step[name]) * 1e3:>15.2f}{statistics.median(per_window[name]) * 1e3:>11.2f}"
              f"{diff:>12.2e}{relative:>11.2e}")
    for precision, seconds in build_s.items():
        print(f"OpenVINO {precision}: conversion + compilation {seconds:.1f} s (once per process)")


if __name__ == "__main__":
    main()
