"""`gestsearch eval` on a small AVS-format fixture built from the shared JEGAL samples."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from typer.testing import CliRunner

from cli.main import app
from gestsearch.eval.avs import evaluate_retrieval, evaluate_spotting
from gestsearch.media import load_audio
from gestsearch.media.encode import write_audio
from gestsearch.media.sidecars import load_transcript_file

pytestmark = pytest.mark.slow  # models, real media or a whole pipeline: see `make test-fast`

runner = CliRunner()
RET_HEADER = ["video_id", "start_time", "end_time", "filename", "phrase", "word_boundaries"]
SPOT_HEADER = ["video_id", "start_time", "end_time", "filename", "num_frames", "phrase", "target_word",
               "target_word_boundary", "word_boundaries", "stress_label", "lighting", "speaker_pose"]


@pytest.fixture(scope="module")
def avs(shared_data, tmp_path_factory):
    """ROOT/ID_START-END/00000.avi + .wav as the official tooling lays them out, plus manifests
    with one extra row whose media is missing (a video gone from YouTube)."""
    root = tmp_path_factory.mktemp("avs_media")
    ret_rows, spot_rows = [], []
    for name, vid in (("sample1", "AAAAAAAAAA1"), ("sample2", "BBBBBBBBBB2")):
        src = shared_data / "jegal_samples" / name
        transcript = load_transcript_file(src.with_suffix(".txt"))
        bounds = [[w, s, e] for w, s, e in transcript.boundaries()]
        filename = f"{vid}_10.000000-13.000000/00000"
        (root / filename).parent.mkdir(parents=True)
        shutil.copy(src.with_suffix(".avi"), root / f"{filename}.avi")
        shutil.copy(src.with_suffix(".wav"), root / f"{filename}.wav")
        phrase = " ".join(w for w, _, _ in bounds)
        ret_rows.append([vid, "10.0", "13.0", filename, phrase, str(bounds)])
        target = bounds[2]
        spot_rows.append([vid, "10.0", "13.0", filename, "56", phrase, target[0], str(target), str(bounds), "0", "medium", "frontal"])
    gone = ["CCCCCCCCCC3", "1.0", "4.0", "CCCCCCCCCC3_1.000000-4.000000/00000", "hello there", "[['hello', 0, 5], ['there', 6, 12]]"]
    ret_rows.append(gone)
    spot_rows.append([*gone[:4], "75", gone[4], "hello", "['hello', 0, 5]", gone[5], "0", "medium", "frontal"])
    ret_csv, spot_csv = root / "avs_ret.csv", root / "avs_spot.csv"
    for path, header, rows in ((ret_csv, RET_HEADER, ret_rows), (spot_csv, SPOT_HEADER, spot_rows)):
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    return root, ret_csv, spot_csv


@pytest.fixture(scope="module")
def model_args(seeded_checkpoints) -> list[str]:
    return ["--gestsync", str(seeded_checkpoints["gestsync"]), "--jegal", str(seeded_checkpoints["jegal"]),
            "--text-model", str(seeded_checkpoints["text"])]


def test_avs_ret_cli(avs, model_args, tmp_path):
    root, ret_csv, _ = avs
    ranks = tmp_path / "ranks.csv"
    result = runner.invoke(app, ["eval", "avs-ret", "--csv", str(ret_csv), "--media", str(root), "--json",
                                 "--ranks-csv", str(ranks), *model_args])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_evaluated"] == 2 and report["n_manifest"] == 3
    assert report["missing"] == ["CCCCCCCCCC3_1.000000-4.000000/00000"]
    for protocol, ks in (("official", ["R@5", "R@10", "R@25", "R@50", "MR"]), ("engine", ["R@1", "R@5", "MR"])):
        for direction in ("S→G", "G→S"):
            assert set(ks) <= set(report[protocol][direction])
    # with 2 clips every true pair is within the top 5
    assert report["official"]["S→G"]["R@5"] == 100.0 and report["engine"]["S→G"]["R@5"] == 100.0
    with open(ranks, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {"official_s2g", "engine_s2g", "official_g2s", "engine_g2s"} <= set(rows[0])


def test_eval_caches_embeddings(avs, embedder, tmp_path, monkeypatch):
    root, ret_csv, spot_csv = avs
    db = tmp_path / "db"
    first = evaluate_retrieval(ret_csv, root, embedder, "ta", db)

    def no_model_time(*a, **k):
        raise AssertionError("the model ran although the embeddings are cached")

    monkeypatch.setattr(embedder, "gestures", no_model_time)
    monkeypatch.setattr(embedder, "content", no_model_time)
    again = evaluate_retrieval(ret_csv, root, embedder, "ta", db, candidates=1, coupling_weight=0.9)
    assert again.official == first.official and again.n_evaluated == 2


def test_avs_spot(avs, embedder, model_args):
    root, _, spot_csv = avs
    report = evaluate_spotting(spot_csv, root, embedder, "t")
    assert report.n_evaluated == 2 and len(report.missing) == 1
    assert 0.0 <= report.accuracy <= 100.0
    clip = report.per_clip[0]
    assert clip["target"] == "numbers" and 0 <= clip["peak_frame"] < 56 and 0 <= clip["score"] <= 1
    result = runner.invoke(app, ["eval", "avs-spot", "--csv", str(spot_csv), "--media", str(root), "--modalities", "t", *model_args])
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.stdout and "N = 2 of 3" in result.stdout


@pytest.mark.parametrize("case, message", [
    ("not_avs", "not_avs.csv"),
    ("empty_root", "none of the 3 clips has its media here"),
    ("bad_modalities", "--modalities must be one of"),
])
def test_eval_bad_input(case, message, avs, model_args, tmp_path):
    root, ret_csv, _ = avs
    csv_path, media = ret_csv, root
    extra = []
    if case == "not_avs":
        csv_path = tmp_path / "not_avs.csv"
        csv_path.write_text("name,age\nbob,3\n")
    elif case == "empty_root":
        media = tmp_path / "empty"
        media.mkdir()
    else:
        extra = ["--modalities", "xy"]
    result = runner.invoke(app, ["eval", "avs-ret", "--csv", str(csv_path), "--media", str(media), *extra, *model_args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_partial_media_is_listed_flagged_and_caveated(avs, embedder, tmp_path):
    """A row whose audio ends before its words is left out with its file and reason (the run goes
    on); a clip whose video is not as long as the manifest says is flagged; few clips, a caveat."""
    root, ret_csv, _ = avs
    media = tmp_path / "media"
    shutil.copytree(root, media)
    with open(ret_csv, newline="") as f:
        rows = list(csv.reader(f))
    short = rows[1][:]
    short[0], short[3] = "DDDDDDDDDD4", "DDDDDDDDDD4_10.000000-13.000000/00000"
    (media / short[3]).parent.mkdir(parents=True)
    shutil.copy(media / f"{rows[1][3]}.avi", media / f"{short[3]}.avi")
    samples = load_audio(media / f"{rows[1][3]}.wav")
    write_audio(media / f"{short[3]}.wav", samples[: len(samples) // 4])  # the speech stops early
    manifest = tmp_path / "avs_ret.csv"
    with open(manifest, "w", newline="") as f:
        csv.writer(f).writerows([*rows, short])
    report = evaluate_retrieval(manifest, media, embedder, "ta", db=tmp_path / "db")
    assert report.n_evaluated == 2 and report.n_manifest == 4
    assert short[3] in report.missing and "lies outside the audio" in report.missing_reasons[short[3]]
    assert f"{short[3]}.wav" in report.missing_reasons[short[3]]  # names the file
    assert report.flagged[rows[1][3]] == "the video has 56 frames, the manifest says 75"
    assert report.caveat and "fewer than 30" in report.caveat and report.to_dict()["caveat"] == report.caveat
