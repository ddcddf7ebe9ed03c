"""OCPP security profile 3 (TLS with client certificates) on 2.0.1, each way against peers written with
the `ocpp` package alone, on certificates the rig's own test CA made (`wallbox-rig backend ca`).

Profile 3 (OCPP 2.0.1 Part 2, A "Security"; OCPP 1.6 Security Whitepaper edition 3, §2.1): the
central system proves itself with a server certificate, the charging station with a client
certificate whose commonName is its identity; no basic-auth password.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
import websockets
from ocpp.v201 import call
from websockets.typing import Subprotocol

from core.errors import InvalidValue
from instruments.backend import Ocpp201CentralSystem
from instruments.transport.test_ca import TestCa, make_test_ca, peer_common_name
from tests.ocpp_peers import serve_peer
from tests.test_ocpp201_backend import IndependentCsms, IndependentStation, STATION

OTHER = "IND-CS-2"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCa:
    return make_test_ca(tmp_path_factory.mktemp("ca"), [STATION, OTHER, "SIM-SP3"], ["127.0.0.1", "localhost"])


def station_context(ca: TestCa, identity: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca.cafile))
    if identity is not None:
        context.load_cert_chain(str(ca.stations[identity].certfile), str(ca.stations[identity].keyfile))
    return context


def boot_over_tls(url: str, context: ssl.SSLContext) -> Any:
    """Connect as STATION with `context`, boot, and return the BootNotification's answer."""
    async def session() -> Any:
        async with websockets.connect(f"{url}/{STATION}", subprotocols=[Subprotocol("ocpp2.0.1")],
                                      ssl=context) as ws:
            station = IndependentStation(STATION, ws)
            station.received = []
            reader = asyncio.create_task(station.start())
            try:
                return await station.call(call.BootNotification(
                    charging_station={"model": "Interop", "vendor_name": "Tests"}, reason="PowerUp"))
            finally:
                reader.cancel()
    return asyncio.run(asyncio.wait_for(session(), 20))


def refusal(url: str, context: ssl.SSLContext) -> str:
    """What ends a connection attempt: an HTTP status, or the TLS layer's refusal."""
    try:
        boot_over_tls(url, context)
    except websockets.InvalidStatus as exc:
        return f"HTTP {exc.response.status_code}"
    except (ssl.SSLError, OSError, websockets.ConnectionClosed, websockets.InvalidMessage) as exc:
        # TLS 1.3: the client counts its handshake done before the server has checked its certificate,
        # so a server that finds none closes the connection before any HTTP answer (InvalidMessage)
        return f"TLS: {type(exc).__name__}"
    return "accepted"


def test_the_rigs_csms_takes_a_station_only_with_its_own_client_certificate(ca: TestCa) -> None:
    backend = Ocpp201CentralSystem("wss://127.0.0.1:0", {
        "charge_point_id": STATION, "certfile": str(ca.server.certfile), "keyfile": str(ca.server.keyfile),
        "client_cafile": str(ca.cafile)})
    backend.attach_clock(time.monotonic, virtual=False)
    try:
        url = backend.address
        assert boot_over_tls(url, station_context(ca, STATION)).status == "Accepted"
        assert refusal(url, station_context(ca, OTHER)) == "HTTP 403"      # a valid certificate, another station's
        assert refusal(url, station_context(ca, None)).startswith("TLS")    # no client certificate at all
    finally:
        backend.close()


def test_client_certificates_need_tls() -> None:
    with pytest.raises(InvalidValue, match="security profile 3"):
        Ocpp201CentralSystem("ws://127.0.0.1:0", {"charge_point_id": STATION, "client_cafile": "/ca.pem"})


def csms_context(ca: TestCa) -> ssl.SSLContext:
    """An independent CSMS's TLS: its server certificate, and client certificates required from the CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(ca.server.certfile), str(ca.server.keyfile))
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(str(ca.cafile))
    return context


def test_the_simulated_station_connects_to_an_independent_csms_with_its_client_certificate(ca: TestCa) -> None:
    from sim.lab import VirtualLab
    from tests.test_ocpp_interop import free_port

    port = free_port()
    heard: list[tuple[str, dict[str, Any]]] = []
    peers: list[str | None] = []
    stop, thread = serve_peer(port, IndependentCsms, heard, "ocpp2.0.1", csms_context(ca),
                              lambda ws: peers.append(peer_common_name(ws.transport.get_extra_info("peercert"))))
    mine = ca.stations["SIM-SP3"]
    lab = VirtualLab(seed=5, knobs={}, ocpp={"charge_point_id": "SIM-SP3", "password": None, "version": "2.0.1",
                                             "url": f"wss://127.0.0.1:{port}", "cafile": str(ca.cafile),
                                             "client_certfile": str(mine.certfile),
                                             "client_keyfile": str(mine.keyfile)})
    try:
        with lab.world.lock:
            lab.frontends["source"].handle("OUTP ON")   # the wallbox powers up, and dials once its modem is up
        lab.world.advance(lab.knobs.ocpp.connect_after_s + 5)
    finally:
        lab.stop()
        stop()
        thread.join(5)
    assert peers[:1] == ["SIM-SP3"]
    assert heard and heard[0][0] == "BootNotification"


def test_a_test_ca_refuses_an_identity_no_url_can_carry(tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match="no '/'"):
        make_test_ca(tmp_path, ["a/b"], ["127.0.0.1"])
