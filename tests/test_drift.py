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
    with pytest.raises(UsageError, match="permutations must exceed 200"):
        check_drift(big, big, DriftConfig(permutations=199))
