"""The simulated wallbox: mode 3 EVSE firmware written from the product's point of view.

It reads its own CP level, decides what the vehicle wants, drives its generator and contactor
with the delays its knobs give, supervises the vehicle's current, and never looks at the
conformance suite's limits.
"""

from __future__ import annotations

from typing import Any

from sim.cp_circuit import Generator, Vehicle, cp_levels
from sim.plant import Plant
from sim.world import Event, World

# The firmware's own reading of the CP level (high half of the waveform), in volts; the A/B
# boundary comes from the `classifies_b_up_to_ohm` knob.
_LOWER_BANDS = ((7.5, "B"), (4.5, "C"), (1.5, "D"), (-1.5, "E"))
_DIODE_OK_BELOW_V = -10.5
_MIN_OFFER_A = 6.0
_OVERCURRENT_OFFSET_A, _OVERCURRENT_FACTOR = 0.5, 1.1


def classify(high_v: float, a_floor_v: float = 10.5) -> str:
    if high_v >= a_floor_v:
        return "A"
    for floor, letter in _LOWER_BANDS:
        if high_v >= floor:
            return letter
    return "F"


def duty_for_current(amps: float) -> float:
    """Firmware's current → duty mapping (IEC 61851-1 Annex A, as the product implements it)."""
    if amps <= 51.0:
        return amps / 0.6
    return amps / 2.5 + 64.0


def cable_rating_a(pp_ohm: float) -> float:
    """The firmware's reading of a Type 2 PP coding resistor."""
    for ohm, amps in ((100.0, 63.0), (220.0, 32.0), (680.0, 20.0), (1500.0, 13.0)):
        if abs(pp_ohm - ohm) <= 0.4 * ohm:
            return amps
    return 0.0


class SimulatedWallbox:
    """States: off, boot, A1, B1, B2, C1, C2, D-refused, E, F (fault)."""

    def __init__(self, world: World, plant: Plant, knobs: dict[str, Any]) -> None:
        self.world, self.plant, self.knobs = world, plant, knobs
        self.state = "off"
        self.cp_letter = "E"
        self._pending: Event | None = None
        self._overcurrent: Event | None = None
        self._powered = False
        plant.generator.amplitude_v = knobs["cp_generator_v"]
        plant.generator.frequency_hz = knobs["pwm_frequency_hz"]
        probe = Generator(mode="dc", amplitude_v=knobs["cp_generator_v"])
        self.a_floor_v = cp_levels(probe, Vehicle(r_ohm=knobs["classifies_b_up_to_ohm"]))[0]
        plant.listen(self._on_plant_change)

    # --- helpers -----------------------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.world.record("evse_state", old=self.state, new=state)
            self.state = state

    def _later(self, delay_ms: float, action: Any) -> None:
        self._cancel()
        self._pending = self.world.schedule(delay_ms / 1000.0, action)

    def _cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def offered_current_a(self) -> float:
        offer = self.knobs["rated_current_a"]
        offer = min(offer, cable_rating_a(self.knobs["cable_pp_ohm"]))
        return offer if offer >= _MIN_OFFER_A else 0.0

    def _generator(self, mode: str) -> None:
        gen = self.plant.generator
        duty = duty_for_current(self.offered_current_a()) + self.knobs["pwm_duty_offset_pct"]
        if gen.mode != mode or (mode == "pwm" and gen.duty_pct != duty):
            gen.mode = mode
            gen.duty_pct = duty if mode == "pwm" else (100.0 if mode == "dc" else 0.0)
            self.plant.changed()

    def _contactor(self, closed: bool) -> None:
        if self.plant.contactor_closed != closed:
            self.plant.contactor_closed = closed
            self.world.record("contactor", closed=closed)
            self.plant.changed()

    # --- reactions ---------------------------------------------------------------------------
    def _on_plant_change(self) -> None:
        if self.plant.mains.on != self._powered:
            self._powered = self.plant.mains.on
            self._power_changed()
            return
        if self.state in ("off", "boot"):
            return
        self._supervise_current()
        if self.state == "F":
            return  # the generator sits at -12 V: the vehicle cannot be read until the hold ends
        letter = classify(self.plant.cp()[0], self.a_floor_v)
        if letter != self.cp_letter:
            self.cp_letter = letter
            self._cp_changed(letter)

    def _power_changed(self) -> None:
        self._cancel()
        self._stop_overcurrent_timer()
        if self._powered:
            self._set_state("boot")
            self._pending = self.world.schedule(self.knobs["boot_time_s"], self._ready)
        else:
            self._set_state("off")
            self.cp_letter = "E"
            self._contactor(False)   # the coil loses its supply with the wallbox
            self._generator("off")

    def _ready(self) -> None:
        """Boot finished or a fault hold ended: +12 V, then read the vehicle afresh."""
        self._pending = None
        self._set_state("A1")
        self._generator("dc")
        self.cp_letter = classify(self.plant.cp()[0], self.a_floor_v)
        self._cp_changed(self.cp_letter)

    def _cp_changed(self, letter: str) -> None:
        charging = self.state == "C2"
        if self.state == "E" and letter != "E":
            self._generator("dc")
            self._settle("A1")
        if letter == "A":
            self._generator("dc")
            self._leave_charging("A1") if charging else self._settle("A1")
        elif letter == "B":
            if charging:
                self._leave_charging("B2")
            elif self.state in ("A1", "B1", "C1", "D-refused", "B2"):
                self._enter_b()
        elif letter in ("C", "D"):
            self._vehicle_asks_for_power(letter)
        elif letter == "E":
            self._set_state("E")
            self._later(self.knobs["state_e_open_delay_ms"], self._open)
        else:
            self._fault("CP below -1.5 V")

    def _settle(self, state: str) -> None:
        self._cancel()
        self._set_state(state)

    def _enter_b(self) -> None:
        if self.plant.generator.mode == "pwm":
            self._settle("B2")
            return
        self._set_state("B1")
        if self.offered_current_a() > 0:
            self._later(self.knobs["b2_pwm_delay_ms"], self._pwm_on)

    def _pwm_on(self) -> None:
        self._pending = None
        self._generator("pwm")
        self._set_state("B2")

    def _vehicle_asks_for_power(self, letter: str) -> None:
        if self.plant.generator.mode != "pwm":
            self._settle("C1")
            return
        if letter == "D" and not self.knobs["ventilation_supported"]:
            self._settle("D-refused")
            return
        if self.knobs["diode_check"] and self.plant.cp()[1] > _DIODE_OK_BELOW_V:
            self._fault("vehicle diode missing or shorted")
            return
        self._set_state("C2")
        self._later(self.knobs["contactor_close_delay_ms"], self._close)

    def _close(self) -> None:
        self._pending = None
        self._contactor(True)

    def _leave_charging(self, next_state: str) -> None:
        self._set_state(next_state)
        self._later(self.knobs["contactor_open_delay_ms"], self._open)

    def _open(self) -> None:
        self._pending = None
        self._contactor(False)

    def _fault(self, reason: str) -> None:
        """State F: contactor open, -12 V on CP, held, then back to A1 to re-read the vehicle."""
        self.world.record("evse_fault", reason=reason)
        self._cancel()
        self._stop_overcurrent_timer()
        self._set_state("F")
        self._contactor(False)
        self._generator("neg")
        self._pending = self.world.schedule(self.knobs["fault_hold_s"], self._ready)

    # --- current supervision -----------------------------------------------------------------
    def _supervise_current(self) -> None:
        if not self.knobs["overcurrent_detection"] or not self.plant.contactor_closed:
            self._stop_overcurrent_timer()
            return
        limit = (self.offered_current_a() + _OVERCURRENT_OFFSET_A) * _OVERCURRENT_FACTOR
        over = max(self.plant.phase_current_a(k) for k in range(3)) > limit
        if over and self._overcurrent is None:
            self._overcurrent = self.world.schedule(self.knobs["overcurrent_trip_s"],
                                                    lambda: self._fault("vehicle draws more than offered"))
        elif not over:
            self._stop_overcurrent_timer()

    def _stop_overcurrent_timer(self) -> None:
        if self._overcurrent is not None:
            self._overcurrent.cancel()
            self._overcurrent = None
