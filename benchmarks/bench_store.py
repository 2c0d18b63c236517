"""Write throughput, bytes on disk and read latencies of the gesture store (synthetic clips).

Each synthetic video has ``--clips`` clips of ``--frames`` frames (75 = 3 s) starting every 2 s,
so clips overlap by 1 s, like the fixed-window clips of untranscribed speech.

    .venv/bin/python benchmarks/bench_store.py                    # 100 videos x 10 clips
    .venv/bin/python benchmarks/bench_store.py --videos 500 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np

from gestsearch.store import GestureStore
from gestsearch.testing.store import synthetic_video

FP = "bench"


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench(root: Path, n_videos: int, n_clips: int, n_frames: int) -> dict:
    videos = [synthetic_video(f"/archive/talk{i:05d}.mp4", FP, n_clips, n_frames) for i in range(n_videos)]
    n_total = n_videos * n_clips
    seconds = sum(video.duration_s for video, _ in videos)
    result: dict = {"videos": n_videos, "clips": n_total, "frames_per_clip": n_frames, "video_seconds": seconds}
    db = root / "db"
    store = GestureStore.open(db, fingerprint=FP, create=True)

    start = time.perf_counter()
    for video, clips in videos:
        store.add_video(video, clips)
    elapsed = time.perf_counter() - start
    result["write"] = {
        "s": elapsed,
        "ms_per_video": 1000 * elapsed / n_videos,
        "clips_per_s": n_total / elapsed,
        "frames_per_s": n_total * n_frames / elapsed,
    }
    result["bytes_before_optimize"] = _disk_bytes(db)
    start = time.perf_counter()
    store.refresh_ann()
    result["refresh_ann_s"] = time.perf_counter() - start
    start = time.perf_counter()
    with warnings.catch_warnings():  # keep no old versions: measure the steady-state size (no reader runs)
        warnings.simplefilter("ignore", UserWarning)
        store.optimize(keep_versions=timedelta(0))
    result["optimize_s"] = time.perf_counter() - start
    size = _disk_bytes(db)
    raw_frames = n_total * n_frames * 512 * 2
    result["bytes"] = {
        "total": size,
        "per_clip": size / n_total,
        "per_video_second": size / seconds,
        "float16_frames_share": raw_frames / size,
    }

    rng = np.random.default_rng(0)
    ids = store.all_clip_ids()
    reader = GestureStore.open(db, fingerprint=FP, read_only=True)
    reader.search_pooled(rng.standard_normal(512), 10)  # loads the sidecar
    result["read_ms"] = {
        "clips_by_ids_100": _median_ms(lambda: reader.clips_by_ids(rng.choice(ids, 100, replace=False)), 20),
        "search_faiss_k100": _median_ms(lambda: reader.search_pooled(rng.standard_normal(512), 100), 50),
        "search_lance_k100": _median_ms(
            lambda: reader.search_pooled(rng.standard_normal(512), 100, backend="lance"), 20
        ),
    }
    start = time.perf_counter()
    n_read = sum(1 for _ in reader.iter_clips(batch=512))
    result["iter_clips_per_s"] = n_read / (time.perf_counter() - start)
    store.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--clips", type=int, default=10, help="clips per video")
    parser.add_argument("--frames", type=int, default=75, help="frames per clip")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = bench(Path(tmp), args.videos, args.clips, args.frames)
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
