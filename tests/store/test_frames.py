"""Frame vectors as the index stores them: int8 with a scale per vector in new indexes, float16 in
indexes made before (format 1), and the candidates read that search's exact stage makes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gestsearch.errors import StoreError
from gestsearch.scoring import coupling_scores
from gestsearch.store import GestureStore
from gestsearch.store.framefiles import FRAMES_DIR
from gestsearch.store.meta import META_NAME
from gestsearch.testing.store import candidate_summaries, index_made_before, synthetic_video

FP = "fp"


def _index(path, frames="int8", videos=3):
    with GestureStore.open(path, fingerprint=FP, create=True, frames=frames) as store:
        records = [synthetic_video(f"/archive/v{i}.mp4", FP, n_clips=4 + i) for i in range(videos)]
        for video, clips in records:
            store.add_video(video, clips)
    return [clip for _, clips in records for clip in clips]


@pytest.mark.parametrize("frames", ["int8", "float16"])
def test_candidates_come_back_in_index_order_with_the_frames_of_the_records(tmp_path, frames):
    clips = _index(tmp_path / "db", frames)
    store = GestureStore.open(tmp_path / "db", read_only=True)
    wanted = [clips[7].clip_id, clips[0].clip_id, 12345, clips[3].clip_id]  # 12345 is no clip
    summaries, packed = candidate_summaries(store, wanted)
    assert [s.clip_id for s in summaries] == [clips[0].clip_id, clips[3].clip_id, clips[7].clip_id]
    records = store.clips_by_ids([s.clip_id for s in summaries])
    for i, (summary, record) in enumerate(zip(summaries, records, strict=True)):
        for name in ("clip_id", "video_id", "path", "track", "start_s", "end_s", "start_frame", "end_frame", "text"):
            assert getattr(summary, name) == getattr(record, name)
        np.testing.assert_array_equal(packed.clip(i), record.frames)
    words = clips[1].frames[:3].astype(np.float32)
    np.testing.assert_allclose(coupling_scores(words, packed), coupling_scores(words, [r.frames for r in records]),
                               atol=1e-6)
    summaries, packed = candidate_summaries(store, [])
    assert summaries == [] and len(packed.lengths) == 0 and len(coupling_scores(words, packed)) == 0


def test_int8_frames_take_about_half_the_bytes_of_float16(tmp_path):
    sizes = {}
    for frames in ("int8", "float16"):
        _index(tmp_path / frames, frames, videos=6)
        stored = [*(tmp_path / frames / "clips.lance").rglob("*"), *(tmp_path / frames / FRAMES_DIR).iterdir()]
        sizes[frames] = sum(f.stat().st_size for f in stored if f.is_file())
    assert sizes["int8"] < 0.6 * sizes["float16"]


def test_an_index_of_format_1_reads_and_grows_with_float16_frames(tmp_path):
    index_made_before(tmp_path / "db", FP, 1, "float16")
    with GestureStore.open(tmp_path / "db", fingerprint=FP) as store:
        assert store.frame_encoding == "float16"
        video, clips = synthetic_video("/archive/early.mp4", FP, n_clips=3)
        store.add_video(video, clips)
        video, more = synthetic_video("/archive/late.mp4", FP, n_clips=2)
        store.add_video(video, more)
        assert store.clip_count() == len(clips) + 2
        np.testing.assert_allclose(store.clips_by_ids([more[0].clip_id])[0].frames, more[0].frames, atol=2e-3)
        summaries, packed = candidate_summaries(store, [c.clip_id for c in clips])
        assert packed.codes.dtype == np.float16 and len(summaries) == 3
    assert not (tmp_path / "db" / FRAMES_DIR).exists()  # its frames stay in the clips table


def test_an_index_of_an_unknown_frame_encoding_is_refused(tmp_path):
    _index(tmp_path / "db")
    meta_path = tmp_path / "db" / META_NAME
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "frames": "int4"}))
    with pytest.raises(StoreError, match="unknown format"):
        GestureStore.open(tmp_path / "db", read_only=True)
