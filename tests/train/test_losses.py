"""The training objective against slow, direct reference computations (explicit loops)."""

from __future__ import annotations

import math

import pytest
import torch

from gestsearch.train.losses import (
    JegalLoss,
    LogitScale,
    coupling_scores,
    modality_dropout,
    pooled,
    symmetric_info_nce,
    word_contrast,
)

B, T, W, D = 5, 9, 6, 16


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(3)
    gesture = torch.randn(B, T, D, generator=g, dtype=torch.float64)
    content = torch.randn(B, W, D, generator=g, dtype=torch.float64)
    frames = torch.tensor([9, 4, 7, 1, 9])
    words = torch.tensor([6, 2, 1, 5, 3])
    gesture_mask = (torch.arange(T)[None] < frames[:, None]).double()
    content_mask = (torch.arange(W)[None] < words[:, None]).double()
    # padding holds garbage: it must not matter
    gesture = gesture + 50 * (1 - gesture_mask)[..., None]
    content = content - 50 * (1 - content_mask)[..., None]
    return gesture, gesture_mask, content, content_mask


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


def ref_pooled(x: torch.Tensor, n: int) -> torch.Tensor:
    total = sum(x[k] / x[k].norm() for k in range(n))
    mean = total / n
    return mean / mean.norm()


def ref_info_nce(sim: list[list[float]], scale: float) -> float:
    n = len(sim)
    rows = sum(-math.log(math.exp(scale * sim[i][i]) / sum(math.exp(scale * sim[i][j]) for j in range(n))) for i in range(n))
    cols = sum(-math.log(math.exp(scale * sim[j][j]) / sum(math.exp(scale * sim[i][j]) for i in range(n))) for j in range(n))
    return (rows / n + cols / n) / 2


def ref_sequence_similarity(gesture, gesture_mask, content, content_mask) -> list[list[float]]:
    frames, words = gesture_mask.sum(1).int().tolist(), content_mask.sum(1).int().tolist()
    pg = [ref_pooled(gesture[j], frames[j]) for j in range(B)]
    pc = [ref_pooled(content[i], words[i]) for i in range(B)]
    return [[cosine(pc[i], pg[j]) for j in range(B)] for i in range(B)]


def ref_coupling(gesture, gesture_mask, content, content_mask) -> list[list[float]]:
    frames, words = gesture_mask.sum(1).int().tolist(), content_mask.sum(1).int().tolist()
    scores = [[0.0] * B for _ in range(B)]
    for i in range(B):
        for j in range(B):
            best = []
            for w in range(words[i]):
                best.append(max(cosine(content[i, w], gesture[j, t]) for t in range(frames[j])))
            scores[i][j] = sum(best) / len(best)
    return scores


def ref_word_contrast(gesture, gesture_mask, content, content_mask, temperature=0.07) -> float:
    frames, words = gesture_mask.sum(1).int().tolist(), content_mask.sum(1).int().tolist()
    losses = []
    for b in range(B):
        for w in range(words[b]):
            peak = max(range(frames[b]), key=lambda t: cosine(content[b, w], gesture[b, t]))
            logits = [cosine(content[b, v], gesture[b, peak]) / temperature for v in range(words[b])]
            losses.append(-(logits[w] - math.log(sum(math.exp(x) for x in logits))))
    return sum(losses) / len(losses)


def test_pooled_is_the_unit_mean_of_unit_valid_rows(batch):
    gesture, gesture_mask, _, _ = batch
    got = pooled(gesture, gesture_mask)
    for j, n in enumerate(gesture_mask.sum(1).int().tolist()):
        torch.testing.assert_close(got[j], ref_pooled(gesture[j], n))


def test_coupling_scores_match_the_loops(batch):
    gesture, gesture_mask, content, content_mask = batch
    got = coupling_scores(content, content_mask, gesture, gesture_mask)
    torch.testing.assert_close(got, torch.tensor(ref_coupling(*batch), dtype=torch.float64))


def test_symmetric_info_nce_matches_the_loops():
    sim = torch.rand(B, B, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1
    got = symmetric_info_nce(sim, torch.tensor(1 / 0.07, dtype=torch.float64))
    assert float(got) == pytest.approx(ref_info_nce(sim.tolist(), 1 / 0.07), rel=1e-9)


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.8, 1.0])
def test_total_loss_matches_the_reference(batch, beta):
    loss = JegalLoss(beta=beta, temperature=0.07).double()
    parts = loss(*batch)
    scale = loss.seq_scale().item()  # 1/0.07 up to the float32 rounding of its stored log
    seq = ref_info_nce(ref_sequence_similarity(*batch), scale)
    couple = ref_info_nce(ref_coupling(*batch), scale)
    assert parts.seq.item() == pytest.approx(seq, rel=1e-9)
    assert parts.couple.item() == pytest.approx(couple, rel=1e-9)
    assert parts.total.item() == pytest.approx(beta * seq + (1 - beta) * couple, rel=1e-9)


def test_word_contrast_matches_the_loops(batch):
    assert word_contrast(*batch[2:], *batch[:2]).item() == pytest.approx(ref_word_contrast(*batch), rel=1e-9)


def test_word_contrast_weight_adds_to_the_total(batch):
    plain, weighted = JegalLoss().double()(*batch), JegalLoss(word_weight=0.3).double()(*batch)
    assert plain.word.item() == 0.0
    assert weighted.word.item() == pytest.approx(ref_word_contrast(*batch), rel=1e-9)
    assert weighted.total.item() == pytest.approx(plain.total.item() + 0.3 * weighted.word.item(), rel=1e-9)


def test_word_contrast_rewards_words_that_dominate_their_peak_frame():
    """Each word equal to its own frame: low loss; every word the same vector: log W."""
    frames = torch.eye(4, dtype=torch.float64)[None]  # (1, T=4, D=4)
    mask = torch.ones(1, 4, dtype=torch.float64)
    assert word_contrast(frames.clone(), mask, frames, mask).item() < 1e-5
    same = torch.ones(1, 4, 4, dtype=torch.float64)
    assert word_contrast(same, mask, frames, mask).item() == pytest.approx(math.log(4))


def test_loss_rewards_matching_pairs(batch):
    gesture, gesture_mask, _, _ = batch
    loss = JegalLoss().double()
    content = gesture[:, :W].clone()  # each clip's words equal to its own first frames
    content_mask = gesture_mask[:, :W].clone()
    shuffled = content[[1, 2, 3, 4, 0]], content_mask[[1, 2, 3, 4, 0]]
    assert loss(gesture, gesture_mask, content, content_mask).total < loss(gesture, gesture_mask, *shuffled).total


def test_temperature_learnable_clamped_or_fixed():
    learnt = LogitScale(0.07, learnable=True)
    assert learnt().item() == pytest.approx(1 / 0.07)
    assert [n for n, _ in learnt.named_parameters()] == ["log_scale"]
    with torch.no_grad():
        learnt.log_scale.fill_(10.0)
    assert learnt().item() == pytest.approx(100.0)
    fixed = LogitScale(0.1, learnable=False)
    assert list(fixed.parameters()) == [] and float(fixed()) == pytest.approx(10.0)
    assert "log_scale" in fixed.state_dict()


def test_modality_dropout_rates_and_determinism():
    n = 20000
    keep = modality_dropout(n, 0.5, torch.Generator().manual_seed(0))
    assert not ((keep.audio == 0) & (keep.text == 0)).any()  # never both halves
    assert (keep.audio == 0).float().mean() == pytest.approx(0.25, abs=0.02)
    assert (keep.text == 0).float().mean() == pytest.approx(0.25, abs=0.02)
    again = modality_dropout(n, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(keep.audio, again.audio) and torch.equal(keep.text, again.text)
    none = modality_dropout(100, 0.0, torch.Generator().manual_seed(0))
    assert none.audio.all() and none.text.all()
