"""The bench wiring as one model: mains, the wallbox's contactor, the vehicle circuit, the load.

Components change the plant through its setters; the plant then tells every listener (the
wallbox firmware, the CP board's edge capture, the analyser's integrator) at the world's now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sim.cp_circuit import Generator, Vehicle, cp_levels
from sim.world import World


LIVE_V = 50.0
"""An output above this many volts is live (the CP board's sense, the firmware's weld check)."""


@dataclass
class Mains:
    """The AC source's output: one L-N voltage per phase (a lost phase is 0 V), one frequency."""

    on: bool = False
    phase_v: list[float] = field(default_factory=lambda: [230.0, 230.0, 230.0])
    frequency_hz: float = 50.0

    def phase_live_v(self, phase: int) -> float:
        return self.phase_v[phase] if self.on else 0.0


@dataclass
class Injection:
    """What the fault box applies to the bench (all off is the box's safe state)."""

    residual_ma: dict[str, float] = field(default_factory=lambda: {"ac": 0.0, "dc": 0.0})
    leakage_siemens: float = 0.0
    """Conductance from output L1 to PE (a bench's resistor ladder): its current follows the voltage."""
    weld: list[bool] = field(default_factory=lambda: [False, False, False])
    pe_open: bool = False
    sensor_override_c: float | None = None
    chamber_c: float | None = None
    grid_contact: tuple[bool, bool] = (False, False)


@dataclass
class Load:
    on: list[bool] = field(default_factory=lambda: [False, False, False])
    current_a: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])


class Plant:
    def __init__(self, world: World, phases: int, plug_pp_ohm: float | None) -> None:
        self.world = world
        self.phases = phases
        self.plug_pp_ohm = plug_pp_ohm  # the tethered plug's own PP-PE resistor; None: socket outlet
        self.mains = Mains()
        self.vehicle = Vehicle()
        self.generator = Generator()
        self.contactor_closed = False
        self.load = Load()
        self.injection = Injection()
        self.room_c = 25.0  # ambient when no chamber setpoint is given
        self._listeners: list[Callable[[], None]] = []

    def listen(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def changed(self) -> None:
        for callback in list(self._listeners):
            callback()

    # --- derived quantities ----------------------------------------------------------------
    def cp(self) -> tuple[float, float]:
        return cp_levels(self.generator, self.vehicle)

    def pp_ohm(self) -> float | None:
        """PP-PE resistance seen on the vehicle side: the tethered plug's, or the cable the board presents."""
        return self.plug_pp_ohm if self.plug_pp_ohm is not None else self.vehicle.pp_ohm

    def output_voltage_v(self, phase: int) -> float:
        """Vehicle-side L-N voltage of `phase` (0-based); a welded pole conducts with the coil released."""
        if phase < self.phases and (self.contactor_closed or self.injection.weld[phase]):
            return self.mains.phase_live_v(phase)
        return 0.0

    def residual_flowing_ma(self, channel: str) -> float:
        """The fault box draws its residual current from output L1 to PE: it flows only while L1 is
        live and PE is connected, so opening the contactor is what stops it."""
        if self.output_present() and not self.injection.pe_open:
            through_ladder = 1000.0 * self.injection.leakage_siemens * self.output_voltage_v(0) if channel == "ac" else 0.0
            return self.injection.residual_ma[channel] + through_ladder
        return 0.0

    def ambient_c(self) -> float:
        return self.injection.chamber_c if self.injection.chamber_c is not None else self.room_c

    def output_present(self) -> bool:
        return self.output_voltage_v(0) > LIVE_V

    def phase_current_a(self, phase: int) -> float:
        if self.load.on[phase] and self.output_voltage_v(phase) > 0:
            return self.load.current_a[phase]
        return 0.0

    def phase_power_w(self, phase: int) -> float:
        return self.output_voltage_v(phase) * self.phase_current_a(phase)
