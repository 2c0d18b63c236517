"""``train()``: JEGAL's contrastive objective on a corpus of clips, resumable and deterministic.

Outputs in ``out_dir``:

- ``gestsync.pth``, ``jegal.pth``: official-format checkpoints (+ the model preset) that
  ``load_gestsync`` / ``load_jegal`` and every command read; ``text/``: the trained text
  backbone (tiny preset), a Hugging Face model directory;
- ``train_state.pt``: everything ``resume=True`` needs (weights, optimizer, schedule, epoch,
  RNG states); ``metrics.jsonl``: one line per epoch (epoch 0 = before training);
  ``pretrain.jsonl``: one line per GestSync pre-training epoch (stage 1, ``config.pretrain_epochs``;
  it runs before epoch 0, then GestSync stays frozen; a resumed run does not repeat it);
  ``config.json``; the feature cache (unless ``config.cache_dir`` points elsewhere).

Randomness: the tiny GestSync network starts from a fixed random init (seed ``TRUNK_SEED``),
so every run on a corpus shares one feature cache; ``config.seed`` drives everything else
(JEGAL and text init, the validation split, shuffling, dropout and modality dropout).
The same seed, corpus and settings give the same weights.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from gestsearch.atomic import atomic_path, write_text
from gestsearch.errors import ConfigError
from gestsearch.models import JEGAL, PRESETS, GestSync, TextBackbone, load_gestsync, load_jegal
from gestsearch.progress import EpochSteps, Progress, silent
from gestsearch.train.config import Init, TrainConfig
from gestsearch.train.corpus import read_corpus
from gestsearch.train.data import CacheEvent, ClipFeatures, load_or_build, query_crops
from gestsearch.train.losses import JegalLoss, modality_dropout
from gestsearch.train.network import TrainingModel
from gestsearch.train.pretrain import PretrainEpoch, PretrainStep, pretrain_gestsync, word_classes
from gestsearch.train.tokenizer import build_word_tokenizer, new_text_model
from gestsearch.train.validate import Validation, validate
from gestsearch.types import Preset

TRUNK_SEED = 0
BUCKET_BATCHES = 8  # batches per length-sorted group when shuffling
MIN_WARMUP_STEPS = 30  # full-size Adam steps on a fresh model collapse every embedding onto one vector
STATE_FILE = "train_state.pt"
METRICS_FILE = "metrics.jsonl"
PRETRAIN_FILE = "pretrain.jsonl"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class StepEvent(EpochSteps):
    epoch: int
    step: int  # 1-based within the epoch
    steps: int
    loss: float
    seq_loss: float
    couple_loss: float
    word_loss: float  # 0 unless config.word_weight
    lr: float

    @property
    def task(self) -> str:
        return f"epoch {self.epoch}"

    @property
    def info(self) -> str:
        word = f", word {self.word_loss:.3f}" if self.word_loss else ""
        return f"loss {self.loss:.3f} (seq {self.seq_loss:.3f}, couple {self.couple_loss:.3f}{word})"


@dataclass(frozen=True)
class EpochMetrics:
    """One line of metrics.jsonl. Epoch 0 is the untrained model (losses None). R@5 and spotting in percent."""

    epoch: int
    loss: float | None
    seq_loss: float | None
    couple_loss: float | None
    word_loss: float | None
    val_s2g_r5: float | None
    val_g2s_r5: float | None
    val_spotting: float | None
    seconds: float

    # as a progress event (gestsearch.progress.ProgressEvent): a line, no bar
    task = ""
    info = ""
    total = None

    @property
    def done(self) -> int:
        return self.epoch

    @property
    def message(self) -> str | None:
        if self.val_s2g_r5 is None:
            return None
        return (f"epoch {self.epoch}: val S→G R@5 {self.val_s2g_r5:.1f}%  G→S R@5 {self.val_g2s_r5:.1f}%  "
                f"spotting {self.val_spotting:.1f}%")


TrainEvent = CacheEvent | PretrainStep | PretrainEpoch | StepEvent | EpochMetrics


@dataclass
class TrainReport:
    out_dir: Path
    gestsync: Path
    jegal: Path
    text_model: str  # the text backbone to load with jegal.pth (OUT/text for the tiny preset)
    epochs: int  # epochs completed
    n_train: int
    n_val: int
    skipped: list[str]  # "clip: reason" for clips left out
    history: list[EpochMetrics] = field(default_factory=list)
    pretrain: list[PretrainEpoch] = field(default_factory=list)  # stage 1 (this call only; empty on resume)
    seconds: float = 0.0

    @property
    def final(self) -> EpochMetrics | None:
        return self.history[-1] if self.history else None


def train(
    corpus_dir: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    config: TrainConfig | None = None,
    init: Init | None = None,
    resume: bool = False,
    progress: Progress | None = None,
) -> TrainReport:
    """Train on the clips of ``corpus_dir`` (see ``gestsearch.train.corpus``) into ``out_dir``.

    ``corpus_dir`` may be several corpus folders: their clips are pooled and each keeps its own
    feature cache, so adding a corpus to a run computes features for the new one only.

    ``init``: start from these checkpoints (required for the paper preset: the official ones);
    None trains the tiny preset from scratch. ``resume``: continue the run saved in
    ``out_dir`` up to ``config.epochs`` (other settings must be unchanged).
    """
    config = config or TrainConfig()
    if init is not None and config.pretrained_gestsync is not None:
        raise ConfigError("a pre-trained GestSync network replaces stage 1 of a run from scratch: it does not go with init checkpoints")
    corpora = _corpus_dirs(corpus_dir)
    out_dir = Path(out_dir)
    stage1 = None if config.pretrained_gestsync is None else _read_pretrained_gestsync(config.pretrained_gestsync, config.preset)
    _check_out_dir(out_dir, resume)
    started = time.perf_counter()
    emit = progress or silent
    with torch.random.fork_rng(devices=[]), _deterministic():
        torch.manual_seed(config.seed)
        gestsync, jegal, text = _networks(config, init)
        generator = torch.Generator().manual_seed(config.seed)
        data = _prepare_data(corpora, out_dir, config, gestsync, jegal, text, init is None, generator, emit)
        model = TrainingModel(
            gestsync, jegal, data.backbone, config.frozen_trunk_blocks, config.train_gestsync_head, config.train_text_backbone
        )
        pretrained = []
        if stage1 is not None:
            _use_pretrained_gestsync(model, stage1, config.pretrained_gestsync)
            model.freeze_gestsync()
        elif config.pretrain_epochs:
            if not resume:  # a resumed run restores the pre-trained network with the rest
                pretrained = _pretrain(model, data.train, config, generator, out_dir, emit)
            model.freeze_gestsync()
        run = _Run(config, model, data.train, data.val, generator, out_dir)
        if resume:
            run.restore(torch.load(out_dir / STATE_FILE, map_location="cpu", weights_only=True))
        else:
            _write_json(out_dir / CONFIG_FILE, {"config": config.to_dict(), "preset": model.preset.to_dict(),
                                                "corpus": [str(c) for c in corpora], "init": [str(p) for p in init] if init else None})
            emit(run.record(0, None, time.perf_counter()))
        run.fit(emit)
    text_model = str(out_dir / "text") if config.train_text_backbone else data.backbone.name
    return TrainReport(
        out_dir, out_dir / "gestsync.pth", out_dir / "jegal.pth", text_model, run.epoch,
        len(data.train), len(data.val), data.skipped, run.history, pretrained, time.perf_counter() - started,
    )


def _pretrain(
    model: TrainingModel, clips: list[ClipFeatures], config: TrainConfig, generator: torch.Generator, out_dir: Path, emit: Progress
) -> list[PretrainEpoch]:
    """Stage 1 (``gestsearch.train.pretrain``); its per-epoch metrics go to pretrain.jsonl."""
    classes = word_classes(clips)
    if not classes:
        raise ConfigError("pre-training the GestSync network needs words that occur more than once in the training clips")
    history = pretrain_gestsync(
        model, lambda: length_batches(clips, config.batch_size, generator), classes,
        config.pretrain_epochs, config.pretrain_lr, config.weight_decay, emit,
    )
    _write_jsonl(out_dir / PRETRAIN_FILE, history)
    return history


def _read_pretrained_gestsync(path: Path, preset: Preset) -> GestSync:
    """The GestSync network of an earlier run (``path``, a gestsync.pth), if it has the ``preset``'s sizes."""
    with torch.random.fork_rng(devices=[]):  # building the network draws random weights: leave the run's RNG alone
        loaded = load_gestsync(path)
    if loaded.config != PRESETS[preset].gestsync:
        raise ConfigError(f"{path}: a GestSync network of other sizes than the {preset} preset's")
    return loaded


def _use_pretrained_gestsync(model: TrainingModel, loaded: GestSync, path: Path) -> None:
    """Stage 1 from an earlier tiny run: its whole GestSync network into ``model``.

    Its fixed trunk blocks must be the ones this run's feature cache was computed with (the same
    trunk seed and BatchNorm calibration, i.e. the same first training corpus), up to the float16
    rounding of a bundled model; otherwise its upper layers would read features they never saw.
    """
    ours, theirs = model.gestsync.trunk.blocks, loaded.trunk.blocks
    for i in range(model.frozen_blocks):
        for (name, a), b in zip(ours[i].state_dict().items(), theirs[i].state_dict().values()):
            if a.is_floating_point() and not torch.allclose(a, b.to(a.dtype), rtol=1e-2, atol=1e-3):
                raise ConfigError(
                    f"{path}: its fixed trunk block {i + 1} ({name}) differs from this run's: it was pre-trained on "
                    "another trunk (first training corpus or trunk seed), so its layers do not fit these features"
                )
    model.gestsync.load_state_dict(loaded.state_dict())


@dataclass
class _Data:
    train: list[ClipFeatures]
    val: list[ClipFeatures]
    backbone: TextBackbone
    skipped: list[str]


def _corpus_dirs(corpus_dir: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """The training corpus folders, in order, each once."""
    given = [corpus_dir] if isinstance(corpus_dir, (str, os.PathLike)) else list(corpus_dir)
    corpora = [Path(c) for c in given]
    if not corpora:
        raise ConfigError("no training corpus given")
    resolved = [c.resolve() for c in corpora]
    for i, c in enumerate(resolved):
        if c in resolved[:i]:
            raise ConfigError(f"{corpora[i]}: the same training corpus is given twice")
    return corpora


def _prepare_data(
    corpora: list[Path], out_dir: Path, config: TrainConfig, gestsync: GestSync, jegal: JEGAL,
    text: TextBackbone | None, calibrate: bool, generator: torch.Generator, emit: Progress,
) -> _Data:
    """Cached clip features, the train/validation split and the text backbone (built from the
    training vocabulary when ``text`` is None); clips the models cannot take are skipped."""
    cache_dir = config.cache_dir or out_dir

    def features(corpus: Path, name: str, calibration_frames: int = 0):
        return load_or_build(
            read_corpus(corpus), gestsync, cache_dir, config.frozen_trunk_blocks, calibration_frames,
            config.mask_faces, jegal.config.max_frames, emit, name, config.workers,
        )

    # BatchNorm calibration (first corpus only) sets the trunk that every other cache is computed with.
    train, skipped = [], []
    for i, corpus in enumerate(corpora):
        name = "train" if len(corpora) == 1 else f"train {i + 1}/{len(corpora)}"
        train_set = features(corpus, name, config.calibration_frames if calibrate and i == 0 else 0)
        train += train_set.clips
        skipped += train_set.skipped
    if config.val_corpus is not None:
        val_set = features(config.val_corpus, "val")
        val = val_set.clips
        skipped += [f"val {s}" for s in val_set.skipped]
    else:
        train, val = _split(train, config.val_fraction, generator)
    backbone = text or _new_backbone(train)
    train, too_long = _fit_text(train, backbone)
    val, val_too_long = _fit_text(val, backbone)
    skipped += too_long + [f"val {s}" for s in val_too_long]
    if len(train) < 2:
        raise ConfigError(f"{', '.join(map(str, corpora))}: {len(train)} usable training clip(s); at least 2 are needed")
    return _Data(train, val, backbone, skipped)


class _Run:
    """The mutable state of one training run: optimizer, schedule, epoch, history."""

    def __init__(self, config: TrainConfig, model: TrainingModel, train_clips, val_clips, generator, out_dir: Path):
        self.config, self.model, self.out_dir = config, model, out_dir
        self.train_clips, self.val_clips, self.generator = train_clips, val_clips, generator
        self.loss = JegalLoss(config.beta, config.temperature, config.learn_temperature, config.word_weight)
        self.optimizer = torch.optim.AdamW(
            [{"params": model.trainable()}, {"params": list(self.loss.parameters()), "weight_decay": 0.0}],
            lr=config.lr, betas=config.betas, weight_decay=config.weight_decay,
        )
        self.steps_per_epoch = len(self.train_clips) // config.batch_size + (len(self.train_clips) % config.batch_size >= 2)
        total = config.epochs * self.steps_per_epoch
        warmup = warmup_steps(config.warmup, total)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: _lr_factor(step, warmup, total))
        self.epoch = 0
        self.history: list[EpochMetrics] = []

    def fit(self, emit: Progress) -> None:
        while self.epoch < self.config.epochs:
            started = time.perf_counter()
            totals = torch.zeros(4)
            batches = self._batches()
            for step, batch in enumerate(batches, start=1):
                parts = self._step(batch)
                totals += torch.tensor(parts)
                emit(StepEvent(self.epoch + 1, step, len(batches), *parts, self.schedule.get_last_lr()[0]))
            self.epoch += 1
            self.model.save(self.out_dir)
            metrics = self.record(self.epoch, tuple((totals / len(batches)).tolist()), started)
            _atomic_save(self.state(), self.out_dir / STATE_FILE)
            emit(metrics)

    def record(self, epoch: int, losses: tuple[float, ...] | None, started: float) -> EpochMetrics:
        """Validate, and append the epoch's metrics to the history and metrics.jsonl."""
        val: Validation | None = validate(self.model, self.val_clips) if self.val_clips else None
        metrics = EpochMetrics(
            epoch, *(losses or (None, None, None, None)),
            val.s2g_r5 if val else None, val.g2s_r5 if val else None, val.spotting if val else None,
            time.perf_counter() - started,
        )
        self.history.append(metrics)
        _write_jsonl(self.out_dir / METRICS_FILE, self.history)
        return metrics

    def _batches(self) -> list[list[ClipFeatures]]:
        return length_batches(self.train_clips, self.config.batch_size, self.generator)

    def _step(self, batch: list[ClipFeatures]) -> tuple[float, float, float, float]:
        self.model.train(True)
        keep = modality_dropout(len(batch), self.config.modality_dropout, self.generator)
        with torch.autocast(self.model.jegal.device.type, torch.bfloat16, enabled=self.config.bf16):
            gestures, frame_mask = self.model.gestures(batch, self.config.feature_dropout)
            queries = query_crops(batch, self.config.query_crop, self.generator) if self.config.query_crop else batch
            content, word_mask = self.model.content(queries, keep)
        parts = self.loss(gestures.float(), frame_mask, content.float(), word_mask)
        self.optimizer.zero_grad(set_to_none=True)
        parts.total.backward()
        if self.config.max_grad_norm is not None:
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
        self.optimizer.step()
        self.schedule.step()
        return parts.total.item(), parts.seq.item(), parts.couple.item(), parts.word.item()

    # -- resume --------------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "config": self.config.to_dict(),
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "loss": self.loss.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "history": [asdict(m) for m in self.history],
            "torch_rng": torch.get_rng_state(),
            "generator": self.generator.get_state(),
        }

    def restore(self, state: dict) -> None:
        changed = self.config.differences(TrainConfig.from_dict(state["config"]), ignore=("epochs",))
        if changed:
            raise ConfigError(f"{self.out_dir}: cannot resume with other settings ({', '.join(changed)}); only epochs may change")
        self.model.load_state_dict(state["model"])
        self.loss.load_state_dict(state["loss"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.epoch = state["epoch"]
        self.history = [EpochMetrics(**{"word_loss": None, **m}) for m in state["history"]]  # word_loss: newer field
        torch.set_rng_state(state["torch_rng"])
        self.generator.set_state(state["generator"])


def length_batches(clips: list[ClipFeatures], size: int, generator: torch.Generator) -> list[list[ClipFeatures]]:
    """A shuffled epoch in batches of clips of similar length (less padding): the shuffled clips are
    sorted by length within groups of ``BUCKET_BATCHES`` batches, cut into batches, and those shuffled.
    Batches of one clip are dropped (InfoNCE needs negatives)."""
    order = torch.randperm(len(clips), generator=generator).tolist()
    group = size * BUCKET_BATCHES
    order = [i for k in range(0, len(order), group) for i in sorted(order[k : k + group], key=lambda i: clips[i].n_frames)]
    batches = [[clips[i] for i in order[k : k + size]] for k in range(0, len(order), size)]
    batches = [b for b in batches if len(b) >= 2]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def warmup_steps(share: float, total: int) -> int:
    """Warm-up length: ``share`` of the ``total`` steps, at least ``MIN_WARMUP_STEPS``, at most half."""
    return min(total // 2, max(round(share * total), MIN_WARMUP_STEPS))


def _lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _networks(config: TrainConfig, init: Init | None) -> tuple[GestSync, JEGAL, TextBackbone | None]:
    """GestSync, JEGAL and (from ``init``) the text backbone; None: built from the corpus vocabulary later."""
    if init is not None:
        gestsync_path, jegal_path, text_model = init
        text = TextBackbone.load(text_model)
        return load_gestsync(gestsync_path), load_jegal(jegal_path, text_backbone=text), text
    if config.preset != "tiny":
        raise ConfigError(f"the {config.preset} preset fine-tunes existing checkpoints: pass init=(gestsync.pth, jegal.pth, text model)")
    preset = PRESETS[config.preset]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TRUNK_SEED)
        gestsync = GestSync(preset.gestsync).eval()
    return gestsync, JEGAL(preset.jegal), None


def _new_backbone(clips: list[ClipFeatures]) -> TextBackbone:
    tokenizer = build_word_tokenizer(w for c in clips for w in c.words)
    return TextBackbone(tokenizer, new_text_model(len(tokenizer)), "tiny word-level XLM-R")


def _fit_text(clips: list[ClipFeatures], backbone: TextBackbone) -> tuple[list[ClipFeatures], list[str]]:
    """Clips whose phrase fits the text model, and "name: reason" for the others."""
    kept, skipped = [], []
    for clip in clips:
        n = len(backbone.tokenizer(clip.words, is_split_into_words=True)["input_ids"])
        if n > backbone.max_tokens:
            skipped.append(f"{clip.name}: {n} tokens, more than the text model's {backbone.max_tokens}")
        else:
            kept.append(clip)
    return kept, skipped


def _split(clips: list[ClipFeatures], fraction: float, generator: torch.Generator) -> tuple[list, list]:
    """A seeded random ``fraction`` of the clips for validation (at least 2 when there is any), the rest for training."""
    n_val = round(len(clips) * fraction)
    if 0 < n_val < 2:
        n_val = 2 if len(clips) >= 4 else 0
    order = torch.randperm(len(clips), generator=generator).tolist()
    val = set(order[:n_val])
    return [c for i, c in enumerate(clips) if i not in val], [c for i, c in enumerate(clips) if i in val]


def _check_out_dir(out_dir: Path, resume: bool) -> None:
    state = out_dir / STATE_FILE
    if resume and not state.is_file():
        raise ConfigError(f"{out_dir}: nothing to resume (no {STATE_FILE})")
    if not resume and state.is_file():
        raise ConfigError(f"{out_dir}: holds a training run already ({STATE_FILE}): resume it or choose another folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the output folder {out_dir}: {e}") from e


@contextmanager
def _deterministic() -> Iterator[None]:
    enabled, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def _write_json(path: Path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def _write_jsonl(path: Path, records: list) -> None:
    """One JSON line per dataclass record, written atomically."""
    write_text(path, "".join(json.dumps(asdict(r)) + "\n" for r in records))


def _atomic_save(data: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(data, tmp)
