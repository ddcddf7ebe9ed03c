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
from pathlib import Path
from typing import Any

from core.errors import RigError
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

VERDICT_ORDER = ("fail", "broken", "partial", "pass", "skipped", "not run", "not covered")
"""Worst first: a requirement takes the worst verdict of its tests."""
_FROM_OUTCOME = {"failed": "fail", "broken": "broken", "passed": "pass", "skipped": "skipped"}


@dataclass
class Row:
    requirement: str
    document: str
    context: str
    tests: list[dict[str, Any]] = field(default_factory=list)   # catalogue entries
    results: list[dict[str, Any]] = field(default_factory=list)  # records of those that ran
    verdict: str = "not covered"
    key: dict[str, Any] | None = None                            # the measurement that decides it
    text: str = ""                                               # what the manual promises
    reason: str = ""                                             # why it is not covered, where it is not
    uncovered: str = ""                                          # the parts no test covers, where some are


@dataclass
class RunData:
    folder: Path
    summary: dict[str, Any]
    records: list[dict[str, Any]]
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


def load_run(folder: Path) -> RunData:
    """A run folder as written by `wallbox-rig run`; a line cut off by a kill is skipped, not fatal."""
    records = []
    tests = folder / "tests.jsonl"
    if not tests.exists():
        raise RigError(f"{tests}: missing; is {folder} a wallbox-rig run folder?")
    for line in tests.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    summary = _read_json(folder / "summary.json", "written when the run ends")
    catalogue_path = folder / "catalogue.json"
    catalogue = _read_json(catalogue_path, "written at collection") if catalogue_path.exists() else records
    sources_path = folder / "sources.json"
    sources = _read_json(sources_path, "written when the run ends")["sources"] if sources_path.exists() else {}
    return RunData(folder, summary, records, catalogue, sources)


def _worst(verdicts: list[str]) -> str:
    return min(verdicts, key=VERDICT_ORDER.index) if verdicts else "not run"


def _key_measurement(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The judged measurement nearest its limit (the failing one, if any), with its test's name."""
    judged = [(m, r["name"]) for r in results for m in r.get("measurements", []) if m.get("verdict") != "info"]
    if not judged:
        return None
    # A failing one first; then a band limit nearest its edge (an exact-count limit, e.g. "0 closures",
    # always has margin 0 and says less about how close the DUT came; an awaited event that came,
    # e.g. "DUT ready (A1) after power-up", is an arrange step's judgement, not the requirement's).
    m, test = min(judged, key=lambda mt: (mt[0]["verdict"] != "fail", bool(mt[0].get("presence")),
                                          mt[0].get("low") == mt[0].get("high"), _margin(mt[0])))
    return {**m, "test": test}


def _margin(m: dict[str, Any]) -> float:
    margin = m.get("margin")
    return margin if isinstance(margin, (int, float)) and not math.isnan(margin) else -math.inf


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
    by_id = {r.get("nodeid"): r for r in run.records}
    for row in rows.values():
        row.results = [by_id[t["nodeid"]] for t in row.tests if t.get("nodeid") in by_id]
        if not row.tests:
            row.verdict = "not covered"
        else:
            row.verdict = _worst([_FROM_OUTCOME.get(r["outcome"], "broken") for r in row.results])
            if row.verdict == "pass" and row.uncovered:   # what was tested passed; the rest was not tested
                row.verdict = "partial"
        row.key = _key_measurement(row.results)
    return sorted(rows.values(), key=lambda r: (r.document == OTHER, not r.requirement.startswith("WB-"), r.document,
                                                 r.requirement))


def limits_text(m: dict[str, Any]) -> str:
    low, high, unit = m.get("low"), m.get("high"), m.get("unit", "")
    if low is not None and high is not None:
        text = f"[{low:g}, {high:g}]" if low != high else f"= {low:g}"
    elif high is not None:
        text = f"<= {high:g}"
    elif low is not None:
        text = f">= {low:g}"
    else:
        return "-"
    return f"{text} {unit}".rstrip()


def value_text(m: dict[str, Any]) -> str:
    value = m.get("value")
    return f"{value:.6g} {m.get('unit', '')}".rstrip() if isinstance(value, (int, float)) else str(value)


def verdict_counts(rows: list[Row]) -> dict[str, int]:
    return {v: sum(1 for r in rows if r.verdict == v) for v in VERDICT_ORDER}


def matrix_csv(rows: list[Row]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["requirement", "document", "verdict", "tests", "key measurement", "value", "unit", "low",
                     "high", "margin", "source"])
    for row in rows:
        k = row.key or {}
        writer.writerow([row.requirement, row.document, row.verdict, " ".join(t["name"] for t in row.tests),
                         k.get("name", ""), k.get("value", ""), k.get("unit", ""), k.get("low", ""),
                         k.get("high", ""), k.get("margin", ""), k.get("source", "")])
    return buf.getvalue()


def bad_results(rows: list[Row]) -> list[tuple[Row, dict[str, Any]]]:
    """Every failed or broken test, with the requirement it answers to, failures first."""
    seen: set[str] = set()
    out = []
    for row in rows:
        for record in row.results:
            if record["outcome"] in ("failed", "broken") and record["nodeid"] not in seen:
                seen.add(record["nodeid"])
                out.append((row, record))
    return sorted(out, key=lambda rr: rr[1]["outcome"] != "failed")


def judged_of(record: dict[str, Any]) -> dict[str, Any] | None:
    judged = [m for m in record.get("measurements", []) if m.get("verdict") != "info"]
    return next((m for m in judged if m.get("verdict") == "fail"), judged[0] if judged else None)


def cited_keys(rows: list[Row]) -> list[str]:
    return sorted({k for row in rows for r in row.results for m in r.get("measurements", []) for k in m.get("cites") or []})


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
             "",
             "Requirements: " + ", ".join(f"{v} {n}" for v, n in counts.items() if n), "", "## Failed and broken", ""]
    bad = bad_results(rows)
    if bad:
        lines += ["| test | requirement | outcome | measured | limit | margin | message |", "|---|---|---|---|---|---|---|"]
        for row, record in bad:
            m = judged_of(record)
            lines.append(f"| {record['name']} | {row.requirement} | **{record['outcome']}** | "
                         + (f"{m['name']} = {value_text(m)} | {limits_text(m)} | "
                            + (f"{m['margin']:.4g}" if isinstance(m.get("margin"), (int, float)) else "-")
                            if m else "- | - | -")
                         + f" | {str(record.get('message', '')).replace('|', '/')[:300]} |")
    else:
        lines.append("Nothing failed and nothing broke.")
    lines += ["", "## Requirements", "",
              "| requirement | document | verdict | tests | key measurement | value | limit | margin |",
              "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        k = row.key
        tests = "<br>".join(t["name"] for t in row.tests) or (f"— ({row.reason})" if row.reason else "—")
        if row.uncovered:
            tests += f"<br>not covered: {row.uncovered}"
        key = (k["name"], value_text(k), limits_text(k), f"{k['margin']:.4g}" if isinstance(k.get("margin"), (int, float))
               else "-") if k else ("—", "", "", "")
        title = f"{row.requirement}: {row.text}" if row.text else row.requirement
        lines.append(f"| {title} | {row.document} | **{row.verdict}** | {tests} | " + " | ".join(key) + " |")
    keys = cited_keys(rows)
    if keys and run.sources:
        lines += ["", "## Sources", ""]
        lines += [f"- **{k}**: {run.sources[k]['document']}, {run.sources[k]['edition']}, {run.sources[k]['where']}. "
                  f"{run.sources[k]['says']}." for k in keys if k in run.sources]
    return "\n".join(lines) + "\n"
