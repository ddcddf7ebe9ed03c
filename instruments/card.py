"""Role `card`: a card held to the DUT's RFID reader (WB-AC-02 … WB-AC-04, WB-AC-06).

The rig file names the cards (`setup_card`: the DUT's delivered setup card; `cards`: MIFARE Classic
cards the tests may register; `foreign_card`: a card that is not MIFARE Classic, an NTAG213).  Two
lab drivers present them:

- `ChameleonUltra`: the RfidResearchGroup ChameleonUltra card emulator over its USB CDC port. It
  emulates any of the rig file's cards in one slot, as the reader sees a real one: UID, ATQA, SAK.
  The packet format is the one in its documentation (docs/protocol.md, "Packets format"):
  SOF 0x11, LRC(SOF) 0xEF, CMD u16 BE, STATUS u16 BE, LEN u16 BE, LRC of those six bytes, DATA,
  LRC of DATA, where an LRC is the two's complement of the byte sum.  The command numbers and
  payloads are those of its command list (software/script/chameleon_enum.py, firmware v2).
- `CardCarousel`: physical cards on a carousel or a row of solenoids, one switch channel per card
  position (`[wiring.channels] card_1 …`, in the order setup card, cards, foreign card).

Presenting returns when the card is in the field (the emulator answered, the relay moved), so the
rig clock read after it is the presentation's stamp.
"""

from __future__ import annotations

import re
import struct
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import InstrumentOperationError, InvalidValue
from core.settings import Setting
from instruments.base import ComposedInstrument, Instrument
from instruments.transport.byte_stream import ByteStream
from instruments.transport.openers import BYTE_STREAM

KINDS = ("mifare-1k", "ntag213")


@dataclass(frozen=True)
class Card:
    """One card: its UID and technology; `label` says which of the rig file's cards it is."""

    uid: bytes
    kind: str
    label: str

    @property
    def id_tag(self) -> str:
        """The idTag a charge point reports for it: the UID in upper-case hex (OCPP 1.6 CiString20)."""
        return self.uid.hex().upper()


@dataclass(frozen=True)
class Deck:
    """The rig file's cards."""

    setup: Card
    cards: tuple[Card, ...]
    foreign: Card | None

    def all(self) -> tuple[Card, ...]:
        return (self.setup, *self.cards, *((self.foreign,) if self.foreign else ()))


_HEX = re.compile(r"^(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{14})$")


def uid_ok(value: Any) -> bool:
    """A 4- or 7-byte UID in hex (ISO/IEC 14443-3 single and double size)."""
    return isinstance(value, str) and bool(_HEX.match(value))


def deck_from(settings: Mapping[str, Any]) -> Deck:
    """The cards of an `[instruments.card]` table (already checked by `rig check`)."""
    setup = Card(bytes.fromhex(str(settings["setup_card"])), "mifare-1k", "setup card")
    cards = tuple(Card(bytes.fromhex(uid), "mifare-1k", f"card {k + 1}")
                  for k, uid in enumerate(settings.get("cards", [])))
    foreign = settings.get("foreign_card")
    deck = Deck(setup, cards, Card(bytes.fromhex(str(foreign)), "ntag213", "foreign card") if foreign else None)
    uids = [c.uid for c in deck.all()]
    if len(set(uids)) != len(uids):
        raise InvalidValue("card: the rig file names one UID twice (setup_card, cards, foreign_card)")
    return deck


CARD_SETTINGS = (
    Setting("setup_card", str, "the UID of the setup card delivered with the DUT", required=True, check=uid_ok,
            expected='the setup card\'s UID in hex, 4 or 7 bytes (e.g. "A1B2C3D4")'),
    Setting("cards", list, "MIFARE Classic cards the tests may register",
            check=lambda v: 0 < len(v) <= 6 and all(uid_ok(u) for u in v),
            expected="a list of 1…6 card UIDs in hex (MIFARE Classic cards the tests may register)"),
    Setting("foreign_card", str, "a card that is not MIFARE Classic (an NTAG213)", check=uid_ok,
            expected="the UID of a card that is not MIFARE Classic (an NTAG213), 7 bytes in hex"),
)


class CardPresenter(Instrument):
    role = "card"
    SETTINGS = CARD_SETTINGS
    deck: Deck

    @abstractmethod
    def present(self, card: Card) -> None:
        """Hold `card` to the reader (a card already there is taken away first)."""

    @abstractmethod
    def withdraw(self) -> None:
        """No card in the reader's field."""

    def safe(self) -> None:
        self.withdraw()


# --- ChameleonUltra ------------------------------------------------------------------------------
SOF = 0x11
GET_APP_VERSION, CHANGE_DEVICE_MODE, SET_ACTIVE_SLOT = 1000, 1001, 1003
SET_SLOT_TAG_TYPE, SET_SLOT_DATA_DEFAULT, SET_SLOT_ENABLE = 1004, 1005, 1006
HF14A_SET_ANTI_COLL_DATA = 4001
STATUS_OK = (0x00, 0x68)
"""STATUS_DEVICE_SUCCESS (0x68), which every command used here answers in firmware v2; HF_TAG_OK
(0x00), which firmware v1 answered to some slot commands, is taken too."""
MODE_TAG = 0x00
"""CHANGE_DEVICE_MODE: 0 = tag emulator, 1 = reader."""
SENSE_HF = 2
"""SET_SLOT_ENABLE's frequency: 1 = LF, 2 = HF."""
SLOT = 7
"""The slot the rig uses (the UI's slot 8), leaving slot 1 to the lab's own use."""
TAG_TYPES = {"mifare-1k": (1001, b"\x04\x00", 0x08), "ntag213": (1100, b"\x44\x00", 0x00)}
"""Tag type (firmware v2 numbering), ATQA as sent on air (LSB first), SAK (ISO/IEC 14443-3; NXP
AN10833 "MIFARE type identification procedure": SAK 08 = MIFARE Classic 1K, 00 = Ultralight/NTAG)."""


def lrc(data: bytes) -> int:
    """Longitudinal redundancy check: the byte that makes the sum 0 modulo 256."""
    return (-sum(data)) & 0xFF


def packet(cmd: int, data: bytes = b"", status: int = 0) -> bytes:
    head = struct.pack(">HHH", cmd, status, len(data))
    return bytes((SOF, lrc(bytes((SOF,))))) + head + bytes((lrc(head),)) + data + bytes((lrc(data),))


class ChameleonUltra(CardPresenter):
    """The ChameleonUltra as a tag emulator over its USB CDC port (packets, not lines)."""

    opens = BYTE_STREAM

    def __init__(self, stream: ByteStream, settings: Mapping[str, Any]) -> None:
        self.stream = stream
        self.role = "card"
        self.deck = deck_from(settings)
        self._presenting = False

    @classmethod
    def build(cls, role: str, addresses: Sequence[str], settings: Mapping[str, Any],
              parts: Mapping[str, Instrument], wiring: Any) -> ChameleonUltra:
        return cls(BYTE_STREAM.open(role, addresses[0], settings), settings)

    def close(self) -> None:
        self.stream.close()

    def command(self, cmd: int, data: bytes = b"") -> bytes:
        """One packet out, its answer in; the answer's DATA (a status other than success is refused)."""
        stream = self.stream
        stream.write(packet(cmd, data))
        head = stream.read_exact(9)
        if head[0] != SOF or head[1] != lrc(head[:1]) or head[8] != lrc(head[2:8]):
            raise InstrumentOperationError(self.role, f"bad packet header {head.hex(' ')} (SOF, LRC1 or LRC2)")
        answer_cmd, status, length = struct.unpack(">HHH", head[2:8])
        body = stream.read_exact(length + 1)
        if body[-1] != lrc(body[:-1]):
            raise InstrumentOperationError(self.role, f"bad LRC3 in the answer to command {cmd}")
        if answer_cmd != cmd:
            raise InstrumentOperationError(self.role, f"command {cmd} answered as command {answer_cmd}")
        if status not in STATUS_OK:
            raise InstrumentOperationError(self.role, f"command {cmd} refused with status 0x{status:02x}")
        return body[:-1]

    def identify(self) -> str:
        version = self.command(GET_APP_VERSION)
        if len(version) != 2:
            raise InstrumentOperationError(self.role, f"GET_APP_VERSION: expected 2 bytes, got {version.hex(' ')}")
        return f"RfidResearchGroup ChameleonUltra, application v{version[0]}.{version[1]}"

    def present(self, card: Card) -> None:
        if card.kind not in TAG_TYPES:
            raise InvalidValue(f"card: the emulator presents {', '.join(TAG_TYPES)}, not {card.kind!r}")
        if self._presenting:
            self.withdraw()
        tag_type, atqa, sak = TAG_TYPES[card.kind]
        self.command(CHANGE_DEVICE_MODE, bytes((MODE_TAG,)))
        self.command(SET_ACTIVE_SLOT, bytes((SLOT,)))
        self.command(SET_SLOT_TAG_TYPE, struct.pack(">BH", SLOT, tag_type))
        self.command(SET_SLOT_DATA_DEFAULT, struct.pack(">BH", SLOT, tag_type))
        self.command(HF14A_SET_ANTI_COLL_DATA, bytes((len(card.uid),)) + card.uid + atqa + bytes((sak, 0)))
        self.command(SET_SLOT_ENABLE, bytes((SLOT, SENSE_HF, 1)))
        self._presenting = True

    def withdraw(self) -> None:
        self.command(SET_SLOT_ENABLE, bytes((SLOT, SENSE_HF, 0)))
        self._presenting = False


# --- a carousel of physical cards -----------------------------------------------------------------
class CardCarousel(ComposedInstrument, CardPresenter):
    """Physical cards moved to the reader by switch channels (`[wiring.channels] card_1 …`)."""

    parts = ("switch",)

    @classmethod
    def check_wiring(cls, wiring: Any, settings: Mapping[str, Any]) -> None:
        """One position per card of the rig file, in the order setup card, cards, foreign card."""
        deck = deck_from(settings)
        wiring.require(tuple(f"card_{k + 1}" for k in range(len(deck.all()))), "the card carousel")

    @classmethod
    def compose(cls, parts: Mapping[str, Any], wiring: Any, settings: Mapping[str, Any]) -> CardCarousel:
        return cls(parts["switch"], wiring, settings)

    def __init__(self, switch: Any, wiring: Any, settings: Mapping[str, Any]) -> None:
        self.role = "card"
        self.deck = deck_from(settings)
        self.check_wiring(wiring, settings)
        self.switch = switch
        self.positions = {card.uid: wiring.channel(f"card_{k + 1}") for k, card in enumerate(self.deck.all())}

    def identify(self) -> str:
        return f"parts: switch (card carousel, {len(self.positions)} positions)"

    def present(self, card: Card) -> None:
        channel = self.positions.get(card.uid)
        if channel is None:
            raise InvalidValue(f"card: no carousel position holds {card.id_tag} (the rig file's cards)")
        self.withdraw()
        self.switch.close_channels([channel])

    def withdraw(self) -> None:
        self.switch.open_channels(sorted(self.positions.values()))
