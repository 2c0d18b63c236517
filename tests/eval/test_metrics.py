"""Retrieval / spotting metrics against the golden outputs of the official code, and AVS manifests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gestsearch.errors import EvalError
from gestsearch.eval.metrics import (
    TIES,
    asd_correct,
    mean_pool,
    official_report,
    retrieval_metrics,
    retrieval_ranks,
    similarity_matrix,
    spot_peak,
    spotting_accuracy,
    spotting_attention,
    spotting_correct,
)
from gestsearch.media.manifest import (
    ClipMedia,
    ManifestRow,
    available_media,
    locate_media,
    located_media,
    read_manifest,
    resolve_media,
)


@pytest.fixture(scope="module")
def golden(reference_dir: Path) -> dict[str, np.ndarray]:
    with np.load(reference_dir / "golden_seed1.npz") as npz:
        return dict(npz)


@pytest.fixture(scope="module")
def golden_meta(reference_dir: Path) -> dict:
    return json.loads((reference_dir / "golden_seed1.json").read_text())["arrays"]


# --- retrieval ------------------------------------------------------------------------


def test_similarity_matrix_matches_golden(golden: dict[str, np.ndarray]) -> None:
    sim = similarity_matrix(golden["ret_emb1"], golden["ret_emb2"])
    assert sim.shape == (50, 50) and sim.dtype == np.float32
    np.testing.assert_allclose(sim, golden["ret_sim"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("ties", TIES)
@pytest.mark.parametrize(("queries", "gallery", "expected"), [
    ("ret_emb1", "ret_emb2", "ret_metrics_e1_e2"),
    ("ret_emb2", "ret_emb1", "ret_metrics_e2_e1"),
])  # fmt: skip
def test_official_report_matches_golden_exactly(
    golden: dict[str, np.ndarray], queries: str, gallery: str, expected: str, ties: str
) -> None:
    ranks = retrieval_ranks(similarity_matrix(golden[queries], golden[gallery]), ties=ties)
    report = official_report(ranks)
    np.testing.assert_array_equal(report, golden[expected])
    percent = retrieval_metrics(ranks)
    assert [percent[k] for k in ("R@5", "R@10", "R@25", "R@50")] == pytest.approx(100 * golden[expected][:4])
    assert percent["MR"] == golden[expected][4]
    assert 0 <= percent["R@1"] <= percent["R@5"]


def test_retrieval_ranks_count_better_items() -> None:
    sim = np.array([[0.9, 0.1, 0.2], [0.5, 0.4, 0.6], [0.3, 0.2, 0.1]], dtype=np.float32)
    np.testing.assert_array_equal(retrieval_ranks(sim), [0, 2, 2])


def test_retrieval_ranks_resolve_exact_ties_as_documented() -> None:
    sim = np.full((4, 4), 0.5, dtype=np.float32)
    np.testing.assert_array_equal(retrieval_ranks(sim, ties="pessimistic"), [3, 3, 3, 3])
    np.testing.assert_array_equal(retrieval_ranks(sim, ties="optimistic"), [0, 0, 0, 0])
    assert retrieval_ranks(sim).dtype == np.int64
    with pytest.raises(ValueError, match="ties"):
        retrieval_ranks(sim, ties="random")
    with pytest.raises(ValueError, match="square"):
        retrieval_ranks(np.zeros((2, 3)))


def test_retrieval_metrics_percent_and_median_rank() -> None:
    metrics = retrieval_metrics(np.array([0, 3, 7, 60]), ks=(1, 5, 10))
    assert metrics == {"R@1": 25.0, "R@5": 50.0, "R@10": 75.0, "MR": 6.0}  # median(3, 7) + 1
    assert retrieval_metrics(np.array([0, 3, 7]), ks=(1,), percent=False) == {"R@1": 1 / 3, "MR": 4.0}
    with pytest.raises(EvalError, match="no queries"):
        retrieval_metrics(np.array([], dtype=np.int64))


def test_mean_pool_averages_over_time() -> None:
    pooled = mean_pool([np.array([[1.0, 0.0], [3.0, 2.0]]), np.array([[0.0, 4.0]])])
    np.testing.assert_array_equal(pooled, [[2.0, 1.0], [0.0, 4.0]])
    assert pooled.dtype == np.float32


# --- spotting -------------------------------------------------------------------------


def golden_spotting(golden: dict[str, np.ndarray], golden_meta: dict):
    attns = [spotting_attention(g, c) for g, c in zip(golden["spot_gesture"], golden["spot_content"])]
    boundaries = [(start, end) for _, start, end in golden_meta["spot_attn"]["word_boundaries"]]
    targets = list(range(len(attns)))  # target word = sample index
    return attns, targets, [boundaries[t] for t in targets]


def test_spotting_attention_matches_golden(golden: dict[str, np.ndarray], golden_meta: dict) -> None:
    attns, _, _ = golden_spotting(golden, golden_meta)
    for attn, expected in zip(attns, golden["spot_attn"]):
        assert attn.shape == (5, 40)
        np.testing.assert_allclose(attn, expected, rtol=0, atol=2.5e-6)


def test_spotting_accuracy_matches_golden_exactly(golden: dict[str, np.ndarray], golden_meta: dict) -> None:
    attns, targets, boundaries = golden_spotting(golden, golden_meta)
    per_sample = [spotting_accuracy([a], [t], [b]) for a, t, b in zip(attns, targets, boundaries)]
    np.testing.assert_array_equal(per_sample, golden["spot_acc_per_sample"])
    assert spotting_accuracy(attns, targets, boundaries) == golden["spot_acc_all"][0]


def test_spotting_correct_margin_and_threshold() -> None:
    row = np.full(60, 0.01, dtype=np.float32)
    row[30] = 0.8
    assert spot_peak(row) == (30, pytest.approx(0.8))
    assert spotting_correct(row, (39, 45))  # 39 - 9 = 30: inside
    assert not spotting_correct(row, (40, 45))
    assert spotting_correct(row, (10, 21)) and not spotting_correct(row, (10, 20))  # 21 + 9 = 30
    assert not spotting_correct(row, (28, 32), threshold=0.9)
    assert spotting_correct(row, (33, 33), frame_margin=3) and not spotting_correct(row, (34, 34), frame_margin=3)
    early = np.full(60, 0.01, dtype=np.float32)
    early[0] = 0.6
    assert spotting_correct(early, (5, 8), frame_margin=6)  # start - margin clipped at 0
    assert not spotting_correct(early, (5, 8), frame_margin=4)


def test_spotting_accuracy_needs_clips() -> None:
    with pytest.raises(EvalError, match="no clips"):
        spotting_accuracy([], [], [])


# --- active speaker detection ------------------------------------------------------------


@pytest.mark.parametrize(("scores", "pessimistic", "optimistic"), [
    ([0.9, 0.1], True, True),
    ([0.6, 0.5, 0.7, 0.2], False, False),
    ([0.5, 0.5], False, True),  # the released argmax == 0 counts a tie as correct
    ([0.5, 0.4, 0.5, 0.5], False, True),
])  # fmt: skip
def test_asd_correct_own_track_first(scores: list[float], pessimistic: bool, optimistic: bool) -> None:
    assert asd_correct(np.array(scores)) is pessimistic
    assert asd_correct(np.array(scores), ties="optimistic") is optimistic
    assert asd_correct(np.array(scores), ties="optimistic") is (int(np.argmax(scores)) == 0)


def test_asd_correct_needs_two_candidates() -> None:
    with pytest.raises(ValueError, match="at least 2 candidates"):
        asd_correct(np.array([0.3]))


# --- AVS manifests --------------------------------------------------------------------


def test_read_ret_manifest(shared_data: Path) -> None:
    rows = read_manifest(shared_data / "avs" / "avs_ret.csv")
    assert len(rows) == 500
    first = rows[0]
    assert first.video_id == "zA8_hWE9Qrs"
    assert (first.start_time, first.end_time) == (241.246, 244.086)
    assert first.filename == "zA8_hWE9Qrs_241.246000-244.086000/00000"
    assert first.word_boundaries[:2] == [("for", 0, 3), ("your", 3, 7)]
    assert [w for w, _, _ in first.word_boundaries] == first.phrase.split()
    assert first.target_word is None and first.target_index is None and first.num_frames is None


def test_read_spot_manifest(shared_data: Path) -> None:
    rows = read_manifest(shared_data / "avs" / "avs_spot.csv")  # auto-detected as AVS-Spot
    assert len(rows) == 500
    first = rows[0]
    assert first.target_word == "walk" and first.target_boundary == ("walk", 60, 67)
    assert first.target_index == 7  # the second "walk" of the phrase
    assert first.num_frames == 70
    assert first.extra == {"stress_label": "1", "lighting": "medium", "speaker_pose": "frontal"}
    assert all(r.word_boundaries[r.target_index] == r.target_boundary for r in rows)


def test_ret_manifest_is_not_a_spot_manifest(shared_data: Path) -> None:
    with pytest.raises(EvalError, match="missing column.*target_word"):
        read_manifest(shared_data / "avs" / "avs_ret.csv", kind="spot")


HEADER = "video_id,start_time,end_time,filename,phrase,word_boundaries\n"
GOOD = 'abc,1.0,3.0,abc_1.000000-3.000000/00000,take a walk,"[[\'take\', 0, 5], [\'a\', 6, 7], [\'walk\', 8, 20]]"\n'


@pytest.mark.parametrize(("content", "message"), [
    (b"", "missing column"),
    (HEADER.encode(), "no rows"),
    (b"a,b,c\n1,2,3\n", "missing column.*video_id"),
    ((HEADER + GOOD + GOOD.replace("[['take', 0, 5]", "[['take', 0")).encode(), "line 3: word_boundaries"),
    ((HEADER + GOOD.replace("[['take', 0, 5]", "[['take', 5, 0]")).encode(), "line 2: word_boundaries holds"),
    ((HEADER + GOOD.replace('"[[\'take', '"[(\'take').replace("5],", "5.5),")).encode(), "expected \\[word"),
    ((HEADER + GOOD.replace("[[", "[").replace("]]", "]")).encode(), "not a non-empty list"),
    ((HEADER + GOOD.replace(GOOD.split('"')[1], "['take', 'a', 'walk']")).encode(), "holds 'take', expected"),
    ((HEADER + GOOD.replace(",3.0,", ",oops,")).encode(), "end_time is not a number"),
    ((HEADER + GOOD.replace(",3.0,", ",0.5,")).encode(), "do not make a segment"),
    ((HEADER + GOOD.replace("take a walk", "")).encode(), "empty phrase"),
    (b"\xff\xfe\x00garbage\x00", "cannot read"),
])  # fmt: skip
def test_broken_manifests_raise_one_clear_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(content)
    with pytest.raises(EvalError, match=message) as info:
        read_manifest(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_spot_manifest_target_must_be_one_of_the_words(tmp_path: Path) -> None:
    path = tmp_path / "spot.csv"
    header = "video_id,start_time,end_time,filename,num_frames,phrase,target_word,target_word_boundary,word_boundaries"
    words = "[['take', 0, 5], ['a', 6, 7], ['walk', 8, 20]]"
    path.write_text(f"{header}\nabc,1,3,abc/00000,50,take a walk,walk,\"['walk', 8, 21]\",\"{words}\"\n")
    with pytest.raises(EvalError, match="line 2: target_word_boundary \\['walk', 8, 21\\] is not in"):
        read_manifest(path)


def test_missing_manifest_and_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="cannot read"):
        read_manifest(tmp_path / "nope.csv")
    with pytest.raises(EvalError, match="manifest kind must be one of"):
        read_manifest(tmp_path / "nope.csv", kind="bogus")


def row(filename: str) -> ManifestRow:
    return ManifestRow("abc", 1.0, 3.0, filename, "take a walk", [("take", 0, 5), ("a", 6, 7), ("walk", 8, 20)])


def test_resolve_media_follows_the_official_layout(tmp_path: Path) -> None:
    (tmp_path / "abc_1-3").mkdir()
    (tmp_path / "abc_1-3" / "00000.avi").write_bytes(b"x")
    (tmp_path / "abc_1-3" / "00000.wav").write_bytes(b"x")
    (tmp_path / "abc_1-3" / "00001.mp4").write_bytes(b"x")
    assert resolve_media(tmp_path, row("abc_1-3/00000")) == (
        tmp_path / "abc_1-3" / "00000.avi",
        tmp_path / "abc_1-3" / "00000.wav",
    )
    assert resolve_media(tmp_path, row("abc_1-3/00001")) == (tmp_path / "abc_1-3" / "00001.mp4", None)
    assert resolve_media(tmp_path, row("abc_1-3/00002")) is None
    assert resolve_media(tmp_path / "missing-root", row("abc_1-3/00000")) is None


def test_available_media_lists_missing_rows_and_refuses_an_empty_root(tmp_path: Path) -> None:
    (tmp_path / "abc_1-3").mkdir()
    (tmp_path / "abc_1-3" / "00000.mkv").write_bytes(b"x")
    rows = [row("abc_1-3/00000"), row("abc_1-3/00001")]
    found, missing = available_media(tmp_path, rows)
    assert found == [(rows[0], tmp_path / "abc_1-3" / "00000.mkv", None)] and missing == [rows[1]]
    with pytest.raises(EvalError, match="none of the 1 clips"):
        available_media(tmp_path, rows[1:])
    with pytest.raises(EvalError, match="not a folder"):
        available_media(tmp_path / "nothing", rows)


def test_locate_media_prefers_crops_then_the_downloaded_segment_then_the_full_video(tmp_path: Path) -> None:
    (tmp_path / "abc_1-3").mkdir()
    (tmp_path / "abc_1-3" / "00000.avi").write_bytes(b"x")
    (tmp_path / "abc_1-3.webm").write_bytes(b"x")
    (tmp_path / "abc.mkv").write_bytes(b"x")
    assert locate_media(tmp_path, row("abc_1-3/00000")) == ClipMedia(tmp_path / "abc_1-3" / "00000.avi")
    segment = locate_media(tmp_path, row("abc_1-3/00002"))
    assert segment == ClipMedia(tmp_path / "abc_1-3.webm", track=2) and segment.raw
    assert segment.key == f"{tmp_path / 'abc_1-3.webm'}#00002"
    (tmp_path / "abc_1-3.webm").unlink()
    full = locate_media(tmp_path, row("abc_1-3/00001"))
    assert full == ClipMedia(tmp_path / "abc.mkv", track=1, cut_s=(1.0, 3.0))
    assert full.key == f"{tmp_path / 'abc.mkv'}#1.000000-3.000000/00001"
    assert locate_media(tmp_path, row("abc_1-3/first")) is None  # raw media need a track number
    (tmp_path / "abc.mkv").unlink()
    found, missing = located_media(tmp_path, [row("abc_1-3/00000"), row("abc_1-3/00001")])
    assert [m for _, m in found] == [ClipMedia(tmp_path / "abc_1-3" / "00000.avi")] and len(missing) == 1
    with pytest.raises(EvalError, match="none of the 1 clips.*raw videos"):
        located_media(tmp_path, [row("abc_1-3/00001")])
