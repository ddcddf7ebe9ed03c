"""python-can behind one small frame transport: the only module that imports `can`.

A rig file names a CAN port as `can:INTERFACE:CHANNEL`, the python-can interface and channel a
lab already uses (`can:socketcan:can0`, `can:pcan:PCAN_USBBUS1`, `can:kvaser:0`); socketcand
adds the daemon's address (`can:socketcand:can0@192.0.2.20:29536`), which is also how the
virtual lab serves its fault box.  Errors are wrapped by phase like every other transport.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import can

from instruments.transport.base import Frame, FrameTransport, traffic_log
from instruments.transport.factory import parse_can_address
from core.errors import InstrumentInitError, InstrumentOperationError

logging.getLogger("can").setLevel(logging.ERROR)  # python-can's own debug chatter would drown the traffic log


class CanTransport(FrameTransport):
    """Send and receive classical CAN frames on one bus; every frame goes to the traffic log."""

    def __init__(self, role: str, address: str, settings: Mapping[str, Any]) -> None:
        super().__init__(role, float(settings.get("timeout_s", 2.0)))
        self.address = address
        args = parse_can_address(address)
        if "bitrate" in settings and args["interface"] != "socketcand":
            args["bitrate"] = int(settings["bitrate"])
        try:
            self._bus = can.Bus(**args)
        except (can.CanError, OSError, ValueError, ImportError, TimeoutError) as exc:
            raise InstrumentInitError(role, f"cannot open CAN port {address!r}: {exc}") from exc

    def send(self, arbitration_id: int, data: bytes) -> None:
        traffic_log.debug("%s >> %03X %s", self.role, arbitration_id, data.hex(" "))
        try:
            self._bus.send(can.Message(arbitration_id=arbitration_id, data=data, is_extended_id=False))
        except (can.CanError, OSError) as exc:
            raise InstrumentOperationError(self.role, f"sending {arbitration_id:03X} on {self.address} failed: "
                                           f"{exc}") from exc

    def receive(self, timeout_s: float) -> Frame | None:
        try:
            msg = self._bus.recv(timeout=timeout_s)
        except (can.CanError, OSError) as exc:
            raise InstrumentOperationError(self.role, f"receiving on {self.address} failed: {exc}") from exc
        if msg is None or msg.is_error_frame:
            return None
        traffic_log.debug("%s << %03X %s", self.role, msg.arbitration_id, bytes(msg.data).hex(" "))
        return Frame(msg.arbitration_id, bytes(msg.data))

    def close(self) -> None:
        self._bus.shutdown()
