"""The certification pre-check matrix: every requirement → its tests → verdict → key measurement.

Requirements are those the DUT profile carries (WB-…) and every clause the catalogue tests; one
that no test covers is listed as **not covered**, one whose tests did not run as **not run**,
never left out. Built from a run folder alone (`tests.jsonl`, `summary.json`, `catalogue.json`),
so it can be rebuilt later or on another machine.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from core.errors import RigError
from core.records import MeasurementRecord, Outcome, TestRecord, Verdict
from reports.results import read_records
from rig.profile import load_profile

DOCUMENTS = (("IEC 61851", "IEC 61851-1"), ("IEC 62955", "IEC 62955 / EN 61008"), ("EN 61008", "IEC 62955 / EN 61008"),
             ("§14a", "§14a EnWG"), ("WB-", "Product manual"))
"""A cited clause → the document it belongs to (Allure's epic, the matrix's section)."""


def source_document(wb_id: str, clause: str) -> str:
    """The source document a test answers to: its clause's standard, else the product manual."""
    for prefix, document in DOCUMENTS:
        if clause.startswith(prefix):
            return document
    if wb_id:
        return "Product manual"
    return clause.split(" (")[0].split(",")[0] if clause else "wallbox-rig"

class RowVerdict(StrEnum):
    """A requirement's verdict, worst first: the worst of its tests' outcomes (said as a measurement's
    verdict says pass and fail), or why there is none."""

    FAIL = "fail"
    BROKEN = "broken"
    PARTIAL = "partial"
    PASS = "pass"
    SKIPPED = "skipped"
    NOT_RUN = "not run"
    NOT_COVERED = "not covered"

    @classmethod
    def of(cls, outcome: Outcome) -> RowVerdict:
        """A test's outcome as a requirement's verdict: the one place the two vocabularies meet."""
        return {Outcome.FAILED: cls.FAIL, Outcome.BROKEN: cls.BROKEN, Outcome.PASSED: cls.PASS,
                Outcome.SKIPPED: cls.SKIPPED}[outcome]


VERDICT_ORDER: tuple[RowVerdict, ...] = tuple(RowVerdict)
"""Worst first: a requirement takes the worst verdict of its tests."""


@dataclass(frozen=True)
class KeyMeasurement:
    """The measurement that decides a requirement, and the test that made it."""

    measurement: MeasurementRecord
    test: str

    def __getattr__(self, name: str) -> Any:   # the template reads key.name, key.source, key.cites
        return getattr(self.measurement, name)


@dataclass
class Row:
    requirement: str
    document: str
    context: str
    tests: list[dict[str, Any]] = field(default_factory=list)   # catalogue entries
    results: list[TestRecord] = field(default_factory=list)      # records of those that ran
    verdict: RowVerdict = RowVerdict.NOT_COVERED
    key: KeyMeasurement | None = None                            # the measurement that decides it
    text: str = ""                                               # what the manual promises
    reason: str = ""                                             # why it is not covered, where it is not
    uncovered: str = ""                                          # the parts no test covers, where some are


@dataclass
class RunData:
    folder: Path
    summary: dict[str, Any]
    records: list[TestRecord]
    catalogue: list[dict[str, Any]]
    sources: dict[str, Any] = field(default_factory=dict)
    """The bibliography the limits cite (the run folder's sources.json)."""


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RigError(f"{path}: missing; is {path.parent} a wallbox-rig run folder ({what})?") from None
    except json.JSONDecodeError as exc:
        raise RigError(f"{path}: not valid JSON ({exc})") from None


def test_label(entry: dict[str, Any]) -> str:
    """A test as the matrix lists it: its name, and the OCPP certification tool's cases it automates."""
    cases = entry.get("ocpp_cases") or []
    return str(entry["name"]) + (f" ({', '.join(cases)})" if cases else "")


def load_run(folder: Path) -> RunData:
    """A run folder as written by `wallbox-rig run`; a line cut off by a kill is skipped, not fatal."""
    tests = folder / "tests.jsonl"
    if not tests.exists():
        raise RigError(f"{tests}: missing; is {folder} a wallbox-rig run folder?")
    records = read_records(tests)
    summary = _read_json(folder / "summary.json", "written when the run ends")
    catalogue_path = folder / "catalogue.json"
    catalogue = _read_json(catalogue_path, "written at collection") if catalogue_path.exists() else \
        [{"name": r.name, "nodeid": r.nodeid, "requirement": r.requirement, "clause": r.clause} for r in records]
    sources_path = folder / "sources.json"
    sources = _read_json(sources_path, "written when the run ends")["sources"] if sources_path.exists() else {}
    return RunData(folder, summary, records, catalogue, sources)


def _worst(verdicts: list[RowVerdict]) -> RowVerdict:
    return min(verdicts, key=VERDICT_ORDER.index) if verdicts else RowVerdict.NOT_RUN


def _key_measurement(results: list[TestRecord]) -> KeyMeasurement | None:
    """The judged measurement nearest its limit (the failing one, if any), with its test's name."""
    judged = [(m, r.name) for r in results for m in r.judged]
    if not judged:
        return None
    # A failing one first; then a band limit nearest its edge (an exact-count limit, e.g. "0 closures",
    # always has margin 0 and says less about how close the DUT came; an awaited event that came,
    # e.g. "DUT ready (A1) after power-up", is an arrange step's judgement, not the requirement's).
    m, test = min(judged, key=lambda mt: (mt[0].verdict is not Verdict.FAIL, mt[0].presence,
                                          mt[0].low == mt[0].high, mt[0].margin_value()))
    return KeyMeasurement(m, test)


OTHER = "Other checks (no requirement of this profile)"


def build_rows(run: RunData) -> list[Row]:
    """One row per requirement: each of the profile's manual requirements (with its text, or why it is
    not covered), each IEC clause a test cites; a product-manual clause never stands as a second row
    for a requirement the profile lists."""
    prov = run.summary.get("provenance", {})
    rows: dict[str, Row] = {}
    profile_file = prov.get("profile_file")
    manual: set[str] = set()
    if profile_file:
        profile = load_profile(str(profile_file))
        manual = set(profile.manual_requirements)
        for rid, text in profile.manual_requirements.items():
            rows[rid] = Row(rid, f"Product manual ({profile.name})", "", text=text,
                            reason=profile.not_covered.get(rid, ""), uncovered=profile.partly_covered.get(rid, ""))
    for entry in run.catalogue:
        wb_id, clause = entry.get("requirement") or "", entry.get("clause") or ""
        if wb_id in manual:
            rows[wb_id].tests.append(entry)
            if not rows[wb_id].context:
                rows[wb_id].context = entry.get("family", "")
        if clause.startswith("WB-") and clause in manual:
            rows[clause].tests.append(entry)
            continue
        if clause and not clause.startswith(("product manual", "WB-")):
            rows.setdefault(clause, Row(clause, source_document("", clause), entry.get("family", ""))).tests.append(entry)
        elif wb_id not in manual:
            # a product promise of another profile's manual: listed by family, not as a requirement of this DUT
            family = str(entry.get("family", "")) or "tests"
            rows.setdefault(f"{family} checks", Row(f"{family} checks", OTHER, clause)).tests.append(entry)
    by_id = {r.nodeid: r for r in run.records}
    for row in rows.values():
        row.results = [by_id[t["nodeid"]] for t in row.tests if t.get("nodeid") in by_id]
        if not row.tests:
            row.verdict = RowVerdict.NOT_COVERED
        else:
            row.verdict = _worst([RowVerdict.of(r.outcome) for r in row.results])
            if row.verdict is RowVerdict.PASS and row.uncovered:   # what was tested passed; the rest was not tested
                row.verdict = RowVerdict.PARTIAL
        row.key = _key_measurement(row.results)
    return sorted(rows.values(), key=lambda r: (r.document == OTHER, not r.requirement.startswith("WB-"), r.document,
                                                 r.requirement))


def verdict_counts(rows: list[Row]) -> dict[RowVerdict, int]:
    return {v: sum(1 for r in rows if r.verdict is v) for v in VERDICT_ORDER}


def matrix_csv(rows: list[Row]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["requirement", "document", "verdict", "tests", "key measurement", "value", "unit", "low",
                     "high", "margin", "source", "u_k2", "decision"])
    for row in rows:
        k = row.key.measurement if row.key else None
        writer.writerow([row.requirement, row.document, row.verdict, " ".join(test_label(t) for t in row.tests),
                         *([k.name, k.value, k.unit, _blank(k.low), _blank(k.high), _blank(k.margin), k.source,
                            _blank(k.u), k.decision] if k else [""] * 9)])
    return buf.getvalue()


def _blank(value: float | None) -> float | str:
    return "" if value is None else value


def margin_text(m: MeasurementRecord | None) -> str:
    return f"{m.margin:.4g}" if m is not None and m.margin is not None and not math.isnan(m.margin) else "-"


def bad_results(rows: list[Row]) -> list[tuple[Row, TestRecord]]:
    """Every failed or broken test, with the requirement it answers to, failures first."""
    seen: set[str] = set()
    out = []
    for row in rows:
        for record in row.results:
            if record.outcome.red and record.nodeid not in seen:
                seen.add(record.nodeid)
                out.append((row, record))
    return sorted(out, key=lambda rr: rr[1].outcome is not Outcome.FAILED)


def cited_keys(rows: list[Row]) -> list[str]:
    return sorted({k for row in rows for r in row.results for m in r.measurements for k in m.cites})


def matrix_markdown(run: RunData, rows: list[Row]) -> str:
    """Failed and broken first (test, requirement, value against limit, message), then every
    requirement with its text and verdict (or why it is not covered), then the sources."""
    prov = run.summary.get("provenance", {})
    counts = verdict_counts(rows)
    lines = [f"# Certification pre-check: {prov.get('profile', '?')}"
             + (" (interrupted: the run did not finish)" if run.summary.get("interrupted") else ""), "",
             "> **virtual lab (simulated DUT)**" if prov.get("virtual_lab") else "> **lab bench**", "",
             f"Run {run.folder.name}; rig {prov.get('rig_file')}; commit {prov.get('git_commit')}; seed "
             f"{prov.get('seed')}; started {run.summary.get('started_utc')}, ended {run.summary.get('ended_utc')} "
             f"(UTC); knobs bent: {', '.join(f'{k}={v}' for k, v in (run.summary.get('sim_overrides') or {}).items()) or 'none'}.",
             "", f"Decision rule: {run.summary.get('decision_rule_text') or 'not recorded'}.", "",
             "Requirements: " + ", ".join(f"{v} {n}" for v, n in counts.items() if n), "", "## Failed and broken", ""]
    bad = bad_results(rows)
    if bad:
        lines += ["| test | requirement | outcome | measured | limit | margin | message |", "|---|---|---|---|---|---|---|"]
        for row, record in bad:
            m = record.deciding()
            lines.append(f"| {record.name} | {row.requirement} | **{record.outcome}** | "
                         + (f"{m.name} = {m.value_text()} | {m.limits_text()} | {margin_text(m)}" if m else "- | - | -")
                         + f" | {record.message.replace('|', '/')[:300]} |")
    else:
        lines.append("Nothing failed and nothing broke.")
    lines += ["", "## Requirements", "",
              "| requirement | document | verdict | tests | key measurement | value | limit | margin |",
              "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        k = row.key.measurement if row.key else None
        tests = "<br>".join(test_label(t) for t in row.tests) or (f"— ({row.reason})" if row.reason else "—")
        if row.uncovered:
            tests += f"<br>not covered: {row.uncovered}"
        key = (k.name, k.value_text(), k.limits_text(), margin_text(k)) if k else ("—", "", "", "")
        title = f"{row.requirement}: {row.text}" if row.text else row.requirement
        lines.append(f"| {title} | {row.document} | **{row.verdict}** | {tests} | " + " | ".join(key) + " |")
    keys = cited_keys(rows)
    if keys and run.sources:
        lines += ["", "## Sources", ""]
        lines += [f"- **{k}**: {run.sources[k]['document']}, {run.sources[k]['edition']}, {run.sources[k]['where']}. "
                  f"{run.sources[k]['says']}." for k in keys if k in run.sources]
    return "\n".join(lines) + "\n"
