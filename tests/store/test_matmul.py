"""The torch matmul searcher (the GPU search where FAISS has no GPU support) against FAISS's exact
search, on $GESTSEARCH_TEST_DEVICE (gestsearch.testing.device; the CPU unless set)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gestsearch.store import AnnConfig, exact_search, nlist_for
from gestsearch.store import matmul as matmul_module
from gestsearch.store.ann import AnnIndex, Versions
from gestsearch.store.matmul import FLOAT16_TOLERANCE, MatmulIndex
from gestsearch.testing.device import device_under_test
from gestsearch.testing.store import clustered_vectors

DEVICE = device_under_test()
N, Q, K = 3000, 300, 10  # more queries than one QUERY_BATCH


@pytest.fixture
def data(monkeypatch):
    monkeypatch.setattr(matmul_module, "BLOCK_ROWS", 700)  # several blocks, the last one partial
    vectors = clustered_vectors(N, 30, seed=0)
    queries = clustered_vectors(Q, 30, seed=1, centres_seed=0)
    ids = np.random.default_rng(2).permutation(10 * N)[:N].astype(np.int64)
    return ids, vectors, queries


def _batches(ids: np.ndarray, vectors: np.ndarray, size: int = 450):
    return ((ids[i : i + size], vectors[i : i + size]) for i in range(0, len(ids), size))


def test_float32_equals_faiss_exact_search(data):
    ids, vectors, queries = data
    index = MatmulIndex.from_batches(_batches(ids, vectors), DEVICE)
    scores, found = index.search(queries, K)
    want_ids, want_scores = exact_search(ids, vectors, queries, K)
    assert found.dtype == np.int64 and scores.dtype == np.float32 and index.ntotal == N
    np.testing.assert_array_equal(found, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)


def test_float16_scores_within_tolerance(data):
    ids, vectors, queries = data
    scores, found = MatmulIndex.from_batches(_batches(ids, vectors), DEVICE, torch.float16).search(queries, K)
    want_ids, want_scores = exact_search(ids, vectors, queries, K)
    np.testing.assert_allclose(scores, want_scores, atol=FLOAT16_TOLERANCE)
    recall = np.mean([len(set(a) & set(b)) / K for a, b in zip(found, want_ids)])
    assert recall >= 0.95  # only near-ties may swap


def test_fewer_vectors_than_k_pads(data):
    ids, vectors, queries = data
    scores, found = MatmulIndex.from_batches([(ids[:3], vectors[:3])], DEVICE).search(queries[:2], 5)
    assert (found[:, :3] >= 0).all() and (found[:, 3:] == -1).all()
    assert np.isfinite(scores[:, :3]).all() and np.isneginf(scores[:, 3:]).all()
    empty_scores, empty_ids = MatmulIndex(DEVICE).search(queries[:2], 5)
    assert (empty_ids == -1).all() and np.isneginf(empty_scores).all()


def test_remove_and_add_follow_the_collection(data):
    ids, vectors, queries = data
    index = MatmulIndex.from_batches(_batches(ids[:2000], vectors[:2000]), DEVICE)
    index.remove(ids[1000:1500])
    index.add(ids[2000:], vectors[2000:])
    keep = np.r_[0:1000, 1500:N]
    scores, found = index.search(queries, K)
    want_ids, want_scores = exact_search(ids[keep], vectors[keep], queries, K)
    assert index.ntotal == len(keep)
    np.testing.assert_array_equal(found, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)


@pytest.mark.parametrize("flat_max", [N, 100])  # flat, IVF
def test_ann_index_hands_over_its_vectors(data, flat_max):
    ids, vectors, _ = data
    ann = AnnIndex.build("gesture", ids, vectors, Versions(0, 0), AnnConfig(flat_max=flat_max, use_gpu=False))
    parts = list(ann.stored())
    got_ids = np.concatenate([i for i, _ in parts])
    got = np.concatenate([v for _, v in parts])
    order, want = np.argsort(got_ids), np.argsort(ids)
    np.testing.assert_array_equal(got_ids[order], ids[want])
    np.testing.assert_array_equal(got[order], vectors[want])


@pytest.mark.skipif(not DEVICE.startswith("cuda"), reason="the sidecar's torch searcher runs on a CUDA device")
@pytest.mark.parametrize("flat_max", [N, 100])
def test_sidecar_searches_on_the_gpu(data, flat_max):
    ids, vectors, queries = data
    config = AnnConfig(flat_max=flat_max, nprobe=nlist_for(N), device=DEVICE)  # IVF probing every list: exact
    ann = AnnIndex.build("gesture", ids, vectors, Versions(0, 0), config)
    assert ann.describe()["gpu"]
    found, scores = ann.search(queries, K)
    want_ids, want_scores = exact_search(ids, vectors, queries, K)
    np.testing.assert_array_equal(found, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    ann.update(ids[:0], vectors[:0], ids[:100], Versions(1, 1))
    found, _ = ann.search(queries, K)
    assert not np.isin(found, ids[:100]).any()
