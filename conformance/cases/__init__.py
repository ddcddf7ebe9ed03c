"""The certification tool's test cases and the tests that automate them (issue 31: a case map like the
tool's own).  A test names the cases it automates with `@pytest.mark.ocpp_case("TC_003_CS")`; the
case's name, page and what the tool checks are data (`ocpp16.toml`, with its source), and so is,
for each case no test automates, the reason.  The map is checked both ways when it is read: a marker
naming no case, a case said to be judged that no test names, or a case said to be not covered that a
test names, is an error here, not a stale row in a report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from core.case_ids import CASE_ID, CASE_ID_OF, version_of
from core.errors import ConfigError
from core.tables import Table, read_toml

CASES_DIR = Path(__file__).resolve().parent
FILES = {"1.6": CASES_DIR / "ocpp16.toml", "2.0.1": CASES_DIR / "ocpp201.toml"}
"""OCPP version → its cases."""
__all__ = ["CASE_ID_OF", "OcppCase", "case_ids_of", "cases", "check_map", "version_of"]
@dataclass(frozen=True)
class OcppCase:
    id: str
    version: str
    name: str
    page: int | None
    """The page of the test-case document the case is on; None where its page was not read."""
    checks: str
    """What the certification tool checks (its messages)."""
    judged: str | None
    """What this suite judges of it against the instruments; None when no test automates it."""
    not_covered: str | None
    document: str
    url: str
    named_in: str | None = None
    """Where a case whose page was not read is named (its id, name and purpose), and so how far it is known."""

    def cite(self) -> str:
        if self.page is None:
            return f"{self.document} (page not read; named in {self.named_in})"
        return f"{self.document}, p. {self.page}"


@cache
def cases(version: str = "1.6") -> dict[str, OcppCase]:
    path = FILES[version]
    root = Table(read_toml(path), path)
    root.reject_unknown({"document", "case"})
    doc = root.table("document", required=True)
    assert doc is not None
    doc.reject_unknown({"title", "url"})
    title, base = doc.get("title", str), doc.get("url", str)
    out: dict[str, OcppCase] = {}
    for n, raw in enumerate(root.get("case", list)):
        if not isinstance(raw, dict):
            raise ConfigError(path, f"case[{n}]", "a table ([[case]])", raw)
        t = Table(raw, path, f"case[{n}]")
        t.reject_unknown({"id", "name", "page", "named_in", "checks", "judged", "not_covered"})
        case_id = t.get("id", str)
        form = CASE_ID_OF.get(version, CASE_ID)
        if not form.fullmatch(case_id):
            raise ConfigError(path, t.key("id"), "a charge-point case id such as TC_003_CS or TC_E_01_CS", case_id)
        if case_id in out:
            raise ConfigError(path, t.key("id"), "an id no other case has", case_id)
        judged, not_covered = t.get("judged", str, None), t.get("not_covered", str, None)
        if (judged is None) == (not_covered is None):
            raise ConfigError(path, f"case[{n}]", "exactly one of judged (what the suite judges) or not_covered "
                              "(why no test automates it)", "both" if judged else "neither")
        named_in = t.get("named_in", str, None)
        if ("page" in raw) == (named_in is not None):
            raise ConfigError(path, f"case[{n}]", "exactly one of page (the page read) or named_in (where a case "
                              "whose page was not read is named)", "both" if named_in else "neither")
        page = int(t.number("page", low=1, high=10_000)) if named_in is None else None
        out[case_id] = OcppCase(case_id, version, t.get("name", str), page, t.get("checks", str), judged,
                                not_covered, title, base + case_id.lower().replace("_", "-"), named_in)
    return out


def case_ids_of(marks: Sequence[object]) -> tuple[str, ...]:
    """The case ids of a test's `ocpp_case` markers, in the order written."""
    return tuple(str(a) for m in marks if getattr(m, "name", "") == "ocpp_case" for a in getattr(m, "args", ()))


def check_map(tested: dict[str, list[str]], version: str = "1.6") -> None:
    """`tested`: case id → the tests whose markers name it (of any version: this version's are checked).
    Refuse a map that says something untrue."""
    known = cases(version)
    path = FILES[version]
    for case_id, tests in tested.items():
        if version in CASE_ID_OF and not CASE_ID_OF[version].fullmatch(case_id):
            continue
        if case_id not in known:
            raise ConfigError(path, case_id, "a case of this file (a test's ocpp_case marker names it)",
                              hint=f"named by {', '.join(tests)}")
        if known[case_id].not_covered is not None:
            raise ConfigError(path, case_id, "judged = … (tests automate it), not not_covered",
                              hint=f"named by {', '.join(tests)}")
    for case in known.values():
        if case.judged is not None and not tested.get(case.id):
            raise ConfigError(path, case.id, "a test whose ocpp_case marker names it, or not_covered = …",
                              hint="the file says the suite judges it, no test does")
