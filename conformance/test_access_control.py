"""Access control by RFID card (WB-AC-01 … WB-AC-04, WB-AC-06): who may charge, judged on CP.

The card role holds the rig file's cards to the DUT's reader (a card emulator or a carousel); the
buzzer role records the beeper around each card and classifies what a person would hear; the CP/PP
board's edges say whether an offer (PWM) and a closing (output voltage) followed, on its timebase.
The latencies and the refused card's beep are the product's values from the profile's [access]
table; the counts are the manual's word, from conformance/limits/access.toml.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest

from conformance.access import (access_of, buzzer_of, charging_cards, judge_bar, judge_beep, judge_not_beep, listen,
                                register, switch_access_on, tap)
from conformance.led import observe
from conformance.limits import LIMITS
from conformance.session import judge_offers, observe_b2, watch
from core.limits import Judged
from core.types import Channel
from fixtures.evidence import Evidence, step
from fixtures.timing import count_edges, delay_s, markers
from instruments.backend import Backend
from instruments.card import Card, CardPresenter
from instruments.cp_emulator import CpEmulator
from instruments.installer import Installer
from rig.clock import Clock
from rig.rig import Rig

pytestmark = pytest.mark.needs("cp", "card", "installer")


@pytest.fixture
def access_on(installer: Installer) -> Iterator[Installer]:
    """Access control switched on in the installer's app (the installer's SAFE switches it back)."""
    switch_access_on(installer)
    yield installer


def vehicle_asks(cp: CpEmulator, clock: Clock) -> float:
    """Plug in (B), ask for power (C); the board time of the plug-in."""
    with step("arrange", "plug in (A → B), ask for power (B → C)"):
        t_b = cp.set_state("B")
        observe_b2(clock)
        cp.set_state("C")
    return t_b


def judge_since_plug_in(cp: CpEmulator, evidence: Evidence, t_b: float, situation: str, offers: Judged,
                        closings: Judged) -> None:
    """The board's PWM starts and contactor closings since the plug-in, against their counts."""
    edges = cp.read_edges()
    evidence.trace(situation, edges, markers(vehicle_B=t_b))
    judge_offers(evidence, edges, t_b, situation, offers, closings)


@pytest.mark.requirement(wb_id="WB-AC-01", clause="WB-AC-01 (factory default: access control off)")
@pytest.mark.red_on("access_control=factory_on")
def test_from_the_factory_plugging_in_charges_without_a_card(cp: CpEmulator, clock: Clock, rig: Rig,
                                                            evidence: Evidence) -> None:
    """As delivered (access control off), a vehicle that plugs in and asks for power is offered
    current and charged, with no card anywhere near the reader."""
    access = access_of(rig, "WB-AC-01")
    if access.factory_default != "off":
        pytest.skip(f"profile {rig.profile.id} declares access control on from the factory")
    t_b = vehicle_asks(cp, clock)
    clock.sleep(LIMITS.iec61851.contactor_close_after_c.high + LIMITS.rig.charge_dwell.value)
    judge_since_plug_in(cp, evidence, t_b, "without a card", LIMITS.access.offers_with_access_off,
                 LIMITS.access.closures_with_access_off)


@pytest.mark.requirement(wb_id="WB-AC-02", clause="WB-AC-02 (access control on: a registered card authorises)")
@pytest.mark.red_on("access_control=ignored")
def test_with_access_control_on_nothing_is_offered_without_a_card(cp: CpEmulator, clock: Clock, rig: Rig,
                                                                  access_on: Installer, evidence: Evidence) -> None:
    """Access control on: a vehicle plugged in and asking for power gets no offer and no closing
    while no card is presented (watched for the rig's window)."""
    access_of(rig, "WB-AC-02")
    t_b = vehicle_asks(cp, clock)
    clock.sleep(LIMITS.access.watch_without_card.value)
    judge_since_plug_in(cp, evidence, t_b, "without a card", LIMITS.access.offers_without_card,
                 LIMITS.access.closures_without_card)


@pytest.mark.requirement(wb_id="WB-AC-02", clause="WB-AC-02 (access control on: a registered card authorises)")
@pytest.mark.red_on("rfid_accepts_unregistered=true")
@pytest.mark.red_on("access_control=ignored")
@pytest.mark.red_on("led_standby=breathing")   # the bar after a refused card is the standby bar
@pytest.mark.red_on("led_colour=green")
def test_an_unregistered_card_never_starts_charging_and_is_refused_as_declared(
        cp: CpEmulator, card: CardPresenter, clock: Clock, rig: Rig, access_on: Installer,
        evidence: Evidence) -> None:
    """Access control on, one card registered: another card (never registered) brings no offer
    and no closing, and the beeper says what the profile declares for a refused card."""
    access = access_of(rig, "WB-AC-02")
    registered, stranger = charging_cards(card, 2)
    register(card, clock, [registered])
    t_b = vehicle_asks(cp, clock)
    heard = listen(buzzer_of(rig), clock, evidence, "unregistered card", lambda: tap(card, clock, stranger))
    clock.sleep(watch(access.authorise_within_s) + LIMITS.iec61851.contactor_close_after_c.high)
    judge_since_plug_in(cp, evidence, t_b, "after an unregistered card", LIMITS.access.offers_after_ignored_card,
                 LIMITS.access.closures_without_card)
    judge_beep(evidence, rig, "unregistered card", heard, access.refused_card_beep, "refused_card_beep", "WB-AC-02")
    if rig.has("led"):
        judge_bar(evidence, rig, observe(rig.led, clock, evidence, "after the unregistered card"),
                  access.refused_card_led, "refused_card_led", "WB-AC-02")


@pytest.mark.requirement(wb_id="WB-AC-02", clause="WB-AC-02 (access control on: a registered card authorises)")
@pytest.mark.red_on("rfid_auth_delay_s=12")
@pytest.mark.red_on("rfid_stop_with_card=false")
@pytest.mark.red_on("access_control=ignored")
@pytest.mark.red_on("rfid_auth_delay_s=12", profile="mini-wallbox-plus")
@pytest.mark.red_on("contactor_close_delay_ms=3500")   # the offer to the closing is Table A.6's 3 s
def test_a_registered_card_starts_charging_within_the_declared_latency_and_the_same_card_stops_it(
        cp: CpEmulator, card: CardPresenter, clock: Clock, rig: Rig, access_on: Installer,
        evidence: Evidence) -> None:
    """Access control on, the vehicle plugged in and asking: the registered card → PWM offer
    within the profile's latency, then the contactor closes (Table A.6's 3 s); the same card again
    → the offer is withdrawn within the profile's latency (the manual: stop with the card)."""
    access = access_of(rig, "WB-AC-02")
    (registered,) = charging_cards(card, 1)
    register(card, clock, [registered])
    t_b = vehicle_asks(cp, clock)
    t_card = cp.time()
    tap(card, clock, registered)
    clock.sleep(watch(access.authorise_within_s) + LIMITS.iec61851.contactor_close_after_c.high)
    edges = cp.read_edges()
    offered = delay_s(edges, t_card, Channel.PWM, "1")
    evidence.check("registered card to PWM offer", offered, access.authorise_within_s, t_s=t_card, u=cp.interval_u_s)
    evidence.check("offer to contactor closed (vehicle in C)", delay_s(edges, t_card + offered, Channel.OVP, "1"),
                   LIMITS.iec61851.contactor_close_after_c, t_s=t_card + offered, u=cp.interval_u_s)
    if not access.stop_with_card:
        return
    t_again = cp.time()
    tap(card, clock, registered)
    clock.sleep(watch(access.card_stop_within_s))
    edges = cp.read_edges()
    evidence.trace("card starts and stops", edges, markers(vehicle_B=t_b, card=t_card, card_again=t_again))
    evidence.check("the same card again to the offer withdrawn", delay_s(edges, t_again, Channel.PWM, "0"),
                   access.card_stop_within_s, t_s=t_again, u=cp.interval_u_s)


@pytest.mark.needs("cp", "card", "installer", "buzzer")
@pytest.mark.requirement(wb_id="WB-AC-03", clause="WB-AC-03 (registration with the setup card, and its beeps)")
@pytest.mark.red_on("registration_beeps=long,two short,short")
@pytest.mark.red_on("registration_beeps=short,short,long")
@pytest.mark.red_on("access_control=ignored")
@pytest.mark.red_on("rfid_accepts_unregistered=true")
@pytest.mark.red_on("rfid_auth_delay_s=12")
@pytest.mark.red_on("rfid_auth_delay_s=12", profile="mini-wallbox-plus")
def test_registration_beeps_short_then_two_short_per_card_then_long_and_registers(
        cp: CpEmulator, card: CardPresenter, clock: Clock, rig: Rig, installer: Installer,
        evidence: Evidence) -> None:
    """No vehicle, bar solid: setup card → the mode-on beep; each new card → the card beep; setup
    card again → the mode-off beep.  Then, access control on, a card registered this way starts a
    session; one never registered still does not."""
    access = access_of(rig, "WB-AC-03")
    buzzer = rig.buzzer
    first, second, stranger = charging_cards(card, 3)
    for name, which, expected, key in (("setup card", card.deck.setup, access.mode_on_beep, "mode_on_beep"),
                                       ("first new card", first, access.card_registered_beep, "card_registered_beep"),
                                       ("second new card", second, access.card_registered_beep,
                                        "card_registered_beep"),
                                       ("setup card again", card.deck.setup, access.mode_off_beep, "mode_off_beep")):
        heard = listen(buzzer, clock, evidence, name, functools.partial(tap, card, clock, which))
        judge_beep(evidence, rig, name, heard, expected, key, "WB-AC-03")
    installer.set_access_control(True)
    t_b = vehicle_asks(cp, clock)
    tap(card, clock, stranger)
    clock.sleep(watch(access.authorise_within_s))
    edges = cp.read_edges()
    evidence.check("PWM offers after a card never registered", count_edges(edges, Channel.PWM, "1", t_b),
                   LIMITS.access.offers_after_ignored_card)
    t_card = cp.time()
    tap(card, clock, second)
    clock.sleep(watch(access.authorise_within_s))
    edges = cp.read_edges()
    evidence.trace("registered cards", edges, markers(vehicle_B=t_b, registered_card=t_card))
    evidence.check("a card registered with the setup card to PWM offer", delay_s(edges, t_card, Channel.PWM, "1"),
                   access.authorise_within_s, t_s=t_card, u=cp.interval_u_s)


@pytest.mark.needs("cp", "card", "installer", "buzzer")
@pytest.mark.requirement(wb_id="WB-AC-03", clause="WB-AC-03 (registration only with no vehicle and the bar solid)")
@pytest.mark.red_on("registration_requires_idle=false")
def test_registration_is_refused_with_a_vehicle_connected_or_the_bar_not_solid(
        cp: CpEmulator, card: CardPresenter, clock: Clock, rig: Rig, installer: Installer,
        evidence: Evidence) -> None:
    """With a vehicle plugged in, and again with the bar sweeping (paused): the setup card gives no
    mode-on beep and a new card no card beep (nothing is registered)."""
    access = access_of(rig, "WB-AC-03")
    buzzer = rig.buzzer
    (new,) = charging_cards(card, 1)
    limit = LIMITS.access.beeps_when_refused

    def attempt(situation: str) -> None:
        heard = listen(buzzer, clock, evidence, f"setup card, {situation}", lambda: tap(card, clock, card.deck.setup))
        judge_not_beep(evidence, f"setup card, {situation}", heard, access.mode_on_beep, limit)
        heard = listen(buzzer, clock, evidence, f"new card, {situation}", lambda: tap(card, clock, new))
        judge_not_beep(evidence, f"new card, {situation}", heard, access.card_registered_beep, limit)
        tap(card, clock, card.deck.setup)   # ends a mode a non-conforming DUT entered after all

    with step("arrange", "plug in (A → B)"):
        cp.set_state("B")
        observe_b2(clock)
    attempt("vehicle connected")
    with step("arrange", "unplug, then pause the EVSE (the bar sweeps)"):
        cp.set_state("A")
        observe_b2(clock)
        installer.set_paused(True)
        observe_b2(clock)
    attempt("bar not solid")


@pytest.mark.requirement(wb_id="WB-AC-04", clause="WB-AC-04 (extra cards must be MIFARE)")
@pytest.mark.red_on("rfid_mifare_only=false")
@pytest.mark.red_on("access_control=ignored")
def test_a_card_that_is_not_mifare_is_neither_registered_nor_accepted(
        cp: CpEmulator, card: CardPresenter, clock: Clock, rig: Rig, installer: Installer,
        evidence: Evidence) -> None:
    """The rig's foreign card (ISO 14443A, not MIFARE Classic) in registration mode: no card beep;
    then, access control on, it brings no offer."""
    access = access_of(rig, "WB-AC-04")
    foreign = card.deck.foreign
    if foreign is None:
        pytest.skip("the rig file's card role names no foreign_card (a card that is not MIFARE Classic)")
    buzzer = buzzer_of(rig)
    tap(card, clock, card.deck.setup)
    heard = listen(buzzer, clock, evidence, "foreign card in registration mode", lambda: tap(card, clock, foreign))
    judge_not_beep(evidence, "foreign card in registration mode", heard, access.card_registered_beep,
                   LIMITS.access.beeps_when_refused)
    tap(card, clock, card.deck.setup)
    installer.set_access_control(True)
    t_b = vehicle_asks(cp, clock)
    tap(card, clock, foreign)
    clock.sleep(watch(access.authorise_within_s) + LIMITS.iec61851.contactor_close_after_c.high)
    edges = cp.read_edges()
    evidence.trace("foreign card", edges, markers(vehicle_B=t_b))
    evidence.check("PWM offers after a card that is not MIFARE", count_edges(edges, Channel.PWM, "1", t_b),
                   LIMITS.access.offers_after_ignored_card)


@pytest.mark.needs("cp", "card", "installer", "buzzer")
@pytest.mark.requirement(wb_id="WB-AC-04", clause="WB-AC-04 (a new setup card from the installer app)")
@pytest.mark.red_on("registration_beeps=long,two short,short")
@pytest.mark.red_on("registration_beeps=short,short,long")
def test_a_setup_card_entered_in_the_installer_app_opens_registration(
        card: CardPresenter, clock: Clock, rig: Rig, installer: Installer, evidence: Evidence) -> None:
    """A charging card entered as the new setup card in the installer app then opens and closes
    registration mode with the declared beeps."""
    access = access_of(rig, "WB-AC-04")
    new_setup, other = charging_cards(card, 2)
    installer.set_setup_card(new_setup.id_tag)
    for name, which, expected, key in (("new setup card", new_setup, access.mode_on_beep, "mode_on_beep"),
                                       ("a card", other, access.card_registered_beep, "card_registered_beep"),
                                       ("new setup card again", new_setup, access.mode_off_beep, "mode_off_beep")):
        heard = listen(rig.buzzer, clock, evidence, name, functools.partial(tap, card, clock, which))
        judge_beep(evidence, rig, name, heard, expected, key, "WB-AC-04")


@pytest.mark.needs("cp", "card", "installer", "backend")
@pytest.mark.requirement(wb_id="WB-AC-06", clause="WB-AC-06 (backend service: one vehicle per card)")
@pytest.mark.red_on("access_control=ignored", profile="bmw-i-wallbox-connect")
def test_each_card_starts_a_session_with_its_own_id_tag_and_without_cards_there_is_one_vehicle(
        cp: CpEmulator, card: CardPresenter, clock: Clock, rig: Rig, installer: Installer, backend: Backend,
        evidence: Evidence) -> None:
    """Without cards, two sessions carry one idTag (one vehicle per wallbox).  With the declared
    number of cards registered and access control on, each session's StartTransaction carries the
    idTag of the card that started it."""
    access = access_of(rig, "WB-AC-06")
    vehicles = int(access.vehicles_with_cards)
    cards = charging_cards(card, vehicles)
    since = clock.now()

    def session(which: Card | None = None) -> None:
        vehicle_asks(cp, clock)
        if which is not None:
            tap(card, clock, which)
        clock.sleep(watch(access.authorise_within_s) + LIMITS.iec61851.contactor_close_after_c.high)
        cp.set_state("A")
        observe_b2(clock)

    with step("act", "two sessions without a card"):
        session()
        session()
    tags = {t.id_tag for t in backend.transactions(since)}
    evidence.check("idTags of sessions without a card", len(tags), LIMITS.access.one_vehicle_tags,
                   note=f"seen: {sorted(tags)}")
    register(card, clock, cards)
    installer.set_access_control(True)
    before = backend.accept_id_tags(set())             # the backend knows the lab's cards for this test
    backend.accept_id_tags(before | {c.id_tag for c in cards})
    try:
        since = clock.now()
        with step("act", f"one session per card ({vehicles})"):
            for which in cards:
                session(which)
        started = backend.transactions(since)
    finally:
        backend.accept_id_tags(before)
    seen = [t.id_tag for t in started]
    mismatches = sum(1 for which, tag in zip(cards, seen + [""] * len(cards)) if which.id_tag != tag)
    evidence.check("sessions whose idTag is not their card's", mismatches + max(0, len(seen) - len(cards)),
                   LIMITS.access.card_tag_mismatches, note=f"cards {[c.id_tag for c in cards]}, sessions {seen}")

