"""Cutting a speaker track into clips, the retrieval unit.

With word timings, a clip is a spoken phrase: words are grouped at pauses longer than
``pause_s``, phrases longer than ``max_s`` are split between words, and phrases shorter than
``min_s`` are merged with the nearer neighbour when the result stays within ``max_s``. The
clip then reaches ``pad_s`` beyond the phrase on both sides (within the track), because
gestures often start a few hundred ms before the word they go with.
Without timings, clips are fixed windows of ``window_s`` every ``hop_s`` (the last one
aligned with the end of the track; a shorter track is one clip).
"""

from __future__ import annotations

from dataclasses import dataclass

from gestsearch.constants import FPS
from gestsearch.types import Boundary


@dataclass(frozen=True)
class ClipPolicy:
    min_s: float = 2.0
    max_s: float = 8.0
    pause_s: float = 0.5
    pad_s: float = 0.5
    window_s: float = 4.0
    hop_s: float = 2.0


@dataclass(frozen=True)
class Span:
    start_frame: int
    end_frame: int  # inclusive
    words: tuple[Boundary, ...] = ()


def phrase_spans(words: list[Boundary], track_start: int, track_end: int, policy: ClipPolicy = ClipPolicy()) -> list[Span]:
    """Clips of the words lying inside the track [track_start, track_end) (frames)."""
    inside = [w for w in words if w[1] >= track_start and w[2] < track_end]
    phrases: list[list[Boundary]] = []
    for w in inside:
        if phrases:
            last = phrases[-1]
            pause = (w[1] - last[-1][2]) / FPS
            if pause <= policy.pause_s and (w[2] - last[0][1] + 1) / FPS <= policy.max_s:
                last.append(w)
                continue
        phrases.append([w])
    phrases = _merge_short(phrases, policy)
    pad = round(policy.pad_s * FPS)
    return [Span(max(track_start, p[0][1] - pad), min(track_end - 1, p[-1][2] + pad), tuple(p)) for p in phrases]


def _merge_short(phrases: list[list[Boundary]], policy: ClipPolicy) -> list[list[Boundary]]:
    def length(p: list[Boundary]) -> float:
        return (p[-1][2] - p[0][1] + 1) / FPS

    merged = True
    while merged:
        merged = False
        for i, p in enumerate(phrases):
            if length(p) >= policy.min_s:
                continue
            options = []
            if i > 0 and length(phrases[i - 1] + p) <= policy.max_s:
                options.append((p[0][1] - phrases[i - 1][-1][2], i - 1))
            if i + 1 < len(phrases) and length(p + phrases[i + 1]) <= policy.max_s:
                options.append((phrases[i + 1][0][1] - p[-1][2], i))
            if options:
                _, j = min(options)
                phrases[j : j + 2] = [phrases[j] + phrases[j + 1]]
                merged = True
                break
    return phrases


def window_spans(track_start: int, track_end: int, policy: ClipPolicy = ClipPolicy()) -> list[Span]:
    """Fixed overlapping windows over the track [track_start, track_end)."""
    size, hop = round(policy.window_s * FPS), round(policy.hop_s * FPS)
    n = track_end - track_start
    if n <= 0:
        return []
    if n <= size:
        return [Span(track_start, track_end - 1)]
    starts = list(range(track_start, track_end - size, hop)) + [track_end - size]
    return [Span(s, s + size - 1) for s in starts]
