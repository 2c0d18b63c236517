"""Old table versions are removed as soon as no reader can still need them, and a reader inside a
read when the writer optimizes finishes on the version it started with."""

from __future__ import annotations

import lancedb

from gestsearch.store import GestureStore
from gestsearch.testing.store import synthetic_video

FP = "fp"
PATHS = [f"/archive/v{i}.mp4" for i in range(4)]


def _versions(db) -> dict[str, int]:
    connection = lancedb.connect(db)
    return {name: len(connection.open_table(name).list_versions()) for name in ("videos", "clips")}


def _bytes(db) -> int:
    return sum(f.stat().st_size for f in db.rglob("*") if f.is_file())


def test_optimize_without_readers_keeps_only_the_latest_versions(tmp_path):
    db = tmp_path / "db"
    with GestureStore.open(db, fingerprint=FP, create=True) as store:
        for version in (0, 1):  # every video replaced once: its first clips are garbage
            for path in PATHS:
                store.add_video(*synthetic_video(path, FP, n_clips=5, version=version))
        before = _bytes(db)
        store.optimize()
        clips = store.clip_count()
    assert _versions(db) == {"videos": 1, "clips": 1}
    assert _bytes(db) < before
    with GestureStore.open(db, read_only=True) as reader:
        assert reader.clip_count() == clips == 5 * len(PATHS)
        assert len(list(reader.iter_clips())) == clips


def test_a_reader_inside_a_read_finishes_and_the_versions_go_at_the_next_optimize(tmp_path):
    db = tmp_path / "db"
    with GestureStore.open(db, fingerprint=FP, create=True) as store:
        for path in PATHS:
            store.add_video(*synthetic_video(path, FP, n_clips=5))
        store.optimize()
    old_ids = {c.clip_id for path in PATHS for c in synthetic_video(path, FP, n_clips=5)[1]}

    reader = GestureStore.open(db, read_only=True)
    reading = reader.iter_clips(batch=2)  # holds the read lock until it is exhausted
    first = next(reading)
    with GestureStore.open(db, fingerprint=FP) as store:
        for path in PATHS:  # replaced and compacted: the reader's version lives in old files only
            store.add_video(*synthetic_video(path, FP, n_clips=5, version=1))
        store.optimize()
        assert _versions(db)["clips"] > 1  # kept for the reader
        rest = list(reading)
        assert {c.clip_id for c in [first, *rest]} == old_ids  # the version it started with, whole
        store.optimize()
    assert _versions(db) == {"videos": 1, "clips": 1}
    new_ids = {c.clip_id for path in PATHS for c in synthetic_video(path, FP, n_clips=5, version=1)[1]}
    assert set(reader.all_clip_ids().tolist()) == new_ids  # its next read pins the new version
    reader.close()
