"""Statistics for randomised behaviour: the one-sample Kolmogorov-Smirnov test against a uniform
distribution, and the checks that tell a random delay from a degenerate one.

KS p-value: the asymptotic Kolmogorov distribution Q(lambda) = 2 sum_{j>=1} (-1)^(j-1) exp(-2 j^2 lambda^2)
with Stephens' small-sample correction lambda = (sqrt(n) + 0.12 + 0.11/sqrt(n)) D (M. A. Stephens,
"Use of the Kolmogorov-Smirnov, Cramer-Von Mises and related statistics without extensive tables",
J. R. Stat. Soc. B 32 (1970)); good to a few per cent for n >= 10, which is all a verdict needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class KsResult:
    d: float
    p_value: float
    n: int


def ks_uniform(samples: Sequence[float], low: float, high: float) -> KsResult:
    """How far the empirical CDF of `samples` strays from uniform [low, high]."""
    xs = sorted(samples)
    n = len(xs)
    if n == 0 or high <= low:
        raise ValueError("the KS test needs samples and a non-empty interval")
    d = 0.0
    for i, x in enumerate(xs):
        f = min(1.0, max(0.0, (x - low) / (high - low)))
        d = max(d, (i + 1) / n - f, f - i / n)
    root = math.sqrt(n)
    return KsResult(d, kolmogorov_q((root + 0.12 + 0.11 / root) * d), n)


def kolmogorov_q(lam: float) -> float:
    """P(K > lam) for the Kolmogorov distribution."""
    if lam < 0.2:
        return 1.0
    total = sum((-1) ** (j - 1) * math.exp(-2.0 * j * j * lam * lam) for j in range(1, 101))
    return min(1.0, max(0.0, 2.0 * total))


def distinct_values(samples: Sequence[float], resolution: float) -> int:
    """How many different values the samples take at the measurement's resolution."""
    return len({round(x / resolution) for x in samples})


def spread(samples: Sequence[float]) -> float:
    """Sample standard deviation (0 for fewer than two samples)."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean = sum(samples) / n
    return math.sqrt(sum((x - mean) ** 2 for x in samples) / (n - 1))


def ecdf(samples: Sequence[float]) -> list[tuple[float, float]]:
    """Step points (x, F(x)) of the empirical CDF."""
    xs = sorted(samples)
    return [(x, (i + 1) / len(xs)) for i, x in enumerate(xs)]
