"""The simulated wallbox: mode 3 EVSE firmware written from the product's point of view.

It reads its own CP level, decides what the vehicle wants, drives its generator and contactor
with the delays its knobs give, supervises the vehicle's current, and never looks at the
conformance suite's limits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sim.access import AccessControl, PairingButton
from sim.beeper import Beeper
from sim.cold_load import ColdLoadDelay
from sim.cp_circuit import Generator, Vehicle, cp_levels
from sim.energy import EnergyManager
from sim.led_bar import LedShow, show_for
from sim.meter_link import MeterLink
from sim.plant import Plant
from sim.protection import Protections
from sim.rfid import FieldCard, RfidField
from sim import faults
from sim.faults import Fault
from sim.world import Timers, World
from sim.params import Knobs

if TYPE_CHECKING:
    from sim.charge_point import SimChargePoint

_E_FLOOR_V, _F_CEILING_V = 1.5, -1.5   # between them the firmware reads state E (CP at PE)
_DESIGN_GENERATOR_V = 12.0             # the thresholds are designed for the nominal generator level
_DIODE_OK_BELOW_V = -10.5
_MIN_OFFER_A = 6.0
_ELECTRONICS_MIN_V = 85.0  # the electronics' wide-range supply sits on L1 (single-phase use: 100-240 V, WB-EL-02)
_OVERCURRENT_OFFSET_A, _OVERCURRENT_FACTOR = 0.5, 1.1
_PP_CODES = ((100.0, 63.0), (220.0, 32.0), (680.0, 20.0), (1500.0, 13.0))


def duty_for_current(amps: float, six_amp_duty_pct: float = 10.0) -> float:
    """Firmware's current → duty mapping (IEC 61851-1 Annex A, as the product implements it)."""
    if amps <= _MIN_OFFER_A:
        return six_amp_duty_pct
    if amps <= 51.0:
        return amps / 0.6
    return amps / 2.5 + 64.0


def cable_rating_a(pp_ohm: float | None) -> float:
    """The firmware's reading of a Type 2 PP coding resistor; 0 for open, short or no known coding."""
    if pp_ohm is None:
        return 0.0
    for ohm, amps in _PP_CODES:
        if abs(pp_ohm - ohm) <= 0.4 * ohm:
            return amps
    return 0.0


class CpClassifier:
    """The firmware's CP level thresholds, designed (at the nominal 12 V generator) from the largest
    resistance it must read as B and the range it must read as C; a generator off its nominal
    level therefore shifts what the firmware sees, as on real hardware."""

    def __init__(self, b_up_to_ohm: float, c_up_to_ohm: float, c_down_to_ohm: float) -> None:
        def level(ohm: float) -> float:
            return cp_levels(Generator(mode="dc", amplitude_v=_DESIGN_GENERATOR_V), Vehicle(r_ohm=ohm))[0]

        self.a_floor_v = level(b_up_to_ohm)
        self.b_floor_v = level(c_up_to_ohm)
        self.c_floor_v = level(c_down_to_ohm)

    def __call__(self, high_v: float) -> str:
        for floor, letter in ((self.a_floor_v, "A"), (self.b_floor_v, "B"), (self.c_floor_v, "C"),
                              (_E_FLOOR_V, "D"), (_F_CEILING_V, "E")):
            if high_v >= floor:
                return letter
        return "F"


class SimulatedWallbox:
    """States: off, boot, A1, B1, B2, C1, C2, D-refused, E, F (fault; latched until power-off for
    residual current and welding)."""

    def __init__(self, world: World, plant: Plant, knobs: Knobs, meter_link: MeterLink | None = None,
                 setup_card: bytes | None = None) -> None:
        """`setup_card`: the UID of the setup card delivered with this wallbox (None: it has none)."""
        self.world, self.plant, self.knobs = world, plant, knobs
        self.state = "off"
        self.cp_letter = "E"
        self.setting_a = float(knobs.dut.rated_current_a)  # the installer's setting; survives power cycles
        self.paused = False
        self._timers = Timers(world)
        self._powered = False
        self._saw_b = False          # the vehicle passed through B since it was plugged in
        self._woken = False          # the wake-up step happened for this plug-in
        self._last_duty_s = -1e9
        self._cold_load = False            # an interrupted session waits its random delay
        self._cut_while_waiting = False    # the last power cut came while that delay ran
        self._needs_replug = False         # the firmware does not resume an interrupted session
        plant.generator.amplitude_v = knobs.cp.generator_v
        plant.generator.frequency_hz = knobs.cp.pwm_frequency_hz
        self.classify = CpClassifier(knobs.cp.classifies_b_up_to_ohm,
                                     knobs.cp.classifies_c_up_to_ohm, knobs.cp.classifies_c_down_to_ohm)
        self.protection = Protections(self)
        self.cold_load = ColdLoadDelay(knobs, world.dut_rng)
        self.energy = EnergyManager(world, knobs, meter_link or MeterLink(None, None),
                                    phases=lambda: min(int(knobs.dut.phases), self.protection.installed_phases),
                                    nominal_v=lambda: self.protection.nominal_v, own_current_a=plant.phase_current_a,
                                    dimmed=lambda: any(plant.injection.grid_contact), changed=self.apply_offer)
        self._dimmed = False
        self.fault_reason: Fault | None = None
        self.ocpp: SimChargePoint | None = None
        """The OCPP charge point (the comms module), when the lab has a backend to connect to."""
        self._ocpp_due = False
        self.beeper = Beeper(world)
        self.rfid = RfidField(world)
        self.access = AccessControl(world, self, knobs, self.beeper, setup_card)
        self.pairing = PairingButton(world, self, knobs)
        self.rfid.listen(self._card)
        plant.listen(self._on_plant_change)

    # --- timers ------------------------------------------------------------------------------
    def start_timer(self, name: str, delay_s: float, action: Callable[[], object]) -> None:
        """A firmware timer (one per name): the protections' debounces and samplers run on these."""
        self._timers.start(name, delay_s, action)

    def stop_timer(self, *names: str) -> None:
        self._timers.stop(*names)

    def timer_running(self, name: str) -> bool:
        return name in self._timers


    def _stop_session_timers(self) -> None:
        """Everything but what runs as long as the wallbox is powered: temperature sampling, supply hold-up."""
        self.stop_timer(*[name for name in self._timers.names() if name not in ("temperature", "hold_up")])

    def _card(self, card: FieldCard | None) -> None:
        """The reader runs while the controller does (not while it boots or updates)."""
        if self.state not in ("off", "boot", "update"):
            self.access.card_seen(card)

    @property
    def waiting(self) -> bool:
        """Out of service for now: a cold-load delay runs (the bar sweeps, as paused)."""
        return self._cold_load

    def led_show(self) -> LedShow:
        return show_for(self.state, self.paused, self._cold_load, self.knobs)

    # --- installer interface -----------------------------------------------------------------
    def set_setting(self, amps: float) -> None:
        self.world.record("installer_setting", amps=amps)
        self.setting_a = amps
        self.apply_offer()

    def set_paused(self, paused: bool) -> None:
        self.world.record("installer_pause", paused=paused)
        self.paused = paused
        self.apply_offer()

    def start_firmware_update(self) -> bool:
        """An installer-started update: refused while supplying or faulted; the bar shows the update
        pattern, nothing is offered, then the wallbox reboots into the image."""
        if self.state in ("off", "boot", "update", "F") or self._supplying:
            return False
        self.world.record("firmware_update", duration_s=self.knobs.led.firmware_update_s)
        self._stop_session_timers()
        self._generator("dc")
        self._set_state("update")
        self.start_timer("sequence", self.knobs.led.firmware_update_s, self._reboot)
        return True

    def _reboot(self) -> None:
        self._generator("off")  # the controller restarts: no CP until it is up again
        self._boot()

    def restart(self) -> None:
        """A reset from the backend: everything stops, the contactor opens, the wallbox boots again."""
        self.world.record("reset")
        self.stop_timer(*[name for name in self._timers.names() if name != "hold_up"])
        self._contactor(False)
        if self.ocpp is not None:
            self.ocpp.powered_down()
            self.ocpp.powered_up()
        self._reboot()

    def _boot(self) -> None:
        self.cold_load.booted()
        self.protection.detect_installation()
        self._set_state("boot")
        self.start_timer("sequence", self.knobs.dut.boot_time_s, lambda: self._ready(after_boot=True))

    # --- what is offered ---------------------------------------------------------------------
    def _cable_limit_a(self) -> float:
        """The cable's rating as the firmware reads it; +inf where the firmware does not cap by it."""
        rating = cable_rating_a(self.plant.pp_ohm())
        if self.knobs.dut.connector == "tethered":
            return rating
        if rating == 0.0:
            return 0.0 if self.knobs.dut.pp_invalid_blocks else float("inf")
        return rating if self.knobs.dut.pp_caps_offer else float("inf")

    def offered_current_a(self) -> float:
        if self.paused or self._cold_load or self._needs_replug or not self.access.allows_offer():
            return 0.0
        setting = self.setting_a
        if setting == 0 and self.knobs.cp.zero_setting_offers_min:
            setting = _MIN_OFFER_A
        offer = min(setting, self._cable_limit_a(), self.protection.thermal_cap_a(setting), self.energy.cap_a,
                    self.ocpp.cap_a() if self.ocpp is not None else float("inf"))
        return offer if offer >= _MIN_OFFER_A else 0.0

    def _duty(self) -> float:
        return duty_for_current(self.offered_current_a(), self.knobs.cp.min_current_duty_pct) \
            + self.knobs.cp.pwm_duty_offset_pct

    # --- outputs -----------------------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.world.record("evse_state", old=self.state, new=state)
            self.state = state
            self._tell_ocpp()

    def _tell_ocpp(self) -> None:
        """The charge point looks at what changed once the current event is over."""
        if self.ocpp is not None and not self._ocpp_due:
            self._ocpp_due = True
            self.world.schedule(0.0, self._ocpp_changed)

    def _ocpp_changed(self) -> None:
        self._ocpp_due = False
        if self.ocpp is not None:
            self.ocpp.changed()

    def _generator(self, mode: str, duty_pct: float = 100.0) -> None:
        gen = self.plant.generator
        duty = duty_pct if mode == "pwm" else (100.0 if mode == "dc" else 0.0)
        if gen.mode != mode or gen.duty_pct != duty:
            if mode == "pwm":
                self._last_duty_s = self.world.now
            gen.mode, gen.duty_pct = mode, duty
            self.plant.changed()
            self._tell_ocpp()

    def _pwm_on(self) -> None:
        self._generator("pwm", self._duty())

    def _contactor(self, closed: bool) -> None:
        if self.plant.contactor_closed != closed:
            self.plant.contactor_closed = closed
            self.world.record("contactor", closed=closed)
            self.plant.changed()
            self._tell_ocpp()
            if not closed:
                self.protection.after_opening()

    @property
    def _supplying(self) -> bool:
        """Contactor closed, or about to close for a C2 already accepted."""
        return self.plant.contactor_closed or self.timer_running("close")

    # --- reactions ---------------------------------------------------------------------------
    def _on_plant_change(self) -> None:
        supplied = self.plant.mains.phase_live_v(0) >= _ELECTRONICS_MIN_V
        if supplied:
            self.stop_timer("hold_up")
        if supplied and not self._powered:
            self._powered = True
            self._power_changed()
            return
        if not supplied and self._powered and not self.timer_running("hold_up"):
            # the bulk capacitor carries the electronics (CP generator, contactor coil) through a short dip
            self.start_timer("hold_up", self.knobs.dut.hold_up_ms / 1000.0, self._supply_lost)
        if self.state in ("off", "boot", "update"):
            return
        dimmed = any(self.plant.injection.grid_contact)
        if dimmed != self._dimmed:   # the grid operator's contact PS_1/PS_2 (WB-PS-01)
            self._dimmed = dimmed
            self.world.record("grid_operator_contact", dimmed=dimmed)
            self.energy.reevaluate()
        self.protection.on_plant_change()
        self._supervise_current()
        if self.state == "F":
            return  # the generator sits at -12 V: the vehicle cannot be read until the hold ends
        letter = self.classify(self.plant.cp()[0])
        if letter != self.cp_letter:
            self.cp_letter = letter
            self._cp_changed(letter)

    def _supply_lost(self) -> None:
        self._powered = False
        self._power_changed()

    def _power_changed(self) -> None:
        self.stop_timer(*self._timers.names())
        self.pairing.powered(self._powered)
        self.access.powered(self._powered)
        if self.ocpp is not None:
            self.ocpp.powered_up() if self._powered else self.ocpp.powered_down()
        if self._powered:
            self.energy.start()
            self._boot()
        else:
            self._set_state("off")
            self.energy.stop()
            self.cp_letter = "E"
            self._cut_while_waiting = self._cold_load
            self._cold_load = self._needs_replug = False
            self._generator("off")
            self._contactor(False)   # the coil loses its supply with the wallbox

    def _ready(self, after_boot: bool = False) -> None:
        """Boot finished or a fault hold ended: checks, +12 V, then read the vehicle afresh.

        After a power-up with a vehicle still connected, the interrupted session resumes only
        after a random delay (cold-load pickup), so that a street of wallboxes does not restart
        at once."""
        if after_boot:
            self.protection.start_sampling(power_up=True)
        reason = self.protection.blocked_reason()
        if reason is not None:
            self.fault(reason)
            return
        if self.protection.check_weld():
            return
        self._set_state("A1")
        self._saw_b = False
        self._generator("dc")
        self.cp_letter = self.classify(self.plant.cp()[0])
        if after_boot and self.cp_letter in ("B", "C", "D"):
            if self.knobs.cold_load.restarts_after_mains_loss:
                self._cold_load = True
                delay = self.cold_load.draw_s()
                if self._cut_while_waiting and not self.knobs.cold_load.every_boot:
                    delay = 0.0  # this firmware counts the delay as served once it started
                self.world.record("cold_load_delay", delay_s=delay)
                self.start_timer("cold_load", delay, self._cold_load_over)
            else:
                self._needs_replug = True
        self._cp_changed(self.cp_letter)

    def _cold_load_over(self) -> None:
        self._cold_load = False
        self.apply_offer()

    def _cp_changed(self, letter: str) -> None:
        if letter not in ("C", "D"):
            self.stop_timer("c1_cutoff")
        if letter != "B":
            self.stop_timer("wake_up")
            if self.timer_running("wake_up_end"):  # the vehicle reacted: the wake-up step ends early
                self.stop_timer("wake_up_end")
                if letter in ("C", "D") and self.offered_current_a() > 0:
                    self._pwm_on()
        if self.state == "E" and letter != "E":
            self._generator("dc")
            self._set_state("A1")
        if letter == "A":
            if self.ocpp is not None:
                self.ocpp.vehicle_left()
            self.access.vehicle_left()
            self._saw_b = self._woken = self._needs_replug = False
            self._cold_load = False  # the interrupted session is over; a new plug-in is a new session
            self.stop_timer("cold_load")
            self._generator("dc")
            self._leave_supply("A1")
        elif letter == "B":
            self._saw_b = True
            if self._supplying:
                self._leave_supply("B2" if self.plant.generator.mode == "pwm" else "B1")
            else:
                self._enter_b()
        elif letter in ("C", "D"):
            self._vehicle_asks_for_power(letter)
        elif letter == "E":
            self.stop_timer("sequence", "close")
            self._set_state("E")
            self.start_timer("open", self.knobs.cp.state_e_open_delay_ms / 1000.0, lambda: self._contactor(False))
        else:
            self.fault(faults.cp_negative_low())

    def _leave_supply(self, next_state: str) -> None:
        """The vehicle left C: stop any pending close, open after the firmware's delay."""
        self.stop_timer("sequence", "close")
        self._set_state(next_state)
        if self.plant.contactor_closed:
            self.start_timer("open", self.knobs.contactor.open_delay_ms / 1000.0, lambda: self._contactor(False))

    def _enter_b(self) -> None:
        self.stop_timer("sequence")
        if self.protection.check_weld():
            return  # pre-session check: a live output with the contactor open is a weld
        if self.plant.generator.mode == "pwm":
            self._set_state("B2")
            self._arm_wake_up()
            return
        self._set_state("B1")
        if self.offered_current_a() > 0:
            self.start_timer("sequence", self.knobs.cp.b2_pwm_delay_ms / 1000.0, self._b2)

    def _b2(self) -> None:
        self._pwm_on()
        self._set_state("B2")
        self._arm_wake_up()

    def _arm_wake_up(self) -> None:
        if self.knobs.cp.wake_up_enabled and not self._woken and not self.timer_running("wake_up"):
            self.start_timer("wake_up", self.knobs.cp.wake_up_after_s, self._wake_up)

    def _wake_up(self) -> None:
        """A.5.3: one x1 step, so that a vehicle that fell asleep in B2 notices the offer again."""
        self._woken = True
        self.world.record("wake_up")
        self._generator("dc")
        self._set_state("B1")
        self.start_timer("wake_up_end", self.knobs.cp.wake_up_step_s, self.apply_offer)

    def _vehicle_asks_for_power(self, letter: str) -> None:
        self.stop_timer("sequence")
        if not self._saw_b and self.knobs.cp.closes_on_a_to_c_jump and not self.plant.contactor_closed:
            self._set_state("C1")
            self.start_timer("close", self.knobs.contactor.close_delay_ms / 1000.0, lambda: self._contactor(True))
            return
        if self.plant.generator.mode != "pwm":
            if not self.plant.contactor_closed:
                self._set_state("C1")  # no offer (x1): the vehicle waits, nothing closes
                if self.offered_current_a() > 0 and not self.timer_running("wake_up_end"):
                    # C without a B first (a jump, or a vehicle that stayed in C over a power cut):
                    # offer first, close only once the offer stands (x2)
                    self.start_timer("sequence", self.knobs.cp.b2_pwm_delay_ms / 1000.0, self._offer_in_c)
            return
        if letter == "D" and not self.knobs.cp.ventilation_supported:
            self._leave_supply("D-refused")
            return
        if self.knobs.cp.diode_check and self.plant.cp()[1] > _DIODE_OK_BELOW_V:
            self.fault(faults.diode_missing())
            return
        if self.protection.check_weld():
            return  # never close onto a welded pole's live output
        self._set_state("C2")
        self.stop_timer("open")
        if not self.plant.contactor_closed:
            self.start_timer("close", self.knobs.contactor.close_delay_ms / 1000.0, lambda: self._contactor(True))

    def _offer_in_c(self) -> None:
        self._pwm_on()
        self._vehicle_asks_for_power(self.cp_letter)

    # --- offer changes (installer setting, pause, wake-up end) -------------------------------
    def apply_offer(self) -> None:
        """Bring the generator to the current offer; duty changes at most once per the update interval."""
        if self.state not in ("B1", "B2", "C1", "C2") or self.timer_running("wake_up_end"):
            return  # not plugged in, or mid wake-up step: the offer takes effect later
        offer = self.offered_current_a()
        pwm = self.plant.generator.mode == "pwm"
        if offer == 0.0:
            self.stop_timer("duty_update", "sequence")
            if pwm:
                self._generator("dc")
                self._set_state("B1" if self.state == "B2" else "C1")
                self.stop_timer("overcurrent")  # nothing is offered now: the C1 cut-off takes over
                if self.state == "C1" and self._supplying:
                    self.stop_timer("close")
                    self.start_timer("c1_cutoff", self.knobs.cp.c1_cutoff_s, self._c1_cutoff)
            return
        if not pwm:
            self._pwm_on()
            self.stop_timer("c1_cutoff")
            if self.state == "B1":
                self._set_state("B2")
                self._arm_wake_up()
            elif self.cp_letter in ("C", "D"):
                self._vehicle_asks_for_power(self.cp_letter)
            return
        if self._duty() == self.plant.generator.duty_pct:
            self.stop_timer("duty_update")
            return
        wait = self._last_duty_s + self.knobs.cp.pwm_update_min_interval_s - self.world.now
        if wait <= 1e-9:  # a float remainder is no reason to wait (and would fire at the same instant)
            self._pwm_on()
        elif not self.timer_running("duty_update"):
            self.start_timer("duty_update", wait, self.apply_offer)

    def _c1_cutoff(self) -> None:
        self.world.record("c1_cutoff")
        self._contactor(False)

    # --- faults and current supervision ------------------------------------------------------
    def fault(self, reason: Fault, latched: bool = False) -> None:
        """State F: contactor open, -12 V on CP; held, then back to A1 to re-read the vehicle, or,
        latched, until the supply is cut."""
        self.world.record("evse_fault", reason=reason.text, latched=latched)
        self.fault_reason = reason
        self._stop_session_timers()
        self._set_state("F")
        self._generator("neg")
        self._contactor(False)
        if latched:  # no hold timer: only cutting the supply (WB-TR-01) brings it back
            self.stop_timer("weld_check")
        else:
            self.start_timer("sequence", self.knobs.cp.fault_hold_s, self._ready)

    def _supervise_current(self) -> None:
        if not self.knobs.contactor.overcurrent_detection or self.state != "C2" or not self.plant.contactor_closed:
            self.stop_timer("overcurrent")
            return
        limit = (self.offered_current_a() + _OVERCURRENT_OFFSET_A) * _OVERCURRENT_FACTOR
        over = max(self.plant.phase_current_a(k) for k in range(3)) > limit
        if over and not self.timer_running("overcurrent"):
            self.start_timer("overcurrent", self.knobs.contactor.overcurrent_trip_s,
                        lambda: self.fault(faults.overcurrent()))
        elif not over:
            self.stop_timer("overcurrent")
