"""MediaPipe landmarks mapped onto the upper-body joint sets of the TED gesture datasets.

Gesture generators such as HA2G and AQ-GT train on these datasets as *direction vectors*: per
bone ``(parent, child)``, the unit vector from the parent joint to the child joint, in 3-D, at
15 fps, minus a dataset mean (the model's config holds it). Two joint sets:

- ``ted_gesture``: the TED Gesture dataset of Yoon et al. (Trimodal context, SIGGRAPH Asia
  2020), on which AQ-GT (hvoss-techfak/AQGT, built on the Trimodal code) is benchmarked too:
  10 joints, 9 bones. Joint order from the Human3.6M joints its loader maps onto them
  (``target_joints`` minus the hips in ai4r/Gesture-Generation-from-Trimodal-Context
  ``scripts/data_loader/h36m_loader.py``); bones from ``dir_vec_pairs`` in
  ``scripts/utils/data_utils.py`` of the same repository.
- ``ted_expressive``: TED Expressive (HA2G, CVPR 2022): 43 joints, 42 bones,
  with three joints per finger. Bones and joint names from ``dir_vec_pairs`` in
  alvinliu0/HA2G ``scripts/utils/data_utils_expressive.py``; the joints are SMPL-X joints
  (spine3, neck, shoulders, elbows, wrists, 15 finger joints per hand in SMPL-X order, nose,
  eyes, ears; ``dataset_script/script/make_ted_dataset.py`` takes them from ExPose).

Axes. Neither dataset documents its axes; they follow from the mean direction vectors in the
configs (``config/multimodal_context.yml`` and HA2G ``config_expressive/hierarchy.yml``): in both,
spine → neck points to -y (y is down). TED Expressive has the left shoulder at +x and the
forearms pointing to -z: camera axes (x right in the image, y down, z away from the camera).
TED Gesture has its left shoulder (joint 4) at -x and forearms pointing to +z: the same axes
turned 180 degrees about y (x towards the image's left, z towards the camera).

What 2-D landmarks cannot fill:

- depth: ``z`` is MediaPipe's single-image estimate, not a measurement (body: its world
  landmarks, scaled to pixels; hands: relative to their wrist, joined at the body's wrist;
  :func:`stacked_points`). ``*_dir_vec`` use it; ``*_dir_vec_2d`` leave it out (the bone's
  direction in the image plane, z = 0);
- metric scale: positions are in source pixels (z in pixels of the same scale), not metres;
  the datasets rebuild poses from the direction vectors with fixed bone lengths instead;
- joints MediaPipe has no point for are approximated (``APPROXIMATED``): the spine, the neck
  and TED Gesture's head top;
- finger joints exist only in frames where Holistic found that hand (NaN otherwise); fingertips
  are not part of TED Expressive, so MediaPipe's tips go unused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gestsearch.media.pose import HAND_LANDMARKS, HANDS, POSE_LANDMARKS

Term = tuple[int, float]  # (point index in the stacked pose + left hand + right hand points, weight)

_N_POSE, _N_HAND = len(POSE_LANDMARKS), len(HAND_LANDMARKS)


def _pose(name: str, weight: float = 1.0) -> Term:
    return POSE_LANDMARKS.index(name), weight


def _hand(side: str, name: str) -> Term:
    return _N_POSE + HANDS.index(side) * _N_HAND + HAND_LANDMARKS.index(name), 1.0


def _mean(*names: str) -> tuple[Term, ...]:
    return tuple(_pose(n, 1 / len(names)) for n in names)


_SCALE_POINTS = ("nose", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist")
_SPINE = _mean("left_shoulder", "right_shoulder", "left_hip", "right_hip")
_NECK = _mean("left_shoulder", "right_shoulder")
# The crown: the ear midpoint raised by the mouth-to-eyes distance (weights sum to 1).
_HEAD_TOP = _mean("left_ear", "right_ear") + tuple(_pose(n, w) for n, w in (
    ("left_eye", 0.5), ("right_eye", 0.5), ("mouth_left", -0.5), ("mouth_right", -0.5)))

APPROXIMATED = {
    "spine": "midpoint of the shoulder midpoint and the hip midpoint (MediaPipe has no spine point; "
             "hips are often out of view in talks and then guessed by MediaPipe, see the confidence)",
    "neck": "shoulder midpoint",
    "head": "ear midpoint raised by the mouth-to-eyes distance (MediaPipe has no head-top point)",
}

# SMPL-X finger joints 1-3 (knuckle outwards) and the MediaPipe hand points at the same places.
_FINGERS = (
    ("index", ("index_mcp", "index_pip", "index_dip")),
    ("middle", ("middle_mcp", "middle_pip", "middle_dip")),
    ("pinky", ("pinky_mcp", "pinky_pip", "pinky_dip")),
    ("ring", ("ring_mcp", "ring_pip", "ring_dip")),
    ("thumb", ("thumb_cmc", "thumb_mcp", "thumb_ip")),
)


@dataclass(frozen=True)
class JointSet:
    """A dataset's joints (each a weighted sum of MediaPipe points), its bones and its axes.

    ``axes``: signs that turn camera axes (x right, y down, z away) into the dataset's.
    """

    name: str
    joints: tuple[str, ...]
    recipes: tuple[tuple[Term, ...], ...]
    bones: tuple[tuple[int, int], ...]
    axes: tuple[float, float, float]
    axes_text: str
    sources: tuple[str, ...]

    def describe(self) -> dict[str, object]:
        """What the export's metadata says about this joint set."""
        return {
            "joints": list(self.joints),
            "bones": [list(b) for b in self.bones],
            "axes": self.axes_text,
            "origin": "the spine joint (index 0)",
            "units": "source pixels (z: MediaPipe's depth estimate in pixels of the same scale)",
            "sources": list(self.sources),
            "filled_from": {j: _recipe_text(r) for j, r in zip(self.joints, self.recipes)},
            "approximated": {j: APPROXIMATED[j] for j in self.joints if j in APPROXIMATED},
            "not_filled": NOT_FILLED,
        }


NOT_FILLED = [
    "true depth: z is MediaPipe's single-image estimate (body: its world landmarks' depth, scaled to pixels "
    "per frame; hands: the hand model's depth relative to the wrist, placed at the body's wrist depth); "
    "*_dir_vec_2d leaves it out",
    "metric scale: positions are in source pixels, not metres (the datasets rebuild poses from "
    "direction vectors and fixed bone lengths)",
    "finger joints in frames where Holistic found no hand (NaN there)",
    "the dataset's mean direction vector: subtract the mean of the model's own config before feeding it",
    "the datasets' 15 fps: resample the 25 fps sequence if the model expects 15",
]


def _finger_joints(side: str) -> list[tuple[str, tuple[Term, ...]]]:
    return [(f"{side}_{finger}{k + 1}", (_hand(side, point),)) for finger, points in _FINGERS for k, point in enumerate(points)]


_GESTURE_JOINTS: list[tuple[str, tuple[Term, ...]]] = [
    ("spine", _SPINE), ("neck", _NECK), ("nose", (_pose("nose"),)), ("head", _HEAD_TOP),
    *[(f"{s}_{p}", (_pose(f"{s}_{p}"),)) for s in ("left", "right") for p in ("shoulder", "elbow", "wrist")],
]
_EXPRESSIVE_JOINTS: list[tuple[str, tuple[Term, ...]]] = [
    ("spine", _SPINE), ("neck", _NECK),
    *[(f"{s}_{p}", (_pose(f"{s}_{p}"),)) for p in ("shoulder", "elbow", "wrist") for s in ("left", "right")],
    *_finger_joints("left"), *_finger_joints("right"),
    ("nose", (_pose("nose"),)), ("right_eye", (_pose("right_eye"),)), ("left_eye", (_pose("left_eye"),)),
    ("right_ear", (_pose("right_ear"),)), ("left_ear", (_pose("left_ear"),)),
]


def _bones(names: tuple[str, ...], pairs: list[tuple[str, str]]) -> tuple[tuple[int, int], ...]:
    return tuple((names.index(a), names.index(b)) for a, b in pairs)


def _hand_bones(side: str) -> list[tuple[str, str]]:
    bones = []
    for finger, _ in _FINGERS:
        chain = [f"{side}_wrist", *(f"{side}_{finger}{k}" for k in (1, 2, 3))]
        bones += list(zip(chain, chain[1:]))
    return bones


def _joint_set(name: str, joints: list[tuple[str, tuple[Term, ...]]], pairs: list[tuple[str, str]],
               axes: tuple[float, float, float], axes_text: str, sources: tuple[str, ...]) -> JointSet:
    names = tuple(j for j, _ in joints)
    return JointSet(name, names, tuple(r for _, r in joints), _bones(names, pairs), axes, axes_text, sources)


TED_GESTURE = _joint_set(
    "ted_gesture",
    _GESTURE_JOINTS,
    [("spine", "neck"), ("neck", "nose"), ("nose", "head"),
     ("neck", "left_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
     ("neck", "right_shoulder"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist")],
    (-1.0, 1.0, -1.0),
    "x towards the image's left (the speaker's right), y down, z towards the camera",
    ("ai4r/Gesture-Generation-from-Trimodal-Context scripts/data_loader/h36m_loader.py (joint order)",
     "ai4r/Gesture-Generation-from-Trimodal-Context scripts/utils/data_utils.py (dir_vec_pairs)",
     "ai4r/Gesture-Generation-from-Trimodal-Context config/multimodal_context.yml (mean_dir_vec: axes)"),
)
TED_EXPRESSIVE = _joint_set(
    "ted_expressive",
    _EXPRESSIVE_JOINTS,
    [("spine", "neck"), ("neck", "left_shoulder"), ("neck", "right_shoulder"),
     ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), *_hand_bones("left"),
     ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), *_hand_bones("right"),
     ("neck", "nose"), ("nose", "right_eye"), ("nose", "left_eye"), ("right_eye", "right_ear"), ("left_eye", "left_ear")],
    (1.0, 1.0, 1.0),
    "camera axes: x right in the image (the speaker's left), y down, z away from the camera",
    ("alvinliu0/HA2G scripts/utils/data_utils_expressive.py (dir_vec_pairs, joint names)",
     "alvinliu0/HA2G dataset_script/script/make_ted_dataset.py (SMPL-X joints from ExPose)",
     "alvinliu0/HA2G config_expressive/hierarchy.yml (mean_dir_vec: axes)"),
)
JOINT_SETS = (TED_GESTURE, TED_EXPRESSIVE)


def stacked_points(pose: np.ndarray, world: np.ndarray, hands: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pose (T, 33, 4) and hands (T, 2, 21, 4) in whole-frame coordinates and the pose's world
    landmarks (T, 33, 4) → points (T, 75, 3) in source pixels, camera axes, and their scores
    (T, 75): visibility, or hand presence.

    x and y come from the image. The body's depth is its world landmarks' z (metres), turned into
    pixels by the frame's own scale (least squares of the world x, y onto the image x, y over the
    upper body): MediaPipe's image-space z exaggerates body depth several times. A hand's z is
    relative to its wrist (pixels once scaled like x); it is moved to the depth of the body's
    wrist on that side, so body and fingers share one depth axis."""
    n = len(pose)
    body = pose[..., :3].astype(np.float64) * (width, height, width)
    upper = [POSE_LANDMARKS.index(name) for name in _SCALE_POINTS]
    pixels_per_metre = _pixels_per_metre(body[:, upper, :2], world[:, upper, :2].astype(np.float64))
    body[..., 2] = world[..., 2] * pixels_per_metre[:, None]
    fingers = hands[..., :3].astype(np.float64) * (width, height, width)
    wrists = body[:, [POSE_LANDMARKS.index("left_wrist"), POSE_LANDMARKS.index("right_wrist")], 2]
    fingers[..., 2] += wrists[:, :, None]
    points = np.concatenate([body, fingers.reshape(n, -1, 3)], axis=1)
    scores = np.concatenate([pose[..., 3], hands[..., 3].reshape(n, -1)], axis=1).astype(np.float64)
    return points, scores


def _pixels_per_metre(image_xy: np.ndarray, world_xy: np.ndarray) -> np.ndarray:
    """Per frame, the least-squares scale ``s`` of ``image ≈ s * world + offset`` (T, P, 2) over the
    points seen in both; NaN with fewer than two."""
    seen = (np.isfinite(image_xy).all(-1) & np.isfinite(world_xy).all(-1))[..., None]
    count = seen.sum(1, keepdims=True)
    image, world = np.where(seen, image_xy, 0.0), np.where(seen, world_xy, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        image = np.where(seen, image - image.sum(1, keepdims=True) / count, 0.0)
        world = np.where(seen, world - world.sum(1, keepdims=True) / count, 0.0)
        scale = (image * world).sum((1, 2)) / (world**2).sum((1, 2))
    scale[count[:, 0, 0] < 2] = np.nan
    return scale


def joint_points(
    joint_set: JointSet, pose: np.ndarray, world: np.ndarray, hands: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """The joints (T, J, 3) float64 in camera axes and source pixels, and their confidence (T, J):
    the lowest visibility/presence of the points each joint is made of (0 when the joint is
    missing). A joint is NaN in frames where any of its points is."""
    points, scores = stacked_points(pose, world, hands, width, height)
    n = len(points)
    joints = np.zeros((n, len(joint_set.joints), 3))
    confidence = np.full((n, len(joint_set.joints)), np.inf)
    for j, recipe in enumerate(joint_set.recipes):
        for index, weight in recipe:
            joints[:, j] += weight * points[:, index]  # NaN in, NaN out
            confidence[:, j] = np.fmin(confidence[:, j], scores[:, index])
    confidence[np.isnan(joints).any(axis=2) | np.isnan(confidence)] = 0.0
    return joints, confidence


def map_joints(
    joint_set: JointSet, pose: np.ndarray, world: np.ndarray, hands: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """The joints (T, J, 3) float32 in the set's axes, source pixels, origin at the spine (the
    datasets centre their poses there), and their confidence (T, J) (:func:`joint_points`)."""
    joints, confidence = joint_points(joint_set, pose, world, hands, width, height)
    joints = joints * joint_set.axes
    joints -= joints[:, :1]
    return joints.astype(np.float32), confidence.astype(np.float32)


def direction_vectors(joint_set: JointSet, joints: np.ndarray, planar: bool = False) -> np.ndarray:
    """(T, bones, 3) float32 unit vectors parent → child, as the datasets store motion (before
    their mean is subtracted). ``planar``: drop the depth first (the bone as the camera sees it,
    z = 0). NaN where a joint is missing or the two joints coincide."""
    parents = [a for a, _ in joint_set.bones]
    children = [b for _, b in joint_set.bones]
    bones = joints[:, children].astype(np.float64) - joints[:, parents]
    if planar:
        bones[..., 2] = 0.0
    length = np.linalg.norm(bones, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(length > 0, bones / length, np.nan)
    return unit.astype(np.float32)


def _recipe_text(recipe: tuple[Term, ...]) -> str:
    names = [*POSE_LANDMARKS, *(f"{side}_hand.{p}" for side in HANDS for p in HAND_LANDMARKS)]
    if len(recipe) == 1:
        return f"mediapipe {names[recipe[0][0]]}"
    return "mediapipe " + " ".join(f"{w:+.2f}*{names[i]}" for i, w in recipe)
