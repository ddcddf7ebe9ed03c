"""Remote start and stop, and authorisation, against physics (WB-CO-01, OCPP 1.6 §5.11, §5.12,
§4.2): the backend's word becomes a PWM offer and a closed contactor, or it does not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.backend import ocpp_of, open_transaction
from conformance.limits import LIMITS
from conformance.session import judge_a_vehicle_unserved, judge_offers, measured_offer_a, observe_b2, watch
from core.errors import PreconditionError
from core.types import Channel
from fixtures.evidence import Evidence
from fixtures.timing import count_edges, delay_s, markers
from instruments.backend import Backend
from instruments.cp_emulator import CpEmulator
from rig.clock import Clock
from rig.rig import Rig

pytestmark = [pytest.mark.needs("cp", "backend"),
              pytest.mark.requirement(wb_id="WB-CO-01", clause="OCPP 1.6 §5.11 RemoteStartTransaction, "
                                                                "§5.12 RemoteStopTransaction, §4.1 Authorize")]

REMOTE_TAG = "RIG-TAG-1"
"""An idTag the rig's backend accepts (rig file: accepted_id_tags)."""
UNKNOWN_TAG = "RIG-UNKNOWN"
"""An idTag no backend list holds."""


@pytest.fixture
def authorised_only(backend: Backend) -> Iterator[Backend]:
    """The DUT charges only for an authorised session: free vend off, remote starts authorised
    first (restored by the backend's safe state)."""
    for key, value in (("FreeVendEnabled", "false"), ("AuthorizeRemoteTxRequests", "true")):
        if backend.change_configuration(key, value) != "Accepted":
            raise PreconditionError(f"the DUT refused {key}={value}: it cannot be put into authorised-only mode")
    if not backend.accepts(REMOTE_TAG):
        raise PreconditionError(f"the backend does not accept {REMOTE_TAG} (rig file accepted_id_tags)")
    yield backend


@pytest.mark.red_on("c1_cutoff_s=15", profile="mini-wallbox-plus")   # the vehicle stays in C: opened by the C1 cut-off
@pytest.mark.red_on("contactor_close_delay_ms=3500")                 # the offer to the closing is Table A.6's 3 s
@pytest.mark.ocpp_case("TC_010_CS", "TC_012_CS", "TC_E_35_CS", "TC_F_01_CS")
def test_remote_start_offers_then_closes_and_remote_stop_opens(cp: CpEmulator, clock: Clock,
                                                               authorised_only: Backend, rig: Rig,
                                                               evidence: Evidence) -> None:
    """Plugged in with no session: no offer.  RemoteStartTransaction → PWM offer within the
    profile's latency → the vehicle asks (C) → contactor closed.  RemoteStopTransaction → open
    within the profile's latency, and the transaction ends with reason Remote."""
    ocpp = ocpp_of(rig)
    backend = authorised_only
    t_b = cp.set_state("B")
    cp.set_state("C")
    observe_b2(clock)
    since = clock.now()
    edges = cp.read_edges()
    evidence.check("PWM offers before the remote start", count_edges(edges, Channel.PWM, "1", t_b),
                   LIMITS.ocpp.offers_without_authorisation)
    t_start = cp.time()
    if backend.remote_start(REMOTE_TAG) != "Accepted":
        raise PreconditionError("the DUT did not accept RemoteStartTransaction")
    clock.sleep(watch(ocpp.remote_start_offer_within_s))
    clock.sleep(LIMITS.iec61851.contactor_close_after_c.high)
    edges = cp.read_edges()
    evidence.check("remote start to PWM offer", delay_s(edges, t_start, Channel.PWM, "1"),
                   ocpp.remote_start_offer_within_s, t_s=t_start, u=cp.interval_u_s)
    offered = delay_s(edges, t_start, Channel.PWM, "1")
    evidence.check("offer to contactor closed (vehicle in C)", delay_s(edges, t_start + offered, Channel.OVP, "1"),
                   LIMITS.iec61851.contactor_close_after_c, t_s=t_start + offered, u=cp.interval_u_s)
    tx = open_transaction(backend, since)
    t_stop = cp.time()
    backend.remote_stop(tx)
    clock.sleep(watch(ocpp.remote_stop_open_within_s))
    edges = cp.read_edges()
    evidence.trace("remote start and stop", edges, markers(remote_start=t_start, remote_stop=t_stop))
    evidence.check("remote stop to contactor open", delay_s(edges, t_stop, Channel.OVP, "0"),
                   ocpp.remote_stop_open_within_s, t_s=t_stop, u=cp.interval_u_s)
    stopped = [t for t in backend.transactions(since) if t.transaction_id == tx and t.reason == "Remote"]
    evidence.check("transactions stopped with reason Remote", len(stopped), LIMITS.ocpp.power_loss_stops)


@pytest.mark.red_on("ocpp_unknown_idtag_charges=true")
@pytest.mark.ocpp_case("TC_023_CS")
def test_an_id_tag_the_backend_rejects_never_closes_the_contactor(cp: CpEmulator, clock: Clock,
                                                                  authorised_only: Backend, rig: Rig,
                                                                  evidence: Evidence) -> None:
    """A remote start for an idTag the backend answers Invalid: no PWM offer, no closing, although
    the vehicle asks for power (C)."""
    ocpp = ocpp_of(rig)
    t_b = cp.set_state("B")
    cp.set_state("C")
    observe_b2(clock)
    authorised_only.remote_start(UNKNOWN_TAG)
    clock.sleep(watch(ocpp.remote_start_offer_within_s))
    clock.sleep(LIMITS.iec61851.contactor_close_after_c.high)
    edges = cp.read_edges()
    evidence.trace("rejected idTag", edges, markers(vehicle_B=t_b))
    judge_offers(evidence, edges, t_b, "for a rejected idTag", LIMITS.ocpp.offers_without_authorisation,
                 LIMITS.ocpp.closures_without_authorisation)


@pytest.mark.red_on("ocpp_remote_start_waits=false")
@pytest.mark.red_on("contactor_close_delay_ms=3500")                 # the offer to the closing is Table A.6's 3 s
@pytest.mark.ocpp_case("TC_011_1_CS", "TC_F_02_CS")
def test_a_remote_start_before_plug_in_waits_for_the_vehicle(cp: CpEmulator, clock: Clock, authorised_only: Backend,
                                                            rig: Rig, evidence: Evidence) -> None:
    """RemoteStartTransaction with no vehicle connected: the charge point waits for the cable until
    ConnectionTimeOut (OCPP 1.6 §5.11).  The vehicle that plugs in meanwhile gets the PWM offer within
    the profile's latency and the contactor once it asks (C); one transaction starts, with the idTag."""
    ocpp = ocpp_of(rig)
    backend = authorised_only
    since = clock.now()
    if backend.remote_start(REMOTE_TAG) != "Accepted":
        raise PreconditionError("the DUT did not accept RemoteStartTransaction")
    clock.sleep(LIMITS.ocpp.remote_plug_in_after.value)
    t_b = cp.set_state("B")
    cp.set_state("C")
    clock.sleep(watch(ocpp.remote_start_offer_within_s))
    clock.sleep(LIMITS.iec61851.contactor_close_after_c.high)
    edges = cp.read_edges()
    offered = delay_s(edges, t_b, Channel.PWM, "1")
    evidence.trace("remote start, then the vehicle", edges, markers(plug_in=t_b, PWM_offer=t_b + offered))
    evidence.check("plug-in to PWM offer (remote start made before)", offered, ocpp.remote_start_offer_within_s,
                   t_s=t_b, u=cp.interval_u_s)
    evidence.check("offer to contactor closed (vehicle in C)", delay_s(edges, t_b + offered, Channel.OVP, "1"),
                   LIMITS.iec61851.contactor_close_after_c, t_s=t_b + offered, u=cp.interval_u_s)
    started = [t for t in backend.transactions(since) if t.id_tag == REMOTE_TAG]
    evidence.check("transactions started with the remote idTag", len(started), LIMITS.ocpp.remote_transactions,
                   note=f"idTags: {[t.id_tag for t in backend.transactions(since)]}")


@pytest.mark.red_on("ocpp_remote_profile_applies=false")
@pytest.mark.red_on("ocpp_schedule_follow=false")                    # the profile is stored, the offer ignores it
@pytest.mark.red_on("ocpp_schedule_follow=false", profile="mini-wallbox-plus")
@pytest.mark.ocpp_case("TC_059_CS", "TC_K_37_CS")
def test_a_remote_start_with_a_profile_offers_the_profiles_limit(cp: CpEmulator, clock: Clock,
                                                                authorised_only: Backend, rig: Rig,
                                                                evidence: Evidence) -> None:
    """RemoteStartTransaction carrying a TxProfile (OCPP 1.6 §5.11, §3.13.1): the transaction it starts is
    limited from its first offer on; the duty offers no more than the profile's limit."""
    ocpp = ocpp_of(rig)
    low = LIMITS.ocpp.schedule_limit_low.value
    profile = {"chargingProfileId": 801, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
               "chargingProfileKind": "Relative",
               "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": low}]}}
    cp.set_state("B")
    cp.set_state("C")
    observe_b2(clock)
    t_start = cp.time()
    if authorised_only.remote_start(REMOTE_TAG, profile=profile) != "Accepted":
        raise PreconditionError("the DUT did not accept RemoteStartTransaction with a TxProfile")
    clock.sleep(watch(ocpp.remote_start_offer_within_s))
    clock.sleep(ocpp.schedule_within_s.high)
    edges = cp.read_edges()
    evidence.trace("remote start with a profile", edges, markers(remote_start=t_start))
    evidence.check("remote start to PWM offer", delay_s(edges, t_start, Channel.PWM, "1"),
                   ocpp.remote_start_offer_within_s, t_s=t_start, u=cp.interval_u_s)
    offer = measured_offer_a(cp)
    evidence.check(f"offer above the profile's {low:g} A", max(0.0, offer - low), LIMITS.ocpp.schedule_draw_margin,
                   u=LIMITS.offer_u_a(offer, cp.duty_u_pct), note=f"offered {offer:g} A")


@pytest.mark.red_on("ocpp_connection_timeout_applies=false")
@pytest.mark.ocpp_case("TC_011_2_CS", "TC_F_04_CS")
def test_a_remote_start_no_vehicle_takes_up_lapses_after_the_connection_timeout(cp: CpEmulator, clock: Clock,
                                                                               authorised_only: Backend, rig: Rig,
                                                                               evidence: Evidence) -> None:
    """A remote start with no vehicle, and none within ConnectionTimeOut (OCPP 1.6 §9.1.8): the
    authorisation lapses, so a vehicle that plugs in afterwards gets no offer and no closing."""
    backend = authorised_only
    timeout = LIMITS.ocpp.connection_timeout.value
    if backend.change_configuration("ConnectionTimeOut", f"{timeout:g}") != "Accepted":
        raise PreconditionError("the DUT did not accept ConnectionTimeOut")
    if backend.remote_start(REMOTE_TAG) != "Accepted":
        raise PreconditionError("the DUT did not accept RemoteStartTransaction")
    clock.sleep(timeout + ocpp_of(rig).status_within_s.high)
    judge_a_vehicle_unserved(cp, clock, evidence, "remote start, then a vehicle too late", "after the timeout",
                             LIMITS.ocpp.offers_without_authorisation, LIMITS.ocpp.closures_without_authorisation)
