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


def fail_after(monkeypatch, module, name: str, calls: int) -> None:
    """Make ``module.name`` raise KeyboardInterrupt after ``calls`` successful calls (an interrupted run)."""
    real = getattr(module, name)
    count = {"n": 0}

    def interrupted(*args, **kwargs):
        count["n"] += 1
        if count["n"] > calls:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, interrupted)


def assert_one_error_line(err: str, message: str) -> None:
    """The CLI's contract for bad input: exactly one line, starting 'error: ', naming the problem."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
