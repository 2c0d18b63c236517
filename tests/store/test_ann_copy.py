"""IVF-PQ's exact copy: the vectors its candidates are re-scored with, kept beside the FAISS file
under the same json, and the LanceDB read it replaces (still the fallback)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gestsearch.store import AnnConfig, ClipRecord, GestureStore, VideoRecord, clip_id_for, video_id_for
from gestsearch.store import ann as ann_module
from gestsearch.store.ann import COPY_ROW, COPY_SUFFIX, IDS_SUFFIX, AnnIndex, ExactCopy
from gestsearch.store.snapshot import Snapshot
from gestsearch.testing.store import clustered_vectors

FP = "fp"
# IVF-PQ from the first clip on, 16 codes of 4 bits: quick to train on a few thousand vectors
PQ = AnnConfig(flat_max=0, pq_min=0, pq_bits=4, pq_m=16, use_gpu=False)
CLIPS_PER_VIDEO = 500
N_CLUSTERS = 60


def _video(v: int, n: int = CLIPS_PER_VIDEO) -> tuple[VideoRecord, list[ClipRecord]]:
    """Video ``v``: ``n`` one-frame clips whose gesture vectors are clustered (as embeddings are)."""
    vectors = clustered_vectors(n, N_CLUSTERS, seed=100 + v, centres_seed=0)
    path = f"/copy/v{v}.mp4"
    video = VideoRecord(video_id=video_id_for(path), path=path, content_hash=f"h{v}", size_bytes=1, mtime=1.7e9,
                        duration_s=n / 25, fps=25.0, n_tracks=1, status="indexed", reason="", fingerprint=FP)
    clips = [ClipRecord(clip_id=clip_id_for(video.video_id, video.content_hash, 0, i, i), video_id=video.video_id,
                        path=path, track=0, start_s=i / 25, end_s=(i + 1) / 25, start_frame=i, end_frame=i, text="",
                        gesture=vectors[i], frames=vectors[i : i + 1], content=None, words=[])
             for i in range(n)]
    return video, clips


def _store(tmp_path, videos: range, ann: AnnConfig = PQ) -> GestureStore:
    store = GestureStore.open(tmp_path / "db", fingerprint=FP, create=True, ann=ann)
    for v in videos:
        store.add_video(*_video(v))
    store.refresh_ann()
    return store


def _queries(n: int = 30) -> np.ndarray:
    return clustered_vectors(n, N_CLUSTERS, seed=7, centres_seed=0)


def _meta(tmp_path) -> dict:
    return json.loads((tmp_path / "db" / "ann" / "gesture.json").read_text())


def _ann(store: GestureStore) -> AnnIndex:
    return store._sidecar.index_for("gesture", store._snapshots.take(), save=not store.read_only)


def _table_reader(tmp_path) -> GestureStore:
    """A reader that re-scores from LanceDB (the baseline): the index as saved, without its copy."""
    reader = GestureStore.open(tmp_path / "db", fingerprint=FP, read_only=True, ann=PQ)
    _ann(reader).exact_copy = None
    return reader


def _table_rescored(tmp_path, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    return _table_reader(tmp_path).search_pooled(queries, k)


def _assert_ranked_like_the_table(found: np.ndarray, scores: np.ndarray, tmp_path, queries: np.ndarray) -> None:
    """``found`` and ``scores`` are what re-scoring from LanceDB gives."""
    want_ids, want_scores = _table_rescored(tmp_path, queries, found.shape[1])
    np.testing.assert_array_equal(found, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-6, rtol=0)


@pytest.fixture
def table_reads(monkeypatch) -> list[int]:
    """How many ids each re-scoring read from LanceDB asked for."""
    calls: list[int] = []
    read = Snapshot.vectors_by_ids

    def counted(self: Snapshot, ids: np.ndarray, column: str) -> tuple[np.ndarray, np.ndarray]:
        calls.append(len(ids))
        return read(self, ids, column)

    monkeypatch.setattr(Snapshot, "vectors_by_ids", counted)
    return calls


def test_build_writes_a_copy_that_rescores_like_the_table(tmp_path, table_reads):
    with _store(tmp_path, range(6)) as store:  # 3,000 clips
        meta = _meta(tmp_path)
        assert meta["type"] == "ivfpq" and meta["exact_copy"] and meta["copy"]["rows"] == 3000
        ann_dir = tmp_path / "db" / "ann"
        stem = meta["copy"]["stem"]
        assert (ann_dir / f"{stem}{COPY_SUFFIX}").stat().st_size == 3000 * COPY_ROW
        assert (ann_dir / f"{stem}{IDS_SUFFIX}").stat().st_size == 3000 * 8
        ids, exact = store._snapshots.take().vectors_by_ids(store.all_clip_ids(), "gesture")  # as LanceDB holds them
    table_reads.clear()

    copied_ids, copied = ExactCopy.open(ann_dir, stem, 3000).read(np.sort(ids))
    by_id = dict(zip(copied_ids.tolist(), copied))
    np.testing.assert_array_equal(np.stack([by_id[i] for i in ids.tolist()]), exact)  # the same float32 values

    queries = _queries()
    reader = GestureStore.open(tmp_path / "db", fingerprint=FP, read_only=True, ann=PQ)
    for k in (10, 100):
        found, scores = reader.search_pooled(queries, k)
        assert table_reads == [] and not (found == -1).any()  # every candidate read from the copy
        _assert_ranked_like_the_table(found, scores, tmp_path, queries)  # the same top k in the same order
        assert table_reads  # the baseline reads them from LanceDB
        table_reads.clear()
    among = ids[::7]
    found, scores = reader.search_pooled(queries, 20, among=among)
    want_ids, want_scores = _table_reader(tmp_path).search_pooled(queries, 20, among=among)
    assert set(found.ravel().tolist()) <= set(among.tolist())
    np.testing.assert_array_equal(found, want_ids)
    np.testing.assert_allclose(scores, want_scores, atol=1e-6, rtol=0)


def test_incremental_updates_append_to_the_copy_and_compact_it(tmp_path, table_reads, monkeypatch):
    queries = _queries()
    with _store(tmp_path, range(4)) as store:  # 2,000 clips
        stem = _meta(tmp_path)["copy"]["stem"]
        reader = GestureStore.open(tmp_path / "db", fingerprint=FP, read_only=True, ann=PQ)
        reader.search_pooled(queries, 10)  # loads the pair saved now
        monkeypatch.setattr(AnnIndex, "from_batches", lambda *a, **k: pytest.fail("rebuilt"))
        added = _video(4)[1]
        added_vectors = np.stack([c.gesture for c in added])
        store.add_video(*_video(4))
        store.remove_videos(["/copy/v0.mp4"])

        # the saved pair is stale: the reader follows in memory, and keeps the vectors it adds
        table_reads.clear()
        found, scores = reader.search_pooled(queries, 50)
        assert table_reads == [CLIPS_PER_VIDEO]  # read once, to add them to the index
        _assert_ranked_like_the_table(found, scores, tmp_path, queries)
        table_reads.clear()
        found, _ = reader.search_pooled(added_vectors, 10)  # 40 candidates: itself among them
        assert table_reads == []
        np.testing.assert_array_equal(found[:, 0], [c.clip_id for c in added])

        store.refresh_ann()
        meta = _meta(tmp_path)
        assert meta["copy"] == {"stem": stem, "rows": 2500} and meta["count"] == 2000  # appended in place
        assert (tmp_path / "db" / "ann" / f"{stem}{COPY_SUFFIX}").stat().st_size == 2500 * COPY_ROW
        table_reads.clear()
        fresh = GestureStore.open(tmp_path / "db", fingerprint=FP, read_only=True, ann=PQ)  # loads the new pair
        found, scores = fresh.search_pooled(added_vectors, 10)
        np.testing.assert_array_equal(found[:, 0], [c.clip_id for c in added])
        np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
        removed = {c.clip_id for c in _video(0)[1]}
        assert not removed & set(fresh.search_pooled(queries, 500)[0].ravel().tolist())
        assert table_reads == []

        store.remove_videos([f"/copy/v{v}.mp4" for v in (1, 2)])  # 1,000 left of 2,500 rows: compacted
        store.refresh_ann()
        meta = _meta(tmp_path)
        assert meta["copy"]["stem"] != stem and meta["copy"]["rows"] == meta["count"] == 1000
        ann_dir = tmp_path / "db" / "ann"
        assert sorted(p.name for p in ann_dir.glob("gesture.*") if p.suffix != ".faiss") == sorted(
            [f"{meta['copy']['stem']}{COPY_SUFFIX}", f"{meta['copy']['stem']}{IDS_SUFFIX}", "gesture.json"])
        table_reads.clear()
        found, scores = store.search_pooled(queries, 30)
        assert table_reads == []
        _assert_ranked_like_the_table(found, scores, tmp_path, queries)
        np.testing.assert_array_equal(np.sort(ExactCopy.open(ann_dir, meta["copy"]["stem"], 1000).read(
            store.all_clip_ids())[0]), store.all_clip_ids())


def test_an_index_without_its_copy_reads_the_table_and_gets_one_when_rebuilt(tmp_path, table_reads):
    queries = _queries()
    with _store(tmp_path, range(4)):
        pass
    want = _table_rescored(tmp_path, queries, 20)
    ann_dir = tmp_path / "db" / "ann"
    meta = _meta(tmp_path)
    copy_file = ann_dir / f"{meta['copy']['stem']}{COPY_SUFFIX}"

    copy_file.write_bytes(copy_file.read_bytes()[: 100 * COPY_ROW])  # cut short: unusable
    for broken in (meta, {k: v for k, v in meta.items() if k != "copy"}):  # and as saved before copies existed
        (ann_dir / "gesture.json").write_text(json.dumps(broken))
        table_reads.clear()
        reader = GestureStore.open(tmp_path / "db", fingerprint=FP, read_only=True, ann=PQ)
        found, scores = reader.search_pooled(queries, 20)
        assert _ann(reader).exact_copy is None and sum(table_reads) > 0
        np.testing.assert_array_equal(found, want[0])
        np.testing.assert_allclose(scores, want[1], atol=1e-6)

    with GestureStore.open(tmp_path / "db", fingerprint=FP, ann=PQ) as writer:
        writer.add_video(*_video(4))
        assert writer.refresh_ann()["gesture"]["exact_copy"] is False  # updated in place: still none
        assert "copy" not in _meta(tmp_path)
        for v in range(5, 9):  # 4,500 clips: more than twice the 2,000 trained on, rebuilt
            writer.add_video(*_video(v))
        assert writer.refresh_ann()["gesture"]["exact_copy"] is True
        assert _meta(tmp_path)["copy"]["rows"] == 4500 and not copy_file.exists()


def test_a_save_cut_short_leaves_the_old_pair_readable(tmp_path, monkeypatch):
    queries = _queries()
    with _store(tmp_path, range(4)):
        pass
    old = _meta(tmp_path)
    stem = old["copy"]["stem"]
    ann_dir = tmp_path / "db" / "ann"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies between the copy's rows and the json

    with GestureStore.open(tmp_path / "db", fingerprint=FP, ann=PQ) as writer:
        writer.add_video(*_video(4))
        monkeypatch.setattr(ann_module, "write_json", killed)
        with pytest.raises(KeyboardInterrupt):
            writer.refresh_ann()
    assert _meta(tmp_path) == old
    assert (ann_dir / f"{stem}{COPY_SUFFIX}").stat().st_size == 2500 * COPY_ROW  # rows the json does not name
    reader = GestureStore.open(tmp_path / "db", fingerprint=FP, read_only=True, ann=PQ)
    _assert_ranked_like_the_table(*reader.search_pooled(queries, 20), tmp_path, queries)

    # a rebuild cut short: its copy is written under a new stem that no json names
    with GestureStore.open(tmp_path / "db", fingerprint=FP, ann=PQ) as writer:
        for v in range(5, 10):
            writer.add_video(*_video(v))
        with pytest.raises(KeyboardInterrupt):
            writer.refresh_ann()
    assert _meta(tmp_path) == old and len(list(ann_dir.glob(f"*{COPY_SUFFIX}"))) == 2
    loaded = AnnIndex.load(ann_dir, "gesture", PQ)
    assert loaded.count == 2000 and (loaded.exact_copy.stem, loaded.exact_copy.rows) == (stem, 2000)
    assert len(loaded.exact_copy.read(np.sort(loaded.ids()))[0]) == 2000

    monkeypatch.undo()
    with GestureStore.open(tmp_path / "db", fingerprint=FP, ann=PQ) as writer:
        writer.remove_videos([f"/copy/v{v}.mp4" for v in range(4, 10)])
        writer.add_video(*_video(10))
        writer.refresh_ann()  # appends to the old copy from the row its json names on
    meta = _meta(tmp_path)
    assert meta["copy"] == {"stem": stem, "rows": 2500} and meta["count"] == 2500
    assert (ann_dir / f"{stem}{COPY_SUFFIX}").stat().st_size == 2500 * COPY_ROW
    appended = np.fromfile(ann_dir / f"{stem}{IDS_SUFFIX}", np.int64)[2000:]
    assert sorted(appended.tolist()) == sorted(c.clip_id for c in _video(10)[1])  # not the rows cut short
    assert [p.name for p in ann_dir.glob(f"*{COPY_SUFFIX}")] == [f"{stem}{COPY_SUFFIX}"]  # the orphan is gone
    reader = GestureStore.open(tmp_path / "db", fingerprint=FP, read_only=True, ann=PQ)
    _assert_ranked_like_the_table(*reader.search_pooled(queries, 20), tmp_path, queries)
