"""`gestsearch eval avs-asd`: active speaker detection with known outcomes.

On vectors: a gallery built so that each row's result follows from orthonormal directions.
On media: the JEGAL samples laid out as AVS-Asd crops, where pairs of rows with the same words
and swapped clips make the accuracy known whatever the model (see :func:`asd_media`).
"""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from gestsearch.errors import EvalError
from gestsearch.eval.avs import Gallery, evaluate_asd, score_asd
from gestsearch.media.manifest import ManifestRow, read_manifest
from gestsearch.media.sidecars import load_transcript_file

runner = CliRunner()
ASD_HEADER = ["video_id", "start_time", "end_time", "filename", "phrase", "word_boundaries", "neg_files", "num_frames"]


# --- scoring on vectors ---------------------------------------------------------------


def asd_row(name: str, negatives: list[str]) -> ManifestRow:
    return ManifestRow(name, 1.0, 3.0, name, "say it", [("say", 0, 5), ("it", 6, 9)], neg_files=tuple(negatives))


@pytest.fixture(scope="module")
def gallery() -> Gallery:
    """Rows r0…r7 with gestures and words along orthonormal directions b, u, m, v:

    - r0: words = its own gesture → right with every P;
    - r1: words = the gesture of its first negative → wrong;
    - r2: words 0.6·own + 0.8·(its 3rd negative r0) → right with 2 people, wrong with 4 and 6;
    - r3: words u1, u2, each one of its six frames (pooled cosine 0.577); its first negative r4
      lies along their mean (pooled 0.7, word coupling 0.495): wrong by pooled cosine, right once
      coupling counts (weight 0.5: 0.789 against 0.597);
    - r4: words = its own gesture → right;
    - r5: its first negative r6 has the very same gesture → a tie, counted wrong;
    - r6: right, but its 4th negative has no media → not evaluated with 6 people;
    - r7: its first negative is not in the manifest → never evaluated;
    - "gone": no media → never evaluated.
    """
    basis = np.linalg.qr(np.random.default_rng(0).standard_normal((512, 16)))[0].T.astype(np.float32)
    b, u, v = basis[:8], basis[8:14], basis[14]
    mean_u12 = (u[0] + u[1]) / np.sqrt(2)
    g4 = 0.7 * mean_u12 + np.sqrt(1 - 0.49) * v
    spec = {  # name: (negatives, gesture frames, word vectors)
        "r0": (["r1", "r2", "r3", "r4", "r6"], [b[0]] * 3, [b[0]] * 2),
        "r1": (["r2", "r0", "r3", "r4", "r5"], [b[1]] * 3, [b[2]]),
        "r2": (["r1", "r3", "r0", "r4", "r5"], [b[2]] * 3, [0.6 * b[2] + 0.8 * b[0]]),
        "r3": (["r4", "r0", "r1", "r2", "r5"], list(u), [u[0], u[1]]),
        "r4": (["r0", "r1", "r2", "r5", "r6"], [g4], [g4]),
        "r5": (["r6", "r0", "r1", "r2", "r3"], [b[5]] * 3, [b[5]]),
        "r6": (["r0", "r1", "r2", "gone", "r3"], [b[5]] * 3, [b[5]]),
        "r7": (["stranger", "r0", "r1", "r2", "r3"], [b[7]] * 3, [b[7]]),
    }
    rows = [asd_row(name, negatives) for name, (negatives, _, _) in spec.items()]
    return Gallery(
        rows=rows, missing=["gone"], missing_reasons={"gone": "no media file"}, clip_ids=list(range(len(rows))),
        gestures=[np.stack(frames) for _, frames, _ in spec.values()],
        content=[np.stack(words) for _, _, words in spec.values()],
    )


def test_asd_accuracy_is_known_per_people_and_protocol(gallery: Gallery) -> None:
    people, per_clip = score_asd(gallery, coupling_weight=0.5)
    summary = [(r.people, r.n_evaluated, r.official_correct, r.engine_correct, r.official_ties, r.engine_ties)
               for r in people]
    assert summary == [(2, 7, 4, 5, 1, 1), (4, 7, 3, 4, 1, 1), (6, 6, 2, 3, 1, 1)]
    assert [r.official for r in people] == pytest.approx([400 / 7, 300 / 7, 200 / 6])
    assert [r.engine for r in people] == pytest.approx([500 / 7, 400 / 7, 300 / 6])
    by_name = {clip["filename"]: clip for clip in per_clip}
    assert by_name["r2"]["correct"] == {p: {"official": p == 2, "engine": p == 2} for p in (2, 4, 6)}
    assert by_name["r3"]["correct"][6] == {"official": False, "engine": True}
    assert by_name["r3"]["official_scores"][:2] == pytest.approx([2 / np.sqrt(12), 0.7], abs=1e-5)
    assert by_name["r6"]["candidates"] == ["r6", "r0", "r1", "r2"] and 6 not in by_name["r6"]["correct"]


def test_asd_reports_every_row_it_does_not_evaluate(gallery: Gallery) -> None:
    people, _ = score_asd(gallery)
    never = {"gone": "no media file", "r7": "negative stranger: not a row of the manifest"}
    assert people[0].dropped == never and people[1].dropped == never
    assert people[2].dropped == {**never, "r6": "negative gone: no media file"}
    short = Gallery(rows=[asd_row("a", ["b"]), asd_row("b", ["a", "c"])], missing=[], missing_reasons={},
                    clip_ids=[0, 1], gestures=[np.eye(512, dtype=np.float32)[:2]] * 2,
                    content=[np.eye(512, dtype=np.float32)[:1]] * 2)
    people, _ = score_asd(short)
    assert people[0].n_evaluated == 2
    assert people[1].dropped == {"a": "only 1 negative(s) listed", "b": "negative c: not a row of the manifest"}
    assert people[1].n_evaluated == 0 and people[1].official is None


# --- manifests ------------------------------------------------------------------------


def test_read_asd_manifest(shared_data) -> None:
    rows = read_manifest(shared_data / "avs" / "avs_asd.csv")  # auto-detected as AVS-Asd
    assert len(rows) == 500 and all(len(r.neg_files) == 5 for r in rows)
    first = rows[0]
    assert first.filename == "oVKqGic31f8_121.320000-124.200000/00000" and first.num_frames == 73
    assert first.neg_files[:2] == ("zA8_hWE9Qrs_241.246000-244.086000/00000", "Fnl7SI2KlbM_115.040000-117.920000/00001")
    assert set(first.extra) == {"score", "correct_2spk", "correct_4spk", "correct_6spk"}
    names = {r.filename for r in rows}
    assert all(n in names for r in rows for n in r.neg_files)  # the negatives are rows of the same manifest


@pytest.mark.parametrize(("neg_files", "message"), [
    ("", "neg_files is not a Python literal"),
    ("[]", "expected a non-empty list of filenames"),
    ("['b/00000', 3]", "expected a non-empty list of filenames"),
    ("['a/00000']", "lists the row's own clip a/00000"),
])  # fmt: skip
def test_broken_asd_manifest_rows(tmp_path, neg_files: str, message: str) -> None:
    path = tmp_path / "asd.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([ASD_HEADER, ["a", "1", "3", "a/00000", "hi", "[['hi', 0, 5]]", neg_files, "50"]])
    with pytest.raises(EvalError, match=message):
        read_manifest(path, kind="asd")


# --- media, end to end ----------------------------------------------------------------

A, B = "AAAAAAAAAA1_10.000000-13.000000/00000", "BBBBBBBBBB2_10.000000-13.000000/00000"
A_COPY, B_COPY = "AAAAAAAAAA3_10.000000-13.000000/00000", "BBBBBBBBBB4_10.000000-13.000000/00000"
GONE = "CCCCCCCCCC5_1.000000-4.000000/00000"


@pytest.fixture(scope="module")
def asd_media(shared_data, tmp_path_factory):
    """Crops ROOT/<filename>.avi + .wav of the two JEGAL samples (A, B) and byte copies of them,
    and an AVS-Asd manifest whose outcome with 2 people is known for any model (text content,
    which depends on the words only):

    - A (negative B) and B (negative A) say the same words: the two compare the same two
      scores the other way round, so exactly one of them is right;
    - A_COPY's negative is A, the same frames: a tie, counted wrong;
    - B_COPY's negative GONE has no media, and GONE is not evaluated either.

    Each row lists one negative, so none is evaluated with 4 or 6 people. Known: 1 of 3 right.
    """
    root = tmp_path_factory.mktemp("asd_media")
    samples = shared_data / "jegal_samples"
    for filename, sample in ((A, "sample1"), (A_COPY, "sample1"), (B, "sample2"), (B_COPY, "sample2")):
        (root / filename).parent.mkdir(parents=True)
        for suffix in (".avi", ".wav"):
            shutil.copy(samples / f"{sample}{suffix}", root / f"{filename}{suffix}")
    bounds = [[w, s, e] for w, s, e in load_transcript_file(samples / "sample1.txt").boundaries()]
    phrase = " ".join(w for w, _, _ in bounds)
    rows = [(A, [B]), (B, [A]), (A_COPY, [A]), (B_COPY, [GONE]), (GONE, [A])]
    path = root / "avs_asd.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(ASD_HEADER)
        for filename, negatives in rows:
            video_id, start_end = filename.split("/")[0].split("_")
            start, end = start_end.split("-")
            writer.writerow([video_id, start, end, filename, phrase, str(bounds), str(negatives), "75"])
    return root, path


@pytest.fixture(scope="module")
def model_args(seeded_checkpoints) -> list[str]:
    return ["--gestsync", str(seeded_checkpoints["gestsync"]), "--jegal", str(seeded_checkpoints["jegal"]),
            "--text-model", str(seeded_checkpoints["text"])]


@pytest.mark.slow
def test_avs_asd_on_media_then_cli_json(asd_media, embedder, model_args, tmp_path) -> None:
    root, path = asd_media
    db = tmp_path / "db"
    report = evaluate_asd(path, root, embedder, "t", db)
    assert (report.n_manifest, report.n_evaluated, report.missing) == (5, 4, [GONE])
    two, four, six = report.people
    assert (two.people, two.n_evaluated, two.official_correct, two.engine_correct) == (2, 3, 1, 1)
    assert two.official_ties == 1 and two.engine_ties == 1
    assert two.dropped == {GONE: "no media file", B_COPY: f"negative {GONE}: no media file"}
    assert four.n_evaluated == six.n_evaluated == 0 and four.official is None
    assert six.dropped[A] == "only 1 negative(s) listed"
    assert report.overall("official") == pytest.approx(100 / 3) and "only 0 clips" in report.caveat

    result = runner.invoke(app, ["eval", "avs-asd", "--csv", str(path), "--media", str(root), "--modalities", "t",
                                 "--db", str(db), "--json", *model_args])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["overall"]["official"] == pytest.approx(100 / 3) and data["n_manifest"] == 5
    assert [(p["people"], p["n_evaluated"]) for p in data["people"]] == [(2, 3), (4, 0), (6, 0)]
    assert data["people"][0]["dropped"][B_COPY] == f"negative {GONE}: no media file"
    assert data["people"][0]["official"] == data["people"][0]["official_correct"] * 100 / 3

    result = runner.invoke(app, ["eval", "avs-asd", "--csv", str(path), "--media", str(root), "--modalities", "t",
                                 "--db", str(db), *model_args])
    assert result.exit_code == 0, result.output
    assert "AVS-Asd" in result.stdout and "1 of 5 clips were left out" in result.stdout
    assert "4 clips with media were not evaluated with 6 people" in result.stdout
    assert "tied with a negative" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(("case", "message"), [
    ("no_csv", "cannot read the manifest"),
    ("ret_csv", "not an AVS-asd manifest, missing column(s) neg_files"),
    ("no_root", "the media root is not a folder"),
])  # fmt: skip
def test_avs_asd_bad_input_is_one_line(case: str, message: str, asd_media, model_args, tmp_path) -> None:
    root, path = asd_media
    if case == "no_csv":
        path = tmp_path / "nope.csv"
    elif case == "ret_csv":
        path = tmp_path / "avs_ret.csv"
        with open(asd_media[1], newline="") as f:
            rows = [row[:6] for row in csv.reader(f)]
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows(rows)
    else:
        root = tmp_path / "missing"
    result = runner.invoke(app, ["eval", "avs-asd", "--csv", str(path), "--media", str(root), *model_args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
