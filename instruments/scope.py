"""The oscilloscope: CP levels, frequency and duty, and captured waveforms on the scope's own timebase.

On a bench built from bought parts the scope is the one clock that timing verdicts read: the
vehicle's switching shows as the CP level step, the contactor as the output voltage leaving or
joining the supply's sine, both in the same record.

Lab driver: Keysight InfiniiVision X-Series (2000/3000T/4000 X), commands as their
Programmer's Guides give them (page numbers of the 4000 X-Series guide):
`:MEASure:VTOP?` (p. 636), `:MEASure:VBASe?`, `:MEASure:FREQuency?`, `:MEASure:DUTYcycle?`,
`:WAVeform:SOURce` (p. 1255), `:WAVeform:FORMat WORD` (p. 1245), `:WAVeform:BYTeorder` (p. 1241),
`:WAVeform:UNSigned` (p. 1261), `:WAVeform:POINts` (p. 1246), `:WAVeform:PREamble?` (p. 1250:
format, type, points, count, xincrement, xorigin, xreference, yincrement, yorigin, yreference)
and `:WAVeform:DATA?` (p. 1243: an IEEE 488.2 definite-length block; in WORD format 0x0000 is a
hole, "data not yet acquired", 0x0001 clipped low, 0xFFFF clipped high).

How the record is used (`docs/bench/cots.md`): the acquisition runs in roll mode from the
driver's `:RUN` on, in high-resolution mode (each stored sample the mean of the ADC's samples in its
interval).  While running, `:WAVeform:DATA?` gives only the measurement record (the screen's time
buckets, at most 1000 points: 3000 X User's Guide p. 270); the acquisition record is readable once
stopped.  So the rig reads it by stopping (`stop`), reading windows of the stopped record
(`:TIMebase:REFerence LEFT`, `:TIMebase:POSition`, `:TIMebase:RANGe`) either decimated
(`:WAVeform:POINts` an even divisor of 1000: the last sample of each bucket, M924x guide p. 1171) or
whole (`:WAVeform:POINts MAXimum`: every sample displayed), and running again (`run`), which starts a
new record.  Points beyond the newest sample are holes, which is how the end of a stopped record is
found on the scope's own timebase.  That the timebase runs on across `:STOP`/`:RUN` in roll mode is
the reading this driver takes; a bench must confirm it (docs/bench/cots.md).

A timing verdict can instead come from one single acquisition (`arm_single`): main time base, an
edge trigger, `:SINGle`, the Operation Status Condition Register polled (Wait Trig: armed; Run
clear: done), the stopped record read with its times relative to the trigger, then roll mode again
(a new record on a new timebase).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass

import numpy as np

from core.errors import InstrumentOperationError, InvalidValue
from instruments.base import Instrument, ScpiInstrument
from instruments.facts import fact
from instruments.transport.base import LineTransport

MEASUREMENTS = {"vtop": "VTOP", "vbase": "VBASe", "frequency": "FREQuency", "duty": "DUTYcycle", "vrms": "VRMS"}
INVALID = 9.0e37
"""X-Series answer for a measurement that cannot be made (9.9E+37), e.g. the frequency of a DC level."""
MAX_POINTS = 1_000_000
RECORD_REACH_S = 1.0e6
"""How far past the last read `now` looks for a record's newest sample (eleven days of running): an
empty record (just after `:RUN`) is found empty in a dozen reads, not at absurd positions."""
PIECE_POINTS = 250_000
"""A single acquisition's record longer than this is read in pieces of it (0.5 MB in WORD format): each
read answers well within the transport's timeout, on a bench and in the virtual lab alike."""
DECIMATED_POINTS = int(fact("keysight-infiniivision", "measurement_record_points"))
"""`:WAVeform:POINts` is an even divisor of this, or MAXimum (M924x guide p. 1171)."""
HOLE, CLIPPED_LOW, CLIPPED_HIGH = 0, 1, 0xFFFF
RUN_BIT = 8
"""Bit 3 of the Operation Status Condition Register: the scope is running, or armed for a single
acquisition it has not finished (4000 X-Series Programmer's Guide p. 1571; polled as p. 1603 shows)."""
WAIT_TRIG_BIT = 32
"""Bit 5 of the same register: the trigger is armed (p. 1571)."""
PATTERN_HELD_RANGE_S = (fact("keysight-infiniivision", "pattern_time_min"),
                        fact("keysight-infiniivision", "pattern_time_max"))
"""The times a pattern trigger's duration takes (instruments/facts/keysight-infiniivision.toml)."""


@dataclass(frozen=True)
class Waveform:
    """Points of one channel: point k is the mean over [t0_s + k·dt_s, t0_s + (k+1)·dt_s); NaN = not yet acquired."""

    channel: int
    t0_s: float
    dt_s: float
    values: np.ndarray

    @property
    def acquired(self) -> int:
        """How many leading points hold data (the rest are holes: the record ends there)."""
        holes = np.isnan(self.values)
        return int(np.argmax(holes)) if holes.any() else len(self.values)

    @property
    def end_s(self) -> float:
        return self.t0_s + self.acquired * self.dt_s


class Scope(Instrument):
    role = "scope"

    @abstractmethod
    def configure(self, channels: dict[int, tuple[float, float]]) -> None:
        """Volts per division and probe attenuation per channel, then start the running record (t = 0)."""

    @abstractmethod
    def set_channel(self, channel: int, volts_per_div: float, probe: float) -> None:
        """Volts per division and probe attenuation of one channel, shown, without stopping the record."""

    @abstractmethod
    def measure(self, item: str, channel: int) -> float:
        """One of MEASUREMENTS on a channel; NaN when the scope cannot make it."""

    @abstractmethod
    def window(self, channel: int, start_s: float, span_s: float, points: int | None) -> Waveform:
        """The stopped record from `start_s` over `span_s` seconds: `points` buckets (an even divisor of
        DECIMATED_POINTS), each the last sample in it, or every sample (None)."""

    @abstractmethod
    def show(self, channel: int, on: bool) -> None:
        """Switch a configured channel's display on or off: a channel off leaves its pair's memory to
        the other (3000 X User's Guide p. 270)."""

    @abstractmethod
    def stop(self) -> None:
        """Freeze the record so it can be read (a running scope gives only its measurement record)."""

    @abstractmethod
    def run(self) -> None:
        """Acquire again: a new record begins; the one read before is gone."""

    # --- a single triggered acquisition: a timing verdict from one record a real scope makes --------
    makes_single = False
    """The driver arms single triggered acquisitions (else timing comes from the running record)."""

    def arm_single(self, source: int, level_v: float, rising: bool, pre_s: float, post_s: float) -> None:
        """Leave the running record for one acquisition triggered where `source` crosses `level_v`
        (rising or falling), holding `pre_s` before the trigger and `post_s` after it; armed when this
        returns."""
        raise InstrumentOperationError(self.role, f"{type(self).__name__} makes no triggered acquisition")

    def arm_single_runt(self, source: int, low_v: float, high_v: float, pre_s: float, post_s: float) -> None:
        """As `arm_single`, triggered by a positive runt on `source`: a pulse that rises through `low_v`
        and falls back through it without reaching `high_v` (the trigger at that fall).  A CP whose PWM's
        high level drops from B's 9 V to C's 6 V shows its first runt at the first pulse after the step,
        where an edge trigger would fire on every pulse."""
        raise InstrumentOperationError(self.role, f"{type(self).__name__} makes no triggered acquisition")

    def arm_single_held(self, source: int, level_v: float, above: bool, longer_than_s: float, pre_s: float,
                        post_s: float) -> None:
        """As `arm_single`, triggered once `source` has stayed above (or below) `level_v` for
        `longer_than_s` (the trigger at that moment, not when it leaves): a CP whose PWM stops, shorted to
        PE (state E), no longer falls to its −12 V half, which no edge or runt trigger can tell."""
        raise InstrumentOperationError(self.role, f"{type(self).__name__} makes no triggered acquisition")

    def single_waits(self) -> bool:
        """The acquisition holds its pre-trigger part and waits for the trigger: an action now is seen."""
        raise InstrumentOperationError(self.role, f"{type(self).__name__} makes no triggered acquisition")

    def single_done(self) -> bool:
        """The armed acquisition has triggered and filled its record (the scope has stopped)."""
        raise InstrumentOperationError(self.role, f"{type(self).__name__} makes no triggered acquisition")

    def single_window(self, channel: int) -> Waveform:
        """Every sample of the finished acquisition on `channel`, its times relative to the trigger."""
        raise InstrumentOperationError(self.role, f"{type(self).__name__} makes no triggered acquisition")

    def resume_roll(self) -> None:
        """Back to the running record after a single acquisition: a new record on a new timebase."""
        raise InstrumentOperationError(self.role, f"{type(self).__name__} makes no triggered acquisition")

    def now(self, since_s: float = 0.0, resolution_s: float = 2e-6) -> float:
        """The stopped record's newest sample's time (at least `since_s`), to `resolution_s`: found from
        the holes after it, on the scope's timebase, never from the host's clock.  The first window spans
        twice the last gap, so that one coarse and one fine read usually suffice; points before the record
        (rolled out, or before its `:RUN`) are holes too, so it is the last point held that counts."""
        span, start = max(2.0 * self._gap, 1e-3), since_s
        newest: float | None = None
        while start - since_s < RECORD_REACH_S:
            wave = self.window(self.reference_channel, start, span, DECIMATED_POINTS)
            held = np.flatnonzero(~np.isnan(wave.values))
            if len(held):
                newest = wave.t0_s + (int(held[-1]) + 1) * wave.dt_s
            if len(held) and held[-1] < len(wave.values) - 1 or not len(held) and newest is not None:
                break
            start, span = wave.t0_s + len(wave.values) * wave.dt_s, span * 8.0
        else:
            raise InstrumentOperationError(self.role, f"no record on channel {self.reference_channel} after "
                                                      f"{since_s:.6f} s: is the scope acquiring?")
        assert newest is not None
        # the newest sample lies in the bucket after the last one held; refine inside it
        dt = wave.dt_s
        while dt > resolution_s:
            wave = self.window(self.reference_channel, newest, dt, DECIMATED_POINTS)
            held = np.flatnonzero(~np.isnan(wave.values))
            if len(held):
                newest = wave.t0_s + (int(held[-1]) + 1) * wave.dt_s
            dt = wave.dt_s
        self._gap = max(newest - since_s, 0.0)
        return newest

    _gap = 1.0
    reference_channel = 1
    memory_points = 4_000_000
    """Acquisition memory a read reaches into (a driver takes it from its facts)."""
    pair_size = 2
    """Channels that share one memory (1-2, 3-4 on an X-Series): each displayed one gets an equal part."""

    _displayed: frozenset[int] = frozenset()

    @property
    def displayed(self) -> frozenset[int]:
        """The channels the driver switched on (a channel off leaves its pair's memory to the other)."""
        return self._displayed

    def channel_memory_points(self, channel: int, shown: frozenset[int] | None = None) -> int:
        """How many points of `channel` the memory holds: its pair's memory shared among the displayed
        channels of the pair (3000 X User's Guide p. 270); `shown`: those channels instead of the ones
        displayed now."""
        pair = (channel - 1) // self.pair_size
        sharing = sum(1 for c in (self.displayed if shown is None else shown) if (c - 1) // self.pair_size == pair)
        return self.memory_points // max(1, sharing)


class KeysightInfiniiVision(ScpiInstrument, Scope):
    """InfiniiVision X-Series over VISA (LAN port 5025 or USBTMC)."""

    makes_single = True
    memory_points = int(fact("keysight-infiniivision", "memory_points"))
    pair_size = int(fact("keysight-infiniivision", "channels_per_memory_pair"))

    def __init__(self, transport: LineTransport) -> None:
        super().__init__(transport)
        self._single: tuple[float, float] | None = None
        """The armed acquisition's view (position, range): what `single_window` reads whole."""
        self._source: int | None = None
        self._points: int | None = -1    # -1: not sent yet (None is MAXimum)
        self._window: tuple[float, float] | None = None

    def configure(self, channels: dict[int, tuple[float, float]]) -> None:
        t = self.transport
        t.write(":STOP")
        for channel, (volts_per_div, probe) in sorted(channels.items()):
            self._channel(channel, volts_per_div, probe)
        t.write(":ACQuire:TYPE HRESolution")
        t.write(":TIMebase:MODE ROLL")
        t.write(":TIMebase:REFerence LEFT")
        t.write(":WAVeform:FORMat WORD")
        t.write(":WAVeform:BYTeorder MSBFirst")
        t.write(":WAVeform:UNSigned 1")
        t.write(":RUN")
        self._sync()
        self._source, self._points = None, -1
        self._window = None
        self.reference_channel = min(channels)

    def _channel(self, channel: int, volts_per_div: float, probe: float) -> None:
        if channel not in (1, 2, 3, 4) or not volts_per_div > 0 or not probe > 0:
            raise InvalidValue(f"scope channel {channel}: needs channel 1…4, V/div > 0, probe > 0")
        t = self.transport
        t.write(f":CHANnel{channel}:PROBe {probe:g}")
        t.write(f":CHANnel{channel}:SCALe {volts_per_div:g}")
        t.write(f":CHANnel{channel}:OFFSet 0")
        t.write(f":CHANnel{channel}:DISPlay 1")
        self._displayed = self.displayed | {channel}

    def set_channel(self, channel: int, volts_per_div: float, probe: float) -> None:
        self._channel(channel, volts_per_div, probe)
        self._sync()

    def show(self, channel: int, on: bool) -> None:
        if channel not in (1, 2, 3, 4):
            raise InvalidValue(f"scope channel {channel}: needs channel 1…4")
        self.transport.write(f":CHANnel{channel}:DISPlay {int(on)}")
        self._sync()
        self._displayed = (self.displayed | {channel}) if on else (self.displayed - {channel})

    def measure(self, item: str, channel: int) -> float:
        if item not in MEASUREMENTS:
            raise InvalidValue(f"scope measurement must be one of {', '.join(MEASUREMENTS)}, not {item!r}")
        value = self._floats(self.transport.query(f":MEASure:{MEASUREMENTS[item]}? CHANnel{channel}"), 1,
                             f"{item} on channel {channel}", overload=True)[0]
        return math.nan if abs(value) >= INVALID else value

    def stop(self) -> None:
        """No `*OPC?` here: every read that follows is a query on this connection, answered in order."""
        self.transport.write(":STOP")

    def run(self) -> None:
        self.transport.write(":RUN")
        self._sync()

    def window(self, channel: int, start_s: float, span_s: float, points: int | None) -> Waveform:
        if points is not None and (points < 1 or DECIMATED_POINTS % points) or not span_s > 0:
            raise InvalidValue(f"scope window: an even divisor of {DECIMATED_POINTS} points, or every point (None), "
                               f"over a positive span, not {points} over {span_s}")
        t = self.transport
        settings = []   # one program message for all of them (IEEE 488.2 §7.3: `;:` starts a new header)
        if self._window != (start_s, span_s):
            # the position to 1 ns after a day of record (13 digits): a coarser one cuts the newest samples off
            settings += [f":TIMebase:POSition {start_s:.13E}", f":TIMebase:RANGe {span_s:.9E}"]
            self._window = (start_s, span_s)
        if self._source != channel:
            settings.append(f":WAVeform:SOURce CHANnel{channel}")
            self._source = channel
        if self._points != points:
            settings.append(f":WAVeform:POINts {'MAXimum' if points is None else points}")
            self._points = points
        if settings:
            t.write(";".join(settings))
        return self._fetch(channel)

    def _fetch(self, channel: int, preamble: tuple[int, float, float, tuple[float, float, float]] | None = None) \
            -> Waveform:
        """The data block of the waveform source as set, after its preamble (read here unless given)."""
        count, x_inc, x_start, y = self._preamble() if preamble is None else preamble
        if count > MAX_POINTS:
            raise InstrumentOperationError(self.role, f":WAVeform:PREamble?: {count} points, the most a read takes "
                                                      f"is {MAX_POINTS}")
        raw = self.transport.query_block(":WAVeform:DATA?")
        if len(raw) != 2 * count:
            raise InstrumentOperationError(self.role, f":WAVeform:DATA?: {len(raw)} bytes for {count} WORD points")
        codes = np.frombuffer(raw, dtype=">u2").astype(np.float64)
        values = (codes - y[2]) * y[0] + y[1]
        values[codes == HOLE] = np.nan
        return Waveform(channel, x_start, x_inc, values)

    def _preamble(self) -> tuple[int, float, float, tuple[float, float, float]]:
        """(points, x increment, time of the first point, (y increment, y origin, y reference))."""
        pre = self.transport.query(":WAVeform:PREamble?").split(",")
        if len(pre) != 10:
            raise InstrumentOperationError(self.role, f":WAVeform:PREamble?: expected 10 fields, got {','.join(pre)!r}")
        try:
            fmt, count = int(pre[0]), int(pre[2])
            x_inc, x_orig, x_ref = float(pre[4]), float(pre[5]), float(pre[6])
            y_inc, y_orig, y_ref = float(pre[7]), float(pre[8]), float(pre[9])
        except ValueError as exc:
            raise InstrumentOperationError(self.role, f":WAVeform:PREamble?: not numbers: {pre!r}") from exc
        if fmt != 1:
            raise InstrumentOperationError(self.role, f"waveform format {fmt}, expected 1 (WORD)")
        if count < 0:
            raise InstrumentOperationError(self.role, f":WAVeform:PREamble?: {count} points")
        return count, x_inc, x_orig - x_ref * x_inc, (y_inc, y_orig, y_ref)

    # --- a single triggered acquisition ------------------------------------------------------------
    def arm_single(self, source: int, level_v: float, rising: bool, pre_s: float, post_s: float) -> None:
        """`:TIMebase:MODE MAIN` with the reference at the left edge `pre_s` before the trigger
        (`:TIMebase:POSition` is the time from the trigger to the reference), an edge trigger
        (3000T X-Series Programmer's Guide, :TRIGger[:EDGE] commands, p. 1036), the trigger event
        register cleared by reading it (`:TER?`, 4000 X guide p. 296), then `:SINGle`, which forces the
        sweep to NORMal: it waits for the trigger (p. 1603).  The Run bit read back is the sync: set, the
        scope is armed."""
        if not math.isfinite(level_v):
            raise InvalidValue(f"single acquisition: needs a finite trigger level, not {level_v}")
        self._arm(source, pre_s, post_s, [":TRIGger:MODE EDGE", f":TRIGger:EDGE:SOURce CHANnel{source}",
                                          f":TRIGger:EDGE:LEVel {level_v:.6E}",
                                          f":TRIGger:EDGE:SLOPe {'POSitive' if rising else 'NEGative'}"])

    def arm_single_runt(self, source: int, low_v: float, high_v: float, pre_s: float, post_s: float) -> None:
        """The runt trigger (3000T X-Series Programmer's Guide, :TRIGger:RUNT commands, p. 1056) on a
        positive runt with no width qualifier, its two thresholds set per source by `:TRIGger:LEVel:LOW`
        (p. 1015) and `:TRIGger:LEVel:HIGH` (p. 1014), each within 0.75 of full scale from the centre;
        armed as `arm_single` arms."""
        if not (math.isfinite(low_v) and math.isfinite(high_v) and low_v < high_v):
            raise InvalidValue(f"runt trigger: needs finite thresholds, low < high, not {low_v}, {high_v}")
        self._arm(source, pre_s, post_s, [":TRIGger:MODE RUNT", f":TRIGger:RUNT:SOURce CHANnel{source}",
                                          ":TRIGger:RUNT:POLarity POSitive", ":TRIGger:RUNT:QUALifier NONE",
                                          f":TRIGger:LEVel:LOW {low_v:.6E},CHANnel{source}",
                                          f":TRIGger:LEVel:HIGH {high_v:.6E},CHANnel{source}"])

    def arm_single_held(self, source: int, level_v: float, above: bool, longer_than_s: float, pre_s: float,
                        post_s: float) -> None:
        """The pattern trigger with its TIMeout qualifier (3000 X-Series Programmer's Guide: :TRIGger:MODE
        p. 886, :TRIGger:PATTern p. 919, :TRIGger:PATTern:QUALifier p. 924): one channel in the pattern,
        1 (above its level) or 0 (below), the others X; the trigger comes when the pattern has held for the
        :TRIGger:PATTern:GREaterthan time, not when it ends.  The pattern compares each analog channel with
        that channel's own trigger level (5000 Series User's Guide p. 137), which the driver sets as the
        edge trigger's level on that source before it chooses the pattern mode (an order that holds
        whichever way a model keeps the level).  The time is held to the range the guide gives a
        pattern's duration (p. 926: 10 ns to 9.99 s).  Armed as `arm_single` arms."""
        low, high = PATTERN_HELD_RANGE_S
        if not math.isfinite(level_v) or not low <= longer_than_s <= high:
            raise InvalidValue(f"pattern trigger: needs a finite level and {low:g} s <= time <= {high:g} s, "
                               f"not {level_v}, {longer_than_s}")
        pattern = "".join(("1" if above else "0") if n == source else "X" for n in (1, 2, 3, 4))
        self._arm(source, pre_s, post_s, [":TRIGger:MODE EDGE", f":TRIGger:EDGE:SOURce CHANnel{source}",
                                          f":TRIGger:EDGE:LEVel {level_v:.6E}", ":TRIGger:MODE PATTern",
                                          ":TRIGger:PATTern:FORMat ASCii", f':TRIGger:PATTern "{pattern}"',
                                          ":TRIGger:PATTern:QUALifier TIMeout",
                                          f":TRIGger:PATTern:GREaterthan {longer_than_s:.6E}"])

    def _arm(self, source: int, pre_s: float, post_s: float, trigger: list[str]) -> None:
        if source not in (1, 2, 3, 4) or not (pre_s >= 0 and post_s > 0):
            raise InvalidValue(f"single acquisition: needs channel 1…4, pre ≥ 0 and post > 0 s, "
                               f"not {source}, {pre_s}, {post_s}")
        t = self.transport
        t.write(":STOP")
        t.write(";".join([":TIMebase:MODE MAIN", ":TIMebase:REFerence LEFT", f":TIMebase:RANGe {pre_s + post_s:.9E}",
                          f":TIMebase:POSition {-pre_s:.9E}", *trigger]))
        t.query(":TER?")
        t.write(":SINGle")
        if not self._condition() & RUN_BIT:
            raise InstrumentOperationError(self.role, "the scope did not arm for its single acquisition "
                                                      "(the Run bit stayed clear after :SINGle)")
        self._source, self._points = None, -1
        self._window = self._single = (-pre_s, pre_s + post_s)

    def _condition(self) -> int:
        return int(self._floats(self.transport.query(":OPERegister:CONDition?"), 1, ":OPERegister:CONDition?")[0])

    def single_waits(self) -> bool:
        return bool(self._condition() & WAIT_TRIG_BIT)

    def single_done(self) -> bool:
        return not self._condition() & RUN_BIT

    def single_window(self, channel: int) -> Waveform:
        """`:WAVeform:POINts MAXimum` on the stopped record, as a roll record is read (M924x guide
        p. 1171): every sample of the acquisition, the x origin relative to the trigger."""
        if channel not in (1, 2, 3, 4):
            raise InvalidValue(f"scope channel {channel}: needs channel 1…4")
        if self._single is None:
            raise InstrumentOperationError(self.role, "no single acquisition was armed to read")
        settings = [f":WAVeform:SOURce CHANnel{channel}", ":WAVeform:POINts MAXimum"]
        if self._window != self._single:     # a long record read in pieces panned the view: the whole again
            settings = [f":TIMebase:POSition {self._single[0]:.9E}", f":TIMebase:RANGe {self._single[1]:.9E}"] + settings
        self.transport.write(";".join(settings))
        self._source, self._points, self._window = channel, None, self._single
        preamble = self._preamble()
        count, x_inc, x_start, _ = preamble
        if count <= PIECE_POINTS:
            return self._fetch(channel, preamble)
        # a long record: panned over in pieces, as a stopped roll record is read
        pieces, start, end = [], x_start, x_start + count * x_inc
        while start < end - x_inc / 2:
            span = min(PIECE_POINTS * x_inc, end - start)
            piece = self.window(channel, start, span, None)
            pieces.append(piece.values)
            start += len(piece.values) * x_inc
        return Waveform(channel, x_start, x_inc, np.concatenate(pieces))

    def resume_roll(self) -> None:
        t = self.transport
        t.write(":TIMebase:MODE ROLL")
        t.write(":TIMebase:REFerence LEFT")
        t.write(":RUN")
        self._sync()
        self._source, self._points, self._window, self._single = None, -1, None, None

    def safe(self) -> None:
        """A scope drives nothing: its safe state is the one it is in."""
