"""Void analysis of aligned X-ray crops.

1. **Joint mask.** The solder is the darkest large region. A threshold between the
   solder level (a low percentile of the crop) and the surrounding level (the crop
   border) finds it; holes (voids) are filled and the largest component near the
   centre is kept. Because the threshold sits between the two levels the crop
   itself shows, it adapts to each station's gain, offset and gamma.
2. **Expected solder intensity.** Within the joint, intensity depends on the
   distance to the joint edge (the solder thins out over the fillet, and blur
   mixes in the surroundings) and varies slowly across the crop (vignetting). The
   robust (median) intensity per distance band plus a fitted plane models this;
   voids, a minority of each band, hardly move the median.
3. **Voids** are what is markedly brighter than expected: hysteresis on the
   residual, with thresholds in units of the crop's own noise (median absolute
   deviation), so noisy stations are not over-segmented. Each void is then cut where
   its log-contrast (log of observed over expected intensity, linear in the missing
   solder depth since attenuation is exponential) falls to a share of its own peak.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label, regionprops

UNMEASURABLE = "unmeasurable"


@dataclass(frozen=True)
class VoidSettings:
    joint_level: float = 0.5          # threshold position between solder (0) and surroundings (1)
    distance_band_px: float = 1.0     # width of the distance-to-edge bands of the expected-intensity model
    max_band: int = 8                 # deeper than this many bands the solder is flat
    sectors: int = 8                  # directions: each side of a joint has its own surroundings
    background_percentile: float = 35.0  # solder level of a cell, robust to voids filling part of it
    seed_inset_px: float = 2.0        # the noise level is read this far inside the joint
    rim_px: float = 3.0               # the rim along the edge (fillet): voids there only extend core voids
    seed_sigmas: float = 4.0          # void seeds: residual above this many noise sigmas
    grow_sigmas: float = 1.5          # voids grow over residual above this many noise sigmas
    min_void_px: int = 3
    passes: int = 1                   # extra passes re-model the solder without found voids; the low percentile makes one enough
    void_filter_px: int = 12          # edge voids up to about twice this radius are closed into the joint
    residual_smoothing_px: float = 0.8  # matched filter against pixel noise before thresholding
    model_shift_px: float = 0.5       # how far the expected-intensity model may be misplaced
    edge_share_of_peak: float = 0.15  # a void's outline: where its log-contrast falls to this share of its peak
    small_void_share_px: float = 0.6  # ... plus this / void radius (px): blur widens small voids most
    edge_band_um: float = 50.0        # "edge voids" lie within this distance of the joint edge
    min_joint_fraction: float = 0.05  # a joint covering less of the crop cannot be measured
    max_joint_fraction: float = 0.9
    min_contrast: float = 0.03        # solder must differ this much from its surroundings (of full scale)


@dataclass
class VoidResult:
    metrics: dict
    joint: np.ndarray   # bool
    voids: np.ndarray   # bool


def _unmeasurable(reason: str, shape) -> VoidResult:
    empty = np.zeros(shape, dtype=bool)
    return VoidResult({"status": UNMEASURABLE, "reason": reason}, empty, empty)


def joint_mask(image: np.ndarray, settings: VoidSettings) -> tuple[np.ndarray | None, str]:
    smooth = cv2.GaussianBlur(image, (0, 0), 1.0)
    solder_level = float(np.percentile(smooth, 2))
    border = np.concatenate([smooth[0], smooth[-1], smooth[:, 0], smooth[:, -1]])
    outside_level = float(np.median(border))
    if outside_level - solder_level < settings.min_contrast:
        return None, "no dark joint stands out from its surroundings (blank, saturated or all-noise image)"
    dark = smooth < solder_level + settings.joint_level * (outside_level - solder_level)
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(dark.astype(np.uint8), connectivity=4)
    if count <= 1:
        return None, "no joint found"
    # the joint: large and near the centre (prefer it over dark corners or package edges)
    areas = stats[1:, cv2.CC_STAT_AREA].astype(float)
    distance = np.hypot(centroids[1:, 1] - image.shape[0] / 2, centroids[1:, 0] - image.shape[1] / 2)
    best = 1 + int(np.argmax(areas - 4.0 * distance * np.sqrt(areas)))
    # voids at the edge cut notches into the dark region; a closing larger than them fills
    # the notches without growing a convex outline
    joint = ndi.binary_fill_holes(_disk_closing(labels == best, settings.void_filter_px))
    share = joint.mean()
    if not settings.min_joint_fraction <= share <= settings.max_joint_fraction:
        return None, f"joint covers {share:.0%} of the crop; expected {settings.min_joint_fraction:.0%}-" \
                     f"{settings.max_joint_fraction:.0%}"
    return joint, ""


def _disk_closing(mask: np.ndarray, radius: float) -> np.ndarray:
    """Closing with a disk, via two Euclidean distance transforms (fast for large radii)."""
    pad = int(np.ceil(radius)) + 1
    padded = np.pad(mask.astype(np.uint8), pad)
    dilated = cv2.distanceTransform(1 - padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= radius
    closed = cv2.distanceTransform(dilated.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) > radius
    return closed[pad:-pad, pad:-pad]


def expected_intensity(image: np.ndarray, joint: np.ndarray, distance: np.ndarray, settings: VoidSettings,
                       exclude: np.ndarray | None = None) -> np.ndarray:
    """Robust solder intensity by (direction from the centre, distance to the edge), plus a plane.

    ``distance`` is each pixel's distance to the joint edge; ``exclude`` (voids found in
    an earlier pass) keeps large voids from biasing their cells.
    """
    bands = np.minimum(np.floor(distance / settings.distance_band_px).astype(int), settings.max_band)
    rows, cols = np.nonzero(joint)
    centre = rows.mean(), cols.mean()
    use = joint & ~exclude if exclude is not None and (joint & ~exclude).sum() > 50 else joint
    rows, cols = np.nonzero(use)
    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    angle = np.arctan2(yy - centre[0], xx - centre[1])
    sectors = np.floor((angle + np.pi) / (2 * np.pi) * settings.sectors).astype(int) % settings.sectors
    cells = bands * settings.sectors + sectors
    values, cell_ids = image[use], cells[use]
    table = _cell_percentile(values, cell_ids, cells.max() + 1, settings.background_percentile, min_count=12)
    deep_cells = bands[use] >= settings.max_band
    deep = np.median(values[deep_cells]) if deep_cells.any() else np.median(values)
    table = np.where(np.isnan(table), deep, table)
    expected = table[cells]
    residual = image - expected
    design = np.column_stack([np.ones_like(rows), rows, cols]).astype(np.float64)
    resid = residual[use]
    keep = np.abs(resid - np.median(resid)) < 3 * _mad(resid) + 1e-9
    coef, *_ = np.linalg.lstsq(design[keep], resid[keep], rcond=None)
    return expected + (coef[0] + coef[1] * yy + coef[2] * xx).astype(np.float32)


def _cell_percentile(values: np.ndarray, cell_ids: np.ndarray, n_cells: int, q: float, min_count: int) -> np.ndarray:
    """Per-cell percentile with one sort (NaN for cells with fewer than ``min_count`` values).

    Voids only brighten: a low percentile ignores voids that cover part of a cell.
    """
    # one float sort orders by cell, then by value (values lie in [0, 1])
    order = np.argsort(cell_ids + np.clip(values, 0.0, 1.0) * 0.999)
    sorted_values, sorted_cells = values[order], cell_ids[order]
    starts = np.searchsorted(sorted_cells, np.arange(n_cells))
    counts = np.bincount(cell_ids, minlength=n_cells)
    pick = starts + np.floor(q / 100.0 * np.maximum(counts - 1, 0)).astype(int)
    table = np.full(n_cells, np.nan, dtype=np.float32)
    ok = counts >= min_count
    table[ok] = sorted_values[np.minimum(pick[ok], len(sorted_values) - 1)]
    return table


def _mad(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def segment_voids(image: np.ndarray, settings: VoidSettings = VoidSettings()) -> VoidResult:
    """Joint and void masks of one aligned X-ray crop (float in [0, 1])."""
    if image.ndim != 2 or min(image.shape) < 16:
        return _unmeasurable(f"crop of shape {image.shape} is too small to measure", image.shape[:2])
    if not np.isfinite(image).all():
        return _unmeasurable("crop holds non-finite values", image.shape)
    joint, reason = joint_mask(image, settings)
    if joint is None:
        return _unmeasurable(reason, image.shape)
    distance = cv2.distanceTransform(joint.astype(np.uint8), cv2.DIST_L2, 5)
    voids, noise = None, 0.0
    for _ in range(settings.passes):  # later passes: expected intensity without the voids found
        expected = expected_intensity(image, joint, distance, settings, exclude=voids)
        residual = cv2.GaussianBlur(image - expected, (0, 0), settings.residual_smoothing_px)
        background = joint & (distance > settings.seed_inset_px) & (voids is None or ~voids)
        noise = _mad(residual[background]) if background.sum() > 50 else _mad(residual[joint])
        # where the expected intensity is steep (fillet, edges) a small misplacement of the
        # model looks like a void: widen the tolerance there by the local gradient
        gy, gx = np.gradient(cv2.GaussianBlur(expected, (0, 0), 1.0))
        tolerance = np.sqrt(max(noise, 1e-4) ** 2 + (settings.model_shift_px * np.hypot(gx, gy)) ** 2)
        # attenuation is exponential in the missing solder: outline shares are taken of the
        # log-contrast, which is linear in the void's depth profile
        base = np.maximum(expected, 1e-3)
        contrast = np.log(np.maximum(base + residual, 1e-4) / base)
        voids = _voids_from_residual(residual / tolerance, contrast, joint, distance, 1.0, settings)
    return VoidResult({"status": "ok", "reason": "", "noise": noise}, joint, voids)


def _voids_from_residual(residual, contrast, joint, distance, noise, settings: VoidSettings) -> np.ndarray:
    """Hysteresis from confident seeds, in the joint core; near the edge voids may only extend a core void.

    The rim along the joint edge is where the fillet thins out; growing freely there
    would run strips along the whole edge.
    """
    grow = joint & (residual > settings.grow_sigmas * noise)
    core = distance > settings.rim_px
    seeds = core & (residual > settings.seed_sigmas * noise)
    labels, count = ndi.label(grow & core)
    if count == 0:
        return np.zeros_like(joint)
    seeded = np.bincount(labels[seeds], minlength=count + 1)[1:] > 0
    # a blurred void fades out gradually; its outline sits at a share of its own peak log-contrast
    peak = np.full(count + 1, -np.inf)
    grown = labels > 0
    np.maximum.at(peak, labels[grown], contrast[grown])
    peak[0] = np.inf
    # blur spreads a small void well beyond its outline: the smaller the void, the higher
    # the share of its peak at which its true outline lies
    sizes = np.bincount(labels.ravel(), minlength=count + 1).astype(float)
    sizes[0] = 1.0
    radius = np.sqrt(sizes / np.pi)
    share = np.clip(settings.edge_share_of_peak + settings.small_void_share_px / radius, 0.0, 0.7)
    within = contrast >= share[labels] * peak[labels]
    labels = np.where(within, labels, 0)
    size = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    keep = np.concatenate([[False], seeded & (size >= settings.min_void_px)])
    voids = keep[labels]
    reach = int(np.ceil(settings.rim_px)) * 2 + 1
    near = cv2.dilate(voids.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach))) > 0
    return voids | (grow & ~core & near)


def void_metrics(result: VoidResult, pixel_um: float, settings: VoidSettings = VoidSettings()) -> dict:
    """Per-image void measures from the masks (areas as shares of the joint area)."""
    if result.metrics["status"] != "ok":
        return dict(result.metrics)
    joint, voids = result.joint, result.voids
    joint_px = joint.sum()
    regions = regionprops(label(voids))
    areas = np.array([r.area for r in regions], dtype=float)
    diameters = 2 * np.sqrt(areas / np.pi) * pixel_um
    distance = cv2.distanceTransform(joint.astype(np.uint8), cv2.DIST_L2, 5) * pixel_um
    edge = joint & (distance <= settings.edge_band_um)
    joint_centroid = np.array(ndi.center_of_mass(joint))
    if len(regions):
        void_centroid = np.array(ndi.center_of_mass(voids))
        offset = float(np.linalg.norm(void_centroid - joint_centroid) * pixel_um)
    else:
        offset = 0.0
    contours, _ = cv2.findContours(joint.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull_area = cv2.contourArea(cv2.convexHull(np.vstack(contours))) if contours else 0.0
    return {
        **result.metrics,
        "void_fraction": float(voids.sum() / joint_px),
        "largest_void_fraction": float(areas.max() / joint_px) if len(areas) else 0.0,
        "void_count": int(len(regions)),
        "void_mean_diameter_um": float(diameters.mean()) if len(areas) else 0.0,
        "void_max_diameter_um": float(diameters.max()) if len(areas) else 0.0,
        "edge_void_fraction": float((voids & edge).sum() / max(edge.sum(), 1)),
        "void_centroid_offset_um": offset,
        "joint_area_um2": float(joint_px * pixel_um ** 2),
        "joint_solidity": float(min(1.0, joint_px / hull_area)) if hull_area else 0.0,
    }
