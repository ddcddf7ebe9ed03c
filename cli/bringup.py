"""Bench bring-up: `rig ping` (every role answers, nothing energised) and `rig verify` (what the bench is
built of, measured: the vehicle network through the switch unit's DMM, CP seen in A and B).

A lab runs these once after wiring a bench and after every change to it, before a night of tests
judges the DUT on a bench that may be wrong; both exit 2 (broken) on anything a test would trip on.
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import date

from core.errors import InstrumentOperationError, RigError
from fixtures.session import EXIT_BROKEN, EXIT_PASSED
from instruments.base import ScpiInstrument
from rig.config import RigConfig, load_rig_file
from rig.rig import Rig

SETTLE_S = 1.0
"""After the vehicle state changes, how long the scope acquires before its level measurement is read:
a running InfiniiVision updates `:MEASure:VTOP?` once an acquisition of the new level is complete."""


def print_unrunnable(config: RigConfig) -> None:
    """Which tests this bench cannot run, and why: a role it lacks (a test that needs the installer
    skips on a bench without a bridge to the DUT), or what its composed roles cannot do."""
    from conformance.catalogue import tests as catalogue

    roles = set(config.instruments)
    skipped = [(t, [r for r in t.needs if r not in roles]) for t in catalogue()]
    skipped = [(t, lacking) for t, lacking in skipped if lacking]
    print(f"tests this rig cannot run ({len(skipped)} of {len(catalogue())}):" if skipped
          else "every test's roles are present on this rig")
    for t, lacking in skipped:
        print(f"  {t.name}: no {', '.join(lacking)} instrument")
    box = config.instruments.get("fault_box")
    if box is not None and box.driver == "parts-faults":
        if "chamber" in roles:
            print("  fault injection from parts sets the temperature through the chamber: over-temperature is "
                  "ramped by the ambient, the resume test (it needs the sensor cooled at a known instant) skips")
        else:
            print("  fault injection from parts has no chamber: the temperature tests skip")


def _report(rig: Rig, config: RigConfig) -> tuple[list[str], list[str]]:
    """What `rig ping` prints of an opened rig; returns (calibrations overdue, roles whose error queue
    was not empty)."""
    today = date.today()
    overdue: list[str] = []
    errors_left: list[str] = []
    for role, inst in config.instruments.items():
        due = inst.calibration_due
        note = ""
        if due is not None and date.fromisoformat(due) < today:
            overdue.append(role)
            note = f"  WARNING: calibration overdue since {due}"
        elif due is not None:
            note = f"  calibration due {due}"
        seen = rig.identities.get(role) or f"UNREACHABLE: {rig.unreachable.get(role, '?')}"
        print(f"  {role:9s} {inst.driver:16s} {seen}{note}")
    if rig.has("cp"):
        needed = config.safety.interlock if config.safety.interlock is not None else not config.virtual
        try:
            state = "closed" if rig.cp.interlock_closed().value == 1 else "OPEN"
        except InstrumentOperationError as exc:
            state = f"cannot be read ({exc})"
        print(f"  interlock: {state}" + ("" if needed else " (not required on this rig)"))
        print(f"  timing: edges are stamped on a {rig.cp.stamp_resolution_s * 1e6:g} us grid; each time between "
              f"two CP-emulator stamps (a contactor opening or closing after a vehicle action no single "
              f"acquisition times) carries "
              f"U = {rig.cp.interval_u_s * 1e3:.3g} ms (k = 2); decision rule: {config.suite.decision_rule} acceptance")
        capture_u, cp_scope = getattr(rig.cp, "capture_u_s", None), getattr(rig.cp, "scope", None)
        if capture_u is not None and cp_scope is not None and cp_scope.makes_single:
            print(f"  single acquisitions: the contactor's opening after a vehicle's step up carries "
                  f"U = {capture_u('up') * 1e3:.3g} ms, after a CP short U = {capture_u('flat') * 1e3:.3g} ms, its "
                  f"closing after a step down U = {capture_u('down') * 1e3:.3g} ms (k = 2), each at the record's "
                  f"sample interval (2 us where the memory holds the window)")
        recorder = getattr(rig.cp, "recorder", None)
        if recorder is not None:
            print(f"  scope record: holds {recorder.memory_s:.3g} s on its shallowest channel (the memory shared within "
                  f"a channel pair); read every {recorder.keep_up_s:.3g} s while a test waits")
    if rig.has("fault_box"):
        box, residual = rig.fault_box, rig.fault_box.residual_u_ma
        print(f"  fault injection: each trip time carries U = {box.trip_time_u_s * 1e3:.3g} ms (k = 2), each "
              + (f"residual current U = {residual:.3g} mA" if residual is not None
                 else "residual current no U (no datasheet figure for what injects it)"))
        shunt_channel, recorder = getattr(box, "leakage_channel", None), getattr(box, "recorder", None)
        if shunt_channel is not None and recorder is not None:
            print(f"  while a residual current flows, the shunt's scope channel {shunt_channel} is shown and the "
                  f"record is read every {recorder.keep_up_with(shunt_channel):.3g} s")
    for role, instrument in rig.instruments.items():
        if isinstance(instrument, ScpiInstrument):
            try:
                instrument.check_errors("opening")
                queue = "empty"
            except InstrumentOperationError as exc:
                queue = f"NOT EMPTY: {exc}"
                errors_left.append(role)
            print(f"  {role:9s} error queue {queue}")
    return overdue, errors_left


def _verdict(rig: Rig, config: RigConfig, overdue: list[str], errors_left: list[str], strict: bool) -> int:
    if rig.unreachable:
        print(f"wallbox-rig: {len(rig.unreachable)} role(s) did not answer: {', '.join(rig.unreachable)}",
              file=sys.stderr)
        return EXIT_BROKEN
    if errors_left:
        print(f"wallbox-rig: error queue not empty after opening: {', '.join(errors_left)}", file=sys.stderr)
        return EXIT_BROKEN
    if overdue and strict and not config.virtual:
        print(f"wallbox-rig: refusing (--strict): calibration overdue for {', '.join(overdue)}", file=sys.stderr)
        return EXIT_BROKEN
    return EXIT_PASSED


def cmd_rig_ping(args: argparse.Namespace) -> int:
    """Open every role of a bench without energising the DUT: who answers, calibration, interlock, each
    SCPI instrument's error queue, the uncertainty timing verdicts will carry, and which tests this bench
    cannot run."""
    config = load_rig_file(args.file)
    rig = Rig.from_config(config, args.profile)
    print(f"{config.path}: rig {config.name!r}, profile {rig.profile.id}, "
          f"{'virtual lab' if config.virtual else 'lab bench'}; opening every role (the DUT is not energised)")
    rig.open(every_role=True)
    try:
        overdue, errors_left = _report(rig, config)
    finally:
        rig.close()
    print_unrunnable(config)
    return _verdict(rig, config, overdue, errors_left, args.strict)


def _network(rig: Rig) -> list[str]:
    """The vehicle network through the DMM, the DUT not energised; returns what is wrong."""
    from instruments.parts.bringup import check_cp_network
    from instruments.parts.cp import PartsCpEmulator

    cp = rig.cp
    if not isinstance(cp, PartsCpEmulator):
        print(f"  vehicle network: not measured: the {rig.config.instruments['cp'].driver} CP emulator builds "
              "its own (a board's self-test is its own)")
        return []
    if rig.has("source"):   # off for the rig's power-off time: the DUT's generator has let go of CP
        from conformance.limits import LIMITS

        rig.source.set_output(False)
        rig.clock.sleep(LIMITS.rig.power_off.value)
    if "cp_sense" not in cp.wiring.channels:
        print("  vehicle network: not measured: wire a DMM channel across vehicle CP and PE as "
              "[wiring.channels] cp_sense (docs/bench/cots.md)")
        return []
    check = check_cp_network(cp.switch, cp.wiring)
    side = "open (connector unplugged)" if math.isinf(check.side.ohm) else f"{check.side.ohm:.1f} ohm"
    print(f"  vehicle network through the DMM (cp_sense = {cp.wiring.channel('cp_sense')}, DUT not energised): "
          f"offset {check.offset.ohm:.2f} ohm (cp_short closed), wallbox side {side}")
    for r in check.resistors:
        measured = "open" if math.isinf(r.measured_ohm) else f"{r.measured_ohm:.1f} ± {r.u_ohm:.2g} ohm"
        print(f"    {r.name:8s} channel {r.channel}: {measured} against {r.nominal_ohm:g} ± {r.tolerance_ohm:.2g} ohm: "
              f"{r.verdict}")
    if any(r.verdict == "conditional" for r in check.resistors) and math.isfinite(check.side.ohm):
        print("    (conditional: the wallbox's side in parallel magnifies the DMM's error; unplug the vehicle "
              "connector from the bench's inlet and verify again for the exact reading)")
    return [f"{r.name} on channel {r.channel} measures {r.measured_ohm:.1f} ohm, not {r.nominal_ohm:g} ohm "
            f"± {r.tolerance_ohm:.2g}" for r in check.wrong]


def _levels(rig: Rig, config: RigConfig, live: bool) -> list[str]:
    """CP as the scope (or board) sees it in A and in B, the DUT energised; returns what is wrong."""
    from conformance.injection import READY_TIMEOUT_S, power_up
    from conformance.limits import LIMITS

    if not rig.has("source"):
        print("  CP in A and B: not checked (no AC source to energise the DUT)")
        return []
    if not config.virtual and not live:
        print("  CP in A and B: not checked (a lab bench energises the DUT only with --live)")
        return []
    if not power_up(rig, rig.clock):
        return [f"the DUT did not idle in A within {READY_TIMEOUT_S:.0f} s of being energised"]
    problems = []
    try:
        for state, band in (("A", LIMITS.iec61851.state_a_level), ("B", LIMITS.iec61851.state_b_level)):
            rig.cp.set_state(state)
            rig.clock.sleep(SETTLE_S)
            high = rig.cp.measure_cp().high_v
            inside = band.low <= high <= band.high
            print(f"  CP in {state}: {high:.2f} V (IEC 61851-1 Annex A: {band.low:g} … {band.high:g} V): "
                  f"{'ok' if inside else 'OUTSIDE'}")
            if not inside:
                problems.append(f"CP in state {state} reads {high:.2f} V, outside {band.low:g} … {band.high:g} V")
    finally:
        rig.cp.set_state("A")
        rig.safe_state(raise_failures=False)
    return problems


def cmd_rig_verify(args: argparse.Namespace) -> int:
    """Bring-up: everything `rig ping` checks, then the bench measured as built — the vehicle network
    through the switch unit's DMM with the DUT not energised, then CP seen in A and in B with it
    energised (a lab bench only with --live) — and the timing resolution verdicts will have."""
    config = load_rig_file(args.file)
    rig = Rig.from_config(config, args.profile, live=args.live)
    print(f"{config.path}: rig {config.name!r}, profile {rig.profile.id}, "
          f"{'virtual lab' if config.virtual else 'lab bench'}; verifying the bench")
    rig.open(every_role=True)
    problems: list[str] = []
    try:
        overdue, errors_left = _report(rig, config)
        code = _verdict(rig, config, overdue, errors_left, args.strict)
        if code != EXIT_PASSED:
            return code
        if rig.has("cp"):
            problems += _network(rig)
            problems += _levels(rig, config, args.live)
    except (RigError, InstrumentOperationError) as exc:
        problems.append(str(exc))
    finally:
        rig.close()
    for problem in problems:
        print(f"wallbox-rig: {problem}", file=sys.stderr)
    if problems:
        return EXIT_BROKEN
    print("the bench is as its rig file describes it")
    return EXIT_PASSED
