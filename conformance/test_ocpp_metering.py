"""Metering against the analyser (WB-CO-01, OCPP 1.6 §4.7 MeterValues, §4.8/§6.47 meterStart,
meterStop): the energy the charge point bills is the energy that flowed, its currents are the
currents the analyser measures, and its offer is the one the duty shows."""

from __future__ import annotations

from datetime import datetime

import pytest

from conformance.backend import (charge_at_meter_draw, energy_u_pct, judges_the_meter, ocpp_of, stamp_resolution_s,
                                 watch_status)
from conformance.limits import LIMITS
from conformance.session import measured_offer_a, offer_u_a
from core.errors import PreconditionError
from core.uncertainty import interval_u
from fixtures.evidence import Evidence
from instruments.ac_load import AcLoad
from instruments.backend import Backend
from instruments.cp_emulator import CpEmulator
from instruments.power_analyser import PowerAnalyser
from rig.clock import Clock
from rig.rig import Rig

pytestmark = [pytest.mark.needs("cp", "analyser", "load", "backend"),
              pytest.mark.requirement(wb_id="WB-CO-01", clause="OCPP 1.6 §4.7 MeterValues, §6.47 StopTransaction")]


def charge_metered(cp: CpEmulator, load: AcLoad, clock: Clock, backend: Backend) -> float:
    """Sample interval set, the vehicle drawing the rig's draw, charging; rig time before it all."""
    backend.change_configuration("MeterValueSampleInterval", f"{LIMITS.ocpp.meter_sample_interval.value:g}")
    since = clock.now()
    charge_at_meter_draw(cp, load, clock)
    return since


def metered_session(cp: CpEmulator, load: AcLoad, analyser: PowerAnalyser, clock: Clock, backend: Backend,
                    rig: Rig) -> tuple[float, float, float, float]:
    """Charge a vehicle drawing the rig's draw for the rig's session, then unplug; (rig time of the
    start, analyser energy over the session in Wh, the transaction's metered energy in Wh, the
    analyser's integration time in s)."""
    since = charge_metered(cp, load, clock, backend)
    first = analyser.read()
    e0 = first.energy_wh
    clock.sleep(LIMITS.ocpp.meter_session.value)
    cp.set_state("B")
    clock.sleep(LIMITS.rig.opening_observation_min.value)
    last = analyser.read()
    e1 = last.energy_wh
    load.set_on(False)
    cp.set_state("A")
    clock.sleep(ocpp_of(rig).status_within_s.high)
    done = [tx for tx in backend.transactions(since) if tx.meter_stop_wh is not None]
    if not done:
        raise PreconditionError("no transaction was started and stopped: the energy has nothing to be held against")
    tx = done[-1]
    return since, e1 - e0, float(tx.meter_stop_wh or 0.0) - tx.meter_start_wh, last.t_s - first.t_s


@judges_the_meter
@pytest.mark.ocpp_case("TC_J_10_CS")
def test_transaction_energy_is_the_energy_the_analyser_measured(cp: CpEmulator, load: AcLoad,
                                                                analyser: PowerAnalyser, clock: Clock,
                                                                backend: Backend, rig: Rig,
                                                                evidence: Evidence) -> None:
    """meterStop − meterStart of a session agrees with the analyser's integrated energy within the
    profile's metering accuracy."""
    _, true_wh, metered_wh, seconds = metered_session(cp, load, analyser, clock, backend, rig)
    phases = rig.profile.electrical.phases
    evidence.record("analyser energy over the session", true_wh, "Wh", u=analyser.u_wh(true_wh, seconds, phases))
    evidence.record("meterStop - meterStart", metered_wh, "Wh")
    if true_wh <= 0:
        raise PreconditionError("the analyser integrated no energy: the vehicle did not charge")
    evidence.check("metered energy error", abs(metered_wh - true_wh) / true_wh * 100.0,
                   ocpp_of(rig).energy_accuracy_pct, u=energy_u_pct(analyser, true_wh, seconds, phases))


@judges_the_meter
@pytest.mark.ocpp_case("TC_070_CS", "TC_J_09_CS")
def test_meter_values_come_at_the_interval_and_agree_with_the_instruments(cp: CpEmulator, load: AcLoad,
                                                                          analyser: PowerAnalyser, clock: Clock,
                                                                          backend: Backend, rig: Rig,
                                                                          evidence: Evidence) -> None:
    """Periodic MeterValues come at MeterValueSampleInterval; the register's rise between samples is
    the analyser's energy, Current.Import the analyser's current, Current.Offered the duty's offer."""
    ocpp = ocpp_of(rig)
    since = charge_metered(cp, load, clock, backend)
    first = analyser.read()
    clock.sleep(LIMITS.ocpp.meter_session.value)
    last = analyser.read()
    offer = measured_offer_a(cp)
    registers = [s for s in backend.meter_samples(since, "Energy.Active.Import.Register")
                 if s.context == "Sample.Periodic" and first.t_s <= s.t_s <= last.t_s]
    evidence.check("periodic MeterValues in the session", len(registers), LIMITS.ocpp.meter_samples)
    gaps = [b.t_s - a.t_s for a, b in zip(registers, registers[1:])]
    evidence.series("energy register", {"register (Wh)": [(s.t_s, s.value) for s in registers]})
    evidence.check("largest deviation of a sample gap from the interval",
                   max(abs(g - LIMITS.ocpp.meter_sample_interval.value) for g in gaps), LIMITS.ocpp.meter_interval_jitter,
                   u=interval_u(clock.resolution_s),
                   note="each gap between two arrivals at the backend: what a backend sees, transport included")
    metered = registers[-1].value - registers[0].value
    true_wh = (last.energy_wh - first.energy_wh) * (registers[-1].t_s - registers[0].t_s) / (last.t_s - first.t_s)
    phases = rig.profile.electrical.phases
    evidence.check("register rise vs analyser energy", abs(metered - true_wh) / true_wh * 100.0,
                   ocpp.energy_accuracy_pct, u=energy_u_pct(analyser, true_wh, last.t_s - first.t_s, phases))
    currents = [s for s in backend.meter_samples(since, "Current.Import") if s.phase == "L1"]
    evidence.check("Current.Import L1 vs analyser", abs(currents[-1].value - last.phases[0].i_a),
                   ocpp.current_accuracy_a, u=analyser.u_a(last.phases[0].i_a))
    offered = backend.meter_samples(since, "Current.Offered")
    evidence.check("Current.Offered vs the duty's offer", abs(offered[-1].value - offer), LIMITS.ocpp.offered_vs_duty,
                   u=offer_u_a(cp, offer))


@pytest.mark.red_on("ocpp_clock_aligned_offset_s=7")
@judges_the_meter
@pytest.mark.ocpp_case("TC_071_CS", "TC_J_02_CS")
def test_clock_aligned_meter_values_come_on_the_clocks_boundaries(cp: CpEmulator, load: AcLoad,
                                                                  analyser: PowerAnalyser, clock: Clock,
                                                                  backend: Backend, rig: Rig,
                                                                  evidence: Evidence) -> None:
    """ClockAlignedDataInterval set: MeterValues with context Sample.Clock come on the interval's
    boundaries from midnight (OCPP 1.6 §9.1.4), one interval apart, and the register's rise between the
    first and the last is the energy the analyser measured over the same span."""
    ocpp = ocpp_of(rig)
    interval = LIMITS.ocpp.clock_aligned_interval.value
    if backend.change_configuration("ClockAlignedDataInterval", f"{interval:g}") != "Accepted":
        raise PreconditionError("the DUT did not accept ClockAlignedDataInterval")
    since = clock.now()
    charge_at_meter_draw(cp, load, clock)
    first = analyser.read()
    clock.sleep((LIMITS.ocpp.clock_aligned_samples.low + 1) * interval)
    last = analyser.read()
    aligned = [s for s in backend.meter_samples(since, "Energy.Active.Import.Register")
               if s.context == "Sample.Clock" and first.t_s <= s.t_s <= last.t_s]
    evidence.series("clock-aligned register", {"register (Wh)": [(s.t_s, s.value) for s in aligned]})
    evidence.check("clock-aligned MeterValues while charging", len(aligned), LIMITS.ocpp.clock_aligned_samples)
    stamps = [datetime.fromisoformat(s.timestamp.replace("Z", "+00:00")) for s in aligned]
    off = [round((t - t.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() % interval, 3)
           for t in stamps]
    evidence.check("samples off the interval's boundaries", sum(1 for o in off if 0 < o < interval),
                   LIMITS.ocpp.misaligned_samples, note=f"seconds past a boundary: {off}")
    gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])]
    evidence.check("largest deviation of a sample gap from the interval",
                   max(abs(g - interval) for g in gaps), LIMITS.ocpp.meter_interval_jitter,
                   u=interval_u(max(stamp_resolution_s(s.timestamp) for s in aligned)),
                   note="each gap between two of the charge point's own stamps")
    metered = aligned[-1].value - aligned[0].value
    true_wh = (last.energy_wh - first.energy_wh) * (aligned[-1].t_s - aligned[0].t_s) / (last.t_s - first.t_s)
    evidence.check("register rise vs analyser energy", abs(metered - true_wh) / true_wh * 100.0,
                   ocpp.energy_accuracy_pct,
                   u=energy_u_pct(analyser, true_wh, last.t_s - first.t_s, rig.profile.electrical.phases))


@pytest.mark.requirement(wb_id="WB-CO-01", clause="OCPP 1.6 §5.17 TriggerMessage, §4.7 MeterValues")
@pytest.mark.red_on("ocpp_trigger_values_stale=true")
@pytest.mark.ocpp_case("TC_054_CS", "TC_F_13_CS")
def test_triggered_meter_values_are_the_current_flowing_now(cp: CpEmulator, load: AcLoad, analyser: PowerAnalyser,
                                                            clock: Clock, backend: Backend, rig: Rig,
                                                            evidence: Evidence) -> None:
    """The vehicle charges at the metering draw past a periodic sample, then its draw falls to the rig's
    trigger draw.  TriggerMessage for the meter values (OCPP 1.6 §5.17 MeterValues; 2.0.1 F06, the
    transaction's TransactionEvent) brings a Trigger reading (watched for as long as a status is) whose
    Current.Import is what the analyser measures now, not what flowed before the fall."""
    ocpp = ocpp_of(rig)
    charge_metered(cp, load, clock, backend)
    clock.sleep(LIMITS.ocpp.meter_sample_interval.value)   # a periodic sample at the first draw
    load.set_current(LIMITS.ocpp.trigger_draw.value)
    clock.sleep(LIMITS.rig.load_settle.value)
    record = analyser.read()
    since = clock.now()
    if backend.trigger_values() != "Accepted":
        raise PreconditionError("the DUT did not accept TriggerMessage for its meter values")
    watch_status(clock, ocpp)
    readings = [s for s in backend.meter_samples(since, "Current.Import") if s.context == "Trigger"
                and s.phase in ("L1", "")]
    first = evidence.found("triggered Current.Import readings", readings[0] if readings else None,
                           LIMITS.ocpp.triggered_value_reports)
    evidence.record("TriggerMessage to the reading", first.t_s - since, "s", u=interval_u(clock.resolution_s))
    evidence.check("triggered Current.Import L1 vs analyser", abs(first.value - record.phases[0].i_a),
                   ocpp.current_accuracy_a, t_s=record.t_s, u=analyser.u_a(record.phases[0].i_a))
