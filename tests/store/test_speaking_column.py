"""The clips' speaking scores in the index: stored and read back by new indexes (format 3), and
indexes made before (formats 1-2, no speaking column) still read (as None), grow and filter."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gestsearch.filters import ClipFilter
from gestsearch.store import GestureStore
from gestsearch.store.meta import FORMAT, META_NAME, SPEAKING_FORMAT
from gestsearch.testing.store import candidate_summaries, index_made_before, synthetic_video

FP = "fp"
SCORES = (0.9, 0.1, None, 0.5)


def _scored(path: str):
    video, clips = synthetic_video(path, FP, n_clips=len(SCORES))
    return video, [dataclasses.replace(c, speaking=s) for c, s in zip(clips, SCORES)]


def _made_before(path, frames: str = "int8", format_: int = 2) -> None:
    """An empty index as format ``format_`` made it: its clips table has no speaking column."""
    index_made_before(path, FP, format_, frames)


def test_new_indexes_store_the_scores(tmp_path):
    video, clips = _scored("/archive/panel.mp4")
    with GestureStore.open(tmp_path / "db", fingerprint=FP, create=True) as store:
        store.add_video(video, clips)
        assert [c.speaking for c in store.clips_of_video("/archive/panel.mp4")] == pytest.approx(SCORES)
        summaries, _ = candidate_summaries(store, [c.clip_id for c in clips])
        assert {s.clip_id: s.speaking for s in summaries} == pytest.approx({c.clip_id: c.speaking for c in clips})
        kept = set(store.matching_clip_ids(ClipFilter(min_speaking=0.5)).tolist())
        assert kept == {c.clip_id for c in clips if c.speaking is None or c.speaking >= 0.5}
    assert json.loads((tmp_path / "db" / META_NAME).read_text())["format"] == FORMAT >= SPEAKING_FORMAT


@pytest.mark.parametrize(("frames", "format_"), [("int8", 2), ("float16", 1)])
def test_an_index_made_before_the_scores_reads_them_as_none_and_grows(tmp_path, frames, format_):
    (tmp_path / "db").mkdir()
    _made_before(tmp_path / "db", frames, format_)
    video, clips = _scored("/archive/panel.mp4")
    with GestureStore.open(tmp_path / "db", fingerprint=FP) as store:
        store.add_video(video, clips)  # scores computed by a newer indexer, dropped on the way in
        assert [c.speaking for c in store.clips_of_video("/archive/panel.mp4")] == [None] * len(clips)
        summaries, packed = candidate_summaries(store, [c.clip_id for c in clips])
        assert len(summaries) == len(clips) and all(s.speaking is None for s in summaries)
        all_ids = {c.clip_id for c in clips}
        assert set(store.matching_clip_ids(ClipFilter(min_speaking=0.5)).tolist()) == all_ids
        assert set(store.matching_clip_ids(ClipFilter(min_speaking=0.5, track=0)).tolist()) == all_ids
    assert json.loads((tmp_path / "db" / META_NAME).read_text())["format"] == format_
