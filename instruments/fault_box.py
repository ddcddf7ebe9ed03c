"""The fault-injection box: residual current, weld bridges, PE interruption, temperature, PS_1/PS_2.

It sits between the wallbox's output, its PE and its temperature sensor, and speaks CAN frames
defined in `instruments/dbc/wbr_fault_box.dbc` (documented in `docs/protocols/fault-box.md`).
Every command is acknowledged with the box's own time of application, and the box reports by
itself when an injected residual current stops flowing (the DUT opened its contactor): the
trip time is a difference of two box timestamps, as on a residual-current tester.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import cantools

from instruments.base import Instrument
from instruments.dbc import fault_box_dbc
from instruments.transport.base import FrameTransport
from instruments.transport.openers import CAN
from core.errors import InstrumentOperationError, InstrumentTimeout, InvalidValue
from core.uncertainty import expanded_u

MAX_RESIDUAL_MA = 600.0
TEMPERATURE_RANGE_C = (-60.0, 200.0)
RESIDUAL_CHANNELS = ("ac", "dc")
TEMPERATURE_MODES = {None: 0, "sensor": 1, "chamber": 2}
"""None: no override; sensor: the box replaces the DUT's temperature sensor; chamber: thermal chamber setpoint."""


@dataclass(frozen=True)
class FaultBoxState:
    """What the box applies and what flows right now (FB_Readback)."""

    ac_flowing_ma: float
    dc_flowing_ma: float
    temperature_c: float
    temperature_mode: str | None
    weld: tuple[bool, bool, bool]
    pe_open: bool
    ps1_closed: bool
    ps2_closed: bool


@dataclass(frozen=True)
class ResidualEvent:
    """An injected residual current started (`flowing`) or stopped (`interrupted`) without a command."""

    kind: str
    channel: str
    current_ma: float
    t_s: float


@dataclass(frozen=True)
class TripCapture:
    """A residual current's step and the output leaving the supply in one triggered acquisition: `t_on`
    placed on the box's timebase, `trip_s` measured inside the record (inf: still live at its end)."""

    t_on: float
    trip_s: float
    sample_interval_s: float
    how: str
    u_s: float
    """U (k = 2) of `trip_s`: the record's sample interval and what the signals hide."""


class FaultBox(Instrument):
    role = "fault_box"

    def capture_trip(self, channel: str, milliamps: float, observe_s: float,
                     wait: Callable[[float], None]) -> TripCapture | None:
        """Step the residual current from 0 to `milliamps` and time the trip in one triggered acquisition,
        where this box makes one (a scope across the leakage shunt whose memory holds `observe_s`); the
        current is 0 again when this returns.  None: its own stamps time it (the caller steps, waits and
        reads `events`)."""
        return None

    temperature_modes: tuple[str, ...] = ("sensor", "chamber")
    """What this fault injection can do to the DUT's temperature (a bench without a chamber: none)."""

    @abstractmethod
    def set_residual_ma(self, channel: str, milliamps: float) -> float:
        """Draw `milliamps` (AC rms at 50 Hz, or smooth DC) from output L1 to PE; returns box time."""

    @abstractmethod
    def set_weld(self, phases: Iterable[int]) -> float:
        """Bridge the contactor poles of these phases (1-based); an empty set opens every bridge."""

    @abstractmethod
    def set_pe_open(self, open_: bool) -> float:
        """Interrupt (True) or restore the wallbox's supply PE."""

    @abstractmethod
    def set_temperature(self, mode: str | None, celsius: float = 25.0) -> float:
        """Override the DUT's sensor (`sensor`), set the chamber (`chamber`), or release (None)."""

    @abstractmethod
    def set_grid_contact(self, ps1_closed: bool, ps2_closed: bool) -> float:
        """The grid operator's control contacts PS_1/PS_2 (§14a EnWG dimming)."""

    @abstractmethod
    def readback(self) -> FaultBoxState: ...

    @abstractmethod
    def events(self) -> list[ResidualEvent]:
        """Residual-current events reported since the last call, oldest first."""

    @property
    @abstractmethod
    def trip_time_u_s(self) -> float:
        """U (k = 2) of a trip time: from the injection step's stamp to the stamp of the current
        stopping (`events`), each as the instrument resolves it."""

    @property
    @abstractmethod
    def residual_u_ma(self) -> float | None:
        """U (k = 2) of a residual current as the rig knows it (measured where the bench measures it), in
        mA; None where the repository holds no datasheet figure for the instrument behind it."""

    def flowing_ma(self, channel: str) -> float:
        """The residual current flowing now, as this fault injection measures it (the box's readback)."""
        state = self.readback()
        return state.ac_flowing_ma if channel == "ac" else state.dc_flowing_ma

    def flowing_from(self, channel: str, t_command: float, milliamps: float) -> float:
        """When the residual current commanded at `t_command` began to flow, on the same timebase: a
        box that stamps its own application (`FB_Ack`) returns that stamp."""
        return t_command

    step_search_s = 0.0
    """How long after the command `flowing_from` looks for the current's step: ask for it that soon
    after, while what shows the step (a scope's rolling record) still holds it."""

    @abstractmethod
    def injection_tolerance_ma(self, milliamps: float) -> float:
        """How far the current measured flowing may lie from `milliamps` set before the injection, not
        the DUT, is at fault (a ladder resistor off its value, a wire loose)."""


class WbrFaultBox(FaultBox):
    """Driver of the wallbox-rig fault box (protocol 1.x) over any python-can interface."""

    opens = CAN
    ACK_RESOLUTION_S = 1e-6
    """`FB_Ack.Time`: the box's own time at µs resolution (docs/protocols/fault-box.md)."""
    SENSE_RESOLUTION_S = 1e-3
    """The box senses a residual current stopping with ≤ 1 ms resolution (docs/protocols/fault-box.md,
    "What a real box needs to provide")."""
    SETPOINT_RESOLUTION_MA = 0.5
    """AC and DC residual current set with ≤ 0.5 mA resolution (the same section)."""

    @property
    def trip_time_u_s(self) -> float:
        return expanded_u(self.ACK_RESOLUTION_S, self.SENSE_RESOLUTION_S)

    @property
    def residual_u_ma(self) -> float | None:
        return expanded_u(self.SETPOINT_RESOLUTION_MA)

    def injection_tolerance_ma(self, milliamps: float) -> float:
        """The box sets and senses to its resolution."""
        return self.SETPOINT_RESOLUTION_MA

    def __init__(self, transport: FrameTransport) -> None:
        if not isinstance(transport, FrameTransport):
            raise InvalidValue(f"the fault box talks CAN: give it a can:INTERFACE:CHANNEL address, not "
                               f"{getattr(transport, 'url', transport)!r}")
        self.role = transport.role
        self.can = transport
        self.db = fault_box_dbc()
        self._seq = 0
        self._events: list[ResidualEvent] = []

    # --- exchanges ---------------------------------------------------------------------------
    def _send(self, message: str, **signals: Any) -> int:
        self._seq = (self._seq + 1) % 256
        msg = self.db.get_message_by_name(message)
        try:
            data = msg.encode({"Seq": self._seq, **signals})
        except (cantools.database.EncodeError, KeyError, ValueError) as exc:
            raise InvalidValue(f"fault box {message}: {exc}") from exc
        self.can.send(msg.frame_id, data)
        return self._seq

    def _await(self, seq: int, answer: str) -> dict[str, Any]:
        """Frames until the answer with `seq`; events on the way are kept, stale answers dropped."""
        wanted = self.db.get_message_by_name(answer).frame_id
        ack_id = self.db.get_message_by_name("FB_Ack").frame_id
        while True:
            frame = self.can.receive(self.can.timeout_s)
            if frame is None:
                raise InstrumentTimeout(self.role, f"no {answer} for sequence {seq} within {self.can.timeout_s} s")
            try:
                decoded = self.db.decode_message(frame.arbitration_id, frame.data, decode_choices=False)
            except (KeyError, ValueError, cantools.database.DecodeError):
                continue  # another node's traffic on a shared bus
            if frame.arbitration_id == self.db.get_message_by_name("FB_Event").frame_id:
                self._events.append(ResidualEvent("flowing" if decoded["Kind"] == 1 else "interrupted",
                                                  RESIDUAL_CHANNELS[int(decoded["Channel"]) % 2],
                                                  float(decoded["Current"]), float(decoded["Time"])))
                continue
            if decoded.get("Seq") != seq:
                continue
            if frame.arbitration_id == ack_id and decoded["Status"] != 0:
                status = self.db.get_message_by_name("FB_Ack").get_signal_by_name("Status").choices
                raise InstrumentOperationError(self.role, f"command {seq} refused: "
                                               f"{status.get(decoded['Status'], decoded['Status'])}")
            if frame.arbitration_id != wanted:
                raise InstrumentOperationError(self.role, f"expected {answer} for {seq}, got "
                                               f"{self.db.get_message_by_frame_id(frame.arbitration_id).name}")
            return dict(decoded)

    def _command(self, message: str, **signals: Any) -> float:
        return float(self._await(self._send(message, **signals), "FB_Ack")["Time"])

    def close(self) -> None:
        self.can.close()

    # --- vocabulary --------------------------------------------------------------------------
    def identify(self) -> str:
        ident = self._await(self._send("FB_Identify"), "FB_Ident")
        return (f"WALLBOX-RIG,FAULTBOX,{int(ident['Serial']):08d},"
                f"{int(ident['ProtocolMajor'])}.{int(ident['ProtocolMinor'])}")

    def set_residual_ma(self, channel: str, milliamps: float) -> float:
        if channel not in RESIDUAL_CHANNELS:
            raise InvalidValue(f"residual current channel must be one of {RESIDUAL_CHANNELS}, not {channel!r}")
        if not math.isfinite(milliamps) or not 0 <= milliamps <= MAX_RESIDUAL_MA:
            raise InvalidValue(f"residual current must be in [0, {MAX_RESIDUAL_MA:g}] mA, not {milliamps}")
        return self._command("FB_ResidualAc" if channel == "ac" else "FB_ResidualDc", Current=milliamps)

    def set_weld(self, phases: Iterable[int]) -> float:
        chosen = set(phases)
        if not chosen <= {1, 2, 3}:
            raise InvalidValue(f"weld bridges exist for phases 1, 2, 3, not {sorted(chosen)}")
        return self._command("FB_Weld", L1=int(1 in chosen), L2=int(2 in chosen), L3=int(3 in chosen))

    def set_pe_open(self, open_: bool) -> float:
        return self._command("FB_PeOpen", Open=int(open_))

    def set_temperature(self, mode: str | None, celsius: float = 25.0) -> float:
        if mode not in TEMPERATURE_MODES:
            raise InvalidValue(f"temperature mode must be sensor, chamber or None, not {mode!r}")
        low, high = TEMPERATURE_RANGE_C
        if not math.isfinite(celsius) or not low <= celsius <= high:
            raise InvalidValue(f"temperature must be in [{low:g}, {high:g}] °C, not {celsius}")
        return self._command("FB_Temperature", Mode=TEMPERATURE_MODES[mode], Temperature=celsius)

    def set_grid_contact(self, ps1_closed: bool, ps2_closed: bool) -> float:
        return self._command("FB_GridContact", PS1=int(ps1_closed), PS2=int(ps2_closed))

    def readback(self) -> FaultBoxState:
        r = self._await(self._send("FB_Query"), "FB_Readback")
        mode = {v: k for k, v in TEMPERATURE_MODES.items()}.get(int(r["Mode"]))
        return FaultBoxState(float(r["AcFlowing"]), float(r["DcFlowing"]), float(r["Temperature"]), mode,
                             (bool(r["WeldL1"]), bool(r["WeldL2"]), bool(r["WeldL3"])), bool(r["PeOpen"]),
                             bool(r["PS1"]), bool(r["PS2"]))

    def events(self) -> list[ResidualEvent]:
        """A readback first: the box answers in order, so every event it sent before is in by then."""
        self.readback()
        out, self._events = self._events, []
        return out

    def safe(self) -> None:
        self._command("FB_Safe")
        self._events.clear()
