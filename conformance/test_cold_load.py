"""Cold-load pickup (WB-CL-01): after a power outage, a random delay before charging restarts, so
that a street of wallboxes does not draw its full load at the same instant.

Each trial: the vehicle charges (C2); the AC source cuts the mains for the rig's outage time and
restores it; the CP board stamps, on its own clock, the mains coming back (a board reading taken
just before the source command), the DUT's CP generator coming back (firmware up, reading the
vehicle), its PWM offer and the contactor closing.  The **delay** judged is the time the DUT,
up and seeing the vehicle, withholds its offer (offer - generator back): its boot is not part of a
wait it cannot serve while off, and the restart from mains back (boot included) is in the trial
table too.  Delays are compared at the rig's timing resolution (10 ms).

The manual promises 1-120 s and "random"; it names no distribution, so the Kolmogorov-Smirnov
test against uniform is reported (histogram, empirical CDF) and judged only where the profile
declares `cold_load.distribution = "uniform"`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from conformance.injection import BOOT_ALLOWANCE_S, INF, outage, restart_within_s
from conformance.limits import Limit, limit
from conformance.session import start_charging
from conformance.stats import distinct_values, ks_uniform
from fixtures.evidence import ConformanceFailure, Evidence
from fixtures.progress import progress
from fixtures.timing import count_edges, first_edge, markers, pulses
from instruments.ac_source import AcSource
from instruments.cp_emulator import CpEmulator
from instruments.types import Edge
from rig.clock import Clock
from rig.rig import Rig

pytestmark = [pytest.mark.needs("cp", "source"),
              pytest.mark.requirement(wb_id="WB-CL-01", clause="product manual: cold-load pickup after a power outage")]

GENERATOR_UP_V = 3.0
"""A CP high level above this after an outage: the DUT's generator is back (state C reads 6 V)."""
POLL_S = 10.0
"""How often the rig looks whether charging restarted; the times come from edges, not from this."""
REPEATED_OUTAGES = 3


@dataclass(frozen=True)
class Restart:
    """One outage and what the CP board stamped after the mains came back (INF: never came)."""

    t_back: float
    t_up: float
    t_offer: float
    t_closed: float

    @property
    def delay_s(self) -> float:
        return self.t_offer - self.t_up

    @property
    def restart_s(self) -> float:
        return self.t_closed - self.t_back


def delay_range(rig: Rig) -> tuple[float, float]:
    low, high = (float(v) for v in rig.profile.value("cold_load.delay_range_s"))
    return low, high


def generator_up(edges: list[Edge], after_s: float) -> float:
    for edge in sorted(edges, key=lambda e: e.t_s):
        if edge.channel == "CPH" and edge.t_s >= after_s and float(edge.value) > GENERATOR_UP_V:
            return edge.t_s
    return INF


def restart_after(cp: CpEmulator, clock: Clock, t_back: float, timeout_s: float) -> Restart:
    """Wait (polling) for the contactor after the mains came back at board time `t_back`."""
    clock.wait_until(lambda: cp.output_present().value == 1, timeout_s, poll_s=POLL_S)
    edges = cp.read_edges()
    offer = first_edge(edges, "PWM", "1", t_back)
    closed = first_edge(edges, "OVP", "1", t_back)
    return Restart(t_back, generator_up(edges, t_back), offer.t_s if offer else INF, closed.t_s if closed else INF)


def trials(rig: Rig, config: pytest.Config) -> list[Restart]:
    """The rig's number of outage trials while charging; run once per session, judged by several tests."""
    cache = config.stash.setdefault(_TRIALS, {})
    if id(rig) in cache:
        return cache[id(rig)]
    cp, source, clock = rig.cp, rig.source, rig.clock
    low, high = delay_range(rig)
    timeout = restart_within_s(rig)
    outage_s = limit("rig", "mains_outage").high or 2.0
    count = rig.config.suite.cold_load_trials
    out: list[Restart] = []
    start_charging(cp, clock)
    with progress(config, clock, "cold-load trials", count, count * (outage_s + 10.0 + (low + high) / 2)) as bar:
        for _ in range(count):
            cp.start_capture()
            restart = restart_after(cp, clock, outage(cp, source, clock), timeout)
            out.append(restart)
            bar.step(f"last delay {restart.delay_s:.2f} s")
            if restart.t_closed == INF:
                break  # it did not restart: the next trial would not start from charging
    cache[id(rig)] = out
    return out


_TRIALS = pytest.StashKey[dict[int, list[Restart]]]()


def keep_trials(evidence: Evidence, runs: list[Restart], low: float, high: float) -> list[float]:
    delays = [r.delay_s for r in runs]
    evidence.distribution("cold-load delay", [d for d in delays if d != INF], "s", (low, high))
    evidence.series("cold-load trials", {"delay, generator back to offer (s)": [(r.t_back, r.delay_s) for r in runs
                                                                                  if r.delay_s != INF],
                                         "restart, mains back to contactor closed (s)":
                                             [(r.t_back, r.restart_s) for r in runs if r.restart_s != INF]},
                    bands={"delay, generator back to offer (s)": (low, high)})
    return delays


def test_every_restart_delay_lies_in_the_declared_range(rig: Rig, cp: CpEmulator, source: AcSource,
                                                        request: pytest.FixtureRequest, evidence: Evidence) -> None:
    """Over the rig's trials, the shortest delay is at least the range's start and the longest at most its end."""
    low, high = delay_range(rig)
    runs = trials(rig, request.config)
    delays = keep_trials(evidence, runs, low, high)
    evidence.parameters["trials"] = len(runs)
    source_note = f"DUT profile {rig.profile.id}: cold_load.delay_range_s = [{low:g}, {high:g}]"
    evidence.check("shortest cold-load delay", min(delays), Limit("cold_load_shortest", low, None, "s", "WB-CL-01",
                                                                    source_note))
    evidence.check("longest cold-load delay", max(delays), Limit("cold_load_longest", None, high, "s", "WB-CL-01",
                                                                   source_note))


def test_restart_delays_are_random(rig: Rig, cp: CpEmulator, source: AcSource, request: pytest.FixtureRequest,
                                   evidence: Evidence) -> None:
    """The delays are not degenerate: they take many different values (a fixed delay, a handful of
    values, or a PRNG seeded alike at every boot gives few), and their distribution is reported
    against uniform over the declared range (judged where the profile declares it uniform)."""
    low, high = delay_range(rig)
    runs = trials(rig, request.config)
    delays = [d for d in keep_trials(evidence, runs, low, high) if d != INF]
    if len(delays) < len(runs):
        raise ConformanceFailure(f"precondition: charging did not restart after outage {len(delays) + 1}")
    resolution = limit("rig", "cold_load_resolution").high or 0.01
    evidence.parameters["trials"] = len(runs)
    evidence.check(f"different delays at {resolution * 1000:g} ms over {len(delays)} trials",
                   distinct_values(delays, resolution), limit("rig", "cold_load_min_distinct"))
    ks = ks_uniform(delays, low, high)
    evidence.record("KS distance to uniform", ks.d, "", note=f"n = {ks.n}")
    declared = rig.profile.data.get("cold_load", {}).get("distribution")
    if declared == "uniform":
        evidence.check(f"KS p-value against uniform [{low:g}, {high:g}] s", ks.p_value, limit("rig", "cold_load_uniform_p"))
    else:
        evidence.record(f"KS p-value against uniform [{low:g}, {high:g}] s", ks.p_value, "",
                        note="informative: the profile declares no distribution")


def test_outages_during_the_delay_each_restart_the_wait(rig: Rig, cp: CpEmulator, source: AcSource, clock: Clock,
                                                        evidence: Evidence) -> None:
    """Power cut again and again just as the DUT is back up and waiting: no closing in between, and
    after the last return the DUT again waits a delay inside the declared range."""
    low, high = delay_range(rig)
    timeout = restart_within_s(rig)
    start_charging(cp, clock)
    t_first = cp.time()
    for _ in range(REPEATED_OUTAGES):
        outage(cp, source, clock)
        if not clock.wait_until(lambda: cp.measure_cp().high_v > GENERATOR_UP_V, BOOT_ALLOWANCE_S, poll_s=0.1):
            raise ConformanceFailure(f"the DUT did not come back within {BOOT_ALLOWANCE_S:g} s of the mains")
    t_last = outage(cp, source, clock)
    last = restart_after(cp, clock, t_last, timeout)
    edges = cp.read_edges()
    evidence.trace("repeated outages", edges, markers(first_outage=t_first, last_mains_back=t_last,
                                                      generator_back=last.t_up, offer=last.t_offer,
                                                      contactor_closed=last.t_closed))
    evidence.check("contactor closings between the first outage and the last return",
                   count_edges(edges, "OVP", "1", t_first, t_last),
                   Limit("no_restart_between_outages", 0, 0, "", "WB-CL-01", "each power-up starts a new delay"))
    evidence.check("delay after the last of repeated outages", last.delay_s,
                   Limit("cold_load_range", low, high, "s", "WB-CL-01",
                         f"DUT profile {rig.profile.id}: cold_load.delay_range_s"), t_s=last.t_up)


def test_short_dip_is_ridden_through_without_a_restart(rig: Rig, cp: CpEmulator, source: AcSource, clock: Clock,
                                                       evidence: Evidence) -> None:
    """A dip shorter than the DUT's hold-up (the profile's ride-through) is no outage: the output
    is live again right after it, with no reboot and no cold-load delay."""
    if not source.timed_dropout:
        pytest.skip(f"the rig's source ({type(source).__name__}) cannot time a dip itself; ametek-lx can")
    dip_s = float(rig.profile.value("cold_load.ride_through_ms")) / 1000.0
    allowance = limit("rig", "dip_recovery")
    assert allowance.high is not None
    evidence.parameters["dip_ms"] = dip_s * 1000
    start_charging(cp, clock)
    t_dip = cp.time()
    source.dropout(dip_s)
    clock.sleep(BOOT_ALLOWANCE_S)
    edges = cp.read_edges()
    dead = pulses(edges, "OVP", "0", t_dip, cp.time())
    longest = max((end - start for start, end in dead), default=0.0)
    evidence.trace("dip", edges, markers(dip=t_dip), window=(t_dip, t_dip + dip_s + allowance.high))
    evidence.check(f"longest dead output after a {dip_s * 1000:g} ms dip", longest,
                   Limit("dip_ride_through", None, dip_s + allowance.high, "s", "WB-CL-01",
                         f"DUT profile {rig.profile.id}: cold_load.ride_through_ms + {allowance.source}"), t_s=t_dip)
