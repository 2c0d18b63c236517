"""Lazy access to the MediaPipe 0.10.14 legacy solutions (models bundled in the wheel, offline).

Only ``model_complexity=1`` pose/holistic models ship with the wheel; face detection, face
mesh and hands need no download. Importing MediaPipe takes ~1 s, so it happens on first use.
"""

from __future__ import annotations

import functools
import warnings
from types import ModuleType


@functools.cache
def solutions() -> ModuleType:
    """``mediapipe.python.solutions`` (``import mediapipe.solutions`` does not exist)."""
    warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
    from mediapipe.python import solutions as mp_solutions

    return mp_solutions


def face_detector():
    """Full-range BlazeFace (``model_selection=1``): finds small and half-turned faces in wide shots."""
    return solutions().face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)


def face_mesh():
    """468-landmark face mesh in tracking mode, one face (the speaker's crop)."""
    return solutions().face_mesh.FaceMesh(
        static_image_mode=False, max_num_faces=1, refine_landmarks=False,
        min_detection_confidence=0.5, min_tracking_confidence=0.5,
    )


def hand_detector():
    """Hand landmarks on unrelated still images (sampled frames), up to two hands."""
    return solutions().hands.Hands(static_image_mode=True, max_num_hands=2, min_detection_confidence=0.5)


def holistic():
    """Body pose (33 points) and both hands (21 points each) in tracking mode, for video.

    ``model_complexity=1`` is the only pose model in the wheel (0 and 2 need a download); the
    hands come from the pose's wrists, so left and right are the person's own.
    """
    return solutions().holistic.Holistic(
        static_image_mode=False, model_complexity=1, smooth_landmarks=True,
        min_detection_confidence=0.5, min_tracking_confidence=0.5,
    )
