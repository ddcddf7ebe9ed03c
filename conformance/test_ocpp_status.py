"""OCPP status against physics (WB-CO-01, OCPP 1.6 §4.9): what the charge point says its connector
is doing must be what the CP emulator's edges show it doing, within the profile's latency.

No backend test tool can check this: it sees only the StatusNotification.  Here the contactor's
closing is the OVP edge on the CP board, and the status must follow it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance.backend import board_offset, delay_to, ocpp_of, open_transaction, status_after, watch_status
from conformance.injection import first_fault, power_cycle
from conformance.limits import LIMITS
from conformance.session import judge_a_vehicle_unserved, observe_b2, start_charging, watch
from conformance.thermal import overheat
from core.errors import PreconditionError
from core.limits import AtLeast
from core.types import Channel
from core.uncertainty import interval_u
from fixtures.evidence import Evidence
from fixtures.timing import delay_s, markers
from instruments.ac_source import AcSource
from instruments.backend import CALL, Backend, Frame
from instruments.cp_emulator import CpEmulator
from instruments.fault_box import FaultBox
from rig.clock import Clock
from rig.rig import READY_TIMEOUT_S, Rig, dut_idle

pytestmark = [pytest.mark.needs("cp", "backend"),
              pytest.mark.requirement(wb_id="WB-CO-01", clause="OCPP 1.6 §4.9 StatusNotification, §7.7 ChargePointStatus")]


@pytest.mark.red_on("ocpp_status_delay_s=30")
@pytest.mark.red_on("ocpp_status_delay_s=30", profile="mini-wallbox-plus")
@pytest.mark.red_on("ocpp_status_repeats=2")
@pytest.mark.ocpp_case("TC_003_CS", "TC_G_01_CS", "TC_G_02_CS")
def test_status_follows_the_session_the_cp_edges_show(cp: CpEmulator, clock: Clock, backend: Backend, rig: Rig,
                                                     evidence: Evidence) -> None:
    """Plugged in, the connector leaves Available; the contactor's closing (OVP edge) is followed by
    Charging, the unplugging by Available, each within the profile's status latency, and each change
    is reported once."""
    lim = ocpp_of(rig).status_within_s
    offset = board_offset(cp, clock)
    since = clock.now()
    t_b = cp.set_state("B")
    observe_b2(clock)
    t_closed = start_charging(cp, clock)
    watch_status(clock, ocpp_of(rig))
    t_a = cp.set_state("A")
    watch_status(clock, ocpp_of(rig))
    reports = backend.statuses(since)
    edges = cp.read_edges()
    plugged = status_after(reports, offset, t_b, "Preparing", "SuspendedEV", "SuspendedEVSE", "Charging")
    charging = status_after(reports, offset, t_closed, "Charging")
    available = status_after(reports, offset, t_a, "Available")
    evidence.trace("session", edges, markers(vehicle_B=t_b, contactor_closed=t_closed, unplugged=t_a))
    u = offset.delay_u_s(cp)
    evidence.check("plug-in to a status other than Available", delay_to(plugged, offset, t_b), lim, t_s=t_b, u=u)
    evidence.check("contactor closed (OVP edge) to status Charging", delay_to(charging, offset, t_closed), lim,
                   t_s=t_closed, u=u)
    evidence.check("unplug to status Available", delay_to(available, offset, t_a), lim, t_s=t_a, u=u)
    mine = [(r.status, r.error_code) for r in reports if r.connector == 1]
    evidence.check("status reports that repeat the one before", sum(a == b for a, b in zip(mine, mine[1:])),
                   LIMITS.ocpp.repeated_status_reports, note=" → ".join(status for status, _ in mine))


FAULT_ERROR_CODES = {"residual": "GroundFailure", "weld": "PowerSwitchFailure", "overvoltage": "OverVoltage",
                     "overtemperature": "HighTemperature"}
"""The ChargePointErrorCode each injected fault is reported with (OCPP 1.6 §7.6: GroundFailure, ground
fault circuit interrupter activated; PowerSwitchFailure, a failure of the power switch (a welded
contactor); OverVoltage; HighTemperature)."""


def inject(fault: str, cp: CpEmulator, fault_box: FaultBox, source: AcSource, clock: Clock, rig: Rig) -> float:
    """Put the DUT into the fault while it charges; board time of the injection."""
    if fault == "residual":
        return fault_box.set_residual_ma("ac", rig.profile.residual_current.ac_trip_band_ma.high * 2)
    if fault == "weld":
        fault_box.set_weld([1])
        return cp.set_state("B")     # the vehicle stops: the welded pole keeps the output live
    if fault == "overvoltage":
        t = cp.time()
        source.set_voltage(rig.profile.protection.overvoltage_trip_v.high + LIMITS.ocpp.fault_overvoltage_margin.value)
        return t
    return overheat(cp, fault_box, clock, rig)   # the delay is judged from the stop the bench sees, not this act


def fault_effect(edges: list, fault: str, t_inject: float) -> float:
    """When the fault showed on the bench: state F on CP (a weld, once found), else the first of
    the contactor opening and the PWM offer's withdrawal; the injection itself where nothing showed
    (a fault the DUT does not act on is not reported either, and the delay from it is infinite)."""
    if fault == "weld":
        shown = first_fault(edges, t_inject)
    else:
        shown = min((e.t_s for e in edges if e.t_s >= t_inject and e.value == "0"
                     and e.channel in (Channel.OVP, Channel.PWM)), default=float("inf"))
    return shown if shown != float("inf") else t_inject


@pytest.mark.needs("cp", "fault_box", "source", "backend")
@pytest.mark.parametrize("fault", list(FAULT_ERROR_CODES))
@pytest.mark.red_on("ocpp_status_delay_s=30")
@pytest.mark.red_on("ocpp_status_delay_s=30", profile="mini-wallbox-plus")
@pytest.mark.red_on("ocpp_status_on_fault=SuspendedEVSE")
@pytest.mark.red_on("weld_detection=false", only=("weld",))   # an undetected weld is never reported
@pytest.mark.ocpp_case("TC_041_CS")
def test_a_fault_is_reported_faulted_with_its_error_code(fault: str, cp: CpEmulator, fault_box: FaultBox,
                                                         source: AcSource, clock: Clock, backend: Backend, rig: Rig,
                                                         evidence: Evidence) -> None:
    """A residual-current trip, a welded pole, an over-voltage and an over-temperature stop while
    charging (each well beyond the profile's threshold; the over-temperature through the sensor, or on a
    bench of bought parts the chamber's ambient): once the fault shows on the bench (state F, the
    contactor opening or the offer withdrawn), the connector is reported Faulted with the matching
    errorCode within the profile's status latency."""
    ocpp = ocpp_of(rig)
    offset = board_offset(cp, clock)
    since = clock.now()
    start_charging(cp, clock)
    t_inject = inject(fault, cp, fault_box, source, clock, rig)
    clock.sleep(LIMITS.rig.fault_observation.high)
    watch_status(clock, ocpp)
    edges = cp.read_edges()
    t_effect = fault_effect(edges, fault, t_inject)
    code = FAULT_ERROR_CODES[fault]
    faulted = next((r for r in backend.statuses(since) if r.status == "Faulted" and r.error_code == code
                    and r.t_s + offset.s >= t_effect - 1e-9), None)
    evidence.trace(fault, edges, markers(injected=t_inject, fault_shows=t_effect))
    evidence.check(f"{fault} on the bench to Faulted / {code}", delay_to(faulted, offset, t_effect),
                   ocpp.status_within_s, t_s=t_effect, u=offset.delay_u_s(cp))


def stays_inoperative(cp: CpEmulator, clock: Clock, backend: Backend, rig: Rig, evidence: Evidence,
                      restart: Callable[[], None], what: str) -> None:
    """ChangeAvailability Inoperative: Unavailable is reported, and a vehicle that plugs in gets no offer
    and no closing, before `restart` and after it (the availability persists, OCPP 1.6 §5.2)."""
    since = clock.now()
    answer = backend.change_availability(0, operative=False)
    if answer != "Accepted":
        raise PreconditionError(f"the DUT answered ChangeAvailability Inoperative with {answer}")
    watch_status(clock, ocpp_of(rig))
    unavailable = [r for r in backend.statuses(since) if r.status == "Unavailable"]
    evidence.check("Unavailable reported", len(unavailable), LIMITS.ocpp.unavailable_reports)
    for when in ("while Inoperative", f"after the {what}"):
        judge_a_vehicle_unserved(cp, clock, evidence, f"a vehicle {when}", when, LIMITS.ocpp.offers_while_inoperative,
                                 LIMITS.ocpp.closures_while_inoperative)
        if when == "while Inoperative":
            cp.set_state("A")
            restart()


def stays_inoperative_markers(test: Callable[..., None]) -> Callable[..., None]:
    for mark in (pytest.mark.needs("cp", "backend", "source"),
                 pytest.mark.requirement(wb_id="WB-CO-01", clause="OCPP 1.6 §5.2 Change Availability"),
                 pytest.mark.red_on("ocpp_availability_applies=false"),
                 pytest.mark.red_on("ocpp_availability_persists=false")):
        test = mark(test)
    return test


@stays_inoperative_markers
@pytest.mark.red_on("ocpp_status_delay_s=30")                      # Unavailable reported too late
@pytest.mark.red_on("ocpp_status_delay_s=30", profile="mini-wallbox-plus")
@pytest.mark.ocpp_case("TC_034_CS", "TC_G_05_CS", "TC_G_21_CS")
def test_an_inoperative_connector_offers_nothing_even_after_a_power_failure(cp: CpEmulator, clock: Clock,
                                                                           backend: Backend, rig: Rig,
                                                                           evidence: Evidence) -> None:
    """ChangeAvailability Inoperative (OCPP 1.6 §5.2): the connector reports Unavailable, and a vehicle
    that plugs in gets no offer and no closing; the availability persists across a power failure, so
    once the DUT is back the same holds (the rig's safe state makes it Operative again)."""
    stays_inoperative(cp, clock, backend, rig, evidence, lambda: power_cycle(rig, clock), "power failure")


@stays_inoperative_markers
@pytest.mark.ocpp_case("TC_013_CS", "TC_G_05_CS", "TC_G_21_CS")
def test_an_inoperative_connector_offers_nothing_even_after_a_hard_reset(cp: CpEmulator, clock: Clock,
                                                                        backend: Backend, rig: Rig,
                                                                        evidence: Evidence) -> None:
    """As after a power failure, after a Reset (Hard) the backend asked for (OCPP 1.6 §5.14): the DUT
    reboots, and the Inoperative connector still offers nothing.  (A late status is the power-failure
    test's to catch: here the status left pending by the test before may come in time.)"""
    def hard_reset() -> None:
        t_reset = clock.now()
        if backend.reset(hard=True) != "Accepted":
            raise PreconditionError("the DUT did not accept Reset (Hard)")

        def booted() -> bool:   # the reboot is over once the DUT has announced itself again
            return any(f.kind == CALL and f.action == "BootNotification" for f in backend.frames(t_reset))
        if not clock.wait_until(booted, LIMITS.ocpp.boot_timeout.value, poll_s=1.0) \
                or not clock.wait_until(lambda: dut_idle(rig), READY_TIMEOUT_S, poll_s=0.25):
            raise PreconditionError("the DUT did not boot again and reach A1 after the reset")
    stays_inoperative(cp, clock, backend, rig, evidence, hard_reset, "hard reset")


INF = float("inf")


def boot_since(backend: Backend, since_s: float) -> Frame | None:
    """The first BootNotification the DUT sent since `since_s` (rig time), if any."""
    return next((f for f in backend.frames(since_s)
                 if f.direction == "in" and f.kind == CALL and f.action == "BootNotification"), None)


@pytest.mark.needs("cp", "backend", "source")
@pytest.mark.requirement(wb_id="WB-CO-01", clause="OCPP 1.6 §4.2 BootNotification, §4.9 StatusNotification")
@pytest.mark.red_on("ocpp_status_delay_s=30")
@pytest.mark.red_on("ocpp_status_delay_s=30", profile="mini-wallbox-plus")
@pytest.mark.ocpp_case("TC_001_CS", "TC_B_01_CS")
def test_a_power_cycle_is_followed_by_a_boot_and_the_status_cp_shows(cp: CpEmulator, clock: Clock, backend: Backend,
                                                                     rig: Rig, evidence: Evidence) -> None:
    """The supply off and on (the AC source; WB-TR-01's power cycle): the DUT announces itself with
    BootNotification and reports its connector Available within the profile's status latency of the
    boot being accepted, while the CP emulator reads the idle level of state A (no vehicle, no fault)."""
    ocpp = ocpp_of(rig)
    since = clock.now()
    power_cycle(rig, clock)
    clock.wait_until(lambda: boot_since(backend, since) is not None, LIMITS.ocpp.boot_timeout.value, poll_s=1.0)
    boot = evidence.found("BootNotification after the power cycle", boot_since(backend, since),
                          LIMITS.ocpp.boot_reports)
    watch_status(clock, ocpp)
    available = next((r for r in backend.reported_statuses(boot.t_s) if r.status == "Available"), None)
    evidence.check("boot accepted to status Available", INF if available is None else available.t_s - boot.t_s,
                   ocpp.status_within_s, u=interval_u(clock.resolution_s),
                   note="both ends stamped as they passed the backend")
    level = cp.measure_cp_level()
    evidence.check("CP level while the connector is reported Available", level.volts,
                   LIMITS.iec61851.state_a_level, t_s=level.t_s, u=level.u_v)


@pytest.mark.requirement(wb_id="WB-CO-01", clause="OCPP 1.6 §5.14 Reset")
@pytest.mark.red_on("ocpp_reset_ends_transaction=false")
@pytest.mark.ocpp_case("TC_015_CS", "TC_B_22_CS")
def test_a_hard_reset_while_charging_opens_the_contactor_and_ends_the_transaction(cp: CpEmulator, clock: Clock,
                                                                                  backend: Backend, rig: Rig,
                                                                                  evidence: Evidence) -> None:
    """Reset Hard (2.0.1: Immediate) while the vehicle charges.  OCPP 1.6 §5.14: any transaction is
    terminated normally, then the charge point reboots.  The contactor opens within the profile's
    remote-stop latency of the request; the transaction ends once, with the reset's reason (HardReset;
    2.0.1 ImmediateReset), told before or after the DUT announces itself again."""
    ocpp = ocpp_of(rig)
    since = clock.now()
    start_charging(cp, clock)
    tx = open_transaction(backend, since)
    t_reset, t_rig = cp.time(), clock.now()
    if backend.reset(hard=True) != "Accepted":
        raise PreconditionError("the DUT did not accept Reset (Hard)")
    clock.sleep(watch(ocpp.remote_stop_open_within_s))
    edges = cp.read_edges()
    early = cp.interval_u_s   # a DUT that opens at once has its edge dated up to the stamps' U before the request
    opened = max(0.0, delay_s(edges, t_reset - early, Channel.OVP, "0") - early)
    evidence.trace("hard reset while charging", edges,
                   markers(reset=t_reset, **({"contactor_open": t_reset + opened} if opened != INF else {})))
    evidence.check("Reset to contactor open", opened, ocpp.remote_stop_open_within_s, t_s=t_reset, u=cp.interval_u_s)
    if not clock.wait_until(lambda: boot_since(backend, t_rig) is not None, LIMITS.ocpp.boot_timeout.value,
                            poll_s=1.0):
        raise PreconditionError("the DUT did not announce itself again after the reset: how the transaction "
                                "ended cannot be told")
    watch_status(clock, ocpp)   # what was queued across the reboot is delivered
    reason = backend.dialect.hard_reset_reason
    ended = [t for t in backend.transactions(since) if t.transaction_id == tx and t.t_stop_s is not None]
    evidence.check(f"transaction ended with reason {reason}", sum(t.reason == reason for t in ended),
                   LIMITS.ocpp.reset_stops, note=f"stop reasons: {[t.reason for t in ended]}")


@pytest.mark.requirement(wb_id="WB-CO-01", clause="OCPP 1.6 §5.17 TriggerMessage, §4.9 StatusNotification")
@pytest.mark.red_on("ocpp_trigger_status_available=true")
@pytest.mark.ocpp_case("TC_054_CS", "TC_F_24_CS")
def test_a_triggered_status_is_the_state_the_cp_emulator_holds(cp: CpEmulator, clock: Clock, backend: Backend,
                                                               rig: Rig, evidence: Evidence) -> None:
    """TriggerMessage StatusNotification (OCPP 1.6 §5.17; 2.0.1 F06), with no vehicle (A) and with one
    plugged in (B): each triggered report comes within the profile's status latency and names what the
    CP emulator holds: Available in A; in B an occupied status (1.6 Preparing, SuspendedEV(SE), Charging,
    Finishing; 2.0.1 Occupied)."""
    ocpp = ocpp_of(rig)
    told: list[str] = []
    wrong = 0
    for state in ("A", "B"):
        cp.set_state(state)
        watch_status(clock, ocpp)   # the change itself is reported and over with
        since = clock.now()
        if backend.trigger_status() != "Accepted":
            raise PreconditionError(f"the DUT did not accept TriggerMessage StatusNotification in state {state}")
        watch_status(clock, ocpp)
        report = next(iter(backend.reported_statuses(since)), None)
        evidence.check(f"TriggerMessage to StatusNotification (state {state})",
                       INF if report is None else report.t_s - since, ocpp.status_within_s,
                       u=interval_u(clock.resolution_s))
        status = "none" if report is None else report.status   # (an absent report failed just above)
        told.append(f"{state}: {status}")
        wrong += (status == "Available") != (state == "A")
    evidence.check("triggered statuses other than what the CP state is", wrong,
                   LIMITS.ocpp.triggered_status_mismatches, note="; ".join(told))


@pytest.mark.requirement(wb_id="WB-CO-01", clause="OCPP 1.6 §5.2 Change Availability")
@pytest.mark.red_on("ocpp_availability_applies=false")
@pytest.mark.red_on("ocpp_status_delay_s=30")                      # Unavailable and Available reported too late
@pytest.mark.red_on("ocpp_status_delay_s=30", profile="mini-wallbox-plus")
@pytest.mark.ocpp_case("TC_G_03_CS", "TC_G_04_CS")
def test_an_evse_made_inoperative_offers_nothing_and_operative_again_is_available(cp: CpEmulator, clock: Clock,
                                                                                   backend: Backend, rig: Rig,
                                                                                   evidence: Evidence) -> None:
    """ChangeAvailability for the EVSE alone (1.6: connector 1; 2.0.1: EVSE 1), not the whole station:
    Inoperative, it reports Unavailable and a vehicle that plugs in and asks gets no offer and no
    closing; Operative again, it reports Available."""
    ocpp = ocpp_of(rig)

    def make(operative: bool, reported: str, limit: AtLeast) -> None:
        """No vehicle (so no session the change would wait for); ChangeAvailability for EVSE 1; the
        status it must bring."""
        cp.set_state("A")
        watch_status(clock, ocpp)
        since = clock.now()
        kind = "Operative" if operative else "Inoperative"
        answer = backend.change_availability(1, operative=operative)
        if answer != "Accepted":
            raise PreconditionError(f"the DUT answered ChangeAvailability {kind} (EVSE 1) with {answer}")
        watch_status(clock, ocpp)
        evidence.check(f"{reported} reported (EVSE {kind})", sum(r.status == reported for r in backend.statuses(since)),
                       limit)
    make(False, "Unavailable", LIMITS.ocpp.unavailable_reports)
    judge_a_vehicle_unserved(cp, clock, evidence, "a vehicle at the Inoperative EVSE", "while the EVSE is Inoperative",
                             LIMITS.ocpp.offers_while_inoperative, LIMITS.ocpp.closures_while_inoperative)
    make(True, "Available", LIMITS.ocpp.available_reports)
