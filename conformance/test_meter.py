"""The Smart-Energy meter's communication (WB-MB-04) and what the DUT does without meter data.

WB-MB-04: the meter's parameters must be entered 1:1; a mismatch means no meter data.  Without
meter data (parameters that do not match, a meter that stops answering, answers that are
corrupt or frozen) load management stays on as a safety function (WB-LM-01): the DUT reports
the meter missing and falls back to the safe current the installer configured, within the
rig's allowance (the manuals give no figure).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conformance.grid import Building, configure_energy, failsafe_a, first_time, require_energy_feature, sample_time_u_s
from conformance.limits import LIMITS
from core.limits import AtMost, Count
from conformance.session import start_charging, offer_u_a
from fixtures.evidence import Evidence
from rig.rig import Rig

pytestmark = pytest.mark.needs("cp", "load", "analyser", "meter", "installer")

HOUSE_A = 5.0
"""Household load while the meter still works: the DUT offers well above the failsafe current."""
WRONG: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "baud": lambda line: {"baud": 19200 if line["baud"] != 19200 else 9600},
    "parity": lambda line: {"parity": "N" if line["parity"] != "N" else "E"},
    "id": lambda line: {"id": int(line["id"]) % 247 + 1},
}
"""One parameter entered differently from the meter's, the rest right."""


def _judge_fallback(rig: Rig, evidence: Evidence, building: Building, t_act: float, what: str) -> None:
    safe = failsafe_a()
    tolerance = LIMITS.rig.failsafe_tolerance.value
    building.plot(evidence, "grid connection")
    fell_back = first_time(building.samples, t_act, lambda x: abs(x.offer_a - safe) <= tolerance)
    evidence.check(f"offer at the failsafe current after {what}",
                   (fell_back - t_act) if fell_back is not None else float("inf"),
                   LIMITS.rig.meter_fault_response, t_s=t_act,
                   note=f"failsafe {safe:g} A ± {tolerance:g} A", u=sample_time_u_s())
    held = [x.offer_a for x in building.samples if fell_back is not None and x.t_s >= fell_back]
    evidence.check("offer stays at the failsafe current", max((abs(a - safe) for a in held), default=float("inf")),
                   AtMost(name="failsafe_hold", high=tolerance, unit="A", clause="WB-LM-01",
                          source=f"failsafe_tolerance: {LIMITS.rig.failsafe_tolerance.source}", cites=("RIG",)),
                   u=offer_u_a(rig.cp, safe))
    status = rig.installer.meter_status()
    evidence.check("DUT reports no meter data", 0 if status.status == "ok" else 1,
                   Count(name="meter_missing", value=1, unit="", clause="WB-MB-04",
                         source="product manual WB-MB-04: without meter data the wallbox reports the meter missing "
                                "(installer interface METER? status)", cites=("MANUAL",)),
                   note=f"status {status.status!r}")


@pytest.mark.parametrize("parameter", sorted(WRONG))
@pytest.mark.requirement(wb_id="WB-MB-04", clause="WB-LM-01")
@pytest.mark.red_on("failsafe_current_a=16")
@pytest.mark.red_on("load_management=false", profile="mini-wallbox-plus")
def test_no_meter_data_when_parameters_do_not_match(idle_dut: Rig, building: Building, evidence: Evidence,
                                                    parameter: str) -> None:
    """WB-MB-04: the meter entered with one parameter unlike the meter's (baud rate, parity or
    address): the DUT gets no meter data, says so, and charges at the failsafe current."""
    rig = idle_dut
    require_energy_feature(rig, "load_management")
    building.set_house(HOUSE_A)
    building.vehicle_on()
    entered = configure_energy(rig, "load", **WRONG[parameter](rig.meter.line))
    t_act = building.step()
    building.marks[f"meter entered with {parameter} {entered[parameter]}"] = t_act
    start_charging(rig.cp, rig.clock)
    building.run(LIMITS.rig.meter_fault_response.high)
    _judge_fallback(rig, evidence, building, t_act, f"a {parameter} mismatch")


@pytest.mark.parametrize("fault", ["no_answer", "crc", "wrong_id", "stale"])
@pytest.mark.requirement(wb_id="WB-LM-01", clause="WB-MB-04")
@pytest.mark.red_on("failsafe_current_a=16")
@pytest.mark.red_on("meter_baud=19200")
@pytest.mark.red_on("meter_model=siemens-7kt1665")
@pytest.mark.red_on("meter_poll_interval_s=45", only=("no_answer", "stale", "wrong_id"))
@pytest.mark.red_on("meter_stale_after_s=0", only=("stale",))
@pytest.mark.red_on("load_management=false", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_id=2", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_lost_after_s=40", profile="mini-wallbox-plus", only=("crc", "no_answer", "wrong_id"))
@pytest.mark.red_on("meter_parity=N", profile="mini-wallbox-plus")
def test_falls_back_to_failsafe_current_when_meter_data_stops(idle_dut: Rig, building: Building,
                                                              evidence: Evidence, fault: str) -> None:
    """WB-LM-01 "stays on as a safety function": mid-session the meter stops answering, answers
    with a broken CRC or another address, or freezes its values; the DUT falls back to the
    failsafe current within the allowance."""
    rig = idle_dut
    require_energy_feature(rig, "load_management")
    configure_energy(rig, "load")
    building.set_house(HOUSE_A)
    building.vehicle_on()
    start_charging(rig.cp, rig.clock)
    building.run(LIMITS.rig.load_management_settle.value)
    before = building.samples[-1].offer_a
    evidence.record("offer with the meter working", before, "A", u=offer_u_a(rig.cp, before))
    status = rig.installer.meter_status().status
    worked = status == "ok" and abs(before - failsafe_a()) > LIMITS.rig.failsafe_tolerance.value
    evidence.check("meter data used before the fault (status ok, offer off the failsafe current)", int(worked),
                   LIMITS.rig.meter_worked_first, note=f"status {status!r}, offer {before:g} A")
    rig.meter.set_fault(fault)
    t_act = building.step()
    building.marks[f"meter fault: {fault}"] = t_act
    building.run(LIMITS.rig.meter_fault_response.high)
    _judge_fallback(rig, evidence, building, t_act, f"the meter fault {fault!r}")
