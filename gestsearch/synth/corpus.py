"""A synthetic gesture corpus: clips drawn from (seed, index), written as MP4 + WhisperX text + AVS manifest.

Everything random about clip ``i`` of seed ``s`` comes from ``numpy.random.default_rng([s, i, attempt])``
and its name carries the seed (``synth<s>_<i>``), so a corpus is reproducible whatever the number
of worker processes, and different seeds give different clips.
"""

from __future__ import annotations

import csv
import io
import math
import multiprocessing
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gestsearch.atomic import write_text
from gestsearch.constants import SAMPLE_RATE
from gestsearch.errors import GestsearchError
from gestsearch.progress import Progress, Update, silent
from gestsearch.synth.encode import write_mp4
from gestsearch.synth.lexicon import FILLER_WORDS, LEXICON
from gestsearch.synth.motion import (
    FPS,
    MAX_LEAD_S,
    PREPARATION_S,
    GestureEvent,
    Style,
    plan_beats,
    plan_gestures,
    pose_track,
)
from gestsearch.synth.render import Appearance, render, sample_appearance
from gestsearch.synth.speech import MergedWordsError, SpokenWord, Voice, check_espeak, synthesize

MANIFEST_NAME = "manifest.csv"
CLIPS_TASK = "clips"  # the progress task of generate_corpus
MANIFEST_COLUMNS = (
    "video_id", "start_time", "end_time", "filename", "num_frames", "phrase", "target_word", "target_word_boundary",
    "word_boundaries", "gesture_word", "gesture_start_frame", "gesture_end_frame", "gestures",
)
_VOICES = tuple(f"en-us{variant}" for variant in ("", "+m1", "+m2", "+m3", "+m4", "+m7", "+f1", "+f2", "+f3", "+f4"))
_MIN_GAP_WORDS = 2  # filler words between two lexicon words
_MIN_SECONDS = 2.0  # AVS clips last 2-4 s
_ATTEMPTS = 8  # phrases drawn per clip until espeak-ng times every word (~1% of phrases merge two words)


@dataclass(frozen=True)
class ClipSpec:
    """Everything random about one clip: the phrase, the voice, the motion style and the look."""

    name: str
    words: tuple[str, ...]
    voice: Voice
    style: Style
    appearance: Appearance
    lead_in: float  # silence before the speech, s (at least; more if the first gesture needs room)
    tail: float  # silence after the last word, s
    loudness: float  # peak amplitude of the speech
    motion_seed: int


@dataclass(frozen=True)
class ClipRecord:
    """A written clip: its words (seconds from the clip start), rendered gestures and length in frames."""

    name: str
    words: tuple[SpokenWord, ...]
    gestures: tuple[GestureEvent, ...]
    n_frames: int

    @property
    def phrase(self) -> str:
        return " ".join(w.word for w in self.words)


@dataclass(frozen=True)
class CorpusSummary:
    """What ``generate_corpus`` wrote: ``n_clips`` clips under ``out_dir``, listed in ``manifest``."""

    out_dir: Path
    manifest: Path
    n_clips: int
    seconds: float  # total duration
    gestures: dict[str, int]  # rendered iconic gestures per lexicon word


def clip_name(seed: int, index: int) -> str:
    return f"synth{seed}_{index:05d}"


def sample_clip(seed: int, index: int, attempt: int = 0) -> ClipSpec:
    """Draw clip ``index`` of corpus ``seed``: 2 lexicon words among 4-8 fillers, or 3 among 5-9.

    Two or three gestures per clip make almost every clip's set of gestures unique in a gallery
    of a few hundred (with one, a perfect model could not tell apart the ~14 clips gesturing only
    the same word). ``attempt`` > 0 draws a replacement for a phrase espeak-ng could not time
    word by word."""
    rng = np.random.default_rng([seed, index, attempt])
    n_lexicon = int(rng.integers(2, 4))
    n_words = n_lexicon + int(rng.integers(n_lexicon + 2, n_lexicon + 7))
    words = [str(w) for w in rng.choice(FILLER_WORDS, size=n_words)]
    lexicon = [str(w) for w in rng.choice(sorted(LEXICON), size=n_lexicon, replace=False)]
    free = n_words - (n_lexicon - 1) * _MIN_GAP_WORDS  # slots left once the gaps are set aside
    slots = [int(s) + i * _MIN_GAP_WORDS for i, s in enumerate(np.sort(rng.choice(free, n_lexicon, replace=False)))]
    for slot, word in zip(slots, lexicon):
        words[slot] = word
    style = Style(
        speed=float(rng.uniform(0.85, 1.2)),
        amplitude=float(rng.uniform(0.85, 1.15)),
        beat_rate=float(rng.uniform(0.15, 0.5)),
        rest=(float(rng.uniform(24, 48)), float(rng.uniform(98, 112))),
    )
    return ClipSpec(
        name=clip_name(seed, index),
        words=tuple(words),
        voice=Voice(str(rng.choice(_VOICES)), wpm=int(rng.integers(140, 190)), pitch=int(rng.integers(30, 70))),
        style=style,
        appearance=sample_appearance(rng),
        lead_in=float(rng.uniform(0.15, 0.45)),
        tail=float(rng.uniform(0.2, 0.45)),
        loudness=float(rng.uniform(0.5, 0.9)),
        motion_seed=int(rng.integers(2**63)),
    )


def make_clip(spec: ClipSpec, out_dir: Path) -> ClipRecord:
    """Synthesise, animate, render and write ``NAME.mp4`` and ``NAME.txt`` for one clip."""
    speech = synthesize(spec.words, spec.voice)
    first_gestured = min(w.start for w in speech.words if w.word in LEXICON)
    needed = MAX_LEAD_S + PREPARATION_S / spec.style.speed + 0.04 - first_gestured  # room for the first preparation
    lead_samples = round(max(spec.lead_in, needed) * SAMPLE_RATE)
    shift = lead_samples / SAMPLE_RATE
    words = tuple(SpokenWord(w.word, round(w.start + shift, 3), round(w.end + shift, 3)) for w in speech.words)

    rng = np.random.default_rng(spec.motion_seed)
    events = plan_gestures(words, spec.style, rng)
    beats = plan_beats(words, events, spec.style, rng)
    end = max(_MIN_SECONDS, words[-1].end + spec.tail, *(e.busy_span(spec.style.speed)[1] + 0.04 for e in events))
    n_frames = math.ceil(end * FPS)
    clip = render(spec.appearance, pose_track(n_frames, events, beats, spec.style, rng))

    audio = np.zeros(n_frames * SAMPLE_RATE // FPS, dtype=np.float32)
    spoken = speech.audio[: len(audio) - lead_samples] * (spec.loudness / max(float(np.abs(speech.audio).max()), 1e-6))
    audio[lead_samples : lead_samples + len(spoken)] = spoken
    write_mp4(out_dir / f"{spec.name}.mp4", clip.frames, audio)
    record = ClipRecord(spec.name, words, tuple(events), n_frames)
    _write_text(out_dir / f"{spec.name}.txt", transcript_text(record))
    return record


def transcript_text(record: ClipRecord) -> str:
    """The WhisperX-style text file of ``jegal_samples``: header, then ``WORD, START, END, SCORE`` rows (s)."""
    rows = "".join(f"{w.word}, {w.start:.3f}, {w.end:.3f}, 1.000\n" for w in record.words)
    return f"Text: {record.phrase}\nLang: en\n\nWORD, START, END, SCORE\n{rows}"


def manifest_row(record: ClipRecord) -> dict[str, object]:
    """One AVS-layout manifest row (frames at 25 fps from the clip start, boundaries inclusive)."""
    boundaries = [[w.word, _frame(w.start), _frame(w.end)] for w in record.words]
    gestures = [[e.word, _frame(e.start), _frame(e.end)] for e in record.gestures]
    target = next(b for b in boundaries if b[0] in LEXICON)
    return {
        "video_id": record.name,
        "start_time": 0,
        "end_time": f"{record.n_frames / FPS:.2f}",
        "filename": record.name,
        "num_frames": record.n_frames,
        "phrase": record.phrase,
        "target_word": target[0],
        "target_word_boundary": repr(target),
        "word_boundaries": repr(boundaries),
        "gesture_word": gestures[0][0],
        "gesture_start_frame": gestures[0][1],
        "gesture_end_frame": gestures[0][2],
        "gestures": repr(gestures),
    }


def generate_corpus(
    out_dir: Path,
    n_clips: int,
    seed: int,
    progress: Progress | None = None,
    workers: int | None = None,
) -> CorpusSummary:
    """Write ``n_clips`` clips and ``manifest.csv`` into ``out_dir`` (created if needed; same-named files
    are overwritten). ``progress`` sees a :data:`CLIPS_TASK` update after each clip; ``workers`` processes
    (default: one per CPU core) render in parallel without changing the output."""
    if n_clips < 1:
        raise GestsearchError(f"the number of clips must be at least 1 (got {n_clips})")
    if seed < 0:
        raise GestsearchError(f"the seed must be a non-negative integer (got {seed})")
    check_espeak()
    progress = progress or silent
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GestsearchError(f"cannot create the corpus directory {out_dir}: {e}") from e
    workers = min(workers or os.cpu_count() or 1, n_clips)
    jobs = [(seed, i, out_dir) for i in range(n_clips)]
    records: list[ClipRecord] = []
    if workers == 1:
        for job in jobs:
            records.append(_make_indexed_clip(job))
            progress(Update(CLIPS_TASK, len(records), n_clips))
    else:
        with multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            for record in pool.imap(_make_indexed_clip, jobs):
                records.append(record)
                progress(Update(CLIPS_TASK, len(records), n_clips))
    manifest = out_dir / MANIFEST_NAME
    _write_manifest(manifest, records)
    return CorpusSummary(
        out_dir=out_dir,
        manifest=manifest,
        n_clips=n_clips,
        seconds=sum(r.n_frames for r in records) / FPS,
        gestures=dict(Counter(e.word for r in records for e in r.gestures)),
    )


def _make_indexed_clip(job: tuple[int, int, Path]) -> ClipRecord:
    seed, index, out_dir = job
    name = clip_name(seed, index)
    try:
        for attempt in range(_ATTEMPTS):
            try:
                return make_clip(sample_clip(seed, index, attempt), out_dir)
            except MergedWordsError:
                continue
    except GestsearchError as e:
        # as the base class: subclasses with other constructor arguments cannot be unpickled from a worker
        raise GestsearchError(f"clip {name}: {e}") from None
    raise GestsearchError(f"clip {name}: espeak-ng merged words in {_ATTEMPTS} phrases in a row")


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already


def _write_manifest(path: Path, records: list[ClipRecord]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(manifest_row(r) for r in records)
    _write_text(path, out.getvalue())


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a reader never sees half a file."""
    try:
        write_text(path, text)
    except OSError as e:
        raise GestsearchError(f"cannot write {path}: {e}") from e


def _frame(seconds: float) -> int:
    return round(seconds * FPS)
