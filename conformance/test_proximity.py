"""IEC 61851-1 proximity (PP) catalogue: the tethered plug's coding, and a socket outlet's reading
of the cable's coding (offer capped by the cable, no charging on an invalid coding).

A tethered wallbox carries its own PP resistor in its plug: the rig measures it as a vehicle
would. A socket-outlet wallbox reads the cable: the rig presents each coding on PP.
"""

from __future__ import annotations

import pytest

from core.types import Channel
from conformance.limits import LIMITS, decoded_current_a, expected_duty_pct, pp_codings
from conformance.session import configured_current_a, plug_in, socket_outlet, watch
from core.uncertainty import EXACT
from core.errors import ConfigError
from conformance.limits.iec61851 import PpCoding
from core.limits import AtLeast
from fixtures.evidence import Evidence
from fixtures.timing import count_edges, delay_s, markers
from instruments.cp_emulator import CpEmulator
from rig.clock import Clock
from rig.rig import Rig

pytestmark = pytest.mark.needs("cp")

INVALID_CODINGS = ["open", "short", "below-window", "above-window"]
"""PP codings no cable has: open, shorted, and beyond the EVSE's error thresholds (EVB)."""


def invalid_pp_ohm(name: str) -> float | None:
    """The resistance presented for an invalid coding (None: PP open)."""
    beyond = LIMITS.rig.pp_beyond_window.value
    return {"open": None, "short": 0.0, "below-window": LIMITS.iec61851.pp_invalid_below.high * (1.0 - beyond),
            "above-window": LIMITS.iec61851.pp_invalid_above.low * (1.0 + beyond)}[name]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`coding`: every cable coding of the limits data (ids like `13A-cable`); read when the suite is
    collected, so a broken limits file is reported once, by the plugin, before the first test."""
    if "coding" in metafunc.fixturenames:
        try:
            codings = list(pp_codings())
        except ConfigError:
            codings = []
        metafunc.parametrize("coding", codings, ids=[f"{c.rating_a:g}A-cable" for c in codings])


def _needs_socket(rig: Rig) -> None:
    if not socket_outlet(rig.profile):
        pytest.skip(f"tethered cable ({rig.profile.id}): the EVSE reads its own plug, not a presented coding")


@pytest.mark.requirement(wb_id="WB-EL-04", clause="IEC 61851-1:2017 Annex B (PP coding of the tethered cable)")
@pytest.mark.red_on("pp_resistance_ohm=680")
def test_tethered_plug_codes_at_least_the_rated_current(cp: CpEmulator, rig: Rig, evidence: Evidence) -> None:
    """The tethered plug's PP-PE resistor codes a cable rating of at least the wallbox's rated current."""
    if socket_outlet(rig.profile):
        pytest.skip("socket-outlet EVSE: the cable brings its own coding")
    pp = cp.measure_pp()
    coding = next((c for c in pp_codings() if c.low <= pp.value <= c.high), None)
    evidence.record("PP-PE resistance of the plug", pp.value, "ohm", t_s=pp.t_s,
                    note=f"coding window {coding.low:g}-{coding.high:g} ohm ({coding.source})" if coding
                    else "outside every coding window")
    rated = AtLeast(name="pp_rating", low=rig.profile.connector.cable_rating_a, unit="A",
                    clause="IEC 61851-1:2017 Annex B",
                    source=f"DUT profile {rig.profile.id}: [connector] cable_rating_a (WB-EL-04); EVB coding windows",
                    cites=("MANUAL", "EVB"))
    # a coding window's rating is a class, not a reading: the resistance's U decides only which window it
    # falls in, and the windows' edges lie far from the codings the reference cables use
    evidence.check("cable rating coded on PP", coding.rating_a if coding else 0.0, rated, t_s=pp.t_s, u=EXACT)


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex B (offer limited to the cable's coded current)")
@pytest.mark.red_on("pp_caps_offer=false", profile="generic-iec61851", only=("13A-cable", "20A-cable"))
@pytest.mark.red_on("pwm_duty_offset_pct=0.8", profile="generic-iec61851")
def test_socket_outlet_offer_never_exceeds_the_cable_rating(cp: CpEmulator, clock: Clock, rig: Rig, coding: PpCoding,
                                                            evidence: Evidence) -> None:
    """With each cable coding on PP, the EVSE offers the smaller of its setting and the cable's rating."""
    _needs_socket(rig)
    offered = min(configured_current_a(rig), coding.rating_a)
    expected, source = expected_duty_pct(offered)
    evidence.parameters.update(pp_ohm=coding.nominal, cable_a=coding.rating_a, offered_current_a=offered)
    cp.set_pp(coding.nominal)
    plug_in(cp, clock)
    m = cp.measure_cp()
    evidence.record("duty cycle in B2", m.duty_pct, "%", t_s=m.t_s, u=cp.duty_u_pct,
                    note=f"expected {expected:.3f} % for {offered:g} A ({source})")
    evidence.record("current a vehicle reads from the duty", decoded_current_a(m.duty_pct), "A", t_s=m.t_s,
                    u=LIMITS.offer_u_a(decoded_current_a(m.duty_pct), cp.duty_u_pct),
                    note=f"cable rated {coding.rating_a:g} A")
    evidence.check("duty cycle error against min(setting, cable)", m.duty_pct - expected,
                   LIMITS.iec61851.duty_tolerance, t_s=m.t_s, u=cp.duty_u_pct)


@pytest.mark.parametrize("name", INVALID_CODINGS)
@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex B (invalid PP coding: no charging)")
@pytest.mark.red_on("pp_invalid_blocks=false", profile="generic-iec61851")
def test_socket_outlet_refuses_to_charge_on_an_invalid_coding(cp: CpEmulator, clock: Clock, rig: Rig, name: str,
                                                              evidence: Evidence) -> None:
    """A cable coding that no cable has (open, short, beyond the windows) means no charging at all."""
    _needs_socket(rig)
    close = LIMITS.iec61851.contactor_close_after_c
    pp_ohm = invalid_pp_ohm(name)
    evidence.parameters["pp_ohm"] = "open" if pp_ohm is None else pp_ohm
    cp.set_pp(pp_ohm)
    plug_in(cp, clock)
    t_c = cp.set_state("C")
    clock.sleep(watch(close))
    edges = cp.read_edges()
    evidence.trace(f"C with PP {name}", edges, markers(vehicle_C=t_c, contactor_closed=t_c + delay_s(
        edges, t_c, Channel.OVP, "1")), window=(t_c, t_c + close.high))
    evidence.check(f"contactor closures with PP {name}", count_edges(edges, Channel.OVP, "1", t_c),
                   LIMITS.iec61851.closures_on_invalid_pp)
