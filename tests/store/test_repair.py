"""`repair_index` / `gestsearch repair`: damaged indexes (deleted or garbled files) become readable
again, report what was lost, and get the lost videos back from a re-index; a sound index is untouched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import lancedb
import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from gestsearch.errors import IndexDamaged, StoreError
from gestsearch.store import GestureStore, repair_index
from gestsearch.store.lock import ReadLocks
from gestsearch.store.repair import LOST_REASON
from gestsearch.testing.store import synthetic_video

FP = "fp"
KEPT = ("/talks/a.mp4", "/talks/b.mp4")  # 3 clips each, committed before the damaged files
LATE = ("/talks/c.mp4", "/talks/d.mp4")  # 2 clips each, only in the damaged files

runner = CliRunner()


def _video(path: str, version: int = 0):
    return synthetic_video(path, FP, n_clips=3 if path in KEPT else 2, n_frames=8, version=version)


def _data_files(d: Path, table: str) -> set[Path]:
    return set((d / f"{table}.lance" / "data").iterdir())


def _index_with_late_files(d: Path, late_writes) -> dict[str, set[Path]]:
    """An index of KEPT (optimized), then ``late_writes(store)`` and optimize again; returns the
    data files each table had before the late writes."""
    with GestureStore.open(d, fingerprint=FP, create=True) as store:
        for path in KEPT:
            store.add_video(*_video(path))
        store.optimize()
        before = {table: _data_files(d, table) for table in ("videos", "clips")}
        late_writes(store)
        _optimize_while_a_reader_reads(store, d)
    return before


def _optimize_while_a_reader_reads(store: GestureStore, d: Path) -> None:
    """``optimize`` keeping the versions of the last hour, as it does while a reader is inside a
    read: the history that repair restores from (with no reader, old versions go at once)."""
    with ReadLocks(d).hold():
        store.optimize()


def _add_late(store: GestureStore) -> None:
    for path in LATE:
        store.add_video(*_video(path))


def _delete_new_files(d: Path, table: str, before: dict[str, set[Path]]) -> None:
    """Delete every data file written after ``before``: all those the newest version reads."""
    new = _data_files(d, table) - before[table]
    assert new
    for f in new:
        f.unlink()


def _damaged_clips_index(d: Path) -> None:
    before = _index_with_late_files(d, _add_late)
    _delete_new_files(d, "clips", before)


def _snapshot_files(d: Path) -> dict[str, tuple[int, int]]:
    """Every file of the index but the lock (whose pid line each writer rewrites), with size and mtime."""
    return {
        str(f.relative_to(d)): (f.stat().st_size, f.stat().st_mtime_ns)
        for f in d.rglob("*")
        if f.is_file() and f.name != "write.lock"
    }


def _assert_usable(d: Path, clips: int) -> None:
    with GestureStore.open(d, read_only=True) as store:
        assert store.info().clips == clips
        visible = store.all_clip_ids()
        ids, scores = store.search_pooled(np.ones(512, np.float32), k=3)
        assert set(ids[0][ids[0] >= 0].tolist()) <= set(visible.tolist()) and np.isfinite(scores[0][0])
        assert [c.clip_id for c in store.clips_by_ids(visible[:2])] == visible[:2].tolist()


def test_deleted_clip_files_restore_the_newest_readable_version_and_name_the_lost_videos(tmp_path):
    d = tmp_path / "db"
    _damaged_clips_index(d)
    with pytest.raises(IndexDamaged, match=r"is damaged: Not found: .*clips\.lance/data/.*gestsearch repair --db"):
        GestureStore.open(d, read_only=True).info()

    report = repair_index(d)

    assert report.repaired
    clips, videos = report.tables["clips"], report.tables["videos"]
    assert videos.state == "ok" and not videos.error
    assert clips.state == "restored" and clips.restored_version < clips.latest_version
    assert clips.error.startswith("Not found: clips.lance/data/")
    assert report.lost_videos == list(LATE)
    assert (report.clips_before, report.clips_after) == (10, 6)
    assert (report.videos_before, report.videos_after) == (4, 4)
    assert report.ann_rebuilt
    data = report.to_dict()
    assert data["repaired"] and data["tables"]["clips"]["state"] == "restored"
    json.dumps(data)  # what --json prints

    _assert_usable(d, clips=6)
    with GestureStore.open(d, read_only=True) as store:
        info = store.info()
        assert (info.videos_indexed, info.videos_failed) == (2, 2)
        assert all(a.fresh for a in info.ann.values())  # the sidecar was rebuilt and saved
        # what the indexer skips: rows "indexed" (with an unchanged hash); exactly the lost ones are not
        rows = {v.path: v for v in store.videos()}
        assert {p for p, v in rows.items() if v.status == "indexed"} == set(KEPT)
        assert all(rows[p].status == "failed" and rows[p].reason == LOST_REASON for p in LATE)

    # a writer opens it, and re-adding the lost videos (as `gestsearch index` does) restores the counts
    with GestureStore.open(d, fingerprint=FP) as store:
        for path in LATE:
            store.add_video(*_video(path))
        store.optimize()
    _assert_usable(d, clips=10)
    with GestureStore.open(d, read_only=True) as store:
        assert store.info().videos_indexed == 4
    assert not repair_index(d).repaired


def test_a_sound_index_has_nothing_to_repair_and_is_left_untouched(tmp_path):
    d = tmp_path / "db"
    _index_with_late_files(d, _add_late)
    files = _snapshot_files(d)
    with GestureStore.open(d, read_only=True) as store:
        versions = store.info().table_versions

    report = repair_index(d)

    assert not report.repaired
    assert report.lost_videos == [] and not report.ann_rebuilt and not report.ann_error
    assert all(t.state == "ok" and not t.error and not t.dropped_indexes for t in report.tables.values())
    assert report.clips_before == report.clips_after == 10
    assert report.videos_before == report.videos_after == 4
    assert _snapshot_files(d) == files
    with GestureStore.open(d, read_only=True) as store:
        assert store.info().table_versions == versions


def test_deleted_video_files_lose_the_videos_committed_later(tmp_path):
    d = tmp_path / "db"

    def late(store: GestureStore) -> None:
        _add_late(store)
        store.add_video(*_video(KEPT[0], version=1))  # a changed file: its old clips are deleted

    before = _index_with_late_files(d, late)
    _delete_new_files(d, "videos", before)
    with pytest.raises(IndexDamaged):
        GestureStore.open(d, read_only=True).videos()

    report = repair_index(d)

    assert report.tables["videos"].state == "restored" and report.tables["clips"].state == "ok"
    # the restored row of KEPT[0] names clips deleted since; LATE's rows are gone, their clips too
    assert report.lost_videos == sorted([KEPT[0], *LATE])
    assert report.clips_after == 3
    _assert_usable(d, clips=3)
    with GestureStore.open(d, fingerprint=FP) as store:
        assert store.info().clip_rows == 3  # clips no row commits any more were deleted
        store.add_video(*_video(KEPT[0], version=1))
        for path in LATE:
            store.add_video(*_video(path))
    _assert_usable(d, clips=10)


def test_a_video_without_clips_committed_before_the_restored_version_is_not_lost(tmp_path):
    d = tmp_path / "db"
    with GestureStore.open(d, fingerprint=FP, create=True) as store:
        store.add_video(*synthetic_video("/talks/silent.mp4", FP, n_clips=0))  # no clips, yet indexed
        for path in KEPT:
            store.add_video(*_video(path))
        store.optimize()
        before = {"clips": _data_files(d, "clips")}
        _add_late(store)
        _optimize_while_a_reader_reads(store, d)
    _delete_new_files(d, "clips", before)

    report = repair_index(d)

    assert report.lost_videos == list(LATE)
    with GestureStore.open(d, read_only=True) as store:
        assert store.video_by_path("/talks/silent.mp4").status == "indexed"


def test_garbled_data_files_are_damage_too(tmp_path):
    d = tmp_path / "db"
    before = _index_with_late_files(d, _add_late)
    for f in _data_files(d, "clips") - before["clips"]:
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])  # truncated

    report = repair_index(d)

    assert report.tables["clips"].state == "restored"
    assert report.lost_videos == list(LATE)
    _assert_usable(d, clips=6)


def test_a_table_without_a_readable_version_is_made_again_empty(tmp_path):
    d = tmp_path / "db"
    _index_with_late_files(d, _add_late)
    shutil.rmtree(d / "clips.lance" / "_versions")
    with pytest.raises(StoreError, match="unreadable"):
        GestureStore.open(d, read_only=True)

    report = repair_index(d)

    assert report.tables["clips"].state == "recreated" and report.tables["clips"].error
    assert report.lost_videos == sorted([*KEPT, *LATE])
    assert (report.clips_before, report.clips_after) == (None, 0)
    with GestureStore.open(d, fingerprint=FP) as store:
        for path in (*KEPT, *LATE):
            store.add_video(*_video(path))
        store.optimize()
    _assert_usable(d, clips=10)


def test_a_damaged_lance_index_is_dropped_and_built_again(tmp_path):
    d = tmp_path / "db"
    _index_with_late_files(d, _add_late)
    for f in (d / "clips.lance" / "_indices").rglob("*"):
        if f.is_file():
            f.unlink()
    with GestureStore.open(d, read_only=True) as store, pytest.raises(IndexDamaged):
        store.clips_of_video(KEPT[0])

    report = repair_index(d)

    assert report.tables["clips"].state == "ok" and report.tables["clips"].dropped_indexes == ["video_id_idx"]
    assert report.lost_videos == [] and report.clips_after == 10
    _assert_usable(d, clips=10)
    clips = lancedb.connect(d).open_table("clips")
    assert [index.name for index in clips.list_indices()] == ["video_id_idx"]


def test_an_unreadable_faiss_sidecar_is_rebuilt(tmp_path):
    d = tmp_path / "db"
    _index_with_late_files(d, _add_late)
    for f in (d / "ann").glob("*.faiss"):
        f.write_bytes(b"not faiss")

    report = repair_index(d)

    assert report.repaired and report.ann_rebuilt and "unreadable" in report.ann_error
    assert all(t.state == "ok" for t in report.tables.values()) and report.lost_videos == []
    _assert_usable(d, clips=10)
    with GestureStore.open(d, read_only=True) as store:
        assert all(a.fresh for a in store.info().ann.values())


def test_repair_refuses_a_folder_that_is_no_index_and_an_index_being_written(tmp_path):
    (tmp_path / "folder").mkdir()
    for path in (tmp_path / "folder", tmp_path / "missing"):
        with pytest.raises(StoreError, match="no index at .*nothing to repair"):
            repair_index(path)
    assert list((tmp_path / "folder").iterdir()) == []  # not even a lock file
    with GestureStore.open(tmp_path / "db", fingerprint=FP, create=True), pytest.raises(StoreError, match="being written"):
        repair_index(tmp_path / "db")


def test_cli_repairs_a_damaged_index_and_info_works_afterwards(tmp_path):
    d = tmp_path / "db"
    _damaged_clips_index(d)
    assert runner.invoke(app, ["info", "--db", str(d)]).exit_code == 2

    result = runner.invoke(app, ["repair", "--db", str(d)])

    assert result.exit_code == 0, result.output
    assert "repaired" in result.output and "restored version" in result.output
    assert "2 videos lost their clips" in result.output and all(p in result.output for p in LATE)
    assert f"gestsearch index FOLDER --db {d}" in result.output
    info = runner.invoke(app, ["info", "--db", str(d), "--json"])
    assert info.exit_code == 0, info.output
    assert json.loads(info.stdout)["clips"] == 6

    again = runner.invoke(app, ["repair", "--db", str(d), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["repaired"] is False
    assert "nothing to repair" in runner.invoke(app, ["repair", "--db", str(d)]).output


def test_cli_json_report(tmp_path):
    d = tmp_path / "db"
    _damaged_clips_index(d)

    result = runner.invoke(app, ["repair", "--db", str(d), "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["repaired"] and data["lost_videos"] == list(LATE)
    assert data["tables"]["clips"]["state"] == "restored" and (data["clips_before"], data["clips_after"]) == (10, 6)


def test_cli_on_a_folder_that_is_no_index_is_one_line(tmp_path):
    (tmp_path / "folder").mkdir()

    result = runner.invoke(app, ["repair", "--db", str(tmp_path / "folder")])

    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no index at")
    assert "Traceback" not in result.output
