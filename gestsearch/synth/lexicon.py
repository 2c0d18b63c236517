"""The gesture lexicon (iconic gestures bound to words) and the filler vocabulary.

Each gesture is a stroke: keyframes of wrist position and hand shape for the dominant arm (and,
for two-handed gestures, the other arm) over the stroke phase u in [0, 1], in body space (see
``body``: +x = the dominant side, +y down, origin at the base of the neck, shoulders at (±58, 6)).
Every wrist stays at y >= 28 so that fingers pointing up stay below the masked face (chin at y=-26).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

from gestsearch.synth.body import HandShape

UP, DOWN, OUT, IN = -90.0, 90.0, 0.0, 180.0


@dataclass(frozen=True)
class Keyframe:
    """Wrist position (body-space px) and hand shape at stroke phase ``u``."""

    u: float
    wrist: tuple[float, float]
    hand: HandShape


@dataclass(frozen=True)
class Gesture:
    """An iconic gesture: dominant-arm keyframes, other-arm keyframes (empty: that arm idles),
    and its nominal stroke duration in seconds."""

    word: str
    dominant: tuple[Keyframe, ...]
    other: tuple[Keyframe, ...] = ()
    duration: float = 0.6


def _hand(
    angle_deg: float, open_: float = 0.9, facing: float = 0.0, point: float = 0.0, size: float = 1.0
) -> HandShape:
    return HandShape(math.radians(angle_deg), open_, facing, point, size)


def _path(points: Iterable[tuple[float, float, float, HandShape]]) -> tuple[Keyframe, ...]:
    return tuple(Keyframe(u, (x, y), hand) for u, x, y, hand in points)


def _mirror(keys: tuple[Keyframe, ...]) -> tuple[Keyframe, ...]:
    """The same stroke for the other arm (x mirrored, finger direction mirrored)."""
    return tuple(
        Keyframe(k.u, (-k.wrist[0], k.wrist[1]), replace(k.hand, angle=math.pi - k.hand.angle)) for k in keys
    )


def _two_handed(word: str, keys: tuple[Keyframe, ...], duration: float) -> Gesture:
    return Gesture(word, keys, _mirror(keys), duration)


def _circle(center: tuple[float, float], radius: float, hand: HandShape, steps: int = 12) -> tuple[Keyframe, ...]:
    """One clockwise turn starting at the top."""
    cx, cy = center
    keys = []
    for i in range(steps + 1):
        a = 2 * math.pi * i / steps
        keys.append(Keyframe(i / steps, (cx + radius * math.sin(a), cy - radius * math.cos(a)), hand))
    return tuple(keys)


def _oscillation(
    center: tuple[float, float], dx: float, dangle_deg: float, base: HandShape, cycles: int
) -> tuple[Keyframe, ...]:
    """Side-to-side oscillation around ``center``: ``cycles`` full periods, starting and ending in the middle."""
    steps = 4 * cycles
    keys = []
    for i in range(steps + 1):
        s = math.sin(math.pi * i / 2)
        hand = replace(base, angle=base.angle + math.radians(dangle_deg) * s)
        keys.append(Keyframe(i / steps, (center[0] + dx * s, center[1]), hand))
    return tuple(keys)


_FLAT_UP = _hand(UP, 1.0, 0.0)
_INDEX = _hand(-60.0, 0.0, 0.3, point=1.0)
_INDEX_UP = _hand(UP, 0.0, 0.3, point=1.0)
_PALM_UP_OPEN = _hand(UP, 1.0, 1.0)

LEXICON: dict[str, Gesture] = {
    g.word: g
    for g in (
        # hands spread apart, palms facing each other
        _two_handed("big", _path([(0, 26, 64, _FLAT_UP), (1, 128, 54, _FLAT_UP)]), 0.55),
        # hands brought close together
        _two_handed("small", _path([(0, 84, 60, _hand(UP, 0.7)), (1, 12, 66, _hand(UP, 0.6))]), 0.55),
        # index finger rises
        Gesture("up", _path([(0, 62, 110, _INDEX_UP), (1, 72, 34, _INDEX_UP)]), duration=0.5),
        # flat hand, palm down, lowers
        Gesture("down", _path([(0, 56, 32, _hand(10, 0.9, -0.7)), (1, 62, 114, _hand(10, 0.9, -0.7))]), duration=0.5),
        # index finger traces a circle
        Gesture("circle", _circle((66, 66), 32, _INDEX), duration=0.8),
        # raised index finger wags side to side
        Gesture("no", _oscillation((36, 44), 20, 14, _hand(UP, 0.0, 1.0, point=1.0), cycles=2), duration=0.75),
        # flat hand taps the chest
        Gesture(
            "me",
            _path([(0, 24, 66, _hand(IN, 0.9, -1.0)), (0.4, 4, 56, _hand(IN, 0.9, -1.0)),
                   (0.7, 12, 60, _hand(IN, 0.9, -1.0)), (1, 4, 56, _hand(IN, 0.9, -1.0))]),
            duration=0.6,
        ),
        # index points outwards, towards the listener
        Gesture(
            "you",
            _path([(0, 76, 62, _hand(-20, 0.0, point=1.0)), (1, 136, 40, _hand(-10, 0.0, point=1.0, size=1.2))]),
            duration=0.45,
        ),
        # raised open hand oscillates
        Gesture("wave", _oscillation((100, 34), 10, 28, _PALM_UP_OPEN, cycles=2), duration=0.8),
        # both palms pushed towards the camera
        _two_handed("push", _path([(0, 32, 40, _hand(UP, 1.0, 1.0)), (1, 46, 64, _hand(UP, 1.0, 1.0, size=1.6))]), 0.5),
        # palm-up offer, outwards
        Gesture("give", _path([(0, 40, 94, _hand(20, 1.0, 0.5)), (1, 104, 72, _hand(-5, 1.0, 0.8))]), duration=0.6),
        # flat palm raised fast in front of the chest, then held
        Gesture(
            "stop",
            _path([(0, 46, 98, _hand(-70, 0.6, 0.3)), (0.35, 18, 46, _hand(UP, 1.0, 1.0, size=1.2)),
                   (1, 18, 44, _hand(UP, 1.0, 1.0, size=1.2))]),
            duration=0.45,
        ),
        # edge of the flat hand chops sideways
        Gesture("cut", _path([(0, -8, 72, _hand(OUT, 1.0, 0.0)), (1, 122, 72, _hand(OUT, 1.0, 0.0))]), duration=0.45),
        # fists together open outwards into palms
        _two_handed("open", _path([(0, 10, 84, _hand(DOWN, 0.0, -0.5)), (1, 80, 98, _hand(45, 1.0, 1.0))]), 0.6),
    )
}

# Common words espeak-ng pronounces well and pocketsphinx's dictionary knows; none is a lexicon word.
FILLER_WORDS: tuple[str, ...] = (
    "the", "a", "and", "then", "we", "they", "this", "that", "it", "was", "very", "really", "thing", "people",
    "time", "there", "here", "would", "could", "should", "know", "think", "just", "like", "right", "so", "well",
    "about", "after", "before", "every", "story", "idea", "house", "water", "today", "always", "never", "maybe",
    "again", "world", "money", "family", "school", "friend", "question", "answer", "problem", "moment", "reason",
    "because", "if", "when", "where", "what", "why", "how", "some", "many", "other", "first", "last", "next",
    "year", "day", "night", "morning", "work", "city", "country", "number", "someone", "everyone", "nothing",
    "something", "actually", "probably", "together", "almost", "enough", "already", "still", "even", "only",
    "also", "said", "told", "asked", "went", "came", "made", "took", "found", "called", "started", "wanted",
    "looked", "turned", "to", "of", "in", "on", "with", "for", "from", "is", "are", "have", "had", "do", "did",
)
