"""Filters (folder/glob, video, track, duration, time indexed) resolve to clip ids before ranking,
and the ANN search over those ids still returns k hits when k clips pass."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gestsearch.errors import QueryError
from gestsearch.filters import ClipFilter
from gestsearch.store import AnnConfig, GestureStore
from gestsearch.testing.store import synthetic_video

FP = "gestsync:abc+jegal:def"


@pytest.fixture
def store(tmp_path):
    """Two folders, three videos; b.mp4's clips are on track 1, c.avi was indexed in 2020."""
    with GestureStore.open(tmp_path / "db", fingerprint=FP, create=True) as store:
        for name, n, track, when in (("talks/a.mp4", 6, 0, None), ("talks/b.mp4", 4, 1, None),
                                     ("other/c.avi", 5, 0, "2020-01-01T00:00:00+00:00")):
            video, clips = synthetic_video(tmp_path / name, FP, n_clips=n, n_frames=75 if name != "other/c.avi" else 40)
            if when:
                video = dataclasses.replace(video, indexed_at=when)
            store.add_video(video, [dataclasses.replace(c, track=track) for c in clips])
        store.refresh_ann()
        yield store


def ids_of(store, path) -> set[int]:
    return {c.clip_id for c in store.clips_of_video(path)}


def test_each_filter_selects_its_clips(store, tmp_path):
    a, b, c = (ids_of(store, tmp_path / n) for n in ("talks/a.mp4", "talks/b.mp4", "other/c.avi"))
    cases = {
        ClipFilter(): a | b | c,
        ClipFilter(path=str(tmp_path / "talks")): a | b,
        ClipFilter(path=str(tmp_path / "talks") + "/"): a | b,
        ClipFilter(path="*.avi"): c,
        ClipFilter(path="c.avi"): c,
        ClipFilter(path="talks/a*"): a,
        ClipFilter(path=str(tmp_path / "*" / "b.mp4")): b,
        ClipFilter(video=str(tmp_path / "talks" / "b.mp4")): b,
        ClipFilter(track=1): b,
        ClipFilter(max_duration_s=2.0): c,
        ClipFilter(min_duration_s=2.5): a | b,
        ClipFilter(indexed_before="2021-01-01"): c,
        ClipFilter(indexed_after="2021-01-01"): a | b,
        ClipFilter(path=str(tmp_path / "talks"), track=0): a,
        ClipFilter(path="*.mkv"): set(),
    }
    for where, expected in cases.items():
        assert set(store.matching_clip_ids(where).tolist()) == expected, where


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_filtered_search_returns_k_hits_from_the_matching_clips_only(tmp_path, kind):
    config = AnnConfig(flat_max=10 if kind == "ivf" else 50_000)
    with GestureStore.open(tmp_path / "db", fingerprint=FP, create=True, ann=config) as store:
        for i in range(8):
            video, clips = synthetic_video(tmp_path / f"v{i}.mp4", FP, n_clips=4)
            store.add_video(video, [dataclasses.replace(c, track=i % 2) for c in clips])
        store.refresh_ann()
        assert store.info().ann["gesture"].type == kind
        among = store.matching_clip_ids(ClipFilter(track=1))
        assert len(among) == 16
        query = np.random.default_rng(0).standard_normal(512).astype(np.float32)
        for backend in ("faiss", "lance"):
            ids, scores = store.search_pooled(query, 10, backend=backend, among=among)
            assert set(ids[0].tolist()) <= set(among.tolist()) and (ids[0] >= 0).all()
            assert np.all(np.diff(scores[0]) <= 1e-6)
            # exact within the matching clips
            clips = store.clips_by_ids(among.tolist())
            vectors = np.stack([c.gesture for c in clips])
            best = np.argsort(-(vectors @ (query / np.linalg.norm(query))))[:10]
            assert ids[0].tolist() == [clips[i].clip_id for i in best], backend
        ids, _ = store.search_pooled(query, 20, among=among[:3])
        assert sorted(ids[0][:3].tolist()) == sorted(among[:3].tolist()) and (ids[0][3:] == -1).all()
        ids, _ = store.search_pooled(query, 5, among=np.empty(0, np.int64))
        assert (ids == -1).all()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"track": -1}, "track number"),
    ({"min_duration_s": -1.0}, "seconds ≥ 0"),
    ({"max_duration_s": float("nan")}, "seconds ≥ 0"),
    ({"min_duration_s": 3.0, "max_duration_s": 2.0}, "above the maximum"),
    ({"indexed_after": "last tuesday"}, "ISO 8601"),
    ({"indexed_after": "2026-01-02", "indexed_before": "2026-01-01"}, "not before"),
    ({"path": "  "}, "path filter is empty"),
])
def test_bad_filters_are_query_errors(kwargs, message):
    with pytest.raises(QueryError, match=message):
        ClipFilter(**kwargs)


def test_speakers_only_keeps_speakers_and_unscored_clips(tmp_path):
    video, clips = synthetic_video(tmp_path / "panel.mp4", FP, n_clips=4)
    scores = dict(zip((c.clip_id for c in clips), (0.9, 0.2, None, 0.5)))
    with GestureStore.open(tmp_path / "db", fingerprint=FP, create=True) as store:
        store.add_video(video, [dataclasses.replace(c, speaking=scores[c.clip_id]) for c in clips])
        speaking = set(store.matching_clip_ids(ClipFilter(min_speaking=0.5)).tolist())
        strict = set(store.matching_clip_ids(ClipFilter(min_speaking=0.95, path=str(tmp_path))).tolist())
    assert speaking == {i for i, s in scores.items() if s is None or s >= 0.5}
    assert strict == {i for i, s in scores.items() if s is None}
    assert ClipFilter(min_speaking=0.5).active and ClipFilter(min_speaking=0.5).to_dict() == {"min_speaking": 0.5}


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan"), True, "0.5"])
def test_a_speaking_threshold_outside_0_1_is_a_query_error(threshold):
    with pytest.raises(QueryError, match="speaking score threshold"):
        ClipFilter(min_speaking=threshold)
