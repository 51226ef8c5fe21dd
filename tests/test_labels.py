"""Lifetime labels from readings on irregular cycle grids (temporal alignment)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mawis.ingest.labels import FailureThresholds, derive_labels


def readings(joint, cycles, **signals):
    return pd.DataFrame({"joint_id": joint, "cycles": cycles, **signals})


def test_interpolates_between_bracketing_readings():
    m = readings("J1", [0, 100, 200, 300], crack_fraction=[0.0, 0.2, 0.4, 0.6])
    label = derive_labels(m, None).iloc[0]
    assert not label.censored and label.cycles_to_failure == pytest.approx(250.0)
    assert (label.failure_after, label.failure_before) == (200.0, 300.0)


def test_irregular_grid_and_missing_readings_give_the_same_crossing():
    dense = readings("J1", [0, 100, 200, 300, 400], crack_fraction=[0.0, 0.1, 0.2, 0.3, 0.4 + 0.2])
    sparse = readings("J1", [0, 130, 290, 400], crack_fraction=[0.0, 0.13, 0.29, 0.6])
    a, b = derive_labels(dense, None).iloc[0], derive_labels(sparse, None).iloc[0]
    assert 300 <= a.cycles_to_failure <= 400 and 290 <= b.cycles_to_failure <= 400


def test_earliest_signal_crossing_wins_and_rows_may_be_unsorted():
    m = readings("J1", [200, 0, 100], crack_fraction=[0.45, 0.0, 0.3], rth_increase_pct=[30.0, 0.0, 10.0])
    label = derive_labels(m, None).iloc[0]
    assert label.cycles_to_failure == pytest.approx(150.0)  # rth crosses 20 at 150, crack would not


def test_never_crossing_is_censored_at_last_reading():
    m = readings("J1", [0, 100, 250], rth_increase_pct=[0.0, 5.0, 12.0])
    label = derive_labels(m, None).iloc[0]
    assert label.censored and label.cycles_to_failure == 250.0 and np.isinf(label.failure_before)


def test_thresholds_are_configurable():
    m = readings("J1", [0, 100, 200], crack_fraction=[0.0, 0.2, 0.4])
    assert derive_labels(m, None).iloc[0].censored
    assert not derive_labels(m, None, FailureThresholds(crack_fraction=0.3)).iloc[0].censored


def test_lifetimes_file_wins():
    m = readings("J1", [0, 100, 200], crack_fraction=[0.0, 0.2, 0.6])
    lt = pd.DataFrame({"joint_id": ["J1", "J2"], "cycles_to_failure": [180, 900], "censored": [1, 0]})
    labels = derive_labels(m, lt).set_index("joint_id")
    assert labels.loc["J1", "cycles_to_failure"] == 180 and labels.loc["J1", "censored"]
    assert labels.loc["J2", "label_source"] == "lifetimes" and not labels.loc["J2", "censored"]


def test_labels_match_simulated_truth(batches):
    """Derived failures lie near the truth; censored joints never have a made-up failure time."""
    batch, truth = batches["xr-b"]
    labels = derive_labels(pd.read_csv(batch / "measurements.csv"), pd.read_csv(batch / "lifetimes.csv"))
    true = pd.read_csv(truth / "joints.csv").set_index("joint_id")["cycles_to_failure"]
    labels["true"] = true.loc[labels["joint_id"]].to_numpy()
    interval = json.loads((truth / "campaign.json").read_text())["reading_interval_cycles"]
    failed, censored = labels[~labels["censored"]], labels[labels["censored"]]
    assert len(failed) >= 5 and len(censored) >= 1
    error = (failed["cycles_to_failure"] - failed["true"]).abs()
    assert error.max() <= 2 * interval, error.max()
    assert (error <= interval).mean() >= 0.9
    assert (censored["true"] >= censored["cycles_to_failure"]).all(), "censored joints outlive their censoring time"


def test_repeated_readings_are_averaged_whatever_their_order():
    a = readings("J1", [0, 100, 200, 200, 300], crack_fraction=[0.0, 0.1, 0.1, 0.9, 0.9])
    b = readings("J1", [0, 100, 200, 200, 300], crack_fraction=[0.0, 0.1, 0.9, 0.1, 0.9])
    assert derive_labels(a, None).iloc[0].cycles_to_failure == derive_labels(b, None).iloc[0].cycles_to_failure


def test_gap_in_the_crossing_signal_interpolates_from_its_last_reading():
    m = readings("J1", [0, 100, 200, 300], crack_fraction=[0.0, 0.2, np.nan, 0.8], rth_increase_pct=[0, 5, 8, 12])
    label = derive_labels(m, None).iloc[0]
    assert label.cycles_to_failure == pytest.approx(200.0)
    assert (label.failure_after, label.failure_before) == (200.0, 300.0)
