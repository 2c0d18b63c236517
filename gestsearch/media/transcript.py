"""Transcript records: words with times, normalised the way the official JEGAL code does."""

from __future__ import annotations

import ast
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from gestsearch.constants import FPS
from gestsearch.errors import TranscriptError


def normalise_word(word: str) -> str:
    """Lower-case ``word`` and strip punctuation and symbols, as the official code does
    (``lower()`` then drop ``string.punctuation``: "He's," → "hes", like the AVS manifests),
    extended to Unicode punctuation. Digits are kept. May return "".
    """
    chars = unicodedata.normalize("NFC", word.strip().lower())
    return "".join(ch for ch in chars if unicodedata.category(ch)[0] not in "PSZC")


@dataclass(frozen=True)
class Word:
    """One spoken word. ``word`` is normalised, ``display`` the original text; times in seconds."""

    word: str
    display: str
    start_s: float
    end_s: float

    @property
    def start_frame(self) -> int:
        """First 25 fps frame of the word: ``round(start_s * 25)``."""
        return round(self.start_s * FPS)

    @property
    def end_frame(self) -> int:
        """Last 25 fps frame of the word (inclusive): ``round(end_s * 25)``."""
        return round(self.end_s * FPS)


@dataclass(frozen=True)
class Transcript:
    """Timed words of one recording.

    ``text`` is the display text; ``source`` says where the times come from, e.g.
    ``"sidecar:txt"``, ``"sidecar:srt+aligned:pocketsphinx"``, ``"manifest"``,
    ``"aligned:pocketsphinx"``, ``"asr:whisper"``.
    """

    words: list[Word]
    text: str
    source: str

    def boundaries(self) -> list[list]:
        """``[[word, start_frame, end_frame], ...]`` at 25 fps, inclusive, like the AVS manifests."""
        return [[w.word, w.start_frame, w.end_frame] for w in self.words]


def transcript_from_boundaries(phrase: str, boundaries: str | Sequence[Sequence]) -> Transcript:
    """Build a transcript from manifest word boundaries (frames at 25 fps, inclusive).

    ``boundaries`` is a list of ``[word, start_frame, end_frame]`` or its Python-literal text,
    as in the ``word_boundaries`` column of the AVS CSVs. Display words come from ``phrase``
    when it has one token per boundary.
    """
    if isinstance(boundaries, str):
        try:
            boundaries = ast.literal_eval(boundaries)
        except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
            raise TranscriptError(f"word boundaries are not a Python literal list: {boundaries[:80]!r}") from e
    try:
        rows = [(str(w), int(s), int(e)) for w, s, e in boundaries]
    except (TypeError, ValueError) as e:
        raise TranscriptError(f"word boundaries must be [word, start_frame, end_frame] rows: {e}") from e
    tokens = phrase.split()
    displays = tokens if len(tokens) == len(rows) else [w for w, _, _ in rows]
    words = []
    for (word, start, end), display in zip(rows, displays):
        if start < 0 or end < start:
            raise TranscriptError(f"word {word!r} has invalid frames {start}..{end}")
        words.append(Word(normalise_word(word), display, start / FPS, end / FPS))
    return Transcript([w for w in words if w.word], phrase.strip(), "manifest")


def fill_untimed(
    displays: Sequence[str], times: Sequence[tuple[float, float] | None], span: tuple[float, float]
) -> list[Word]:
    """Give every word a time: untimed ones share their gap in proportion to their length.

    ``times[i]`` is ``(start_s, end_s)`` or None. A run of untimed words gets the gap between
    the end of the timed word before it (or ``span[0]``) and the start of the one after it (or
    ``span[1]``), split by character count. Words that normalise to "" are dropped.
    """
    words: list[Word] = []
    i = 0
    while i < len(displays):
        if times[i] is not None:
            start, end = times[i]
            words.append(Word(normalise_word(displays[i]), displays[i], start, end))
            i += 1
            continue
        j = i
        while j < len(displays) and times[j] is None:
            j += 1
        gap_start = words[-1].end_s if words else span[0]
        gap_end = times[j][0] if j < len(displays) else span[1]
        words.extend(_split(displays[i:j], gap_start, max(gap_start, gap_end)))
        i = j
    return [w for w in words if w.word]


def _split(displays: Sequence[str], start_s: float, end_s: float) -> list[Word]:
    """Split ``[start_s, end_s]`` between ``displays`` in proportion to their lengths."""
    weights = [max(1, len(normalise_word(d))) for d in displays]
    total = sum(weights)
    words, t = [], start_s
    for display, weight in zip(displays, weights):
        t_end = t + (end_s - start_s) * weight / total
        words.append(Word(normalise_word(display), display, t, t_end))
        t = t_end
    return words
