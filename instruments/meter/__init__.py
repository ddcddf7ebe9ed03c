"""The Modbus meter emulator role: the rig impersonates the Smart-Energy meter at the building's
grid connection, and the DUT (the Modbus master) polls it (WB-MB-01…04).

What the meter measures is a `GridState`: per-phase voltage, current and active power at the
grid connection (import positive, export negative), frequency and the energy registers.  The
rig computes it from the household load and PV production a test sets and the wallbox's own
draw the power analyser measures, and pushes it to the emulator; every poll is answered from
the latest state, encoded with the register map of the configured model
(`instruments/meter/maps/`).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass, replace
from typing import Any

from instruments.base import Instrument

FAULTS = ("none", "no_answer", "crc", "stale", "word_order", "wrong_id")
"""What the emulator can do wrong on purpose: not answer; answer with a broken CRC; keep answering
the same frozen values; swap the two words of every 32-bit value; answer under another id."""


@dataclass(frozen=True)
class GridState:
    """The grid connection as a meter sees it, in V, A, W, Hz and Wh."""

    u_v: tuple[float, float, float] = (230.0, 230.0, 230.0)
    i_a: tuple[float, float, float] = (0.0, 0.0, 0.0)
    p_w: tuple[float, float, float] = (0.0, 0.0, 0.0)
    f_hz: float = 50.0
    e_import_wh: float = 0.0
    e_export_wh: float = 0.0

    def advanced(self, seconds: float) -> GridState:
        """The energy registers after `seconds` at this state's power (import and export apart)."""
        p = sum(self.p_w)
        wh = abs(p) * seconds / 3600.0
        return replace(self, e_import_wh=self.e_import_wh + (wh if p > 0 else 0.0),
                       e_export_wh=self.e_export_wh + (wh if p < 0 else 0.0))


def quantities(state: GridState, phases: int, unused: float) -> dict[str, float]:
    """Every quantity a map may name, from `state`; a single-phase meter shows only L1."""
    u, i, p = list(state.u_v), list(state.i_a), list(state.p_w)
    for k in range(phases, 3):
        u[k] = i[k] = p[k] = unused
    s = [abs(u[k] * i[k]) for k in range(3)]
    q = [math.sqrt(max(0.0, s[k] ** 2 - p[k] ** 2)) for k in range(3)]
    pf = [p[k] / s[k] if s[k] > 0 else 1.0 for k in range(3)]
    # neutral current of the three phase currents 120° apart (at unity power factor)
    re = i[0] - 0.5 * (i[1] + i[2])
    im = math.sqrt(3) / 2 * (i[1] - i[2])
    out = {"u_avg": sum(u[:phases]) / phases, "f": state.f_hz, "i_total": sum(i), "i_n": math.hypot(re, im),
           "p_total": sum(p), "q_total": sum(q), "s_total": sum(s),
           "pf_total": sum(p) / sum(s) if sum(s) > 0 else 1.0,
           "e_import": state.e_import_wh, "e_export": state.e_export_wh,
           "e_total": state.e_import_wh + state.e_export_wh}
    for k in range(3):
        n = k + 1
        out.update({f"u_l{n}": u[k], f"i_l{n}": i[k], f"p_l{n}": p[k], f"q_l{n}": q[k], f"s_l{n}": s[k],
                    f"pf_l{n}": pf[k]})
    return out


class MeterEmulator(Instrument):
    """The rig's side of the RS485 line to the DUT: serves one meter model, answers every poll."""

    role = "meter"

    @abstractmethod
    def serve(self, model: str | None = None, **line: object) -> None:
        """(Re)start serving `model` (the rig file's when None) with these line settings
        (id, baud, parity, stopbits; the rig file's, else the meter's defaults, where not given)."""

    @abstractmethod
    def update(self, state: GridState, t_s: float) -> None:
        """What the meter measures from now on; `t_s` (rig time) advances the energy registers."""

    @abstractmethod
    def set_energy(self, import_wh: float, export_wh: float) -> None:
        """Where the energy registers stand now (a meter on a real installation has years on it)."""

    @abstractmethod
    def set_fault(self, fault: str) -> None:
        """One of `FAULTS`; "none" answers correctly again."""

    @abstractmethod
    def polls(self) -> int:
        """How many requests addressed to the meter arrived so far (answered or not)."""

    @property
    @abstractmethod
    def phases(self) -> int:
        """Phases the served model measures (1 for the single-phase meters)."""

    @property
    @abstractmethod
    def line(self) -> dict[str, Any]:
        """model, id, baud, parity, stopbits being served now."""

    def identify(self) -> str:
        line = self.line
        return f"WALLBOX-RIG,METER-EMULATOR,{line['model']},{line['id']}@{line['baud']}{line['parity']}{line['stopbits']}"

    def safe(self) -> None:
        """A meter cannot energise anything; its safe state answers truthfully again."""
        self.set_fault("none")
