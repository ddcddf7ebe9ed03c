"""The simulated wallbox's protections: residual current monitor, weld check, supply and PE
supervision, temperature derating.  Each reads a physical quantity of the plant (a current that
flows, a voltage that is present, a temperature with its time constant), never a fault flag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.plant import LIVE_V
from sim.thermal import ThermalModel

if TYPE_CHECKING:
    from sim.wallbox import SimulatedWallbox

_HARDWARE_RATED_A = 32.0   # the current the enclosure's thermal design is rated for
_MIN_OFFER_A = 6.0


class Protections:
    def __init__(self, box: SimulatedWallbox) -> None:
        self.box = box
        self.world, self.plant, self.knobs = box.world, box.plant, box.knobs
        self.thermal = ThermalModel(box.world, box.plant, self.knobs["thermal_rise_c"], _HARDWARE_RATED_A,
                                    self.knobs["thermal_time_constant_s"])
        self.thermal_state = "normal"   # normal | derated | stopped | too_cold

    # --- continuous supervision (every plant change while running) ---------------------------
    def on_plant_change(self) -> None:
        if self.box.state == "F":
            for name in ("rcd_ac", "rcd_dc", "supply", "pe"):
                self.box._stop(name)
            return
        for channel in ("ac", "dc"):
            self._residual(channel)
        self._debounced("supply", self.supply_fault(), self.knobs["supply_fault_delay_s"])
        self._debounced("pe", self.pe_fault(), self.knobs["pe_fault_delay_ms"] / 1000.0)

    def _residual(self, channel: str) -> None:
        flowing = self.plant.residual_flowing_ma(channel)
        tripping = flowing >= self.knobs[f"rcd_{channel}_trip_ma"]
        self._debounced(f"rcd_{channel}", f"{channel.upper()} residual current {flowing:.2f} mA" if tripping else None,
                        self.knobs[f"rcd_{channel}_trip_time_ms"] / 1000.0, latched=self.knobs["rcd_latch"])

    def _debounced(self, name: str, reason: str | None, delay_s: float, latched: bool = False) -> None:
        """A condition must last `delay_s` before the firmware acts on it; it is forgotten when it clears."""
        if reason is None:
            self.box._stop(name)
        elif not self.box._running(name):
            self.box._start(name, delay_s, lambda: self.box._fault(reason, latched=latched))

    def supply_fault(self) -> str | None:
        mains = self.plant.mains
        supervised = range(self.plant.phases) if self.knobs["phase_supervision"] else range(1)
        for phase in supervised:
            volts = mains.phase_v[phase]
            if volts > self.knobs["overvoltage_v"]:
                return f"over-voltage on L{phase + 1}: {volts:.1f} V"
            if volts < self.knobs["undervoltage_v"]:
                return f"under-voltage on L{phase + 1}: {volts:.1f} V"
        if not self.knobs["supply_min_hz"] <= mains.frequency_hz <= self.knobs["supply_max_hz"]:
            return f"supply frequency {mains.frequency_hz:.2f} Hz"
        return None

    def pe_fault(self) -> str | None:
        return "supply PE interrupted" if self.knobs["pe_monitoring"] and self.plant.injection.pe_open else None

    def blocked_reason(self) -> str | None:
        """Why the firmware may not leave a fault hold right now."""
        return self.supply_fault() or self.pe_fault()

    # --- weld --------------------------------------------------------------------------------
    def weld_present(self) -> bool:
        if not self.knobs["weld_detection"] or self.plant.contactor_closed:
            return False
        return any(self.plant.output_voltage_v(k) > LIVE_V for k in range(self.plant.phases))

    def check_weld(self) -> bool:
        """True (and a latched fault) when the output is live although the contactor is open."""
        if self.weld_present():
            self.box._fault("contactor welded: output live with the contactor open", latched=True)
            return True
        return False

    def after_opening(self) -> None:
        if self.knobs["weld_detection"] and self.plant.mains.on:
            self.box._start("weld_check", self.knobs["weld_check_after_open_ms"] / 1000.0, self.check_weld)

    # --- temperature -------------------------------------------------------------------------
    def start_sampling(self, power_up: bool = False) -> None:
        if power_up:
            self.thermal_state = "normal"  # the firmware starts afresh; the first sample decides
        self.box._start("temperature", self.knobs["temperature_sample_s"], self._sample)

    def _sample(self) -> None:
        celsius = self.thermal.sensor_c()
        k, state = self.knobs, self.thermal_state
        if state == "stopped" and not k["overtemp_auto_resume"]:
            pass  # held until the supply is cycled
        elif celsius >= k["overtemp_stop_c"]:
            state = "stopped"
        elif celsius >= k["overtemp_derate_c"] and state != "stopped":
            state = "derated"
        elif celsius < k["undertemp_stop_c"]:
            state = "too_cold"
        elif celsius < k["overtemp_resume_c"]:
            state = "normal"
        if state != self.thermal_state:
            self.world.record("thermal", state=state, sensor_c=round(celsius, 2))
            self.thermal_state = state
            self.box._apply_offer()
        self.start_sampling()

    def thermal_cap_a(self, setting_a: float) -> float:
        if self.thermal_state in ("stopped", "too_cold"):
            return 0.0
        if self.thermal_state == "derated":
            return max(_MIN_OFFER_A, setting_a * self.knobs["overtemp_derate_fraction"])
        return float("inf")
