"""The torch-free text path (cold text queries): checkpoints read without torch, and the numpy
encoder gives the torch path's content embeddings (and the official goldens)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from gestsearch.assets import bundled_model
from gestsearch.config import Settings
from gestsearch.errors import CheckpointError, ModelInputError
from gestsearch.models.checkpoint import UnsupportedCheckpoint, read_arrays, read_checkpoint
from gestsearch.models.numpy_text import NumpyTextEncoder

S1 = "the quick brown fox jumps over the lazy dog"
PHRASES = [S1.split(), ["we", "counted", "42", "red", "balloons"], ["Ünïcödé", "stop"], ["wave"]]


def _as_numpy(state: dict) -> dict[str, np.ndarray]:
    return {k.removeprefix("module."): (v.float() if v.is_floating_point() else v).numpy() for k, v in state.items()}


@pytest.fixture(scope="module")
def seeded_settings(seeded_checkpoints) -> Settings:
    return Settings(gestsync=seeded_checkpoints["gestsync"], jegal=seeded_checkpoints["jegal"], text_model=str(seeded_checkpoints["text"]))


@pytest.mark.parametrize("which", ["bundled", "seeded"])
def test_read_arrays_equals_torch_load(which, seeded_checkpoints):
    paths = bundled_model()[:2] if which == "bundled" else (seeded_checkpoints["gestsync"], seeded_checkpoints["jegal"])
    for path in paths:
        arrays, extra = read_arrays(path)
        expected = _as_numpy(read_checkpoint(path)["state_dict"])
        assert arrays.keys() == expected.keys()
        for key, value in expected.items():
            assert arrays[key].dtype == value.dtype and np.array_equal(arrays[key], value), key
        assert ("gestsearch" in extra) == (which == "bundled")


def test_read_arrays_reads_only_what_is_wanted_and_converts_bfloat16(tmp_path):
    state = {"module.a": torch.randn(3, 4).bfloat16(), "module.b": torch.arange(6).reshape(2, 3).T, "module.c": torch.ones(2)}
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "x.pth")
    arrays, extra = read_arrays(tmp_path / "x.pth", lambda key: key != "c")
    assert sorted(arrays) == ["a", "b"] and extra == {"epoch": 3}
    assert np.array_equal(arrays["a"], state["module.a"].float().numpy())
    assert np.array_equal(arrays["b"], state["module.b"].numpy())  # a transposed (strided) tensor


@pytest.mark.parametrize("case", ["not-zip", "truncated", "pickled-code", "no-state-dict", "missing"])
def test_read_arrays_refuses_what_it_cannot_read(case, tmp_path):
    path = tmp_path / "bad.pth"
    if case == "not-zip":
        path.write_bytes(b"not a checkpoint")
    elif case == "truncated":
        path.write_bytes(bundled_model()[0].read_bytes()[:5000])
    elif case == "pickled-code":
        torch.save({"state_dict": {"w": torch.ones(1)}, "extra": zipfile.ZipInfo("x")}, path)
    elif case == "no-state-dict":
        torch.save({"weights": {"w": torch.ones(1)}}, path)
    expected = CheckpointError if case in ("missing", "no-state-dict") else UnsupportedCheckpoint
    with pytest.raises(expected) as info:
        read_arrays(path)
    if case in ("missing", "no-state-dict"):
        assert not isinstance(info.value, UnsupportedCheckpoint)


def test_bundled_model_matches_the_torch_embedder(embedder_for_bundled):
    numpy_encoder = NumpyTextEncoder.from_settings(Settings())
    assert numpy_encoder.info == embedder_for_bundled.info
    for words in PHRASES:
        words = [w for w in words if w not in numpy_encoder.tokenizer.unknown(words)]
        np.testing.assert_allclose(numpy_encoder.content(words), embedder_for_bundled.content(words, modalities="t"), rtol=0, atol=1e-6)


def test_seeded_paper_size_heads_match_the_goldens(seeded_settings, golden, golden_tolerance, jegal_model):
    encoder = NumpyTextEncoder.from_settings(seeded_settings)
    tokens = encoder.tokenizer.batch([S1.split()])
    for name, mine in (
        ("tx1_roberta", encoder.backbone(tokens.ids[0])[None]),
        ("tx1_content", encoder.embed(S1.split())[None]),
        ("tx3_content", encoder.embed(PHRASES[1])[None]),
    ):
        assert np.abs(mine - golden[name]).max() <= golden_tolerance[name], name
    for words in PHRASES:
        expected = jegal_model.embed_content(words=words).cpu().numpy()
        np.testing.assert_allclose(encoder.embed(words), expected, rtol=0, atol=1e-5)


def test_text_only(seeded_settings):
    encoder = NumpyTextEncoder.from_settings(seeded_settings)
    with pytest.raises(ModelInputError, match="text only"):
        encoder.content(["a"], np.zeros(16000, np.float32), [["a", 0, 3]], modalities="ta")
    with pytest.raises(ModelInputError, match="GestSync"):
        encoder.gestures([])
    with pytest.raises(ModelInputError, match="non-empty"):
        encoder.content(["two words"])


def test_a_downloaded_hub_model_is_found_in_the_hub_cache(seeded_settings, seeded_checkpoints, tmp_path, monkeypatch):
    repo = tmp_path / "hub" / "models--someone--tiny-xlmr"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for f in Path(seeded_checkpoints["text"]).iterdir():
        (snapshot / f.name).write_bytes(f.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    hub = Settings(gestsync=seeded_settings.gestsync, jegal=seeded_settings.jegal, text_model="someone/tiny-xlmr")
    words = S1.split()
    np.testing.assert_array_equal(NumpyTextEncoder.from_settings(hub).embed(words), NumpyTextEncoder.from_settings(seeded_settings).embed(words))


def test_files_it_does_not_read_are_left_to_torch(seeded_checkpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    hub = Settings(gestsync=seeded_checkpoints["gestsync"], jegal=seeded_checkpoints["jegal"], text_model="FacebookAI/xlm-roberta-base")
    with pytest.raises(UnsupportedCheckpoint, match="not downloaded"):
        NumpyTextEncoder.from_settings(hub)
    bin_only = tmp_path / "bin_only"
    bin_only.mkdir()
    for f in Path(seeded_checkpoints["text"]).iterdir():
        if f.suffix != ".safetensors":
            (bin_only / f.name).write_bytes(f.read_bytes())
    with pytest.raises(UnsupportedCheckpoint):
        NumpyTextEncoder.from_settings(Settings(gestsync=hub.gestsync, jegal=hub.jegal, text_model=str(bin_only)))
    missing = Settings(gestsync=tmp_path / "none.pth", jegal=hub.jegal, text_model=str(seeded_checkpoints["text"]))
    with pytest.raises(CheckpointError, match="not found") as info:
        NumpyTextEncoder.from_settings(missing)
    assert not isinstance(info.value, UnsupportedCheckpoint)


def test_loads_without_torch():
    code = (
        "import sys\n"
        "from gestsearch.config import Settings\n"
        "from gestsearch.models.numpy_text import NumpyTextEncoder\n"
        "NumpyTextEncoder.from_settings(Settings()).content(['stop', 'the'])\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "False"


@pytest.fixture(scope="module")
def embedder_for_bundled():
    from gestsearch.embedding import Embedder

    return Embedder.from_settings(Settings(), gestsync_now=False)


def test_file_digests_are_remembered_until_the_file_changes(tmp_path, monkeypatch):
    from gestsearch.models import identity

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"a" * 1000)
    hashed = []
    monkeypatch.setattr(identity, "file_sha256", lambda p: hashed.append(p) or f"digest-{Path(p).read_bytes()[:1]}")
    assert identity.file_digest(weights) == identity.file_digest(weights) == "digest-b'a'"
    assert len(hashed) == 1  # the second call, as a later process would, read the cache
    weights.write_bytes(b"b" * 1000)  # same size, new contents and modification time
    assert identity.file_digest(weights) == "digest-b'b'" and len(hashed) == 2
    (tmp_path / "cache" / "gestsearch" / identity.DIGESTS_FILE).write_text("{not json")
    assert identity.file_digest(weights) == "digest-b'b'" and len(hashed) == 3  # a damaged cache is a miss
