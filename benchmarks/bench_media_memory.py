"""Peak memory of media ingest on a long video: memory must not grow with video length.

Writes a synthetic 320x240, 25 fps H.264 + AAC video (colour bars, a moving square, a tone;
no face, so the face mesh runs on every frame and the no-face mask applies), then runs what
the indexer runs per file: ``probe``, ``speaker_tracks`` (auto → one pre-cropped track),
``iter_track_frames`` over the whole track in 64-frame chunks, and ``load_audio``. Resident
memory (VmRSS) is sampled after every chunk; the peak (ru_maxrss) is read after each stage.

    python benchmarks/bench_media_memory.py [--minutes 10] [--video PATH]
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import resource
import tempfile
import time
from pathlib import Path

from gestsearch.media import iter_track_frames, load_audio, probe, speaker_tracks
from gestsearch.testing.media import pattern_frames, tone, write_video

WIDTH, HEIGHT, FPS = 320, 240, 25


def rss_mib() -> float:
    """Current resident set size of this process."""
    with open("/proc/self/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kib / 1024


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run(video: Path) -> None:
    stages: list[tuple[str, float, float]] = []

    def stage(name: str, seconds: float) -> None:
        stages.append((name, seconds, peak_rss_mib()))

    stage("imports", 0.0)
    t = time.perf_counter()
    info = probe(video)
    stage("probe", time.perf_counter() - t)
    t = time.perf_counter()
    [track] = speaker_tracks(video)
    stage("speaker_tracks", time.perf_counter() - t)

    t = time.perf_counter()
    samples: list[tuple[int, float]] = []
    done = 0
    for chunk in iter_track_frames(video, track):
        done += len(chunk)
        samples.append((done, rss_mib()))
    masked_s = time.perf_counter() - t
    stage("iter_track_frames", masked_s)
    t = time.perf_counter()
    audio = load_audio(video)
    stage("load_audio", time.perf_counter() - t)

    minutes = info.n_frames / FPS / 60
    print(f"video: {minutes:.1f} min, {info.width}x{info.height}, {info.n_frames} frames at 25 fps; "
          f"audio {len(audio) / 16000:.0f} s; {platform.processor() or platform.machine()}")
    print(f"masked frames: {done} in {masked_s:.1f} s ({1000 * masked_s / done:.1f} ms/frame)")
    print("| stage | time (s) | peak RSS so far (MiB) |\n|---|---|---|")
    for name, seconds, peak in stages:
        print(f"| {name} | {seconds:.1f} | {peak:.0f} |")
    print("\nRSS while iterating (MiB), by frames done:")
    for fraction in (0.01, 0.1, 0.5, 1.0):
        frames, rss = samples[min(len(samples) - 1, int(fraction * len(samples)))]
        print(f"  {frames:6d} frames ({frames / FPS / 60:4.1f} min): {rss:.0f}")
    held = done * 270 * 480 * 3 * 4 / 2**30
    print(f"(holding all masked frames at once would need {held:.1f} GiB)")


def write_long_video(path: Path, minutes: float) -> None:
    n = round(minutes * 60 * FPS)
    write_video(path, pattern_frames(n, WIDTH, HEIGHT), audio=tone(n / FPS))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--video", type=Path, help="reuse or keep the generated video here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or Path(tmp) / "long.mp4"
        if not video.exists():
            t = time.perf_counter()
            # in a child process, so that encoding does not count towards the measured peak
            writer = multiprocessing.get_context("spawn").Process(target=write_long_video, args=(video, args.minutes))
            writer.start()
            writer.join()
            print(f"wrote {video} in {time.perf_counter() - t:.0f} s")
        run(video)


if __name__ == "__main__":
    main()
