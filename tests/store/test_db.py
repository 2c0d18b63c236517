"""GestureStore: opening, fingerprints, the writer lock, replacing, failures, pruning, info."""

from __future__ import annotations

import dataclasses
import json
import os
import re

import numpy as np
import pytest

from gestsearch.errors import FingerprintMismatch, QueryError, StoreError
from gestsearch.store import AnnInfo, GestureStore
from gestsearch.testing.store import CLIP_STRIDE, synthetic_video

FP = "gestsync:abc+jegal:def"


def _ids(clips) -> list[int]:
    return sorted(c.clip_id for c in clips)


def test_missing_index_is_a_clear_error(tmp_path):
    for kwargs in ({}, {"read_only": True}):
        with pytest.raises(StoreError, match=r"no index at .*missing \(run `gestsearch index` first\)"):
            GestureStore.open(tmp_path / "missing", fingerprint=FP, **kwargs)
    assert not (tmp_path / "missing").exists()
    (tmp_path / "folder").mkdir()
    with pytest.raises(StoreError, match="no index at"):
        GestureStore.open(tmp_path / "folder")
    assert list((tmp_path / "folder").iterdir()) == []


def test_create_refuses_a_foreign_non_empty_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty and not a gestsearch index"):
        GestureStore.open(tmp_path, fingerprint=FP, create=True)


def test_unreadable_meta_is_a_store_error(tmp_path):
    GestureStore.open(tmp_path / "db", fingerprint=FP, create=True).close()
    (tmp_path / "db" / "gestsearch.json").write_text("{not json")
    with pytest.raises(StoreError, match="unreadable"):
        GestureStore.open(tmp_path / "db", read_only=True)


def test_fingerprint_is_recorded_and_enforced(tmp_path):
    with GestureStore.open(tmp_path / "db", fingerprint=FP, create=True) as store:
        assert store.fingerprint == FP
        video, clips = synthetic_video(tmp_path / "a.mp4", "other-models", n_clips=1)
        with pytest.raises(FingerprintMismatch, match="other-models"):
            store.add_video(video, clips)
    for kwargs in ({}, {"read_only": True}, {"create": True}):
        with pytest.raises(FingerprintMismatch, match=f"{re.escape(FP)}.*other-models"):
            GestureStore.open(tmp_path / "db", fingerprint="other-models", **kwargs)
    assert GestureStore.open(tmp_path / "db", read_only=True).fingerprint == FP  # no check without one


def test_one_writer_at_a_time_and_readers_never_lock(tmp_path):
    writer = GestureStore.open(tmp_path / "db", fingerprint=FP, create=True)
    with pytest.raises(StoreError, match=rf"being written by another process \(pid {os.getpid()}\)"):
        GestureStore.open(tmp_path / "db", fingerprint=FP)
    reader = GestureStore.open(tmp_path / "db", fingerprint=FP, read_only=True)
    video, clips = synthetic_video(tmp_path / "a.mp4", FP, n_clips=2)
    with pytest.raises(StoreError, match="read-only"):
        reader.add_video(video, clips)
    writer.add_video(video, clips)
    assert reader.clip_count() == 2
    writer.close()
    GestureStore.open(tmp_path / "db", fingerprint=FP).close()


def test_re_adding_a_changed_file_replaces_it_without_duplicates(tmp_path):
    path = tmp_path / "talk.mp4"
    with GestureStore.open(tmp_path / "db", fingerprint=FP, create=True) as store:
        other, other_clips = synthetic_video(tmp_path / "other.mp4", FP, n_clips=2)
        store.add_video(other, other_clips)
        old, old_clips = synthetic_video(path, FP, n_clips=4)
        store.add_video(old, old_clips)
        store.add_video(old, old_clips)  # same content again: still once
        assert store.clip_count() == 6
        new, new_clips = synthetic_video(path, FP, n_clips=3, version=1)
        store.add_video(new, new_clips)
        assert store.video_by_path(path).content_hash == new.content_hash
        assert len(store.videos()) == 2
        assert list(store.all_clip_ids()) == sorted(_ids(new_clips) + _ids(other_clips))
        assert store.clips_by_ids(_ids(old_clips)) == []
        assert store.info().clip_rows == 5  # replaced rows are deleted, not only hidden


def test_failure_replaces_an_indexed_version(tmp_path):
    path = tmp_path / "talk.mp4"
    with GestureStore.open(tmp_path / "db", fingerprint=FP, create=True) as store:
        video, clips = synthetic_video(path, FP, n_clips=3)
        store.add_video(video, clips)
        failed = dataclasses.replace(video, content_hash="f" * 64, status="failed", reason="moov atom not found")
        store.record_failure(failed)
        assert store.video_by_path(path) == failed
        assert store.clip_count() == 0
        info = store.info()
        assert (info.videos_indexed, info.videos_failed, info.clip_rows) == (0, 1, 0)
        with pytest.raises(ValueError, match="reason"):
            store.record_failure(dataclasses.replace(failed, reason=""))


def test_prune_removes_videos_and_their_clips(tmp_path):
    with GestureStore.open(tmp_path / "db", fingerprint=FP, create=True) as store:
        kept = []
        for i in range(4):
            video, clips = synthetic_video(tmp_path / f"v{i}.mp4", FP, n_clips=i + 1)
            store.add_video(video, clips)
            if i % 2:
                kept += clips
        assert store.remove_videos([tmp_path / "v0.mp4", str(tmp_path / "v2.mp4"), tmp_path / "never.mp4"]) == 2
        assert store.remove_videos([]) == 0
        assert [v.path for v in store.videos()] == [str(tmp_path / "v1.mp4"), str(tmp_path / "v3.mp4")]
        assert list(store.all_clip_ids()) == _ids(kept)
        assert store.info().clip_rows == len(kept)


def test_clip_reads_follow_the_requested_order(tmp_path):
    with GestureStore.open(tmp_path / "db", fingerprint=FP, create=True) as store:
        clips = []
        for i in range(3):
            video, video_clips = synthetic_video(tmp_path / f"v{i}.mp4", FP, n_clips=5)
            store.add_video(video, video_clips)
            clips += video_clips
        wanted = [clips[7].clip_id, 12345, clips[0].clip_id, clips[14].clip_id]
        assert [c.clip_id for c in store.clips_by_ids(wanted)] == [wanted[0], wanted[2], wanted[3]]
        assert store.clips_by_ids([]) == []
        assert sorted(c.clip_id for c in store.iter_clips(batch=4)) == _ids(clips)
        assert store.clip_count() == 15
        of_v1 = store.clips_of_video(tmp_path / "v1.mp4")
        assert [c.clip_id for c in of_v1] == [c.clip_id for c in sorted(clips[5:10], key=lambda c: c.start_frame)]
        assert store.clips_of_video(tmp_path / "never.mp4") == []


def test_info_reports_counts_ann_and_size(tmp_path):
    with GestureStore.open(tmp_path / "db", fingerprint=FP, create=True) as store:
        for i in range(3):
            store.add_video(*synthetic_video(tmp_path / f"v{i}.mp4", FP, n_clips=4, n_frames=75))
        before = store.info()
        assert before.ann["gesture"] == AnnInfo("none") and before.clips_with_content == 6  # counted in LanceDB
        store.optimize()
        info = store.info()  # from the fresh sidecar
        store.add_video(*synthetic_video(tmp_path / "v3.mp4", FP, n_clips=4, n_frames=75))
        assert store.info().ann["content"].fresh is False and store.info().clips_with_content == 8
    assert info.fingerprint == FP
    assert (info.videos_indexed, info.videos_failed) == (3, 0)
    # frames of video held, each once: 4 clips of 75 frames every CLIP_STRIDE frames per video
    assert (info.clips, info.clips_with_content, info.frames) == (12, 6, 3 * (3 * CLIP_STRIDE + 75))
    assert info.ann["content"].count == 6 and info.ann["content"].type == "flat"
    assert info.ann["gesture"].fresh is True  # optimize() brings the sidecar up to date
    assert info.bytes_on_disk > 12 * 75 * 512  # int8 frames
    assert info.video_seconds == pytest.approx(3 * (3 * CLIP_STRIDE + 75) / 25)
    assert info.to_dict()["bytes_per_video_second"] == pytest.approx(info.bytes_on_disk / info.video_seconds, abs=0.1)
    assert info.lancedb_version


def test_info_as_a_dict_keeps_the_json_layout(tmp_path):
    """``gestsearch info --json`` prints ``to_dict()``: its keys and values are a stable interface."""
    with GestureStore.open(tmp_path / "db", fingerprint=FP, create=True) as store:
        store.add_video(*synthetic_video(tmp_path / "v.mp4", FP, n_clips=4, n_frames=10))
        store.record_failure(
            dataclasses.replace(synthetic_video(tmp_path / "bad.mp4", FP, n_clips=0)[0], status="failed", reason="broken")
        )
        store.refresh_ann()
        info = store.info()
    data = info.to_dict()
    assert list(data) == [
        "path", "fingerprint", "created_at", "videos_indexed", "videos_failed", "clips", "clip_rows",
        "clips_with_content", "frames", "ann", "bytes_on_disk", "lancedb_version", "table_versions", "video_seconds",
        "bytes_per_video_second",
    ]  # fmt: skip
    assert data["path"] == str(tmp_path / "db") and data["fingerprint"] == FP
    assert (data["videos_indexed"], data["videos_failed"], data["clips"], data["clip_rows"]) == (1, 1, 4, 4)
    assert (data["clips_with_content"], data["frames"]) == (2, 40)
    assert data["ann"] == {
        "gesture": {"type": "flat", "count": 4, "fresh": True},
        "content": {"type": "flat", "count": 2, "fresh": True},
    }
    assert data["table_versions"] == {"videos": info.table_versions.videos, "clips": info.table_versions.clips}
    assert json.loads(json.dumps(data)) == data


def test_search_pooled_validates_queries(tmp_path):
    with GestureStore.open(tmp_path / "db", fingerprint=FP, create=True) as store:
        store.add_video(*synthetic_video(tmp_path / "v.mp4", FP, n_clips=2))
        with pytest.raises(QueryError, match="shape"):
            store.search_pooled(np.ones(100, np.float32), 5)
        with pytest.raises(QueryError, match="non-zero"):
            store.search_pooled(np.zeros(512, np.float32), 5)
        with pytest.raises(QueryError, match="k must"):
            store.search_pooled(np.ones(512, np.float32), 0)
        with pytest.raises(ValueError, match="column must be one of gesture, content, got 'frames'"):
            store.search_pooled(np.ones(512, np.float32), 5, column="frames")
        with pytest.raises(ValueError, match="backend must be one of"):
            store.search_pooled(np.ones(512, np.float32), 5, backend="annoy")


def test_the_store_caps_lancedb_metadata_cache(tmp_path, monkeypatch):
    """Every table version's manifest stays in LanceDB's metadata cache (1 GiB by default): an
    indexer committing one version per video grew with it (benchmarks/bench_commit_memory.py)."""
    import lancedb

    from gestsearch.store.db import METADATA_CACHE_BYTES

    sessions = []
    real = lancedb.Session

    def session(**sizes):
        sessions.append(sizes)
        return real(**sizes)

    monkeypatch.setattr(lancedb, "Session", session)
    with GestureStore.open(tmp_path / "db", fingerprint="fp", create=True) as store:
        store.add_video(*synthetic_video(tmp_path / "v.mp4", "fp", n_clips=2))
        assert store.clip_count() == 2
    assert sessions == [{"metadata_cache_size_bytes": METADATA_CACHE_BYTES}] and METADATA_CACHE_BYTES <= 64 << 20
