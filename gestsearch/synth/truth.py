"""What a synthetic corpus knows about itself: where each iconic gesture was rendered, and
whether a search hit found it there (used by the demo and by ``benchmarks/quality.py``)."""

from __future__ import annotations

import ast
import csv
from dataclasses import dataclass
from pathlib import Path

from gestsearch.constants import FPS, SPOT_FRAME_MARGIN
from gestsearch.results import Hit
from gestsearch.types import Boundary


@dataclass(frozen=True)
class Verdict:
    ok: bool
    detail: str  # one line saying why


def rendered_gestures(manifest: Path) -> dict[str, list[Boundary]]:
    """Video file name → ``(word, start_frame, end_frame)`` of every iconic gesture rendered in it."""
    with open(manifest, newline="", encoding="utf-8") as f:
        return {row["filename"] + ".mp4": [tuple(g) for g in ast.literal_eval(row["gestures"])] for row in csv.DictReader(f)}


def gesture_found(hit: Hit | None, word: str, truth: dict[str, list[Boundary]]) -> Verdict:
    """Whether ``hit`` shows the gesture of ``word``: the clip has it, and the word's peak lies in
    the rendered stroke ± the AVS-Spot margin of 9 frames."""
    if hit is None:
        return Verdict(False, "no hits")
    name = Path(hit.video_path).name
    spans = [(s, e) for w, s, e in truth.get(name, []) if w == word]
    peak = next((p for p in hit.peaks if p.word == word), None)
    if not spans:
        return Verdict(False, f"top hit {name} has no '{word}' gesture")
    if peak is None:
        return Verdict(False, f"no peak for '{word}'")
    frame = round(peak.time_s * FPS)
    for s, e in spans:
        if max(0, s - SPOT_FRAME_MARGIN) <= frame <= e + SPOT_FRAME_MARGIN:
            return Verdict(True, f"'{word}' gesture rendered at {s / FPS:.2f}-{(e + 1) / FPS:.2f} s in {name}, "
                                 f"peak found at {peak.time_s:.2f} s")
    s, e = spans[0]
    return Verdict(False, f"'{word}' gesture rendered at {s / FPS:.2f}-{(e + 1) / FPS:.2f} s in {name}, "
                          f"but the peak is at {peak.time_s:.2f} s")
