"""Cost of the motion export (``--format pose``): one hit of JEGAL sample 1 (0.4-1.6 s, 30 frames,
pre-cropped), best of 3, after the once-per-video pass that finds the speaker tracks again; and
that pass on a raw two-person video (gestsync_samples/asd_sample_1.mp4). Prints the load average.

    .venv/bin/python benchmarks/bench_pose.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from gestsearch.export.pose import speaker_box, write_pose
from gestsearch.media import probe
from gestsearch.results import Hit

FPS = 25


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    sample, raw = args.data / "jegal_samples" / "sample1.avi", args.data / "gestsync_samples" / "asd_sample_1.mp4"
    if not sample.is_file() or not raw.is_file():
        sys.exit(f"{args.data}: the JEGAL / GestSync samples are not there")
    load_before = os.getloadavg()
    t = time.perf_counter()
    speaker_box(sample, 0, 10, 40)
    tracks_s = time.perf_counter() - t
    hit = Hit(rank=1, clip_id="c", video_path=str(sample), track=0, clip_start_s=0.0, clip_end_s=2.0,
              span_start_s=0.4, span_end_s=1.6, score=1.0, pooled_score=1.0, coupling_score=1.0)
    runs = []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(3):
            t = time.perf_counter()
            write_pose(hit, Path(out))
            runs.append(time.perf_counter() - t)
    frames = round((hit.span_end_s - hit.span_start_s) * FPS)
    t = time.perf_counter()
    speaker_box(raw, 0, 0, 1)
    raw_s = time.perf_counter() - t
    raw_frames = probe(raw).n_frames
    print(f"| export of {frames} frames (best of 3) | {min(runs):.2f} s ({min(runs) / frames * 1000:.0f} ms/frame) |")
    print(f"| finding sample1's tracks again (once per video) | {tracks_s:.2f} s |")
    print(f"| finding asd_sample_1's tracks again ({raw_frames} frames, raw, 2 people) | {raw_s:.1f} s "
          f"({raw_s / raw_frames * 1000:.0f} ms per video frame) |")
    print(f"load average before {load_before}, after {os.getloadavg()}")


if __name__ == "__main__":
    main()
