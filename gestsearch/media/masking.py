"""Face masking of speaker crops, as the official JEGAL/GestSync preprocessing does it.

On the crop: black from the top down to 15 px below the chin (the lowest face-oval landmark
of the face mesh), then resize to 480x270. No face found: resize first, then black rows
0..110 (the released code's filled rectangle (0, 0)-(480, 110)). Gestures stay visible; the
lips do not ("prevents lip leakage").
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from gestsearch.media.landmarks import face_mesh
from gestsearch.media.prefetch import prefetched
from gestsearch.media.tracks import Track
from gestsearch.media.video import batched, probe, read_frames

OUT_WIDTH, OUT_HEIGHT = 480, 270
CHIN_MARGIN_PX = 15
FALLBACK_ROWS = 111
# Face-oval landmark indices used by the official code to find the chin.
FACE_OVAL = (10, 21, 54, 58, 67, 93, 103, 109, 127, 132, 136, 148, 149, 150, 152, 162, 172, 176,
             234, 251, 284, 288, 297, 323, 332, 338, 356, 361, 365, 377, 378, 379, 389, 397, 400, 454)
# Chin reuse: skip the face mesh while the face region of a 32x18 thumbnail stays within this
# mean absolute grey-level change of the frame last measured, for at most MAX_REUSE frames.
STILL_THRESHOLD = 2.0
MAX_REUSE = 3
_THUMB = (32, 18)
PREFETCH_CHUNKS = 1  # one chunk ahead is enough to keep the model busy; each costs ~100 MB


def iter_track_frames(
    path: str | Path, track: Track, chunk_frames: int = 64, mask: bool = True, prefetch: int = PREFETCH_CHUNKS
) -> Iterator[np.ndarray]:
    """Yield the model input of ``track``: float32 chunks ``(n <= chunk_frames, 270, 480, 3)``.

    RGB in [0, 1], cropped to ``track.box`` (whole frame when None), face masked (unless
    ``mask`` is False: input that is already masked, like the AVS crops), resized to 480x270,
    25 fps, frames ``[track.start_frame, track.end_frame)``. Large sources are decoded straight
    to about twice the output size of the crop.

    Decoding and masking run in a background thread up to ``prefetch`` chunks ahead of the
    caller (0: in the caller's thread), so they overlap the caller's model compute. Memory is
    ``prefetch`` + 2 chunks (the one the caller holds and the one being filled), whatever the
    video length. Errors are raised here as the producer raised them (:class:`MediaError`...).
    """
    if prefetch == 0:
        yield from _track_frames(path, track, chunk_frames, mask)
    else:
        yield from prefetched(functools.partial(_track_frames, path, track, chunk_frames, mask), prefetch)


def _track_frames(path: str | Path, track: Track, chunk_frames: int, mask: bool) -> Iterator[np.ndarray]:
    info = probe(path)
    x0, y0, x1, y1 = track.box or (0, 0, info.width, info.height)
    scale = min(1.0, max(2 * OUT_WIDTH / (x1 - x0), 2 * OUT_HEIGHT / (y1 - y0)))
    cols = slice(math.floor(x0 * scale), math.ceil(x1 * scale))
    rows = slice(math.floor(y0 * scale), math.ceil(y1 * scale))
    with ExitStack() as stack:
        prepare = stack.enter_context(FaceMasker(margin_px=CHIN_MARGIN_PX * scale)).mask if mask else resize
        frames = read_frames(info, track.start_frame, track.end_frame, scale)
        for chunk in batched((prepare(frame[rows, cols]) for frame in frames), chunk_frames, np.float32):
            chunk /= 255
            yield chunk


def resize(crop: np.ndarray) -> np.ndarray:
    """uint8 RGB crop → (270, 480, 3), bilinear (OpenCV's default, as the official code)."""
    import cv2

    return cv2.resize(crop, (OUT_WIDTH, OUT_HEIGHT))


class FaceMasker:
    """Masks consecutive crops of one speaker; runs the face mesh at most once per frame.

    While the face region barely changes, the previous chin is reused (up to ``MAX_REUSE``
    frames in a row), which skips most landmark runs on still talking heads.
    """

    def __init__(self, margin_px: float = CHIN_MARGIN_PX):
        self._mesh = face_mesh()
        self._margin = round(margin_px)
        self._measured: tuple[np.ndarray, int] | None = None  # thumbnail and chin row
        self._reused = 0

    def __enter__(self) -> FaceMasker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._mesh.close()

    def mask(self, crop: np.ndarray) -> np.ndarray:
        """Masked uint8 RGB ``(270, 480, 3)`` from an RGB uint8 crop ``(h, w, 3)``."""

        chin = self.chin_row(crop)
        if chin is None:
            out = resize(crop)
            out[:FALLBACK_ROWS] = 0
            return out
        masked = crop.copy()
        masked[: chin + self._margin + 1] = 0
        return resize(masked)

    def chin_row(self, crop: np.ndarray) -> int | None:
        """Row of the lowest face-oval landmark in ``crop``, or None when no face is found."""
        import cv2

        thumb = cv2.cvtColor(cv2.resize(crop, _THUMB, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        if self._measured is not None and self._reused < MAX_REUSE:
            before, chin = self._measured
            face_rows = min(_THUMB[1], math.ceil((chin + 1) * _THUMB[1] / crop.shape[0]))
            change = np.abs(thumb[:face_rows].astype(np.int16) - before[:face_rows]).mean()
            if change < STILL_THRESHOLD:
                self._reused += 1
                return chin
        result = self._mesh.process(np.ascontiguousarray(crop))
        self._reused = 0
        if not result.multi_face_landmarks:
            self._measured = None
            return None
        landmarks = result.multi_face_landmarks[0].landmark
        chin = max(int(landmarks[i].y * crop.shape[0]) for i in FACE_OVAL)
        self._measured = (thumb, chin)
        return chin
