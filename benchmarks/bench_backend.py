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

``--baseline DIR`` adds another checkout's default path (e.g. the torch path as it was when issue 21
was filed: ``git worktree add --detach /tmp/gs-3a2 3a2f65d``): each round, after this tree's
backends, a fresh process whose ``PYTHONPATH`` is that tree builds the same seeded model and clip and
times its ``GestSync.frame_features`` (one untimed warm-up call first), in the same row format.

    .venv/bin/python benchmarks/bench_backend.py --baseline /tmp/gs-3a2 [--rounds 3]

Last, the arithmetic: GestSync's GFLOP a frame on this clip (torch's FLOP counter: the trunk at the
clip's mask band, and one window), the GFLOP/s OpenVINO's CPU plugin reaches on a 2048² matrix
product on the same threads (best of 10), and what that makes the fastest a frame could be.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from trees import on_tree

from gestsearch.models import GestSync


def timed(run: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = run()
    return time.perf_counter() - start, out


def cpu_timed(run: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, result)."""
    cpu = time.process_time()
    seconds, out = timed(run)
    return seconds, time.process_time() - cpu, out


def seeded(frames: int) -> tuple[GestSync, torch.Tensor]:
    """The benchmark's model (random paper-size weights) and face-masked clip, the same in any tree."""
    torch.manual_seed(0)
    model = GestSync().eval()
    clip = torch.rand(frames, 270, 480, 3, generator=torch.Generator().manual_seed(1))
    clip[:, :111] = 0  # face-mask band
    return model, clip


def baseline_worker(frames: int, threads: int) -> None:
    """``--baseline-worker``: this process's tree's default ``frame_features`` once, as a JSON line."""
    torch.set_num_threads(threads)
    model, clip = seeded(frames)
    with torch.no_grad():
        model.frame_features(clip[:30])
        seconds, cpu, _ = cpu_timed(lambda: model.frame_features(clip))
    print(json.dumps({"ms": 1e3 * seconds / frames, "cpu_ms": 1e3 * cpu / frames}))


def time_baseline(tree: Path, frames: int, threads: int) -> dict:
    argv = [str(Path(__file__).resolve()), "--baseline-worker", "--frames", str(frames), "--threads", str(threads)]
    return on_tree(tree, argv, tree)


def gflop_per_frame(model: GestSync, clip: torch.Tensor) -> tuple[float, float]:
    """GestSync's GFLOP per frame on ``clip``: (trunk step at its mask band, window)."""
    from torch.utils.flop_counter import FlopCounterMode

    chunk = clip[:68][None]
    windows = torch.zeros(8, model.config.steps_per_window, model.config.dim)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the fused encoder kernel goes uncounted
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as trunk:
            model.masked_trunk_steps(chunk)
        with torch.no_grad(), FlopCounterMode(display=False) as window:
            model.window_means(windows)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return trunk.get_total_flops() / (chunk.shape[1] - 4) / 1e9, window.get_total_flops() / len(windows) / 1e9


def matmul_peak(precision: str, threads: int, n: int = 2048) -> float:
    """GFLOP/s of OpenVINO's CPU plugin on an n×n matrix product, best of 10."""
    import numpy as np
    import openvino.opset13 as ops

    from gestsearch.models.backend import import_openvino

    ov = import_openvino()
    x = ops.parameter([n, n], np.float32)
    product = ops.matmul(x, ops.constant(np.random.default_rng(0).standard_normal((n, n), np.float32)), False, False)
    compiled = ov.Core().compile_model(ov.Model([product], [x]), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision]})
    a = np.random.default_rng(1).standard_normal((n, n), np.float32)
    for _ in range(3):
        compiled(a)
    return 2 * n**3 / min(timed(lambda: compiled(a))[0] for _ in range(10)) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another checkout whose default frame_features is timed too")
    parser.add_argument("--baseline-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_worker:
        baseline_worker(args.frames, args.threads)
        return
    # here, not above: a --baseline-worker runs on another tree's code, which may lack them
    from gestsearch.models.backend import native_bf16, openvino_kernels
    from gestsearch.models.gestsync import Kernels

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()

    model, clip = seeded(args.frames)
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
    baseline: dict[str, list[float]] = {"ms": [], "cpu_ms": []}
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
            if args.baseline:
                for key, value in time_baseline(args.baseline, args.frames, args.threads).items():
                    baseline[key].append(value)

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
    if args.baseline:
        ms, cpu_ms = statistics.median(baseline["ms"]), statistics.median(baseline["cpu_ms"])
        print(f"{'baseline':<15}{ms:>10.2f}{median['torch'] * 1e3 / ms:>9.2f}x{cpu_ms:>14.2f}"
              f"{cpu_median['torch'] * 1e3 / cpu_ms:>10.2f}x   ({args.baseline}: its default frame_features, "
              f"rounds {', '.join(f'{v:.2f}' for v in baseline['ms'])} ms)")
        for name in kernels:
            print(f"{name}: {ms / (median[name] * 1e3):.2f}x the baseline per frame, {cpu_ms / (cpu_median[name] * 1e3):.2f}x in CPU time")
    for precision, seconds in build_s.items():
        print(f"OpenVINO {precision}: conversion + compilation {seconds:.1f} s (once per process)")
    model.requires_grad_(False)  # the FLOP counter's module hooks want no parameter gradients
    trunk, window = gflop_per_frame(model, clip)
    print(f"arithmetic: {trunk + window:.3f} GFLOP a frame (trunk step {trunk:.3f} at mask band {model.mask_band(clip[None])}, "
          f"window {window:.3f})")
    for precision in build_s:
        peak = matmul_peak(precision, args.threads)
        floor_ms = (trunk + window) / peak * 1e3
        achieved = floor_ms / (median[f"openvino {precision}"] * 1e3)
        print(f"OpenVINO {precision} matrix product: {peak:.0f} GFLOP/s on {args.threads} thread(s); at that rate GestSync "
              f"would take {floor_ms:.2f} ms a frame ({floor_ms * args.threads:.1f} ms of CPU); measured: {achieved:.0%} of it")


if __name__ == "__main__":
    main()
