"""Smart charging against physics (OCPP 1.6 §3.13; WB-CO-02 backend smart charging): the backend
sends a schedule; the suite knows the limit of every period because it wrote it, and judges,
period by period, the duty the CP emulator measures and the current the analyser measures.

A profile's claim (GetCompositeSchedule) is held against what the PWM does, not trusted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest

from conformance.backend import absolute_profile, ocpp_of, open_transaction, whole_second
from conformance.grid import MIN_LINE_V
from conformance.limits import LIMITS, decoded_current_a
from conformance.session import measured_offer_a, offer_u_a, offered_current_a, start_charging
from core.errors import PreconditionError
from core.types import Channel
from core.uncertainty import times
from fixtures.evidence import Evidence
from instruments.ac_load import AcLoad
from instruments.backend import Backend
from instruments.backend_planner import Tariff, plan_departure
from instruments.cp_emulator import CpEmulator
from instruments.power_analyser import PowerAnalyser
from rig.clock import Clock
from rig.rig import Rig

pytestmark = [pytest.mark.needs("cp", "analyser", "load", "backend"),
              pytest.mark.requirement(wb_id="WB-CO-02", clause="OCPP 1.6 §3.13 smart charging")]


def follows_the_schedule(test: Callable[..., None]) -> Callable[..., None]:
    """Every test of the family judges the offer against a schedule: a firmware that ignores the
    profiles, or applies them 30 s late (three times the profiles' latency), fails each."""
    for mark in (pytest.mark.red_on("ocpp_schedule_follow=false"),
                 pytest.mark.red_on("ocpp_schedule_follow=false", profile="mini-wallbox-plus"),
                 pytest.mark.red_on("ocpp_schedule_delay_s=30")):
        test = mark(test)
    return test


@pytest.fixture
def dut_calendar(backend: Backend) -> Iterator[Backend]:
    """The backend, whose clock the test may set off its calendar; afterwards it is right again and
    the DUT told so."""
    yield backend
    backend.set_clock_offset(0.0)


def offered_at(edges: list, t_s: float) -> float:
    """The current the duty offered at board time `t_s` (0 without PWM), from the captured edges."""
    pwm, duty = False, 0.0
    for e in edges:
        if e.t_s > t_s:
            break
        if e.channel == Channel.PWM:
            pwm = e.value == "1"
        elif e.channel == Channel.DUTY:
            duty = float(e.value)
    return decoded_current_a(duty) if pwm else 0.0


def follow_offer(cp: CpEmulator, load: AcLoad, clock: Clock, until: float, wish_a: float) -> float:
    """The vehicle reads the duty every rig step until board time `until` and draws what it wishes
    within the offer (as a vehicle follows a lowered duty); returns the last offer it read."""
    step = LIMITS.ocpp.vehicle_follow_step.value
    offered = offered_at(cp.read_edges(), cp.time())
    while True:
        load.set_current(min(wish_a, offered))
        remaining = until - cp.time()
        if remaining <= cp.stamp_resolution_s:   # a remainder under the stamp grid: the scope shows no newer sample
            return offered
        clock.sleep(min(step, remaining))
        offered = offered_at(cp.read_edges(), cp.time())


def judge_periods(cp: CpEmulator, load: AcLoad, analyser: PowerAnalyser, clock: Clock, rig: Rig,
                  evidence: Evidence, t0: float, periods: list[tuple[float, float, float]], wish_a: float) -> None:
    """For each (start s, end s, limit A) after board time `t0`: the vehicle (wishing `wish_a`)
    follows the offer; the offer reaches the limit within the profile's latency and holds it to the
    period's end; the analyser's current stays under it."""
    ocpp = ocpp_of(rig)
    tolerance = LIMITS.ocpp.offered_vs_duty.high
    full = offered_current_a(rig)
    for start, end, limit in periods:
        clock.sleep(max(0.0, t0 + start - cp.time()))
        offered_now = follow_offer(cp, load, clock, t0 + start + ocpp.schedule_within_s.high, wish_a)
        clock.sleep(max(0.0, t0 + end - cp.time() - 1.0))
        edges = cp.read_edges()
        record = analyser.read()
        expected = min(limit, full)
        candidates = [t0 + start] + [e.t_s for e in edges if e.t_s >= t0 + start]   # already there, or later
        reached = next((t for t in candidates if abs(offered_at(edges, t) - expected) <= tolerance), None)
        late = (reached - (t0 + start)) if reached is not None else float("inf")
        evidence.check(f"period at {start / 60:g} min ({limit:g} A): offer reaches the limit after", late,
                       ocpp.schedule_within_s, t_s=t0 + start, u=cp.interval_u_s)
        held = offered_at(edges, t0 + end - 1.0)
        evidence.check(f"period at {start / 60:g} min ({limit:g} A): offer above the limit at its end",
                       max(0.0, held - expected), LIMITS.ocpp.schedule_draw_margin, t_s=t0 + end,
                       u=LIMITS.offer_u_a(held, cp.duty_u_pct))
        drawn = max(p.i_a for p in record.phases)
        evidence.check(f"period at {start / 60:g} min ({limit:g} A): vehicle current above the limit",
                       max(0.0, drawn - expected), LIMITS.ocpp.schedule_draw_margin, t_s=record.t_s,
                       u=analyser.u_a(drawn))
        evidence.record(f"period at {start / 60:g} min: offer the vehicle drew from", offered_now, "A",
                        u=offer_u_a(cp, offered_now))


def charge_and_align(cp: CpEmulator, load: AcLoad, clock: Clock, backend: Backend, draw_a: float
                     ) -> tuple[datetime, float]:
    """The vehicle drawing `draw_a` and charging; (the next whole second on the DUT's calendar, for a
    schedule to start at, and that instant on the CP board's timebase)."""
    load.set_current(draw_a)
    load.set_on(True)
    start_charging(cp, clock)
    start = whole_second(backend.dut_utc(clock.now()))
    return start, backend.rig_time_of(start) + (cp.time() - clock.now())


@follows_the_schedule
@pytest.mark.ocpp_case("TC_056_CS", "TC_K_28_CS")
def test_each_period_of_a_charging_profile_is_followed(cp: CpEmulator, load: AcLoad, analyser: PowerAnalyser,
                                                       clock: Clock, backend: Backend, rig: Rig,
                                                       evidence: Evidence) -> None:
    """A TxDefaultProfile of three periods (high, 0, low): the measured duty reaches each period's
    limit within the profile's latency and stays there; the limit-0 period offers nothing and the
    connector is SuspendedEVSE; the vehicle's current stays under each limit."""
    period = LIMITS.ocpp.schedule_period.value
    high, low = LIMITS.ocpp.schedule_limit_high.value, LIMITS.ocpp.schedule_limit_low.value
    start, t0 = charge_and_align(cp, load, clock, backend, high)
    plan = [(0.0, high), (period, 0.0), (2 * period, low)]
    profile = absolute_profile("TxDefaultProfile", 1, start, plan, profile_id=101, duration_s=3 * period)
    if backend.set_charging_profile(profile) != "Accepted":
        raise PreconditionError("the DUT did not accept a valid TxDefaultProfile")
    since = clock.now()
    judge_periods(cp, load, analyser, clock, rig, evidence, t0,
                  [(k * period, (k + 1) * period, limit) for k, (_, limit) in enumerate(plan)], high)
    suspended = [r for r in backend.statuses(since) if r.status == "SuspendedEVSE"]
    evidence.check("SuspendedEVSE reports in the limit-0 period", len(suspended), LIMITS.ocpp.suspended_reports)
    evidence.series("offer", {"offered (A)": [(e.t_s, offered_at(cp.read_edges(), e.t_s)) for e in cp.read_edges()
                                              if e.t_s >= t0]})


@pytest.mark.red_on("ocpp_stack_level_highest_wins=false")
@follows_the_schedule
@pytest.mark.ocpp_case("TC_072_CS", "TC_K_40_CS")
def test_the_higher_stack_level_rules(cp: CpEmulator, load: AcLoad, analyser: PowerAnalyser, clock: Clock,
                                      backend: Backend, rig: Rig, evidence: Evidence) -> None:
    """Two TxDefaultProfiles at once: stack level 2 (low limit) over stack level 1 (high limit):
    the offer is the higher level's for as long as it lasts, then the lower's."""
    period = LIMITS.ocpp.schedule_period.value
    high, low = LIMITS.ocpp.schedule_limit_high.value, LIMITS.ocpp.schedule_limit_low.value
    start, t0 = charge_and_align(cp, load, clock, backend, high)
    base = absolute_profile("TxDefaultProfile", 1, start, [(0.0, high)], profile_id=201, duration_s=2 * period)
    over = absolute_profile("TxDefaultProfile", 2, start, [(0.0, low)], profile_id=202, duration_s=period)
    for profile in (base, over):
        if backend.set_charging_profile(profile) != "Accepted":
            raise PreconditionError("the DUT did not accept a valid TxDefaultProfile")
    judge_periods(cp, load, analyser, clock, rig, evidence, t0, [(0.0, period, low), (period, 2 * period, high)],
                  high)


@pytest.mark.red_on("ocpp_honours_valid_to=false")
@pytest.mark.red_on("pp_resistance_ohm=680")     # a 20 A cable coding: the full offer (after the profile) is short
@pytest.mark.red_on("rated_current_a=16")         # the installer's setting is not the rig file's: likewise
@follows_the_schedule
@pytest.mark.ocpp_case("TC_K_22_CS")
def test_a_profile_stops_applying_at_its_valid_to(cp: CpEmulator, load: AcLoad, analyser: PowerAnalyser,
                                                  clock: Clock, backend: Backend, rig: Rig,
                                                  evidence: Evidence) -> None:
    """A ChargePointMaxProfile valid for one period caps the offer at the low limit; from its
    validTo on, the offer is the installer's setting again."""
    period = LIMITS.ocpp.schedule_period.value
    low = LIMITS.ocpp.schedule_limit_low.value
    setting = offered_current_a(rig)
    start, t0 = charge_and_align(cp, load, clock, backend, setting)
    cap = absolute_profile("ChargePointMaxProfile", 0, start, [(0.0, low)], profile_id=301,
                           valid_to=start + timedelta(seconds=period))
    if backend.set_charging_profile(cap, connector=0) != "Accepted":
        raise PreconditionError("the DUT did not accept a valid ChargePointMaxProfile")
    judge_periods(cp, load, analyser, clock, rig, evidence, t0,
                  [(0.0, period, low), (period, 2 * period, setting)], setting)


@pytest.mark.requirement(wb_id="WB-CO-02", clause="OCPP 1.6 §3.13; BMW Digital Charging Service (tariff, departure)")
@pytest.mark.red_on("pp_resistance_ohm=680")     # a 20 A cable coding: the full offer (after the profile) is short
@pytest.mark.red_on("rated_current_a=16")         # the installer's setting is not the rig file's: likewise
@pytest.mark.red_on("phases=1")                  # a third of the power the plan counts on: short by the departure
@follows_the_schedule
def test_a_tariff_plan_charges_in_the_cheap_hours_and_is_ready_by_departure(cp: CpEmulator, load: AcLoad,
                                                                            analyser: PowerAnalyser, clock: Clock,
                                                                            dut_calendar: Backend, rig: Rig,
                                                                            evidence: Evidence) -> None:
    """The backend plans as the service does (cheapest hours of a day/night tariff before the
    departure) and sends the plan; nothing flows in the expensive hours, and by the departure the
    analyser has measured the energy asked for.  The backend sets the DUT's calendar to the evening
    the plan starts in."""
    o = LIMITS.ocpp
    backend = dut_calendar
    setting = offered_current_a(rig)
    load.set_current(setting)
    load.set_on(True)
    start_charging(cp, clock)
    today = backend.utc(clock.now())
    planned = today.replace(hour=int(o.tariff_start.value), minute=0, second=0, microsecond=0)
    backend.set_clock_offset((planned - today).total_seconds())   # the DUT's calendar: the evening
    now = whole_second(backend.dut_utc(clock.now()))
    departure = now + timedelta(seconds=o.tariff_departure_after.value)
    phases = rig.profile.electrical.phases
    tariff = Tariff(night_from_h=int(o.tariff_night.value), night_to_h=int(o.tariff_night_end.value))
    plan = plan_departure(now, departure, o.tariff_energy.value, setting, phases,
                          LIMITS.rig.nominal_supply_voltage.value, tariff)
    t0 = backend.rig_time_of(now) + (cp.time() - clock.now())
    first = analyser.read()
    e0 = first.energy_wh
    if backend.set_charging_profile(plan.profile) != "Accepted":
        raise PreconditionError("the DUT did not accept the planned TxDefaultProfile")
    expensive = [(s, e) for s, e, amps in plan.periods if amps == 0.0]
    judge_periods(cp, load, analyser, clock, rig, evidence, t0, plan.periods, setting)
    clock.sleep(max(0.0, t0 + (departure - now).total_seconds() - cp.time()))
    last = analyser.read()
    delivered = last.energy_wh - e0
    evidence.record("hours planned at zero (expensive)", sum(e - s for s, e in expensive) / 3600.0, "h")
    evidence.check("shortfall of the energy by departure", max(0.0, 1.0 - delivered / o.tariff_energy.value),
                   o.departure_energy_shortfall,
                   u=times(analyser.u_wh(delivered, last.t_s - first.t_s, phases), 1.0 / o.tariff_energy.value))


@pytest.mark.red_on("pp_resistance_ohm=680")     # a 20 A cable coding: the full offer (after the profile) is short
@pytest.mark.red_on("rated_current_a=16")         # the installer's setting is not the rig file's: likewise
@follows_the_schedule
@pytest.mark.ocpp_case("TC_066_CS", "TC_K_41_CS")
def test_the_composite_schedule_claims_what_the_duty_does(cp: CpEmulator, load: AcLoad, analyser: PowerAnalyser,
                                                          clock: Clock, backend: Backend, rig: Rig,
                                                          evidence: Evidence) -> None:
    """GetCompositeSchedule after a two-period TxDefaultProfile: the claim states the periods sent
    (capped by the installer's setting), and the measured duty does what the claim says."""
    period = LIMITS.ocpp.schedule_period.value
    high, low = LIMITS.ocpp.schedule_limit_high.value, LIMITS.ocpp.schedule_limit_low.value
    setting = offered_current_a(rig)
    start, _ = charge_and_align(cp, load, clock, backend, high)
    sent = [(0.0, high), (period, low)]
    if backend.set_charging_profile(absolute_profile("TxDefaultProfile", 1, start, sent, profile_id=401,
                                                     duration_s=2 * period)) != "Accepted":
        raise PreconditionError("the DUT did not accept a valid TxDefaultProfile")
    follow_offer(cp, load, clock, cp.time() + ocpp_of(rig).schedule_within_s.high, high)
    answer = backend.composite_schedule(int(2 * period))
    schedule = answer.get("chargingSchedule")
    if answer.get("status") != "Accepted" or not schedule:
        raise PreconditionError(f"GetCompositeSchedule was not answered with a schedule: {answer}")
    claimed_start = datetime.fromisoformat(str(answer.get("scheduleStart") or schedule["startSchedule"])
                                           .replace("Z", "+00:00"))
    t_claim = backend.rig_time_of(claimed_start) + (cp.time() - clock.now())
    points = [(float(p["startPeriod"]), float(p["limit"])) for p in schedule["chargingSchedulePeriod"]]
    ends = [a for a, _ in points[1:]] + [float(schedule.get("duration") or 2 * period)]
    claim = [(a, b, limit) for (a, limit), b in zip(points, ends)]
    evidence.record("claimed periods", len(claim), "")
    offset = (claimed_start - start).total_seconds()

    def sent_limit(t: float) -> float:
        """What the profile sent allows at `t` s after its start; the setting after its duration."""
        if t >= 2 * period:
            return setting
        return min(setting, next(limit for a, limit in reversed(sent) if a <= t))
    wrong = sum(abs(limit - sent_limit(offset + (a + b) / 2.0)) > LIMITS.ocpp.offered_vs_duty.high
                for a, b, limit in claim)
    evidence.check("claimed periods that differ from the profile sent", wrong, LIMITS.ocpp.composite_mismatches)
    judge_periods(cp, load, analyser, clock, rig, evidence, t_claim, claim, high)


@pytest.mark.needs("cp", "analyser", "load", "source", "backend")
@pytest.mark.red_on("ocpp_watts_at_nominal_v=true")
@follows_the_schedule
def test_a_limit_in_watts_is_turned_into_current_at_the_measured_voltage(cp: CpEmulator, load: AcLoad,
                                                                          analyser: PowerAnalyser, clock: Clock,
                                                                          backend: Backend, rig: Rig,
                                                                          evidence: Evidence) -> None:
    """The supply off its nominal voltage; a limit in W for the high current at the measured
    voltage and phase count: the offer is that current, not the one nominal 230 V would give."""
    high = LIMITS.ocpp.schedule_limit_high.value
    rig.source.set_voltage(LIMITS.ocpp.watts_supply_v.value)
    load.set_current(high)
    load.set_on(True)
    start_charging(cp, clock)
    record = analyser.read()
    phases = rig.profile.electrical.phases
    volts = sum(p.u_v for p in record.phases[:phases]) / phases
    watts = round(high * volts * phases)
    evidence.record("measured supply voltage (mean of the phases used)", volts, "V", t_s=record.t_s,
                    u=analyser.u_v(volts))   # not reduced by the mean: the elements' errors may go together
    evidence.record("limit sent", watts, "W")
    start = whole_second(backend.dut_utc(clock.now()))
    t0 = backend.rig_time_of(start) + (cp.time() - clock.now())
    profile = absolute_profile("TxDefaultProfile", 1, start, [(0.0, watts)], profile_id=501,
                               duration_s=LIMITS.ocpp.schedule_period.value)
    profile["chargingSchedule"]["chargingRateUnit"] = "W"
    if backend.set_charging_profile(profile) != "Accepted":
        raise PreconditionError("the DUT did not accept a valid TxDefaultProfile in W")
    judge_periods(cp, load, analyser, clock, rig, evidence, t0,
                  [(0.0, LIMITS.ocpp.schedule_period.value, watts / (volts * phases))], high)


@pytest.mark.red_on("ocpp_recurring_resets_at_midnight=true")
@pytest.mark.red_on("pp_resistance_ohm=680")     # a 20 A cable coding: the full offer (after the profile) is short
@pytest.mark.red_on("rated_current_a=16")         # the installer's setting is not the rig file's: likewise
@follows_the_schedule
@pytest.mark.ocpp_case("TC_K_19_CS")
def test_a_daily_recurring_profile_runs_across_midnight(cp: CpEmulator, load: AcLoad, analyser: PowerAnalyser,
                                                        clock: Clock, dut_calendar: Backend, rig: Rig,
                                                        evidence: Evidence) -> None:
    """A daily recurring TxDefaultProfile starting one period before midnight (UTC) and lasting two:
    the low limit holds across midnight, and the setting returns at its end.  The backend, the
    DUT's time master, sets its calendar to just before the start (no day of waiting)."""
    backend = dut_calendar
    period = LIMITS.ocpp.schedule_period.value
    low = LIMITS.ocpp.schedule_limit_low.value
    setting = offered_current_a(rig)
    lead = LIMITS.ocpp.schedule_period.value / 3
    now = backend.utc(clock.now())
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight - timedelta(seconds=period)
    backend.set_clock_offset((start - now).total_seconds() - lead)   # the DUT's calendar: just before `start`
    load.set_current(setting)
    load.set_on(True)
    start_charging(cp, clock)
    profile = absolute_profile("TxDefaultProfile", 1, start, [(0.0, low)], profile_id=601, duration_s=2 * period)
    profile.update(chargingProfileKind="Recurring", recurrencyKind="Daily")
    if backend.set_charging_profile(profile) != "Accepted":
        raise PreconditionError("the DUT did not accept a valid daily recurring TxDefaultProfile")
    t0 = backend.rig_time_of(start) + (cp.time() - clock.now())
    judge_periods(cp, load, analyser, clock, rig, evidence, t0,
                  [(0.0, 2 * period, low), (2 * period, 3 * period, setting)], setting)




@pytest.mark.red_on("ocpp_relative_on_wall_clock=true")
@follows_the_schedule
@pytest.mark.ocpp_case("TC_057_CS", "TC_K_60_CS")
def test_a_jump_of_the_backends_clock_leaves_a_relative_schedule_alone(cp: CpEmulator, load: AcLoad,
                                                                       analyser: PowerAnalyser, clock: Clock,
                                                                       dut_calendar: Backend, rig: Rig,
                                                                       evidence: Evidence) -> None:
    """A TxProfile relative to the transaction's start holds the low limit; the backend's
    currentTime then jumps by the rig's jump (a Heartbeat carries it): the limit stays."""
    backend = dut_calendar
    period = LIMITS.ocpp.schedule_period.value
    low = LIMITS.ocpp.schedule_limit_low.value
    since = clock.now()
    load.set_current(LIMITS.ocpp.schedule_limit_high.value)
    load.set_on(True)
    start_charging(cp, clock)
    tx = open_transaction(backend, since)
    started = next(t.t_start_s for t in backend.transactions(since) if t.transaction_id == tx)
    profile = {"chargingProfileId": 701, "transactionId": tx, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
               "chargingProfileKind": "Relative",
               "chargingSchedule": {"chargingRateUnit": "A", "duration": int(clock.now() - started + 3 * period),
                                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": low}]}}
    if backend.set_charging_profile(profile) != "Accepted":
        raise PreconditionError("the DUT did not accept a valid relative TxProfile")
    follow_offer(cp, load, clock, cp.time() + ocpp_of(rig).schedule_within_s.high,
                 LIMITS.ocpp.schedule_limit_high.value)
    t0 = cp.time()
    backend.set_clock_offset(LIMITS.ocpp.clock_jump.value)
    evidence.record("backend clock jump", LIMITS.ocpp.clock_jump.value, "s", t_s=t0)
    judge_periods(cp, load, analyser, clock, rig, evidence, t0, [(0.0, period, low)],
                  LIMITS.ocpp.schedule_limit_high.value)


@pytest.mark.red_on("ocpp_clear_applies=false")
@pytest.mark.red_on("pp_resistance_ohm=680")     # a 20 A cable coding: the full offer (after the clear) is short
@pytest.mark.red_on("rated_current_a=16")         # the installer's setting is not the rig file's: likewise
@pytest.mark.ocpp_case("TC_067_CS", "TC_K_05_CS")
@follows_the_schedule
def test_a_cleared_profile_gives_the_offer_back(cp: CpEmulator, load: AcLoad, analyser: PowerAnalyser, clock: Clock,
                                                backend: Backend, rig: Rig, evidence: Evidence) -> None:
    """A TxDefaultProfile caps the offer at the low limit; ClearChargingProfile by its id (OCPP 1.6 §5.5):
    from then on the offer is the installer's setting again, within the profile's latency."""
    period = LIMITS.ocpp.schedule_period.value
    low = LIMITS.ocpp.schedule_limit_low.value
    setting = offered_current_a(rig)
    start, t0 = charge_and_align(cp, load, clock, backend, setting)
    cap = absolute_profile("TxDefaultProfile", 1, start, [(0.0, low)], profile_id=311)
    if backend.set_charging_profile(cap) != "Accepted":
        raise PreconditionError("the DUT did not accept a valid TxDefaultProfile")
    judge_periods(cp, load, analyser, clock, rig, evidence, t0, [(0.0, period, low)], setting)
    t_clear = cp.time()
    if backend.clear_charging_profile(311) != "Accepted":
        raise PreconditionError("the DUT did not accept ClearChargingProfile for the profile it holds")
    evidence.record("ClearChargingProfile sent", 0.0, "s", t_s=t_clear)
    judge_periods(cp, load, analyser, clock, rig, evidence, t_clear, [(0.0, period, setting)], setting)


@pytest.mark.red_on("ocpp_txprofile_needs_transaction=false")
@pytest.mark.red_on("pp_resistance_ohm=680")     # a 20 A cable coding: the full offer is short
@pytest.mark.red_on("rated_current_a=16")         # the installer's setting is not the rig file's: likewise
@pytest.mark.ocpp_case("TC_058_1_CS", "TC_K_02_CS")
def test_a_tx_profile_without_a_transaction_is_refused_and_limits_nothing(cp: CpEmulator, load: AcLoad,
                                                                         clock: Clock, backend: Backend, rig: Rig,
                                                                         evidence: Evidence) -> None:
    """A TxProfile sent while no transaction runs (OCPP 1.6 §5.16: it belongs to a transaction) is
    refused; the vehicle that then plugs in is offered the installer's full setting."""
    low = LIMITS.ocpp.schedule_limit_low.value
    setting = offered_current_a(rig)
    profile = {"chargingProfileId": 901, "transactionId": 4711, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
               "chargingProfileKind": "Relative",
               "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": low}]}}
    answer = backend.set_charging_profile(profile)
    evidence.record("SetChargingProfile (TxProfile, no transaction) answered", 0.0 if answer == "Rejected" else 1.0,
                    "", note=f"status {answer!r}")
    load.set_current(setting)
    load.set_on(True)
    start_charging(cp, clock)
    clock.sleep(ocpp_of(rig).schedule_within_s.high)
    offer = measured_offer_a(cp)
    evidence.check(f"offer below the {setting:g} A setting after the refused TxProfile", max(0.0, setting - offer),
                   LIMITS.ocpp.schedule_draw_margin, u=offer_u_a(cp, offer), note=f"offered {offer:g} A")


@pytest.mark.red_on("ocpp_composite_watts_inverted=true")
@pytest.mark.red_on("ocpp_composite_merges=false")
def test_the_composite_schedule_in_watts_is_the_current_at_the_measured_voltage(cp: CpEmulator, load: AcLoad,
                                                                               analyser: PowerAnalyser,
                                                                               clock: Clock, backend: Backend,
                                                                               rig: Rig, evidence: Evidence) -> None:
    """A TxDefaultProfile in A whose middle boundary changes nothing (high, high, low); GetCompositeSchedule
    asked in W: one period per change of the limit, each the current limit times the voltage and
    phases the analyser measures."""
    period = LIMITS.ocpp.schedule_period.value
    high, low = LIMITS.ocpp.schedule_limit_high.value, LIMITS.ocpp.schedule_limit_low.value
    start, _ = charge_and_align(cp, load, clock, backend, high)
    sent = [(0.0, high), (period, high), (2 * period, low)]
    if backend.set_charging_profile(absolute_profile("TxDefaultProfile", 1, start, sent, profile_id=451,
                                                     duration_s=3 * period)) != "Accepted":
        raise PreconditionError("the DUT did not accept a valid TxDefaultProfile")
    follow_offer(cp, load, clock, cp.time() + ocpp_of(rig).schedule_within_s.high, high)
    record = analyser.read()
    live = [p.u_v for p in record.phases if p.u_v > MIN_LINE_V]   # the phases the DUT supplies
    if not live:
        raise PreconditionError("the analyser sees no phase live while charging")
    phases, volts = len(live), sum(live) / len(live)
    answer = backend.composite_schedule(int(3 * period), unit="W")
    schedule = answer.get("chargingSchedule")
    if answer.get("status") != "Accepted" or not schedule:
        raise PreconditionError(f"GetCompositeSchedule was not answered with a schedule: {answer}")
    claimed = [float(p["limit"]) for p in schedule["chargingSchedulePeriod"]]
    evidence.record("claimed periods (W)", len(claimed), "", note=", ".join(f"{w:g} W" for w in claimed))
    evidence.check("consecutive claimed periods of one limit", sum(a == b for a, b in zip(claimed, claimed[1:])),
                   LIMITS.ocpp.unmerged_periods)
    expected = [min(a, offered_current_a(rig)) * volts * phases for a in (high, low)]
    errors = [abs(w - e) / e * 100.0 for w, e in zip(claimed, expected)]
    worst = max(errors) if len(claimed) >= len(expected) else float("inf")   # a change of limit the claim lacks
    volts_u_pct = times(analyser.u_v(volts), 100.0 / phases ** 0.5 / volts)   # the mean of the live phases' readings
    evidence.check("claimed power against the limit at the measured voltage", worst, LIMITS.ocpp.composite_watts_error,
                   t_s=record.t_s, u=volts_u_pct, note=f"{volts:.1f} V on {phases} live phase(s); expected {expected[0]:.0f} W, "
                                        f"{expected[1]:.0f} W; claimed {', '.join(f'{w:g}' for w in claimed)} W")
