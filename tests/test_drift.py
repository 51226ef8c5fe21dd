"""The drift statistics: board-permutation MMD keeps false alarms at alpha even when boards
differ, finds a shifted batch, and the per-joint out-of-distribution score finds an outlier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mawis.errors import UsageError
from mawis.lifetime.table import XRAY_FEATURES
from mawis.registry.drift import (
    DriftConfig, check_drift, domain_classifier_auc, mmd_board_permutation_test, ood_flags, sample_boards,
)


def clustered(rng, boards: int, per_board: int, shift: float = 0.0, dims: int = 4, board_sd: float = 1.0):
    """Joints of boards with a strong board effect (shared package and paste lot)."""
    centres = rng.normal(0.0, board_sd, (boards, dims)) + shift
    x = np.repeat(centres, per_board, axis=0) + rng.normal(0.0, 0.5, (boards * per_board, dims))
    ids = np.repeat([f"b{rng.integers(1 << 40)}-{i}" for i in range(boards)], per_board)
    return x, ids


def flagged_share(board_level: bool, repeats: int = 60, alpha: float = 0.05) -> float:
    flags = 0
    for r in range(repeats):
        rng = np.random.default_rng(r)
        ref, rb = clustered(rng, 30, 8)
        new, nb = clustered(rng, 4, 8)
        if not board_level:  # every joint its own "board": ignores the clustering
            rb, nb = np.arange(len(rb)).astype(str), np.char.add("n", np.arange(len(nb)).astype(str))
        _, p = mmd_board_permutation_test(ref, new, rb, nb, 99, rng)
        flags += p < alpha
    return flags / repeats


def test_board_permutation_holds_alpha_where_joint_permutation_raises_false_alarms():
    assert flagged_share(board_level=True) <= 0.10
    assert flagged_share(board_level=False) >= 0.4


def test_a_shifted_batch_is_flagged_with_a_high_domain_auc():
    rng = np.random.default_rng(0)
    ref, rb = clustered(rng, 30, 8, board_sd=0.3)
    new, nb = clustered(rng, 6, 8, shift=1.5, board_sd=0.3)
    _, p = mmd_board_permutation_test(ref, new, rb, nb, 199, rng)
    assert p < 0.01
    assert domain_classifier_auc(ref, new, rb, nb, seed=0) > 0.9
    same, sb = clustered(rng, 6, 8, board_sd=0.3)
    assert 0.3 < domain_classifier_auc(ref, same, rb, sb, seed=0) < 0.7


def profile(rng, boards: int, per_board: int = 8, void_scale: float = 1.0, emb_shift: float = 0.0) -> pd.DataFrame:
    n = boards * per_board
    out = pd.DataFrame({"joint_id": [f"J{rng.integers(1 << 40)}" for _ in range(n)],
                        "board_id": np.repeat([f"B{rng.integers(1 << 40)}" for _ in range(boards)], per_board),
                        "component": "LED", "has_xray": True})
    for name in XRAY_FEATURES:
        out[name] = rng.gamma(2.0, 0.05 * void_scale, n)
    emb = rng.normal(emb_shift, 1.0, (n, 6))
    for i in range(6):
        out[f"emb_{i:03d}"] = emb[:, i].astype(np.float32)
    return out


def test_check_drift_reports_both_views_and_names_the_most_unusual_joints():
    rng = np.random.default_rng(1)
    reference = profile(rng, 40)
    same = profile(rng, 10)
    report = check_drift(reference, same, DriftConfig(permutations=299))
    assert not report["drift"] and set(report["tests"]) == {"embedding", "features"}
    assert report["reference"]["boards"] == 40 and report["batch"]["compared_joints"] == 80
    assert {f["feature"] for f in report["features"]} >= {"void_fraction", "joint_solidity"}
    voids = profile(rng, 10, void_scale=3.0)
    report = check_drift(reference, voids, DriftConfig(permutations=299))
    assert report["drift"] and report["tests"]["features"]["p_value"] < 0.005
    assert report["summary"].startswith("DRIFT")
    assert len(report["most_out_of_distribution"]) == 10


def test_an_outlier_joint_is_out_of_distribution_and_joints_without_xray_are_not():
    rng = np.random.default_rng(2)
    reference, batch = profile(rng, 40), profile(rng, 4)
    batch.loc[3, [c for c in batch if c.startswith("emb_")]] = 12.0
    batch.loc[5, "has_xray"] = False
    scores, flags, threshold = ood_flags(reference, batch, DriftConfig())
    assert flags[3] and scores[3] > 10 * threshold
    assert np.isnan(scores[5]) and not flags[5]
    assert flags.sum() <= 4  # about 1 % of typical joints, plus the outlier


def test_sampling_keeps_whole_boards_and_settings_are_checked():
    rng = np.random.default_rng(3)
    big = profile(rng, 50)
    sample = sample_boards(big, 100, seed=0)
    assert len(sample) <= 100 and sample.groupby("board_id").size().eq(8).all()
    with pytest.raises(UsageError, match="alpha must be in"):
        check_drift(big, big, DriftConfig(alpha=0.9))
    with pytest.raises(UsageError, match="permutations must be at least 200"):
        check_drift(big, big, DriftConfig(permutations=199))


def flat_profile(rng, boards: int, dims: int = 64, per_board: int = 16) -> pd.DataFrame:
    out = profile(rng, boards, per_board)
    emb = rng.normal(0.0, 1.0, (len(out), dims)) + np.repeat(rng.normal(0, 0.3, (boards, dims)), per_board, axis=0)
    out = out[[c for c in out if not c.startswith("emb_")]]
    return pd.concat([out, pd.DataFrame(emb.astype(np.float32), columns=[f"emb_{i:03d}" for i in range(dims)])],
                     axis=1)


def test_false_alarms_stay_near_alpha_with_a_flat_high_dimensional_embedding():
    """Coordinates fitted on the reference alone would put reference joints closer to the fit than
    any new joint, and flag nearly every batch of a flat 64-d embedding; fitted on both sides, the
    board permutation stays exact."""
    cfg = DriftConfig(alpha=0.1, permutations=99)
    flags = 0
    for r in range(30):
        rng = np.random.default_rng(100 + r)
        flags += check_drift(flat_profile(rng, 25), flat_profile(rng, 8), cfg)["drift"]
    assert flags <= 6  # 10 % expected at most; 30 % would mean a broken calibration


def test_one_board_cannot_be_tested_and_says_so():
    rng = np.random.default_rng(4)
    report = check_drift(profile(rng, 40), profile(rng, 1, void_scale=10.0), DriftConfig())
    assert report["testable"] is False and report["drift"] is False
    assert report["summary"].startswith("CANNOT TELL")


def test_ood_threshold_flags_about_the_quantile_of_fresh_joints():
    rng = np.random.default_rng(5)
    reference, fresh = profile(rng, 100), profile(rng, 250)
    _, flags, _ = ood_flags(reference, fresh, DriftConfig(ood_quantile=0.95))
    assert 0.02 <= flags.mean() <= 0.09


def test_a_reference_too_small_is_named_not_a_traceback():
    from mawis.registry.drift import reference_problem

    rng = np.random.default_rng(6)
    assert reference_problem(None).startswith("the model has no drift reference")
    assert "needs at least" not in (reference_problem(profile(rng, 40)) or "")
    small = profile(rng, 2)
    assert "checks need at least 20 joints on 4 boards" in reference_problem(small)
    with pytest.raises(UsageError, match="train the model on a data set with X-rays"):
        check_drift(small, profile(rng, 4))
