"""Benchmark (not a test): the LED classifier's accuracy on synthetic camera frames.

    python benchmarks/bench_led_classifier.py [--scenes 500] [--seconds 6] [--seed 1]

Each scene: a random bar (pattern, colour, period, sometimes S4 red) seen by the virtual camera
on a random bad day (noise, blur, bleed, exposure and white-balance drift, 15-30 fps).  A scene
counts as right only if all four segments get pattern and colour right.  Prints the accuracy,
per-pattern accuracy and the wrong readings.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from typing import Any
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from instruments.led.classifier import classify  # noqa: E402
from sim.led_camera import CameraConditions  # noqa: E402
from tests.test_led import camera_samples, correct, random_show  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    wrong: list[Any] = []
    started = time.monotonic()
    for _ in range(args.scenes):
        show, cond = random_show(rng), CameraConditions.bad_day(rng)
        seen = classify(camera_samples(show, cond, args.seconds, rng.randrange(1 << 30)))
        total[show.pattern] += 1
        if correct(show, seen):
            right[show.pattern] += 1
        else:
            wrong.append(f"{show} -> {[s.describe() for s in seen]}")
    n, ok = sum(total.values()), sum(right.values())
    print(f"{ok}/{n} scenes right ({100 * ok / n:.1f} %), {time.monotonic() - started:.0f} s")
    for pattern in sorted(total):
        print(f"  {pattern:10s} {right[pattern]}/{total[pattern]}")
    for line in wrong:
        print("  wrong:", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
