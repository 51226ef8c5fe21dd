"""Lifetime numerics: the censored log-normal likelihood, Kaplan-Meier, conformal intervals,
concordance, and what ignoring censoring does to predictions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import norm

from mawis.lifetime.aft import LinearAFT, lognormal_nll, penalty_grid, penalty_label, select_alpha
from mawis.lifetime.conformal import conformal_bounds, coverage_failed, coverage_km, kaplan_meier, km_quantile
from mawis.lifetime.metrics import concordance_index, lifetime_metrics
from mawis.lifetime.table import FeatureEncoder


def campaign(n: int, seed: int, sigma: float = 0.35, end: float = 7.6, pulled: float = 0.15):
    """ln T = 7 + 0.5 x1 - 0.3 x2 + sigma eps; test ends at e^end; a share pulled early at random."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    true = 7.0 + 0.5 * x[:, 0] - 0.3 * x[:, 1] + sigma * rng.normal(size=n)
    stop = np.full(n, end)
    pull = rng.random(n) < pulled
    stop[pull] = rng.uniform(6.0, end, pull.sum())
    return x, true, np.minimum(true, stop), true <= stop


def test_nll_is_the_density_for_failures_and_the_survival_for_censored_joints():
    mu, log_s = torch.tensor([7.0, 7.0], dtype=torch.float64), torch.tensor(math.log(0.4), dtype=torch.float64)
    t = torch.tensor([7.3, 7.3], dtype=torch.float64)
    failed = lognormal_nll(mu[:1], log_s, t[:1], torch.tensor([True]))
    survived = lognormal_nll(mu[1:], log_s, t[1:], torch.tensor([False]))
    assert float(failed) == pytest.approx(-norm.logpdf(7.3, 7.0, 0.4), rel=1e-6)
    assert float(survived) == pytest.approx(-norm.logsf(7.3, 7.0, 0.4), rel=1e-6)


def test_kaplan_meier_by_hand_and_without_censoring():
    # times 1, 2+, 3, 4; KM: S(1)=3/4, S(3)=3/4*1/2=3/8, S(4)=0
    points, cdf = kaplan_meier(np.array([1.0, 2.0, 3.0, 4.0]), np.array([True, False, True, True]))
    assert dict(zip(points, cdf)) == pytest.approx({1.0: 0.25, 2.0: 0.25, 3.0: 0.625, 4.0: 1.0})
    values = np.random.default_rng(0).normal(size=200)
    assert km_quantile(values, np.ones(200, bool), 0.5) == pytest.approx(np.sort(values)[99])
    # ties: two events and one censoring at the same value count as events first
    points, cdf = kaplan_meier(np.array([1.0, 1.0, 1.0, 2.0]), np.array([True, True, False, True]))
    assert dict(zip(points, cdf)) == pytest.approx({1.0: 0.5, 2.0: 1.0})


def test_concordance_by_hand_counts_censored_pairs_correctly():
    log_t = np.array([1.0, 2.0, 3.0, 4.0])
    event = np.array([True, False, True, False])
    # comparable pairs: (0,1), (0,2), (0,3), (2,3); joint 1 censored before 2 gives no pair
    assert concordance_index(log_t, event, log_t) == 1.0
    assert concordance_index(log_t, event, -log_t) == 0.0
    assert concordance_index(log_t, event, np.array([1.0, 0.5, 3.0, 4.0])) == pytest.approx(3 / 4)
    assert concordance_index(log_t, event, np.zeros(4)) == 0.5


def test_ignoring_censoring_biases_predictions_and_the_censoring_aware_fit_does_not():
    x, true, observed, event = campaign(4000, seed=1)
    x_test, true_test, _, _ = campaign(4000, seed=2)
    assert 0.2 < 1 - event.mean() < 0.5  # a realistic share censored
    aware = LinearAFT(alpha=1e-3).fit(x, observed, event)
    dropped = LinearAFT(alpha=1e-3).fit(x[event], observed[event], np.ones(event.sum(), bool))
    as_failed = LinearAFT(alpha=1e-3).fit(x, observed, np.ones(len(x), bool))
    bias = {name: float(np.mean(m.predict(x_test) - true_test))
            for name, m in (("aware", aware), ("dropped", dropped), ("as_failed", as_failed))}
    message = f"mean ln-cycle bias on test joints: {bias}"
    assert abs(bias["aware"]) < 0.03, message
    assert bias["dropped"] < -0.07 and bias["as_failed"] < -0.07, message  # 10x the aware bias
    assert aware.coef == pytest.approx([0.5, -0.3], abs=0.04), aware.coef
    assert aware.sigma == pytest.approx(0.35, abs=0.03)


def test_conformal_interval_covers_its_nominal_share_of_true_lives_under_censoring():
    # 2,000 calibration joints: over data seeds 0-39 the coverage then missed 0.8 by at most 0.027
    # (with 600 it missed by up to 0.042, within 0.008 of the tolerance)
    x, _, observed, event = campaign(600, seed=3)
    x_cal, _, obs_cal, ev_cal = campaign(2000, seed=4)
    x_test, true_test, obs_test, ev_test = campaign(5000, seed=5)
    model = LinearAFT(alpha=1.0).fit(x, observed, event)
    lo_q, hi_q = conformal_bounds((obs_cal - model.predict(x_cal)) / model.sigma, ev_cal, 0.8)
    mu = model.predict(x_test)
    lo, hi = mu + model.sigma * lo_q, mu + model.sigma * hi_q
    true_cov = float(np.mean((true_test >= lo) & (true_test <= hi)))
    km_cov = coverage_km(obs_test, ev_test, lo, hi)
    assert abs(true_cov - 0.8) < 0.05, (true_cov, lo_q, hi_q)
    assert abs(km_cov - true_cov) < 0.03, (km_cov, true_cov)  # the censoring-aware estimate of it
    assert coverage_failed(obs_test, ev_test, lo, hi) != pytest.approx(true_cov, abs=0.001)


def test_a_hidden_upper_tail_is_mirrored_from_the_lower_one():
    # 20,000 residuals: over seeds 0-39 the quantiles then missed by at most 0.046 (with 2,000 by up
    # to 0.135, beyond the tolerance at 2 of 40 seeds)
    residuals = np.random.default_rng(0).normal(size=20_000)
    alive = residuals > 1.0  # every joint beyond +1 sigma still alive when the test stopped
    observed = np.where(alive, 1.0, residuals)
    assert km_quantile(observed, ~alive, 0.9) is None
    lo_q, hi_q = conformal_bounds(observed, ~alive, 0.8)
    assert lo_q == pytest.approx(norm.ppf(0.1), abs=0.1) and hi_q == pytest.approx(norm.ppf(0.9), abs=0.1)


def test_penalties_are_chosen_on_training_folds_and_leave_noise_out():
    # Which of the near-equivalent candidates wins is a coin toss (with 160 joints, seed 0 chose
    # "2 components, 1000 / 1" over "... 1000 / 100" by 7e-5 in held-out NLL, and over seeds 0-39
    # three other candidates won too), so no winner is asserted. What holds at every seed (320
    # joints, seeds 0-39): the noise coefficients stay below 0.038, the signal's within 0.036 of
    # 0.5, and fitting the noise columns freely scores at least 0.0027 worse on held-out folds.
    rng = np.random.default_rng(0)
    n = 320
    x = rng.normal(size=(n, 12))
    log_t = 7.0 + 0.5 * x[:, 8] + 0.3 * rng.normal(size=n)  # 8 noise "embedding" columns, then 4 features
    grid = penalty_grid((1.0, 100.0), (1.0, 1000.0), n_embedding=8, n_columns=12, sizes=(2, 8))
    labels = [penalty_label(alpha, 8) for alpha in grid]
    assert len(set(labels)) == 2 * 2 * 2 and "2 components, 1000 / 1" in labels
    alpha, scores = select_alpha(x, log_t, np.ones(n, bool), np.arange(n) // 4, grid, 5)
    assert len(scores) == 8 and np.array_equal(alpha, grid[min(scores, key=scores.get)])
    free = min(score for i, score in scores.items() if labels[i].startswith("8 components, 1 /"))
    assert free > min(scores.values()) + 0.001, "noise columns fitted freely score worse on held-out folds"
    fitted = LinearAFT(alpha).fit(x, log_t, np.ones(n, bool))
    assert np.abs(fitted.coef[:8]).max() < 0.1 and fitted.coef[8] == pytest.approx(0.5, abs=0.08)


def test_metrics_use_failed_joints_for_errors_and_all_for_concordance():
    log_t = np.array([6.0, 7.0, 8.0, 9.0])
    event = np.array([True, True, True, False])
    scores = lifetime_metrics(log_t, event, log_t + np.array([0.1, -0.1, 0.8, -5.0]))
    assert scores["mae"] == pytest.approx((0.1 + 0.1 + 0.8) / 3)
    assert scores["within_2x"] == pytest.approx(2 / 3)
    assert scores["n_failed"] == 3 and scores["n"] == 4


def test_feature_encoder_fills_a_missing_modality_and_ignores_unseen_components():
    joints = pd.DataFrame({
        "xray_image_id": ["a", "b", None], "micrograph_image_id": [None, "m", "n"],
        "component": ["LED", "R", "LED"], "void_fraction": [0.1, 0.3, np.nan], "void_count": [2, 8, np.nan],
    })
    for name in FeatureEncoder().numeric:
        if name not in joints:
            joints[name] = np.where(joints["micrograph_image_id"].notna(), 1.0, np.nan) \
                if name.startswith(("crack", "wetted", "sectioned", "micrograph")) else 0.5
    enc = FeatureEncoder().fit(joints)
    x = enc.transform(joints)
    assert np.isfinite(x).all()
    names = enc.names
    assert x[2, names.index("void_fraction")] == pytest.approx(0.0)  # median after standardising
    assert x[:, names.index("has_xray")].tolist()[2] < 0 < x[:, names.index("has_xray")].tolist()[0]
    new = joints.assign(component=["BGA", "BGA", "BGA"])
    onehot = enc.transform(new)[:, [names.index("component=LED"), names.index("component=R")]]
    assert (onehot == 0).all()
    assert FeatureEncoder.from_dict(enc.to_dict()).transform(joints) == pytest.approx(x)
