"""Power analyser: per-phase U, I, P and energy, as one record stamped by the analyser.

Lab driver: Yokogawa WT series (WT500/WT1800/WT5000) numeric-data commands as given in the
WT1800 communication interface manual (IM WT1801-17EN): `:NUMeric:NORMal:ITEM<n> <function>,<element>`
then `:NUMeric:NORMal:VALue?`.  The record's time is the integration timer (function TIME), the
analyser's own clock since `:INTEGrate:STARt`.

Ranges are fixed (`:INPut:VOLTage:RANGe:ALL`, `:INPut:CURRent:RANGe:ALL`), never auto: the accuracy
a verdict states is "% of reading + % of range" of the range the reading was made on
(instruments/facts/yokogawa-wt.toml), and an auto-ranging analyser would change it under the test.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.settings import Setting
from core.uncertainty import expanded_u
from instruments.base import Instrument, ScpiInstrument
from instruments.facts import accuracy_bound, fact
from instruments.transport.base import LineTransport

VOLTAGE_RANGES_V = (15.0, 30.0, 60.0, 100.0, 150.0, 300.0, 600.0, 1000.0)
"""WT1800 voltage ranges at crest factor 3 (bulletin, Specifications: inputs)."""
CURRENT_RANGES_A = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
"""WT1800 50 A input element, direct input, crest factor 3 (bulletin, Specifications: inputs)."""
VOLTAGE_RANGE = Setting("voltage_range_v", float, "the fixed voltage range of every element (its accuracy is a "
                        "% of it)", unit="V", choices=VOLTAGE_RANGES_V, default=300.0)
CURRENT_RANGE = Setting("current_range_a", float, "the fixed current range of every element (direct input)",
                        unit="A", choices=CURRENT_RANGES_A, default=50.0)


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
    FACTS = ""
    """The instruments/facts family whose accuracy the U below come from; a driver without one (a plug-in
    that has not written its datasheet's figures down) states no U: its verdicts say "not stated"."""
    voltage_range_v = 300.0
    current_range_a = 50.0

    def _u(self, function: str, reading: float, range_: float) -> float | None:
        return expanded_u(2.0 * accuracy_bound(self.FACTS, function, reading, range_)) if self.FACTS else None

    def u_v(self, volts: float) -> float | None:
        """U (k = 2) of one element's voltage reading."""
        return self._u("voltage", volts, self.voltage_range_v)

    def u_a(self, amps: float) -> float | None:
        """U (k = 2) of one element's current reading."""
        return self._u("current", amps, self.current_range_a)

    def u_w(self, watts: Sequence[float]) -> float | None:
        """U (k = 2) of the sum of these elements' active powers (each on the range V × I); the elements'
        errors are taken as independent."""
        if not self.FACTS:
            return None
        power_range = self.voltage_range_v * self.current_range_a
        return expanded_u(*(2.0 * accuracy_bound(self.FACTS, "power", w, power_range) for w in watts))

    def u_wh(self, wh: float, seconds: float, elements: int = 3) -> float | None:
        """U (k = 2) of energy integrated over `seconds` by `elements` elements: the power accuracy over
        the interval (% of the energy read + % of each element's power range times the time)."""
        if not self.FACTS:
            return None
        range_wh = self.voltage_range_v * self.current_range_a * max(seconds, 0.0) / 3600.0
        reading = fact(self.FACTS, "energy_reading_pct") * abs(wh) / 100.0
        return expanded_u(2.0 * reading, *(2.0 * accuracy_bound(self.FACTS, "power", 0.0, range_wh)
                                           for _ in range(elements)))

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
    FACTS = "yokogawa-wt"
    SETTINGS = (VOLTAGE_RANGE, CURRENT_RANGE)

    def __init__(self, transport: LineTransport, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(transport)
        settings = settings or {}
        self.voltage_range_v = float(VOLTAGE_RANGE.of(settings))
        self.current_range_a = float(CURRENT_RANGE.of(settings))

    @classmethod
    def build(cls, role: str, addresses: Sequence[str], settings: Mapping[str, Any],
              parts: Mapping[str, Instrument], wiring: Any) -> Instrument:
        assert cls.opens is not None
        return cls(cls.opens.open(role, addresses[0], settings), settings)

    def configure(self) -> None:
        self.transport.write(":COMMUNICATE:HEADER OFF")
        self.transport.write(f":INPUT:VOLTAGE:RANGE:ALL {self.voltage_range_v:g}V")
        self.transport.write(f":INPUT:CURRENT:RANGE:ALL {self.current_range_a:g}A")
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
