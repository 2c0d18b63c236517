"""The annotation layout shared by the EAF and WebVTT exports, and the exports' file names and text.

Annotations live on the source video's timeline in integer milliseconds, on tiers per query
and per speaker track. Each hit gives one annotation over its gesture span on the tier
``{query} — track N`` (:func:`hits_tier`, value :func:`hit_value`) and one 1-frame
annotation per query word at its peak on ``{query} — track N — word peaks`` (:func:`peaks_tier`,
value ``word strength``). An ELAN tier cannot hold overlapping annotations, so overlapping ones
of one tier move to numbered extra tiers (``{query} — track N (2)``...).

Text that goes into a file passes :func:`file_text`: file-name bytes that are not UTF-8 (lone
surrogates in Python) are shown as ``\\xNN``, since no UTF-8 file can hold them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gestsearch.constants import FPS
from gestsearch.results import Hit
from gestsearch.text import printable

# Characters XML 1.0 cannot hold (C0 controls but tab, newline, carriage return; U+FFFE, U+FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Annotation:
    """One time-aligned label on a tier, in milliseconds of the source video."""

    tier: str
    begin_ms: int
    end_ms: int
    value: str
    hit: Hit


def hits_tier(query: str, track: int) -> str:
    """The tier of the hit spans of ``query`` on speaker track ``track``."""
    return f"{file_text(query)} — {participant(track)}"


def peaks_tier(query: str, track: int) -> str:
    """The tier of the word peaks of ``query`` on speaker track ``track``."""
    return f"{hits_tier(query, track)} — word peaks"


def hit_value(hit: Hit, label: str) -> str:
    """A hit's annotation text: ``#rank query (score)``, with the speaking score where the clip has one
    (``#rank query (score, speaking 0.97)``)."""
    speaking = "" if hit.speaking is None else f", speaking {hit.speaking:.2f}"
    return f"#{hit.rank} {label} ({hit.score:.3f}{speaking})"


def participant(track: int) -> str:
    """The speaker a track's tiers belong to (ELAN's ``PARTICIPANT``): ``track N``."""
    return f"track {track}"


def annotations(query: str, hits: Sequence[Hit], with_peaks: bool = True) -> list[Annotation]:
    """The hit (and word-peak) annotations of hits from ONE video, on non-overlapping tiers.

    Tiers come track by track (lowest track first): the track's hit tiers, then its peak tiers.
    """
    label = file_text(query)
    items: list[Annotation] = []
    for track in sorted({h.track for h in hits}):
        on_track = [h for h in hits if h.track == track]
        spans = [
            Annotation(
                hits_tier(query, track), *_interval_ms(h.span_start_s, h.span_end_s), hit_value(h, label), h
            )
            for h in on_track
        ]
        peaks = [
            Annotation(
                peaks_tier(query, track), *_interval_ms(p.time_s, p.time_s + 1 / FPS), f"{file_text(p.word)} {p.strength:.2f}", h
            )
            for h in on_track
            for p in h.peaks
        ]
        items += _spread(spans) + (_spread(peaks) if with_peaks else [])
    return items


def by_video(hits: Iterable[Hit]) -> dict[str, list[Hit]]:
    """Hits grouped by source video, videos in order of their first hit."""
    groups: dict[str, list[Hit]] = {}
    for hit in hits:
        groups.setdefault(str(hit.video_path), []).append(hit)
    return groups


def per_video(hits: Iterable[Hit], out_dir: Path, suffix: str) -> list[tuple[Path, list[Hit]]]:
    """``(out_dir/<video stem><suffix>, hits of that video)`` per video, numbering stems that videos share."""
    out_dir.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    groups = []
    for video, video_hits in by_video(hits).items():
        stem = safe_name(Path(video).stem)
        name, n = stem, 1
        while name in taken:
            n += 1
            name = f"{stem}_{n}"
        taken.add(name)
        groups.append((out_dir / f"{name}{suffix}", video_hits))
    return groups


def hit_stem(hit: Hit) -> str:
    """``RANK_CLIPID``, the file stem of a hit's own files (mp4 cut, heatmap)."""
    return f"{hit.rank:03d}_{safe_name(hit.clip_id)}"


def safe_name(text: str) -> str:
    """``text`` reduced to a short file name without separators or leading dots."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:80] or "clip"


def file_text(text: str) -> str:
    """``text`` as it can be written into a UTF-8 text or XML file: undecodable file-name bytes
    as ``\\xNN`` (:func:`~gestsearch.text.printable`), characters XML cannot hold dropped."""
    return _NOT_XML.sub("", printable(str(text)))


def _spread(items: list[Annotation]) -> list[Annotation]:
    """Move overlapping annotations of one tier to numbered extra tiers (greedy, by start time)."""
    lane_ends: list[int] = []
    spread = []
    for a in sorted(items, key=lambda a: (a.begin_ms, a.end_ms)):
        lane = next((i for i, end in enumerate(lane_ends) if end <= a.begin_ms), len(lane_ends))
        if lane == len(lane_ends):
            lane_ends.append(a.end_ms)
        lane_ends[lane] = a.end_ms
        tier = a.tier if lane == 0 else f"{a.tier} ({lane + 1})"
        spread.append(Annotation(tier, a.begin_ms, a.end_ms, a.value, a.hit))
    return spread


def _interval_ms(start_s: float, end_s: float) -> tuple[int, int]:
    """Integer milliseconds ``(begin, end)`` with ``end > begin`` (ELAN rejects empty annotations)."""
    begin = int(round(start_s * 1000))
    return begin, max(begin + 1, int(round(end_s * 1000)))
