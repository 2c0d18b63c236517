"""Exports of search results: mp4 cuts, ELAN, CSV, WebVTT, heatmaps, results.json."""

from __future__ import annotations

import csv
import inspect
import json
import re
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import av
import numpy as np
import pytest

from gestsearch.errors import ConfigError, MediaError
from gestsearch.export import (
    CSV_COLUMNS,
    DEFAULT_EXPORTS,
    EXPORT_FORMATS,
    EXPORTERS,
    HITS_TIER,
    PEAKS_TIER,
    Exporter,
    export_results,
    heatmap_png,
    write_csv,
    write_eaf,
    write_vtt,
)
from gestsearch.media.cut import cut_clip
from gestsearch.results import Hit, SearchResult, WordPeak

FPS = 25
SECONDS = 3.0
RATE = 16000


def make_video(path: Path, size: tuple[int, int] = (160, 120), with_audio: bool = True) -> Path:
    """A SECONDS-long video whose frame i is uniformly grey (7 i mod 256) and whose sound grows louder with time."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264" if path.suffix == ".mp4" else "mpeg4", rate=FPS)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        audio = out.add_stream("aac", rate=RATE) if with_audio else None
        if audio is not None:
            audio.layout = "mono"
        for i in range(int(SECONDS * FPS)):
            frame = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), 7 * i % 256, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None:
            t = np.arange(int(SECONDS * RATE)) / RATE
            samples = (t / SECONDS * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
            frame.sample_rate, frame.pts = RATE, 0
            out.mux(audio.encode(frame))
            out.mux(audio.encode(None))
    return path


def decode(path: Path) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Grey frames (H, W) and mono audio samples (None without an audio stream) of a file."""
    with av.open(str(path)) as media:
        frames = [f.to_ndarray(format="gray") for f in media.decode(video=0)]
    with av.open(str(path)) as media:
        if not media.streams.audio:
            return frames, None
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in media.decode(audio=0)])
    return frames, audio


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "talk.mp4")


def result_for(video: Path) -> SearchResult:
    def hit(rank: int, clip_start: float, span: tuple[float, float], peak_times: tuple[float, float]) -> Hit:
        peaks = [
            WordPeak(word, round((t - clip_start) * FPS), t, 0.8 - 0.1 * i, 0.4)
            for i, (word, t) in enumerate(zip(("take", "walk"), peak_times))
        ]
        return Hit(rank, f"talk#{rank}", str(video), 0, clip_start, clip_start + 2.0, *span, 0.9 - rank / 10, 0.5, 0.6,
                   peaks, "so take a walk")  # fmt: skip

    # Hits 1 and 2 overlap in time: they must land on different ELAN tiers.
    hits = [hit(1, 0.0, (0.4, 1.6), (0.6, 1.2)), hit(2, 1.0, (1.2, 2.96), (1.5, 2.92))]
    return SearchResult("take a walk", "text", "seed1", hits)


# --- mp4 cuts -------------------------------------------------------------------------


def test_cut_clip_is_playable_with_the_right_frames_and_sound(video: Path, tmp_path: Path) -> None:
    out = cut_clip(video, 0.5, 1.7, tmp_path / "cut.mp4")
    frames, audio = decode(out)
    assert abs(len(frames) - 30) <= 1
    # The first frame is source frame 12 or 13 (grey 84 or 91, give or take compression).
    assert 80 <= float(frames[0].mean()) <= 95
    assert audio is not None and abs(len(audio) / RATE - 1.2) < 0.05
    _, source_audio = decode(video)
    expected_rms = np.sqrt(np.mean(source_audio[int(0.5 * RATE) : int(1.7 * RATE)] ** 2))
    assert np.sqrt(np.mean(audio**2)) == pytest.approx(expected_rms, rel=0.1)
    with av.open(str(out)) as media:
        assert media.streams.video[0].codec_context.name == "h264"
        assert media.streams.audio[0].codec_context.name == "aac"
        assert media.duration / 1e6 == pytest.approx(1.2, abs=1 / FPS)


def test_cut_clip_takes_sound_from_a_sidecar_wav(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "jegal_samples" / "sample1.avi"  # no audio track; sound in sample1.wav
    out = cut_clip(source, 0.4, 1.6, tmp_path / "sample1_cut.mp4")
    frames, audio = decode(out)
    assert abs(len(frames) - 30) <= 1
    assert audio is not None and abs(len(audio) / RATE - 1.2) < 0.05 and np.abs(audio).max() > 0.01


def test_cut_clip_of_a_silent_video_has_no_audio_stream(tmp_path: Path) -> None:
    source = make_video(tmp_path / "mute.avi", size=(161, 121), with_audio=False)  # odd size: rounded to even
    frames, audio = decode(cut_clip(source, 1.0, 2.0, tmp_path / "mute_cut.mp4"))
    assert abs(len(frames) - 25) <= 1 and frames[0].shape == (120, 160)
    assert audio is None


def test_cut_clip_with_an_explicit_audio_file(video: Path, tmp_path: Path) -> None:
    mute = make_video(tmp_path / "mute.mp4", with_audio=False)
    _, audio = decode(cut_clip(mute, 0.0, 1.0, tmp_path / "cut.mp4", audio_path=video))
    assert audio is not None and abs(len(audio) / RATE - 1.0) < 0.05


@pytest.mark.parametrize(("start", "end", "message"), [(2.0, 2.0, "empty span"), (5.0, 6.0, "no video frame")])
def test_cut_clip_refuses_spans_without_frames(
    video: Path, tmp_path: Path, start: float, end: float, message: str
) -> None:
    out = tmp_path / "cut.mp4"
    with pytest.raises(MediaError, match=message):
        cut_clip(video, start, end, out)
    assert not out.exists()


def test_cut_clip_of_a_broken_file_is_a_media_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    with pytest.raises(MediaError, match="garbage.mp4"):
        cut_clip(garbage, 0.0, 1.0, tmp_path / "cut.mp4")
    with pytest.raises(MediaError, match="missing.mp4"):
        cut_clip(tmp_path / "missing.mp4", 0.0, 1.0, tmp_path / "cut.mp4")
    assert not (tmp_path / "cut.mp4").exists()


# --- ELAN / CSV / WebVTT --------------------------------------------------------------


def test_write_eaf_is_valid_elan(video: Path, tmp_path: Path) -> None:
    (path,) = write_eaf(result_for(video), tmp_path / "eaf")
    assert path.name == "talk.eaf"
    root = ET.parse(path).getroot()
    assert root.tag == "ANNOTATION_DOCUMENT" and root.get("FORMAT") == "3.0" and root.get("VERSION") == "3.0"
    header = root.find("HEADER")
    assert header.get("TIME_UNITS") == "milliseconds"
    media = header.find("MEDIA_DESCRIPTOR")
    assert media.get("MEDIA_URL") == video.resolve().as_uri() and media.get("MIME_TYPE") == "video/mp4"
    relative = urllib.parse.unquote(media.get("RELATIVE_MEDIA_URL"))
    assert (path.parent / relative).resolve() == video.resolve()

    slots = {s.get("TIME_SLOT_ID"): int(s.get("TIME_VALUE")) for s in root.iter("TIME_SLOT")}
    values = list(slots.values())
    assert values == sorted(values) and min(values) >= 0 and max(values) <= SECONDS * 1000
    types = {t.get("LINGUISTIC_TYPE_ID") for t in root.iter("LINGUISTIC_TYPE")}
    ids, used_slots, tiers = set(), [], {}
    for tier in root.iter("TIER"):
        assert tier.get("LINGUISTIC_TYPE_REF") in types
        spans = []
        for a in tier.iter("ALIGNABLE_ANNOTATION"):
            ids.add(a.get("ANNOTATION_ID"))
            begin, end = slots[a.get("TIME_SLOT_REF1")], slots[a.get("TIME_SLOT_REF2")]
            assert begin < end
            spans.append((begin, end))
            used_slots += [a.get("TIME_SLOT_REF1"), a.get("TIME_SLOT_REF2")]
        spans.sort()
        assert all(e <= b for (_, e), (b, _) in zip(spans, spans[1:])), "overlap inside a tier"
        tiers[tier.get("TIER_ID")] = [a.findtext("ANNOTATION_VALUE") for a in tier.iter("ALIGNABLE_ANNOTATION")]
    assert len(ids) == 6 and sorted(used_slots) == sorted(slots)  # 2 hits + 4 peaks, every slot used once
    assert tiers[HITS_TIER] == ["#1 take a walk (0.800)"] and tiers[f"{HITS_TIER} 2"] == ["#2 take a walk (0.700)"]
    assert tiers[PEAKS_TIER] == ["take 0.80", "walk 0.70", "take 0.80", "walk 0.70"]
    assert header.findtext("PROPERTY[@NAME='lastUsedAnnotationId']") == "6"


def test_write_eaf_and_vtt_make_one_file_per_video(video: Path, tmp_path: Path) -> None:
    other = tmp_path / "other" / "talk.mp4"  # same stem, other folder
    result = result_for(video)
    result.hits.append(Hit(3, "o#0", str(other), 1, 0.0, 2.0, 0.2, 0.8, 0.1, 0.1, 0.1, [], ""))
    assert [p.name for p in write_eaf(result, tmp_path)] == ["talk.eaf", "talk_2.eaf"]
    assert [p.name for p in write_vtt(result, tmp_path)] == ["talk.vtt", "talk_2.vtt"]


def test_write_csv_is_elan_importable(video: Path, tmp_path: Path) -> None:
    path = write_csv(result_for(video), tmp_path / "results.csv")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == CSV_COLUMNS
        rows = list(reader)
    assert len(rows) == 6
    assert {r["tier"] for r in rows} == {HITS_TIER, f"{HITS_TIER} 2", PEAKS_TIER}
    assert all(0 <= int(r["begin_ms"]) < int(r["end_ms"]) <= SECONDS * 1000 for r in rows)
    first = rows[0]
    assert (first["begin_ms"], first["end_ms"], first["rank"], first["clip_id"]) == ("400", "1600", "1", "talk#1")
    assert float(first["score"]) == pytest.approx(0.8) and first["video_path"] == str(video)


def test_write_vtt_is_well_formed(video: Path, tmp_path: Path) -> None:
    (path,) = write_vtt(result_for(video), tmp_path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("WEBVTT\n\n")
    cues = re.findall(r"^(\d+)\n(\d\d:\d\d:\d\d\.\d\d\d) --> (\d\d:\d\d:\d\d\.\d\d\d)\n(.+)\n(.*)\n", text, re.M)
    assert [c[:3] for c in cues] == [("1", "00:00:00.400", "00:00:01.600"), ("2", "00:00:01.200", "00:00:02.960")]
    assert cues[0][3] == "#1 take a walk (0.800)" and cues[0][4] == "take@0.60s walk@1.20s"


# --- heatmaps and the export folder ---------------------------------------------------


def test_heatmap_png(tmp_path: Path) -> None:
    path = heatmap_png(["take", "a", "walk"], np.random.default_rng(0).random((3, 50)), tmp_path / "h.png",
                       span=(10.4, 11.2), start_s=10.0)  # fmt: skip
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="3 words"):
        heatmap_png(["take", "a", "walk"], np.zeros((2, 50)), tmp_path / "bad.png")


def test_export_results_writes_clips_heatmaps_and_json(video: Path, tmp_path: Path) -> None:
    result = result_for(video)
    score_maps = {"talk#1": np.random.default_rng(1).random((2, 50))}
    written = export_results(result, tmp_path / "export", score_maps=score_maps)
    assert sorted(p.name for p in written) == ["001_talk_1.mp4", "001_talk_1.png", "002_talk_2.mp4", "results.json"]
    frames, audio = decode(tmp_path / "export" / "002_talk_2.mp4")
    assert abs(len(frames) - round((2.96 - 1.2) * FPS)) <= 1 and audio is not None
    doc = json.loads((tmp_path / "export" / "results.json").read_text())
    assert doc["schema"] == "gestsearch.search/1" and [h["rank"] for h in doc["hits"]] == [1, 2]
    with pytest.raises(ConfigError, match="unknown export format"):
        export_results(result, tmp_path / "export", formats=["json", "gif"])


def test_export_results_lists_files_hit_by_hit_then_whole_result_files(video: Path, tmp_path: Path) -> None:
    result = result_for(video)
    score_maps = {f"talk#{rank}": np.zeros((2, 50)) for rank in (1, 2)}
    written = export_results(result, tmp_path, formats=reversed(EXPORT_FORMATS), score_maps=score_maps)
    assert [p.name for p in written] == [
        "001_talk_1.mp4", "001_talk_1.png", "002_talk_2.mp4", "002_talk_2.png",
        "results.json", "results.csv", "talk.eaf", "talk.vtt",
    ]  # fmt: skip


def test_the_registry_lists_the_six_formats_and_each_is_an_exporter() -> None:
    assert EXPORT_FORMATS == tuple(EXPORTERS) == ("json", "csv", "vtt", "eaf", "mp4", "heatmap")
    assert DEFAULT_EXPORTS == ("json", "mp4", "heatmap")
    interface = list(inspect.signature(Exporter.write).parameters)
    for name, exporter in EXPORTERS.items():
        assert isinstance(exporter, Exporter) and exporter.name == name
        assert isinstance(exporter.order, int) and isinstance(exporter.per_hit, bool)
        assert list(inspect.signature(type(exporter).write).parameters) == interface
