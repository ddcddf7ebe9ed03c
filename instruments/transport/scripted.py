"""A transport that plays a script: the protocol tests of every lab driver use it.

Each step is `(sent, answer)`; `answer` is None for a write.  The driver must send exactly the
scripted lines, in order, and consume the whole script (pymeasure's `expected_protocol` idea).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from instruments.transport.base import LineTransport

Step = tuple[str, str | None]


class ScriptMismatch(AssertionError):
    """The driver sent something other than the script says, or left part of it unused."""


class ScriptedTransport(LineTransport):
    def __init__(self, steps: Sequence[Step], role: str = "scripted") -> None:
        super().__init__(role)
        self._steps = list(steps)
        self._pos = 0
        self._pending: str | None = None

    def _next(self, line: str) -> str | None:
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
        return answer

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
