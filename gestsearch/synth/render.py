"""Drawing the articulated upper body with OpenCV: 480x270 RGB frames, one speaker, pre-cropped style
(several people: one such panel each, side by side).

The chin sits on rows 92-106 so that the project's face masking (black down to ~15 px below the
chin, or the top 110 rows as a fallback) hides the face but not the gestures: wrists stay below
the shoulder line (>= 20 px under the mask), only the fingertips of raised hands come near it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from gestsearch.synth.body import HAND_FIELDS, NECK_TO_CHIN, SHOULDER_X, elbow_points, shoulder_point
from gestsearch.synth.motion import PoseTrack

WIDTH, HEIGHT = 480, 270
_SHIFT = 4  # cv2 sub-pixel bits
_ONE = 1 << _SHIFT
_HAND_SCALE = 1.25  # hands drawn a little larger than life so their shape reads at 480x270

Color = tuple[int, int, int]

_SKIN_TONES: tuple[Color, ...] = (
    (255, 219, 186), (241, 194, 150), (224, 172, 135), (198, 134, 98), (161, 102, 68), (120, 78, 52), (89, 58, 40),
)
_HAIR: tuple[Color, ...] = ((25, 20, 18), (60, 40, 25), (110, 75, 40), (200, 165, 100), (150, 150, 150), (140, 60, 30))


@dataclass(frozen=True)
class Appearance:
    """How one clip's speaker and scene look. Colours are RGB; ``mirror`` = -1 draws the dominant
    (gesturing) arm on the image's left (a right-handed speaker), +1 on its right."""

    scale: float
    center_x: float
    chin_row: float
    mirror: int
    skin: Color
    shirt: Color
    hair: Color
    long_hair: bool
    long_sleeves: bool
    backdrop: tuple[Color, Color, Color]
    backdrop_angle: float
    backdrop_seed: int

    @property
    def shoulder_row(self) -> float:
        return self.chin_row + NECK_TO_CHIN * self.scale


@dataclass(frozen=True)
class RenderedClip:
    """RGB frames (T, 270, 480, 3) uint8 and the wrists in pixels (T, 2, 2): [dominant, other] x (x, y)."""

    frames: np.ndarray
    wrists: np.ndarray


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """A random speaker and backdrop."""
    skin = _jitter(_SKIN_TONES[rng.integers(len(_SKIN_TONES))], rng, 12)
    shirt_hsv = np.uint8([[[rng.integers(0, 180), rng.integers(30, 230), rng.integers(50, 230)]]])
    shirt = tuple(int(c) for c in cv2.cvtColor(shirt_hsv, cv2.COLOR_HSV2RGB)[0, 0])
    backdrop = tuple(_random_color(rng, lo=40, hi=230) for _ in range(3))
    return Appearance(
        scale=float(rng.uniform(0.86, 1.12)),
        center_x=float(WIDTH / 2 + rng.uniform(-45, 45)),
        chin_row=float(rng.uniform(92, 106)),
        mirror=int(rng.choice([-1, 1], p=[0.75, 0.25])),
        skin=skin,
        shirt=shirt,  # type: ignore[arg-type]
        hair=_jitter(_HAIR[rng.integers(len(_HAIR))], rng, 10),
        long_hair=bool(rng.random() < 0.35),
        long_sleeves=bool(rng.random() < 0.6),
        backdrop=backdrop,  # type: ignore[arg-type]
        backdrop_angle=float(rng.uniform(0, 2 * np.pi)),
        backdrop_seed=int(rng.integers(2**31)),
    )


def render(appearance: Appearance, track: PoseTrack) -> RenderedClip:
    """Draw every frame of ``track`` over the appearance's static backdrop."""
    backdrop = _backdrop(appearance)
    frames = np.empty((track.n_frames, HEIGHT, WIDTH, 3), dtype=np.uint8)
    wrists = np.empty((track.n_frames, 2, 2))
    painter = _Painter(appearance, track)
    for f in range(track.n_frames):
        frames[f] = backdrop
        wrists[f] = painter.draw(frames[f], f)
    return RenderedClip(frames, wrists)


def render_side_by_side(people: Sequence[tuple[Appearance, PoseTrack]]) -> np.ndarray:
    """Frames (T, 270, 480 x P, 3) of P people, each drawn in its own 480x270 panel, left to right
    (a split-screen interview). The wrists are left out: nothing reads them for several people."""
    return np.concatenate([render(look, track).frames for look, track in people], axis=2)


@dataclass(frozen=True)
class _Shape:
    """A static part of the speaker: a filled polygon (``width`` 0) or a polyline, in body space."""

    points: np.ndarray
    color: Color
    width: float = 0.0
    on_head: bool = True  # turns with the head


def _static_shapes(look: Appearance) -> list[_Shape]:
    """Head, neck and torso, back to front."""
    skin, hair, shirt = look.skin, look.hair, look.shirt
    w = SHOULDER_X
    shapes = [_Shape(_ellipse((0, -48), 31, 42), hair)] if look.long_hair else []
    shapes += [
        _Shape(np.array([[-11, -34], [11, -34], [13, 4], [-13, 4]]), _shade(skin, 0.62), on_head=False),
        _Shape(_ellipse((0, -60), 26, 27), hair),
        _Shape(_ellipse((-23, -53), 5, 8), _shade(skin, 0.82)),
        _Shape(_ellipse((23, -53), 5, 8), _shade(skin, 0.82)),
        _Shape(_face_outline(), skin),
        _Shape(np.array([[-22, -66], [-12, -80], [12, -82], [23, -64], [20, -76], [0, -86], [-20, -78]]), hair),
    ]
    for x in (-9, 9):
        shapes += [
            _Shape(_ellipse((x, -57), 7, 4), _shade(skin, 0.85)),
            _Shape(_ellipse((x, -57), 5, 2.6), (245, 245, 240)),
            _Shape(_ellipse((x, -57), 2.2, 2.2), (45, 35, 30)),
            _Shape(np.array([[x - 6, -63], [x + 5, -64]]), hair, width=1.8),
            _Shape(_ellipse((x / 3, -44), 1.6, 1.0), _shade(skin, 0.55)),
        ]
    shapes += [
        _Shape(np.array([[-1, -56], [-4, -45], [0, -43], [4, -45]]), _shade(skin, 0.85)),
        _Shape(_ellipse((0, -37), 8, 2.8), _mix(_shade(skin, 0.75), (170, 60, 60), 0.45)),
        _Shape(np.array([[-8, -37], [8, -37]]), _shade(skin, 0.45), width=1.0),
        _Shape(_mirrored([[w - 8, -4], [w + 8, 6], [w + 12, 40], [w + 6, 170]]), shirt, on_head=False),
        _Shape(np.array([[-12, -4], [12, -4], [0, 16]]), _shade(skin, 0.82), on_head=False),
        _Shape(np.array([[-14, -4], [0, 18], [14, -4]]), _shade(shirt, 0.7), width=2.0, on_head=False),
    ]
    return shapes


class _Painter:
    """Draws one clip's speaker: holds its colours, static shapes and poses."""

    _NECK_PIVOT = np.array([0.0, -20.0])  # the head turns about this point

    def __init__(self, look: Appearance, track: PoseTrack):
        self.look = look
        self.track = track
        arms = ((-1, track.other), (+1, track.dominant))  # drawn in this order: the gesturing arm in front
        self.arms = tuple((side, arm, elbow_points(side, arm.wrist)) for side, arm in arms)
        self.shapes = _static_shapes(look)
        self.points = np.concatenate([sh.points for sh in self.shapes]).astype(np.float64)
        self.on_head = np.concatenate([np.full(len(sh.points), sh.on_head) for sh in self.shapes])
        self.ends = np.cumsum([len(sh.points) for sh in self.shapes])
        self.skin = look.skin
        self.palm = _mix(look.skin, (255, 235, 225), 0.35)
        # sleeves a shade off the shirt so an arm in front of the chest stays visible
        self.cloth = _shade(look.shirt, 1.18 if sum(look.shirt) < 3 * 128 else 0.86)
        self.sleeve = self.cloth if look.long_sleeves else look.skin

    def draw(self, img: np.ndarray, f: int) -> np.ndarray:
        """Draw frame ``f`` into ``img``; returns the wrists in pixels (2, 2), dominant first."""
        look, track = self.look, self.track
        origin = np.array([look.center_x, look.shoulder_row]) + track.sway[f]
        flip = np.array([look.mirror * look.scale, look.scale])

        def to_px(p: np.ndarray) -> np.ndarray:
            return np.atleast_2d(p) * flip + origin

        self._static(img, to_px, track.head_tilt[f])
        wrists = []
        for side, arm, elbows in self.arms:
            wrist = arm.wrist[f]
            self._arm(img, to_px, shoulder_point(side), elbows[f], wrist)
            self._hand(img, to_px, side, wrist, dict(zip(HAND_FIELDS, arm.hand[f])))
            wrists.append(to_px(wrist)[0])
        return np.array(wrists[::-1])

    def _static(self, img: np.ndarray, to_px: Callable, tilt: float) -> None:
        c, s = np.cos(tilt), np.sin(tilt)
        turned = (self.points - self._NECK_PIVOT) @ np.array([[c, s], [-s, c]]) + self._NECK_PIVOT
        pixels = to_px(np.where(self.on_head[:, None], turned, self.points))
        for shape, part in zip(self.shapes, np.split(pixels, self.ends[:-1])):
            if shape.width:
                _line(img, part, shape.color, shape.width)
            else:
                _fill(img, part, shape.color)

    def _arm(
        self, img: np.ndarray, to_px: Callable, shoulder: np.ndarray, elbow: np.ndarray, wrist: np.ndarray
    ) -> None:
        cloth_edge = _shade(self.cloth, 0.6)
        _limb(img, to_px(np.stack([shoulder, elbow])), self.cloth, cloth_edge, 19 * self.look.scale)
        _limb(img, to_px(np.stack([elbow, wrist])), self.sleeve, _shade(self.sleeve, 0.6), 15 * self.look.scale)
        if not self.look.long_sleeves:
            half = shoulder + 0.55 * (elbow - shoulder)
            _limb(img, to_px(np.stack([shoulder, half])), self.cloth, cloth_edge, 21 * self.look.scale)

    def _hand(self, img: np.ndarray, to_px: Callable, side: int, wrist: np.ndarray, hand: dict[str, float]) -> None:
        size = _HAND_SCALE * hand["size"]
        open_, facing = float(np.clip(hand["open"], 0, 1)), float(np.clip(hand["facing"], -1, 1))
        u = np.array([np.cos(hand["angle"]), np.sin(hand["angle"])])
        n = np.array([-u[1], u[0]])
        thumb_side = -side * (1.0 if facing >= 0 else -1.0)
        half_len, half_width = 8.0 * size, 7.0 * size * (0.45 + 0.55 * abs(facing))
        center = wrist + u * 6.0 * size
        palm = _mix(self.skin, self.palm, max(facing, 0.0))  # the palm side is lighter
        edge = _shade(self.skin, 0.6)
        width = 3.4 * size * self.look.scale
        lengths = (15.0, 16.5, 15.0, 12.0)  # index, middle, ring, little
        for i, length in enumerate(lengths):
            offset = thumb_side * (0.75 - 0.5 * i)
            extension = 0.3 + 0.7 * (max(open_, hand["point"]) if i == 0 else open_)
            direction = _rotate(u, 0.12 * open_ * offset)
            base = center + u * half_len * 0.5 + n * half_width * offset * 0.9
            tip = base + direction * length * size * extension
            _limb(img, to_px(np.stack([base, tip])), self.skin, edge, width, rim=1.5)
        thumb_dir = _rotate(u, thumb_side * (0.35 + 0.6 * open_))
        thumb_base = center + n * half_width * thumb_side * 0.7 - u * half_len * 0.3
        thumb_tip = thumb_base + thumb_dir * 9.0 * size * (0.6 + 0.4 * open_)
        _limb(img, to_px(np.stack([thumb_base, thumb_tip])), self.skin, edge, width, rim=1.5)
        shape = _ellipse(center, half_len, half_width, np.arctan2(u[1], u[0]))
        _line(img, to_px(np.vstack([shape, shape[:1]])), edge, 1.5)
        _fill(img, to_px(shape), palm)


def _backdrop(look: Appearance) -> np.ndarray:
    """A static backdrop: a linear gradient, soft low-frequency blotches and a few panels."""
    rng = np.random.default_rng(look.backdrop_seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    ramp = xx / WIDTH * np.cos(look.backdrop_angle) + yy / HEIGHT * np.sin(look.backdrop_angle)
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
    a, b, panel = (np.array(c, dtype=np.float32) for c in look.backdrop)
    img = a + ramp[..., None] * (b - a)
    coarse = rng.uniform(0.88, 1.12, size=(4, 7)).astype(np.float32)
    blotches = cv2.resize(coarse, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    img *= blotches[..., None]
    for _ in range(rng.integers(0, 4)):
        x0, y0 = int(rng.integers(0, WIDTH - 40)), int(rng.integers(0, HEIGHT - 40))
        x1, y1 = x0 + int(rng.integers(30, 160)), y0 + int(rng.integers(20, 120))
        img[y0:y1, x0:x1] = 0.6 * img[y0:y1, x0:x1] + 0.4 * panel
    return np.clip(img, 0, 255).astype(np.uint8)


def _ellipse(
    center: tuple[float, float] | np.ndarray, rx: float, ry: float, angle: float = 0.0, n: int = 28
) -> np.ndarray:
    """(n, 2) points of an ellipse with semi-axes ``rx`` (along ``angle``) and ``ry``."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(angle), np.sin(angle)
    x, y = rx * np.cos(t), ry * np.sin(t)
    return np.stack([x * c - y * s, x * s + y * c], axis=1) + np.asarray(center)


def _mirrored(right_half: list[list[float]]) -> np.ndarray:
    """A left-right symmetric polygon from its right half (listed top to bottom)."""
    half = np.array(right_half, dtype=np.float64)
    return np.concatenate([half, half[::-1] * (-1, 1)])


def _face_outline() -> np.ndarray:
    """The face: a round forehead narrowing to the chin at (0, -26)."""
    t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    x, y = 23 * np.cos(t), 28 * np.sin(t)
    x = np.where(y > 0, x * (1 - 0.3 * (y / 28) ** 2), x)
    return np.stack([x, y - 54], axis=1)


def _rotate(v: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * _ONE).astype(np.int32)


def _fill(img: np.ndarray, points: np.ndarray, color: Color) -> None:
    cv2.fillPoly(img, [_fixed(points)], color, cv2.LINE_AA, _SHIFT)


def _line(img: np.ndarray, points: np.ndarray, color: Color, thickness: float) -> None:
    cv2.polylines(img, [_fixed(points)], False, color, max(1, round(thickness)), cv2.LINE_AA, _SHIFT)


def _limb(img: np.ndarray, segment: np.ndarray, fill: Color, edge: Color, thickness: float, rim: float = 3.0) -> None:
    """A thick round-capped segment with a dark rim ``rim`` px wider."""
    p, q = (tuple(int(v) for v in row) for row in _fixed(segment))
    cv2.line(img, p, q, edge, max(1, round(thickness + rim)), cv2.LINE_AA, _SHIFT)
    cv2.line(img, p, q, fill, max(1, round(thickness)), cv2.LINE_AA, _SHIFT)


def _shade(color: Color, factor: float) -> Color:
    return tuple(int(min(255, c * factor)) for c in color)  # type: ignore[return-value]


def _mix(a: Color, b: Color, t: float) -> Color:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))  # type: ignore[return-value]


def _jitter(color: Color, rng: np.random.Generator, amount: int) -> Color:
    shifted = np.clip(np.array(color) + rng.integers(-amount, amount + 1, size=3), 0, 255)
    return tuple(int(c) for c in shifted)  # type: ignore[return-value]


def _random_color(rng: np.random.Generator, lo: int, hi: int) -> Color:
    return tuple(int(v) for v in rng.integers(lo, hi, size=3))  # type: ignore[return-value]
