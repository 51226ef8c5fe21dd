"""The virtual lab's physics: lifetimes, void effects, censoring and the campaign schedule."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mawis.sim import CampaignConfig, FatigueModel, load_components, simulate_joints
from mawis.sim.campaign import reading_schedule
from mawis.sim.fatigue import crack_history, void_profile
from mawis.sim.geometry import JointGeometry, Void


CLASSIC = ("LED-3535", "LED-3030", "R1206")


@pytest.fixture(scope="module")
def population():
    """The three classic families; every family's lifetimes: tests/test_sim_families.py."""
    return simulate_joints(CampaignConfig(joints=500, seed=3, workers=2, families=CLASSIC))


def test_lifetimes_are_plausible_for_sac_joints(population):
    lives = np.array([j.history.cycles_to_failure for j in population])
    assert np.all(np.isfinite(lives)) and np.all(lives > 0)
    # LED-3535's centre thermal pad sits at the neutral point: it strains least and outlives the test
    edge = np.array([j.geometry.role != "thermal" for j in population])
    p5, p50, p95 = np.percentile(lives[edge], [5, 50, 95])
    assert 400 < p5 and p95 < 8000 and 1200 < p50 < 3500, (p5, p50, p95)
    assert np.median(lives[~edge]) > 2 * p50


def test_void_fraction_shortens_life_only_moderately(population):
    edge = [j.geometry.role != "thermal" for j in population]
    log_life = np.log([j.history.cycles_to_failure for j in population])[edge]
    void = np.array([j.void_fraction for j in population])[edge]
    r = np.corrcoef(log_life, void)[0, 1]
    assert -0.6 < r < -0.15, f"corr(log life, void fraction) = {r:.2f}"
    assert 0 <= void.min() and void.max() <= 0.4


def _joint(voids):
    return JointGeometry("LED-3535", 480.0, 420.0, 40.0, 60.0, 20.0, (0.0,) * 6, (0.0,) * 6, tuple(voids))


def _life(geom, model=FatigueModel()):
    component = load_components()[geom.component]
    return crack_history(geom, component, model, void_profile(geom, model), 1.0, (1.0, 1.0)).cycles_to_failure


def test_void_location_matters_not_only_area():
    """Equal void area: voids at the crack-initiating edges cost more life than voids in the centre."""
    r = 40.0
    centre = [Void(dx, dy, r, r, 0.0, 0.8, 0.55) for dx, dy in [(-50, -60), (50, -60), (-50, 60), (50, 60)]]
    edges = [Void(sx * 190, dy, r, r, 0.0, 0.8, 0.55) for sx in (-1, 1) for dy in (-60, 60)]
    clean, mid, edge = _life(_joint([])), _life(_joint(centre)), _life(_joint(edges))
    assert edge < mid < clean
    assert (clean - edge) > 1.5 * (clean - mid), (clean, mid, edge)


def test_crack_grows_monotonically_to_failure_at_half_width():
    geom = _joint([Void(-150, 0, 30, 30, 0.0, 0.9, 0.5)])
    component = load_components()["LED-3535"]
    model = FatigueModel()
    history = crack_history(geom, component, model, void_profile(geom, model), 1.0, (1.0, 1.0))
    cycles = np.linspace(0, 3 * history.cycles_to_failure, 200)
    fraction = history.crack_fraction_at(cycles)
    assert np.all(np.diff(fraction) >= -1e-12) and fraction[0] == 0.0 and fraction[-1] <= 1.0
    assert history.crack_fraction_at(history.cycles_to_failure) == pytest.approx(model.failure_crack_fraction, abs=1e-6)


def test_campaigns_sample_at_different_irregular_intervals():
    intervals = set()
    for seed in range(8):
        rng = np.random.default_rng(seed)
        interval, cycles = reading_schedule(CampaignConfig(), rng)
        intervals.add(interval)
        steps = np.diff(cycles)
        assert cycles[0] == 0 and cycles[-1] == CampaignConfig().end_cycles
        assert len(set(steps)) > 1, "readings are jittered, not a perfect grid"
    assert len(intervals) > 1


def test_censoring_and_missing_readings_occur(batches):
    batch, truth = batches["xr-a"]
    lifetimes = pd.read_csv(batch / "lifetimes.csv")
    readings = pd.read_csv(batch / "measurements.csv")
    joints = pd.read_csv(truth / "joints.csv")
    assert (lifetimes["censored"] == 1).any(), "pulled joints are censored"
    cycled = joints[joints["cycled"]]
    assert (cycled["cycles_to_failure"] > cycled["observed_until"]).any(), "some joints outlive the test"
    info = pd.read_json(truth / "campaign.json", typ="series")
    gaps = readings.sort_values(["joint_id", "cycles"]).groupby("joint_id")["cycles"].diff().dropna()
    assert (gaps > 1.5 * info["reading_interval_cycles"]).any(), "some readings are missing"


def test_readings_cross_threshold_near_true_failure(batches):
    batch, truth = batches["xr-a"]
    readings = pd.read_csv(batch / "measurements.csv")
    joints = pd.read_csv(truth / "joints.csv").set_index("joint_id")
    failed = readings[(readings["crack_fraction"] >= 0.5) | (readings["rth_increase_pct"] >= 20)]
    assert len(failed) > 0
    first = failed.groupby("joint_id")["cycles"].min()
    true_life = joints.loc[first.index, "cycles_to_failure"]
    info = pd.read_json(truth / "campaign.json", typ="series")
    # the first reading at/above threshold comes within about two reading intervals of the truth
    assert np.all(np.abs(first - true_life) < 2.5 * info["reading_interval_cycles"])


def test_config_rejects_bad_values():
    from mawis.errors import UsageError

    for bad in (dict(joints=0), dict(label_fraction=1.5), dict(micrograph_fraction=-0.1), dict(workers=-1)):
        with pytest.raises(UsageError):
            replace(CampaignConfig(), **bad).validate()
