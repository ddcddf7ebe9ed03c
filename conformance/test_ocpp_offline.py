"""Offline and restart (WB-CO-01, OCPP 1.6 §3.2 offline behaviour, §4.8/§4.10 transactions,
§7.35 Reason): the backend goes away mid-session; charging goes on; what the charge point had
to say meanwhile arrives, all of it and in order, once the backend is back.  A mains loss ends
the session with the reason the profile declares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.backend import board_offset, charge_at_meter_draw, energy_u_pct, judges_the_meter, ocpp_of
from conformance.injection import outage, restart_within_s
from conformance.limits import LIMITS
from core.errors import PreconditionError
from core.types import Channel
from fixtures.evidence import Evidence
from fixtures.timing import count_edges, markers
from instruments.ac_load import AcLoad
from instruments.ac_source import AcSource
from instruments.backend import Backend
from instruments.cp_emulator import CpEmulator
from instruments.power_analyser import PowerAnalyser
from rig.clock import Clock
from rig.rig import Rig

pytestmark = [pytest.mark.needs("cp", "load", "backend"),
              pytest.mark.requirement(wb_id="WB-CO-01", clause="OCPP 1.6 §3.2 offline behaviour, §4.8 transactions")]


@pytest.fixture
def offline_backend(backend: Backend) -> Iterator[Backend]:
    """The backend, brought back online after the test whatever happened."""
    yield backend
    backend.set_online(True)


@pytest.mark.needs("cp", "load", "analyser", "backend")
@pytest.mark.red_on("ocpp_offline_queue=false")
@pytest.mark.ocpp_case("TC_038_CS", "TC_E_44_CS")
def test_transaction_messages_made_offline_arrive_in_order_on_reconnection(cp: CpEmulator, load: AcLoad,
                                                                           analyser: PowerAnalyser, clock: Clock,
                                                                           offline_backend: Backend, rig: Rig,
                                                                           evidence: Evidence) -> None:
    """The backend drops the connection mid-session and refuses it for the rig's offline time:
    the contactor stays closed; the periodic MeterValues and the StopTransaction made meanwhile
    arrive after the reconnection, none lost, in the order they were made."""
    backend, o = offline_backend, LIMITS.ocpp
    backend.change_configuration("MeterValueSampleInterval", f"{o.meter_sample_interval.value:g}")
    since = clock.now()
    charge_at_meter_draw(cp, load, clock)
    t_off = cp.time()
    backend.set_online(False)
    clock.sleep(o.offline_duration.value)
    t_unplug = cp.set_state("A")
    load.set_on(False)
    clock.sleep(LIMITS.rig.opening_observation_min.value)
    t_on = cp.time()
    backend.set_online(True)
    clock.sleep(o.boot_timeout.value)
    edges = cp.read_edges()
    evidence.trace("offline session", edges, markers(backend_gone=t_off, unplugged=t_unplug, backend_back=t_on))
    evidence.check("contactor openings while the backend was away", count_edges(edges, Channel.OVP, "0", t_off)
                   - count_edges(edges, Channel.OVP, "0", t_unplug), o.offline_openings)
    offset = board_offset(cp, clock)
    offline = t_unplug - t_off
    made = int(offline // o.meter_sample_interval.value)
    late = [s for s in backend.meter_samples(since, "Energy.Active.Import.Register")
            if s.context == "Sample.Periodic" and s.t_s + offset.s >= t_on]
    stops = [tx for tx in backend.transactions(since) if tx.meter_stop_wh is not None]
    evidence.record("periodic samples made while offline (at least)", made, "")
    evidence.record("periodic samples delivered after the reconnection", len(late), "")
    lost = max(0, made - len(late)) + (0 if stops else 1)
    evidence.check("transaction messages lost", lost, o.lost_transaction_messages)
    stamps = [s.timestamp for s in late]
    evidence.check("queued samples delivered out of order", sum(a > b for a, b in zip(stamps, stamps[1:])),
                   o.out_of_order_messages)


@pytest.mark.needs("cp", "load", "source", "backend")
@pytest.mark.red_on("ocpp_power_loss_reason=Other")
@pytest.mark.ocpp_case("TC_032_2_CS")
def test_a_mains_loss_ends_the_transaction_with_reason_power_loss(cp: CpEmulator, load: AcLoad, source: AcSource,
                                                                  clock: Clock, backend: Backend, rig: Rig,
                                                                  evidence: Evidence) -> None:
    """A mains outage mid-session: after the restart the backend learns that the transaction
    ended, once, with reason PowerLoss (a profile declaring `power_loss = "resume"` expects none)."""
    ocpp = ocpp_of(rig)
    since = clock.now()
    charge_at_meter_draw(cp, load, clock)
    t_back = outage(cp, source, clock)
    clock.sleep(restart_within_s(rig) + LIMITS.ocpp.boot_timeout.value)
    stopped = [tx for tx in backend.transactions(since) if tx.reason == "PowerLoss"]
    others = [tx.reason for tx in backend.transactions(since) if tx.meter_stop_wh is not None
              and tx.reason != "PowerLoss"]
    evidence.record("mains back (board time)", t_back, "s")
    if others:
        evidence.record(f"transactions stopped for another reason: {', '.join(map(str, others))}", len(others), "")
    if ocpp.power_loss == "stop":
        evidence.check("transactions stopped with reason PowerLoss", len(stopped), LIMITS.ocpp.power_loss_stops)
    else:
        evidence.check("transactions stopped with reason PowerLoss", len(stopped),
                       LIMITS.ocpp.power_loss_stops_when_resumed)
    if not backend.connected():
        raise PreconditionError("the DUT did not reconnect after the outage: its messages cannot be judged")


@pytest.mark.needs("cp", "load", "analyser", "backend")
@pytest.mark.red_on("ocpp_offline_queue=false")
@judges_the_meter
@pytest.mark.ocpp_case("TC_039_CS", "TC_E_43_CS")
def test_a_session_started_and_ended_offline_is_reported_on_reconnection(cp: CpEmulator, load: AcLoad,
                                                                        analyser: PowerAnalyser, clock: Clock,
                                                                        offline_backend: Backend, rig: Rig,
                                                                        evidence: Evidence) -> None:
    """The backend away before the vehicle comes: a session that starts and ends while offline is
    reported after the reconnection (OCPP 1.6 §3.2: transaction messages are queued): its
    StartTransaction and StopTransaction arrive, none lost, the start first, and the energy between
    its meterStart and meterStop is what the analyser measured.  A DUT that starts no session while
    offline does not meet the case's precondition (LocalAuthorizeOffline): broken, not failed."""
    backend, o = offline_backend, LIMITS.ocpp
    since = clock.now()
    backend.set_online(False)
    charge_at_meter_draw(cp, load, clock)
    first = analyser.read()
    e0 = first.energy_wh
    clock.sleep(o.offline_duration.value)
    cp.set_state("B")
    clock.sleep(LIMITS.rig.opening_observation_min.value)
    last = analyser.read()
    e1 = last.energy_wh
    load.set_on(False)
    cp.set_state("A")
    backend.set_online(True)
    clock.sleep(o.boot_timeout.value)
    actions = [kind for _, kind in backend.transaction_events(since)]
    evidence.record("transaction messages after the reconnection", len(actions), "", note=", ".join(actions))
    lost = max(0, 1 - actions.count("start")) + max(0, 1 - actions.count("stop"))
    evidence.check("transaction messages lost", lost, o.lost_transaction_messages)
    stop_first = int("stop" in actions and "start" in actions and actions.index("stop") < actions.index("start"))
    evidence.check("queued messages delivered out of order", stop_first, o.out_of_order_messages)
    done = [tx for tx in backend.transactions(since) if tx.meter_stop_wh is not None]
    if done:
        metered = float(done[-1].meter_stop_wh or 0.0) - done[-1].meter_start_wh
        evidence.check("energy of the offline session vs analyser", abs(metered - (e1 - e0)) / (e1 - e0) * 100.0,
                       ocpp_of(rig).energy_accuracy_pct,
                       u=energy_u_pct(analyser, e1 - e0, last.t_s - first.t_s, rig.profile.electrical.phases))


@pytest.mark.red_on("ocpp_offline_queue=false")
@pytest.mark.ocpp_case("TC_037_1_CS")
def test_a_session_started_offline_is_reported_once_the_backend_is_back(cp: CpEmulator, load: AcLoad, clock: Clock,
                                                                       offline_backend: Backend, rig: Rig,
                                                                       evidence: Evidence) -> None:
    """The backend away when the vehicle comes; it returns while the vehicle still charges: the
    queued StartTransaction arrives after the reconnection, once, and the connector is reported
    Charging (OCPP 1.6 §3.2), while the contactor the CP emulator sees stays closed throughout."""
    backend, o = offline_backend, LIMITS.ocpp
    since = clock.now()
    backend.set_online(False)
    t_closed = charge_at_meter_draw(cp, load, clock)
    clock.sleep(o.offline_duration.value)
    backend.set_online(True)
    clock.sleep(o.boot_timeout.value)
    edges = cp.read_edges()
    evidence.trace("a session started offline", edges, markers(contactor_closed=t_closed))
    evidence.check("contactor openings while charging offline and after the reconnection",
                   count_edges(edges, Channel.OVP, "0", t_closed), o.offline_openings)
    starts = [t for t, kind in backend.transaction_events(since) if kind == "start"]
    evidence.check("transaction starts lost", max(0, 1 - len(starts)), o.lost_transaction_messages,
                   note=f"{len(starts)} transaction start(s) after the reconnection (1.6: StartTransaction; "
                        "2.0.1: TransactionEvent Started)")
    charging = [r for r in backend.statuses(since) if r.status == "Charging"]
    evidence.check("Charging reported after the reconnection", len(charging), LIMITS.ocpp.charging_reports)
