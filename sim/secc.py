"""The simulated wallbox's ISO 15118 side (its SECC), as far as a vehicle identifies itself.

What the firmware does, written from the charger's side of ISO 15118-2 (the rig's vehicle side is
`instruments/ev_comms.py`; both share only the wire format, `instruments/v2g`):

- **SDP** (UDP): a request is answered with the SECC's address and TCP port, no TLS (this SECC
  offers none), but only while a vehicle is connected: on a real cable the link exists only after
  the modems matched, so an unplugged "vehicle" finds nobody.
- **supportedAppProtocol**: of the protocols offered, the firmware takes ISO 15118-2 (an AC
  wallbox; DIN 70121 is DC charging's); none offered, Failed_NoNegotiation and the connection ends.
- **SessionSetup**: a new 8-octet SessionID, OK_NewSessionEstablished, the EVSEID and the time;
  the EVCC ID goes to access control (`AccessControl.vehicle_identified`), which registers or
  authorises the vehicle.  Nothing after SessionSetup is answered: the vehicle this firmware
  serves goes on with basic charging (the PWM), the messages it would exchange next
  (ServiceDiscovery …) are not part of this model, and the connection is closed.

Every message is handled under the world's lock at the virtual instant it arrives, and journaled.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from typing import TYPE_CHECKING

from instruments.v2g import messages as m
from instruments.v2g.exi import ExiError
from instruments.v2g.v2gtp import (EXI_PAYLOAD, HEADER, SDP_REQUEST, SdpResponse, frame, parse_header, read_exact,
                                   unframe)
from sim.server import LOOPBACK, ThreadedServer
from sim.world import World

if TYPE_CHECKING:
    from sim.wallbox import SimulatedWallbox

SUPPORTED = (m.ISO2,)
"""What this AC firmware negotiates."""


class Secc:
    """SDP on a UDP port and V2GTP on a TCP port of the loopback."""

    def __init__(self, world: World, box: SimulatedWallbox, udp_port: int = 0, tcp_port: int = 0) -> None:
        self.world, self.box = world, box
        secc = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.request.settimeout(30.0)
                protocol: m.Protocol | None = None
                try:
                    while True:
                        header = read_exact(self.request, HEADER.size)
                        if not header:
                            return
                        kind, length = parse_header(header)
                        payload = read_exact(self.request, length)
                        if kind != EXI_PAYLOAD or len(payload) != length:
                            return
                        with world.lock:
                            answer, protocol, done = secc.answer(payload, protocol)
                        if answer:
                            self.request.sendall(frame(EXI_PAYLOAD, answer))
                        if done:
                            return
                except (OSError, ExiError) as exc:
                    with world.lock:
                        world.record("hlc_error", error=str(exc))

        self._tcp = ThreadedServer((LOOPBACK, tcp_port), Handler)
        self.tcp_port = self._tcp.server_address[1]
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind((LOOPBACK, udp_port))
        self._udp.settimeout(0.2)
        self.udp_port = self._udp.getsockname()[1]
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._tcp.serve_forever, kwargs={"poll_interval": 0.05},
                                          name="sim-secc-tcp", daemon=True),
                         threading.Thread(target=self._sdp, name="sim-secc-sdp", daemon=True)]
        for t in self._threads:
            t.start()

    @property
    def address(self) -> str:
        return f"udp://{LOOPBACK}:{self.udp_port}"

    def _sdp(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._udp.recvfrom(64)
            except TimeoutError:
                continue
            except OSError:
                return
            with self.world.lock:
                answer = self.discover(data)
            if answer:
                self._udp.sendto(answer, peer)

    def discover(self, request: bytes) -> bytes | None:
        """The SDP response, or None (no vehicle on the cable, or not an SDP request)."""
        try:
            kind, payload = unframe(request)
        except ExiError:
            return None
        if kind != SDP_REQUEST or len(payload) != 2 or not self._serving():
            return None
        self.world.record("hlc_sdp", security=payload[0], transport=payload[1])
        return SdpResponse(LOOPBACK, self.tcp_port).encode()

    def _serving(self) -> bool:
        return self.box.knobs.access.hlc_vehicle_registration and self.box.cp_letter in ("B", "C", "D") \
            and self.box.state not in ("off", "boot", "update")

    def answer(self, payload: bytes, protocol: m.Protocol | None) -> tuple[bytes, m.Protocol | None, bool]:
        """(the answer, the protocol agreed so far, whether the connection ends)."""
        if not self._serving():
            return b"", protocol, True
        if protocol is None:
            request = m.decode_sap(payload)
            if not isinstance(request, m.SupportedAppProtocolReq):
                return b"", None, True
            offered = sorted(request.protocols, key=lambda p: p.priority)
            chosen = next(((p, m.PROTOCOLS[p.namespace]) for p in offered if p.namespace in m.PROTOCOLS
                           and m.PROTOCOLS[p.namespace] in SUPPORTED and p.major == m.PROTOCOLS[p.namespace].major),
                          None)
            self.world.record("hlc_app_protocol", offered=[p.namespace for p in offered],
                              chosen=chosen[1].key if chosen else None)
            if chosen is None:
                return m.encode_sap(m.SupportedAppProtocolRes("Failed_NoNegotiation")), None, True
            return m.encode_sap(m.SupportedAppProtocolRes("OK_SuccessfulNegotiation", chosen[0].schema_id)), \
                chosen[1], False
        request_v2g = m.decode_v2g(payload, protocol)
        if not isinstance(request_v2g, m.SessionSetupReq):
            return b"", protocol, True
        session = bytes(self.world.dut_rng.randrange(256) for _ in range(8))
        evse_id = f"DE*SIM*E{self.box.knobs.dut.wallbox_id}"
        stamp = int(self.box.ocpp.now_utc()) if self.box.ocpp is not None else None   # its clock: the backend's
        res = m.SessionSetupRes(protocol, session, "OK_NewSessionEstablished", evse_id, stamp)
        self.world.record("hlc_session_setup", evcc_id=request_v2g.evcc_id.hex().upper(), protocol=protocol.key)
        self.box.access.vehicle_identified(request_v2g.evcc_id)
        return m.encode_v2g(res), protocol, True

    def stop(self) -> None:
        self._stop.set()
        self._tcp.shutdown()
        self._tcp.server_close()
        self._udp.close()
