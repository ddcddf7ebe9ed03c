"""`report.md` of a scenario: what was done, what the DUT did, what came of each expectation, in the
order a developer reads a field report back (times from the scenario's start, and on the field log's
clock when the record is anchored)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from instruments.backend import CALL, CALLERROR, CALLRESULT, Frame

from scenario.runner import Record, describe, row_text
from scenario.spec import Scenario

WATCHED = ("cp_state", "offer_a", "contactor", "led", "ocpp_status")
"""The columns whose changes make "what the DUT did"."""


def report_md(scenario: Scenario, record: Record, summary: dict[str, Any], anchor: datetime | None) -> str:
    def when(t: float) -> str:
        row = {"t_s": t}
        text = f"{t - record.t0_s:.3f} s"
        return text + (f" ({row_text(row, 'utc', record.t0_s, anchor)})" if anchor is not None else "")

    met = sum(r.met for r in record.results)
    lines = [f"# Scenario: {scenario.name}", "",
             f"- **{str(summary['status']).upper()}**: {met} of {len(record.results)} expectations met",
             f"- file: `{summary['file']}`; rig: `{summary['provenance']['rig_file']}` "
             f"({'virtual lab' if summary['provenance']['virtual_lab'] else 'lab bench'})",
             f"- played {summary['started_utc']} to {summary['ended_utc']} (UTC)"
             + (f", {summary['virtual_time_s']:.1f} s of virtual time" if summary["virtual_time_s"] else ""),
             *([f"- knobs bent: {', '.join(f'{k}={v}' for k, v in summary['sim_overrides'].items())}"]
               if summary["sim_overrides"] else []),
             *([f"- anchored: the start is {summary['anchor_utc']} on the field log's clock"] if anchor else []),
             "", "## Expectations", ""]
    if record.results:
        lines += ["| verdict | expectation | seen at | after the step |", "|---|---|---|---|"]
        lines += [f"| {'met' if r.met else '**NOT MET**'} | {r.expect.describe()} | "
                  f"{when(r.t_s) if r.t_s is not None else '-'} | "
                  f"{f'{r.delay_s:.3f} s' if r.delay_s is not None else '-'} |" for r in record.results]
    else:
        lines.append("None asked: the scenario records.")
    lines += ["", "## Steps", "", "| at | step | actions |", "|---|---|---|"]
    for step in scenario.steps:
        t = record.marks.get(step.note)
        lines.append(f"| {when(t) if t is not None else f'{step.at_s:g} s'} | {step.note or '-'} | "
                     f"{'; '.join(describe(a) for a in step.actions) or '-'} |")
    lines += ["", "## What the DUT did", "", "| at | what changed |", "|---|---|"]
    last: dict[str, Any] = {}
    for row in record.rows:
        event = str(row["event"])
        if event.startswith("beep "):
            lines.append(f"| {when(row['t_s'])} | heard a beep of {event[5:]} |")
            continue
        if event.startswith("edge "):
            continue
        changes = [f"{c} {row_text(last, c) if c in last else '-'} → {row_text(row, c)}" for c in WATCHED
                   if row_text(row, c) and (c not in last or row_text(last, c) != row_text(row, c))]
        last.update({c: row[c] for c in WATCHED if row_text(row, c)})
        if changes:
            lines.append(f"| {when(row['t_s'])} | {'; '.join(changes)} |")
    lines += ["", "Every row, the edges the CP emulator stamped and the plot: `timeline.csv`, `timeline.html`.", ""]
    return "\n".join(lines)


def frames_jsonl(frames: Iterable[Frame], t0_s: float) -> str:
    """The OCPP frames the backend saw, one JSON object a line in the form `scenario from-ocpp` reads
    (`timestamp`, `direction`, `message`), with `t_s` from the scenario's start beside them."""
    lines = []
    for f in frames:
        if f.kind == CALL:
            message: list[Any] = [CALL, f.unique_id, f.action, f.payload]
        elif f.kind == CALLRESULT:
            message = [CALLRESULT, f.unique_id, f.payload]
        elif f.kind == CALLERROR:
            message = [CALLERROR, f.unique_id, f.payload.get("errorCode", ""), f.payload.get("errorDescription", ""),
                       f.payload.get("errorDetails", {})]
        else:
            continue   # the link coming and going is no OCPP-J frame
        lines.append(json.dumps({"timestamp": f.utc, "t_s": round(f.t_s - t0_s, 6), "direction": f.direction,
                                 "message": message}, separators=(",", ":")))
    return "".join(line + "\n" for line in lines)


def led_csv(record: Record) -> str:
    """The LED sensor's samples: time from the scenario's start and linear r, g, b per segment."""
    if not record.led:
        return ""
    segments = len(record.led[0].rgb)
    head = ["t_s"] + [f"S{k + 1}_{c}" for k in range(segments) for c in "rgb"]
    rows = [",".join(head)]
    for sample in record.led:
        rows.append(",".join([f"{sample.t_s - record.t0_s:.6f}"] + [f"{x:.4f}" for rgb in sample.rgb for x in rgb]))
    return "\n".join(rows) + "\n"
