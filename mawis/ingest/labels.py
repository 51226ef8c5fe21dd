"""Temporal alignment: lifetime labels from degradation readings on any cycle grid.

Campaigns read their joints at different, irregular cycle intervals and skip
readings. The contract's rule is applied the same way whatever the grid: a joint
has failed at the first reading at or above a threshold (``crack_fraction`` or
``rth_increase_pct``); its cycles to failure are interpolated between that reading
and the last one below, per signal, taking the earliest crossing. A joint that
never reaches a threshold is right-censored at its last reading: it gets a lower
bound, never a made-up failure time. ``lifetimes.csv`` wins where it gives a joint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

LABEL_COLUMNS = ["joint_id", "cycles_to_failure", "censored", "label_source", "failure_after", "failure_before"]


@dataclass(frozen=True)
class FailureThresholds:
    crack_fraction: float = 0.5
    rth_increase_pct: float = 20.0

    def as_dict(self) -> dict[str, float]:
        return {"crack_fraction": self.crack_fraction, "rth_increase_pct": self.rth_increase_pct}


def _crossing(cycles: np.ndarray, values: np.ndarray, k: int, threshold: float) -> float:
    """Cycles at which a signal crossing at reading ``k`` reached ``threshold``.

    Interpolates from the signal's own last finite reading before ``k``, so a gap in
    one signal (the other was read) does not lose the bracket.
    """
    before = np.flatnonzero(np.isfinite(values[:k]))
    if not len(before):
        return np.nan
    j = before[-1]
    if values[k] <= values[j]:
        return np.nan
    return cycles[j] + (threshold - values[j]) * (cycles[k] - cycles[j]) / (values[k] - values[j])


def _merge_repeats(readings: pd.DataFrame, signals: list[str]) -> pd.DataFrame:
    """Several readings at one cycle count are averaged, so row order never matters."""
    if not readings["cycles"].duplicated().any():
        return readings.sort_values("cycles", kind="stable")
    return readings.groupby("cycles", as_index=False)[signals].mean().sort_values("cycles")


def joint_label(readings: pd.DataFrame, thresholds: FailureThresholds) -> dict:
    """Label of one joint from its readings (columns: cycles and any signal columns)."""
    limits = {s: t for s, t in thresholds.as_dict().items() if s in readings.columns}
    readings = _merge_repeats(readings, list(limits))
    cycles = readings["cycles"].to_numpy(dtype=float)
    values = {s: readings[s].to_numpy(dtype=float) for s in limits}
    failing = np.zeros(len(cycles), dtype=bool)
    for signal, limit in limits.items():
        failing |= np.nan_to_num(values[signal], nan=-np.inf) >= limit
    if not failing.any():
        return {"cycles_to_failure": float(cycles[-1]), "censored": True,
                "failure_after": float(cycles[-1]), "failure_before": np.inf}
    k = int(np.argmax(failing))
    if k == 0:  # failed before the first reading: the best estimate is that reading
        return {"cycles_to_failure": float(cycles[0]), "censored": False,
                "failure_after": 0.0, "failure_before": float(cycles[0])}
    c0, c1 = cycles[k - 1], cycles[k]
    crossings = [_crossing(cycles, values[s], k, limit) for s, limit in limits.items() if values[s][k] >= limit]
    crossings = [c for c in crossings if np.isfinite(c)]
    estimate = min(crossings) if crossings else (c0 + c1) / 2
    return {"cycles_to_failure": float(np.clip(estimate, c0, c1)), "censored": False,
            "failure_after": float(c0), "failure_before": float(c1)}


def derive_labels(
    measurements: pd.DataFrame | None,
    lifetimes: pd.DataFrame | None,
    thresholds: FailureThresholds = FailureThresholds(),
) -> pd.DataFrame:
    """One row per labelled joint: cycles_to_failure, censored, where the label came from."""
    rows = []
    if measurements is not None and len(measurements):
        for joint_id, readings in measurements.groupby("joint_id", sort=True):
            rows.append({"joint_id": joint_id, **joint_label(readings, thresholds), "label_source": "measurements"})
    labels = pd.DataFrame(rows, columns=LABEL_COLUMNS)
    if lifetimes is not None and len(lifetimes):
        given = lifetimes.copy()
        censored = given["censored"] if "censored" in given.columns else pd.Series(0, index=given.index)
        given = pd.DataFrame({
            "joint_id": given["joint_id"],
            "cycles_to_failure": given["cycles_to_failure"].astype(float),
            "censored": censored.fillna(0).astype(int).astype(bool),
            "label_source": "lifetimes",
        })
        given["failure_after"] = np.where(given["censored"], given["cycles_to_failure"], np.nan)
        given["failure_before"] = np.where(given["censored"], np.inf, given["cycles_to_failure"])
        labels = pd.concat([labels[~labels["joint_id"].isin(given["joint_id"])], given], ignore_index=True)
    labels["censored"] = labels["censored"].astype(bool)
    return labels.sort_values("joint_id").reset_index(drop=True)[LABEL_COLUMNS]
