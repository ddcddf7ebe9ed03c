"""Control-pilot electrics: the EVSE's generator behind 1 kΩ, the vehicle's resistors and diode.

Circuit per IEC 61851-1 Annex A (values as the Siemens TM ECC manual and EVerest reproduce them:
R_gen 1 kΩ, R3 2740 Ω, R2 1300 Ω for C, 270 Ω for D); the vehicle diode conducts only on the positive half.
"""

from __future__ import annotations

from dataclasses import dataclass

R_GENERATOR_OHM = 1000.0
DIODE_DROP_V = 0.7
R3_OHM = 2740.0
R2_C_OHM = 1300.0
R2_D_OHM = 270.0


def parallel(*ohms: float) -> float:
    return 1.0 / sum(1.0 / r for r in ohms)


VEHICLE_STATE_OHM: dict[str, float | None] = {
    "A": None,
    "B": R3_OHM,
    "C": parallel(R3_OHM, R2_C_OHM),
    "D": parallel(R3_OHM, R2_D_OHM),
}


@dataclass
class Vehicle:
    """What the CP/PP emulator board has switched in."""

    state: str = "A"
    r_ohm: float | None = None  # None: open circuit (unplugged)
    diode_ok: bool = True
    shorted: bool = False       # state E: CP tied to PE
    pe_ok: bool = True          # False: the vehicle's PE return is broken, so its resistors float
    pp_ohm: float | None = None


@dataclass
class Generator:
    """The EVSE's CP oscillator: off (no supply), dc (+V, x1), pwm (x2) or neg (-V, state F)."""

    mode: str = "off"
    amplitude_v: float = 12.0
    frequency_hz: float = 1000.0
    duty_pct: float = 100.0


def _divide(v_gen: float, vehicle: Vehicle, positive: bool) -> float:
    if vehicle.shorted:
        return 0.0
    r = vehicle.r_ohm
    if r is None or not vehicle.pe_ok:
        return v_gen
    conducts = positive or not vehicle.diode_ok
    if not conducts:
        return v_gen
    drop = DIODE_DROP_V if (positive and vehicle.diode_ok and v_gen > DIODE_DROP_V) else 0.0
    return (v_gen - drop) * r / (r + R_GENERATOR_OHM) + drop


def cp_levels(gen: Generator, vehicle: Vehicle) -> tuple[float, float]:
    """(high, low) CP voltage as a scope on CP-PE would read them."""
    if gen.mode == "off":
        return 0.0, 0.0
    if gen.mode == "neg":
        v = _divide(-gen.amplitude_v, vehicle, positive=False)
        return v, v
    high = _divide(gen.amplitude_v, vehicle, positive=True)
    if gen.mode == "dc":
        return high, high
    return high, _divide(-gen.amplitude_v, vehicle, positive=False)
