"""Records returned by ``gestsearch search`` and their JSON schema.

``SearchResult.to_dict()`` (what ``--json`` prints and ``results.json`` holds) has the
schema ``gestsearch.search/1``; fields are only ever added under this name, a renamed
or removed field bumps the version.

Top level:

- ``schema`` (str): ``"gestsearch.search/1"``.
- ``query`` (str): the query text (for an audio query its transcript, for a gesture
  query the clip id or ``file@start-end``).
- ``mode`` (str): ``"text"``, ``"audio"`` or ``"gesture"``.
- ``model`` (str): which checkpoints made the embeddings (name or fingerprint).
- ``hits`` (list): best first, each:

  - ``rank`` (int): 1-based.
  - ``clip_id`` (str): the clip's id in the index.
  - ``video_path`` (str): the source video.
  - ``track`` (int): the speaker track inside that video.
  - ``clip_start_s``, ``clip_end_s`` (float): the indexed clip, seconds of the source video.
  - ``span_start_s``, ``span_end_s`` (float): the gesture span inside the clip (from the
    first to the last word peak, padded: every peak lies inside it), seconds of the source
    video, end exclusive.
  - ``score`` (float): the final score, ``(1 - w) * pooled_score + w * coupling_score``.
  - ``pooled_score`` (float): cosine of the mean-pooled query and clip vectors, in [-1, 1].
  - ``coupling_score`` (float or null): word coupling λ, mean over query words of the best
    word-frame cosine, in [-1, 1]; null for gesture → speech queries (no word-level stage).
  - ``peaks`` (list): one per query word, in query order:
    ``word`` (str), ``frame`` (int, 25 fps frame counted from the clip start),
    ``time_s`` (float, seconds of the source video), ``strength`` (float, the
    softmax-over-words spotting score at the peak, in [0, 1]) and ``cosine`` (float,
    the raw word-frame cosine there).
  - ``text`` (str): what is said in the clip (its transcript), empty when unknown.
  - ``merged_start_s``, ``merged_end_s`` (float or null): when lower-ranked clips of the same
    speaker track showed the same moment (overlapping windows), they are not listed as hits of
    their own; this is the span of the hit's clip together with them. Null otherwise.
  - ``merged_clip_ids`` (list of str): the clips merged into this hit.
  - ``speaking`` (float or null): how well the track's gestures match the clip's speech against
    the other people in view at the time, in [0, 1] (above 0.5 with two people: this track's
    person is the one speaking; see gestsearch/ingest/speaking.py). Null with nobody to compare
    with (one person in view, no speech) and for indexes made before the score; absent from
    documents written before it (read as null).

- ``notes`` (list of str): what the user should know about the query or the result, e.g. query
  words the text model cannot spell (left out of the score).

Times are rounded to the millisecond and scores to 6 decimals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gestsearch.types import QUERY_MODES, QueryMode, check_choice

SCHEMA = "gestsearch.search/1"


@dataclass(frozen=True)
class WordPeak:
    """Where one query word's gesture peaks in a clip."""

    word: str
    frame: int  # 25 fps frame from the clip start
    time_s: float  # seconds of the source video
    strength: float  # spotting score (softmax over the query words) at that frame, [0, 1]
    cosine: float  # word-frame cosine at that frame

    def to_dict(self) -> dict[str, object]:
        return {
            "word": self.word,
            "frame": self.frame,
            "time_s": _time(self.time_s),
            "strength": _score(self.strength),
            "cosine": _score(self.cosine),
        }

    @classmethod
    def from_dict(cls, d: dict) -> WordPeak:
        return cls(str(d["word"]), int(d["frame"]), float(d["time_s"]), float(d["strength"]), float(d["cosine"]))


@dataclass(frozen=True)
class Hit:
    """One ranked clip of a search."""

    rank: int
    clip_id: str
    video_path: str
    track: int
    clip_start_s: float
    clip_end_s: float
    span_start_s: float
    span_end_s: float
    score: float
    pooled_score: float
    coupling_score: float | None
    peaks: list[WordPeak] = field(default_factory=list)
    text: str = ""
    merged_start_s: float | None = None  # with clips of the same moment (see the module docstring)
    merged_end_s: float | None = None
    merged_clip_ids: list[str] = field(default_factory=list)
    speaking: float | None = None  # speaking score of the clip (see the module docstring)

    def to_dict(self) -> dict[str, object]:
        return {
            "rank": self.rank,
            "clip_id": self.clip_id,
            "video_path": str(self.video_path),
            "track": self.track,
            "clip_start_s": _time(self.clip_start_s),
            "clip_end_s": _time(self.clip_end_s),
            "span_start_s": _time(self.span_start_s),
            "span_end_s": _time(self.span_end_s),
            "score": _score(self.score),
            "pooled_score": _score(self.pooled_score),
            "coupling_score": None if self.coupling_score is None else _score(self.coupling_score),
            "peaks": [p.to_dict() for p in self.peaks],
            "text": self.text,
            "merged_start_s": None if self.merged_start_s is None else _time(self.merged_start_s),
            "merged_end_s": None if self.merged_end_s is None else _time(self.merged_end_s),
            "merged_clip_ids": list(self.merged_clip_ids),
            "speaking": None if self.speaking is None else _score(self.speaking),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Hit:
        def optional(key: str) -> float | None:
            return None if d.get(key) is None else float(d[key])

        return cls(
            rank=int(d["rank"]), clip_id=str(d["clip_id"]), video_path=str(d["video_path"]), track=int(d["track"]),
            clip_start_s=float(d["clip_start_s"]), clip_end_s=float(d["clip_end_s"]),
            span_start_s=float(d["span_start_s"]), span_end_s=float(d["span_end_s"]),
            score=float(d["score"]), pooled_score=float(d["pooled_score"]), coupling_score=optional("coupling_score"),
            peaks=[WordPeak.from_dict(p) for p in d.get("peaks", [])], text=str(d.get("text", "")),
            merged_start_s=optional("merged_start_s"), merged_end_s=optional("merged_end_s"),
            merged_clip_ids=[str(c) for c in d.get("merged_clip_ids", [])], speaking=optional("speaking"),
        )


@dataclass(frozen=True)
class SearchResult:
    """A query and its ranked hits."""

    query: str
    mode: QueryMode
    model: str
    hits: list[Hit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_choice(self.mode, QUERY_MODES, "mode", ValueError)

    def to_dict(self) -> dict[str, object]:
        """The ``gestsearch.search/1`` document described in the module docstring."""
        return {
            "schema": SCHEMA,
            "query": self.query,
            "mode": self.mode,
            "model": self.model,
            "hits": [h.to_dict() for h in self.hits],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: dict) -> SearchResult:
        """The result a ``gestsearch.search/1`` document describes (:meth:`to_dict` read back);
        ValueError when it is not one."""
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document")
        try:
            return cls(str(d["query"]), d["mode"], str(d["model"]), [Hit.from_dict(h) for h in d["hits"]],
                       [str(n) for n in d.get("notes", [])])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"not a valid {SCHEMA} document ({type(e).__name__}: {e})") from None


def _time(seconds: float) -> float:
    return round(float(seconds), 3)


def _score(value: float) -> float:
    return round(float(value), 6)
