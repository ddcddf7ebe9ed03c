"""The simulated wallbox's beeper as a microphone would hear it: the firmware's patterns rendered
as sound, with the room around it (noise, another device's tone, a far or an overdriven
microphone), seeded so that every clip can be made again.

The firmware's own timing, independent of the rig's classifier: a short beep is 150 ms, two short
beeps 150 ms each 150 ms apart, a long beep 1 s.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np

PATTERNS_S: dict[str, tuple[tuple[float, float], ...]] = {
    "none": (),
    "short": ((0.0, 0.15),),
    "two short": ((0.0, 0.15), (0.30, 0.15)),
    "long": ((0.0, 1.0),),
}
"""(start, length) of each tone burst of a pattern."""


@dataclass(frozen=True)
class Room:
    """What surrounds the beeper in a recording."""

    tone_hz: float = 4000.0
    level: float = 0.5
    """Amplitude of the beeper at the microphone (1.0: full scale)."""
    noise: float = 0.02
    """RMS of the room's noise (pink-ish: more low than high)."""
    interferer_hz: float | None = None
    interferer_level: float = 0.0
    """Another device's steady tone."""
    clip: float | None = None
    """The microphone's input clips here (an overdriven input)."""


def render(pattern: str, room: Room, rate: int = 16_000, seconds: float = 2.5, start_s: float = 0.5,
           seed: int = 0) -> np.ndarray:
    """`pattern` (one of PATTERNS_S) starting at `start_s` in a clip of `seconds`."""
    return render_bursts([(start_s + offset, length) for offset, length in PATTERNS_S[pattern]], room, rate,
                         seconds, seed)


def render_bursts(bursts: list[tuple[float, float]], room: Room, rate: int, seconds: float,
                  seed: int = 0) -> np.ndarray:
    """Tone bursts (start s, length s, from the clip's start) in the room, `seconds` long."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    if t.size == 0:  # a STOP right after REC (a run interrupted at the tap) is an empty clip, not an error
        return np.zeros(0, dtype=np.float32)
    signal = np.zeros_like(t)
    for start, length in bursts:
        on = (t >= start) & (t < start + length)
        ramp = np.clip(np.minimum(t - start, start + length - t) / 0.003, 0.0, 1.0)
        signal += np.where(on, ramp, 0.0) * np.sin(2 * np.pi * room.tone_hz * t)
    signal *= room.level
    white = rng.normal(0.0, 1.0, t.size)
    brown = np.cumsum(white)
    window = min(256, t.size)  # "same" returns the longer of the two: a clip shorter than the window keeps its length
    brown -= np.convolve(brown, np.ones(window) / window, mode="same")    # a low rumble without drift
    noise = white + 0.05 * brown
    signal += room.noise * noise / (np.std(noise) or 1.0)
    if room.interferer_hz is not None:
        signal += room.interferer_level * np.sin(2 * np.pi * room.interferer_hz * t + rng.uniform(0, 6.28))
    if room.clip is not None:
        signal = np.clip(signal, -room.clip, room.clip)
    return signal.astype(np.float32)


class Beeper:
    """The firmware's beeper: each pattern it sounds, at its virtual instant (the newest 1000 kept)."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.beeps: list[tuple[float, str]] = []

    def beep(self, pattern: str) -> None:
        if pattern not in PATTERNS_S:
            raise ValueError(f"unknown beep pattern {pattern!r}")
        if pattern == "none":
            return
        self.world.record("beep", pattern=pattern)
        self.beeps = [*self.beeps[-999:], (self.world.now, pattern)]

    def bursts(self, t0: float, t1: float) -> list[tuple[float, float]]:
        """The tone bursts sounding in [t0, t1], from t0."""
        out = []
        for at, pattern in self.beeps:
            for offset, length in PATTERNS_S[pattern]:
                start = at + offset - t0
                if start < t1 - t0 and start + length > 0:
                    out.append((start, length))
        return out


def random_room(rng: random.Random) -> Room:
    """A lab's room as it might be: beeper 2-4.5 kHz, far or near, some noise, sometimes another
    device's tone, sometimes a clipping input."""
    level = rng.choice([0.02, 0.1, 0.5, 1.5])            # quiet, far, near, overdriven
    return Room(tone_hz=rng.uniform(2000.0, 4500.0), level=level,
                noise=level * rng.uniform(0.05, 0.5) if rng.random() < 0.8 else rng.uniform(0.001, 0.01),
                interferer_hz=rng.uniform(300.0, 6000.0) if rng.random() < 0.4 else None,
                interferer_level=level * rng.uniform(0.2, 1.0),
                clip=0.8 if level > 1.0 else None)
