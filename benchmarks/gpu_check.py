"""The GPU path in one run: model goldens on CUDA, GestSync frames/s, end-to-end indexing of the
demo archive against real time, and exact search at 1M clips, with a JSON + Markdown report.

Each stage runs in a process of its own under its own timeout, so a stage that fails, hangs or
crashes the CUDA context is reported and the next one still runs. Targets on one H100 (issue 22):
GestSync ≥ 2,500 frames/s, indexing ≥ 50× real time, search p50 ≤ 5 ms at 1M clips.

    bash benchmarks/gpu_check.sh                 # on a CUDA machine, from the repo root
    bash benchmarks/gpu_check.sh --cpu-smoke     # tiny sizes on the CPU: checks the script itself

The report goes to ``$OUT`` when set, else ``benchmarks/out/gpu_check/``: ``gpu_check.json``,
``gpu_check.md`` and ``logs/<stage>.log``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("env", "golden", "gestsync", "index", "search")
TIMEOUT_S = {"env": 60, "golden": 200, "gestsync": 90, "index": 150, "search": 100}  # 10 minutes in all
TARGETS = {"gestsync_frames_per_s": 2500, "index_x_real_time": 50, "search_p50_ms": 5.0}
GOLDEN_TESTS = ("tests/models", "tests/store/test_matmul.py")
SMOKE_TESTS = ("tests/models/test_precision.py::test_autocast_covers_each_item_and_not_the_consumer",)
FPS = 25
K = 10
CHUNK_FRAMES = 64  # frames per trunk call, as the indexer hands them over


@dataclass(frozen=True)
class Sizes:
    preset: str  # GestSync architecture timed: paper (the released one) or tiny
    frames: int  # frames per GestSync timing
    clips: int  # clips in the demo archive
    vectors: int  # clips searched
    queries: int  # single queries timed


FULL = Sizes("paper", 2000, 12, 1_000_000, 200)
SMOKE = Sizes("tiny", 24, 1, 5_000, 10)


# ------------------------------------------------------------------ stages (each in its own process)


def stage_env(device: str, sizes: Sizes) -> dict:
    import faiss
    import torch

    from gestsearch.store import gpu_available

    info = {"python": platform.python_version(), "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "cuda_available": torch.cuda.is_available(), "faiss": faiss.__version__, "faiss_gpu": gpu_available(),
            "cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "pythonpath": os.environ.get("PYTHONPATH", ""),
            "packages": {name: _version(name) for name in ("numpy", "transformers", "lancedb", "pyarrow", "av", "mediapipe", "openvino")}}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, capability=f"{props.major}.{props.minor}", gpu_memory_gb=round(props.total_memory / 2**30, 1),
                    gpu_count=torch.cuda.device_count())
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device}: torch sees no CUDA GPU")
    return info


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def stage_golden(device: str, sizes: Sizes, tests: tuple[str, ...], work: Path) -> dict:
    report = work / "junit.xml"
    env = {**os.environ, "GESTSEARCH_TEST_DEVICE": device, "GESTSEARCH_PYTHON": sys.executable}
    command = ["bash", "scripts/test.sh", *tests, "-q", f"--junitxml={report}"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
    if not report.exists():
        raise RuntimeError(f"pytest wrote no report (exit {done.returncode})")
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    failed = [f"{case.get('classname')}::{case.get('name')}" for case in suite.iter("testcase")
              if case.find("failure") is not None or case.find("error") is not None]
    reasons = Counter(skip.get("message", "") for skip in suite.iter("skipped"))
    counts.update(passed=counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"], failed_tests=failed,
                  skip_reasons=dict(reasons), exit_code=done.returncode)
    if done.returncode != 0:
        raise StageFailed(f"{len(failed)} test(s) failed", counts)
    if any("shared/reference" in reason for reason in reasons):
        raise StageFailed("goldens not checked: ../shared/reference is not beside the repository", counts)
    return counts


def stage_gestsync(device: str, sizes: Sizes) -> dict:
    """GestSync (random weights of the chosen preset) over host float32 frames, as the decoder hands
    them over, and over frames already on the device (the model alone), in fp32 and bf16."""
    import torch

    from gestsearch.config import Settings
    from gestsearch.errors import ConfigError
    from gestsearch.models import GestSync
    from gestsearch.models.backend import autocast, configure_cuda, resolve_backend
    from gestsearch.models.config import PRESETS

    torch.manual_seed(0)
    if device.startswith("cuda"):
        configure_cuda()
    model = GestSync(PRESETS[sizes.preset].gestsync).eval().to(device)
    frames = torch.rand(sizes.frames, 270, 480, 3, generator=torch.Generator().manual_seed(1))
    frames[:, :111] = 0  # the face-mask band
    on_device = frames.to(device)
    batch = Settings().window_batch(device)

    def features(clip: torch.Tensor, precision: str) -> tuple[float, torch.Tensor]:
        with autocast(device, precision):
            start = time.perf_counter()
            chunks = (clip[i : i + CHUNK_FRAMES] for i in range(0, len(clip), CHUNK_FRAMES))
            out = torch.cat(list(model.stream_features(chunks, batch))).float()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
        return time.perf_counter() - start, out

    result: dict = {"preset": sizes.preset, "frames": sizes.frames, "window_batch": batch}
    outputs = {}
    for precision in ("fp32", "bf16"):
        try:
            resolve_backend("torch", precision, device)
        except ConfigError as e:
            result[precision] = {"skipped": str(e)}
            continue
        features(frames[: 2 * CHUNK_FRAMES], precision)  # warm-up: kernels are chosen on first calls
        seconds, outputs[precision] = features(frames, precision)
        model_seconds, _ = features(on_device, precision)
        result[precision] = {"frames_per_s": sizes.frames / seconds, "x_real_time": sizes.frames / seconds / FPS,
                             "model_only_frames_per_s": sizes.frames / model_seconds}
    if len(outputs) == 2:
        cosine = torch.nn.functional.cosine_similarity(outputs["fp32"], outputs["bf16"])
        result["bf16_min_cosine_to_fp32"] = float(cosine.min())
    return result


def stage_index(device: str, sizes: Sizes, work: Path, archive: Path | None = None) -> dict:
    """The demo archive (``gestsearch demo``'s seed) rendered, then indexed by the indexer with the
    bundled model on ``device`` (bf16 where it runs, else fp32) and searched once by text.
    ``archive``: one rendered elsewhere (``gestsearch synth``), for machines without espeak-ng."""
    import numpy as np

    from cli.demo import DEMO_SEED
    from gestsearch.config import Settings
    from gestsearch.embedding import Embedder
    from gestsearch.errors import ConfigError
    from gestsearch.media import probe
    from gestsearch.search.engine import Searcher
    from gestsearch.store import AnnConfig, GestureStore
    from gestsearch.synth import generate_corpus
    from indexer import index_folder

    db, render_s = work / "index.lance", None
    if archive is None:
        archive, start = work / "archive", time.perf_counter()
        generate_corpus(archive, sizes.clips, DEMO_SEED)
        render_s = time.perf_counter() - start
    video_s = sum(probe(path).duration_s for path in archive.glob("*.mp4"))
    try:
        precision, embedder = "bf16", Embedder.from_settings(Settings(device=device, precision="bf16"))
    except ConfigError:
        precision, embedder = "fp32", Embedder.from_settings(Settings(device=device))
    start = time.perf_counter()
    summary = index_folder(archive, embedder, db)
    index_s = time.perf_counter() - start
    with GestureStore.open(db, read_only=True, ann=AnnConfig(device=device)) as store:
        searcher = Searcher(store, embedder)
        searcher.search(searcher.text_query("stop"), 5)  # warm-up: the sidecar is built or loaded
        times = []
        for word in ("big", "open", "no", "stop"):
            start = time.perf_counter()
            hits = searcher.search(searcher.text_query(word), 5).result.hits
            times.append(time.perf_counter() - start)
        ann = store.refresh_ann()
    return {"archive": str(archive), "videos": len(list(archive.glob("*.mp4"))), "precision": precision,
            "render_s": render_s, "video_s": video_s, "index_s": index_s,
            "x_real_time": video_s / index_s, "videos_indexed": len(summary.indexed), "failed": summary.failed,
            "clips_indexed": summary.clips, "text_search_p50_ms": 1000 * float(np.median(times)), "last_hits": len(hits),
            "ann": ann}


def clustered(n: int, centres, seed: int, device: str):
    """(n, 512) float32 unit vectors around the unit ``centres``, cosine ≈ 0.7 to them: the recipe of
    bench_ann.py's "tight" set (gestsearch.testing.store.clustered_vectors), drawn by torch on
    ``device``, as numpy's takes minutes at 1M."""
    import torch

    generator = torch.Generator(device).manual_seed(seed)
    rows = torch.randint(0, len(centres), (n,), generator=generator, device=device)
    offsets = torch.randn(n, centres.shape[1], generator=generator, device=device) / centres.shape[1] ** 0.5
    return torch.nn.functional.normalize(centres[rows] + offsets, dim=1).cpu().numpy()


def stage_search(device: str, sizes: Sizes) -> dict:
    """Single-query latency over ``sizes.vectors`` clustered unit vectors (200 per cluster): the
    torch matmul searcher in float32 and float16, and FAISS's GPU flat index when FAISS has GPU
    support. float16 and FAISS are checked against float32's top 10."""
    import faiss
    import numpy as np
    import torch

    from gestsearch.models.backend import configure_cuda
    from gestsearch.store import gpu_available
    from gestsearch.store.matmul import MatmulIndex

    if device.startswith("cuda"):
        configure_cuda()
    n = sizes.vectors
    start = time.perf_counter()
    generator = torch.Generator(device).manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(max(10, n // 200), 512, generator=generator, device=device), dim=1)
    data, queries = clustered(n, centres, 1, device), clustered(sizes.queries, centres, 2, device)
    result: dict = {"vectors": n, "queries": sizes.queries, "data_s": time.perf_counter() - start}
    ids = np.arange(n, dtype=np.int64)

    def timed(search) -> tuple[dict, np.ndarray]:
        search(queries[:1])  # warm-up
        times, found = [], []
        for query in queries:
            begin = time.perf_counter()
            found.append(search(query[None]))
            times.append(time.perf_counter() - begin)
        begin = time.perf_counter()
        search(queries)
        batch_ms = 1000 * (time.perf_counter() - begin) / len(queries)
        return {"p50_ms": 1000 * float(np.median(times)), "p95_ms": 1000 * float(np.percentile(times, 95)),
                "batched_ms_per_query": batch_ms}, np.concatenate(found)

    reference = None
    for name, dtype in (("torch_float32", torch.float32), ("torch_float16", torch.float16)):
        begin = time.perf_counter()
        index = MatmulIndex.from_batches([(ids, data)], device, dtype)
        build_s = time.perf_counter() - begin
        result[name], found = timed(lambda q, index=index: index.search(q, K)[1])
        result[name]["build_s"] = build_s
        reference = found if reference is None else reference
        result[name]["recall_at_10_vs_float32"] = _recall(found, reference)
        del index
    if gpu_available() and device.startswith("cuda"):
        resources = faiss.StandardGpuResources()  # must outlive the index
        flat = faiss.index_cpu_to_gpu(resources, 0, faiss.IndexFlatIP(data.shape[1]))
        flat.add(data)
        result["faiss_gpu_flat"], found = timed(lambda q: flat.search(q, K)[1])
        result["faiss_gpu_flat"]["recall_at_10_vs_float32"] = _recall(found, reference)
    else:
        result["faiss_gpu_flat"] = {"skipped": "FAISS without GPU support" if device.startswith("cuda") else "CPU run"}
    return result


def _recall(found, reference) -> float:
    return float(sum(len(set(f) & set(r)) for f, r in zip(found.tolist(), reference.tolist())) / reference.size)


class StageFailed(Exception):
    """A stage that ran to the end but did not pass; ``result`` still goes into the report."""

    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result


# ------------------------------------------------------------------ the driver


def run_stage(stage: str, args: argparse.Namespace, out: Path) -> dict:
    """``stage`` in a child process under its timeout: {"status", "seconds", "result" | "error"}."""
    result_file = out / "logs" / f"{stage}.json"
    result_file.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--stage", stage, "--result", str(result_file),
               "--device", args.device, *(["--cpu-smoke"] if args.cpu_smoke else []),
               *(["--archive", str(args.archive.resolve())] if args.archive else [])]
    timeout = TIMEOUT_S[stage] * args.timeout_scale
    start = time.perf_counter()
    with open(out / "logs" / f"{stage}.log", "w") as log:
        try:
            done = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
            code = done.returncode
        except subprocess.TimeoutExpired:
            code = None
    entry: dict = {"seconds": round(time.perf_counter() - start, 1), "timeout_s": timeout}
    saved = json.loads(result_file.read_text()) if result_file.exists() else {}
    result_file.unlink(missing_ok=True)  # merged into gpu_check.json
    if code is None:
        entry.update(status="timeout", error=f"no result within {timeout:.0f} s")
    elif "error" in saved or code != 0:
        entry.update(status="failed", error=saved.get("error") or f"exit code {code} (see logs/{stage}.log)")
    else:
        entry["status"] = "ok"
    if "result" in saved:
        entry["result"] = saved["result"]
    return entry


def child(stage: str, args: argparse.Namespace) -> int:
    sizes = SMOKE if args.cpu_smoke else FULL
    saved: dict = {}
    try:
        with tempfile.TemporaryDirectory(prefix=f"gpu_check_{stage}_") as tmp:
            if stage == "golden":
                saved["result"] = stage_golden(args.device, sizes, SMOKE_TESTS if args.cpu_smoke else GOLDEN_TESTS, Path(tmp))
            elif stage == "index":
                saved["result"] = stage_index(args.device, sizes, Path(tmp), args.archive)
            else:
                saved["result"] = {"env": stage_env, "gestsync": stage_gestsync, "search": stage_search}[stage](args.device, sizes)
    except StageFailed as e:
        saved.update(error=str(e), result=e.result)
    except Exception as e:  # reported, and the next stage runs
        saved["error"] = f"{type(e).__name__}: {e}"
        raise
    finally:
        Path(args.result).write_text(json.dumps(saved, indent=1, default=str))
    return 1 if "error" in saved else 0


def summary(stages: dict) -> list[dict]:
    """The figures with targets: {"metric", "value", "target", "met"}."""
    rows = []

    def add(metric: str, value: float | None, target: float, higher_is_better: bool = True) -> None:
        met = None if value is None else (value >= target if higher_is_better else value <= target)
        rows.append({"metric": metric, "value": value, "target": target, "met": met})

    gestsync = stages.get("gestsync", {}).get("result", {})
    for precision in ("fp32", "bf16"):
        add(f"GestSync {gestsync.get('preset', '')} {precision}, frames/s", gestsync.get(precision, {}).get("frames_per_s"),
            TARGETS["gestsync_frames_per_s"])
    add("indexing, × real time", stages.get("index", {}).get("result", {}).get("x_real_time"), TARGETS["index_x_real_time"])
    search = stages.get("search", {}).get("result", {})
    for name in ("torch_float32", "torch_float16", "faiss_gpu_flat"):
        add(f"search p50 at {search.get('vectors', 0):,} ({name}), ms", search.get(name, {}).get("p50_ms"),
            TARGETS["search_p50_ms"], higher_is_better=False)
    return rows


def markdown(report: dict) -> str:
    env = report["stages"].get("env", {}).get("result", {})
    lines = [f"# gestsearch GPU check ({report['mode']}, device {report['device']})", "",
             f"{report['started']}; {env.get('gpu', 'no GPU')} (compute capability {env.get('capability', '-')}); "
             f"torch {env.get('torch', '?')} (CUDA {env.get('torch_cuda', '-')}), faiss {env.get('faiss', '?')} "
             f"(GPU: {env.get('faiss_gpu', '?')}); load average before: {report['load_before']}", "",
             f"Command: `{report['command']}`", "", "| metric | value | target (one H100) | met |", "|---|---|---|---|"]
    for row in report["summary"]:
        value = "-" if row["value"] is None else f"{row['value']:,.2f}"
        met = {True: "yes", False: "no", None: "-"}[row["met"]]
        lines.append(f"| {row['metric']} | {value} | {row['target']:,} | {met} |")
    lines += ["", "| stage | status | seconds | note |", "|---|---|---|---|"]
    for stage, entry in report["stages"].items():
        lines.append(f"| {stage} | {entry['status']} | {entry['seconds']} | {entry.get('error', '')} |")
    golden = report["stages"].get("golden", {}).get("result")
    if golden:
        lines += ["", f"Golden tests on {report['device']}: {golden['passed']} passed, {golden['failures'] + golden['errors']} failed, "
                      f"{golden['skipped']} skipped" + (f" ({', '.join(golden['failed_tests'])})" if golden["failed_tests"] else "")]
    lines += ["", "Details: gpu_check.json; each stage's output: logs/<stage>.log.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on the CPU: checks that the script works")
    parser.add_argument("--device", help="torch device (default: cuda; cpu with --cpu-smoke)")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    parser.add_argument("--out", type=Path, help="report folder (default: $OUT, else benchmarks/out/gpu_check)")
    parser.add_argument("--archive", type=Path, help="index this rendered archive instead of rendering the demo one here")
    parser.add_argument("--timeout-scale", type=float, default=1.0, help="multiply every stage's timeout")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # a child process runs one stage
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.device = args.device or ("cpu" if args.cpu_smoke else "cuda")
    if args.stage:
        return child(args.stage, args)

    out = args.out or Path(os.environ.get("OUT") or ROOT / "benchmarks" / "out" / "gpu_check")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    report: dict = {"mode": "cpu-smoke" if args.cpu_smoke else "full", "device": args.device,
                    "sizes": asdict(SMOKE if args.cpu_smoke else FULL), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                    "command": " ".join(["bash benchmarks/gpu_check.sh", *sys.argv[1:]]),
                    "load_before": [round(x, 2) for x in os.getloadavg()], "stages": {}}
    for stage in args.stages.split(","):
        if stage not in STAGES:
            parser.error(f"unknown stage {stage!r} (one of {', '.join(STAGES)})")
        print(f"[gpu_check] {stage} (timeout {TIMEOUT_S[stage] * args.timeout_scale:.0f} s)", flush=True)
        report["stages"][stage] = entry = run_stage(stage, args, out)
        print(f"[gpu_check] {stage}: {entry['status']} in {entry['seconds']} s {entry.get('error', '')}", flush=True)
    report["load_after"] = [round(x, 2) for x in os.getloadavg()]
    report["summary"] = summary(report["stages"])
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "gpu_check.md").write_text(markdown(report))
    print(markdown(report))
    print(f"[gpu_check] report: {out / 'gpu_check.md'}")
    return 0 if all(entry["status"] == "ok" for entry in report["stages"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
