"""Power analyser: per-phase U, I, P and energy, as one record stamped by the analyser.

Lab driver: Yokogawa WT series (WT500/WT1800/WT5000) numeric-data commands as given in the
WT1800 communication interface manual (IM WT1801-17EN): `:NUMeric:NORMal:ITEM<n> <function>,<element>`
then `:NUMeric:NORMal:VALue?`.  The record's time is the integration timer (function TIME), the
analyser's own clock since `:INTEGrate:STARt`.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from instruments.base import Instrument, ScpiInstrument


@dataclass(frozen=True)
class PhaseValues:
    u_v: float
    i_a: float
    p_w: float


@dataclass(frozen=True)
class AnalyserRecord:
    """One numeric update: per-phase values, the integrated energy, and the analyser's time."""

    phases: tuple[PhaseValues, ...]
    energy_wh: float
    t_s: float

    @property
    def p_total_w(self) -> float:
        return sum(p.p_w for p in self.phases)


class PowerAnalyser(Instrument):
    role = "analyser"

    @abstractmethod
    def configure(self) -> None:
        """Select the numeric items this interface reads; called once when the rig opens."""

    @abstractmethod
    def start_integration(self) -> None:
        """Reset and start energy integration; its timer is the record timebase."""

    @abstractmethod
    def read(self) -> AnalyserRecord: ...


class YokogawaWT(ScpiInstrument, PowerAnalyser):
    """Three elements wired to L1, L2, L3 on the wallbox output; ASCII numeric format."""

    ERROR_QUERY = ":STATUS:ERROR?"
    """The WT series reads its error queue with `:STATus:ERRor?` (communication interface manual,
    STATus group), not SCPI's `SYSTem:ERRor?`."""

    ELEMENTS = (1, 2, 3)
    _ITEMS = [f"{fn},{el}" for el in ELEMENTS for fn in ("U", "I", "P")] + ["WP,SIGMA", "TIME,1"]

    def configure(self) -> None:
        self.transport.write(":COMMUNICATE:HEADER OFF")
        self.transport.write(":NUMERIC:FORMAT ASCII")
        self.transport.write(f":NUMERIC:NORMAL:NUMBER {len(self._ITEMS)}")
        for n, item in enumerate(self._ITEMS, start=1):
            self.transport.write(f":NUMERIC:NORMAL:ITEM{n} {item}")
        self._sync()
        self.check_errors("configuration")

    def start_integration(self) -> None:
        self.transport.write(":INTEGRATE:RESET")
        self.transport.write(":INTEGRATE:START")
        self._sync()

    def read(self) -> AnalyserRecord:
        values = self._floats(self.transport.query(":NUMERIC:NORMAL:VALUE?"), len(self._ITEMS),
                              ":NUMERIC:NORMAL:VALUE?")
        phases = tuple(PhaseValues(*values[3 * k: 3 * k + 3]) for k in range(len(self.ELEMENTS)))
        return AnalyserRecord(phases, energy_wh=values[-2], t_s=values[-1])

    def safe(self) -> None:
        """Measuring harms nothing: the analyser has no safe-state action."""
