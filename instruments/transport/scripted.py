"""A transport that plays a script: the protocol tests of every lab driver use it.

Each step is `(sent, answer)`; `answer` is None for a write.  The driver must send exactly the
scripted lines, in order, and consume the whole script (pymeasure's `expected_protocol` idea).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from instruments.transport.base import Frame, FrameTransport, LineTransport
from instruments.transport.byte_stream import ByteStream

Step = tuple[str, str | bytes | None]


class ScriptMismatch(AssertionError):
    """The driver sent something other than the script says, or left part of it unused."""


class ScriptedTransport(LineTransport):
    def __init__(self, steps: Sequence[Step], role: str = "scripted") -> None:
        super().__init__(role)
        self._steps = list(steps)
        self._pos = 0
        self._pending: str | bytes | None = None

    def _next(self, line: str) -> str | bytes | None:
        if self._pos >= len(self._steps):
            raise ScriptMismatch(f"unexpected extra command {line!r} after the script ended")
        sent, answer = self._steps[self._pos]
        if line != sent:
            raise ScriptMismatch(f"step {self._pos}: expected {sent!r}, driver sent {line!r}")
        self._pos += 1
        return answer

    def _write(self, line: str) -> None:
        if self._pending is not None:
            raise ScriptMismatch(f"answer {self._pending!r} was never read before {line!r}")
        self._pending = self._next(line)

    def _read(self) -> str:
        if self._pending is None:
            raise ScriptMismatch("driver read an answer the script does not have")
        answer, self._pending = self._pending, None
        if isinstance(answer, bytes):
            raise ScriptMismatch("the script answers a binary block here; the driver read a line")
        return answer

    def _read_block(self) -> bytes:
        """A scripted block answer is the raw bytes on the wire (`#<n><length>…` and the newline)."""
        if not isinstance(self._pending, bytes):
            raise ScriptMismatch(f"the driver read a binary block; the script answers {self._pending!r}")
        raw, self._pending = self._pending, None
        pos = 0

        def read(count: int) -> bytes:
            nonlocal pos
            chunk = raw[pos:pos + count]
            pos += count
            if len(chunk) != count:
                raise ScriptMismatch(f"scripted block {raw[:20]!r}… is shorter than its header says")
            return chunk
        data = self._block(read, b"\n")
        if pos != len(raw):
            raise ScriptMismatch(f"scripted block has {len(raw) - pos} bytes beyond its length")
        return data

    def write(self, line: str) -> None:
        super().write(line)
        if self._pending is not None:
            raise ScriptMismatch(f"{line!r} is a query in the script; the driver did not read its answer")

    def close(self) -> None:
        pass

    def assert_consumed(self) -> None:
        if self._pos != len(self._steps):
            raise ScriptMismatch(f"script not consumed: next unused step {self._steps[self._pos]!r}")


@contextmanager
def expected_protocol(steps: Sequence[Step]) -> Iterator[ScriptedTransport]:
    """Yield a scripted transport and check on exit that the script was used to the end."""
    transport = ScriptedTransport(steps)
    yield transport
    transport.assert_consumed()


FrameStep = tuple[Frame, Sequence[Frame]]


class ScriptedFrameTransport(FrameTransport):
    """Frames instead of lines: each step is (frame the driver must send, frames the bus answers)."""

    def __init__(self, steps: Sequence[FrameStep], role: str = "scripted") -> None:
        super().__init__(role, timeout_s=0.0)
        self._steps = list(steps)
        self._pos = 0
        self._inbox: list[Frame] = []

    def send(self, arbitration_id: int, data: bytes) -> None:
        sent = Frame(arbitration_id, bytes(data))
        if self._pos >= len(self._steps):
            raise ScriptMismatch(f"unexpected extra frame {sent} after the script ended")
        expected, answers = self._steps[self._pos]
        if sent != expected:
            raise ScriptMismatch(f"step {self._pos}: expected {expected}, driver sent {sent}")
        self._pos += 1
        self._inbox.extend(answers)

    def receive(self, timeout_s: float) -> Frame | None:
        return self._inbox.pop(0) if self._inbox else None

    def close(self) -> None:
        pass

    def assert_consumed(self) -> None:
        if self._pos != len(self._steps) or self._inbox:
            raise ScriptMismatch(f"script not consumed: step {self._pos} of {len(self._steps)}, "
                                 f"{len(self._inbox)} answers unread")


ByteStep = tuple[bytes, bytes]


class ScriptedByteStream(ByteStream):
    """Bytes instead of lines: each step is (the packet the driver must write, the bytes the device
    answers); the driver must read the answer to its last byte before it writes again."""

    def __init__(self, steps: Sequence[ByteStep], role: str = "scripted") -> None:
        super().__init__(role)
        self._steps = list(steps)
        self._pos = 0
        self._inbox = b""

    def _write(self, data: bytes) -> None:
        if self._inbox:
            raise ScriptMismatch(f"answer {self._inbox.hex(' ')} was never read before {data.hex(' ')}")
        if self._pos >= len(self._steps):
            raise ScriptMismatch(f"unexpected extra packet {data.hex(' ')} after the script ended")
        expected, answer = self._steps[self._pos]
        if data != expected:
            raise ScriptMismatch(f"step {self._pos}: expected {expected.hex(' ')}, driver sent {data.hex(' ')}")
        self._pos += 1
        self._inbox = answer

    def _read(self, count: int) -> bytes:
        chunk, self._inbox = self._inbox[:count], self._inbox[count:]
        return chunk

    def assert_consumed(self) -> None:
        if self._pos != len(self._steps) or self._inbox:
            raise ScriptMismatch(f"script not consumed: step {self._pos} of {len(self._steps)}, "
                                 f"{len(self._inbox)} answer bytes unread")
