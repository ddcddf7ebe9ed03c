"""The line-oriented transport every text-protocol driver talks through."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import InstrumentOperationError, InstrumentTimeout

traffic_log = logging.getLogger("wallbox_rig.traffic")
"""All instrument traffic goes through this one logger (`-o log_cli_level=DEBUG` shows it)."""

QUIET_S = 0.2
"""After an unfinished exchange, input is dropped until the instrument stays quiet this long."""
MAX_LINE_BYTES = 65536
"""The longest answer line a driver takes unless it says otherwise (`LineTransport.max_line`): a CP
board's edge list is a few kilobytes; a runaway instrument's 2 MB answer is refused, not printed."""


class LineTransport(ABC):
    """Send one command line, optionally read one answer line; terminators are the transport's job."""

    def __init__(self, role: str) -> None:
        self.role = role
        self._out_of_step = False
        self.max_line = MAX_LINE_BYTES
        """Answer lines longer than this are refused (a driver whose answers are long raises it)."""

    def write(self, line: str) -> None:
        self._resync()
        traffic_log.debug("%s >> %s", self.role, line)
        self._write(line)

    def query(self, line: str) -> str:
        self._resync()
        traffic_log.debug("%s >> %s", self.role, line)
        self._out_of_step = True  # until the answer is read: Ctrl-C, a timeout or an error may land between
        self._write(line)
        answer = self._read()
        self._out_of_step = False
        traffic_log.debug("%s << %s", self.role, answer)
        return answer

    def query_block(self, line: str) -> bytes:
        """Send a query whose answer is an IEEE 488.2 definite-length block (`#<n><length><bytes>`,
        then the terminator), e.g. a scope's waveform; returns the block's bytes."""
        self._resync()
        traffic_log.debug("%s >> %s", self.role, line)
        self._out_of_step = True
        self._write(line)
        data = self._read_block()
        self._out_of_step = False
        traffic_log.debug("%s << block of %d bytes", self.role, len(data))
        return data

    def _read_block(self) -> bytes:
        raise InstrumentOperationError(self.role, f"{type(self).__name__} cannot read binary blocks")

    def _block(self, read: Callable[[int], bytes], terminator: bytes) -> bytes:
        """Parse a definite-length block from `read(n)` (exactly n bytes or an exception)."""
        head = read(2)
        if head[:1] != b"#" or not head[1:2].isdigit() or head[1:2] == b"0":
            raise InstrumentOperationError(self.role, f"expected a definite-length block (#<n>…), got {head!r}")
        digits = read(int(head[1:2]))
        if not digits.isdigit():
            raise InstrumentOperationError(self.role, f"bad block length {digits!r}")
        length = int(digits)
        data = read(length + len(terminator))   # one read for the data and its terminator
        if data[length:] != terminator:
            raise InstrumentOperationError(self.role, f"block not followed by its terminator (got {data[length:]!r})")
        return data[:length]

    def _resync(self) -> None:
        """After an exchange that did not finish (interrupted, timed out), the instrument's late
        answer may still be on its way; reading it as the answer to the next command is how a safe
        state goes wrong, so it is discarded first."""
        if self._out_of_step:
            stale = self._discard_input()
            traffic_log.debug("%s: discarded %r after an unfinished exchange", self.role, stale)
            self._out_of_step = False

    def _discard_input(self) -> bytes:
        """Read and drop whatever arrives until the line is quiet; returns what was dropped."""
        return b""

    def _answer(self, raw: bytes, terminator: bytes, where: str) -> str:
        """One raw answer line as text: a missing terminator is a timeout, bytes beyond ASCII garble,
        a line beyond `max_line` the instrument's fault (its head shown, not all of it)."""
        if len(raw) > self.max_line:
            self._out_of_step = True   # the rest of it may still come: dropped before the next command
            raise InstrumentOperationError(self.role, f"answer from {where} longer than {self.max_line} bytes "
                                           f"(begins {raw[:80]!r})")
        if not raw.endswith(terminator):
            raise InstrumentTimeout(self.role, f"no complete answer from {where} (got {raw!r})")
        try:
            return raw[: -len(terminator)].decode("ascii").rstrip("\r")
        except UnicodeDecodeError as exc:
            raise InstrumentOperationError(self.role, f"garbled answer {raw!r}") from exc

    @abstractmethod
    def _write(self, line: str) -> None: ...

    @abstractmethod
    def _read(self) -> str: ...

    @abstractmethod
    def close(self) -> None: ...


@dataclass(frozen=True)
class Frame:
    """One classical CAN frame (11-bit identifier)."""

    arbitration_id: int
    data: bytes


class FrameTransport(ABC):
    """Send frames, receive frames: what a CAN instrument's driver talks through."""

    def __init__(self, role: str, timeout_s: float) -> None:
        self.role = role
        self.timeout_s = timeout_s

    @abstractmethod
    def send(self, arbitration_id: int, data: bytes) -> None: ...

    @abstractmethod
    def receive(self, timeout_s: float) -> Frame | None:
        """The next frame, or None when none arrives within `timeout_s`."""

    @abstractmethod
    def close(self) -> None: ...
