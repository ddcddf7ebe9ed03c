"""Ctrl-C and SIGTERM, acted on where the rig's own code can stop cleanly.

A signal handler that raises KeyboardInterrupt can land anywhere: in pytest's or allure's
bookkeeping between two tests it broke allure's state, turned every later test into an error and
the run into "not interrupted" (the kill tests caught it).  So the handler only records the
request; the rig raises KeyboardInterrupt itself at its waiting points (every clock wait, and
before it energises the DUT), which a long measurement reaches within a poll.  Between tests,
pytest is asked to stop before the next one starts.
"""

from __future__ import annotations

_requested: int | None = None


def request(signum: int) -> None:
    global _requested
    _requested = signum


def requested() -> int | None:
    return _requested


def clear() -> None:
    global _requested
    _requested = None


def check() -> None:
    """Raise KeyboardInterrupt here, in the rig's code, if a stop was asked for."""
    if _requested is not None:
        raise KeyboardInterrupt(f"signal {_requested}")
