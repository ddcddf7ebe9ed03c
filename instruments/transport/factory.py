"""Choose the transport from the address's form, so a rig file only ever says *where*."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from instruments.transport.base import LineTransport
from core.errors import InvalidValue


SERIAL_PREFIXES = ("socket://", "rfc2217://", "loop://", "/dev/", "COM")
ADDRESS_FORMS = ("a VISA resource (TCPIP0::host::port::SOCKET, GPIB0::7::INSTR, …), a serial port "
                 "(/dev/ttyUSB0, COM3), a pyserial URL (socket://host:port), a Modbus TCP port for the meter emulator "
                 "(tcp://host:port), a CAN port (can:socketcan:can0), where the OCPP backend listens (ws://host:port, wss://…), "
                 "a video source (video:0, video:rtsp://…, video:/path/clip.avi), an audio input (audio:default, audio:2) "
                 "where a charger's SECC discovery answers (udp://host:port) or a network interface for raw frames "
                 "(eth:eth1)")


CAN_FORMS = ("a CAN port as can:INTERFACE:CHANNEL (can:socketcan:can0, can:pcan:PCAN_USBBUS1) or "
             "can:socketcand:CHANNEL@HOST:PORT")


def is_visa_resource(address: str) -> bool:
    return "::" in address and address.split("::", 1)[0].rstrip("0123456789").upper() in {
        "TCPIP", "GPIB", "USB", "ASRL", "VXI", "PXI"}


def parse_can_address(address: str) -> dict[str, Any]:
    """`can:INTERFACE:CHANNEL[@HOST:PORT]` → python-can `Bus` arguments; a bad form says what is expected."""
    expected = CAN_FORMS
    scheme, _, rest = address.partition(":")
    interface, _, channel = rest.partition(":")
    if scheme != "can" or not interface or not channel:
        raise InvalidValue(f"{address!r} is not {expected}")
    args: dict[str, Any] = {"interface": interface, "channel": channel}
    if interface == "socketcand":
        channel, at, hostport = channel.partition("@")
        host, _, port = hostport.rpartition(":")
        if not at or not host or not port.isdigit():
            raise InvalidValue(f"{address!r}: socketcand needs CHANNEL@HOST:PORT ({expected})")
        args.update(channel=channel, host=host, port=int(port), tcp_tune=True)
    return args


def address_problem(address: str) -> str | None:
    """What a valid address looks like, if `address` is not one; None if a transport can reach it.
    Checked when a rig file is loaded (`rig check`), before anything is opened."""
    if address.startswith("can:"):
        try:
            parse_can_address(address)
        except InvalidValue:
            return CAN_FORMS
        return None
    if is_visa_resource(address) or address.startswith((*SERIAL_PREFIXES, "tcp://", "ws://", "wss://", "udp://")):
        return None
    if address.startswith(("video:", "audio:", "eth:")) and len(address) > len("eth:"):
        return None
    return ADDRESS_FORMS


def open_line_transport(role: str, address: str, settings: Mapping[str, Any]) -> LineTransport:
    """VISA resource strings go to pyvisa; `socket://` to a raw TCP line reader; ports and other
    pyserial URLs (`rfc2217://`, `loop://`) to pyserial."""
    timeout_s = float(settings.get("timeout_s", 2.0))
    if is_visa_resource(address):
        from instruments.transport.visa import VisaTransport
        return VisaTransport(role, address, backend=str(settings.get("visa_library", "@py")),
                             timeout_s=timeout_s)
    if address.startswith("socket://"):   # raw TCP: read whole lines, not pyserial's byte at a time
        from instruments.transport.socket_line import SocketLineTransport
        return SocketLineTransport(role, address, timeout_s=timeout_s)
    if address.startswith(SERIAL_PREFIXES):
        from instruments.transport.serial_line import SerialLineTransport
        return SerialLineTransport(role, address, baudrate=int(settings.get("baudrate", 115200)),
                                   timeout_s=timeout_s)
    raise InvalidValue(f"{role}: cannot tell how to reach {address!r}: expected {ADDRESS_FORMS}")
