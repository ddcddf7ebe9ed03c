"""The vehicle side of ISO 15118 (role `ev_comms`) against the simulated wallbox's SECC, over the
loopback: who answers when, what a refused negotiation looks like, and the rig file's checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import ConfigError
from instruments.ev_comms import V2gOverIp
from instruments.v2g import messages as m
from rig.config import REPO_ROOT, load_rig_file

VEHICLE = bytes.fromhex("02005E100001")
SETTINGS = {"vehicles": ["02:00:5E:10:00:01", "02:00:5E:10:00:02"], "timeout_s": 0.5, "sdp_retries": 2}


@pytest.fixture
def lab() -> Iterator[object]:
    from sim.lab import start_virtual_lab
    lab = start_virtual_lab(seed=3, knobs={"hlc_vehicle_registration": True})
    try:
        lab.frontends["source"].handle("OUTP ON")           # the supply on (the AC source's SCPI)
        lab.frontends["clock"].handle("ADV 30")            # booted, idle in A1
        yield lab
    finally:
        lab.stop()


def plug(lab: object, state: str) -> None:
    frontends = getattr(lab, "frontends")
    frontends["cp"].handle(f"STATE {state}")
    frontends["clock"].handle("ADV 3")


def test_no_vehicle_on_the_cable_means_no_charger_answers(lab: object) -> None:
    """Unplugged, the SECC stays silent (no link without a cable): the exchange says so, no error."""
    ev = V2gOverIp(getattr(lab, "endpoints")["secc"], SETTINGS)
    exchange = ev.identify_as(VEHICLE)
    assert not exchange.found and exchange.protocol is None and not exchange.session_set_up
    assert [msg.name for msg in exchange.messages] == ["SDP request", "SDP request"]   # the rig file's retries


def test_a_plugged_in_vehicle_sets_up_an_iso_15118_2_session_and_is_journaled(lab: object) -> None:
    plug(lab, "B")
    ev = V2gOverIp(getattr(lab, "endpoints")["secc"], SETTINGS)
    exchange = ev.identify_as(VEHICLE)
    assert exchange.found and exchange.protocol == "iso2" and exchange.session_response == "OK_NewSessionEstablished"
    assert [msg.name for msg in exchange.messages] == ["SDP request", "SDP response", "supportedAppProtocolReq",
                                                      "SupportedAppProtocolRes", "SessionSetupReq", "SessionSetupRes"]
    setup = next(msg for msg in exchange.messages if msg.name == "SessionSetupReq")
    assert m.decode_v2g(setup.wire[8:], m.ISO2) == m.SessionSetupReq(m.ISO2, b"\x00", VEHICLE)
    assert all(line.count("\t") == 5 for line in exchange.lines())      # the report's message-log columns
    assert getattr(lab, "wallbox").access.identified == VEHICLE      # the firmware heard whom it talked to


def test_a_vehicle_offering_only_din_is_refused_by_an_ac_firmware(lab: object) -> None:
    """The simulated MINI (AC) negotiates ISO 15118-2 only: DIN 70121 alone gets Failed_NoNegotiation,
    the exchange ends there, and nothing is identified."""
    plug(lab, "B")
    ev = V2gOverIp(getattr(lab, "endpoints")["secc"], {**SETTINGS, "protocols": ["din"]})
    exchange = ev.identify_as(VEHICLE)
    assert exchange.found and exchange.protocol is None and exchange.session_response is None
    assert "Failed_NoNegotiation" in exchange.lines()[-1]
    assert getattr(lab, "wallbox").access.identified is None


def test_the_rig_file_names_the_key_of_a_bad_vehicle_list(tmp_path: Path) -> None:
    text = (REPO_ROOT / "rigs" / "sim.toml").read_text()
    bad = text.replace('vehicles = ["02:00:5E:10:00:01", "02:00:5E:10:00:02"]', 'vehicles = ["02:00:5E:10:00"]')
    assert bad != text
    path = tmp_path / "rig.toml"
    path.write_text(bad)
    with pytest.raises(ConfigError, match=r"instruments\.ev_comms\.vehicles.*two to eight different MAC"):
        load_rig_file(path)
