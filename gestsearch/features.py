"""Audio features for JEGAL's speech encoder."""

from __future__ import annotations

import functools

import numpy as np
import torch

from gestsearch.constants import SAMPLE_RATE
from gestsearch.errors import ModelInputError

N_FFT, WIN, HOP, N_MELS = 512, 320, 160, 80
INT16_SCALE = 32768.0  # the released model was trained on unscaled int16 sample values


@functools.lru_cache(maxsize=1)
def mel_basis() -> torch.Tensor:
    """(80, 257) Slaney-scale, Slaney-normalised filterbank for 16 kHz, n_fft 512, 0–8000 Hz (= librosa's)."""
    import torchaudio

    return torchaudio.functional.melscale_fbanks(
        N_FFT // 2 + 1, 0.0, SAMPLE_RATE / 2, N_MELS, SAMPLE_RATE, norm="slaney", mel_scale="slaney"
    ).T.contiguous()


def log_mel(wave: np.ndarray | torch.Tensor) -> torch.Tensor:
    """16 kHz mono float samples in [-1, 1], shape (N,) → (N // 160, 80) natural-log mel magnitudes.

    100 frames per second: 4 mel frames per 25 fps video frame. Samples are scaled to the
    int16 range first, because the released model saw unscaled int16 values.
    """
    x = torch.as_tensor(np.asarray(wave), dtype=torch.float32).flatten() * INT16_SCALE
    if len(x) <= N_FFT // 2:
        raise ModelInputError(f"audio is too short for log-mel features ({len(x)} samples, need {N_FFT // 2 + 1})")
    window = torch.hann_window(WIN, periodic=True)
    spec = torch.stft(
        x, N_FFT, HOP, WIN, window, center=True, pad_mode="reflect", return_complex=True
    ).abs()[:, :-1]  # (257, N // 160): the released code drops the last frame
    return torch.log(mel_basis() @ spec + 1e-20).T
