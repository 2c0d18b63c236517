"""A synthetic gesture corpus: clips drawn from (seed, index), written as MP4 + WhisperX text + AVS manifest.

Everything random about clip ``i`` of seed ``s`` comes from ``numpy.random.default_rng([s, i, attempt])``
and its name carries the seed (``synth<s>_<i>``), so a corpus is reproducible whatever the number
of worker processes, and different seeds give different clips.

Two-person clips (``people=2``, named ``synth<s>p2_<i>``, 960x270) show two people side by side,
person 0 in the left 480x270 panel and person 1 in the right one. The clip has one or two turns
of speech; whoever speaks a turn gestures it as a one-person clip would, the other one listens
(idle drift plus hand flicks at random times, not in time with any word). Their manifest has two
more columns: ``people`` (2) and ``speakers``, the turns as ``[[person, first_frame, last_frame], ...]``
(frames of the turn's first word start and last word end, inclusive). One-person corpora are
unchanged, byte for byte.
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
    listener_beats,
    plan_beats,
    plan_gestures,
    pose_track,
)
from gestsearch.synth.render import Appearance, render, render_side_by_side, sample_appearance
from gestsearch.synth.speech import MergedWordsError, SpokenWord, Voice, check_espeak, synthesize

MANIFEST_NAME = "manifest.csv"
CLIPS_TASK = "clips"  # the progress task of generate_corpus
MANIFEST_COLUMNS = (
    "video_id", "start_time", "end_time", "filename", "num_frames", "phrase", "target_word", "target_word_boundary",
    "word_boundaries", "gesture_word", "gesture_start_frame", "gesture_end_frame", "gestures",
)
PEOPLE_COLUMNS = ("people", "speakers")  # added for two-person corpora
PEOPLE = (1, 2)
_VOICES = tuple(f"en-us{variant}" for variant in ("", "+m1", "+m2", "+m3", "+m4", "+m7", "+f1", "+f2", "+f3", "+f4"))
_MIN_GAP_WORDS = 2  # filler words between two lexicon words
_MIN_SECONDS = 2.0  # AVS clips last 2-4 s
_ATTEMPTS = 8  # phrases drawn per clip until espeak-ng times every word (~1% of phrases merge two words)
_PAIR_STREAM = 2  # the extra rng key of two-person clips: their draws never repeat a one-person clip's
_TURN_GAP_S = (1.0, 1.5)  # silence between two turns: longer than the index's phrase pause (0.5 s)


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
class PairSpec:
    """Everything random about one two-person clip: each person as a one-person clip (their phrase,
    voice, style, look) and who speaks each turn."""

    name: str
    people: tuple[ClipSpec, ClipSpec]  # person 0 (left), person 1 (right)
    speakers: tuple[int, ...]  # the person speaking each turn, in order
    gap: float  # silence between turns, s


@dataclass(frozen=True)
class Turn:
    """``person`` speaks from ``start`` to ``end`` (s from the clip start: first word start, last word end)."""

    person: int
    start: float
    end: float


@dataclass(frozen=True)
class ClipRecord:
    """A written clip: its words (seconds from the clip start), rendered gestures and length in frames;
    ``turns`` says who speaks when in a two-person clip (empty for one person)."""

    name: str
    words: tuple[SpokenWord, ...]
    gestures: tuple[GestureEvent, ...]
    n_frames: int
    turns: tuple[Turn, ...] = ()

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


def clip_name(seed: int, index: int, people: int = 1) -> str:
    return f"synth{seed}_{index:05d}" if people == 1 else f"synth{seed}p{people}_{index:05d}"


def sample_clip(seed: int, index: int, attempt: int = 0) -> ClipSpec:
    """Draw clip ``index`` of corpus ``seed``: 2 lexicon words among 4-8 fillers, or 3 among 5-9.

    Two or three gestures per clip make almost every clip's set of gestures unique in a gallery
    of a few hundred (with one, a perfect model could not tell apart the ~14 clips gesturing only
    the same word). ``attempt`` > 0 draws a replacement for a phrase espeak-ng could not time
    word by word."""
    return _draw_clip(np.random.default_rng([seed, index, attempt]), clip_name(seed, index))


def _draw_clip(rng: np.random.Generator, name: str) -> ClipSpec:
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
        name=name,
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


def sample_pair(seed: int, index: int, attempt: int = 0) -> PairSpec:
    """Draw two-person clip ``index`` of corpus ``seed``: two people drawn as one-person clips are,
    one or two turns, the first speaker either of them."""
    key = [seed, index, attempt, _PAIR_STREAM]
    name = clip_name(seed, index, people=2)
    people = (_draw_clip(np.random.default_rng([*key, 0]), name), _draw_clip(np.random.default_rng([*key, 1]), name))
    rng = np.random.default_rng(key)
    first, n_turns = int(rng.integers(2)), int(rng.integers(1, 3))
    return PairSpec(name, people, tuple((first + k) % 2 for k in range(n_turns)), float(rng.uniform(*_TURN_GAP_S)))


def make_pair_clip(spec: PairSpec, out_dir: Path) -> ClipRecord:
    """Synthesise, animate, render and write ``NAME.mp4`` and ``NAME.txt`` for one two-person clip."""
    turns: list[tuple[int, tuple[SpokenWord, ...], np.ndarray, int]] = []  # person, words, audio, first sample
    start = 0.0
    for person in spec.speakers:
        speaker = spec.people[person]
        speech = synthesize(speaker.words, speaker.voice)
        if not turns:
            first_gestured = min(w.start for w in speech.words if w.word in LEXICON)
            start = max(speaker.lead_in, MAX_LEAD_S + PREPARATION_S / speaker.style.speed + 0.04 - first_gestured)
        first = round(start * SAMPLE_RATE)
        shift = first / SAMPLE_RATE
        words = tuple(SpokenWord(w.word, round(w.start + shift, 3), round(w.end + shift, 3)) for w in speech.words)
        audio = speech.audio * (speaker.loudness / max(float(np.abs(speech.audio).max()), 1e-6))
        turns.append((person, words, audio, first))
        start = words[-1].end + spec.gap

    spoken = {p: [w for person, words, _, _ in turns if person == p for w in words] for p in (0, 1)}
    quiet = {p: _quiet_spans([(w[0].start, w[-1].end) for person, w, _, _ in turns if person == p]) for p in (0, 1)}
    plans = []
    for p, look in enumerate(spec.people):
        rng = np.random.default_rng(look.motion_seed)
        events = plan_gestures(spoken[p], look.style, rng)
        beats = plan_beats(spoken[p], events, look.style, rng)
        plans.append((events, beats, rng))
    last_speaker = spec.people[turns[-1][0]]
    end = max(
        _MIN_SECONDS, turns[-1][1][-1].end + last_speaker.tail,
        *(e.busy_span(spec.people[p].style.speed)[1] + 0.04 for p, (events, _, _) in enumerate(plans) for e in events),
    )
    n_frames = math.ceil(end * FPS)
    tracks = []
    for p, (look, (events, beats, rng)) in enumerate(zip(spec.people, plans)):
        listening = listener_beats([(lo, min(hi, end)) for lo, hi in quiet[p]], rng)
        tracks.append((look.appearance, pose_track(n_frames, events, sorted(beats + listening), look.style, rng)))
    frames = render_side_by_side(tracks)

    audio = np.zeros(n_frames * SAMPLE_RATE // FPS, dtype=np.float32)
    for _, _, samples, first in turns:
        part = samples[: max(0, len(audio) - first)]
        audio[first : first + len(part)] = part
    write_mp4(out_dir / f"{spec.name}.mp4", frames, audio)
    words = tuple(w for _, turn_words, _, _ in turns for w in turn_words)
    gestures = tuple(sorted((e for events, _, _ in plans for e in events), key=lambda e: e.start))
    said = tuple(Turn(person, w[0].start, w[-1].end) for person, w, _, _ in turns)
    record = ClipRecord(spec.name, words, gestures, n_frames, said)
    _write_text(out_dir / f"{spec.name}.txt", transcript_text(record))
    return record


def _quiet_spans(own: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Where a person listens: the whole clip less their own turns (±1 s, so that their flicks do
    not run into their own gestures), as (start, end) s; the last span is open (inf)."""
    spans, t = [], 0.0
    for lo, hi in sorted(own):
        if lo - 1.0 > t:
            spans.append((t, lo - 1.0))
        t = hi + 1.0
    spans.append((t, math.inf))
    return spans


def transcript_text(record: ClipRecord) -> str:
    """The WhisperX-style text file of ``jegal_samples``: header, then ``WORD, START, END, SCORE`` rows (s)."""
    rows = "".join(f"{w.word}, {w.start:.3f}, {w.end:.3f}, 1.000\n" for w in record.words)
    return f"Text: {record.phrase}\nLang: en\n\nWORD, START, END, SCORE\n{rows}"


def manifest_row(record: ClipRecord) -> dict[str, object]:
    """One AVS-layout manifest row (frames at 25 fps from the clip start, boundaries inclusive), with
    the :data:`PEOPLE_COLUMNS` of a two-person clip."""
    boundaries = [[w.word, _frame(w.start), _frame(w.end)] for w in record.words]
    gestures = [[e.word, _frame(e.start), _frame(e.end)] for e in record.gestures]
    target = next(b for b in boundaries if b[0] in LEXICON)
    row: dict[str, object] = {
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
    if record.turns:
        row |= {"people": 2, "speakers": repr([[t.person, _frame(t.start), _frame(t.end)] for t in record.turns])}
    return row


def generate_corpus(
    out_dir: Path,
    n_clips: int,
    seed: int,
    progress: Progress | None = None,
    workers: int | None = None,
    people: int = 1,
) -> CorpusSummary:
    """Write ``n_clips`` clips and ``manifest.csv`` into ``out_dir`` (created if needed; same-named files
    are overwritten). ``progress`` sees a :data:`CLIPS_TASK` update after each clip; ``workers`` processes
    (default: one per CPU core) render in parallel without changing the output. ``people``: 1, or 2
    for two-person clips (see the module docstring)."""
    if n_clips < 1:
        raise GestsearchError(f"the number of clips must be at least 1 (got {n_clips})")
    if seed < 0:
        raise GestsearchError(f"the seed must be a non-negative integer (got {seed})")
    if people not in PEOPLE:
        raise GestsearchError(f"the number of people must be one of {', '.join(map(str, PEOPLE))} (got {people})")
    check_espeak()
    progress = progress or silent
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GestsearchError(f"cannot create the corpus directory {out_dir}: {e}") from e
    workers = min(workers or os.cpu_count() or 1, n_clips)
    jobs = [(seed, i, out_dir, people) for i in range(n_clips)]
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
    _write_manifest(manifest, records, MANIFEST_COLUMNS + (PEOPLE_COLUMNS if people > 1 else ()))
    return CorpusSummary(
        out_dir=out_dir,
        manifest=manifest,
        n_clips=n_clips,
        seconds=sum(r.n_frames for r in records) / FPS,
        gestures=dict(Counter(e.word for r in records for e in r.gestures)),
    )


def _make_indexed_clip(job: tuple[int, int, Path, int]) -> ClipRecord:
    seed, index, out_dir, people = job
    name = clip_name(seed, index, people)
    try:
        for attempt in range(_ATTEMPTS):
            try:
                if people == 1:
                    return make_clip(sample_clip(seed, index, attempt), out_dir)
                return make_pair_clip(sample_pair(seed, index, attempt), out_dir)
            except MergedWordsError:
                continue
    except GestsearchError as e:
        # as the base class: subclasses with other constructor arguments cannot be unpickled from a worker
        raise GestsearchError(f"clip {name}: {e}") from None
    raise GestsearchError(f"clip {name}: espeak-ng merged words in {_ATTEMPTS} phrases in a row")


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already


def _write_manifest(path: Path, records: list[ClipRecord], columns: tuple[str, ...]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
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
