"""The supply the DUT is installed on, and powering it up on another rated one (WB-EL-01, WB-EL-02).

A wallbox learns its installation when it powers up (which phases are there, which nominal
voltage), so a test that wants it on another supply (single-phase at 100 V, three-phase at
415 V, 60 Hz) cuts the supply with the vehicle unplugged, programs the source and switches it
back on; afterwards the `installation` fixture power-cycles it back onto the rig file's idle
supply, so the next test finds the DUT installed as the rig file says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from conformance.injection import power_cycle, power_up
from conformance.limits import LIMITS
from core.errors import PreconditionError
from fixtures.evidence import Evidence, step
from instruments.power_analyser import AnalyserRecord
from rig.rig import Rig


@dataclass(frozen=True)
class Supply:
    """A supply as the manual rates it: `phases` 1 (L1, N, PE only) or 3, the L-N voltage, the frequency."""

    phases: int
    line_to_neutral_v: float
    frequency_hz: float

    @classmethod
    def three_phase(cls, line_to_line_v: float, frequency_hz: float) -> Supply:
        """The manuals rate a three-phase supply line to line (380-415 V): L-N is that over sqrt(3)."""
        return cls(3, line_to_line_v / math.sqrt(3.0), frequency_hz)

    def describe(self) -> str:
        if self.phases == 1:
            return f"single-phase {self.line_to_neutral_v:g} V {self.frequency_hz:g} Hz"
        return (f"three-phase {self.line_to_neutral_v * math.sqrt(3.0):.0f} V "
                f"({self.line_to_neutral_v:.1f} V L-N) {self.frequency_hz:g} Hz")


def nominal_supply() -> Supply:
    """Three-phase at the nominal voltage and frequency every supply test returns to."""
    return Supply(3, LIMITS.rig.nominal_supply_voltage.value, LIMITS.rig.nominal_supply_frequency.value)


class Installation:
    """Powers the DUT up on another supply when a test asks, and back on the rig's idle supply after."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.supply: Supply | None = None   # None: as the rig file installs it

    def power_up_on(self, supply: Supply) -> float | None:
        """Arrange: vehicle unplugged, supply off, the source set to `supply`, on.  Returns the CP
        board's time once the DUT idles in A1, or None when it did not within the ready timeout (a
        DUT that will not run on a rated supply: the caller judges that)."""
        rig = self.rig
        if supply.phases < 3 and rig.source.phases < 3:
            pytest.skip(f"a single-phase installation of this DUT needs a source that sets its phases apart "
                        f"(the rig's {type(rig.source).__name__} sets them together), such as ametek-lx")
        with step("arrange", f"power the DUT up on a {supply.describe()} supply, vehicle unplugged; wait for A1"):
            self.supply = supply   # from here on, the fixture's teardown puts the usual supply back
            if not power_up(rig, rig.clock, supply.line_to_neutral_v, supply.frequency_hz, supply.phases):
                return None
        return rig.cp.time()

    def ready_on(self, supply: Supply, evidence: Evidence) -> float:
        """`power_up_on`, judged: a DUT that does not come up on a rated supply fails WB-EL-01/02."""
        return evidence.found(f"DUT ready (A1) after power-up on {supply.describe()}", self.power_up_on(supply),
                              LIMITS.rig.ready_after_power_up)

    def confirm_applied(self, record: AnalyserRecord, evidence: Evidence) -> None:
        """Precondition, while charging: the analyser sees on L1 the voltage the source was set to (a
        source that did not apply it makes any verdict on that supply meaningless: broken, not
        failed).  L2 and L3 are recorded only: the DUT's contactor switches them, so their absence
        may be the DUT's fault, which the current check then judges."""
        supply = self.supply or nominal_supply()
        tolerance = LIMITS.rig.supply_applied_tolerance.value
        for k in range(supply.phases):
            evidence.record(f"L{k + 1} voltage while charging", record.phases[k].u_v, "V", t_s=record.t_s,
                            u=self.rig.analyser.u_v(record.phases[k].u_v))
        volts = record.phases[0].u_v
        if abs(volts - supply.line_to_neutral_v) > tolerance * supply.line_to_neutral_v:
            raise PreconditionError(f"the analyser sees {volts:.1f} V on L1, not the {supply.line_to_neutral_v:.1f} V "
                                    f"the source was set to (within {tolerance:.0%}): the rig did not apply the "
                                    "supply under test")

    def restore(self) -> None:
        """Back onto the rig file's idle supply by a power cycle, so the DUT finds its usual installation."""
        if self.supply is not None:
            self.supply = None
            power_cycle(self.rig, self.rig.clock)
