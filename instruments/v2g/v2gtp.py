"""The V2G transfer protocol header and the SECC discovery protocol (ISO 15118-2:2014 §7.8 and
§7.10.1), as the vehicle and the charger put them on the wire.

A V2GTP message is an 8-octet header (protocol version 0x01, its inverse 0xFE, the payload type,
the payload length as an unsigned 32-bit big-endian number) and the payload.  Payload types:
0x8001 an EXI-encoded V2G message, 0x9000 an SDP request, 0x9001 an SDP response.  The vehicle
sends the SDP request to UDP port 15118 (multicast ff02::1 on a link; in the virtual lab to the
simulated wallbox's port on the loopback): security (0x00 TLS, 0x10 none) and transport (0x00
TCP).  The charger answers with its IPv6 address, TCP port, and the same two octets.  An IPv4
address travels IPv4-mapped (::ffff:a.b.c.d), as the virtual lab's loopback does.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass

from instruments.v2g.exi import ExiError

VERSION = 0x01
HEADER = struct.Struct(">BBHI")
EXI_PAYLOAD = 0x8001
SDP_REQUEST = 0x9000
SDP_RESPONSE = 0x9001
SDP_PORT = 15118
NO_TLS, TLS = 0x10, 0x00
TCP = 0x00
MAX_PAYLOAD = 65536
"""The largest payload this side accepts (the messages here are tens of octets)."""


def frame(payload_type: int, payload: bytes) -> bytes:
    return HEADER.pack(VERSION, VERSION ^ 0xFF, payload_type, len(payload)) + payload


def parse_header(header: bytes) -> tuple[int, int]:
    """(payload type, payload length) of an 8-octet header; refused if it is not V2GTP version 1."""
    if len(header) != HEADER.size:
        raise ExiError(f"a V2GTP header has 8 octets, not {len(header)}")
    version, inverse, kind, length = HEADER.unpack(header)
    if version != VERSION or inverse != VERSION ^ 0xFF:
        raise ExiError(f"V2GTP version {version:#04x}/{inverse:#04x}, expected 0x01/0xfe")
    if length > MAX_PAYLOAD:
        raise ExiError(f"a V2GTP payload of {length} octets")
    return kind, length


def unframe(message: bytes) -> tuple[int, bytes]:
    kind, length = parse_header(message[:HEADER.size])
    payload = message[HEADER.size:]
    if len(payload) != length:
        raise ExiError(f"the header says {length} payload octets, {len(payload)} came")
    return kind, payload


def read_exact(conn: socket.socket, count: int) -> bytes:
    """`count` octets from a stream, or fewer if the other side closed it first (a V2GTP message's
    header, then its payload, may arrive in pieces)."""
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def sdp_request(security: int = NO_TLS, transport: int = TCP) -> bytes:
    return frame(SDP_REQUEST, bytes((security, transport)))


@dataclass(frozen=True)
class SdpResponse:
    host: str
    """The SECC's address (an IPv4-mapped one given as the IPv4 address)."""
    port: int
    security: int = NO_TLS
    transport: int = TCP

    def encode(self) -> bytes:
        address = ipaddress.ip_address(self.host)
        if isinstance(address, ipaddress.IPv4Address):
            address = ipaddress.IPv6Address(f"::ffff:{address}")
        return frame(SDP_RESPONSE, address.packed + struct.pack(">HBB", self.port, self.security, self.transport))

    @classmethod
    def decode(cls, message: bytes) -> SdpResponse:
        kind, payload = unframe(message)
        if kind != SDP_RESPONSE or len(payload) != 20:
            raise ExiError(f"not an SDP response: payload type {kind:#06x}, {len(payload)} octets")
        address = ipaddress.IPv6Address(payload[:16])
        port, security, transport = struct.unpack(">HBB", payload[16:])
        host = str(address.ipv4_mapped) if address.ipv4_mapped is not None else str(address)
        return cls(host, port, security, transport)
