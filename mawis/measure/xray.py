"""Void analysis of a joint in its X-ray measurement region.

1. **Joint outline**: found by :func:`mawis.imaging.locate.outline_joint` (the whole
   wetted pad, at the image's own resolution).
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
4. **Dark inclusions**: what is markedly *darker* than expected (filled vias under the
   pad, bond wires over it) is neither solder to model nor a void; a second pass models
   the solder without them and without the voids of the first.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi
from scipy.special import ndtri
from skimage.measure import label, regionprops

from ..imaging.locate import PackageFrame, masked_median, outline_stretches

UNMEASURABLE = "unmeasurable"


@dataclass(frozen=True)
class VoidSettings:
    distance_band_px: float = 1.0     # width of the distance-to-edge bands of the expected-intensity model
    max_band: int = 8                 # deeper than this many bands the solder is flat
    edge_segment_px: float = 12.0     # the edge profile is modelled per stretch of the outline this long
    edge_smoothing: bool = False      # ... averaged with the neighbouring stretches
    background_percentile: float = 35.0  # solder level of a cell, robust to voids filling part of it
    seed_inset_px: float = 2.0        # the noise level is read this far inside the joint
    level_model: str = "cells"        # "cells": steps cut the joint into cells; "lines": rank openings along the axes
    step_sigmas: float = 8.0          # cells: a step jumps by this many noise sigmas of the profile
    step_min: float = 0.03            # ... and by at least this much (log intensity)
    step_width_share: float = 0.03    # ... within this share of the joint's extent
    step_sharpness: float = 0.7       # ... and nearly all of its jump over three times that (a sharp edge)
    line_share: float = 0.6           # solder level: line openings this share of the joint's short side long
    line_rank: float = 0.25           # ... rank of the opening (voids up to 1 - this of a line go, vias up to this stay out)
    line_samples: int = 13            # ... read at this many taps
    level_grid_px: int = 64           # ... on a grid where the joint spans at most this many pixels
    background_min_px: float = 9.0
    passes: int = 2                   # model, find, model again without what was found
    quantum_floor: float = 0.5        # the noise is taken as at least this many grey-level steps
    edge_percentile: float = 50.0     # edge profile once the first pass has flagged the voids
    rim_px: float = 3.0               # the rim along the edge (fillet): voids there only extend core voids
    seed_sigmas: float = 4.0          # void seeds: residual above this many noise sigmas
    grow_sigmas: float = 1.5          # voids grow over residual above this many noise sigmas
    dark_sigmas: float = 6.0          # darker than expected by this many sigmas: a filled via or wire, not solder
    min_void_px: int = 3
    residual_smoothing_px: float = 0.8  # matched filter against pixel noise before thresholding
    model_shift_px: float = 0.5       # how far the expected-intensity model may be misplaced
    edge_share_of_peak: float = 0.15  # a void's outline: where its log-contrast falls to this share of its peak
    small_void_share_px: float = 0.6  # ... plus this / void radius (px): blur widens small voids most
    peak_reach_px: float = 0.0        # ... of the peak within this reach (0: of the whole void or cluster)
    edge_band_um: float = 50.0        # "edge voids" lie within this distance of the joint edge
    min_joint_px: int = 64            # a joint covering fewer measurement pixels cannot be measured


@dataclass
class VoidResult:
    metrics: dict
    joint: np.ndarray   # bool
    voids: np.ndarray   # bool
    inclusions: np.ndarray | None = None  # bool: darker than solder (filled vias, wires), neither solder model nor void


def _unmeasurable(reason: str, shape) -> VoidResult:
    empty = np.zeros(shape, dtype=bool)
    return VoidResult({"status": UNMEASURABLE, "reason": reason}, empty, empty)


def expected_log_intensity(log_image: np.ndarray, joint: np.ndarray, distance: np.ndarray, flagged: np.ndarray,
                           settings: VoidSettings, segments: tuple[np.ndarray, int] | None = None,
                           edge_percentile: float | None = None, bands: np.ndarray | None = None) -> np.ndarray:
    """Expected log intensity of void-free solder: a level along the package's axes plus an
    edge profile.

    What lies above and below a joint (package body, lead frame, tab, substrate copper, the
    edges of the pad) changes the solder's level in steps and bands along the package's
    axes; a void is compact. The level is the larger of two openings of the log image
    with lines along those axes (unflagged joint pixels only): a line opening removes what
    is brighter and narrower than the line, so a void goes in both, while a step, a band or
    the brighter fillet along a straight edge stays in the one along it. What remains near
    the edge (rounded corners, where the fillet thins the solder) is modelled per stretch of
    the outline and distance to it by a robust percentile of what is left over; voids, a
    minority of each cell and only brighter, hardly move it. ``segments`` and ``bands`` (of
    :func:`outline_stretches` and :func:`edge_bands`) depend on the joint alone: a caller
    modelling one joint several times passes them in.
    """
    short_px = 2.0 * float(distance.max())
    usable = joint & ~flagged
    line = max(settings.background_min_px, settings.line_share * short_px)
    core = np.zeros_like(log_image)
    if settings.level_model == "cells":  # steps first; the rank openings then follow what is smooth
        core = _cell_level(log_image, joint, usable, settings)
    core = core + _axis_level(log_image - core, joint, usable, line, settings.line_rank, settings.line_samples,
                              settings.level_grid_px)
    left = log_image - core
    inner = usable
    if inner.any():  # the percentile sits below the solder's mean: centre the core level on it
        inside = left[inner]
        core = core + np.median(inside[:: max(1, len(inside) // 6000)])
        left = log_image - core
    bands = edge_bands(joint, settings) if bands is None else bands
    segments, count = segments or outline_stretches(joint, settings.edge_segment_px)
    cells = segments * (settings.max_band + 1) + bands
    use = joint & ~flagged & (bands < settings.max_band)
    n_cells = count * (settings.max_band + 1)
    q = settings.background_percentile if edge_percentile is None else edge_percentile
    table = _cell_percentile(left[use], cells[use], n_cells, q, min_count=8)
    # cells with too few pixels: the profile of their band along the whole edge
    by_band = _cell_percentile(left[use], bands[use], settings.max_band + 1, q, 8)
    by_band = np.where(np.isnan(by_band), 0.0, by_band)
    table = np.where(np.isnan(table), np.tile(by_band, count), table).reshape(count, settings.max_band + 1)
    if count >= 3 and settings.edge_smoothing:  # neighbouring stretches see similar surroundings
        table = (np.roll(table, 1, axis=0) + 2 * table + np.roll(table, -1, axis=0)) / 4
    table[:, settings.max_band] = 0.0  # the core: core level alone
    return core + np.where(joint, table.ravel()[cells], 0.0).astype(np.float32)


def edge_bands(joint: np.ndarray, settings: VoidSettings) -> np.ndarray:
    """Band index of each pixel by its depth into the joint (:func:`_edge_depth`), up to ``max_band``."""
    return np.minimum(np.floor(_edge_depth(joint, settings) / settings.distance_band_px).astype(int),
                      settings.max_band)


def _edge_depth(joint: np.ndarray, settings: VoidSettings) -> np.ndarray:
    """Depth into the joint as blur sees it: the distance at which a straight edge would give
    the same blurred coverage. At a rounded corner the blur mixes in more of the brighter
    surroundings than at a straight edge the same distance away; so the corner is modelled
    like the part of a straight edge it looks like."""
    sigma = settings.max_band * settings.distance_band_px / 2.5
    coverage = cv2.GaussianBlur(joint.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    depth = np.where(joint, 3.0 * sigma, 0.0).astype(np.float32)  # deep inside: beyond every band
    rim = joint & (coverage < 0.9985)
    depth[rim] = np.maximum(sigma * ndtri(np.clip(coverage[rim], 1e-4, 1 - 1e-6)), 0.0)
    return depth


def _cell_level(log_image: np.ndarray, joint: np.ndarray, usable: np.ndarray, settings: VoidSettings) -> np.ndarray:
    """The solder's level as rectangular cells cut by the steps that run straight across the
    joint along the package's axes (the edge of a body, a lead frame or a substrate trench),
    each at a robust low percentile of its usable pixels, plus a plane. A step is where the
    median profile across one half of the joint jumps, sharply, by more than its noise; a
    cell is large, so even a void covering most of a cell's neighbourhood cannot lift it."""
    frame = PackageFrame(joint)
    values, use = frame.turn(log_image), frame.turn(usable)
    smooth = cv2.GaussianBlur(values, (0, 0), 1.0)
    rows, cols = np.nonzero(use)
    if len(rows) < 50:
        level = np.full(values.shape, float(np.median(smooth[use])) if use.any() else 0.0, np.float32)
    else:
        box = (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1)
        cuts_x = _steps(smooth, use, box, axis=1, settings=settings)
        cuts_y = _steps(smooth, use, box, axis=0, settings=settings)
        level = _cells(smooth, use, box, cuts_y, cuts_x, settings.background_percentile)
    return frame.back_to_region(level, nearest=True)


def _steps(smooth: np.ndarray, use: np.ndarray, box, axis: int, settings: VoidSettings) -> list[int]:
    """Positions along ``axis`` (1: x) of straight steps across the joint: the median profile of
    either half of the joint (split across ``axis``) jumps there by more than ``step_sigmas``
    of its own noise, over a few pixels."""
    top, bottom, left, right = box
    lo, hi = (left, right) if axis == 1 else (top, bottom)
    across = (top, bottom) if axis == 1 else (left, right)
    middle = (across[0] + across[1]) // 2
    found: list[int] = []
    for a, b in ((across[0], middle), (middle, across[1])):
        block = smooth[a:b, lo:hi] if axis == 1 else smooth[lo:hi, a:b].T
        mask = use[a:b, lo:hi] if axis == 1 else use[lo:hi, a:b].T
        counts = mask.sum(axis=0)
        if (counts >= 3).sum() < 8:
            continue
        profile = masked_median(block, mask, axis=0)
        known = np.flatnonzero(np.isfinite(profile))
        profile = np.interp(np.arange(len(profile)), known, profile[known])
        width = max(2, int(round(settings.step_width_share * (hi - lo))))
        jump = _jump(profile, width)
        wide = _jump(profile, 3 * width)
        noise = 1.4826 * np.median(np.abs(np.diff(profile, 2))) / np.sqrt(6) + 1e-4
        strong = np.abs(jump) > settings.step_sigmas * noise * np.sqrt(2.0 / width)
        strong &= np.abs(jump) > settings.step_min
        # an overlay's edge is sharp (as sharp as the blur); where a large void or a cluster
        # enters the median profile it rises slowly, over its rounded outline
        strong &= np.abs(jump) >= settings.step_sharpness * np.abs(wide)
        for k in np.flatnonzero(strong):
            if width <= k < len(jump) - width and abs(jump[k]) >= np.abs(jump[k - 1:k + 2]).max():
                found.append(lo + k)
    found.sort()
    merged: list[int] = []
    for position in found:  # the two halves see one step at about one place
        if merged and position - merged[-1] <= 3:
            merged[-1] = (merged[-1] + position) // 2
        else:
            merged.append(position)
    return merged


def _jump(profile: np.ndarray, width: int) -> np.ndarray:
    """Mean of the next ``width`` samples minus the mean of the previous ``width``, at every sample."""
    kernel = np.r_[-np.ones(width), np.ones(width)] / width
    return np.convolve(profile, kernel[::-1], mode="same")


def _cells(smooth: np.ndarray, use: np.ndarray, box, cuts_y: list[int], cuts_x: list[int], q: float) -> np.ndarray:
    """The level per cell of the grid the cuts make (q percentile of its usable pixels; cells with
    too few take their neighbours'), plus a plane through what is left."""
    top, bottom, left, right = box
    ys = np.array([0, *[c for c in cuts_y if top < c < bottom], smooth.shape[0]])
    xs = np.array([0, *[c for c in cuts_x if left < c < right], smooth.shape[1]])
    row_cell = np.searchsorted(ys, np.arange(smooth.shape[0]), side="right") - 1
    col_cell = np.searchsorted(xs, np.arange(smooth.shape[1]), side="right") - 1
    rows, cols = np.nonzero(use)
    values = smooth[rows, cols]
    shape = (len(ys) - 1, len(xs) - 1)
    grid = _cell_percentile(values, row_cell[rows] * shape[1] + col_cell[cols], shape[0] * shape[1], q,
                            min_count=20).reshape(shape)
    grid = _fill_gaps(grid) if np.isfinite(grid).any() else np.zeros_like(grid)
    level = grid[np.ix_(row_cell, col_cell)]
    left_over = values - level[rows, cols]
    keep = np.abs(left_over - np.median(left_over)) < 3 * _mad(left_over) + 1e-6
    design = np.column_stack([np.ones(len(rows)), rows, cols]).astype(np.float64)
    coef, *_ = np.linalg.lstsq(design[keep], left_over[keep], rcond=None)
    plane = coef[0] + coef[1] * np.arange(smooth.shape[0])[:, None] + coef[2] * np.arange(smooth.shape[1])[None, :]
    return (level + plane).astype(np.float32)


def _axis_level(log_image: np.ndarray, joint: np.ndarray, usable: np.ndarray, length: float,
                rank: float = 0.25, samples: int = 25, grid_px: int = 128) -> np.ndarray:
    """The larger of two rank openings of the log image along the package's axes, over
    ``usable`` pixels of ``joint``.

    Along each axis, a running ``rank`` percentile over a line of ``length`` pixels and then
    the ``1 - rank`` percentile of that: what is brighter and narrower than ``1 - rank`` of
    the line (a void) goes, a step stays where it was (the second pass undoes the first's
    shift), and what is darker but covers less than ``rank`` of the line (a filled via, a
    wire) is ignored. The image is turned so that the axes (from the joint's minimum-area
    rectangle) run along rows and columns, and shrunk so the joint spans at most ``grid_px``
    pixels; each line is read at ``samples`` evenly spaced taps, so a step or a band of a
    few grid pixels keeps its place and width."""
    frame = PackageFrame(joint)
    turned, use = frame.turn(log_image), frame.turn(usable)
    rows, cols = np.nonzero(frame.turn(joint))  # never empty: segment_voids measures joints of min_joint_px or more
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    values, use = turned[top:bottom, left:right], use[top:bottom, left:right]  # the joint's box: only it is modelled
    factor = max(1.0, max(values.shape) / grid_px)
    small_shape = (max(1, int(round(values.shape[1] / factor))), max(1, int(round(values.shape[0] / factor))))
    sums = cv2.resize(np.where(use, values, 0.0).astype(np.float32), small_shape, interpolation=cv2.INTER_AREA)
    share = cv2.resize(use.astype(np.float32), small_shape, interpolation=cv2.INTER_AREA)
    small = np.where(share > 0.5, sums / np.maximum(share, 1e-6), np.nan).astype(np.float32)
    span = max(3.0, length / factor)
    levels = [_rank_line(_rank_line(small, span, samples, rank, axis), span, samples, 1.0 - rank, axis)
              for axis in (0, 1)]
    level = np.fmax(*levels)
    if not np.isfinite(level).any():
        level = np.full(small.shape, float(np.median(log_image[usable])) if usable.any() else 0.0, np.float32)
    level = _fill_gaps(level.astype(np.float32))
    level = cv2.resize(level, (values.shape[1], values.shape[0]), interpolation=cv2.INTER_LINEAR)
    level = np.pad(level, ((top, turned.shape[0] - bottom), (left, turned.shape[1] - right)), mode="edge")
    return frame.back_to_region(level)


def _rank_line(values: np.ndarray, span: float, samples: int, q: float, axis: int) -> np.ndarray:
    """Running ``q`` percentile along rows (``axis=1``) or columns (``axis=0``) over a line
    ``span`` pixels long read at up to ``samples`` evenly spaced taps; NaN ignored (NaN where
    fewer than a quarter of the taps are finite)."""
    taps = min(samples, int(span) | 1)
    half = span / 2
    offsets = np.unique(np.round(np.linspace(-half, half, taps)).astype(int))
    reach = int(np.abs(offsets).max())
    pad = [(0, 0), (0, 0)]
    pad[axis] = (reach, reach)
    padded = np.pad(values, pad, constant_values=np.nan)
    length = values.shape[axis]
    stack = np.stack([np.take(padded, np.arange(reach + o, reach + o + length), axis=axis) for o in offsets])
    ordered = np.sort(stack, axis=0)  # NaN sort last
    counts = np.isfinite(stack).sum(axis=0)
    pick = np.clip(np.floor(q * (counts - 1)).astype(int), 0, len(offsets) - 1)
    out = np.take_along_axis(ordered, pick[None], axis=0)[0]
    return np.where(counts >= max(2, len(offsets) // 4), out, np.nan).astype(np.float32)


def _fill_gaps(grid: np.ndarray) -> np.ndarray:
    """NaN cells of a small grid filled by a normalised blur of the known ones, wider until all are."""
    known = np.isfinite(grid)
    if known.all():
        return grid
    filled = grid.copy()
    values = np.where(known, grid, 0.0).astype(np.float32)
    weights = known.astype(np.float32)
    sigma = 1.0
    while not np.isfinite(filled).all():
        top = cv2.GaussianBlur(values, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        bottom = cv2.GaussianBlur(weights, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        gap = ~np.isfinite(filled) & (bottom > 1e-3)
        filled[gap] = top[gap] / bottom[gap]
        sigma *= 2.0
        if sigma > 4 * max(grid.shape):
            filled[~np.isfinite(filled)] = float(np.nanmedian(grid))
    return filled


def _cell_percentile(values: np.ndarray, cell_ids: np.ndarray, n_cells: int, q: float, min_count: int) -> np.ndarray:
    """Per-cell percentile with one sort (NaN for cells with fewer than ``min_count`` values).

    Voids only brighten: a low percentile ignores voids that cover part of a cell.
    """
    # one float sort orders by cell, then by value (rescaled into [0, 1) so it never crosses a cell)
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    order = np.argsort(cell_ids + (values.astype(np.float64) - low) * (0.999 / max(high - low, 1e-12)))
    sorted_values, sorted_cells = values[order], cell_ids[order]
    starts = np.searchsorted(sorted_cells, np.arange(n_cells))
    counts = np.bincount(cell_ids, minlength=n_cells)
    pick = starts + np.floor(q / 100.0 * np.maximum(counts - 1, 0)).astype(int)
    table = np.full(n_cells, np.nan, dtype=np.float32)
    ok = counts >= min_count
    table[ok] = sorted_values[np.minimum(pick[ok], len(sorted_values) - 1)]
    return table


def _quantum(values: np.ndarray) -> float:
    """The step between neighbouring grey levels (an 8-bit file's 1/255, scaled by the region's
    normalisation): where the solder is flatter than one step, noise cannot be read from it, and
    a model off by one step must not look like a void."""
    levels = np.unique(values[:: max(1, len(values) // 20000)])
    if len(levels) < 2:
        return 0.0
    gaps = np.sort(np.diff(levels))
    return float(np.median(gaps[: len(gaps) // 2 + 1]))


def _lower_spread(values: np.ndarray) -> float:
    """Noise from the darker half only: voids not yet found widen the bright side."""
    values = values[:: max(1, len(values) // 6000)]  # a spread needs no more samples than this
    centre = np.median(values)
    below = centre - values[values < centre]
    return float(1.4826 * np.median(below)) if below.size else 0.0


def _mad(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def segment_voids(image: np.ndarray, joint: np.ndarray, settings: VoidSettings = VoidSettings()) -> VoidResult:
    """Void mask of a joint (its outline ``joint``) in a measurement region (float in [0, 1]).

    Works on the log intensity: Beer-Lambert makes a void's contrast its missing solder
    depth, whatever lies above or below the joint. Passes alternate between modelling
    the void-free solder and finding what departs from it: voids (brighter) and dark
    inclusions (filled vias, wires); each pass models the solder without what the one
    before found, so a large void or a via does not pull the model towards itself.
    """
    if image.ndim != 2 or not np.isfinite(image).all():
        return _unmeasurable("measurement region holds non-finite values", image.shape[:2])
    if joint.sum() < settings.min_joint_px:
        return _unmeasurable(f"joint covers only {int(joint.sum())} measurement pixels (at least "
                             f"{settings.min_joint_px} are needed)", image.shape)
    log_image = np.log(np.maximum(image, 1e-3)).astype(np.float32)
    distance = cv2.distanceTransform(joint.astype(np.uint8), cv2.DIST_L2, 5)
    flagged = np.zeros_like(joint)
    voids = dark = flagged
    quantum = _quantum(image[joint])
    noise = 0.0
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    segments = outline_stretches(joint, settings.edge_segment_px)
    bands = edge_bands(joint, settings)
    for k in range(settings.passes):  # once voids are flagged, the edge profile is their median
        expected = expected_log_intensity(log_image, joint, distance, flagged, settings, segments,
                                          None if k == 0 else settings.edge_percentile, bands)
        contrast = log_image - expected
        # detection works on intensity, whose noise (quanta, an 8-bit file's steps) is about
        # even across the joint; the log would blow up the noise of the darkest solder
        linear = np.exp(expected)
        residual = cv2.GaussianBlur(image - linear, (0, 0), settings.residual_smoothing_px)
        background = joint & (distance > settings.seed_inset_px) & ~flagged
        noise = max(_lower_spread(residual[background] if background.sum() > 50 else residual[joint]),
                    settings.quantum_floor * quantum)
        # where the expected intensity is steep (fillet, edges) a small misplacement of the
        # model looks like a void: widen the tolerance there by the local gradient
        gy, gx = np.gradient(cv2.GaussianBlur(linear, (0, 0), 1.0))
        tolerance = np.sqrt(max(noise, 1e-4) ** 2 + (settings.model_shift_px * np.hypot(gx, gy)) ** 2)
        voids = _voids_from_residual(residual / tolerance, contrast, joint, distance, 1.0, settings)
        dark = _dark_inclusions(residual / tolerance, joint, settings)
        flagged = cv2.dilate((voids | dark).astype(np.uint8), grow) > 0
    return VoidResult({"status": "ok", "reason": "", "noise": noise}, joint, voids, dark)


def _dark_inclusions(residual: np.ndarray, joint: np.ndarray, settings: VoidSettings) -> np.ndarray:
    """Regions much darker than the solder model (filled vias, wires over the joint), grown
    to where they fade out."""
    core = joint & (residual < -settings.dark_sigmas)
    if not core.any():
        return core
    grow = joint & (residual < -settings.grow_sigmas)
    labels, count = ndi.label(grow)
    seeded = np.bincount(labels[core], minlength=count + 1) > 0
    seeded[0] = False
    return seeded[labels]


def _voids_from_residual(residual, contrast, joint, distance, noise, settings: VoidSettings) -> np.ndarray:
    """Hysteresis from confident seeds, in the joint core; near the edge voids may only extend a core void.

    The rim along the joint edge is where the fillet thins out; growing freely there
    would run strips along the whole edge.
    """
    grow = joint & (residual > settings.grow_sigmas * noise)
    core = distance > settings.rim_px
    seeds = core & (residual > settings.seed_sigmas * noise)
    count, labels = cv2.connectedComponents((grow & core).astype(np.uint8), connectivity=4)
    count -= 1
    if count == 0:
        return np.zeros_like(joint)
    seeded = np.bincount(labels[seeds], minlength=count + 1)[1:] > 0
    # a blurred void fades out gradually; its outline sits at a share of the peak log-contrast near it
    # (of its own peak, not of a deeper neighbour's in the same cluster)
    grown = labels > 0
    peak = np.full(count + 1, np.inf)
    peak[1:] = ndi.maximum(contrast, labels, np.arange(1, count + 1))
    local_peak = np.full(contrast.shape, np.inf, np.float32)
    if settings.peak_reach_px > 0:
        reach = 2 * int(settings.peak_reach_px) + 1
        local_peak = cv2.dilate(np.where(grown, contrast, -1e3).astype(np.float32),
                                cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))
    # blur spreads a small void well beyond its outline: the smaller the void, the higher
    # the share of its peak at which its true outline lies
    sizes = np.bincount(labels.ravel(), minlength=count + 1).astype(float)
    sizes[0] = 1.0
    radius = np.sqrt(sizes / np.pi)
    share = np.clip(settings.edge_share_of_peak + settings.small_void_share_px / radius, 0.0, 0.7)
    within = contrast >= share[labels] * np.minimum(local_peak, peak[labels])
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
        "inclusion_fraction": float(result.inclusions.sum() / joint_px) if result.inclusions is not None else 0.0,
    }
