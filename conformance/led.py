"""Watching the LED bar: a recording of the four segments, classified, kept as a timeline strip.
Shared by the LED family and the access-control tests (the bar after a refused card)."""

from __future__ import annotations

from conformance.limits import LIMITS
from fixtures.evidence import Evidence, step
from instruments.led import LedSensor
from instruments.led.classifier import SegmentState, classify
from core.uncertainty import times
from rig.clock import Clock


def observe(led: LedSensor, clock: Clock, evidence: Evidence, name: str, seconds: float | None = None) -> list[SegmentState]:
    window = seconds if seconds is not None else LIMITS.rig.led_observation.value
    with step("measure", f"record the LED bar for {window:g} s ({name})"):
        samples = led.record(window, LIMITS.rig.led_sample_rate.value, clock)
    states = classify(samples)
    evidence.led_timeline(name, [(s.t_s, list(s.rgb)) for s in samples], [s.describe() for s in states])
    for state in states:
        if state.frequency_hz:
            evidence.record(f"{state.segment} {state.pattern} rate", state.frequency_hz, "Hz",
                            u=times(state.period_u_s, state.frequency_hz ** 2))   # ΔF = F² · ΔT
    return states
