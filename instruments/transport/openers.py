"""How a driver reaches its instrument from an address, and the settings that takes.

A driver class names one `Opener` (`Instrument.opens`); the opener declares the transport's own
settings (a reply timeout, a baud rate, a Modbus id) and opens the transport when the rig opens.
Each opener imports its library only when it opens, so `rig check` can validate a rig file on a
machine without the instruments' libraries.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from core.settings import Setting

SERIAL_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
MODBUS_BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
"""RS485 rates a Modbus RTU device is set to (Modbus over Serial Line V1.02 §2.5.1 names 9600 and 19200
as required; meters and relay modules offer these)."""
MODBUS_PARITIES = ("N", "E", "O")

TIMEOUT_S = Setting("timeout_s", float, "how long to wait for an answer before the instrument is declared "
                    "not answering", unit="s", low=0.0, low_open=True, high=600.0, default=2.0)
BAUDRATE = Setting("baudrate", int, "serial line rate (a serial port or an ASRL VISA resource)",
                   choices=SERIAL_BAUDS, default=115200,
                   expected=f"a baud rate ({', '.join(map(str, SERIAL_BAUDS))})")
VISA_LIBRARY = Setting("visa_library", str, 'the pyvisa library a VISA resource is opened with ("@py" is '
                       'pyvisa-py, "@ivi" the vendor\'s VISA, or a path)', default="@py", check=bool,
                       expected='a pyvisa library ("@py", "@ivi" or a path)')
BITRATE = Setting("bitrate", int, "CAN bit rate (ignored by socketcand, whose server sets it)", unit="bit/s",
                  low=10_000, high=1_000_000)
MODBUS_ID = Setting("id", int, "Modbus unit address", low=1, high=247, default=1)
MODBUS_BAUD = Setting("baud", int, "RS485 rate", choices=MODBUS_BAUDS, default=9600,
                      expected=f"a baud rate ({', '.join(map(str, MODBUS_BAUDS))})")
MODBUS_PARITY = Setting("parity", str, "RS485 parity", choices=MODBUS_PARITIES, default="N")
MODBUS_STOPBITS = Setting("stopbits", int, "RS485 stop bits", choices=(1, 2), default=1)
FRAMER = Setting("framer", str, 'framing on a tcp:// address: "socket" (Modbus TCP) or "rtu" (RTU over TCP)',
                 choices=("socket", "rtu"), default="socket")
CAMERA = (
    Setting("auto_exposure", bool, "keep the camera's auto exposure (false: the exposure stays as set)"),
    Setting("exposure", float, "the camera's exposure, in its backend's unit (V4L2: 100 µs steps)"),
    Setting("gain", float, "the camera's gain", low=0.0),
    Setting("white_balance_k", float, "white balance", unit="K", low=2000.0, high=10000.0),
)


@dataclass(frozen=True)
class Opener:
    """A kind of transport: what addresses it takes, the settings it reads, how it opens."""

    name: str
    addresses: str
    settings: tuple[Setting, ...]
    open: Callable[[str, str, Mapping[str, Any]], Any]
    """(role, address, validated settings) → the transport the driver is constructed with."""


def _lazy(target: str) -> Callable[[str, str, Mapping[str, Any]], Any]:
    """An opener that imports `module:callable` at the first open, never before."""
    def open_(role: str, address: str, settings: Mapping[str, Any]) -> Any:
        module, _, name = target.partition(":")
        return getattr(importlib.import_module(module), name)(role, address, settings)
    return open_


def _address(role: str, address: str, settings: Mapping[str, Any]) -> str:
    return address


LINE = Opener("line", "a VISA resource (TCPIP0::host::port::SOCKET, GPIB0::7::INSTR, ASRL…), a serial port "
              "(/dev/ttyUSB0, COM3) or a pyserial URL (socket://host:port, rfc2217://…)",
              (TIMEOUT_S, BAUDRATE, VISA_LIBRARY), _lazy("instruments.transport.factory:open_line_transport"))
CAN = Opener("can", "can:INTERFACE:CHANNEL (can:socketcan:can0, can:pcan:PCAN_USBBUS1) or "
             "can:socketcand:CHANNEL@HOST:PORT", (TIMEOUT_S, BITRATE),
             _lazy("instruments.transport.can_bus:CanTransport"))
VIDEO = Opener("video", "video:0 (a camera index), video:rtsp://… or video:/path/clip.avi", CAMERA,
               _lazy("instruments.transport.video:VideoTransport"))
MODBUS_MASTER = Opener("modbus-master", "a serial port (RTU on RS485), socket://HOST:PORT (RTU over TCP) or "
                       "tcp://HOST:PORT (Modbus TCP)",
                       (TIMEOUT_S, MODBUS_ID, MODBUS_BAUD, MODBUS_PARITY, MODBUS_STOPBITS),
                       _lazy("instruments.transport.modbus:ModbusMaster"))
MODBUS_SERVER = Opener("modbus-server", "where the rig serves as a Modbus device: a serial port, "
                       "socket://HOST:PORT or tcp://HOST:PORT",
                       tuple(replace(s, default=None, doc=s.doc + " (default: the served model's)")
                             for s in (MODBUS_ID, MODBUS_BAUD, MODBUS_PARITY, MODBUS_STOPBITS)) + (FRAMER,),
                       _lazy("instruments.transport.modbus:ModbusEndpoint"))
BYTE_STREAM = Opener("byte-stream", "a serial port (/dev/ttyACM0, COM3) or a pyserial URL (socket://host:port)",
                     (TIMEOUT_S, BAUDRATE), _lazy("instruments.transport.byte_stream:open_byte_stream"))
LISTEN = Opener("listen", "where the rig listens (ws://HOST:PORT, wss://HOST:PORT)", (), _address)
AUDIO = Opener("audio", "audio:default or audio:DEVICE (a sounddevice name or index)", (), _address)
ETHERNET = Opener("ethernet", "eth:IFACE: a Linux network interface reached with raw frames (a Green PHY modem's "
                  "Ethernet side; the rig needs CAP_NET_RAW)", (), _address)
V2G = Opener("v2g", "udp://HOST:PORT: where the charger's SECC discovery protocol answers (the virtual lab's "
             "sim:secc, or udp://[ff02::1%IFACE]:15118 on a link a Green PHY modem has matched)", (), _address)
