"""Record identifiers and the record round trip through a real LanceDB store."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from gestsearch.constants import DIM
from gestsearch.errors import MediaError
from gestsearch.store import (
    ClipRecord,
    GestureStore,
    VideoRecord,
    clip_id_for,
    content_hash,
    video_id_for,
)
from gestsearch.testing.store import synthetic_video


def test_content_hash_streams_the_whole_file(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "video.mp4"
    path.write_bytes(data)
    assert content_hash(path, chunk_bytes=64 * 1024) == hashlib.sha256(data).hexdigest()


def test_content_hash_of_a_missing_file_is_a_media_error(tmp_path):
    with pytest.raises(MediaError, match="missing.mp4"):
        content_hash(tmp_path / "missing.mp4")


def test_ids_are_stable_non_negative_and_distinct(tmp_path):
    assert video_id_for(tmp_path / "a.mp4") == video_id_for(str(tmp_path / "a.mp4"))
    assert video_id_for(tmp_path / "a.mp4") != video_id_for(tmp_path / "b.mp4")
    ids = {
        clip_id_for(video, digest, track, start, start + 74)
        for video in ("v1", "v2")
        for digest in ("h1", "h2")
        for track in (0, 1)
        for start in range(0, 500, 25)
    }
    assert len(ids) == 2 * 2 * 2 * 20
    assert all(0 <= i < 2**63 for i in ids)
    assert clip_id_for("v1", "h1", 0, 0, 74) == clip_id_for("v1", "h1", 0, 0, 74)


def _unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    x = rng.standard_normal((*shape, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.mark.parametrize("frames", ["int8", "float16"])
def test_records_round_trip(tmp_path, frames):
    rng = np.random.default_rng(0)
    path = str(tmp_path / "talk's video.mp4")  # a quote in the path must not break SQL
    vid = video_id_for(path)
    video = VideoRecord(
        video_id=vid,
        path=path,
        content_hash="ab" * 32,
        size_bytes=123_456_789,
        mtime=1_700_000_000.25,
        duration_s=12.48,
        fps=29.97,
        n_tracks=2,
        status="indexed",
        reason="",
        fingerprint="fp",
    )
    clips = [
        ClipRecord(
            clip_id=clip_id_for(vid, video.content_hash, 1, 25, 99),
            video_id=vid,
            path=path,
            track=1,
            start_s=1.0,
            end_s=4.0,
            start_frame=25,
            end_frame=99,
            gesture=3.0 * _unit(rng),  # the store normalises
            frames=_unit(rng, 75),
            content=_unit(rng),
            words=[("hello", 25, 40), ("wörld", 41, 99)],
            text="hello wörld",
        ),
        ClipRecord(
            clip_id=clip_id_for(vid, video.content_hash, 0, 0, 3),
            video_id=vid,
            path=path,
            track=0,
            start_s=0.0,
            end_s=0.16,
            start_frame=0,
            end_frame=3,
            gesture=_unit(rng),
            frames=_unit(rng, 4).astype(np.float16),
            content=None,
            words=[],
            text="",
        ),
    ]
    with GestureStore.open(tmp_path / "db", fingerprint="fp", create=True, frames=frames) as store:
        store.add_video(video, clips)
    store = GestureStore.open(tmp_path / "db", fingerprint="fp", read_only=True)
    assert store.frame_encoding == frames
    assert store.video_by_path(path) == video
    assert store.videos() == [video]
    back = store.clips_by_ids([c.clip_id for c in clips])
    for got, want in zip(back, clips, strict=True):
        scalars = ("clip_id", "video_id", "path", "track", "start_s", "end_s", "start_frame", "end_frame", "words", "text")
        for name in scalars:
            assert getattr(got, name) == getattr(want, name), name
        assert got.gesture.dtype == np.float32 and got.gesture.shape == (DIM,)
        np.testing.assert_allclose(got.gesture, want.gesture / np.linalg.norm(want.gesture), atol=1e-6)
        assert got.frames.dtype == np.float32 and got.frames.shape == want.frames.shape
        np.testing.assert_allclose(got.frames, want.frames, atol=2e-3)
    np.testing.assert_allclose(back[0].content, clips[0].content, atol=1e-6)
    assert back[1].content is None


def test_malformed_clips_are_refused_before_anything_is_written(tmp_path):
    with GestureStore.open(tmp_path / "db", fingerprint="fp", create=True) as store:
        video, clips = synthetic_video(tmp_path / "a.mp4", "fp", n_clips=2)
        clips[1].frames = clips[1].frames[:, :100]
        with pytest.raises(ValueError, match="frames"):
            store.add_video(video, clips)
        clips[1].frames = np.zeros((3, DIM), np.float32)
        with pytest.raises(ValueError, match="non-zero"):
            store.add_video(video, clips)
        assert store.videos() == [] and store.clip_count() == 0
        assert store.info().clip_rows == 0


@pytest.mark.parametrize("path", [
    "/archive/talk.mp4",
    "/archive/caf\udce9 \udcff.mp4",  # bytes that are not UTF-8, as os.listdir returns them
    "C:\\talks\\x41\\file.mp4",  # backslashes, and a literal \x41 in a name
    "/a/\\\\b\\xzz.mp4",
])
def test_paths_are_stored_losslessly(tmp_path, path):
    from gestsearch.store.records import loaded_path, stored_path

    stored = stored_path(path)
    stored.encode("utf-8")  # valid UTF-8, as Arrow needs
    assert loaded_path(stored) == path
    assert stored == path or "\\" in path or "\udce9" in path  # ordinary paths are stored as they are
    video, clips = synthetic_video(path, "fp", n_clips=2, n_frames=4)
    with GestureStore.open(tmp_path / "db", fingerprint="fp", create=True) as store:
        store.add_video(video, clips)
        assert store.video_by_path(path).path == path
        assert {c.path for c in store.clips_of_video(path)} == {path}


def test_a_name_that_is_not_utf8_gets_its_own_id():
    assert video_id_for("/a/caf\udce9.mp4") == hashlib.sha1(b"/a/caf\xe9.mp4").hexdigest()
    assert video_id_for("/a/cafe.mp4") == hashlib.sha1(b"/a/cafe.mp4").hexdigest()
