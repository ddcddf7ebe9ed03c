"""Loopback ports for tests that start a served virtual lab on fixed ports."""

from __future__ import annotations

import random
import socket

from sim.server import FrontEnd


def free_port_block(count: int, rng: random.Random | None = None) -> int:
    """The first of `count` consecutive free loopback ports, below the ephemeral range (32768 on),
    so no client connection (or its TIME_WAIT) of a busy machine takes one."""
    rng = rng or random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 32_000 - count)
        try:
            for port in range(base, base + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError(f"no run of {count} free loopback ports below 32768")


def said(frontend: FrontEnd, line: str) -> str:
    """A simulated instrument's answer to `line` as text (the line front ends answer `str`; a binary block
    or no answer here is the test's mistake)."""
    answer = frontend.handle(line)
    assert isinstance(answer, str), f"{line!r}: {answer!r} is not a text answer"
    return answer
