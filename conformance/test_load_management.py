"""Load-optimised charging (WB-LM-01) with every supported Smart-Energy meter (WB-MB-01, WB-MB-03).

The DUT polls the meter emulator as Modbus master; the household load behind the meter steps
up and down while a vehicle charges.  Judged on the analyser's timebase: the grid connection's
current per phase exceeds the configured limit for no longer than the response allowance; the
charging current comes back when the load falls; with less than 6 A left the DUT pauses rather
than offer less than IEC 61851-1's minimum or overload the connection.
"""

from __future__ import annotations

import pytest

from conformance.grid import (SINGLE_PHASE_METERS, Building, configure_energy, first_time, grid_limit_a,
                              over_limit_spans, require_energy_feature, sample_time_u_s)
from conformance.limits import LIMITS
from conformance.session import start_charging, offer_u_a
from core.limits import AtLeast, Band, derived_from

from fixtures.evidence import Evidence
from rig.rig import Rig

pytestmark = pytest.mark.needs("cp", "load", "analyser", "meter", "installer")

HOUSE_LOW_A = 5.0
"""Household load that leaves the vehicle most of the connection."""
HOUSE_HIGH_A = 15.0
"""A household step (oven, heat pump) that takes most of what the vehicle had."""
HOUSE_FULL_A = 21.0
"""Less than 6 A left: the DUT must pause."""


def min_offer() -> float:
    """IEC 61851-1 Annex A: the smallest current a PWM offer carries."""
    return LIMITS.iec61851.min_offered_current.low


def _arrange(rig: Rig, building: Building, model: str | None, evidence: Evidence) -> tuple[float, int]:
    require_energy_feature(rig, "load_management")
    if model == "none":
        pytest.skip(f"DUT profile {rig.profile.id} lists no supported meter ([meter] models)")
    configure_energy(rig, "load", model)
    phases = building.connect(evidence)
    building.set_house(HOUSE_LOW_A)
    building.vehicle_on()
    start_charging(rig.cp, rig.clock)
    return grid_limit_a(), phases


def _household_steps(building: Building, *loads_a: float) -> list[float]:
    """Act: watch the settled building, then step the household load through `loads_a`, watching
    each step for the rig's settle time; returns when each step happened (analyser time)."""
    settle = LIMITS.rig.load_management_settle.value
    building.run(settle)
    times = []
    for amps in loads_a:
        times.append(building.set_house(amps))
        building.run(settle)
    return times


def _judge_excursions(evidence: Evidence, building: Building, limit_a: float, phases: int) -> None:
    tolerance = LIMITS.rig.grid_limit_tolerance.value
    spans = over_limit_spans(building.samples, limit_a + tolerance, phases)
    longest = max((d for _, d in spans), default=0.0)
    evidence.record("stretches above the grid limit", len(spans), "")
    evidence.check("longest stretch above the grid limit", longest, LIMITS.rig.load_management_response,
                   t_s=max(spans, key=lambda s: s[1])[0] if spans else None,
                   note=f"grid limit {limit_a:g} A + {tolerance:g} A tolerance, on {phases} phase(s)",
                   u=sample_time_u_s(2))


@pytest.mark.requirement(wb_id="WB-LM-01", clause="WB-MB-03")
@pytest.mark.red_on("grid_limit_a=32")
@pytest.mark.red_on("lm_response_s=12")
@pytest.mark.red_on("meter_baud=19200")
@pytest.mark.red_on("meter_model=siemens-7kt1665",
                    only=("inepro-pro2", "inepro-pro380", "janitza-b21", "janitza-b23", "schneider-a9mem3150"))
@pytest.mark.red_on("meter_poll_interval_s=45")
@pytest.mark.red_on("rated_current_a=16")
@pytest.mark.red_on("load_management=false", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_id=2", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_parity=N", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_misread_model=janitza-b23", only=("janitza-b23",))
@pytest.mark.red_on("meter_misread_model=siemens-7kt1665", "meter_misread=unreadable", only=("siemens-7kt1665",))
@pytest.mark.red_on("single_phase_supported=false", only=SINGLE_PHASE_METERS)
def test_grid_current_stays_within_limit_as_household_load_steps(idle_dut: Rig, building: Building,
                                                                 evidence: Evidence, model: str) -> None:
    """WB-LM-01 with each meter of WB-MB-03: the household load steps up, the DUT lowers its offer
    to what the household leaves (following it, not sitting at a fallback) so the grid connection
    stays within its limit; it steps down, the current comes back."""
    limit_a, phases = _arrange(idle_dut, building, model, evidence)
    t_up, t_down = _household_steps(building, HOUSE_HIGH_A, HOUSE_LOW_A)
    building.plot(evidence, "grid connection", limit_a, phases)

    _judge_excursions(evidence, building, limit_a, phases)
    expected = min(building.ev_max_a, limit_a - HOUSE_LOW_A)
    within = LIMITS.rig.offer_back_within.value
    back = first_time(building.samples, t_down, lambda x: x.offer_a >= expected - within)
    evidence.check("charging current back after the load fell", (back - t_down) if back is not None else float("inf"),
                   LIMITS.rig.load_management_recovery, t_s=t_down,
                   note=f"offer back to {expected - within:g} A or more ({expected:g} A free)", u=sample_time_u_s())
    # WB-LM-01 "follows the remaining capacity": settled, the offer is what the household leaves
    settled = t_up + LIMITS.rig.load_management_recovery.high
    lowered = [x.offer_a for x in building.samples if settled <= x.t_s < t_down]
    left = min(building.ev_max_a, limit_a - HOUSE_HIGH_A)
    follows = Band(name="offer_follows_capacity", low=left - within, high=left + within, unit="A", clause="WB-LM-01",
                   **derived_from(LIMITS.rig.grid_limit, LIMITS.rig.offer_back_within))
    for what, offer in (("lowest", min(lowered, default=float("nan"))), ("highest", max(lowered, default=float("nan")))):
        evidence.check(f"{what} offer while the household drew {HOUSE_HIGH_A:g} A", offer, follows, t_s=settled,
                       note=f"{left:g} A left of {limit_a:g} A", u=offer_u_a(idle_dut.cp, offer))


@pytest.mark.requirement(wb_id="WB-LM-01", clause="IEC 61851-1 Annex A")
@pytest.mark.red_on("grid_limit_a=32")
@pytest.mark.red_on("lm_response_s=12")
@pytest.mark.red_on("meter_baud=19200")
@pytest.mark.red_on("meter_model=siemens-7kt1665")
@pytest.mark.red_on("meter_poll_interval_s=45")
@pytest.mark.red_on("lm_pauses_below_min=false", profile="mini-wallbox-plus")
@pytest.mark.red_on("load_management=false", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_id=2", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_parity=N", profile="mini-wallbox-plus")
def test_pauses_rather_than_overloading_when_less_than_6_a_is_left(idle_dut: Rig, building: Building,
                                                                   evidence: Evidence) -> None:
    """WB-LM-01 and the IEC minimum: with less than 6 A left, the DUT neither offers less than 6 A
    nor overloads the connection with 6 A: it pauses, and resumes when the load falls."""
    limit_a, phases = _arrange(idle_dut, building, None, evidence)
    t_full, t_down = _household_steps(building, HOUSE_FULL_A, HOUSE_LOW_A)
    building.plot(evidence, "grid connection", limit_a, phases)

    offers = [x for x in building.samples if x.offer_a > 0.0]
    smallest = min(offers, key=lambda x: x.offer_a, default=None)
    # no offer at all: nothing too small was offered (the resume check below fails such a DUT)
    evidence.check("smallest offer while charging", smallest.offer_a if smallest else float("inf"),
                   AtLeast(name="smallest_offer", low=min_offer() - LIMITS.rig.offer_resolution.value, unit="A",
                           clause="IEC 61851-1 Annex A",
                           **derived_from(LIMITS.iec61851.min_offered_current, LIMITS.rig.offer_resolution)),
                   t_s=smallest.t_s if smallest else None,
                   u=offer_u_a(idle_dut.cp, smallest.offer_a) if smallest else None)
    _judge_excursions(evidence, building, limit_a, phases)
    paused = first_time(building.samples, t_full, lambda x: x.offer_a == 0.0)
    evidence.check("paused after the household took the connection",
                   (paused - t_full) if paused is not None else float("inf"),
                   LIMITS.rig.load_management_response, t_s=t_full,
                   note=f"{limit_a - HOUSE_FULL_A:g} A left of {limit_a:g} A", u=sample_time_u_s())
    back = first_time(building.samples, t_down, lambda x: x.offer_a >= min_offer())
    evidence.check("charging again after the load fell", (back - t_down) if back is not None else float("inf"),
                   LIMITS.rig.load_management_recovery, t_s=t_down, u=sample_time_u_s())


@pytest.mark.requirement(wb_id="WB-MB-01")
@pytest.mark.red_on("meter_baud=19200")
@pytest.mark.red_on("meter_model=siemens-7kt1665")
@pytest.mark.red_on("meter_id=2", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_parity=N", profile="mini-wallbox-plus")
def test_dut_reads_the_meter_as_modbus_master(idle_dut: Rig, building: Building, evidence: Evidence) -> None:
    """WB-MB-01: the wallbox is the Modbus master of the RS485 line: it polls the meter on its own
    and reports the meter as present."""
    rig = idle_dut
    require_energy_feature(rig, "load_management")
    configure_energy(rig, "load")
    before = rig.meter.polls()
    t0 = building.step()
    building.run(LIMITS.rig.load_management_settle.value)
    polls = rig.meter.polls() - before
    seconds = building.samples[-1].t_s - t0
    evidence.check("polls the meter received", polls, LIMITS.rig.meter_polls)
    if polls:
        evidence.record("poll interval", seconds / polls, "s")
    status = rig.installer.meter_status()
    evidence.check("DUT reports the meter present", 1 if status.status == "ok" else 0,
                   LIMITS.rig.meter_worked_first,
                   note=f"status {status.status!r}")
