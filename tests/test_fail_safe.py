"""A killed run fails safe: real `wallbox-rig run` processes are interrupted at random moments,
and the virtual lab's journal (written as it happens) must show the safe state reached after the
signal, with every finished test's result already on disk.

SIGKILL is not among them: nothing in-process can react to it (the in-process virtual lab dies
with the run); a lab bench needs a hardware watchdog or interlock for that case.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from fixtures.options import _Interrupts
from rig import interrupts
from rig.clock import RealClock
from rig.config import REPO_ROOT
from rig.rig import Rig

RUN_LIMIT_S = 120.0
OPENING, BOOTING = -1, 0
"""Moments before the first test: the lab is up but the rig still opening; the DUT powered and booting."""
# (signal, finished tests before the kill, or one of the moments above)
KILLS = [(signal.SIGINT, OPENING), (signal.SIGTERM, BOOTING), (signal.SIGINT, BOOTING)] + [
    (sig, random.Random(f"kill-{k}").randint(1, 25)) for k, sig in enumerate((signal.SIGINT, signal.SIGTERM) * 2)]
MOMENT = {OPENING: "opening", BOOTING: "booting"}


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]  # every line must parse


def _kill_run(out: Path, sig: signal.Signals, after_tests: int) -> tuple[int, float]:
    cmd = [sys.executable, "-m", "cli.main", "run", "--no-plots", "--workers", "1", "--out", str(out), "--", "-q"]
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}  # SIGABRT on a hang dumps every thread's stack
    log = out.with_name(out.name + ".log").open("w")
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + RUN_LIMIT_S
    journal, tests = out / "lab-journal.jsonl", out / "tests.jsonl"
    while time.monotonic() < deadline and proc.poll() is None:
        if after_tests == OPENING:
            ready = journal.exists() and '"event": "lab_started"' in journal.read_text()
        elif after_tests == BOOTING:
            ready = journal.exists() and '"event": "mains", "on": true' in journal.read_text()
        else:
            ready = tests.exists() and len(tests.read_text().splitlines()) >= after_tests
        if ready:
            break
        time.sleep(0.005)
    assert proc.poll() is None, f"the run ended before the kill:\n{(out / 'run.log').read_text()}"
    t_kill = time.time()
    proc.send_signal(sig)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        proc.wait(timeout=10)
        raise AssertionError(f"the run did not end within 60 s of {sig.name}:\n"
                             f"{(out / 'run.log').read_text()[-6000:]}") from None
    return proc.returncode, t_kill


@pytest.mark.parametrize("sig, after_tests", KILLS,
                         ids=[f"{s.name}-{MOMENT.get(n) or f'after-{n}-tests'}" for s, n in KILLS])
def test_interrupted_run_reaches_the_safe_state_and_keeps_finished_results(tmp_path: Path, sig: signal.Signals,
                                                                           after_tests: int) -> None:
    out = tmp_path / "run"
    code, t_kill = _kill_run(out, sig, after_tests)
    assert code == 3, "an interrupted run exits 3"
    journal = _lines(out / "lab-journal.jsonl")
    energised = [e for e in journal if e["event"] == "mains" and e["on"]]
    if not energised:  # killed while opening: nothing may be switched on afterwards either
        assert after_tests == OPENING, "the rig never powered the DUT"
        return
    assert journal[-1]["event"] == "lab_stopped"
    safe = [e for e in journal if e["event"] == "safe_state" and e["wall_s"] >= t_kill]
    assert safe, "no safe state journaled after the signal"
    assert safe[-1]["ok"], f"safe state incomplete: {safe[-1]['failures']}"
    assert {"CP emulator to state A", "load off"} <= set(safe[-1]["steps"]), safe[-1]["steps"]
    after = journal[journal.index(safe[-1]) + 1:]
    assert not any(e["event"] == "contactor" and e["closed"] for e in after), "the contactor closed after safe state"
    finished = _lines(out / "tests.jsonl")
    assert len(finished) >= max(after_tests, 0) and all(r["outcome"] in ("passed", "failed", "broken", "skipped")
                                                for r in finished)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"], summary["exit_status"]
    assert summary["status"] == "interrupted" and summary["exit_code"] == 3
    assert summary["total"] == len(finished)
    assert "**Interrupted**" in (out / "report.md").read_text()
    assert "(interrupted" in (out / "matrix.md").read_text()
    assert 'name="wallbox_rig.status" value="interrupted"' in (out / "junit.xml").read_text()
    print(f"{sig.name} after {after_tests} tests: safe state {safe[0]['wall_s'] - t_kill:.3f} s after the signal")


def test_a_signal_is_acted_on_at_the_rigs_next_wait_never_where_it_lands() -> None:
    """Regression: a SIGTERM landing in pytest's or allure's bookkeeping right after a test raised
    there, broke allure's state (every later test an error) and the run ended "not interrupted".
    Now the handler only records it; the rig's clock raises at its next wait."""
    handler = _Interrupts()
    session = types.SimpleNamespace(shouldstop=False)
    handler.session = session  # type: ignore[assignment]
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, daemon=True)
    worker.start()
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, handler.handle)
        assert worker.ident is not None
        signal.pthread_kill(worker.ident, signal.SIGTERM)       # lands on another thread
        os.kill(os.getpid(), signal.SIGINT)                      # and on this one
        time.sleep(0.05)                                          # nothing raised where they landed
        assert session.shouldstop and interrupts.requested() in (signal.SIGINT, signal.SIGTERM)
        with pytest.raises(KeyboardInterrupt):                    # the rig's next wait stops
            RealClock().sleep(30.0)
        with pytest.raises(KeyboardInterrupt):
            RealClock().wait_until(lambda: False, 30.0)
    finally:
        stop.set()
        interrupts.clear()
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)


def test_a_stop_asked_for_while_the_rig_opens_energises_nothing() -> None:
    rig = Rig.from_file(REPO_ROOT / "rigs" / "sim.toml").open()
    try:
        interrupts.request(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            rig.energise()
        assert not rig.source.output_is_on()
    finally:
        interrupts.clear()
        rig.close()


def test_a_test_killed_by_its_timeout_is_broken_and_the_run_goes_on_safely(tmp_path: Path) -> None:
    """pytest-timeout's per-test limit, on a virtual lab that runs in real time: the cold-load trials
    (minutes of real waiting) are cut off; that is the rig's failure (broken, never failed), the
    test before it keeps its result, the DUT is put in the safe state afterwards, the run ends."""
    rig_file = tmp_path / "realtime.toml"
    text = (REPO_ROOT / "rigs" / "sim.toml").read_text()
    rig_file.write_text(text.replace("[sim]\nseed = 1", "[sim]\nseed = 1\nrealtime = true")
                        .replace('kind = "virtual"\naddress = "sim:clock"', 'kind = "real"'))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "cli.main", "run", "--no-plots", "--workers", "1", "--rig", str(rig_file),
           "--out", str(out), "--", "-q", "-o", "timeout=25", "-k", "pwm_frequency_is_1_khz or every_restart_delay_lies"]
    started = time.time()
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]  # a broken test: the rig's fault
    finished = {r["name"]: r for r in _lines(out / "tests.jsonl")}
    assert finished["test_pwm_frequency_is_1_khz_in_b2"]["outcome"] == "passed"
    killed = finished["test_every_restart_delay_lies_in_the_declared_range"]
    assert killed["outcome"] == "broken" and "Timeout" in killed["message"], killed
    journal = _lines(out / "lab-journal.jsonl")
    limit_hit = started + 25.0   # the earliest the per-test limit can have fired
    safe = [e for e in journal if e["event"] == "safe_state" and e["wall_s"] > limit_hit]
    assert safe and safe[-1]["ok"] and journal[-1]["event"] == "lab_stopped"
    after = journal[journal.index(safe[-1]) + 1:]
    assert not any(e["event"] == "contactor" and e["closed"] for e in after), "the contactor closed after safe state"
    assert not json.loads((out / "summary.json").read_text())["interrupted"]
