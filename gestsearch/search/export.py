"""Exports of a :class:`SearchResult`: JSON, ELAN (.eaf), CSV, WebVTT, mp4 cuts and heatmaps.

Annotations (EAF, CSV, VTT) live on the source video's timeline in integer
milliseconds. Each hit gives one annotation over its gesture span on the tier
``gestsearch hits`` (value ``#rank query (score)``) and one 1-frame annotation per
query word at its peak on ``gestsearch word peaks`` (value ``word strength``). An ELAN
tier cannot hold overlapping annotations, so overlapping ones of one video move to
numbered extra tiers (``gestsearch hits 2``...).
"""

from __future__ import annotations

import csv
import json
import os
import re
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from gestsearch.errors import ConfigError, MediaError
from gestsearch.search.results import Hit, SearchResult

FPS = 25
HITS_TIER = "gestsearch hits"
PEAKS_TIER = "gestsearch word peaks"
CSV_COLUMNS = ("tier", "begin_ms", "end_ms", "value", "score", "rank", "clip_id", "video_path")
EXPORT_FORMATS = ("json", "csv", "vtt", "eaf", "mp4", "heatmap")
DEFAULT_EXPORTS = ("json", "mp4", "heatmap")
MIME_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".avi": "video/x-msvideo",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".wav": "audio/x-wav",
}


@dataclass(frozen=True)
class Annotation:
    """One time-aligned label on a tier, in milliseconds of the source video."""

    tier: str
    begin_ms: int
    end_ms: int
    value: str
    hit: Hit


def write_json(result: SearchResult, path: Path | str) -> Path:
    """``result.to_dict()`` (schema ``gestsearch.search/1``) as indented UTF-8 JSON."""
    path = Path(path)
    path.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_csv(result: SearchResult, path: Path | str) -> Path:
    """All annotations as CSV (:data:`CSV_COLUMNS`), importable in ELAN and easy in pandas/R."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for hits in _by_video(result.hits).values():
            for a in annotations(result.query, hits):
                h = a.hit
                score = f"{h.score:.6f}"
                writer.writerow([a.tier, a.begin_ms, a.end_ms, a.value, score, h.rank, h.clip_id, h.video_path])
    return path


def write_vtt(result: SearchResult, out_dir: Path | str) -> list[Path]:
    """One WebVTT file per source video (``<video stem>.vtt``): a cue per hit over its gesture span.

    A text track belongs to one video, hence one file each. The cue reads
    ``#rank query (score)`` then the words with their peak times.
    """
    paths = []
    for path, hits in _per_video(result.hits, Path(out_dir), ".vtt"):
        lines = ["WEBVTT", ""]
        for a in annotations(result.query, hits, with_peaks=False):
            peaks = " ".join(f"{p.word}@{p.time_s:.2f}s" for p in a.hit.peaks)
            cue = [_cue_text(a.value), _cue_text(peaks)]
            lines += [str(a.hit.rank), f"{_vtt_time(a.begin_ms)} --> {_vtt_time(a.end_ms)}", *cue, ""]
        path.write_text("\n".join(lines), encoding="utf-8")
        paths.append(path)
    return paths


def write_eaf(result: SearchResult, out_dir: Path | str) -> list[Path]:
    """One ELAN 3.0 document per source video (``<video stem>.eaf``) linking the video as media."""
    paths = []
    for path, hits in _per_video(result.hits, Path(out_dir), ".eaf"):
        tree = _eaf_tree(annotations(result.query, hits), Path(hits[0].video_path), path.parent)
        tree.write(path, encoding="UTF-8", xml_declaration=True)
        paths.append(path)
    return paths


def annotations(query: str, hits: Sequence[Hit], with_peaks: bool = True) -> list[Annotation]:
    """The hit (and word-peak) annotations of hits from ONE video, on non-overlapping tiers."""
    spans = [
        Annotation(HITS_TIER, *_interval_ms(h.span_start_s, h.span_end_s), f"#{h.rank} {query} ({h.score:.3f})", h)
        for h in hits
    ]
    peaks = [
        Annotation(PEAKS_TIER, *_interval_ms(p.time_s, p.time_s + 1 / FPS), f"{p.word} {p.strength:.2f}", h)
        for h in hits
        for p in h.peaks
    ]
    return _spread(spans) + (_spread(peaks) if with_peaks else [])


def cut_clip(
    video_path: Path | str,
    start_s: float,
    end_s: float,
    out_path: Path | str,
    audio_path: Path | str | None = None,
) -> Path:
    """Cut ``[start_s, end_s)`` of a video into its own H.264/AAC mp4, re-encoded with PyAV.

    Frames whose timestamp rounds into the span are kept at the source frame rate
    (dimensions rounded down to even). The sound comes from ``audio_path`` when
    given, else from the video's own audio stream, else from a sidecar ``NAME.wav``
    next to the video (the JEGAL sample / AVS layout), else the cut is silent. A
    sidecar is assumed to start with the video. Raises :class:`MediaError` when the
    source cannot be decoded or has no frame in the span.
    """
    video_path, out_path = Path(video_path), Path(out_path)
    if not 0 <= start_s < end_s:
        raise MediaError(video_path, f"cannot cut the empty span {start_s:.3f}-{end_s:.3f} s")
    try:
        with ExitStack() as stack:
            src = stack.enter_context(av.open(str(video_path)))
            sound = Path(audio_path) if audio_path is not None else _sound_source(video_path, bool(src.streams.audio))
            audio_in = stack.enter_context(av.open(str(sound))) if sound is not None else None
            dst = stack.enter_context(av.open(str(out_path), "w", format="mp4"))
            video_out = _add_video_stream(dst, src.streams.video[0])
            audio_out = _add_audio_stream(dst, audio_in.streams.audio[0]) if audio_in is not None else None
            n_frames = _copy_video(src, video_out, dst, start_s, end_s)
            if audio_in is not None:
                _copy_audio(audio_in, audio_out, dst, start_s, end_s)
    except (av.error.FFmpegError, OSError, ValueError, IndexError) as e:
        out_path.unlink(missing_ok=True)
        raise MediaError(video_path, f"cannot cut {start_s:.3f}-{end_s:.3f} s: {e}") from e
    if n_frames == 0:
        out_path.unlink(missing_ok=True)
        raise MediaError(video_path, f"no video frame between {start_s:.3f} and {end_s:.3f} s")
    return out_path


def heatmap_png(
    words: Sequence[str],
    scores: np.ndarray,
    out_path: Path | str,
    fps: float = FPS,
    span: tuple[float, float] | None = None,
    start_s: float = 0.0,
) -> Path:
    """PNG heatmap of query words (rows) × frames (columns) of ``scores`` (W, T).

    The time axis is in seconds of the source video (column t at ``start_s + t / fps``);
    ``span`` (seconds, same timeline) is outlined with two vertical lines.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 2 or scores.shape[0] != len(words):
        raise ValueError(f"scores of shape {scores.shape} do not match {len(words)} words")
    fig = Figure(figsize=(min(12.0, 3.0 + scores.shape[1] / 25), 1.2 + 0.35 * len(words)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    extent = (start_s, start_s + scores.shape[1] / fps, len(words) - 0.5, -0.5)
    image = ax.imshow(scores, aspect="auto", interpolation="nearest", cmap="magma", extent=extent)
    ax.set_yticks(range(len(words)), labels=list(words))
    ax.set_xlabel("time (s)")
    if span is not None:
        for x in span:
            ax.axvline(x, color="cyan", linewidth=1.5)
    fig.colorbar(image, ax=ax, label="score")
    fig.tight_layout()
    fig.savefig(out_path, format="png")
    return Path(out_path)


def export_results(
    result: SearchResult,
    out_dir: Path | str,
    formats: Iterable[str] = DEFAULT_EXPORTS,
    score_maps: Mapping[str, np.ndarray] | None = None,
    fps: float = FPS,
) -> list[Path]:
    """Write the chosen :data:`EXPORT_FORMATS` into ``out_dir`` and return the files written.

    ``mp4``: ``RANK_CLIPID.mp4``, each hit's gesture span with sound (:func:`cut_clip`);
    ``heatmap``: ``RANK_CLIPID.png`` for hits whose clip id is in ``score_maps``
    (clip id → (W, T) word × clip-frame scores, rows in the order of ``hit.peaks``);
    ``json``: ``results.json``; ``csv``: ``results.csv``; ``eaf``/``vtt``: one file per video.
    """
    formats = list(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown:
        raise ConfigError(f"unknown export format(s) {', '.join(unknown)}; choose from {', '.join(EXPORT_FORMATS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for hit in result.hits:
        stem = f"{hit.rank:03d}_{_safe_name(hit.clip_id)}"
        if "mp4" in formats:
            written.append(cut_clip(hit.video_path, hit.span_start_s, hit.span_end_s, out_dir / f"{stem}.mp4"))
        if "heatmap" in formats and score_maps is not None and hit.clip_id in score_maps:
            words = [p.word for p in hit.peaks]
            span = (hit.span_start_s, hit.span_end_s)
            written.append(
                heatmap_png(words, score_maps[hit.clip_id], out_dir / f"{stem}.png", fps, span, hit.clip_start_s)
            )
    if "json" in formats:
        written.append(write_json(result, out_dir / "results.json"))
    if "csv" in formats:
        written.append(write_csv(result, out_dir / "results.csv"))
    if "eaf" in formats:
        written += write_eaf(result, out_dir)
    if "vtt" in formats:
        written += write_vtt(result, out_dir)
    return written


# --- annotations ----------------------------------------------------------------------


def _by_video(hits: Iterable[Hit]) -> dict[str, list[Hit]]:
    groups: dict[str, list[Hit]] = {}
    for hit in hits:
        groups.setdefault(str(hit.video_path), []).append(hit)
    return groups


def _per_video(hits: Iterable[Hit], out_dir: Path, suffix: str) -> list[tuple[Path, list[Hit]]]:
    """``(out_dir/<video stem><suffix>, hits of that video)`` per video, numbering stems that videos share."""
    out_dir.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    groups = []
    for video, video_hits in _by_video(hits).items():
        stem = _safe_name(Path(video).stem)
        name, n = stem, 1
        while name in taken:
            n += 1
            name = f"{stem}_{n}"
        taken.add(name)
        groups.append((out_dir / f"{name}{suffix}", video_hits))
    return groups


def _spread(items: list[Annotation]) -> list[Annotation]:
    """Move overlapping annotations of one tier to numbered extra tiers (greedy, by start time)."""
    lane_ends: list[int] = []
    spread = []
    for a in sorted(items, key=lambda a: (a.begin_ms, a.end_ms)):
        lane = next((i for i, end in enumerate(lane_ends) if end <= a.begin_ms), len(lane_ends))
        if lane == len(lane_ends):
            lane_ends.append(a.end_ms)
        lane_ends[lane] = a.end_ms
        tier = a.tier if lane == 0 else f"{a.tier} {lane + 1}"
        spread.append(Annotation(tier, a.begin_ms, a.end_ms, a.value, a.hit))
    return spread


def _interval_ms(start_s: float, end_s: float) -> tuple[int, int]:
    """Integer milliseconds ``(begin, end)`` with ``end > begin`` (ELAN rejects empty annotations)."""
    begin = int(round(start_s * 1000))
    return begin, max(begin + 1, int(round(end_s * 1000)))


def _cue_text(text: str) -> str:
    """One cue line: no line breaks, no ``-->`` (both would end or break a WebVTT cue)."""
    return " ".join(text.split()).replace("-->", "->")


def _vtt_time(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:80] or "clip"


def _eaf_tree(items: Sequence[Annotation], video: Path, eaf_dir: Path) -> ET.ElementTree:
    root = ET.Element(
        "ANNOTATION_DOCUMENT",
        {
            "AUTHOR": "gestsearch",
            "DATE": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
            "FORMAT": "3.0",
            "VERSION": "3.0",
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd",
        },
    )
    header = ET.SubElement(root, "HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    relative = urllib.parse.quote(Path(os.path.relpath(video.resolve(), eaf_dir.resolve())).as_posix())
    ET.SubElement(
        header,
        "MEDIA_DESCRIPTOR",
        {
            "MEDIA_URL": video.resolve().as_uri(),
            "MIME_TYPE": MIME_TYPES.get(video.suffix.lower(), "unknown"),
            "RELATIVE_MEDIA_URL": relative if relative.startswith("../") else f"./{relative}",
        },
    )
    ET.SubElement(header, "PROPERTY", {"NAME": "URN"}).text = f"urn:nl-mpi-tools-elan-eaf:{uuid.uuid4()}"
    ET.SubElement(header, "PROPERTY", {"NAME": "lastUsedAnnotationId"}).text = str(len(items))

    # Two time slots per annotation, numbered in time order.
    ends = sorted((ms, i, side) for i, a in enumerate(items) for side, ms in enumerate((a.begin_ms, a.end_ms)))
    slot = {(i, side): f"ts{n}" for n, (_, i, side) in enumerate(ends, start=1)}
    time_order = ET.SubElement(root, "TIME_ORDER")
    for n, (ms, _, _) in enumerate(ends, start=1):
        ET.SubElement(time_order, "TIME_SLOT", {"TIME_SLOT_ID": f"ts{n}", "TIME_VALUE": str(ms)})

    tiers: dict[str, ET.Element] = {}
    for i, a in enumerate(items):
        if a.tier not in tiers:
            tiers[a.tier] = ET.SubElement(root, "TIER", {"LINGUISTIC_TYPE_REF": "default-lt", "TIER_ID": a.tier})
        alignable = ET.SubElement(
            ET.SubElement(tiers[a.tier], "ANNOTATION"),
            "ALIGNABLE_ANNOTATION",
            {"ANNOTATION_ID": f"a{i + 1}", "TIME_SLOT_REF1": slot[i, 0], "TIME_SLOT_REF2": slot[i, 1]},
        )
        ET.SubElement(alignable, "ANNOTATION_VALUE").text = a.value
    ET.SubElement(
        root,
        "LINGUISTIC_TYPE",
        {"GRAPHIC_REFERENCES": "false", "LINGUISTIC_TYPE_ID": "default-lt", "TIME_ALIGNABLE": "true"},
    )
    ET.indent(root)
    return ET.ElementTree(root)


# --- mp4 cuts -------------------------------------------------------------------------


def _sound_source(video_path: Path, has_own_audio: bool) -> Path | None:
    if has_own_audio:
        return video_path
    sidecar = video_path.with_suffix(".wav")
    return sidecar if sidecar.is_file() else None


def _add_video_stream(
    dst: av.container.OutputContainer, source: av.video.stream.VideoStream
) -> av.video.stream.VideoStream:
    rate = source.average_rate or source.guessed_rate or Fraction(FPS)
    stream = dst.add_stream("libx264", rate=Fraction(rate).limit_denominator(100_000))
    stream.width = source.codec_context.width // 2 * 2
    stream.height = source.codec_context.height // 2 * 2
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": "20", "preset": "veryfast"}
    return stream


def _add_audio_stream(
    dst: av.container.OutputContainer, source: av.audio.stream.AudioStream
) -> av.audio.stream.AudioStream:
    stream = dst.add_stream("aac", rate=source.codec_context.sample_rate)
    stream.layout = "mono" if source.codec_context.channels == 1 else "stereo"
    return stream


def _copy_video(
    src: av.container.InputContainer,
    out_stream: av.video.stream.VideoStream,
    dst: av.container.OutputContainer,
    start_s: float,
    end_s: float,
) -> int:
    """Re-encode the frames whose time rounds into ``[start_s, end_s)``; returns how many."""
    stream = src.streams.video[0]
    half_frame = 0.5 / float(out_stream.codec_context.framerate)
    src.seek(int(max(0.0, start_s - 1.0) / stream.time_base), stream=stream, backward=True)
    count = 0
    for frame in src.decode(stream):
        if frame.time is None or frame.time < start_s - half_frame:
            continue
        if frame.time >= end_s - half_frame:
            break
        out = frame.reformat(width=out_stream.width, height=out_stream.height, format="yuv420p")
        out.pts, out.time_base = count, 1 / out_stream.codec_context.framerate
        dst.mux(out_stream.encode(out))
        count += 1
    dst.mux(out_stream.encode(None))
    return count


def _copy_audio(
    src: av.container.InputContainer,
    out_stream: av.audio.stream.AudioStream,
    dst: av.container.OutputContainer,
    start_s: float,
    end_s: float,
) -> None:
    """Re-encode the samples of ``[start_s, end_s)`` of the first audio stream of ``src``."""
    stream = src.streams.audio[0]
    rate = out_stream.codec_context.sample_rate
    layout = out_stream.codec_context.layout.name
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
    src.seek(int(max(0.0, start_s - 1.0) / stream.time_base), stream=stream, backward=True)
    first, last = round(start_s * rate), round(end_s * rate)  # sample indices of the span
    written = 0
    for decoded in src.decode(stream):
        if decoded.time is None:
            continue
        offset = round(decoded.time * rate)
        for frame in resampler.resample(decoded):
            samples = frame.to_ndarray()  # (channels, n)
            lo, hi = max(first - offset, 0), min(last - offset, samples.shape[1])
            offset += samples.shape[1]
            if lo >= hi:
                continue
            piece = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, lo:hi]), format="fltp", layout=layout)
            piece.sample_rate, piece.pts, piece.time_base = rate, written, Fraction(1, rate)
            dst.mux(out_stream.encode(piece))
            written += hi - lo
        if offset >= last:
            break
    dst.mux(out_stream.encode(None))
