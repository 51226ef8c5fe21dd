"""Crack analysis of a cross-section's measurement region (grey, component side up).

A fatigue crack runs in the solder along the component-side interface, from the joint
edge inward, and shows as a thin dark line. The region holds the solder (found by
:func:`mawis.imaging.section.find_section_site`, turned component side up) with the
termination above it and the pad below. The analysis:

1. **Solder.** The bright layer between component and board (the same rule that found
   it at ingestion, on grey): whatever the termination looks like (silvery thick-film,
   copper lead frame), its top edge is the component-side interface; a crack running
   along the interface separates the two, so the solder's top edge lies under it.
2. **Wetted width.** The solder's extent just under the interface (the fillets that
   spread onto the pad below do not count).
3. **Crack.** Dark pixels (much darker than solder, like the embedding resin) in a thin
   zone around the interface. Thick dark regions are sectioned voids or resin, not
   cracks. The crack length on each side is the run of cracked columns from that edge
   inward (short gaps bridged, as a tortuous crack leaves the zone briefly).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi

from ..imaging.section import SectionLayers, SectionSettings, section_layers
from .xray import UNMEASURABLE


@dataclass(frozen=True)
class CrackSettings:
    crack_zone_um: float = 14.0       # depth below the interface searched for a crack
    above_um: float = 8.0             # ... and height above it (a crack between solder and termination)
    interface_rows_um: float = 12.0   # the solder's level is read this far under the interface
    grey_bright_share: float = 0.7    # grey images only: solder is brighter than this share from resin to bright
    dark_level: float = 0.32          # crack pixels: below resin + this share of (solder - resin)
    max_crack_height_um: float = 8.0  # dark regions taller than this (per column) are voids
    gap_um: float = 6.0               # gaps bridged along a crack
    edge_slack_um: float = 25.0       # a crack may start this far in from the edge (its mouth merges with resin)
    max_void_depth_um: float = 110.0  # sectioned voids lie within this depth below the interface
    min_contrast: float = 0.15        # solder must stand out from the resin by this much


@dataclass
class CrackResult:
    metrics: dict
    solder_row: int = -1
    crack: np.ndarray | None = None   # bool mask of crack pixels
    voids: np.ndarray | None = None   # bool mask of sectioned voids
    edges: tuple[int, int] = (0, 0)


def _unmeasurable(reason: str) -> CrackResult:
    return CrackResult({"status": UNMEASURABLE, "reason": reason})


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


def measure_cracks(image: np.ndarray, pixel_um: float, layers: SectionLayers | None = None,
                   settings: CrackSettings = CrackSettings()) -> CrackResult:
    """Crack and void measures of one cross-section measurement region (float in [0, 1]).

    ``layers`` say where the solder lies (ingestion finds them in colour); without them they
    are looked for in the grey region itself."""
    if image.ndim != 2 or min(image.shape) < 16:
        return _unmeasurable(f"region of shape {image.shape} is too small to measure")
    if not np.isfinite(image).all():
        return _unmeasurable("region holds non-finite values")
    smooth = cv2.GaussianBlur(image, (0, 0), 0.8)
    resin, bright = np.percentile(smooth, 3), np.percentile(smooth, 97)
    if bright - resin < settings.min_contrast:
        return _unmeasurable("no solder layer stands out (blank, saturated or all-noise image)")
    if layers is None:
        layers = section_layers(image, pixel_um, SectionSettings(bright_share=settings.grey_bright_share))
        if isinstance(layers, str):
            return _unmeasurable(layers)
    px = lambda um: max(1, int(round(um / pixel_um)))  # noqa: E731
    top, left, right = layers.top, layers.left, layers.right
    if not (0 <= top < image.shape[0] and 0 <= left < right < image.shape[1]):
        return _unmeasurable("recorded solder layers lie outside the region")
    solder_level = float(np.percentile(smooth[top:top + px(settings.interface_rows_um), left:right + 1], 75))
    if solder_level - resin < settings.min_contrast:
        return _unmeasurable("no solder below the component-side interface")
    dark = smooth < resin + settings.dark_level * (solder_level - resin)
    thick = _thick_dark(dark, px(settings.max_crack_height_um))
    zone = np.zeros_like(dark)
    zone_rows = slice(max(0, top - px(settings.above_um)), min(image.shape[0], top + px(settings.crack_zone_um)))
    zone[zone_rows, left:right + 1] = True
    crack = dark & zone & ~thick
    cracked = crack[:, left:right + 1].any(axis=0)
    resin_mask = _resin(thick, top)
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
