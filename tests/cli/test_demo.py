"""`gestsearch demo` end to end and its HTML report in a real headless browser (Debian chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from cli.demo import run_demo
from gestsearch.synth.speech import espeak_available

pytestmark = pytest.mark.slow  # models, real media or a whole pipeline: see `make test-fast`

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def demo_run(embedder, tmp_path_factory):
    if not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    out = tmp_path_factory.mktemp("demo")
    return run_demo(out, embedder, n_clips=4, k=3, say=lambda _: None)


def test_demo_runs_queries_and_checks_hits(demo_run):
    assert demo_run.report.is_file()
    assert [r.mode for r in demo_run.results][-1] == "audio"
    assert len(demo_run.results) >= 2 and all(r.hits for r in demo_run.results)
    assert len(demo_run.checks) == len(demo_run.results)
    for check in demo_run.checks:
        assert check.detail  # each top hit is checked against the rendered gestures


def _dump_dom(page: Path, tmp_path: Path) -> str:
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom", page.resolve().as_uri()]
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_in_headless_chromium(demo_run, tmp_path):
    dom = _dump_dom(demo_run.report, tmp_path)
    assert "<h1>gestsearch demo" in dom
    hits = re.findall(r'<div class="hit" data-rank="(\d+)"', dom)
    assert len(hits) == sum(len(r.hits) for r in demo_run.results)
    sources = re.findall(r'<video[^>]* src="([^"]+)"', dom)
    assert len(sources) == len(hits)
    base = demo_run.report.parent
    for src in sources:
        path, _, fragment = src.partition("#")
        assert (base / urllib.parse.unquote(path)).is_file(), src
        assert fragment.startswith("t=")  # the player starts at the gesture span
    for image in re.findall(r'<img src="([^"]+)"', dom):
        assert (base / urllib.parse.unquote(image)).is_file()
