"""Statistics for randomised behaviour, on `scipy.stats`: the one-sample Kolmogorov-Smirnov test
against a uniform distribution, the checks that tell a random delay from a degenerate one, and the
power a number of trials buys.

Power of a range check: a DUT whose true range reaches past one end of the declared range by a
share `s` of that range draws, per trial, a value outside it with p = s / (1 + s) (uniform over
its own range).  A check of the extreme over n trials catches it unless all n miss:
power = P(Binomial(n, p) >= 1).  The trial count for a target power is the smallest n reaching it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from types import ModuleType

EXACT_KS_UP_TO = 10_000
"""Above this many samples the KS p-value comes from the asymptotic distribution (scipy's exact
one gets slow and is then indistinguishable from it)."""


@cache
def _scipy_stats() -> ModuleType:
    """scipy.stats, imported when first needed: it takes most of a second, which a parallel
    virtual lab that runs no statistical test should not pay."""
    from scipy import stats

    return stats


@dataclass(frozen=True)
class KsResult:
    d: float
    p_value: float
    n: int
    method: str


def ks_uniform(samples: Sequence[float], low: float, high: float) -> KsResult:
    """How far the empirical CDF of `samples` strays from uniform [low, high], and how likely that
    is for uniform draws (exact distribution of the statistic where n allows)."""
    if len(samples) == 0 or high <= low:
        raise ValueError("the KS test needs samples and a non-empty interval")
    method = "exact" if len(samples) <= EXACT_KS_UP_TO else "asymp"
    sps = _scipy_stats()
    result = sps.kstest(list(samples), sps.uniform(loc=low, scale=high - low).cdf, method=method)
    return KsResult(float(result.statistic), float(result.pvalue), len(samples), method)


def miss_probability(share: float) -> float:
    """Per trial, the chance a DUT whose range overshoots one end by `share` of the declared range
    draws outside the declared range."""
    if share <= 0:
        raise ValueError(f"the share of the range a bound is off by must be positive, not {share}")
    return share / (1.0 + share)


def detection_power(trials: int, share: float) -> float:
    """Probability that `trials` trials catch a bound that is off by `share` of the declared range."""
    return float(_scipy_stats().binom.sf(0, trials, miss_probability(share)))


def trials_for_power(share: float, power: float) -> int:
    """The smallest number of trials whose `detection_power` for `share` reaches `power`."""
    if not 0 < power < 1:
        raise ValueError(f"a target power must lie strictly between 0 and 1, not {power}")
    n = math.ceil(math.log1p(-power) / math.log1p(-miss_probability(share)))
    while n > 1 and detection_power(n - 1, share) >= power:  # guard the float rounding either way
        n -= 1
    while detection_power(n, share) < power:
        n += 1
    return n


def distinct_values(samples: Sequence[float], resolution: float) -> int:
    """How many different values the samples take at the measurement's resolution."""
    return len({round(x / resolution) for x in samples})


def ecdf(samples: Sequence[float]) -> list[tuple[float, float]]:
    """Step points (x, F(x)) of the empirical CDF."""
    xs = sorted(samples)
    return [(x, (i + 1) / len(xs)) for i, x in enumerate(xs)]
