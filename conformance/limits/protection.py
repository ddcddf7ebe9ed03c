"""The schema of protection.toml, beside it: which entries the file holds and of which kind."""

from __future__ import annotations

from dataclasses import dataclass

from core.limits import AtMost, Count


@dataclass(frozen=True)
class ProtectionLimits:
    """conformance/limits/protection.toml: residual current, welding, recovery."""

    rcd_ac_trip_time_1x: AtMost
    rcd_ac_trip_time_2x: AtMost
    rcd_ac_trip_time_5x: AtMost
    rcd_dc_trip_time: AtMost
    interruptions_below_the_band: Count
    closures_after_recovery: Count
    offers_while_welded: Count
