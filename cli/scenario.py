"""`wallbox-rig scenario run FILE.toml`: replay a field fault on the rig clock, record everything.

Writes into the run folder: `timeline.csv` (a row per change, the CP emulator's edges merged in by
their stamps), `timeline.png`, `timeline.html` (one file: the plot, the expectations, the table),
`report.md` (steps, what the DUT did, the expectations' verdicts), `scenario.json` (what each
expectation came to), the scenario file as played, the recordings (`ocpp-frames.jsonl`, `led.csv`,
`microphone-<n>.wav`) and, on the virtual lab, the lab journal.  Exit codes as `wallbox-rig run`: 0 every expectation
met (or none asked), 1 one was not (the DUT did not do what was expected), 2 the rig or the file is
wrong, 3 interrupted; the DUT is left in the safe state on every exit.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.records import RunStatus
from rig.config import DEFAULT_RIG, attach_served, load_rig_file, parse_assignments
from rig.rig import Rig
from reports.results import write_atomically


def cmd_scenario_run(args: argparse.Namespace) -> int:
    from cli.main import prepare_out
    from reports.html import render
    from reports.plots import timeline_plot
    from instruments.transport.audio import write_clip
    from scenario.report import frames_jsonl, led_csv, report_md
    from scenario.runner import columns, csv_text, play, row_text
    from scenario.spec import load_scenario

    scenario = load_scenario(Path(args.file))   # a bad file is refused before anything is energised
    anchor = parse_anchor(args.at)
    config = load_rig_file(args.rig)
    if args.attach:
        config = attach_served(config, args.attach)
    out = Path(args.out) if args.out else Path.cwd() / "reports" / "out" / f"scenario-{datetime.now():%Y%m%d-%H%M%S}"
    prepare_out(out, args.force)
    out.mkdir(parents=True, exist_ok=True)
    rig = Rig.from_config(config, args.profile, parse_assignments(args.sim_set, "--sim-set"), args.live)
    if rig.config.virtual:
        rig.lab_journal = out / "lab-journal.jsonl"
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"wallbox-rig: scenario {scenario.name!r} ({len(scenario.steps)} steps, {scenario.duration_s:g} s of rig "
          f"time) on {config.path}", flush=True)
    with rig:
        record = play(rig, scenario, progress=lambda line: print(f"  {line}", flush=True))
        virtual_s = rig.clock.now() if rig.clock.virtual else None
        provenance = rig.provenance()
        if rig.has("backend"):
            write_atomically(out / "ocpp-frames.jsonl", frames_jsonl(rig.backend.frames(), record.t0_s))
    if record.led:
        write_atomically(out / "led.csv", led_csv(record))
    for k, clip in enumerate(record.clips, 1):
        write_clip(out / f"microphone-{k}.wav", clip.samples, int(clip.rate))
    write_atomically(out / "timeline.csv", csv_text(record, anchor))
    png = timeline_plot(record.rows, record.marks, f"{scenario.name} ({config.name})", record.t0_s)
    (out / "timeline.png").write_bytes(png)
    shutil.copyfile(scenario.path, out / scenario.path.name)
    failed = [o for o in record.results if not o.met]
    status = RunStatus.FAILED if failed else RunStatus.PASSED
    summary: dict[str, Any] = {
        "scenario": scenario.name, "file": str(scenario.path), "status": str(status), "exit_code": status.exit_code,
        "started_utc": started, "ended_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "virtual_time_s": virtual_s, "sim_overrides": parse_assignments(args.sim_set, "--sim-set"),
        "anchor_utc": args.at,
        "expectations": [{"expect": o.expect.describe(), "met": o.met,
                          "t_s": o.t_s - record.t0_s if o.t_s is not None else None, "delay_s": o.delay_s}
                         for o in record.results],
        "steps": {note: t - record.t0_s for note, t in record.marks.items()}, "provenance": provenance}
    write_atomically(out / "scenario.json", json.dumps(summary, indent=2, default=str) + "\n")
    write_atomically(out / "timeline.html", render(
        "scenario.html.j2", name=scenario.name, virtual=config.virtual, file=str(scenario.path), rig=str(config.path),
        started=summary["started_utc"], ended=summary["ended_utc"],
        knobs=", ".join(f"{k}={v}" for k, v in summary["sim_overrides"].items()),
        expectations=summary["expectations"], png=base64.b64encode(png).decode("ascii"), columns=columns(anchor),
        rows=[{c: row_text(r, c, record.t0_s, anchor) for c in columns(anchor)} for r in record.rows]))
    write_atomically(out / "report.md", report_md(scenario, record, summary, anchor))
    for result in record.results:
        print(f"  {result.line()}")
    print(f"wallbox-rig: scenario {str(status).upper()}: {len(record.results) - len(failed)} of "
          f"{len(record.results)} expectations met; {len(record.rows)} rows in {out / 'timeline.csv'}, page "
          f"{out / 'timeline.html'}", file=sys.stdout if not failed else sys.stderr)
    return status.exit_code


def cmd_scenario_from_ocpp(args: argparse.Namespace) -> int:
    from scenario.from_ocpp import skeleton

    text = skeleton(Path(args.log))
    if args.out is None:
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists: give --force to replace it")
    write_atomically(out, text)
    print(f"wallbox-rig: scenario skeleton {out}: complete it, then `wallbox-rig scenario run {out}`")
    return 0


def parse_anchor(text: str | None) -> datetime | None:
    """`--at`: the field log's instant of the scenario's start (ISO 8601, UTC or with an offset)."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--at must be an ISO 8601 instant such as 2026-11-30T14:03:00Z, not {text!r}") from None
    if at.tzinfo is None:
        raise ValueError(f"--at {text!r} has no time zone: give Z or an offset, as the field log does")
    return at.astimezone(UTC)


def add_parser(sub: Any) -> None:
    scenario = sub.add_parser("scenario", help="replay a field fault: a timeline of steps on the rig clock") \
        .add_subparsers(dest="scenario_command", required=True)
    run = scenario.add_parser("run", help="play FILE.toml on the rig and record everything (docs/scenarios.md)")
    run.add_argument("file", help="the scenario (TOML: [[step]] at_s and actions, [[expect]])")
    run.add_argument("--rig", default=str(DEFAULT_RIG), help="rig file (default: the virtual lab)")
    run.add_argument("--profile", help="DUT profile (default: the rig file's)")
    run.add_argument("--sim-set", action="append", default=[], metavar="NAME=VALUE",
                     help="bend a knob of the simulated wallbox (virtual lab only)")
    run.add_argument("--live", action="store_true", help="allow a lab rig to energise the DUT")
    run.add_argument("--out", help="output folder (default: reports/out/scenario-<timestamp> here)")
    run.add_argument("--force", action="store_true", help="clear an earlier run in --out first")
    run.add_argument("--attach", metavar="ENDPOINTS.json",
                     help="play on a running `wallbox-rig sim serve --endpoints-json ENDPOINTS.json` (the DUT keeps "
                          "its state after the scenario)")
    run.add_argument("--at", metavar="ISO8601", help="the field log's time of the scenario's start: the record gets "
                     "a utc column on that clock (e.g. 2026-11-30T14:03:00Z)")
    run.set_defaults(func=cmd_scenario_run)
    log = scenario.add_parser("from-ocpp", help="turn a central system's OCPP 1.6J message log into a scenario "
                                                "skeleton (docs/scenarios.md)")
    log.add_argument("log", help="JSON Lines, a JSON array, or '<timestamp> <frame>' lines")
    log.add_argument("--out", help="write the scenario here (default: standard output)")
    log.add_argument("--force", action="store_true", help="replace --out if it exists")
    log.set_defaults(func=cmd_scenario_from_ocpp)

