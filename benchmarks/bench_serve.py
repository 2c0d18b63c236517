"""Latency of `gestsearch serve` text queries under 1, 4 and 16 concurrent clients (synthetic index).

The index holds ``--clips`` store-only synthetic clips (no media): pooled gesture vectors around
N/500 cluster centres (:func:`gestsearch.testing.store.clustered_vectors`, as bench_ann/bench_search
draw them), 75 frame vectors per clip (stored as int8, the default) taken from a pool of ``POOL`` synthetic clips (as in
bench_search.py; every clip has its own rows on disk), speech content and three words on every other
clip, laid out like bench_store.py's videos (a clip of 3 s every 2 s, ``CLIPS_PER_VIDEO`` per video).
It is built with the bundled model's fingerprint, compacted and its FAISS sidecars saved as
``gestsearch index`` leaves an index (``optimize``; LanceDB's own vector indexes, which only
``backend="lance"`` uses, are not built).

The server is the product: ``gestsearch serve --db INDEX`` in a subprocess, bundled model, default
settings. Each client is a thread with one keep-alive HTTP/1.1 connection sending real
``GET /api/search?q=PHRASE&k=10`` requests: phrases of 1-4 words of the synthetic corpus's vocabulary,
so every query runs the text encoder, FAISS stage 1 over the whole index, the store read of the
candidates' frames (300 by default), exact re-ranking and the word peaks. Latency is measured by the client,
request sent to body read. Levels run one after the other on the same server.
``--share-frames`` builds an index whose videos all hold the same frame vectors (clip i of every video
takes pool clip i) and hard-links every video's frame file to the first one's: a 1M-clip index then
keeps ~19 MB of frame data, not ~38 GB, all of it in the page cache (this measures the software path
of stage 2's reads, not disk reads).
``--server-threads N`` starts the server with OMP_NUM_THREADS=N (FAISS's thread pool; `gestsearch
serve` itself runs torch on one thread, its queries being serialised and small).

    .venv/bin/python benchmarks/bench_serve.py [--clips 100000] [--queries 200] [--levels 1,4,16] [--index DIR]
                                               [--server-threads N] [--share-frames]

Writes benchmarks/out/bench_serve_<clips>_<time>.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from gestsearch.config import Settings
from gestsearch.constants import DEFAULT_CANDIDATES, DIM
from gestsearch.embedding import fingerprint, resolve_checkpoints
from gestsearch.store import GestureStore
from gestsearch.store.framefiles import FRAMES_DIR
from gestsearch.store.framefiles import SUFFIX as FRAME_SUFFIX
from gestsearch.store.records import ClipRecord, VideoRecord, clip_id_for, video_id_for
from gestsearch.synth.lexicon import FILLER_WORDS, LEXICON
from gestsearch.testing.store import CLIP_STRIDE, clustered_vectors

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).with_name("out")
FRAMES = 75  # frames per clip (3 s at 25 fps)
POOL = 2_000  # synthetic clips whose frame vectors the clips reuse
CLIPS_PER_VIDEO = 500
K = 10
WARM_UP = 10  # untimed queries before the first level
TARGET_P50_MS = 50.0  # single client
TARGET_ERRORS_AT = 16  # clients at which no request may fail
LANCE_INDEX_NEVER = 1 << 62  # optimize() builds no LanceDB vector index (the faiss backend does not use them)


# ------------------------------------------------------------------------------------- the index


def bundled_fingerprint() -> str:
    """``Embedder.from_settings(Settings()).info.fingerprint`` without loading the models."""
    gestsync, jegal, text_model, _ = resolve_checkpoints(Settings())
    return fingerprint(gestsync, jegal, text_model)


def build_index(db: Path, n_clips: int, fp: str, seed: int = 0, share_frames: bool = False) -> dict:
    """``n_clips`` synthetic clips in a new index at ``db``; returns timings and sizes. ``share_frames``:
    every video gets the same frame vectors and one frame file (hard links; see the module docstring)."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    gestures = clustered_vectors(n_clips, max(20, n_clips // 500), seed=seed)
    contents = clustered_vectors(n_clips, max(20, n_clips // 500), seed=seed + 1)
    pool = clustered_vectors(POOL * FRAMES, 64, seed=seed + 2).astype(np.float16).reshape(POOL, FRAMES, DIM)
    vocabulary = list(LEXICON) + list(FILLER_WORDS)
    n_videos = -(-n_clips // CLIPS_PER_VIDEO)
    shared: Path | None = None
    with GestureStore.open(db, fingerprint=fp, create=True) as store:
        for v in range(n_videos):
            first = v * CLIPS_PER_VIDEO
            count = min(CLIPS_PER_VIDEO, n_clips - first)
            video, clips = _synthetic_video(f"/archive/talk{v:05d}.mp4", fp, first, count, gestures, contents, pool,
                                            vocabulary, rng, pool_first=0 if share_frames else first)
            before = set(os.listdir(db / FRAMES_DIR)) if share_frames and v else set()
            store.add_video(video, clips)
            if share_frames:
                shared = _share_frame_file(db / FRAMES_DIR, before, shared)
            if (v + 1) % 20 == 0 or v + 1 == n_videos:
                print(f"  {first + count:,} of {n_clips:,} clips written ({time.perf_counter() - start:.0f} s)", flush=True)
        written = time.perf_counter() - start
        with warnings.catch_warnings():  # keep no old versions (as bench_store.py): no reader runs yet
            warnings.simplefilter("ignore", UserWarning)
            store.optimize(lance_index_min=LANCE_INDEX_NEVER, keep_versions=timedelta(0))
        info = store.info()
    assert info.clips == n_clips, (info.clips, n_clips)
    inodes = {(s.st_dev, s.st_ino): s.st_size for s in (f.stat() for f in db.rglob("*") if f.is_file())}
    return {"write_s": round(written, 1), "optimize_s": round(time.perf_counter() - start - written, 1),
            "bytes": sum(inodes.values()), "ann": info.to_dict()["ann"], "share_frames": share_frames}


def _share_frame_file(frames: Path, before: set[str], shared: Path | None) -> Path:
    """The frame file of the video just added (the one not in ``before``) made a hard link to
    ``shared`` when both hold the same bytes (same size: a last, shorter video keeps its own); the
    file to share from now on."""
    (new,) = (frames / name for name in set(os.listdir(frames)) - before if name.endswith(FRAME_SUFFIX))
    if shared is None:
        return new
    if new.stat().st_size == shared.stat().st_size:
        link = frames / f".{new.name}.link"
        os.link(shared, link)
        os.replace(link, new)
    return shared


def _synthetic_video(path: str, fp: str, first: int, count: int, gestures: np.ndarray, contents: np.ndarray,
                     pool: np.ndarray, vocabulary: list[str], rng: np.random.Generator,
                     pool_first: int | None = None) -> tuple[VideoRecord, list[ClipRecord]]:
    """A video record with clips ``first .. first + count`` of the vectors (laid out as
    :func:`gestsearch.testing.store.synthetic_video` lays them out); clip i takes the frames of pool
    clip ``pool_first + i`` (default ``first + i``)."""
    pool_first = first if pool_first is None else pool_first
    digest = f"{first:064x}"
    video_id = video_id_for(path)
    n_total = CLIP_STRIDE * (count - 1) + FRAMES
    video = VideoRecord(video_id=video_id, path=path, content_hash=digest, size_bytes=1000 * n_total, mtime=1.7e9,
                        duration_s=n_total / 25, fps=25.0, n_tracks=1, status="indexed", reason="", fingerprint=fp)
    clips = []
    for i in range(count):
        n = first + i
        start, end = i * CLIP_STRIDE, i * CLIP_STRIDE + FRAMES - 1
        speech = n % 2 == 0
        words = [str(w) for w in rng.choice(vocabulary, 3)] if speech else []
        clips.append(ClipRecord(
            clip_id=clip_id_for(video_id, digest, 0, start, end), video_id=video_id, path=path, track=0,
            start_s=start / 25, end_s=(end + 1) / 25, start_frame=start, end_frame=end,
            gesture=gestures[n], frames=pool[(pool_first + i) % POOL], content=contents[n] if speech else None,
            words=[(w, start + 25 * j, start + 25 * j + 20) for j, w in enumerate(words)], text=" ".join(words),
        ))  # fmt: skip
    return video, clips


def index_at(path: Path | None, n_clips: int, fp: str, share_frames: bool = False) -> tuple[Path, dict, bool]:
    """(db, build info, whether it is temporary): the index at ``path`` when it has ``n_clips``
    clips of these models, else a new one there (or in a temporary folder)."""
    if path is not None and path.exists():
        with GestureStore.open(path, fingerprint=fp, read_only=True) as store:
            clips = store.clip_count()
        if clips == n_clips:
            print(f"reusing the index at {path} ({clips:,} clips)")
            return path, {"reused": True}, False
        raise SystemExit(f"{path} holds {clips:,} clips, not {n_clips:,}: give another --index")
    temporary = path is None
    db = Path(tempfile.mkdtemp(prefix="bench-serve-")) / "index.lance" if temporary else path
    print(f"building an index of {n_clips:,} synthetic clips at {db}")
    return db, build_index(db, n_clips, fp, share_frames=share_frames), temporary


# ------------------------------------------------------------------------------------ the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path, port: int, log: Path, threads: int | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "cli.main", "serve", "--db", str(db), "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            if request(connection, "/api/info")[0] == 200:
                return server
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.5)
    server.kill()
    raise SystemExit("the server did not answer within 300 s")


def request(connection: http.client.HTTPConnection, target: str) -> tuple[int, bytes]:
    connection.request("GET", target)
    response = connection.getresponse()
    return response.status, response.read()


# ------------------------------------------------------------------------------------ the clients


def phrases(n: int, seed: int = 7) -> list[str]:
    """``n`` varied phrases: 1-4 words, each holding a word of the gesture lexicon."""
    rng = np.random.default_rng(seed)
    lexicon, fillers = sorted(LEXICON), list(FILLER_WORDS)
    out = []
    for _ in range(n):
        words = [str(w) for w in rng.choice(fillers, int(rng.integers(0, 4)))]
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(lexicon)))
        out.append(" ".join(words))
    return out


def run_level(port: int, clients: int, queries: list[str]) -> dict:
    """``queries`` sent by ``clients`` threads at once (each on its own keep-alive connection)."""
    lock = threading.Lock()
    todo = iter(enumerate(queries))
    latencies = np.full(len(queries), np.nan)
    errors: list[str] = []
    barrier = threading.Barrier(clients + 1)

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        barrier.wait()
        while True:
            with lock:
                item = next(todo, None)
            if item is None:
                break
            i, phrase = item
            target = "/api/search?" + urllib.parse.urlencode({"q": phrase, "k": K})
            t0 = time.perf_counter()
            try:
                status, body = request(connection, target)
            except (OSError, http.client.HTTPException) as e:
                status, body = 0, f"{type(e).__name__}: {e}".encode()
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            latencies[i] = (time.perf_counter() - t0) * 1000.0
            if status != 200:
                with lock:
                    errors.append(f"{status} {body[:200].decode(errors='replace')} ({phrase!r})")
        connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    load_before, started = os.getloadavg(), datetime.now(timezone.utc)
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ok = latencies[~np.isnan(latencies)]
    return {
        "clients": clients, "requests": len(queries), "errors": len(errors), "error_samples": errors[:5],
        "p50_ms": round(float(np.percentile(ok, 50)), 1), "p95_ms": round(float(np.percentile(ok, 95)), 1),
        "max_ms": round(float(ok.max()), 1), "mean_ms": round(float(ok.mean()), 1),
        "throughput_per_s": round(len(queries) / wall, 2), "wall_s": round(wall, 2),
        "started_at": started.isoformat(timespec="seconds"), "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }  # fmt: skip


# ----------------------------------------------------------------------------------------- report


def table(levels: list[dict]) -> str:
    header = ("clients", "requests", "errors", "p50 (ms)", "p95 (ms)", "max (ms)", "req/s", "wall (s)", "load 1 min before → after")
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for r in levels:
        cells = (r["clients"], r["requests"], r["errors"], f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}", f"{r['max_ms']:.1f}",
                 f"{r['throughput_per_s']:.1f}", f"{r['wall_s']:.1f}", f"{r['load_before'][0]:.2f} → {r['load_after'][0]:.2f}")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def verdicts(levels: list[dict]) -> list[str]:
    out = []
    single = next((r for r in levels if r["clients"] == 1), None)
    if single:
        ok = single["p50_ms"] <= TARGET_P50_MS
        out.append(f"single-client p50 {single['p50_ms']:.1f} ms: {'meets' if ok else 'misses'} the target ≤ {TARGET_P50_MS:.0f} ms")
    crowd = next((r for r in levels if r["clients"] == TARGET_ERRORS_AT), None)
    if crowd:
        out.append(f"{crowd['errors']} errors at {TARGET_ERRORS_AT} clients: {'meets' if not crowd['errors'] else 'misses'} "
                   "the target of 0")
    return out


def peak_rss(pid: int) -> float | None:
    """The peak resident memory of process ``pid`` so far (VmHWM), MB; None off Linux."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    kib = next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), None)
    return None if kib is None else round(kib / 1024, 1)


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    names = (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    return {"cpu": next(names, platform.processor()), "cores": os.cpu_count(), "python": platform.python_version()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100_000, help="clips in the synthetic index")
    parser.add_argument("--queries", type=int, default=200, help="timed requests per concurrency level")
    parser.add_argument("--levels", default="1,4,16", help="concurrent clients, comma-separated")
    parser.add_argument("--index", type=Path, help="keep the index here (reused when it has --clips clips)")
    parser.add_argument("--server-threads", type=int, help="OMP_NUM_THREADS of the server (default: not set)")
    parser.add_argument("--share-frames", action="store_true",
                        help="build with one frame file for all videos (hard links; frame data stays in the page cache)")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    if args.clips < 1 or args.queries < 1 or not levels or min(levels) < 1:
        parser.error("--clips, --queries and every level must be at least 1")

    started = datetime.now(timezone.utc)
    load_start = os.getloadavg()
    fp = bundled_fingerprint()
    t0 = time.perf_counter()
    db, build, temporary = index_at(args.index, args.clips, fp, args.share_frames)
    build_s = time.perf_counter() - t0
    OUT.mkdir(exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    port = free_port()
    log = OUT / f"bench_serve_{args.clips}_{stamp}.server.log"
    server = None
    try:
        t1 = time.perf_counter()
        server = start_server(db, port, log, args.server_threads)
        startup_s = time.perf_counter() - t1
        print(f"server up on port {port} after {startup_s:.1f} s")
        queries = phrases(WARM_UP + args.queries * len(levels))
        run_level(port, 1, queries[:WARM_UP])  # untimed: first-call costs (tokenizer, FAISS sidecar load)
        results = []
        for n, clients in enumerate(levels):
            chunk = queries[WARM_UP + n * args.queries : WARM_UP + (n + 1) * args.queries]
            results.append(run_level(port, clients, chunk))
            r = results[-1]
            print(f"  {clients:>2} clients: p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, {r['errors']} errors, "
                  f"load {r['load_before'][0]:.2f} → {r['load_after'][0]:.2f}", flush=True)
        peak_rss_mb = peak_rss(server.pid)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        if temporary:
            shutil.rmtree(db.parent, ignore_errors=True)

    report = {
        "benchmark": "bench_serve", "clips": args.clips, "queries_per_level": args.queries, "k": K,
        "candidates": DEFAULT_CANDIDATES, "fingerprint": fp, "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "index": {**build, "build_or_open_s": round(build_s, 1), "path": None if temporary else str(db)},
        "server": {"command": "gestsearch serve --db INDEX --host 127.0.0.1", "startup_s": round(startup_s, 1),
                   "peak_rss_mb": peak_rss_mb,
                   "OMP_NUM_THREADS": args.server_threads or os.environ.get("OMP_NUM_THREADS")},
        "load_average": {"start": [round(x, 2) for x in load_start], "end": [round(x, 2) for x in os.getloadavg()]},
        "machine": machine(), "levels": results, "targets": verdicts(results),
    }  # fmt: skip
    path = OUT / f"bench_serve_{args.clips}_{stamp}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print()
    threads = report["server"]["OMP_NUM_THREADS"]
    print(f"`gestsearch serve`, {args.clips:,} synthetic clips, {args.queries} text queries per level (k={K}), "
          f"{report['machine']['cores']} cores ({report['machine']['cpu']}), server OMP_NUM_THREADS={threads or 'unset'}")
    print()
    print(table(results))
    print()
    for line in verdicts(results):
        print(f"- {line}")
    print(f"- server peak RSS (VmHWM) {peak_rss_mb} MB")
    print(f"- load average (1/5/15 min) at the start {report['load_average']['start']}, at the end {report['load_average']['end']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
