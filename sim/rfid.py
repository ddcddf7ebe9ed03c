"""The 13.56 MHz field in front of the simulated wallbox's reader, and what can put a card there:
a ChameleonUltra card emulator on its USB port, or the virtual bench's card carousel.

The emulator here is the device's side of the packet protocol in its documentation (docs/protocol.md
of RfidResearchGroup/ChameleonUltra), written from that text: it keeps eight slots, a device mode and
an active slot, and puts the active slot's HF card into the field while the slot is enabled in tag
mode.  The wallbox's reader sees UID, ATQA and SAK, as an ISO/IEC 14443-3 reader does.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from sim.server import ByteFrontEnd
from sim.world import World


@dataclass(frozen=True)
class FieldCard:
    """What an ISO/IEC 14443 type A reader learns in anticollision."""

    uid: bytes
    atqa: bytes
    sak: int


CARD_KINDS = {"mifare-1k": (b"\x04\x00", 0x08), "ntag213": (b"\x44\x00", 0x00)}
"""ATQA and SAK of the physical cards a lab may hold to the reader (ISO/IEC 14443-3; NXP AN10833)."""


def physical_card(uid_hex: str, kind: str) -> FieldCard:
    """A real card of `kind` with this UID, as the reader sees it in anticollision."""
    atqa, sak = CARD_KINDS[kind]
    return FieldCard(bytes.fromhex(uid_hex), atqa, sak)


class RfidField:
    """The reader's field: each source (emulator, carousel) holds a card there or not; the reader is
    told when the card it sees changes (a new card, or none)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._held: dict[str, FieldCard | None] = {}
        self.card: FieldCard | None = None
        self._listeners: list[Callable[[FieldCard | None], None]] = []

    def listen(self, listener: Callable[[FieldCard | None], None]) -> None:
        self._listeners.append(listener)

    def hold(self, source: str, card: FieldCard | None) -> None:
        self._held[source] = card
        seen = next((c for c in self._held.values() if c is not None), None)
        if seen != self.card:
            self.card = seen
            self.world.record("rfid_field", uid=seen.uid.hex().upper() if seen else None,
                              sak=seen.sak if seen else None)
            for listener in self._listeners:
                listener(seen)


# --- the ChameleonUltra, device side -----------------------------------------------------------------
_SOF = 0x11
_SUCCESS = 0x68
_REFUSED = 0x67
"""What this simulation answers to a command or parameter it does not know (not a success code)."""
_HF_TYPES = {1000, 1001, 1002, 1003, 1100, 1101, 1102}
"""HF tag types of the v2 numbering this emulator takes (MIFARE Mini/1K/2K/4K, NTAG 213/215/216)."""
_APP_VERSION = (2, 0)
_SLOTS = 8


def _lrc(data: bytes) -> int:
    return (-sum(data)) & 0xFF


@dataclass
class _Slot:
    hf_type: int = 0
    hf_enabled: bool = False
    uid: bytes = b""
    atqa: bytes = b"\x00\x00"
    sak: int = 0


class SimChameleon(ByteFrontEnd):
    name = "card"

    def __init__(self, world: World, field: RfidField) -> None:
        super().__init__(world)
        self.field = field
        self.mode = 0          # 0: tag emulator, 1: reader
        self.active = 0
        self.slots = [_Slot() for _ in range(_SLOTS)]

    def feed(self, buffer: bytes) -> tuple[bytes, bytes]:
        out = b""
        while True:
            start = buffer.find(bytes((_SOF, 0xEF)))
            if start < 0:
                return out, buffer[-1:] if buffer.endswith(bytes((_SOF,))) else b""
            buffer = buffer[start:]
            if len(buffer) < 9:
                return out, buffer
            head = buffer[2:8]
            cmd, _, length = struct.unpack(">HHH", head)
            if buffer[8] != _lrc(head) or length > 512:
                buffer = buffer[1:]          # not a packet start: look for the next one
                continue
            if len(buffer) < 10 + length:
                return out, buffer
            data, check = buffer[9:9 + length], buffer[9 + length]
            buffer = buffer[10 + length:]
            if check != _lrc(data):
                continue                     # a corrupted packet gets no answer, as on the wire
            status, answer = self._command(cmd, data)
            out += self._packet(cmd, status, answer)

    @staticmethod
    def _packet(cmd: int, status: int, data: bytes) -> bytes:
        head = struct.pack(">HHH", cmd, status, len(data))
        return bytes((_SOF, 0xEF)) + head + bytes((_lrc(head),)) + data + bytes((_lrc(data),))

    def _command(self, cmd: int, data: bytes) -> tuple[int, bytes]:
        if cmd == 1000:                                   # GET_APP_VERSION
            return _SUCCESS, bytes(_APP_VERSION)
        if cmd == 1001 and len(data) == 1 and data[0] in (0, 1):   # CHANGE_DEVICE_MODE
            self.mode = data[0]
        elif cmd == 1003 and len(data) == 1 and data[0] < _SLOTS:  # SET_ACTIVE_SLOT
            self.active = data[0]
        elif cmd in (1004, 1005) and len(data) == 3:      # SET_SLOT_TAG_TYPE, SET_SLOT_DATA_DEFAULT
            slot, tag_type = struct.unpack(">BH", data)
            if slot >= _SLOTS or tag_type not in _HF_TYPES:
                return _REFUSED, b""
            self.slots[slot].hf_type = tag_type
            if cmd == 1005:
                self.slots[slot].uid = b""
        elif cmd == 1006 and len(data) == 3 and data[0] < _SLOTS and data[1] in (1, 2):   # SET_SLOT_ENABLE
            if data[1] == 2:
                self.slots[data[0]].hf_enabled = bool(data[2])
        elif cmd == 4001 and data and len(data) >= 1 + data[0] + 4:   # HF14A_SET_ANTI_COLL_DATA
            n = data[0]
            if n not in (4, 7, 10):
                return _REFUSED, b""
            slot = self.slots[self.active]
            slot.uid, slot.atqa, slot.sak = data[1:1 + n], data[1 + n:3 + n], data[3 + n]
            self._update()
            return _SUCCESS, b""
        else:
            return _REFUSED, b""
        self._update()
        return _SUCCESS, b""

    def _update(self) -> None:
        slot = self.slots[self.active]
        present = self.mode == 0 and slot.hf_enabled and slot.hf_type in _HF_TYPES and bool(slot.uid)
        self.field.hold("emulator", FieldCard(slot.uid, slot.atqa, slot.sak) if present else None)
