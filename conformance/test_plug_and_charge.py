"""ISO 15118 vehicles registered by their MAC (the MINI's WB-AC-05), judged with beeps, CP and the
contactor.

The manual: with access control on, present the setup card, then plug in the vehicle: two short
beeps; from then on that vehicle charges without a card.  The rig's vehicle is the CP emulator
(its pilot circuit) and the `ev_comms` role (its communication controller): after each plug-in it
finds the charger (SDP), agrees a protocol and starts a session with its EVCC ID, the MAC
(SessionSetupReq).  What the DUT does with that identity is judged where a driver would see it: the
beeper (microphone), the PWM offer and the contactor (CP emulator), the idTag the backend hears.
Every message both ways goes into the evidence, as the OCPP frames do.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.access import buzzer_of, judge_beep, judge_not_beep, listen, switch_access_on, tap
from conformance.injection import power_cycle
from conformance.limits import LIMITS
from conformance.session import judge_offers, observe_b2, watch
from core.errors import PreconditionError
from core.profile import PlugAndCharge
from core.types import Channel
from fixtures.evidence import Evidence, step
from fixtures.timing import delay_s, markers
from instruments.backend import Backend
from instruments.card import CardPresenter
from instruments.cp_emulator import CpEmulator
from instruments.ev_comms import EvComms, HlcExchange
from instruments.installer import Installer
from rig.clock import Clock
from rig.rig import Rig

pytestmark = [pytest.mark.needs("cp", "card", "installer", "ev_comms"),
              pytest.mark.requirement(wb_id="WB-AC-05", clause="WB-AC-05 (ISO 15118 vehicles registered by their "
                                                              "MAC); ISO 15118-2 SessionSetup")]


def pnc_of(rig: Rig) -> PlugAndCharge:
    """The profile's [plug_and_charge] table; the family skips for a product that promises none."""
    pnc = rig.profile.plug_and_charge
    if pnc is None or "WB-AC-05" not in pnc.requirements:
        pytest.skip(f"profile {rig.profile.id} does not promise WB-AC-05 (no [plug_and_charge] table): it "
                    "registers no ISO 15118 vehicles")
    if rig.profile.access is None:
        raise PreconditionError(f"profile {rig.profile.id} declares [plug_and_charge] without the card reader "
                                "([access]) whose setup card registers a vehicle")
    return pnc


@pytest.fixture
def access_on(installer: Installer, rig: Rig) -> Iterator[PlugAndCharge]:
    """Access control on; where the rig has a backend, it knows both test vehicles by the idTag the DUT
    will report them with (as the lab's cards), so that what a vehicle is allowed is the DUT's doing,
    not the backend's (restored afterwards)."""
    pnc = pnc_of(rig)
    switch_access_on(installer)
    if not rig.has("backend"):
        yield pnc
        return
    backend = rig.backend
    tags = {backend.dialect.vehicle_id_tag(v, pnc.ocpp_id_tag)[0] for v in rig.ev_comms.vehicles}
    before = backend.accept_id_tags(set())
    backend.accept_id_tags(before | tags)
    try:
        yield pnc
    finally:
        backend.accept_id_tags(before)


def plug_in_and_identify(cp: CpEmulator, clock: Clock, ev: EvComms, evcc_id: bytes, evidence: Evidence,
                         label: str) -> tuple[float, float, HlcExchange]:
    """The vehicle plugs in (B) and identifies itself; (board time of the plug-in, board time of its
    SessionSetupReq, the exchange).  The exchange goes into the evidence whatever it brought."""
    with step("act", f"plug in {label} ({evcc_id.hex(':').upper()}) and identify it over ISO 15118"):
        t_b = cp.set_state("B")
        observe_b2(clock)
        t_id = cp.time()
        exchange = ev.identify_as(evcc_id)
    evidence.messages(f"ISO 15118 messages: {label}", exchange.lines())
    return t_b, t_id, exchange


def judge_session(evidence: Evidence, exchange: HlcExchange, label: str) -> None:
    """The DUT set up the session the vehicle's EVCC ID came in (else WB-AC-05 cannot work at all)."""
    evidence.check(f"ISO 15118 session set up with {label}", 1 if exchange.session_set_up else 0,
                   LIMITS.access.hlc_sessions,
                   note=f"SDP answered: {exchange.found}; protocol: {exchange.protocol}; "
                        f"SessionSetupRes: {exchange.session_response}")


def unplug(cp: CpEmulator, clock: Clock) -> None:
    with step("arrange", "unplug (A) and give the DUT its observation window"):
        cp.set_state("A")
        observe_b2(clock)


def register_vehicle(cp: CpEmulator, clock: Clock, card: CardPresenter, ev: EvComms, evcc_id: bytes,
                     evidence: Evidence) -> HlcExchange:
    """The manual's registration as an arrange step: setup card, plug in and identify, unplug."""
    with step("arrange", "register the vehicle: setup card, then plug it in (WB-AC-05)"):
        unplug(cp, clock)
        tap(card, clock, card.deck.setup)
        _, _, exchange = plug_in_and_identify(cp, clock, ev, evcc_id, evidence, "the vehicle at registration")
        unplug(cp, clock)
    return exchange


def judge_charges_without_card(cp: CpEmulator, clock: Clock, ev: EvComms, evcc_id: bytes, pnc: PlugAndCharge,
                               evidence: Evidence, label: str) -> None:
    """Plugged in again, the registered vehicle gets the PWM offer within the profile's latency of its
    SessionSetupReq, and the contactor closes once it asks (C), within IEC 61851-1 Table A.6's time."""
    t_b, t_id, exchange = plug_in_and_identify(cp, clock, ev, evcc_id, evidence, label)
    judge_session(evidence, exchange, label)
    clock.sleep(watch(pnc.authorise_within_s))
    t_c = cp.set_state("C")
    clock.sleep(LIMITS.iec61851.contactor_close_after_c.high)
    edges = cp.read_edges()
    offered = delay_s(edges, t_id, Channel.PWM, "1")
    evidence.trace(label, edges, markers(plug_in=t_b, SessionSetupReq=t_id, vehicle_C=t_c))
    evidence.check(f"{label}: SessionSetupReq to PWM offer, no card", offered, pnc.authorise_within_s, t_s=t_id,
                   u=cp.interval_u_s)
    evidence.check(f"{label}: state C to contactor closed", delay_s(edges, t_c, Channel.OVP, "1"),
                   LIMITS.iec61851.contactor_close_after_c, t_s=t_c, u=cp.interval_u_s)


@pytest.mark.red_on("hlc_registered_beep=none", profile="mini-wallbox-plus")
@pytest.mark.red_on("hlc_vehicle_registration=false", profile="mini-wallbox-plus")
def test_a_vehicle_plugged_in_after_the_setup_card_is_registered_with_two_short_beeps_and_charges_without_a_card(
        cp: CpEmulator, clock: Clock, card: CardPresenter, ev_comms: EvComms, access_on: PlugAndCharge, rig: Rig,
        evidence: Evidence) -> None:
    """Setup card (registration mode), then the vehicle plugs in and identifies itself: the beeper
    sounds the profile's registration beep (two short).  Unplugged and plugged in again, with no
    card, it gets the PWM offer within the profile's latency of its SessionSetupReq and the
    contactor closes once it asks."""
    pnc, vehicle = access_on, ev_comms.vehicles[0]
    unplug(cp, clock)
    tap(card, clock, card.deck.setup)
    outcome: list[HlcExchange] = []

    def plug_and_identify() -> None:
        outcome.append(plug_in_and_identify(cp, clock, ev_comms, vehicle, evidence, "the vehicle at registration")[2])
    heard = listen(buzzer_of(rig), clock, evidence, "vehicle registration", plug_and_identify)
    judge_session(evidence, outcome[0], "the vehicle at registration")
    judge_beep(evidence, rig, "vehicle registration", heard, pnc.vehicle_registered_beep, "vehicle_registered_beep",
               "WB-AC-05", table="plug_and_charge")
    unplug(cp, clock)
    judge_charges_without_card(cp, clock, ev_comms, vehicle, pnc, evidence, "the registered vehicle")


@pytest.mark.red_on("hlc_authorises_any=true", profile="mini-wallbox-plus")
@pytest.mark.red_on("hlc_vehicle_registration=false", profile="mini-wallbox-plus")   # no session at all
@pytest.mark.red_on("hlc_registers_without_setup_card=true", profile="mini-wallbox-plus")
def test_a_vehicle_never_registered_gets_no_offer_without_a_card(cp: CpEmulator, clock: Clock, ev_comms: EvComms,
                                                                 access_on: PlugAndCharge, rig: Rig,
                                                                 evidence: Evidence) -> None:
    """A vehicle the DUT never registered plugs in, identifies itself and asks for power (C): it is
    treated as the card rules say: no PWM offer and no closing without a card, watched for the rig's
    time without a card.  Plugged in a second time (a DUT that registered it unasked would now let
    it charge), the same."""
    stranger = ev_comms.vehicles[1]
    for attempt in ("first", "second"):
        unplug(cp, clock)
        t_b, _, exchange = plug_in_and_identify(cp, clock, ev_comms, stranger, evidence,
                                                f"the unknown vehicle, {attempt} plug-in")
        judge_session(evidence, exchange, f"the unknown vehicle, {attempt} plug-in")
        cp.set_state("C")
        clock.sleep(LIMITS.access.watch_without_card.value)
        edges = cp.read_edges()
        evidence.trace(f"unknown vehicle, {attempt} plug-in", edges, markers(plug_in=t_b))
        judge_offers(evidence, edges, t_b, f"to the unknown vehicle ({attempt} plug-in)",
                     LIMITS.access.offers_to_unknown_vehicles, LIMITS.access.closures_for_unknown_vehicles)


@pytest.mark.red_on("registration_requires_idle=false", profile="mini-wallbox-plus")
@pytest.mark.red_on("hlc_authorises_any=true", profile="mini-wallbox-plus")
@pytest.mark.red_on("hlc_vehicle_registration=false", profile="mini-wallbox-plus")   # no session at all
@pytest.mark.red_on("hlc_registers_without_setup_card=true", profile="mini-wallbox-plus")
def test_the_setup_card_registers_no_vehicle_that_is_already_connected(cp: CpEmulator, clock: Clock,
                                                                       card: CardPresenter, ev_comms: EvComms,
                                                                       access_on: PlugAndCharge, rig: Rig,
                                                                       evidence: Evidence) -> None:
    """An unknown vehicle plugs in and identifies itself; with it connected the setup card is
    presented: registration mode must not start (no mode-on beep; the manual allows it with no
    vehicle only), so the vehicle is not registered: plugged in again it gets no offer and no
    closing without a card."""
    access = rig.profile.access
    if access is None:
        raise PreconditionError(f"profile {rig.profile.id} declares no [access] table (pnc_of refuses that)")
    stranger = ev_comms.vehicles[1]
    unplug(cp, clock)
    plug_in_and_identify(cp, clock, ev_comms, stranger, evidence, "the connected vehicle")
    heard = listen(buzzer_of(rig), clock, evidence, "setup card with a vehicle connected",
                   lambda: tap(card, clock, card.deck.setup))
    judge_not_beep(evidence, "setup card with a vehicle connected", heard, access.mode_on_beep,
                   LIMITS.access.registration_beeps_with_vehicle)
    unplug(cp, clock)
    t_b, _, exchange = plug_in_and_identify(cp, clock, ev_comms, stranger, evidence, "the vehicle, plugged in again")
    judge_session(evidence, exchange, "the vehicle, plugged in again")
    cp.set_state("C")
    clock.sleep(LIMITS.access.watch_without_card.value)
    edges = cp.read_edges()
    evidence.trace("the vehicle plugged in again", edges, markers(plug_in=t_b))
    judge_offers(evidence, edges, t_b, "to the vehicle the setup card met connected",
                 LIMITS.access.offers_to_unknown_vehicles, LIMITS.access.closures_for_unknown_vehicles)


@pytest.mark.needs("cp", "card", "installer", "ev_comms", "source")
@pytest.mark.red_on("hlc_registration_persists=false", profile="mini-wallbox-plus")
@pytest.mark.red_on("hlc_vehicle_registration=false", profile="mini-wallbox-plus")   # no session at all
def test_a_registered_vehicle_still_charges_without_a_card_after_a_power_cycle(cp: CpEmulator, clock: Clock,
                                                                               card: CardPresenter,
                                                                               ev_comms: EvComms,
                                                                               access_on: PlugAndCharge, rig: Rig,
                                                                               evidence: Evidence) -> None:
    """The vehicle registered, then the supply cut and restored (WB-TR-01's power cycle, the AC
    source): the registration is kept, so plugged in it charges without a card as before."""
    pnc, vehicle = access_on, ev_comms.vehicles[0]
    register_vehicle(cp, clock, card, ev_comms, vehicle, evidence)
    power_cycle(rig, clock)
    judge_charges_without_card(cp, clock, ev_comms, vehicle, pnc, evidence, "the vehicle after the power cycle")


@pytest.mark.needs("cp", "card", "installer", "ev_comms", "backend")
@pytest.mark.red_on("hlc_id_tag_prefix=MAC:", profile="mini-wallbox-plus")
@pytest.mark.red_on("hlc_vehicle_registration=false", profile="mini-wallbox-plus")   # no session at all
def test_the_backend_hears_the_registered_vehicle_by_its_mac(cp: CpEmulator, clock: Clock, card: CardPresenter,
                                                             ev_comms: EvComms, backend: Backend,
                                                             access_on: PlugAndCharge, rig: Rig,
                                                             evidence: Evidence) -> None:
    """The registered vehicle charges without a card; the transaction the backend hears names it as
    the profile declares (OCPP 1.6: the idTag `ocpp_id_tag` with the MAC; 2.0.1: the MAC with idToken
    type MacAddress)."""
    pnc, vehicle = access_on, ev_comms.vehicles[0]
    expected_tag, expected_type = backend.dialect.vehicle_id_tag(vehicle, pnc.ocpp_id_tag)
    register_vehicle(cp, clock, card, ev_comms, vehicle, evidence)
    since = clock.now()
    _, _, exchange = plug_in_and_identify(cp, clock, ev_comms, vehicle, evidence, "the registered vehicle")
    judge_session(evidence, exchange, "the registered vehicle")
    clock.sleep(watch(pnc.authorise_within_s))
    cp.set_state("C")
    clock.sleep(LIMITS.iec61851.contactor_close_after_c.high)
    heard = backend.transactions(since)
    if not heard:
        raise PreconditionError("the DUT started no transaction the backend knows of while the registered vehicle "
                                "charged: how it names the vehicle cannot be judged")
    wrong = sum(t.id_tag != expected_tag or t.id_type != expected_type for t in heard)
    evidence.check("transactions naming the vehicle otherwise than declared", wrong,
                   LIMITS.access.vehicle_id_tag_mismatches,
                   note=f"expected {expected_tag!r} {expected_type or '(1.6: no type)'}; heard "
                        f"{[(t.id_tag, t.id_type) for t in heard]}")
