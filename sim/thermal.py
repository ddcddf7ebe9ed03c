"""The wallbox's internal temperature: a first-order thermal model, heated by its own current.

The enclosure relaxes towards ambient + a rise that grows with the square of the current (I²R
in contactor, terminals and cable), with one time constant; a sensor reads it, unless the fault
box overrides the sensor.  Evaluated exactly between changes, so virtual time may jump.
"""

from __future__ import annotations

import math

from sim.plant import Plant
from sim.world import World


class ThermalModel:
    def __init__(self, world: World, plant: Plant, rise_c_at_rated: float, rated_a: float, tau_s: float) -> None:
        self.world, self.plant = world, plant
        self.rise_c_at_rated, self.rated_a, self.tau_s = rise_c_at_rated, rated_a, tau_s
        self._t_s = world.now
        self._internal_c = plant.ambient_c()
        self._target_c = self._target()
        plant.listen(self.update)

    def _target(self) -> float:
        current = max(self.plant.phase_current_a(k) for k in range(3))
        return self.plant.ambient_c() + self.rise_c_at_rated * (current / self.rated_a) ** 2

    def update(self) -> None:
        """Advance the temperature to now under the old target, then take the new one."""
        dt = self.world.now - self._t_s
        if dt > 0:
            decay = math.exp(-dt / self.tau_s) if self.tau_s > 0 else 0.0
            self._internal_c = self._target_c + (self._internal_c - self._target_c) * decay
            self._t_s = self.world.now
        self._target_c = self._target()

    def internal_c(self) -> float:
        self.update()
        return self._internal_c

    def sensor_c(self) -> float:
        override = self.plant.injection.sensor_override_c
        return override if override is not None else self.internal_c()
