"""Role `ev_comms`: the vehicle's high-level communication (ISO 15118-2 / DIN 70121), as far as a
vehicle identifies itself to the charger (issue 29, WB-AC-05).

The CP emulator is the vehicle's pilot circuit; this role is its communication controller (EVCC).
`identify_as(evcc_id)` is what a vehicle does after plug-in: find the charger (SDP), open a V2GTP
connection, agree a protocol (supportedAppProtocol), start a session with its EVCC ID, its MAC
(SessionSetupReq), and stop there: a charger that registers vehicles by their MAC decides on that
message, and the vehicle goes on charging by the PWM.  Every message, both ways, is kept as it went
on the wire (`HlcExchange`) for the evidence.

Drivers:

- `V2gOverIp` (`v2g-ip`): SDP and V2GTP over an IP link that already exists: the virtual lab's
  loopback (`sim:secc`), or, on a bench, the link a Green PHY modem has already matched
  (`udp://[ff02::1%eth1]:15118`).
- `GreenPhyEv` (`greenphy-ev`): a vehicle-side HomePlug Green PHY modem on a Linux network
  interface (`eth:eth1`): the vehicle side of SLAC (ISO 15118-3) over raw Ethernet, then the same
  IP session over that interface (`instruments/v2g/slac.py`; docs/bench/plug-and-charge.md).
"""

from __future__ import annotations

import os
import socket
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from core.errors import InstrumentInitError, InstrumentOperationError, InstrumentTimeout, InvalidValue
from core.settings import Setting
from instruments.base import Instrument
from instruments.transport.openers import ETHERNET, V2G
from instruments.v2g import messages as m
from instruments.v2g import slac
from instruments.v2g.exi import ExiError
from instruments.v2g.v2gtp import (EXI_PAYLOAD, HEADER, SDP_PORT, SdpResponse, frame, parse_header, read_exact,
                                   sdp_request)

PROTOCOL_KEYS = {"iso2": m.ISO2, "din": m.DIN}


def mac_ok(value: Any) -> bool:
    """An EVCC ID as the rig file writes it: a MAC, six octets in hex, with or without colons."""
    if not isinstance(value, str):
        return False
    digits = value.replace(":", "").replace("-", "")
    return len(digits) == 12 and all(c in "0123456789abcdefABCDEF" for c in digits)


def mac_bytes(value: str) -> bytes:
    return bytes.fromhex(value.replace(":", "").replace("-", ""))


EV_COMMS_SETTINGS = (
    Setting("vehicles", list, "the EVCC IDs (MAC addresses) the vehicle side identifies as: the first is the one "
            "the tests register, the second one the DUT never saw", required=True,
            check=lambda v: 2 <= len(v) <= 8 and all(mac_ok(x) for x in v) and len(set(v)) == len(v),
            expected='two to eight different MAC addresses, e.g. ["02:00:5E:10:00:01", "02:00:5E:10:00:02"]'),
    Setting("protocols", list, "the protocols the vehicle offers, in its order of preference",
            check=lambda v: 0 < len(v) <= 2 and all(p in PROTOCOL_KEYS for p in v) and len(set(v)) == len(v),
            expected='a list of "iso2" and/or "din"', default=["iso2", "din"]),
    Setting("sdp_retries", int, "how often the SDP request is sent before the charger counts as absent", low=1,
            high=50, default=5),
    Setting("timeout_s", float, "how long each answer (SDP, and each message on the connection) is waited for",
            unit="s", low=0.05, high=60.0, default=2.0),
)


@dataclass(frozen=True)
class HlcMessage:
    t_s: float
    """Rig time when it went or came (in the virtual lab the clock stands still while they pass)."""
    direction: str
    """"EV→SECC" or "SECC→EV"."""
    name: str
    wire: bytes
    """The V2GTP message as it went on the wire (header included)."""
    text: str

    def line(self) -> str:
        """As the report's message logs lay a message out: time, UTC (none kept), direction, type, action,
        payload (the wire in hex, then what it says)."""
        kind = "SDP" if self.name.startswith("SDP") else "V2GTP/EXI"
        return f"{self.t_s:.6f}\t\t{self.direction}\t{kind}\t{self.name}\t{self.wire.hex()} {self.text}"


@dataclass
class HlcExchange:
    """One vehicle's attempt to identify itself: what went both ways and where it ended."""

    evcc_id: bytes
    messages: list[HlcMessage] = field(default_factory=list)
    found: bool = False
    """Whether a charger answered the SDP request."""
    protocol: str | None = None
    """The protocol agreed ("iso2", "din"), None if none."""
    session_response: str | None = None
    """SessionSetupRes's ResponseCode; None if the session never got that far."""
    evse_id: str | None = None

    @property
    def session_set_up(self) -> bool:
        return bool(self.session_response and self.session_response.startswith("OK"))

    def lines(self) -> list[str]:
        return [msg.line() for msg in self.messages]


class EvComms(Instrument):
    role = "ev_comms"
    SETTINGS: ClassVar[tuple[Setting, ...]] = EV_COMMS_SETTINGS
    vehicles: tuple[bytes, ...]
    protocols: tuple[m.Protocol, ...]
    timeout_s: float
    _now: Callable[[], float] = staticmethod(time.monotonic)

    def _read_settings(self, settings: Mapping[str, Any]) -> None:
        """What every driver of the role reads: the vehicles, the protocols they offer, the answer timeout."""
        self.role = "ev_comms"
        self.vehicles = tuple(mac_bytes(v) for v in settings["vehicles"])
        self.protocols = tuple(PROTOCOL_KEYS[p] for p in settings.get("protocols", ["iso2", "din"]))
        self.timeout_s = float(settings.get("timeout_s", 2.0))

    def attach_clock(self, now: Callable[[], float]) -> None:
        """Stamp the messages with the rig clock (`Rig.open` calls it once the clock is open)."""
        self._now = now

    @abstractmethod
    def identify_as(self, evcc_id: bytes) -> HlcExchange:
        """Run SDP, supportedAppProtocol and SessionSetup as the vehicle `evcc_id`.  A charger that is
        not there or refuses is an outcome (recorded in the exchange), not an error; a message
        that is not what its header says is the instrument's error."""

    def safe(self) -> None:
        """Nothing stays open between identifications."""


class V2gOverIp(EvComms):
    """SDP to `udp://HOST:PORT`, then V2GTP over TCP to where the charger says (ISO 15118-2 §7.8,
    §7.10.1; the SDP retry count is the rig file's, the standard allows 50 at 250 ms)."""

    opens = V2G

    def __init__(self, address: str, settings: Mapping[str, Any]) -> None:
        self._read_settings(settings)
        self.host, self.port, self.scope = parse_udp(address)
        self.retries = int(settings.get("sdp_retries", 5))

    @classmethod
    def build(cls, role: str, addresses: Sequence[str], settings: Mapping[str, Any],
              parts: Mapping[str, Instrument], wiring: Any) -> V2gOverIp:
        return cls(addresses[0], settings)

    def identify(self) -> str:
        return f"ISO 15118 vehicle side over IP (SDP to {self.host}:{self.port}), vehicles " \
               f"{', '.join(v.hex(':').upper() for v in self.vehicles)}"

    def identify_as(self, evcc_id: bytes) -> HlcExchange:
        exchange = HlcExchange(evcc_id)
        found = self._discover(exchange)
        if found is None:
            return exchange
        exchange.found = True
        family = socket.AF_INET if ":" not in found.host else socket.AF_INET6
        target: tuple[Any, ...] = (found.host, found.port) if family == socket.AF_INET else \
            (found.host, found.port, 0, self.scope)
        with socket.socket(family, socket.SOCK_STREAM) as conn:
            conn.settimeout(self.timeout_s)
            try:
                conn.connect(target)
            except OSError as exc:
                raise InstrumentOperationError(self.role, f"the charger's SDP answer named {found.host} port "
                                               f"{found.port}, which refused the connection: {exc}") from exc
            offered = tuple(m.AppProtocol(p.namespace, p.major, p.minor, k + 1, k + 1)
                            for k, p in enumerate(self.protocols))
            answer = self._exchange(conn, exchange, "supportedAppProtocolReq",
                                    m.encode_sap(m.SupportedAppProtocolReq(offered)), m.decode_sap,
                                    "; ".join(f"{o.namespace} {o.major}.{o.minor} (SchemaID {o.schema_id})"
                                              for o in offered))
            if not isinstance(answer, m.SupportedAppProtocolRes) or not answer.response_code.startswith("OK") \
                    or answer.schema_id is None:
                return exchange
            chosen = next((o for o in offered if o.schema_id == answer.schema_id), None)
            if chosen is None:
                raise InstrumentOperationError(self.role, f"the charger chose SchemaID {answer.schema_id}, "
                                               "which the vehicle did not offer")
            protocol = m.PROTOCOLS[chosen.namespace]
            exchange.protocol = protocol.key
            setup = self._exchange(conn, exchange, "SessionSetupReq",
                                   m.encode_v2g(m.SessionSetupReq(protocol, b"\x00", evcc_id)),
                                   lambda data: m.decode_v2g(data, protocol), f"EVCCID {evcc_id.hex().upper()}")
            if isinstance(setup, m.SessionSetupRes):
                exchange.session_response, exchange.evse_id = setup.response_code, setup.evse_id
        return exchange

    def _discover(self, exchange: HlcExchange) -> SdpResponse | None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        request = sdp_request()
        target: tuple[Any, ...] = (self.host, self.port) if family == socket.AF_INET else \
            (self.host, self.port, 0, self.scope)
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.settimeout(self.timeout_s / self.retries)
            for _ in range(self.retries):
                udp.sendto(request, target)
                exchange.messages.append(HlcMessage(self._now(), "EV→SECC", "SDP request", request,
                                                    "security: none, transport: TCP"))
                try:
                    data = udp.recv(64)
                except TimeoutError:
                    continue
                try:
                    found = SdpResponse.decode(data)
                except ExiError as exc:
                    raise InstrumentOperationError(self.role, f"SDP: {exc}: {data.hex()}") from exc
                exchange.messages.append(HlcMessage(self._now(), "SECC→EV", "SDP response", data,
                                                    f"{found.host} port {found.port}"))
                return found
        return None

    def _exchange(self, conn: socket.socket, exchange: HlcExchange, name: str, exi: bytes,
                  decode: Any, text: str) -> Any:
        """Send one V2G message, read the answer (None: the charger closed the connection)."""
        wire = frame(EXI_PAYLOAD, exi)
        conn.sendall(wire)
        exchange.messages.append(HlcMessage(self._now(), "EV→SECC", name, wire, text))
        try:
            header = read_exact(conn, HEADER.size)
            if not header:
                return None
            kind, length = parse_header(header)
            payload = read_exact(conn, length)
        except TimeoutError:
            raise InstrumentTimeout(self.role, f"no answer to {name} within {self.timeout_s:g} s") from None
        except ExiError as exc:
            raise InstrumentOperationError(self.role, f"the answer to {name}: {exc}") from exc
        if kind != EXI_PAYLOAD or len(payload) != length:
            raise InstrumentOperationError(self.role, f"the answer to {name} is cut short or not EXI "
                                           f"(payload type {kind:#06x}, {len(payload)} of {length} octets)")
        try:
            answer = decode(payload)
        except ExiError as exc:
            raise InstrumentOperationError(self.role, f"the answer to {name} is not the message it should "
                                           f"be: {exc}: {payload.hex()}") from exc
        exchange.messages.append(HlcMessage(self._now(), "SECC→EV", type(answer).__name__, header + payload,
                                            _describe(answer)))
        return answer


def _describe(message: object) -> str:
    if isinstance(message, m.SupportedAppProtocolRes):
        return f"{message.response_code}, SchemaID {message.schema_id}"
    if isinstance(message, m.SessionSetupRes):
        return f"{message.response_code}, SessionID {message.session_id.hex().upper()}, EVSEID {message.evse_id}"
    return repr(message)




def parse_udp(address: str) -> tuple[str, int, int]:
    """udp://HOST:PORT or udp://[IPV6%IFACE]:PORT → (host, port, IPv6 scope id)."""
    if not address.startswith("udp://"):
        raise InvalidValue(f"ev_comms: {address!r} is not udp://HOST:PORT")
    rest = address[len("udp://"):]
    if rest.startswith("["):
        host, _, port = rest[1:].partition("]:")
        name, _, iface = host.partition("%")
        scope = socket.if_nametoindex(iface) if iface else 0
        return name, int(port or SDP_PORT), scope
    host, _, port = rest.rpartition(":")
    return host, int(port or SDP_PORT), 0


GREENPHY_SETTINGS = EV_COMMS_SETTINGS + (
    Setting("modem_mac", str, "where CM_SET_KEY.REQ goes: the vehicle-side modem's management address (the "
            "QCA7000 family answers at 00:B0:52:00:00:01)", check=mac_ok, default="00:B0:52:00:00:01",
            expected="a MAC address, e.g. 00:B0:52:00:00:01"),
    Setting("link_wait_s", float, "after CM_SET_KEY, how long the modem is given to join the charger's network "
            "before SDP", unit="s", low=0.0, high=60.0, default=2.0),
)


class GreenPhyEv(EvComms):
    """A vehicle-side HomePlug Green PHY modem on a Linux interface (`eth:IFACE`; a QCA7000 evaluation
    board set up as a PEV, or any modem whose Ethernet side passes management frames): the rig runs
    the vehicle's SLAC over raw frames (`instruments/v2g/slac.py`), gives the modem the network key,
    then identifies over IPv6 on that interface (ff02::1%IFACE, SDP port 15118).  The SLAC frames
    leave with the vehicle's MAC (the EVCC ID) as their source.  Untried on a bench (issue 29):
    docs/bench/plug-and-charge.md says what to check first."""

    opens = ETHERNET
    SETTINGS = GREENPHY_SETTINGS

    def __init__(self, interface: str, settings: Mapping[str, Any],
                 raw_socket: Callable[[str], Any] | None = None) -> None:
        self._read_settings(settings)
        self.interface = interface
        self.modem = mac_bytes(str(settings.get("modem_mac", "00:B0:52:00:00:01")))
        self.link_wait_s = float(settings.get("link_wait_s", 2.0))
        self._settings = dict(settings)
        self._raw_socket = raw_socket or _open_raw
        self.run_ids: Callable[[], bytes] = lambda: os.urandom(8)

    @classmethod
    def build(cls, role: str, addresses: Sequence[str], settings: Mapping[str, Any],
              parts: Mapping[str, Instrument], wiring: Any) -> GreenPhyEv:
        return cls(addresses[0].removeprefix("eth:"), settings)

    def identify(self) -> str:
        return f"ISO 15118 vehicle side on Green PHY (interface {self.interface}, modem {self.modem.hex(':')})"

    def identify_as(self, evcc_id: bytes) -> HlcExchange:
        exchange = HlcExchange(evcc_id)
        if not self.slac(evcc_id, exchange):
            return exchange
        time.sleep(self.link_wait_s)   # the modem joins the network the key names (host time: a bench step)
        ip = V2gOverIp(f"udp://[ff02::1%{self.interface}]:{SDP_PORT}", self._settings)
        ip.attach_clock(self._now)
        found = ip.identify_as(evcc_id)
        found.messages[:0] = exchange.messages
        return found

    def slac(self, evcc_id: bytes, exchange: HlcExchange) -> bool:
        """The vehicle's matching; False where no charger answered (recorded in the exchange)."""
        run_id = self.run_ids()
        sock = self._raw_socket(self.interface)
        try:
            cnf_raw = self._ask(sock, exchange, "CM_SLAC_PARM.REQ", slac.slac_parm_req(evcc_id, run_id),
                                slac.CM_SLAC_PARM_CNF)
            if cnf_raw is None:
                return False
            cnf = slac.parse_slac_parm_cnf(cnf_raw)
            for _ in range(3):
                self._send(sock, exchange, "CM_START_ATTEN_CHAR.IND",
                           slac.start_atten_char_ind(evcc_id, run_id, cnf.num_sounds, cnf.timeout_100ms))
            for left in range(cnf.num_sounds - 1, -1, -1):
                self._send(sock, exchange, "CM_MNBC_SOUND.IND", slac.mnbc_sound_ind(evcc_id, run_id, left))
            ind_raw = self._wait(sock, exchange, slac.CM_ATTEN_CHAR_IND, max(self.timeout_s,
                                                                             cnf.timeout_100ms / 10.0))
            if ind_raw is None:
                return False
            ind = slac.parse_atten_char_ind(ind_raw)
            self._send(sock, exchange, "CM_ATTEN_CHAR.RSP", slac.atten_char_rsp(ind.evse_mac, evcc_id, ind))
            match_raw = self._ask(sock, exchange, "CM_SLAC_MATCH.REQ",
                                  slac.slac_match_req(ind.evse_mac, evcc_id, run_id), slac.CM_SLAC_MATCH_CNF)
            if match_raw is None:
                return False
            match = slac.parse_slac_match_cnf(match_raw)
            self._ask(sock, exchange, "CM_SET_KEY.REQ", slac.set_key_req(self.modem, evcc_id, match.nid, match.nmk),
                      slac.CM_SET_KEY_CNF)
            return True
        except ExiError as exc:
            raise InstrumentOperationError(self.role, f"SLAC: {exc}") from exc
        finally:
            sock.close()

    def _send(self, sock: Any, exchange: HlcExchange, name: str, raw: bytes) -> None:
        sock.send(raw)
        exchange.messages.append(HlcMessage(self._now(), "EV→SECC", name, raw, "SLAC"))

    def _wait(self, sock: Any, exchange: HlcExchange, mmtype: int, timeout_s: float) -> bytes | None:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                raw = sock.recv(1518)
            except TimeoutError:
                return None
            try:
                _, _, kind, _ = slac.parse(raw)
            except ExiError:
                continue   # another frame on the interface
            if kind == mmtype:
                exchange.messages.append(HlcMessage(self._now(), "SECC→EV", f"MMTYPE {kind:#06x}", raw, "SLAC"))
                return bytes(raw)
        return None

    def _ask(self, sock: Any, exchange: HlcExchange, name: str, raw: bytes, answer: int) -> bytes | None:
        self._send(sock, exchange, name, raw)
        return self._wait(sock, exchange, answer, self.timeout_s)


def _open_raw(interface: str) -> Any:
    """A raw socket for the 0x88E1 frames on `interface` (Linux, CAP_NET_RAW)."""
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(slac.ETHERTYPE))
        sock.bind((interface, 0))
    except (OSError, AttributeError) as exc:
        raise InstrumentInitError("ev_comms", f"cannot open raw frames on {interface!r}: {exc} (Linux only; the rig "
                                  "needs CAP_NET_RAW, e.g. setcap cap_net_raw+ep on its python)") from exc
    return sock
