"""The vehicle side of the control and proximity pilots: interface and the lab driver of our board.

The board's line protocol is documented in `docs/protocols/cp-emulator.md`; every action it
performs is stamped with the board's own clock, so switching times and the edges it captures
share one timebase.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from instruments.base import Instrument, LineInstrument
from core.uncertainty import expanded_u, interval_u
from core.types import Channel, Edge, Reading
from core.errors import InstrumentOperationError, InvalidValue

VEHICLE_STATES = ("A", "B", "C", "D", "E")
"""A: unplugged; B: R3 only; C: R3 ∥ R2 (charging); D: R3 ∥ R2' (ventilation); E: CP shorted to PE."""

MAX_VEHICLE_OHM = 100_000.0


PWM_PERIOD_S = 1e-3
"""The CP generator's nominal period: 1 kHz (IEC 61851-1 Table A.7)."""
DUTY_QUANTUM_PCT = 0.01
"""Duty is reported with 2 decimals (docs/protocols/cp-emulator.md, `MEAS:CP?` and the `DUTY` edge)."""


@dataclass(frozen=True)
class CpMeasurement:
    """CP waveform as the board's ADC sees it; duty in percent of the period high."""

    high_v: float
    low_v: float
    frequency_hz: float
    duty_pct: float
    t_s: float


@dataclass(frozen=True)
class CpLevel:
    """CP's level where it is DC (A1's +12 V, state F's −12 V), with its expanded uncertainty (k = 2):
    None where the instrument that read it states no accuracy (the board's ADC, a scope's
    `:MEASure:VTOP?`: neither is in instruments/facts)."""

    volts: float
    u_v: float | None
    t_s: float


@dataclass(frozen=True)
class Capture:
    """What one triggered acquisition showed of an action and its consequence: the action's step at
    `t_act` and what followed, as edges on the emulator's timebase (placed there: within the record
    their times are exact, relative to the trigger), with the record's sample interval and the U (k = 2)
    of a time from the step to an edge in it (the interval, and how late the trigger can show the step)."""

    t_act: float
    edges: list[Edge]
    sample_interval_s: float
    how: str
    u_s: float


CP_STEPS = ("up", "down", "flat", "withdrawn")
"""How an action moves CP while the EVSE's PWM runs: its high level up (C → B, C → A, PE lost), which an
edge trigger catches; down (B → C, B → D), which a runt trigger catches; flat, the PWM's low half gone
(a short to PE: state E), which a pattern trigger with a timeout catches; or withdrawn, the EVSE's own
answer to the act (a pause): its PWM stops, caught as a short is, and never coming is the EVSE's."""


class CpEmulator(Instrument):
    """Vehicle CP/PP circuit: resistances, diode, PP coding, CP measurement, edge capture."""

    role = "cp"

    def capture_after(self, act: Callable[[], float], window_s: float, wait: Callable[[float], None],
                      cp_step: str | None, cp_record: bool = False) -> Capture | None:
        """Time what follows `act` in one triggered acquisition, where this emulator makes one (a scope
        that triggers on CP's step: `cp_step`, one of CP_STEPS, or None where the action shows none a
        trigger can tell); `cp_record`: CP's levels in the record matter too (a
        state F that follows), not only the contactor.  None: `act` was not performed and its edges time it
        (a board stamps its own switching and the EVSE's edges on one clock), so the caller acts, waits
        and reads `read_edges`."""
        if cp_step is not None and cp_step not in CP_STEPS:
            raise InvalidValue(f"cp_step must be one of {CP_STEPS} or None, not {cp_step!r}")
        return None

    @abstractmethod
    def set_state(self, state: str) -> float:
        """Apply a vehicle state; returns the board time at which the switch happened."""

    @abstractmethod
    def set_resistance(self, ohm: float) -> float:
        """Apply an arbitrary CP–PE resistance (through the diode), e.g. the ends of a tolerance band."""

    @abstractmethod
    def set_diode(self, present: bool) -> float:
        """False shorts the vehicle diode: the EVSE's diode check must then refuse to charge."""

    @abstractmethod
    def set_pp(self, ohm: float | None) -> float:
        """Present a cable coding on PP (None = open), for socket-outlet EVSEs."""

    @abstractmethod
    def set_pe(self, connected: bool) -> float:
        """False breaks the vehicle's PE return (loss of PE): its CP resistors float."""

    @abstractmethod
    def measure_pp(self) -> Reading:
        """PP–PE resistance on the vehicle connector (a tethered plug's resistor), in ohm; inf when open."""

    @abstractmethod
    def measure_cp(self) -> CpMeasurement: ...

    def measure_cp_level(self) -> CpLevel:
        """The CP's high level, read where it is DC to the best accuracy the bench states.  Here: the CP
        measurement's, no U stated; a bench with a DMM on CP overrides it."""
        m = self.measure_cp()
        return CpLevel(m.high_v, None, m.t_s)

    @abstractmethod
    def output_present(self) -> Reading:
        """1.0 when the board senses mains voltage on the vehicle side of the contactor."""

    @abstractmethod
    def interlock_closed(self) -> Reading:
        """1.0 when the bench's interlock loop (door switch, emergency stop) into the board is closed."""

    @abstractmethod
    def start_capture(self) -> float:
        """Clear the edge buffer and start capturing; returns the board time of the start."""

    @abstractmethod
    def read_edges(self) -> list[Edge]: ...

    @abstractmethod
    def time(self) -> float:
        """Board time now, in seconds."""

    @property
    @abstractmethod
    def stamp_resolution_s(self) -> float:
        """The grid every edge and action stamp of this instrument lies on, in s."""

    @property
    def interval_u_s(self) -> float:
        """Expanded uncertainty (k = 2) of a time between two of this instrument's edge stamps, in s: what a
        timing verdict from its edges carries (`evidence.check(..., u=cp.interval_u_s)`)."""
        return interval_u(self.stamp_resolution_s)

    @property
    def duty_u_pct(self) -> float:
        """U (k = 2) of a duty reading, in %: its rise and fall each on the stamp grid, over a 1 kHz
        period (IEC 61851-1 Table A.7), plus the 0.01 % the protocols report duty in."""
        edge_pct = 100.0 * self.stamp_resolution_s / PWM_PERIOD_S
        return expanded_u(edge_pct, edge_pct, DUTY_QUANTUM_PCT)

    def frequency_u_hz(self, frequency_hz: float) -> float:
        """U (k = 2) of a PWM frequency, from the U of one period between two stamps: ΔF = F² · ΔT."""
        return frequency_hz * frequency_hz * interval_u(self.stamp_resolution_s)


class WbrCpEmulator(LineInstrument, CpEmulator):
    """Driver of the wallbox-rig CP/PP emulator board (line protocol v1)."""

    STAMP_RESOLUTION_S = 1e-6
    """The board stamps actions and edges "in seconds (6 decimals, microsecond resolution)"
    (docs/protocols/cp-emulator.md, Framing): both ends of an interval are quantised to 1 µs."""

    @property
    def stamp_resolution_s(self) -> float:
        return self.STAMP_RESOLUTION_S

    def set_state(self, state: str) -> float:
        if state not in VEHICLE_STATES:
            raise InvalidValue(f"vehicle state must be one of {', '.join(VEHICLE_STATES)}, not {state!r}")
        return self._action(f"STATE {state}")

    def set_resistance(self, ohm: float) -> float:
        if not 0 < ohm <= MAX_VEHICLE_OHM:
            raise InvalidValue(f"CP resistance must be in (0, {MAX_VEHICLE_OHM:.0f}] ohm, not {ohm}")
        return self._action(f"RES {ohm:.1f}")

    def set_diode(self, present: bool) -> float:
        return self._action(f"DIODE {1 if present else 0}")

    def set_pp(self, ohm: float | None) -> float:
        if ohm is None:
            return self._action("PP OPEN")
        if not 0 <= ohm <= MAX_VEHICLE_OHM:
            raise InvalidValue(f"PP resistance must be in [0, {MAX_VEHICLE_OHM:.0f}] ohm, not {ohm}")
        return self._action(f"PP {ohm:.1f}")

    def set_pe(self, connected: bool) -> float:
        return self._action(f"PE {1 if connected else 0}")

    def measure_pp(self) -> Reading:
        answer = self.transport.query("PP?")
        if answer.upper().startswith("OPEN,"):   # the board's word for no resistor at all: an open circuit
            return Reading(float("inf"), "ohm", self._floats(answer[5:], 1, "PP?")[0])
        ohm, t = self._floats(answer, 2, "PP?")
        return Reading(ohm, "ohm", t)

    def measure_cp(self) -> CpMeasurement:
        hi, lo, f, d, t = self._floats(self.transport.query("MEAS:CP?"), 5, "MEAS:CP?")
        return CpMeasurement(hi, lo, f, d, t)

    def output_present(self) -> Reading:
        level, t = self._floats(self.transport.query("OVP?"), 2, "OVP?")
        return Reading(level, "", t)

    def interlock_closed(self) -> Reading:
        level, t = self._floats(self.transport.query("ILK?"), 2, "ILK?")
        return Reading(level, "", t)

    def start_capture(self) -> float:
        return self._action("CAP:START")

    def read_edges(self) -> list[Edge]:
        answer = self.transport.query("CAP:READ?")
        count_text, _, body = answer.partition(";")
        try:
            count = int(count_text)
        except ValueError as exc:
            raise InstrumentOperationError(self.role, f"CAP:READ?: bad count in {answer!r}") from exc
        items = body.split(";") if body else []
        if len(items) != count:
            raise InstrumentOperationError(self.role, f"CAP:READ?: said {count} edges, sent {len(items)}")
        edges = []
        for item in items:
            parts = item.split(",")
            if len(parts) != 3:
                raise InstrumentOperationError(self.role, f"CAP:READ?: bad edge {item!r}")
            try:
                edges.append(Edge(float(parts[0]), Channel(parts[1]), parts[2]))
            except ValueError as exc:
                raise InstrumentOperationError(self.role, f"CAP:READ?: bad time or unknown channel in {item!r} "
                                               f"(channels: {', '.join(Channel)})") from exc
        return edges

    def time(self) -> float:
        return self._floats(self.transport.query("TIME?"), 1, "TIME?")[0]

    def safe(self) -> None:
        self._action("SAFE")
