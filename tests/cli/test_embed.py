"""`gestsearch embed` (the official inference script's job) and its argument errors."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app

pytestmark = pytest.mark.slow  # models, real media or a whole pipeline: see `make test-fast`

runner = CliRunner()


@pytest.fixture(scope="module")
def args(seeded_checkpoints) -> list[str]:
    return ["--gestsync", str(seeded_checkpoints["gestsync"]), "--jegal", str(seeded_checkpoints["jegal"]),
            "--text-model", str(seeded_checkpoints["text"])]


def test_embed_vta(shared_data, args, tmp_path, embedder):
    s = shared_data / "jegal_samples"
    out = tmp_path / "sample1.npz"
    result = runner.invoke(app, ["embed", "--video", str(s / "sample1.avi"), "--audio", str(s / "sample1.wav"),
                                 "--transcript", str(s / "sample1.txt"), "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    data = np.load(out)
    assert data["gesture_emb"].shape == (56, 512) and data["content_emb"].shape == (8, 512)
    np.testing.assert_allclose(np.linalg.norm(data["gesture_emb"], axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(data["content_emb"], axis=1), 1, atol=1e-5)
    assert list(data["words"]) == ["amount", "of", "numbers", "inside", "the", "hat", "mixing", "the"]
    assert data["word_boundaries"][0].tolist() == [1, 6]
    # the text-only mode differs from text+audio, and matches the library call
    out_t = tmp_path / "t.npz"
    result = runner.invoke(app, ["embed", "--transcript", str(s / "sample1.txt"), "--modalities", "t", "--out", str(out_t), *args])
    assert result.exit_code == 0, result.output
    text_only = np.load(out_t)["content_emb"]
    np.testing.assert_allclose(text_only, embedder.content(list(data["words"]), modalities="t"), atol=1e-6)
    assert not np.allclose(text_only, data["content_emb"])


@pytest.mark.parametrize(
    "case, message",
    [
        ("bad_modalities", "--modalities must be one of"),
        ("v_without_video", "modality 'v' needs --video"),
        ("a_without_audio", "modality 'a' needs --audio"),
        ("t_without_transcript", "need --transcript"),
        ("unreadable_transcript", "not UTF-8"),
        ("missing_transcript", "transcript file not found"),
        ("missing_checkpoint", "checkpoint file not found"),
        ("garbage_checkpoint", "not a readable PyTorch checkpoint"),
        ("swapped_checkpoints", "does not fit GestSync"),
        ("only_one_checkpoint", "give both --gestsync and --jegal"),
    ],
)
def test_embed_errors_are_one_line(case, message, shared_data, args, seeded_checkpoints, tmp_path):
    s = shared_data / "jegal_samples"
    out = ["--out", str(tmp_path / "x.npz")]
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"Text: \xff\xfe broken\n")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00" * 1000)
    gs, jg, tm = args[1], args[3], args[5]
    cmd = {
        "bad_modalities": ["--video", str(s / "sample1.avi"), "--modalities", "xyz", *args],
        "v_without_video": ["--transcript", str(s / "sample1.txt"), "--modalities", "vt", *args],
        "a_without_audio": ["--transcript", str(s / "sample1.txt"), "--modalities", "a", *args],
        "t_without_transcript": ["--audio", str(s / "sample1.wav"), "--modalities", "ta", *args],
        "unreadable_transcript": ["--transcript", str(bad), "--modalities", "t", *args],
        "missing_transcript": ["--transcript", str(tmp_path / "none.txt"), "--modalities", "t", *args],
        "missing_checkpoint": ["--video", str(s / "sample1.avi"), "--modalities", "v", "--gestsync", str(tmp_path / "no.pth"), "--jegal", jg, "--text-model", tm],
        "garbage_checkpoint": ["--video", str(s / "sample1.avi"), "--modalities", "v", "--gestsync", str(garbage), "--jegal", jg, "--text-model", tm],
        "swapped_checkpoints": ["--video", str(s / "sample1.avi"), "--modalities", "v", "--gestsync", jg, "--jegal", gs, "--text-model", tm],
        "only_one_checkpoint": ["--video", str(s / "sample1.avi"), "--modalities", "v", "--gestsync", gs],
    }[case]
    result = runner.invoke(app, ["embed", *cmd, *out])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.npz").exists()
