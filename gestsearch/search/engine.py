"""Two-stage search over a gesture index.

Stage 1: the query's word vectors are mean-pooled and normalised; FAISS returns the
``candidates`` clips with the highest pooled cosine (the official retrieval protocol).
Stage 2: for each candidate, its stored frame vectors give the exact word-coupling score
λ = mean over query words of the best word-frame cosine; the final score fuses both
(``scoring.fuse``). Per query word, the frame where its gesture peaks gives the timestamps.

Gesture → speech queries (``like``) rank clips by the pooled cosine between the query
gesture and each clip's pooled speech content: the index keeps content pooled per clip,
so there is no word-level stage 2 in that direction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from gestsearch.constants import DEFAULT_CANDIDATES, DEFAULT_K, FPS, SAMPLE_RATE
from gestsearch.errors import QueryError
from gestsearch.filters import ClipFilter
from gestsearch.media import normalise_word
from gestsearch.results import Hit, SearchResult
from gestsearch.scoring import (
    DEFAULT_COUPLING_WEIGHT,
    coupling_scores,
    fuse,
    gesture_span,
    score_map,
    span_seconds,
    word_peaks,
)
from gestsearch.store import ClipSpans, ClipSummary, GestureStore
from gestsearch.types import ContentModalities, QueryMode
from gestsearch.vectors import l2_normalize

if TYPE_CHECKING:
    from gestsearch.models.identity import ModelInfo
    from gestsearch.models.subwords import SubwordTokenizer

MAX_QUERY_WORDS = 64
MERGE_OVERLAP = 0.5  # share of the shorter clip two clips of a track must share to be one moment
MIN_AUDIO_S = 0.3
MAX_AUDIO_S = 30.0
SILENCE_RMS = 1e-3  # full scale = 1.0


class QueryEncoder(Protocol):
    """What search asks of the models: ``gestsearch.embedding.Embedder``, or for text queries the
    torch-free ``gestsearch.models.numpy_text.NumpyTextEncoder``."""

    info: ModelInfo

    @property
    def device(self) -> str: ...

    @property
    def tokenizer(self) -> SubwordTokenizer: ...

    def content(
        self, words: Sequence[str] | None = None, audio: np.ndarray | None = None,
        boundaries: Sequence[Sequence] | None = None, modalities: ContentModalities = "ta",
    ) -> np.ndarray: ...

    def gestures(self, frame_chunks: Iterable[np.ndarray]) -> np.ndarray: ...


@dataclass
class Query:
    text: str  # what the user asked, for display
    mode: QueryMode
    words: list[str]  # one label per vector
    vectors: np.ndarray  # (W, 512) L2-normalised
    exclude: int | None = None  # a clip id not to return (the query clip of a gesture query)
    notes: list[str] = field(default_factory=list)  # what the user should know about the query


@dataclass
class Ranked:
    """A search result plus the per-hit word × frame spotting scores (for heatmaps)."""

    result: SearchResult
    score_maps: dict[str, np.ndarray]


class Searcher:
    def __init__(
        self,
        store: GestureStore,
        embedder: QueryEncoder,
        candidates: int = DEFAULT_CANDIDATES,
        coupling_weight: float | None = None,
    ):
        self.store = store
        self.embedder = embedder
        self.candidates = candidates
        self.coupling_weight = DEFAULT_COUPLING_WEIGHT if coupling_weight is None else coupling_weight

    # -- queries ---------------------------------------------------------------------------
    def text_query(self, text: str) -> Query:
        words = [normalise_word(w) for w in text.split()]
        words = [w for w in words if w]
        if not words:
            raise QueryError("the query is empty: type a word or phrase")
        if len(words) > MAX_QUERY_WORDS:
            raise QueryError(f"the query has {len(words)} words; the limit is {MAX_QUERY_WORDS} (a phrase, not a text)")
        unknown = self._unknown(words)
        if len(unknown) == len(words):
            raise QueryError("no word of the query is known to the text model (its vocabulary may not cover this script)")
        notes = [f"'{w}' is not in the text model's vocabulary: left out of the score" for w in dict.fromkeys(words) if w in unknown]
        words = [w for w in words if w not in unknown]
        return Query(text.strip(), "text", words, self.embedder.content(words, modalities="t"), notes=notes)

    def audio_query(self, path: Path, transcript: str | None = None, asr_model: str | None = None) -> Query:
        from gestsearch.media import force_align, load_audio
        from gestsearch.media.asr import transcribe

        audio = load_audio(path, sidecar=False)
        if audio is None:
            raise QueryError(f"{path}: has no audio stream")
        seconds = len(audio) / SAMPLE_RATE
        if seconds < MIN_AUDIO_S:
            raise QueryError(f"{path}: audio is too short ({seconds:.2f} s; at least {MIN_AUDIO_S} s)")
        if seconds > MAX_AUDIO_S:
            raise QueryError(f"{path}: audio is too long ({seconds:.1f} s; at most {MAX_AUDIO_S:.0f} s: cut the phrase out)")
        if float(np.sqrt(np.mean(np.square(audio)))) < SILENCE_RMS:
            raise QueryError(f"{path}: audio is silent")
        if transcript is not None:
            if not transcript.split():
                raise QueryError("--transcript is empty")
            timed = force_align(audio, transcript)
        elif asr_model is not None:
            timed = transcribe(audio, asr_model)
        else:
            raise QueryError(
                "audio queries need the words spoken: pass --transcript \"...\" (aligned offline), "
                "or configure an ASR model (GESTSEARCH_ASR_MODEL=local Whisper directory)"
            )
        boundaries = timed.boundaries()
        if not boundaries:
            raise QueryError(f"{path}: no words found in the audio")
        if len(boundaries) > MAX_QUERY_WORDS:
            raise QueryError(f"the audio query has {len(boundaries)} words; the limit is {MAX_QUERY_WORDS}")
        words = [w for w, _, _ in boundaries]
        vectors = self.embedder.content(words, audio, boundaries, modalities="ta")
        return Query(timed.text or " ".join(words), "audio", words, vectors)

    def gesture_query(self, clip_id: int) -> Query:
        clips = self.store.clips_by_ids([clip_id])
        if not clips:
            raise QueryError(f"no clip with id {clip_id} in the index")
        clip = clips[0]
        label = f"gestures of clip {clip_id} ({Path(clip.path).name} {clip.start_s:.2f}-{clip.end_s:.2f} s)"
        return Query(label, "gesture", [], l2_normalize(clip.frames.astype(np.float32)), exclude=clip.clip_id)

    def gesture_query_from_video(self, path: Path, start_s: float, end_s: float, track: int = 0) -> Query:
        """The gestures of speaker ``track`` of a video between ``start_s`` and ``end_s`` (seconds)."""
        from gestsearch.media import iter_track_frames, speaker_tracks

        if not 0 <= start_s < end_s:
            raise QueryError(f"--start {start_s} and --end {end_s} do not make a time range")
        tracks = speaker_tracks(path)
        if not 0 <= track < len(tracks):
            raise QueryError(f"{path}: no speaker track {track} (found {len(tracks)})")
        chosen = tracks[track]
        first, last = max(chosen.start_frame, round(start_s * FPS)), min(chosen.end_frame, round(end_s * FPS))
        if last <= first:
            raise QueryError(
                f"{path}: track {track} spans {chosen.start_s:.2f}-{chosen.end_s:.2f} s, outside {start_s:.2f}-{end_s:.2f} s"
            )
        frames = self.embedder.gestures(iter_track_frames(path, replace(chosen, start_frame=first, end_frame=last)))
        label = f"gestures of {Path(path).name} {first / FPS:.2f}-{last / FPS:.2f} s"
        return Query(label, "gesture", [], frames)

    def _unknown(self, words: list[str]) -> set[str]:
        """The words the text model cannot spell without its unknown token: every such word would
        get one vector shared with all the others, so they are left out rather than matched."""
        return self.embedder.tokenizer.unknown(words)

    # -- ranking ---------------------------------------------------------------------------
    def search(self, query: Query, k: int = DEFAULT_K, where: ClipFilter | None = None) -> Ranked:
        """The ``k`` best clips for ``query``; with ``where``, among the clips that pass it only
        (filtered before ranking, so k hits come back whenever k clips pass)."""
        if k < 1:
            raise QueryError("-k must be at least 1")
        with self.store.reading():  # one version of the index for every stage
            return self._search(query, k, where)

    def _search(self, query: Query, k: int, where: ClipFilter | None) -> Ranked:
        among = self.store.matching_clip_ids(where) if where is not None and where.active else None
        pooled = l2_normalize(query.vectors.mean(0))
        if query.mode == "gesture":
            return self._gesture_to_speech(query, pooled, k, among)
        n = min(max(self.candidates, k), self.store.clip_count() if among is None else len(among))
        if n == 0:
            notes = [*query.notes, *(["no indexed clip passes the filter"] if among is not None else [])]
            return Ranked(SearchResult(query.text, query.mode, self.embedder.info.name, [], notes), {})
        ids, scores = self.store.search_pooled(pooled, n, column="gesture", among=among)
        pooled_by_id = dict(zip(ids[0].tolist(), scores[0].tolist()))
        found = self.store.candidates(ids[0][ids[0] >= 0])
        pooled_scores = np.array([pooled_by_id[i] for i in found.ids.tolist()], dtype=np.float32)
        coupling = coupling_scores(query.vectors, found.frames)
        final = fuse(pooled_scores, coupling, self.coupling_weight)
        order = np.lexsort((-pooled_scores, -final))  # ties (clips with the same frames) in stage-1 order
        moments = distinct_moments(order, found.spans, k)
        summaries = self.store.summaries(found, [i for i, _ in moments])
        hits, maps = [], {}
        for rank, ((i, absorbed), clip) in enumerate(zip(moments, summaries), 1):
            hit, scores_map = self._hit(rank, clip, found.frames.clip(i), query, float(final[i]), float(pooled_scores[i]),
                                        float(coupling[i]))
            if absorbed:
                merged = [i, *absorbed]
                hit = replace(hit, merged_start_s=float(found.spans.start_s[merged].min()),
                              merged_end_s=float(found.spans.end_s[merged].max()),
                              merged_clip_ids=[str(found.ids[j]) for j in absorbed])
            hits.append(hit)
            maps[hit.clip_id] = scores_map
        return Ranked(SearchResult(query.text, query.mode, self.embedder.info.name, hits, query.notes), maps)

    def score_clip(self, query: Query, clip_id: int) -> tuple[Hit, np.ndarray]:
        """One clip scored against a text or speech query as :meth:`search` scores it: its hit
        (rank 1) with the word peaks, and the (W, T) word × frame spotting scores."""
        if query.mode == "gesture":
            raise QueryError("a clip is scored against words: give a text or speech query")
        clips = self.store.clips_by_ids([clip_id])
        if not clips:
            raise QueryError(f"no clip with id {clip_id} in the index")
        pooled = float(l2_normalize(query.vectors.mean(0)) @ clips[0].gesture)
        frames = clips[0].frames.astype(np.float32)
        coupling = coupling_scores(query.vectors, [frames])
        final = float(fuse(np.array([pooled], np.float32), coupling, self.coupling_weight)[0])
        return self._hit(1, clips[0], frames, query, final, pooled, float(coupling[0]))

    def _hit(self, rank: int, clip: ClipSummary, frames: np.ndarray, query: Query, score: float, pooled: float,
             coupling: float) -> tuple[Hit, np.ndarray]:
        """``clip`` as a hit, with its word × frame scores; ``frames``: its frame vectors, float32."""
        peaks = word_peaks(query.words, query.vectors, frames, clip_start_s=clip.start_s, fps=FPS)
        start, end = span_seconds(gesture_span(peaks, len(frames)), clip.start_s, FPS)
        hit = Hit(
            rank=rank, clip_id=str(clip.clip_id), video_path=clip.path, track=clip.track,
            clip_start_s=clip.start_s, clip_end_s=clip.end_s, span_start_s=start, span_end_s=end,
            score=score, pooled_score=pooled, coupling_score=coupling, peaks=peaks, text=clip.text,
            speaking=clip.speaking,
        )
        return hit, score_map(query.vectors, frames)

    def _gesture_to_speech(self, query: Query, pooled: np.ndarray, k: int, among: np.ndarray | None) -> Ranked:
        available = self.store.clip_count() if among is None else len(among)
        ids, scores = self.store.search_pooled(pooled, min(k + 1, max(1, available)), column="content", among=among)
        notes = list(query.notes)
        speaking = [i for i in ids[0] if i >= 0 and i != query.exclude]
        if len(speaking) < k:
            among_what = "" if among is None else " among the clips that pass the filter"
            notes.append(
                f"only {len(speaking)} clips{among_what} have speech content (clips indexed with a transcript or word timings); "
                "gesture → speech ranks clips by what is said in them"
            )
        hits = []
        clip_ids = [int(i) for i in ids[0] if i >= 0]
        clips = {c.clip_id: c for c in self.store.clips_by_ids(clip_ids)}
        for i, s in zip(ids[0], scores[0]):
            clip = clips.get(int(i))
            if clip is None or clip.clip_id == query.exclude:
                continue
            hits.append(Hit(
                rank=len(hits) + 1, clip_id=str(clip.clip_id), video_path=clip.path, track=clip.track,
                clip_start_s=clip.start_s, clip_end_s=clip.end_s, span_start_s=clip.start_s, span_end_s=clip.end_s,
                score=float(s), pooled_score=float(s), coupling_score=None, peaks=[], text=clip.text,
                speaking=clip.speaking,
            ))
        return Ranked(SearchResult(query.text, query.mode, self.embedder.info.name, hits[:k], notes), {})


def distinct_moments(order: np.ndarray, spans: ClipSpans, k: int) -> list[tuple[int, list[int]]]:
    """The best ``k`` candidates (``order``: indices into ``spans``, best first) that show distinct
    moments, each with the lower-ranked candidates it absorbed: clips of the same speaker track
    that share at least :data:`MERGE_OVERLAP` of the shorter one (the overlapping 4 s windows of
    a track without transcript would otherwise fill several ranks with one moment)."""
    videos, tracks = spans.videos.tolist(), spans.tracks.tolist()
    starts, ends = spans.start_s.tolist(), spans.end_s.tolist()

    def same_moment(a: int, b: int) -> bool:
        if videos[a] != videos[b] or tracks[a] != tracks[b]:
            return False
        shared = min(ends[a], ends[b]) - max(starts[a], starts[b])
        return shared >= MERGE_OVERLAP * min(ends[a] - starts[a], ends[b] - starts[b])

    kept: list[tuple[int, list[int]]] = []
    for i in order.tolist():
        home = next((absorbed for best, absorbed in kept if same_moment(best, i)), None)
        if home is not None:
            home.append(i)
        elif len(kept) < k:
            kept.append((i, []))
        else:
            break
    return kept
