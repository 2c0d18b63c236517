"""Speaker tracks: who is on screen when, and which upper-body box to crop.

Modes of :func:`speaker_tracks`:

- ``"precropped"``: one track spanning the whole file with ``box=None`` (the whole frame), like
  the JEGAL samples and the AVS benchmark clips.
- ``"raw"``: scene cuts (HSV histogram jumps) + MediaPipe full-range face detection on every
  25 fps frame (downscaled to 640 px; frames are detected in parallel, one detector per usable
  core, and tracked in order) + greedy IoU / x-position tracking → one track per
  person per scene (gaps up to 1 s bridged, pieces of one person in a scene merged, tracks
  shorter than 1 s dropped). The box widens the face box downwards and sideways to the upper
  body, where the hands gesture, as the official preprocessing crops person boxes down to the
  waist: 3 face widths either side of the face centre, half a face height above it, 4 face
  heights below the chin; robust extremes (10th/90th percentiles) over the track, clipped to
  the frame.
- ``"auto"``: look at up to 48 frames spread over the video. Pre-cropped when at most one face
  is seen in at least 80 % of them and that face is large (median width >= 20 % of the frame
  width: a crop around one speaker), or when no face is seen at all (nothing to track); raw
  otherwise. The JEGAL samples (faces 30-40 % of the width) come out pre-cropped, a two-person
  720p talk show or a 480x270 TEDx shot (face 10 %) raw.

Tracks are never dropped for hidden hands: the official "gestures not visible" rule (no hands
in > 70 % of frames) is not applied, and it is not measured either, as nothing used the measure
and MediaPipe Hands cost a tenth of the tracking time.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gestsearch.constants import FPS
from gestsearch.errors import Cancelled, MediaError
from gestsearch.media.landmarks import face_detector
from gestsearch.media.scenes import SceneCutDetector
from gestsearch.media.video import VideoInfo, probe, read_frames
from gestsearch.runtime import usable_cores
from gestsearch.types import TRACK_MODES, TrackMode, check_choice

Box = tuple[int, int, int, int]
Face = tuple[float, float, float, float]  # x0, y0, x1, y1 in detection pixels

DETECTION_SIDE = 640  # frames are downscaled to this longer side for detection
SAMPLE_EVERY = 10  # frames between the frames the "auto" rule looks at
MAX_SAMPLES = 48
SEQUENTIAL_SAMPLE_FRAMES = MAX_SAMPLES * SAMPLE_EVERY  # ranges this short are sampled by one decode, not seeks
MAX_DETECTION_THREADS = 4
MIN_TRACK_FRAMES = FPS  # a GestSync window
MAX_GAP_FRAMES = FPS  # missed detections bridged inside a track
PRECROPPED_FACE_WIDTH = 0.2
PRECROPPED_SINGLE_SHARE = 0.8


@dataclass(frozen=True)
class Track:
    """One speaker over a span of the 25 fps timeline.

    ``end_frame`` is exclusive; ``start_s``/``end_s`` are the same span in seconds. ``box`` is
    ``(x0, y0, x1, y1)`` in display pixels of the source (end-exclusive), or None for the whole
    frame of pre-cropped input.
    """

    index: int
    start_frame: int
    end_frame: int
    box: Box | None

    @property
    def start_s(self) -> float:
        return self.start_frame / FPS

    @property
    def end_s(self) -> float:
        return self.end_frame / FPS

    @property
    def n_frames(self) -> int:
        return self.end_frame - self.start_frame


def speaker_tracks(
    path: str | Path, mode: TrackMode = "auto", start_frame: int = 0, end_frame: int | None = None,
    cancel: threading.Event | None = None,
) -> list[Track]:
    """Find the speaker tracks of the video ``path`` (see the module docstring for the modes).

    Only frames ``[start_frame, end_frame)`` of the 25 fps timeline are looked at (``end_frame``
    None: to the end), e.g. one segment of a long video; track frames still count from the
    start of the file. Raw mode returns an empty list when nobody is found. Raises
    :class:`MediaError` for unreadable files, :class:`ConfigError` for an unknown mode and
    ValueError for a frame range with no frame of the video in it. Setting ``cancel`` stops the
    frame-by-frame pass of raw mode at the next frame with :class:`Cancelled`.
    """
    check_choice(mode, TRACK_MODES, "the speaker track mode")
    info = probe(path)
    start = max(0, start_frame)
    end = info.n_frames if end_frame is None else min(end_frame, info.n_frames)
    if start >= end:
        raise ValueError(f"{path}: frames [{start_frame}, {end_frame}) are outside its {info.n_frames} frames")
    whole = [Track(0, start, end, None)]
    if mode == "precropped":
        return whole
    seen: dict[int, list[Face]] = {}
    if mode == "auto":
        indices, samples = _sample(info, start, end)
        faces = [boxes for _, boxes in _detections(iter(samples))]
        if _looks_precropped(faces, samples[0].shape[1]):
            return whole
        if _sampled_in_order(start, end):  # as the tracking pass decodes: the same pixels
            seen = dict(zip(indices, faces))
    return _raw_tracks(info, start, end, cancel, seen)


def _sample_indices(n_frames: int) -> list[int]:
    """Every SAMPLE_EVERY-th frame, thinned evenly to at most MAX_SAMPLES."""
    indices = range(0, n_frames, SAMPLE_EVERY)
    if len(indices) <= MAX_SAMPLES:
        return list(indices)
    return [int(i) for i in np.linspace(0, n_frames - 1, MAX_SAMPLES).round()]


def _sample(info: VideoInfo, start: int, end: int) -> tuple[list[int], list[np.ndarray]]:
    """Frame indices :func:`_sample_indices` of ``[start, end)`` and their detection-size frames:
    one sequential decode for short ranges, seeks else."""
    scale = _detection_scale(info)
    indices = [start + k for k in _sample_indices(end - start)]
    if _sampled_in_order(start, end):
        wanted = set(indices)
        return indices, [frame for k, frame in enumerate(read_frames(info, start, end, scale), start) if k in wanted]
    return indices, [next(read_frames(info, k, k + 1, scale)) for k in indices]


def _sampled_in_order(start: int, end: int) -> bool:
    """Whether :func:`_sample` decodes ``[start, end)`` in one pass from its start (else it seeks)."""
    return end - start <= SEQUENTIAL_SAMPLE_FRAMES


def _looks_precropped(faces: list[list[Face]], width: int) -> bool:
    """The "auto" rule on the samples' faces (frames ``width`` pixels wide): at most one face in
    >= 80 % of samples, and a large one (or none at all)."""
    widths = [max(x1 - x0 for x0, _, x1, _ in boxes) / width for boxes in faces if boxes]
    if not widths:
        return True
    single = sum(len(boxes) <= 1 for boxes in faces) / len(faces)
    return single >= PRECROPPED_SINGLE_SHARE and float(np.median(widths)) >= PRECROPPED_FACE_WIDTH


def _raw_tracks(
    info: VideoInfo, start: int, end: int, cancel: threading.Event | None = None, seen: Mapping[int, list[Face]] | None = None
) -> list[Track]:
    """``seen``: faces already detected on some frames of ``[start, end)`` (by frame index), not detected again."""
    scale = _detection_scale(info)
    tracker = _FaceTracker()
    cuts = SceneCutDetector()
    known = {k - start: faces for k, faces in (seen or {}).items()}
    for k, (frame, faces) in enumerate(_detections(read_frames(info, start, end, scale), known), start):
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"{info.path}: speaker tracking cancelled")
        if cuts.is_cut(frame):
            tracker.end_scene()
        tracker.update(k, faces)
    tracker.end_scene()
    tracks = []
    for piece in sorted(tracker.finished, key=lambda p: (p.frames[0], p.boxes[0][0])):
        box = _track_box(piece.boxes) / scale
        source_box = (
            max(0, int(box[0])), max(0, int(box[1])),
            min(info.width, int(np.ceil(box[2]))), min(info.height, int(np.ceil(box[3]))),
        )
        tracks.append(Track(len(tracks), piece.frames[0], piece.frames[-1] + 1, source_box))
    return tracks


@dataclass
class _Piece:
    """Face detections of one person in one scene: frame numbers and face boxes."""

    frames: list[int] = field(default_factory=list)
    boxes: list[Face] = field(default_factory=list)

    def add(self, k: int, box: Face) -> None:
        self.frames.append(k)
        self.boxes.append(box)


class _FaceTracker:
    """Greedy frame-to-frame association of face boxes within a scene."""

    def __init__(self) -> None:
        self.active: list[_Piece] = []
        self.finished: list[_Piece] = []

    def update(self, k: int, faces: list[Face]) -> None:
        for piece in [p for p in self.active if k - p.frames[-1] > MAX_GAP_FRAMES]:
            self.active.remove(piece)
            if _long_enough(piece):
                self.finished.append(piece)
        pairs = sorted(
            (
                (_affinity(piece.boxes[-1], face), p, f)
                for p, piece in enumerate(self.active)
                for f, face in enumerate(faces)
            ),
            reverse=True,
        )
        used_pieces, used_faces = set(), set()
        for score, p, f in pairs:
            if score <= 0 or p in used_pieces or f in used_faces:
                continue
            used_pieces.add(p)
            used_faces.add(f)
            self.active[p].add(k, faces[f])
        for f, face in enumerate(faces):
            if f not in used_faces:
                piece = _Piece()
                piece.add(k, face)
                self.active.append(piece)

    def end_scene(self) -> None:
        """Close all tracks, merge pieces of one person and keep those long enough."""
        pieces = sorted(self.active, key=lambda p: p.frames[0])
        self.active = []
        merged: list[_Piece] = []
        for piece in pieces:
            same = next((m for m in merged if m.frames[-1] < piece.frames[0] and _same_place(m, piece)), None)
            if same is None:
                merged.append(piece)
            else:
                same.frames += piece.frames
                same.boxes += piece.boxes
        self.finished.extend(p for p in merged if _long_enough(p))


def _long_enough(piece: _Piece) -> bool:
    return piece.frames[-1] - piece.frames[0] + 1 >= MIN_TRACK_FRAMES


def _affinity(a: Face, b: Face) -> float:
    """IoU of two face boxes; a small positive score for boxes at about the same place."""
    iou = _iou(a, b)
    if iou >= 0.3:
        return iou
    return 0.01 if _close(_centre_size(np.asarray([a])), _centre_size(np.asarray([b]))) else 0.0


def _same_place(a: _Piece, b: _Piece) -> bool:
    return _close(_centre_size(np.asarray(a.boxes)), _centre_size(np.asarray(b.boxes)))


def _close(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Centres within half a face width sideways and one face height vertically (of ``a``)."""
    ax, ay, aw, ah = a
    bx, by, _, _ = b
    return abs(ax - bx) < 0.5 * aw and abs(ay - by) < ah


def _centre_size(boxes: np.ndarray) -> tuple[float, float, float, float]:
    """Median centre x, centre y, width and height of face boxes ``(n, 4)``."""
    return (
        float(np.median((boxes[:, 0] + boxes[:, 2]) / 2)), float(np.median((boxes[:, 1] + boxes[:, 3]) / 2)),
        float(np.median(boxes[:, 2] - boxes[:, 0])), float(np.median(boxes[:, 3] - boxes[:, 1])),
    )


def _iou(a: Face, b: Face) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _body_box(face: Face) -> np.ndarray:
    """Upper-body box ``[x0, y0, x1, y1]`` around a face box (may extend past the frame)."""
    x0, y0, x1, y1 = face
    w, h, cx = x1 - x0, y1 - y0, (x0 + x1) / 2
    return np.array([cx - 3 * w, y0 - 0.5 * h, cx + 3 * w, y1 + 4 * h])


def _track_box(faces: list[Face]) -> np.ndarray:
    """Body box of a track: 10th percentile of the body boxes' tops/lefts, 90th of bottoms/rights."""
    boxes = np.stack([_body_box(face) for face in faces])
    return np.concatenate([np.percentile(boxes[:, :2], 10, axis=0), np.percentile(boxes[:, 2:], 90, axis=0)])


def _detections(frames: Iterator[np.ndarray], known: Mapping[int, list[Face]] | None = None) -> Iterator[tuple[np.ndarray, list[Face]]]:
    """Each frame with its face boxes, in order; ``known``: boxes of some frames by their position
    in ``frames``, taken as they are. Frames are looked at independently, so they are dealt round
    robin to the :class:`_DetectionLanes` of the usable cores (MediaPipe lets go of the GIL while
    it works): 1.5-1.8x faster on 2 cores, the same boxes. At most two frames a lane wait."""
    known = known or {}
    lanes = _detection_lanes(min(usable_cores(), MAX_DETECTION_THREADS))
    pending: deque[tuple[np.ndarray, Future[list[Face]]]] = deque()
    try:
        for n, frame in enumerate(frames):
            if n in known:
                faces: Future[list[Face]] = Future()
                faces.set_result(known[n])
            else:
                faces = lanes.submit(n % len(lanes), frame)
            pending.append((frame, faces))
            if len(pending) > 2 * len(lanes):
                frame, faces = pending.popleft()
                yield frame, faces.result()
        while pending:
            frame, faces = pending.popleft()
            yield frame, faces.result()
    finally:
        for _, faces in pending:  # the caller stopped early
            faces.cancel()


class _DetectionLanes:
    """Threads that detect faces, each with a face detector of its own, made there on first use,
    used only there, and kept for the process: making a detector and running its first frame
    costs about 20 ms, and each video made four (the "auto" sample and the tracking pass, two
    lanes each), a tenth of tracking a 3-second clip. Detection keeps no state from frame to
    frame, so what a lane saw before changes no box."""

    def __init__(self, workers: int):
        self._pools = [ThreadPoolExecutor(1, thread_name_prefix="gestsearch-faces") for _ in range(workers)]
        self._detectors: list = [None] * workers

    def __len__(self) -> int:
        return len(self._pools)

    def submit(self, lane: int, frame: np.ndarray) -> Future[list[Face]]:
        return self._pools[lane].submit(self._detect, lane, frame)

    def _detect(self, lane: int, frame: np.ndarray) -> list[Face]:
        if self._detectors[lane] is None:
            self._detectors[lane] = face_detector()
        return _detect_faces(self._detectors[lane], frame)


_LANES: dict[int, _DetectionLanes] = {}  # by lane count
_LANES_LOCK = threading.Lock()


def _forget_lanes() -> None:
    """In a forked child: none of the lanes' threads came along, and the lock may have been held."""
    global _LANES_LOCK
    _LANES.clear()
    _LANES_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_lanes)


def _detection_lanes(workers: int) -> _DetectionLanes:
    with _LANES_LOCK:
        if workers not in _LANES:
            _LANES[workers] = _DetectionLanes(workers)
        return _LANES[workers]


def _detect_faces(detector, frame: np.ndarray) -> list[Face]:
    """Face boxes ``(x0, y0, x1, y1)`` in pixels of ``frame``."""
    height, width = frame.shape[:2]
    result = detector.process(frame)
    boxes = []
    for detection in result.detections or []:
        b = detection.location_data.relative_bounding_box
        x0, y0 = max(0.0, b.xmin) * width, max(0.0, b.ymin) * height
        x1, y1 = min(1.0, b.xmin + b.width) * width, min(1.0, b.ymin + b.height) * height
        if x1 > x0 and y1 > y0:
            boxes.append((x0, y0, x1, y1))
    return boxes


def _detection_scale(info: VideoInfo) -> float:
    return min(1.0, DETECTION_SIDE / max(info.width, info.height))


def main_track(path: str | Path, mode: TrackMode = "auto") -> Track:
    """The speaker track of a one-speaker clip (the longest, when several are found): what every
    path into the models, training included, takes from such a clip. :class:`MediaError` when
    nobody is found."""
    tracks = speaker_tracks(path, mode)
    if not tracks:
        raise MediaError(path, "no speaker found")
    return max(tracks, key=lambda t: (t.n_frames, -t.index))
