"""SLAC, the vehicle's side (ISO 15118-3:2015 Annex A; HomePlug Green PHY management messages): how
a vehicle's modem finds the charger's on the pilot wire and joins its network, before any IP.

Every message is an Ethernet frame of type 0x88E1: destination, source, type, then the management
header (MMV 0x01, MMTYPE little-endian, FMI 0x0000) and the message's fields, padded to the 60-octet
minimum.  The vehicle: CM_SLAC_PARM.REQ (broadcast) → the charger's CNF; CM_START_ATTEN_CHAR.IND and
the M-sounds CM_MNBC_SOUND.IND (broadcast); the charger's CM_ATTEN_CHAR.IND → CM_ATTEN_CHAR.RSP;
CM_SLAC_MATCH.REQ → CNF carrying the network's NID and NMK, which CM_SET_KEY.REQ gives the
vehicle's own modem.  Field by field as the standard's tables give them; the layout of a
CM_SLAC_PARM.CNF is pinned by the frame pyPLC composes (tests/test_slac.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from instruments.v2g.exi import ExiError

ETHERTYPE = 0x88E1
MMV = 0x01
BROADCAST = b"\xff" * 6
CM_SET_KEY_REQ, CM_SET_KEY_CNF = 0x6008, 0x6009
CM_SLAC_PARM_REQ, CM_SLAC_PARM_CNF = 0x6064, 0x6065
CM_START_ATTEN_CHAR_IND = 0x606A
CM_ATTEN_CHAR_IND, CM_ATTEN_CHAR_RSP = 0x606E, 0x606F
CM_MNBC_SOUND_IND = 0x6076
CM_SLAC_MATCH_REQ, CM_SLAC_MATCH_CNF = 0x607C, 0x607D
APPLICATION_PEV_EVSE, SECURITY_NONE = 0x00, 0x00
MIN_FRAME = 60
ID_LEN = 17
"""PEV ID / EVSE ID / SOURCE_ID fields: 17 octets."""


def frame(dst: bytes, src: bytes, mmtype: int, payload: bytes) -> bytes:
    head = dst + src + struct.pack(">H", ETHERTYPE) + struct.pack("<BHH", MMV, mmtype, 0)
    raw = head + payload
    return raw + bytes(max(0, MIN_FRAME - len(raw)))


def parse(raw: bytes) -> tuple[bytes, bytes, int, bytes]:
    """(destination, source, MMTYPE, payload) of a SLAC frame; refused if it is not one."""
    if len(raw) < 19 or struct.unpack(">H", raw[12:14])[0] != ETHERTYPE or raw[14] != MMV:
        raise ExiError(f"not a HomePlug Green PHY management frame (MMV 1): {raw[:20].hex()}")
    (mmtype,) = struct.unpack("<H", raw[15:17])
    return raw[:6], raw[6:12], mmtype, raw[19:]


def _expect(raw: bytes, mmtype: int, name: str, size: int) -> tuple[bytes, bytes]:
    """(source, payload) of a frame that must be `name` with at least `size` payload octets."""
    _, src, found, payload = parse(raw)
    if found != mmtype or len(payload) < size:
        raise ExiError(f"expected {name} ({size} octets), found MMTYPE {found:#06x} with {len(payload)}")
    return src, payload


def slac_parm_req(src: bytes, run_id: bytes) -> bytes:
    return frame(BROADCAST, src, CM_SLAC_PARM_REQ, bytes((APPLICATION_PEV_EVSE, SECURITY_NONE)) + _run(run_id))


@dataclass(frozen=True)
class SlacParmCnf:
    sound_target: bytes
    num_sounds: int
    timeout_100ms: int
    resp_type: int
    forwarding_sta: bytes
    run_id: bytes
    evse_mac: bytes


def parse_slac_parm_cnf(raw: bytes) -> SlacParmCnf:
    src, p = _expect(raw, CM_SLAC_PARM_CNF, "CM_SLAC_PARM.CNF", 25)
    return SlacParmCnf(p[0:6], p[6], p[7], p[8], p[9:15], p[17:25], src)


def start_atten_char_ind(src: bytes, run_id: bytes, num_sounds: int, timeout_100ms: int) -> bytes:
    body = bytes((APPLICATION_PEV_EVSE, SECURITY_NONE, num_sounds, timeout_100ms, 0x01)) + src + _run(run_id)
    return frame(BROADCAST, src, CM_START_ATTEN_CHAR_IND, body)


def mnbc_sound_ind(src: bytes, run_id: bytes, left: int) -> bytes:
    """One M-sound: SenderID (17 octets, zero), the count of sounds still to come, the RunID, 8 reserved
    octets and 16 random ones (zero here: nothing is derived from them)."""
    body = bytes((APPLICATION_PEV_EVSE, SECURITY_NONE)) + bytes(ID_LEN) + bytes((left,)) + _run(run_id) + bytes(24)
    return frame(BROADCAST, src, CM_MNBC_SOUND_IND, body)


@dataclass(frozen=True)
class AttenCharInd:
    run_id: bytes
    source_id: bytes
    resp_id: bytes
    num_sounds: int
    groups: tuple[int, ...]
    evse_mac: bytes


def parse_atten_char_ind(raw: bytes) -> AttenCharInd:
    src, p = _expect(raw, CM_ATTEN_CHAR_IND, "CM_ATTEN_CHAR.IND", 52)
    count = p[51]
    return AttenCharInd(p[8:16], p[16:33], p[33:50], p[50], tuple(p[52:52 + count]), src)


def atten_char_rsp(dst: bytes, src: bytes, ind: AttenCharInd) -> bytes:
    body = bytes((APPLICATION_PEV_EVSE, SECURITY_NONE)) + src + _run(ind.run_id) + ind.source_id + ind.resp_id \
        + b"\x00"
    return frame(dst, src, CM_ATTEN_CHAR_RSP, body)


def slac_match_req(dst: bytes, src: bytes, run_id: bytes) -> bytes:
    """MVFLength 0x3E (62 octets follow): PEV ID, PEV MAC, EVSE ID, EVSE MAC, RunID, 8 reserved."""
    body = bytes((APPLICATION_PEV_EVSE, SECURITY_NONE)) + struct.pack("<H", 0x3E) + bytes(ID_LEN) + src \
        + bytes(ID_LEN) + dst + _run(run_id) + bytes(8)
    return frame(dst, src, CM_SLAC_MATCH_REQ, body)


@dataclass(frozen=True)
class SlacMatchCnf:
    run_id: bytes
    nid: bytes
    nmk: bytes


def parse_slac_match_cnf(raw: bytes) -> SlacMatchCnf:
    _, p = _expect(raw, CM_SLAC_MATCH_CNF, "CM_SLAC_MATCH.CNF", 90)
    return SlacMatchCnf(p[50:58], p[66:73], p[74:90])


def set_key_req(modem: bytes, src: bytes, nid: bytes, nmk: bytes) -> bytes:
    """The vehicle's own modem joins the network: key type NMK (1), nonces, PID 4 (HLE), PRN, PMN,
    CCo capability, the NID, new EKS 1, the NMK."""
    if len(nid) != 7 or len(nmk) != 16:
        raise ExiError(f"an NID has 7 octets and an NMK 16, not {len(nid)} and {len(nmk)}")
    body = bytes((0x01,)) + bytes(4) + bytes(4) + bytes((0x04,)) + bytes(2) + bytes((0x00, 0x00)) + nid \
        + bytes((0x01,)) + nmk
    return frame(modem, src, CM_SET_KEY_REQ, body)


def _run(run_id: bytes) -> bytes:
    if len(run_id) != 8:
        raise ExiError(f"a RunID has 8 octets, not {len(run_id)}")
    return run_id
