"""The virtual lab's bench of bought parts: a DAQ970A switch unit, a Modbus relay module, an
InfiniiVision scope, a DC source and a fourth Chroma load unit for leakage, wired to the plant.

The wiring is this bench's own (what the relays are soldered to); a rig file describes it in its
`[wiring]` table, and a rig file that gets it wrong finds out as on a real bench.
"""

from __future__ import annotations

import math
import socketserver
import struct
import threading
from dataclasses import dataclass

import numpy as np

from sim.cp_circuit import parallel
from sim.plant import Plant
from sim.scpi import ScpiFrontEnd
from sim.server import LOOPBACK, _Server
from sim.world import World

# --- the virtual bench's wiring: relay n of the module is DAQ channel 100 + n ---------------
CP_RESISTORS = {101: 2740.0, 102: 1300.0, 103: 270.0, 104: 1870.0, 105: 4610.0, 106: 909.0, 107: 1723.0}
"""Resistors from the vehicle diode's cathode to PE: R3, R2, R2 for D, the ends of the B band, and
the R2 ends of the C band (each switched in alongside R3)."""
PP_RESISTORS = {111: 1500.0, 112: 680.0, 113: 220.0, 114: 100.0, 115: 50.0, 116: 1000.0, 117: 3000.0,
                118: 6800.0}
"""PP–PE coding resistors: the four Type 2 codings and values outside every window."""
CP_SHORT, DIODE_BYPASS, VEHICLE_PE_OPEN = 108, 109, 110
SUPPLY_PE_OPEN, WELD = 119, (120, 121, 122)
PS1, PS2 = 123, 124
PP_SENSE = 201
"""A DMM channel across the vehicle connector's PP and PE."""
RELAYS = 32


class VirtualBench:
    """The relays' state, applied to the plant whenever one moves."""

    def __init__(self, world: World, plant: Plant) -> None:
        self.world, self.plant = world, plant
        self.closed: set[int] = set()

    def set(self, channels: list[int], closed: bool) -> None:
        if closed:
            self.closed.update(channels)
        else:
            self.closed.difference_update(channels)
        self._apply()

    def _apply(self) -> None:
        v, inj = self.plant.vehicle, self.plant.injection
        on = self.closed
        cp = [ohm for ch, ohm in CP_RESISTORS.items() if ch in on]
        v.r_ohm = parallel(*cp) if cp else None
        v.shorted = CP_SHORT in on
        v.diode_ok = DIODE_BYPASS not in on
        v.pe_ok = VEHICLE_PE_OPEN not in on
        v.state = "E" if v.shorted else "R" if cp else "A"
        pp = [ohm for ch, ohm in PP_RESISTORS.items() if ch in on]
        v.pp_ohm = parallel(*pp) if pp else None
        inj.pe_open = SUPPLY_PE_OPEN in on
        inj.weld = [ch in on for ch in WELD]
        inj.grid_contact = (PS1 in on, PS2 in on)
        self.world.record("relays", closed=sorted(on))
        self.plant.changed()


def _channels(args: list[str]) -> list[int] | None:
    text = ",".join(args).strip()
    if not (text.startswith("(@") and text.endswith(")")):
        return None
    out = []
    for part in text[2:-1].split(","):
        if ":" in part:
            a, _, b = part.partition(":")
            if not (a.isdigit() and b.isdigit()):
                return None
            out.extend(range(int(a), int(b) + 1))
        elif part.strip().isdigit():
            out.append(int(part))
        else:
            return None
    return out


class SimDaq970(ScpiFrontEnd):
    """DAQ970A with a 40-channel switch module in slot 1 and a DMM input on 201."""

    name = "switch"
    idn = "Keysight Technologies,DAQ970A,SIM00001,A.01.00"

    def __init__(self, world: World, bench: VirtualBench) -> None:
        super().__init__(world)
        self.bench = bench
        self.command("ROUTe:CLOSe", lambda s, a: self._route(a, True))
        self.command("ROUTe:OPEN", lambda s, a: self._route(a, False))
        self.command("ROUTe:CLOSe?", self._query)
        self.command("MEASure:RESistance?", self._resistance)

    def _valid(self, args: list[str]) -> list[int] | None:
        chans = _channels(args)
        if chans is None or not all(101 <= c <= 140 for c in chans):
            self.errors.append('-221,"Settings conflict; channel not on a switch module"')
            return None
        return chans

    def _route(self, args: list[str], closed: bool) -> None:
        chans = self._valid(args)
        if chans is not None:
            self.bench.set(chans, closed)

    def _query(self, s: str, args: list[str]) -> str:
        chans = self._valid(args)
        if chans is None:
            return ""
        return ",".join("1" if c in self.bench.closed else "0" for c in chans)

    def _resistance(self, s: str, args: list[str]) -> str:
        chans = _channels(args)
        if chans != [PP_SENSE]:
            self.errors.append('-221,"Settings conflict; not a DMM channel"')
            return "+9.90000000E+37"
        pp = self.bench.plant.pp_ohm()
        if pp is None:
            return "+9.90000000E+37"
        return f"{pp * (1 + self.world.rng.gauss(0, 2e-4)):+.8E}"


# --- the Modbus RTU relay module (RTU framing over TCP, as a serial-to-Ethernet converter) -----
def crc16(frame: bytes) -> bytes:
    """Modbus RTU CRC-16 (polynomial 0xA001, initial 0xFFFF), low byte first (Modbus over Serial Line V1.02, §6.2.2)."""
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


class SimRelayBoard:
    """Coils 0…31 are relays 1…32 (= DAQ channels 101…132 of this bench); input 0 is the interlock loop."""

    def __init__(self, world: World, bench: VirtualBench, device_id: int = 1, port: int = 0) -> None:
        self.world, self.bench, self.device_id = world, bench, device_id
        self.interlock_closed = True
        board = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                buffer = b""
                while True:
                    chunk = self.request.recv(256)
                    if not chunk:
                        return
                    buffer += chunk
                    while len(buffer) >= 8:
                        size = board.request_size(buffer)
                        if size is None or len(buffer) < size:
                            break
                        frame, buffer = buffer[:size], buffer[size:]
                        if crc16(frame[:-2]) != frame[-2:]:
                            continue   # a corrupt frame gets no answer, as on the wire
                        with world.lock:
                            answer = board.answer(frame[:-2])
                        if answer:
                            self.request.sendall(answer + crc16(answer))

        self._server = _Server((LOOPBACK, port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True,
                         name="sim-relays").start()

    @property
    def address(self) -> str:
        return f"socket://{LOOPBACK}:{self.port}"

    @staticmethod
    def request_size(buffer: bytes) -> int | None:
        fc = buffer[1]
        if fc in (1, 2, 5):
            return 8
        if fc == 15 and len(buffer) >= 7:
            return 9 + buffer[6]
        return None if fc == 15 else 8

    def answer(self, pdu_frame: bytes) -> bytes:
        unit, fc = pdu_frame[0], pdu_frame[1]
        if unit != self.device_id:
            return b""
        first, count = struct.unpack(">HH", pdu_frame[2:6])
        if fc in (1, 2):
            if count < 1 or first + count > RELAYS:
                return bytes((unit, fc | 0x80, 2))
            bits = [100 + first + k + 1 in self.bench.closed for k in range(count)] if fc == 1 \
                else [self.interlock_closed if first + k == 0 else False for k in range(count)]
            data = bytearray((count + 7) // 8)
            for k, bit in enumerate(bits):
                if bit:
                    data[k // 8] |= 1 << (k % 8)
            return bytes((unit, fc, len(data))) + bytes(data)
        if fc == 5:
            value = count
            if first >= RELAYS or value not in (0x0000, 0xFF00):
                return bytes((unit, fc | 0x80, 3 if value not in (0x0000, 0xFF00) else 2))
            self.bench.set([101 + first], value == 0xFF00)
            return pdu_frame[:6]
        if fc == 15:
            data = pdu_frame[7:]
            if count < 1 or first + count > RELAYS:
                return bytes((unit, fc | 0x80, 2))
            on = [101 + first + k for k in range(count) if data[k // 8] >> (k % 8) & 1]
            off = [101 + first + k for k in range(count) if not data[k // 8] >> (k % 8) & 1]
            self.bench.set(off, False)
            self.bench.set(on, True)
            return pdu_frame[:6]
        return bytes((unit, fc | 0x80, 1))

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- the oscilloscope --------------------------------------------------------------------------
@dataclass
class _Segment:
    t_s: float
    cp_mode: str
    cp_high: float
    cp_low: float
    pwm_hz: float
    duty: float
    out_peak_v: float
    mains_hz: float
    leak_ma: float


class SignalHistory:
    """What the scope's probes see, as piecewise-constant states: exact means over any interval."""

    def __init__(self, world: World, plant: Plant) -> None:
        self.world, self.plant = world, plant
        self.segments: list[_Segment] = []
        self._cum: list[tuple[float, float]] = []   # integral of CP and output up to each segment's start
        plant.listen(self._record)
        self._record()

    def _state(self) -> _Segment:
        p, gen = self.plant, self.plant.generator
        high, low = p.cp()
        mode = "pwm" if gen.mode == "pwm" else "dc"
        return _Segment(self.world.now, mode, high, low, gen.frequency_hz, gen.duty_pct / 100.0,
                        math.sqrt(2) * p.output_voltage_v(0), p.mains.frequency_hz,
                        p.residual_flowing_ma("ac") + p.residual_flowing_ma("dc"))

    @staticmethod
    def _key(seg: _Segment) -> tuple[object, ...]:
        return (seg.cp_mode, seg.cp_high, seg.cp_low, seg.pwm_hz, seg.duty, seg.out_peak_v, seg.mains_hz,
                seg.leak_ma)

    def _record(self) -> None:
        seg = self._state()
        if not self.segments:
            self.segments.append(seg)
            self._cum.append((0.0, 0.0))
            return
        last = self.segments[-1]
        if self._key(last) == self._key(seg):
            return
        if last.t_s == seg.t_s:        # changed again at the same instant: the later state holds
            self.segments[-1] = seg
            return
        cp0, out0 = self._cum[-1]
        self._cum.append((cp0 + _cp_integral(last, seg.t_s) - _cp_integral(last, last.t_s),
                          out0 + _out_integral(last, seg.t_s) - _out_integral(last, last.t_s)))
        self.segments.append(seg)

    def integral(self, what: str, t: np.ndarray) -> np.ndarray:
        """∫ signal dt from the first segment to each t (ascending; `what`: "cp" or "out")."""
        starts = np.array([s.t_s for s in self.segments[-4096:]]) if len(self.segments) > 4096 else \
            np.array([s.t_s for s in self.segments])
        if len(t) and len(starts) and t[0] < starts[0]:   # an old window: look through every segment
            starts = np.array([s.t_s for s in self.segments])
        offset = len(self.segments) - len(starts)
        cuts = np.searchsorted(t, starts[1:], side="left")
        out = np.empty_like(t)
        f = _cp_integral if what == "cp" else _out_integral
        lo = 0
        first = max(0, int(np.searchsorted(starts, t[0], side="right")) - 1) if len(t) else 0
        for index in range(first, len(starts)):
            hi = int(cuts[index]) if index < len(cuts) else len(t)
            if hi > lo:
                seg = self.segments[offset + index]
                base = self._cum[offset + index][0 if what == "cp" else 1]
                out[lo:hi] = base + f(seg, t[lo:hi]) - f(seg, seg.t_s)
                lo = hi
            if lo >= len(t):
                break
        return out


def _cp_integral(seg: _Segment, t):  # type: ignore[no-untyped-def]
    if seg.cp_mode != "pwm":
        return seg.cp_high * t
    f, d = seg.pwm_hz, seg.duty
    cycles = np.floor(np.asarray(t) * f)
    frac = np.asarray(t) * f - cycles
    high_time = (cycles * d + np.minimum(frac, d)) / f
    return seg.cp_low * t + (seg.cp_high - seg.cp_low) * high_time


def _out_integral(seg: _Segment, t):  # type: ignore[no-untyped-def]
    if seg.out_peak_v == 0:
        return 0.0 * np.asarray(t)
    w = 2 * math.pi * seg.mains_hz
    return -seg.out_peak_v * np.cos(w * np.asarray(t)) / w


class SimScope(ScpiFrontEnd):
    """InfiniiVision X-Series: a running high-resolution record of CP (channel 1) and the
    vehicle-side L1 (channel 2), readable through any horizontal window; points not yet
    acquired are holes (0x0000)."""

    name = "scope"
    idn = "KEYSIGHT TECHNOLOGIES,DSOX4024A,SIM00001,07.50"
    NOISE_V = {1: 0.005, 2: 0.3}

    def __init__(self, world: World, plant: Plant) -> None:
        super().__init__(world)
        self.plant = plant
        self.history = SignalHistory(world, plant)
        self.t_run = 0.0
        self._noise = np.random.default_rng(world.rng.getrandbits(64))
        self.scale = {1: 4.0, 2: 100.0, 3: 1.0, 4: 1.0}
        self.position, self.range, self.points, self.source = 0.0, 1.0, 1000, 1
        for pattern in (":CHANnel<n>:PROBe", ":CHANnel<n>:OFFSet", ":CHANnel<n>:DISPlay", ":ACQuire:TYPE",
                        ":TIMebase:MODE", ":TIMebase:REFerence", ":WAVeform:FORMat", ":WAVeform:BYTeorder",
                        ":WAVeform:UNSigned", ":STOP"):
            self.command(pattern, lambda s, a: None)
        self.command(":RUN", self._run)
        self.command(":CHANnel<n>:SCALe", self._scale)
        self.command(":TIMebase:POSition", lambda s, a: self._set("position", a))
        self.command(":TIMebase:RANGe", lambda s, a: self._set("range", a))
        self.command(":WAVeform:POINts", lambda s, a: self._set("points", a))
        self.command(":WAVeform:SOURce", self._source)
        self.command(":WAVeform:PREamble?", self._preamble)
        self.command(":WAVeform:DATA?", self._data)
        for item in ("VTOP", "VBASe", "FREQuency", "DUTYcycle", "VRMS"):
            self.command(f":MEASure:{item}?", lambda s, a, item=item: self._measure(item, a))

    def _run(self, s: str, a: list[str]) -> None:
        self.t_run = self.world.now

    def _scale(self, suffix: str, a: list[str]) -> None:
        try:
            self.scale[int(suffix)] = float(a[0])
        except (ValueError, IndexError, KeyError):
            self.bad_value()

    def _set(self, key: str, a: list[str]) -> None:
        try:
            value = float(a[0])
        except (ValueError, IndexError):
            self.bad_value()
            return
        if key == "points":
            if not 1 <= value <= 8_000_000:
                self.bad_value()
                return
            value = int(value)
        if key == "range" and not value > 0:
            self.bad_value()
            return
        setattr(self, key, value)

    def _source(self, s: str, a: list[str]) -> None:
        arg = a[0].upper() if a else ""
        for n in (1, 2, 3, 4):
            if arg in (f"CHAN{n}", f"CHANNEL{n}"):
                self.source = n
                return
        self.bad_value()

    def _y(self) -> tuple[float, float]:
        inc = 8 * self.scale[self.source] / 65536
        return inc, 32768.0

    def _preamble(self, s: str, a: list[str]) -> str:
        inc, ref = self._y()
        return (f"+1,+3,+{self.points},+1,{self.range / self.points:+.9E},{self.position:+.9E},+0,"
                f"{inc:+.9E},+0.0E+00,+{int(ref)}")

    def _data(self, s: str, a: list[str]) -> bytes:
        n, dt = self.points, self.range / self.points
        edges = self.t_run + self.position + dt * np.arange(n + 1)
        acquired = edges[1:] <= self.world.now + 1e-12
        values = np.zeros(n)
        if self.source in (1, 2):
            lo, hi = edges[:-1][acquired], edges[1:][acquired]
            if len(lo):
                what = "cp" if self.source == 1 else "out"
                integral = self.history.integral(what, np.concatenate((lo, hi[-1:])))
                values[acquired] = np.diff(integral) / dt
        values += self._noise.normal(0.0, self.NOISE_V.get(self.source, 0.001), n)
        inc, ref = self._y()
        codes = np.clip(np.round(values / inc + ref), 1, 65535).astype(">u2")
        codes[~acquired] = 0
        raw = codes.tobytes()
        header = str(len(raw)).encode()
        return b"#" + str(len(header)).encode() + header + raw

    def _measure(self, item: str, args: list[str]) -> str:
        channel = args[0].upper().removeprefix("CHANNEL").removeprefix("CHAN") if args else ""
        noise = self.world.rng.gauss
        if channel == "1":
            high, low = self.plant.cp()
            gen = self.plant.generator
            pwm = gen.mode == "pwm"
            value = {"VTOP": high + noise(0, 0.01), "VBASe": (low if pwm else high) + noise(0, 0.01),
                     "FREQuency": gen.frequency_hz * (1 + noise(0, 1e-5)) if pwm else 9.9e37,
                     "DUTYcycle": gen.duty_pct + noise(0, 0.01) if pwm else 9.9e37,
                     "VRMS": math.sqrt(high * high * gen.duty_pct / 100 + low * low * (1 - gen.duty_pct / 100))
                     if pwm else abs(high)}[item]
        elif channel == "2":
            v = self.plant.output_voltage_v(0)
            value = {"VRMS": v * (1 + noise(0, 2e-4))}.get(item, 9.9e37)
        else:
            self.bad_value()
            return "+9.9E+37"
        return f"{value:+.6E}"


class _LeakagePath(ScpiFrontEnd):
    """A source of current from vehicle-side L1 to PE; it flows only while L1 is live (plant)."""

    channel = "ac"

    def __init__(self, world: World, plant: Plant) -> None:
        super().__init__(world)
        self.plant = plant
        self.set_a, self.on = 0.0, False

    def _apply(self) -> None:
        self.plant.injection.residual_ma[self.channel] = self.set_a * 1000.0 if self.on else 0.0
        self.world.record("leakage", channel=self.channel, ma=self.plant.injection.residual_ma[self.channel])
        self.plant.changed()

    def _current(self, s: str, a: list[str]) -> None:
        try:
            value = float(a[0])
        except (IndexError, ValueError):
            self.bad_value()
            return
        if not 0 <= value <= 10:
            self.bad_value()
            return
        self.set_a = value
        self._apply()

    def _switch(self, a: list[str], on_words: tuple[str, ...]) -> None:
        arg = a[0].upper() if a else ""
        if arg not in (*on_words, "OFF", "0"):
            self.bad_value()
            return
        self.on = arg in on_words
        self._apply()

    def _flowing_a(self) -> str:
        return f"{self.plant.residual_flowing_ma(self.channel) / 1000.0:.6f}"


class SimLeakageLoad(_LeakagePath):
    """A fourth Chroma 63800 unit, wired from vehicle-side L1 to PE."""

    name = "leak"
    idn = "CHROMA,63802,SIM00004,1.00"

    def __init__(self, world: World, plant: Plant) -> None:
        super().__init__(world, plant)
        self.command("MODE", lambda s, a: None if a and a[0].upper() in ("CURR", "CC") else self.bad_value())
        self.command("CURRent", self._current)
        self.command("LOAD", lambda s, a: self._switch(a, ("ON",)))
        self.command("MEASure:CURRent?", lambda s, a: self._flowing_a())


class SimDcSource(_LeakagePath):
    """An E36100B supply in constant current on the leakage path (through its decoupling)."""

    name = "dc_source"
    idn = "Keysight Technologies,E36103B,SIM00001,1.0.0"
    channel = "dc"

    def __init__(self, world: World, plant: Plant) -> None:
        super().__init__(world, plant)
        self.command("VOLTage", lambda s, a: None)
        self.command("CURRent", self._current)
        self.command("OUTPut", lambda s, a: self._switch(a, ("ON", "1")))
        self.command("MEASure:CURRent?", lambda s, a: self._flowing_a())
