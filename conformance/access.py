"""What the access-control and pairing tests share: cards held to the reader for the rig's tap,
the beeper listened to around an action, the registration flow, and the verdict on a beep.

A beep is judged as a word (none / short / two short / long), so its verdict is a count: 1 when
the classifier heard the pattern the profile declares, 0 otherwise; the recording, its envelope
and the classifier's onsets go into the evidence either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from conformance.limits import LIMITS
from core.errors import PreconditionError
from core.limits import Count
from core.profile import Access, Pairing
from fixtures.evidence import Evidence, step
from instruments.buzzer import Buzzer
from instruments.card import Card, CardPresenter
from instruments.installer import Installer
from instruments.led.classifier import SegmentState, summary
from rig.clock import Clock
from rig.rig import Rig


def access_of(rig: Rig, wb_id: str) -> Access:
    """The profile's [access] table, where it promises `wb_id`; the test skips otherwise."""
    access = rig.profile.access
    if access is None:
        pytest.skip(f"profile {rig.profile.id} declares no card reader ([access] table)")
    if wb_id not in access.requirements:
        pytest.skip(f"profile {rig.profile.id} does not promise {wb_id} ([access] requirements)")
    return access


def pairing_of(rig: Rig) -> Pairing:
    if rig.profile.pairing is None:
        pytest.skip(f"profile {rig.profile.id} declares no pairing button ([pairing] table)")
    return rig.profile.pairing


def tap(card: CardPresenter, clock: Clock, which: Card) -> None:
    """Hold `which` to the reader for the rig's tap, take it away, and leave the rig's gap."""
    with step("act", f"hold the {which.label} ({which.id_tag}) to the reader"):
        card.present(which)
        clock.sleep(LIMITS.access.card_hold.value)
        card.withdraw()
        clock.sleep(LIMITS.access.card_gap.value)


def listen(buzzer: Buzzer | None, clock: Clock, evidence: Evidence, name: str,
           action: Callable[[], None]) -> str | None:
    """Record the beeper around `action` (a `tap`, which ends with the rig's gap) and on to the rig's
    listening time; what was heard, or None on a rig without a microphone."""
    if buzzer is None:
        action()
        return None
    buzzer.start()
    action()
    clock.sleep(max(0.0, LIMITS.access.beep_listen.value - LIMITS.access.card_gap.value))
    reading, clip = buzzer.heard()
    evidence.sound(name, clip.samples, clip.rate, reading.pattern, list(reading.beeps))
    evidence.record(f"{name}: beeps heard", len(reading.beeps), "", note=reading.describe())
    return reading.pattern


def judge_beep(evidence: Evidence, rig: Rig, name: str, heard: str | None, expected: str, key: str,
               wb_id: str, table: str = "access") -> None:
    """1 when the beeper said what the profile's `[table] key` declares."""
    if heard is None:
        return
    declared = Count(name=key, value=1, unit="", clause=wb_id, cites=("MANUAL",),
                     source=f"DUT profile {rig.profile.id} [{table}] {key} = {expected!r}")
    evidence.check(f"{name}: heard the declared beep", 1 if heard == expected else 0, declared,
                   note=f"heard {heard!r}, declared {expected!r}")


def judge_bar(evidence: Evidence, rig: Rig, states: list[SegmentState], pattern: str, key: str, wb_id: str) -> None:
    """Every segment shows `pattern` (the profile's `[access] key`) in the product's colour."""
    colour = rig.profile.led.colour
    segments = LIMITS.rig.led_segments_as_declared
    declared = Count(name=key, value=segments.value, unit="", clause=wb_id, cites=("MANUAL",),
                     source=f"DUT profile {rig.profile.id} [access] {key} = {pattern!r} in [led] colour {colour!r}; "
                            f"{segments.source}")
    matches = sum(1 for s in states if s.pattern == pattern and s.colour == colour)
    evidence.check(f"segments showing {colour} {pattern}", matches, declared, note=f"seen: {summary(states)}")


def judge_not_beep(evidence: Evidence, name: str, heard: str | None, unwanted: str, limit: Count) -> None:
    """0 times the beeper said `unwanted` (a mode entered, a card registered) where it must not."""
    if heard is None:
        return
    evidence.check(f"{name}: {unwanted} beeps", 1 if heard == unwanted else 0, limit, note=f"heard {heard!r}")


def register(card: CardPresenter, clock: Clock, cards: Iterable[Card]) -> None:
    """The manual's registration flow, not judged (an arrange step): setup card, each card, setup card."""
    with step("arrange", "register cards with the setup card (WB-AC-03)"):
        tap(card, clock, card.deck.setup)
        for which in cards:
            tap(card, clock, which)
        tap(card, clock, card.deck.setup)


def charging_cards(card: CardPresenter, count: int) -> tuple[Card, ...]:
    """The first `count` of the rig file's charging cards; a rig with fewer cannot run the test."""
    if len(card.deck.cards) < count:
        raise PreconditionError(f"the test needs {count} charging cards; the rig file's card role names "
                                f"{len(card.deck.cards)} (cards = [...])")
    return card.deck.cards[:count]


def switch_access_on(installer: Installer) -> None:
    """Access control switched on in the installer's app (the installer's SAFE switches it back)."""
    with step("arrange", "switch access control on (installer app)"):
        installer.set_access_control(True)
        on, _ = installer.access_control()
        if not on:
            raise PreconditionError("the installer interface did not report access control on after switching it on")


def buzzer_of(rig: Rig) -> Buzzer | None:
    return rig.buzzer if rig.has("buzzer") else None
