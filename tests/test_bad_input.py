"""Garbage on the wire never crashes anything: drivers turn it into an operation error naming the
instrument, and the simulated instruments answer with an error instead of dying."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from instruments.cp_emulator import WbrCpEmulator
from instruments.power_analyser import YokogawaWT
from instruments.transport.scripted import expected_protocol
from core.errors import InstrumentOperationError
from sim.lab import VirtualLab
from tests.ports import said

printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


@settings(max_examples=300, deadline=None)
@given(answer=printable)
def test_cp_driver_edge_parser_survives_any_answer(answer: str) -> None:
    with expected_protocol([("CAP:READ?", answer)]) as t:
        try:
            edges = WbrCpEmulator(t).read_edges()
        except InstrumentOperationError as exc:
            assert exc.role == "scripted"
        else:
            assert all(isinstance(e.t_s, float) for e in edges)


@settings(max_examples=300, deadline=None)
@given(answer=printable)
def test_analyser_driver_survives_any_answer(answer: str) -> None:
    with expected_protocol([(":NUMERIC:NORMAL:VALUE?", answer)]) as t:
        try:
            YokogawaWT(t).read()
        except InstrumentOperationError:
            pass


@pytest.fixture(scope="module")
def lab():
    lab = VirtualLab(seed=1, knobs={})
    yield lab
    lab.stop()


@settings(max_examples=300, deadline=None)
@given(line=printable)
def test_simulated_instruments_answer_garbage_without_dying(lab: VirtualLab, line: str) -> None:
    for name in ("cp", "clock", "source", "analyser", "load1"):
        with lab.world.lock:
            answer = lab.frontends[name].handle(line)
        assert answer is None or isinstance(answer, str)
    assert said(lab.frontends["cp"], "*IDN?").startswith("WALLBOX-RIG")


@pytest.mark.parametrize("frontend, line", [("clock", "ADV inf"), ("clock", "ADV nan"), ("clock", "ADV -1"),
                                            ("cp", "RES inf"), ("cp", "RES nan"), ("cp", "PP -3"), ("cp", "PP nan")])
def test_non_finite_numbers_are_refused(lab: VirtualLab, frontend: str, line: str) -> None:
    before = lab.world.now
    assert lab.frontends[frontend].handle(line) == "ERR 3 bad number"
    assert lab.world.now == before
