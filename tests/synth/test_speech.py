"""espeak-ng speech with word timings (skipped where libespeak-ng is not installed)."""

from __future__ import annotations

import numpy as np
import pytest

from gestsearch.constants import SAMPLE_RATE
from gestsearch.errors import GestsearchError
from gestsearch.synth import speech
from gestsearch.synth.speech import MergedWordsError, Voice, espeak_available, synthesize

pytestmark = pytest.mark.skipif(
    not espeak_available(), reason="libespeak-ng is not installed (apt-get install espeak-ng)"
)

PHRASE = ["so", "the", "big", "house", "was", "never", "down", "there", "you", "know"]


def _rms(audio: np.ndarray, start: float, end: float) -> float:
    part = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
    return float(np.sqrt(np.mean(part**2)))


def test_words_are_timed_in_order_and_voiced():
    s = synthesize(PHRASE, Voice("en-us+f2", wpm=170, pitch=60))
    assert s.audio.dtype == np.float32 and s.audio.ndim == 1 and np.abs(s.audio).max() <= 1.0
    assert [w.word for w in s.words] == PHRASE
    starts = [w.start for w in s.words]
    assert starts == sorted(starts) and starts[0] < 0.05
    for w, following in zip(s.words, [*s.words[1:], None]):
        assert w.start < w.end <= (following.start if following else s.duration)
        assert _rms(s.audio, w.start, w.end) > 0.02, w
    assert _rms(s.audio, s.words[-1].end + 0.02, s.duration) < 0.01  # trailing silence is not a word


def test_synthesis_is_reproducible_whatever_came_before():
    voice = Voice("en-us+m3", wpm=150, pitch=40)
    first = synthesize(PHRASE, voice)
    synthesize(["something", "else", "entirely"], Voice("en-us+f3"))
    again = synthesize(PHRASE, voice)
    assert np.array_equal(first.audio, again.audio) and first.words == again.words


def test_rate_changes_the_timing():
    slow = synthesize(PHRASE, Voice(wpm=130))
    fast = synthesize(PHRASE, Voice(wpm=190))
    assert fast.duration < 0.85 * slow.duration


def test_words_spoken_as_one_unit_are_reported():
    with pytest.raises(MergedWordsError, match="no start"):
        synthesize(["from", "where", "there", "was", "a", "house"])


def test_unknown_voice_and_empty_phrase_are_errors():
    with pytest.raises(GestsearchError, match="no voice"):
        synthesize(["hello"], Voice("xx-nonexistent"))
    with pytest.raises(GestsearchError, match="empty"):
        synthesize([])


def test_missing_library_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(speech.ctypes.util, "find_library", lambda name: "/nonexistent/libespeak-ng.so.1")
    with pytest.raises(GestsearchError, match="apt-get install espeak-ng"):
        synthesize(["hello"])
    assert not espeak_available()
