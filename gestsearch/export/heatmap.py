"""Heatmaps: a PNG of query words × frames of a hit's clip, its gesture span outlined.

The search engine's score maps are, for a query of several words, the spotting score (softmax
over the words at each frame, 0..1) and, for a one-word query (where that softmax is 1
everywhere), the word-frame cosine (about -1..1). The colour scale spans the map's own values,
so a one-word map shows where the cosine peaks instead of one flat colour, and the colour bar
says which of the two it is. The title names the hit: rank, video, speaker track, clip time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gestsearch.atomic import atomic_path
from gestsearch.constants import FPS
from gestsearch.export.base import Exporter, ScoreMaps
from gestsearch.export.tiers import hit_stem
from gestsearch.results import Hit, SearchResult
from gestsearch.text import printable


def heatmap_png(
    words: Sequence[str],
    scores: np.ndarray,
    out_path: Path | str,
    fps: float = FPS,
    span: tuple[float, float] | None = None,
    start_s: float = 0.0,
    title: str | None = None,
    label: str | None = None,
) -> Path:
    """PNG heatmap of query words (rows) × frames (columns) of ``scores`` (W, T).

    The time axis is in seconds of the source video (column t at ``start_s + t / fps``);
    ``span`` (seconds, same timeline) is outlined with two vertical lines. ``title`` goes above
    the map (:func:`hit_title`). The colour scale runs from the smallest to the largest score;
    the colour bar reads ``label``, by default ``cosine`` for one word and ``spotting score``
    for several (what the search engine's score maps hold, see the module docstring).
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
    vmin, vmax = _colour_range(scores)
    image = ax.imshow(scores, aspect="auto", interpolation="nearest", cmap="magma", extent=extent, vmin=vmin, vmax=vmax)
    ax.set_yticks(range(len(words)), labels=[printable(w) for w in words])
    ax.set_xlabel("time (s)")
    if span is not None:
        for x in span:
            ax.axvline(x, color="cyan", linewidth=1.5)
    if title:
        ax.set_title(printable(title), fontsize=10, loc="left")
    fig.colorbar(image, ax=ax, label=score_label(len(words)) if label is None else label)
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(out_path)


def score_label(n_words: int) -> str:
    """What a score map of ``n_words`` query words holds: ``cosine`` for one, ``spotting score`` for more."""
    return "cosine" if n_words == 1 else "spotting score"


def hit_title(hit: Hit) -> str:
    """``#3  talk.mp4  track 1  12.00–15.00 s``: the hit's rank, video file, speaker track and clip."""
    name = printable(Path(hit.video_path).name)
    if len(name) > 48:  # keep the title on the figure
        name = f"{name[:22]}…{name[-22:]}"
    return f"#{hit.rank}  {name}  track {hit.track}  {hit.clip_start_s:.2f}–{hit.clip_end_s:.2f} s"


def _colour_range(scores: np.ndarray) -> tuple[float, float]:
    """The finite scores' smallest and largest value, widened a little when they are all equal."""
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    if high - low < 1e-6:
        low, high = low - 0.5e-3, high + 0.5e-3
    return low, high


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
                hit_title(hit),
            )
            for hit in result.hits
            if score_maps is not None and hit.clip_id in score_maps
        ]
