"""Resident memory of a process committing one synthetic video at a time (no models), as the
indexer does, against the size of LanceDB's metadata cache (``gestsearch.store.db.METADATA_CACHE_BYTES``).

Each cache size runs in its own process; RSS is read every ``--every`` commits after
``gc.collect()`` + ``malloc_trim(0)``, so it is what the process still holds.

    .venv/bin/python benchmarks/bench_commit_memory.py                      # 400 videos, 1024 MiB (LanceDB's default) vs 64
    .venv/bin/python benchmarks/bench_commit_memory.py --videos 1000 --cache-mib 1024 64 16
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FP = "bench"


def rss_mib() -> float:
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def run(cache_mib: int, n_videos: int, n_clips: int, every: int) -> None:
    """Commit ``n_videos`` videos under a metadata cache of ``cache_mib``; print one line per ``every``."""
    import gestsearch.store.db as db
    from gestsearch.testing.store import synthetic_video

    db.METADATA_CACHE_BYTES = cache_mib << 20
    with tempfile.TemporaryDirectory() as root:
        store = db.GestureStore.open(Path(root) / "db", fingerprint=FP, create=True)
        seconds = 0.0  # in the two store calls, not in making the synthetic video
        for i in range(1, n_videos + 1):
            video, clips = synthetic_video(f"/archive/talk{i:05d}.mp4", FP, n_clips)
            start = time.perf_counter()
            store.video_by_path(video.path)  # the indexer's check before embedding a video
            store.add_video(video, clips)
            seconds += time.perf_counter() - start
            del video, clips
            if i % every == 0:
                print(f"{cache_mib}\t{i}\t{rss_mib():.1f}\t{seconds:.1f}\t{os.getloadavg()[0]:.2f}", flush=True)
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=400)
    parser.add_argument("--clips", type=int, default=30, help="clips per video")
    parser.add_argument("--every", type=int, default=25, help="commits between RSS readings")
    parser.add_argument("--cache-mib", type=int, nargs="+", default=[1024, 64],
                        help="metadata cache sizes to compare, MiB (1024: LanceDB's default)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child process: one size
    args = parser.parse_args()
    if args.one:
        run(args.cache_mib[0], args.videos, args.clips, args.every)
        return
    print("cache_MiB\tcommits\tRSS_MiB\tcommit_s\tload_1min")
    for cache in args.cache_mib:
        subprocess.run([sys.executable, __file__, "--one", "--cache-mib", str(cache), "--videos", str(args.videos),
                        "--clips", str(args.clips), "--every", str(args.every)], check=True)


if __name__ == "__main__":
    main()
