"""The annotation layout shared by the EAF, CSV and WebVTT exports, and the exports' file names.

Annotations live on the source video's timeline in integer milliseconds. Each hit gives one
annotation over its gesture span on the tier ``gestsearch hits`` (value ``#rank query (score)``)
and one 1-frame annotation per query word at its peak on ``gestsearch word peaks`` (value
``word strength``). An ELAN tier cannot hold overlapping annotations, so overlapping ones of one
video move to numbered extra tiers (``gestsearch hits 2``...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gestsearch.constants import FPS
from gestsearch.results import Hit

HITS_TIER = "gestsearch hits"
PEAKS_TIER = "gestsearch word peaks"


@dataclass(frozen=True)
class Annotation:
    """One time-aligned label on a tier, in milliseconds of the source video."""

    tier: str
    begin_ms: int
    end_ms: int
    value: str
    hit: Hit


def annotations(query: str, hits: Sequence[Hit], with_peaks: bool = True) -> list[Annotation]:
    """The hit (and word-peak) annotations of hits from ONE video, on non-overlapping tiers."""
    spans = [
        Annotation(HITS_TIER, *_interval_ms(h.span_start_s, h.span_end_s), f"#{h.rank} {query} ({h.score:.3f})", h)
        for h in hits
    ]
    peaks = [
        Annotation(PEAKS_TIER, *_interval_ms(p.time_s, p.time_s + 1 / FPS), f"{p.word} {p.strength:.2f}", h)
        for h in hits
        for p in h.peaks
    ]
    return _spread(spans) + (_spread(peaks) if with_peaks else [])


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


def _spread(items: list[Annotation]) -> list[Annotation]:
    """Move overlapping annotations of one tier to numbered extra tiers (greedy, by start time)."""
    lane_ends: list[int] = []
    spread = []
    for a in sorted(items, key=lambda a: (a.begin_ms, a.end_ms)):
        lane = next((i for i, end in enumerate(lane_ends) if end <= a.begin_ms), len(lane_ends))
        if lane == len(lane_ends):
            lane_ends.append(a.end_ms)
        lane_ends[lane] = a.end_ms
        tier = a.tier if lane == 0 else f"{a.tier} {lane + 1}"
        spread.append(Annotation(tier, a.begin_ms, a.end_ms, a.value, a.hit))
    return spread


def _interval_ms(start_s: float, end_s: float) -> tuple[int, int]:
    """Integer milliseconds ``(begin, end)`` with ``end > begin`` (ELAN rejects empty annotations)."""
    begin = int(round(start_s * 1000))
    return begin, max(begin + 1, int(round(end_s * 1000)))
