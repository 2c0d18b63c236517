"""``pose``: each hit's motion as MediaPipe landmarks and TED-dataset joints, with a stick-figure preview.

Per hit, beside its mp4 cut (``RANK_CLIPID.mp4`` of the ``mp4`` format):

- ``RANK_CLIPID.pose.npz``: the arrays below, plus ``meta`` (the JSON file without ``data``);
- ``RANK_CLIPID.pose.json``: schema :data:`POSE_SCHEMA`, the metadata and the same arrays under
  ``data`` (nested lists, ``null`` for NaN, rounded as ``arrays[name].json_decimals`` says);
- ``RANK_CLIPID.pose.mp4``: the preview, 25 fps, silent: left the speaker's crop with the
  MediaPipe skeleton drawn on it, right the TED Expressive joints as a stick figure.

Frames: every frame of the 25 fps timeline in the hit's span, ``start_frame = round(span_start_s
* 25)``, ``T = round((span_end_s - span_start_s) * 25)``; frame ``i`` shows source time
``(start_frame + i) / 25``. Frames past the end of the video are NaN (``n_decoded`` says how
many the video had). Arrays (``meta.arrays`` repeats this with the shapes):

- ``pose`` (T, 33, 4) float32: MediaPipe pose landmarks, (x, y, z, visibility);
- ``pose_world`` (T, 33, 4) float32: its world landmarks, metres from the hip midpoint;
- ``hands`` (T, 2, 21, 4) float32: [left, right] hand landmarks, (x, y, z, presence);
- ``frame_index`` (T,) int64 and ``time_s`` (T,) float64;
- per TED joint set (``ted_gesture``, ``ted_expressive``, :mod:`gestsearch.export.ted`):
  ``*_joints`` (T, J, 3), ``*_confidence`` (T, J), ``*_dir_vec`` (T, B, 3), ``*_dir_vec_2d`` (T, B, 3).

Coordinates are relative to the whole source frame even when MediaPipe ran inside the speaker
track's crop box (:mod:`gestsearch.media.pose`); ``crop_box`` records that box. The track's box
is found again with ``speaker_tracks(video, "auto")``, the indexer's default.
"""

from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path

import numpy as np

from gestsearch import atomic
from gestsearch.constants import FPS, SAMPLES_PER_FRAME
from gestsearch.errors import MediaError
from gestsearch.export.base import Exporter, ScoreMaps
from gestsearch.export.ted import JOINT_SETS, TED_EXPRESSIVE, direction_vectors, joint_points, map_joints
from gestsearch.export.tiers import hit_stem
from gestsearch.media.pose import HAND_LANDMARKS, HANDS, POSE_LANDMARKS, LandmarkFrame, empty_hands, empty_pose, iter_landmarks
from gestsearch.media.tracks import Box, Track, speaker_tracks
from gestsearch.media.video import VideoInfo, probe
from gestsearch.results import Hit, SearchResult
from gestsearch.text import json_text

POSE_SCHEMA = "gestsearch.pose/1"
PREVIEW_HEIGHT = 270  # px of each of the two preview panels

FRAME_OF_REFERENCE = (
    "x, y normalised to the whole source frame's display width and height (0..1 inside the frame); "
    "z: MediaPipe's depth estimate in units of the source width (body: relative to the hip midpoint; "
    "hands: relative to their wrist), smaller is nearer the camera. When crop_box is set, MediaPipe ran "
    "inside that box (the speaker track's upper body) and the points were mapped back to the whole frame."
)


class PoseExporter(Exporter):
    """``RANK_CLIPID.pose.{npz,json,mp4}`` per hit (:func:`write_pose`)."""

    name = "pose"
    order = 2
    per_hit = True

    def write(self, result: SearchResult, out_dir: Path, score_maps: ScoreMaps = None) -> list[Path]:
        return [path for hit in result.hits for path in write_pose(hit, out_dir)]


def write_pose(hit: Hit, out_dir: Path | str) -> list[Path]:
    """Write the hit's ``.pose.npz``, ``.pose.json`` and ``.pose.mp4`` into ``out_dir``; return them.

    Raises :class:`MediaError` when the hit's video is missing or unreadable, or its span is empty.
    """
    out_dir = Path(out_dir)
    video = Path(hit.video_path)
    if not video.is_file():
        raise MediaError(video, f"hit {hit.rank}: the video is missing, so its pose cannot be exported")
    start = round(hit.span_start_s * FPS)
    n_frames = round((hit.span_end_s - hit.span_start_s) * FPS)
    if n_frames < 1:
        raise MediaError(video, f"hit {hit.rank}: the span {hit.span_start_s:.3f}-{hit.span_end_s:.3f} s holds no frame")
    info = probe(video)
    box, landmarks_from = speaker_box(video, hit.track, start, start + n_frames)

    pose, world, hands = empty_pose(n_frames), empty_pose(n_frames), empty_hands(n_frames)
    panels: list[np.ndarray] = []
    for i, frame in enumerate(iter_landmarks(info, start, start + n_frames, box)):
        pose[i], world[i], hands[i] = frame.pose, frame.world, frame.hands
        panels.append(preview_frame(frame, info))
    n_decoded = len(panels)
    arrays = motion_arrays(pose, world, hands, start, info.width, info.height)
    meta = _metadata(hit, info, start, n_frames, n_decoded, box, landmarks_from, arrays)

    stem = f"{hit_stem(hit)}.pose"
    written = [_write_npz(out_dir / f"{stem}.npz", arrays, meta), _write_json(out_dir / f"{stem}.json", arrays, meta)]
    if panels:
        panels += [panels[-1]] * (n_frames - n_decoded)
        written.append(_write_preview(out_dir / f"{stem}.mp4", np.stack(panels)))
    return written


def motion_arrays(
    pose: np.ndarray, world: np.ndarray, hands: np.ndarray, start_frame: int, width: int, height: int
) -> dict[str, np.ndarray]:
    """Every array of the export (module docstring), in file order, from the landmarks of
    :mod:`gestsearch.media.pose` (whole-frame coordinates; world landmarks in metres)."""
    frames = np.arange(start_frame, start_frame + len(pose), dtype=np.int64)
    arrays = {"frame_index": frames, "time_s": frames / FPS, "pose": pose, "pose_world": world, "hands": hands}
    for joint_set in JOINT_SETS:
        joints, confidence = map_joints(joint_set, pose, world, hands, width, height)
        arrays[f"{joint_set.name}_joints"] = joints
        arrays[f"{joint_set.name}_confidence"] = confidence
        arrays[f"{joint_set.name}_dir_vec"] = direction_vectors(joint_set, joints)
        arrays[f"{joint_set.name}_dir_vec_2d"] = direction_vectors(joint_set, joints, planar=True)
    return arrays


def speaker_box(video: Path, track: int, start_frame: int, end_frame: int) -> tuple[Box | None, str]:
    """The crop box of speaker ``track`` (None: the whole frame) and a note saying which it is.

    Tracks are found again as the indexer finds them by default (``auto``); a track that is not
    found again, or not over the span, falls back to the whole frame, and the note says so."""
    stat = video.stat()
    tracks = _tracks(str(video), stat.st_size, stat.st_mtime_ns)
    if track < len(tracks) and tracks[track].start_frame < end_frame and tracks[track].end_frame > start_frame:
        box = tracks[track].box
        return box, "the whole frame (a pre-cropped video)" if box is None else f"speaker track {track}'s crop box"
    return None, f"the whole frame: speaker track {track} was not found again over the span"


@functools.lru_cache(maxsize=16)
def _tracks(path: str, size: int, mtime_ns: int) -> tuple[Track, ...]:
    # Hits of one video share its tracks, and finding them reads the whole video; size and mtime
    # make a replaced file miss the cache.
    return tuple(speaker_tracks(path, "auto"))


# ------------------------------------------------------------------------------------ files


_DESCRIPTIONS = {
    "frame_index": ("int64", "frame of the 25 fps timeline of the source video", None),
    "time_s": ("float64", "source-video time of the frame, seconds", 3),
    "pose": ("float32", "MediaPipe pose landmarks (pose_landmarks order): x, y, z, visibility", 5),
    "pose_world": ("float32", "MediaPipe pose world landmarks: x, y, z in metres from the hip midpoint "
                   "(camera axes: x right, y down, z away), visibility", 5),
    "hands": ("float32", "hand landmarks (hand_landmarks order) of [left, right] hand: x, y, z, presence", 5),
    "joints": ("float32", "TED joints in the set's axes, source pixels, origin at the spine", 2),
    "confidence": ("float32", "lowest visibility/presence of the MediaPipe points a joint is made of", 4),
    "dir_vec": ("float32", "unit vector per bone (parent -> child) in 3-D, z from MediaPipe's depth estimate", 5),
    "dir_vec_2d": ("float32", "unit vector per bone in the image plane (z = 0): depth left out", 5),
}


def _description(name: str) -> tuple[str, str, int | None]:
    for joint_set in JOINT_SETS:
        if name.startswith(joint_set.name + "_"):
            return _DESCRIPTIONS[name.removeprefix(joint_set.name + "_")]
    return _DESCRIPTIONS[name]


def _metadata(hit: Hit, info: VideoInfo, start: int, n_frames: int, n_decoded: int, box: Box | None,
              landmarks_from: str, arrays: dict[str, np.ndarray]) -> dict[str, object]:
    layout = {}
    for name, array in arrays.items():
        dtype, text, decimals = _description(name)
        layout[name] = {"shape": list(array.shape), "dtype": dtype, "description": text, "json_decimals": decimals}
    return {
        "schema": POSE_SCHEMA,
        "fps": FPS,
        "start_frame": start,
        "n_frames": n_frames,
        "n_decoded": n_decoded,
        "hit": {key: value for key, value in hit.to_dict().items() if key in (
            "rank", "clip_id", "video_path", "track", "clip_start_s", "clip_end_s", "span_start_s", "span_end_s",
            "score", "speaking", "text")},
        "source": {"width": info.width, "height": info.height, "fps": info.source_fps},
        "landmarks_from": landmarks_from,
        "crop_box": None if box is None else list(box),
        "frame_of_reference": FRAME_OF_REFERENCE,
        "landmarker": {"name": "MediaPipe Holistic", "version": importlib.metadata.version("mediapipe"),
                       "model_complexity": 1, "smooth_landmarks": True},
        "pose_landmarks": list(POSE_LANDMARKS),
        "hand_landmarks": list(HAND_LANDMARKS),
        "hands": list(HANDS),
        "arrays": layout,
        **{joint_set.name: joint_set.describe() for joint_set in JOINT_SETS},
    }


def _write_npz(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, object]) -> Path:
    with atomic.atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays, meta=np.array(json_text(meta, indent=None)))
    return path


def _write_json(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, object]) -> Path:
    data = {}
    for name, array in arrays.items():
        decimals = meta["arrays"][name]["json_decimals"]  # type: ignore[index]
        data[name] = array.tolist() if decimals is None else _nested(array, decimals)
    return atomic.write_json(path, {**meta, "data": data}, indent=None)


def _nested(array: np.ndarray, decimals: int) -> list:
    """Nested lists of rounded floats, None for NaN (JSON has no NaN)."""
    rounded = np.round(array.astype(np.float64), decimals)
    values = rounded.astype(object)
    values[np.isnan(rounded)] = None
    return values.tolist()


# ---------------------------------------------------------------------------------- preview

_LEFT, _RIGHT, _CENTRE = (70, 130, 255), (255, 140, 40), (60, 60, 60)  # RGB: the person's left / right side


def preview_frame(frame: LandmarkFrame, info: VideoInfo) -> np.ndarray:
    """Two panels side by side: the crop MediaPipe saw with its skeleton, and the TED Expressive
    joints alone (as the camera sees them) on a plain background."""
    import cv2

    from gestsearch.media.landmarks import solutions

    height, width = frame.image.shape[:2]
    panel_w = max(2, round(PREVIEW_HEIGHT * width / height / 2) * 2)
    photo = cv2.resize(frame.image, (panel_w, PREVIEW_HEIGHT), interpolation=cv2.INTER_AREA)
    x0, y0, x1, y1 = frame.crop

    def to_panel(points: np.ndarray) -> np.ndarray:  # source pixels → panel pixels
        return np.stack([(points[..., 0] - x0) * panel_w / (x1 - x0), (points[..., 1] - y0) * PREVIEW_HEIGHT / (y1 - y0)], -1)

    scale = (info.width, info.height)
    body = to_panel(frame.pose[:, :2] * scale)
    for a, b in solutions().pose.POSE_CONNECTIONS:
        if a <= POSE_LANDMARKS.index("right_hip") and b <= POSE_LANDMARKS.index("right_hip"):
            _bone(photo, body[a], body[b], _side_colour(POSE_LANDMARKS[b]))
    for side, hand in enumerate(frame.hands):
        points = to_panel(hand[:, :2] * scale)
        for a, b in solutions().hands.HAND_CONNECTIONS:
            _bone(photo, points[a], points[b], (_LEFT, _RIGHT)[side], 1)

    figure = np.full_like(photo, 235)
    joints, _ = joint_points(TED_EXPRESSIVE, frame.pose[None], frame.world[None], frame.hands[None], info.width, info.height)
    points = to_panel(joints[0])
    for a, b in TED_EXPRESSIVE.bones:
        thickness = 1 if 8 <= b < 38 else 3  # finger bones thin
        _bone(figure, points[a], points[b], _side_colour(TED_EXPRESSIVE.joints[b]), thickness)
    cv2.putText(figure, "TED Expressive (2-D)", (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, _CENTRE, 1, cv2.LINE_AA)
    return np.concatenate([photo, figure], axis=1)


def _side_colour(name: str) -> tuple[int, int, int]:
    return _LEFT if name.startswith("left") else _RIGHT if name.startswith("right") else _CENTRE


def _bone(image: np.ndarray, a: np.ndarray, b: np.ndarray, colour: tuple[int, int, int], thickness: int = 2) -> None:
    import cv2

    if np.isfinite(a).all() and np.isfinite(b).all():
        cv2.line(image, tuple(int(round(v)) for v in a), tuple(int(round(v)) for v in b), colour, thickness, cv2.LINE_AA)


def _write_preview(path: Path, frames: np.ndarray) -> Path:
    from gestsearch.synth.encode import write_mp4

    with atomic.atomic_path(path) as tmp:
        write_mp4(tmp, frames, np.zeros(len(frames) * SAMPLES_PER_FRAME, np.float32))
    return path
