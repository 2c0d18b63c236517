"""Exports of search results: mp4 cuts, ELAN, CSV, WebVTT, heatmaps, results.json."""

from __future__ import annotations

import csv
import inspect
import json
import os
import re
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import av
import matplotlib.image
import numpy as np
import pympi
import pytest

from gestsearch.errors import ConfigError, MediaError
from gestsearch.export import (
    CSV_COLUMNS,
    DEFAULT_EXPORTS,
    EXPORT_FORMATS,
    EXPORTERS,
    MANIFEST_NAME,
    Exporter,
    ReportQuery,
    export_results,
    heatmap_png,
    hit_title,
    hits_tier,
    peaks_tier,
    read_manifest,
    write_csv,
    write_eaf,
    write_report,
    write_vtt,
)
from gestsearch.export.heatmap import score_label
from gestsearch.media.cut import cut_clip
from gestsearch.results import Hit, SearchResult, WordPeak
from gestsearch.testing.media import pattern_frames, tone, write_video

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


def make_hit(
    video: Path | str,
    rank: int,
    clip_start: float,
    span: tuple[float, float],
    peak_times: tuple[float, ...],
    track: int = 0,
    clip_id: str | None = None,
) -> Hit:
    """A 2 s clip's hit with the query words take, walk at ``peak_times`` (seconds of the video)."""
    peaks = [
        WordPeak(word, round((t - clip_start) * FPS), t, 0.8 - 0.1 * i, 0.4)
        for i, (word, t) in enumerate(zip(("take", "walk"), peak_times))
    ]
    return Hit(rank, clip_id or f"talk#{rank}", str(video), track, clip_start, clip_start + 2.0, *span, 0.9 - rank / 10,
               0.5, 0.6, peaks, "so take a walk")  # fmt: skip


def result_for(video: Path) -> SearchResult:
    # Hits 1 and 2 overlap in time: they must land on different ELAN tiers.
    hits = [make_hit(video, 1, 0.0, (0.4, 1.6), (0.6, 1.2)), make_hit(video, 2, 1.0, (1.2, 2.96), (1.5, 2.92))]
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

QUERY = "take a walk"


def test_write_eaf_is_valid_elan(video: Path, tmp_path: Path) -> None:
    (path,) = write_eaf(result_for(video), tmp_path / "eaf")
    assert path.name == "talk.eaf"
    root = ET.parse(path).getroot()
    assert root.tag == "ANNOTATION_DOCUMENT" and root.get("FORMAT") == "3.0" and root.get("VERSION") == "3.0"
    header = root.find("HEADER")
    assert header.get("TIME_UNITS") == "milliseconds"
    media = header.find("MEDIA_DESCRIPTOR")
    assert media.get("MEDIA_URL") == video.absolute().as_uri() and media.get("MIME_TYPE") == "video/mp4"
    relative = urllib.parse.unquote(media.get("RELATIVE_MEDIA_URL"))
    assert (path.parent / relative).resolve() == video.resolve()

    slots = {s.get("TIME_SLOT_ID"): int(s.get("TIME_VALUE")) for s in root.iter("TIME_SLOT")}
    values = list(slots.values())
    assert values == sorted(values) and min(values) >= 0 and max(values) <= SECONDS * 1000
    types = {t.get("LINGUISTIC_TYPE_ID") for t in root.iter("LINGUISTIC_TYPE")}
    ids, used_slots, tiers = set(), [], {}
    for tier in root.iter("TIER"):
        assert tier.get("LINGUISTIC_TYPE_REF") in types and tier.get("PARTICIPANT") == "track 0"
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
    hits, peaks = hits_tier(QUERY, 0), peaks_tier(QUERY, 0)
    assert (hits, peaks) == ("take a walk — track 0", "take a walk — track 0 — word peaks")
    assert list(tiers) == [hits, f"{hits} (2)", peaks]
    assert tiers[hits] == ["#1 take a walk (0.800)"] and tiers[f"{hits} (2)"] == ["#2 take a walk (0.700)"]
    assert tiers[peaks] == ["take 0.80", "walk 0.70", "take 0.80", "walk 0.70"]
    assert header.findtext("PROPERTY[@NAME='lastUsedAnnotationId']") == "6"


def test_eaf_reads_in_pympi_with_tiers_per_track_and_links_the_symlink(video: Path, tmp_path: Path) -> None:
    link = tmp_path / "links" / "lecture.mp4"
    link.parent.mkdir()
    link.symlink_to(video)
    hits = [
        make_hit(link, 1, 0.0, (0.4, 1.6), (0.6, 1.2), track=1),
        make_hit(link, 2, 1.0, (1.2, 2.96), (1.5, 2.92), track=0),
        make_hit(link, 3, 1.0, (1.0, 2.0), (1.3, 1.8), track=1),  # overlaps #1 on track 1
    ]
    (path,) = write_eaf(SearchResult(QUERY, "text", "seed1", hits), tmp_path / "eaf")
    assert path.name == "lecture.eaf"

    eaf = pympi.Elan.Eaf(str(path))
    t0, t1 = hits_tier(QUERY, 0), hits_tier(QUERY, 1)
    p0, p1 = peaks_tier(QUERY, 0), peaks_tier(QUERY, 1)
    assert set(eaf.get_tier_names()) == {t0, p0, t1, f"{t1} (2)", p1}
    for tier, track in [(t0, 0), (p0, 0), (t1, 1), (f"{t1} (2)", 1), (p1, 1)]:
        assert eaf.get_parameters_for_tier(tier)["PARTICIPANT"] == f"track {track}"

    def data(tier: str) -> list[tuple[int, int, str]]:
        return sorted(tuple(a[:3]) for a in eaf.get_annotation_data_for_tier(tier))

    assert data(t0) == [(1200, 2960, "#2 take a walk (0.700)")]
    assert data(p0) == [(1500, 1540, "take 0.80"), (2920, 2960, "walk 0.70")]
    assert data(t1) == [(400, 1600, "#1 take a walk (0.800)")]
    assert data(f"{t1} (2)") == [(1000, 2000, "#3 take a walk (0.600)")]
    assert data(p1) == [(600, 640, "take 0.80"), (1200, 1240, "walk 0.70"), (1300, 1340, "take 0.80"), (1800, 1840, "walk 0.70")]

    (media,) = eaf.media_descriptors
    assert media["MEDIA_URL"] == link.absolute().as_uri() != video.resolve().as_uri()
    assert media["MIME_TYPE"] == "video/mp4"
    relative = urllib.parse.unquote(media["RELATIVE_MEDIA_URL"])
    assert relative == "../links/lecture.mp4"
    assert os.path.normpath(path.parent / relative) == str(link)


def test_write_eaf_and_vtt_make_one_file_per_video(video: Path, tmp_path: Path) -> None:
    other = tmp_path / "other" / "talk.mp4"  # same stem, other folder
    result = result_for(video)
    result.hits.append(Hit(3, "o#0", str(other), 1, 0.0, 2.0, 0.2, 0.8, 0.1, 0.1, 0.1, [], ""))
    assert [p.name for p in write_eaf(result, tmp_path)] == ["talk.eaf", "talk_2.eaf"]
    assert [p.name for p in write_vtt(result, tmp_path)] == ["talk.vtt", "talk_2.vtt"]
    second = pympi.Elan.Eaf(str(tmp_path / "talk_2.eaf"))
    assert list(second.get_tier_names()) == [hits_tier(QUERY, 1)]  # a hit without word peaks: no peak tier
    assert second.get_annotation_data_for_tier(hits_tier(QUERY, 1)) == [(200, 800, "#3 take a walk (0.100)")]


def test_results_csv_has_one_row_per_hit(tmp_path: Path) -> None:
    first = make_hit("/videos/talk.mp4", 1, 12.0, (11.84, 12.64), (12.12, 12.36), track=1)
    first = replace(first, merged_start_s=11.0, merged_end_s=14.5, merged_clip_ids=["talk#9"])
    second = make_hit("/videos/other talk.mp4", 2, 3.0, (3.2, 4.0), (3.4, 3.8))
    path = write_csv(SearchResult(QUERY, "text", "seed1", [first, second]), tmp_path / "results.csv")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == CSV_COLUMNS
        rows = list(reader)
    assert CSV_COLUMNS == (
        "rank", "score", "video_path", "track", "clip_id", "clip_start_s", "clip_end_s", "span_start_s",
        "span_end_s", "word_peaks", "text", "merged_start_s", "merged_end_s", "speaking",
    )  # fmt: skip
    assert len(rows) == 2
    assert rows[0] == {
        "rank": "1", "score": "0.8", "video_path": "/videos/talk.mp4", "track": "1", "clip_id": "talk#1",
        "clip_start_s": "12.0", "clip_end_s": "14.0", "span_start_s": "11.84", "span_end_s": "12.64",
        "word_peaks": "take@12.12;walk@12.36", "text": "so take a walk", "merged_start_s": "11.0", "merged_end_s": "14.5",
        "speaking": "",
    }  # fmt: skip
    assert rows[1]["rank"] == "2" and rows[1]["video_path"] == "/videos/other talk.mp4"
    assert float(rows[1]["score"]) == pytest.approx(0.7) and rows[1]["word_peaks"] == "take@3.4;walk@3.8"
    assert rows[1]["merged_start_s"] == rows[1]["merged_end_s"] == ""


def test_write_vtt_is_well_formed(video: Path, tmp_path: Path) -> None:
    (path,) = write_vtt(result_for(video), tmp_path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("WEBVTT\n\n")
    cues = re.findall(r"^(\d+)\n(\d\d:\d\d:\d\d\.\d\d\d) --> (\d\d:\d\d:\d\d\.\d\d\d)\n(.+)\n(.*)\n", text, re.M)
    assert [c[:3] for c in cues] == [("1", "00:00:00.400", "00:00:01.600"), ("2", "00:00:01.200", "00:00:02.960")]
    assert cues[0][3] == "#1 take a walk (0.800)" and cues[0][4] == "take@0.60s walk@1.20s"


def test_eaf_and_vtt_name_the_speaking_score_where_a_clip_has_one(video: Path, tmp_path: Path) -> None:
    result = result_for(video)
    result.hits[0] = replace(result.hits[0], speaking=0.966)
    (vtt,) = write_vtt(result, tmp_path)
    assert "#1 take a walk (0.800, speaking 0.97)" in vtt.read_text(encoding="utf-8")
    assert "#2 take a walk (0.700)\n" in vtt.read_text(encoding="utf-8")  # no score: one person in view
    (eaf,) = write_eaf(result, tmp_path)
    values = [a.findtext("ANNOTATION_VALUE") for a in ET.parse(eaf).iter("ALIGNABLE_ANNOTATION")]
    assert "#1 take a walk (0.800, speaking 0.97)" in values


def test_vtt_cues_of_several_tracks_are_in_time_order(video: Path, tmp_path: Path) -> None:
    hits = [make_hit(video, 1, 1.0, (1.5, 2.5), (1.6, 2.0), track=1), make_hit(video, 2, 0.0, (0.2, 1.0), (0.4, 0.8))]
    (path,) = write_vtt(SearchResult(QUERY, "text", "seed1", hits), tmp_path)
    starts = re.findall(r"^(\d+)\n(\d\d:\d\d:\d\d\.\d\d\d) -->", path.read_text(encoding="utf-8"), re.M)
    assert starts == [("2", "00:00:00.200"), ("1", "00:00:01.500")]


# --- heatmaps -------------------------------------------------------------------------


def test_heatmap_png(tmp_path: Path) -> None:
    path = heatmap_png(["take", "a", "walk"], np.random.default_rng(0).random((3, 50)), tmp_path / "h.png",
                       span=(10.4, 11.2), start_s=10.0, title="#3  talk.mp4  track 1  10.00–12.00 s")  # fmt: skip
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["h.png"]  # written atomically, no temporary left
    with pytest.raises(ValueError, match="3 words"):
        heatmap_png(["take", "a", "walk"], np.zeros((2, 50)), tmp_path / "bad.png")


def _most_colours_in_a_row(png: Path) -> tuple[int, np.ndarray]:
    """The most distinct chromatic colours any one pixel row of ``png`` holds, and that row.

    Text, axes and the background are grey; magma's colours (but its darkest and lightest) are not,
    so a row through a map that varies over time holds many colours and one through a flat map few.
    """
    image = matplotlib.image.imread(png)[..., :3]
    best, best_row = 0, image[0]
    for row in image:
        chromatic = row[row.max(axis=1) - row.min(axis=1) > 0.1]
        n = len(np.unique(np.round(chromatic * 255).astype(int), axis=0))
        if n > best:
            best, best_row = n, row
    return best, best_row


def test_one_word_heatmap_shows_the_cosine_over_time(tmp_path: Path) -> None:
    # What the search engine passes for a one-word query: the word-frame cosine (here a bump at 13.6 s).
    t = np.arange(75)
    cosine = (-0.1 + 0.35 * np.exp(-(((t - 40) / 8.0) ** 2)))[None]
    path = heatmap_png(["take"], cosine, tmp_path / "one.png", span=(13.0, 14.2), start_s=12.0,
                       title="#1  talk.mp4  track 0  12.00–15.00 s")  # fmt: skip
    colours, row = _most_colours_in_a_row(path)
    assert colours >= 10, "the one-word map is (nearly) one flat colour"
    left, middle = row[len(row) // 5], row[len(row) // 2]  # far from the bump vs on it
    assert np.abs(left - middle).max() > 0.3

    flat = heatmap_png(["take"], np.ones((1, 75)), tmp_path / "flat.png")  # the old one-word map: softmax 1 everywhere
    assert _most_colours_in_a_row(flat)[0] < 5
    assert score_label(1) == "cosine" and score_label(3) == "spotting score"


def test_heatmap_titles_name_rank_video_track_and_clip(video: Path, tmp_path: Path, monkeypatch) -> None:
    from gestsearch.export import heatmap as heatmap_module

    hit = make_hit("/videos/talk.mp4", 3, 12.0, (12.4, 13.5), (12.6, 13.2), track=1)
    hit = replace(hit, clip_end_s=15.0)
    assert hit_title(hit) == "#3  talk.mp4  track 1  12.00–15.00 s"
    long = replace(hit, video_path="/videos/" + "a" * 60 + ".mp4")
    assert len(hit_title(long)) < 80 and hit_title(long).endswith(".mp4  track 1  12.00–15.00 s")

    titles = []
    real = heatmap_module.heatmap_png
    monkeypatch.setattr(heatmap_module, "heatmap_png", lambda *a, **k: titles.append(a[6] if len(a) > 6 else k["title"]) or real(*a, **k))
    result = result_for(video)
    export_results(result, tmp_path, ["heatmap"], {h.clip_id: np.random.default_rng(2).random((2, 50)) for h in result.hits})
    assert titles == ["#1  talk.mp4  track 0  0.00–2.00 s", "#2  talk.mp4  track 0  1.00–3.00 s"]


# --- the export folder ----------------------------------------------------------------


def test_export_results_writes_clips_heatmaps_and_json(video: Path, tmp_path: Path) -> None:
    result = result_for(video)
    score_maps = {"talk#1": np.random.default_rng(1).random((2, 50))}
    written = export_results(result, tmp_path / "export", score_maps=score_maps)
    assert sorted(p.name for p in written) == ["001_talk_1.mp4", "001_talk_1.png", "002_talk_2.mp4", "results.json"]
    frames, audio = decode(tmp_path / "export" / "002_talk_2.mp4")
    assert abs(len(frames) - round((2.96 - 1.2) * FPS)) <= 1 and audio is not None
    doc = json.loads((tmp_path / "export" / "results.json").read_text())
    assert doc["schema"] == "gestsearch.search/1" and [h["rank"] for h in doc["hits"]] == [1, 2]
    assert sorted(read_manifest(tmp_path / "export")) == sorted(p.name for p in written)
    with pytest.raises(ConfigError, match="unknown export format"):
        export_results(result, tmp_path / "export", formats=["json", "gif"])


def test_export_results_lists_files_hit_by_hit_then_whole_result_files(video: Path, tmp_path: Path) -> None:
    result = result_for(video)
    score_maps = {f"talk#{rank}": np.zeros((2, 50)) for rank in (1, 2)}
    formats = [f for f in reversed(EXPORT_FORMATS) if f != "pose"]  # its order: tests/export/test_pose.py
    written = export_results(result, tmp_path, formats=formats, score_maps=score_maps)
    assert [p.name for p in written] == [
        "001_talk_1.mp4", "001_talk_1.png", "002_talk_2.mp4", "002_talk_2.png",
        "results.json", "results.csv", "talk.eaf", "talk.vtt",
    ]  # fmt: skip


def test_exporting_again_replaces_the_previous_export_but_keeps_the_users_files(video: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    out.mkdir()
    (out / "my notes.txt").write_text("mine")
    (out / "results.md").write_text("also mine")
    first = result_for(video)
    score_maps = {f"talk#{rank}": np.zeros((2, 50)) for rank in (1, 2)}
    export_results(first, out, [f for f in EXPORT_FORMATS if f != "pose"], score_maps)  # pose: slow, and no different here
    assert len(list(out.glob("*.mp4"))) == 2 and (out / "talk.eaf").is_file()

    # A second search, other hits and formats: none of the first export's files may linger.
    hit = replace(make_hit(video, 1, 1.0, (1.2, 2.0), (1.4, 1.8), clip_id="talk#7"))
    written = export_results(SearchResult("walk", "text", "seed1", [hit]), out, ["mp4", "json"])
    assert [p.name for p in written] == ["001_talk_7.mp4", "results.json"]
    assert sorted(os.listdir(out)) == sorted([MANIFEST_NAME, "001_talk_7.mp4", "my notes.txt", "results.json", "results.md"])
    assert json.loads((out / "results.json").read_text())["query"] == "walk"
    assert (out / "my notes.txt").read_text() == "mine"
    assert json.loads((out / MANIFEST_NAME).read_text()) == {
        "schema": "gestsearch.export/1",
        "files": ["001_talk_7.mp4", "results.json"],
    }


def test_a_failed_export_is_cleaned_up_by_the_next(video: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    result = result_for(video)
    broken = replace(result, hits=[result.hits[0], replace(result.hits[1], video_path=str(tmp_path / "gone.mp4"))])
    with pytest.raises(MediaError, match="gone.mp4"):
        export_results(broken, out, ["mp4", "json"])
    assert read_manifest(out) == ["001_talk_1.mp4"]  # recorded as soon as it was written
    export_results(result, out, ["json"])
    assert sorted(os.listdir(out)) == [MANIFEST_NAME, "results.json"]


def test_a_manifest_never_removes_files_outside_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "export"
    out.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep")
    (out / "sub").mkdir()
    listed = ["../precious.txt", str(outside), "sub", MANIFEST_NAME, "missing.json"]
    (out / MANIFEST_NAME).write_text(json.dumps({"schema": "gestsearch.export/1", "files": listed}))
    export_results(SearchResult("take", "text", "seed1", []), out, ["json"])
    assert outside.read_text() == "keep" and (out / "sub").is_dir()
    assert read_manifest(out) == ["results.json"]
    (out / MANIFEST_NAME).write_text("not json")  # a damaged manifest removes nothing
    export_results(SearchResult("take", "text", "seed1", []), out, ["csv"])
    assert sorted(os.listdir(out)) == [MANIFEST_NAME, "results.csv", "results.json", "sub"]


def test_every_format_exports_a_video_whose_name_is_not_utf8(tmp_path: Path) -> None:
    video = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.mp4")  # Python: "caf\udce9.mp4"
    write_video(video, pattern_frames(75), audio=tone(3.0))
    assert "\udce9" in video and os.path.isfile(video)
    hit = make_hit(video, 1, 0.0, (0.4, 1.6), (0.6, 1.2), clip_id="caf\udce9.mp4#0")
    hit = replace(hit, text="au caf\udce9")
    result = SearchResult("take a walk", "text", "seed1", [hit])
    out = tmp_path / "export"
    written = export_results(result, out, EXPORT_FORMATS, {hit.clip_id: np.random.default_rng(3).random((2, 50))})
    assert [p.name for p in written] == ["001_caf_.mp4_0.mp4", "001_caf_.mp4_0.png", "001_caf_.mp4_0.pose.npz",
                                         "001_caf_.mp4_0.pose.json", "001_caf_.mp4_0.pose.mp4", "results.json",
                                         "results.csv", "caf.eaf", "caf.vtt"]  # fmt: skip

    assert json.loads((out / "results.json").read_text(encoding="utf-8"))["hits"][0]["video_path"] == video  # lossless
    with (out / "results.csv").open(newline="", encoding="utf-8") as f:
        (row,) = csv.DictReader(f)
    assert row["video_path"].endswith("/caf\\xe9.mp4") and row["clip_id"] == "caf\\xe9.mp4#0"
    eaf = pympi.Elan.Eaf(str(out / "caf.eaf"))
    (media,) = eaf.media_descriptors
    assert media["MEDIA_URL"] == Path(video).absolute().as_uri() and media["MEDIA_URL"].endswith("/caf%E9.mp4")
    assert urllib.parse.unquote_to_bytes(media["RELATIVE_MEDIA_URL"]) == b"../caf\xe9.mp4"
    assert (out / "caf.vtt").read_text(encoding="utf-8").startswith("WEBVTT")
    frames, audio = decode(out / "001_caf_.mp4_0.mp4")
    assert abs(len(frames) - 30) <= 1 and audio is not None

    page = write_report([ReportQuery(result, {hit.clip_id: out / "001_caf_.mp4_0.png"})], tmp_path / "report" / "index.html")
    text = page.read_text(encoding="utf-8")
    assert 'src="../caf%E9.mp4#t=0.40,1.60"' in text and "caf\\xe9.mp4" in text


def test_the_registry_lists_the_seven_formats_and_each_is_an_exporter() -> None:
    assert EXPORT_FORMATS == tuple(EXPORTERS) == ("json", "csv", "vtt", "eaf", "mp4", "heatmap", "pose")
    assert DEFAULT_EXPORTS == ("json", "mp4", "heatmap")
    interface = list(inspect.signature(Exporter.write).parameters)
    for name, exporter in EXPORTERS.items():
        assert isinstance(exporter, Exporter) and exporter.name == name
        assert isinstance(exporter.order, int) and isinstance(exporter.per_hit, bool)
        assert list(inspect.signature(type(exporter).write).parameters) == interface
