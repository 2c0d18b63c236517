"""`gestsearch search`: text, speech or gesture queries against an index, printed or exported."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.options import JsonOpt, settings_options
from cli.output import console, embedder_for, model_note, note, print_json, shown
from gestsearch.config import Settings
from gestsearch.constants import DEFAULT_CANDIDATES, DEFAULT_K, SPEAKING_THRESHOLD
from gestsearch.results import SearchResult


@settings_options(db=True)
def search(
    query: Annotated[Optional[str], typer.Argument(help="A word or phrase, e.g. \"take a walk\".")] = None,
    audio: Annotated[Optional[Path], typer.Option("--audio", help="Query by speech: an audio file (wav, mp3, m4a, or a video's sound).")] = None,
    transcript: Annotated[Optional[str], typer.Option("--transcript", help="The words spoken in --audio (aligned offline).")] = None,
    like: Annotated[Optional[int], typer.Option("--like", help="Gesture → speech: clips whose speech matches this clip's gestures.")] = None,
    like_video: Annotated[Optional[Path], typer.Option("--like-video", help="Gesture → speech from a video's time range (with --start/--end).")] = None,
    start: Annotated[Optional[float], typer.Option("--start", min=0.0, help="Start of the --like-video range, seconds.")] = None,
    end: Annotated[Optional[float], typer.Option("--end", min=0.0, help="End of the --like-video range, seconds.")] = None,
    track: Annotated[int, typer.Option("--track", min=0, help="Speaker track of --like-video.")] = 0,
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="Number of hits.")] = DEFAULT_K,
    candidates: Annotated[int, typer.Option("--candidates", min=1, help="Stage-1 candidates re-ranked exactly.")] = DEFAULT_CANDIDATES,
    coupling_weight: Annotated[Optional[float], typer.Option("--coupling-weight", min=0.0, max=1.0, help="Weight of the word-coupling score in the final score (default: the library's).")] = None,
    export: Annotated[Optional[Path], typer.Option("--export", help="Write each hit's mp4 cut, a heatmap PNG and results.json into this folder.")] = None,
    formats: Annotated[Optional[list[str]], typer.Option("--format", help="Export formats (repeatable): json, csv, vtt, eaf, mp4, heatmap, pose (motion: landmarks, TED joints, preview).")] = None,
    in_path: Annotated[Optional[str], typer.Option("--path", help="Only videos under this folder, or matching this glob ('*.mp4': file names; 'talks/*/x*': paths).", rich_help_panel="Filters")] = None,
    in_video: Annotated[Optional[str], typer.Option("--video", help="Only this video (its path).", rich_help_panel="Filters")] = None,
    only_track: Annotated[Optional[int], typer.Option("--only-track", min=0, help="Only this speaker track number.", rich_help_panel="Filters")] = None,
    min_duration: Annotated[Optional[float], typer.Option("--min-duration", min=0.0, help="Only clips at least this long, seconds.", rich_help_panel="Filters")] = None,
    max_duration: Annotated[Optional[float], typer.Option("--max-duration", min=0.0, help="Only clips at most this long, seconds.", rich_help_panel="Filters")] = None,
    indexed_after: Annotated[Optional[str], typer.Option("--indexed-after", help="Only videos indexed at or after this ISO date/time (UTC unless given).", rich_help_panel="Filters")] = None,
    indexed_before: Annotated[Optional[str], typer.Option("--indexed-before", help="Only videos indexed before this ISO date/time.", rich_help_panel="Filters")] = None,
    speakers_only: Annotated[bool, typer.Option("--speakers-only", help=f"Drop clips of people in view who are not speaking (speaking score below {SPEAKING_THRESHOLD}).", rich_help_panel="Filters")] = False,
    server: Annotated[Optional[str], typer.Option("--server", help="Ask a running `gestsearch serve` at this URL instead of loading the models here (default: GESTSEARCH_SERVER).")] = None,
    json: JsonOpt = False,
    *,
    settings: Settings,
) -> None:
    """Search the index by text, by speech (--audio) or by a clip's gestures (--like)."""
    # Heavy modules are imported where they are used, here and in the library: a cold text query
    # loads only the text model, the store and FAISS (tests/cli/test_cold_start.py).
    from gestsearch.filters import ClipFilter

    given = [x for x in (query, audio, like, like_video) if x is not None]
    if len(given) != 1:
        raise typer.BadParameter("give exactly one of QUERY, --audio, --like or --like-video")
    if not (like_video is None) == (start is None) == (end is None):
        raise typer.BadParameter("--like-video needs --start and --end (and they go only with it)")
    if transcript is not None and audio is None:
        raise typer.BadParameter("--transcript goes with --audio")
    if formats and export is None:
        raise typer.BadParameter("--format needs --export DIR")
    where = ClipFilter(in_path, in_video, only_track, min_duration, max_duration, indexed_after, indexed_before,
                       SPEAKING_THRESHOLD if speakers_only else None)
    if export is not None:  # a bad target fails before any model is loaded
        from gestsearch.export import DEFAULT_EXPORTS, check_formats, export_dir, export_results

        formats = check_formats(formats or DEFAULT_EXPORTS)
        export_dir(export)
    server = server or settings.server
    if server:
        if coupling_weight is not None:
            raise typer.BadParameter("--coupling-weight is the server's setting; it cannot be changed with --server")
        result, score_maps = _ask_server(server, settings.token, query, audio, transcript, like, like_video, start, end,
                                         track, k, candidates, where, formats if export is not None else [])
        note(f"model: {result.model} (at {server})")
    else:
        from gestsearch import runtime
        from gestsearch.search.encoders import query_encoder_for
        from gestsearch.search.engine import Searcher
        from gestsearch.store import AnnConfig, GestureStore

        if like_video is None:  # only small models to run, as in `gestsearch serve` (gestsearch/runtime.py)
            runtime.set_threads(runtime.SMALL_MODEL_THREADS)
        if audio is None and like_video is None:
            embedder = query_encoder_for(settings)
        else:
            embedder = embedder_for(settings, gestsync_now=like_video is not None)
        ann = AnnConfig(device=embedder.device)  # a GPU searches there
        with GestureStore.open(settings.db, fingerprint=embedder.info.fingerprint, read_only=True, ann=ann) as store:
            searcher = Searcher(store, embedder, candidates, coupling_weight)
            if audio is not None:
                q = searcher.audio_query(audio, transcript, settings.asr_model)
            elif like is not None:
                q = searcher.gesture_query(like)
            elif like_video is not None:
                q = searcher.gesture_query_from_video(like_video, start, end, track)
            else:
                q = searcher.text_query(query)
            ranked = searcher.search(q, k, where)
        result, score_maps = ranked.result, ranked.score_maps
        model_note(embedder)
    for line in result.notes:
        note(f"note: {line}")
    if export is not None:
        written = export_results(result, export, formats, score_maps)
        note(f"exported {len(written)} files to {export}")
    if json:
        print_json(result.to_dict())
    else:
        print_hits(result)


def _ask_server(server, token, query, audio, transcript, like, like_video, start, end, track, k, candidates, where,
                formats) -> tuple[SearchResult, dict]:
    """The search answered by a running `gestsearch serve` (no models loaded here), with the score
    maps of text hits when heatmaps are exported."""
    import numpy as np

    from gestsearch.client import Client

    client = Client(server, token)
    filters = {k: v for k, v in (("path", where.path), ("video", where.video), ("track", where.track),
                                 ("min_duration", where.min_duration_s), ("max_duration", where.max_duration_s),
                                 ("indexed_after", where.indexed_after), ("indexed_before", where.indexed_before),
                                 ("speakers_only", True if where.min_speaking is not None else None))
               if v is not None}
    if audio is not None:
        result = client.search_audio(audio, transcript, k, **filters)
    elif like is not None:
        result = client.like(like, k, **filters)
    elif like_video is not None:
        result = client.like_video(Path(like_video).absolute(), start, end, track, k, **filters)
    else:
        result = client.search(query, k, candidates, **filters)
    maps = {}
    if "heatmap" in formats and result.mode == "text":
        maps = {h.clip_id: np.array(client.clip(h.clip_id, result.query)["score_map"], np.float32) for h in result.hits}
    return result, maps


def print_hits(result: SearchResult) -> None:
    from rich.table import Table

    table = Table(title=f"{result.mode} query: {shown(result.query)}", title_justify="left")
    speaking = any(hit.speaking is not None for hit in result.hits)  # a column only where several people are in view
    for column in ("#", "score", "video", "track", *(("speaking",) if speaking else ()), "clip id", "clip", "gesture", "word peaks"):
        table.add_column(column, overflow="fold")
    for hit in result.hits:
        peaks = shown(", ".join(f"{p.word}@{p.time_s:.2f}s" for p in hit.peaks))
        start, end = (hit.merged_start_s, hit.merged_end_s) if hit.merged_start_s is not None else (hit.clip_start_s, hit.clip_end_s)
        table.add_row(
            str(hit.rank), f"{hit.score:.3f}", shown(Path(hit.video_path).name), str(hit.track),
            *(("-" if hit.speaking is None else f"{hit.speaking:.2f}",) if speaking else ()), hit.clip_id,
            f"{start:.2f}-{end:.2f}s", f"{hit.span_start_s:.2f}-{hit.span_end_s:.2f}s", peaks,
        )
    console.print(table if result.hits else "no hits")
