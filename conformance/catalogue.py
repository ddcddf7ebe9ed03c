"""The suite's catalogue read from its markers, without running anything: which tests there are,
what each needs, what it cites, and which knob settings of the simulated wallbox must turn it red.

One source for three readers: the self-test builds its cases from the `red_on` markers, the
docs/catalogue.md's table is generated from them (`wallbox-rig catalogue --markdown`), and
`wallbox-rig rig ping` says which tests a bench's roles leave out.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.cases import case_ids_of, check_map
from conformance.cases import cases as ocpp_cases

SUITE_DIR = Path(__file__).resolve().parent
DEFAULT_PROFILE = "bmw-wallbox-plus"


@dataclass(frozen=True)
class RedOn:
    """A knob setting (several set together) under which the test must fail on `profile`.

    `only`: the parametrised instances (their ids) that go red; empty means every instance."""

    knobs: tuple[str, ...]
    profile: str = DEFAULT_PROFILE
    only: tuple[str, ...] = ()

    @property
    def case(self) -> tuple[str, tuple[str, ...]]:
        return self.profile, self.knobs

    def describe(self) -> str:
        where = "" if self.profile == DEFAULT_PROFILE else f" on {self.profile}"
        which = f" [{', '.join(self.only)}]" if self.only else ""
        return f"`{' '.join(self.knobs)}`{where}{which}"


@dataclass(frozen=True)
class Entry:
    module: str
    name: str
    family: str
    summary: str
    requirement: str
    clause: str
    needs: tuple[str, ...]
    red_on: tuple[RedOn, ...] = field(default_factory=tuple)
    ocpp_cases: tuple[str, ...] = ()
    """The certification tool's cases this test automates (`ocpp_case` markers; conformance/cases)."""

    def red_names(self, red: RedOn, held: set[str]) -> set[str]:
        """The names (with parameter ids) a run holding `held` must show red for `red`."""
        if red.only:
            return {f"{self.name}[{i}]" for i in red.only}
        return {n for n in held if n == self.name or n.startswith(f"{self.name}[")}


def _marks(obj: Any) -> list[pytest.Mark]:
    marks = getattr(obj, "pytestmark", [])
    return list(marks) if isinstance(marks, list) else [marks]


def red_on_of(marks: list[pytest.Mark]) -> tuple[RedOn, ...]:
    out = []
    for mark in marks:
        if mark.name != "red_on":
            continue
        if not mark.args or not all(isinstance(a, str) and "=" in a for a in mark.args):
            raise ValueError(f"red_on needs knob settings NAME=VALUE, got {mark.args!r}")
        unknown = set(mark.kwargs) - {"profile", "only"}
        if unknown:
            raise ValueError(f"red_on: unknown keywords {sorted(unknown)} (profile, only)")
        out.append(RedOn(tuple(mark.args), str(mark.kwargs.get("profile", DEFAULT_PROFILE)),
                         tuple(mark.kwargs.get("only", ()))))
    return tuple(sorted(out, key=lambda r: (r.profile != DEFAULT_PROFILE, r.profile, r.knobs)))


def tests() -> list[Entry]:
    """Every conformance test function, in file order."""
    out = []
    for path in sorted(SUITE_DIR.glob("test_*.py")):
        module = importlib.import_module(f"conformance.{path.stem}")
        module_marks = _marks(module)
        for name, func in inspect.getmembers(module, inspect.isfunction):
            if not name.startswith("test_") or func.__module__ != module.__name__:
                continue
            marks = _marks(func) + module_marks
            needs: tuple[str, ...] = ()
            for mark in marks:  # the innermost needs marker wins, as at run time (get_closest_marker)
                if mark.name == "needs":
                    needs = tuple(mark.args)
                    break
            req = next((m for m in marks if m.name == "requirement"), None)
            doc = (func.__doc__ or "").strip().split("\n\n")[0]
            out.append(Entry(module.__name__, name, path.stem.removeprefix("test_").replace("_", " "),
                                " ".join(doc.split()), str(req.kwargs.get("wb_id") or "") if req else "",
                                str(req.kwargs.get("clause") or "") if req else "", needs, red_on_of(marks),
                                case_ids_of(marks)))
    out.sort(key=lambda t: (t.module, inspect.getsourcelines(getattr(importlib.import_module(t.module), t.name))[1]))
    return out


def cases() -> dict[tuple[str, tuple[str, ...]], list[tuple[Entry, RedOn]]]:
    """Self-test cases: (profile, knobs) -> the tests that declare they go red there."""
    out: dict[tuple[str, tuple[str, ...]], list[tuple[Entry, RedOn]]] = {}
    for info in tests():
        for red in info.red_on:
            out.setdefault(red.case, []).append((info, red))
    return out


def markdown() -> str:
    """The catalogue table of docs/catalogue.md: family, test, requirement, what turns it red."""
    lines = ["| family | test | requirement / clause | knob setting that must turn it red |", "|---|---|---|---|"]
    last = ""
    for info in tests():
        family = info.family if info.family != last else ""
        last = info.family
        cited = " · ".join(x for x in (info.requirement, info.clause) if x)
        red = "; ".join(r.describe() for r in info.red_on) or "—"
        lines.append(f"| {family} | {info.summary} | {cited} | {red} |")
    return "\n".join(lines) + "\n"


def ocpp_map(version: str = "1.6") -> str:
    """The case map (`wallbox-rig catalogue --ocpp`, docs/backend.md): each of the certification tool's
    charge-point cases, the tests that automate it and what they judge against the instruments, or why
    none does.  Checked both ways first (`conformance.cases.check_map`)."""
    tested: dict[str, list[str]] = {}
    for info in tests():
        for case_id in info.ocpp_cases:
            tested.setdefault(case_id, []).append(info.name)
    check_map(tested, version)
    known = ocpp_cases(version)
    tested = {c: t for c, t in tested.items() if c in known}
    some = next(iter(known.values()))
    lines = [f"Source: {some.document} ({some.url.rsplit('/', 1)[0]}/).", "",
             "| case | page | the tool checks | automated by | what the suite judges against the instruments |",
             "|---|---|---|---|---|"]
    for case in sorted(known.values(), key=lambda c: c.id):
        by = "<br>".join(f"`{t}`" for t in tested.get(case.id, [])) or "not covered"
        what = case.judged if case.judged is not None else f"*{case.not_covered}*"
        page = case.page if case.page is not None else f"— (not read; named in {case.named_in})"
        lines.append(f"| [{case.id}]({case.url}) {case.name} | {page} | {case.checks} | {by} | {what} |")
    covered = sum(1 for c in known.values() if c.judged is not None)
    lines += ["", f"{covered} of {len(known)} cases automated, by {len({t for ts in tested.values() for t in ts})} tests."]
    return "\n".join(lines) + "\n"
