"""`gestsearch eval`: the AVS benchmarks, official protocol first, then the engine's re-ranking."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cli.options import JsonOpt, settings_options
from cli.output import console, embedder_for, model_note, print_json, shown
from gestsearch.config import Settings
from gestsearch.constants import DEFAULT_CANDIDATES, SPOT_FRAME_MARGIN, SPOT_THRESHOLD

if TYPE_CHECKING:
    from gestsearch.eval.avs import AsdReport, EvalReport

app = typer.Typer(help="Evaluate on the AVS benchmarks (official protocol, then the engine's re-ranking).", no_args_is_help=True)

CsvOpt = Annotated[Path, typer.Option("--csv", help="The official manifest (avs_ret.csv / avs_spot.csv / avs_asd.csv).")]
MediaOpt = Annotated[Path, typer.Option("--media", help="Media root laid out as the official tooling does: crops ROOT/ID_START-END/00000.avi + .wav, or raw downloads ROOT/ID_START-END.mp4 (or ROOT/ID.mp4).")]
ModalitiesOpt = Annotated[str, typer.Option("--modalities", help="Content modalities: t (text), a (speech) or ta.")]
CacheDbOpt = Annotated[Optional[Path], typer.Option("--db", help="Keep embeddings in this index (re-runs cost no model time).")]
CouplingWeightOpt = Annotated[Optional[float], typer.Option("--coupling-weight", min=0.0, max=1.0, help="Default: the engine's.")]


@app.command("avs-ret")
@settings_options()
def avs_ret(
    csv: CsvOpt,
    media: MediaOpt,
    modalities: ModalitiesOpt = "ta",
    db: CacheDbOpt = None,
    candidates: Annotated[int, typer.Option("--candidates", min=1, help="Stage-1 candidates of the engine protocol.")] = DEFAULT_CANDIDATES,
    coupling_weight: CouplingWeightOpt = None,
    ranks_csv: Annotated[Optional[Path], typer.Option("--ranks-csv", help="Write the per-query ranks here.")] = None,
    json: JsonOpt = False,
    *,
    settings: Settings,
) -> None:
    """AVS-Ret: Recall@K and median rank, speech→gesture and gesture→speech."""
    from rich.table import Table

    from cli.progress import ProgressBars
    from gestsearch.eval.avs import evaluate_retrieval

    embedder = embedder_for(settings)
    with ProgressBars(enabled=not json) as progress:
        report = evaluate_retrieval(csv, media, embedder, modalities, db, candidates, coupling_weight, progress)
    model_note(embedder)
    if ranks_csv:
        report.write_ranks(ranks_csv)
    if json:
        print_json(report.to_dict())
        return
    ks = ["R@1", "R@5", "R@10", "R@25", "R@50", "MR"]
    table = Table(title=f"AVS-Ret ({modalities}), N = {report.n_evaluated} of {report.n_manifest}", title_justify="left")
    table.add_column("protocol")
    table.add_column("direction")
    for k in ks:
        table.add_column(k, justify="right")
    for protocol, results in (("official (pooled)", report.official), ("engine (ANN + coupling)", report.engine)):
        for direction, m in results.items():
            table.add_row(protocol, direction, *[f"{m[k]:.1f}" if k in m else "-" for k in ks])
    console.print(table)
    print_missing(report)


@app.command("avs-spot")
@settings_options()
def avs_spot(
    csv: CsvOpt,
    media: MediaOpt,
    modalities: ModalitiesOpt = "ta",
    db: CacheDbOpt = None,
    threshold: Annotated[float, typer.Option("--threshold", help="Minimum spotting score.")] = SPOT_THRESHOLD,
    frame_margin: Annotated[int, typer.Option("--frame-margin", min=0, help="Frames allowed outside the word's boundary.")] = SPOT_FRAME_MARGIN,
    json: JsonOpt = False,
    *,
    settings: Settings,
) -> None:
    """AVS-Spot: word-spotting accuracy (peak within the word ±margin, score ≥ threshold)."""
    from cli.progress import ProgressBars
    from gestsearch.eval.avs import evaluate_spotting

    embedder = embedder_for(settings)
    with ProgressBars(enabled=not json) as progress:
        report = evaluate_spotting(csv, media, embedder, modalities, db, threshold, frame_margin, progress)
    model_note(embedder)
    if json:
        print_json(report.to_dict())
        return
    console.print(
        f"AVS-Spot ({modalities}): accuracy [bold]{report.accuracy:.1f}%[/] over N = {report.n_evaluated} "
        f"of {report.n_manifest} (threshold {threshold}, ±{frame_margin} frames)"
    )
    print_missing(report)


@app.command("avs-asd")
@settings_options()
def avs_asd(
    csv: CsvOpt,
    media: MediaOpt,
    modalities: ModalitiesOpt = "ta",
    db: CacheDbOpt = None,
    coupling_weight: CouplingWeightOpt = None,
    json: JsonOpt = False,
    *,
    settings: Settings,
) -> None:
    """AVS-Asd: which of P = 2/4/6 people says the clip's words (own track first = correct).

    A row counts with P people only when its clip and its first P - 1 negatives all have media;
    the others are reported as not evaluated, each with the missing file and why."""
    from rich.table import Table

    from cli.progress import ProgressBars
    from gestsearch.eval.avs import evaluate_asd

    embedder = embedder_for(settings)
    with ProgressBars(enabled=not json) as progress:
        report = evaluate_asd(csv, media, embedder, modalities, db, coupling_weight, progress)
    model_note(embedder)
    if json:
        print_json(report.to_dict())
        return
    table = Table(title=f"AVS-Asd ({modalities}), accuracy % (own track ranked first)", title_justify="left")
    for column in ("P", "N", "not evaluated", "official (pooled)", f"engine (+ coupling {report.coupling_weight})"):
        table.add_column(column, justify="right")
    for r in report.people:
        table.add_row(str(r.people), str(r.n_evaluated), str(len(r.dropped)), _percent(r.official), _percent(r.engine))
    table.add_row("all", str(sum(r.n_evaluated for r in report.people)), str(sum(len(r.dropped) for r in report.people)),
                  _percent(report.overall("official")), _percent(report.overall("engine")))
    console.print(table)
    print_missing(report)
    print_lost_negatives(report)


def print_lost_negatives(report: AsdReport) -> None:
    """Rows that have their own clip but not a negative, with the largest P (which drops them all)."""
    largest = report.people[-1]
    lost = {name: why for name, why in largest.dropped.items() if name not in report.missing_reasons}
    if lost:
        console.print(f"{len(lost)} clips with media were not evaluated with {largest.people} people (the table counts each P):")
        _listed(lost)
    ties = [f"{r.official_ties}/{r.engine_ties} with {r.people}" for r in report.people if r.official_ties or r.engine_ties]
    if ties:
        console.print(f"own track tied with a negative (official/engine), counted wrong: {', '.join(ties)}")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_missing(report: EvalReport) -> None:
    """The rows left out and the rows flagged, each with its reason, and the small-sample caveat."""
    if report.missing:
        console.print(f"{len(report.missing)} of {report.n_manifest} clips were left out:")
        _listed(report.missing_reasons)
    if report.flagged:
        console.print(f"{len(report.flagged)} clips were evaluated but look wrong:")
        _listed(report.flagged)
    if report.caveat:
        console.print(f"[yellow]caveat:[/] {report.caveat}", highlight=False)


def _listed(reasons: dict[str, str], most: int = 10) -> None:
    for name, why in list(reasons.items())[:most]:
        console.print(f"  {shown(name)}: {shown(why)}", highlight=False)
    if len(reasons) > most:
        console.print(f"  … and {len(reasons) - most} more (--json lists them all)")
