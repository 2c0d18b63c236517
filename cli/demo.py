"""`gestsearch demo`: a fresh synthetic gesture archive, indexed and searched, with an HTML report.

An application of the tool (synthesis → indexer → search → report), not part of the library.

The archive is rendered with a seed the bundled model never saw in training. Because the
synthetic corpus records where each word's gesture was rendered, the demo checks every top
hit: the query word's gesture must be in that clip, and its peak within the rendered stroke
(± the AVS-Spot margin of 9 frames).
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.options import JsonOpt, settings_options
from cli.output import console, embedder_for, model_note, note, print_json
from cli.search import print_hits
from gestsearch.config import Settings
from gestsearch.results import SearchResult
from gestsearch.types import Boundary

if TYPE_CHECKING:
    from gestsearch.embedding import Embedder

DEMO_SEED = 424242  # never used for training corpora (those use seeds below 1000)
DEMO_CLIPS = 60
TEXT_QUERIES = 3
AUDIO_PHRASE = ("please", "stop", "now")  # the lexicon word is "stop"


@dataclass
class Check:
    query: str
    word: str
    ok: bool
    detail: str


@dataclass
class DemoResult:
    archive: Path
    db: Path
    report: Path
    results: list[SearchResult] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


def run_demo(
    out_dir: Path,
    embedder: Embedder,
    n_clips: int = DEMO_CLIPS,
    seed: int = DEMO_SEED,
    k: int = 5,
    say: Callable[[str], None] = print,
) -> DemoResult:
    # imported on use, so that `gestsearch --help` does not load torch
    from gestsearch.export import ReportQuery, export_results, write_report
    from gestsearch.search.engine import Searcher
    from gestsearch.store import GestureStore
    from gestsearch.synth import generate_corpus
    from gestsearch.synth.truth import rendered_gestures
    from indexer import index_folder

    archive, db = out_dir / "archive", out_dir / "index.lance"
    say(f"rendering {n_clips} synthetic talk clips (seed {seed}) into {archive}")
    generate_corpus(archive, n_clips, seed)
    say(f"indexing them with {embedder.info.name}")
    summary = index_folder(archive, embedder, db)
    say(f"{len(summary.indexed) + len(summary.skipped)} videos, {summary.clips} new clips in {db}")
    truth = rendered_gestures(archive / "manifest.csv")
    words = [w for w, _ in Counter(w for spans in truth.values() for w, _, _ in spans).most_common(TEXT_QUERIES)]
    result = DemoResult(archive, db, out_dir / "report" / "index.html")
    report = []
    with GestureStore.open(db, read_only=True) as store:
        searcher = Searcher(store, embedder)
        queries = [(w, searcher.text_query(w)) for w in words]
        audio = _audio_query_file(out_dir / "queries")
        queries.append(("stop", searcher.audio_query(audio, " ".join(AUDIO_PHRASE))))
        for i, (word, query) in enumerate(queries, 1):
            ranked = searcher.search(query, k)
            export_dir = out_dir / "report" / f"q{i}"
            written = export_results(ranked.result, export_dir, ("heatmap", "json"), ranked.score_maps)
            heatmaps = {p.stem.split("_", 1)[1]: p for p in written if p.suffix == ".png"}
            check = _check(ranked.result, word, truth)
            result.results.append(ranked.result)
            result.checks.append(check)
            top = ranked.result.hits[0].clip_id if ranked.result.hits else ""
            report.append(ReportQuery(ranked.result, heatmaps, {top: ("✓ " if check.ok else "✗ ") + check.detail}))
    write_report(report, result.report, "gestsearch demo: synthetic gesture archive")
    return result


def _check(result: SearchResult, word: str, truth: dict[str, list[Boundary]]) -> Check:
    from gestsearch.synth.truth import gesture_found

    verdict = gesture_found(result.hits[0] if result.hits else None, word, truth)
    return Check(result.query, word, verdict.ok, verdict.detail)


def _audio_query_file(directory: Path) -> Path:
    """A spoken query (espeak-ng), written as a wav."""
    from gestsearch.media.encode import write_audio
    from gestsearch.synth.speech import synthesize

    speech = synthesize(list(AUDIO_PHRASE))
    directory.mkdir(parents=True, exist_ok=True)
    return write_audio(directory / "please_stop_now.wav", speech.audio)


@settings_options()
def demo(
    out: Annotated[Path, typer.Argument(help="Working folder for the archive, index and report.")] = Path("gestsearch-demo"),
    clips: Annotated[int, typer.Option("--clips", min=4, help="Clips in the synthetic archive.")] = DEMO_CLIPS,
    json: JsonOpt = False,
    *,
    settings: Settings,
) -> None:
    """Build a synthetic gesture archive, index it, search it, check the hits and write an HTML report."""
    embedder = embedder_for(settings)
    model_note(embedder)  # a long run: say which model at once
    result = run_demo(out, embedder, clips, say=note)
    if json:
        print_json({"report": str(result.report), "checks": [asdict(c) for c in result.checks],
                    "results": [r.to_dict() for r in result.results]})
        return
    for r in result.results:
        print_hits(r)
    for c in result.checks:
        mark = "[green]✓[/]" if c.ok else "[red]✗[/]"
        console.print(f"{mark} {c.query!r}: {c.detail}", highlight=False)
    passed = sum(c.ok for c in result.checks)
    console.print(f"{passed} of {len(result.checks)} top hits show the query word's gesture at the right time")
    console.print(f"report: [bold]{result.report.resolve()}[/]")
    console.print(f"browse it: [bold]gestsearch serve --db {shlex.quote(str(result.db.resolve()))}[/] (then open http://127.0.0.1:8080/)",
                  highlight=False)
