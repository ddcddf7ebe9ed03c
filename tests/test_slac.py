"""The vehicle's SLAC (ISO 15118-3 Annex A) over raw frames: each message's layout field by field, a
CM_SLAC_PARM.CNF as pyPLC composes it (uhi22/pyPLC, test_slac.py, composeTestFrame: a charger's
answer to a Hyundai Ioniq, 04:65:65:00:64:C3), and the driver's matching against a scripted
charger, with no network interface (the raw socket is replaced)."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

import pytest

from instruments.ev_comms import GreenPhyEv, HlcExchange
from instruments.v2g import slac
from instruments.v2g.exi import ExiError

IONIQ = bytes.fromhex("0465650064C3")
PYPLC_PARM_CNF = bytes.fromhex(
    "046565 0064C3 0A194A39D698 88E1 01 6560 0000 FFFFFFFFFFFF 0A 06 01 0465650064C3 00 00 0465650064C3 0000"
    .replace(" ", "")) + bytes(16)
EV = bytes.fromhex("02005E100001")
EVSE = bytes.fromhex("0A194A39D698")
RUN = bytes.fromhex("0465650064C30000")


def test_a_chargers_parm_cnf_as_pyplc_composes_it_parses_field_by_field() -> None:
    assert len(PYPLC_PARM_CNF) == 60
    cnf = slac.parse_slac_parm_cnf(PYPLC_PARM_CNF)
    assert (cnf.sound_target, cnf.num_sounds, cnf.timeout_100ms, cnf.resp_type) == (b"\xff" * 6, 10, 6, 1)
    assert (cnf.forwarding_sta, cnf.run_id, cnf.evse_mac) == (IONIQ, RUN, EVSE)


def test_the_vehicles_requests_lay_their_fields_out_as_the_standard_lists_them() -> None:
    req = slac.slac_parm_req(EV, RUN)
    assert req.hex() == ("ffffffffffff" + EV.hex() + "88e1" + "01" + "6460" + "0000" + "00" + "00" + RUN.hex()
                         + "00" * 31)   # padded to the 60-octet minimum
    start = slac.start_atten_char_ind(EV, RUN, 10, 6)
    assert start[19:35] == bytes((0, 0, 10, 6, 1)) + EV + RUN[:5]
    sound = slac.mnbc_sound_ind(EV, RUN, 3)
    assert struct.unpack("<H", sound[15:17])[0] == slac.CM_MNBC_SOUND_IND and sound[19 + 2 + 17] == 3
    assert sound[19 + 2 + 17 + 1:19 + 2 + 17 + 9] == RUN and len(sound) == 19 + 2 + 17 + 1 + 8 + 8 + 16
    match = slac.slac_match_req(EVSE, EV, RUN)
    assert match[:6] == EVSE and match[19:23] == b"\x00\x00\x3e\x00"
    assert match[23 + 17:23 + 23] == EV and match[23 + 40:23 + 46] == EVSE and match[23 + 46:23 + 54] == RUN
    key = slac.set_key_req(slac.BROADCAST, EV, bytes(range(7)), bytes(range(16)))
    assert key[19] == 0x01 and key[28] == 0x04 and key[33:40] == bytes(range(7)) and key[40] == 0x01
    assert key[41:57] == bytes(range(16))
    with pytest.raises(ExiError, match="RunID has 8"):
        slac.slac_parm_req(EV, RUN[:7])
    with pytest.raises(ExiError, match="not a HomePlug"):
        slac.parse(b"\x00" * 14 + b"\x08\x00" + bytes(44))


class ScriptedCharger:
    """A raw socket whose other end answers as a charger's SLAC does; `silent` drops one message type."""

    def __init__(self, silent: int | None = None) -> None:
        self.sent: list[bytes] = []
        self.queue: list[bytes] = []
        self.silent = silent
        self.closed = False

    def send(self, raw: bytes) -> int:
        self.sent.append(raw)
        _, src, kind, body = slac.parse(raw)
        if kind == self.silent:
            return len(raw)
        if kind == slac.CM_SLAC_PARM_REQ:
            cnf = bytearray(PYPLC_PARM_CNF)
            cnf[0:6], cnf[36:44] = src, body[2:10]
            self.queue.append(bytes(cnf))
        elif kind == slac.CM_MNBC_SOUND_IND and body[19] == 0:        # the last sound
            payload = bytes((0, 0)) + EVSE + body[20:28] + bytes(17) + bytes(17) + bytes((10, 58)) + bytes(range(58))
            self.queue.append(slac.frame(src, EVSE, slac.CM_ATTEN_CHAR_IND, payload))
        elif kind == slac.CM_SLAC_MATCH_REQ:
            payload = bytes(body[:50]) + body[50:58] + bytes(8) + b"NID-7!!" + b"\x00" + b"NMK-sixteen-0123"
            self.queue.append(slac.frame(src, EVSE, slac.CM_SLAC_MATCH_CNF, payload))
        elif kind == slac.CM_SET_KEY_REQ:
            self.queue.append(slac.frame(src, slac.BROADCAST, slac.CM_SET_KEY_CNF, b"\x00"))
        return len(raw)

    def settimeout(self, seconds: float) -> None:
        pass

    def recv(self, size: int) -> bytes:
        if not self.queue:
            raise socket.timeout("nothing")
        return self.queue.pop(0)

    def close(self) -> None:
        self.closed = True


SETTINGS = {"vehicles": ["02:00:5E:10:00:01", "02:00:5E:10:00:02"], "timeout_s": 0.05}


def driver(charger: ScriptedCharger) -> GreenPhyEv:
    ev = GreenPhyEv("eth9", SETTINGS, raw_socket=lambda interface: charger)
    ev.run_ids = lambda: RUN
    return ev


def test_the_vehicle_matches_and_hands_its_modem_the_chargers_key() -> None:
    charger = ScriptedCharger()
    exchange = HlcExchange(EV)
    assert driver(charger).slac(EV, exchange) is True and charger.closed
    names = [msg.name for msg in exchange.messages if msg.direction == "EV→SECC"]
    assert names == ["CM_SLAC_PARM.REQ"] + ["CM_START_ATTEN_CHAR.IND"] * 3 + ["CM_MNBC_SOUND.IND"] * 10 + \
        ["CM_ATTEN_CHAR.RSP", "CM_SLAC_MATCH.REQ", "CM_SET_KEY.REQ"]
    set_key = charger.sent[-1]
    assert set_key[:6] == bytes.fromhex("00B052000001") and set_key[33:40] == b"NID-7!!"
    assert set_key[41:57] == b"NMK-sixteen-0123"
    assert all(raw[6:12] == EV for raw in charger.sent)     # the vehicle's MAC is every frame's source


@pytest.mark.parametrize("silent, sent_last", [(slac.CM_SLAC_PARM_REQ, "CM_SLAC_PARM.REQ"),
                                               (slac.CM_SLAC_MATCH_REQ, "CM_SLAC_MATCH.REQ")])
def test_a_charger_that_stops_answering_ends_the_matching_without_an_error(silent: int, sent_last: str) -> None:
    charger = ScriptedCharger(silent)
    exchange = HlcExchange(EV)
    assert driver(charger).slac(EV, exchange) is False and charger.closed
    assert [msg.name for msg in exchange.messages][-1] == sent_last


def test_without_raw_sockets_the_driver_says_what_it_needs() -> None:
    from core.errors import InstrumentInitError
    from instruments import ev_comms

    opener: Callable[[str], object] = ev_comms._open_raw
    with pytest.raises(InstrumentInitError, match="CAP_NET_RAW"):
        opener("no-such-interface-0")
