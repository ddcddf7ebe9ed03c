"""What a run concludes, as typed records: a test's outcome, a measurement's verdict.

The plugin makes them, `tests.jsonl` keeps them (one JSON object a line), and every report reads
them back through `TestRecord.from_json`, so a report never reaches for a key a writer spelled
another way.  Two words, one meaning each:

- a test's **outcome** (`Outcome`): *failed* only when a judged measurement is outside its limits
  (the DUT does not conform); *broken* whenever the rig could not reach a verdict; *passed*; *skipped*;
- a measurement's **verdict** (`Verdict`): *pass* or *fail* against its limits, *info* when it has none.

Both are `StrEnum`s: written to JSON they are the same words the files have always held.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from core.errors import RigError


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    BROKEN = "broken"
    SKIPPED = "skipped"

    @property
    def red(self) -> bool:
        """Failed or broken: what a report lists first and a rerun takes again."""
        return self in (Outcome.FAILED, Outcome.BROKEN)


OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)
"""Every outcome, in the order summaries count them."""


class RunStatus(StrEnum):
    """What a whole run concludes, and the exit code that says it to a shell or a CI."""

    PASSED = "passed"
    FAILED = "failed"
    BROKEN = "broken"
    INTERRUPTED = "interrupted"

    @property
    def exit_code(self) -> int:
        return {RunStatus.PASSED: 0, RunStatus.FAILED: 1, RunStatus.BROKEN: 2, RunStatus.INTERRUPTED: 3}[self]


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INFO = "info"


class Decision(StrEnum):
    """What a measured value with its expanded uncertainty U says about a limit (ILAC-G8:09/2019 §4.2,
    the non-binary statements): the interval value ± U wholly inside (pass), straddling a limit with the
    value inside (conditional pass) or outside (conditional fail), wholly outside (fail)."""

    PASS = "pass"
    CONDITIONAL_PASS = "conditional pass"
    CONDITIONAL_FAIL = "conditional fail"
    FAIL = "fail"

    @property
    def conditional(self) -> bool:
        return self in (Decision.CONDITIONAL_PASS, Decision.CONDITIONAL_FAIL)


def decide(value: float, low: float | None, high: float | None, u: float | None) -> Decision:
    """The statement for `value` ± `u` against [low, high] (either bound may be absent); an unstated U
    counts as 0 (the report says it was not stated).  An infinite value (the event never came) is outside
    whatever its U."""
    inside = (low is None or value >= low) and (high is None or value <= high)
    spread = 0.0 if u is None or math.isinf(value) else abs(u)
    clear = (low is None or value - spread >= low) and (high is None or value + spread <= high)
    clear_out = (low is not None and value + spread < low) or (high is not None and value - spread > high)
    if inside:
        return Decision.PASS if clear else Decision.CONDITIONAL_PASS
    return Decision.FAIL if clear_out else Decision.CONDITIONAL_FAIL


class DecisionRule(StrEnum):
    """How a lab turns a statement into the test's verdict (ISO/IEC 17025:2017 §7.8.6 asks that the rule
    be stated with every statement of conformity; ILAC-G8:09/2019 §4.2 describes both)."""

    SIMPLE = "simple"
    """Simple acceptance (ILAC-G8 §4.2.1, guard band w = 0): the measured value decides; a conditional
    pass passes, a conditional fail fails."""
    GUARDED = "guarded"
    """Guarded acceptance with w = U (ILAC-G8 §4.2.2): only a value whose whole interval lies inside the
    limits passes; a conditional pass fails (the lab cannot show conformity at this uncertainty)."""

    def accepts(self, decision: Decision) -> bool:
        if self is DecisionRule.SIMPLE:
            return decision in (Decision.PASS, Decision.CONDITIONAL_PASS)
        return decision is Decision.PASS

    def describe(self) -> str:
        if self is DecisionRule.SIMPLE:
            return ("simple acceptance (ILAC-G8:09/2019 §4.2.1, guard band 0): a value inside its limits passes; "
                    "a value within its expanded uncertainty U (k = 2) of a limit is reported as a conditional "
                    "pass or fail")
        return ("guarded acceptance (ILAC-G8:09/2019 §4.2.2, guard band w = U, k = 2): a value passes only when "
                "value ± U lies inside its limits; a conditional pass fails")


class RecordError(RigError):
    """A results file that does not hold what `wallbox-rig run` writes (edited, or cut off)."""


@dataclass(frozen=True)
class MeasurementRecord:
    """One value the rig measured, with its limits and what they make of it."""

    name: str
    value: float
    unit: str
    low: float | None
    high: float | None
    verdict: Verdict
    margin: float | None
    """Distance to the nearer limit, in `unit` (negative: outside); None without limits."""
    requirement: str
    clause: str
    source: str
    t_s: float | None = None
    note: str = ""
    marginal: bool = False
    """Passed, but closer to a limit than the limit's declared marginal band."""
    cites: tuple[str, ...] = ()
    """Bibliography keys of the limit (the run folder's sources.json expands them)."""
    random: bool = False
    """Random by design (a cold-load delay): trends never read its margin as drift."""
    presence: bool = False
    """Judges only that an awaited event came (`Evidence.found`: the DUT came up, the contactor
    closed): on the way to the requirement's quantity, never its key measurement."""
    u: float | None = None
    """Expanded uncertainty (k = 2) of `value`, in `unit`, from the instruments that measured it; None
    where the rig does not (yet) state one: the reports say so."""
    decision: str = ""
    """The `Decision` value ± u makes against the limits ("" for an informative value)."""
    rule: str = ""
    """The `DecisionRule` that turned the decision into `verdict`."""

    @property
    def judged(self) -> bool:
        return self.verdict is not Verdict.INFO

    def limits_text(self) -> str:
        if self.low is not None and self.high is not None:
            return (f"= {self.low:g} {self.unit}" if self.low == self.high
                    else f"[{self.low:g}, {self.high:g}] {self.unit}").rstrip()
        if self.high is not None:
            return f"<= {self.high:g} {self.unit}".rstrip()
        if self.low is not None:
            return f">= {self.low:g} {self.unit}".rstrip()
        return "-"

    def value_text(self) -> str:
        """The value with its uncertainty where stated: "0.073 ± 1.2e-06 s (k = 2)"."""
        if self.u is None:
            return f"{self.value:.6g} {self.unit}".rstrip()
        return f"{self.value:.6g} ± {self.u:.2g} {self.unit} (k = 2)".replace("  ", " ")

    def margin_value(self) -> float:
        """The margin as a number to sort by: none (or NaN) sorts first, as the worst."""
        margin = self.margin
        return margin if margin is not None and not math.isnan(margin) else -math.inf

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = str(self.verdict)
        out["cites"] = list(self.cites)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "measurement") -> MeasurementRecord:
        known = {f.name for f in fields(cls)}
        try:
            values = {k: v for k, v in data.items() if k in known}
            values["verdict"] = Verdict(data["verdict"])
            values["cites"] = tuple(data.get("cites") or ())
            return cls(**values)
        except (KeyError, ValueError, TypeError) as exc:
            raise RecordError(f"{where}: not a measurement record ({exc!r})") from None


@dataclass(frozen=True)
class TestRecord:
    """One test of a run: its outcome and why, and every measurement it made."""

    __test__ = False   # a record, not a test class for pytest to collect

    nodeid: str
    name: str
    requirement: str
    clause: str
    outcome: Outcome
    message: str = ""
    measurements: tuple[MeasurementRecord, ...] = field(default=())
    evidence: str | None = None
    """The run folder's subfolder holding this test's evidence (plots, traces), if it kept any."""
    ocpp_cases: tuple[str, ...] = ()
    """The OCPP certification tool's test cases the test automates (e.g. TC_003_CS)."""
    parameters: tuple[tuple[str, Any], ...] = ()
    """What the test chose or the instruments reached, by name (an injected current, the timing record
    and its sample interval): a reader needs them to repeat or to trust a verdict."""

    MESSAGE_CHARS = 2000
    """A message is cut here: an instrument's runaway answer must not fill a report."""

    @property
    def judged(self) -> tuple[MeasurementRecord, ...]:
        return tuple(m for m in self.measurements if m.judged)

    def deciding(self) -> MeasurementRecord | None:
        """The measurement that decided the outcome: the first that failed, else the first judged."""
        judged = self.judged
        return next((m for m in judged if m.verdict is Verdict.FAIL), judged[0] if judged else None)

    def to_json(self) -> dict[str, Any]:
        return {"nodeid": self.nodeid, "name": self.name, "requirement": self.requirement, "clause": self.clause,
                "outcome": str(self.outcome), "message": self.message[: self.MESSAGE_CHARS],
                "measurements": [m.to_json() for m in self.measurements], "evidence": self.evidence,
                **({"ocpp_cases": list(self.ocpp_cases)} if self.ocpp_cases else {}),
                **({"parameters": dict(self.parameters)} if self.parameters else {})}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "test record") -> TestRecord:
        try:
            return cls(str(data["nodeid"]), str(data["name"]), str(data.get("requirement") or ""),
                       str(data.get("clause") or ""), Outcome(data["outcome"]), str(data.get("message") or ""),
                       tuple(MeasurementRecord.from_json(m, f"{where}, measurement {k + 1}")
                             for k, m in enumerate(data.get("measurements") or ())),
                       data.get("evidence"), tuple(str(c) for c in data.get("ocpp_cases") or ()),
                       tuple((str(k), v) for k, v in dict(data.get("parameters") or {}).items()))
        except (KeyError, ValueError, TypeError) as exc:
            raise RecordError(f"{where}: not a test record ({exc!r})") from None
