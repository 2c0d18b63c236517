"""The one atomic-write helper: old or new file, never half of one; durable writes reach the disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gestsearch import atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = atomic.write_text(tmp_path / "a.json", "old")
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_durable_write_syncs_the_file_then_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name the synced descriptors")
    synced: list[tuple[str, bool]] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        synced.append((path.name, path.is_dir()))
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", recording_fsync)
    atomic.write_json(tmp_path / "sub" / "meta.json", {"a": 1}, durable=True)
    assert len(synced) == 2
    assert atomic.is_temporary(Path(synced[0][0])) and not synced[0][1]  # the new file, before the rename
    assert synced[1] == ("sub", True)  # its folder, after it
    synced.clear()
    atomic.write_json(tmp_path / "plain.json", {"a": 1})
    assert synced == []
