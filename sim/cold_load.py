"""The firmware's cold-load pickup delay: after a power-up with a vehicle still connected, an
interrupted session waits a random delay, so that a street of wallboxes does not restart at once.

The knobs can make the draw degenerate the ways real firmware does: a fixed delay, a handful of
values, or a PRNG seeded with the same constant at every boot (the same sequence after every
power cut).
"""

from __future__ import annotations

import random
from sim.params import Knobs

DISTRIBUTIONS = ("uniform", "fixed", "steps")
_STEPS = 4                   # "steps": one of this many evenly spaced values
_FACTORY_SEED = 0x5EED       # what a firmware without an entropy source seeds its PRNG with


class ColdLoadDelay:
    def __init__(self, knobs: Knobs, lab_rng: random.Random) -> None:
        self.knobs = knobs
        self._lab_rng = lab_rng
        self._rng = lab_rng

    def booted(self) -> None:
        """A power-up: firmware with a per-boot seed keeps drawing fresh values; one without starts over."""
        if not self.knobs.cold_load.seed_per_boot:
            self._rng = random.Random(_FACTORY_SEED)

    def draw_s(self) -> float:
        low, high = self.knobs.cold_load.min_s, max(self.knobs.cold_load.min_s, self.knobs.cold_load.max_s)
        kind = self.knobs.cold_load.distribution
        if kind == "fixed":
            return (low + high) / 2
        if kind == "steps":
            return low + (high - low) * self._rng.randrange(_STEPS) / (_STEPS - 1)
        return self._rng.uniform(low, high)
