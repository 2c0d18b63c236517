"""`gestsearch.train` end to end on a tiny synthetic corpus: outputs, reload, resume, determinism."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from gestsearch.embedding import Embedder, ModelInfo
from gestsearch.errors import ConfigError, ModelInputError
from gestsearch.models import JEGAL, TINY, GestSync, ModelPreset, TextBackbone, load_gestsync, load_jegal, save_gestsync
from gestsearch.train import CacheEvent, EpochMetrics, PretrainEpoch, PretrainStep, StepEvent, TrainConfig, train
from gestsearch.train.corpus import read_corpus
from gestsearch.train.data import ClipFeatures, featurise, load_or_build
from gestsearch.train.losses import JegalLoss, modality_dropout
from gestsearch.train.network import TrainingModel
from gestsearch.train.tokenizer import build_word_tokenizer, is_order_free, new_text_model
from gestsearch.train.trainer import MIN_WARMUP_STEPS, TRUNK_SEED, _lr_factor, warmup_steps
from gestsearch.train.validate import embed
from gestsearch.vectors import l2_normalize

pytestmark = pytest.mark.slow  # models, real media or a whole pipeline: see `make test-fast`

N_CLIPS = 6


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from gestsearch.synth import generate_corpus

    out = tmp_path_factory.mktemp("corpus")
    generate_corpus(out, N_CLIPS, seed=5, workers=1)
    return out


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> TrainConfig:
    return TrainConfig.for_preset(
        "tiny", epochs=2, batch_size=4, val_fraction=0.34, calibration_frames=64, pretrain_epochs=1,
        cache_dir=tmp_path_factory.mktemp("cache"),
    )


@pytest.fixture(scope="module")
def run_a(corpus, config, tmp_path_factory):
    events = []
    out = tmp_path_factory.mktemp("run_a")
    report = train(corpus, out, config, progress=events.append)
    return report, events


def state_of(out: Path) -> dict[str, torch.Tensor]:
    state = {}
    for name in ("gestsync.pth", "jegal.pth"):
        state.update({f"{name}:{k}": v for k, v in torch.load(out / name, weights_only=True)["state_dict"].items()})
    from safetensors.torch import load_file

    state.update({f"text:{k}": v for k, v in load_file(out / "text" / "model.safetensors").items()})
    return state


def test_outputs_and_progress(run_a, config):
    report, events = run_a
    out = report.out_dir
    assert (report.n_train, report.n_val, report.epochs, report.skipped) == (4, 2, 2, [])
    for name in ("gestsync.pth", "jegal.pth", "text/tokenizer.json", "text/config.json", "train_state.pt", "config.json"):
        assert (out / name).is_file(), name
    assert report.text_model == str(out / "text")
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [0, 1, 2]
    assert lines[0]["loss"] is None and all(m["loss"] > 0 for m in lines[1:])
    assert config.word_weight == 0.5 and all(m["word_loss"] > 0 for m in lines[1:])  # the tiny preset's word contrast
    for m in lines[1:]:
        assert m["loss"] == pytest.approx(0.5 * m["seq_loss"] + 0.5 * m["couple_loss"] + 0.5 * m["word_loss"], rel=1e-5)
    assert all(0 <= m["val_s2g_r5"] <= 100 and m["val_spotting"] is not None for m in lines)
    assert json.loads((out / "config.json").read_text())["config"]["beta"] == config.beta
    kinds = [type(e) for e in events]
    assert kinds.count(CacheEvent) == N_CLIPS and kinds.count(StepEvent) == 2 and kinds.count(EpochMetrics) == 3
    assert [e.epoch for e in events if isinstance(e, EpochMetrics)] == [0, 1, 2]
    assert kinds.count(PretrainStep) == 1 and kinds.count(PretrainEpoch) == 1  # stage 1 comes first
    assert kinds.index(PretrainEpoch) < kinds.index(EpochMetrics)
    assert [m.epoch for m in report.pretrain] == [1] and 0 <= report.pretrain[0].accuracy <= 100
    assert [json.loads(line)["epoch"] for line in (out / "pretrain.jsonl").read_text().splitlines()] == [1]


def test_pretraining_trains_the_upper_gestsync_network(run_a):
    """Stage 1 changes the trainable GestSync blocks (3-6, window head), never the fixed blocks 1-2."""
    torch.manual_seed(TRUNK_SEED)
    initial = GestSync(TINY.gestsync).state_dict()
    trained = load_gestsync(run_a[0].gestsync).state_dict()
    changed = {k for k in initial if not torch.equal(initial[k], trained[k])}
    assert {"trunk.block3.conv.weight", "trunk.block6.conv.weight", "head.fc1.weight"} <= changed
    assert not changed & {"trunk.block1.conv.weight", "trunk.block2.conv.weight"}


def test_checkpoints_reload_and_embed_like_training(run_a, corpus):
    """The saved model, loaded the way every command loads it, gives the trainer's embeddings."""
    from gestsearch.media import iter_track_frames, load_audio, main_track

    report, _ = run_a
    gestsync = load_gestsync(report.gestsync)
    jegal = load_jegal(report.jegal, text_backbone=report.text_model)
    assert gestsync.config == TINY.gestsync and jegal.config == TINY.jegal
    embedder = Embedder(gestsync, jegal, ModelInfo("tiny", "test"))

    clip = read_corpus(corpus).clips[0]
    video, boundaries = clip.video, [list(b) for b in clip.boundaries]
    track = main_track(video)  # the indexer's speaker crop, as training takes it
    gestures = embedder.gestures(iter_track_frames(video, track, 64))
    words = [b[0] for b in boundaries]
    content = embedder.content(words, load_audio(video), boundaries, "ta")
    assert gestures.shape == (track.n_frames, 512) and content.shape == (len(words), 512)

    features = featurise(clip, gestsync, blocks=2)
    model = TrainingModel(gestsync, jegal, jegal.backbone(), frozen_blocks=2)
    emb = embed(model, [features])
    np.testing.assert_allclose(l2_normalize(emb.gestures[0]), gestures, atol=2e-3)
    np.testing.assert_allclose(l2_normalize(emb.content[0]), content, atol=2e-3)


def test_interrupted_run_resumes_to_the_same_weights(run_a, corpus, config, tmp_path):
    """Same seed → same weights; an interrupted run resumed from its saved epoch ends where the
    uninterrupted one did. The second run reuses the feature cache."""
    out = tmp_path / "run_b"
    events = []

    class Stop(Exception):
        pass

    def stop_after_epoch_1(event):
        events.append(event)
        if isinstance(event, EpochMetrics) and event.epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        train(corpus, out, config, progress=stop_after_epoch_1)
    assert not any(isinstance(e, CacheEvent) for e in events)
    with pytest.raises(ConfigError, match="holds a training run"):
        train(corpus, out, config)
    with pytest.raises(ConfigError, match="beta"):
        train(corpus, out, replace(config, beta=0.3), resume=True)

    after_epoch_1 = load_gestsync(out / "gestsync.pth").state_dict()
    events.clear()
    report = train(corpus, out, config, resume=True, progress=events.append)
    assert report.epochs == 2 and [m.epoch for m in report.history] == [0, 1, 2]
    assert report.pretrain == [] and not any(isinstance(e, (PretrainStep, PretrainEpoch)) for e in events)
    final = load_gestsync(out / "gestsync.pth").state_dict()
    assert all(torch.equal(after_epoch_1[k], final[k]) for k in final)  # GestSync stays frozen in stage 2
    expected, got = state_of(run_a[0].out_dir), state_of(out)
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_a_few_steps_lower_the_loss(run_a, corpus, config):
    torch.manual_seed(TRUNK_SEED)  # the trainer's GestSync init: its feature cache applies
    gestsync = GestSync(TINY.gestsync).eval()
    clips = load_or_build(read_corpus(corpus), gestsync, config.cache_dir, 2, calibration_frames=64).clips
    assert torch.equal(gestsync.trunk.block1.norm.running_mean, load_gestsync(run_a[0].gestsync).trunk.block1.norm.running_mean)
    tokenizer = build_word_tokenizer(w for c in clips for w in c.words)
    backbone = TextBackbone(tokenizer, new_text_model(len(tokenizer)), "tiny")
    model = TrainingModel(gestsync, JEGAL(TINY.jegal), backbone, frozen_blocks=2)
    loss = JegalLoss()
    optimizer = torch.optim.AdamW(model.trainable() + list(loss.parameters()), lr=config.lr)

    def eval_loss() -> float:
        model.train(False)
        with torch.no_grad():
            return loss(*model.gestures(clips), *model.content(clips)).total.item()

    before = eval_loss()
    generator = torch.Generator().manual_seed(0)
    for _ in range(16):
        model.train(True)
        parts = loss(*model.gestures(clips), *model.content(clips, modality_dropout(len(clips), 0.5, generator)))
        optimizer.zero_grad()
        parts.total.backward()
        optimizer.step()
    assert eval_loss() < 0.97 * before  # deterministic: 1.78 → 0.96 after 16 steps


def test_word_tokenizer_round_trip(tmp_path):
    tokenizer = build_word_tokenizer(["stop", "the", "wave", "the"])
    TextBackbone(tokenizer, new_text_model(len(tokenizer)), "tiny").save(tmp_path)
    backbone = TextBackbone.load(tmp_path)
    assert [backbone.tokenizer.core.token_to_id(t) for t in ("<s>", "<pad>", "</s>", "<unk>")] == [0, 1, 2, 3]
    assert [backbone.tokenizer.core.id_to_token(i) for i in (4, 5, 6)] == ["the", "stop", "wave"]  # by count, then alphabetical
    sub = backbone.subwords(["wave", "hello", "the"])
    assert sub.word_starts == [1, 2, 3]
    assert backbone.tokenizer(["hello"], is_split_into_words=True)["input_ids"] == [0, 3, 2]
    assert sub.hidden.shape == (1, 5, 128) and backbone.max_tokens == 128


def test_tiny_text_model_ignores_word_order_and_training_keeps_it_so(run_a, tmp_path):
    tokenizer = build_word_tokenizer(["stop", "the", "wave"])
    TextBackbone(tokenizer, new_text_model(len(tokenizer)), "tiny").save(tmp_path)
    backbone = TextBackbone.load(tmp_path)
    assert is_order_free(backbone.model)
    forward = backbone.subwords(["stop", "the", "wave"]).hidden[0, 1:4]
    backward = backbone.subwords(["wave", "the", "stop"]).hidden[0, 1:4]
    assert torch.allclose(forward, backward.flip(0), atol=1e-5)  # each word's vector, wherever it sits
    trained = TextBackbone.load(run_a[0].text_model).model
    assert is_order_free(trained) and not trained.embeddings.position_embeddings.weight.any()


def test_clips_without_words_or_audio_are_skipped(tmp_path):
    from gestsearch.testing.media import pattern_frames, tone, write_video

    write_video(tmp_path / "silent.mp4", pattern_frames(12, 96, 64))
    write_video(tmp_path / "untimed.mp4", pattern_frames(12, 96, 64), audio=tone(0.5))
    (tmp_path / "silent.txt").write_text("Text: hello\nLang: en\n\nWORD, START, END, SCORE\nhello, 0.0, 0.3, 1.0\n")
    corpus = read_corpus(tmp_path)
    assert [c.name for c in corpus.clips] == ["silent", "untimed"]
    gestsync = GestSync(TINY.gestsync)
    with pytest.raises(ModelInputError, match="no audio"):
        featurise(corpus.clips[0], gestsync)
    with pytest.raises(ModelInputError, match="no timed words"):
        featurise(corpus.clips[1], gestsync)
    with pytest.raises(ConfigError, match="at least 2"):
        train(tmp_path, tmp_path / "out", TrainConfig.for_preset("tiny", calibration_frames=0))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: TrainConfig.for_preset("huge"), "unknown model preset"),
        (lambda: TrainConfig.for_preset("tiny", learning_rate=1), "unknown training setting"),
        (lambda: TrainConfig(lr=-1.0), "lr=-1.0"),
        (lambda: TrainConfig(beta=1.5, batch_size=1), "batch_size=1, beta=1.5"),
    ],
)
def test_bad_settings(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_several_corpora_pool_their_clips_and_keep_their_caches(run_a, corpus, config, tmp_path):
    from gestsearch.synth import generate_corpus

    more = tmp_path / "more"
    generate_corpus(more, 2, seed=6, workers=1)
    cache = config.cache_dir
    first = {p: p.stat().st_mtime_ns for p in cache.glob("features-*.pt")}
    events = []
    report = train([corpus, more], tmp_path / "run", replace(config, epochs=1, pretrain_epochs=0), progress=events.append)
    assert report.n_train + report.n_val == N_CLIPS + 2 and report.skipped == []
    new = set(cache.glob("features-*.pt")) - set(first)
    assert len(new) == 1 and all(p.stat().st_mtime_ns == t for p, t in first.items())  # only the new corpus was featurised
    assert [e.corpus for e in events if isinstance(e, CacheEvent)] == ["train 2/2"] * 2
    assert json.loads((tmp_path / "run" / "config.json").read_text())["corpus"] == [str(corpus), str(more)]


def test_feature_dropout_only_while_training(run_a, corpus, config):
    gestsync = load_gestsync(run_a[0].gestsync)
    clips = [featurise(clip, gestsync, blocks=2) for clip in read_corpus(corpus).clips[:2]]
    jegal = load_jegal(run_a[0].jegal, text_backbone=run_a[0].text_model)
    model = TrainingModel(gestsync, jegal, jegal.backbone(), frozen_blocks=2)
    model.freeze_gestsync()
    with torch.no_grad():
        plain, _ = model.gestures(clips)
        dropped, _ = model.gestures(clips, feature_dropout=0.5)
    assert not torch.allclose(plain, dropped)
    torch.testing.assert_close(embed(model, clips).gestures[0], plain[0, : clips[0].n_frames].numpy())  # validation: none
    with pytest.raises(ConfigError, match="feature_dropout=1.0"):
        replace(config, feature_dropout=1.0)


def test_a_pretrained_gestsync_replaces_stage_1(run_a, corpus, config, tmp_path):
    """Stage 2 again on the GestSync network of an earlier run: loaded (float16 too), frozen, no pre-training."""
    stage1 = tmp_path / "gestsync16.pth"
    checkpoint = torch.load(run_a[0].gestsync, weights_only=True)
    checkpoint["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in checkpoint["state_dict"].items()}
    torch.save(checkpoint, stage1)  # as the bundled model stores it
    assert TrainConfig.for_preset("tiny", pretrained_gestsync=stage1).pretrain_epochs == 0  # instead of stage 1
    events = []
    report = train(corpus, tmp_path / "run", replace(config, epochs=1, pretrain_epochs=0, pretrained_gestsync=stage1),
                   progress=events.append)
    assert report.pretrain == [] and not any(isinstance(e, (PretrainStep, PretrainEpoch)) for e in events)
    assert not (tmp_path / "run" / "pretrain.jsonl").exists()
    before, after = load_gestsync(stage1).state_dict(), load_gestsync(report.gestsync).state_dict()
    assert all(torch.equal(before[k].to(after[k].dtype), after[k]) for k in before)  # loaded, then frozen
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert saved["pretrained_gestsync"] == str(stage1) and saved["pretrain_epochs"] == 0


def test_a_pretrained_gestsync_must_fit_the_run(run_a, corpus, config, tmp_path):
    other_trunk = tmp_path / "other_trunk.pth"
    checkpoint = torch.load(run_a[0].gestsync, weights_only=True)
    checkpoint["state_dict"]["module.net_vid.conv1.weight"] += 0.1  # official key of trunk block 1
    torch.save(checkpoint, other_trunk)
    with pytest.raises(ConfigError, match="fixed trunk block 1"):
        train(corpus, tmp_path / "a", replace(config, pretrain_epochs=0, pretrained_gestsync=other_trunk))
    narrower = tmp_path / "narrower.pth"
    sizes = replace(TINY.gestsync, dim=64)
    save_gestsync(GestSync(sizes), narrower, ModelPreset("custom", sizes, TINY.jegal))
    with pytest.raises(ConfigError, match="other sizes"):
        train(corpus, tmp_path / "b", replace(config, pretrain_epochs=0, pretrained_gestsync=narrower))
    with pytest.raises(ConfigError, match="0 pre-training epochs"):
        replace(config, pretrained_gestsync=other_trunk)  # pre-training and a pre-trained network: one or the other
    with pytest.raises(ConfigError, match="init checkpoints"):
        train(corpus, tmp_path / "c", replace(config, pretrain_epochs=0, pretrained_gestsync=other_trunk),
              init=(other_trunk, other_trunk, "x"))


def test_bad_runs(tmp_path, corpus):
    with pytest.raises(ConfigError, match="not a folder"):
        train(tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(ConfigError, match="given twice"):
        train([corpus, corpus / "."], tmp_path / "twice")
    with pytest.raises(ConfigError, match="no training corpus"):
        train([], tmp_path / "none")
    assert not (tmp_path / "twice").exists() and not (tmp_path / "none").exists()
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(corpus, tmp_path / "fresh", resume=True)
    with pytest.raises(ConfigError, match="pass init"):
        train(corpus, tmp_path / "paper", TrainConfig.for_preset("paper"))


def test_warmup_is_long_enough_and_the_schedule_ramps_then_decays():
    assert warmup_steps(0.05, 10_000) == 500
    assert warmup_steps(0.05, 200) == MIN_WARMUP_STEPS  # a fresh model collapses under full-size first steps
    assert warmup_steps(0.05, 20) == 10 and warmup_steps(0.05, 1) == 0
    factors = [_lr_factor(step, 30, 100) for step in range(100)]
    assert factors[0] == pytest.approx(1 / 30) and factors[29] == pytest.approx(1.0)
    assert all(a > b for a, b in zip(factors[30:], factors[31:])) and factors[-1] < 0.01


def test_preset_defaults_are_explicit():
    tiny, paper = TrainConfig.for_preset("tiny"), TrainConfig.for_preset("paper", epochs=3)
    assert (tiny.lr, tiny.train_gestsync_head, tiny.train_text_backbone) == (3e-4, True, True)
    assert (tiny.pretrain_epochs, paper.pretrain_epochs, tiny.epochs, tiny.batch_size) == (8, 0, 20, 32)
    assert (tiny.word_weight, paper.word_weight) == (0.5, 0.0)  # the word contrast is ours: off for the paper
    assert TrainConfig() == tiny
    assert (paper.lr, paper.train_gestsync_head, paper.train_text_backbone, paper.epochs) == (5e-5, False, False, 3)
    assert (paper.weight_decay, paper.betas, paper.beta, paper.temperature) == (1e-4, (0.9, 0.98), 0.5, 0.07)
    assert TrainConfig.from_dict(json.loads(json.dumps(tiny.to_dict()))) == tiny
    old = {k: v for k, v in tiny.to_dict().items() if k not in ("word_weight", "pretrain_epochs")}  # an older run's config.json
    assert (TrainConfig.from_dict(old).word_weight, TrainConfig.from_dict(old).pretrain_epochs) == (0.0, 0)
    assert TRUNK_SEED == 0


@pytest.mark.parametrize("blocks", [1, 2, 6])
def test_trunk_split_equals_the_whole_trunk(blocks):
    torch.manual_seed(0)
    trunk = GestSync(TINY.gestsync).trunk.eval()
    x = torch.rand(1, 3, 9, 270, 480)
    with torch.no_grad():
        torch.testing.assert_close(trunk.rest(trunk.partial(x, blocks), blocks), trunk(x))


def test_spoken_word_targets():
    from gestsearch.train.data import ClipFeatures
    from gestsearch.train.pretrain import IGNORE, frame_targets, word_classes

    def clip(boundaries):
        return ClipFeatures("c", torch.zeros(30, 1, 1, 1), torch.zeros(8, 80), boundaries, None)

    a = clip([("up", 0, 2), ("the", 3, 4), ("Up", 6, 7)])
    b = clip([("the", 1, 2), ("rare", 4, 5)])
    classes = word_classes([a, b])
    assert classes == {"the": 0, "up": 1}  # seen twice or more, most frequent first (ties by word)
    assert frame_targets(a, classes).tolist() == [1, 1, 1, 0, 0, IGNORE, 1, 1, IGNORE, IGNORE]
    assert frame_targets(b, classes).tolist() == [IGNORE, 0, 0] + [IGNORE] * 7


def _fake_clip(n_words: int, target: int | None = None) -> ClipFeatures:
    boundaries = [(f"w{i}", 5 + 4 * i, 7 + 4 * i) for i in range(n_words)]
    mel = torch.arange(4 * 4 * n_words + 8, dtype=torch.float16)[:, None].expand(-1, 80)
    return ClipFeatures("c", torch.zeros(30, 1, 1, 1), mel, boundaries, target)


def test_words_span_cuts_words_and_speech_keeps_the_gestures():
    clip = _fake_clip(5, target=3)
    span = clip.words_span(2, 2)
    assert span.words == ["w2", "w3"] and span.boundaries == clip.boundaries[2:4]
    assert span.activations is clip.activations and span.n_frames == clip.n_frames
    assert torch.equal(span.mel, clip.mel[4 * (13 - 5) :])  # the log-mel starts at the span's first word
    assert span.target == 1 and clip.words_span(0, 2).target is None


def test_query_crops_are_short_consecutive_spans_and_seeded():
    from gestsearch.train.data import query_crops

    clips = [_fake_clip(n) for n in (1, 2, 6, 9)]
    assert query_crops(clips, 0.0, torch.Generator().manual_seed(0)) == clips
    crops = query_crops(clips, 1.0, torch.Generator().manual_seed(0))
    assert crops[0] is clips[0]  # a one-word phrase is a query already
    for clip, crop in zip(clips[1:], crops[1:]):
        first = clip.words.index(crop.words[0])
        assert 1 <= len(crop.words) <= 3 and crop.words == clip.words[first : first + len(crop.words)]
    again = query_crops(clips, 1.0, torch.Generator().manual_seed(0))
    assert [c.words for c in again] == [c.words for c in crops]
