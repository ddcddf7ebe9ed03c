"""Run results on disk: one JSON line per finished test (written as it finishes, so nothing is
lost when a run dies), a summary at the end, and per-test measurement tables."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

OUTCOMES = ("passed", "failed", "broken", "skipped")


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
    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self.tests_path = out_dir / "tests.jsonl"
        self.tests_path.write_text("")

    def test_finished(self, record: dict[str, Any]) -> None:
        with self.tests_path.open("a") as fh:
            fh.write(json.dumps(record, default=str) + "\n")
            fh.flush()

    def summary(self, records: list[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
        counts = {o: sum(1 for r in records if r["outcome"] == o) for o in OUTCOMES}
        summary = {"counts": counts, "total": len(records), **extra}
        (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        return summary


def markdown_report(records: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    """A plain report for people without Allure: outcome per test, then every measurement."""
    prov = summary.get("provenance", {})
    status = str(summary.get("status", "")).upper()
    lines = [f"# wallbox-rig run: {status}" if status else "# wallbox-rig run", ""]
    if summary.get("rig_error"):
        return "\n".join(lines + [f"The rig is broken; no test was run: {summary['rig_error']}"]) + "\n"
    if summary.get("interrupted"):
        lines += ["**Interrupted**: the run did not finish; the tests below are those that did.", ""]
    lines += [f"- profile: {prov.get('profile')}  rig: {prov.get('rig_file')}  seed: {prov.get('seed')}",
             f"- commit: {prov.get('git_commit')}  virtual time: {summary.get('virtual_time_s')} s  "
             f"wall time: {summary.get('wall_time_s')} s",
             "- counts: " + ", ".join(f"{k} {v}" for k, v in summary["counts"].items()), "",
             "| test | requirement | clause | outcome |", "|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['name']} | {r.get('requirement') or '-'} | {r.get('clause') or '-'} | {r['outcome']} |")
    lines += ["", "## Measurements", "", "| test | measurement | value | limits | margin | verdict | source |",
              "|---|---|---|---|---|---|---|"]
    for r in records:
        for m in r.get("measurements", []):
            limits = ("[{}, {}]".format(m["low"], m["high"]) if m["low"] is not None and m["high"] is not None
                      else f"<= {m['high']}" if m["high"] is not None else f">= {m['low']}" if m["low"] is not None
                      else "-")
            margin = f"{m['margin']:.4g}" if m["margin"] is not None else "-"
            lines.append(f"| {r['name']} | {m['name']} | {m['value']:.6g} {m['unit']} | {limits} | {margin} | "
                         f"{m['verdict']} | {m['source']} |")
    return "\n".join(lines) + "\n"


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
                            ("wallbox_rig.interrupted", str(bool(summary.get("interrupted"))).lower())):
            ET.SubElement(props, "property", name=name, value=str(value))
    tree.write(path, encoding="utf-8", xml_declaration=True)
