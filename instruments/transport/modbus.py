"""pymodbus behind one module: the register server the meter emulator answers through, and the
client the rig uses as master of a relay module or a chamber controller (`ModbusMaster`).

Where it listens comes from the address's form: a serial port (`/dev/ttyUSB0`, `COM3`: RTU on
RS485), `socket://HOST:PORT` (RTU framing over TCP, as a serial-to-Ethernet converter or the
virtual lab's RS485 line carries it), or `tcp://HOST:PORT` (Modbus TCP; `framer = "rtu"` in the
settings serves RTU framing there instead).  The register layout is pymodbus `SimDevice`/`SimData`
data; a read is answered by a callback that computes the words when asked; anything outside
the declared ranges is an illegal address.  A meter answers only its own id, as on a real bus.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from core.errors import InstrumentInitError, InvalidValue

log = logging.getLogger("wallbox_rig.traffic")

ADDRESS_FORMS = "a serial port (/dev/ttyUSB0, COM3), socket://HOST:PORT (RTU over TCP) or tcp://HOST:PORT (Modbus TCP)"
PARITIES = ("N", "E", "O")
BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)

ReadHandler = Callable[[int, int, int], "list[int] | str"]
"""(function code, first wire address, count) → the words, or the name of a Modbus exception."""
PacketHook = Callable[[bytes, bool], bytes]
"""(frame as it would go out, RTU framing?) → the frame that goes out (b"" for none)."""


@dataclass(frozen=True)
class LineSettings:
    device_id: int
    baud: int
    parity: str
    stopbits: int

    def check(self) -> LineSettings:
        if not 1 <= self.device_id <= 247:
            raise InvalidValue(f"meter id must be 1…247 (Modbus unit addresses), not {self.device_id}")
        if self.baud not in BAUDS:
            raise InvalidValue(f"meter baud rate must be one of {', '.join(map(str, BAUDS))}, not {self.baud}")
        if self.parity not in PARITIES:
            raise InvalidValue(f"meter parity must be N, E or O, not {self.parity!r}")
        if self.stopbits not in (1, 2):
            raise InvalidValue(f"meter stop bits must be 1 or 2, not {self.stopbits}")
        return self


def address_problem(address: str) -> str | None:
    if address.startswith(("socket://", "tcp://")):
        host, _, port = address.split("://", 1)[1].rpartition(":")
        return None if host and port.isdigit() else ADDRESS_FORMS
    if address.startswith(("/dev/", "COM")):
        return None
    return ADDRESS_FORMS


TABLES = ("coils", "discrete_inputs", "holding_registers", "input_registers")
"""The four tables of a Modbus device (Modbus Application Protocol V1.1b3 §4.3)."""
FC_TABLE = {1: "coils", 5: "coils", 15: "coils", 2: "discrete_inputs", 3: "holding_registers",
            6: "holding_registers", 16: "holding_registers", 4: "input_registers"}


class DeviceModel(Protocol):
    """What a served Modbus device holds, asked when a request arrives and told when one writes.

    Answers are pulled from the model (a meter's reading, a chamber's air temperature, a relay's
    state are the world's, not a copy); a string answer is the name of a Modbus exception
    (`ILLEGAL_ADDRESS`, `ILLEGAL_VALUE`, …) the device returns instead."""

    def ranges(self, table: str) -> Sequence[tuple[int, int]]:
        """(first address, count) of what exists in `table`; anything else is an illegal address."""

    def read(self, fc: int, address: int, count: int) -> list[int] | list[bool] | str:
        """`count` words or bits of the table `fc` reads, from `address`."""

    def write(self, fc: int, address: int, values: list[int] | list[bool]) -> str | None:
        """Apply a master's write; None, or the exception the device answers (then nothing changes)."""


class ModbusEndpoint:
    """Where the meter emulator serves; nothing is opened until `start`."""

    def __init__(self, role: str, address: str, settings: Mapping[str, Any]) -> None:
        if address_problem(address):
            raise InvalidValue(f"{role}: cannot serve Modbus on {address!r}: expected {ADDRESS_FORMS}")
        self.role, self.address, self.settings = role, address, dict(settings)
        self._server: ModbusServer | None = None

    @property
    def rtu(self) -> bool:
        return not self.address.startswith("tcp://") or self.settings.get("framer", "socket") == "rtu"

    def start(self, runs: list[tuple[int, list[int]]], line: LineSettings, on_read: ReadHandler,
              on_send: PacketHook) -> None:
        """Serve a meter: `runs` of registers that FC3 and FC4 both read (a meter's map is one address
        space), computed by `on_read` when polled; a meter takes no writes."""
        self.stop()
        self._server = ModbusServer(self.role, self.address, _MeterModel(runs, on_read), line.check(),
                                    rtu=self.rtu, shared=True, on_send=lambda data: on_send(data, self.rtu))
        if self.address.endswith(":0") and self._server.port:
            # a port the kernel picked is kept: a restart (new line settings) listens where the DUT dials
            self.address = f"{self.address[:-2]}:{self._server.port}"

    @property
    def port(self) -> int | None:
        return self._server.port if self._server else None

    def requests(self) -> int:
        return self._server.requests if self._server else 0

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def close(self) -> None:
        self.stop()


class _MeterModel:
    def __init__(self, runs: list[tuple[int, list[int]]], on_read: ReadHandler) -> None:
        self.runs, self.on_read = runs, on_read

    def ranges(self, table: str) -> Sequence[tuple[int, int]]:
        return [(start, len(words)) for start, words in self.runs] if table.endswith("registers") else []

    def read(self, fc: int, address: int, count: int) -> list[int] | list[bool] | str:
        return self.on_read(fc, address, count)

    def write(self, fc: int, address: int, values: list[int] | list[bool]) -> str | None:
        return "ILLEGAL_FUNCTION"   # a meter's measurements are read-only


def _pymodbus() -> Any:
    import pymodbus.exceptions
    import pymodbus.server
    import pymodbus.simulator
    import pymodbus.simulator.simcore
    from pymodbus import FramerType
    from pymodbus.constants import ExcCodes
    return pymodbus, FramerType, ExcCodes


class ModbusServer:
    """One Modbus device served by pymodbus on its own asyncio loop thread: the meter emulator (the
    rig as the DUT's meter) and the virtual lab's relay module and chamber controller.

    `address`: `tcp://HOST:PORT` to listen on (Modbus TCP, or RTU framing over TCP with `rtu`; port 0
    picks a free one), or a serial port or pyserial URL (`socket://HOST:PORT`: a serial-to-Ethernet
    converter's port, as the virtual lab's RS485 line) to serve RTU on at `line`'s settings.  `shared`: one register space for every function code (a meter's
    map), else the four tables apart.  Only `model`'s device id answers; a request for another id gets
    no answer at all, as on a bus.  `on_send` may change a frame as it goes out (a fault model)."""

    def __init__(self, role: str, address: str, model: DeviceModel, line: LineSettings, *, rtu: bool,
                 shared: bool = False, on_send: Callable[[bytes], bytes] | None = None) -> None:
        pymodbus, framer_type, exc_codes = _pymodbus()
        sim = pymodbus.simulator
        from pymodbus.simulator.simcore import SimCore
        from pymodbus.simulator.simutils import SimUtils
        self.requests = 0
        self.port: int | None = None
        self._loop = asyncio.new_event_loop()
        server_ref = self

        def inside(table: str, address: int, count: int) -> bool:
            return any(first <= address and address + count <= first + n for first, n in model.ranges(table))

        async def action(fc: int, start: int, address: int, count: int, registers: list[int],
                         values: list[int] | list[bool] | None) -> Any:
            table = FC_TABLE.get(fc, "")
            bits = table in ("coils", "discrete_inputs")
            if values is not None:
                if not inside(table, address, len(values)):
                    return exc_codes.ILLEGAL_ADDRESS
                refused = model.write(fc, address, list(values))
                return getattr(exc_codes, refused) if refused else None
            if bits:   # `count` is in 16-bit words here: the whole table is read fresh and packed
                for first, n in model.ranges(table):
                    got = model.read(fc, first, n)
                    if isinstance(got, str):
                        return getattr(exc_codes, got)
                    padded = [False] * (first % 16) + [bool(b) for b in got]
                    padded += [False] * (-len(padded) % 16)
                    words = SimUtils.bitsToRegisters(padded)
                    offset = first // 16 - start
                    registers[offset: offset + len(words)] = words
                return None
            if not shared and not inside(table, address, count):
                return exc_codes.ILLEGAL_ADDRESS
            got = model.read(fc, address, count)
            if isinstance(got, str):
                return getattr(exc_codes, got)
            registers[address - start: address - start + count] = [int(w) for w in got]
            return None

        class StrictCore(SimCore):
            """Only the configured id answers: a request for another id gets no answer at all."""

            async def async_getValues(self, device_id: int, func_code: int, address: int, count: int = 1) -> Any:
                if device_id not in self.devices:
                    raise pymodbus.exceptions.NoSuchIdException(str(device_id))
                server_ref.requests += 1
                return await super().async_getValues(device_id, func_code, address, count)

            async def async_setValues(self, device_id: int, func_code: int, address: int, values: Any) -> Any:
                if device_id not in self.devices:
                    raise pymodbus.exceptions.NoSuchIdException(str(device_id))
                server_ref.requests += 1
                return await super().async_setValues(device_id, func_code, address, values)

        def blocks(table: str) -> list[Any]:
            kind = sim.DataType.BITS if table in ("coils", "discrete_inputs") else sim.DataType.REGISTERS
            fill: Any = False if kind == sim.DataType.BITS else 0
            ranges = list(model.ranges(table)) or [(0, 1)]   # pymodbus wants every table; `inside` refuses it
            return [sim.SimData(first, values=[fill] * n, datatype=kind) for first, n in ranges]

        simdata: Any = (blocks("holding_registers") if shared
                        else tuple(blocks(table) for table in TABLES))
        device = sim.SimDevice(id=line.device_id, simdata=simdata, action=action)

        def trace(sending: bool, data: bytes) -> bytes:
            return on_send(data) if sending and on_send is not None else data

        common: dict[str, Any] = {"ignore_missing_devices": True, "trace_packet": trace}
        if address.startswith("tcp://"):
            host, _, port = address[6:].rpartition(":")
            framer = framer_type.RTU if rtu else framer_type.SOCKET
            make = lambda: pymodbus.server.ModbusTcpServer(device, framer=framer, address=(host, int(port)), **common)  # noqa: E731
        else:
            make = lambda: pymodbus.server.ModbusSerialServer(  # noqa: E731
                device, framer=framer_type.RTU, port=address, baudrate=line.baud, parity=line.parity,
                stopbits=line.stopbits, **common)
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            try:
                self._server = make()
                self._server.context = StrictCore(device)
                await self._server.serve_forever(background=True)
                sockets = getattr(self._server.transport, "sockets", None)
                if sockets:
                    self.port = sockets[0].getsockname()[1]
            except BaseException as exc:  # noqa: BLE001 - reported to the opening thread
                failure.append(exc)
            finally:
                ready.set()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.create_task(main())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"{role}-modbus", daemon=True)
        self._thread.start()
        if not ready.wait(10.0) or failure:
            self.stop()
            why = failure[0] if failure else "no answer from the server thread within 10 s"
            raise InstrumentInitError(role, f"cannot serve Modbus on {address}: {why}")

    def stop(self) -> None:
        async def shutdown() -> None:
            server = getattr(self, "_server", None)
            if server is not None:
                await server.shutdown()

        if self._loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5.0)
            except Exception as exc:  # noqa: BLE001 - stopping must go on
                log.warning("stopping the Modbus server: %s", exc)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5.0)


def rtu_crc(frame: bytes) -> bytes:
    """The RTU CRC of `frame` (pymodbus's own), low byte first, to re-seal an edited frame."""
    from pymodbus.framer.rtu import FramerRTU
    return FramerRTU.compute_CRC(frame).to_bytes(2, "big")


class ModbusMaster:
    """The rig as Modbus master (a relay module, a chamber controller): pymodbus's client, kept here.

    `socket://HOST:PORT` carries RTU framing over TCP (a serial-to-Ethernet converter, the virtual
    lab), `tcp://HOST:PORT` Modbus TCP, a serial port RTU on RS485.  Every request is answered
    (coil writes echo), so a write is applied when its call returns."""

    def __init__(self, role: str, address: str, settings: Mapping[str, Any]) -> None:
        if address_problem(address):
            raise InvalidValue(f"{role}: cannot reach a Modbus device at {address!r}: expected {ADDRESS_FORMS}")
        from pymodbus import FramerType
        from pymodbus.client import ModbusSerialClient, ModbusTcpClient
        self.role, self.address = role, address
        self.device_id = int(settings.get("id", 1))
        timeout = float(settings.get("timeout_s", 2.0))
        self.url = address
        if address.startswith(("socket://", "tcp://")):
            host, _, port = address.split("://", 1)[1].rpartition(":")
            framer = FramerType.SOCKET if address.startswith("tcp://") else FramerType.RTU
            self._client: Any = ModbusTcpClient(host, port=int(port), framer=framer, timeout=timeout, retries=0)
        else:
            self._client = ModbusSerialClient(address, framer=FramerType.RTU, baudrate=int(settings.get("baud", 9600)),
                                              parity=str(settings.get("parity", "N")),
                                              stopbits=int(settings.get("stopbits", 1)), timeout=timeout, retries=0)
        if not self._client.connect():
            raise InstrumentInitError(role, f"cannot connect to the Modbus device at {address}")

    def _call(self, what: str, request: Callable[[], Any]) -> Any:
        from pymodbus.exceptions import ModbusException
        from core.errors import InstrumentOperationError
        try:
            response = request()
        except ModbusException as exc:
            raise InstrumentOperationError(self.role, f"{what} at {self.address} (id {self.device_id}): {exc}") from exc
        if response.isError():
            raise InstrumentOperationError(self.role, f"{what} refused by id {self.device_id}: {response}")
        return response

    def read_coils(self, first: int, count: int) -> list[bool]:
        """FC01."""
        r = self._call(f"read coils {first}+{count}",
                       lambda: self._client.read_coils(first, count=count, device_id=self.device_id))
        return [bool(b) for b in r.bits[:count]]

    def read_inputs(self, first: int, count: int) -> list[bool]:
        """FC02."""
        r = self._call(f"read discrete inputs {first}+{count}",
                       lambda: self._client.read_discrete_inputs(first, count=count, device_id=self.device_id))
        return [bool(b) for b in r.bits[:count]]

    def write_coil(self, address: int, on: bool) -> None:
        """FC05."""
        self._call(f"write coil {address}", lambda: self._client.write_coil(address, on, device_id=self.device_id))

    def write_coils(self, first: int, values: list[bool]) -> None:
        """FC15."""
        self._call(f"write coils {first}+{len(values)}",
                   lambda: self._client.write_coils(first, values, device_id=self.device_id))

    def read_registers(self, first: int, count: int) -> list[int]:
        """FC03."""
        r = self._call(f"read holding registers {first}+{count}",
                       lambda: self._client.read_holding_registers(first, count=count, device_id=self.device_id))
        return list(r.registers)

    def write_registers(self, first: int, words: list[int]) -> None:
        """FC16."""
        self._call(f"write registers {first}+{len(words)}",
                   lambda: self._client.write_registers(first, words, device_id=self.device_id))

    def close(self) -> None:
        self._client.close()
