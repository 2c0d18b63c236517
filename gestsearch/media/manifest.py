"""AVS benchmark manifests (the official AVS-Ret / AVS-Spot / AVS-Asd CSVs) and their media.

Columns shared by all three: ``video_id, start_time, end_time, filename, phrase,
word_boundaries``; AVS-Spot adds ``num_frames, target_word, target_word_boundary`` (and
``stress_label, lighting, speaker_pose``), AVS-Asd ``neg_files, num_frames, score,
correct_*``. ``word_boundaries`` is a Python literal ``[['word', start, end], ...]`` of
inclusive 25 fps frames from the clip start; ``neg_files`` a Python literal list of the
``filename`` of other speakers' clips (in the official manifest, rows of the same manifest). Columns this module does not interpret
are kept as strings in ``ManifestRow.extra``.

Media of a row ``filename = "<video_id>_<start>-<end>/<NNNNN>"`` (:func:`locate_media`): the
speaker crop ``ROOT/<filename>.avi`` (+ ``.wav``) that the official preprocessing writes, or
the raw download it starts from, ``ROOT/<video_id>_<start>-<end>.mp4`` (the official
download script fetches only that segment), or a full-length ``ROOT/<video_id>.mp4`` to cut.
In a raw video the clip is speaker track number ``NNNNN`` (``gestsearch.eval.avs.segment_tracks``).
"""

from __future__ import annotations

import ast
import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from gestsearch.constants import VIDEO_EXTENSIONS
from gestsearch.errors import EvalError
from gestsearch.types import MANIFEST_KINDS, Boundary, ManifestKind, check_choice

T = TypeVar("T")

RET_COLUMNS = ("video_id", "start_time", "end_time", "filename", "phrase", "word_boundaries")
SPOT_COLUMNS = (*RET_COLUMNS, "num_frames", "target_word", "target_word_boundary")
ASD_COLUMNS = (*RET_COLUMNS, "neg_files")
RAW_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov", ".avi")  # what yt-dlp downloads, most common first


@dataclass(frozen=True)
class ManifestRow:
    """One benchmark clip: a segment ``[start_time, end_time]`` s of a YouTube video."""

    video_id: str
    start_time: float
    end_time: float
    filename: str  # "ID_START-END/00000": media path under the root, without extension
    phrase: str
    word_boundaries: list[Boundary]
    target_word: str | None = None  # AVS-Spot only
    target_boundary: Boundary | None = None  # AVS-Spot only
    num_frames: int | None = None  # AVS-Spot / AVS-Asd
    neg_files: tuple[str, ...] = ()  # AVS-Asd only: other speakers' clips, in candidate order
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def target_index(self) -> int | None:
        """Row of the target word in ``word_boundaries`` (the full triple identifies repeated words)."""
        if self.target_boundary is None:
            return None
        return self.word_boundaries.index(self.target_boundary)


def read_manifest(csv_path: Path | str, kind: ManifestKind = "auto") -> list[ManifestRow]:
    """All rows of an AVS manifest; ``kind="auto"`` reads it as AVS-Spot when it has a target word
    column, as AVS-Asd when it has a ``neg_files`` column, else as AVS-Ret.

    Anything that is not an AVS manifest (unreadable, missing columns, a malformed
    value, no rows) raises :class:`EvalError` naming the file, the row and the problem.
    """
    check_choice(kind, MANIFEST_KINDS, "the manifest kind", EvalError)
    path = Path(csv_path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            records = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise EvalError(f"{path}: cannot read the manifest ({e})") from e
    if kind == "auto":
        kind = "spot" if "target_word" in columns else "asd" if "neg_files" in columns else "ret"
    required = _COLUMNS[kind]
    missing = [c for c in required if c not in columns]
    if missing:
        raise EvalError(f"{path}: not an AVS-{kind} manifest, missing column(s) {', '.join(missing)}")
    if not records:
        raise EvalError(f"{path}: the manifest has no rows")
    rows = []
    for line, record in enumerate(records, start=2):  # line 1 is the header
        try:
            rows.append(_parse_row(record, kind))
        except ValueError as e:
            raise EvalError(f"{path}: line {line}: {e}") from e
    return rows


def resolve_media(root: Path | str, row: ManifestRow) -> tuple[Path, Path | None] | None:
    """``(video, audio)`` of a row under ``root`` laid out like the official tooling, or None when missing.

    The video is ``ROOT/<filename>`` with one of :data:`VIDEO_EXTENSIONS`; the audio is
    the sidecar ``ROOT/<filename>.wav`` when it exists (None: use the video's own sound).
    """
    base = Path(root) / row.filename
    video = next((p for p in (base.with_name(base.name + ext) for ext in VIDEO_EXTENSIONS) if p.is_file()), None)
    if video is None:
        return None
    audio = base.with_name(base.name + ".wav")
    return video, audio if audio.is_file() else None


def available_media(
    root: Path | str, rows: list[ManifestRow]
) -> tuple[list[tuple[ManifestRow, Path, Path | None]], list[ManifestRow]]:
    """Split rows into ``(row, video, audio)`` found under ``root`` (:func:`resolve_media`) and rows without media.

    Pre-cropped clips only (training corpora); :func:`located_media` also finds raw downloads.
    Raises :class:`EvalError` when ``root`` is not a folder or holds the media of none of the rows.
    """
    found, missing = _split(root, rows, resolve_media, "ROOT/<filename> + " + "|".join(VIDEO_EXTENSIONS))
    return [(row, *media) for row, media in found], missing


@dataclass(frozen=True)
class ClipMedia:
    """The file a row's clip is read from.

    ``track`` None: a pre-cropped speaker clip, the whole ``video`` (sound: the ``audio``
    sidecar, else the video's own). Otherwise a raw video in which the clip is speaker track
    number ``track``, within ``cut_s`` = ``(start_time, end_time)`` s of a full-length
    download, or within the whole file (``cut_s`` None) for a downloaded segment.
    """

    video: Path
    audio: Path | None = None
    track: int | None = None
    cut_s: tuple[float, float] | None = None

    @property
    def raw(self) -> bool:
        return self.track is not None

    @property
    def key(self) -> str:
        """Names the clip in a gesture index: the video path, plus ``#[START-END/]NNNNN`` for raw media."""
        if self.track is None:
            return str(self.video)
        cut = f"{self.cut_s[0]:.6f}-{self.cut_s[1]:.6f}/" if self.cut_s else ""
        return f"{self.video}#{cut}{self.track:05d}"


def locate_media(root: Path | str, row: ManifestRow) -> ClipMedia | None:
    """The media of ``row`` under ``root``, or None; the first of these that exists:

    1. the pre-cropped speaker clip of the official preprocessing (:func:`resolve_media`);
    2. the downloaded segment ``ROOT/<video_id>_<start>-<end>.<ext>`` (the ``filename`` before
       its slash; the official download script cuts ``[start_time, end_time]`` already), one of
       :data:`RAW_EXTENSIONS`: the clip is the speaker track numbered by the part after the slash;
    3. a full-length download ``ROOT/<video_id>.<ext>``: the same, within ``[start_time, end_time]``.

    Raw media (2, 3) need a ``filename`` ending in ``/<track number>``.
    """
    media = resolve_media(root, row)
    if media is not None:
        return ClipMedia(*media)
    segment, _, number = row.filename.rpartition("/")
    if not (segment and number.isdigit()):
        return None
    for stem, cut in ((segment, None), (row.video_id, (row.start_time, row.end_time))):
        video = next((p for p in (Path(root) / f"{stem}{ext}" for ext in RAW_EXTENSIONS) if p.is_file()), None)
        if video is not None:
            return ClipMedia(video, track=int(number), cut_s=cut)
    return None


def located_media(
    root: Path | str, rows: list[ManifestRow]
) -> tuple[list[tuple[ManifestRow, ClipMedia]], list[ManifestRow]]:
    """Split rows into ``(row, media)`` found under ``root`` (:func:`locate_media`) and rows without media.

    Raises :class:`EvalError` when ``root`` is not a folder or holds the media of none of the rows.
    """
    expected = (
        f"ROOT/<filename> + {'|'.join(VIDEO_EXTENSIONS)}, or raw videos ROOT/<video_id>_<start>-<end> "
        f"or ROOT/<video_id> + {'|'.join(RAW_EXTENSIONS)}"
    )
    return _split(root, rows, locate_media, expected)


def _split(
    root: Path | str, rows: list[ManifestRow], locate: Callable[[Path, ManifestRow], T | None], expected: str
) -> tuple[list[tuple[ManifestRow, T]], list[ManifestRow]]:
    root = Path(root)
    if not root.is_dir():
        raise EvalError(f"{root}: the media root is not a folder")
    found, missing = [], []
    for row in rows:
        media = locate(root, row)
        if media is None:
            missing.append(row)
        else:
            found.append((row, media))
    if not found:
        raise EvalError(f"{root}: none of the {len(rows)} clips has its media here (expected {expected})")
    return found, missing


_COLUMNS = {"ret": RET_COLUMNS, "spot": SPOT_COLUMNS, "asd": ASD_COLUMNS}


def _parse_row(record: dict[str, str | None], kind: ManifestKind) -> ManifestRow:
    required = _COLUMNS[kind]
    values = {c: (record.get(c) or "").strip() for c in required}
    empty = [c for c in ("video_id", "filename", "phrase") if not values[c]]
    if empty:
        raise ValueError(f"empty {', '.join(empty)}")
    start, end = _number(values, "start_time", float), _number(values, "end_time", float)
    if not 0 <= start < end:
        raise ValueError(f"start_time {start} and end_time {end} do not make a segment")
    words = _literal(values, "word_boundaries")
    if not isinstance(words, list) or not words:
        raise ValueError("word_boundaries is not a non-empty list of [word, start, end]")
    boundaries = [_boundary(w, "word_boundaries") for w in words]
    target_word = target_boundary = num_frames = None
    neg_files: tuple[str, ...] = ()
    if kind == "spot":
        target_word = values["target_word"]
        target_boundary = _boundary(_literal(values, "target_word_boundary"), "target_word_boundary")
        if target_boundary not in boundaries:
            raise ValueError(f"target_word_boundary {list(target_boundary)} is not in word_boundaries")
    if kind == "asd":
        neg_files = _negatives(_literal(values, "neg_files"), values["filename"])
    if "num_frames" in record and record["num_frames"]:
        num_frames = _number(record, "num_frames", int)
    extra = {k: v for k, v in record.items() if k is not None and k not in required and k != "num_frames"}
    return ManifestRow(
        video_id=values["video_id"],
        start_time=start,
        end_time=end,
        filename=values["filename"],
        phrase=values["phrase"],
        word_boundaries=boundaries,
        target_word=target_word,
        target_boundary=target_boundary,
        num_frames=num_frames,
        neg_files=neg_files,
        extra={k: v or "" for k, v in extra.items()},
    )


def _number(record: dict[str, str | None], column: str, cast: type) -> float | int:
    text = record.get(column) or ""
    try:
        return cast(text)
    except ValueError:
        raise ValueError(f"{column} is not a{'n integer' if cast is int else ' number'}: {text!r}") from None


def _literal(values: dict[str, str], column: str) -> object:
    try:
        return ast.literal_eval(values[column])
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(f"{column} is not a Python literal: {_short(values[column])}") from None


def _negatives(item: object, filename: str) -> tuple[str, ...]:
    ok = isinstance(item, (list, tuple)) and item and all(isinstance(n, str) and n.strip() for n in item)
    if not ok:
        raise ValueError(f"neg_files holds {_short(repr(item))}, expected a non-empty list of filenames")
    if filename in item:
        raise ValueError(f"neg_files lists the row's own clip {filename}")
    return tuple(n.strip() for n in item)


def _boundary(item: object, column: str) -> Boundary:
    ok = (
        isinstance(item, (list, tuple))
        and len(item) == 3
        and isinstance(item[0], str)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in item[1:])
        and 0 <= item[1] <= item[2]
    )
    if not ok:
        raise ValueError(f"{column} holds {_short(repr(item))}, expected [word, start_frame, end_frame]")
    return (item[0], item[1], item[2])


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
