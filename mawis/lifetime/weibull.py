"""Two-parameter Weibull summary of a batch's predicted lives, for reliability engineers.

The fit describes the distribution of the lives the model *predicted* for the joints of
a batch (complete data: every joint has a number, nothing is censored). It is not a fit
to observed failures, so its bounds express sampling uncertainty over the batch's joints,
not the prediction error of the model.

Shape beta and characteristic life eta (the 63.2 % life) are maximum-likelihood
estimates; B_p = eta * (-ln(1 - p))^(1/beta) is the life by which a share p has failed
(B10, B1). Two-sided bounds come from the observed Fisher information of
(ln eta, ln beta) and the delta method. ``median_ranks`` gives the plotting positions of
a Weibull probability plot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import logsumexp
from scipy.stats import norm

from mawis.errors import MawisError

METHOD = "maximum likelihood; Fisher-matrix bounds on log parameters (delta method)"
MIN_LIVES = 3


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its two-sided confidence bounds."""

    value: float
    lo: float
    hi: float

    def to_dict(self) -> dict:
        return {"value": self.value, "lo": self.lo, "hi": self.hi}


@dataclass(frozen=True)
class WeibullFit:
    """Fitted Weibull(beta, eta) with bounds at a two-sided ``level``.

    ``log_cov`` is the covariance of (ln eta, ln beta): the inverse observed Fisher
    information at the estimate. It is kept so that any B_p life gets its own bounds.
    """

    n: int
    level: float
    shape: Estimate
    scale: Estimate
    log_cov: tuple[tuple[float, float], tuple[float, float]]

    def life_at(self, p: float) -> Estimate:
        """B_p life (cycles by which a share p of the population has failed), 0 < p < 1."""
        p = _open_unit(p, "failure share p")
        beta, eta = self.shape.value, self.scale.value
        c = math.log(-math.log1p(-p))
        log_life = math.log(eta) + c / beta
        # delta method: d ln B_p / d(ln eta, ln beta) = (1, -c / beta)
        grad = np.array([1.0, -c / beta])
        se = math.sqrt(max(float(grad @ np.array(self.log_cov) @ grad), 0.0))
        return _log_normal_estimate(log_life, se, self.level)

    @property
    def b10(self) -> Estimate:
        return self.life_at(0.10)

    @property
    def b1(self) -> Estimate:
        return self.life_at(0.01)

    def cdf(self, t: np.ndarray) -> np.ndarray:
        """Share failed by life t at the point estimate (0 for t <= 0)."""
        t = np.maximum(np.asarray(t, float), 0.0)
        return -np.expm1(-((t / self.scale.value) ** self.shape.value))

    def to_dict(self) -> dict:
        return {"n": self.n, "level": self.level, "method": METHOD, "shape": self.shape.to_dict(),
                "characteristic_life": self.scale.to_dict(), "b10": self.b10.to_dict(), "b1": self.b1.to_dict()}


def median_ranks(n: int) -> np.ndarray:
    """Bernard's median-rank plotting positions (i - 0.3) / (n + 0.4), i = 1..n, for sorted lives."""
    if n < 0:
        raise MawisError(f"number of lives must be >= 0 (got {n})")
    return (np.arange(1, n + 1) - 0.3) / (n + 0.4)


def fit_weibull(lives, level: float = 0.9) -> WeibullFit:
    """Maximum-likelihood Weibull fit of complete (uncensored) lives, bounds at a two-sided ``level``."""
    level = _open_unit(level, "confidence level")
    log_t = np.log(_clean_lives(lives))
    n = len(log_t)
    # Standardise ln t: the fit is then the same problem whatever the unit or spread of
    # the lives (1e3..1e5 cycles, or 1e-300), and the shape to solve for is of order 1.
    centre, spread = float(np.mean(log_t)), float(np.std(log_t))
    v = (log_t - centre) / spread
    b_v = _solve_shape(v)
    mu_v = (logsumexp(b_v * v) - math.log(n)) / b_v  # closed-form ln eta given the shape
    beta, log_eta = b_v / spread, centre + spread * mu_v
    z = b_v * (v - mu_v)  # standardised residuals beta * (ln t - ln eta); unit-free
    cov = np.linalg.inv(_observed_information(z, beta))
    q = float(norm.ppf(0.5 + level / 2.0))
    return WeibullFit(
        n=n, level=level,
        shape=_log_normal_estimate(math.log(beta), math.sqrt(cov[1, 1]), level, q),
        scale=_log_normal_estimate(log_eta, math.sqrt(cov[0, 0]), level, q),
        log_cov=((float(cov[0, 0]), float(cov[0, 1])), (float(cov[1, 0]), float(cov[1, 1]))),
    )


def _open_unit(x: float, what: str) -> float:
    """x as a float strictly between 0 and 1 (NaN and non-numbers refused too)."""
    try:
        value = float(x)
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 < value < 1.0:
        raise MawisError(f"{what} must be between 0 and 1 (got {x})")
    return value


def _clean_lives(lives) -> np.ndarray:
    """Lives as a float array: NaN (no prediction) dropped; zero, negative or infinite values refused."""
    try:
        t = np.asarray(lives, dtype=float).ravel()
    except (TypeError, ValueError):
        raise MawisError("Weibull fit needs numeric lives") from None
    t = t[~np.isnan(t)]
    non_positive, infinite = int(np.sum(t <= 0)), int(np.sum(np.isposinf(t)))
    if non_positive or infinite:
        # a zero or infinite predicted life is a bug upstream, not a value to hide
        raise MawisError(f"Weibull fit needs finite positive lives ({non_positive} non-positive, "
                         f"{infinite} infinite)")
    if len(t) < MIN_LIVES:
        raise MawisError(f"Weibull fit needs at least {MIN_LIVES} finite positive lives (got {len(t)})")
    if np.ptp(np.log(t)) == 0:
        raise MawisError("all lives are equal; a Weibull shape cannot be fitted")
    return t


def _solve_shape(v: np.ndarray) -> float:
    """Root of the profile score sum(w_i v_i) - 1/b = 0, w = softmax(b v), for standardised ln t.

    The left side increases strictly in b (its derivative is a weighted variance plus
    1/b^2), from -inf to max(v) > 0, so the root is unique and a bracket always exists.
    """
    def score(b: float) -> float:
        w = np.exp(b * v - np.max(b * v))  # softmax without overflow
        return float(w @ v / w.sum()) - 1.0 / b

    lo = 0.5 / float(np.max(v))  # score(lo) <= max(v) - 2 max(v) < 0
    hi = 1.0
    while score(hi) <= 0.0:
        hi *= 2.0
    lo = min(lo, hi / 2.0)
    return float(brentq(score, lo, hi, xtol=1e-14 * lo, rtol=1e-14))


def _observed_information(z: np.ndarray, beta: float) -> np.ndarray:
    """Observed Fisher information of (ln eta, ln beta) for complete data, z = beta (ln t - ln eta).

    Log parameters because eta and beta are positive and their sampling distributions are
    skewed: bounds from exp(ln estimate +- q se) stay positive and are closer to exact than
    symmetric bounds on eta and beta. Log-likelihood: n ln beta + sum(z - e^z) + const.
    """
    n, e = len(z), np.exp(z)
    i_mm = beta ** 2 * e.sum()
    i_mb = -beta * (np.sum(z * e) + e.sum() - n)  # e.sum() == n at the maximum
    i_bb = -np.sum((1.0 - e) * z) + np.sum(z * z * e)  # == n + sum(z^2 e^z) at the maximum
    return np.array([[i_mm, i_mb], [i_mb, i_bb]])


def _log_normal_estimate(log_value: float, se: float, level: float, q: float | None = None) -> Estimate:
    """exp(log_value) with bounds exp(log_value -+ q se), q the two-sided normal quantile."""
    q = float(norm.ppf(0.5 + level / 2.0)) if q is None else q
    return Estimate(value=math.exp(log_value), lo=math.exp(log_value - q * se), hi=math.exp(log_value + q * se))
