"""Crack analysis of aligned cross-section crops (grey, canonical um/px).

A fatigue crack runs in the solder just below the component-side interface, from
the joint edge inward, and shows as a thin dark line. The analysis:

1. **Layers.** In the middle columns, the component termination is the brightest
   thin band in the upper half; the solder is the bright layer below it, down to
   the step to the copper pad.
2. **Wetted width.** In the crack zone the joint ends where the embedding resin
   begins: thick dark regions that reach the crop's side or rise above the
   interface (sectioned voids are enclosed in the solder instead).
3. **Crack.** Dark pixels (much darker than solder, like the embedding resin)
   in a thin zone under the interface. Thick dark regions are sectioned voids, not
   cracks. The crack length on each side is the run of cracked columns from that
   edge inward (short gaps bridged, as a tortuous crack leaves the zone briefly).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi

from .xray import UNMEASURABLE


@dataclass(frozen=True)
class CrackSettings:
    crack_zone_um: float = 30.0       # depth below the termination's brightest row searched for a crack
    dark_level: float = 0.32          # crack pixels: below resin + this share of (solder - resin)
    max_crack_height_um: float = 8.0  # dark regions taller than this (per column) are voids
    gap_um: float = 6.0               # gaps bridged along a crack
    edge_slack_um: float = 25.0       # a crack may start this far in from the edge (its mouth merges with resin)
    max_void_depth_um: float = 110.0  # sectioned voids lie within this depth below the interface
    min_contrast: float = 0.15        # solder must stand out from the resin by this much
    min_solder_share: float = 0.6     # share of bright pixels just under the crack zone (a solder layer)


@dataclass
class CrackResult:
    metrics: dict
    solder_row: int = -1
    crack: np.ndarray | None = None   # bool mask of crack pixels
    voids: np.ndarray | None = None   # bool mask of sectioned voids
    edges: tuple[int, int] = (0, 0)


def _unmeasurable(reason: str) -> CrackResult:
    return CrackResult({"status": UNMEASURABLE, "reason": reason})


def _interface_row(smooth: np.ndarray) -> int | None:
    """Row of the component termination: the strongest thin bright ridge across the middle
    columns (brighter than the rows around it), in the upper part of the crop."""
    h, w = smooth.shape
    middle = smooth[:, int(w * 0.3):int(w * 0.7)].mean(axis=1)
    ridge = middle - ndi.median_filter(middle, size=17, mode="nearest")
    upper = ridge[: int(h * 0.75)]
    if not len(upper) or upper.max() <= 0:
        return None
    # the pad side has a ridge too; the termination is the first strong one from the top
    strong = np.flatnonzero(upper >= 0.5 * upper.max())
    first = strong[0]
    end = first
    while end + 1 < len(upper) and upper[end + 1] >= 0.5 * upper.max():
        end += 1
    return int(first + np.argmax(upper[first:end + 1]))


def _run_from(cracked: np.ndarray, passable: np.ndarray, gap: int, slack: int) -> int:
    """Length of the cracked run from index 0.

    The run may start within ``slack`` of the edge (the crack mouth, often wide,
    merges with the resin there), bridges gaps up to ``gap`` and runs on through
    ``passable`` columns (voids the crack has reached).
    """
    length, missing, seen_crack = 0, 0, False
    for i, (hit, through) in enumerate(zip(cracked, passable)):
        if hit or (through and (length > 0 or i < slack)):
            length, missing = i + 1, 0
            seen_crack |= bool(hit)
        else:
            missing += 1
            if missing > (slack if i < slack else gap):
                break
    return length if seen_crack else 0  # a resin corner or void alone is no crack


def measure_cracks(image: np.ndarray, pixel_um: float, settings: CrackSettings = CrackSettings()) -> CrackResult:
    """Crack and void measures of one aligned cross-section crop (float in [0, 1])."""
    if image.ndim != 2 or min(image.shape) < 32:
        return _unmeasurable(f"crop of shape {image.shape} is too small to measure")
    if not np.isfinite(image).all():
        return _unmeasurable("crop holds non-finite values")
    smooth = cv2.GaussianBlur(image, (0, 0), 0.8)
    resin, bright = np.percentile(smooth, 3), np.percentile(smooth, 90)
    if bright - resin < settings.min_contrast:
        return _unmeasurable("no solder layer stands out (blank, saturated or all-noise image)")
    top = _interface_row(smooth)
    px = lambda um: max(1, int(round(um / pixel_um)))  # noqa: E731
    zone_rows = slice(top + 1, min(image.shape[0], top + 1 + px(settings.crack_zone_um)))
    below = top + 1 + px(settings.crack_zone_um)
    if below >= image.shape[0]:
        return _unmeasurable("no component-side interface found")
    solder_level = np.percentile(smooth[zone_rows], 75)
    if solder_level - resin < settings.min_contrast:
        return _unmeasurable("no solder below the component-side interface")
    dark = smooth < resin + settings.dark_level * (solder_level - resin)
    thick = _thick_dark(dark, px(settings.max_crack_height_um))
    resin_mask = _resin(thick, top)
    edges = _joint_edges(resin_mask[zone_rows], image.shape[1] // 2)
    if edges is None:
        return _unmeasurable("no joint edges found beside the solder (is the joint centred in the crop?)")
    left, right = edges
    if right - left < image.shape[1] * 0.2:
        return _unmeasurable("solder layer too narrow or not centred in the crop")
    under = smooth[below:below + px(8.0), left:right + 1]
    if not under.size or (under > resin + 0.5 * (solder_level - resin)).mean() < settings.min_solder_share:
        return _unmeasurable("no continuous solder layer under the interface (all-noise or not a cross-section)")
    zone = np.zeros_like(dark)
    zone[zone_rows, left:right + 1] = True
    crack = dark & zone & ~thick
    cracked = crack[:, left:right + 1].any(axis=0)
    voids = _sectioned_voids(thick & ~resin_mask, top, left, right, px(settings.max_void_depth_um),
                             smooth, resin + 0.7 * (solder_level - resin))
    passable = (thick & zone)[:, left:right + 1].any(axis=0)  # voids or a wide crack mouth on the path
    gap = px(settings.gap_um)
    slack = px(settings.edge_slack_um)
    run_left = _run_from(cracked, passable, gap, slack)
    run_right = _run_from(cracked[::-1], passable[::-1], gap, slack)
    width = right - left + 1
    if run_left + run_right > width:
        run_left = width - run_right
    n_voids = int(ndi.label(voids)[1])
    metrics = {
        "status": "ok", "reason": "",
        "crack_fraction": float((run_left + run_right) / width),
        "crack_length_um": float((run_left + run_right) * pixel_um),
        "crack_left_um": float(run_left * pixel_um),
        "crack_right_um": float(run_right * pixel_um),
        "crack_start": _start_sides(run_left, run_right),
        "wetted_width_um": float(width * pixel_um),
        "sectioned_void_count": n_voids,
    }
    return CrackResult(metrics, top, crack, voids, (left, right))


def _resin(thick: np.ndarray, top: int) -> np.ndarray:
    """Embedding resin: thick dark regions that reach the crop's side or rise above the interface.

    Sectioned voids are thick and dark too, but enclosed in the solder below the interface.
    """
    labels, count = ndi.label(thick)
    if count == 0:
        return thick
    index = np.arange(1, count + 1)
    slices = ndi.find_objects(labels)
    keep = np.zeros(count + 1, dtype=bool)
    for k, sl in zip(index, slices):
        rows, cols = sl
        keep[k] = cols.start == 0 or cols.stop == thick.shape[1] or rows.start <= top
    return keep[labels]


def _joint_edges(resin_rows: np.ndarray, centre: int) -> tuple[int, int] | None:
    """Median (over the zone's rows) of the last resin column left and first right of the centre."""
    lefts, rights = [], []
    for row in resin_rows:
        left_cols = np.flatnonzero(row[:centre])
        right_cols = np.flatnonzero(row[centre:])
        if len(left_cols) and len(right_cols):
            lefts.append(left_cols[-1] + 1)
            rights.append(centre + right_cols[0] - 1)
    if not lefts:
        return None
    return int(np.median(lefts)), int(np.median(rights))


def _thick_dark(dark: np.ndarray, max_height: int) -> np.ndarray:
    """Dark regions taller than ``max_height``: a vertical opening keeps only those."""
    kernel = np.ones((max_height + 1, 1), np.uint8)
    return cv2.morphologyEx(dark.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0


def _sectioned_voids(candidates: np.ndarray, top: int, left: int, right: int, depth: int,
                     smooth: np.ndarray, solder_floor: float) -> np.ndarray:
    """Enclosed thick dark regions in the solder: below the interface, within the joint,
    and ringed by bright solder (dark spots in the laminate below are not voids)."""
    labels, count = ndi.label(candidates)
    keep = np.zeros(count + 1, dtype=bool)
    kernel = np.ones((7, 7), np.uint8)
    for k, (rows, cols) in enumerate(ndi.find_objects(labels), start=1):
        inside = (rows.start > top and rows.stop < min(top + depth, candidates.shape[0])
                  and cols.start >= left and cols.stop <= right + 1)
        if not inside:
            continue
        blob = labels == k
        ring = (cv2.dilate(blob.astype(np.uint8), kernel) > 0) & ~candidates
        keep[k] = ring.any() and np.median(smooth[ring]) > solder_floor
    return keep[labels]


def _start_sides(left: int, right: int) -> str:
    if left and right:
        return "both"
    return "left" if left else "right" if right else "none"
