"""Transcript sidecar files next to a video, and the order in which they are tried.

Preference for a video ``NAME.ext``:

1. ``NAME.txt`` in the WhisperX text format (``Text: ...``, ``Lang: en``, blank line,
   ``WORD, START, END, SCORE`` header, one ``word, start_s, end_s[, score]`` row per word);
2. ``NAME.json`` from WhisperX (``segments[].words[]`` with ``word``/``start``/``end``);
3. ``NAME.srt`` then ``NAME.vtt`` (cue times only: the words of each cue are force-aligned to
   the cue's audio, or split by length when there is no audio);
4. ``NAME.txt`` as plain text (force-aligned to the whole audio);
5. no sidecar: Whisper ASR when a model is given, else None.

Words without times (WhisperX leaves numbers unaligned) share the gap around them.
"""

from __future__ import annotations

import functools
import html
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gestsearch.constants import SAMPLE_RATE
from gestsearch.errors import TranscriptError
from gestsearch.media.align import force_align
from gestsearch.media.audio import load_audio
from gestsearch.media.transcript import Transcript, Word, fill_untimed

_WHISPERX_HEADER = "WORD, START, END, SCORE"
_CUE_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{1,3})"
_CUE_LINE = re.compile(rf"^\s*{_CUE_TIME}\s*-->\s*{_CUE_TIME}")
_MARKUP = re.compile(r"<[^>]*>|\{[^}]*\}")


@dataclass(frozen=True)
class Cue:
    """A subtitle cue or a WhisperX segment without word times: text over ``[start_s, end_s]``."""

    text: str
    start_s: float
    end_s: float


def load_transcript(
    video_path: str | Path, audio: np.ndarray | None = None, asr_model: str | None = None
) -> Transcript | None:
    """The timed words spoken in ``video_path``, from its sidecars (see the module docstring).

    ``audio`` (float32 mono 16 kHz on the video's timeline, as :func:`load_audio` returns) is
    used for alignment and ASR; when None it is loaded only if needed. ``asr_model`` is a local
    Whisper directory (or a Hugging Face id when online). Returns None when there is neither a
    sidecar nor an ASR model. Raises :class:`TranscriptError` for unreadable or malformed
    sidecars, naming the file and the line.
    """
    path = Path(video_path)
    get_audio = functools.cache(lambda: audio if audio is not None else load_audio(path))

    txt = path.with_suffix(".txt")
    timed_txt = txt.is_file() and _is_timed_whisperx(_read(txt), txt)
    for sidecar in ([txt] if timed_txt else []) + [path.with_suffix(s) for s in (".json", ".srt", ".vtt", ".txt")]:
        if sidecar.is_file():
            return load_transcript_file(sidecar, get_audio)
    if asr_model is not None:
        from gestsearch.media.asr import transcribe

        wav = get_audio()
        if wav is None:
            raise TranscriptError(f"{path}: no audio to transcribe")
        return transcribe(wav, asr_model)
    return None


def load_transcript_file(path: str | Path, audio: np.ndarray | None | Callable[[], np.ndarray | None] = None) -> Transcript:
    """Read one transcript file, by its suffix: .txt (WhisperX text, or plain text to align),
    .json (WhisperX), .srt or .vtt (cues aligned inside). ``audio`` (or a function returning
    it) is needed only to align text without word times."""
    path = Path(path)
    if not path.is_file():
        raise TranscriptError(f"{path}: transcript file not found")
    get_audio = audio if callable(audio) else (lambda: audio)
    content = _read(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return parse_whisperx_json(content, path)
    if suffix in (".srt", ".vtt"):
        return cues_to_transcript(parse_cues(content, path), f"sidecar:{suffix[1:]}", get_audio())
    if content.lstrip().startswith("Text:"):
        transcript = parse_whisperx_text(content, path)
        if transcript is not None:
            return transcript
        content = content.lstrip().splitlines()[0][len("Text:") :]
    if not content.split():
        raise TranscriptError(f"{path}: the transcript is empty")
    return _align_plain_text(content, path, get_audio())


def _is_timed_whisperx(content: str, path: Path) -> bool:
    return content.lstrip().startswith("Text:") and parse_whisperx_text(content, path) is not None


def parse_whisperx_text(content: str, path: Path) -> Transcript | None:
    """Parse the WhisperX text format; None when it has a ``Text:`` line but no word rows."""
    lines = content.lstrip().splitlines()
    text = lines[0][len("Text:") :].strip()
    try:
        header = next(i for i, line in enumerate(lines) if line.strip().upper() == _WHISPERX_HEADER)
    except StopIteration:
        if any(line.strip() and not line.startswith(("Text:", "Lang:")) for line in lines):
            raise TranscriptError(f"{path}: no '{_WHISPERX_HEADER}' header before the word rows") from None
        return None
    displays: list[str] = []
    times: list[tuple[float, float] | None] = []
    for number, line in enumerate(lines[header + 1 :], start=header + 2):
        if not line.strip():
            continue
        parts = line.strip().rsplit(", ", 3)
        if len(parts) == 1:
            displays.append(parts[0])
            times.append(None)
            continue
        if len(parts) < 3:
            raise TranscriptError(f"{path}: line {number}: expected 'word, start, end, score', got {line!r}")
        displays.append(parts[0])
        times.append(_interval(parts[1], parts[2], f"{path}: line {number}"))
    if not displays:
        return None
    end = max((t[1] for t in times if t is not None), default=0.0)
    return Transcript(fill_untimed(displays, times, (0.0, end)), text, "sidecar:txt")


def parse_whisperx_json(content: str, path: Path) -> Transcript:
    """Parse WhisperX JSON output: ``{"segments": [{"start", "end", "text", "words": [...]}]}``.

    The words of a segment without a ``words`` list share the segment's span by length.
    """
    try:
        data = json.loads(content)
    except json.JSONDecodeError as e:
        raise TranscriptError(f"{path}: not valid JSON ({e})") from e
    segments = data.get("segments") if isinstance(data, dict) else None
    if not isinstance(segments, list):
        raise TranscriptError(f"{path}: expected an object with a 'segments' list (WhisperX JSON)")
    words: list[Word] = []
    texts: list[str] = []
    for n, segment in enumerate(segments):
        where = f"{path}: segment {n}"
        if not isinstance(segment, dict):
            raise TranscriptError(f"{where}: not an object")
        span = _interval(segment.get("start", 0.0), segment.get("end", 0.0), where)
        texts.append(str(segment.get("text", "")).strip())
        items = segment.get("words")
        if items is None:
            items = [{"word": w} for w in texts[-1].split()]
        if not isinstance(items, list):
            raise TranscriptError(f"{where}: 'words' must be a list")
        words.extend(_json_words(items, span, where))
    return Transcript(words, " ".join(t for t in texts if t), "sidecar:json")


def parse_cues(content: str, path: Path) -> list[Cue]:
    """Parse SRT or WebVTT cues (times and text; markup, settings and notes dropped)."""
    cues: list[Cue] = []
    lines = content.splitlines()
    i = 0
    while i < len(lines):
        match = _CUE_LINE.match(lines[i])
        if match is None:
            if "-->" in lines[i]:
                raise TranscriptError(f"{path}: line {i + 1}: malformed cue timing {lines[i].strip()!r}")
            i += 1
            continue
        start, end = _cue_seconds(match.groups()[:4]), _cue_seconds(match.groups()[4:])
        span = _interval(start, end, f"{path}: line {i + 1}")
        i += 1
        text_lines = []
        while i < len(lines) and lines[i].strip():
            text_lines.append(lines[i].strip())
            i += 1
        text = html.unescape(_MARKUP.sub("", " ".join(text_lines)))
        cues.append(Cue(" ".join(text.split()), *span))
    if not cues:
        raise TranscriptError(f"{path}: no subtitle cues ('00:00:01,000 --> 00:00:02,000' lines)")
    return cues


def cues_to_transcript(cues: list[Cue], source: str, audio: np.ndarray | None) -> Transcript:
    """Word times inside each cue: force-aligned to the cue's audio, else split by length."""
    words: list[Word] = []
    aligned = False
    for cue in cues:
        if not cue.text:
            continue
        clip = None if audio is None else audio[round(cue.start_s * SAMPLE_RATE) : round(cue.end_s * SAMPLE_RATE)]
        if clip is not None and len(clip):
            part = force_align(clip, cue.text)
            aligned = aligned or part.source == "aligned:pocketsphinx"
            words.extend(Word(w.word, w.display, w.start_s + cue.start_s, w.end_s + cue.start_s) for w in part.words)
        else:
            displays = cue.text.split()
            words.extend(fill_untimed(displays, [None] * len(displays), (cue.start_s, cue.end_s)))
    text = " ".join(c.text for c in cues if c.text)
    return Transcript(words, text, f"{source}+aligned:pocketsphinx" if aligned else source)


def _json_words(items: list, span: tuple[float, float], where: str) -> list[Word]:
    displays: list[str] = []
    times: list[tuple[float, float] | None] = []
    for k, item in enumerate(items):
        if not isinstance(item, dict) or "word" not in item:
            raise TranscriptError(f"{where}, word {k}: expected an object with a 'word'")
        displays.append(str(item["word"]).strip())
        has_times = item.get("start") is not None and item.get("end") is not None
        times.append(_interval(item["start"], item["end"], f"{where}, word {k}") if has_times else None)
    return fill_untimed(displays, times, span)


def _align_plain_text(text: str, path: Path, audio: np.ndarray | None) -> Transcript:
    if audio is None:
        raise TranscriptError(f"{path}: the transcript has no word times and there is no audio to align it to")
    transcript = force_align(audio, " ".join(text.split()))
    return Transcript(transcript.words, transcript.text, f"sidecar:txt+{transcript.source}")


def _interval(start: object, end: object, where: str) -> tuple[float, float]:
    try:
        s, e = float(start), float(end)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TranscriptError(f"{where}: times must be numbers, got {start!r} and {end!r}") from None
    if not (math.isfinite(s) and math.isfinite(e)) or s < 0 or e < s:
        raise TranscriptError(f"{where}: invalid time span {s}..{e} s")
    return s, e


def _cue_seconds(groups: tuple[str | None, ...]) -> float:
    hours, minutes, seconds, millis = groups
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis.ljust(3, "0")) / 1000


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise TranscriptError(f"{path}: cannot read ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise TranscriptError(f"{path}: not UTF-8 text (byte {e.start})") from e
