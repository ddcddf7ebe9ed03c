"""`wallbox-rig beep classify CLIP`: what the beep classifier hears in a recording (as `led classify`
does for frames), and `wallbox-rig beep render PATTERN OUT` to rehearse it with the virtual lab's
beeper in a room of your choosing."""

from __future__ import annotations

import argparse
import random
from typing import Any


def cmd_beep_classify(args: argparse.Namespace) -> int:
    from instruments.buzzer.classifier import classify
    from instruments.transport.audio import read_clip

    samples, rate = read_clip(args.clip)
    reading = classify(samples, rate)
    print(f"{args.clip}: {len(samples) / rate:.2f} s at {rate:g} Hz: {reading.describe()}")
    return 0


def cmd_beep_render(args: argparse.Namespace) -> int:
    from instruments.transport.audio import write_clip
    from sim.beeper import Room, random_room, render

    room = random_room(random.Random(args.seed)) if args.random_room else Room(noise=args.noise)
    write_clip(args.out, render(args.pattern, room, rate=args.rate, seed=args.seed), args.rate)
    print(f"{args.out}: '{args.pattern}' at {room.tone_hz:.0f} Hz, {args.rate} Hz sampling ({room})")
    return 0


def add_parser(sub: Any) -> None:
    from sim.beeper import PATTERNS_S

    beep = sub.add_parser("beep", help="the wallbox's beeper").add_subparsers(dest="beep_command", required=True)
    classify = beep.add_parser("classify", help="what a recording of the beeper says: none, short, two short, long")
    classify.add_argument("clip", help="a sound file (WAV, FLAC, OGG)")
    classify.set_defaults(func=cmd_beep_classify)
    render = beep.add_parser("render", help="a clip of the virtual lab's beeper, to rehearse `beep classify`")
    render.add_argument("pattern", choices=list(PATTERNS_S))
    render.add_argument("out", help="the sound file to write (.wav)")
    render.add_argument("--rate", type=int, default=16_000, help="sampling rate, Hz (default %(default)s)")
    render.add_argument("--noise", type=float, default=0.02, help="room noise RMS (full scale 1; default %(default)s)")
    render.add_argument("--random-room", action="store_true", help="a seeded random room (noise, another tone, "
                                                                  "clipping, distance) instead")
    render.add_argument("--seed", type=int, default=0)
    render.set_defaults(func=cmd_beep_render)
