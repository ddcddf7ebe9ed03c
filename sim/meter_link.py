"""The simulated wallbox's RS485 port: a pymodbus RTU master polling the Smart-Energy meter.

The firmware's own knowledge of each supported meter (WB-MB-03): which registers it reads and
how it decodes them.  Written from the meter manuals independently of the rig's emulator maps
(it must not import them): two implementations that must agree on the wire.

The line between them is the lab's RS485 converter.  Its UART settings are the bench's; a
frame the wallbox sends with other settings arrives as garbage at the meter (another baud
rate) or is discarded for parity errors (another parity), and the answer fares the same the
other way, so a mismatch is seen as no answer at all, as on a real bus (WB-MB-04).
"""

from __future__ import annotations

import logging
import socket
import struct
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("wallbox_rig.sim")
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)   # a missed poll is the firmware's business, not an error
_FMT = {"f32": ">f", "u32": ">I", "i32": ">i", "u16": ">H", "i16": ">h", "i64": ">q", "u64": ">Q"}


@dataclass(frozen=True)
class Field:
    """One value inside a read: word offset, format, factor to A or W."""

    name: str
    offset: int
    fmt: str
    factor: float


@dataclass(frozen=True)
class Read:
    function: int
    address: int
    count: int
    fields: tuple[Field, ...]


def _currents(offset: int, step: int, fmt: str, factor: float) -> tuple[Field, ...]:
    return tuple(Field(f"i{k}", offset + k * step, fmt, factor) for k in range(3))


# What the firmware polls per meter model: phase voltages (read only to see the meter is alive:
# a live meter's voltages never repeat exactly), phase currents (A) and total active power (W,
# import > 0).
_PRO = (Read(3, 0x5002, 18, (*_currents(10, 2, "f32", 1.0), Field("p", 16, "f32", 1000.0))),)
_JANITZA = (Read(3, 19000, 18, _currents(12, 2, "f32", 1.0)), Read(3, 19026, 2, (Field("p", 0, "f32", 1.0),)))
POLLS: dict[str, tuple[Read, ...]] = {
    "inepro-pro380": _PRO,
    "inepro-pro2": _PRO,
    "janitza-b23": _JANITZA,
    "janitza-b21": _JANITZA,
    # one 60-register read across the 3000 block's gaps (as SmartEVSE does), then total power (kW)
    "schneider-a9mem3150": (Read(3, 2999, 60, _currents(0, 2, "f32", 1.0)),
                            Read(3, 3059, 2, (Field("p", 0, "f32", 1000.0),))),
    # scaled integers: voltage 0.01 V, current 0.1 mA, power 0.01 W
    "siemens-7kt1665": (Read(3, 1, 12, _currents(6, 2, "u32", 1e-4)), Read(3, 57, 2, (Field("p", 0, "i32", 0.01),))),
}


@dataclass(frozen=True)
class UartSettings:
    baud: int
    parity: str
    stopbits: int


@dataclass(frozen=True)
class MeterReading:
    currents_a: tuple[float, float, float]
    power_w: float
    raw: tuple[int, ...]     # every word read: frozen words across polls mean frozen values


def _drain(sock: socket.socket) -> None:
    sock.setblocking(False)
    try:
        while sock.recv(4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass
    finally:
        sock.setblocking(True)


class MeterLink:
    """Opens the port when first needed; every failure is a missed poll (None), never an exception."""

    TIMEOUT_S = 0.03
    """Wall-clock answer timeout of the firmware's master.  The emulator answers in about 1 ms;
    a missed poll is harmless (the meter counts as lost only after `meter_lost_after_s`), and a
    silent meter costs this much wall time per poll."""

    def __init__(self, address: str | None, line: UartSettings | None) -> None:
        self.address, self.line = address, line
        self._client: Any = None
        self._uart: UartSettings | None = None

    def poll(self, model: str, device_id: int, uart: UartSettings) -> MeterReading | None:
        if self.address is None or model not in POLLS:
            return None
        try:
            client = self._open(self.address, uart)
            values: dict[str, float] = {}
            raw: list[int] = []
            _drain(client.socket)   # a late or garbled answer to an earlier poll is not this one's
            for read in POLLS[model]:
                call = client.read_holding_registers if read.function == 3 else client.read_input_registers
                answer = call(read.address, count=read.count, device_id=device_id)
                if answer.isError() or len(answer.registers) != read.count:
                    return None
                raw.extend(answer.registers)
                for f in read.fields:
                    words = answer.registers[f.offset: f.offset + struct.calcsize(_FMT[f.fmt]) // 2]
                    data = b"".join(w.to_bytes(2, "big") for w in words)
                    values[f.name] = struct.unpack(_FMT[f.fmt], data)[0] * f.factor
        except Exception as exc:  # noqa: BLE001 - a bus error is a missed poll to the firmware
            log.debug("meter poll failed: %s", exc)
            return None
        return MeterReading((values["i0"], values["i1"], values["i2"]), values["p"], tuple(raw))

    def _open(self, address: str, uart: UartSettings) -> Any:
        if self._client is not None and uart == self._uart:
            return self._client
        self.close()
        from pymodbus import FramerType
        from pymodbus.client import ModbusTcpClient

        garble = self.line is not None and (uart.baud, uart.parity) != (self.line.baud, self.line.parity)
        parity_only = self.line is not None and uart.baud == self.line.baud

        def line_model(sending: bool, data: bytes) -> bytes:
            if not garble:
                return data
            if parity_only:
                return b""    # every byte fails the receiver's parity check and is discarded
            return bytes((b * 7 + 0x55) & 0xFF for b in data)   # sampled at the wrong bit rate

        # RTU frames over the converter's TCP port.  The socket has no bit timing: the UART settings
        # act through `line_model`, so a poll costs about a millisecond of wall time.
        host, _, port = address.removeprefix("socket://").rpartition(":")
        client = ModbusTcpClient(host, port=int(port), framer=FramerType.RTU, timeout=self.TIMEOUT_S, retries=0,
                                 trace_packet=line_model)
        if not client.connect():
            raise ConnectionError(f"cannot open {address}")
        self._client, self._uart = client, uart
        return client

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # noqa: BLE001
                pass
        self._client = None
