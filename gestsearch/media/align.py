"""Offline forced alignment of known text to 16 kHz audio with pocketsphinx (US English).

Words missing from the CMU dictionary get a rough letter-to-sound pronunciation so that the
aligner still gives them their own span (e.g. "deformans" in jegal ``sample2`` lands within
~40 ms of WhisperX). Whatever the aligner cannot place shares the gap between its aligned
neighbours in proportion to its length; if alignment fails altogether (noise, too little
audio) all words share the whole utterance that way.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import numpy as np

from gestsearch.constants import SAMPLE_RATE
from gestsearch.errors import TranscriptError
from gestsearch.media.transcript import Transcript, fill_untimed, normalise_word

# Rough English spelling -> ARPAbet, longest match first. Only for words the dictionary lacks.
_GRAPHEMES = {
    "tion": "SH AH N", "sion": "ZH AH N", "ough": "AO", "igh": "AY", "tch": "CH",
    "ch": "CH", "sh": "SH", "th": "TH", "ph": "F", "ng": "NG", "ck": "K", "qu": "K W",
    "wh": "W", "ee": "IY", "ea": "IY", "oo": "UW", "ou": "AW", "ow": "OW", "ai": "EY",
    "ay": "EY", "oi": "OY", "oy": "OY", "au": "AO", "aw": "AO", "er": "ER", "ir": "ER",
    "ur": "ER", "ar": "AA R", "or": "AO R",
    "a": "AE", "b": "B", "c": "K", "d": "D", "e": "EH", "f": "F", "g": "G", "h": "HH",
    "i": "IH", "j": "JH", "k": "K", "l": "L", "m": "M", "n": "N", "o": "AA", "p": "P",
    "q": "K", "r": "R", "s": "S", "t": "T", "u": "AH", "v": "V", "w": "W", "x": "K S",
    "y": "IY", "z": "Z",
}
_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_SPELLING = re.compile("|".join(sorted(_GRAPHEMES, key=len, reverse=True)) + "|[0-9]")
_NOT_WORDS = {"<s>", "</s>", "<sil>"}


def force_align(audio: np.ndarray, text: str) -> Transcript:
    """Time the words of ``text`` in ``audio`` (float32 mono 16 kHz, shape ``(N,)``).

    Returns a transcript with one word per non-empty normalised token of ``text``; its source
    is ``"aligned:pocketsphinx"``, or ``"aligned:proportional"`` when the aligner placed no
    word. Raises :class:`TranscriptError` only when there is no word or no audio.
    """
    displays = text.split()
    words = [normalise_word(d) for d in displays]
    if not any(words):
        raise TranscriptError(f"nothing to align: no words in {text[:80]!r}")
    if len(audio) == 0:
        raise TranscriptError("nothing to align to: the audio is empty")
    times = _aligned_times(np.asarray(audio, dtype=np.float32), words)
    source = "aligned:pocketsphinx" if any(times) else "aligned:proportional"
    return Transcript(fill_untimed(displays, times, (0.0, len(audio) / SAMPLE_RATE)), text.strip(), source)


def _aligned_times(audio: np.ndarray, words: list[str]) -> list[tuple[float, float] | None]:
    """(start_s, end_s) per word from pocketsphinx, None where it could not place one."""
    decoder = _decoder()
    entries = [(i, _dictionary_entry(decoder, w)) for i, w in enumerate(words) if w]
    entries = [(i, e) for i, e in entries if e is not None]
    times: list[tuple[float, float] | None] = [None] * len(words)
    if not entries:
        return times
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    try:
        decoder.set_align_text(" ".join(e for _, e in entries))
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        segments = [s for s in decoder.seg() or () if s.word not in _NOT_WORDS and not s.word.startswith("[")]
    except RuntimeError:
        _decoder.cache_clear()  # the failed utterance may have left it mid-way
        return times
    if len(segments) != len(entries):
        return times
    for (i, _), seg in zip(entries, segments):
        times[i] = (seg.start_frame / 100, (seg.end_frame + 1) / 100)
    return times


def _dictionary_entry(decoder, word: str) -> str | None:
    """``word`` as the dictionary knows it, adding a guessed pronunciation if it is missing."""
    if decoder.lookup_word(word) is not None:
        return word
    phones = _guess_phones(decoder, word)
    if not phones:
        return None
    try:
        decoder.add_word(word, phones, True)
    except RuntimeError:
        return None
    return word


def _guess_phones(decoder, word: str) -> str:
    """A rough ARPAbet pronunciation of ``word`` from its spelling ("" if it has no letters)."""
    ascii_word = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()
    phones: list[str] = []
    previous = ""
    for match in _SPELLING.finditer(ascii_word):
        piece = match.group()
        if piece.isdigit():
            phones.append(decoder.lookup_word(_DIGITS[int(piece)]))
        elif piece != previous and not (piece == "e" and match.end() == len(ascii_word) and phones):
            phones.append(_GRAPHEMES[piece])
        previous = piece
    return " ".join(phones)


@functools.lru_cache(maxsize=1)
def _decoder():
    """One pocketsphinx decoder per process (loading the model takes ~0.5 s); not thread-safe."""
    from pocketsphinx import Decoder

    return Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", bestpath=False)
