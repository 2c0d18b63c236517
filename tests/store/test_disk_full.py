"""A disk that fills up during `gestsearch index`: one `error:` line naming the index and the full
disk, exit code 2, no traceback, and the index keeps what was committed before.

The first test fills a real (small) tmpfs, which needs root to mount: it is skipped where mounting
fails. The second injects the error LanceDB raises for a full disk, and runs everywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gestsearch.store import GestureStore
from gestsearch.testing.media import pattern_frames, tone, write_video

pytestmark = pytest.mark.slow  # embeds a few videos with the bundled model

ROOT = Path(__file__).resolve().parents[2]
N_VIDEOS = 10
# 10 videos of 3 s need ~600 KiB (LanceDB 0.40): 400 KiB fill up after about half of them.
TMPFS_SIZE = "400k"
FULL = re.compile(r"no space left|disk is full", re.IGNORECASE)
ENOSPC = "lance error: LanceError(IO): No space left on device (os error 28), /root/.cargo/registry/src/lance-file/src/writer.rs:258:9"


def make_videos(folder: Path, n: int) -> Path:
    """``n`` distinct paths of one 3 s talk video, each with a WhisperX sidecar (one clip each)."""
    folder.mkdir(parents=True)
    template = write_video(folder / "v00.mp4", pattern_frames(75, 64, 64), audio=tone(3.0))
    for i in range(n):
        path = folder / f"v{i:02d}.mp4"
        if i:
            shutil.copyfile(template, path)
        path.with_suffix(".txt").write_text(
            "Text: take a walk\nLang: en\n\nWORD, START, END, SCORE\ntake, 0.2, 0.6, 0.9\na, 0.7, 0.8, 0.9\nwalk, 0.9, 1.4, 0.9\n"
        )
    return folder


def assert_one_error_line(code: int, stdout: str, stderr: str, db: Path) -> None:
    """Exit 2 and one ``error:`` line naming the index and the full disk, last on stderr. The disk
    fills mid-run, so the model note and the progress bars shown until then may stand above it."""
    shown = f"exit {code}\n--- stdout ---\n{stdout[-3000:]}\n--- stderr ---\n{stderr[-3000:]}"
    assert "Traceback" not in stdout and "Traceback" not in stderr, shown
    assert code == 2, shown
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], f"stderr does not end with one 'error: ' line\n{shown}"
    assert str(db) in errors[0] and FULL.search(errors[0]), f"the error does not name the index and the full disk\n{shown}"
    assert not re.search(r"lance error|RuntimeError|os error 28", stderr.replace(errors[0], "")), f"raw errors on stderr\n{shown}"


def committed(db: Path) -> dict:
    """The index opened read-only: its counts, checked against the rows readers see."""
    with GestureStore.open(db, read_only=True) as store:
        info = store.info().to_dict()
        indexed = {v.video_id for v in store.videos() if v.status == "indexed"}
        clip_videos = [c.video_id for c in store.iter_clips()]
    assert info["videos_indexed"] == len(indexed) and info["clips"] == len(clip_videos)
    assert set(clip_videos) == indexed, "clips of a half-written video, or an indexed video without its clip"
    assert len(clip_videos) == len(indexed), "one clip per video"
    return info


@pytest.fixture
def tmpfs(tmp_path: Path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_index_fills_a_real_disk(tmp_path: Path, tmpfs: Path) -> None:
    media = make_videos(tmp_path / "media", N_VIDEOS)
    db = tmpfs / "index"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GESTSEARCH_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = subprocess.run([sys.executable, "-m", "cli.main", "index", str(media), "--db", str(db)],
                          cwd=ROOT, env=env, capture_output=True, text=True, errors="replace", timeout=600)
    assert_one_error_line(proc.returncode, proc.stdout, proc.stderr, db)
    info = committed(db)  # still on the full disk
    assert 1 <= info["videos_indexed"] < N_VIDEOS, f"the disk did not fill during the run ({TMPFS_SIZE} to recalibrate?)"


def test_index_disk_full_injected(tmp_path: Path, monkeypatch) -> None:
    """The third video's clips hit a full disk: two videos stay committed."""
    from lancedb.table import LanceTable
    from typer.testing import CliRunner

    from cli.main import app

    media = make_videos(tmp_path / "media", 4)
    db = tmp_path / "index"
    original, calls = LanceTable.add, []

    def add(self, *args, **kwargs):
        calls.append(self.name)
        if len(calls) == 3:
            raise RuntimeError(ENOSPC)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LanceTable, "add", add)
    for name in [n for n in os.environ if n.startswith("GESTSEARCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    result = CliRunner().invoke(app, ["index", str(media), "--db", str(db)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, db)
    monkeypatch.setattr(LanceTable, "add", original)
    info = committed(db)
    assert (info["videos_indexed"], info["clips"]) == (2, 2)
