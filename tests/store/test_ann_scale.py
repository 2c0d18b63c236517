"""The FAISS sidecar at scale, at small sizes: IVF-PQ with exact re-scoring, streamed builds
trained on a sample, and the switches between index types."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gestsearch.store import AnnConfig, GestureStore
from gestsearch.store import ann as ann_module
from gestsearch.store.ann import AnnIndex, Versions
from gestsearch.testing.store import clustered_vectors, synthetic_video

FP = "fp"
# 16 codes of 4 bits: IVF-PQ from 16 × 39 vectors on, quick to train
PQ = AnnConfig(flat_max=0, pq_min=0, pq_bits=4, pq_m=16, use_gpu=False)


def _store(tmp_path, ann: AnnConfig, n_videos: int, n_clips: int) -> GestureStore:
    store = GestureStore.open(tmp_path / "db", fingerprint=FP, create=True, ann=ann)
    for i in range(n_videos):
        store.add_video(*synthetic_video(tmp_path / f"v{i}.mp4", FP, n_clips=n_clips, n_frames=2))
    return store


def _exact(ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    similarity = queries @ vectors.T
    order = np.argsort(-similarity, axis=1)[:, :k]
    return ids[order], np.take_along_axis(similarity, order, axis=1)


def test_ivfpq_rescored_search_returns_the_exact_top_k_with_exact_scores():
    data = clustered_vectors(2000, n_clusters=100, seed=0)  # 20 per cluster: each top 5 in a query's cluster
    queries = clustered_vectors(50, n_clusters=100, seed=1, centres_seed=0)
    ids = np.arange(2000, dtype=np.int64) * 3 + 5
    config = replace(PQ, nprobe=64, refine=8)  # every list searched, 40 candidates
    ann = AnnIndex.build("gesture", ids, data, Versions(1, 1), config)
    assert ann.kind == "ivfpq" and ann.index.nlist <= 64 and ann.describe()["bits"] == 4 and sorted(ann.ids()) == list(ids)
    vectors_by_id = dict(zip(ids.tolist(), data))
    lookup_calls = []

    def lookup(wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lookup_calls.append(len(wanted))
        return wanted[::-1], np.stack([vectors_by_id[i] for i in wanted[::-1].tolist()])  # any order

    found, scores = ann.search(queries, 5, exact=lookup)
    want_ids, want_scores = _exact(ids, data, queries, 5)
    np.testing.assert_array_equal(found, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    assert 0 < lookup_calls[0] <= 50 * 5 * config.refine
    _, approximate = ann.search(queries, 5)  # PQ scores, not re-scored
    assert np.abs(approximate - want_scores).max() > 1e-3


def test_rescoring_pads_when_fewer_candidates_than_k():
    data = clustered_vectors(700, n_clusters=70, seed=2)
    ids = np.arange(700, dtype=np.int64)
    ann = AnnIndex.build("gesture", ids, data, Versions(1, 1), PQ)
    among = ids[:3]
    found, scores = ann.search(data[:2], 5, among=among, exact=lambda w: (w, data[w]))
    assert set(found[0, :3]) == set(among) and (found[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)


def test_store_ivfpq_scores_are_exact_and_filters_work(tmp_path):
    # every list searched and every clip a candidate: the exact top k whatever the codes
    config = AnnConfig(flat_max=0, pq_min=0, pq_bits=4, pq_m=16, refine=200, nprobe=64, use_gpu=False)
    with _store(tmp_path, config, n_videos=7, n_clips=100) as store:  # 700 clips
        described = store.refresh_ann()["gesture"]
        assert described["type"] == "ivfpq" and described["count"] == 700 and described["refine"] == 200
        assert store.info().to_dict()["ann"]["gesture"]["type"] == "ivfpq"
        clips = list(store.iter_clips())
        ids = np.array([c.clip_id for c in clips])
        vectors = np.stack([c.gesture for c in clips])
        queries = np.stack([clips[i].gesture for i in (0, 100, 350)]) + 0.1 * vectors[[1, 2, 3]]
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        found, scores = store.search_pooled(queries, 10)
        want_ids, want_scores = _exact(ids, vectors, queries, 10)
        np.testing.assert_array_equal(found, want_ids)
        np.testing.assert_allclose(scores, want_scores, atol=1e-5)

        among = ids[::20]  # 35 clips
        found, scores = store.search_pooled(queries, 40, among=among)
        want_ids, want_scores = _exact(among, vectors[::20], queries, 35)
        np.testing.assert_array_equal(found[:, :35], want_ids)
        np.testing.assert_allclose(scores[:, :35], want_scores, atol=1e-5)
        assert (found[:, 35:] == -1).all()

    reader = GestureStore.open(tmp_path / "db", fingerprint=FP, read_only=True)  # refine 4: exact scores still
    found, scores = reader.search_pooled(queries, 10)
    by_id = dict(zip(ids.tolist(), vectors))
    want = [[query @ by_id[i] for i in row] for query, row in zip(queries, found.tolist())]
    np.testing.assert_allclose(scores, want, atol=1e-5)


def test_streamed_build_trains_on_a_sample_and_adds_every_clip(tmp_path, monkeypatch):
    monkeypatch.setattr(ann_module, "BUILD_BATCH", 7)
    monkeypatch.setattr(ann_module, "TRAIN_POINTS_PER_LIST", 5)
    with _store(tmp_path, AnnConfig(flat_max=40, use_gpu=False), n_videos=6, n_clips=15) as store:  # 90 clips
        described = store.refresh_ann()
        gesture = store._sidecar.index_for("gesture", store._snapshots.take(), save=False)
        assert gesture.kind == "ivf" and described["gesture"]["trained_on"] == 5 * gesture.index.nlist < 90
        np.testing.assert_array_equal(np.sort(gesture.ids()), store.all_clip_ids())
        content = [c for c in store.iter_clips() if c.content is not None]
        assert described["content"]["count"] == len(content) > 40  # rows without a content vector left out
        clips = list(store.iter_clips())
        found, scores = store.search_pooled(np.stack([c.gesture for c in clips]), 1)
        np.testing.assert_array_equal(found[:, 0], [c.clip_id for c in clips])
        np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)


def test_index_type_follows_the_collection_size():
    config = AnnConfig(flat_max=100, pq_min=1000, pq_bits=4, pq_m=16, use_gpu=False)
    assert [config.kind_for(n) for n in (100, 101, 1000, 1001)] == ["flat", "ivf", "ivf", "ivfpq"]
    assert AnnConfig(flat_max=0, pq_min=0).kind_for(9983) == "ivf"  # too few to train 8-bit codebooks
    data = clustered_vectors(700, n_clusters=70, seed=3)
    ivf = AnnIndex.build("gesture", np.arange(700), data, Versions(1, 1), config)
    assert ivf.kind == "ivf" and ivf.needs_rebuild(1001) and not ivf.needs_rebuild(900) and ivf.needs_rebuild(50)
    pq = AnnIndex.build("gesture", np.arange(700), data, Versions(1, 1), replace(PQ, pq_min=600))
    assert pq.kind == "ivfpq"
    assert [pq.needs_rebuild(n) for n in (301, 300, 1400, 1401)] == [False, True, False, True]
