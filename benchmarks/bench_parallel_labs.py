"""Benchmark (not a test): suite throughput on N parallel virtual labs against one, in one run.

    python benchmarks/bench_parallel_labs.py [--workers 2] [--repeat 2] [--plots]

Runs the BMW suite alternately on one lab and on N (`wallbox-rig run --workers N`), so both see the
same machine, and prints the median wall time of each and the throughput ratio (the goal on a
2-core machine: 1.8x or better).  Each parallel run is also checked to hold the same tests with the
same outcomes as the single one.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reports.results import read_records


def run(workers: int, plots: bool) -> tuple[float, dict[str, str]]:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "cli.main", "run", "--workers", str(workers), "--out", out]
        if not plots:
            cmd.append("--no-plots")
        t0 = time.perf_counter()
        subprocess.run(cmd + ["--", "-q"], check=True, capture_output=True)
        wall = time.perf_counter() - t0
        outcomes = {r.name: str(r.outcome) for r in read_records(Path(out) / "tests.jsonl")}
    return wall, outcomes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--plots", action="store_true", help="render the evidence plots too (the default run's way)")
    args = parser.parse_args()
    single, parallel = [], []
    for _ in range(args.repeat):
        wall_1, outcomes_1 = run(1, args.plots)
        wall_n, outcomes_n = run(args.workers, args.plots)
        if outcomes_n != outcomes_1:
            sys.exit(f"the parallel run differs: {sorted(set(outcomes_1.items()) ^ set(outcomes_n.items()))}")
        single.append(wall_1)
        parallel.append(wall_n)
    one, many = statistics.median(single), statistics.median(parallel)
    print(f"suite ({len(outcomes_1)} tests{', plots' if args.plots else ''}): 1 lab {one:.1f} s, {args.workers} labs "
          f"{many:.1f} s wall (medians of {args.repeat}, process wall) -> throughput x{one / many:.2f}")


if __name__ == "__main__":
    main()
