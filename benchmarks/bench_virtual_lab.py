"""Benchmark (not a test): how fast the virtual lab runs the suite, and what one driver call costs.

    python benchmarks/bench_virtual_lab.py [--repeat 3]

Prints: wall time of the conformance suite, virtual seconds covered per wall second, and the
median round trip of a driver query on loopback (CP board over socket://, analyser
over pyvisa-py TCPIP SOCKET, virtual clock step).
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


def suite_once() -> dict:
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cli.main", "run", "--out", out, "--", "-q"], check=True,
                       capture_output=True)
        wall = time.perf_counter() - t0
        summary = json.loads((Path(out) / "summary.json").read_text())
    return {"process_wall_s": wall, "pytest_wall_s": summary["wall_time_s"], "virtual_s": summary["virtual_time_s"]}


def round_trips(n: int) -> dict[str, float]:
    from sim.meter_link import MeterLink, UartSettings

    out = {}
    with Rig.from_file(REPO_ROOT / "rigs" / "sim.toml") as rig:
        line = rig.meter.line
        uart = UartSettings(int(line["baud"]), str(line["parity"]), int(line["stopbits"]))  # type: ignore[arg-type]
        link = MeterLink(rig.lab.endpoints["rs485"], uart)
        for name, call in (("cp MEAS:CP? (raw TCP socket://)", rig.cp.measure_cp),
                           ("analyser VALUE? (pyvisa-py SOCKET)", rig.analyser.read),
                           ("clock ADV 1 ms", lambda: rig.clock.sleep(0.001)),
                           ("meter poll, the DUT's reads (pymodbus RTU over TCP)",
                            lambda: link.poll(str(line["model"]), int(line["id"]), uart))):  # type: ignore[arg-type]
            samples = []
            for _ in range(n):
                t0 = time.perf_counter()
                call()
                samples.append(time.perf_counter() - t0)
            out[name] = statistics.median(samples) * 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    runs = [suite_once() for _ in range(args.repeat)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"suite: {med['process_wall_s']:.2f} s wall per run (process), {med['pytest_wall_s']:.2f} s inside pytest, "
          f"{med['virtual_s']:.1f} virtual s -> {med['virtual_s'] / med['pytest_wall_s']:.1f} virtual s per wall s "
          f"(median of {args.repeat})")
    for name, us in round_trips(args.calls).items():
        print(f"round trip {name}: median {us:.0f} us over {args.calls} calls")


if __name__ == "__main__":
    main()
