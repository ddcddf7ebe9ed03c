"""Benchmark (not a test): how often the beep classifier hears what the beeper said, over seeded
rooms the virtual lab renders (beeper 2-4.5 kHz; quiet, far, near or overdriven; room noise up to
half the beep's level; sometimes another device's tone), and how long a clip takes to classify.

    python benchmarks/bench_beep_classifier.py [--clips 200] [--seed 1]
"""

from __future__ import annotations

import argparse
import collections
import random
import time

from instruments.buzzer.classifier import classify
from sim.beeper import PATTERNS_S, random_room, render

RATE = 16_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    confusion: collections.Counter[tuple[str, str]] = collections.Counter()
    spent = 0.0
    for k in range(args.clips):
        pattern = rng.choice(list(PATTERNS_S))
        clip = render(pattern, random_room(rng), rate=RATE, seed=k)
        t0 = time.perf_counter()
        heard = classify(clip, RATE).pattern
        spent += time.perf_counter() - t0
        confusion[(pattern, heard)] += 1
    right = sum(n for (said, heard), n in confusion.items() if said == heard)
    print(f"{right} of {args.clips} clips right ({100.0 * right / args.clips:.1f} %), seed {args.seed}; "
          f"{1000.0 * spent / args.clips:.1f} ms per 2.5 s clip")
    for (said, heard), n in sorted(confusion.items()):
        if said != heard:
            print(f"  said {said!r}, heard {heard!r}: {n}")


if __name__ == "__main__":
    main()
