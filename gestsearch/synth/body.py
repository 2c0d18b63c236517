"""The articulated 2D upper body: skeleton geometry, hand shapes and two-link arm kinematics.

Body space: pixels of a nominal (scale 1) body, origin at the base of the neck (middle of the
shoulder line), +x towards the *dominant* side, +y down. The renderer scales, mirrors (for
left-handed speakers) and places it in the frame. Angles are radians in this space
(0 = pointing to +x, pi/2 = pointing down).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHOULDER_X = 58.0
SHOULDER_Y = 6.0
UPPER_ARM = 60.0
FOREARM = 56.0
NECK_TO_CHIN = 26.0  # the chin sits this far above the shoulder line
HAND_FIELDS = ("angle", "open", "facing", "point", "size")


@dataclass(frozen=True)
class HandShape:
    """A hand's look: finger direction ``angle`` (radians), ``open`` 0 (fist) .. 1 (flat, spread),
    ``facing`` -1 (back of the hand to the camera) .. 0 (edge-on) .. 1 (palm to the camera),
    ``point`` 0 .. 1 (index finger extended), ``size`` (1 = nominal, larger = closer to the camera)."""

    angle: float
    open: float = 0.8
    facing: float = 0.0
    point: float = 0.0
    size: float = 1.0

    def as_array(self) -> np.ndarray:
        """(5,) float64 in ``HAND_FIELDS`` order."""
        return np.array([getattr(self, f) for f in HAND_FIELDS], dtype=np.float64)


@dataclass(frozen=True)
class ArmTrack:
    """One arm over T frames: upper-arm direction ``shoulder`` (T,), signed elbow bend ``elbow`` (T,)
    (forearm direction = shoulder + elbow), hand shape ``hand`` (T, 5) in ``HAND_FIELDS`` order."""

    shoulder: np.ndarray
    elbow: np.ndarray
    hand: np.ndarray


def shoulder_point(side: int) -> np.ndarray:
    """(2,) the shoulder joint of the dominant (side=+1) or other (side=-1) arm."""
    return np.array([side * SHOULDER_X, SHOULDER_Y])


def solve_arm(side: int, wrist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse kinematics: wrist targets (N, 2) → (shoulder angle (N,), elbow bend (N,)).

    Out-of-reach targets are pulled in along the shoulder→target line. Of the two elbow solutions
    the one nearer a pole below and outside the shoulder wins (elbows hang down and out).
    """
    shoulder = shoulder_point(side)
    v = np.atleast_2d(wrist) - shoulder
    dist = np.clip(np.hypot(v[:, 0], v[:, 1]), abs(UPPER_ARM - FOREARM) + 1.0, UPPER_ARM + FOREARM - 0.5)
    direction = np.arctan2(v[:, 1], v[:, 0])
    spread = np.arccos((UPPER_ARM**2 + dist**2 - FOREARM**2) / (2 * UPPER_ARM * dist))
    pole = shoulder + np.array([side * 70.0, 110.0])
    candidates = [direction + spread, direction - spread]
    elbows = [shoulder + UPPER_ARM * np.stack([np.cos(a), np.sin(a)], axis=1) for a in candidates]
    near_first = np.linalg.norm(elbows[0] - pole, axis=1) <= np.linalg.norm(elbows[1] - pole, axis=1)
    upper = np.where(near_first, candidates[0], candidates[1])
    reached = shoulder + dist[:, None] * np.stack([np.cos(direction), np.sin(direction)], axis=1)
    elbow_point = shoulder + UPPER_ARM * np.stack([np.cos(upper), np.sin(upper)], axis=1)
    fore = reached - elbow_point
    bend = wrap_angle(np.arctan2(fore[:, 1], fore[:, 0]) - upper)
    return upper, bend


def forward_arm(side: int, shoulder_angle: np.ndarray, elbow_bend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward kinematics: joint angles (N,) → (elbow points (N, 2), wrist points (N, 2))."""
    shoulder = shoulder_point(side)
    elbow = shoulder + UPPER_ARM * np.stack([np.cos(shoulder_angle), np.sin(shoulder_angle)], axis=-1)
    fore = shoulder_angle + elbow_bend
    wrist = elbow + FOREARM * np.stack([np.cos(fore), np.sin(fore)], axis=-1)
    return elbow, wrist


def wrap_angle(a: np.ndarray | float) -> np.ndarray:
    """Angles wrapped to [-pi, pi)."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi
