"""The measurement grid: a large joint is measured on a coarser grid, never so coarse that
its short side cannot be resolved; the solder-level model's per-cell percentile is exact
whatever the range of the values (log intensities are negative)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mawis.imaging.align import cut_scaled
from mawis.imaging.locate import LocateSettings, find_joint_site, outline_joint
from mawis.measure.xray import _cell_percentile


def _pad_image(side_px: int, long_px: int, short_px: int, angle_deg: float) -> np.ndarray:
    """A dark joint (a rotated rectangle) on a bright board, with a little noise."""
    image = np.full((side_px, side_px), 0.85, np.float32)
    corners = cv2.boxPoints(((side_px / 2, side_px / 2), (long_px, short_px), angle_deg)).astype(np.int32)
    cv2.fillConvexPoly(image, corners, 0.25)
    noise = np.random.default_rng(0).normal(0.0, 0.01, image.shape).astype(np.float32)
    return np.clip(image + noise, 0.0, 1.0)


@pytest.mark.parametrize("long_px, short_px, angle_deg", [(1600, 1600, 0.0), (1800, 160, 0.0), (1800, 160, 35.0)])
def test_a_large_joint_is_shrunk_but_keeps_its_short_side_measurable(long_px, short_px, angle_deg):
    settings = LocateSettings()
    pixel_um = 4.0
    image = _pad_image(2400, long_px, short_px, angle_deg)
    site = find_joint_site(image, pixel_um, settings=settings)
    assert not isinstance(site, str), site
    assert site.scale < 1.0
    # the long side is capped unless that would leave the short side too few pixels
    assert site.scale * long_px <= max(1.05 * settings.max_joint_px, 1.1 * settings.min_short_px * long_px / short_px)
    assert site.scale * short_px >= 0.9 * settings.min_short_px
    grid_um = pixel_um / site.scale
    location = outline_joint(cut_scaled(image, site.region, site.scale), grid_um, settings)
    assert location.found, location.reason
    assert location.width_um == pytest.approx(short_px * pixel_um, rel=0.15)
    assert location.length_um == pytest.approx(long_px * pixel_um, rel=0.1)


def test_a_small_joint_is_measured_at_the_image_resolution():
    site = find_joint_site(_pad_image(400, 70, 50, 10.0), 4.0)
    assert not isinstance(site, str), site
    assert site.scale == 1.0


def test_cell_percentile_is_exact_for_values_outside_the_unit_range():
    rng = np.random.default_rng(3)
    cells = rng.integers(0, 5, 400)
    values = rng.normal(-0.4, 0.8, 400)  # log-intensity residuals: mostly negative, some above 1
    table = _cell_percentile(values, cells, 6, 35.0, min_count=8)
    for cell in range(5):
        ordered = np.sort(values[cells == cell])
        assert table[cell] == pytest.approx(ordered[int(np.floor(0.35 * (len(ordered) - 1)))], abs=1e-6)
    assert np.isnan(table[5])  # a cell with no values has no level
