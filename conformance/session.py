"""Arrange steps shared by the conformance families: plug in, start charging, what is offered.

They drive the vehicle emulator and the clock; the one shared judgement is the contactor's
opening time after an act while charging, which several families make.
"""

from __future__ import annotations

from collections.abc import Callable

from conformance.limits import LIMITS, decoded_current_a, pp_codings
from core.errors import InstrumentOperationError, PreconditionError
from core.limits import AtLeast, AtMost, Judged
from core.types import Channel, Edge
from core.uncertainty import combined, expanded_u
from fixtures.evidence import Evidence, step
from fixtures.timing import count_edges, delay_s, first_edge, markers
from instruments.cp_emulator import CpEmulator
from rig.clock import Clock
from rig.profile import Profile
from rig.rig import Rig



def socket_outlet(profile: Profile) -> bool:
    """A socket-outlet EVSE reads the cable's PP coding; a tethered one carries its own."""
    return profile.socket_outlet


def socket_test_cable() -> tuple[float, float]:
    """(PP ohm, rated A) of the cable the rig plugs into a socket outlet before each test."""
    ohm = LIMITS.rig.socket_test_cable.value
    coding = next(c for c in pp_codings() if c.low <= ohm <= c.high)
    return ohm, coding.rating_a


def cable_rating_a(profile: Profile) -> float:
    if socket_outlet(profile):
        return socket_test_cable()[1]
    return profile.connector.cable_rating_a


def configured_current_a(rig: Rig) -> float:
    """The installer's setting as the rig file declares it (else the profile's default)."""
    configured = rig.config.dut.configured_current_a
    if configured is None:
        configured = rig.profile.electrical.default_current_a
    return configured


def offered_current_a(rig: Rig, setting_a: float | None = None) -> float:
    """What the DUT should offer for a setting: capped by the cable's rating; below 6 A nothing."""
    setting = configured_current_a(rig) if setting_a is None else setting_a
    offer = min(setting, cable_rating_a(rig.profile))
    return offer if offer >= LIMITS.iec61851.min_offered_current.low else 0.0


def bracketed_u_s(cp: CpEmulator, t_before: float, t_after: float) -> float:
    """U (k = 2) of a time measured from an action the rig cannot stamp itself (a load step, a source
    command): it took effect somewhere between the CP emulator's stamps on either side of the command,
    and the interval's own stamps add theirs.  Two stamps read back to back may come out a few ns
    reversed on a bench that finds "now" in a scope's record (to its sample grid, which
    `interval_u_s` already holds): the bracket is then empty, not negative."""
    return combined(cp.interval_u_s, expanded_u(max(0.0, t_after - t_before)))


OFFER_DECIMALS = 1
"""A read offer is rounded to 0.1 A: what a vehicle's reading of the duty can tell apart."""


def measured_offer_a(cp: CpEmulator) -> float:
    """The current the EVSE offers right now, read from its duty as a vehicle reads it."""
    return round(decoded_current_a(cp.measure_cp().duty_pct), OFFER_DECIMALS)


def full_offer_limit(name: str, full_a: float, clause: str, source: str) -> AtLeast:
    """"The full offer" as a vehicle reads it from the duty: at least `full_a`, less what the
    pulse-width accuracy lets the duty be off (Table A.8's slope times `duty_tolerance`).  Without that
    allowance a DUT offering exactly the full current is only a conditional pass against the offer's
    U, and guarded acceptance would fail a conforming DUT."""
    tolerance = LIMITS.iec61851.duty_tolerance
    allowance = LIMITS.amps_per_duty_pct(full_a) * tolerance.high
    return AtLeast(name=name, low=full_a - allowance, unit="A", clause=clause,
                   source=f"{source}; less {allowance:g} A for the pulse-width accuracy ({tolerance.source})",
                   cites=("MANUAL", *tolerance.cites))


def offer_u_a(cp: CpEmulator, offer_a: float) -> float:
    """U (k = 2) of an offer read from the duty: the duty's U through the table's slope, and the
    rounding of `measured_offer_a`."""
    return combined(LIMITS.offer_u_a(offer_a, cp.duty_u_pct), expanded_u(10.0 ** -OFFER_DECIMALS))


def settable_currents(profile: Profile) -> list[float]:
    """The settings the catalogue checks: every one of a discrete set; a range at its ends and inside."""
    values = list(profile.electrical.settable_currents_a)
    if profile.electrical.settable_currents_kind == "discrete":
        return values
    low, high = values
    inside = {low + 1.0, round((low + high) / 2.0), high - 1.0}
    return sorted({low, high} | {v for v in inside if low < v < high})


def observe_b2(clock: Clock) -> None:
    """Give the EVSE the rig's observation window to react to a plug-in."""
    clock.sleep(LIMITS.rig.b2_observation.high)


def plug_in(cp: CpEmulator, clock: Clock) -> float:
    with step("arrange", "plug in (A → B) and give the EVSE its observation window"):
        t_b = cp.set_state("B")
        observe_b2(clock)
    return t_b


def try_charging(cp: CpEmulator, clock: Clock) -> float | None:
    """Plug in, ask for power, wait for the contactor, charge a moment; returns when it closed, or
    None when it did not close within the rig's arrange timeout."""
    plug_in(cp, clock)
    with step("arrange", "ask for power (B → C), wait for the contactor, charge a moment"):
        t_c = cp.set_state("C")
        if not clock.wait_until(lambda: cp.output_present().value == 1, LIMITS.rig.charge_arrange_timeout.value):
            return None
        edge = first_edge(cp.read_edges(), Channel.OVP, "1", t_c)
        if edge is None:
            raise InstrumentOperationError("cp", "the board saw output voltage but captured no OVP edge")
        clock.sleep(LIMITS.rig.charge_dwell.value)
    return edge.t_s


def start_charging(cp: CpEmulator, clock: Clock) -> float:
    """`try_charging` as an arrange step: a contactor that never closes is an unmet precondition
    (the closing itself is judged by its own test), so the test is broken, not failed."""
    t_closed = try_charging(cp, clock)
    if t_closed is None:
        raise PreconditionError(f"the contactor did not close within {LIMITS.rig.charge_arrange_timeout.value:g} s "
                                "of state C, so this test cannot judge what follows")
    return t_closed


def watch(deadline: AtMost) -> float:
    """How long an event with `deadline` is watched: the rig's observation factor times it."""
    return deadline.high * LIMITS.rig.observation_factor.value


def act_and_record(cp: CpEmulator, clock: Clock, evidence: Evidence, act: Callable[[], float], window_s: float,
                   cp_step: str | None, cp_record: bool = False) -> tuple[float, list[Edge], float]:
    """Perform `act` (returns its board time) and record `window_s` of what follows: in one triggered
    acquisition where the CP emulator makes one of it (`cp_step`: how the act moves CP, one of
    `CP_STEPS`, `CpEmulator.capture_after`; `cp_record`: CP's levels in it are judged too), else from its edges.
    (the act's time, the edges, the U (k = 2) of a time from the act to an edge); the evidence names the
    record and its sample interval."""
    capture = cp.capture_after(act, window_s, clock.sleep, cp_step, cp_record)
    if capture is None:
        t_act = act()
        clock.sleep(window_s)
        edges, interval, u = cp.read_edges(), cp.stamp_resolution_s, cp.interval_u_s
    else:
        t_act, edges, interval, u = capture.t_act, capture.edges, capture.sample_interval_s, capture.u_s
        evidence.parameters["timing record"] = capture.how
    evidence.parameters["sample interval (s)"] = interval
    return t_act, edges, u


def judge_contactor_opening(cp: CpEmulator, clock: Clock, evidence: Evidence, lim: AtMost,
                            act: Callable[[], float], act_label: str, trace_name: str, measurement: str,
                            cp_step: str | None) -> None:
    """Charge, perform `act` (returns its board time), judge the time to contactor open against `lim`,
    timed as `act_and_record` times it (`cp_step`: "up" where the act raises CP's high level, "flat"
    where it ends the PWM's low half)."""
    start_charging(cp, clock)
    window = max(LIMITS.rig.opening_observation_min.value, lim.high * LIMITS.rig.opening_observation_factor.value)
    t_act, edges, u = act_and_record(cp, clock, evidence, act, window, cp_step)
    opening = delay_s(edges, t_act, Channel.OVP, "0")
    marks = {act_label: t_act, **({"contactor open": t_act + opening} if opening != float("inf") else {})}
    evidence.trace(trace_name, edges, marks, window=(t_act, t_act + lim.high))
    evidence.check(measurement, opening, lim, t_s=t_act, u=u)   # both ends in one record (or the CP emulator's stamps)


def judge_contactor_closing(cp: CpEmulator, clock: Clock, evidence: Evidence, act: Callable[[], float],
                            act_label: str, trace_name: str, measurement: str, note: str = "") -> None:
    """With the vehicle plugged in and offered power, perform `act` (asks for power: CP's high level
    steps down), judge the time to contactor closed against Table A.6's deadline, timed as
    `act_and_record` times it."""
    lim = LIMITS.iec61851.contactor_close_after_c
    t_act, edges, u = act_and_record(cp, clock, evidence, act, watch(lim), "down")
    closing = delay_s(edges, t_act, Channel.OVP, "1")
    marks = {act_label: t_act, **({"contactor closed": t_act + closing} if closing != float("inf") else {})}
    evidence.trace(trace_name, edges, marks, window=(t_act, t_act + lim.high))
    evidence.check(measurement, closing, lim, t_s=t_act, u=u, note=note)


def judge_offers(evidence: Evidence, edges: list[Edge], since: float, situation: str, offers: Judged,
                 closings: Judged) -> None:
    """The PWM starts and the contactor closings the CP emulator captured since `since`, against their
    counts (no session may come of a vehicle nobody authorised, an Inoperative connector, …)."""
    evidence.check(f"PWM offers {situation}", count_edges(edges, Channel.PWM, "1", since), offers)
    evidence.check(f"contactor closings {situation}", count_edges(edges, Channel.OVP, "1", since), closings)


def judge_a_vehicle_unserved(cp: CpEmulator, clock: Clock, evidence: Evidence, trace_name: str, situation: str,
                             offers: Judged, closings: Judged) -> None:
    """A vehicle plugs in and asks for power (B, then C); once the EVSE had its observation window and
    the closing time of Table A.6, its offers and closings since the plug-in are judged (no session
    may come of a vehicle where the EVSE must refuse one)."""
    t_b = cp.set_state("B")
    cp.set_state("C")
    observe_b2(clock)
    clock.sleep(LIMITS.iec61851.contactor_close_after_c.high)
    edges = cp.read_edges()
    evidence.trace(trace_name, edges, markers(plug_in=t_b))
    judge_offers(evidence, edges, t_b, situation, offers, closings)
