"""Shared fixtures: small simulated batches, made once per test session."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from mawis.sim import CampaignConfig, simulate_batch
from tests.browser import PageCheck, keep_screenshot, open_report, require_browser


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


def as_from_a_terminal() -> None:
    """``preexec_fn`` for a child that a test stops with SIGINT: Ctrl-C's default action, whatever the
    test runner inherited. A runner started in the background by a shell without job control
    ignores SIGINT, its children inherit that, and Python then installs no KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def assert_one_error_line(err: str, message: str) -> None:
    """The CLI's contract for bad input: exactly one line, starting 'error: ', naming the problem."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


@pytest.fixture
def open_in_chromium(request, tmp_path):
    """``open_in_chromium(html_path, name=None, **kwargs) -> PageCheck``: the page in headless Chromium.

    Skips the test without Chromium (fails it when MAWIS_REQUIRE_BROWSER=1). The screenshot is
    ``tmp_path/<name or page stem>.png``, copied into $MAWIS_SCREENSHOTS when that is set. Keyword
    arguments go to :func:`tests.browser.open_report` (width, height, counts, texts, inspect).
    """
    require_browser()
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")

    def open_page(html_path: Path, name: str | None = None, **kwargs) -> PageCheck:
        name = name or Path(html_path).stem
        page = open_report(html_path, tmp_path / f"{name}.png", **kwargs)
        keep_screenshot(page.screenshot, f"{test}-{name}.png")
        return page

    return open_page


def pytest_collection_modifyitems(items):
    # every test that opens a browser carries the marker, so -m "not browser" leaves them all out
    for item in items:
        if "open_in_chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
