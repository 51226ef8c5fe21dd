"""Scores of lifetime predictions in ln cycles, with right-censored test joints.

R², MAE, median absolute error and the share within a factor of 2 need a known life,
so they use the test joints with an observed failure. The concordance index uses every
joint correctly: a pair counts only when the shorter time is an observed failure.
"""

from __future__ import annotations

import math

import numpy as np

from .conformal import coverage_failed, coverage_km


def concordance_index(log_t: np.ndarray, event: np.ndarray, predicted: np.ndarray, chunk: int = 1024) -> float:
    """Harrell's C: of the comparable pairs, the share whose predicted order matches (ties 0.5).

    Rows are processed in chunks, so memory stays at chunk x n whatever the test size.
    """
    t, p = np.asarray(log_t, float), np.asarray(predicted, float)
    e = np.asarray(event, bool)
    score = pairs = 0.0
    for start in range(0, len(t), chunk):
        rows = slice(start, start + chunk)
        shorter = (t[rows, None] < t[None, :]) & e[rows, None]  # row failed before the column's time
        diff = p[None, :] - p[rows, None]  # > 0: the column predicted to live longer, as it did
        score += float(((diff > 0) + 0.5 * (diff == 0))[shorter].sum())
        pairs += float(shorter.sum())
    return score / pairs if pairs else float("nan")


def point_metrics(log_t: np.ndarray, event: np.ndarray, predicted: np.ndarray) -> dict:
    e = np.asarray(event, bool)
    y, p = np.asarray(log_t, float)[e], np.asarray(predicted, float)[e]
    if len(y) < 2:
        return {"r2": math.nan, "mae": math.nan, "median_ae": math.nan, "within_2x": math.nan}
    err = np.abs(y - p)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return {"r2": 1.0 - float(((y - p) ** 2).sum()) / ss_tot if ss_tot > 0 else math.nan,
            "mae": float(err.mean()), "median_ae": float(np.median(err)),
            "within_2x": float(np.mean(err <= math.log(2.0)))}


def lifetime_metrics(log_t, event, predicted, lo=None, hi=None) -> dict:
    """Every score of one model on one test set; intervals optional."""
    out = {**point_metrics(log_t, event, predicted), "c_index": concordance_index(log_t, event, predicted),
           "n": int(len(log_t)), "n_failed": int(np.sum(event))}
    if lo is not None and hi is not None:
        out.update(coverage_failed=coverage_failed(log_t, event, lo, hi),
                   coverage_km=coverage_km(log_t, event, lo, hi),
                   interval_width_factor=float(np.median(np.exp(hi - lo))))
    return out
