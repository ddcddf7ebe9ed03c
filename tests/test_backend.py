"""The backend role's own logic: the service's planner, the firmware's profile store, the journal
and calendar, and the rig file's [instruments.backend] table."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import websockets
from websockets.typing import Subprotocol

from core.errors import ConfigError, InvalidValue
from instruments.backend import OcppCentralSystem
from instruments.backend_planner import Tariff, plan_departure
from rig.config import REPO_ROOT, load_rig_file
from rig.profile import load_profile
from sim.params import Knobs
from sim.smart_charging import ProfileStore
from tests.test_ocpp_interop import free_port, refusal

if TYPE_CHECKING:
    from rig.rig import Rig

REPO = Path(__file__).resolve().parent.parent
NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


# --- the planner (WB-CO-02) -------------------------------------------------------------------
def test_the_plan_fills_the_cheap_night_hours_before_the_departure() -> None:
    plan = plan_departure(NOON, NOON + timedelta(hours=18), 20_000.0, 16.0, 3, 230.0, Tariff(22, 6))
    charging = [(a, b) for a, b, limit in plan.periods if limit > 0]
    assert charging == [(10 * 3600.0, 12 * 3600.0)]                 # 22:00-24:00: two hours of 11 kW
    assert plan.expected_wh >= 20_000.0
    assert plan.profile["chargingSchedule"]["duration"] == 18 * 3600
    assert plan.periods[0][0] == 0.0 and plan.periods[-1][1] == 18 * 3600.0


def test_pv_hours_come_first_at_what_the_sun_gives_in_tenths_of_an_ampere() -> None:
    tariff = Tariff(22, 6, {13: 5000.0})
    plan = plan_departure(NOON, NOON + timedelta(hours=20), 5_000.0, 16.0, 3, 230.0, tariff)
    first, second = [p for p in plan.periods if p[2] > 0]
    assert first == (3600.0, 7200.0, 7.2)             # 13:00: 5000 W / 690 W per A = 7.24 A, rounded down
    assert second[0] == 10 * 3600.0 and second[2] == 16.0   # the 32 Wh the sun left short: the first night hour
    limits = [p["limit"] for p in plan.profile["chargingSchedule"]["chargingSchedulePeriod"]]
    assert all(round(x * 10) == x * 10 for x in limits)


def test_a_departure_in_the_past_is_refused() -> None:
    with pytest.raises(ValueError, match="not after"):
        plan_departure(NOON, NOON, 1000.0, 16.0, 3, 230.0, Tariff())


# --- the firmware's profile store (its own, independent of the suite) ---------------------------
def store(**knobs: object) -> ProfileStore:
    return ProfileStore(Knobs.resolve(knobs))


def profile(purpose: str, level: int, periods: list[tuple[int, float]], start: datetime = NOON, **extra: object) -> dict:
    return {"chargingProfileId": level * 10 + len(periods), "stackLevel": level, "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute", **extra,
            "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                 "chargingSchedulePeriod": [{"startPeriod": a, "limit": x} for a, x in periods]}}


def at(store_: ProfileStore, when: datetime, tx: int | None = 1) -> float:
    return store_.limit_a(when.timestamp(), NOON.timestamp(), tx, 230.0, 3)


def test_the_higher_stack_level_wins_and_the_cap_takes_the_minimum() -> None:
    s = store()
    assert s.install(1, profile("TxDefaultProfile", 1, [(0, 16.0)]), None) == "Accepted"
    assert s.install(1, profile("TxDefaultProfile", 2, [(0, 10.0), (3600, 20.0)]), None) == "Accepted"
    assert s.install(0, profile("ChargePointMaxProfile", 0, [(0, 13.0)]), None) == "Accepted"
    assert at(s, NOON + timedelta(minutes=5)) == 10.0
    assert at(s, NOON + timedelta(hours=2)) == 13.0        # level 2 says 20, the charge point's cap 13
    assert at(s, NOON, tx=None) == 13.0                    # no transaction: only the cap applies
    lowest = store(ocpp_stack_level_highest_wins=False)    # the knob: a firmware that lets the lower level rule
    lowest.install(1, profile("TxDefaultProfile", 1, [(0, 16.0)]), None)
    lowest.install(1, profile("TxDefaultProfile", 2, [(0, 10.0)]), None)
    assert at(lowest, NOON) == 16.0


def test_valid_to_recurrence_relative_and_watts() -> None:
    s = store()
    s.install(1, profile("TxDefaultProfile", 1, [(0, 8.0)], validTo="2026-06-01T13:00:00Z"), None)
    assert at(s, NOON + timedelta(minutes=59)) == 8.0 and at(s, NOON + timedelta(minutes=61)) == float("inf")
    daily = profile("TxDefaultProfile", 2, [(0, 6.0)], start=NOON.replace(hour=23, minute=30))
    daily.update(chargingProfileKind="Recurring", recurrencyKind="Daily")
    daily["chargingSchedule"]["duration"] = 3600
    s.install(1, daily, None)
    after_midnight = NOON + timedelta(hours=12, minutes=10)
    assert at(s, NOON.replace(hour=23, minute=45)) == 6.0 and at(s, after_midnight) == 6.0
    assert at(s, after_midnight + timedelta(days=1)) == 6.0                 # and again the next night
    resets = store(ocpp_recurring_resets_at_midnight=True)   # the knob: the day's start is sought after midnight
    resets.install(1, daily, None)
    assert at(resets, after_midnight) == float("inf")
    w = profile("TxProfile", 3, [(0, 6900.0)], transactionId=1)
    w.update(chargingProfileKind="Relative")
    w["chargingSchedule"]["chargingRateUnit"] = "W"
    assert s.install(1, w, 1) == "Accepted"
    assert at(s, NOON + timedelta(minutes=1)) == pytest.approx(10.0)     # 6900 W / (230 V x 3)


def test_what_the_store_refuses() -> None:
    s = store()
    assert s.install(1, profile("TxProfile", 1, [(0, 6.0)]), None) == "Rejected"          # no transaction
    assert s.install(1, profile("ChargePointMaxProfile", 1, [(0, 6.0)]), None) == "Rejected"  # not connector 0
    assert s.install(1, profile("Nonsense", 1, [(0, 6.0)]), None) == "Rejected"
    assert s.install(1, profile("TxDefaultProfile", 9, [(0, 6.0)]), None) == "Rejected"   # stack level > 8
    assert s.clear({"id": 12345}) == "Unknown"


# --- the central system: journal, calendar, authorisation, offline --------------------------------
def test_every_frame_is_journaled_on_the_rig_clock_with_the_calendar() -> None:
    port = free_port()
    backend = OcppCentralSystem(f"ws://127.0.0.1:{port}", {"charge_point_id": "CP-J", "accepted_id_tags": ["OK"],
                                                            "password": "journal-test-password"})
    rig_time = [100.0]
    backend.attach_clock(lambda: rig_time[0], virtual=True)
    token = base64.b64encode(b"CP-J:journal-test-password").decode()

    async def talk() -> list:
        async with websockets.connect(f"ws://127.0.0.1:{port}/CP-J", subprotocols=[Subprotocol("ocpp1.6")],
                                      additional_headers={"Authorization": f"Basic {token}"}) as ws:
            answers = []
            for n, (action, payload) in enumerate([("BootNotification", {"chargePointVendor": "V",
                                                                         "chargePointModel": "M"}),
                                                   ("Authorize", {"idTag": "NOPE"}),
                                                   ("Heartbeat", {"unexpected": 1})]):
                rig_time[0] += 10.0
                await ws.send(json.dumps([2, f"m{n}", action, payload]))
                answers.append(json.loads(await ws.recv()))
            return answers
    try:
        boot, auth, bad = asyncio.run(talk())
    finally:
        backend.close()
    assert boot[2]["currentTime"].startswith("2026-06-01T12:00:1")   # epoch noon + 110 s - 100 s at attach
    assert auth[2] == {"idTagInfo": {"status": "Invalid"}}
    assert bad[0] == 4                                                # a payload off the 1.6 schema: CALLERROR
    frames = [f for f in backend.frames() if f.kind]
    assert [(f.direction, f.action, f.t_s) for f in frames[:2]] == [("in", "BootNotification", 110.0),
                                                                     ("out", "BootNotification", 110.0)]
    assert frames[-1].kind == 4 and frames[-1].action == "Heartbeat"
    assert "CALL\tAuthorize" in "\n".join(backend.messages())


def test_offline_refuses_connections_and_the_address_must_be_a_websocket() -> None:
    port = free_port()
    backend = OcppCentralSystem(f"ws://127.0.0.1:{port}", {"charge_point_id": "CP-O"})
    try:
        assert refusal(f"ws://127.0.0.1:{port}/CP-O") == 0
        backend.set_online(False)
        assert refusal(f"ws://127.0.0.1:{port}/CP-O") == 503
    finally:
        backend.close()
    with pytest.raises(InvalidValue, match="ws://HOST:PORT"):
        OcppCentralSystem("tcp://127.0.0.1:1", {"charge_point_id": "X"})


# --- rig file and profile --------------------------------------------------------------------------
@pytest.mark.parametrize("edit, key", [
    ('charge_point_id = "SIM-0001"\n', "instruments.backend.charge_point_id"),
    ('password = "sim-basic-auth-key-0001"', 'password = "short"'),
    ('heartbeat_interval_s = 900', 'heartbeat_interval_s = 0'),
])
def test_a_bad_backend_table_names_its_key(tmp_path: Path, edit: str, key: str) -> None:
    text = (REPO / "rigs" / "sim.toml").read_text()
    bad = text.replace(edit, "") if key.startswith("instruments") else text.replace(edit, key)
    path = tmp_path / "rig.toml"
    path.write_text(bad)
    with pytest.raises(ConfigError) as err:
        load_rig_file(path)
    wanted = key if key.startswith("instruments") else f"instruments.backend.{key.split(' ')[0]}"
    assert wanted in str(err.value)


def test_profiles_declare_ocpp_or_not() -> None:
    assert load_profile("bmw-wallbox-plus").ocpp is not None
    assert load_profile("generic-iec61851").ocpp is None
    connect = load_profile("bmw-i-wallbox-connect")
    assert connect.ocpp is not None and connect.ocpp.requirements == ("WB-CO-01", "WB-CO-02")
    assert "unconfirmed" in connect.ocpp.status_within_s.source


def test_security_profile_2_serves_ocpp_over_tls(tmp_path: Path) -> None:
    """wss:// with the rig file's certfile and keyfile: a charge point that trusts the certificate
    boots over TLS (OCPP 1.6 Security Whitepaper, security profile 2)."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate to serve TLS with")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    port = free_port()
    backend = OcppCentralSystem(f"wss://127.0.0.1:{port}", {"charge_point_id": "CP-TLS", "certfile": str(cert),
                                                             "keyfile": str(key), "password": "tls-test-password-01"})
    backend.attach_clock(lambda: 0.0, virtual=True)
    context = ssl.create_default_context(cafile=str(cert))
    token = base64.b64encode(b"CP-TLS:tls-test-password-01").decode()

    async def boot() -> list:
        async with websockets.connect(f"wss://127.0.0.1:{port}/CP-TLS", subprotocols=[Subprotocol("ocpp1.6")], ssl=context,
                                      additional_headers={"Authorization": f"Basic {token}"}) as ws:
            await ws.send(json.dumps([2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
            return json.loads(await ws.recv())
    try:
        answer = asyncio.run(boot())
    finally:
        backend.close()
    assert answer[0] == 3 and answer[2]["status"] == "Accepted"
    with pytest.raises(InvalidValue, match="certfile"):
        OcppCentralSystem(f"wss://127.0.0.1:{free_port()}", {"charge_point_id": "CP-TLS"})


def test_malformed_frames_are_journaled_answered_where_they_can_be_and_never_drop_the_charge_point() -> None:
    """`{"a":1}`, a CALL without its action, 3000 nested brackets, not JSON: each is journaled as it came
    and logged in one line; a CALL with a unique id gets CALLERROR FormationViolation (OCPP-J 1.6
    §4.2.3); the connection stays, and the next valid CALL is answered."""
    from websockets.sync.client import connect

    port = free_port()
    backend = OcppCentralSystem(f"ws://127.0.0.1:{port}", {"charge_point_id": "CP-M", "password": "malformed-test-pass"})
    backend.attach_clock(lambda: 1.0, virtual=True)
    token = base64.b64encode(b"CP-M:malformed-test-pass").decode()
    try:
        with connect(f"ws://127.0.0.1:{port}/CP-M", subprotocols=[Subprotocol("ocpp1.6")],
                     additional_headers={"Authorization": f"Basic {token}"}) as ws:
            for raw in ('{"a":1}', "[" * 3000 + "]" * 3000, "not json"):
                ws.send(raw)
            ws.send('[2,"id1"]')
            assert json.loads(ws.recv(timeout=5)) == [4, "id1", "FormationViolation",
                                                      "a CALL is [2, uniqueId, action, {payload}]", {}]
            ws.send('[2,"id2","Heartbeat",{}]')
            answer = json.loads(ws.recv(timeout=5))
            assert answer[:2] == [3, "id2"] and "currentTime" in answer[2]
        malformed = [f for f in backend.frames() if f.action.startswith("malformed")]
        assert [f.action for f in malformed] == ["malformed (not a JSON array)", "malformed (nested 3000 levels deep)",
                                                 "malformed (not JSON)",
                                                 "malformed (a CALL is [2, uniqueId, action, {payload}])"]
    finally:
        backend.close()


def _booted(rig: Rig) -> None:
    rig.energise()
    assert rig.clock.wait_until(lambda: rig.backend.booted() and rig.backend.connected(), 600, poll_s=1.0)
    rig.backend.configure()


def test_a_dut_offline_at_the_safe_state_is_waited_for_and_its_configuration_restored() -> None:
    """Issue 27: a test that changed a key and left the DUT offline must not leave the change behind
    (the next test, or the next run on a served lab, would inherit it)."""

    from rig.rig import Rig

    with Rig.from_file(REPO_ROOT / "rigs" / "sim.toml") as rig:
        _booted(rig)
        backend = rig.backend
        before = backend.configuration(["MeterValueSampleInterval"])["MeterValueSampleInterval"]
        backend.change_configuration("MeterValueSampleInterval", "7")
        backend.set_online(False)
        assert rig.clock.wait_until(lambda: not backend.connected(), 60, poll_s=1.0)
        assert backend.owes_restore()
        t0 = rig.clock.now()
        rig.safe_state(between_tests=True)
        assert not backend.owes_restore() and rig.clock.now() > t0       # waited for the reconnection
        assert backend.configuration(["MeterValueSampleInterval"])["MeterValueSampleInterval"] == before


def test_a_dut_that_stays_offline_makes_the_safe_state_say_what_is_not_restored() -> None:
    from core.errors import RigError

    from rig.rig import Rig

    with Rig.from_file(REPO_ROOT / "rigs" / "sim.toml") as rig:
        _booted(rig)
        rig.backend.change_configuration("MeterValueSampleInterval", "7")
        rig.source.set_output(False)                 # the DUT loses its supply: it cannot come back
        rig.energised = False
        assert rig.clock.wait_until(lambda: not rig.backend.connected(), 600, poll_s=1.0)
        with pytest.raises(RigError, match="stayed offline 300 s: the configuration keys"):
            rig.safe_state(between_tests=True)


@pytest.mark.parametrize("payload, code", [
    ({"chargePointVendor": "ACME", "chargePointModel": "X", "colour": "red"}, "FormationViolation"),   # extra property
    ({"chargePointVendor": "ACME"}, "OccurenceConstraintViolation"),                                  # chargePointModel missing
    ({"chargePointVendor": 12, "chargePointModel": "X"}, "TypeConstraintViolation"),                  # a number for a string
    ({"chargePointVendor": "A" * 21, "chargePointModel": "X"}, "TypeConstraintViolation"),            # CiString20Type
])
def test_a_call_against_its_schema_is_refused_with_the_1_6_error_code(payload: dict, code: str) -> None:
    """OCPP-J 1.6 §4.2.3 names FormationViolation, PropertyConstraintViolation, OccurenceConstraintViolation
    and TypeConstraintViolation; the `ocpp` package answered FormatViolation (2.0.1's word) or ProtocolError."""
    from websockets.sync.client import connect

    port = free_port()
    backend = OcppCentralSystem(f"ws://127.0.0.1:{port}", {"charge_point_id": "CP-S"})
    backend.attach_clock(lambda: 1.0, virtual=True)
    try:
        with connect(f"ws://127.0.0.1:{port}/CP-S", subprotocols=[Subprotocol("ocpp1.6")]) as ws:
            ws.send(json.dumps([2, "b1", "BootNotification", payload]))
            answer = json.loads(ws.recv(timeout=5))
            assert answer[:3] == [4, "b1", code], answer
            ws.send(json.dumps([2, "s1", "StatusNotification", {"connectorId": 1, "errorCode": "Broken",
                                                                  "status": "Available"}]))
            assert json.loads(ws.recv(timeout=5))[:3] == [4, "s1", "PropertyConstraintViolation"]   # not in the enum
            ws.send('[2,"h1","Heartbeat",{}]')
            assert json.loads(ws.recv(timeout=5))[:2] == [3, "h1"]          # the connection stays
    finally:
        backend.close()


def test_stop_transaction_rules_on_its_id_tag_as_the_start_did() -> None:
    backend = OcppCentralSystem("ws://127.0.0.1:1", {"charge_point_id": "CP-T", "accepted_id_tags": ["GOOD"]})
    try:
        assert backend._handle("CP-T", "StopTransaction", {"idTag": "STRANGER", "transactionId": 1}) == \
            {"idTagInfo": {"status": "Invalid"}}
        assert backend._handle("CP-T", "StopTransaction", {"idTag": "GOOD", "transactionId": 1}) == \
            {"idTagInfo": {"status": "Accepted"}}
        assert backend._handle("CP-T", "StopTransaction", {"transactionId": 1}) == {}
    finally:
        backend.close()


def test_backend_serve_refuses_a_schedule_the_schema_refuses_and_sends_a_charge_point_max_to_connector_0(
        tmp_path: Path) -> None:
    from cli.backend_serve import connector_of, load_schedule
    profile = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "ChargePointMaxProfile",
               "chargingProfileKind": "Absolute",
               "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}}
    good = tmp_path / "max.json"
    good.write_text(json.dumps(profile))
    assert connector_of(load_schedule(good, datetime.now(UTC))) == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**profile, "chargingProfileKind": "Sometimes"}))
    with pytest.raises(ConfigError, match="PropertyConstraintViolation: csChargingProfiles/chargingProfileKind"):
        load_schedule(bad, datetime.now(UTC))


CORE_KEYS = ("AuthorizeRemoteTxRequests", "ClockAlignedDataInterval", "ConnectionTimeOut", "ConnectorPhaseRotation",
             "GetConfigurationMaxKeys", "HeartbeatInterval", "LocalAuthorizeOffline", "LocalPreAuthorize",
             "MeterValuesAlignedData", "MeterValuesSampledData", "MeterValueSampleInterval", "NumberOfConnectors",
             "ResetRetries", "StopTransactionOnEVSideDisconnect", "StopTransactionOnInvalidId", "StopTxnAlignedData",
             "StopTxnSampledData", "SupportedFeatureProfiles", "TransactionMessageAttempts",
             "TransactionMessageRetryInterval", "UnlockConnectorOnEVSideDisconnect")
"""OCPP 1.6 §9.1: the Core profile's configuration keys a charge point reports."""


def test_the_simulated_charge_point_answers_every_core_call_and_refuses_bad_payloads_as_1_6_says() -> None:
    """Issue 31: Core actions answered NotImplemented, payloads taken unchecked (a RemoteStart without
    idTag started with "", HeartbeatInterval=abc was Accepted and broke the lab's clock)."""
    from sim.lab import VirtualLab
    from sim.ocpp_link import CallError

    lab = VirtualLab(seed=3, knobs={}, ocpp={"charge_point_id": "SIM-C", "password": None})
    try:
        point = lab.wallbox.ocpp
        assert point is not None
        ask = point._incoming
        for action, payload, code in (
                ("RemoteStartTransaction", {}, "OccurenceConstraintViolation"),
                ("RemoteStartTransaction", {"idTag": "A", "connectorId": "one"}, "TypeConstraintViolation"),
                ("GetCompositeSchedule", {"connectorId": 1, "duration": "600"}, "TypeConstraintViolation"),
                ("TriggerMessage", {"requestedMessage": "Coffee"}, "PropertyConstraintViolation"),
                ("ChangeConfiguration", {"key": "HeartbeatInterval"}, "OccurenceConstraintViolation")):
            with pytest.raises(CallError) as refused:
                ask(action, payload)
            assert refused.value.code == code, (action, payload)
        assert ask("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "abc"}) == {"status": "Rejected"}
        assert ask("ChangeConfiguration", {"key": "LocalPreAuthorize", "value": "maybe"}) == {"status": "Rejected"}
        assert ask("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}) == {"status": "Accepted"}
        configuration = ask("GetConfiguration", {})
        assert configuration is not None
        reported = {k["key"] for k in configuration["configurationKey"]}
        assert set(CORE_KEYS) <= reported
        assert ask("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}) == {"status": "Accepted"}
        assert ask("ClearCache", {}) == {"status": "Accepted"}
        assert ask("UnlockConnector", {"connectorId": 1}) == {"status": "NotSupported"}      # a tethered cable
        assert ask("DataTransfer", {"vendorId": "ACME"}) == {"status": "UnknownVendorId"}
    finally:
        lab.stop()


def test_a_remote_start_before_plug_in_starts_the_transaction_when_the_vehicle_plugs_in() -> None:
    """OCPP 1.6 §5.11: with no cable yet, the charge point waits ConnectionTimeOut for it; the simulated
    one forgot the authorisation at once and started with nobody's idTag."""

    from rig.rig import Rig

    with Rig.from_file(REPO_ROOT / "rigs" / "sim.toml") as rig:
        _booted(rig)
        backend = rig.backend
        backend.accept_id_tags({"REMOTE-1"})
        assert backend.change_configuration("FreeVendEnabled", "false") == "Accepted"
        assert backend.call("RemoteStartTransaction", {"idTag": "REMOTE-1"})["status"] == "Accepted"
        since = rig.clock.now()
        rig.clock.sleep(5)
        rig.cp.set_state("B")
        rig.clock.sleep(10)
        starts = [f for f in backend.frames(since) if f.direction == "in" and f.action == "StartTransaction"]
        assert [f.payload["idTag"] for f in starts] == ["REMOTE-1"]
        assert backend.call("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1})["status"] == \
            "Accepted"
        rig.clock.sleep(1)
        values = [f for f in backend.frames(since) if f.direction == "in" and f.action == "MeterValues"]
        assert values and "transactionId" in values[-1].payload
        rig.cp.set_state("A")


def test_the_simulated_wallbox_dials_the_backend_the_rig_file_or_sim_serve_names(tmp_path: Path) -> None:
    """Issue 31: the simulated wallbox always dialled its lab's own endpoint; a rig file's backend address,
    or `sim serve --backend-url`, now points it at any central system."""
    from rig.rig import ocpp_account
    from sim.lab import VirtualLab

    config = load_rig_file(REPO_ROOT / "rigs" / "sim.toml")
    default = ocpp_account(config)
    assert default is not None and default["url"] is None                      # sim:ocpp: the lab's endpoint
    bench = tmp_path / "elsewhere.toml"
    bench.write_text((REPO_ROOT / "rigs" / "sim.toml").read_text().replace('address = "sim:ocpp"',
                                                                           'address = "ws://0.0.0.0:9123"'))
    elsewhere = ocpp_account(load_rig_file(bench))
    assert elsewhere is not None and elsewhere["url"] == "ws://127.0.0.1:9123"  # a wildcard host, dialled locally
    port = free_port()
    account = ocpp_account(config, f"ws://127.0.0.1:{port}/ocpp/")
    assert account is not None and account["url"] == f"ws://127.0.0.1:{port}/ocpp"
    backend = OcppCentralSystem(f"ws://127.0.0.1:{port}", {"charge_point_id": "*", "password": account["password"]})
    backend.attach_clock(lambda: 0.0, virtual=False)
    lab = VirtualLab(seed=2, knobs={}, ocpp=account)
    try:
        with lab.world.lock:
            lab.frontends["source"].handle("OUTP ON")
        lab.world.advance(lab.knobs.ocpp.connect_after_s + 5)
        assert backend.booted_points.get(timeout=5) == account["charge_point_id"]
    finally:
        lab.stop()
        backend.close()
