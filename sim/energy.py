"""The simulated wallbox's energy management: load-optimised and solar charging on what the
Smart-Energy meter reports, the grid operator's dimming contact, and the fallback when the
meter is missing, silent or frozen (WB-MB-04, WB-LM-01, WB-PV-01, WB-PS-01).

The installer configures it (installer interface `METER`, `EMS`); the knobs bend the firmware.
The result is a cap on the offer, which the wallbox applies like any other offer change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from sim.meter_link import POLLS, MeterLink, MeterReading, UartSettings
from sim.world import Event, World
from sim.params import Knobs

DIM_FLOOR_W = 4200.0   # §14a EnWG: a dimmed controllable consumer keeps at least 4.2 kW
MODES = ("off", "load", "solar")
_MARGIN_A = 0.05   # kept in hand below the limit, so the meter's last digit does not move the offer


@dataclass(frozen=True)
class MeterConfig:
    model: str = "none"
    device_id: int = 1
    baud: int = 9600
    parity: str = "E"
    stopbits: int = 1


@dataclass(frozen=True)
class EmsConfig:
    mode: str = "off"
    grid_limit_a: float = 32.0
    failsafe_a: float = 6.0
    dimming_w: float = DIM_FLOOR_W


class EnergyManager:
    def __init__(self, world: World, knobs: Knobs, link: MeterLink, phases: Callable[[], int],
                 nominal_v: Callable[[], float], own_current_a: Callable[[int], float], dimmed: Callable[[], bool],
                 changed: Callable[[], None]) -> None:
        """`phases` and `nominal_v`: the installation the firmware found at power-up (powers become
        currents with them: three phases at 230 V, or L1 alone at 100 V, WB-EL-02)."""
        self.world, self.knobs, self.link = world, knobs, link
        self._phases, self._nominal_v, self._own, self._dimmed, self._changed = (phases, nominal_v, own_current_a,
                                                                                dimmed, changed)
        self.meter = MeterConfig()
        self.ems = EmsConfig()
        self.status = "none"            # none | ok | lost | stale
        self.cap_a = math.inf
        self._target_a = math.inf
        self._lm_cap_a = math.inf
        self._last_ok_s = -math.inf
        self._last_raw: tuple[int, ...] | None = None
        self._raw_since_s = 0.0
        self._poll_event: Event | None = None
        self._apply_event: Event | None = None

    # --- installer ---------------------------------------------------------------------------
    def configure_meter(self, meter: MeterConfig) -> None:
        self.world.record("meter_config", **meter.__dict__)
        self.meter = meter
        self.link.close()
        self.status = "none"
        self._last_ok_s = -math.inf
        self._last_raw = None
        self._evaluate(immediate=True)

    def configure_ems(self, ems: EmsConfig) -> None:
        self.world.record("ems_config", **ems.__dict__)
        self.ems = ems
        self._evaluate(immediate=True)

    def effective_meter(self) -> MeterConfig:
        """The configuration as this firmware applies it (a knob may override what was entered)."""
        k = self.knobs
        return replace(self.meter, model=k.meter.model or self.meter.model,
                       device_id=k.meter.id or self.meter.device_id, baud=k.meter.baud or self.meter.baud,
                       parity=k.meter.parity or self.meter.parity)

    # --- running -----------------------------------------------------------------------------
    def start(self) -> None:
        """Powered up: poll while a meter is configured."""
        self.stop()
        self._poll_event = self.world.schedule(self.knobs.meter.poll_interval_s, self._poll)

    def stop(self) -> None:
        for event in (self._poll_event, self._apply_event):
            if event is not None:
                event.cancel()
        self._poll_event = self._apply_event = None
        self.link.close()

    def _misread(self, model: str, reading: MeterReading | None) -> MeterReading | None:
        """A firmware bug in one model's decoding (knob `meter_misread_model`): the bus is fine, the
        numbers are not."""
        if reading is None or model != self.knobs.meter.misread_model:
            return reading
        how = self.knobs.meter.misread
        if how == "unreadable":
            return None
        if how == "current_x2":
            return replace(reading, currents_a=tuple(2.0 * i for i in reading.currents_a))  # type: ignore[arg-type]
        return replace(reading, power_w=2.0 * reading.power_w)

    def _poll(self) -> None:
        meter = self.effective_meter()
        reading: MeterReading | None = None
        if meter.model != "none" and meter.model in POLLS:
            reading = self._misread(meter.model, self.link.poll(meter.model, meter.device_id,
                                                                UartSettings(meter.baud, meter.parity, meter.stopbits)))
        now = self.world.now
        if reading is not None:
            if reading.raw != self._last_raw:
                self._last_raw, self._raw_since_s = reading.raw, now
            self._last_ok_s = now
        stale_after = self.knobs.meter.stale_after_s
        if meter.model == "none":
            status = "none"
        elif now - self._last_ok_s > self.knobs.meter.lost_after_s:
            status = "lost" if self._last_ok_s > -math.inf else "none"
        elif reading is None:
            status = self.status   # a missed poll between good ones changes nothing yet
        elif stale_after > 0 and now - self._raw_since_s > stale_after:
            status = "stale"
        else:
            status = "ok"
        if status != self.status:
            self.world.record("meter_status", old=self.status, new=status)
            self.status = status
        # without a meter answering, the firmware retries at a slower pace
        interval = self.knobs.meter.poll_interval_s
        if status in ("none", "lost") and meter.model != "none":
            interval = max(interval, self.knobs.meter.retry_interval_s)
        self._poll_event = self.world.schedule(interval, self._poll)
        self._evaluate(reading if status == "ok" else None)

    def reevaluate(self) -> None:
        """An input other than the meter changed (the dimming contact)."""
        self._evaluate(None)

    def _evaluate(self, reading: MeterReading | None = None, immediate: bool = False) -> None:
        """A new target takes effect after the controller's response time; a new configuration at
        once (the firmware starts from what it was told, not from the old setting)."""
        target = self._target(reading)
        if target == self._target_a and not immediate:
            return
        self._target_a = target
        if immediate:
            if self._apply_event is not None:
                self._apply_event.cancel()
                self._apply_event = None
            self._apply()
        elif self._apply_event is None:
            self._apply_event = self.world.schedule(self.knobs.energy.lm_response_s, self._apply)

    def _apply(self) -> None:
        self._apply_event = None
        if self._target_a != self.cap_a:
            self.world.record("ems_cap", amps=self._target_a, status=self.status)
            self.cap_a = self._target_a
            self._changed()

    def _target(self, reading: MeterReading | None) -> float:
        """The cap from the last good reading (kept across a missed poll), the fallback when the
        meter is missing, then the dimming contact on top."""
        k, ems = self.knobs, self.ems
        if ems.mode == "off" or not k.energy.load_management:
            cap = math.inf
        elif self.status != "ok":
            cap = ems.failsafe_a if k.energy.failsafe_current_a < 0 else k.energy.failsafe_current_a
        else:
            if reading is not None:
                self._lm_cap_a = self._load_cap(reading)
            cap = self._lm_cap_a
        if self._dimmed():
            dim_w = k.energy.dimming_limit_w or ems.dimming_w
            cap = min(cap, math.ceil(dim_w / (self._phases() * self._nominal_v()) * 100) / 100)
        return cap

    def _load_cap(self, reading: MeterReading) -> float:
        """WB-LM-01: what the grid connection has left per phase; WB-PV-01: the PV surplus, never
        below the minimum current (PV + grid, deliberately limited)."""
        k, ems, phases, nominal_v = self.knobs, self.ems, self._phases(), self._nominal_v()
        limit = k.energy.grid_limit_a or ems.grid_limit_a
        own = [self._own(p) for p in range(3)]
        house = max(reading.currents_a[p] - own[p] for p in range(phases))
        cap = math.floor((limit - house - _MARGIN_A) * 10) / 10
        if ems.mode == "solar" and k.energy.solar_charging:
            surplus_w = sum(own[:phases]) * nominal_v - reading.power_w
            solar = math.floor((surplus_w / (phases * nominal_v) - _MARGIN_A) * 10) / 10
            cap = min(cap, max(solar, k.energy.solar_min_current_a))
        if cap < 6.0 and not k.energy.lm_pauses_below_min:
            cap = 6.0
        return cap
