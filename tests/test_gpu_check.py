"""benchmarks/gpu_check.sh stays runnable: its --cpu-smoke mode runs every stage at tiny sizes on
the CPU, and a failing stage is reported without stopping the others."""

from __future__ import annotations

import json
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
