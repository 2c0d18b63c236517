"""`gestsearch index` end to end: real media, seeded official-format checkpoints, LanceDB + FAISS."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gestsearch.store import GestureStore
from indexer.pipeline import index_folder

pytestmark = pytest.mark.slow  # models, real media or a whole pipeline: see `make test-fast`


def test_index_jegal_samples(sample_index, embedder):
    folder, _, db, summary, _ = sample_index
    assert sorted(Path(p).name for p in summary.indexed) == ["sample1.avi", "sample2.avi"]
    assert summary.failed == []
    with GestureStore.open(db, read_only=True) as store:
        videos = {Path(v.path).name: v for v in store.videos() if v.path.startswith(str(folder))}
        assert {v.n_tracks for v in videos.values()} == {1}
        clips = [c for c in store.iter_clips() if c.path.startswith(str(folder))]
        assert store.fingerprint == embedder.info.fingerprint
    by_video = {}
    for c in clips:
        by_video.setdefault(Path(c.path).name, []).append(c)
    # sample1: 8 words in 2.24 s → one phrase clip
    (c1,) = by_video["sample1.avi"]
    assert [w for w, _, _ in c1.words] == ["amount", "of", "numbers", "inside", "the", "hat", "mixing", "the"]
    assert c1.text.startswith("amount of numbers inside the hat,")
    assert c1.content is not None and c1.frames.shape == (c1.end_frame - c1.start_frame + 1, 512)
    np.testing.assert_allclose(np.linalg.norm(c1.gesture), 1, atol=1e-3)
    assert summary.clips == len(clips) == sum(len(v) for v in by_video.values())


def test_clip_frames_equal_whole_track_embedding(sample_index, embedder):
    """Stored frame vectors are the track's gesture embeddings (float16), sliced by the clip."""
    from gestsearch.media import speaker_tracks
    from gestsearch.media.masking import iter_track_frames

    folder, _, db, _, _ = sample_index
    video = folder / "sample1.avi"
    track = speaker_tracks(video)[0]
    whole = embedder.gestures(iter_track_frames(video, track))
    with GestureStore.open(db, read_only=True) as store:
        (clip,) = [c for c in store.iter_clips() if c.path == str(video)]
    np.testing.assert_allclose(clip.frames.astype(np.float32), whole[clip.start_frame : clip.end_frame + 1], atol=2e-3)


def test_rerun_is_incremental_and_prune(sample_index, embedder, tmp_path):
    folder = sample_index[0]
    work = tmp_path / "media"
    shutil.copytree(folder, work)
    db2 = tmp_path / "db"
    first = index_folder(work, embedder, db2)
    again = index_folder(work, embedder, db2)
    assert again.indexed == [] and sorted(again.skipped) == sorted(first.indexed) and again.clips == 0
    # a changed file is embedded again, replacing its clips (no duplicates)
    data = (work / "sample2.avi").read_bytes()
    (work / "sample2.avi").write_bytes(data + b"\0" * 16)
    changed = index_folder(work, embedder, db2)
    assert [Path(p).name for p in changed.indexed] == ["sample2.avi"]
    with GestureStore.open(db2, read_only=True) as store:
        ids = store.all_clip_ids()
        assert len(ids) == len(set(ids.tolist())) == first.clips
    # a deleted file's clips go only with --prune
    (work / "sample1.avi").unlink()
    kept = index_folder(work, embedder, db2)
    assert kept.removed == []
    pruned = index_folder(work, embedder, db2, prune=True)
    assert [Path(p).name for p in pruned.removed] == ["sample1.avi"]
    with GestureStore.open(db2, read_only=True) as store:
        assert {Path(v.path).name for v in store.videos()} == {"sample2.avi"}


def test_index_raw_multispeaker_videos(sample_index):
    _, folder, db, _, summary = sample_index
    assert summary.failed == [] and len(summary.indexed) == 4
    with GestureStore.open(db, read_only=True) as store:
        tracks = {Path(v.path).name: v.n_tracks for v in store.videos() if v.path.startswith(str(folder))}
        clips = [c for c in store.iter_clips() if c.path.startswith(str(folder))]
    # asd_sample_1: two people side by side; asd_sample_2: a shot change splits it in two tracks
    assert tracks == {"asd_sample_1.mp4": 2, "asd_sample_2.mp4": 2, "sync_sample_1.mp4": 1, "sync_sample_3.mp4": 1}
    per_video = {name: sum(Path(c.path).name == name for c in clips) for name in tracks}
    # no transcript: 4 s windows every 2 s per track (272 frames → 5, 52 + 120 → 1 + 2, 222 → 4, 125 → 2)
    assert per_video == {"asd_sample_1.mp4": 10, "asd_sample_2.mp4": 3, "sync_sample_1.mp4": 4, "sync_sample_3.mp4": 2}
    assert {c.track for c in clips if c.path.endswith("asd_sample_1.mp4")} == {0, 1}
    assert all(c.content is None for c in clips)  # gesture-only clips
    assert summary.notes == []  # the hands-visible share was wrong on real crops: no note rather than a false one


def test_failures_are_recorded_not_fatal(embedder, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "broken.mp4").write_bytes(b"not a video at all")
    summary = index_folder(folder, embedder, tmp_path / "db")
    assert summary.indexed == [] and len(summary.failed) == 1
    assert summary.failed[0]["path"].endswith("broken.mp4") and summary.failed[0]["reason"]
    with GestureStore.open(tmp_path / "db", read_only=True) as store:
        (video,) = store.videos()
        assert video.status == "failed"


def _cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli.main", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[2], **kw)


@pytest.fixture
def many_videos(shared_data, tmp_path) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    src = shared_data / "jegal_samples"
    for i in range(6):
        for ext in (".avi", ".wav", ".txt"):
            data = (src / f"sample1{ext}").read_bytes()
            # distinct content per copy (else identical hashes would still be distinct paths; fine either way)
            (folder / f"v{i}{ext}").write_bytes(data + (b"\0" * i if ext == ".avi" else b""))
    return folder


def test_sigkill_mid_run_leaves_a_consistent_index(many_videos, seeded_checkpoints, tmp_path):
    db = tmp_path / "db"
    args = ["index", str(many_videos), "--db", str(db), "--gestsync", str(seeded_checkpoints["gestsync"]),
            "--jegal", str(seeded_checkpoints["jegal"]), "--text-model", str(seeded_checkpoints["text"]), "--json"]
    proc = _cli(*args)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        try:
            with GestureStore.open(db, read_only=True) as store:  # readers work while the run writes
                if sum(v.status == "indexed" for v in store.videos()) >= 2:
                    break
        except Exception:
            pass
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with GestureStore.open(db, read_only=True) as store:
        videos = {v.video_id: v for v in store.videos()}
        clips = list(store.iter_clips())
        assert 0 < len(videos) <= 6
        assert all(c.video_id in videos for c in clips)  # no clip of a half-written video
        assert {c.video_id for c in clips} == {v for v, rec in videos.items() if rec.status == "indexed"}
    done = _cli(*args)
    out, err = done.communicate(timeout=600)
    assert done.returncode == 0, err
    with GestureStore.open(db, read_only=True) as store:
        assert len(store.videos()) == 6
        ids = store.all_clip_ids().tolist()
        assert len(ids) == len(set(ids)) == 6  # one phrase clip per copy, no duplicates
