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
REST_REACH = 0.8 * (UPPER_ARM + FOREARM)  # 3D shoulder-wrist distance of a relaxed, bent arm
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
    """One arm over T frames: wrist positions ``wrist`` (T, 2) in body space and hand shapes
    ``hand`` (T, 5) in ``HAND_FIELDS`` order. The elbow follows from the wrist (``elbow_points``)."""

    wrist: np.ndarray
    hand: np.ndarray


def shoulder_point(side: int) -> np.ndarray:
    """(2,) the shoulder joint of the dominant (side=+1) or other (side=-1) arm."""
    return np.array([side * SHOULDER_X, SHOULDER_Y])


def elbow_points(side: int, wrist: np.ndarray) -> np.ndarray:
    """Elbows (N, 2) for wrists (N, 2): a 3D two-link arm, projected.

    A wrist closer to the shoulder than ``REST_REACH`` (in the image) is placed that far in 3D,
    towards the camera; of the circle of possible elbows the one furthest along a pole (down,
    outwards, slightly back) is taken. The elbow is thus a continuous function of the wrist and
    forearms foreshorten naturally when a hand comes forward.
    """
    shoulder = np.array([side * SHOULDER_X, SHOULDER_Y, 0.0])
    flat = np.atleast_2d(wrist) - shoulder[:2]
    dist2d = np.hypot(flat[:, 0], flat[:, 1])
    reach = np.clip(dist2d, REST_REACH, UPPER_ARM + FOREARM - 0.5)
    scale = np.minimum(1.0, reach / np.maximum(dist2d, 1e-6))
    depth = np.sqrt(np.maximum(reach**2 - (dist2d * scale) ** 2, 0.0))
    v = np.column_stack([flat * scale[:, None], depth])  # shoulder → wrist in 3D, |v| = reach
    axis = v / reach[:, None]
    along = (UPPER_ARM**2 - FOREARM**2 + reach**2) / (2 * reach)
    radius = np.sqrt(np.maximum(UPPER_ARM**2 - along**2, 0.0))
    pole = np.array([side * 0.45, 1.0, -0.35])
    towards = pole - (axis @ pole)[:, None] * axis
    towards /= np.maximum(np.linalg.norm(towards, axis=1, keepdims=True), 1e-9)
    elbow = shoulder + along[:, None] * axis + radius[:, None] * towards
    return elbow[:, :2]


def reachable(side: int, wrist: np.ndarray) -> np.ndarray:
    """Wrists (N, 2) pulled in along the shoulder→wrist line to within the arm's reach."""
    shoulder = shoulder_point(side)
    v = np.atleast_2d(wrist) - shoulder
    dist = np.maximum(np.hypot(v[:, 0], v[:, 1]), 1e-6)
    return shoulder + v * np.minimum(1.0, (UPPER_ARM + FOREARM - 0.5) / dist)[:, None]


def wrap_angle(a: np.ndarray | float) -> np.ndarray:
    """Angles wrapped to [-pi, pi)."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi

