"""Benches as labgrid places, tested with the real thing: a labgrid coordinator and an exporter on
127.0.0.1 export two served virtual labs (`wallbox-rig sim serve`) as two places; runs reserve
them, wait their turn, acquire, resolve the resources into addresses and release on every exit.

Needs the optional extra (`pip install -e '.[test,labgrid]'`); without it the module is skipped,
and `.ci/run` runs it in a second environment that has it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rig.config import REPO_ROOT
from tests.ports import free_port_block

BIN = Path(sys.executable).parent
if not (BIN / "labgrid-client").exists():
    pytest.skip("labgrid is not installed here (pip install -e '.[test,labgrid]'): the place tests run where it is",
                allow_module_level=True)

PLACES = ("wbr-virtual-1", "wbr-virtual-2")
QUICK = "pwm_frequency or configured_current_in_b2"
SLOW = "test_cold_load"
SLOW_TRIALS = ("--cold-load-trials", "8000")
"""A run long enough (8000 cold-load trials, about 30 s) for others to start, wait or finish meanwhile."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_base(rng: random.Random) -> int:
    """As many consecutive free ports as a virtual lab serves (sim.lab.PORT_ORDER), below the
    ephemeral range, so no client connection takes one."""
    from sim.lab import PORT_ORDER
    return free_port_block(len(PORT_ORDER), rng)


@dataclass
class Lab:
    coordinator: str
    rig: Path
    procs: list[subprocess.Popen[str]]

    def client(self, *args: str) -> str:
        return subprocess.run([str(BIN / "labgrid-client"), "-x", self.coordinator, *args], capture_output=True,
                              text=True, timeout=30, check=True).stdout

    def acquired_by(self, place: str) -> str:
        line = next(ln for ln in self.client("-p", place, "show").splitlines() if ln.strip().startswith("acquired:"))
        return line.split(":", 1)[1].strip()


def _start(cmd: list[str], log: Path, cwd: Path = REPO_ROOT) -> subprocess.Popen[str]:
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True, cwd=cwd,
                            start_new_session=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base_dir = tmp_path_factory.mktemp("places")
    rng = random.Random(os.getpid())
    procs: list[subprocess.Popen[str]] = []
    try:
        exports = []
        for place in PLACES:
            yaml = base_dir / f"{place}.yaml"
            procs.append(_start([sys.executable, "-m", "cli.main", "sim", "serve", "--port-base", str(_free_base(rng)),
                                 "--labgrid-exporter", str(yaml), "--labgrid-group", place], base_dir / f"{place}.log"))
            exports.append(yaml)
        coordinator = f"127.0.0.1:{_free_port()}"
        # the coordinator keeps places.yaml and resources.yaml in its working folder: a fresh one per run
        procs.append(_start([str(BIN / "labgrid-coordinator"), "-l", coordinator], base_dir / "coordinator.log",
                            cwd=base_dir))
        deadline = time.monotonic() + 60
        while not all(p.exists() for p in exports) and time.monotonic() < deadline:
            time.sleep(0.2)
        both = base_dir / "exporter.yaml"
        both.write_text("".join(p.read_text() for p in exports))
        procs.append(_start([str(BIN / "labgrid-exporter"), "-c", coordinator, "-n", "wbr-host", "--hostname",
                             "127.0.0.1", str(both)], base_dir / "exporter.log"))
        lab = Lab(coordinator, base_dir / "rig.toml", procs)
        while time.monotonic() < deadline:
            try:
                if lab.client("resources").count("wbr-host/") >= 2:
                    break
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.5)
        for k, place in enumerate(PLACES, start=1):
            lab.client("-p", place, "create")
            lab.client("-p", place, "add-match", f"wbr-host/{place}/*")
            lab.client("-p", place, "set-tags", "kind=wallbox-virtual", f"bench={k}")
        lab.rig.write_text((REPO_ROOT / "rigs" / "labgrid-sim.toml").read_text()
                           .replace('coordinator = "127.0.0.1:20408"', f'coordinator = "{coordinator}"'))
        yield lab
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _run(lab: Lab, out: Path, select: str, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "cli.main", "run", "--rig", str(lab.rig), "--no-plots", "--out", str(out), *extra,
           "--", "-q", "-k", select]
    return subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_a_run_on_a_place_resolves_its_resources_and_releases_it(lab: Lab, tmp_path: Path) -> None:
    proc = _run(lab, tmp_path / "run", QUICK)
    output, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, output[-3000:]
    provenance = _summary(tmp_path / "run")["provenance"]
    assert provenance["place"] == "wbr-virtual-1" and provenance["coordinator"] == lab.coordinator
    assert provenance["place_resources"]["cp"].startswith("socket://127.0.0.1:")
    assert provenance["place_resources"]["analyser"].endswith("::SOCKET")
    assert lab.acquired_by("wbr-virtual-1") == "None"


def test_a_second_run_waits_for_the_place_and_another_place_is_free(lab: Lab, tmp_path: Path) -> None:
    first = _run(lab, tmp_path / "first", SLOW, *SLOW_TRIALS)
    deadline = time.monotonic() + 60
    while lab.acquired_by("wbr-virtual-1") == "None" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert first.poll() is None, "the first run ended before it could be shown to hold the place"
    second = _run(lab, tmp_path / "second", QUICK)
    elsewhere = _run(lab, tmp_path / "elsewhere", QUICK, "--place-tag", "kind=wallbox-virtual")
    out_elsewhere, _ = elsewhere.communicate(timeout=180)
    assert elsewhere.returncode == 0, out_elsewhere[-3000:]
    assert _summary(tmp_path / "elsewhere")["provenance"]["place"] == "wbr-virtual-2"  # the free one, at once
    assert first.poll() is None, "the tagged run should have been served while the first still held its place"
    tests = tmp_path / "second" / "tests.jsonl"
    while first.poll() is None:  # exclusive use: nothing of the second run happens while the first holds it
        assert not tests.exists() or not tests.read_text().strip()
        time.sleep(0.2)
    out_first, _ = first.communicate(timeout=10)
    out_second, _ = second.communicate(timeout=180)
    assert first.returncode == 0, out_first[-3000:]
    assert second.returncode == 0 and "waiting for our turn" in out_second, out_second[-3000:]
    assert lab.acquired_by("wbr-virtual-1") == "None"


def test_sigterm_releases_the_place(lab: Lab, tmp_path: Path) -> None:
    proc = _run(lab, tmp_path / "killed", SLOW, *SLOW_TRIALS, "--place", "wbr-virtual-2")
    deadline = time.monotonic() + 60
    while lab.acquired_by("wbr-virtual-2") == "None" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert lab.acquired_by("wbr-virtual-2") != "None"
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 3, output[-3000:]
    assert lab.acquired_by("wbr-virtual-2") == "None"
    again = _run(lab, tmp_path / "again", QUICK, "--place", "wbr-virtual-2")  # held still, it would wait for an hour
    out_again, _ = again.communicate(timeout=180)
    assert again.returncode == 0, out_again[-3000:]
