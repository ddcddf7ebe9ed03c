"""A virtual camera looking at the LED bar: frames as a cheap bench camera takes them.

Linear light from the bar (`sim.led_bar`) on a dark housing, then what a real camera and scene do
to it: light bleeding from a segment into its neighbours' regions (diffuser, glare), optical blur,
exposure drifting slowly (auto exposure), white-balance gains away from neutral, sensor noise,
gamma encoding and 8-bit clipping.  The classifier is tested on these frames, and
`wallbox-rig sim led-clip` writes them as a video file to rehearse `wallbox-rig led classify`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

WIDTH, HEIGHT = 320, 120
ROIS: dict[str, tuple[int, int, int, int]] = {f"S{k + 1}": (28 + 70 * k, 46, 54, 28) for k in range(4)}
"""Segment regions (x, y, w, h) in the virtual camera's frame; a rig file gives its camera's own."""
GAMMA = 2.2
REFERENCE_ROI = (296, 4, 20, 16)
"""A matte patch of the housing, lit by the room: what `roi_ref` points at to undo exposure drift."""

Light = Callable[[float], list[tuple[float, float, float]]]


@dataclass(frozen=True)
class CameraConditions:
    fps: float = 30.0
    noise_dn: float = 4.0                # sensor noise, 8-bit counts (sigma)
    blur_px: float = 2.0                 # optical blur (sigma)
    bleed: float = 0.2                   # share of a segment's light that glows over its neighbours
    exposure: float = 0.9                # gain on the bar's light
    exposure_drift: float = 0.15         # slow auto-exposure wander (relative amplitude)
    drift_period_s: float = 7.0
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)   # r, g, b gains
    ambient: float = 0.03                # housing and room light
    reference: float = 0.3               # the reference patch's light (before exposure)

    @staticmethod
    def bad_day(rng: random.Random) -> CameraConditions:
        """Conditions a bench might have on a bad day: each factor drawn over a realistic span."""
        return CameraConditions(fps=rng.choice((15.0, 25.0, 30.0)), noise_dn=rng.uniform(1.0, 8.0),
                                blur_px=rng.uniform(0.5, 4.0), bleed=rng.uniform(0.0, 0.3),
                                exposure=rng.uniform(0.5, 1.4), exposure_drift=rng.uniform(0.0, 0.2),
                                drift_period_s=rng.uniform(3.0, 15.0),
                                white_balance=(rng.uniform(0.8, 1.2), rng.uniform(0.85, 1.15), rng.uniform(0.8, 1.2)),
                                ambient=rng.uniform(0.0, 0.08))


def _mask() -> np.ndarray:
    mask = np.zeros((4, HEIGHT, WIDTH), dtype=np.float32)
    for k, (x, y, w, h) in enumerate(ROIS.values()):
        mask[k, y:y + h, x:x + w] = 1.0
    return mask


_MASK = _mask()
_LUT_SIZE = 4096
_GAMMA_LUT = (np.power(np.linspace(0.0, 1.0, _LUT_SIZE), 1.0 / GAMMA) * 255.0).astype(np.float32)
_NOISE = np.random.default_rng(0).standard_normal((48, HEIGHT, WIDTH, 3), dtype=np.float32)
"""Unit sensor-noise frames, drawn from per frame: the same statistics at a tenth of the cost."""


@lru_cache(maxsize=64)
def _spread(bleed: float, blur_px: float) -> np.ndarray:
    """Where each segment's light lands on the sensor: its own area, a glow over the neighbours,
    the lens blur.  Light adds linearly, so this is computed once per scene, not per frame."""
    import cv2

    out = np.empty_like(_MASK)
    for k in range(4):
        img = _MASK[k].copy()
        if bleed > 0:
            glow = cv2.GaussianBlur(_MASK[k], (0, 0), sigmaX=40)
            img += bleed * glow / float(glow.max())
        out[k] = cv2.GaussianBlur(img, (0, 0), sigmaX=blur_px) if blur_px > 0 else img
    return out


def render(light: list[tuple[float, float, float]], t: float, cond: CameraConditions,
           rng: np.random.Generator) -> np.ndarray:
    """One BGR uint8 frame of the bar showing `light` (linear rgb per segment) at time t."""
    gain = cond.exposure * (1 + cond.exposure_drift * math.sin(2 * math.pi * t / cond.drift_period_s))
    colours = np.asarray(light, dtype=np.float32) * gain                       # (4, 3)
    img = np.tensordot(_spread(round(cond.bleed, 3), round(cond.blur_px, 2)), colours, axes=([0], [0]))
    img = img + np.float32(cond.ambient)
    x, y, w, h = REFERENCE_ROI
    img[y:y + h, x:x + w] += np.float32(cond.reference * gain)
    img = img * np.asarray(cond.white_balance, dtype=np.float32)
    encoded = _GAMMA_LUT[(np.clip(img, 0.0, 1.0) * (_LUT_SIZE - 1)).astype(np.int32)]
    encoded += _NOISE[rng.integers(len(_NOISE))] * np.float32(cond.noise_dn)
    return np.clip(encoded, 0, 255).astype(np.uint8)[:, :, ::-1].copy()   # RGB -> BGR, as OpenCV delivers


def clip(light: Light, seconds: float, cond: CameraConditions, seed: int = 0) -> list[tuple[float, np.ndarray]]:
    rng = np.random.default_rng(seed)
    count = int(seconds * cond.fps)
    return [(k / cond.fps, render(light(k / cond.fps), k / cond.fps, cond, rng)) for k in range(count)]


def write_clip(path: str, frames: list[tuple[float, np.ndarray]], fps: float) -> None:
    """A video file any VideoCapture can replay (MJPG in AVI: no codec beyond OpenCV's own)."""
    import cv2

    writer = cv2.VideoWriter(path, cv2.VideoWriter.fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise OSError(f"cannot write a video file at {path}")
    try:
        for _, frame in frames:
            writer.write(frame)
    finally:
        writer.release()
