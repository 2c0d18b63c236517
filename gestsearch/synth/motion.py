"""From word timings to per-frame body poses: gesture and beat timing, idle motion, blending.

Idle wrists rest with slow drift and beats (quick downward flicks). A gesture's keyframes are
interpolated (Catmull-Rom) over the stroke and blended over the idle pose with a weight that
rises during the preparation, is 1 from the stroke through a short hold, and falls during the
retraction. Everything is in wrist space; the renderer derives the elbows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gestsearch.constants import FPS
from gestsearch.synth.body import ArmTrack, HandShape, reachable, wrap_angle
from gestsearch.synth.lexicon import LEXICON, Gesture, Keyframe
from gestsearch.synth.speech import SpokenWord

PREPARATION_S = 0.22
HOLD_S = 0.10
RETRACTION_S = 0.32
MIN_GAP_S = 0.10  # between one stroke's hold and the next stroke
BEAT_S = 0.28
MAX_LEAD_S = 0.30


@dataclass(frozen=True)
class Style:
    """Per-clip motion style: ``speed`` (>1 = faster strokes), ``amplitude`` (stroke size factor),
    ``beat_rate`` (probability that a free filler word gets a beat), resting wrist of the dominant arm."""

    speed: float
    amplitude: float
    beat_rate: float
    rest: tuple[float, float]


@dataclass(frozen=True)
class GestureEvent:
    """One rendered iconic gesture: stroke from ``start`` to ``end`` (seconds from the clip start),
    wrists scaled by ``amplitude`` around the first keyframe and shifted by ``offset`` (px)."""

    word: str
    start: float
    end: float
    amplitude: float
    offset: tuple[float, float]

    @property
    def gesture(self) -> Gesture:
        return LEXICON[self.word]

    def envelope(self, t: np.ndarray, speed: float) -> np.ndarray:
        """Blend weight in [0, 1] at times ``t`` (s)."""
        prep, retract = PREPARATION_S / speed, RETRACTION_S / speed
        rise = _smoothstep((t - (self.start - prep)) / prep)
        fall = _smoothstep(1 - (t - (self.end + HOLD_S)) / retract)
        return np.minimum(rise, fall)

    def busy_span(self, speed: float) -> tuple[float, float]:
        """(first, last) second during which the gesture moves the arm."""
        return self.start - PREPARATION_S / speed, self.end + HOLD_S + RETRACTION_S / speed


@dataclass(frozen=True)
class PoseTrack:
    """Body pose over T frames: both arms, whole-body sway (T, 2) px and head tilt (T,) radians."""

    dominant: ArmTrack
    other: ArmTrack
    sway: np.ndarray
    head_tilt: np.ndarray

    @property
    def n_frames(self) -> int:
        return len(self.sway)


def plan_gestures(words: Sequence[SpokenWord], style: Style, rng: np.random.Generator) -> list[GestureEvent]:
    """A stroke for every lexicon word: onset 0-300 ms before the word (later only when the previous
    stroke is still running), duration = nominal x U(0.85, 1.15) / speed."""
    events: list[GestureEvent] = []
    for w in words:
        if w.word not in LEXICON:
            continue
        start = w.start - rng.uniform(0.0, MAX_LEAD_S)
        duration = LEXICON[w.word].duration * rng.uniform(0.85, 1.15) / style.speed
        amplitude = style.amplitude * rng.uniform(0.92, 1.08)
        offset = (float(rng.uniform(-6, 6)), float(rng.uniform(-6, 6)))
        if events:
            start = max(start, events[-1].end + HOLD_S + MIN_GAP_S)
        events.append(GestureEvent(w.word, float(start), float(start + duration), float(amplitude), offset))
    return events


def plan_beats(
    words: Sequence[SpokenWord], events: Sequence[GestureEvent], style: Style, rng: np.random.Generator
) -> list[float]:
    """Beat onsets (s): on filler words clear of every gesture, each with probability ``beat_rate``."""
    busy = [e.busy_span(style.speed) for e in events]
    beats = []
    for w in words:
        onset = w.start - rng.uniform(0.0, 0.08)
        free = all(onset + BEAT_S < lo - 0.1 or onset > hi + 0.1 for lo, hi in busy)
        if w.word not in LEXICON and free and rng.random() < style.beat_rate:
            beats.append(float(onset))
    return beats


def listener_beats(quiet: Sequence[tuple[float, float]], rng: np.random.Generator, rate: float = 0.45) -> list[float]:
    """Beat onsets (s) of someone who is not speaking: at random times inside the ``quiet`` spans
    (s), ``rate`` a second on average. Listeners shift and flick their hands too, only not in time
    with the words, which is what makes them a fair negative for a speaking score."""
    beats: list[float] = []
    for lo, hi in quiet:
        t = lo + float(rng.exponential(1 / rate))
        while t + BEAT_S < hi:
            beats.append(t)
            t += BEAT_S + float(rng.exponential(1 / rate))
    return beats


def pose_track(
    n_frames: int, events: Sequence[GestureEvent], beats: Sequence[float], style: Style, rng: np.random.Generator
) -> PoseTrack:
    """Per-frame poses for a clip of ``n_frames`` frames at 25 fps."""
    t = np.arange(n_frames) / FPS
    rest_other = (style.rest[0] * rng.uniform(0.85, 1.15), style.rest[1] + rng.uniform(-6, 6))
    beat_dip = sum((_bump((t - b) * style.speed / BEAT_S) for b in beats), np.zeros(n_frames))
    dominant = _idle_arm(+1, style.rest, t, rng, dip=beat_dip * style.amplitude * rng.uniform(10, 16))
    other = _idle_arm(-1, rest_other, t, rng, dip=np.zeros(n_frames))
    for event in events:
        weight = event.envelope(t, style.speed)
        phase = np.clip((t - event.start) / (event.end - event.start), 0.0, 1.0)
        eased = 0.5 - 0.5 * np.cos(np.pi * phase)
        dominant = _blend(dominant, _stroke(+1, event.gesture.dominant, event, eased), weight)
        if event.gesture.other:
            other = _blend(other, _stroke(-1, event.gesture.other, event, eased), weight)
    sway = np.stack([_drift(t, rng, 2.0, (0.08, 0.2)), _drift(t, rng, 1.2, (0.2, 0.3))], axis=1)
    return PoseTrack(dominant, other, sway, _drift(t, rng, 0.04, (0.1, 0.3)))


def _idle_arm(
    side: int, rest: tuple[float, float], t: np.ndarray, rng: np.random.Generator, dip: np.ndarray
) -> ArmTrack:
    """A resting arm: the wrist drifts around ``rest`` (side-mirrored) and dips by ``dip`` (T,) px on beats."""
    wrist = np.stack([side * rest[0] + _drift(t, rng, 3.0), rest[1] + _drift(t, rng, 3.0) + dip], axis=1)
    resting = HandShape(angle=np.pi / 2 + side * 0.6, open=0.4, facing=-0.3).as_array()
    hand = np.repeat(resting[None], len(t), axis=0)
    hand[:, 0] += _drift(t, rng, 0.08) + side * 0.02 * dip
    return ArmTrack(wrist, hand)


def _stroke(side: int, keys: tuple[Keyframe, ...], event: GestureEvent, phase: np.ndarray) -> ArmTrack:
    """Wrists and hand shapes at stroke phases ``phase`` (T,) in [0, 1]."""
    wrists = np.array([k.wrist for k in keys])
    wrists = wrists[0] + event.amplitude * (wrists - wrists[0]) + np.array(event.offset) * (side, 1)
    hands = np.array([k.hand.as_array() for k in keys])
    hands[:, 0] = np.unwrap(hands[:, 0])
    curve = _spline(np.array([k.u for k in keys]), np.column_stack([reachable(side, wrists), hands]), phase)
    return ArmTrack(reachable(side, curve[:, :2]), curve[:, 2:])


def _blend(base: ArmTrack, target: ArmTrack, weight: np.ndarray) -> ArmTrack:
    """``base`` moved towards ``target`` by ``weight`` (T,); the finger direction turns the shortest way."""
    w = weight[:, None]
    hand = base.hand + w * (target.hand - base.hand)
    hand[:, 0] = base.hand[:, 0] + weight * wrap_angle(target.hand[:, 0] - base.hand[:, 0])
    return ArmTrack(base.wrist + w * (target.wrist - base.wrist), hand)


def _spline(knots: np.ndarray, values: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Catmull-Rom interpolation of ``values`` (K, D) given at ``knots`` (K,) → (N, D) at ``u`` (N,)."""
    if len(knots) == 1:
        return np.repeat(values, len(u), axis=0)
    padded = np.concatenate([values[:1], values, values[-1:]])
    seg = np.clip(np.searchsorted(knots, u, side="right") - 1, 0, len(knots) - 2)
    s = ((u - knots[seg]) / (knots[seg + 1] - knots[seg]))[:, None]
    p0, p1, p2, p3 = padded[seg], padded[seg + 1], padded[seg + 2], padded[seg + 3]
    return 0.5 * (2 * p1 + (p2 - p0) * s + (2 * p0 - 5 * p1 + 4 * p2 - p3) * s**2 + (3 * p1 - p0 - 3 * p2 + p3) * s**3)


def _drift(
    t: np.ndarray, rng: np.random.Generator, amplitude: float, hz: tuple[float, float] = (0.15, 0.45)
) -> np.ndarray:
    """Slow smooth wandering: two sines of random frequency and phase, peak about ``amplitude``."""
    freqs = rng.uniform(*hz, size=2)
    phases = rng.uniform(0, 2 * np.pi, size=2)
    return amplitude * 0.5 * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None]).sum(axis=0)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _bump(x: np.ndarray) -> np.ndarray:
    """sin² pulse on x in [0, 1], zero elsewhere."""
    return np.where((x >= 0) & (x <= 1), np.sin(np.pi * np.clip(x, 0, 1)) ** 2, 0.0)
