"""The simulated wallbox's protections: residual current monitor, weld check, supply and PE
supervision, temperature derating.  Each reads a physical quantity of the plant (a current that
flows, a voltage that is present, a temperature with its time constant), never a fault flag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim import faults
from sim.faults import Fault
from sim.plant import LIVE_V
from sim.thermal import ThermalModel

if TYPE_CHECKING:
    from sim.wallbox import SimulatedWallbox

_HARDWARE_RATED_A = 32.0   # the current the enclosure's thermal design is rated for
_MIN_OFFER_A = 6.0
_DESIGN_NOMINAL_V = 230.0  # the over- and under-voltage knobs are thresholds of a 230 V installation
NOMINALS_V = (100.0, 110.0, 115.0, 120.0, 127.0, 200.0, 220.0, 230.0, 240.0)
"""Nominal L-N voltages of the low-voltage grids a wide-range wallbox meets (IEC 60038 lists 230/400 V
and 120/208 V; 100, 110, 115, 127, 200, 220 and 240 V are national practice)."""


class Protections:
    def __init__(self, box: SimulatedWallbox) -> None:
        self.box = box
        self.world, self.plant, self.knobs = box.world, box.plant, box.knobs
        self.thermal = ThermalModel(box.world, box.plant, self.knobs.thermal.rise_c, _HARDWARE_RATED_A,
                                    self.knobs.thermal.time_constant_s)
        self.thermal_state = "normal"   # normal | derated | stopped | too_cold
        self.installed_phases = box.plant.phases   # what the firmware found at its last power-up
        self.nominal_v = _DESIGN_NOMINAL_V

    # --- the installation, as found at power-up ------------------------------------------------
    def detect_installation(self) -> None:
        """At power-up the firmware looks at what feeds it: live phases make the installation (L1
        alone: single-phase, WB-EL-02), and the standard nominal nearest to L1 is the voltage its
        supervision works from, so a 100 V grid is not an under-voltage of a 230 V one.  Kept until
        the next power-up: a phase lost later is a fault, not a new installation."""
        mains, k = self.plant.mains, self.knobs
        live = sum(1 for p in range(self.plant.phases) if mains.phase_live_v(p) > LIVE_V)
        self.installed_phases = live if k.supply.single_phase_supported and live == 1 else self.plant.phases
        l1 = mains.phase_live_v(0)
        self.nominal_v = min(NOMINALS_V, key=lambda v: abs(v - l1)) if k.supply.nominal_detection \
            else _DESIGN_NOMINAL_V
        self.world.record("installation", phases=self.installed_phases, nominal_v=self.nominal_v)

    # --- continuous supervision (every plant change while running) ---------------------------
    def on_plant_change(self) -> None:
        if self.box.state == "F":
            for name in ("rcd_ac", "rcd_dc", "supply", "pe"):
                self.box.stop_timer(name)
            return
        for channel in ("ac", "dc"):
            self._residual(channel)
        self._debounced("supply", self.supply_fault(), self.knobs.supply.fault_delay_s)
        self._debounced("pe", self.pe_fault(), self.knobs.supply.pe_fault_delay_ms / 1000.0)

    def _residual(self, channel: str) -> None:
        rcd = self.knobs.rcd
        trip_ma, trip_ms = (rcd.ac_trip_ma, rcd.ac_trip_time_ms) if channel == "ac" else (rcd.dc_trip_ma,
                                                                                           rcd.dc_trip_time_ms)
        flowing = self.plant.residual_flowing_ma(channel)
        self._debounced(f"rcd_{channel}", faults.residual_current(channel, flowing) if flowing >= trip_ma else None,
                        trip_ms / 1000.0, latched=rcd.latch)

    def _debounced(self, name: str, reason: Fault | None, delay_s: float, latched: bool = False) -> None:
        """A condition must last `delay_s` before the firmware acts on it; it is forgotten when it clears."""
        if reason is None:
            self.box.stop_timer(name)
        elif not self.box.timer_running(name):
            self.box.start_timer(name, delay_s, lambda: self.box.fault(reason, latched=latched))

    def supply_fault(self) -> Fault | None:
        mains, k = self.plant.mains, self.knobs
        if not k.supply.min_nominal_v <= self.nominal_v <= k.supply.max_nominal_v:
            return faults.outside_rated_supply(self.nominal_v)
        scale = self.nominal_v / _DESIGN_NOMINAL_V
        supervised = range(self.installed_phases) if k.supply.phase_supervision else range(1)
        for phase in supervised:
            volts = mains.phase_v[phase]
            if volts > k.supply.overvoltage_v * scale:
                return faults.over_voltage(phase + 1, volts)
            if volts < k.supply.undervoltage_v * scale:
                return faults.under_voltage(phase + 1, volts)
        if not self.knobs.supply.min_hz <= mains.frequency_hz <= self.knobs.supply.max_hz:
            return faults.supply_frequency(mains.frequency_hz)
        return None

    def pe_fault(self) -> Fault | None:
        return faults.pe_interrupted() if self.knobs.supply.pe_monitoring and self.plant.injection.pe_open else None

    def blocked_reason(self) -> Fault | None:
        """Why the firmware may not leave a fault hold right now."""
        return self.supply_fault() or self.pe_fault()

    # --- weld --------------------------------------------------------------------------------
    def weld_present(self) -> bool:
        if not self.knobs.contactor.weld_detection or self.plant.contactor_closed:
            return False
        return any(self.plant.output_voltage_v(k) > LIVE_V for k in range(self.plant.phases))

    def check_weld(self) -> bool:
        """True (and a latched fault) when the output is live although the contactor is open."""
        if self.weld_present():
            self.box.fault(faults.welded(), latched=True)
            return True
        return False

    def after_opening(self) -> None:
        if self.knobs.contactor.weld_detection and self.plant.mains.on:
            self.box.start_timer("weld_check", self.knobs.contactor.weld_check_after_open_ms / 1000.0, self.check_weld)

    # --- temperature -------------------------------------------------------------------------
    def start_sampling(self, power_up: bool = False) -> None:
        if power_up:
            self.thermal_state = "normal"  # the firmware starts afresh; the first sample decides
        self.box.start_timer("temperature", self.knobs.thermal.temperature_sample_s, self._sample)

    def _sample(self) -> None:
        celsius = self.thermal.sensor_c()
        k, state = self.knobs, self.thermal_state
        if state == "stopped" and not k.thermal.overtemp_auto_resume:
            pass  # held until the supply is cycled
        elif celsius >= k.thermal.overtemp_stop_c:
            state = "stopped"
        elif celsius >= k.thermal.overtemp_derate_c and state != "stopped":
            state = "derated"
        elif celsius < k.thermal.undertemp_stop_c:
            state = "too_cold"
        elif celsius < k.thermal.overtemp_resume_c:
            state = "normal"
        if state != self.thermal_state:
            self.world.record("thermal", state=state, sensor_c=round(celsius, 2))
            self.thermal_state = state
            self.box.apply_offer()
        self.start_sampling()

    def thermal_cap_a(self, setting_a: float) -> float:
        if self.thermal_state in ("stopped", "too_cold"):
            return 0.0
        if self.thermal_state == "derated":
            return max(_MIN_OFFER_A, setting_a * self.knobs.thermal.overtemp_derate_fraction)
        return float("inf")
