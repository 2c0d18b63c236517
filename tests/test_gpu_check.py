"""benchmarks/gpu_check.sh stays runnable: its --cpu-smoke mode runs every stage at tiny sizes on
the CPU, and a failing stage is reported without stopping the others."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def gpu_check(out: Path, *args: str) -> tuple[int, dict]:
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--cpu-smoke", "--out", str(out), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    return done.returncode, json.loads((out / "gpu_check.json").read_text())


@pytest.mark.slow
def test_cpu_smoke_runs_every_stage_and_reports(tmp_path):
    code, report = gpu_check(tmp_path, "--timeout-scale", "3")  # a busy shared machine
    assert {stage: entry["status"] for stage, entry in report["stages"].items()} == dict.fromkeys(
        ("env", "golden", "gestsync", "index", "search"), "ok")
    assert code == 0
    values = {row["metric"]: row["value"] for row in report["summary"]}
    assert values["GestSync tiny fp32, frames/s"] > 0 and values["indexing, × real time"] > 0
    assert values["search p50 at 5,000 (torch_float32), ms"] > 0
    search = report["stages"]["search"]["result"]
    assert search["torch_float16"]["recall_at_10_vs_float32"] >= 0.9
    assert report["stages"]["golden"]["result"]["passed"] == 1
    assert report["stages"]["index"]["result"]["videos_indexed"] == 1
    markdown = (tmp_path / "gpu_check.md").read_text()
    assert "| indexing, × real time |" in markdown and (tmp_path / "logs" / "index.log").exists()


@pytest.mark.slow
def test_a_failing_stage_is_reported_and_the_next_one_runs(tmp_path):
    code, report = gpu_check(tmp_path, "--device", "cuda:7", "--stages", "env,gestsync")
    assert code == 1
    assert [entry["status"] for entry in report["stages"].values()] == ["failed", "failed"]
    assert "cuda" in report["stages"]["env"]["error"].lower()
    assert (tmp_path / "gpu_check.md").read_text().count("| failed |") == 2


def _bundle(folder: Path, members: dict[str, str]) -> None:
    """A gpu_bundle.sh-style bundle: a tar.xz of ``members`` split into two parts."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for name, text in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    data = buffer.getvalue()
    folder.mkdir()
    (folder / "gestsearch-site.tar.xz.part-aa").write_bytes(data[: len(data) // 2])
    (folder / "gestsearch-site.tar.xz.part-ab").write_bytes(data[len(data) // 2 :])


def test_a_bundle_is_unpacked_onto_the_python_path(tmp_path):
    """A CUDA image with no package registry gets the missing packages as gpu_bundle.sh parts."""
    _bundle(tmp_path / "bundle", {"gestsearch_bundle_probe/__init__.py": "VALUE = 7\n"})
    env = {**os.environ, "GESTSEARCH_BUNDLE": str(tmp_path / "bundle"), "TMPDIR": str(tmp_path)}
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--cpu-smoke", "--stages", "env", "--out", str(tmp_path / "out")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "gestsearch-site" / "gestsearch_bundle_probe" / "__init__.py").read_text() == "VALUE = 7\n"
    report = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert str(tmp_path / "gestsearch-site") in report["stages"]["env"]["result"]["pythonpath"].split(":")


def test_a_broken_bundle_stops_with_one_line(tmp_path):
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "gestsearch-site.tar.xz.part-aa").write_bytes(b"not xz")
    env = {**os.environ, "GESTSEARCH_BUNDLE": str(tmp_path / "bundle"), "TMPDIR": str(tmp_path)}
    done = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--cpu-smoke", "--stages", "env", "--out", str(tmp_path / "out")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("gpu_check: could not unpack the bundle") and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_an_archive_rendered_elsewhere_is_indexed_as_it_is(tmp_path):
    """--archive: for GPU machines without espeak-ng, the archive is rendered beforehand."""
    from gestsearch.synth import generate_corpus

    generate_corpus(tmp_path / "archive", 1, 424242)
    code, report = gpu_check(tmp_path / "out", "--stages", "index", "--archive", str(tmp_path / "archive"))
    result = report["stages"]["index"]["result"]
    assert code == 0 and result["render_s"] is None and result["videos_indexed"] == 1
    assert result["archive"] == str(tmp_path / "archive")
