"""Run results on disk: one JSON line per finished test (written as it finishes, so nothing is
lost when a run dies), a summary at the end, and per-test measurement tables."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from core.records import OUTCOMES, Outcome, RecordError, TestRecord


def measurement_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    fields = ["name", "value", "unit", "low", "high", "margin", "verdict", "requirement", "clause", "source", "t_s",
              "note"]
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buf.getvalue()


class ResultsWriter:
    def __init__(self, out_dir: Path, fresh: bool = True) -> None:
        """`fresh`: start tests.jsonl empty (a run, or a parallel run's controller); a worker of a
        parallel run appends to the file its controller started."""
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.tests_path = out_dir / "tests.jsonl"
        if fresh or not self.tests_path.exists():
            self.tests_path.write_text("")

    def test_finished(self, record: TestRecord) -> None:
        """One line, one write to a file opened for appending: lines of parallel workers never mix."""
        with self.tests_path.open("a") as fh:
            fh.write(json.dumps(record.to_json(), default=str) + "\n")
            fh.flush()

    def records(self) -> list[TestRecord]:
        """Every test finished so far, as written (a parallel run's workers wrote them)."""
        return read_records(self.tests_path)

    def summary(self, records: list[TestRecord], extra: dict[str, Any]) -> dict[str, Any]:
        counts = {str(o): sum(1 for r in records if r.outcome is o) for o in OUTCOMES}
        summary = {"counts": counts, "total": len(records), **extra}
        write_atomically(self.out_dir / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
        return summary


def write_atomically(path: Path, text: str) -> None:
    """Write `path` whole or not at all: a full disk or a stop mid-write leaves the earlier file (or
    none), never a half one in its place."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def banner(summary: dict[str, Any]) -> list[str]:
    """What kind of run this was, said first: virtual lab or bench; interrupted; a broken rig."""
    prov = summary.get("provenance", {})
    lines = []
    if prov:
        lines.append("> **virtual lab (simulated DUT)**" if prov.get("virtual_lab") else "> **lab bench** (a real DUT)")
    if summary.get("interrupted"):
        lines.append("> **Interrupted**: the run did not finish; only the tests listed below ran.")
    if summary.get("instrument_lost"):
        lines.append(f"> **Stopped, an instrument went away**: {summary['instrument_lost']}; only the tests listed "
                     "below ran.")
    return lines + ([""] if lines else [])


def bibliography(sources: dict[str, Any], keys: list[str]) -> list[str]:
    """The cited documents, expanded (from the run folder's sources.json)."""
    lines = ["## Sources", "", "Every limit cites these keys; each document as the suite read it.", ""]
    for key in keys:
        s = sources.get(key)
        lines.append(f"- **{key}**: {s['document']}, {s['edition']}, {s['where']}. {s['says']}." if s
                     else f"- **{key}**: (not in this run's bibliography)")
    return lines


def read_records(path: Path) -> list[TestRecord]:
    """The test records of a run's tests.jsonl; a line cut off by a kill (the last, not valid JSON) is
    skipped, a line that is JSON but no record is the file's fault, said with its line number."""
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            raise RecordError(f"{path}:{number}: not a test record")
        records.append(TestRecord.from_json(data, f"{path}:{number}"))
    return records


def markdown_report(records: list[TestRecord], summary: dict[str, Any],
                    sources: dict[str, Any] | None = None) -> str:
    """A plain report for people without Allure: what failed and what broke first (with the value
    against its limit and where the evidence is), then what was skipped and why, then every test,
    every measurement, and the sources the limits cite."""
    prov = summary.get("provenance", {})
    status = str(summary.get("status", "")).upper()
    lines = [f"# wallbox-rig run: {status}" if status else "# wallbox-rig run", ""]
    if summary.get("rig_error"):
        return "\n".join(lines + [f"The rig is broken; no test was run: {summary['rig_error']}"]) + "\n"
    lines += banner(summary)
    overrides = summary.get("sim_overrides") or {}
    hashes = {**prov.get("file_sha256", {}), **summary.get("limit_files_sha256", {})}
    lines += [f"- profile: {prov.get('profile')}  rig: {prov.get('rig_file')}  seed: {prov.get('seed')}  "
              f"cold-load trials: {summary.get('cold_load_trials')}",
              f"- started {summary.get('started_utc')}, ended {summary.get('ended_utc')} (UTC)"
              + (f"; a rerun of {summary['rerun_of']}" if summary.get("rerun_of") else ""),
              "- knobs bent: " + (", ".join(f"`{k}={v}`" for k, v in overrides.items()) or "none"),
              f"- commit: {prov.get('git_commit')} (wallbox-rig {prov.get('wallbox_rig_version')})  virtual time: "
              f"{summary.get('virtual_time_s')} s  wall time: {summary.get('wall_time_s')} s",
              "- sha256: " + (", ".join(f"{k} {v[:16]}" for k, v in hashes.items()) or "-"),
              f"- decision rule: {summary.get('decision_rule_text') or '-'}; values within U of a limit: "
              f"{summary.get('conditional_decisions', '-')}; judged values without a stated U: "
              f"{summary.get('judged_without_u', '-')}",
              "- counts: " + ", ".join(f"{k} {v}" for k, v in summary["counts"].items()), ""]
    bad = [r for r in records if r.outcome.red]
    lines += ["## Failed and broken", ""]
    if bad:
        lines += ["| test | requirement | outcome | measured | limit | margin | message | evidence |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in sorted(bad, key=lambda r: r.outcome is not Outcome.FAILED):
            m = r.deciding()
            measured = f"{m.name} = {m.value_text()}" if m else "-"
            limit = m.limits_text() if m else "-"
            margin = f"{m.margin:.4g}" if m and m.margin is not None else "-"
            evidence = f"[{r.evidence}]({r.evidence}/)" if r.evidence else "-"
            lines.append(f"| {r.name} | {r.requirement or r.clause or '-'} | **{r.outcome}** | "
                         f"{_cell(measured)} | {limit} | {margin} | {_cell(r.message)[:400]} | {evidence} |")
    else:
        lines.append("Nothing failed and nothing broke.")
    skipped = [r for r in records if r.outcome is Outcome.SKIPPED]
    if skipped:
        lines += ["", "## Skipped", "", "| test | reason |", "|---|---|"]
        lines += [f"| {r.name} | {_cell(r.message or '-')} |" for r in skipped]
    lines += ["", "## All tests", "", "| test | requirement | clause | OCPP test case | outcome |", "|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r.name} | {r.requirement or '-'} | {r.clause or '-'} | {', '.join(r.ocpp_cases) or '-'} | "
                     f"{r.outcome} |")
    lines += ["", "## Measurements", "",
              "| test | measurement | value | U (k = 2) | limits | margin | decision | verdict | source |",
              "|---|---|---|---|---|---|---|---|---|"]
    cited: dict[str, None] = {}
    for r in records:
        for m in r.measurements:
            margin = f"{m.margin:.4g}" if m.margin is not None else "-"
            cited.update(dict.fromkeys(m.cites))
            cite = f" [{', '.join(m.cites)}]" if m.cites else ""
            u = "-" if not m.judged else "not stated" if m.u is None else f"{m.u:.2g} {m.unit}".rstrip()
            lines.append(f"| {r.name} | {_cell(m.name)} | {m.value:.6g} {m.unit} | {u} | {m.limits_text()} | "
                         f"{margin} | {m.decision or '-'} | {m.verdict} | {_cell(m.source)}{cite} |")
    if sources is not None and cited:
        lines += [""] + bibliography(sources, sorted(cited))
    return "\n".join(lines) + "\n"


def traceability(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """What ties a run to its inputs, as name/value pairs (JUnit properties, the matrix): when, which
    knobs, seed and trials, which commit, and the hash of every file it judged by."""
    prov = summary.get("provenance", {})
    hashes = {**prov.get("file_sha256", {}), **summary.get("limit_files_sha256", {})}
    overrides = summary.get("sim_overrides") or {}
    return [("wallbox_rig.started_utc", str(summary.get("started_utc"))),
            ("wallbox_rig.ended_utc", str(summary.get("ended_utc"))),
            ("wallbox_rig.knobs", ", ".join(f"{k}={v}" for k, v in overrides.items()) or "none"),
            ("wallbox_rig.seed", str(summary.get("seed"))),
            ("wallbox_rig.cold_load_trials", str(summary.get("cold_load_trials"))),
            ("wallbox_rig.commit", str(prov.get("git_commit"))),
            ("wallbox_rig.rerun_of", str(summary.get("rerun_of") or "-")),
            ("wallbox_rig.decision_rule", str(summary.get("decision_rule") or "-")),
            *((f"wallbox_rig.sha256.{name}", digest) for name, digest in hashes.items())]


def mark_junit(path: Path, summary: dict[str, Any]) -> None:
    """Say in junit.xml what the run came to (passed / failed / broken / interrupted), as a property
    of every test suite, so a CI dashboard shows an interrupted run as interrupted."""
    import xml.etree.ElementTree as ET

    if not path.exists():
        return
    tree = ET.parse(path)
    root = tree.getroot()
    for suite in ([root] if root.tag == "testsuite" else root.iter("testsuite")):
        props = suite.find("properties")
        if props is None:
            props = ET.Element("properties")
            suite.insert(0, props)
        for name, value in (("wallbox_rig.status", summary.get("status", "")),
                            ("wallbox_rig.interrupted", str(bool(summary.get("interrupted"))).lower()),
                            *traceability(summary)):
            ET.SubElement(props, "property", name=name, value=str(value))
    tree.write(path, encoding="utf-8", xml_declaration=True)
