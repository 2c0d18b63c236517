"""What a synthetic corpus knows about itself: where each iconic gesture was rendered, and
whether a search hit found it there (used by the demo and by ``benchmarks/quality.py``); in a
two-person corpus also who speaks when, and which person a speaker track shows (used by
``benchmarks/bench_speakers.py``)."""

from __future__ import annotations

import ast
import csv
from dataclasses import dataclass
from pathlib import Path

from gestsearch.constants import FPS, SPOT_FRAME_MARGIN
from gestsearch.media import speaker_tracks
from gestsearch.results import Hit
from gestsearch.synth.render import WIDTH
from gestsearch.types import Boundary, TrackMode

Turn = tuple[int, int, int]  # person, first frame, last frame (inclusive) of a turn of speech


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


def speaking_turns(manifest: Path) -> dict[str, list[Turn]]:
    """Video file name → the turns of a two-person corpus (``speakers`` column); {} for one person."""
    with open(manifest, newline="", encoding="utf-8") as f:
        return {row["filename"] + ".mp4": [tuple(t) for t in ast.literal_eval(row["speakers"])]
                for row in csv.DictReader(f) if row.get("speakers")}


def track_people(video: Path, mode: TrackMode = "auto") -> dict[int, int]:
    """Speaker track → the person it shows in a two-person clip (0: left panel, 1: right), from the
    tracks the index finds (the same :func:`~gestsearch.media.speaker_tracks`), by the box centre."""
    return {
        t.index: int((t.box[0] + t.box[2]) / 2 >= WIDTH) if t.box else 0 for t in speaker_tracks(video, mode)
    }


def speaker_during(turns: list[Turn], first_frame: int, last_frame: int) -> int | None:
    """The person who speaks most of frames ``first_frame … last_frame``, None when nobody does."""
    said: dict[int, int] = {}
    for person, start, end in turns:
        said[person] = said.get(person, 0) + max(0, min(last_frame, end) - max(first_frame, start) + 1)
    person = max(said, key=lambda p: said[p], default=None)
    return person if person is not None and said[person] > 0 else None
