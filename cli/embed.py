"""`gestsearch embed`: one speaker track → embeddings, like the official inference script."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.options import JsonOpt, settings_options
from cli.output import console, embedder_for, model_note, print_json
from gestsearch.config import Settings
from gestsearch.types import EMBED_MODALITIES


@settings_options()
def embed(
    out: Annotated[Path, typer.Option("--out", help="Output .npz: gesture_emb (T,512), content_emb (W,512), words, word_boundaries.")],
    video: Annotated[Optional[Path], typer.Option("--video", help="A pre-cropped, face-masked speaker track.")] = None,
    audio: Annotated[Optional[Path], typer.Option("--audio", help="Speech audio (wav, mp3, m4a, or a video's sound).")] = None,
    transcript: Annotated[Optional[Path], typer.Option("--transcript", help="WhisperX-style word file (WORD, START, END, SCORE rows).")] = None,
    modalities: Annotated[str, typer.Option("--modalities", help=f"v (gestures), t (text), a (speech): {', '.join(EMBED_MODALITIES)}.")] = "vta",
    json: JsonOpt = False,
    *,
    settings: Settings,
) -> None:
    """Embed one speaker track like the official inference script (L2-normalised vectors)."""
    from gestsearch.ingest import embed_file

    embedder = embedder_for(settings)
    result = embed_file(embedder, modalities, video, audio, transcript, settings.chunk_frames)
    result.save(out, embedder.info.name)
    model_note(embedder)
    if json:
        print_json({
            "out": str(out),
            "model": embedder.info.name,
            "fingerprint": embedder.info.fingerprint,
            "gesture_frames": None if result.gesture is None else len(result.gesture),
            "words": result.words,
        })
        return
    frames = "" if result.gesture is None else f"{len(result.gesture)} gesture frames"
    words = "" if result.content is None else f"{len(result.words)} words"
    console.print(f"wrote [bold]{out}[/]: {', '.join(x for x in (frames, words) if x)}")
