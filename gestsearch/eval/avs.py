"""`gestsearch eval`: AVS-Ret retrieval, AVS-Spot word spotting and AVS-Asd active speaker detection.

Two media layouts under ROOT (:func:`gestsearch.media.manifest.locate_media`), per row:

- preprocessed, as the official dataset tooling writes it: ``ROOT/<filename>.avi`` (a
  speaker crop) + ``ROOT/<filename>.wav``. The video goes through the model-input path of
  ``gestsearch index`` and training (:func:`gestsearch.media.main_track` in "auto" mode, then
  :func:`gestsearch.media.iter_track_frames` with the face masked), so eval measures the vectors
  the index would store for the same file: a crop around one speaker is used whole (the JEGAL
  samples are unmasked crops, masked here as the official preprocessing masks them); a crop
  that is masked already gets no second mask where no face is found but the official
  no-face band over the top 111 rows, which lies on the masked face;
- raw downloads, as the official download script writes them: the segment
  ``ROOT/<video_id>_<start>-<end>.mp4`` (or a full-length ``ROOT/<video_id>.mp4``, cut to
  ``[start_time, end_time]`` here). Our speaker tracker finds the people in it, numbered as
  the official preprocessing does (:func:`segment_tracks`); the clip is the track whose number
  ends the ``filename``, face-masked, with the sound of the same frames.

Rows whose media is missing, or whose raw video has no track with that number, are listed
with the reason and left out; reports state the N evaluated. AVS-Asd needs more than the row's
own clip: at P people, a row counts only when its clip and its first P - 1 ``neg_files`` are
all in the gallery. Any other row is reported as not evaluated at that P, with the missing
file and why (the released script drops the missing negatives instead and so scores the row
among fewer people, which is easier); each P states its own N.

Caching: gesture embeddings go into a gesture index (``--db``; a temporary one otherwise),
one clip per manifest row, and content embeddings into ``DB/eval/*.npz`` keyed by the
manifest, the modalities and the model fingerprint, so re-running with other settings
(re-rank weight, candidates, thresholds) costs no model time. A raw clip is stored as the
video ``<raw file>#[<start>-<end>/]<track number>`` (:attr:`ClipMedia.key`), and a raw video
without the track as a failed one with the reason, so re-runs do not track again either.
"""

from __future__ import annotations

import csv
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from gestsearch.atomic import atomic_path
from gestsearch.constants import ASD_PEOPLE, FPS, SAMPLES_PER_FRAME, SPOT_FRAME_MARGIN, SPOT_THRESHOLD
from gestsearch.embedding import Embedder
from gestsearch.errors import EvalError, GestsearchError, TrackNotFound
from gestsearch.eval.metrics import (
    asd_correct,
    retrieval_metrics,
    retrieval_ranks,
    similarity_matrix,
    spotting_attention,
    spotting_correct,
)
from gestsearch.ingest import clip_record, video_record
from gestsearch.media import Track, iter_track_frames, load_audio, main_track, probe, speaker_tracks
from gestsearch.media.manifest import ClipMedia, ManifestRow, located_media, read_manifest
from gestsearch.progress import Progress, Update, silent
from gestsearch.scoring import DEFAULT_COUPLING_WEIGHT, coupling_scores, fuse
from gestsearch.search.engine import DEFAULT_CANDIDATES, Query, Searcher
from gestsearch.store import ClipRecord, GestureStore, content_hash, exact_search
from gestsearch.types import CONTENT_MODALITIES, ContentModalities, ManifestKind, check_choice
from gestsearch.vectors import l2_normalize

NO_MEDIA = "no media file"
MIN_RELIABLE_CLIPS = 30  # below this, reports carry a caveat
LENGTH_TOLERANCE_FRAMES = 3  # a clip's video may differ this much from the manifest's length before it is flagged
EMBED_TASK = "embedding"  # the progress task of the gallery, one unit per clip


@dataclass
class Gallery:
    rows: list[ManifestRow]
    missing: list[str]  # filenames without (usable) media, in manifest order
    missing_reasons: dict[str, str]  # filename → why it is left out
    clip_ids: list[int]
    gestures: list[np.ndarray]  # (T_i, 512) normalised frame vectors
    content: list[np.ndarray]  # (W_i, 512) normalised word vectors
    flagged: dict[str, str] = field(default_factory=dict)  # filename → what looks wrong (kept in the figures)

    def pooled_gestures(self) -> np.ndarray:
        """(N, 512) normalised time-means of the clips' frame vectors, as the official scripts pool."""
        return np.stack([l2_normalize(x.mean(0)) for x in self.gestures])

    def pooled_content(self) -> np.ndarray:
        """(N, 512) normalised means of the clips' word vectors."""
        return np.stack([l2_normalize(x.mean(0)) for x in self.content])

    def report_fields(self, csv_path: Path, modalities: ContentModalities, embedder: Embedder) -> dict:
        """The :class:`EvalReport` fields every benchmark's report shares."""
        return dict(manifest=str(csv_path), n_manifest=len(self.rows) + len(self.missing), n_evaluated=len(self.rows),
                    missing=self.missing, missing_reasons=self.missing_reasons, modalities=modalities,
                    model=embedder.info.name, flagged=self.flagged)


@dataclass
class EvalReport:
    manifest: str
    n_manifest: int  # rows in the manifest
    n_evaluated: int  # rows with media
    missing: list[str]  # filenames of the rows without (usable) media
    missing_reasons: dict[str, str]  # filename → why: no media file, no such speaker track...
    modalities: ContentModalities
    model: str
    flagged: dict[str, str]  # filename → what looks wrong with its media (the row is still evaluated)

    @property
    def caveat(self) -> str | None:
        """A warning when there are too few clips for the figures to mean much."""
        if self.n_evaluated >= MIN_RELIABLE_CLIPS:
            return None
        return (f"only {self.n_evaluated} clips were evaluated: figures over fewer than {MIN_RELIABLE_CLIPS} "
                "clips move by several points with each clip")

    def to_dict(self) -> dict:
        return {**asdict(self), "caveat": self.caveat}


@dataclass
class RetrievalReport(EvalReport):
    official: dict[str, dict[str, float]]  # direction → {"R@5":..., "MR":...}
    engine: dict[str, dict[str, float]]
    candidates: int
    coupling_weight: float
    ranks: list[dict] = field(default_factory=list)  # per query, for the CSV

    def write_ranks(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(self.ranks[0]))
            writer.writeheader()
            writer.writerows(self.ranks)


@dataclass
class SpottingReport(EvalReport):
    accuracy: float  # percent
    threshold: float
    frame_margin: int
    per_clip: list[dict] = field(default_factory=list)


@dataclass
class AsdResult:
    """AVS-Asd with P people: the rows whose clip and first P - 1 negatives all have usable media."""

    people: int  # P: the own track and P - 1 negatives
    n_evaluated: int
    official: float | None  # percent correct by pooled cosine (the released protocol); None without rows
    engine: float | None  # percent correct by the engine's score: pooled cosine fused with word coupling
    official_correct: int
    engine_correct: int
    official_ties: int  # rows whose own track ties the best negative exactly: counted wrong (asd_correct)
    engine_ties: int
    dropped: dict[str, str]  # filename → why the row is not evaluated with P people


@dataclass
class AsdReport(EvalReport):
    people: list[AsdResult]  # one per P of ASD_PEOPLE
    coupling_weight: float
    per_clip: list[dict] = field(default_factory=list)

    def overall(self, protocol: Literal["official", "engine"]) -> float | None:
        """Percent correct over every (row, P) evaluated: the mean of the per-P figures when they share one N."""
        n = sum(r.n_evaluated for r in self.people)
        return 100.0 * sum(getattr(r, f"{protocol}_correct") for r in self.people) / n if n else None

    @property
    def caveat(self) -> str | None:
        fewest = min(self.people, key=lambda r: r.n_evaluated)
        if fewest.n_evaluated >= MIN_RELIABLE_CLIPS:
            return None
        return (f"only {fewest.n_evaluated} clips were evaluated with {fewest.people} people: "
                f"figures over fewer than {MIN_RELIABLE_CLIPS} clips move by several points with each clip")

    def to_dict(self) -> dict:
        return {**super().to_dict(), "overall": {"official": self.overall("official"), "engine": self.overall("engine")}}


def evaluate_retrieval(
    csv_path: Path,
    media_root: Path,
    embedder: Embedder,
    modalities: ContentModalities = "ta",
    db: Path | None = None,
    candidates: int = DEFAULT_CANDIDATES,
    coupling_weight: float | None = None,
    progress: Progress | None = None,
) -> RetrievalReport:
    """Both protocols: (1) official pooled cosine, (2) the engine's ANN + word-coupling re-rank
    (``coupling_weight`` None: the engine's default)."""
    coupling_weight = DEFAULT_COUPLING_WEIGHT if coupling_weight is None else coupling_weight
    with _eval_store(db, embedder) as (store, db):
        g = build_gallery(csv_path, media_root, embedder, modalities, store, db, "ret", progress)
        n = len(g.rows)
        pooled_g, pooled_c = g.pooled_gestures(), g.pooled_content()
        official_s2g = retrieval_ranks(similarity_matrix(pooled_c, pooled_g))
        official_g2s = retrieval_ranks(similarity_matrix(pooled_g, pooled_c))

        searcher = Searcher(store, embedder, candidates, coupling_weight)
        position = {cid: i for i, cid in enumerate(g.clip_ids)}
        engine_s2g = np.empty(n, np.int64)
        for i, (row, words) in enumerate(zip(g.rows, g.content)):
            labels = [w for w, _, _ in row.word_boundaries]
            hits = searcher.search(Query(row.phrase, "text", labels, words), k=min(candidates, n)).result.hits
            found = [h.rank - 1 for h in hits if position.get(int(h.clip_id)) == i]
            engine_s2g[i] = found[0] if found else min(candidates, n)
        ids, _ = exact_search(np.array(g.clip_ids), pooled_c, pooled_g, min(candidates, n))
        engine_g2s = np.array([
            int(np.flatnonzero(ids[i] == g.clip_ids[i])[0]) if (ids[i] == g.clip_ids[i]).any() else min(candidates, n)
            for i in range(n)
        ])
    ranks = [
        {"filename": r.filename, "phrase": r.phrase, "official_s2g": int(a), "official_g2s": int(b),
         "engine_s2g": int(c), "engine_g2s": int(d)}
        for r, a, b, c, d in zip(g.rows, official_s2g, official_g2s, engine_s2g, engine_g2s)
    ]
    official_ks = (5, 10, 25, 50)
    return RetrievalReport(
        **g.report_fields(csv_path, modalities, embedder),
        official={"S→G": retrieval_metrics(official_s2g, official_ks), "G→S": retrieval_metrics(official_g2s, official_ks)},
        engine={"S→G": retrieval_metrics(engine_s2g), "G→S": retrieval_metrics(engine_g2s)},
        candidates=candidates, coupling_weight=coupling_weight, ranks=ranks,
    )


def evaluate_spotting(
    csv_path: Path,
    media_root: Path,
    embedder: Embedder,
    modalities: ContentModalities = "ta",
    db: Path | None = None,
    threshold: float = SPOT_THRESHOLD,
    frame_margin: int = SPOT_FRAME_MARGIN,
    progress: Progress | None = None,
) -> SpottingReport:
    """Per clip: the target word's spotting peak over frames (softmax over the clip's words at 0.07)."""
    with _eval_store(db, embedder) as (store, db):
        g = build_gallery(csv_path, media_root, embedder, modalities, store, db, "spot", progress)
    per_clip, correct = [], []
    for row, gesture, content in zip(g.rows, g.gestures, g.content):
        attention = spotting_attention(gesture, content)
        target = row.target_index
        boundary = (row.target_boundary[1], row.target_boundary[2])
        ok = spotting_correct(attention[target], boundary, frame_margin, threshold)
        frame = int(np.argmax(attention[target]))
        per_clip.append({"filename": row.filename, "target": row.target_word, "start": boundary[0], "end": boundary[1],
                         "peak_frame": frame, "score": round(float(attention[target, frame]), 6), "correct": ok})
        correct.append(ok)
    return SpottingReport(
        **g.report_fields(csv_path, modalities, embedder), accuracy=100.0 * float(np.mean(correct)),
        threshold=threshold, frame_margin=frame_margin, per_clip=per_clip,
    )


def evaluate_asd(
    csv_path: Path,
    media_root: Path,
    embedder: Embedder,
    modalities: ContentModalities = "ta",
    db: Path | None = None,
    coupling_weight: float | None = None,
    progress: Progress | None = None,
) -> AsdReport:
    """Active speaker detection (:func:`score_asd`) on the clips of an AVS-Asd manifest
    (``coupling_weight`` None: the engine's default)."""
    coupling_weight = DEFAULT_COUPLING_WEIGHT if coupling_weight is None else coupling_weight
    with _eval_store(db, embedder) as (store, db):
        g = build_gallery(csv_path, media_root, embedder, modalities, store, db, "asd", progress)
    people, per_clip = score_asd(g, coupling_weight)
    if not people[0].n_evaluated:
        first = "; ".join(f"{name}: {why}" for name, why in list(people[0].dropped.items())[:3])
        raise EvalError(f"{media_root}: no clip has usable media for itself and its first negative ({first})")
    return AsdReport(**g.report_fields(csv_path, modalities, embedder), people=people,
                     coupling_weight=coupling_weight, per_clip=per_clip)


def score_asd(g: Gallery, coupling_weight: float = DEFAULT_COUPLING_WEIGHT) -> tuple[list[AsdResult], list[dict]]:
    """AVS-Asd on a gallery: one :class:`AsdResult` per P of :data:`ASD_PEOPLE`, and per clip its candidates,
    their scores and whether it is correct with each P.

    The query is a clip's pooled content, the candidates its own pooled gesture then those of its
    ``neg_files``; correct with P people when the own track ranks first among the first P
    (:func:`asd_correct`). Two scores side by side: the released protocol's pooled cosine, and
    the engine's (``scoring.fuse`` of that cosine with the word coupling of the clip's word
    vectors against each candidate's frame vectors).
    """
    position = {row.filename: i for i, row in enumerate(g.rows)}
    pooled_g, pooled_c = g.pooled_gestures(), g.pooled_content()
    most = max(ASD_PEOPLE)
    dropped = {p: dict(g.missing_reasons) for p in ASD_PEOPLE}
    scored: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {p: [] for p in ASD_PEOPLE}
    per_clip = []
    for i, row in enumerate(g.rows):
        candidates, lost = [i], f"only {len(row.neg_files)} negative(s) listed"
        for name in row.neg_files[: most - 1]:
            if name not in position:
                lost = f"negative {name}: {g.missing_reasons.get(name, 'not a row of the manifest')}"
                break
            candidates.append(position[name])
        official = pooled_g[candidates] @ pooled_c[i]
        engine = fuse(official, coupling_scores(g.content[i], [g.gestures[j] for j in candidates]), coupling_weight)
        correct = {}
        for p in ASD_PEOPLE:
            if len(candidates) < p:
                dropped[p][row.filename] = lost
                continue
            scored[p].append((official[:p], engine[:p]))
            correct[p] = {"official": asd_correct(official[:p]), "engine": asd_correct(engine[:p])}
        per_clip.append({"filename": row.filename, "candidates": [g.rows[j].filename for j in candidates],
                         "official_scores": [round(float(x), 6) for x in official],
                         "engine_scores": [round(float(x), 6) for x in engine], "correct": correct})
    return [_asd_result(p, scored[p], dropped[p]) for p in ASD_PEOPLE], per_clip


def _asd_result(people: int, scored: list[tuple[np.ndarray, np.ndarray]], dropped: dict[str, str]) -> AsdResult:
    """Counts over the rows ``scored`` with ``people`` candidates: (official, engine) scores, own track first."""
    counts = {}
    for k, protocol in enumerate(("official", "engine")):
        scores = [pair[k] for pair in scored]
        counts[f"{protocol}_correct"] = sum(asd_correct(s) for s in scores)
        counts[f"{protocol}_ties"] = sum(bool(s[0] == s[1:].max()) for s in scores)
        counts[protocol] = 100.0 * counts[f"{protocol}_correct"] / len(scored) if scored else None
    return AsdResult(people=people, n_evaluated=len(scored), dropped=dropped, **counts)


@contextmanager
def _eval_store(db: Path | None, embedder: Embedder) -> Iterator[tuple[GestureStore, Path]]:
    """The index holding the gallery: ``db`` when given (kept as a cache), else a temporary one."""
    with ExitStack() as stack:
        db = db or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gestsearch-eval-")))
        yield stack.enter_context(GestureStore.open(db, fingerprint=embedder.info.fingerprint, create=True)), db


def build_gallery(
    csv_path: Path,
    media_root: Path,
    embedder: Embedder,
    modalities: ContentModalities,
    store: GestureStore,
    db: Path,
    kind: ManifestKind,
    progress: Progress | None = None,
) -> Gallery:
    """Embed (or read back from the caches) every clip of the manifest that has media."""
    progress = progress or silent
    check_choice(modalities, CONTENT_MODALITIES, "--modalities", EvalError)
    rows = read_manifest(csv_path, kind)
    found, missing = located_media(media_root, rows)
    left_out = {id(row): NO_MEDIA for row in missing}
    cache = _content_cache_path(db, csv_path, modalities, embedder.info.fingerprint)
    cached = dict(np.load(cache, allow_pickle=False)) if cache.is_file() else {}
    kept, clip_ids, gestures, content, flagged = [], [], [], [], {}
    for i, (row, media) in enumerate(found):
        progress(Update(EMBED_TASK, i, len(found)))
        try:
            clip = _gallery_clip(store, row, media, embedder)
        except TrackNotFound as e:
            left_out[id(row)] = str(e)
            continue
        key = f"{clip.clip_id}"
        if key not in cached:
            try:
                cached[key] = _content(row, media, clip, embedder, modalities)
            except GestsearchError as e:  # e.g. audio shorter than the row's words: this row only
                left_out[id(row)] = f"{media.audio or media.video}: {e}"
                store.remove_videos([media.key])  # the engine protocol searches the store: gallery clips only
                continue
        kept.append(row)
        clip_ids.append(clip.clip_id)
        gestures.append(clip.frames.astype(np.float32))
        content.append(cached[key])
        mismatch = None if media.raw else _length_mismatch(row, clip)  # a raw track may cover part of its segment
        if mismatch:
            flagged[row.filename] = mismatch
    progress(Update(EMBED_TASK, len(found), len(found)))
    missing_rows = [row for row in rows if id(row) in left_out]
    reasons = {row.filename: left_out[id(row)] for row in missing_rows}
    if not kept:
        first = "; ".join(f"{name}: {why}" for name, why in list(reasons.items())[:3])
        raise EvalError(f"{media_root}: none of the {len(rows)} clips has usable media ({first})")
    with atomic_path(cache) as tmp:
        np.savez(tmp, **cached)
    store.refresh_ann()
    return Gallery(kept, [row.filename for row in missing_rows], reasons, clip_ids, gestures, content, flagged)


def _length_mismatch(row: ManifestRow, clip: ClipRecord) -> str | None:
    """Why the clip's video does not look like the manifest's segment, or None."""
    expected = row.num_frames if row.num_frames is not None else round((row.end_time - row.start_time) * FPS)
    frames = clip.end_frame - clip.start_frame + 1
    if abs(frames - expected) <= LENGTH_TOLERANCE_FRAMES:
        return None
    return f"the video has {frames} frames, the manifest says {expected}"


def segment_tracks(media: ClipMedia) -> list[Track]:
    """The speaker tracks of a raw video's segment, numbered as the official preprocessing numbers them.

    The official ``dataset/preprocess_videos.py`` (YOLO person boxes at 25 fps) builds tracks
    greedily: each new track starts from the earliest detection not yet in a track (frames
    in order, the detections of one frame in detector order, i.e. most confident first) and
    the surviving tracks become ``00000``, ``00001``, ... in that order. Rule here, on the
    tracks of :func:`gestsearch.media.speaker_tracks` in raw mode: ordered by first frame, ties
    (people appearing together) broken by box area, larger first (the more prominent person,
    our stand-in for the more confident detection); ``Track.index`` is the track number.

    The segment is the whole file, or frames ``[round(25 start), round(25 end))`` of a
    full-length download (``media.cut_s``); track frames count from the start of the file.
    Raises :class:`TrackNotFound` when the segment lies past the end of the video.
    """
    start, end = (round(media.cut_s[0] * FPS), round(media.cut_s[1] * FPS)) if media.cut_s else (0, None)
    info = probe(media.video)
    if start >= info.n_frames:
        raise TrackNotFound(f"{media.video.name} ends at {info.duration_s:.2f} s, before the segment starts")
    tracks = speaker_tracks(media.video, "raw", start, end)
    ordered = sorted(tracks, key=lambda t: (t.start_frame, -(t.box[2] - t.box[0]) * (t.box[3] - t.box[1])))
    return [replace(track, index=i) for i, track in enumerate(ordered)]


def _raw_track(media: ClipMedia) -> Track:
    """Track number ``media.track`` of :func:`segment_tracks`; :class:`TrackNotFound` says why not."""
    tracks = segment_tracks(media)
    if media.track < len(tracks):
        return tracks[media.track]
    found = f"{len(tracks)} speaker track(s) found" if tracks else "no speaker found"
    raise TrackNotFound(f"{media.video.name}: {found}, no track {media.track:05d}")


def _gallery_clip(store: GestureStore, row: ManifestRow, media: ClipMedia, embedder: Embedder) -> ClipRecord:
    """The row's clip from the index, embedding and adding it first when absent or changed.

    Raw media: a video without the row's track is recorded as failed, and
    :class:`TrackNotFound` raised, now and on re-runs.
    """
    digest = content_hash(media.video)
    known = store.video_by_path(media.key)
    if known is not None and known.content_hash == digest:
        if media.raw and known.status == "failed":
            raise TrackNotFound(known.reason)
        clips = store.clips_of_video(media.key) if known.status == "indexed" else []
        if clips:
            return clips[0]
    record = replace(video_record(media.video, digest, embedder.info.fingerprint, key=media.key), n_tracks=1)
    if media.raw:
        try:
            track = _raw_track(media)
        except TrackNotFound as e:
            store.record_failure(replace(record, n_tracks=0, status="failed", reason=str(e)))
            raise
    else:
        track = main_track(media.video)
    frames = embedder.gestures(iter_track_frames(media.video, track))
    if len(frames) == 0:
        raise EvalError(f"{media.video}: no video frames")
    first, last = track.start_frame, track.start_frame + len(frames) - 1
    clip = clip_record(record, track.index, first, last, frames, words=row.word_boundaries, text=row.phrase,
                       path=str(media.video))
    store.add_video(record, [clip])
    return clip


def _content(row: ManifestRow, media: ClipMedia, clip: ClipRecord, embedder: Embedder, modalities: ContentModalities) -> np.ndarray:
    """Content vectors of the row's words; speech from the clip's frames (the boundaries count from its start)."""
    words = [w for w, _, _ in row.word_boundaries]
    samples = None
    if "a" in modalities:
        samples = load_audio(media.audio or media.video)
        if samples is None:
            raise EvalError(f"{media.video}: no audio for modality 'a'")
        if media.raw:
            samples = samples[clip.start_frame * SAMPLES_PER_FRAME : (clip.end_frame + 1) * SAMPLES_PER_FRAME]
    return embedder.content(words, samples, row.word_boundaries, modalities)


def _content_cache_path(db: Path, csv_path: Path, modalities: ContentModalities, fingerprint: str) -> Path:
    digest = hashlib.sha256(Path(csv_path).read_bytes()).hexdigest()[:16]
    return db / "eval" / f"content-{digest}-{modalities}-{fingerprint}.npz"
