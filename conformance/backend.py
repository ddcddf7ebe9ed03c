"""Shared steps of the backend families: the OCPP conversation held against the instruments.

The backend stamps each frame on the rig clock; the CP board stamps its edges on its own
timebase.  `board_offset` measures the one against the other once per test, so a status can be
placed among the edges it must agree with (in the virtual lab both are the world's time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from conformance.limits import LIMITS
from conformance.session import start_charging
from core.errors import PreconditionError
from core.profile import Ocpp
from core.uncertainty import combined, expanded_u, times
from instruments.ac_load import AcLoad
from instruments.backend import Backend, StatusReport
from instruments.cp_emulator import CpEmulator
from instruments.power_analyser import PowerAnalyser
from rig.clock import Clock
from rig.rig import Rig

INF = float("inf")


def energy_u_pct(analyser: PowerAnalyser, wh: float, seconds: float, phases: int) -> float | None:
    """U (k = 2) of an energy the analyser integrated, in % of it: what a "% error against the analyser"
    verdict carries."""
    return times(analyser.u_wh(wh, seconds, phases), 100.0 / wh) if wh > 0 else INF


def stamp_resolution_s(timestamp: str) -> float:
    """The resolution of a charge point's ISO 8601 stamp: 1 s, or its last fractional digit."""
    seconds = timestamp.rstrip("Z").split("+")[0].split("T")[-1]
    return 10.0 ** -len(seconds.split(".")[1]) if "." in seconds else 1.0


def ocpp_of(rig: Rig) -> Ocpp:
    """The profile's OCPP promises; a profile without them has had its backend tests skipped."""
    if rig.profile.ocpp is None:
        raise PreconditionError(f"profile {rig.profile.id} declares no [ocpp] table")
    return rig.profile.ocpp


@dataclass(frozen=True)
class Offset:
    """CP board time minus rig time.  The board's clock was read somewhere between two readings of
    the rig's: `width_s` apart (0 in the virtual lab, a query's round trip on a bench)."""

    s: float
    width_s: float

    def delay_u_s(self, cp: CpEmulator) -> float:
        """U (k = 2) of a delay from a CP edge to a frame the backend stamped: the edge's stamp grid and
        where in `width_s` the board was read.  A frame is stamped when it arrives, so the network's
        latency only lengthens the delay judged: conservative against a latest-by limit."""
        return combined(cp.interval_u_s, expanded_u(self.width_s))


def board_offset(cp: CpEmulator, clock: Clock) -> Offset:
    """CP board time minus rig time (the clock read on either side of the board's)."""
    before = clock.now()
    board = cp.time()
    after = clock.now()
    return Offset(board - (before + after) / 2.0, after - before)


def status_after(reports: Iterable[StatusReport], offset: Offset, after_s: float, *statuses: str
                 ) -> StatusReport | None:
    """The first report of one of `statuses` whose board time is at or after `after_s`."""
    return next((r for r in reports if r.status in statuses and r.t_s + offset.s >= after_s - 1e-9), None)


def delay_to(report: StatusReport | None, offset: Offset, since_s: float) -> float:
    return INF if report is None else report.t_s + offset.s - since_s


def watch_status(clock: Clock, ocpp: Ocpp) -> None:
    """Give the DUT its status latency (times the rig's factor) to report."""
    clock.sleep(ocpp.status_within_s.high * LIMITS.ocpp.status_observation_factor.value)


def open_transaction(backend: Backend, since_s: float) -> int | str:
    """The id of the transaction the DUT started since `since_s` and has not stopped."""
    running = [tx for tx in backend.transactions(since_s) if tx.t_stop_s is None]
    if not running:
        raise PreconditionError("the DUT started no transaction the backend knows of: nothing to stop")
    return running[-1].transaction_id


def utc_text(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def absolute_profile(purpose: str, level: int, start: datetime, periods: list[tuple[float, float]],
                     profile_id: int, valid_to: datetime | None = None, duration_s: float | None = None
                     ) -> dict[str, Any]:
    """A charging profile (OCPP 1.6 §7.8) in A: `periods` are (offset s from `start`, limit A)."""
    schedule: dict[str, Any] = {"chargingRateUnit": "A", "startSchedule": utc_text(start),
                                "chargingSchedulePeriod": [{"startPeriod": int(o), "limit": float(a)}
                                                           for o, a in periods]}
    if duration_s is not None:
        schedule["duration"] = int(duration_s)
    profile: dict[str, Any] = {"chargingProfileId": profile_id, "stackLevel": level,
                               "chargingProfilePurpose": purpose, "chargingProfileKind": "Absolute",
                               "chargingSchedule": schedule}
    if valid_to is not None:
        profile["validTo"] = utc_text(valid_to)
    return profile


def whole_second(when: datetime) -> datetime:
    """The next whole second (profiles carry whole seconds)."""
    return when.replace(microsecond=0) + timedelta(seconds=1)


def charge_at_meter_draw(cp: CpEmulator, load: AcLoad, clock: Clock) -> float:
    """The vehicle drawing the rig's metering draw and charging; when the contactor closed."""
    load.set_current(LIMITS.ocpp.meter_draw.value)
    load.set_on(True)
    return start_charging(cp, clock)


def judges_the_meter(test: Callable[..., None]) -> Callable[..., None]:
    """A test that holds the DUT's metered energy against the analyser's: a meter reading 5 % high
    (or, on the MINI, 5 % low) fails it."""
    for mark in (pytest.mark.red_on("ocpp_meter_gain=1.05"),
                 pytest.mark.red_on("ocpp_meter_gain=0.95", profile="mini-wallbox-plus")):
        test = mark(test)
    return test
