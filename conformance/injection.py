"""Arrange, act and measure steps of the fault-injection families: ramps that find a threshold,
steps that time a trip, the state-F check, and the documented recovery (power cycle).

Trip times come from the fault box alone (the injection's acknowledgement and the box's own
report that the current stopped flowing): one instrument, one timebase.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.limits import LIMITS
from fixtures.evidence import Evidence, step
from rig.rig import READY_TIMEOUT_S, Rig, dut_idle
from instruments.ac_source import AcSource
from instruments.cp_emulator import CpEmulator
from instruments.fault_box import FaultBox
from core.uncertainty import combined, expanded_u
from core.types import Channel, Edge
from rig.clock import TIME_RESOLUTION_S, Clock
from core.errors import RigError

INF = float("inf")


@dataclass
class Ramp:
    """A ramp's record: the levels applied (box time, value) and where it tripped, if it did."""

    points: list[tuple[float, float]] = field(default_factory=list)
    tripped_at: float | None = None
    t_trip: float = INF
    measured: list[tuple[float, float]] = field(default_factory=list)
    """(time of the step, current measured flowing at the end of its dwell) for every step that did not trip."""
    threshold: float | None = None
    """The current that tripped, anchored on what was measured: the last flowing step's measured current
    plus the increment to the tripping level (the tripping level itself if the first step tripped)."""

    def flowing(self) -> list[tuple[float, float]]:
        """What flowed: the applied levels, and zero from the trip on."""
        return self.points + ([(self.t_trip, 0.0)] if self.t_trip != INF else [])


def interrupted_after(box: FaultBox, channel: str, after_s: float) -> float:
    """Box time at which the `channel` residual current stopped flowing after `after_s` (inf: never)."""
    times = [e.t_s for e in box.events() if e.kind == "interrupted" and e.channel == channel and e.t_s >= after_s]
    return min(times) if times else INF


def residual_ramp(box: FaultBox, clock: Clock, channel: str, start: float, stop: float) -> Ramp:
    """Raise the residual current in rig steps, each held for the rig's dwell, until it stops flowing."""
    step = LIMITS.rig.rcd_ramp_step.value
    dwell = (LIMITS.rig.rcd_ac_ramp_dwell if channel == "ac" else LIMITS.rig.rcd_dc_ramp_dwell).value
    ramp = Ramp()
    level = start
    while level <= stop + 1e-9:
        t = box.set_residual_ma(channel, level)
        ramp.points.append((t, level))
        clock.sleep(dwell)
        t_trip = interrupted_after(box, channel, t)
        flowing = box.flowing_ma(channel) if t_trip == INF else 0.0
        tolerance = box.injection_tolerance_ma(level)
        if t_trip == INF and abs(flowing - level) > tolerance:
            t_trip = interrupted_after(box, channel, t)   # it may have stopped while the DMM read
            if t_trip == INF:
                box.set_residual_ma(channel, 0.0)
                raise RigError(f"the {channel.upper()} residual current set to {level:g} mA measures {flowing:.3f} mA "
                               f"flowing (allowed ±{tolerance:.3f} mA): the injection path is at fault (a ladder "
                               f"resistor, the shunt, a loose wire), not the DUT")
        if t_trip != INF:
            ramp.tripped_at, ramp.t_trip = level, t_trip
            ramp.threshold = level if not ramp.measured else \
                ramp.measured[-1][1] + (level - ramp.points[-2][1])
            break
        ramp.measured.append((t, flowing))
        level = round(level + step, 6)
    box.set_residual_ma(channel, 0.0)
    return ramp


def step_trip_time(box: FaultBox, clock: Clock, channel: str, milliamps: float, observe_s: float,
                   evidence: Evidence | None = None) -> tuple[float, float, float]:
    """Step from 0 to `milliamps`; (box time the current began to flow, seconds until it stopped, the U
    (k = 2) of those seconds).  Where the box times it in one triggered acquisition
    (`FaultBox.capture_trip`) the evidence says so, with the record's sample interval; a test that reads
    other edges around the trip passes no `evidence` and is timed from the box's events."""
    captured = box.capture_trip(channel, milliamps, observe_s, clock.sleep) if evidence is not None else None
    if captured is not None:
        assert evidence is not None
        evidence.parameters.update({"timing record": captured.how, "sample interval (s)": captured.sample_interval_s})
        return captured.t_on, captured.trip_s, captured.u_s
    t_command = box.set_residual_ma(channel, milliamps)
    first = min(box.step_search_s, observe_s)
    clock.sleep(first)
    t_on = box.flowing_from(channel, t_command, milliamps)    # while the scope's record still holds the step
    clock.sleep(observe_s - first)
    t_off = interrupted_after(box, channel, t_command)
    box.set_residual_ma(channel, 0.0)
    return t_on, t_off - t_on, box.trip_time_u_s


def ramp_u(step: float, instrument_u: float | None) -> float | None:
    """U (k = 2) of a threshold found by a ramp: it lies somewhere in the step that crossed it, and
    each level carries the injecting instrument's own U (None: no datasheet figure, so none stated)."""
    return None if instrument_u is None else combined(expanded_u(step), instrument_u)


def first_fault(edges: list[Edge], after_s: float) -> float:
    """Board time at which CP first went to the state-F level after `after_s` (inf: never)."""
    low = LIMITS.iec61851.state_f_level.high
    times = [e.t_s for e in edges if e.channel == Channel.CPH and e.t_s >= after_s and float(e.value) <= low]
    return min(times) if times else INF


def power_up(rig: Rig, clock: Clock, volts: float | None = None, hz: float | None = None, phases: int = 3) -> bool:
    """Vehicle unplugged, supply off for the rig's power-off time, then on (the rig file's idle
    supply unless given); True once the DUT idles in A1 within the ready timeout."""
    rig.cp.set_state("A")
    rig.source.set_output(False)
    clock.sleep(LIMITS.rig.power_off.value)
    rig.energise(volts, hz, phases)
    return clock.wait_until(lambda: dut_idle(rig), READY_TIMEOUT_S, poll_s=0.5)


def power_cycle(rig: Rig, clock: Clock) -> None:
    """WB-TR-01's documented recovery: supply off, vehicle unplugged, supply back; wait for A1."""
    with step("arrange", "power cycle (WB-TR-01): supply off, vehicle unplugged, supply on, wait for A1"):
        if not power_up(rig, clock):
            raise RigError(f"the DUT did not come back to A1 within {READY_TIMEOUT_S:.0f} s of a power cycle")


def outage(cp: CpEmulator, source: AcSource, clock: Clock) -> float:
    """Mains off for the rig's outage time, then on; returns the board time just before it came back."""
    seconds = LIMITS.rig.mains_outage.value
    with step("act", f"mains outage of {seconds:g} s"):
        source.set_output(False)
        clock.sleep(seconds)
        t_back = cp.time()
        source.set_output(True)
    return t_back


def restart_within_s(rig: Rig) -> float:
    """The latest an interrupted session may close again after the mains returns: the profile's
    longest cold-load delay, the rig's boot allowance, and Table A.6's 3 s to close."""
    high = rig.profile.cold_load.delay_range_s.high
    return high + LIMITS.rig.boot_allowance.value + LIMITS.iec61851.contactor_close_after_c.high


def recover(rig: Rig, clock: Clock) -> None:
    """After a fault test: injections off, then the documented recovery (power cycle), so that the
    next test starts from a fresh A1 whatever this one left latched, derated or half-tripped."""
    rig.fault_box.safe()
    power_cycle(rig, clock)


def hold(clock: Clock, seconds: float, sample_s: float,
         probe: Callable[[], tuple[float, float]]) -> list[tuple[float, float]]:
    """Sample `probe` (instrument time, value) every `sample_s` of clock time for `seconds`."""
    out = []
    end = clock.now() + seconds
    while True:
        out.append(probe())
        remaining = end - clock.now()
        if remaining <= TIME_RESOLUTION_S:
            return out
        clock.sleep(min(sample_s, remaining))
