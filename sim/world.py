"""Discrete-event world on virtual time: events run only when a client advances the clock."""

from __future__ import annotations

import heapq
import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(order=True)
class Event:
    t_s: float
    seq: int
    action: Callable[[], object] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class Timers:
    """Named one-shot timers on a world, as firmware keeps them: starting one that runs restarts it."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._events: dict[str, Event] = {}

    def start(self, name: str, delay_s: float, action: Callable[[], object]) -> None:
        self.stop(name)

        def fire() -> None:
            self._events.pop(name, None)
            action()

        self._events[name] = self.world.schedule(delay_s, fire)

    def stop(self, *names: str) -> None:
        for name in names:
            event = self._events.pop(name, None)
            if event is not None:
                event.cancel()

    def __contains__(self, name: object) -> bool:
        return name in self._events

    def names(self) -> list[str]:
        return list(self._events)


class World:
    """Time, the event queue, the seeded RNG and the journal, behind one lock.

    Every front end takes `lock` for each command, so a command sees the world at one instant
    and a run is reproducible from its seed and its command sequence.
    """

    def __init__(self, seed: int, journal_path: str | None = None) -> None:
        self.now = 0.0
        # Journal lines also go to a file as they happen (with host wall time), so a run that is
        # killed still shows what the lab did last, e.g. that the safe state was reached.
        self._sink = open(journal_path, "a", encoding="utf-8") if journal_path else None  # noqa: SIM115
        self.rng = random.Random(seed)
        """The instruments' noise: drawn once per reading, so how much of it is used depends on timing."""
        self.dut_rng = random.Random(f"dut:{seed}")
        """The simulated firmware's own entropy (its random delays), apart from the instruments', so a
        draw does not depend on how many readings came before it."""
        self.bench_rng = random.Random(f"bench:{seed}")
        """How the bench's own parts came out of their tolerances (each resistor's value), drawn once when
        the bench is built, apart from the instruments' noise so that building it changes no reading."""
        self.lock = threading.RLock()
        self._queue: list[Event] = []
        self._seq = itertools.count()
        self.journal: list[dict[str, Any]] = []

    def reseed(self, seed: int) -> None:
        """Draw from here on as a lab started with `seed` would (the same generator object, so every
        part holding it follows)."""
        with self.lock:
            self.rng.seed(seed)
            self.dut_rng.seed(f"dut:{seed}")
            self.record("reseed", seed=seed)

    def schedule(self, delay_s: float, action: Callable[[], object]) -> Event:
        event = Event(self.now + max(0.0, delay_s), next(self._seq), action)
        heapq.heappush(self._queue, event)
        return event

    def advance(self, seconds: float) -> float:
        return self.advance_to(self.now + seconds)

    def advance_to(self, t_s: float) -> float:
        with self.lock:
            while self._queue and self._queue[0].t_s <= t_s:
                event = heapq.heappop(self._queue)
                if event.cancelled:
                    continue
                self.now = max(self.now, event.t_s)
                event.action()
            self.now = max(self.now, t_s)
            return self.now

    def record(self, event: str, **data: Any) -> None:
        entry = {"t_s": self.now, "event": event, **data}
        self.journal.append(entry)
        if self._sink is not None and not self._sink.closed:
            self._sink.write(json.dumps({**entry, "wall_s": time.time()}, default=str) + "\n")
            self._sink.flush()

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
