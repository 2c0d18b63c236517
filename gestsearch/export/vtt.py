"""WebVTT: one text track per source video, a cue per hit over its gesture span."""

from __future__ import annotations

from pathlib import Path

from gestsearch.atomic import write_text
from gestsearch.export.base import Exporter, ScoreMaps
from gestsearch.export.tiers import annotations, file_text, per_video
from gestsearch.results import SearchResult


def write_vtt(result: SearchResult, out_dir: Path | str) -> list[Path]:
    """One WebVTT file per source video (``<video stem>.vtt``): a cue per hit over its gesture span.

    A text track belongs to one video, hence one file each. Cues are in time order (WebVTT
    wants them so), whatever the speaker track. The cue reads ``#rank query (score)`` then the
    words with their peak times.
    """
    paths = []
    for path, hits in per_video(result.hits, Path(out_dir), ".vtt"):
        lines = ["WEBVTT", ""]
        spans = annotations(result.query, hits, with_peaks=False)
        for a in sorted(spans, key=lambda a: (a.begin_ms, a.end_ms, a.hit.rank)):
            peaks = " ".join(f"{file_text(p.word)}@{p.time_s:.2f}s" for p in a.hit.peaks)
            cue = [_cue_text(a.value), _cue_text(peaks)]
            lines += [str(a.hit.rank), f"{_vtt_time(a.begin_ms)} --> {_vtt_time(a.end_ms)}", *cue, ""]
        paths.append(write_text(path, "\n".join(lines)))
    return paths


class VttExporter(Exporter):
    """``<video stem>.vtt`` per source video (:func:`write_vtt`)."""

    name = "vtt"
    order = 5

    def write(self, result: SearchResult, out_dir: Path, score_maps: ScoreMaps = None) -> list[Path]:
        return write_vtt(result, out_dir)


def _cue_text(text: str) -> str:
    """One cue line: no line breaks, no ``-->`` (both would end or break a WebVTT cue)."""
    return " ".join(text.split()).replace("-->", "->")


def _vtt_time(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"
