"""Why the simulated firmware went to state F, and what its OCPP side reports for it.

A fault is a record, not a sentence: the firmware logs its text, the charge point reports its
`ChargePointErrorCode` (OCPP 1.6 §7.6) without reading the text.  Written from the firmware's side:
each kind is what a wallbox's supervision distinguishes (residual current and an open earth are
ground faults, a welded contactor a power-switch failure, a vehicle that breaks the pilot protocol
an EV communication error).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    text: str
    """What the firmware logs (the journal's `evse_fault` reason, StatusNotification's `info`)."""
    ocpp_error: str
    """The ChargePointErrorCode a StatusNotification carries while the fault lasts."""


def residual_current(channel: str, flowing_ma: float) -> Fault:
    return Fault(f"{channel.upper()} residual current {flowing_ma:.2f} mA", "GroundFailure")


def pe_interrupted() -> Fault:
    return Fault("supply PE interrupted", "GroundFailure")


def welded() -> Fault:
    return Fault("contactor welded: output live with the contactor open", "PowerSwitchFailure")


def over_voltage(phase: int, volts: float) -> Fault:
    return Fault(f"over-voltage on L{phase}: {volts:.1f} V", "OverVoltage")


def under_voltage(phase: int, volts: float) -> Fault:
    return Fault(f"under-voltage on L{phase}: {volts:.1f} V", "UnderVoltage")


def supply_frequency(hz: float) -> Fault:
    return Fault(f"supply frequency {hz:.2f} Hz", "OtherError")


def outside_rated_supply(nominal_v: float) -> Fault:
    return Fault(f"installation at {nominal_v:g} V nominal is outside the rated supply", "OtherError")


def overcurrent() -> Fault:
    return Fault("vehicle draws more than offered", "OverCurrentFailure")


def diode_missing() -> Fault:
    return Fault("vehicle diode missing or shorted", "EVCommunicationError")


def cp_negative_low() -> Fault:
    return Fault("CP below -1.5 V", "EVCommunicationError")
