"""Heatmaps: a PNG of query words × frames of a hit's clip, its gesture span outlined."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gestsearch.constants import FPS
from gestsearch.export.base import Exporter, ScoreMaps
from gestsearch.export.tiers import hit_stem
from gestsearch.results import SearchResult


def heatmap_png(
    words: Sequence[str],
    scores: np.ndarray,
    out_path: Path | str,
    fps: float = FPS,
    span: tuple[float, float] | None = None,
    start_s: float = 0.0,
) -> Path:
    """PNG heatmap of query words (rows) × frames (columns) of ``scores`` (W, T).

    The time axis is in seconds of the source video (column t at ``start_s + t / fps``);
    ``span`` (seconds, same timeline) is outlined with two vertical lines.
    """
    # matplotlib is slow to import and only needed here.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 2 or scores.shape[0] != len(words):
        raise ValueError(f"scores of shape {scores.shape} do not match {len(words)} words")
    fig = Figure(figsize=(min(12.0, 3.0 + scores.shape[1] / 25), 1.2 + 0.35 * len(words)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    extent = (start_s, start_s + scores.shape[1] / fps, len(words) - 0.5, -0.5)
    image = ax.imshow(scores, aspect="auto", interpolation="nearest", cmap="magma", extent=extent)
    ax.set_yticks(range(len(words)), labels=list(words))
    ax.set_xlabel("time (s)")
    if span is not None:
        for x in span:
            ax.axvline(x, color="cyan", linewidth=1.5)
    fig.colorbar(image, ax=ax, label="score")
    fig.tight_layout()
    fig.savefig(out_path, format="png")
    return Path(out_path)


class HeatmapExporter(Exporter):
    """``RANK_CLIPID.png`` (:func:`heatmap_png`) per hit whose clip id is in ``score_maps``."""

    name = "heatmap"
    order = 1
    per_hit = True

    def write(self, result: SearchResult, out_dir: Path, score_maps: ScoreMaps = None) -> list[Path]:
        return [
            heatmap_png(
                [p.word for p in hit.peaks],
                score_maps[hit.clip_id],
                out_dir / f"{hit_stem(hit)}.png",
                FPS,
                (hit.span_start_s, hit.span_end_s),
                hit.clip_start_s,
            )
            for hit in result.hits
            if score_maps is not None and hit.clip_id in score_maps
        ]
