"""Choose the transport from the address's form, so a rig file only ever says *where*."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from instruments.transport.base import LineTransport
from rig.errors import InvalidValue


def is_visa_resource(address: str) -> bool:
    return "::" in address and address.split("::", 1)[0].rstrip("0123456789").upper() in {
        "TCPIP", "GPIB", "USB", "ASRL", "VXI", "PXI"}


def open_transport(role: str, address: str, settings: Mapping[str, Any]) -> Any:
    """A CAN port (`can:INTERFACE:CHANNEL`) for frame-based instruments; a line transport otherwise."""
    if address.startswith("can:"):
        from instruments.transport.can_bus import CanTransport
        return CanTransport(role, address, settings)
    return open_line_transport(role, address, settings)


def open_line_transport(role: str, address: str, settings: Mapping[str, Any]) -> LineTransport:
    """VISA resource strings go to pyvisa; ports and `socket://`/`rfc2217://` URLs go to pyserial."""
    timeout_s = float(settings.get("timeout_s", 2.0))
    if is_visa_resource(address):
        from instruments.transport.visa import VisaTransport
        return VisaTransport(role, address, backend=str(settings.get("visa_library", "@py")),
                             timeout_s=timeout_s)
    if address.startswith(("socket://", "rfc2217://", "loop://", "/dev/", "COM")):
        from instruments.transport.serial_line import SerialLineTransport
        return SerialLineTransport(role, address, baudrate=int(settings.get("baudrate", 115200)),
                                   timeout_s=timeout_s)
    raise InvalidValue(f"{role}: cannot tell how to reach {address!r}: expected a VISA resource "
                       "(TCPIP0::host::port::SOCKET, GPIB0::7::INSTR, …), a serial port (/dev/ttyUSB0, COM3), "
                       "a pyserial URL (socket://host:port) or a CAN port (can:socketcan:can0)")
