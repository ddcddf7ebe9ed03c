"""Transports stay in step with their instrument even when an exchange is cut short."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from instruments.transport.factory import open_line_transport
from sim.lab import VirtualLab


@pytest.fixture
def lab() -> Iterator[VirtualLab]:
    virtual = VirtualLab(seed=1, knobs={})
    yield virtual
    virtual.stop()


@pytest.mark.parametrize("endpoint, query, answer_starts", [("cp", "TIME?", "0.000000"),
                                                             ("analyser", "*IDN?", "YOKOGAWA")])
def test_an_interrupted_query_does_not_shift_later_answers(lab: VirtualLab, endpoint: str, query: str,
                                                           answer_starts: str) -> None:
    """Ctrl-C between a query and its answer: the next query (say, the safe state's) must get its own
    answer, not the stale one still in the socket."""
    transport = open_line_transport(endpoint, lab.endpoints[endpoint], {})
    try:
        real_read = transport._read
        transport._read = lambda: (_ for _ in ()).throw(KeyboardInterrupt())  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            transport.query("*IDN?" if endpoint == "cp" else "*OPC?")
        transport._read = real_read  # type: ignore[method-assign]
        assert transport.query(query).startswith(answer_starts)
    finally:
        transport.close()
