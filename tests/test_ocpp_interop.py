"""Interoperability with OCPP 1.6J code that is not ours.

Both sides of the rig's OCPP are held against an implementation written here with the `ocpp`
package alone: a charge point that boots against `wallbox-rig backend serve` and completes a
transaction (and receives the plan `--schedule` sends), and a central system that accepts the
simulated wallbox's boot and a transaction.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import websockets
from websockets.typing import Subprotocol
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result

from tests.ocpp_peers import serve_peer

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "interop-basic-auth-key-01"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def refusal(url: str) -> int:
    """The HTTP status a WebSocket handshake to `url` is refused with (0: it was accepted)."""
    async def attempt() -> int:
        try:
            async with websockets.connect(url, subprotocols=[Subprotocol("ocpp1.6")]):
                return 0
        except websockets.InvalidStatus as exc:
            return int(exc.response.status_code)
    return asyncio.run(attempt())


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class IndependentChargePoint(ChargePoint):
    """A minimal charge point: answers SetChargingProfile and remembers what it was sent."""

    profiles: list[dict[str, Any]]

    @on("SetChargingProfile")
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any) -> Any:
        self.profiles.append(cs_charging_profiles)
        return call_result.SetChargingProfile(status="Accepted")


async def charge_point_session(url: str) -> dict[str, Any]:
    token = base64.b64encode(f"IND-CP-1:{PASSWORD}".encode()).decode()
    async with websockets.connect(f"{url}/IND-CP-1", subprotocols=[Subprotocol("ocpp1.6")],
                                  additional_headers={"Authorization": f"Basic {token}"}) as ws:
        cp = IndependentChargePoint("IND-CP-1", ws)
        cp.profiles = []
        reader = asyncio.create_task(cp.start())
        out: dict[str, Any] = {}
        out["boot"] = await cp.call(call.BootNotification(charge_point_model="Interop", charge_point_vendor="Tests"))
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"))
        out["authorize"] = await cp.call(call.Authorize(id_tag="TAG-OK"))
        out["unknown"] = await cp.call(call.Authorize(id_tag="TAG-NO"))
        out["start"] = await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG-OK", meter_start=100,
                                                           timestamp=now_text()))
        tx = out["start"].transaction_id
        await cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[
            {"timestamp": now_text(), "sampledValue": [{"value": "1100", "measurand": "Energy.Active.Import.Register",
                                                        "unit": "Wh"}]}]))
        out["stop"] = await cp.call(call.StopTransaction(meter_stop=2100, timestamp=now_text(), transaction_id=tx,
                                                         reason="EVDisconnected", id_tag="TAG-OK"))
        for _ in range(100):
            if cp.profiles:
                break
            await asyncio.sleep(0.05)
        out["profiles"] = list(cp.profiles)
        reader.cancel()
        return out


def plan_around_now(tmp_path: Path) -> Path:
    """The documented night plan, its hours moved to lie ahead of now: the cheap window starts in
    three hours and the departure is in nine, so the plan has an idle stretch (0 A) and the full
    current whatever the time of day the test runs at (CI caught the fixed 22:00-06:00 window
    leaving no idle stretch at 04:15 UTC)."""
    hour = datetime.now(UTC).hour
    text = (REPO / "docs" / "backend" / "night-plan.toml").read_text()
    moved = {'departure = "06:30"': f'departure = "{(hour + 9) % 24:02d}:00"',
             "night_from_h = 22": f"night_from_h = {(hour + 3) % 24}",
             "night_to_h = 6": f"night_to_h = {(hour + 8) % 24}"}
    for old, new in moved.items():
        assert old in text, old
        text = text.replace(old, new)
    text = text.split("[tariff.pv_surplus_w]")[0]   # no PV: the sun's hours would move with the test's
    path = tmp_path / "plan.toml"
    path.write_text(text)
    return path


def test_an_independent_charge_point_completes_a_transaction_against_backend_serve(tmp_path: Path) -> None:
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "cli.main", "backend", "serve", "--listen",
                              f"ws://127.0.0.1:{port}", "--password", PASSWORD, "--accept-tag", "TAG-OK",
                              "--schedule", str(plan_around_now(tmp_path))],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert serve.stdout is not None
        banner = serve.stdout.readline()
        assert "OCPP 1.6J central system" in banner, banner
        result = asyncio.run(asyncio.wait_for(charge_point_session(f"ws://127.0.0.1:{port}"), 30))
    finally:
        serve.terminate()
        printed = serve.communicate(timeout=10)[0]
    assert result["boot"].status == "Accepted" and result["boot"].interval == 300
    assert result["authorize"].id_tag_info["status"] == "Accepted"
    assert result["unknown"].id_tag_info["status"] == "Invalid"
    assert result["start"].transaction_id > 0 and result["start"].id_tag_info["status"] == "Accepted"
    assert result["stop"].id_tag_info["status"] == "Accepted"
    assert len(result["profiles"]) == 1, printed
    (plan,) = result["profiles"]   # the ocpp package hands payloads over in snake_case
    assert plan["charging_profile_purpose"] == "TxDefaultProfile"
    limits = [float(p["limit"]) for p in plan["charging_schedule"]["charging_schedule_period"]]
    assert 16.0 in limits and 0.0 in limits and all(x == 0.0 or 6.0 <= x <= 16.0 for x in limits)
    for action in ("BootNotification", "StartTransaction", "MeterValues", "StopTransaction", "SetChargingProfile"):
        assert action in printed, f"backend serve did not print {action}:\n{printed}"


def test_backend_serve_refuses_a_charge_point_without_the_password() -> None:
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "cli.main", "backend", "serve", "--listen",
                              f"ws://127.0.0.1:{port}", "--password", PASSWORD], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        assert serve.stdout is not None and "central system" in serve.stdout.readline()
        assert refusal(f"ws://127.0.0.1:{port}/IND-CP-2") == 401
    finally:
        serve.terminate()
        serve.communicate(timeout=10)


def test_backend_serve_takes_only_the_charge_point_it_was_told_and_no_open_port_without_a_password() -> None:
    """An identity it was not told is refused as OCPP-J 1.6 §3.1.1 says (HTTP 404); listening beyond
    this host without a password, or with one shorter than the security whitepaper's 16
    characters, is refused before anything listens (exit 2, one line)."""
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "cli.main", "backend", "serve", "--listen",
                              f"ws://127.0.0.1:{port}", "--password", PASSWORD, "--charge-point-id", "CP1"],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert serve.stdout is not None and "central system" in serve.stdout.readline()
        assert refusal(f"ws://127.0.0.1:{port}/CP2") == 404
    finally:
        serve.terminate()
        serve.communicate(timeout=10)
    for args, expected in ((["--listen", "ws://0.0.0.0:9000"], "listens beyond this host"),
                           (["--password", "short"], "--password: expected the basic-auth password")):
        proc = subprocess.run([sys.executable, "-m", "cli.main", "backend", "serve", *args], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and expected in proc.stderr, proc.stderr


class IndependentCentralSystem(ChargePoint):
    """A minimal central system: accepts everything and remembers what it heard."""

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

    @on("StartTransaction")
    def on_start(self, **kwargs: Any) -> Any:
        self.heard.append(("StartTransaction", kwargs))
        return call_result.StartTransaction(transaction_id=4711, id_tag_info={"status": "Accepted"})

    @on("MeterValues")
    def on_meter_values(self, **kwargs: Any) -> Any:
        self.heard.append(("MeterValues", kwargs))
        return call_result.MeterValues()

    @on("StopTransaction")
    def on_stop(self, **kwargs: Any) -> Any:
        self.heard.append(("StopTransaction", kwargs))
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})


def test_an_independent_central_system_accepts_the_simulated_wallbox() -> None:
    from sim.lab import VirtualLab

    heard: list[tuple[str, dict[str, Any]]] = []
    lab = VirtualLab(seed=5, knobs={}, ocpp={"charge_point_id": "SIM-IND", "password": None})
    stop, thread = serve_peer(int(lab.endpoints["ocpp"].rsplit(":", 1)[1]), IndependentCentralSystem, heard, "ocpp1.6")
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
    assert actions[0] == "BootNotification" and heard[0][1]["charge_point_vendor"] == "WALLBOX-RIG"
    start = next(kw for a, kw in heard if a == "StartTransaction")
    ended = next(kw for a, kw in heard if a == "StopTransaction")
    assert start["connector_id"] == 1 and start["id_tag"] == "FREEVEND"
    assert ended["transaction_id"] == 4711 and ended["reason"] == "EVDisconnected"
    assert ended["meter_stop"] > start["meter_start"]          # it charged: 16 A on L1 for two minutes
    statuses = [kw["status"] for a, kw in heard if a == "StatusNotification" and kw["connector_id"] == 1]
    assert statuses[:1] == ["Available"] and "Charging" in statuses and statuses[-1] == "Available"
    assert actions.index("StartTransaction") < actions.index("StopTransaction")
