"""`wallbox-rig card tap WHICH --rig FILE`: hold one of the rig file's cards to the DUT's reader, as a
person would, and say what the beeper answered.  For setting up a bench (is the emulator or the
carousel where the reader sees it? does the microphone hear the beeper?) and for reproducing a
field report by hand (the setup card, then a card: two short beeps?).

On a lab bench the DUT must already be powered (this command never energises a lab's DUT); the
in-process virtual lab is powered up and waits for A1 first.  The rig's safe state runs on exit.
With `--attach`, the tap goes to a virtual lab `wallbox-rig sim serve` runs: the DUT keeps its
power and state from one call to the next, so "setup card, then card 1" can be tried by hand.
"""

from __future__ import annotations

import argparse
from typing import Any

from core.errors import RigError


def pick(deck: Any, which: str) -> Any:
    """`setup`, `foreign`, `card1` … `cardN`, or a UID the rig file names."""
    named = {"setup": deck.setup, **({"foreign": deck.foreign} if deck.foreign else {}),
             **{f"card{k + 1}": c for k, c in enumerate(deck.cards)}}
    if which in named:
        return named[which]
    for card in deck.all():
        if card.id_tag == which.upper():
            return card
    raise RigError(f"no card {which!r} in the rig file: one of {', '.join(named)} or a UID it names")


def cmd_card_tap(args: argparse.Namespace) -> int:
    from rig.rig import READY_TIMEOUT_S, dut_idle
    from instruments.buzzer.classifier import classify
    from rig.config import attach_served, load_rig_file
    from rig.rig import Rig

    config = load_rig_file(args.rig)
    if args.attach:
        config = attach_served(config, args.attach)
    with Rig.from_config(config) as rig:
        if not rig.has("card"):
            raise RigError(f"{rig.config.path}: no [instruments.card] table")
        card = rig.card
        chosen = pick(card.deck, args.which)
        if rig.config.in_process_lab or (rig.config.attached and not rig.energised):
            rig.energise()
            if not rig.clock.wait_until(lambda: dut_idle(rig), READY_TIMEOUT_S, poll_s=0.25):
                raise RigError(f"the virtual lab's DUT did not reach A1 within {READY_TIMEOUT_S:.0f} s")
        listening = rig.has("buzzer") and not args.no_listen
        if listening:
            rig.buzzer.start()
        card.present(chosen)
        rig.clock.sleep(args.hold)
        card.withdraw()
        print(f"held the {chosen.label} ({chosen.id_tag}, {chosen.kind}) to the reader for {args.hold:g} s")
        if listening:
            rig.clock.sleep(args.listen)
            clip = rig.buzzer.stop()
            print(f"heard: {classify(clip.samples, clip.rate).describe()}")
            if args.save:
                from instruments.transport.audio import write_clip
                write_clip(args.save, clip.samples, int(clip.rate))
                print(f"recording: {args.save}")
    return 0


def add_parser(sub: Any) -> None:
    card = sub.add_parser("card", help="the RFID card presenter").add_subparsers(dest="card_command", required=True)
    tap = card.add_parser("tap", help="hold one of the rig file's cards to the reader and say what the beeper answered")
    tap.add_argument("which", help="setup, card1 … cardN, foreign, or a UID the rig file names")
    tap.add_argument("--rig", default="rigs/sim.toml", help="the rig file (default %(default)s)")
    tap.add_argument("--hold", type=float, default=2.0, help="seconds the card is held (default %(default)s)")
    tap.add_argument("--listen", type=float, default=2.0, help="seconds to listen after it (default %(default)s)")
    tap.add_argument("--no-listen", action="store_true", help="do not record the beeper")
    tap.add_argument("--save", help="keep the recording here (.wav)")
    tap.add_argument("--attach", metavar="ENDPOINTS.json",
                     help="tap on a running `wallbox-rig sim serve --endpoints-json ENDPOINTS.json`: the DUT keeps its "
                          "state between calls (the setup card, then a card)")
    tap.set_defaults(func=cmd_card_tap)
