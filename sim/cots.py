"""The virtual lab's bench of bought parts: a DAQ970A switch unit, a Modbus relay module, an
InfiniiVision scope, a DC source and a fourth Chroma load unit for leakage, wired to the plant.

The wiring is this bench's own (what the relays are soldered to); a rig file describes it in its
`[wiring]` table, and a rig file that gets it wrong finds out as on a real bench.
"""

from __future__ import annotations

import bisect
import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from instruments.facts import accuracy_bound, fact
from instruments.transport.modbus import LineSettings, ModbusServer
from sim.cp_circuit import R_GENERATOR_OHM, parallel
from sim.plant import Plant
from sim.rfid import FieldCard
from sim.scpi import ScpiFrontEnd
from sim.server import LOOPBACK
from sim.world import Event, World

# --- the virtual bench's wiring: relay n of the module is DAQ channel 100 + n ---------------
CP_RESISTORS = {101: 2740.0, 102: 1300.0, 103: 270.0, 104: 1870.0, 105: 4610.0, 106: 909.0, 107: 1723.0}
"""Resistors from the vehicle diode's cathode to PE: R3, R2, R2 for D, the ends of the B band, and
the R2 ends of the C band (each switched in alongside R3)."""
PP_RESISTORS = {111: 1500.0, 112: 680.0, 113: 220.0, 114: 100.0, 115: 48.0, 116: 5400.0}
"""PP–PE coding resistors: the four Type 2 codings and one beyond each end of every window."""
PP_SHORT = 117
"""PP tied to PE through the relay alone."""
CP_SHORT, DIODE_BYPASS, VEHICLE_PE_OPEN = 108, 109, 110
SUPPLY_PE_OPEN, WELD = 119, (120, 121, 122)
PS1, PS2 = 123, 124
PAIRING_BUTTON = 125
"""The solenoid on the wallbox's pairing button."""
CAROUSEL = (126, 127, 128, 129, 130, 131)
"""The card carousel's positions: the channel closed holds that position's card to the reader."""
PP_SENSE = 201
"""A DMM channel across the vehicle connector's PP and PE."""
CP_SENSE = 203
"""A DMM channel across the vehicle side's CP and PE (bring-up measures the network through it)."""
CP_TOLERANCE = 0.001
"""The vehicle network's resistors are 0.1 % parts (docs/bench/cots.md)."""
LEAKAGE_LADDER = {132: 464e3, 133: 232e3, 134: 115e3, 135: 57.6e3, 136: 28.7e3, 137: 14.3e3, 138: 7.15e3,
                  139: 3.57e3, 140: 1.78e3}
"""The AC leakage ladder from vehicle-side L1 to PE: binary-weighted E96 resistors, 0.5 … 128 mA at 230 V."""
LADDER_TOLERANCE = 0.01
LEAKAGE_SHUNT_OHM = 10.0
SHUNT_TOLERANCE = 0.001
LEAKAGE_SENSE = 202
"""A DMM channel across the shunt every leakage path returns to PE through."""
RELAYS = 32
DMM = "keysight-daq970"


class VirtualBench:
    """The relays' state, applied to the plant whenever one moves."""

    def __init__(self, world: World, plant: Plant, wallbox: Any = None,
                 carousel: tuple[FieldCard, ...] = ()) -> None:
        """`wallbox`: where the button solenoid and the carousel act; `carousel`: the cards in its
        positions, in order (the lab's physical cards, as the rig file lists them)."""
        self.world, self.plant = world, plant
        self.wallbox, self.carousel = wallbox, carousel
        self.closed: set[int] = set()
        rng = world.bench_rng
        self.ladder_ohm = {ch: ohm * (1.0 + LADDER_TOLERANCE * rng.uniform(-1.0, 1.0)) for ch, ohm in LEAKAGE_LADDER.items()}
        """Each resistor as built: somewhere in its tolerance, the same for the whole run."""
        self.shunt_ohm = LEAKAGE_SHUNT_OHM * (1.0 + SHUNT_TOLERANCE * rng.uniform(-1.0, 1.0))
        # drawn after the ladder and the shunt, so that their values stay what they were
        self.cp_ohm = {ch: ohm * (1.0 + CP_TOLERANCE * rng.uniform(-1.0, 1.0)) for ch, ohm in CP_RESISTORS.items()}
        self.sense_offset_ohm = rng.uniform(0.2, fact(DMM, "two_wire_channel_max"))
        """The CP sense channel's relay and leads, in series with every 2-wire reading through it."""

    def set(self, channels: list[int], closed: bool) -> None:
        if closed:
            self.closed.update(channels)
        else:
            self.closed.difference_update(channels)
        self._apply()

    def _apply(self) -> None:
        v, inj = self.plant.vehicle, self.plant.injection
        on = self.closed
        cp = [ohm for ch, ohm in self.cp_ohm.items() if ch in on]
        v.r_ohm = parallel(*cp) if cp else None
        v.shorted = CP_SHORT in on
        v.diode_ok = DIODE_BYPASS not in on
        v.pe_ok = VEHICLE_PE_OPEN not in on
        v.state = "E" if v.shorted else "R" if cp else "A"
        pp = [ohm for ch, ohm in PP_RESISTORS.items() if ch in on]
        v.pp_ohm = 0.0 if PP_SHORT in on else parallel(*pp) if pp else None
        inj.pe_open = SUPPLY_PE_OPEN in on
        inj.weld = [ch in on for ch in WELD]
        inj.grid_contact = (PS1 in on, PS2 in on)
        inj.leakage_siemens = sum(1.0 / ohm for ch, ohm in self.ladder_ohm.items() if ch in on)
        self.world.record("relays", closed=sorted(on))
        if self.wallbox is not None:
            self.wallbox.pairing.set_pressed(PAIRING_BUTTON in on)
            held = [card for ch, card in zip(CAROUSEL, self.carousel) if ch in on]
            self.wallbox.rfid.hold("carousel", held[0] if held else None)
        self.plant.changed()


def _channels(args: list[str]) -> list[int] | None:
    text = ",".join(args).strip()
    if not (text.startswith("(@") and text.endswith(")")):
        return None
    out: list[int] = []
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
        self.command("MEASure:VOLTage:AC?", lambda s, a: self._voltage(a, ac=True))
        self.command("MEASure:VOLTage:DC?", lambda s, a: self._voltage(a, ac=False))
        self.command("MEASure:VOLTage?", lambda s, a: self._voltage(a, ac=False))

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

    def _voltage(self, args: list[str], ac: bool) -> str:
        """A DMM channel's voltage on a fixed range, with an error anywhere in the DMM's stated accuracy
        for that range (instruments/facts/keysight-daq970.toml); overload above the range.  The leakage
        shunt is read on 100 mV DC or 1 V AC, CP–PE on 100 V DC only: the virtual DMM models only the
        ranges whose accuracy the facts hold (stricter than the real one, which has more), and refuses
        another rather than answer more kindly."""
        overload = "+9.90000000E+37"
        channel = _channels(args[-1:]) if len(args) >= 2 else None
        if channel not in ([LEAKAGE_SENSE], [CP_SENSE]) or (channel == [CP_SENSE] and ac):
            self.errors.append('-221,"Settings conflict; not a DMM channel"')
            return overload
        try:
            range_v = float(args[0])
        except ValueError:
            self.bad_value()
            return overload
        function = "dcv_100v" if channel == [CP_SENSE] else "acv_1v" if ac else "dcv_100mv"
        if abs(range_v - fact(DMM, f"{function}_range")) > 1e-9:
            self.out_of_range()
            return overload
        plant = self.bench.plant
        if channel == [CP_SENSE]:
            volts = self._cp_volts()
        else:
            volts = plant.residual_flowing_ma("ac" if ac else "dc") / 1000.0 * self.bench.shunt_ohm
        if abs(volts) > range_v * fact(DMM, "overrange"):
            return overload
        bound = accuracy_bound(DMM, function, volts, range_v)
        return f"{volts + bound * self.world.rng.uniform(-1.0, 1.0):+.8E}"

    def _cp_volts(self) -> float:
        """CP–PE as the DMM's integrating converter sees it: a PWM's mean over its duty, a DC level as it
        is; both loaded by the 100 V range's input resistance against the generator's 1 kΩ (the largest
        source resistance the node has: the stricter loading)."""
        plant = self.bench.plant
        high, low = plant.cp()
        gen = plant.generator
        volts = low + (high - low) * gen.duty_pct / 100.0 if gen.mode == "pwm" else high
        r_in = fact(DMM, "dcv_100v_input_ohm")
        return volts * r_in / (r_in + R_GENERATOR_OHM)

    def _resistance(self, s: str, args: list[str]) -> str:
        chans = _channels(args[-1:])
        if chans == [PP_SENSE] and len(args) == 1:
            pp = self.bench.plant.pp_ohm()
            if pp is None:
                return "+9.90000000E+37"
            return f"{pp * (1 + self.world.rng.gauss(0, 2e-4)):+.8E}"
        if chans != [CP_SENSE]:
            self.errors.append('-221,"Settings conflict; not a DMM channel"')
            return "+9.90000000E+37"
        return self._cp_resistance(args[0] if len(args) == 2 else None)

    def _cp_resistance(self, range_arg: str | None) -> str:
        """CP–PE on the vehicle side, two-wire: the network the relays make (its diode bridged), in
        parallel with the wallbox's side, through the sense channel's relay and leads; on the range
        asked for (or the smallest that holds it), with an error anywhere in the facts' bound."""
        plant, overload = self.bench.plant, "+9.90000000E+37"
        if plant.generator.mode != "off":
            # an ohmmeter across a driven node reads nothing that is a resistance: the stricter answer
            return overload
        v = plant.vehicle
        if v.shorted:
            network: float | None = 0.0
        elif v.r_ohm is None or not v.pe_ok or v.diode_ok:
            network = None   # open, floating, or behind the diode (a reading that is no resistance: refused)
        else:
            network = v.r_ohm
        side = R_GENERATOR_OHM   # the wallbox's 1 kΩ to its unpowered generator
        value = self.bench.sense_offset_ohm + (side if network is None else parallel(network, side) if network else 0.0)
        low, high = fact(DMM, "res_range_min"), fact(DMM, "res_range_max")
        if range_arg is None:
            range_ohm = low
            while range_ohm < value and range_ohm < high:
                range_ohm *= 10.0
        else:
            try:
                range_ohm = float(range_arg)
            except ValueError:
                self.bad_value()
                return overload
            decade = math.log10(range_ohm) if range_ohm > 0 else math.nan
            if not (low <= range_ohm <= high and abs(decade - round(decade)) < 1e-9):
                self.out_of_range()   # stricter: only the ranges the facts cover
                return overload
        if value > range_ohm * fact(DMM, "overrange"):
            return overload
        bound = accuracy_bound(DMM, "res", value, range_ohm)
        return f"{value + bound * self.world.rng.uniform(-1.0, 1.0):+.8E}"


# --- the Modbus RTU relay module (RTU framing over TCP, as a serial-to-Ethernet converter) -----
class _ServedDevice:
    """A Modbus device of the virtual bench, served by pymodbus on loopback as the meter emulator is
    (instruments/transport/modbus.py): RTU framing over TCP (a serial-to-Ethernet converter) or
    Modbus TCP.  Requests are answered under the world's lock, so the device reads the world at one
    instant; a request for another unit id gets no answer, as on a bus."""

    def __init__(self, world: World, device_id: int, rtu: bool, port: int) -> None:
        self.world, self.rtu = world, rtu
        self._server = ModbusServer("sim", f"tcp://{LOOPBACK}:{port}", self, LineSettings(device_id, 9600, "N", 1),
                                    rtu=rtu)
        if self._server.port is None:
            raise RuntimeError(f"the virtual bench's Modbus device did not report its port (asked for {port})")
        self.port = self._server.port

    @property
    def address(self) -> str:
        return f"{'socket' if self.rtu else 'tcp'}://{LOOPBACK}:{self.port}"

    def ranges(self, table: str) -> Sequence[tuple[int, int]]:
        return []

    def read(self, fc: int, address: int, count: int) -> list[int] | list[bool] | str:
        with self.world.lock:
            return self._read(fc, address, count)

    def write(self, fc: int, address: int, values: list[int] | list[bool]) -> str | None:
        with self.world.lock:
            return self._write(fc, address, values)

    def _read(self, fc: int, address: int, count: int) -> list[int] | list[bool] | str:
        return "ILLEGAL_FUNCTION"

    def _write(self, fc: int, address: int, values: list[int] | list[bool]) -> str | None:
        return "ILLEGAL_FUNCTION"

    def stop(self) -> None:
        self._server.stop()


class SimRelayBoard(_ServedDevice):
    """Coils 0…31 are relays 1…32 (= DAQ channels 101…132 of this bench); input 0 is the interlock loop."""

    def __init__(self, world: World, bench: VirtualBench, device_id: int = 1, port: int = 0) -> None:
        self.bench = bench
        self.interlock_closed = True
        super().__init__(world, device_id, True, port)

    def ranges(self, table: str) -> Sequence[tuple[int, int]]:
        return {"coils": [(0, RELAYS)], "discrete_inputs": [(0, 1)]}.get(table, [])

    def _read(self, fc: int, address: int, count: int) -> list[int] | list[bool] | str:
        if fc == 1:
            return [101 + address + k in self.bench.closed for k in range(count)]
        return [self.interlock_closed and address + k == 0 for k in range(count)]

    def _write(self, fc: int, address: int, values: list[int] | list[bool]) -> str | None:
        self.bench.set([101 + address + k for k, on in enumerate(values) if not on], False)
        self.bench.set([101 + address + k for k, on in enumerate(values) if on], True)
        return None


CHAMBER = "watlow-f4t"


class SimChamber(_ServedDevice):
    """A Watlow F4T chamber controller (Modbus TCP), its registers as instruments/facts/watlow-f4t.toml
    gives them: setpoint and air (floats, low word first) in the Display Units, which start as the
    controller ships, in degrees F, so a driver that forgets to choose C reads and sets Fahrenheit;
    the air register is read-only.  The air moves to the setpoint at RATE_K_PER_MIN and is the
    plant's ambient once the chamber has been given a setpoint."""

    RATE_K_PER_MIN = 3.0
    STEP_S = 10.0
    SETPOINT_RANGE_C = (-70.0, 180.0)
    """The virtual chamber's own span (a real chamber's is its model's; the F4T takes any float)."""

    def __init__(self, world: World, plant: Plant, port: int = 0) -> None:
        self.plant = plant
        self.air_c = self.setpoint_c = plant.room_c
        self.setpoint, self.air = int(fact(CHAMBER, "setpoint_register")), int(fact(CHAMBER, "air_temperature_register"))
        self.units = int(fact(CHAMBER, "display_units_register"))
        self.celsius, self.fahrenheit = int(fact(CHAMBER, "display_units_celsius")), int(fact(CHAMBER, "display_units_fahrenheit"))
        self.registers = {0: 124, 1: 0, self.units: int(fact(CHAMBER, "display_units_default"))}
        self._event: Event | None = None
        super().__init__(world, 1, False, port)

    def ranges(self, table: str) -> Sequence[tuple[int, int]]:
        if table != "holding_registers":
            return []
        return [(0, 2), (self.units, 1), (self.setpoint, 2), (self.air, 2)]

    def _shown(self, celsius: float) -> float:
        return celsius * 9.0 / 5.0 + 32.0 if self.registers[self.units] == self.fahrenheit else celsius

    def _taken(self, shown: float) -> float:
        return (shown - 32.0) * 5.0 / 9.0 if self.registers[self.units] == self.fahrenheit else shown

    def _register(self, address: int) -> int:
        floats = {self.setpoint: self._shown(self.setpoint_c), self.air: self._shown(self.air_c)}
        for base, value in floats.items():
            if address in (base, base + 1):
                high, low = struct.unpack(">HH", struct.pack(">f", value))
                return [low, high][address - base]
        return self.registers[address]

    def _step(self) -> None:
        step = self.RATE_K_PER_MIN * self.STEP_S / 60.0
        gap = self.setpoint_c - self.air_c
        self.air_c = self.setpoint_c if abs(gap) <= step else self.air_c + math.copysign(step, gap)
        self.plant.injection.chamber_c = self.air_c
        self.plant.changed()
        self._event = self.world.schedule(self.STEP_S, self._step) if self.air_c != self.setpoint_c else None

    def _read(self, fc: int, address: int, count: int) -> list[int] | list[bool] | str:
        if fc != 3:
            return "ILLEGAL_FUNCTION"
        return [self._register(address + k) for k in range(count)]

    def _write(self, fc: int, address: int, values: list[int] | list[bool]) -> str | None:
        words = [int(v) for v in values]
        if fc != 16:
            return "ILLEGAL_FUNCTION"
        if address == self.setpoint and len(words) == 2:
            value = self._taken(struct.unpack(">f", struct.pack(">HH", words[1], words[0]))[0])
            low, high = self.SETPOINT_RANGE_C
            if not low <= value <= high:
                return "ILLEGAL_VALUE"
            self.setpoint_c = value
            self.world.record("chamber", setpoint_c=value)
            if self._event is not None:
                self._event.cancel()
            self._step()
        elif address == self.units and len(words) == 1 and words[0] in (self.celsius, self.fahrenheit):
            self.registers[self.units] = words[0]
        else:
            return "ILLEGAL_ADDRESS"     # read-only (the air) or no such register
        return None


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
    leak_ac_ma: float
    leak_dc_ma: float


class SignalHistory:
    """What the scope's probes see, as piecewise-constant states: exact means over any interval."""

    def __init__(self, world: World, plant: Plant) -> None:
        self.world, self.plant = world, plant
        self.segments: list[_Segment] = []
        self._cum: list[tuple[float, ...]] = []   # integral of CP, output and leakage to each segment's start
        self._starts: list[float] = []
        plant.listen(self._record)
        self._record()

    def _state(self) -> _Segment:
        p, gen = self.plant, self.plant.generator
        high, low = p.cp()
        mode = "pwm" if gen.mode == "pwm" else "dc"
        return _Segment(self.world.now, mode, high, low, gen.frequency_hz, gen.duty_pct / 100.0,
                        math.sqrt(2) * p.output_voltage_v(0), p.mains.frequency_hz,
                        p.residual_flowing_ma("ac"), p.residual_flowing_ma("dc"))

    @staticmethod
    def _key(seg: _Segment) -> tuple[object, ...]:
        return (seg.cp_mode, seg.cp_high, seg.cp_low, seg.pwm_hz, seg.duty, seg.out_peak_v, seg.mains_hz,
                seg.leak_ac_ma, seg.leak_dc_ma)

    def _record(self) -> None:
        seg = self._state()
        if not self.segments:
            self.segments.append(seg)
            self._starts.append(seg.t_s)
            self._cum.append((0.0, 0.0, 0.0))
            return
        last = self.segments[-1]
        if self._key(last) == self._key(seg):
            return
        if last.t_s == seg.t_s:        # changed again at the same instant: the later state holds
            self.segments[-1] = seg
            return
        cum = self._cum[-1]
        self._cum.append(tuple(c + f(last, seg.t_s) - f(last, last.t_s) for c, f in zip(cum, INTEGRALS.values())))
        self.segments.append(seg)
        self._starts.append(seg.t_s)

    def integral(self, what: str, t: np.ndarray) -> np.ndarray:
        """∫ signal dt from the first segment to each t (ascending; `what`: one of INTEGRALS).  Only
        the segments the window touches are looked at (a window is recent, the history long)."""
        out = np.empty_like(t)
        if not len(t):
            return out
        first = max(0, bisect.bisect_right(self._starts, float(t[0])) - 1)
        last = max(first, bisect.bisect_right(self._starts, float(t[-1])) - 1)
        cuts = np.searchsorted(t, np.asarray(self._starts[first + 1:last + 1]), side="left")
        bounds = [0, *(int(c) for c in cuts), len(t)]
        f = INTEGRALS[what]
        column = list(INTEGRALS).index(what)
        for k, index in enumerate(range(first, last + 1)):
            lo, hi = bounds[k], bounds[k + 1]
            if hi > lo:
                seg = self.segments[index]
                out[lo:hi] = self._cum[index][column] + f(seg, t[lo:hi]) - f(seg, seg.t_s)
        return out


def _cp_integral(seg: _Segment, t: Any) -> Any:
    if seg.cp_mode != "pwm":
        return seg.cp_high * t
    f, d = seg.pwm_hz, seg.duty
    cycles = np.floor(np.asarray(t) * f)
    frac = np.asarray(t) * f - cycles
    high_time = (cycles * d + np.minimum(frac, d)) / f
    return seg.cp_low * t + (seg.cp_high - seg.cp_low) * high_time


def _sine_integral(peak: float, hz: float, t: Any) -> Any:
    if peak == 0:
        return 0.0 * np.asarray(t)
    w = 2 * math.pi * hz
    return -peak * np.cos(w * np.asarray(t)) / w


def _out_integral(seg: _Segment, t: Any) -> Any:
    return _sine_integral(seg.out_peak_v, seg.mains_hz, t)


def _leak_integral(seg: _Segment, t: Any) -> Any:
    """The leakage current in A (the shunt's volts are this times its ohms): the ladder's AC in phase
    with L1 (resistors), the DC source's constant."""
    return _sine_integral(math.sqrt(2) * seg.leak_ac_ma / 1000.0, seg.mains_hz, t) + seg.leak_dc_ma / 1000.0 * np.asarray(t)


INTEGRALS = {"cp": _cp_integral, "out": _out_integral, "leak": _leak_integral}


SCOPE_WIRING = {1: ("cp", 1.0), 3: ("out", 1.0), 4: ("leak", LEAKAGE_SHUNT_OHM)}
"""The virtual bench's probes: CP on channel 1, vehicle-side L1–N on 3 (a pair of its own, so each
keeps the full memory: instruments/facts/keysight-infiniivision.toml), the leakage shunt's voltage
on 4 (volts per amp: the shunt as built replaces the nominal ohms)."""


SCOPE_SAMPLE_S = 2e-6
"""The roll record's sample interval the virtual scope models: the finest interval the rig reads it at."""
MEASUREMENT_RECORD_POINTS = int(fact("keysight-infiniivision", "measurement_record_points"))
"""The most points `:WAVeform:DATA?` gives while running (the measurement record), and what every
decimated read divides: instruments/facts/keysight-infiniivision.toml (`measurement_record_points`)."""


def single_interval_s(range_s: float, points: int) -> float | None:
    """A single acquisition's sample interval: the finest step of 1-2-5 from SCOPE_SAMPLE_S up at which
    `points` of memory hold `range_s`, as a real X-Series lowers its sample rate to fill its memory
    with the screen (3000 X User's Guide p. 270: single acquisitions use the full memory); its own
    steps are not in the facts, so the model takes 1-2-5 rounded up, never finer than a real one could
    be.  None beyond 5 s a sample (the coarsest step modelled)."""
    for exponent in range(-6, 1):
        for mantissa in (1.0, 2.0, 5.0):
            dt = mantissa * 10.0 ** exponent
            if dt >= SCOPE_SAMPLE_S * (1 - 1e-9) and range_s / dt <= points:
                return dt
    return None


class SimScope(ScpiFrontEnd):
    """InfiniiVision X-Series in roll mode: a high-resolution record of CP, the vehicle-side L1 and the
    leakage shunt (SCOPE_WIRING) on one timebase, held as the real one holds it
    (instruments/facts/keysight-infiniivision.toml):

    - `:RUN` starts a new record: what the one before held is gone; `:STOP` freezes it;
    - the record holds the newest `memory_points(channel)` samples at SCOPE_SAMPLE_S: older ones are holes;
    - while running, `:WAVeform:DATA?` gives the measurement record only: at most
      MEASUREMENT_RECORD_POINTS points, each the last sample of its time bucket;
    - stopped, `:WAVeform:POINts MAXimum` gives every sample of the displayed window, and a number of
      points (an even divisor of 1000, else -224) gives the last sample of each bucket: decimated, never a
      mean of the bucket;
    - points not acquired (before the record, after its end, rolled out) are holes (0x0000).

    A single triggered acquisition (`:TIMebase:MODE MAIN`, an edge, a positive runt or a one-channel
    pattern trigger with the TIMeout qualifier, `:SINGle`): sampled at `single_interval_s` (2 µs where the
    memory holds the screen, coarser where it does not), the record starts at the arming (nothing before
    it), the trigger is the first sample at which the source crosses the level with the slope set (ends a
    runt, has held the pattern for its time) once the pre-trigger part is held (Wait Trig), the acquisition is done once `:TIMebase:RANGe` past the
    reference (`:TIMebase:POSition` from the trigger) is held; until then the Run bit of
    `:OPERegister:CONDition?` stays set and `:WAVeform:DATA?` is refused (-221: the stricter reading);
    the record is read with its times relative to the trigger.  Back in roll mode a new timebase begins.

    Still kinder than the real one (docs/bench/cots.md): the timebase runs on across `:STOP`/`:RUN`
    (the model's reading; a bench must confirm it), and a read takes no acquisition time away, because the
    virtual world stands still while the rig reads; a real scope misses what happens between its
    `:STOP` and the next `:RUN`."""

    name = "scope"
    idn = "KEYSIGHT TECHNOLOGIES,DSOX4024A,SIM00001,07.50"
    NOISE_V = {1: 0.005, 3: 0.3, 4: 0.0005}

    def __init__(self, world: World, plant: Plant, shunt_ohm: float = LEAKAGE_SHUNT_OHM) -> None:
        super().__init__(world)
        self.plant = plant
        self.wiring = {ch: (what, shunt_ohm if what == "leak" else gain) for ch, (what, gain) in SCOPE_WIRING.items()}
        self.history = SignalHistory(world, plant)
        self.t_origin: float | None = None
        """World time of scope time 0: the first `:RUN` after the time base's mode is set (the timebase
        runs on across STOP/RUN)."""
        self.running = False
        self.record_from = 0.0
        self.stopped_at: float | None = 0.0
        self._noise = np.random.default_rng(world.rng.getrandbits(64))
        self.scale = {1: 4.0, 2: 100.0, 3: 1.0, 4: 1.0}
        self.position, self.range, self.source = 0.0, 1.0, 1
        self.points: int | None = MEASUREMENT_RECORD_POINTS
        """None: MAXimum (every sample of the window while stopped)."""
        self.displayed: set[int] = set()
        self.mode = "ROLL"
        self.trigger: dict[str, Any] = {"mode": "EDGE", "source": 1, "rising": True, "runt_source": 1,
                                        "level": {n: 0.0 for n in (1, 2, 3, 4)},
                                        "low": {n: 0.0 for n in (1, 2, 3, 4)}, "high": {n: 0.0 for n in (1, 2, 3, 4)},
                                        "pattern": None, "held_s": 1e-3}
        """`level`: each channel's own trigger level, which the edge trigger and the pattern use; `pattern`:
        (channel, above) of the one channel in it, None when it names none."""
        self.single: dict[str, Any] | None = None
        """The armed single acquisition: armed_at, searched (world time looked through), last (the
        sample before it), at (the trigger's world time), told (`:TER?` read since)."""
        self.command(":CHANnel<n>:DISPlay", self._display)
        # the trigger commands the drivers use, each modelled no further than its page says (the 3000T X
        # guide for edge and runt, the 3000 X guide for the pattern; instruments/facts/keysight-infiniivision.toml)
        self.command(":TRIGger:MODE", self._trigger_mode)                                     # 3000 X p. 886
        self.command(":TRIGger:EDGE:SOURce", lambda s, a: self._trigger_source("source", a))  # 3000T p. 1036
        self.command(":TRIGger:RUNT:SOURce", lambda s, a: self._trigger_source("runt_source", a))   # p. 1056
        self.command(":TRIGger:RUNT:POLarity", lambda s, a: self._only(a, ("POS", "POSITIVE")))     # p. 1056
        self.command(":TRIGger:RUNT:QUALifier", lambda s, a: self._only(a, ("NONE",)))              # p. 1056
        self.command(":TRIGger:LEVel:LOW", lambda s, a: self._threshold("low", a))                  # p. 1015
        self.command(":TRIGger:LEVel:HIGH", lambda s, a: self._threshold("high", a))                # p. 1014
        self.command(":TRIGger:EDGE:LEVel", self._trigger_level)        # 3000T p. 1036; range as pp. 1014-1015
        self.command(":TRIGger:EDGE:SLOPe", self._trigger_slope)        # 3000T p. 1036
        self.command(":TRIGger:PATTern", self._pattern_string)                                # 3000 X p. 919
        self.command(":TRIGger:PATTern:FORMat", lambda s, a: self._only(a, ("ASC", "ASCII")))   # p. 919
        self.command(":TRIGger:PATTern:QUALifier", lambda s, a: self._only(a, ("TIM", "TIMEOUT")))  # p. 924
        self.command(":TRIGger:PATTern:GREaterthan", self._pattern_time)                      # p. 924, p. 926
        self.command(":SINGle", self._single)                   # 4000 X p. 1603: waits for its trigger
        self.command(":TER?", self._ter)                         # 4000 X p. 296: cleared by reading it
        self.command(":OPERegister:CONDition?", self._condition)   # 4000 X p. 1571: Run bit 3, Wait Trig bit 5
        for pattern in (":CHANnel<n>:PROBe", ":CHANnel<n>:OFFSet", ":ACQuire:TYPE",
                        ":TIMebase:REFerence", ":WAVeform:FORMat", ":WAVeform:BYTeorder", ":WAVeform:UNSigned"):
            self.command(pattern, lambda s, a: None)
        # roll mode, :RUN and :STOP: no page in the library says what a stopped roll record keeps of its
        # timebase; modelled as the driver reads it and named for a bench to confirm (docs/bench/cots.md)
        self.command(":TIMebase:MODE", self._mode)
        self.command(":RUN", self._run)                          # 3000 X User's Guide p. 270: a new record
        self.command(":STOP", self._stop)                        # p. 270: the raw record readable once stopped
        self.command(":CHANnel<n>:SCALe", self._scale)
        self.command(":TIMebase:POSition", lambda s, a: self._set("position", a))
        self.command(":TIMebase:RANGe", lambda s, a: self._set("range", a))
        self.command(":WAVeform:POINts", self._points)           # 4000 X p. 1246; M924x p. 1171 (1000's divisors)
        self.command(":WAVeform:SOURce", self._source)           # 4000 X p. 1255
        self.command(":WAVeform:PREamble?", self._preamble)      # 4000 X p. 1250
        self.command(":WAVeform:DATA?", self._data)              # 4000 X p. 1243; while running 3000 X UG p. 270
        for item in ("VTOP", "VBASe", "FREQuency", "DUTYcycle", "VRMS"):
            self.command(f":MEASure:{item}?", self._measure_query(item))

    def memory_points(self, channel: int) -> int:
        """The points of `channel` the memory holds: its pair's memory shared by the pair's displayed
        channels (instruments/facts/keysight-infiniivision.toml)."""
        per_pair = int(fact("keysight-infiniivision", "channels_per_memory_pair"))
        pair = (channel - 1) // per_pair
        sharing = sum(1 for c in self.displayed if (c - 1) // per_pair == pair)
        return int(fact("keysight-infiniivision", "memory_points")) // max(1, sharing)

    def _display(self, suffix: str, a: list[str]) -> None:
        try:
            channel, on = int(suffix), a[0].strip().upper() in ("1", "ON")
        except (ValueError, IndexError):
            self.bad_value()
            return
        self.displayed = (self.displayed | {channel}) if on else (self.displayed - {channel})

    def _measure_query(self, item: str) -> Callable[[str, list[str]], str]:
        return lambda suffix, args: self._measure(item, args)

    def _mode(self, s: str, a: list[str]) -> None:
        mode = self.word(a, ("MAIN", "ROLL"))
        if mode is not None:
            self.mode, self.t_origin, self.single = mode, None, None

    # --- a single triggered acquisition --------------------------------------------------------
    @staticmethod
    def _channel_arg(arg: str) -> int | None:
        arg = arg.strip().upper()
        return next((n for n in (1, 2, 3, 4) if arg in (f"CHAN{n}", f"CHANNEL{n}")), None)

    def _trigger_mode(self, s: str, a: list[str]) -> None:
        """`:TRIGger:MODE` (3000 X guide p. 886): the edge, runt and pattern triggers the drivers use; any
        other mode a real one has (glitch, transition, …) is refused here (-224), never obeyed as another."""
        mode = self.word(a, ("EDGE", "RUNT", "PATT", "PATTERN"))
        if mode is not None:
            self.trigger["mode"] = mode[:4]

    def _trigger_source(self, key: str, a: list[str]) -> None:
        channel = self._channel_arg(a[0]) if a else None
        if channel is None:
            self.bad_value()
            return
        self.trigger[key] = channel

    def _only(self, a: list[str], modelled: tuple[str, ...]) -> None:
        """A trigger setting the model does not hold (a negative runt, a width qualifier, a pattern
        qualifier other than TIMeout, the HEX format) is refused as a settings conflict rather than obeyed
        wrongly."""
        if not a or a[0].strip().upper() not in modelled:
            self.errors.append('-221,"Settings conflict"')

    def _level(self, a: list[str], channel: int | None) -> float | None:
        """A trigger level for `channel`: within 0.75 of full scale (eight divisions) from the centre
        (`trigger_level_fraction`, 3000T X-Series Programmer's Guide pp. 1014-1015), else -222; not a
        number, or no channel, -224.  None when refused."""
        try:
            level = float(a[0])
        except (ValueError, IndexError):
            level = math.nan
        if channel is None or not math.isfinite(level):
            self.bad_value()
            return None
        if abs(level) > fact("keysight-infiniivision", "trigger_level_fraction") * 8 * self.scale[channel]:
            self.out_of_range()
            return None
        return level

    def _threshold(self, key: str, a: list[str]) -> None:
        """`:TRIGger:LEVel:LOW|HIGH <level>,CHANnel<n>` (pp. 1014-1015)."""
        channel = self._channel_arg(a[1]) if len(a) == 2 else None
        level = self._level(a, channel)
        if level is not None and channel is not None:
            self.trigger[key][channel] = level

    def _trigger_level(self, s: str, a: list[str]) -> None:
        """`:TRIGger[:EDGE]:LEVel <level>[,<source>]`, for the edge source set unless one is given; held to
        the same range as the runt thresholds (the edge command's own page is not in the library: the
        stricter reading, where a real one might take more)."""
        channel = self._channel_arg(a[1]) if len(a) == 2 else int(self.trigger["source"])
        level = self._level(a, channel)
        if level is not None and channel is not None:
            self.trigger["level"][channel] = level

    def _pattern_string(self, s: str, a: list[str]) -> None:
        """`:TRIGger:PATTern "nnnn"` (3000 X guide p. 919), channel 1 first: one channel 0 or 1, the rest X
        (several channels or an edge in the pattern are not modelled: -221); anything else -224."""
        text = a[0].strip().strip('"').upper() if len(a) == 1 else ""
        if len(text) != 4 or set(text) - set("01XRF"):
            self.bad_value()
            return
        named = [(n, c) for n, c in zip((1, 2, 3, 4), text) if c != "X"]
        if len(named) != 1 or named[0][1] not in "01":
            self.errors.append('-221,"Settings conflict"')
            return
        self.trigger["pattern"] = (named[0][0], named[0][1] == "1")

    def _pattern_time(self, s: str, a: list[str]) -> None:
        """`:TRIGger:PATTern:GREaterthan <time>`: within `pattern_time_min` … `pattern_time_max` (-222)."""
        held = self.number(a)
        if held is None:
            return
        if not fact("keysight-infiniivision", "pattern_time_min") <= held <= fact("keysight-infiniivision",
                                                                                 "pattern_time_max"):
            self.out_of_range()
            return
        self.trigger["held_s"] = held

    def _trigger_slope(self, s: str, a: list[str]) -> None:
        arg = self.word(a, ("POS", "POSITIVE", "NEG", "NEGATIVE"))
        if arg is not None:
            self.trigger["rising"] = arg.startswith("POS")

    def _trigger_channel(self) -> int | None:
        mode = self.trigger["mode"]
        if mode == "PATT":
            return None if self.trigger["pattern"] is None else int(self.trigger["pattern"][0])
        return int(self.trigger["runt_source" if mode == "RUNT" else "source"])

    def _single(self, s: str, a: list[str]) -> None:
        runt = self.trigger["mode"] == "RUNT"
        channel = self._trigger_channel()
        if self.mode != "MAIN" or channel not in self.wiring or \
                runt and not self.trigger["low"][channel] < self.trigger["high"][channel]:
            # roll mode is untriggered (the stricter reading); a pattern naming no channel, or runt thresholds
            # out of order, cannot trigger
            self.errors.append('-221,"Settings conflict"')
            return
        dt = single_interval_s(self.range, min((self.memory_points(c) for c in self.displayed), default=1))
        if dt is None:
            self.out_of_range()                                  # more than the memory holds at any interval
            return
        now = self.world.now
        self.running, self.stopped_at, self.record_from = False, None, now
        self.single = {"armed_at": now, "searched": now, "last": math.nan, "at": None, "told": False,
                       "position": self.position, "range": self.range, "pulse_top": math.inf, "dt": dt,
                       "held_since": None}

    def _condition(self, s: str, a: list[str]) -> str:
        """Run (8) while running or a single is not done; Wait Trig (32) once its pre-trigger part is
        held and until it triggers (4000 X-Series Programmer's Guide p. 1571)."""
        running = self.running or self._armed()
        waiting = self.single is not None and self.single["at"] is None and self.world.now >= self._trigger_from()
        return f"+{(8 if running else 0) + (32 if waiting else 0)}"

    def _trigger_from(self) -> float:
        """A trigger counts only once the record before it is held: the pre-trigger part of the screen."""
        assert self.single is not None
        return self.single["armed_at"] + max(0.0, -self.single["position"])

    def _armed(self) -> bool:
        """Armed and not yet done: the trigger not found, or the record after it not yet full."""
        single = self.single
        if single is None:
            return False
        if single["at"] is None:
            self._look_for_trigger(single)
        return single["at"] is None or self.world.now < single["at"] + single["position"] + single["range"]

    def _look_for_trigger(self, single: dict[str, Any]) -> None:
        channel = self._trigger_channel()
        assert channel is not None           # :SINGle refuses a trigger without one
        what, gain = self.wiring[channel]
        t, now = max(single["searched"], self._trigger_from()), self.world.now
        dt = single["dt"]
        if math.isnan(single["last"]) and t + dt <= now:    # the comparator's state as it is armed
            single["last"] = float(gain * self._means(what, np.array([t - dt]), dt)[0])
        while t + dt <= now:
            n = max(1, min(int((now - t) / dt), 250_000))    # t + dt <= now: one at least, whatever the rounding
            starts = t + dt * np.arange(n)
            v = gain * self._means(what, starts, dt)
            mode = self.trigger["mode"]
            hit = (self._runt(single, v, channel) if mode == "RUNT" else
                   self._held(single, v, starts, channel) if mode == "PATT" else self._edge(single, v, channel))
            if hit is not None:
                single["at"] = float(starts[hit])
                return
            single["last"], t = float(v[-1]), float(starts[-1]) + dt
        single["searched"] = t

    def _edge(self, single: dict[str, Any], v: np.ndarray, channel: int) -> int | None:
        """The first sample at which the source crossed its level with the slope set."""
        level, rising = self.trigger["level"][channel], self.trigger["rising"]
        before = np.concatenate(([single["last"]], v[:-1]))
        crossed = (before < level) & (v >= level) if rising else (before > level) & (v <= level)
        hits = np.flatnonzero(crossed)
        return int(hits[0]) if len(hits) else None

    def _runt(self, single: dict[str, Any], v: np.ndarray, channel: int) -> int | None:
        """The first sample at which a positive runt ends: the source falls back through the low threshold
        and nothing since it rose through it reached the high one.  A pulse already above the low
        threshold when the search began counts as a full one (its start was not seen)."""
        low, high = self.trigger["low"][channel], self.trigger["high"][channel]
        before = np.concatenate(([single["last"]], v[:-1]))
        above = v >= low
        rises = np.flatnonzero(~(before >= low) & above)
        falls = np.flatnonzero((before >= low) & ~above)
        top = single["pulse_top"] if before[0] >= low else -math.inf     # the pulse open at the chunk's start
        start = 0
        for fall in falls:
            open_rises = rises[(rises >= start) & (rises < fall)]
            first = int(open_rises[-1]) if len(open_rises) else start
            peak = float(np.max(v[first:fall])) if fall > first else -math.inf
            top = peak if len(open_rises) else max(top, peak)
            if top < high:
                return int(fall)
            start, top = int(fall), -math.inf
        tail = rises[rises >= start]
        if len(tail):
            single["pulse_top"] = float(np.max(v[int(tail[-1]):]))
        elif len(v) > start and v[-1] >= low:
            single["pulse_top"] = max(top, float(np.max(v[start:])))
        return None

    def _held(self, single: dict[str, Any], v: np.ndarray, starts: np.ndarray, channel: int) -> int | None:
        """The first sample at which the pattern (the channel above, or below, its level) has held for the
        GREaterthan time (TIMeout, p. 924): the timer starts on the sample that made it true, or at the
        search's start for a pattern already true then (the stricter reading: never earlier)."""
        level, above = self.trigger["level"][channel], self.trigger["pattern"][1]
        true = v >= level if above else v < level
        made_true = true & ~np.concatenate(([bool(single["held_since"] is not None)], true[:-1]))
        index = np.where(made_true, np.arange(len(v)), -1)
        latest = np.maximum.accumulate(index)
        carried = single["held_since"] if single["held_since"] is not None else math.nan
        since = np.where(latest >= 0, starts[np.maximum(latest, 0)], carried)
        since = np.where(true, since, np.nan)
        hits = np.flatnonzero(starts - since >= self.trigger["held_s"] - 1e-12)
        if len(hits):
            return int(hits[0])
        single["held_since"] = float(since[-1]) if true[-1] else None
        return None

    def _ter(self, s: str, a: list[str]) -> str:
        single = self.single
        if single is not None and single["at"] is None:
            self._look_for_trigger(single)
        if single is None or single["at"] is None or single["told"]:
            return "+0"
        single["told"] = True
        return "+1"

    def _run(self, s: str, a: list[str]) -> None:
        if self.mode != "ROLL":
            self.errors.append('-221,"Settings conflict"')    # a running triggered sweep is not modelled
            return
        if self.t_origin is None:
            self.t_origin = self.world.now
        if not self.running:
            self.running, self.record_from, self.stopped_at = True, self.world.now, None

    def _stop(self, s: str, a: list[str]) -> None:
        if self._armed():
            self.single = None                                   # a stop aborts a single not yet done
        if self.running:
            self.running, self.stopped_at = False, self.world.now

    def _scale(self, suffix: str, a: list[str]) -> None:
        try:
            self.scale[int(suffix)] = float(a[0])
        except (ValueError, IndexError, KeyError):
            self.bad_value()

    def _set(self, key: str, a: list[str]) -> None:
        value = self.number(a)
        if value is None:
            return
        if key == "range" and not value > 0:
            self.bad_value()
            return
        setattr(self, key, value)

    def _points(self, s: str, a: list[str]) -> None:
        """An even divisor of 1000, or MAXimum (M924x guide p. 1171); anything else is refused."""
        arg = a[0].strip().upper() if a else ""
        if arg in ("MAX", "MAXIMUM"):
            self.points = None
            return
        try:
            value = int(arg)
        except ValueError:
            self.bad_value()
            return
        if value < 1 or MEASUREMENT_RECORD_POINTS % value:
            self.bad_value()
            return
        self.points = value

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

    def _grid(self) -> tuple[int, float, bool]:
        """Points, their interval, and whether each is a raw sample (MAXimum while stopped) rather than
        the last sample of its bucket."""
        if self.points is None and not self.running:
            sample = self._sample_s()
            n = max(1, int(round(self.range / sample)))
            return min(n, self.memory_points(self.source)), sample, True
        n = MEASUREMENT_RECORD_POINTS if self.points is None else self.points
        return n, self.range / n, False

    def _origin(self) -> float:
        """World time of scope time 0: the roll record's first `:RUN`, or a single acquisition's trigger."""
        if self.mode == "MAIN":
            return self.single["at"] if self.single is not None and self.single["at"] is not None else 0.0
        return self.t_origin if self.t_origin is not None else 0.0

    def _newest(self) -> float:
        if self.mode == "MAIN":   # the record's end, wherever the view is panned
            single = self.single
            return self._origin() + single["position"] + single["range"] if single is not None else self.record_from
        return self.world.now if self.running or self.stopped_at is None else self.stopped_at

    def _start(self) -> float:
        """The displayed window's left edge on the scope's timebase: while running in roll mode the screen
        ends at the newest sample whatever `:TIMebase:POSition` says; stopped, the position pans."""
        return self._newest() - self._origin() - self.range if self.running else self.position

    def _preamble(self, s: str, a: list[str]) -> str:
        inc, ref = self._y()
        n, dt, _ = self._grid()
        return f"+1,+3,+{n},+1,{dt:+.9E},{self._start():+.13E},+0,{inc:+.9E},+0.0E+00,+{int(ref)}"

    def _data(self, s: str, a: list[str]) -> bytes:
        if self.source not in self.displayed:
            # a channel switched off holds no record: refused with SCPI-99's "settings conflict" (the
            # X-Series's own number for it is not in the facts; the stricter reading, in docs/bench/cots.md)
            self.errors.append('-221,"Settings conflict"')
            return b"#10"
        if self.mode == "MAIN" and (self.single is None or self._armed()):
            self.errors.append('-221,"Settings conflict"')      # no finished acquisition to read yet
            return b"#10"
        n, dt, raw = self._grid()
        origin = self._origin()
        # each point is one stored sample: a raw one from its start, a decimated one the last of its bucket
        sample = self._sample_s()
        starts = origin + self._start() + dt * np.arange(n) + (0.0 if raw else dt - sample)
        newest = self._newest()
        kept_from = max(self.record_from, newest - self.memory_points(self.source) * sample)
        acquired = (starts + sample <= newest + 1e-12) & (starts >= kept_from - 1e-12)
        values = np.zeros(n)
        if self.source in self.wiring:
            what, gain = self.wiring[self.source]
            if acquired.any():
                values[acquired] = gain * self._means(what, starts[acquired], sample)
        values += self._noise.normal(0.0, self.NOISE_V.get(self.source, 0.001), n)
        inc, ref = self._y()
        codes = np.clip(np.round(values / inc + ref), 1, 65535).astype(">u2")
        codes[~acquired] = 0
        raw_bytes = codes.tobytes()
        header = str(len(raw_bytes)).encode()
        return b"#" + str(len(header)).encode() + header + raw_bytes

    def _sample_s(self) -> float:
        """The stored record's sample interval: a single acquisition's own, else the roll record's."""
        if self.mode == "MAIN" and self.single is not None:
            return float(self.single["dt"])
        return SCOPE_SAMPLE_S

    def _means(self, what: str, starts: np.ndarray, width: float = SCOPE_SAMPLE_S) -> np.ndarray:
        """Each stored sample: the high-resolution mean over its interval (`width`)."""
        t = np.column_stack((starts, starts + width)).ravel()
        integral = self.history.integral(what, t)
        return (integral[1::2] - integral[0::2]) / width

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
        elif channel == "3":
            v = self.plant.output_voltage_v(0)
            value = {"VRMS": v * (1 + noise(0, 2e-4))}.get(item, 9.9e37)
        else:
            self.bad_value()
            return "+9.9E+37"
        return f"{value:+.6E}"


DC_SOURCE = "keysight-e36100"
DC_DECOUPLING_OHM = 1000.0
"""The series resistor between the DC source and the leakage path (docs/bench/cots.md, DC)."""


class SimDcSource(ScpiFrontEnd):
    """An E36103B in constant current on the DC leakage path, through its decoupling: it takes only
    what the model's rating allows (-222 beyond it, instruments/facts/keysight-e36100.toml), and
    what flows is what its voltage setting can drive through the series resistor, so a compliance
    set too low shows on the shunt as a current short of the one set.  Current flows only while the
    vehicle side is live (plant)."""

    name = "dc_source"
    idn = "Keysight Technologies,E36103B,SIM00001,1.0.0"

    def __init__(self, world: World, plant: Plant) -> None:
        super().__init__(world)
        self.plant = plant
        self.set_a, self.volt_v, self.on = 0.0, 0.0, False
        self.command("VOLTage", lambda s, a: self._setting(a, "volt_v", fact(DC_SOURCE, "e36103b_voltage_max_v")))
        self.command("CURRent", lambda s, a: self._setting(a, "set_a", fact(DC_SOURCE, "e36103b_current_max_a")))
        self.command("OUTPut", self._switch)
        self.command("MEASure:CURRent?", lambda s, a: f"{self.plant.residual_flowing_ma('dc') / 1000.0:.6f}")

    def _apply(self) -> None:
        driven_a = min(self.set_a, self.volt_v / DC_DECOUPLING_OHM)
        self.plant.injection.residual_ma["dc"] = driven_a * 1000.0 if self.on else 0.0
        self.world.record("leakage", channel="dc", ma=self.plant.injection.residual_ma["dc"])
        self.plant.changed()

    def _setting(self, a: list[str], attribute: str, maximum: float) -> None:
        try:
            value = float(a[0])
        except (IndexError, ValueError):
            self.bad_value()
            return
        if not 0 <= value <= maximum:
            self.out_of_range()
            return
        setattr(self, attribute, value)
        self._apply()

    def _switch(self, s: str, a: list[str]) -> None:
        arg = self.word(a, ("ON", "1", "OFF", "0"))
        if arg is not None:
            self.on = arg in ("ON", "1")
            self._apply()
