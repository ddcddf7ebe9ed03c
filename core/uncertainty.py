"""Expanded uncertainty from what a datasheet states, by the GUM's rules (JCGM 100:2008).

A datasheet gives bounds, not distributions: a resolution, an accuracy "± (x % of reading + y % of
range)", a sampling interval.  Each is taken as a rectangular distribution over its full width w, whose
standard uncertainty is w / √12 (JCGM 100:2008 §4.3.7); independent contributions add in quadrature
(§5.1.2), and the expanded uncertainty is k times the combined one, k = 2 for about 95 % coverage
(§6.2.1)."""

from __future__ import annotations

import math

COVERAGE_K = 2.0
"""The coverage factor every U of the rig is stated with (about 95 % coverage)."""
EXACT = 0.0
"""U of a count of discrete events (edges, frames, beeps): a count has no spread."""


def expanded_u(*widths: float, k: float = COVERAGE_K) -> float:
    """k · √(Σ wᵢ² / 12) for independent errors, each uniform over a full width wᵢ (a resolution step, a
    sample interval, the span ±a of an accuracy bound, i.e. 2a)."""
    if any(not math.isfinite(w) or w < 0 for w in widths):
        raise ValueError(f"widths must be finite and >= 0, not {widths}")
    return k * math.sqrt(sum(w * w for w in widths) / 12.0)


def interval_u(resolution: float, *more_widths: float) -> float:
    """U of a time between two stamps each quantised to `resolution` (two independent steps), plus any
    further widths (a detection that lags by up to w)."""
    return expanded_u(resolution, resolution, *more_widths)


def lag_u(*lags: float) -> float:
    """U of detections each late (or early) by anything up to wᵢ, on one side and not corrected: the
    error lies in [0, wᵢ], not about the value, so it is stated as ± wᵢ (a full width of 2wᵢ), which
    covers the whole lag; `expanded_u(w)` would cover only w / 2 of it."""
    return expanded_u(*(2.0 * w for w in lags))


def times(u: float | None, factor: float) -> float | None:
    """A U carried through a factor (a ratio, a unit); None (not stated) stays None."""
    return None if u is None else abs(factor) * u


def combined_known(*expanded: float | None) -> float | None:
    """`combined`, or None when any part is not stated: a U is never made smaller by leaving a part out."""
    return None if any(u is None for u in expanded) else combined(*(u for u in expanded if u is not None))


def combined(*expanded: float) -> float:
    """Independent expanded uncertainties, all at the same k, combined in quadrature (JCGM 100:2008 §5.1.2)."""
    if any(not math.isfinite(u) or u < 0 for u in expanded):
        raise ValueError(f"uncertainties must be finite and >= 0, not {expanded}")
    return math.sqrt(sum(u * u for u in expanded))
