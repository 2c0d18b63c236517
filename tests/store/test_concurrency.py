"""Crash safety (SIGKILL at random moments) and reading while another process writes.

Run as a script, this file is the writer: ``python test_store_concurrency.py DB N VERSION REFRESH_EVERY``
adds videos 0..N-1 (content ``VERSION``), refreshing the FAISS sidecar every REFRESH_EVERY videos.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gestsearch.store import AnnInfo, GestureStore, VideoRecord
from gestsearch.testing.store import synthetic_video

pytestmark = pytest.mark.slow  # models, real media or a whole pipeline: see `make test-fast`

FP = "fp"
N_FRAMES = 6
REPO = Path(__file__).resolve().parents[2]


def _video(i: int, version: int):
    return synthetic_video(f"/archive/v{i:03d}.mp4", FP, n_clips=1 + i % 5, n_frames=N_FRAMES, version=version)


def _write(db: str, n_videos: int, version: int, refresh_every: int) -> None:
    with GestureStore.open(db, fingerprint=FP) as store:
        print("ready", flush=True)
        for i in range(n_videos):
            store.add_video(*_video(i, version))
            if (i + 1) % refresh_every == 0:
                store.refresh_ann()
        store.refresh_ann()


def _start_writer(db: Path, n_videos: int, version: int, refresh_every: int = 10) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, __file__, str(db), str(n_videos), str(version), str(refresh_every)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _clip_ids(video: VideoRecord, max_version: int) -> set[int]:
    """All clip ids of ``video`` at the version its content hash names."""
    i = int(Path(video.path).stem[1:])
    version = next(v for v in range(max_version + 1) if _video(i, v)[0].content_hash == video.content_hash)
    return {c.clip_id for c in _video(i, version)[1]}


def _assert_whole_videos_only(store: GestureStore, max_version: int) -> None:
    """Every video shows all its clips or none, and no clip shows without its video.

    Tolerates a writer running meanwhile: videos that appear during the check may show no clips.
    """
    before = {v.path: v.content_hash for v in store.videos()}
    visible = store.all_clip_ids().tolist()
    after = store.videos()
    assert len(set(visible)) == len(visible)
    shown = set()
    for video in after:
        ids = _clip_ids(video, max_version)
        seen = ids & set(visible)
        assert seen in (set(), ids), video.path
        if before.get(video.path) == video.content_hash:
            assert seen == ids, video.path
        shown |= seen
    assert shown == set(visible)


def test_sigkill_at_random_moments_leaves_a_consistent_index(tmp_path):
    db = tmp_path / "db"
    GestureStore.open(db, fingerprint=FP, create=True).close()
    n_videos = 40
    rng = random.Random(4)
    for version in range(4):  # each round re-adds the videos with new content: replacements get killed too
        proc = _start_writer(db, n_videos, version)
        time.sleep(rng.uniform(0.05, 0.8))
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL  # killed mid-run, not finished
        with GestureStore.open(db, fingerprint=FP) as store:  # the kernel dropped the dead writer's lock
            _assert_whole_videos_only(store, version)
            assert store.info().clip_rows == store.clip_count()  # leftovers of the killed write are gone
            assert store.refresh_ann()["gesture"]["count"] == store.clip_count()

    proc = _start_writer(db, n_videos, version=4)
    assert proc.wait(timeout=120) == 0
    with GestureStore.open(db, fingerprint=FP, read_only=True) as store:
        assert len(store.videos()) == n_videos
        assert {v.content_hash for v in store.videos()} == {_video(i, 4)[0].content_hash for i in range(n_videos)}
        _assert_whole_videos_only(store, 4)
        assert store.clip_count() == sum(1 + i % 5 for i in range(n_videos))
        assert store.info().ann["gesture"] == AnnInfo("flat", count=store.clip_count(), fresh=True)


def test_readers_search_while_a_writer_appends(tmp_path):
    db = tmp_path / "db"
    GestureStore.open(db, fingerprint=FP, create=True).close()
    n_videos = 40
    reader = GestureStore.open(db, fingerprint=FP, read_only=True)
    proc = _start_writer(db, n_videos, version=0, refresh_every=5)
    rng = np.random.default_rng(0)
    counts = []
    while proc.poll() is None:
        ids, scores = reader.search_pooled(rng.standard_normal(512), 10)
        hits = ids[ids >= 0].tolist()
        assert [c.clip_id for c in reader.clips_by_ids(hits)] == hits  # every hit can be read
        assert np.all(np.diff(scores[0][: len(hits)]) <= 1e-6)
        _assert_whole_videos_only(reader, 0)
        counts.append(reader.clip_count())
    assert proc.returncode == 0
    total = sum(1 + i % 5 for i in range(n_videos))
    assert counts == sorted(counts) and len(set(counts)) >= 3 and counts[0] < total  # saw it grow
    assert reader.clip_count() == total
    assert (reader.search_pooled(rng.standard_normal(512), total)[0] >= 0).all()


if __name__ == "__main__":
    _write(sys.argv[1], *map(int, sys.argv[2:5]))
