"""Benchmark (not a test): how fast the virtual lab runs the suite, and what one driver call costs.

    python benchmarks/bench_virtual_lab.py [--repeat 3] [--cots] [--backend] [--against REV]

Prints: wall time of the conformance suite, virtual seconds covered per wall second, and the
median round trip of a driver query on loopback (CP board over socket://, analyser
over pyvisa-py TCPIP SOCKET, virtual clock step).  `--cots` also runs the suite on the bench of
bought parts (rigs/sim-cots.toml: edges read out of the scope's record) and prints how much
slower it is than the board bench.  `--backend` also runs the suite on rigs/sim.toml without its
`[instruments.backend]` table (the wallbox dials no backend, the 19 backend tests skip) and
prints what the backend and its families add.  `--against REV` also runs the default
`wallbox-rig run` of another commit (a temporary git worktree, the same Python environment),
alternating with this tree's, and prints both speeds: a change's effect in one run of the benchmark.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rig.config import REPO_ROOT
from rig.rig import Rig


def suite_once(rig: str | None = None, tree: Path = REPO_ROOT) -> dict:
    """The README's main job as a user runs it (plots on, default labs) from `tree`'s code."""
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cli.main", "run", "--out", out, *(["--rig", rig] if rig else []),
                        "--", "-q"], check=True, capture_output=True, cwd=tree)
        wall = time.perf_counter() - t0
        summary = json.loads((Path(out) / "summary.json").read_text())
    return {"process_wall_s": wall, "pytest_wall_s": summary["wall_time_s"], "virtual_s": summary["virtual_time_s"]}


def without_backend(folder: Path) -> str:
    """rigs/sim.toml without its backend tables, written into `folder`."""
    text = (REPO_ROOT / "rigs" / "sim.toml").read_text()
    start, end = text.index("[instruments.backend]"), text.index("[safety]")
    path = folder / "sim-no-backend.toml"
    path.write_text(text[:start] + text[end:])
    return str(path)


def round_trips(n: int) -> dict[str, float]:
    from sim.meter_link import MeterLink, UartSettings

    out = {}
    with Rig.from_file(REPO_ROOT / "rigs" / "sim.toml") as rig:
        line = rig.meter.line
        uart = UartSettings(int(line["baud"]), str(line["parity"]), int(line["stopbits"]))
        link = MeterLink(rig.lab.endpoints["rs485"], uart)
        for name, call in (("cp MEAS:CP? (raw TCP socket://)", rig.cp.measure_cp),
                           ("analyser VALUE? (pyvisa-py SOCKET)", rig.analyser.read),
                           ("clock ADV 1 ms", lambda: rig.clock.sleep(0.001)),
                           ("meter poll, the DUT's reads (pymodbus RTU over TCP)",
                            lambda: link.poll(str(line["model"]), int(line["id"]), uart))):
            samples = []
            for _ in range(n):
                t0 = time.perf_counter()
                call()
                samples.append(time.perf_counter() - t0)
            out[name] = statistics.median(samples) * 1e6
    return out


def against(rev: str, repeat: int) -> None:
    """This tree's default run against `rev`'s, alternately, `repeat` times each."""
    worktree = Path(tempfile.mkdtemp()) / "previous"
    subprocess.run(["git", "worktree", "add", "--detach", str(worktree), rev], cwd=REPO_ROOT, check=True,
                   capture_output=True)
    try:
        runs: dict[str, list[dict]] = {rev: [], "this tree": []}
        for _ in range(repeat):
            runs[rev].append(suite_once(tree=worktree))
            runs["this tree"].append(suite_once())
        for name, results in runs.items():
            med = {k: statistics.median(r[k] for r in results) for k in results[0]}
            print(f"default run of {name}: {med['process_wall_s']:.1f} s wall (process), {med['virtual_s']:.0f} virtual "
                  f"s -> {med['virtual_s'] / med['process_wall_s']:.0f}x real time (median of {repeat})")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO_ROOT, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--cots", action="store_true", help="also run rigs/sim-cots.toml and compare")
    parser.add_argument("--backend", action="store_true", help="also run sim.toml without its backend and compare")
    parser.add_argument("--against", metavar="REV", help="also run another commit's default run and compare")
    args = parser.parse_args()
    if args.against:
        against(args.against, args.repeat)
        return
    scratch = Path(tempfile.mkdtemp())
    benches = {"sim.toml": None, **({"sim-cots.toml": str(REPO_ROOT / "rigs" / "sim-cots.toml")} if args.cots else {}),
               **({"sim.toml without backend": without_backend(scratch)} if args.backend else {})}
    medians = {}
    for name, rig in benches.items():
        runs = [suite_once(rig) for _ in range(args.repeat)]
        med = medians[name] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"suite on {name}: {med['process_wall_s']:.2f} s wall per run (process), {med['pytest_wall_s']:.2f} s "
              f"inside pytest, {med['virtual_s']:.1f} virtual s -> {med['virtual_s'] / med['pytest_wall_s']:.1f} "
              f"virtual s per wall s (median of {args.repeat})")
    if args.cots:
        ratio = medians["sim-cots.toml"]["pytest_wall_s"] / medians["sim.toml"]["pytest_wall_s"]
        print(f"the bench of parts takes {ratio:.2f} x the board bench's wall time")
    if args.backend:
        ratio = medians["sim.toml"]["pytest_wall_s"] / medians["sim.toml without backend"]["pytest_wall_s"]
        print(f"the backend and its families add {100 * (ratio - 1):.0f} % to the suite's wall time")
    for name, us in round_trips(args.calls).items():
        print(f"round trip {name}: median {us:.0f} us over {args.calls} calls")


if __name__ == "__main__":
    main()
