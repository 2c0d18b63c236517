"""Peak memory of media ingest on a long video: memory must not grow with video length.

Writes a synthetic 320x240, 25 fps H.264 + AAC video (colour bars, a moving square, a tone;
no face, so the face mesh runs on every frame and the no-face mask applies), then runs what
the indexer runs per file: ``probe``, ``speaker_tracks`` (auto → one pre-cropped track),
``iter_track_frames`` over the whole track in 64-frame chunks, and ``load_audio``. Resident
memory (VmRSS) is sampled after every chunk; the peak (ru_maxrss) is read after each stage.

    python benchmarks/bench_media_memory.py [--minutes 10] [--video PATH]

``--index N`` instead runs the whole indexer (bundled tiny model, or ``--backend``) over a
synthetic archive of N talk clips (``gestsearch synth``) and prints resident memory after each
video, with the allocator's free pages returned first (``malloc_trim``), so what is left is what
the process still holds: it must not grow with the minutes of video indexed.

    python benchmarks/bench_media_memory.py --index 40 [--backend torch] [--prefetch 1]
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


def index_archive(n_clips: int, backend: str, prefetch: int) -> None:
    import ctypes
    import gc

    from gestsearch.config import Settings
    from gestsearch.embedding import Embedder
    from gestsearch.synth import generate_corpus
    from indexer.pipeline import FILES_TASK, FRAMES_TASK, index_folder

    libc = ctypes.CDLL("libc.so.6")
    rows: list[tuple[int, int, float]] = []  # videos done, frames done, MiB
    frames = [0]

    def progress(event) -> None:
        if event.task == FRAMES_TASK:
            frames[0] = event.done
        elif event.task == FILES_TASK and (not rows or event.done != rows[-1][0]):
            gc.collect()
            libc.malloc_trim(0)
            rows.append((event.done, frames[0], rss_mib()))

    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "archive"
        generate_corpus(archive, n_clips, seed=9999)
        embedder = Embedder.from_settings(Settings(device="cpu", backend=backend))
        t = time.perf_counter()
        summary = index_folder(archive, embedder, Path(tmp) / "db", prefetch=prefetch, progress=progress)
        seconds = time.perf_counter() - t
    print(f"{len(summary.indexed)} videos, {summary.frames} frames ({summary.frames / FPS / 60:.2f} min) in {seconds:.0f} s; "
          f"backend {embedder.backend}, prefetch {prefetch}; peak RSS {peak_rss_mib():.0f} MiB")
    print("| videos done | minutes of video | RSS after malloc_trim (MiB) |\n|---:|---:|---:|")
    shown = rows[:: max(1, len(rows) // 10)]
    for done, k, mib in shown + rows[-1:] * (shown[-1] is not rows[-1]):
        print(f"| {done} | {k / FPS / 60:.2f} | {mib:.0f} |")
    (_, k0, first), (_, k1, last) = rows[1], rows[-1]
    print(f"growth after the first video: {last - first:+.0f} MiB over {(k1 - k0) / FPS / 60:.2f} min of video "
          f"= {(last - first) / ((k1 - k0) / FPS / 60):+.1f} MiB per minute")


def write_long_video(path: Path, minutes: float) -> None:
    n = round(minutes * 60 * FPS)
    write_video(path, pattern_frames(n, WIDTH, HEIGHT), audio=tone(n / FPS))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--video", type=Path, help="reuse or keep the generated video here")
    parser.add_argument("--index", type=int, metavar="N", help="index N synthetic clips instead (whole indexer)")
    parser.add_argument("--backend", default="auto", help="with --index: GestSync backend (auto, torch, openvino)")
    parser.add_argument("--prefetch", type=int, default=1, help="with --index: chunks decoded ahead (0: inline)")
    args = parser.parse_args(argv)
    if args.index:
        index_archive(args.index, args.backend, args.prefetch)
        return
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
