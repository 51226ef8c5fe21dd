"""Split-conformal intervals on ln cycles, made to work with right-censored labels.

Held-out (out-of-fold) joints give normalised residuals r = (ln t - mu) / sigma; for a
censored joint r is only a lower bound. Their distribution is estimated with the
Kaplan-Meier estimator, which uses censored residuals correctly under independent
censoring, and the interval is mu + sigma * [q(a/2), q(1 - a/2)]. The same estimator
scores coverage on test joints whose life is only known to exceed a bound.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm


def kaplan_meier(values: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct event values and the estimated CDF just after each (right-censored ``values``)."""
    values, event = np.asarray(values, float), np.asarray(event, bool)
    order = np.lexsort((~event, values))  # at ties, events before censorings (the usual convention)
    values, event = values[order], event[order]
    if not len(values):
        return values, values
    at_risk = len(values) - np.arange(len(values))
    survival = np.cumprod(np.where(event, 1.0 - 1.0 / at_risk, 1.0))
    last_of_value = np.r_[values[1:] != values[:-1], True]  # the CDF after all ties of a value
    return values[last_of_value], 1.0 - survival[last_of_value]


def km_cdf(values: np.ndarray, event: np.ndarray, at: float) -> float:
    """Kaplan-Meier estimate of P(V <= at)."""
    points, cdf = kaplan_meier(values, event)
    i = np.searchsorted(points, at, side="right") - 1
    return float(cdf[i]) if i >= 0 else 0.0


def km_quantile(values: np.ndarray, event: np.ndarray, q: float) -> float | None:
    """Smallest value whose Kaplan-Meier CDF reaches q; None when censoring hides that tail."""
    points, cdf = kaplan_meier(values, event)
    hit = np.nonzero(cdf >= q - 1e-12)[0]
    return float(points[hit[0]]) if len(hit) else None


def conformal_bounds(residuals: np.ndarray, event: np.ndarray, level: float) -> tuple[float, float]:
    """Lower and upper normalised-residual quantiles for a central interval at ``level``.

    The quantile levels carry the usual split-conformal finite-sample correction. Where censoring hides the upper
    tail (the longest lives were not observed to the end), the lower tail is mirrored
    about the Kaplan-Meier median (log-normal residuals are symmetric); where even the
    median is hidden, the model's own normal quantiles are used.
    """
    n = max(len(residuals), 1)
    tail = min(0.5, (1.0 - level) / 2.0)
    # the usual split-conformal ranks: floor((n + 1) a) and ceil((n + 1)(1 - a)) of n
    lo_q = max(math.floor((n + 1) * tail), 1) / n
    hi_q = min(math.ceil((n + 1) * (1.0 - tail)) / n, 1.0)
    lower = km_quantile(residuals, event, lo_q)
    upper = km_quantile(residuals, event, hi_q)
    median = km_quantile(residuals, event, 0.5)
    if lower is None or median is None:
        return float(norm.ppf(tail)), float(norm.ppf(1.0 - tail))
    if upper is None:
        upper = 2.0 * median - lower
    return lower, upper


def coverage_failed(log_t: np.ndarray, event: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of joints with an observed failure whose ln life lies in its interval."""
    e = np.asarray(event, bool)
    return float(np.mean((log_t[e] >= lo[e]) & (log_t[e] <= hi[e]))) if e.any() else float("nan")


def coverage_km(log_t: np.ndarray, event: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Kaplan-Meier estimate of P(lo <= ln T <= hi) over all joints, censored ones included.

    Each joint's position in its own interval, s = (ln t - lo) / (hi - lo), is monotone in
    ln t, so a censored time stays a lower bound on s; coverage is P(0 <= s <= 1).
    """
    width = np.maximum(hi - lo, 1e-12)
    s = (log_t - lo) / width
    if not np.any(event):  # no observed failure: the estimate is undefined, not 0
        return float("nan")
    below = km_cdf(s, event, np.nextafter(0.0, -1.0))
    return float(km_cdf(s, event, 1.0) - below)
