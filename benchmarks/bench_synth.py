"""Throughput of `gestsearch synth`: clips per minute, wall clock and CPU, and the stages of one clip.

Generates a corpus with ``generate_corpus`` (default 200 clips, 2 worker processes) into a
temporary directory, then times the stages of a few clips in this process (speech, motion,
rendering, encoding) by CPU time, which a busy machine inflates less than wall clock.

    .venv/bin/python benchmarks/bench_synth.py                     # 200 clips, 2 workers
    .venv/bin/python benchmarks/bench_synth.py --clips 500 --workers 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from gestsearch.synth import generate_corpus
from gestsearch.synth.corpus import make_clip, sample_clip
from gestsearch.synth.encode import write_mp4
from gestsearch.synth.motion import plan_beats, plan_gestures, pose_track
from gestsearch.synth.render import render
from gestsearch.synth.speech import MergedWordsError, synthesize

STAGE_CLIPS = 20


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench_corpus(n_clips: int, workers: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), _cpu_seconds()
        summary = generate_corpus(Path(tmp), n_clips, seed, workers=workers)
        wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
    return {
        "clips": n_clips,
        "workers": workers,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "clips_per_min_wall": round(60 * n_clips / wall, 1),
        "clips_per_cpu_min": round(60 * n_clips / cpu, 1),
        "video_s": round(summary.seconds, 1),
        "mean_clip_s": round(summary.seconds / n_clips, 2),
        "mb_on_disk": round(size / 2**20, 1),
        "gestures": dict(sorted(summary.gestures.items())),
    }


def bench_stages(seed: int) -> dict:
    """Mean CPU ms per clip of each stage, over ``STAGE_CLIPS`` clips (encoding to a temp file)."""
    totals = dict.fromkeys(("speech", "motion", "render", "encode"), 0.0)
    frames = 0
    with tempfile.TemporaryDirectory() as tmp:
        done = 0
        for index in range(STAGE_CLIPS * 2):
            spec = sample_clip(seed, index)
            t = time.process_time()
            try:
                speech = synthesize(spec.words, spec.voice)
            except MergedWordsError:
                continue
            totals["speech"] += time.process_time() - t
            t = time.process_time()
            rng = np.random.default_rng(spec.motion_seed)
            events = plan_gestures(speech.words, spec.style, rng)
            n_frames = int(np.ceil((speech.duration + 0.8) * 25))
            track = pose_track(n_frames, events, plan_beats(speech.words, events, spec.style, rng), spec.style, rng)
            totals["motion"] += time.process_time() - t
            t = time.process_time()
            clip = render(spec.appearance, track)
            totals["render"] += time.process_time() - t
            t = time.process_time()
            write_mp4(Path(tmp) / "clip.mp4", clip.frames, np.zeros(n_frames * 640, dtype=np.float32))
            totals["encode"] += time.process_time() - t
            frames += n_frames
            done += 1
            if done == STAGE_CLIPS:
                break
        t = time.process_time()
        make_clip(sample_clip(seed, 10_000), Path(tmp))
        whole = time.process_time() - t
    stages = {k: round(1000 * v / done, 1) for k, v in totals.items()}
    return {
        "cpu_ms_per_clip": stages,
        "cpu_ms_per_frame": {k: round(v * done / frames, 2) for k, v in stages.items()},
        "one_make_clip_cpu_ms": round(1000 * whole, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    results = {
        "machine": {"cpus": os.cpu_count(), "load_avg_1min_before": round(os.getloadavg()[0], 2)},
        "corpus": bench_corpus(args.clips, args.workers, args.seed),
        "stages": bench_stages(args.seed),
    }
    results["machine"]["load_avg_1min_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
