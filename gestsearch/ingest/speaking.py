"""Who of the people in view speaks: a speaking score per clip, for videos with two or more tracks.

Every track of a video is cut at the same phrases (one transcript), so each clip's speech is
heard while the other tracks' people are in view too. A clip's score compares how well the
pooled content of its speech matches its own track's pooled gesture over the clip's frames with
how well it matches each other track's, pooled over the same frames:

    score = softmax_j(cos(content, gesture_j) / SPEAKING_TEMPERATURE)[own track]

over the own track and the tracks with frames in the clip's span. It lies in [0, 1]; with two
people, above 0.5 means the own track matches the speech better than the other one. The score
is None where there is nothing to compare: one-person videos (all their clips), clips without
speech content, and clips during which nobody else is in view.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from gestsearch.constants import SPEAKING_TEMPERATURE
from gestsearch.store import ClipRecord
from gestsearch.vectors import l2_normalize


def speaking_scores(clips: Sequence[ClipRecord], temperature: float = SPEAKING_TEMPERATURE) -> list[float | None]:
    """The speaking score of each of ``clips`` (all the clips of one video, any tracks), in order."""
    frames_of: dict[int, dict[int, np.ndarray]] = defaultdict(dict)  # track → frame → gesture vector
    for clip in clips:
        for k, vector in enumerate(np.asarray(clip.frames, dtype=np.float32)):
            frames_of[clip.track][clip.start_frame + k] = vector
    if len(frames_of) < 2:
        return [None] * len(clips)
    return [_score(clip, frames_of, temperature) for clip in clips]


def _score(clip: ClipRecord, frames_of: dict[int, dict[int, np.ndarray]], temperature: float) -> float | None:
    if clip.content is None:
        return None
    span = range(clip.start_frame, clip.end_frame + 1)
    own = _cosine(clip.content, np.asarray(clip.frames, dtype=np.float32))
    others = [
        _cosine(clip.content, np.stack(present))
        for track, frames in frames_of.items()
        if track != clip.track and (present := [frames[k] for k in span if k in frames])
    ]
    if not others:
        return None
    logits = np.array([own, *others]) / temperature
    weights = np.exp(logits - logits.max())
    return float(weights[0] / weights.sum())


def _cosine(content: np.ndarray, frames: np.ndarray) -> float:
    """Cosine of ``content`` and the mean of ``frames`` (n, 512)."""
    return float(l2_normalize(content) @ l2_normalize(frames.mean(axis=0)))
