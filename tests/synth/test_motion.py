"""Gesture lexicon, timing and rendering of the synthetic speaker (no speech needed)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gestsearch.constants import FPS
from gestsearch.synth.body import elbow_points
from gestsearch.synth.lexicon import FILLER_WORDS, LEXICON
from gestsearch.synth.motion import MAX_LEAD_S, Style, plan_beats, plan_gestures, pose_track
from gestsearch.synth.render import HEIGHT, WIDTH, render, sample_appearance
from gestsearch.synth.speech import SpokenWord

STYLE = Style(speed=1.0, amplitude=1.0, beat_rate=0.0, rest=(36.0, 104.0))
N_FRAMES = 70  # 2.8 s, the gestured word at 1.0 s


def _single_gesture(word: str, seed: int = 0, style: Style = STYLE):
    rng = np.random.default_rng(seed)
    events = plan_gestures([SpokenWord("so", 0.6, 0.95), SpokenWord(word, 1.0, 1.3)], style, rng)
    return events, pose_track(N_FRAMES, events, [], style, rng)


def test_lexicon_has_the_required_gestures_and_disjoint_fillers():
    required = {"big", "small", "up", "down", "circle", "no", "me", "you", "wave", "push", "give", "stop"}
    assert required <= set(LEXICON)
    assert not set(FILLER_WORDS) & set(LEXICON)
    for gesture in LEXICON.values():
        for keys in (gesture.dominant, gesture.other):
            us = [k.u for k in keys]
            assert not keys or (us[0] == 0.0 and us[-1] == 1.0 and us == sorted(us))
        assert 0.4 <= gesture.duration <= 0.8


def test_every_word_is_in_the_forced_aligner_dictionary():
    from pocketsphinx import Decoder

    decoder = Decoder(loglevel="FATAL")
    assert [w for w in (*FILLER_WORDS, *LEXICON) if decoder.lookup_word(w) is None] == []


def test_stroke_leads_its_word_by_at_most_300_ms():
    rng = np.random.default_rng(1)
    for word in LEXICON:
        style = Style(speed=1.2, amplitude=1.0, beat_rate=0.0, rest=(36.0, 104.0))
        (event,) = plan_gestures([SpokenWord(word, 1.0, 1.3)], style, rng)
        assert 1.0 - MAX_LEAD_S <= event.start <= 1.0
        assert 0.4 * 0.85 / 1.2 <= event.end - event.start <= 0.8 * 1.15 / 1.2


def test_close_gestures_do_not_overlap():
    words = [SpokenWord("big", 1.0, 1.2), SpokenWord("small", 1.25, 1.5)]
    first, second = plan_gestures(words, STYLE, np.random.default_rng(0))
    assert second.start > first.end


@pytest.mark.parametrize("word", sorted(LEXICON))
def test_the_hands_move_in_the_stroke_and_rest_outside(word):
    (event,), track = _single_gesture(word)
    wrists = np.concatenate([track.dominant.wrist, track.other.wrist], axis=1)  # (T, 4)
    speed = np.abs(np.diff(wrists, axis=0)).max(axis=1)
    stroke = speed[round(event.start * FPS) : round(event.end * FPS)]
    idle = speed[:5]  # before the preparation
    assert stroke.mean() > 5 * idle.mean()
    rest = wrists[0]
    assert np.abs(wrists[round(event.start * FPS) : round(event.end * FPS) + 1] - rest).max() > 25


def test_gestures_are_distinct_trajectories():
    """Both wrists over the stroke, resampled to 10 points: every pair differs by > 15 px RMS."""
    paths = {}
    for word in LEXICON:
        (event,), track = _single_gesture(word)
        at = np.linspace(event.start, event.end, 10) * FPS
        frames = np.arange(N_FRAMES)
        wrists = np.concatenate([track.dominant.wrist, track.other.wrist], axis=1)
        paths[word] = np.stack([np.interp(at, frames, wrists[:, k]) for k in range(4)], axis=1)
    for a, b in itertools.combinations(paths, 2):
        rms = np.sqrt(((paths[a] - paths[b]) ** 2).sum(axis=1).mean())
        assert rms > 15, (a, b, rms)


def test_elbows_never_jump():
    for word in LEXICON:
        _, track = _single_gesture(word)
        for side, arm in ((+1, track.dominant), (-1, track.other)):
            elbows = elbow_points(side, arm.wrist)
            assert np.linalg.norm(np.diff(elbows, axis=0), axis=1).max() < 15, word


def test_beats_avoid_gestures():
    phrase = ["so", "then", "big", "the", "world", "was", "here"]
    words = [SpokenWord(w, 0.3 * i, 0.3 * i + 0.25) for i, w in enumerate(phrase)]
    rng = np.random.default_rng(0)
    style = Style(speed=1.0, amplitude=1.0, beat_rate=1.0, rest=(36.0, 104.0))
    events = plan_gestures(words, style, rng)
    beats = plan_beats(words, events, style, rng)
    lo, hi = events[0].busy_span(style.speed)
    assert beats and all(b + 0.28 < lo or b > hi for b in beats)


@pytest.mark.slow
def test_rendered_hands_stay_below_the_masked_face():
    """Whatever the look, wrists stay well below chin + 15 px and the 110-row fallback mask."""
    rng = np.random.default_rng(5)
    for word in LEXICON:
        look = sample_appearance(rng)
        _, track = _single_gesture(word, style=Style(1.0, 1.15 * 1.08, 0.0, (36.0, 104.0)))
        clip = render(look, track)
        assert clip.frames.shape == (N_FRAMES, HEIGHT, WIDTH, 3) and clip.frames.dtype == np.uint8
        assert 90 <= look.chin_row <= 110
        top = clip.wrists[:, :, 1].min()
        assert top > max(look.chin_row + 15, 110) + 10, (word, top, look.chin_row)
        assert (clip.wrists[:, :, 0] > 0).all() and (clip.wrists[:, :, 0] < WIDTH).all()


def test_render_draws_the_hand_where_the_wrist_is():
    """The pixels around the reported dominant wrist change as it moves (the drawing follows the pose)."""
    (event,), track = _single_gesture("big")
    clip = render(sample_appearance(np.random.default_rng(2)), track)
    f0, f1 = round(event.start * FPS), round(event.end * FPS)
    x, y = np.round(clip.wrists[f1, 0]).astype(int)
    patch = (slice(y - 6, y + 7), slice(x - 6, x + 7))
    assert np.abs(clip.frames[f1][patch].astype(int) - clip.frames[f0][patch].astype(int)).mean() > 20
