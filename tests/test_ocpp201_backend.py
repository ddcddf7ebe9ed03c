"""The backend role on OCPP 2.0.1, held against a charging station written with the `ocpp` package alone.

The station below knows nothing of the rig: it speaks `ocpp.v201` (whose routing validates every CALL
it receives against the 2.0.1 JSON schemas), so each request the rig sends in its 1.6 vocabulary must
arrive as a valid 2.0.1 message, and each report the station makes must read back as the same
transaction, statuses and meter samples a 1.6 charge point's would.  Message fields: OCPP 2.0.1 Part 2.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import websockets
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from websockets.typing import Subprotocol

from instruments.backend import Ocpp201CentralSystem, OcppCentralSystem
from instruments.ocpp_dialect import Ocpp201
from instruments.transport.ocpp_ws import call_problem
from tests.ocpp_peers import serve_peer
from tests.test_ocpp_interop import REPO, free_port, plan_around_now

STATION = "IND-CS-1"


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def energy(wh: float, context: str) -> list[dict[str, Any]]:
    return [{"timestamp": now_text(), "sampled_value": [{"value": wh, "measurand": "Energy.Active.Import.Register",
                                                         "context": context, "unit_of_measure": {"unit": "Wh"}}]}]


class IndependentStation(ChargePoint):
    """Answers what a CSMS asks and keeps each request as it arrived (snake_case, as the package gives it)."""

    received: list[tuple[str, dict[str, Any]]]

    def _keep(self, action: str, **kwargs: Any) -> None:
        self.received.append((action, kwargs))

    @on("RequestStartTransaction")
    def on_request_start(self, **kwargs: Any) -> Any:
        self._keep("RequestStartTransaction", **kwargs)
        return call_result.RequestStartTransaction(status="Accepted", transaction_id="TX-7")

    @on("RequestStopTransaction")
    def on_request_stop(self, **kwargs: Any) -> Any:
        self._keep("RequestStopTransaction", **kwargs)
        return call_result.RequestStopTransaction(status="Accepted")

    @on("SetChargingProfile")
    def on_set_profile(self, **kwargs: Any) -> Any:
        self._keep("SetChargingProfile", **kwargs)
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def on_clear(self, **kwargs: Any) -> Any:
        self._keep("ClearChargingProfile", **kwargs)
        return call_result.ClearChargingProfile(status="Accepted")

    @on("GetCompositeSchedule")
    def on_composite(self, **kwargs: Any) -> Any:
        self._keep("GetCompositeSchedule", **kwargs)
        return call_result.GetCompositeSchedule(status="Accepted", schedule={
            "evse_id": kwargs["evse_id"], "duration": kwargs["duration"], "schedule_start": now_text(),
            "charging_rate_unit": kwargs.get("charging_rate_unit", "A"),
            "charging_schedule_period": [{"start_period": 0, "limit": 16.0}, {"start_period": 300, "limit": 6.0}]})

    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self._keep("GetVariables", get_variable_data=get_variable_data)
        known = {("OCPPCommCtrlr", "HeartbeatInterval"): "300", ("SampledDataCtrlr", "TxUpdatedInterval"): "0"}
        return call_result.GetVariables(get_variable_result=[
            {"attribute_status": "Accepted" if (d["component"]["name"], d["variable"]["name"]) in known
             else "UnknownVariable", "component": d["component"], "variable": d["variable"],
             **({"attribute_value": known[(d["component"]["name"], d["variable"]["name"])]}
                if (d["component"]["name"], d["variable"]["name"]) in known else {})}
            for d in get_variable_data])

    @on("SetVariables")
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self._keep("SetVariables", set_variable_data=set_variable_data)
        return call_result.SetVariables(set_variable_result=[
            {"attribute_status": "Accepted", "component": d["component"], "variable": d["variable"]}
            for d in set_variable_data])

    @on("ChangeAvailability")
    def on_availability(self, **kwargs: Any) -> Any:
        self._keep("ChangeAvailability", **kwargs)
        return call_result.ChangeAvailability(status="Accepted")

    @on("Reset")
    def on_reset(self, **kwargs: Any) -> Any:
        self._keep("Reset", **kwargs)
        return call_result.Reset(status="Accepted")

    @on("TriggerMessage")
    def on_trigger(self, **kwargs: Any) -> Any:
        self._keep("TriggerMessage", **kwargs)
        return call_result.TriggerMessage(status="Accepted")


class StationThread:
    """The station on its own event loop: `run(coroutine)` does a step there and waits for it."""

    def __init__(self, url: str, subprotocols: tuple[str, ...] = ("ocpp2.0.1",)) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.url, self.subprotocols = url, subprotocols
        self.station: IndependentStation | None = None
        self.ws: Any = None

    def run(self, coroutine: Any, timeout_s: float = 20.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    async def connect(self) -> str:
        self.ws = await websockets.connect(f"{self.url}/{STATION}",
                                           subprotocols=[Subprotocol(p) for p in self.subprotocols])
        self.station = IndependentStation(STATION, self.ws)
        self.station.received = []
        self.loop.create_task(self._serve(self.station))
        return str(self.ws.subprotocol)

    @staticmethod
    async def _serve(station: IndependentStation) -> None:
        try:
            await station.start()
        except websockets.ConnectionClosed:
            pass

    async def call(self, request: Any) -> Any:
        assert self.station is not None
        return await self.station.call(request)

    def close(self) -> None:
        if self.ws is not None:
            self.run(self.ws.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def csms() -> Iterator[Ocpp201CentralSystem]:
    backend = Ocpp201CentralSystem("ws://127.0.0.1:0", {"charge_point_id": STATION, "accepted_id_tags": ["TAG-OK"],
                                                         "heartbeat_interval_s": 300})
    backend.attach_clock(time.monotonic, virtual=False)
    yield backend
    backend.close()


@pytest.fixture
def station(csms: Ocpp201CentralSystem) -> Iterator[StationThread]:
    peer = StationThread(csms.address)
    assert peer.run(peer.connect()) == "ocpp2.0.1"
    yield peer
    peer.close()


def wait_connected(backend: OcppCentralSystem) -> None:
    for _ in range(200):
        if backend.connected():
            return
        time.sleep(0.01)
    raise AssertionError("the station never connected")


def test_a_station_s_transaction_reads_back_in_the_rigs_vocabulary(csms: Ocpp201CentralSystem,
                                                                   station: StationThread) -> None:
    boot = station.run(station.call(call.BootNotification(charging_station={"model": "Interop", "vendor_name": "Tests"},
                                                          reason="PowerUp")))
    assert boot.status == "Accepted" and boot.interval == 300
    station.run(station.call(call.StatusNotification(timestamp=now_text(), connector_status="Occupied", evse_id=1,
                                                     connector_id=1)))
    ok = station.run(station.call(call.Authorize(id_token={"id_token": "TAG-OK", "type": "ISO14443"})))
    unknown = station.run(station.call(call.Authorize(id_token={"id_token": "TAG-NO", "type": "ISO14443"})))
    assert ok.id_token_info["status"] == "Accepted" and unknown.id_token_info["status"] == "Invalid"
    info = {"transaction_id": "TX-7", "charging_state": "EVConnected"}
    station.run(station.call(call.TransactionEvent(
        event_type="Started", timestamp=now_text(), trigger_reason="CablePluggedIn", seq_no=0, transaction_info=info,
        evse={"id": 1, "connector_id": 1}, meter_value=energy(100.0, "Transaction.Begin"))))
    authorised = station.run(station.call(call.TransactionEvent(
        event_type="Updated", timestamp=now_text(), trigger_reason="Authorized", seq_no=1,
        transaction_info={"transaction_id": "TX-7", "charging_state": "Charging"},
        id_token={"id_token": "TAG-OK", "type": "ISO14443"})))
    assert authorised.id_token_info["status"] == "Accepted"
    station.run(station.call(call.MeterValues(evse_id=1, meter_value=energy(1100.0, "Sample.Periodic"))))
    station.run(station.call(call.TransactionEvent(
        event_type="Ended", timestamp=now_text(), trigger_reason="EVCommunicationLost", seq_no=2,
        transaction_info={"transaction_id": "TX-7", "charging_state": "Idle", "stopped_reason": "EVDisconnected"},
        meter_value=energy(2100.0, "Transaction.End"))))
    station.run(station.call(call.StatusNotification(timestamp=now_text(), connector_status="Available", evse_id=1,
                                                     connector_id=1)))

    [tx] = csms.transactions()
    assert (tx.transaction_id, tx.id_tag, tx.meter_start_wh, tx.meter_stop_wh, tx.reason) == \
        ("TX-7", "TAG-OK", 100.0, 2100.0, "EVDisconnected")
    assert tx.t_stop_s is not None and tx.t_stop_s >= tx.t_start_s
    assert [r.status for r in csms.statuses()] == ["Preparing", "Charging", "Finishing", "Available"]
    assert [(s.value, s.context) for s in csms.meter_samples()] == \
        [(100.0, "Transaction.Begin"), (1100.0, "Sample.Periodic"), (2100.0, "Transaction.End")]
    assert "OCPP 2.0.1" in csms.identify()


def tx_default(limit_a: float, purpose: str = "TxDefaultProfile") -> dict[str, Any]:
    """A profile as the conformance tests write it: OCPP 1.6's csChargingProfiles."""
    return {"chargingProfileId": 41, "stackLevel": 1, "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute", "chargingSchedule": {
                "startSchedule": now_text(), "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit_a}]}}


def test_the_services_requests_arrive_as_valid_2_0_1_messages(csms: Ocpp201CentralSystem,
                                                              station: StationThread) -> None:
    wait_connected(csms)
    csms.configure()   # no keys in this rig file: what a test changes from here on is restored
    tx_profile = dict(tx_default(10.0, "TxProfile"), chargingProfileId=42)
    assert csms.remote_start("TAG-OK", 1, tx_profile) == "Accepted"
    assert csms.set_charging_profile(tx_default(16.0)) == "Accepted"
    assert csms.set_charging_profile(dict(tx_default(20.0, "ChargePointMaxProfile"), chargingProfileId=43)) == "Accepted"
    composite = csms.composite_schedule(600)
    assert composite["status"] == "Accepted" and composite["connectorId"] == 1
    assert [p["limit"] for p in composite["chargingSchedule"]["chargingSchedulePeriod"]] == [16.0, 6.0]
    assert csms.configuration(["HeartbeatInterval"]) == {"HeartbeatInterval": "300"}
    assert csms.change_configuration("MeterValueSampleInterval", "60") == "Accepted"
    assert csms.change_availability(0, operative=False) == "Accepted"
    assert csms.reset(hard=True) == "Accepted"
    assert csms.remote_stop("TX-7") == "Accepted"
    assert csms.clear_charging_profile(41) == "Accepted"

    assert station.station is not None
    got = dict(station.station.received[:1])
    start = got["RequestStartTransaction"]
    assert start["id_token"] == {"id_token": "TAG-OK", "type": "Central"} and start["evse_id"] == 1
    assert start["charging_profile"]["charging_profile_purpose"] == "TxProfile"
    sent = [kw for action, kw in station.station.received if action == "SetChargingProfile"]
    assert [(s["evse_id"], s["charging_profile"]["charging_profile_purpose"]) for s in sent] == \
        [(1, "TxDefaultProfile"), (0, "ChargingStationMaxProfile")]
    assert sent[0]["charging_profile"]["charging_schedule"][0]["charging_schedule_period"] == \
        [{"start_period": 0, "limit": 16.0}]
    variables = [kw for action, kw in station.station.received if action == "SetVariables"]
    assert variables[0]["set_variable_data"][0]["component"] == {"name": "SampledDataCtrlr"}
    assert variables[0]["set_variable_data"][0]["variable"] == {"name": "TxUpdatedInterval"}
    actions = [action for action, _ in station.station.received]
    assert actions[-4:] == ["ChangeAvailability", "Reset", "RequestStopTransaction", "ClearChargingProfile"]

    # what a test changed, the safe state undoes: the profiles, the availability, the setting
    before = len(station.station.received)
    csms.safe()
    undone = [(a, kw) for a, kw in station.station.received[before:]]
    assert [a for a, _ in undone] == ["ClearChargingProfile", "ChangeAvailability", "SetVariables"]
    assert undone[1][1]["operational_status"] == "Operative"
    assert undone[2][1]["set_variable_data"][0]["attribute_value"] == "0"


def test_a_malformed_2_0_1_call_is_answered_with_2_0_1_s_error_codes(csms: Ocpp201CentralSystem) -> None:
    frames = [[2, "m-1", "Heartbeat", {"surplus": 1}], [2, "m-2", "Authorize", {}],
              [2, "m-3", "BootNotification", {"reason": "PowerUp", "chargingStation": {"model": 7, "vendorName": "T"}}]]

    async def exchange() -> list[str]:
        async with websockets.connect(f"{csms.address}/{STATION}", subprotocols=[Subprotocol("ocpp2.0.1")]) as ws:
            answers = []
            for frame in frames:
                await ws.send(json.dumps(frame))
                answers.append(json.loads(await asyncio.wait_for(ws.recv(), 10))[2])
            return answers
    assert asyncio.run(exchange()) == ["FormatViolation", "OccurrenceConstraintViolation", "TypeConstraintViolation"]
    assert call_problem("Heartbeat", {"surplus": 1}, "1.6") == \
        ("FormationViolation", "Heartbeat: Additional properties are not allowed ('surplus' was unexpected)")


def test_a_backend_offering_both_versions_speaks_what_each_station_negotiated() -> None:
    backend = OcppCentralSystem("ws://127.0.0.1:0", {"charge_point_id": STATION, "versions": ["2.0.1", "1.6"]})
    backend.attach_clock(time.monotonic, virtual=False)
    try:
        for offered, spoken in ((("ocpp1.6",), "ocpp1.6"), (("ocpp1.6", "ocpp2.0.1"), "ocpp2.0.1")):
            peer = StationThread(backend.address, offered)
            try:
                assert peer.run(peer.connect()) == spoken
                wait_connected(backend)
                assert backend.dialect.version == spoken.removeprefix("ocpp")
            finally:
                peer.close()
            for _ in range(200):
                if not backend.connected():
                    break
                time.sleep(0.01)
    finally:
        backend.close()


def test_a_1_6_profile_converts_to_2_0_1_s_shape() -> None:
    profile = dict(tx_default(16.0, "TxProfile"), transactionId=5, validTo="2026-06-01T13:00:00Z")
    converted = Ocpp201.profile(profile)
    assert converted["id"] == 41 and converted["transactionId"] == "5" and converted["validTo"] == "2026-06-01T13:00:00Z"
    assert converted["chargingSchedule"][0]["id"] == 41
    assert call_problem("SetChargingProfile", {"evseId": 1, "chargingProfile": converted}, "2.0.1") is None


def test_backend_serve_on_2_0_1_sends_its_plan_as_a_2_0_1_profile(tmp_path: Path) -> None:
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "cli.main", "backend", "serve", "--listen",
                              f"ws://127.0.0.1:{port}", "--ocpp-version", "2.0.1", "--accept-tag", "TAG-OK",
                              "--schedule", str(plan_around_now(tmp_path))],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peer = StationThread(f"ws://127.0.0.1:{port}")
    try:
        assert serve.stdout is not None
        banner = serve.stdout.readline()
        assert "OCPP 2.0.1 central system" in banner, banner
        assert peer.run(peer.connect()) == "ocpp2.0.1"
        peer.run(peer.call(call.BootNotification(charging_station={"model": "Interop", "vendor_name": "Tests"},
                                                 reason="PowerUp")))
        assert peer.station is not None
        for _ in range(200):
            if peer.station.received:
                break
            time.sleep(0.05)
    finally:
        peer.close()
        serve.terminate()
        printed = serve.communicate(timeout=10)[0]
    [(action, sent)] = peer.station.received
    assert action == "SetChargingProfile" and sent["evse_id"] == 1, printed
    profile = sent["charging_profile"]
    assert profile["charging_profile_purpose"] == "TxDefaultProfile"
    limits = [float(p["limit"]) for p in profile["charging_schedule"][0]["charging_schedule_period"]]
    assert 16.0 in limits and 0.0 in limits
    assert "BootNotification" in printed and "SetChargingProfile" in printed


class IndependentCsms(ChargePoint):
    """A CSMS written with the `ocpp` package alone: accepts what a 2.0.1 station reports, validating
    each CALL against the 2.0.1 schemas (the package's routing), and remembers it."""

    heard: list[tuple[str, dict[str, Any]]]

    @on("BootNotification")
    def on_boot(self, **kwargs: Any) -> Any:
        self.heard.append(("BootNotification", kwargs))
        return call_result.BootNotification(current_time=now_text(), interval=600, status="Accepted")

    @on("Heartbeat")
    def on_heartbeat(self, **kwargs: Any) -> Any:
        return call_result.Heartbeat(current_time=now_text())

    @on("StatusNotification")
    def on_status(self, **kwargs: Any) -> Any:
        self.heard.append(("StatusNotification", kwargs))
        return call_result.StatusNotification()

    @on("TransactionEvent")
    def on_transaction_event(self, **kwargs: Any) -> Any:
        self.heard.append(("TransactionEvent", kwargs))
        return call_result.TransactionEvent(id_token_info={"status": "Accepted"} if "id_token" in kwargs else None)

    @on("MeterValues")
    def on_meter_values(self, **kwargs: Any) -> Any:
        self.heard.append(("MeterValues", kwargs))
        return call_result.MeterValues()


def test_an_independent_csms_accepts_the_simulated_2_0_1_station() -> None:
    """The simulated wallbox as a 2.0.1 station against a CSMS that is not the rig's: it boots, reports
    its connector, and a session plugged in, charged for two minutes and unplugged arrives as one
    transaction, Started … Ended, with the energy register rising and its sequence numbers in order."""
    from sim.lab import VirtualLab

    heard: list[tuple[str, dict[str, Any]]] = []
    lab = VirtualLab(seed=5, knobs={}, ocpp={"charge_point_id": "SIM-IND", "password": None, "version": "2.0.1"})
    stop, thread = serve_peer(int(lab.endpoints["ocpp"].rsplit(":", 1)[1]), IndependentCsms, heard, "ocpp2.0.1")
    try:
        cp, world = lab.frontends["cp"], lab.world
        with world.lock:
            lab.frontends["source"].handle("OUTP ON")
            lab.frontends["load1"].handle("CURR 16")
            lab.frontends["load1"].handle("LOAD ON")
        world.advance(lab.knobs.ocpp.connect_after_s + 5)
        for command, seconds in (("STATE B", 5), ("STATE C", 130), ("STATE A", 5)):
            with world.lock:
                cp.handle(command)
            world.advance(seconds)
    finally:
        lab.stop()
        stop()
        thread.join(5)
    actions = [a for a, _ in heard]
    assert actions[0] == "BootNotification" and heard[0][1]["charging_station"]["vendor_name"] == "WALLBOX-RIG"
    events = [kw for a, kw in heard if a == "TransactionEvent"]
    assert [e["event_type"] for e in events][0] == "Started" and events[-1]["event_type"] == "Ended"
    assert [e["seq_no"] for e in events] == list(range(len(events)))
    assert len({e["transaction_info"]["transaction_id"] for e in events}) == 1
    assert events[-1]["transaction_info"]["stopped_reason"] == "EVDisconnected"

    def register(event: dict[str, Any]) -> float:
        return next(float(s["value"]) for mv in event["meter_value"] for s in mv["sampled_value"]
                    if s.get("measurand") == "Energy.Active.Import.Register")
    assert register(events[-1]) > register(events[0])             # it charged: 16 A on L1 for two minutes
    assert "Charging" in [e["transaction_info"].get("charging_state") for e in events]
    statuses = [kw["connector_status"] for a, kw in heard if a == "StatusNotification"]
    assert statuses[0] == "Available" and "Occupied" in statuses and statuses[-1] == "Available"
