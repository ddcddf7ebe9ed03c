"""The `wallbox-rig` command as a user meets it: exit codes, one-line errors, the standalone lab."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from rig.config import REPO_ROOT


def test_rig_check_accepts_the_shipped_rigs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rig", "check", str(REPO_ROOT / "rigs" / "lab-example.toml")]) == 0
    out = capsys.readouterr().out
    assert "yokogawa-wt" in out
    # the lab example's 20 trials: what they buy against a bound 1 s off, and what 95 % would take
    assert "cold-load trials: 20: 15% chance" in out and "95% takes 361" in out


def test_run_refuses_a_trial_count_out_of_range_naming_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--cold-load-trials", "5"]) == 2
    err = capsys.readouterr().err
    assert "--cold-load-trials" in err and "[20, 10000]" in err and "<no file>" not in err


def test_rig_check_rejects_a_bad_file_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text((REPO_ROOT / "rigs" / "sim.toml").read_text().replace("rated_current_a = 32", "rated_current_a = -4"))
    assert main(["rig", "check", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "rated_current_a" in err


def test_run_refuses_an_unknown_knob_before_starting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--sim-set", "warp=9"]) == 2
    assert "known knob" in capsys.readouterr().err


def test_sim_params_json_lists_every_knob_with_default_and_unit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "params", "--json"]) == 0
    knobs = {k["name"]: k for k in json.loads(capsys.readouterr().out)}
    for name in ("rated_current_a", "pwm_frequency_hz", "pwm_duty_offset_pct", "contactor_close_delay_ms",
                 "contactor_open_delay_ms", "seed"):
        assert name in knobs and knobs[name]["meaning"]
    assert knobs["contactor_open_delay_ms"]["unit"] == "ms"


def _ask(address: str, line: str) -> str:
    host, port = address.removeprefix("socket://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(line.encode() + b"\n")
        return sock.makefile().readline().strip()


def test_sim_serve_speaks_to_a_plain_socket_client() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "sim", "serve"], stdout=subprocess.PIPE, text=True)
    try:
        endpoints = {}
        assert proc.stdout is not None
        for line in proc.stdout:
            parts = line.split()
            if len(parts) == 2 and "127.0.0.1" in parts[1]:
                endpoints[parts[0]] = parts[1]
            if line.startswith("The wallbox"):
                break
        assert {"clock", "cp", "analyser", "source"} <= set(endpoints)
        assert all("127.0.0.1" in a for a in endpoints.values())
        assert _ask(endpoints["cp"], "*IDN?").startswith("WALLBOX-RIG,CPEMU")
        assert _ask(endpoints["clock"], "ADV 2.5") == f"OK {2.5:.9f}"
        assert _ask(endpoints["cp"], "TIME?") == f"{2.5:.6f}"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def _run(tmp_path, *args: str) -> tuple[int, dict, str]:
    import json
    import subprocess
    import sys

    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "cli.main", "run", "--out", str(out), "--no-plots", "--workers", "1", *args],
                          capture_output=True, text=True, timeout=300)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    return proc.returncode, summary, proc.stdout + proc.stderr


def test_a_limit_missing_its_bound_stops_the_run_as_broken_never_failed(tmp_path) -> None:
    """Issue 15's first demonstration: the missing bound is a rig error before the first test."""
    import shutil

    from conformance.limits import LIMITS_DIR

    limits = tmp_path / "limits"
    shutil.copytree(LIMITS_DIR, limits, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = limits / "iec61851.toml"
    text = path.read_text()
    assert "[contactor_open_after_c_to_b]\nhigh = 0.1\n" in text
    path.write_text(text.replace("[contactor_open_after_c_to_b]\nhigh = 0.1\n", "[contactor_open_after_c_to_b]\n"))
    code, summary, output = _run(tmp_path, "--", "--wbr-limits", str(limits), "-k", "c_to_b or pwm_frequency")
    assert code == 2, output
    assert summary["status"] == "broken" and summary["counts"]["failed"] == 0 and summary["total"] == 0
    assert "iec61851.toml: [contactor_open_after_c_to_b.high]" in summary["rig_error"]
    assert sum("contactor_open_after_c_to_b.high" in line for line in output.splitlines()) <= 2  # pytest, CLI


def test_an_instrument_that_cannot_be_opened_stops_the_run_once(tmp_path) -> None:
    from rig.config import REPO_ROOT

    text = (REPO_ROOT / "rigs" / "sim.toml").read_text().replace('address = "sim:cp"', 'address = "socket://127.0.0.1:9"')
    rig = tmp_path / "rig.toml"
    rig.write_text(text)
    code, summary, output = _run(tmp_path, "--rig", str(rig))
    assert code == 2, output[-2000:]
    assert summary["total"] == 0 and summary["rig_error"].startswith("cp:")
    assert output.count("Traceback") == 0 and sum("127.0.0.1:9" in line for line in output.splitlines()) <= 2


def test_the_documented_catalogue_is_the_generated_one() -> None:
    """docs/catalogue.md's table comes from the tests' markers (`wallbox-rig catalogue`)."""
    from conformance.catalogue import markdown
    from rig.config import REPO_ROOT

    text = (REPO_ROOT / "docs" / "catalogue.md").read_text()
    start = text.index("<!-- catalogue:start")
    block = text[text.index("\n", start) + 1:text.index("<!-- catalogue:end -->")]
    assert block == markdown(), "docs/catalogue.md is stale: regenerate its table with `wallbox-rig catalogue`"


def test_rig_check_of_a_folder_or_into_a_closed_pipe_prints_no_traceback(tmp_path) -> None:
    import subprocess
    import sys

    from rig.config import REPO_ROOT

    proc = subprocess.run([sys.executable, "-m", "cli.main", "rig", "check", str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "expected a TOML file (this is a folder)" in proc.stderr
    assert "Traceback" not in proc.stderr
    piped = subprocess.run(f"{sys.executable} -m cli.main rig check {REPO_ROOT / 'rigs' / 'lab-example.toml'} | head -1",
                           shell=True, capture_output=True, text=True, timeout=60)
    assert "OK" in piped.stdout and "Traceback" not in piped.stderr


def test_rig_ping_opens_every_role_without_energising(tmp_path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "cli.main", "rig", "ping", "rigs/sim.toml"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "analyser  yokogawa-wt      YOKOGAWA" in proc.stdout and "interlock: closed" in proc.stdout
    assert "analyser  error queue empty" in proc.stdout and "carries U = 0.000816 ms (k = 2)" in proc.stdout


def test_rig_ping_on_the_bench_of_parts_states_its_timing_u_and_refuses_a_full_error_queue(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Bench bring-up (issue 28, item 6): the U every timing verdict will carry, and each SCPI
    instrument's error queue read after opening; an error left there is exit 2, naming the role."""
    from core.errors import InstrumentOperationError
    from instruments.ac_source import AmetekLx
    from instruments.base import ScpiInstrument

    assert main(["rig", "ping", "rigs/sim-cots.toml"]) == 0
    out = capsys.readouterr().out
    assert "carries U = 1.65 ms (k = 2); decision rule: simple acceptance" in out and "scope     error queue empty" in out
    assert "step up carries U = 1.18 ms, after a CP short U = 0.231 ms, its closing after a step down U = 2.32 ms (k = 2)" in out
    assert "each trip time carries U = 0.295 ms (k = 2), each residual current U = 0.141 mA" in out
    real = ScpiInstrument.check_errors

    def stale(self: ScpiInstrument, after: str) -> None:
        if isinstance(self, AmetekLx):
            raise InstrumentOperationError("source", '-222,"Data out of range"')
        real(self, after)

    monkeypatch.setattr(ScpiInstrument, "check_errors", stale)
    assert main(["rig", "ping", "rigs/sim-cots.toml"]) == 2
    captured = capsys.readouterr()
    assert 'source    error queue NOT EMPTY: source: -222,"Data out of range"' in captured.out
    assert "error queue not empty after opening: source" in captured.err


def test_rig_ping_reports_every_role_when_one_does_not_answer(tmp_path: Path) -> None:
    """Bench bring-up: an instrument that will not open is named with why, every other role is still
    opened and listed, and ping exits 2 (it stopped at the first failure before)."""
    import subprocess
    import sys

    from rig.config import REPO_ROOT

    text = (REPO_ROOT / "rigs" / "sim.toml").read_text()
    assert 'address = "sim:analyser"' in text
    rig = tmp_path / "dead-analyser.toml"
    rig.write_text(text.replace('address = "sim:analyser"', 'address = "TCPIP0::127.0.0.1::9::SOCKET"'))
    proc = subprocess.run([sys.executable, "-m", "cli.main", "rig", "ping", str(rig)], capture_output=True,
                          text=True, timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "analyser  yokogawa-wt      UNREACHABLE: " in proc.stdout and "Connection refused" in proc.stdout
    assert "source    ametek-lx" in proc.stdout and "interlock: closed" in proc.stdout
    assert "1 role(s) did not answer: analyser" in proc.stderr


def test_rig_ping_names_what_a_bench_without_a_role_cannot_run(tmp_path) -> None:
    import re
    import subprocess
    import sys

    from rig.config import REPO_ROOT

    text = (REPO_ROOT / "rigs" / "sim.toml").read_text()
    text = re.sub(r'\[instruments\.installer\]\ndriver = "wbr-installer"\naddress = "sim:installer"\n', "", text)
    rig = tmp_path / "no-installer.toml"
    rig.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "cli.main", "rig", "ping", str(rig)], capture_output=True,
                          text=True, timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "test_duty_cycle_offers_each_settable_current: no installer instrument" in proc.stdout


def test_rerun_failed_runs_only_the_failed_tests_of_an_earlier_run_on_the_same_rig(tmp_path) -> None:
    """A rerun keeps the earlier run's knobs and trial count without being told (a rerun of a bent
    run that forgot its knob passed, exit 0), names the run it reruns, and refuses a difference."""
    import json
    import subprocess
    import sys

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", "run", "--no-plots", "--workers", "1", *args],
                              capture_output=True, text=True, timeout=timeout)

    first = tmp_path / "first"
    run("--out", str(first), "--sim-set", "contactor_open_delay_ms=150", "--cold-load-trials", "20", "--", "-q",
        "-k", "opens_within or pwm_frequency")
    again = tmp_path / "again"
    proc = run("--out", str(again), "--rerun-failed", str(first))
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    names = {json.loads(line)["name"] for line in (again / "tests.jsonl").read_text().splitlines()}
    assert names == {"test_contactor_opens_within_100_ms_after_c_to_b", "test_contactor_opens_within_100_ms_after_unplug"}
    summary = json.loads((again / "summary.json").read_text())
    assert summary["sim_overrides"] == {"contactor_open_delay_ms": "150"} and summary["cold_load_trials"] == 20
    assert summary["rerun_of"] == str(first.resolve()) and f"a rerun of {first.resolve()}" in (again / "report.md").read_text()
    other = run("--out", str(tmp_path / "x"), "--profile", "mini-wallbox-plus", "--rerun-failed", str(first), timeout=120)
    assert other.returncode == 2 and "rerun on the same rig and profile" in other.stderr
    bent = run("--out", str(tmp_path / "y"), "--sim-set", "contactor_open_delay_ms=90", "--rerun-failed", str(first),
               timeout=120)
    assert bent.returncode == 2 and "a rerun keeps the earlier run's knobs" in bent.stderr


def test_sim_serve_on_fixed_ports_writes_its_endpoints_for_tools(tmp_path) -> None:
    import json
    import socket
    import subprocess
    import sys
    import time

    from sim.lab import PORT_ORDER

    from tests.ports import free_port_block

    base = free_port_block(len(PORT_ORDER))   # below the ephemeral range: a busy machine's clients stay out
    file = tmp_path / "endpoints.json"
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "sim", "serve", "--port-base", str(base),
                             "--endpoints-json", str(file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        endpoints = json.loads(file.read_text())
        assert endpoints["clock"] == f"socket://127.0.0.1:{base}" and endpoints["rs485"].endswith(f":{base + 10}")
        with socket.create_connection(("127.0.0.1", base + 1), timeout=5) as cp:
            cp.sendall(b"*IDN?\n")
            assert cp.makefile().readline().startswith("WALLBOX-RIG,CPEMU")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_rig_ping_warns_of_an_overdue_calibration(tmp_path) -> None:
    import subprocess
    import sys

    from rig.config import REPO_ROOT

    text = (REPO_ROOT / "rigs" / "sim.toml").read_text().replace(
        'driver = "yokogawa-wt"\naddress = "sim:analyser"', 'driver = "yokogawa-wt"\naddress = "sim:analyser"\n'
        'calibration_due = "2020-01-31"')
    assert 'calibration_due = "2020-01-31"' in text
    rig = tmp_path / "overdue.toml"
    rig.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "cli.main", "rig", "ping", str(rig), "--strict"], capture_output=True,
                          text=True, timeout=120, cwd=REPO_ROOT)
    assert "WARNING: calibration overdue since 2020-01-31" in proc.stdout
    assert proc.returncode == 0, "--strict refuses only on a lab rig; the virtual lab warns"


def test_parallel_labs_and_places_are_refused_where_they_cannot_be(capsys: pytest.CaptureFixture[str]) -> None:
    lab = str(REPO_ROOT / "rigs" / "lab-example.toml")
    assert main(["run", "--rig", lab, "--workers", "2"]) == 2
    assert "one bench" in capsys.readouterr().err
    assert main(["run", "--place", "bench-2"]) == 2   # rigs/sim.toml has no [place]
    assert "[place] table" in capsys.readouterr().err


def test_run_refuses_an_unknown_family_naming_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--family", "residual_current,warp-drive"]) == 2
    err = capsys.readouterr().err
    assert "'warp-drive'" in err and "residual_current" in err and "welding" in err
    assert main(["run", "--family", "welding", "--rerun-failed", "x"]) == 2


def test_family_selection_takes_the_catalogue_spelling() -> None:
    from cli.main import family_selection
    suite = REPO_ROOT / "conformance"
    assert family_selection(suite, ["residual current", "welding,welding"]) == [
        str(suite / "test_residual_current.py"), str(suite / "test_welding.py")]


def test_overdue_calibration_warns_in_rig_check_and_run_and_strict_refuses_on_a_lab(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main
    from rig.config import REPO_ROOT

    lab = (REPO_ROOT / "rigs" / "lab-example.toml").read_text()
    assert 'calibration_due = "2027-03-31"' in lab
    rig = tmp_path / "overdue.toml"
    rig.write_text(lab.replace('calibration_due = "2027-03-31"', 'calibration_due = "2020-01-31"\n'
                                                                   'calibration_certificate = "DAkkS-D-K-15070-01-2019-1"'))
    assert main(["rig", "check", str(rig)]) == 0
    assert "WARNING: calibration overdue" in capsys.readouterr().out
    assert main(["run", "--rig", str(rig), "--strict", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "calibration overdue: analyser (due 2020-01-31)" in err and "--strict: refusing" in err


def test_an_output_folder_that_cannot_be_written_is_exit_2_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["run", "--out", str(blocker / "run")]) == 2
    assert "cannot write the run there" in capsys.readouterr().err


@pytest.mark.parametrize("error", [errno.EROFS, errno.EACCES, errno.ENOSPC])
def test_a_read_only_or_full_output_folder_is_exit_2_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, error: int) -> None:
    """CI runs as root, for whom a chmod'ed folder stays writable: the file system's refusal is
    injected where the run first writes (the probe before the rig opens)."""
    from cli.main import main
    real = Path.write_text

    def refuse(self: Path, *args: Any, **kwargs: Any) -> int:
        if self.name == ".wallbox-rig-write-test":
            raise OSError(error, os.strerror(error), str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", refuse)
    assert main(["run", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot write the run there ({os.strerror(error)})" in err[0]


def test_a_full_disk_keeps_the_earlier_summary_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reports.results import write_atomically
    summary = tmp_path / "summary.json"
    write_atomically(summary, '{"counts": {"passed": 3}}')
    real = Path.write_text

    def full(self: Path, text: str, *args: Any, **kwargs: Any) -> int:
        real(self, text[: len(text) // 2], *args, **kwargs)     # half of it landed, then the disk was full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(summary, '{"counts": {"passed": 4, "failed": 1}}')
    monkeypatch.undo()
    assert summary.read_text() == '{"counts": {"passed": 3}}'
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]     # no half file left beside it


def test_sim_serve_builds_the_lab_an_in_process_run_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A served lab's RS485 converter runs at the rig file's meter line settings, as an in-process
    lab's does (without them, the meter-parameter tests failed a conforming DUT on a served lab)."""
    import sim.lab
    from cli.main import main
    from rig.config import REPO_ROOT, load_rig_file
    from rig.rig import rs485_line

    seen: dict[str, object] = {}

    def capture(**kwargs: object) -> None:
        seen.update(kwargs)
        raise KeyboardInterrupt   # stop before serving

    monkeypatch.setattr(sim.lab, "start_virtual_lab", capture)
    main(["sim", "serve"])   # the stop is reported as an interrupted command
    expected = rs485_line(load_rig_file(REPO_ROOT / "rigs" / "sim.toml"))
    assert expected and seen["rs485"] == expected and seen["ocpp"] and seen["cards"]
