"""GestSync's inference backends: OpenVINO reproduces the goldens like the torch path, and the
backend settings resolve (or refuse) the way gestsearch.models.backend documents. OpenVINO's own
facts skip where the package is absent (a GPU image that only has torch: benchmarks/gpu_check.sh)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from gestsearch.errors import ConfigError
from gestsearch.models.backend import native_bf16, openvino_available, openvino_kernels, resolve_backend
from gestsearch.testing.device import device_under_test

FLAGS = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f {extra}\n\n"
DEVICE = device_under_test()
OPENVINO = openvino_available()
needs_openvino = pytest.mark.skipif(not OPENVINO, reason="the openvino package is not installed")
cpu_only = pytest.mark.skipif(DEVICE != "cpu" or not OPENVINO,
                              reason=f"OpenVINO runs on the CPU, the models here on {DEVICE}" if OPENVINO else "no openvino")
BACKENDS = ["torch", pytest.param("openvino", marks=cpu_only)]


@pytest.fixture(scope="module")
def kernels(gestsync_model):
    if DEVICE != "cpu" or not OPENVINO:
        return {"torch": gestsync_model.kernels}
    return {"torch": gestsync_model.kernels, "openvino": openvino_kernels(gestsync_model, "fp32", 2)}


def golden_frames(src: np.ndarray) -> torch.Tensor:
    """The goldens' frame recipe (tests/models/test_models.py): 10× pixel repeat, rows 0..110 black, /255."""
    up = torch.from_numpy(src).repeat_interleave(10, dim=-3).repeat_interleave(10, dim=-2)
    up[..., :111, :, :] = 0
    return (up.double() / 255).float()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@torch.no_grad()
def test_kernels_reproduce_the_window_goldens(gestsync_model, kernels, backend, golden, golden_tolerance):
    windows = golden_frames(golden["gs_windows_src_u8"]).to(gestsync_model.device)  # (2, 25, H, W, 3)
    steps = torch.cat([kernels[backend].steps(w[None]) for w in windows]).cpu()  # (2, 21, 512)
    assert np.abs(steps.transpose(1, 2).numpy() - golden["gs_windows_conv"]).max() <= golden_tolerance["gs_windows_conv"]
    conv = torch.from_numpy(golden["gs_windows_conv"]).float().transpose(1, 2).to(gestsync_model.device)
    means = kernels[backend].window_means(conv).cpu()
    assert np.abs(means.numpy() - golden["gs_windows_out"].mean(-1)).max() <= golden_tolerance["gs_windows_out"]


@pytest.mark.slow
@pytest.mark.parametrize("chunk", [64, 7])
@pytest.mark.parametrize("backend", BACKENDS)
def test_frame_features_reproduce_the_golden(gestsync_model, kernels, backend, chunk, golden, golden_tolerance):
    frames = golden_frames(golden["gs_clip_src_u8"])
    feats = gestsync_model.frame_features(frames, chunk_frames=chunk, kernels=kernels[backend]).cpu()
    assert np.abs(feats.numpy() - golden["gs_clip_feats"]).max() <= golden_tolerance["gs_clip_feats"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_ragged_chunks_give_the_whole_clip_features(gestsync_model, kernels, backend, golden):
    """Chunks of 1 to 6 frames: the trunk steps that straddle two chunks run on their own."""
    frames = golden_frames(golden["gs_clip_src_u8"])[:21]
    whole = gestsync_model.frame_features(frames)  # torch, one chunk
    bounds = np.cumsum([0, 1, 2, 4, 5, 6, 3])
    chunks = (frames[a:b] for a, b in zip(bounds[:-1], bounds[1:]))
    parts = torch.cat(list(gestsync_model.stream_features(chunks, kernels=kernels[backend])))
    torch.testing.assert_close(parts.cpu(), whole.cpu(), atol=1e-5, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("black_rows, band", [(111, 16), (90, 12), (50, 0)])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_black_band_gives_the_steps_of_the_whole_frames(gestsync_model, kernels, backend, black_rows, band, golden_tolerance):
    """Block 1's outputs over the face mask are taken as known (VideoTrunk.first_block): the steps of
    the whole frames, to float rounding (the convolution runs on fewer rows, so it may sum in
    another order: 5e-6 on torch here), within the goldens' tolerance as OpenVINO's are."""
    frames = torch.rand(1, 9, 270, 480, 3, generator=torch.Generator().manual_seed(black_rows))
    frames[:, :, :black_rows] = 0
    frames = frames.to(gestsync_model.device)
    assert gestsync_model.mask_band(frames) == band
    whole = gestsync_model.trunk_steps(frames, band=0).cpu()
    torch.testing.assert_close(kernels[backend].steps(frames).cpu(), whole, atol=golden_tolerance["gs_windows_conv"], rtol=0)


def test_one_lit_pixel_in_the_band_falls_back_to_the_smaller_band(gestsync_model):
    frames = torch.zeros(1, 5, 270, 480, 3)
    frames[:, :, 111:] = 0.5
    assert gestsync_model.mask_band(frames) == 16
    frames[0, 2, 90, 100, 1] = 1 / 255  # under the larger band's rows (103), not the smaller one's (79)
    assert gestsync_model.mask_band(frames) == 12
    frames[0, 4, 0, 0, 0] = 1 / 255
    assert gestsync_model.mask_band(frames) == 0
    frames[:, :, :111] = 0
    frames[0, 1, 102, 479, 2] = -1e-6  # not black either, though the rows' maxima are 0
    assert gestsync_model.mask_band(frames) == 12


def test_band_rows_follow_block_1s_geometry():
    from gestsearch.models import GestSync
    from gestsearch.models.config import PRESETS

    paper, tiny = (GestSync(PRESETS[name].gestsync).trunk for name in ("paper", "tiny"))
    # output row b − 1 of the pool covers conv rows up to 2b, and conv row r input rows 3r..3r + 6
    assert [paper.band_rows(b) for b in (1, 12, 16)] == [13, 79, 103]
    assert (paper.largest_band(103), paper.largest_band(102), paper.largest_band(12)) == (16, 15, 0)
    assert (tiny.band_rows(7), tiny.largest_band(103)) == (98, 7)  # rows of the frame, before its 2× pooling


@pytest.mark.slow
@cpu_only
def test_compiled_once_per_model_precision_and_threads(gestsync_model, kernels):
    assert openvino_kernels(gestsync_model, "fp32", 2) is kernels["openvino"]


@pytest.mark.slow
@cpu_only
@pytest.mark.skipif(not native_bf16(), reason="this CPU has no native bfloat16")
def test_bf16_stays_close_to_fp32(gestsync_model, kernels, golden):
    frames = golden_frames(golden["gs_clip_src_u8"])[:12]
    fp32 = gestsync_model.frame_features(frames, kernels=kernels["openvino"])
    bf16 = gestsync_model.frame_features(frames, kernels=openvino_kernels(gestsync_model, "bf16", 2))
    assert torch.nn.functional.cosine_similarity(fp32, bf16).min() > 0.999


def test_auto_is_openvino_on_the_cpu_and_torch_elsewhere():
    assert resolve_backend("auto", "fp32", "cpu") == ("openvino" if OPENVINO else "torch")
    assert resolve_backend("auto", "fp32", "cuda") == "torch"
    assert resolve_backend("auto", "fp32", "cuda:1") == "torch"
    assert resolve_backend("torch", "fp32", "cpu") == "torch"


@pytest.mark.parametrize(
    "backend, precision, device, message",
    [
        ("openvino", "fp32", "cuda", "runs on the CPU"),
        ("torch", "bf16", "cpu", "no native bfloat16"),
        pytest.param("openvino", "bf16", "cpu", "no native bfloat16", marks=needs_openvino),
    ],
)
def test_combinations_that_cannot_run_are_refused(tmp_path, backend, precision, device, message):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(FLAGS.format(extra=""))
    with pytest.raises(ConfigError, match=message):
        resolve_backend(backend, precision, device, cpuinfo)


@pytest.mark.parametrize("extra, native", [("avx512_bf16", True), ("amx_bf16 amx_tile", True), ("avx512_vnni", False)])
def test_native_bf16_reads_the_cpu_flags(tmp_path, extra, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(FLAGS.format(extra=extra))
    assert native_bf16(cpuinfo) is native
    if native and OPENVINO:
        assert resolve_backend("openvino", "bf16", "cpu", cpuinfo) == "openvino"
        assert resolve_backend("torch", "bf16", "cpu", cpuinfo) == "torch"  # under autocast


@pytest.mark.slow
@needs_openvino
def test_embedder_backends_agree_and_share_the_fingerprint(embedder, seeded_checkpoints, golden):
    from gestsearch.config import Settings
    from gestsearch.embedding import Embedder

    assert embedder.backend == "openvino"  # auto, on the CPU
    settings = Settings(gestsync=seeded_checkpoints["gestsync"], jegal=seeded_checkpoints["jegal"],
                        text_model=str(seeded_checkpoints["text"]), device="cpu", backend="torch")
    reference = Embedder.from_settings(settings)
    assert reference.backend == "torch" and reference.info.fingerprint == embedder.info.fingerprint
    frames = golden_frames(golden["gs_clip_src_u8"]).numpy()
    chunks = [frames[:16], frames[16:]]
    np.testing.assert_allclose(embedder.gestures(chunks), reference.gestures(chunks), atol=1e-5, rtol=0)


def test_native_bf16_without_cpuinfo_is_false(tmp_path):
    assert not native_bf16(tmp_path / "absent")


@needs_openvino
def test_openvino_is_imported_without_its_telemetry(tmp_path):
    """A plain ``import openvino`` forks a child that sends an event to Google Analytics and writes a
    client id under ~/intel; through the backend, no fork, no file, and ``CI`` is as it was."""
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "forks = []\n"
        "os.register_at_fork(before=lambda: forks.append(1))\n"
        "from gestsearch.models.backend import import_openvino\n"
        "import_openvino().Core()\n"
        "import time; time.sleep(0.5)\n"  # the telemetry thread would fork by now
        "print(len(forks), os.environ.get('CI'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    out = subprocess.run([sys.executable, "-c", script], env={**env, "HOME": str(tmp_path)}, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "None"]
    assert not (tmp_path / "intel").exists()
