"""One clock per rig: real time in the lab, the virtual lab's world time otherwise.

Tests wait only through the clock.  On the virtual lab, `sleep(120)` asks the world to run its
next 120 virtual seconds, which costs microseconds of wall time and is reproducible from the
seed.  Timing *verdicts* never come from here: they come from instrument timestamps.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from instruments.transport.base import LineTransport
from rig import interrupts
from core.errors import InstrumentOperationError, InvalidValue


TIME_RESOLUTION_S = 1e-9
"""The finest time step the rig asks for (the virtual lab's `ADV` takes nanoseconds)."""


@dataclass
class _Watch:
    every_s: float
    callback: Callable[[], object]
    last_s: float


class Clock(ABC):
    virtual: bool = False

    def __init__(self) -> None:
        self._watches: list[_Watch] = []

    @abstractmethod
    def now(self) -> float:
        """Seconds on the rig timebase (monotonic)."""

    @abstractmethod
    def sleep(self, seconds: float) -> None: ...

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float, poll_s: float = 0.01) -> bool:
        """Poll `predicate` every `poll_s` until it holds or `timeout_s` passes; True if it held."""
        if timeout_s < 0 or poll_s <= 0:
            raise InvalidValue(f"wait_until needs timeout_s >= 0 and poll_s > 0, got {timeout_s}, {poll_s}")
        deadline = self.now() + timeout_s
        while True:
            interrupts.check()
            if predicate():
                return True
            remaining = deadline - self.now()
            if remaining <= TIME_RESOLUTION_S:  # a rounding remainder must not spin the loop
                return False
            self.sleep(min(poll_s, remaining))

    def watch(self, every_s: float, callback: Callable[[], object]) -> None:
        """Call `callback` at least every `every_s` of clock time while a wait runs: an instrument whose
        memory rolls (a scope's record) is read before what it holds is overwritten, whatever a test
        waits for.  A wait is cut where a watch falls due.  The same callback watched twice (two roles
        composed on one scope share its recorder) is called once, at the shorter interval."""
        if not every_s > 0:
            raise InvalidValue(f"a watch needs every_s > 0, not {every_s}")
        for w in self._watches:
            if w.callback == callback:
                w.every_s = min(w.every_s, every_s)
                return
        self._watches.append(_Watch(every_s, callback, self.now()))

    def _until_due_s(self) -> float:
        """Clock time until the next watch is due (at least the finest step): a wait is cut there."""
        now = self.now()
        return max(TIME_RESOLUTION_S, min((w.last_s + w.every_s - now for w in self._watches), default=float("inf")))

    def _watched(self) -> None:
        now = self.now()
        for w in self._watches:
            if now - w.last_s >= w.every_s - TIME_RESOLUTION_S:
                w.callback()
                w.last_s = now

    @property
    def resolution_s(self) -> float:
        """How finely this clock stamps (a frame's arrival at the backend is stamped on it): the virtual
        lab's finest step; a lab's monotonic clock says its own."""
        return TIME_RESOLUTION_S

    def reseed(self, seed: int) -> None:
        """Reseed the world's randomness for what follows: only a virtual lab has any to reseed."""

    def reader(self) -> Callable[[], float]:
        """`now` for another thread (the backend stamping frames as they pass): it never waits
        for the thread that steps the clock, whose step may be what sends the frame."""
        return self.now

    def close(self) -> None:
        """Release whatever the clock holds."""


class RealClock(Clock):
    def now(self) -> float:
        return time.monotonic()

    @property
    def resolution_s(self) -> float:
        return max(time.get_clock_info("monotonic").resolution, TIME_RESOLUTION_S)

    CHUNK_S = 0.1
    """A long wait looks for a stop request this often (a signal does not end `time.sleep`)."""

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            interrupts.check()
            self._watched()
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(self.CHUNK_S, self._until_due_s(), remaining))


class VirtualClock(Clock):
    """Drives the virtual lab's world time over its control endpoint (`ADV s`, `TIME?`).

    The lab's clock moves only when its stepper sends `ADV`, and the lab lets one connection step
    it (`ERR 5` to any other), so after the first `TIME?` this clock knows "now" from the answers
    to its own `ADV` and `SEED`: a poll loop costs one round trip a step, not two."""

    virtual = True

    STEP_S = 10.0
    """Longest single `ADV`: the world may do real I/O while it runs (the DUT polling the meter
    emulator, which may be told to stay silent), so one long wait is asked for in steps that
    each answer well within the control line's timeout.  The result is the same world."""

    def __init__(self, transport: LineTransport, reopen: Callable[[], LineTransport] | None = None) -> None:
        super().__init__()
        self._transport = transport
        self._reopen = reopen
        self._readers: list[LineTransport] = []
        self._now = self._ask("TIME?")

    def _ask(self, command: str) -> float:
        answer = self._transport.query(command)
        text = answer[3:] if answer.startswith("OK ") else answer
        try:
            return float(text)
        except ValueError as exc:
            raise InstrumentOperationError("clock", f"{command!r}: unexpected answer {answer!r}") from exc

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise InvalidValue(f"cannot sleep a negative time ({seconds} s)")
        interrupts.check()
        if 0 < seconds < TIME_RESOLUTION_S:
            seconds = TIME_RESOLUTION_S  # asked to wait at all, the world moves: loops on remainders end
        while True:
            step = min(self.STEP_S, self._until_due_s())
            if seconds <= step:
                break
            self._now = self._ask(f"ADV {step:.9f}")
            seconds -= step
            interrupts.check()
            self._watched()
        self._now = self._ask(f"ADV {seconds:.9f}")
        self._watched()

    def reseed(self, seed: int) -> None:
        """Every later random draw of the virtual lab from a generator seeded with `seed`."""
        self._now = self._ask(f"SEED {seed}")

    def reader(self) -> Callable[[], float]:
        """A second connection to the clock endpoint, on which `TIME?` is answered while an `ADV`
        runs (the world's now: the instant of the event being run)."""
        if self._reopen is None:
            raise InstrumentOperationError("clock", "this virtual clock cannot open a second connection")
        transport = self._reopen()
        self._readers.append(transport)
        lock = threading.Lock()

        def now() -> float:
            with lock:
                answer = transport.query("TIME?")
            try:
                return float(answer)
            except ValueError as exc:
                raise InstrumentOperationError("clock", f"TIME?: unexpected answer {answer!r}") from exc
        return now

    def close(self) -> None:
        for transport in self._readers:
            transport.close()
        self._transport.close()
