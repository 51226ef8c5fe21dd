"""Shared fixtures: small simulated batches, made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from mawis.sim import CampaignConfig, simulate_batch


def make_batch(root: Path, name: str, **kwargs) -> tuple[Path, Path]:
    cfg = CampaignConfig(**{"joints": 40, "seed": 7, "workers": 2, "joints_per_board": 8, **kwargs})
    result = simulate_batch(cfg, root / name)
    return result.batch_dir, result.truth_dir


@pytest.fixture(scope="session")
def batches(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """One small batch per simulated machine: {machine: (batch_dir, truth_dir)}."""
    root = tmp_path_factory.mktemp("batches")
    return {
        machine: make_batch(root, machine, machine=machine, joints=48, label_fraction=0.5)
        for machine in ("xr-a", "xr-b", "xr-c")
    }
