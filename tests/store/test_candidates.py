"""Search's candidates come from what a reader keeps in memory of the clips table (ids, spans,
speaking scores, frame locations); the rest of a summary is read for the hits alone, from the same
version of the index."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gestsearch.errors import StoreError
from gestsearch.store import GestureStore
from gestsearch.testing.store import synthetic_video

FP = "fp"
SUMMARY_FIELDS = ("clip_id", "video_id", "path", "track", "start_s", "end_s", "start_frame", "end_frame", "text",
                  "speaking")


def _index(d, paths=("/talks/a.mp4", "/talks/b.mp4", "/talks/c.mp4")):
    records = []
    for n, path in enumerate(paths):
        video, clips = synthetic_video(path, FP, n_clips=4, n_frames=9)
        records.append((video, [replace(c, speaking=None if i == n else 0.25 * i) for i, c in enumerate(clips)]))
    with GestureStore.open(d, fingerprint=FP, create=True) as store:
        for video, clips in records:
            store.add_video(video, clips)
    return [c for _, clips in records for c in clips]


def test_candidates_and_the_summaries_of_some_of_them_in_the_order_asked(tmp_path):
    clips = _index(tmp_path / "db")
    by_id = {c.clip_id: c for c in clips}
    with GestureStore.open(tmp_path / "db", read_only=True) as store, store.reading():
        found = store.candidates([clips[9].clip_id, clips[2].clip_id, 777, clips[5].clip_id, clips[0].clip_id])
        assert len(found.ids) == 4 and set(found.ids.tolist()) == {clips[i].clip_id for i in (0, 2, 5, 9)}
        for i, clip_id in enumerate(found.ids.tolist()):
            clip = by_id[clip_id]
            assert (found.spans.tracks[i], found.spans.start_s[i], found.spans.end_s[i]) == (
                clip.track, clip.start_s, clip.end_s)
            assert np.isnan(found.speaking[i]) if clip.speaking is None else found.speaking[i] == clip.speaking
            np.testing.assert_allclose(found.frames.clip(i), clip.frames, atol=0.02)
        # one video key per video: its clips share it, other videos' differ
        videos = {by_id[c].video_id: v for c, v in zip(found.ids.tolist(), found.spans.videos.tolist())}
        assert len(set(videos.values())) == len(videos)

        which = [3, 0, 2]
        summaries = store.summaries(found, which)
        assert [s.clip_id for s in summaries] == [int(found.ids[i]) for i in which]
        for summary in summaries:
            clip = by_id[summary.clip_id]
            assert all(getattr(summary, name) == getattr(clip, name) for name in SUMMARY_FIELDS)
        assert store.summaries(found, []) == []


def test_summaries_from_another_version_of_the_index_are_refused(tmp_path):
    _index(tmp_path / "db", paths=("/talks/a.mp4",))
    with GestureStore.open(tmp_path / "db", fingerprint=FP) as store:
        found = store.candidates(store.all_clip_ids())
        store.add_video(*synthetic_video("/talks/d.mp4", FP, n_clips=2))  # rows may have moved since
        with pytest.raises(StoreError, match="one store.reading"):
            store.summaries(found)
