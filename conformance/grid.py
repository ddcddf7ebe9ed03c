"""The building around the DUT, for the energy-management families (WB-MB, WB-LM, WB-PV, WB-PS).

Behind the Smart-Energy meter sit a household load and a PV array the test sets, and the DUT's
own draw, which the power analyser measures.  A vehicle (the electronic load) follows the
offer it reads from the CP duty, as an EV must.  Every step of the loop reads the duty, sets
the vehicle's draw, reads the analyser and tells the meter emulator what the grid connection
carries now; the DUT polls the meter whenever it likes.  Each sample carries the analyser's
time stamp, so every verdict is on instrument time.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from conformance.installation import Installation, Supply, nominal_supply
from conformance.limits import LIMITS
from core.uncertainty import combined_known, expanded_u, times
from conformance.session import cable_rating_a, configured_current_a, measured_offer_a, offer_u_a
from fixtures.evidence import Evidence, step
from instruments.meter import GridState
from rig.rig import Rig

SINGLE_PHASE_METERS = ("inepro-pro2", "janitza-b21")
"""WB-MB-03's one-phase meters: under them the DUT is installed single-phase (`Building.connect`)."""
THREE_PHASE_METERS = ("inepro-pro380", "janitza-b23", "schneider-a9mem3150", "siemens-7kt1665")

MIN_CURRENT_A = 0.5
"""A phase carrying less than this is not in use."""
MIN_LINE_V = 50.0
"""Below this the analyser sees an open contactor, not the grid: the grid voltage is the supply's."""


@dataclass(frozen=True)
class GridSample:
    t_s: float
    grid_a: tuple[float, float, float]        # per phase at the grid connection (magnitude)
    grid_p_w: float                           # total; import > 0, export < 0
    charging_a: tuple[float, float, float]    # the DUT's output per phase
    charging_p_w: float
    offer_a: float                            # as the vehicle reads it from the duty
    supplied_v: float                         # sum of the voltages of the phases the DUT supplies
    others_a: tuple[float, float, float] = (0.0, 0.0, 0.0)   # the building's own (the scenario's: exact)
    u_v: tuple[float, float, float] = (0.0, 0.0, 0.0)        # the voltages the grid figures were worked with

    @property
    def offered_w(self) -> float:
        """The power the offer allows on the phases in use."""
        return self.offer_a * self.supplied_v


def grid_state(u_v: list[float], charging_a: list[float], others_a: list[float]) -> GridState:
    """What the meter at the grid connection reads, per phase: the DUT's draw plus the rest of the
    building's (household minus PV; negative: export), closed over the DUT's own draw as measured."""
    net = [charging_a[k] + others_a[k] for k in range(3)]
    return GridState(u_v=(u_v[0], u_v[1], u_v[2]), i_a=(abs(net[0]), abs(net[1]), abs(net[2])),
                     p_w=(u_v[0] * net[0], u_v[1] * net[1], u_v[2] * net[2]))


class Building:
    """Household load (A on each of the connection's `phases`), PV production (W, spread over them)."""

    def __init__(self, rig: Rig, installation: Installation) -> None:
        self.rig = rig
        self.installation = installation
        self.phases = 3
        self.house_a = 0.0
        self.pv_w = 0.0
        self.ev_max_a = min(configured_current_a(rig), cable_rating_a(rig.profile))
        self.samples: list[GridSample] = []
        self.marks: dict[str, float] = {}
        self._draw_a: float | None = None
        self._supply_v = rig.config.safety.source_idle_v

    # --- what the test changes -----------------------------------------------------------
    def set_house(self, amps: float, label: str | None = None) -> float:
        self.house_a = amps
        return self._mark(label or f"household {amps:g} A")

    def set_pv(self, watts: float, label: str | None = None) -> float:
        self.pv_w = watts
        return self._mark(label or f"PV {watts:g} W")

    def set_pv_after_a_poll(self, watts: float) -> float:
        """Change the PV right after the DUT has read the meter (the emulator counts its reads), so
        the DUT learns of it a full poll interval later: the worst case of its polling, whatever the
        phase of its poll timer (without this a slow poller passes or fails by luck)."""
        before = self.rig.meter.polls()
        limit = self.rig.clock.now() + LIMITS.rig.meter_poll_sync.value
        while self.rig.meter.polls() == before and self.rig.clock.now() < limit:
            self.step()
            self.rig.clock.sleep(LIMITS.rig.grid_loop_step.value)
        return self.set_pv(watts)

    def _mark(self, label: str) -> float:
        """Where a change happened on the analyser's timebase: the next record's time."""
        t = self.step()
        self.marks[label] = t
        return t

    def connect(self, evidence: Evidence) -> int:
        """Arrange: the grid connection has the phases of the meter the emulator serves.  A
        single-phase meter (Inepro PRO2, Janitza B21) sees a single-phase connection, so the DUT is
        installed on L1 alone (WB-EL-02: powered up on it) and household and PV sit on L1; a
        three-phase wallbox on a three-phase connection under a one-phase meter is no valid
        installation.  Returns the phases."""
        self.phases = self.rig.meter.phases
        if self.phases == 1:
            nominal = nominal_supply()
            self.installation.ready_on(Supply(1, nominal.line_to_neutral_v, nominal.frequency_hz), evidence)
        return self.phases

    # --- the loop --------------------------------------------------------------------------
    def vehicle_on(self) -> None:
        self.rig.load.set_current(0.0)
        self._draw_a = 0.0
        self.rig.load.set_on(True)

    def run(self, seconds: float) -> list[GridSample]:
        """Follow the building for `seconds` of rig time; returns the samples taken."""
        step_s = LIMITS.rig.grid_loop_step.value
        first = len(self.samples)
        with step("act and measure", f"{seconds:g} s of the building: household {self.house_a:g} A per phase, "
                                     f"PV {self.pv_w:g} W, the vehicle following the offer"):
            end = self.rig.clock.now() + seconds
            while self.rig.clock.now() < end:
                self.step()
                self.rig.clock.sleep(step_s)
        return self.samples[first:]

    def step(self) -> float:
        rig = self.rig
        offer = measured_offer_a(rig.cp)
        smallest = LIMITS.iec61851.min_offered_current.low
        draw = min(offer, self.ev_max_a) if offer >= smallest else 0.0   # x1 (no offer): the vehicle stops
        if draw != self._draw_a:
            rig.load.set_current(draw)
            self._draw_a = draw
        record = rig.analyser.read()
        phases = list(record.phases)[:3]
        u = [p.u_v if p.u_v > MIN_LINE_V else self._supply_v for p in phases] + [self._supply_v] * (3 - len(phases))
        ev = [p.i_a for p in phases] + [0.0] * (3 - len(phases))
        others = [(self.house_a - self.pv_w / self.phases / u[k]) if k < self.phases else 0.0 for k in range(3)]
        state = grid_state(u, ev, others)
        rig.meter.update(state, record.t_s)
        supplied = sum(u[k] for k in range(3) if ev[k] > MIN_CURRENT_A) or u[0]
        self.samples.append(GridSample(record.t_s, state.i_a, sum(state.p_w), (ev[0], ev[1], ev[2]),
                                       record.p_total_w, offer, supplied, (others[0], others[1], others[2]),
                                       (u[0], u[1], u[2])))
        return record.t_s

    # --- uncertainty (k = 2) of what a sample says -----------------------------------------------
    def charging_u_w(self, sample: GridSample) -> float | None:
        """The analyser's U of the DUT's charging power (per element, the power shared evenly)."""
        n = max(1, sum(1 for a in sample.charging_a if a > MIN_CURRENT_A))
        return self.rig.analyser.u_w([sample.charging_p_w / n] * n)

    def grid_u_w(self, sample: GridSample) -> float | None:
        """U of the grid import: the charging power's, and each phase's voltage U times the building's own
        current on it (the scenario's current is exact; the voltage it is worked at is measured)."""
        analyser = self.rig.analyser
        return combined_known(self.charging_u_w(sample),
                              *(times(analyser.u_v(v), a) for a, v in zip(sample.others_a, sample.u_v) if a))

    def offered_u_w(self, sample: GridSample) -> float | None:
        """U of the power an offer allows: the offer's U from the duty at the supplied voltage, and the
        voltage's U at the offer."""
        phases = max(1, sum(1 for a in sample.charging_a if a > MIN_CURRENT_A))
        volts_u = times(self.rig.analyser.u_v(sample.supplied_v / phases), phases ** 0.5)
        return combined_known(offer_u_a(self.rig.cp, sample.offer_a) * sample.supplied_v, times(volts_u, sample.offer_a))

    # --- evidence --------------------------------------------------------------------------
    def plot(self, evidence: Evidence, name: str, grid_limit_a: float | None = None, phases: int = 3,
             power: bool = False) -> None:
        """Grid current per phase, charging current and the offer over time, with the limit, in one panel
        (or the powers, for the solar and dimming families)."""
        s = self.samples
        if power:
            columns = {"grid import (W)": [(x.t_s, x.grid_p_w) for x in s],
                       "charging power (W)": [(x.t_s, x.charging_p_w) for x in s]}
        else:
            columns = {f"grid L{k + 1} (A)": [(x.t_s, x.grid_a[k]) for x in s] for k in range(phases)}
            columns["charging L1 (A)"] = [(x.t_s, x.charging_a[0]) for x in s]
            columns["offer (A)"] = [(x.t_s, x.offer_a) for x in s]
        bands: dict[str, tuple[float | None, float | None]] = \
            {"grid limit (A)": (None, grid_limit_a)} if grid_limit_a is not None else {}
        evidence.series(name, columns, self.marks, bands, overlay=True)


def over_limit_spans(samples: list[GridSample], limit_a: float, phases: int) -> list[tuple[float, float]]:
    """(start, duration) of every stretch in which a phase's grid current exceeded `limit_a`; a
    stretch still open at the end lasts until the last sample."""
    spans: list[tuple[float, float]] = []
    start: float | None = None
    for x in samples:
        over = max(x.grid_a[:phases]) > limit_a
        if over and start is None:
            start = x.t_s
        elif not over and start is not None:
            spans.append((start, x.t_s - start))
            start = None
    if start is not None and samples:
        spans.append((start, samples[-1].t_s - start))
    return spans


def sample_time_u_s(ends: int = 1) -> float:
    """U (k = 2) of a time found by `first_time` (one end on the loop's samples) or a span of
    `over_limit_spans` (two): each change happened somewhere in the loop step before the sample that saw it."""
    return expanded_u(*[LIMITS.rig.grid_loop_step.value] * ends)


def first_time(samples: list[GridSample], after_s: float, holds: object) -> float | None:
    """The first sample time at or after `after_s` at which `holds(sample)` is true."""
    for x in samples:
        if x.t_s >= after_s and holds(x):  # type: ignore[operator]
            return x.t_s
    return None


def grid_limit_a() -> float:
    return LIMITS.rig.grid_limit.value


def failsafe_a() -> float:
    return LIMITS.rig.failsafe_current.value


def configure_energy(rig: Rig, mode: str, model: str | None = None, **line: object) -> dict[str, object]:
    """Arrange: the emulator serves `model` (the rig file's when None); the installer enters the
    meter as the emulator answers it (or with `line` overrides, to enter it wrongly) and the energy
    mode with the rig's grid limit and failsafe current and the profile's dimming power.
    Returns what was entered."""
    with step("arrange", f"meter {model or rig.meter.line['model']} entered{' with ' + str(line) if line else ''}, "
                         f"energy mode {mode}"):
        return _configure_energy(rig, mode, model, **line)


def _configure_energy(rig: Rig, mode: str, model: str | None, **line: object) -> dict[str, object]:
    meter = rig.meter
    if model is not None and model != meter.line["model"]:
        # the bench's RS485 line keeps its settings (a converter is set up once): only the map changes
        meter.serve(model, **{k: v for k, v in meter.line.items() if k != "model"})
    entered = {**meter.line, **line}
    rig.installer.configure_meter(str(entered["model"]), int(entered["id"]), int(entered["baud"]),
                                  str(entered["parity"]), int(entered["stopbits"]))
    dimming_w = rig.profile.energy.dimming_limit_w
    rig.installer.configure_energy(mode, grid_limit_a(), failsafe_a(), dimming_w)
    return entered


def require_energy_feature(rig: Rig, feature: str) -> None:
    """Skip where the DUT profile declares no such energy feature (a generic EVSE has none)."""
    if not getattr(rig.profile.energy, feature):
        pytest.skip(f"DUT profile {rig.profile.id} declares no {feature.replace('_', ' ')} ([energy] {feature})")
