"""A street of simulated wallboxes on one feeder, after one outage: why the cold-load delay exists.

K wallboxes, each charging a vehicle, lose the mains together; when it returns, each restarts
after its own random delay, so the feeder's current climbs over the delay range instead of
stepping to the full load at once.  The same fleet without the delay shows the step.  A planning
view for the people who size feeders, not a conformance verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sim.cp_circuit import VEHICLE_STATE_OHM
from sim.params import Knobs
from sim.plant import Plant
from sim.wallbox import SimulatedWallbox
from sim.world import World

SETTLE_S = 300.0
"""From the first power-up until every vehicle charges (the first power-up draws a delay too)."""


@dataclass(frozen=True)
class FleetCurve:
    label: str
    points: list[tuple[float, float]]   # (s since the mains returned, feeder current on L1 in A)

    @property
    def peak_a(self) -> float:
        return max(a for _, a in self.points)

    def steepest_rise_a(self, window_s: float = 1.0) -> float:
        """The largest increase of the feeder current within any `window_s`: what the grid must absorb."""
        return max((a2 - a1 for t1, a1 in self.points for t2, a2 in self.points if 0 < t2 - t1 <= window_s + 1e-9),
                   default=0.0)

    def time_to_fraction_s(self, fraction: float) -> float:
        """When the feeder current first reached `fraction` of its final value."""
        target = fraction * self.points[-1][1]
        return next(t for t, a in self.points if a >= target - 1e-9)


def fleet_restart(count: int, overrides: Mapping[str, object], label: str, vehicle_a: float = 16.0,
                  outage_s: float = 2.0, horizon_s: float = 180.0, step_s: float = 0.5) -> FleetCurve:
    if count < 1:
        raise ValueError(f"a fleet needs at least one wallbox, not {count}")
    knobs = Knobs.resolve(overrides)
    world = World(knobs.dut.seed, None)
    plants = []
    for _ in range(count):
        plant = Plant(world, knobs.dut.phases, knobs.dut.pp_resistance_ohm)
        SimulatedWallbox(world, plant, knobs)
        plant.vehicle.state, plant.vehicle.r_ohm = "C", VEHICLE_STATE_OHM["C"]
        plant.load.on = [True] * 3
        plant.load.current_a = [vehicle_a] * 3
        plant.mains.on = True
        plant.changed()
        plants.append(plant)
    world.advance(SETTLE_S)

    def mains(on: bool) -> None:
        for plant in plants:
            plant.mains.on = on
            plant.changed()

    mains(False)
    world.advance(outage_s)
    mains(True)
    t_back = world.now
    points = []
    while world.now - t_back <= horizon_s + 1e-9:
        points.append((world.now - t_back, sum(plant.phase_current_a(0) for plant in plants)))
        world.advance(step_s)
    return FleetCurve(label, points)


def compare(count: int, overrides: Mapping[str, object], vehicle_a: float = 16.0) -> list[FleetCurve]:
    """The fleet as configured, and the same fleet restarting without any delay."""
    with_delay = fleet_restart(count, overrides, "random cold-load delay", vehicle_a)
    no_delay = fleet_restart(count, {**overrides, "cold_load_min_s": 0, "cold_load_max_s": 0},
                             "no delay", vehicle_a)
    return [with_delay, no_delay]
