"""The FAISS sidecar: exactness, IVF recall, incremental upkeep, rebuilds, and the LanceDB backend."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from gestsearch.store import NPROBE, AnnConfig, GestureStore, exact_search, nlist_for
from gestsearch.store.ann import AnnIndex, Versions
from gestsearch.testing.store import clustered_vectors, synthetic_video

FP = "fp"


def _filled_store(tmp_path, n_videos: int = 8, ann: AnnConfig | None = None) -> GestureStore:
    store = GestureStore.open(tmp_path / "db", fingerprint=FP, create=True, ann=ann)
    for i in range(n_videos):
        store.add_video(*synthetic_video(tmp_path / f"v{i}.mp4", FP, n_clips=1 + i % 5, n_frames=8))
    return store


def _brute_force(store: GestureStore, queries: np.ndarray, k: int, column: str) -> tuple[np.ndarray, np.ndarray]:
    clips = [c for c in store.iter_clips() if getattr(c, column) is not None]
    ids = np.array([c.clip_id for c in clips])
    scores = queries @ np.stack([getattr(c, column) for c in clips]).T
    order = np.argsort(-scores, axis=1)[:, :k]
    return ids[order], np.take_along_axis(scores, order, axis=1)


def _queries(n: int, seed: int = 1) -> np.ndarray:
    q = np.random.default_rng(seed).standard_normal((n, 512)).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


@pytest.mark.parametrize("column", ["gesture", "content"])
def test_flat_search_equals_brute_force(tmp_path, column):
    with _filled_store(tmp_path) as store:
        queries = _queries(6)
        ids, scores = store.search_pooled(queries, 5, column=column)
        assert store.refresh_ann()[column]["type"] == "flat"
        want_ids, want_scores = _brute_force(store, queries, 5, column)
        assert ids.dtype == np.int64 and scores.dtype == np.float32 and ids.shape == (6, 5)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(scores, want_scores, atol=1e-5)
        single_ids, _ = store.search_pooled(queries[0] * 7.0, 5, column=column)  # any norm, one query
        np.testing.assert_array_equal(single_ids, ids[:1])


def test_fewer_clips_than_k_pads_with_minus_one(tmp_path):
    with _filled_store(tmp_path, n_videos=2) as store:  # 3 clips
        for backend in ("faiss", "lance"):
            ids, scores = store.search_pooled(_queries(1), 5, backend=backend)
            assert (ids[0, :3] >= 0).all() and (ids[0, 3:] == -1).all()
            assert np.isfinite(scores[0, :3]).all() and np.isneginf(scores[0, 3:]).all()


@pytest.mark.parametrize("column", ["gesture", "content"])
def test_lance_backend_gives_the_same_top_results(tmp_path, column):
    with _filled_store(tmp_path) as store:
        queries = _queries(5, seed=7)
        faiss_ids, faiss_scores = store.search_pooled(queries, 5, column=column)
        lance_ids, lance_scores = store.search_pooled(queries, 5, column=column, backend="lance")
        np.testing.assert_array_equal(lance_ids, faiss_ids)
        np.testing.assert_allclose(lance_scores, faiss_scores, atol=1e-5)


def test_ivf_recall_at_10_on_clustered_vectors():
    data = clustered_vectors(4000, n_clusters=40, seed=0)
    queries = clustered_vectors(200, n_clusters=40, seed=1, centres_seed=0)
    ids = np.arange(10_000, 14_000, dtype=np.int64)
    ann = AnnIndex.build("gesture", ids, data, Versions(1, 1), AnnConfig(flat_max=500))
    assert ann.kind == "ivf" and ann.index.nlist == nlist_for(4000)
    exact = ids[np.argsort(-(queries @ data.T), axis=1)[:, :10]]
    found, _ = ann.search(queries, 10)
    recall = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)])
    assert recall >= 0.95
    assert sorted(ann.ids()) == list(ids)
    ann.update(ids[:5] + 100_000, data[:5], ids[:5], Versions(2, 2))  # same vectors, new ids
    found, _ = ann.search(data[:5], 1)
    np.testing.assert_array_equal(found[:, 0], ids[:5] + 100_000)
    assert ann.count == 4000


def test_exact_search_equals_brute_force_and_pads():
    data = clustered_vectors(300, n_clusters=5, seed=2)
    queries = clustered_vectors(7, n_clusters=5, seed=3, centres_seed=2)
    ids = np.arange(300, dtype=np.int64) * 7 + 11
    found, scores = exact_search(ids, data, queries, 10)
    assert found.shape == scores.shape == (7, 10) and found.dtype == np.int64 and scores.dtype == np.float32
    similarity = queries @ data.T
    order = np.argsort(-similarity, axis=1)[:, :10]
    np.testing.assert_array_equal(found, ids[order])
    np.testing.assert_allclose(scores, np.take_along_axis(similarity, order, axis=1), atol=1e-5)
    few_ids, few_scores = exact_search(ids[:3], data[:3], queries, 5)
    assert (few_ids[:, 3:] == -1).all() and np.isneginf(few_scores[:, 3:]).all()
    assert set(few_ids[0, :3]) == set(ids[:3])


@pytest.mark.slow
def test_store_switches_to_ivf_beyond_flat_max(tmp_path):
    config = AnnConfig(flat_max=40)
    with _filled_store(tmp_path, n_videos=30, ann=config) as store:  # 90 clips
        assert store.refresh_ann()["gesture"]["type"] == "ivf"
        nlist = nlist_for(store.clip_count())
        assert store.info().to_dict()["ann"]["gesture"] == {
            "type": "ivf", "count": 90, "nlist": nlist, "nprobe": NPROBE, "fresh": True
        }
        clips = list(store.iter_clips())
        found, scores = store.search_pooled(np.stack([c.gesture for c in clips]), 1)
        np.testing.assert_array_equal(found[:, 0], [c.clip_id for c in clips])
        store.remove_videos([tmp_path / f"v{i}.mp4" for i in range(27)])  # 12 clips left: back to exact
        assert store.refresh_ann()["gesture"] == {"type": "flat", "count": 12, "gpu": False}


def test_sidecar_follows_writes_incrementally(tmp_path, monkeypatch):
    with _filled_store(tmp_path) as store:
        store.refresh_ann()
        builds = []
        monkeypatch.setattr(AnnIndex, "build", lambda *a, **k: builds.append(a))
        video, clips = synthetic_video(tmp_path / "new.mp4", FP, n_clips=3, n_frames=8)
        store.add_video(video, clips)
        store.remove_videos([tmp_path / "v1.mp4"])
        removed = [c.clip_id for c in synthetic_video(tmp_path / "v1.mp4", FP, n_clips=2, n_frames=8)[1]]
        assert store.refresh_ann()["gesture"]["count"] == store.clip_count()
        found, _ = store.search_pooled(np.stack([c.gesture for c in clips]), 1)
        np.testing.assert_array_equal(found[:, 0], [c.clip_id for c in clips])
        all_found, _ = store.search_pooled(_queries(20), store.clip_count())
        assert not set(removed) & set(all_found.ravel().tolist())
        assert builds == []


def test_sidecar_is_rebuilt_when_missing_or_corrupt(tmp_path):
    queries = _queries(4)
    with _filled_store(tmp_path) as store:
        want = store.search_pooled(queries, 5)
    ann_dir = tmp_path / "db" / "ann"
    assert sorted(p.suffix for p in ann_dir.iterdir()) == [".faiss", ".json"]  # gesture only so far

    shutil.rmtree(ann_dir)
    reader = GestureStore.open(tmp_path / "db", fingerprint=FP, read_only=True)
    np.testing.assert_array_equal(reader.search_pooled(queries, 5)[0], want[0])
    assert not ann_dir.exists()  # readers never write

    with GestureStore.open(tmp_path / "db", fingerprint=FP) as writer:
        np.testing.assert_array_equal(writer.search_pooled(queries, 5)[0], want[0])
    (index_file,) = ann_dir.glob("gesture.*.faiss")
    index_file.write_bytes(b"garbage")
    with GestureStore.open(tmp_path / "db", fingerprint=FP) as writer:
        np.testing.assert_array_equal(writer.search_pooled(queries, 5)[0], want[0])
    assert not index_file.exists() and len(list(ann_dir.glob("gesture.*.faiss"))) == 1

    (ann_dir / "gesture.json").write_text("{")
    reader = GestureStore.open(tmp_path / "db", fingerprint=FP, read_only=True)
    np.testing.assert_array_equal(reader.search_pooled(queries, 5)[0], want[0])


def test_optimize_builds_lance_indexes_that_still_find_the_exact_match(tmp_path):
    with _filled_store(tmp_path, n_videos=30) as store:  # 90 clips
        store.optimize(lance_index_min=50)
        clips = list(store.iter_clips())[:10]
        found, scores = store.search_pooled(np.stack([c.gesture for c in clips]), 3, backend="lance")
        np.testing.assert_array_equal(found[:, 0], [c.clip_id for c in clips])
        np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
