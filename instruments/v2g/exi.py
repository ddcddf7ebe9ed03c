"""EXI 1.0 (W3C Recommendation, second edition 2014) as ISO 15118-2 and DIN 70121 use it: the
bit-packed alignment, default options, schema-informed grammars, no options in the header.

Only what the handshake and session-setup messages need: the header (§5), n-bit unsigned
integers (§7.1.9), unsigned integers (§7.1.6: 7-bit groups, least significant first, the high
bit of each octet saying another follows), integers (§7.1.5: a sign bit, then the magnitude;
a negative value n as -(n+1)), strings as a string-table miss (§7.1.10 and §7.3.3: length + 2,
then each character as an unsigned integer code point) and binary (§7.1.2: a length, then the
octets).  A string-table hit (a value that repeats within one message) never occurs in these
messages; a decoder meeting one says so rather than guess.
"""

from __future__ import annotations

HEADER = 0x80
"""§5: distinguishing bits 10, no options (0), final version 1 (0 0000): one octet."""


class ExiError(ValueError):
    """A stream that is not the message it claims to be (or one this codec does not cover)."""


class BitWriter:
    """Bits, most significant first, into octets; the last octet padded with zeros (§5, §6)."""

    def __init__(self) -> None:
        self._bits: list[int] = []

    def bits(self, value: int, width: int) -> None:
        """An n-bit unsigned integer (§7.1.9)."""
        if width < 0 or value < 0 or value >= 1 << width:
            raise ExiError(f"{value} does not fit {width} bits")
        self._bits.extend((value >> (width - 1 - k)) & 1 for k in range(width))

    def unsigned(self, value: int) -> None:
        """§7.1.6 Unsigned Integer."""
        if value < 0:
            raise ExiError(f"an unsigned integer cannot be {value}")
        while True:
            group, value = value & 0x7F, value >> 7
            self.bits(group | (0x80 if value else 0), 8)
            if not value:
                return

    def integer(self, value: int) -> None:
        """§7.1.5 Integer: sign bit, then the magnitude (a negative value n as -n - 1)."""
        self.bits(1 if value < 0 else 0, 1)
        self.unsigned(-value - 1 if value < 0 else value)

    def string(self, text: str) -> None:
        """A string-table miss (§7.3.3): length + 2, then the code points."""
        points = [ord(c) for c in text]
        self.unsigned(len(points) + 2)
        for p in points:
            self.unsigned(p)

    def binary(self, data: bytes) -> None:
        """§7.1.2 Binary (hexBinary and base64Binary alike): length, then the octets."""
        self.unsigned(len(data))
        for octet in data:
            self.bits(octet, 8)

    def octets(self) -> bytes:
        padded = self._bits + [0] * (-len(self._bits) % 8)
        return bytes(int("".join(map(str, padded[k:k + 8])), 2) for k in range(0, len(padded), 8))


class BitReader:
    """The reverse of `BitWriter`, over one message's octets."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def bits(self, width: int) -> int:
        value = 0
        for _ in range(width):
            byte, bit = divmod(self._pos, 8)
            if byte >= len(self._data):
                raise ExiError("the stream ends inside a value")
            value = value << 1 | (self._data[byte] >> (7 - bit)) & 1
            self._pos += 1
        return value

    def expect(self, width: int, code: int, what: str) -> None:
        """An event code the grammar allows only one way here (this codec's messages)."""
        found = self.bits(width)
        if found != code:
            raise ExiError(f"expected {what} (event code {code} of {width} bits), found {found}")

    def unsigned(self) -> int:
        value, shift = 0, 0
        while True:
            octet = self.bits(8)
            value |= (octet & 0x7F) << shift
            shift += 7
            if not octet & 0x80:
                return value
            if shift > 63:
                raise ExiError("an unsigned integer longer than 64 bits")

    def integer(self) -> int:
        negative = self.bits(1)
        magnitude = self.unsigned()
        return -magnitude - 1 if negative else magnitude

    def string(self, max_length: int) -> str:
        length = self.unsigned()
        if length < 2:
            raise ExiError(f"a string-table hit (code {length}): these messages repeat no value")
        if length - 2 > max_length:
            raise ExiError(f"a string of {length - 2} characters where the schema allows {max_length}")
        return "".join(chr(self.unsigned()) for _ in range(length - 2))

    def binary(self, max_length: int) -> bytes:
        length = self.unsigned()
        if length > max_length:
            raise ExiError(f"{length} octets where the schema allows {max_length}")
        return bytes(self.bits(8) for _ in range(length))


def reader(data: bytes) -> BitReader:
    """A reader past the header, which must be the one these messages carry (§5)."""
    if not data or data[0] != HEADER:
        raise ExiError(f"not an EXI body with the default header 0x80: {data[:1].hex() or 'empty'}")
    return BitReader(data[1:])


def writer() -> BitWriter:
    out = BitWriter()
    out.bits(HEADER, 8)
    return out
