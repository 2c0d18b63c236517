"""Model sizes. ``paper`` is the released architecture (the only one official weights fit);
``tiny`` is a CPU-trainable preset for the synthetic corpus and the bundled demo model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class GestSyncConfig:
    channels: tuple[int, ...] = (64, 128, 256, 256, 256, 512)  # trunk blocks 1..6
    input_scale: int = 1  # average-pool the 270×480 input by this factor first (tiny preset)
    final_kernel: tuple[int, int] = (4, 4)  # block 6 kernel: collapses the remaining H×W to 1×1
    dim: int = 512
    depth: int = 6
    heads: int = 8
    ffn: int = 2048
    out_dim: int = 1024
    window: int = 25  # frames per window, centred on the frame being described
    max_positions: int = 50
    audio_branch: bool = True  # parameters of the (unused) audio branch, so official files load strictly

    @property
    def steps_per_window(self) -> int:  # trunk outputs per window (block 1 has a 5-frame kernel)
        return self.window - 4


@dataclass(frozen=True)
class TextConfig:
    dim: int = 768  # width of the backbone's hidden states
    depth: int = 3
    heads: int = 8
    ffn: int = 3072


@dataclass(frozen=True)
class JegalConfig:
    feature_dim: int = 1024  # GestSync per-frame features
    dim: int = 512  # embedding width (gesture and content)
    depth: int = 6
    heads: int = 8
    ffn: int = 2048
    max_frames: int = 500  # gesture position table length
    word_dim: int = 256  # text and audio halves of the fused content vector
    text: TextConfig = field(default_factory=TextConfig)
    speech_channels: tuple[int, ...] = (32, 64, 128, 256, 256, 256)


@dataclass(frozen=True)
class ModelPreset:
    name: str
    gestsync: GestSyncConfig
    jegal: JegalConfig

    def to_dict(self) -> dict:
        return {"name": self.name, "gestsync": asdict(self.gestsync), "jegal": asdict(self.jegal)}

    @classmethod
    def from_dict(cls, d: dict) -> ModelPreset:
        gs = {k: tuple(v) if isinstance(v, list) else v for k, v in d["gestsync"].items()}
        jg = {k: tuple(v) if isinstance(v, list) else v for k, v in d["jegal"].items()}
        jg["text"] = TextConfig(**jg["text"])
        return cls(d["name"], GestSyncConfig(**gs), JegalConfig(**jg))


PAPER = ModelPreset("paper", GestSyncConfig(), JegalConfig())

TINY = ModelPreset(
    "tiny",
    GestSyncConfig(
        channels=(16, 32, 64, 64, 64, 128),
        input_scale=2,
        final_kernel=(2, 2),
        dim=128,
        depth=2,
        heads=4,
        ffn=256,
        out_dim=256,
        audio_branch=False,
    ),
    JegalConfig(
        feature_dim=256,
        dim=512,
        depth=2,
        heads=8,
        ffn=1024,
        word_dim=256,
        text=TextConfig(dim=128, depth=1, heads=4, ffn=256),
        speech_channels=(16, 32, 64, 128, 128, 256),
    ),
)

PRESETS = {p.name: p for p in (PAPER, TINY)}


def preset_of(checkpoint: dict) -> ModelPreset:
    """The preset a checkpoint file's ``"gestsearch"`` entry names; official files have none: paper."""
    meta = checkpoint.get("gestsearch")
    return ModelPreset.from_dict(meta["preset"]) if isinstance(meta, dict) and "preset" in meta else PAPER
