"""MediaPipe Holistic landmarks of one speaker, frame by frame over a span of the 25 fps timeline.

Frames come from :func:`~gestsearch.media.video.read_frames` (the project's 25 fps timeline), so
frame ``k`` here is frame ``k`` of the index. When the speaker track has a crop box, MediaPipe
sees only that box (in a multi-person shot it would otherwise pick whoever it finds first); the
landmarks are then mapped back, so every coordinate is relative to the *whole source frame*:

- ``x``, ``y``: normalised to the display width and height of the source (0..1 inside the frame;
  slightly outside for points MediaPipe places beyond the edge);
- ``z``: MediaPipe's depth estimate in units of the source width (MediaPipe scales ``z``
  like ``x``): for the body relative to the hip midpoint, for a hand relative to its wrist;
  smaller is nearer the camera. It is a single-image estimate, not a measurement, and for the
  body a poor one: on the JEGAL samples it puts the nose 2.3 shoulder widths in front of the
  neck. The body's *world* landmarks are steadier (0.2 m in front for 0.32 m shoulders).

Pose rows are ``(x, y, z, visibility)``; hand rows ``(x, y, z, presence)`` with presence 1 for a
hand found in that frame (Holistic gives hands no score) and 0 otherwise. World rows are
MediaPipe's ``pose_world_landmarks``: metres, origin at the hip midpoint, axes as the camera's
(x right, y down, z away), then visibility. Everything is NaN, presence aside, where nothing
was found.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from gestsearch.media.landmarks import holistic
from gestsearch.media.tracks import Box
from gestsearch.media.video import VideoInfo, read_frames

POSE_LANDMARKS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
HAND_LANDMARKS = (
    "wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip", "index_mcp", "index_pip", "index_dip",
    "index_tip", "middle_mcp", "middle_pip", "middle_dip", "middle_tip", "ring_mcp", "ring_pip", "ring_dip",
    "ring_tip", "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)
HANDS = ("left", "right")  # the person's own, as Holistic assigns them from the pose's wrists
MAX_SIDE = 1280  # longer side of what MediaPipe is given; its models work at 256 px anyway


@dataclass(frozen=True)
class LandmarkFrame:
    """One frame: the RGB ``image`` MediaPipe saw (the crop, maybe downscaled), ``pose`` (33, 4)
    and ``hands`` (2, 21, 4) in whole-frame coordinates, ``world`` (33, 4) in metres (module
    docstring), and ``crop``, the image's ``(x0, y0, x1, y1)`` in source pixels (to draw the
    landmarks onto the image)."""

    image: np.ndarray
    pose: np.ndarray
    world: np.ndarray
    hands: np.ndarray
    crop: tuple[float, float, float, float]


def empty_pose(n_frames: int) -> np.ndarray:
    """(n, 33, 4) float32 of NaN: no body found."""
    return np.full((n_frames, len(POSE_LANDMARKS), 4), np.nan, np.float32)


def empty_hands(n_frames: int) -> np.ndarray:
    """(n, 2, 21, 4) float32: coordinates NaN, presence 0."""
    hands = np.full((n_frames, len(HANDS), len(HAND_LANDMARKS), 4), np.nan, np.float32)
    hands[..., 3] = 0.0
    return hands


def iter_landmarks(
    info: VideoInfo, start_frame: int, end_frame: int, box: Box | None = None
) -> Iterator[LandmarkFrame]:
    """Landmarks of frames ``[start_frame, end_frame)`` of ``info``'s video, inside ``box``
    (source display pixels, end-exclusive; None: the whole frame). Frames past the end of the
    video are not yielded. Raises :class:`~gestsearch.errors.MediaError` for unreadable files."""
    x0, y0, x1, y1 = box or (0, 0, info.width, info.height)
    scale = min(1.0, MAX_SIDE / max(x1 - x0, y1 - y0))
    with holistic() as model:
        for frame in read_frames(info, start_frame, end_frame, scale):
            sy, sx = frame.shape[0] / info.height, frame.shape[1] / info.width  # the decoded size, exactly
            c0, c1 = math.floor(x0 * sx), min(frame.shape[1], math.ceil(x1 * sx))
            r0, r1 = math.floor(y0 * sy), min(frame.shape[0], math.ceil(y1 * sy))
            image = np.ascontiguousarray(frame[r0:r1, c0:c1])
            result = model.process(image)
            geometry = (c0 / sx, r0 / sy, (c1 - c0) / sx, (r1 - r0) / sy)
            pose, world, hands = empty_pose(1)[0], empty_pose(1)[0], empty_hands(1)[0]
            if result.pose_landmarks is not None:
                pose[:] = _to_frame(result.pose_landmarks.landmark, geometry, info, "visibility")
            if result.pose_world_landmarks is not None:
                world[:] = [(p.x, p.y, p.z, p.visibility) for p in result.pose_world_landmarks.landmark]
            for side, found in enumerate((result.left_hand_landmarks, result.right_hand_landmarks)):
                if found is not None:
                    hands[side] = _to_frame(found.landmark, geometry, info, None)
            yield LandmarkFrame(image, pose, world, hands, (c0 / sx, r0 / sy, c1 / sx, r1 / sy))


def _to_frame(points, geometry: tuple[float, float, float, float], info: VideoInfo, score: str | None) -> np.ndarray:
    """MediaPipe's crop-normalised points → whole-frame rows (x, y, z, score); score 1 when None."""
    left, top, width, height = geometry  # of the crop, in source pixels
    raw = np.array([(p.x, p.y, p.z, getattr(p, score) if score else 1.0) for p in points], np.float64)
    out = np.empty_like(raw)
    out[:, 0] = (left + raw[:, 0] * width) / info.width
    out[:, 1] = (top + raw[:, 1] * height) / info.height
    out[:, 2] = raw[:, 2] * width / info.width
    out[:, 3] = raw[:, 3]
    return out.astype(np.float32)
