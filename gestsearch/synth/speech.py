"""Synthetic speech with exact word onsets: libespeak-ng through ctypes.

espeak-ng runs in synchronous mode: ``espeak_Synth`` calls our callback with 22050 Hz int16
chunks and an event list whose WORD events carry each word's character offset and sample
position. The audio is resampled to the project's 16 kHz; a word ends where its last voiced
10 ms window ends (before the pause that precedes the next word).
"""

from __future__ import annotations

import _ctypes
import ctypes
import ctypes.util
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gestsearch.constants import SAMPLE_RATE
from gestsearch.errors import GestsearchError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_EVENT_LIST_END = 0
_EVENT_WORD = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_ENVELOPE_WINDOW_S = 0.010
_SILENCE_DB = -35.0  # windows this far below the utterance's loudest window count as silence
_LIBC = ctypes.CDLL(None)  # for srand(): espeak-ng draws its breath noise from rand()


class MergedWordsError(GestsearchError):
    """espeak-ng spoke some words as one unit (e.g. "of the"), so they have no start of their own."""


@dataclass(frozen=True)
class SpokenWord:
    """One word and its span in the utterance, in seconds from the audio start."""

    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Speech:
    """float32 mono audio at 16 kHz in [-1, 1], shape (N,), and its word spans."""

    audio: np.ndarray
    words: tuple[SpokenWord, ...]

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass(frozen=True)
class Voice:
    """espeak-ng voice settings: ``name`` like ``en-us+f3``, rate in words per minute, pitch 0-99."""

    name: str = "en-us"
    wpm: int = 160
    pitch: int = 50


class _Event(ctypes.Structure):
    """``espeak_EVENT`` from speak_lib.h (x86-64 layout)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_int64),
    ]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class _Espeak:
    """One fresh load of libespeak-ng, used for one utterance and then unloaded.

    The library carries synthesis state from one utterance to the next (e.g. the pitch-flutter
    phase) and draws breath noise from libc ``rand()``, so a reused instance gives slightly
    different audio and word times for the same text. A fresh load plus a seeded ``rand()`` makes
    every utterance reproducible whatever was synthesised before it in the process.
    Not thread-safe: the library has process-global state.
    """

    def __init__(self) -> None:
        path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self._lib = ctypes.CDLL(path)
        except OSError as e:
            raise GestsearchError(
                f"libespeak-ng is not available ({e}); install it with `apt-get install espeak-ng`"
            ) from e
        self.rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0)
        if self.rate <= 0:
            self.close()
            raise GestsearchError("libespeak-ng failed to initialise; reinstall it with `apt-get install espeak-ng`")
        self._chunks: list[np.ndarray] = []
        self._word_events: list[tuple[int, int]] = []  # (0-based char offset, sample index)
        self._callback = _Callback(self._on_audio)  # referenced here so it is never collected
        self._lib.espeak_SetSynthCallback(self._callback)

    def close(self) -> None:
        """Release the library's state and unload it (unloading without ``espeak_Terminate`` crashes)."""
        self._lib.espeak_Terminate()
        _ctypes.dlclose(self._lib._handle)

    def _on_audio(self, wav: ctypes.c_void_p, n_samples: int, events: ctypes.Array) -> int:
        if n_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_END:
            if events[i].type == _EVENT_WORD:
                self._word_events.append((events[i].text_position - 1, events[i].sample))
            i += 1
        return 0

    def synthesize(self, text: str, voice: Voice) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """int16 samples at ``self.rate`` and the WORD events (char offset, sample index)."""
        if self._lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise GestsearchError(f"espeak-ng has no voice {voice.name!r}")
        self._lib.espeak_SetParameter(_PARAM_RATE, voice.wpm, 0)
        self._lib.espeak_SetParameter(_PARAM_PITCH, voice.pitch, 0)
        _LIBC.srand(0)
        data = text.encode()
        status = self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, 0, None, None)
        self._lib.espeak_Synchronize()
        if status != 0 or not self._chunks:
            raise GestsearchError(f"espeak-ng could not synthesise {text!r} (status {status})")
        return np.concatenate(self._chunks), self._word_events


def check_espeak() -> None:
    """Raise :class:`GestsearchError` (saying how to install it) unless libespeak-ng loads and initialises."""
    _Espeak().close()


def espeak_available() -> bool:
    """Whether libespeak-ng can be loaded and initialised in this process."""
    try:
        check_espeak()
    except GestsearchError:
        return False
    return True


def synthesize(words: Sequence[str], voice: Voice = Voice()) -> Speech:
    """Speak ``words`` (lower-case, no spaces or punctuation) as one phrase.

    Word starts are espeak-ng's WORD events; raises :class:`MergedWordsError` when espeak-ng
    speaks two words as one unit (a few function-word pairs such as "of the").
    """
    if not words:
        raise GestsearchError("cannot synthesise an empty phrase")
    text = " ".join(words)
    engine = _Espeak()
    try:
        samples, events = engine.synthesize(text, voice)
    finally:
        engine.close()
    offsets = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
    onset_by_offset = dict(events)
    missing = [w for w, o in zip(words, offsets) if int(o) not in onset_by_offset]
    if missing:
        raise MergedWordsError(f"espeak-ng reported no start for {missing} in {text!r}")
    audio = _resample(samples.astype(np.float32) / 32768.0, engine.rate, SAMPLE_RATE)
    starts = [onset_by_offset[int(o)] / engine.rate for o in offsets]
    ends = _voiced_ends(audio, starts)
    spoken = tuple(SpokenWord(w, s, e) for w, s, e in zip(words, starts, ends))
    return Speech(audio=audio, words=spoken)


def _resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited FFT resampling (exact for an utterance that starts and ends in silence)."""
    n_out = round(len(audio) * rate_out / rate_in)
    spectrum = np.fft.rfft(audio.astype(np.float64))[: n_out // 2 + 1]
    out = np.fft.irfft(spectrum, n_out) * (n_out / len(audio))
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def _voiced_ends(audio: np.ndarray, starts: Sequence[float]) -> list[float]:
    """Each word's end (s): the end of its last window louder than ``_SILENCE_DB`` before the next word."""
    window = int(_ENVELOPE_WINDOW_S * SAMPLE_RATE)
    n_windows = len(audio) // window
    rms = np.sqrt(np.mean(audio[: n_windows * window].reshape(n_windows, window) ** 2, axis=1))
    voiced = 20 * np.log10(rms / rms.max() + 1e-12) > _SILENCE_DB
    bounds = [*starts, len(audio) / SAMPLE_RATE]
    ends = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        first = int(start / _ENVELOPE_WINDOW_S)
        active = np.flatnonzero(voiced[first : max(int(stop / _ENVELOPE_WINDOW_S), first + 1)])
        end = (first + active[-1] + 1) * _ENVELOPE_WINDOW_S if active.size else start
        ends.append(float(np.clip(end, start + _ENVELOPE_WINDOW_S, stop)))
    return ends
