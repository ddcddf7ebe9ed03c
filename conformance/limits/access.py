"""The schema of access.toml, beside it: which entries the file holds and of which kind."""

from __future__ import annotations

from dataclasses import dataclass

from core.limits import AtLeast, Count, Setting


@dataclass(frozen=True)
class AccessLimits:
    """conformance/limits/access.toml: how the suite handles cards, listens for beeps and presses the
    pairing button, and the counts access control fixes (what the manual promises is in the profile)."""

    card_hold: Setting
    card_gap: Setting
    beep_listen: Setting
    watch_without_card: Setting
    offers_without_card: Count
    closures_without_card: Count
    offers_after_ignored_card: Count
    offers_with_access_off: AtLeast
    closures_with_access_off: AtLeast
    beeps_when_refused: Count
    card_tag_mismatches: Count
    pairing_short_hold: Setting
    pairing_late_margin: Setting
    pairing_after_window: Setting
    pairing_reports: Count
    pairing_reports_refused: Count
    one_vehicle_tags: Count
    hlc_sessions: AtLeast
    offers_to_unknown_vehicles: Count
    closures_for_unknown_vehicles: Count
    registration_beeps_with_vehicle: Count
    vehicle_id_tag_mismatches: Count
