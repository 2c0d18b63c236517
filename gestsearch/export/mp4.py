"""mp4 cuts: each hit's gesture span as its own playable video, with sound."""

from __future__ import annotations

from pathlib import Path

from gestsearch.export.base import Exporter, ScoreMaps
from gestsearch.export.tiers import hit_stem
from gestsearch.media.cut import cut_clip
from gestsearch.results import SearchResult


class Mp4Exporter(Exporter):
    """``RANK_CLIPID.mp4`` per hit: its gesture span with sound (:func:`cut_clip`)."""

    name = "mp4"
    order = 0
    per_hit = True

    def write(self, result: SearchResult, out_dir: Path, score_maps: ScoreMaps = None) -> list[Path]:
        return [
            cut_clip(hit.video_path, hit.span_start_s, hit.span_end_s, out_dir / f"{hit_stem(hit)}.mp4")
            for hit in result.hits
        ]
