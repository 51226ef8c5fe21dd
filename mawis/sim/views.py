"""How a station images a board: magnification per board, the views of each layout, and ROIs.

* **Magnification per board.** The operator sets the geometric magnification once
  per board so that the largest view fills the detector sensibly: a pixel size
  within the station's ``pixel_size_range_um``, such that the largest view spans a
  random share of ``detector_px`` (``single``: the largest joint's view spans
  200-700 px; ``package`` / ``panel``: the largest package or block spans 45-92 %
  of the detector). The tube voltage is set per board too (``mu_scale``, see
  :mod:`.xray`).
* **single**: one image per joint. The field of view is the joint's bounding box
  plus a random margin on each side (15-70 % of the joint's size, drawn per side,
  so the joint sits off-centre; a joint too big for the detector at the station's
  coarsest pixel keeps at least 5 %); neighbouring pads, traces, vias and wires of
  the board intrude. The manifest row has no ROI (the whole image).
* **package**: one image per package (all its pads plus 3-15 % margin); one
  manifest row per pad with a tight ROI: the joint's bounding box plus 0-20 % of
  its size per side, and for some ROIs one side cut up to 3 % into the joint.
* **panel**: ``panel_rows x panel_cols`` neighbouring packages of the board's grid
  per image, ROIs as for ``package``. A block that does not fit the detector at
  the station's coarsest pixel is split; a package that does not fit falls back to
  single-joint images for that board.

No image side exceeds ``detector_px`` (1500 px by default). Views are drawn from a
random stream keyed by board, view and inspection, so the operator places every
inspection a little differently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .board import BoardScene, Package, PadInstance
from .config import XrayStation
from .geometry import outline_points
from .xray import View, _copper_outline, _to_board

SINGLE_TARGET_PX = (200.0, 700.0)
GROUP_TARGET_SHARE = (0.45, 0.92)
SINGLE_MARGIN = (0.15, 0.7)
SINGLE_MIN_MARGIN = 0.05       # the margin a joint too big for the detector is left with
GROUP_MARGIN = (0.03, 0.15)
ROI_MARGIN = (0.0, 0.2)
ROI_CUT_PROB = 0.15
ROI_MAX_CUT = 0.03
MIN_ROI_PX = 8


@dataclass(frozen=True)
class BoardImaging:
    """A station's set-up for one board."""

    pixel_um: float
    mu_scale: float
    layout: str                                  # single | package | panel (after any fallback)
    groups: tuple[tuple[str, ...], ...]          # package ids per image (package / panel)


def joint_box(pad: PadInstance) -> tuple[float, float, float, float]:
    """Bounding box (x0, y0, x1, y1, board um) of the joint's wetted outline."""
    points = _to_board(pad, outline_points(pad.geometry, 128))
    return float(points[:, 0].min()), float(points[:, 1].min()), float(points[:, 0].max()), float(points[:, 1].max())


def package_box(pkg: Package) -> tuple[float, float, float, float]:
    """Bounding box of a package: its body and its copper lands."""
    bx, by = pkg.body_half_um
    points = [pkg.to_board(np.array([[-bx, -by], [bx, -by], [bx, by], [-bx, by]]))]
    points += [_copper_outline(pad) for pad in pkg.pads]
    allp = np.concatenate(points)
    return float(allp[:, 0].min()), float(allp[:, 1].min()), float(allp[:, 0].max()), float(allp[:, 1].max())


def _union(boxes) -> tuple[float, float, float, float]:
    b = np.array(boxes)
    return float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())


def _blocks(board: BoardScene, rows: int, cols: int) -> list[tuple[Package, ...]]:
    grid_rows, grid_cols = board.grid
    packages = board.campaign_packages
    blocks = []
    for r0 in range(0, grid_rows, rows):
        for c0 in range(0, grid_cols, cols):
            block = tuple(packages[r * grid_cols + c] for r in range(r0, min(r0 + rows, grid_rows))
                          for c in range(c0, min(c0 + cols, grid_cols)) if r * grid_cols + c < len(packages))
            if block:
                blocks.append(block)
    return blocks


def board_imaging(board: BoardScene, station: XrayStation, rng: np.random.Generator) -> BoardImaging:
    """Pixel size, tube voltage, layout and image groups of ``board`` on ``station``."""
    lo, hi = station.pixel_range
    detector = station.detector_px
    mu_scale = float(min(1.0, rng.uniform(1.2, 2.2) / (station.mu_solder_per_um * board.mu_path_um)))
    layout = station.layout
    share = rng.uniform(*GROUP_TARGET_SHARE)
    if layout in ("package", "panel"):
        rows, cols = (station.panel_rows, station.panel_cols) if layout == "panel" else (1, 1)
        while True:
            blocks = _blocks(board, rows, cols)
            extent = max(_extent(_union([package_box(p) for p in block])) for block in blocks)
            extent *= 1 + 2 * GROUP_MARGIN[1]
            if extent / hi <= detector or rows * cols == 1:
                break
            rows, cols = (rows - 1, cols) if rows >= cols else (rows, cols - 1)
        if extent / hi <= detector:
            pixel = round(float(np.clip(extent / (share * detector), lo, hi)), 4)
            groups = tuple(tuple(p.package_id for p in block) for block in blocks)
            return BoardImaging(pixel, mu_scale, "panel" if layout == "panel" else "package", groups)
    # one image per joint: a typical view of the largest joint spans 200-700 px; the joint
    # itself (with a little margin) must fit the detector, even past the station's range
    largest = max(_extent(joint_box(pad)) for pkg in board.campaign_packages for pad in pkg.pads)
    typical = largest * (1 + SINGLE_MARGIN[0] + SINGLE_MARGIN[1])
    pixel = float(np.clip(typical / rng.uniform(*SINGLE_TARGET_PX), lo, hi))
    pixel = max(pixel, largest * (1 + 2 * SINGLE_MIN_MARGIN) / detector)
    return BoardImaging(round(pixel, 4), mu_scale, "single", ())


def _extent(box) -> float:
    return max(box[2] - box[0], box[3] - box[1])


def single_view(pad: PadInstance, imaging: BoardImaging, detector: int, rng: np.random.Generator) -> View:
    """One joint with a random margin on each side (so off-centre)."""
    x0, y0, x1, y1 = joint_box(pad)
    w, h = x1 - x0, y1 - y0
    size = max(w, h)
    left, right, top, bottom = rng.uniform(*SINGLE_MARGIN, 4) * size
    px = imaging.pixel_um
    room = detector * px   # margins shrink where the detector is too small for them
    if w + left + right > room:
        left, right = np.array([left, right]) * max(room - w, 0.0) / (left + right)
    if h + top + bottom > room:
        top, bottom = np.array([top, bottom]) * max(room - h, 0.0) / (top + bottom)
    width = min(int(math.ceil((w + left + right) / px)), detector)
    height = min(int(math.ceil((h + top + bottom) / px)), detector)
    cx = (x0 - left + x1 + right) / 2
    cy = (y0 - top + y1 + bottom) / 2
    return View((float(cx), float(cy)), width, height, px)


def group_view(packages: list[Package], imaging: BoardImaging, detector: int, rng: np.random.Generator) -> View:
    """Packages with a margin and a small offset."""
    x0, y0, x1, y1 = _union([package_box(p) for p in packages])
    w, h = x1 - x0, y1 - y0
    size = max(w, h)
    left, right, top, bottom = rng.uniform(*GROUP_MARGIN, 4) * size
    px = imaging.pixel_um
    width = min(int(math.ceil((w + left + right) / px)), detector)
    height = min(int(math.ceil((h + top + bottom) / px)), detector)
    return View(((x0 - left + x1 + right) / 2, (y0 - top + y1 + bottom) / 2), width, height, px)


def roi_for(pad: PadInstance, view: View, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A tight ROI around the joint (x, y, w, h in image pixels), inside the image."""
    x0, y0, x1, y1 = joint_box(pad)
    left_edge = view.centre_um[0] - view.width_px * view.pixel_um / 2
    top_edge = view.centre_um[1] - view.height_px * view.pixel_um / 2
    bx0, bx1 = (x0 - left_edge) / view.pixel_um, (x1 - left_edge) / view.pixel_um
    by0, by1 = (y0 - top_edge) / view.pixel_um, (y1 - top_edge) / view.pixel_um
    w, h = bx1 - bx0, by1 - by0
    grow = rng.uniform(*ROI_MARGIN, 4) * np.array([w, w, h, h])
    if rng.random() < ROI_CUT_PROB:  # cut a little into the joint on one side
        side = int(rng.integers(0, 4))
        grow[side] = -rng.uniform(0.0, ROI_MAX_CUT) * (w if side < 2 else h)
    left = int(math.floor(bx0 - grow[0]))
    right = int(math.ceil(bx1 + grow[1]))
    top = int(math.floor(by0 - grow[2]))
    bottom = int(math.ceil(by1 + grow[3]))
    left, top = max(left, 0), max(top, 0)
    right, bottom = min(right, view.width_px), min(bottom, view.height_px)
    # the contract quarantines ROIs under 8 x 8 px: grow tiny ones
    xs, ys = [left, right], [top, bottom]
    for pair, limit in ((xs, view.width_px), (ys, view.height_px)):
        while pair[1] - pair[0] < MIN_ROI_PX and (pair[0] > 0 or pair[1] < limit):
            pair[0], pair[1] = max(pair[0] - 1, 0), min(pair[1] + 1, limit)
    return xs[0], ys[0], xs[1] - xs[0], ys[1] - ys[0]
