"""From a recording of the wallbox's beeper to what a person hears: none, one short beep, two
short beeps, or one long beep (WB-AC-03's vocabulary), with the onsets and durations behind it.

Built for a microphone in a lab, not for a clean signal:

- the beeper is found, not configured: the frequency band whose level swings most between its
  quiet and its loud moments (a beep switches on and off; room noise and another device's steady
  tone do not), so any piezo between 1 and 8 kHz is heard;
- every threshold is relative to the recording itself: a quiet recording, a clipped one (clipping
  adds harmonics, the fundamental still swings most) or a loud room move floor and peak together;
- a swing smaller than `min_contrast_db` is no beep at all, so noise alone classifies as none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FRAME_S = 0.010
"""Analysis frame (10 ms): finer than any beep or gap a person tells apart, coarse enough to
resolve a tone (100 Hz bins)."""


@dataclass(frozen=True)
class BeepRules:
    """How durations become words; rig conventions, not the product's (the manuals name the
    patterns, not their timing)."""

    band_hz: tuple[float, float] = (1000.0, 8000.0)
    """Where a beeper may sound: piezo buzzers of wallboxes sit at 2-4.5 kHz."""
    min_contrast_db: float = 7.0
    """The beeper's band must swing this much more than a typical band does (noise alone swings
    about 13 dB between a frame's 20th and 99th percentile), else there is no beep."""
    min_beep_s: float = 0.04
    """Shorter bursts are clicks, not beeps."""
    merge_gap_s: float = 0.04
    """Shorter drop-outs inside a beep are noise, not a gap."""
    short_max_s: float = 0.45
    """A beep up to this long is short; one from `long_min_s` on is long; between is unclear."""
    long_min_s: float = 0.65
    pair_gap_max_s: float = 1.0
    """Two short beeps closer than this are one 'two short beeps'."""


@dataclass(frozen=True)
class BeepReading:
    pattern: str
    """none | short | two short | long | unclear"""
    beeps: tuple[tuple[float, float], ...] = field(default=())
    """(onset s, duration s) of each beep, from the recording's start."""
    frequency_hz: float | None = None
    contrast_db: float = 0.0

    def describe(self) -> str:
        if not self.beeps:
            return f"{self.pattern} (contrast {self.contrast_db:.1f} dB)"
        parts = ", ".join(f"{d * 1000:.0f} ms at {t:.2f} s" for t, d in self.beeps)
        return f"{self.pattern}: {parts} ({self.frequency_hz:.0f} Hz, contrast {self.contrast_db:.1f} dB)"


def _band_envelopes(samples: np.ndarray, rate: float, rules: BeepRules) -> tuple[np.ndarray, np.ndarray]:
    """Level (dB) per frame of every frequency bin inside the beeper band: (bin frequencies, levels)."""
    n = max(8, int(round(FRAME_S * rate)))
    frames = len(samples) // n
    if frames < 3:
        return np.zeros(0), np.zeros((0, 0))
    block = samples[: frames * n].reshape(frames, n) * np.hanning(n)
    spectrum = np.abs(np.fft.rfft(block, axis=1)) ** 2
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    inside = (freqs >= rules.band_hz[0]) & (freqs <= min(rules.band_hz[1], 0.45 * rate))   # clear of Nyquist
    power = spectrum[:, inside]
    # a tone leaks into its neighbours: sum each bin with both (the beeper's level, whatever its exact pitch)
    padded = np.pad(power, ((0, 0), (1, 1)))
    power = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
    # and over three frames (30 ms, a fifth of the shortest beep): noise's frame-to-frame scatter
    # shrinks by half in dB, a beep's edges move by a frame at most
    padded = np.pad(power, ((1, 1), (0, 0)), mode="edge")
    power = (padded[:-2] + padded[1:-1] + padded[2:]) / 3.0
    return freqs[inside], 10.0 * np.log10(power + 1e-20)


def _segments(on: np.ndarray, rules: BeepRules) -> list[tuple[float, float]]:
    edges = np.flatnonzero(np.diff(np.concatenate(([0], on.astype(int), [0]))))
    runs = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and (a - merged[-1][1]) * FRAME_S < rules.merge_gap_s:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    return [(a * FRAME_S, (b - a) * FRAME_S) for a, b in merged if (b - a) * FRAME_S >= rules.min_beep_s]


def classify(samples: np.ndarray, rate: float, rules: BeepRules = BeepRules()) -> BeepReading:
    """What a recording of the beeper says."""
    mono = np.asarray(samples, dtype=float)
    if mono.ndim == 2:
        mono = mono.mean(axis=1)
    if mono.size == 0 or not np.any(mono):
        return BeepReading("none")
    freqs, levels = _band_envelopes(mono - mono.mean(), rate, rules)
    if levels.size == 0:
        return BeepReading("none")
    floor = np.percentile(levels, 20, axis=0)
    peak = np.percentile(levels, 99, axis=0)
    swing = peak - floor
    best = int(np.argmax(swing))
    contrast = float(swing[best] - np.median(swing))   # how far the beeper's band stands out from noise
    if contrast < rules.min_contrast_db:
        return BeepReading("none", contrast_db=contrast)
    threshold = floor[best] + swing[best] / 2.0
    beeps = _segments(levels[:, best] > threshold, rules)
    reading = dict(beeps=tuple(beeps), frequency_hz=float(freqs[best]), contrast_db=contrast)
    if not beeps:
        return BeepReading("none", **reading)  # type: ignore[arg-type]
    durations = [d for _, d in beeps]
    if len(beeps) == 1:
        d = durations[0]
        word = "short" if d <= rules.short_max_s else "long" if d >= rules.long_min_s else "unclear"
        return BeepReading(word, **reading)  # type: ignore[arg-type]
    if len(beeps) == 2 and max(durations) <= rules.short_max_s \
            and beeps[1][0] - (beeps[0][0] + beeps[0][1]) <= rules.pair_gap_max_s:
        return BeepReading("two short", **reading)  # type: ignore[arg-type]
    return BeepReading("unclear", **reading)  # type: ignore[arg-type]
