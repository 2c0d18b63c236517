"""`gestsearch train`: JEGAL's contrastive objective on a corpus of clips with word timings.

>>> report = train("corpus/", "runs/tiny", TrainConfig.for_preset("tiny"))
>>> report.final.val_s2g_r5
"""

from gestsearch.train.config import PRESET_DEFAULTS, TrainConfig, initial_weights
from gestsearch.train.pretrain import PretrainEpoch, PretrainStep
from gestsearch.train.trainer import CacheEvent, EpochMetrics, StepEvent, TrainEvent, TrainReport, train

__all__ = [
    "PRESET_DEFAULTS",
    "CacheEvent",
    "EpochMetrics",
    "PretrainEpoch",
    "PretrainStep",
    "StepEvent",
    "TrainConfig",
    "TrainEvent",
    "TrainReport",
    "initial_weights",
    "train",
]
