"""GestSync and JEGAL reproduce the official code's numbers (../shared/reference goldens)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gestsearch.errors import CheckpointError, ModelInputError
from gestsearch.features import log_mel, mel_basis
from gestsearch.models import GESTSYNC_KEYS, JEGAL_KEYS, GestSync, load_gestsync, load_jegal, save_gestsync, save_jegal

S1 = "the quick brown fox jumps over the lazy dog"
WB_S1 = [["the", 3, 6], ["quick", 7, 14], ["brown", 15, 21], ["fox", 22, 27], ["jumps", 28, 36],
         ["over", 37, 43], ["the", 44, 46], ["lazy", 47, 55], ["dog", 56, 66]]


@pytest.fixture
def close(golden, golden_tolerance):
    def check(name: str, mine, rows=slice(None)):
        ref = golden[name][rows]
        mine = np.asarray(torch.as_tensor(mine).detach().cpu(), dtype=np.float64)
        assert mine.shape == ref.shape, (name, mine.shape, ref.shape)
        err = np.abs(mine - ref).max()
        assert err <= golden_tolerance[name], f"{name}: max abs error {err:.3g} > {golden_tolerance[name]}"

    return check


def frames_from(src: np.ndarray) -> torch.Tensor:
    """The goldens' frame recipe: 10× pixel repeat, rows 0..110 black, /255."""
    up = torch.from_numpy(src).repeat_interleave(10, dim=-3).repeat_interleave(10, dim=-2)
    up[..., :111, :, :] = 0
    return (up.double() / 255).float()


# -- GestSync ---------------------------------------------------------------------------
@pytest.mark.slow
def test_gestsync_windows(gestsync_model, golden, close):
    clips = frames_from(golden["gs_windows_src_u8"]).permute(0, 4, 1, 2, 3).to(gestsync_model.device)
    with torch.no_grad():
        close("gs_windows_conv", gestsync_model.trunk(clips))
        close("gs_windows_out", gestsync_model(clips))


@pytest.mark.slow
@pytest.mark.parametrize("chunk", [64, 7])
def test_gestsync_frame_features_shared_trunk(gestsync_model, golden, close, chunk):
    frames = frames_from(golden["gs_clip_src_u8"])
    close("gs_clip_feats", gestsync_model.frame_features(frames, chunk_frames=chunk))


@pytest.mark.slow
def test_shared_trunk_equals_per_window_procedure(gestsync_model, golden):
    frames = frames_from(golden["gs_clip_src_u8"])[:6]
    shared = gestsync_model.frame_features(frames)
    per_window = gestsync_model.frame_features_per_window(frames)
    assert shared.shape == (6, 1024)
    torch.testing.assert_close(shared, per_window, atol=2.5e-5, rtol=0)


@pytest.mark.slow
def test_stream_features_any_chunking(gestsync_model, golden):
    frames = frames_from(golden["gs_clip_src_u8"])[:13]
    whole = gestsync_model.frame_features(frames)
    sizes = [1, 2, 4, 6]  # ragged chunks, some shorter than the trunk's 5-frame kernel
    chunks, i = [], 0
    for n in sizes:
        chunks.append(frames[i : i + n])
        i += n
    parts = list(gestsync_model.stream_features(iter(chunks)))
    torch.testing.assert_close(torch.cat(parts), whole, atol=1e-5, rtol=0)
    one = gestsync_model.frame_features(frames[:1])
    assert one.shape == (1, 1024)


@pytest.mark.parametrize(("n_frames", "chunk"), [(1, 64), (30, 7), (30, 64)])
def test_edge_padding_steps_are_computed_once(n_frames, chunk):
    """The padded ends' steps that see five copies of one frame run through the trunk once each,
    and the features still equal the released per-window procedure."""
    from gestsearch.models.config import TINY
    from gestsearch.models.gestsync import FRAME_SHAPE, Kernels

    torch.manual_seed(0)
    model = GestSync(TINY.gestsync).eval()
    frames = torch.rand(n_frames, *FRAME_SHAPE)
    computed = []

    def counted_steps(x: torch.Tensor) -> torch.Tensor:
        steps = model.trunk_steps(x)
        computed.append(steps.shape[1])
        return steps

    kernels = Kernels(counted_steps, model.window_means)
    shared = model.frame_features(frames, chunk_frames=chunk, kernels=kernels)
    assert sum(computed) == n_frames + 4  # T + 20 steps in all, 16 of them repeats
    torch.testing.assert_close(shared, model.frame_features_per_window(frames), atol=2e-5, rtol=0)


# -- JEGAL gestures ----------------------------------------------------------------------
def test_jegal_gestures(jegal_model, golden, close):
    feats = torch.from_numpy(golden["gs_clip_feats"]).to(jegal_model.device)
    out = jegal_model.embed_gestures(feats)
    close("jg_gesture_out", out[None])
    close("jg_gesture_out_l2", torch.nn.functional.normalize(out, dim=-1)[None])
    with torch.no_grad():
        close("jg_gesture_pre_align", jegal_model.gesture(feats[None]))
        masked = jegal_model.forward_gestures(*(torch.from_numpy(golden[name]).to(jegal_model.device) for name in ("jg_gmask_feats", "jg_gmask_mask")))
    close("jg_gmask_out", masked)


@pytest.mark.slow
def test_long_tracks_use_overlapping_windows(jegal_model):
    feats = torch.randn(1210, 1024, generator=torch.Generator().manual_seed(0))
    out = jegal_model.embed_gestures(feats)
    assert out.shape == (1210, 512) and torch.isfinite(out).all()
    # windows start every 400 frames and hand out frames up to 50 before their end
    torch.testing.assert_close(out[:450], jegal_model.embed_gestures(feats[:500])[:450])
    torch.testing.assert_close(out[450:850], jegal_model.embed_gestures(feats[400:900])[50:450])
    torch.testing.assert_close(out[-360:], jegal_model.embed_gestures(feats[-500:])[-360:])
    # streaming in ragged chunks gives the same result
    chunks = [feats[i : i + 97] for i in range(0, 1210, 97)]
    torch.testing.assert_close(torch.cat(list(jegal_model.stream_gestures(chunks))), out)


# -- audio -----------------------------------------------------------------------------
def test_log_mel(golden, close):
    np.testing.assert_allclose(mel_basis().numpy(), golden["au_mel_basis"], atol=1e-6)
    # goldens use float audio in the official (int16-scale) convention: pass w / 32768
    close("au_mel", log_mel(golden["au_wav"] / 32768))
    close("ta_mel1", log_mel(golden["ta_wav1"] / 32768))
    close("ta_mel2", log_mel(golden["ta_wav2"] / 32768))


def test_audio_only_content(jegal_model, golden, close):
    mel = torch.from_numpy(golden["au_mel"])
    with torch.no_grad():
        close("au_frames", jegal_model.speech(mel[None].to(jegal_model.device)))
    wb = [["w1", 0, 10], ["w2", 12, 30], ["w3", 31, 49]]
    close("au_content", jegal_model.embed_content(mel=mel, word_boundaries=wb)[None])


# -- text --------------------------------------------------------------------------------
def test_text_only_content(jegal_model, golden, close):
    close("tx1_roberta", jegal_model.backbone().subwords(S1.split(" ")).hidden)
    close("tx1_content", jegal_model.embed_content(words=S1.split(" "))[None])
    close("tx3_content", jegal_model.embed_content(words=["we", "counted", "42", "red", "balloons"])[None])


def test_text_batch_invariant(jegal_model, golden, close):
    """In the released batch the shorter phrase's last word absorbs padding; we embed alone."""
    close("tx2_content", jegal_model.embed_content(words=S1.split(" ")), rows=0)
    s2 = jegal_model.embed_content(words=["she", "sells", "sea", "shells"])
    close("tx2_content", s2[:3], rows=(1, slice(0, 3)))
    again = jegal_model.embed_content(words=["she", "sells", "sea", "shells"])
    torch.testing.assert_close(s2, again)


def test_text_and_audio_content(jegal_model, golden, close):
    words = S1.split(" ")
    close("ta1_content", jegal_model.embed_content(words, torch.from_numpy(golden["ta_mel1"]), WB_S1)[None])
    close("ta2_content", jegal_model.embed_content(words, torch.from_numpy(golden["ta_mel1"]), WB_S1), rows=0)
    with torch.no_grad():
        padded = torch.zeros(1, 300, 80)
        padded[0, :200] = torch.from_numpy(golden["ta_mel2"])
        close("ta2_audio_frames", jegal_model.speech(torch.from_numpy(golden["ta_mel1"])[None].to(jegal_model.device)), rows=slice(0, 1))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "content needs"),
        ({"mel": torch.zeros(100, 80)}, "both mel and word_boundaries"),
        ({"words": ["a", "b"], "mel": torch.zeros(100, 80), "word_boundaries": [["a", 0, 5]]}, "2 words but 1"),
        ({"words": []}, "non-empty"),
        ({"words": ["two words"]}, "without spaces"),
        ({"mel": torch.zeros(100, 40), "word_boundaries": [["a", 0, 5]]}, "(T', 80)"),
        ({"mel": torch.zeros(40, 80), "word_boundaries": [["a", 0, 5], ["b", 20, 30]]}, "outside the audio"),
    ],
)
def test_content_argument_errors(jegal_model, kwargs, message):
    with pytest.raises(ModelInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        jegal_model.embed_content(**kwargs)


# -- checkpoints -------------------------------------------------------------------------
@pytest.mark.slow
def test_official_key_names_and_round_trip(reference_dir, gestsync_model, jegal_model, tmp_path):
    for model, keymap, keys_file, save, load in [
        (gestsync_model, GESTSYNC_KEYS, "gestsync_keys.json", save_gestsync, load_gestsync),
        (jegal_model, JEGAL_KEYS, "jegal_keys.json", save_jegal, load_jegal),
    ]:
        official = {k: tuple(s) for k, s, _ in json.loads((reference_dir / keys_file).read_text())}
        ours = {keymap.to_official(k): tuple(v.shape) for k, v in model.state_dict().items()}
        assert ours == official
        assert all(keymap.to_ours(keymap.to_official(k)) == k for k in model.state_dict())
        path = tmp_path / keys_file.replace(".json", ".pth")
        save(model, path)
        saved = torch.load(path, weights_only=True)["state_dict"]
        assert set(saved) == {"module." + k for k in official}
        reloaded = load(path)
        for k, v in model.state_dict().items():
            assert torch.equal(reloaded.state_dict()[k], v.cpu()), k


class Evil:
    def __reduce__(self):
        return (print, ("code ran",))


@pytest.mark.parametrize("case", ["missing", "truncated", "garbage", "no_state_dict", "pickled_code", "other_model", "wrong_shape"])
def test_bad_checkpoints(case, seeded_checkpoints, tmp_path):
    path = tmp_path / "bad.pth"
    if case == "missing":
        path = tmp_path / "nope.pth"
        expected = "not found"
    elif case == "truncated":
        path.write_bytes(seeded_checkpoints["gestsync"].read_bytes()[:100_000])
        expected = "not a readable PyTorch checkpoint"
    elif case == "garbage":
        path.write_bytes(b"\x00garbage" * 100)
        expected = "not a readable PyTorch checkpoint"
    elif case == "no_state_dict":
        torch.save({"weights": torch.zeros(2)}, path)
        expected = "no 'state_dict'"
    elif case == "pickled_code":
        torch.save({"state_dict": {}, "x": Evil()}, path)
        expected = "not a readable PyTorch checkpoint"
    elif case == "other_model":
        path = seeded_checkpoints["jegal"]
        expected = r"does not fit GestSync: \d+ missing keys \(first: net_vid.conv1.weight"
    else:
        sd = GestSync().state_dict()
        state = {"module." + GESTSYNC_KEYS.to_official(k): v for k, v in sd.items()}
        state["module.ff_vid.2.weight"] = torch.zeros(3, 3)
        torch.save({"state_dict": state}, path)
        expected = r"ff_vid.2.weight has shape \(3, 3\)"
    with pytest.raises(CheckpointError, match=expected):
        load_gestsync(path)


def test_text_backbone_missing_is_clear(seeded_checkpoints, tmp_path):
    model = load_jegal(seeded_checkpoints["jegal"], text_backbone=tmp_path / "no-such-model")
    with pytest.raises(CheckpointError, match="cannot load text model"):
        model.embed_content(words=["hello"])
