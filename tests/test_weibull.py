"""Weibull summary of predicted lives: the MLE, its Fisher-matrix bounds, B-lives, plotting
positions and the one-line errors for unusable input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import weibull_min

from mawis.errors import MawisError
from mawis.lifetime.weibull import fit_weibull, median_ranks


def sample(n: int, seed: int, beta: float = 2.0, eta: float = 1e4) -> np.ndarray:
    return weibull_min.rvs(beta, scale=eta, size=n, random_state=np.random.default_rng(seed))


def b_life(p: float, beta: float, eta: float) -> float:
    return eta * (-math.log(1.0 - p)) ** (1.0 / beta)


def test_recovers_shape_and_characteristic_life_from_a_large_sample():
    fit = fit_weibull(sample(2000, seed=1, beta=3.0, eta=2.5e4))
    assert fit.n == 2000
    assert fit.shape.value == pytest.approx(3.0, rel=0.05)
    assert fit.scale.value == pytest.approx(2.5e4, rel=0.02)
    assert fit.shape.lo < 3.0 < fit.shape.hi and fit.scale.lo < 2.5e4 < fit.scale.hi


@pytest.mark.parametrize("seed, beta, eta, n", [(2, 0.7, 300.0, 15), (3, 2.0, 1e4, 60), (4, 8.0, 1e5, 200)])
def test_agrees_with_scipy_maximum_likelihood(seed, beta, eta, n):
    lives = sample(n, seed, beta, eta)
    shape, _, scale = weibull_min.fit(lives, floc=0)
    fit = fit_weibull(lives)
    assert fit.shape.value == pytest.approx(shape, rel=1e-4)
    assert fit.scale.value == pytest.approx(scale, rel=1e-4)


def test_b_lives_are_the_closed_form_of_the_fitted_parameters():
    fit = fit_weibull(sample(80, seed=5))
    beta, eta = fit.shape.value, fit.scale.value
    assert fit.b10.value == pytest.approx(b_life(0.10, beta, eta), rel=1e-12)
    assert fit.b1.value == pytest.approx(b_life(0.01, beta, eta), rel=1e-12)
    assert fit.life_at(1.0 - math.exp(-1.0)).value == pytest.approx(eta, rel=1e-12)  # eta is the 63.2 % life
    assert fit.cdf(np.array([fit.b10.value, eta, 0.0])) == pytest.approx([0.10, 1.0 - math.exp(-1.0), 0.0])


def test_bounds_are_ordered_and_widen_with_the_level():
    lives = sample(40, seed=6)
    narrow, wide = fit_weibull(lives, level=0.8), fit_weibull(lives, level=0.95)
    for est in (narrow.shape, narrow.scale, narrow.b10, narrow.b1):
        assert 0.0 < est.lo < est.value < est.hi
    assert wide.b10.lo < narrow.b10.lo and wide.b10.hi > narrow.b10.hi
    assert wide.b10.value == narrow.b10.value
    # the lower tail is extrapolated: B1 is relatively less certain than B10
    assert narrow.b1.hi / narrow.b1.lo > narrow.b10.hi / narrow.b10.lo


@pytest.mark.parametrize("factor", [1e3, 1e-250, 1e250])
def test_scale_equivariance(factor):
    lives = sample(50, seed=7, eta=50.0)
    base, scaled = fit_weibull(lives), fit_weibull(lives * factor)
    assert scaled.shape.value == pytest.approx(base.shape.value, rel=1e-9)
    assert (scaled.shape.lo, scaled.shape.hi) == pytest.approx((base.shape.lo, base.shape.hi), rel=1e-9)
    for a, b in ((base.scale, scaled.scale), (base.b10, scaled.b10), (base.b1, scaled.b1)):
        assert (b.value, b.lo, b.hi) == pytest.approx((a.value * factor, a.lo * factor, a.hi * factor), rel=1e-9)


def test_ninety_percent_bounds_cover_the_truth_about_ninety_percent_of_the_time():
    beta, eta = 2.0, 1e4
    truth_b10 = b_life(0.10, beta, eta)
    hits_b10 = hits_beta = 0
    trials = 300
    for seed in range(trials):
        fit = fit_weibull(sample(100, 1000 + seed, beta, eta), level=0.9)
        hits_b10 += fit.b10.lo < truth_b10 < fit.b10.hi
        hits_beta += fit.shape.lo < beta < fit.shape.hi
    assert 0.85 <= hits_b10 / trials <= 0.95
    assert 0.85 <= hits_beta / trials <= 0.95


def test_nan_is_dropped_and_the_report_dict_is_complete():
    lives = sample(30, seed=8)
    fit = fit_weibull(np.r_[lives, np.nan, np.nan])
    assert fit.n == 30 and fit.shape == fit_weibull(lives).shape
    d = fit.to_dict()
    assert set(d) == {"n", "level", "method", "shape", "characteristic_life", "b10", "b1"}
    assert d["level"] == 0.9 and "maximum likelihood" in d["method"]
    assert d["b10"] == {"value": fit.b10.value, "lo": fit.b10.lo, "hi": fit.b10.hi}
    assert d["characteristic_life"] == fit.scale.to_dict()


def test_median_ranks_are_bernards_approximation():
    assert median_ranks(4) == pytest.approx([0.7 / 4.4, 1.7 / 4.4, 2.7 / 4.4, 3.7 / 4.4])
    ranks = median_ranks(99)
    assert ranks[49] == pytest.approx(0.5) and np.all(np.diff(ranks) > 0) and 0 < ranks[0] < ranks[-1] < 1


@pytest.mark.parametrize("lives, message", [
    ([1e3, 2e3, np.nan], "Weibull fit needs at least 3 finite positive lives (got 2)"),
    ([], "Weibull fit needs at least 3 finite positive lives (got 0)"),
    ([1e3, 0.0, -5.0, 2e3, 3e3], "Weibull fit needs finite positive lives (2 non-positive, 0 infinite)"),
    ([1e3, np.inf, 2e3, 3e3, np.nan], "Weibull fit needs finite positive lives (0 non-positive, 1 infinite)"),
    ([1e3, 1e3, 1e3, 1e3, np.nan], "all lives are equal; a Weibull shape cannot be fitted"),
    (["a", "b", "c"], "Weibull fit needs numeric lives"),
])
def test_bad_lives_raise_one_clear_line(lives, message):
    with pytest.raises(MawisError) as err:
        fit_weibull(lives)
    assert str(err.value) == message


@pytest.mark.parametrize("level", [0.0, 1.0, 90, -0.1, float("nan")])
def test_level_outside_the_open_unit_interval_is_refused(level):
    with pytest.raises(MawisError) as err:
        fit_weibull([1e3, 2e3, 3e3], level=level)
    assert str(err.value) == f"confidence level must be between 0 and 1 (got {level})"


def test_life_at_refuses_a_share_outside_the_open_unit_interval():
    fit = fit_weibull([1e3, 2e3, 3e3, 4e3])
    with pytest.raises(MawisError) as err:
        fit.life_at(1.0)
    assert str(err.value) == "failure share p must be between 0 and 1 (got 1.0)"
