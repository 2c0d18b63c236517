"""A one-page HTML report of search results: per query its hits, each with a video player that
starts at the gesture span, the word-peak times and the heatmap."""

from __future__ import annotations

import html
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from gestsearch.atomic import write_text
from gestsearch.results import SearchResult
from gestsearch.text import printable


@dataclass
class ReportQuery:
    result: SearchResult
    heatmaps: dict[str, Path] = field(default_factory=dict)  # clip id → PNG
    checks: dict[str, str] = field(default_factory=dict)  # clip id → a verdict shown beside the hit


def write_report(queries: list[ReportQuery], path: Path, title: str = "gestsearch results") -> Path:
    """Write the page; media are linked by paths relative to the page (percent-encoded bytes, so any
    file name works; names are shown with undecodable bytes as ``\\xNN``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sections = [_section(q, path.parent) for q in queries]
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
section {{ margin-bottom: 2.5em; }}
.hit {{ display: flex; gap: 1em; align-items: flex-start; margin: 0.8em 0; padding: 0.6em; border: 1px solid #ddd; border-radius: 6px; }}
.hit video {{ width: 320px; }}
.hit img {{ max-width: 420px; }}
.meta {{ font-size: 0.9em; }}
.ok {{ color: #176117; }} .bad {{ color: #a11; }}
code {{ background: #f4f4f4; padding: 0 0.2em; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>Model: <code>{html.escape(queries[0].result.model if queries else "")}</code></p>
{"".join(sections)}
<script>
// Start each player at its gesture span and stop at its end.
for (const v of document.querySelectorAll("video[data-start]")) {{
  const start = parseFloat(v.dataset.start), end = parseFloat(v.dataset.end);
  v.addEventListener("loadedmetadata", () => {{ v.currentTime = start; }});
  v.addEventListener("timeupdate", () => {{ if (v.currentTime > end) v.pause(); }});
}}
</script>
</body>
</html>
"""
    return write_text(path, page)


def _section(query: ReportQuery, base: Path) -> str:
    r = query.result
    hits = "".join(_hit(h, query, base) for h in r.hits) or "<p>No hits.</p>"
    return f'<section class="query"><h2>{html.escape(r.mode)} query: “{html.escape(printable(r.query))}”</h2>{hits}</section>'


def _hit(hit, query: ReportQuery, base: Path) -> str:
    video = _relative(Path(hit.video_path), base)
    src = f"{video}#t={hit.span_start_s:.2f},{hit.span_end_s:.2f}"
    peaks = ", ".join(f"{html.escape(printable(p.word))} @ {p.time_s:.2f} s ({p.strength:.2f})" for p in hit.peaks)
    heatmap = query.heatmaps.get(hit.clip_id)
    image = f'<img src="{html.escape(_relative(heatmap, base))}" alt="heatmap of query words over frames">' if heatmap else ""
    check = printable(query.checks.get(hit.clip_id, ""))
    verdict = f'<div class="{"ok" if check.startswith("✓") else "bad"}">{html.escape(check)}</div>' if check else ""
    return f"""<div class="hit" data-rank="{hit.rank}">
<video controls preload="metadata" src="{html.escape(src)}" data-start="{hit.span_start_s:.3f}" data-end="{hit.span_end_s:.3f}"></video>
<div class="meta"><b>#{hit.rank}</b> score {hit.score:.3f} — {html.escape(printable(Path(hit.video_path).name))}<br>
gesture {hit.span_start_s:.2f}–{hit.span_end_s:.2f} s (clip {hit.clip_start_s:.2f}–{hit.clip_end_s:.2f} s)<br>
word peaks: {peaks or "–"}<br>“{html.escape(printable(hit.text))}”{verdict}</div>
{image}
</div>"""


def _relative(target: Path, base: Path) -> str:
    """``target`` relative to ``base`` as a URL path: its bytes percent-encoded (``#``, ``?``, spaces
    and bytes that are not UTF-8 included)."""
    relative = Path(os.path.relpath(Path(target).resolve(), base.resolve())).as_posix()
    return urllib.parse.quote(os.fsencode(relative))
