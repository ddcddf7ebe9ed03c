"""`wbr-meter`: the rig's own meter emulator, serving a register map from `maps/` over pymodbus.

Values are computed when a poll arrives, from the latest `GridState` the rig pushed, with a
small seeded measurement noise (a real meter's readings never repeat exactly, and a master that
watches for frozen values must not be fooled by a quiet scenario).
"""

from __future__ import annotations

import random
import threading
from typing import Any

from instruments.meter import FAULTS, GridState, MeterEmulator, quantities
from instruments.meter.registers import DEFAULT_MODEL, MeterMap, load_map, model_names
from instruments.transport.modbus import LineSettings, ModbusEndpoint, rtu_crc
from core.errors import InvalidValue
from core.settings import Setting
from instruments.transport.openers import MODBUS_SERVER

NOISE = 2e-4
"""Relative noise on measured values (about a class-1 meter's last digits)."""
_MEASURED = ("u_", "i_", "p_", "q_", "s_", "f")


class WbrMeterEmulator(MeterEmulator):
    opens = MODBUS_SERVER
    SETTINGS = (
        Setting("model", str, "the meter model served (its register map in instruments/meter/maps/)",
                check=lambda v: v in model_names(), expected="a meter model (" + ", ".join(model_names()) + ")",
                default=DEFAULT_MODEL),
        Setting("seed", int, "the seed of the readings' measurement noise", default=1),
        Setting("serial_number", int, "the serial number the meter reports", low=0, high=2**32 - 1,
                default=12345678),
    )

    def __init__(self, endpoint: ModbusEndpoint) -> None:
        self.endpoint = endpoint
        self.role = endpoint.role
        self._lock = threading.Lock()
        self._state = GridState()
        self._t_s: float | None = None
        self._fault = "none"
        self._frozen: dict[str, float] | None = None
        settings = endpoint.settings
        self._rng = random.Random(int(settings.get("seed", 1)))
        self._serial = int(settings.get("serial_number", 12345678))
        self._map: MeterMap   # set by serve()
        self._line: dict[str, Any] = {}
        self.serve()

    # --- configuration -----------------------------------------------------------------------
    def serve(self, model: str | None = None, **line: object) -> None:
        settings = self.endpoint.settings
        meter = load_map(model or str(settings.get("model", DEFAULT_MODEL)))
        defaults = meter.defaults

        def pick(key: str, kind: type) -> Any:
            value = line.get(key, settings.get(key, defaults.get(key)))
            try:
                return kind(value)
            except (TypeError, ValueError) as exc:
                raise InvalidValue(f"meter {key}: expected {kind.__name__}, found {value!r}") from exc

        unknown = set(line) - {"id", "baud", "parity", "stopbits"}
        if unknown:
            raise InvalidValue(f"meter line settings: unknown {', '.join(sorted(unknown))} (id, baud, parity, stopbits)")
        settings_now = LineSettings(pick("id", int), pick("baud", int), str(pick("parity", str)).upper(),
                                    pick("stopbits", int)).check()
        with self._lock:
            self._map = meter
            self._line = {"model": meter.model, "id": settings_now.device_id, "baud": settings_now.baud,
                          "parity": settings_now.parity, "stopbits": settings_now.stopbits}
        self.endpoint.start(meter.runs(), settings_now, self._read, self._send)

    @property
    def line(self) -> dict[str, object]:
        return dict(self._line)

    @property
    def phases(self) -> int:
        return self._map.phases

    @property
    def meter_map(self) -> MeterMap:
        return self._map

    def update(self, state: GridState, t_s: float) -> None:
        with self._lock:
            if self._t_s is not None and t_s > self._t_s:
                self._state = self._state.advanced(t_s - self._t_s)
            energy = (self._state.e_import_wh, self._state.e_export_wh)
            self._state = GridState(state.u_v, state.i_a, state.p_w, state.f_hz, *energy)
            self._t_s = t_s

    def set_energy(self, import_wh: float, export_wh: float) -> None:
        if not (import_wh >= 0 and export_wh >= 0):
            raise InvalidValue(f"energy registers start at 0 Wh or more, not {import_wh}, {export_wh}")
        with self._lock:
            self._state = GridState(self._state.u_v, self._state.i_a, self._state.p_w, self._state.f_hz,
                                    import_wh, export_wh)

    def set_fault(self, fault: str) -> None:
        if fault not in FAULTS:
            raise InvalidValue(f"meter fault must be one of {', '.join(FAULTS)}, not {fault!r}")
        with self._lock:
            self._fault = fault
            self._frozen = self._values() if fault == "stale" else None

    def listening_port(self) -> int | None:
        return self.endpoint.port

    def polls(self) -> int:
        return self.endpoint.requests()

    def close(self) -> None:
        self.endpoint.close()

    # --- answering ---------------------------------------------------------------------------
    def _values(self) -> dict[str, float]:
        meter = self._map
        values = quantities(self._state, meter.phases, meter.unused_phases)
        for name in values:
            if name.startswith(_MEASURED):
                values[name] *= 1.0 + self._rng.uniform(-NOISE, NOISE)
        codes = meter.codes
        values.update(serial=float(self._serial), line_id=float(self._line["id"]),
                      baud_code=float(codes.get("baud", {}).get(str(self._line["baud"]), 0xFFFF)),
                      parity_code=float(codes.get("parity", {}).get(str(self._line["parity"]), 0xFFFF)))
        return values

    def _read(self, function: int, address: int, count: int) -> list[int] | str:
        meter = self._map
        if function not in meter.functions:
            return "ILLEGAL_FUNCTION"
        with self._lock:
            values = self._frozen if self._frozen is not None else self._values()
            swap = self._fault == "word_order"
        words: dict[int, int] = {}
        for start, filler in meter.runs():
            for k, word in enumerate(filler):
                words[start + k] = word
        for reg in meter.registers:
            if reg.wire + reg.width <= address or reg.wire >= address + count:
                continue
            encoded = reg.encode(reg.value if reg.value is not None else values.get(reg.quantity, 0.0))
            if swap and reg.width == 2 and reg.type != "string":
                encoded = encoded[::-1]
            for k, word in enumerate(encoded):
                words[reg.wire + k] = word
        return [words[a] for a in range(address, address + count)]

    def _send(self, frame: bytes, rtu: bool) -> bytes:
        fault = self._fault
        if fault == "no_answer" or not frame:
            return b""
        if fault == "crc":
            return frame[:-1] + bytes([frame[-1] ^ 0xFF])
        if fault == "wrong_id":
            other = self._line["id"] % 247 + 1
            if rtu:
                body = bytes([other]) + frame[1:-2]
                return body + rtu_crc(body)
            return frame[:6] + bytes([other]) + frame[7:]
        return frame
