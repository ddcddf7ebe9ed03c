"""`wallbox-rig`: the main jobs behind one command.

    wallbox-rig run [--rig FILE] [--profile NAME] [--sim-set NAME=VALUE]... [--out DIR] [-- PYTEST ARGS]
    wallbox-rig report RUN_DIR [--previous DIR] [--margin-drop F]
    wallbox-rig rig check FILE
    wallbox-rig sim serve [--rig FILE] [--realtime] [--sim-set NAME=VALUE]...
    wallbox-rig sim params [--json]
    wallbox-rig sim fleet [--count K] [--vehicle-a A] [--out DIR] [--sim-set NAME=VALUE]...
    wallbox-rig sim led-clip [--out FILE] [--colour C] [--pattern P] [--period S] [--s4 red] [--bad-day]
    wallbox-rig led classify SOURCE --rig FILE [--seconds S] [--rate HZ]
    wallbox-rig meter models
    wallbox-rig meter serve --model MODEL [--tcp HOST:PORT | --serial PORT] [--framer socket|rtu] [--id N]
                            [--baud B] [--parity N|E|O] [--stopbits 1|2] [--scenario FILE]
"""

from __future__ import annotations

from core.threads import one_numeric_thread

one_numeric_thread()   # before anything imports numpy: each lab's process computes on one thread

import argparse
import json
import os
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

from rig.config import (DEFAULT_RIG, RigConfig, load_rig_file, overdue_calibrations, parse_assignments, with_place,
                        with_trials)
from core.errors import RigError
from rig.profile import Profile
from rig.rig import Rig, lab_cards, ocpp_account, rs485_line, sim_knobs
from sim.ports import port_map_text

from fixtures.session import EXIT_BROKEN, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PASSED
from cli.bringup import cmd_rig_ping, cmd_rig_verify, print_unrunnable

EXIT_OK = EXIT_PASSED
EXIT_USAGE = EXIT_BROKEN
EXIT_CODES = (f"exit codes: {EXIT_PASSED} everything passed; {EXIT_FAILED} the DUT failed at least one test; "
              f"{EXIT_BROKEN} the rig broke or the configuration is wrong; {EXIT_INTERRUPTED} the run was interrupted")


def cmd_run(args: argparse.Namespace) -> int:
    import pytest

    if args.rerun_failed:
        adopt_earlier_run(args, Path(args.rerun_failed))
    config = with_place(with_trials(load_rig_file(args.rig), args.cold_load_trials, "--cold-load-trials"),
                        args.place, parse_assignments(args.place_tag, "--place-tag"))
    profile = Rig.from_config(config, args.profile).profile  # fail fast, before pytest starts
    overdue = overdue_calibrations(config)
    if overdue:
        print("wallbox-rig: WARNING: calibration overdue: " + ", ".join(f"{r} (due {d})" for r, d in overdue.items()),
              file=sys.stderr)
        if args.strict and not config.virtual:
            raise RigError("--strict: refusing to run a lab rig with overdue calibration (a lab signs what it measures)")
    if config.virtual:
        sim_knobs(config, parse_assignments(args.sim_set), profile.id)
    suite = Path(__file__).resolve().parent.parent / "conformance"
    selected = family_selection(suite, args.family) if args.family else [str(suite)]
    if args.rerun_failed and args.family:
        raise RigError("--rerun-failed and --family: a rerun selects its tests from the earlier run; choose one")
    if args.rerun_failed:
        selected = rerun_selection(Path(args.rerun_failed), config, profile.id, suite)
        if not selected:
            print(f"wallbox-rig: nothing failed or broke in {args.rerun_failed}: nothing to rerun")
            return EXIT_OK
    # under the current folder: an installed wheel never writes into site-packages
    out = Path(args.out) if args.out else Path.cwd() / "reports" / "out" / datetime.now().strftime("%Y%m%d-%H%M%S")
    prepare_out(out, args.force)
    pytest_args = [*selected, "--wbr-rig", args.rig, "--wbr-out", str(out), "--alluredir", str(out / "allure-results"),
                   "--junitxml", str(out / "junit.xml"), "-p", "no:cacheprovider", "-rfE",
                   "-p", "no:hypothesispytest", "-p", "no:labgrid"]  # the suite fuzzes nothing: 1 s less per process where it is installed
    if args.profile:
        pytest_args += ["--wbr-profile", args.profile]
    for item in args.sim_set:
        pytest_args += ["--wbr-sim-set", item]
    if args.live:
        pytest_args.append("--wbr-live")
    if args.no_plots:
        pytest_args.append("--wbr-no-plots")
    if args.cold_load_trials is not None:
        pytest_args += ["--wbr-cold-load-trials", str(args.cold_load_trials)]
    if args.place:
        pytest_args += ["--wbr-place", args.place]
    if args.rerun_failed:
        pytest_args += ["--wbr-rerun-of", str(Path(args.rerun_failed).resolve())]
    for tag in args.place_tag:
        pytest_args += ["--wbr-place-tag", tag]
    workers = default_workers(config) if args.workers is None else args.workers
    if workers > 1:
        if not config.in_process_lab:
            raise RigError(f"--workers {workers}: this rig is one bench (a lab bench, a served lab or a place); "
                           "parallel runs open virtual labs of their own (rigs/sim.toml); for several benches, run "
                           "once per place")
        # a stopped or crashed lab is not replaced: its tests end the run's way (interrupted or broken)
        pytest_args += ["-n", str(workers), "--dist", "loadfile", "--max-worker-restart", "0"]
    elif workers < 1:
        raise RigError(f"--workers: expected 1 or more virtual labs, found {workers}")
    if any(a in ("--lf", "--last-failed", "--ff", "--failed-first") for a in args.pytest_args):
        raise RigError("--lf / --ff need pytest's cache, which a run does not keep (one run, one folder): "
                       "use `wallbox-rig run --rerun-failed RUN` to rerun the failed and broken tests of an earlier run")
    pytest_args += args.pytest_args
    print(f"wallbox-rig: running the conformance suite on {args.rig} (results in {out})", flush=True)
    code = pytest.main(pytest_args)
    summary_path = out / "summary.json"
    if not summary_path.exists():
        print(f"wallbox-rig: the run ended before writing {summary_path} (pytest exit {int(code)})")
        return EXIT_BROKEN
    summary = json.loads(summary_path.read_text())
    counts = summary["counts"]
    if summary.get("rig_error"):
        print(f"wallbox-rig: broken rig, no test was run: {summary['rig_error']}", file=sys.stderr)
        return EXIT_BROKEN
    if summary.get("instrument_lost"):
        print(f"wallbox-rig: an instrument went away, the run stopped: {summary['instrument_lost']}", file=sys.stderr)
    from reports.build import build_reports
    from reports.results import mark_junit
    build_reports(out)
    mark_junit(out / "junit.xml", summary)
    print(f"wallbox-rig: certification matrix {out / 'matrix.html'} (also .md, .csv); report {out / 'report.md'}; "
          f"Allure results {out / 'allure-results'}")
    status = summary.get("status", "broken")   # the plugin's word: one rule, in one place
    print(f"\nwallbox-rig: {status.upper()}: {counts['passed']} passed, {counts['failed']} failed, "
          f"{counts['broken']} broken, {counts['skipped']} skipped; virtual time {summary['virtual_time_s']} s, "
          f"wall time {summary['wall_time_s']} s, seed {summary['seed']}"
          + (" (interrupted: the run did not finish)" if status == "interrupted" else ""))
    return {"passed": EXIT_PASSED, "failed": EXIT_FAILED, "interrupted": EXIT_INTERRUPTED}.get(status, EXIT_BROKEN)


def default_workers(config: RigConfig) -> int:
    """A virtual lab started by this run: one per core (a lab keeps a core about 80 % busy, and the
    plots of its tests are drawn in its own process); a bench, a served lab or a place is one."""
    return max(1, os.cpu_count() or 1) if config.in_process_lab else 1


RUN_FILES = ("summary.json", "tests.jsonl", "catalogue.json", "scenario.json")


def prepare_out(out: Path, force: bool) -> None:
    """One run, one folder: a folder with anything in it is refused (its evidence would mix with this
    run's), unless --force clears it, and --force clears only what looks like a run folder."""
    if out.exists() and not out.is_dir():
        raise RigError(f"--out {out}: expected a folder, found a file")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise RigError(f"--out {out} is not empty (an earlier run?): its results would mix with this run's; "
                           "choose another folder, or add --force to clear it first")
        if not any((out / name).exists() for name in RUN_FILES):
            raise RigError(f"--out {out} holds files but no wallbox-rig run ({', '.join(RUN_FILES)}): "
                           "not clearing it, even with --force")
        shutil.rmtree(out)
        print(f"wallbox-rig: --force: cleared the earlier run in {out}")
    try:   # a folder under a file, a read-only one, a full disk: said once, before the rig opens
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".wallbox-rig-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise RigError(f"--out {out}: cannot write the run there ({exc.strerror or exc})") from None


def family_selection(suite: Path, families: list[str]) -> list[str]:
    """The suite's files for the named families (`residual_current`, or `residual current` as the
    catalogue and matrix spell it); an unknown name is refused with the list of known ones."""
    known = {p.stem.removeprefix("test_"): p for p in sorted(suite.glob("test_*.py"))}
    chosen = []
    for item in (f.strip() for arg in families for f in arg.split(",")):
        key = item.replace(" ", "_").replace("-", "_")
        if key not in known:
            raise RigError(f"--family {item!r}: no such family; known: {', '.join(known)}")
        chosen.append(str(known[key]))
    return list(dict.fromkeys(chosen))


def adopt_earlier_run(args: argparse.Namespace, run: Path) -> None:
    """A rerun runs what was run: the earlier run's knobs and cold-load trial count (its seed is its
    rig file's or a knob), unless the command line names the same; a difference is refused."""
    try:
        earlier = json.loads((run / "summary.json").read_text())
    except (OSError, ValueError) as exc:
        raise RigError(f"--rerun-failed {run}: not a wallbox-rig run folder ({exc})") from None
    knobs = {str(k): str(v) for k, v in (earlier.get("sim_overrides") or {}).items()}
    given = parse_assignments(args.sim_set)
    if args.sim_set and given != knobs:
        raise RigError(f"--rerun-failed {run}: that run bent {knobs or 'no knob'}, this one would bend {given}: a "
                       "rerun keeps the earlier run's knobs (leave --sim-set out)")
    args.sim_set = [f"{k}={v}" for k, v in knobs.items()]
    trials = earlier.get("cold_load_trials")
    if args.cold_load_trials is not None and trials is not None and args.cold_load_trials != trials:
        raise RigError(f"--rerun-failed {run}: that run made {trials} cold-load trials, this one would make "
                       f"{args.cold_load_trials}: a rerun keeps the earlier count (leave --cold-load-trials out)")
    if trials is not None:
        args.cold_load_trials = int(trials)


def rerun_selection(run: Path, config: RigConfig, profile_id: str, suite: Path) -> list[str]:
    """The failed and broken tests of an earlier run, as pytest node ids; refused for another rig or profile."""
    summary_path, tests_path = run / "summary.json", run / "tests.jsonl"
    if not summary_path.exists() or not tests_path.exists():
        raise RigError(f"--rerun-failed {run}: not a wallbox-rig run folder (no summary.json / tests.jsonl)")
    prov = json.loads(summary_path.read_text()).get("provenance", {})
    if prov.get("profile") != profile_id or Path(str(prov.get("rig_file"))).resolve() != config.path.resolve():
        raise RigError(f"--rerun-failed {run}: that run was on rig {prov.get('rig_file')} with profile "
                       f"{prov.get('profile')}; this one is on {config.path} with {profile_id}: rerun on the same "
                       "rig and profile")
    from reports.results import read_records
    return [str(suite.parent / r.nodeid) for r in read_records(tests_path) if r.outcome.red]


def cmd_report(args: argparse.Namespace) -> int:
    from reports.build import build_reports

    written = build_reports(Path(args.run_dir), Path(args.previous) if args.previous else None, args.margin_drop)
    for path in written:
        print(f"wallbox-rig: wrote {path}")
    trend_path = Path(args.run_dir) / "trend.json"
    if args.previous and trend_path.exists():
        new = json.loads(trend_path.read_text()).get("new_failures", [])
        if new:   # as `wallbox-rig trend` does: a nightly job goes red on what newly fails
            print(f"wallbox-rig: {len(new)} new failure(s) since {args.previous}: "
                  + ", ".join(str(n[0] if isinstance(n, list) else n) for n in new), file=sys.stderr)
            return EXIT_FAILED
    return EXIT_OK


def cmd_trend(args: argparse.Namespace) -> int:
    """Each judged measurement over many runs of one bench and profile: plots per family, new
    failures, fixes, margins that shrink night after night (random-by-design ones never flagged)."""
    from reports.matrix import load_run
    from reports.trend import history, run_folders, trend_page

    folders = run_folders([Path(p) for p in args.runs])
    runs = [load_run(f) for f in folders]
    hist = history(runs, args.margin_drop, args.nights)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "trend.html").write_text(trend_page(hist, runs, args.margin_drop, args.nights))
    print(f"wallbox-rig: {len(runs)} runs, {len(hist.lines)} judged measurements; new failures "
          f"{len(hist.new_failures)}, fixed {len(hist.fixed)}, margins shrinking over {args.nights} runs "
          f"{len(hist.shrinking)}")
    for text in hist.new_failures:
        print(f"  new failure: {text}")
    for line in hist.shrinking:
        print(f"  shrinking: {line.test}: {line.measurement}: "
              + " → ".join(f"{m:.4g}" for m in line.margins[-args.nights:] if m is not None) + f" {line.unit}")
    print(f"wallbox-rig: wrote {out / 'trend.html'}")
    return EXIT_FAILED if hist.new_failures else EXIT_OK


def cmd_rig_check(args: argparse.Namespace) -> int:
    from conformance.limits import load as load_limits

    config = load_rig_file(args.file)
    profile = Rig.from_config(config, args.profile).profile  # resolves, opens nothing
    load_limits()  # the suite's limits, validated as a run would
    print(f"{config.path}: OK — rig {config.name!r}, profile {profile.id} ({profile.name}), "
          f"clock {config.clock}{', virtual lab' if config.virtual else ''}")
    overdue = overdue_calibrations(config)
    for role, inst in config.instruments.items():
        due = f", calibration due {inst.calibration_due}" if inst.calibration_due else ""
        due += "  WARNING: calibration overdue" if role in overdue else ""
        print(f"  {role:9s} {inst.driver:16s} {', '.join(inst.addresses)}{due}")
    if config.virtual:
        sim_knobs(config, profile_id=profile.id)
    print(cold_load_power_line(config.suite.cold_load_trials, profile))
    print_unrunnable(config)
    return EXIT_OK


def cold_load_power_line(trials: int, profile: Profile) -> str:
    """What the rig's cold-load trial count buys (conformance/stats.py), in one line."""
    from conformance.limits import LIMITS
    from conformance.stats import detection_power, trials_for_power

    parts, target = LIMITS.rig.cold_load_power_parts.value, LIMITS.rig.cold_load_power_target.value
    declared = profile.cold_load.delay_range_s
    off_s = (declared.high - declared.low) / parts
    needed = trials_for_power(1.0 / parts, target)
    return (f"  cold-load trials: {trials}: {detection_power(trials, 1.0 / parts):.0%} chance to catch a delay bound "
            f"{off_s:.2g} s off ({target:.0%} takes {needed})")


def cmd_rig_drivers(args: argparse.Namespace) -> int:
    """Every role's drivers and the settings each declares (the rig-file reference)."""
    from rig.reference import markdown
    from rig.registry import ROLES, available_drivers, load_object

    if args.markdown:
        print(markdown(), end="")
        return EXIT_OK
    for role in ROLES:
        for name, target in sorted(available_drivers(role.name).items()):
            settings = load_object(target).declared_settings()
            print(f"{role.name:12s} {name:22s} {', '.join(settings) or '-'}")
    return EXIT_OK


def cmd_catalogue(args: argparse.Namespace) -> int:
    from conformance import catalogue

    if args.ocpp:
        print(catalogue.ocpp_map(args.ocpp_version), end="")
        return EXIT_OK
    if args.json:
        print(json.dumps([{"test": t.name, "family": t.family, "summary": t.summary, "requirement": t.requirement,
                           "clause": t.clause, "needs": list(t.needs), "ocpp_cases": list(t.ocpp_cases),
                           "red_on": [{"knobs": list(r.knobs), "profile": r.profile, "only": list(r.only)}
                                      for r in t.red_on]} for t in catalogue.tests()], indent=1))
    else:
        print(catalogue.markdown(), end="")
    return EXIT_OK


def cmd_sim_params(args: argparse.Namespace) -> int:
    from sim.params import KNOBS
    if args.json:
        print(json.dumps([{"name": k.name, "default": k.default, "unit": k.unit, "meaning": k.meaning,
                           "low": k.low, "high": k.high, "choices": k.choices} for k in KNOBS], indent=2))
        return EXIT_OK
    for k in KNOBS:
        print(f"{k.name:28s} {str(k.default):>8s} {k.unit:5s} {k.meaning}")
    return EXIT_OK


def cmd_sim_serve(args: argparse.Namespace) -> int:
    from sim.lab import PORT_ORDER, start_virtual_lab

    config = load_rig_file(args.rig)
    if not config.virtual:
        raise RigError(f"{config.path} has no [sim] table: it describes a lab bench, not the virtual lab")
    knobs = sim_knobs(config, parse_assignments(args.sim_set), Rig.from_config(config, args.profile).profile.id)
    top = 65536 - len(PORT_ORDER)
    if args.port_base is not None and not 1024 <= args.port_base <= top:
        raise ValueError(f"--port-base must be in [1024, {top}], not {args.port_base}")
    if args.backend_url is not None and not args.backend_url.startswith(("ws://", "wss://")):
        raise ValueError(f"--backend-url must be a ws:// or wss:// URL, not {args.backend_url!r}")
    lab = start_virtual_lab(seed=knobs["seed"], knobs=knobs, realtime=args.realtime, source_file=str(config.path),
                            port_base=args.port_base, ocpp=ocpp_account(config, args.backend_url),
                            cards=lab_cards(config),
                            rs485=rs485_line(config))
    if args.endpoints_json:
        Path(args.endpoints_json).write_text(json.dumps(lab.endpoints, indent=1) + "\n")
    if args.labgrid_exporter:
        from rig.places import exporter_config
        Path(args.labgrid_exporter).write_text(exporter_config(args.labgrid_group, lab.endpoints))
    try:  # from before the ready line: a client may send Ctrl-C as soon as it reads it (CI caught exit 3)
        print(f"virtual lab ({'real time' if args.realtime else 'stepped: send ADV <seconds> to the clock'}), "
              "on 127.0.0.1 only:")
        for name, address in lab.endpoints.items():
            print(f"  {name:9s} {address}")
        print("The wallbox is unpowered until the source's output is on (OUTP ON). Ctrl-C stops.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        lab.stop()
    return EXIT_OK


def cmd_meter_models(args: argparse.Namespace) -> int:
    from instruments.meter.registers import load_map, model_names

    for name in model_names():
        m = load_map(name)
        d = m.defaults
        print(f"{name:22s} {m.title:30s} {m.phases}-phase  FC{'/'.join(map(str, m.functions))}  "
              f"defaults id {d['id']}, {d['baud']} {d['parity']}{d['stopbits']}  ({len(m.registers)} registers)")
    return EXIT_OK


def cmd_meter_serve(args: argparse.Namespace) -> int:
    from instruments.meter.emulator import WbrMeterEmulator
    from instruments.meter.scenario import household, load_scenario
    from instruments.transport.modbus import ModbusEndpoint

    scenario = load_scenario(args.scenario) if args.scenario else household()
    address = f"tcp://{args.tcp}" if args.serial is None else args.serial
    settings = {"model": args.model, "framer": args.framer,
                **{k: v for k, v in (("id", args.id), ("baud", args.baud), ("parity", args.parity),
                                     ("stopbits", args.stopbits)) if v is not None}}
    endpoint = ModbusEndpoint("meter", address, settings)
    meter = WbrMeterEmulator(endpoint)
    start = time.monotonic()
    first = scenario.at(0.0)
    meter.set_energy(first.e_import_wh, first.e_export_wh)
    meter.update(first, 0.0)
    line = meter.line
    framing = "RTU" if endpoint.rtu else "Modbus TCP"
    where = address if endpoint.port is None else address.rsplit(":", 1)[0] + f":{endpoint.port}"
    try:  # from before the ready line, as `sim serve`
        print(f"serving {meter.meter_map.title} ({line['model']}) as id {line['id']} on {where} ({framing}, "
              f"{line['baud']} {line['parity']}{line['stopbits']}); "
              f"{'scenario ' + args.scenario if args.scenario else 'a household'}. Ctrl-C stops.", flush=True)
        while True:
            time.sleep(0.5)
            t = time.monotonic() - start
            meter.update(scenario.at(t), t)
    except KeyboardInterrupt:
        pass
    finally:
        meter.close()
    return EXIT_OK


def cmd_sim_fleet(args: argparse.Namespace) -> int:
    from reports.plots import fleet_plot
    from sim.fleet import compare

    if not 1 <= args.count <= 10_000:
        raise ValueError(f"--count must be in [1, 10000], not {args.count}")
    curves = compare(args.count, parse_assignments(args.sim_set), args.vehicle_a)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["t_s," + ",".join(f'"{c.label} (A)"' for c in curves)]
    lines += [f"{pts[0][0]:.3f}," + ",".join(f"{p[1]:.3f}" for p in pts) for pts in zip(*(c.points for c in curves))]
    (out / "fleet.csv").write_text("\n".join(lines) + "\n")
    (out / "fleet.png").write_bytes(fleet_plot(curves, f"{args.count} wallboxes on one feeder, "
                                                       f"{args.vehicle_a:g} A per vehicle, after one outage"))
    for c in curves:
        print(f"{c.label:24s} steepest rise {c.steepest_rise_a():7.1f} A within 1 s on L1; half the load back after "
              f"{c.time_to_fraction_s(0.5):6.1f} s, all after {c.time_to_fraction_s(1.0):6.1f} s (of {c.peak_a:.0f} A)")
    print(f"plot {out / 'fleet.png'}, data {out / 'fleet.csv'}")
    return EXIT_OK


def cmd_led_classify(args: argparse.Namespace) -> int:
    """What the classifier sees in a camera (or a recorded clip), segment by segment: for setting
    up regions and exposure on a bench before a run."""
    from instruments.led.camera import OpenCvCamera, parse_rois
    from instruments.led.classifier import classify
    from instruments.transport.video import VideoTransport

    config = load_rig_file(args.rig)
    led = config.instruments.get("led")
    if led is None:
        raise RigError(f"{config.path}: no [instruments.led] table: the camera's regions (roi_S1 … roi_S4) live there")
    try:
        parse_rois(led.settings)
    except ValueError as exc:
        raise RigError(f"{config.path}: [instruments.led]: {exc}") from None
    source = args.source if args.source.startswith("video:") else f"video:{args.source}"
    camera = OpenCvCamera(VideoTransport("led", source, led.settings))
    try:
        print(f"{camera.identify()}, {args.seconds:g} s at {args.rate:g} Hz")
        samples = camera.record(args.seconds, args.rate, _NoWait())
        for state in classify(samples):
            rate = f"{state.frequency_hz:5.2f} Hz" if state.frequency_hz else "       -"
            print(f"  {state.segment}  {state.colour or '-':7s} {state.pattern:9s} {rate}  peak {state.level:.2f}")
    finally:
        camera.close()
    return EXIT_OK


class _NoWait:
    """A camera delivers frames in its own time; nothing to wait for."""

    def sleep(self, seconds: float) -> None:
        return None


def cmd_sim_led_clip(args: argparse.Namespace) -> int:
    """A clip of the virtual camera looking at the bar, to rehearse `led classify` without a bench."""
    import random

    from sim.led_bar import LedShow, rgb
    from sim.led_camera import CameraConditions, clip, write_clip

    show = LedShow(args.colour, args.pattern, args.period, args.s4)
    cond = CameraConditions.bad_day(random.Random(args.seed)) if args.bad_day else CameraConditions()
    frames = clip(lambda t: rgb(show, t), args.seconds, cond, seed=args.seed)
    write_clip(args.out, frames, cond.fps)
    print(f"{args.out}: {len(frames)} frames at {cond.fps:g} fps of {show}; regions as in rigs/lab-example.toml")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    from instruments.meter.registers import model_names

    from importlib.metadata import PackageNotFoundError, version

    from rig.profile import available_profiles

    try:
        installed = version("wallbox-rig")
    except PackageNotFoundError:
        installed = "unknown (not installed)"
    parser = argparse.ArgumentParser(prog="wallbox-rig", description=__doc__.split("\n\n")[0], epilog=EXIT_CODES)
    parser.add_argument("--version", action="version", version=f"wallbox-rig {installed}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the conformance suite and write a report", epilog=EXIT_CODES)
    run.add_argument("--rig", default=str(DEFAULT_RIG), help="rig file (default: the virtual lab)")
    run.add_argument("--profile", help="DUT profile: one of " + ", ".join(available_profiles())
                     + ", or a path to a profile file (default: the rig file's)")
    run.add_argument("--sim-set", action="append", default=[], metavar="NAME=VALUE",
                     help="bend a knob of the simulated wallbox (see `wallbox-rig sim params`)")
    run.add_argument("--out", help="output folder (default: reports/out/<timestamp> under the current folder); must be "
                                    "empty or new")
    run.add_argument("--force", action="store_true", help="clear an earlier run in --out first")
    run.add_argument("--rerun-failed", metavar="RUN", help="run only the failed and broken tests of the earlier run "
                                                           "folder RUN (same rig and profile)")
    run.add_argument("--family", action="append", default=[], metavar="NAME",
                     help="run only this test family (repeatable or comma-separated: residual_current,welding; "
                          "see `wallbox-rig catalogue`)")
    run.add_argument("--live", action="store_true", help="allow a lab rig to energise the DUT")
    run.add_argument("--no-plots", action="store_true", help="keep raw traces but render no waveform plots")
    run.add_argument("--place", metavar="NAME", help="run on this labgrid place (a rig file with [place]: "
                                                    "reserve, wait our turn, acquire, release on every exit)")
    run.add_argument("--place-tag", action="append", default=[], metavar="KEY=VALUE",
                     help="run on any labgrid place with this tag (repeatable), instead of a name")
    run.add_argument("--strict", action="store_true",
                     help="on a lab rig, refuse (exit 2) when an instrument's calibration is overdue (else a warning)")
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="run on N virtual labs in parallel (pytest-xdist, a test module per lab at a time; "
                          "one run folder); default: one per core on a virtual lab this run starts, else 1")
    run.add_argument("--cold-load-trials", type=int, metavar="N", help="cold-load trials instead of the rig file's "
                                                                       "[suite] cold_load_trials (the report shows the "
                                                                       "power N buys)")
    run.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after -- (e.g. -- -k contactor -x; "
                                                    "--wbr-limits DIR judges against another folder of limits)")
    run.set_defaults(func=cmd_run)

    report = sub.add_parser("report", help="build the certification matrix (HTML, Markdown, CSV) of a run folder")
    report.add_argument("run_dir", help="a folder written by `wallbox-rig run`")
    report.add_argument("--previous", help="an earlier run folder to compare with (trend)")
    report.add_argument("--margin-drop", type=float, default=0.2,
                        help="list margins that lost more than this fraction since --previous (default 0.2)")
    report.set_defaults(func=cmd_report)

    trend = sub.add_parser("trend", help="each judged measurement over many runs (a folder of runs, or run folders "
                                         "oldest first): plots per family, new failures, shrinking margins")
    trend.add_argument("runs", nargs="+", help="run folders, or a folder holding run folders (sorted by name)")
    trend.add_argument("--out", default="reports/out/trend", help="folder for trend.html (default %(default)s)")
    trend.add_argument("--margin-drop", type=float, default=0.2,
                       help="flag a margin that fell by more than this fraction over --nights runs (default 0.2)")
    trend.add_argument("--nights", type=int, default=3, help="how many of the last runs a margin must keep falling "
                                                             "over to be flagged (default 3)")
    trend.set_defaults(func=cmd_trend)

    rig = sub.add_parser("rig", help="rig files").add_subparsers(dest="rig_command", required=True)
    check = rig.add_parser("check", help="validate a rig file without touching hardware")
    check.add_argument("file", help="the rig file (TOML)")
    check.add_argument("--profile", help="DUT profile name or file (default: the rig file's)")
    check.set_defaults(func=cmd_rig_check)
    ping = rig.add_parser("ping", help="open every role without energising the DUT: identities, calibration, "
                                       "interlock, and the tests this rig cannot run")
    ping.add_argument("file", help="the rig file (TOML)")
    ping.add_argument("--profile", help="DUT profile name or file (default: the rig file's)")
    ping.add_argument("--strict", action="store_true", help="on a lab rig, refuse (exit 2) when a calibration is overdue")
    ping.set_defaults(func=cmd_rig_ping)
    verify = rig.add_parser("verify", help="bring-up: what ping checks, then the bench measured as built (the vehicle "
                                           "network through the switch unit's DMM, CP in A and B)")
    verify.add_argument("file", help="the rig file (TOML)")
    verify.add_argument("--profile", help="DUT profile name or file (default: the rig file's)")
    verify.add_argument("--strict", action="store_true", help="on a lab rig, refuse (exit 2) when a calibration is "
                                                              "overdue")
    verify.add_argument("--live", action="store_true", help="on a lab bench, energise the DUT to see CP in A and B")
    verify.set_defaults(func=cmd_rig_verify)
    drivers = rig.add_parser("drivers", help="every role's drivers (built-in and plug-in) and the settings each reads")
    drivers.add_argument("--markdown", action="store_true", help="the full reference with types, ranges and defaults "
                                                                 "(docs/reference/drivers.md)")
    drivers.set_defaults(func=cmd_rig_drivers)

    cat = sub.add_parser("catalogue", help="the suite's tests, what they cite and the knob settings that must turn "
                                           "them red (Markdown table, as in docs/catalogue.md; or --json)")
    cat.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    cat.add_argument("--ocpp", action="store_true", help="the OCPP certification tool's charge-point cases: the tests "
                                                          "that automate each and what they judge, or why none does")
    cat.add_argument("--ocpp-version", choices=("1.6", "2.0.1"), default="1.6",
                     help="the version whose test cases --ocpp maps (default 1.6)")
    cat.set_defaults(func=cmd_catalogue)

    sim = sub.add_parser("sim", help="the virtual lab").add_subparsers(dest="sim_command", required=True)
    params = sim.add_parser("params", help="list the simulated wallbox's knobs")
    params.add_argument("--json", action="store_true", help="print the knobs as JSON")
    params.set_defaults(func=cmd_sim_params)
    serve = sim.add_parser("serve", help="run the virtual lab on its own and print its endpoints")
    serve.add_argument("--rig", default=str(DEFAULT_RIG), help="virtual-lab rig file (default: rigs/sim.toml)")
    serve.add_argument("--profile", help="DUT profile the simulated wallbox impersonates (default: the rig file's)")
    serve.add_argument("--realtime", action="store_true", help="advance virtual time with the wall clock")
    serve.add_argument("--port-base", type=int, metavar="PORT",
                       help=f"serve on fixed loopback ports from PORT up, instead of free ones: {port_map_text()} "
                            "(the simulated wallbox dials the rig's backend on ocpp)")
    serve.add_argument("--backend-url", metavar="URL", help="the central system the simulated wallbox dials "
                       "(ws://HOST:PORT/PATH; its charge point id is appended), with the rig file's backend identity "
                       "and password; default: the rig file's backend address, or the lab's ocpp endpoint")
    serve.add_argument("--endpoints-json", metavar="FILE", help="write the endpoints as JSON to FILE, for tools")
    serve.add_argument("--labgrid-exporter", metavar="FILE", help="write a labgrid exporter configuration (YAML) "
                                                                  "that exports these endpoints as one group")
    serve.add_argument("--labgrid-group", default="wbr-virtual-bench", metavar="NAME",
                       help="the group (bench) name in --labgrid-exporter (default %(default)s)")
    serve.add_argument("--sim-set", action="append", default=[], metavar="NAME=VALUE",
                       help="bend a knob of the simulated wallbox (see `wallbox-rig sim params`)")
    serve.set_defaults(func=cmd_sim_serve)
    fleet = sim.add_parser("fleet", help="K simulated wallboxes on one feeder restart after one outage, "
                                          "with and without the cold-load delay")
    fleet.add_argument("--count", type=int, default=50, help="wallboxes on the feeder (default 50)")
    fleet.add_argument("--vehicle-a", type=float, default=16.0, help="each vehicle's draw per phase (default 16 A)")
    fleet.add_argument("--out", default="reports/out/fleet", help="folder for fleet.png and fleet.csv")
    fleet.add_argument("--sim-set", action="append", default=[], metavar="NAME=VALUE",
                       help="bend a knob of every simulated wallbox (see `wallbox-rig sim params`)")
    fleet.set_defaults(func=cmd_sim_fleet)
    led_clip = sim.add_parser("led-clip", help="write a clip of the virtual camera looking at the LED bar")
    led_clip.add_argument("--out", default="led-clip.avi", help="clip file to write (default %(default)s)")
    led_clip.add_argument("--colour", default="blue", choices=("blue", "yellow", "red", "green", "white"),
                          help="bar colour (default %(default)s)")
    led_clip.add_argument("--pattern", default="sweeping", choices=("off", "solid", "blinking", "breathing", "sweeping"),
                          help="pattern of S1-S4 (default %(default)s)")
    led_clip.add_argument("--period", type=float, default=2.0, help="pattern period in s")
    led_clip.add_argument("--s4", choices=("red",), default=None, help="S4 solid red (communication module defect)")
    led_clip.add_argument("--seconds", type=float, default=8.0, help="clip length in s (default %(default)s)")
    led_clip.add_argument("--seed", type=int, default=1, help="seed of the camera noise (default %(default)s)")
    led_clip.add_argument("--bad-day", action="store_true", help="random noise, blur, bleed, exposure and white balance")
    led_clip.set_defaults(func=cmd_sim_led_clip)

    led = sub.add_parser("led", help="the LED sensor").add_subparsers(dest="led_command", required=True)
    classify_cmd = led.add_parser("classify", help="print what the classifier sees, segment by segment")
    classify_cmd.add_argument("source", help="camera index (0), stream URL or video file")
    classify_cmd.add_argument("--rig", required=True, help="rig file whose [instruments.led] gives roi_S1 … roi_S4")
    classify_cmd.add_argument("--seconds", type=float, default=8.0, help="how long to watch (default %(default)s)")
    classify_cmd.add_argument("--rate", type=float, default=20.0, help="samples per second")
    classify_cmd.set_defaults(func=cmd_led_classify)

    meter = sub.add_parser("meter", help="the Modbus meter emulator").add_subparsers(dest="meter_command", required=True)
    models = meter.add_parser("models", help="list the meter models the emulator serves")
    models.set_defaults(func=cmd_meter_models)
    serve_meter = meter.add_parser("serve", help="serve one meter model for any Modbus master")
    serve_meter.add_argument("--model", required=True, choices=model_names(), metavar="MODEL",
                             help="one of: %(choices)s (details: `wallbox-rig meter models`)")
    where = serve_meter.add_mutually_exclusive_group()
    where.add_argument("--tcp", default="127.0.0.1:5020", metavar="HOST:PORT", help="listen here (default %(default)s)")
    where.add_argument("--serial", metavar="PORT", help="RS485 port (/dev/ttyUSB0, COM3): RTU framing")
    serve_meter.add_argument("--framer", choices=("socket", "rtu"), default="socket",
                             help="on --tcp: Modbus TCP (socket) or RTU framing over TCP")
    serve_meter.add_argument("--id", type=int, help="Modbus id (default: the meter's)")
    serve_meter.add_argument("--baud", type=int, help="baud rate (default: the meter's)")
    serve_meter.add_argument("--parity", choices=("N", "E", "O"), help="parity (default: the meter's)")
    serve_meter.add_argument("--stopbits", type=int, choices=(1, 2), help="stop bits (default: the meter's)")
    serve_meter.add_argument("--scenario", help="TOML: [grid] or [[steps]] (instruments/meter/scenario.py)")
    serve_meter.set_defaults(func=cmd_meter_serve)

    from cli.backend_serve import add_parser as add_backend
    from cli.beep import add_parser as add_beep
    from cli.card import add_parser as add_card
    from cli.scenario import add_parser as add_scenario
    add_backend(sub)
    add_beep(sub)
    add_card(sub)
    add_scenario(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (RigError, ValueError) as exc:
        print(f"wallbox-rig: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `wallbox-rig rig check … | head`: the reader left, nothing to report
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        print("wallbox-rig: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
