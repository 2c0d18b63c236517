"""Stage-2 scoring (word coupling, fusion, word peaks, gesture spans) and the result records."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gestsearch import scoring
from gestsearch.errors import ConfigError
from gestsearch.results import SCHEMA, Hit, SearchResult, WordPeak
from gestsearch.scoring import (
    coupling_score,
    coupling_scores,
    fuse,
    gesture_span,
    score_map,
    span_seconds,
    word_frame_attention,
    word_peaks,
)
from gestsearch.store import PackedFrames
from gestsearch.store.schema import quantize
from gestsearch.vectors import l2_normalize


def unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return l2_normalize(rng.standard_normal(shape).astype(np.float32))


def brute_force_coupling(words: np.ndarray, frames: np.ndarray) -> float:
    """The definition, word by word and frame by frame, in float64."""
    words, frames = words.astype(np.float64), frames.astype(np.float64)
    return float(np.mean([max(float(w @ f) for f in frames) for w in words]))


def test_coupling_score_is_mean_of_best_cosine_per_word() -> None:
    rng = np.random.default_rng(0)
    words, frames = unit(rng, 4, 512), unit(rng, 75, 512)
    assert coupling_score(words, frames) == pytest.approx(brute_force_coupling(words, frames), abs=1e-6)


def test_coupling_is_one_when_every_word_has_a_matching_frame() -> None:
    rng = np.random.default_rng(1)
    words, frames = unit(rng, 3, 512), unit(rng, 50, 512)
    frames[[5, 17, 40]] = words
    assert coupling_score(words, frames) == pytest.approx(1.0, abs=1e-6)


def test_coupling_scores_batch_equals_brute_force_clip_by_clip(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    words = unit(rng, 5, 512)
    lengths = [1, 75, 500, 3, 120, 75, 2, 499]
    frames_list = [unit(rng, n, 512).astype(np.float16) for n in lengths]
    expected = [brute_force_coupling(words, f.astype(np.float32)) for f in frames_list]
    np.testing.assert_allclose(coupling_scores(words, frames_list), expected, atol=1e-6)
    # Several blocks, including a clip longer than a block: still the same numbers.
    monkeypatch.setattr(scoring, "_BLOCK_FRAMES", 100)
    chunked = coupling_scores(words, frames_list)
    assert chunked.dtype == np.float32 and chunked.shape == (len(lengths),)
    np.testing.assert_allclose(chunked, expected, atol=1e-6)


def test_coupling_scores_of_int8_frames_equal_their_dequantised_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    words = unit(rng, 3, 512)
    lengths = np.array([75, 1, 300, 12])
    codes, scales = quantize(unit(rng, int(lengths.sum()), 512))
    packed = PackedFrames(codes, scales, lengths)
    dequantised = codes.astype(np.float64) * scales[:, None].astype(np.float64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    expected = [brute_force_coupling(words, dequantised[s : s + n]) for s, n in zip(starts, lengths)]
    monkeypatch.setattr(scoring, "_BLOCK_FRAMES", 64)
    np.testing.assert_allclose(coupling_scores(words, packed), expected, atol=1e-6)
    for i, (s, n) in enumerate(zip(starts, lengths)):
        np.testing.assert_allclose(packed.clip(i), dequantised[s : s + n], atol=1e-7)


def test_int8_frames_stay_within_half_a_step_of_the_vectors() -> None:
    vectors = unit(np.random.default_rng(5), 200, 512)
    codes, scales = quantize(vectors)
    assert codes.dtype == np.int8 and scales.dtype == np.float32 and np.abs(codes).max() == 127
    error = np.abs(codes * scales[:, None] - vectors)
    assert (error <= scales[:, None] / 2 + 1e-7).all()


def test_coupling_scores_rejects_a_clip_without_frames() -> None:
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="candidate 1"):
        coupling_scores(unit(rng, 2, 8), [unit(rng, 4, 8), np.zeros((0, 8), np.float32)])


def test_fuse_weights_pooled_and_coupling() -> None:
    assert fuse(0.2, 0.8, 0.0) == pytest.approx(0.2)
    assert fuse(0.2, 0.8, 1.0) == pytest.approx(0.8)
    assert fuse(0.2, 0.8) == pytest.approx(0.5)  # DEFAULT_COUPLING_WEIGHT = 0.5
    np.testing.assert_allclose(fuse(np.array([0.0, 1.0]), np.array([1.0, 0.0]), 0.25), [0.25, 0.75])
    with pytest.raises(ConfigError, match="coupling weight"):
        fuse(0.2, 0.8, 1.5)


def test_word_frame_attention_is_a_softmax_over_words() -> None:
    rng = np.random.default_rng(4)
    attn = word_frame_attention(unit(rng, 4, 64), unit(rng, 30, 64))
    assert attn.shape == (4, 30) and attn.dtype == np.float32
    np.testing.assert_allclose(attn.sum(axis=0), 1.0, atol=1e-6)


def test_word_peaks_find_the_planted_gesture_frames() -> None:
    rng = np.random.default_rng(5)
    words, frames = unit(rng, 3, 512), unit(rng, 60, 512)
    planted = [10, 33, 47]
    frames[planted] = words
    peaks = word_peaks(["take", "a", "walk"], words, frames, clip_start_s=100.0)
    assert [p.word for p in peaks] == ["take", "a", "walk"]
    assert [p.frame for p in peaks] == planted
    assert [p.time_s for p in peaks] == pytest.approx([100.0 + f / 25 for f in planted])
    assert all(p.strength > 0.99 and p.cosine == pytest.approx(1.0, abs=1e-6) for p in peaks)


def test_word_peaks_of_a_one_word_query_rank_frames_by_cosine() -> None:
    rng = np.random.default_rng(6)
    word, frames = unit(rng, 1, 512), unit(rng, 40, 512)
    (peak,) = word_peaks(["walk"], word, frames)
    cosines = frames @ word[0]
    assert peak.strength == 1.0
    assert peak.frame == int(np.argmax(cosines))
    assert peak.cosine == pytest.approx(float(cosines.max()), abs=1e-6)


def test_word_peaks_needs_one_label_per_word() -> None:
    rng = np.random.default_rng(7)
    with pytest.raises(ValueError, match="labels"):
        word_peaks(["a"], unit(rng, 2, 8), unit(rng, 5, 8))


def peak(frame: int, strength: float) -> WordPeak:
    return WordPeak(word="w", frame=frame, time_s=frame / 25, strength=strength, cosine=0.0)


def test_gesture_span_holds_every_peak_padded_and_clipped() -> None:
    """Whatever plays or is cut for a hit shows every word peak it reports, weak ones too."""
    peaks = [peak(20, 0.9), peak(40, 0.6), peak(70, 0.2)]
    assert gesture_span(peaks, n_frames=75) == (14, 74)
    assert gesture_span(peaks, n_frames=75, pad_frames=0) == (20, 70)
    assert gesture_span([peak(2, 0.9), peak(73, 0.8)], n_frames=75) == (0, 74)
    assert gesture_span([peak(30, 0.3)], n_frames=75, pad_frames=5) == (25, 35)


def test_one_word_score_maps_show_the_cosine_over_time() -> None:
    rng = np.random.default_rng(0)
    frames = l2_normalize(rng.normal(size=(30, 8)))
    word = l2_normalize(rng.normal(size=(1, 8)))
    assert np.allclose(score_map(word, frames), word @ frames.T)  # not the softmax over one word, 1 everywhere
    two = l2_normalize(rng.normal(size=(2, 8)))
    assert np.allclose(score_map(two, frames).sum(0), 1.0, atol=1e-5)


def test_gesture_span_of_no_peak_is_the_clip() -> None:
    assert gesture_span([], n_frames=75) == (0, 74)


def test_span_seconds_end_is_after_the_last_frame() -> None:
    assert span_seconds((0, 24), clip_start_s=10.0) == pytest.approx((10.0, 11.0))


def test_search_result_to_dict_has_the_documented_schema() -> None:
    peaks = [WordPeak("take", 3, 12.1200004, 0.91234567, 0.4), WordPeak("walk", 9, 12.36, 0.5, 0.3)]
    hit = Hit(1, "v#0", "/videos/v.mp4", 0, 12.0, 15.0, 12.0, 12.64, 0.7, 0.6, 0.8, peaks, "take a walk")
    doc = SearchResult("take a walk", "text", "seed1", [hit]).to_dict()
    assert list(doc) == ["schema", "query", "mode", "model", "hits", "notes"]  # fields are only ever added
    assert doc["schema"] == SCHEMA == "gestsearch.search/1"
    (h,) = doc["hits"]
    assert list(h) == [
        "rank", "clip_id", "video_path", "track", "clip_start_s", "clip_end_s", "span_start_s", "span_end_s",
        "score", "pooled_score", "coupling_score", "peaks", "text", "merged_start_s", "merged_end_s", "merged_clip_ids",
        "speaking",
    ]  # fmt: skip
    assert h["peaks"][0] == {"word": "take", "frame": 3, "time_s": 12.12, "strength": 0.912346, "cosine": 0.4}
    assert json.loads(json.dumps(doc)) == doc


def test_search_result_rejects_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        SearchResult("q", "video", "seed1")
