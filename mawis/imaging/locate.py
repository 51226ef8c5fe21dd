"""Finding the joint in an X-ray top view, at the image's own resolution, whatever its size.

A joint is one wetted solder pad: the darkest large compact region of its image (or
ROI). Around it an X-ray shows other things that are dark too: neighbouring pads of
the same package, traces and copper (lighter than solder), filled vias (dark disks,
darker than solder), bond wires (dark thin curves) and package edges. Two steps:

1. **Site** (:func:`find_joint_site`, on the ROI plus some context, shrunk to at most
   ``coarse_px`` per side). Otsu's threshold splits dark from bright; thin dark lines
   (wires) are opened away; of the dark components the one with most area inside the
   ROI, near its centre and not cut by the image border, is the joint. The level
   halfway between its solder and its surroundings then replaces Otsu's and the
   choice is made again (a station's gain, offset and gamma cancel). The joint's size
   fixes the **measurement grid**: the image's own pixels, or coarser where the joint
   would span more than ``max_joint_px`` pixels (a 10 mm pad needs no 1 um pixels to
   show its voids; :func:`measurement_scale`), and the **measurement region**: the joint's box plus a margin.
2. **Outline** (:func:`outline_joint`, on the measurement region): the same two-level
   threshold and choice on that grid, an opening that takes off wire ends, a closing
   with a disk of ``close_share`` of the joint's short side (edge voids cut notches
   into the dark region) and hole filling (voids) give the wetted outline, with its
   box, area, length, width and orientation.

Measurement re-runs only step 2 on the stored region, so it reproduces ingestion exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.filters import threshold_otsu

Box = tuple[int, int, int, int]  # x, y, w, h in pixels

NO_JOINT = "no dark joint stands out from its surroundings (blank, saturated or all-noise image)"


@dataclass(frozen=True)
class LocateSettings:
    context_share: float = 0.15    # the ROI is widened by this share of its size per side: a tight ROI still shows the edge
    coarse_px: int = 256           # the site search runs on at most this many pixels per side
    max_joint_px: int = 320        # the joint's long side on the measurement grid (larger joints are shrunk) ...
    min_short_px: int = 48         # ... unless that leaves its short side fewer pixels than this
    region_share: float = 0.25     # measurement region: the joint's box widened by this share of its size per side
    wire_um: float = 30.0          # dark lines up to about twice this wide (bond wires) are opened away
    spur_share: float = 0.04       # the outline is opened with this share of the short side (wire ends, noise)
    core_level: float = 0.3        # the solder's parts: this share of the way from solder to surroundings
    min_part_share: float = 0.1    # ... each at least this share of the largest
    ramp_share: float = 0.03       # the fillet's ramp: beside it (this share of the short side out) lies what is next to the joint
    ring_share: float = 0.05       # ... read over a ring this wide
    edge_stretch_px: float = 24.0  # ... per stretch of the outline this long
    strip_max_share: float = 0.3   # plateaus along a side (a tab or lead beyond the solder) up to this share deep are cut
    strip_min_step: float = 0.04   # ... when brighter than the solder by this much (log intensity)
    strip_min_share: float = 0.03  # ... and flat over this share of the profile
    close_share: float = 0.12      # edge voids up to about twice this share of the short side are closed into the outline
    hull_slack: float = 0.35       # the outline is the convex hull unless that adds more than this share of area
    joint_level: float = 0.5       # outline threshold between solder (0) and surroundings (1)
    min_width_px: int = 24         # a joint narrower than this many pixels is too coarsely imaged to measure
    min_joint_um: float = 100.0    # the configured size range of joints (long side)
    max_joint_um: float = 15000.0
    min_contrast: float = 0.03     # solder must differ this much (relative to the region's bright level) from its surroundings
    max_border_share: float = 0.04  # a joint whose outline runs along the image border for more than this share is cut


@dataclass(frozen=True)
class JointSite:
    """Where to measure: the region (on the input grid) and the measurement grid's scale."""

    region: Box          # on the input grid
    scale: float         # measurement grid pixels per input pixel (<= 1)
    joint: tuple[float, float, float, float]  # the joint's box on the input grid, as the coarse look saw it


@dataclass
class JointLocation:
    """The joint on the measurement grid, or why it could not be found (``reason``)."""

    reason: str = ""
    mask: np.ndarray | None = None   # bool, on the measurement grid
    box: Box = (0, 0, 0, 0)          # joint bounding box on the measurement grid
    area_um2: float = 0.0
    length_um: float = 0.0           # long side of the minimum-area rectangle
    width_um: float = 0.0
    angle_deg: float = 0.0           # of the long side, counter-clockwise from the image x axis, in [0, 180)
    border_share: float = 0.0        # share of the outline on the region's border

    @property
    def found(self) -> bool:
        return not self.reason


def normalised(values: np.ndarray) -> np.ndarray:
    """The region scaled by its bright level (a ratio, so Beer-Lambert contrasts are kept):
    12-bit data in a 16-bit file, or a dark window, look like any other station."""
    sample = values[:: max(1, values.shape[0] // 256), :: max(1, values.shape[1] // 256)]
    top = float(np.percentile(sample, 99.5))
    return np.clip(values / top, 0.0, 1.0) if top > 1e-6 else values


def find_joint_site(values: np.ndarray, pixel_um: float, roi: Box | None = None,
                    settings: LocateSettings = LocateSettings()) -> JointSite | str:
    """The measurement region and grid of the joint in ``values`` (grey, normalised: the
    ROI with its context), or the reason no joint can be measured."""
    roi = roi or (0, 0, values.shape[1], values.shape[0])
    factor = min(1.0, settings.coarse_px / max(values.shape))
    small = values if factor == 1.0 else cv2.resize(values, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    found = _two_level_joint(small, pixel_um / factor, scaled_box(roi, factor), settings)
    if isinstance(found, str):
        return found
    joint, _ = found
    ys, xs = np.nonzero(joint)
    extent = np.array([ys.max() - ys.min() + 1, xs.max() - xs.min() + 1]) / factor
    (_, _), sides, _ = cv2.minAreaRect(_outline_points(joint))
    long_um = float(extent.max() * pixel_um)
    if long_um > settings.max_joint_um:
        return (f"joint is about {long_um / 1000:.1f} mm long, beyond the configured range (max_joint_um = "
                f"{settings.max_joint_um:g}); raise it in the ingest config's [locate] table")
    top, left = ys.min() / factor, xs.min() / factor
    pad = settings.region_share * extent
    y0, x0 = max(0, int(top - pad[0])), max(0, int(left - pad[1]))
    y1 = min(values.shape[0], int(np.ceil(top + extent[0] + pad[0])))
    x1 = min(values.shape[1], int(np.ceil(left + extent[1] + pad[1])))
    scale = measurement_scale(extent.max(), (min(sides) + 1) / factor, settings)
    return JointSite((x0, y0, x1 - x0, y1 - y0), scale, (float(left), float(top), float(extent[1]), float(extent[0])))


def measurement_scale(long_px: float, short_px: float, settings: LocateSettings) -> float:
    """How much a joint's region is shrunk for measurement (<= 1): its long side to
    ``max_joint_px``, but its short side (of the turned joint, so a slanted lead counts its
    true width) never below ``min_short_px``. The coarser the grid, the faster, but the
    less two stations agree on a joint (README, "Measurement grid")."""
    shrink = settings.max_joint_px / max(long_px, 1.0)
    keep_short = settings.min_short_px / max(short_px, 1.0)
    return float(min(1.0, max(shrink, keep_short)))


def outline_joint(region: np.ndarray, grid_um: float, settings: LocateSettings = LocateSettings()) -> JointLocation:
    """The joint's wetted outline in a measurement region (grey, normalised).

    The dark region at the halfway level holds the solder, parts of it split by what lies
    above (a package body edge, a substrate trench, both darken or lighten the solder a
    little), and sometimes dark package parts beside it (a body, a lead). The solder's own
    parts are those near its darkest level; their edges are placed against what lies beside
    each stretch, strips of tab or lead along a side are cut off, and the pad is the convex
    hull of the parts."""
    smooth = smoothed(region)
    found = _two_level_joint(region, grid_um, (0, 0, region.shape[1], region.shape[0]), settings, smooth=smooth)
    if isinstance(found, str):
        return JointLocation(reason=found)
    blob, _ = found
    rows, cols = np.nonzero(blob)
    short_px = min(rows.max() - rows.min(), cols.max() - cols.min()) + 1
    joint = _solder_parts(smooth, blob, settings)
    if joint is None:
        return JointLocation(reason=NO_JOINT)
    joint = _edge_beside(region, smooth, joint, settings, short_px)
    if not joint.any():
        return JointLocation(reason=NO_JOINT)
    joint = _cut_side_strips(region, joint, settings)
    spur = max(settings.spur_share * short_px, settings.wire_um / grid_um)
    joint = _major_parts(disk_opening(joint, spur), settings.min_part_share)
    if joint is None:
        return JointLocation(reason=NO_JOINT)
    joint = fill_holes(disk_closing(joint, settings.close_share * short_px))
    return describe(_convex_if_notched(region, joint, settings.hull_slack), grid_um, settings)


def _solder_parts(smooth: np.ndarray, blob: np.ndarray, settings: LocateSettings) -> np.ndarray | None:
    """The parts of ``blob`` near the solder's level (``core_level`` of the way from the solder to
    the surroundings), each at least ``min_part_share`` of the largest, holes filled: a dark
    package body or lead beside the pad is left out (where a body darkens half a pad on a
    low-contrast station, the other half may be left out too; README, known limits). ``smooth``:
    the region, :func:`smoothed`."""
    solder, outside = _levels(smooth, blob, max(2.0, 0.25 * np.sqrt(blob.sum())))
    near = blob & (smooth < solder + settings.core_level * max(outside - solder, 0.0))
    return _major_parts(fill_holes(near), settings.min_part_share)


def _major_parts(mask: np.ndarray, share: float) -> np.ndarray | None:
    """The components of ``mask`` at least ``share`` of its largest one (None if empty)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.concatenate([[False], areas >= share * areas.max()])
    return keep[labels]


def _edge_beside(region: np.ndarray, smooth: np.ndarray, core: np.ndarray, settings: LocateSettings,
                 short_px: float) -> np.ndarray:
    """The edge placed halfway between the solder and what lies beside it, stretch by stretch.

    ``core`` is the joint found with a threshold near the solder's own level, so it holds
    the solder but not a darkish package body or trace next to it. Beside each stretch of
    its outline, beyond the fillet's ramp, a ring gives what lies there (bare board, a trace,
    a body); the edge of that stretch is where the image crosses halfway from the solder's
    level to it, within reach of the core (``smooth``: the region, :func:`smoothed`)."""
    solder = float(np.percentile(smooth[core], 30))
    ramp = max(2.0, settings.ramp_share * short_px)
    ring_width = max(3.0, settings.ring_share * short_px)
    outside = cv2.distanceTransform((~core).astype(np.uint8), cv2.DIST_L2, 3)
    stretches, count = outline_stretches(core, settings.edge_stretch_px)
    ring = ~core & (outside > ramp) & (outside <= ramp + ring_width)
    beside = np.full(count, np.nan, np.float32)
    ids, values = stretches[ring], smooth[ring]
    if len(ids):
        order = np.lexsort((values, ids))
        ids, values = ids[order], values[order]
        starts, ends = np.searchsorted(ids, np.arange(count)), np.searchsorted(ids, np.arange(count), side="right")
        enough = ends - starts >= 3
        beside[enough] = values[(starts[enough] + ends[enough]) // 2]
    if not np.isfinite(beside).any():
        return core
    beside = np.where(np.isfinite(beside), beside, np.nanmedian(beside))
    if count >= 3:
        beside = (np.roll(beside, 1) + 2 * beside + np.roll(beside, -1)) / 4
    level = solder + settings.joint_level * np.maximum(beside - solder, 0.0)
    zone = outside <= ramp + ring_width
    inside = cv2.distanceTransform(core.astype(np.uint8), cv2.DIST_L2, 3)
    zone &= ~core | (inside <= ramp)
    joint = core.copy()
    joint[zone] = smooth[zone] < level[stretches[zone]]
    return joint


def _cut_side_strips(region: np.ndarray, joint: np.ndarray, settings: LocateSettings) -> np.ndarray:
    """``joint`` less the plateaus along its sides that are not solder: a package tab, lead or
    lead frame reaching beyond the solder darkens the image nearly as much as the solder does,
    so the dark region found first takes it in. Along each side of the joint (its minimum-area
    rectangle), the median profile inward from the side is read on each half of the side; a
    plateau brighter than the solder that both halves show, followed by a step down to the
    solder's level, is cut off at the step. The fillet's ramp at a true edge has no plateau,
    and voids (compact) do not run along a whole side."""
    frame = PackageFrame(joint)
    logs = np.log(np.maximum(region, 1e-3)).astype(np.float32)
    values = frame.turn(cv2.GaussianBlur(logs, (0, 0), 1.0))
    inside = frame.turn(joint)
    rows, cols = np.nonzero(inside)
    if len(rows) < 50:
        return joint
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    keep = inside.copy()
    for side in ("top", "bottom", "left", "right"):
        depth = _strip_depth(values, inside, side, (top, bottom, left, right), settings)
        if depth > 0:
            if side == "top":
                keep[top:top + depth] = False
            elif side == "bottom":
                keep[bottom - depth:bottom] = False
            elif side == "left":
                keep[:, left:left + depth] = False
            else:
                keep[:, right - depth:right] = False
    if keep.sum() == inside.sum():
        return joint
    return joint & frame.back_to_region(keep)


def _strip_depth(values: np.ndarray, inside: np.ndarray, side: str, box, settings: LocateSettings) -> int:
    """Depth (px, from the side inward) of a non-solder plateau along ``side``, 0 if none."""
    top, bottom, left, right = box
    along = (left, right) if side in ("top", "bottom") else (top, bottom)
    across = bottom - top if side in ("top", "bottom") else right - left
    reach = int(settings.strip_max_share * across)
    if reach < 6:
        return 0
    span = along[1] - along[0]
    halves = [(along[0] + int(0.1 * span), along[0] + span // 2), (along[0] + span // 2, along[1] - int(0.1 * span))]
    cuts = []
    for start, stop in halves:
        if stop - start < 4:
            return 0
        if side == "top":
            block, mask = values[top:top + 2 * reach, start:stop], inside[top:top + 2 * reach, start:stop]
        elif side == "bottom":
            block, mask = values[bottom - 2 * reach:bottom, start:stop][::-1], inside[bottom - 2 * reach:bottom, start:stop][::-1]
        elif side == "left":
            block, mask = values[start:stop, left:left + 2 * reach].T, inside[start:stop, left:left + 2 * reach].T
        else:
            block, mask = values[start:stop, right - 2 * reach:right][:, ::-1].T, inside[start:stop, right - 2 * reach:right][:, ::-1].T
        profile = masked_median(block, mask, axis=1)
        cut = _plateau_step(profile, reach, settings)
        if cut == 0:
            return 0
        cuts.append(cut)
    return int(round(np.mean(cuts))) if abs(cuts[0] - cuts[1]) <= max(3, 0.25 * max(cuts)) else 0


def _plateau_step(profile: np.ndarray, reach: int, settings: LocateSettings) -> int:
    """Where a plateau at the start of ``profile`` (brighter than the solder level found deeper
    in) steps down to that level; 0 when the profile starts with a plain ramp."""
    if not np.isfinite(profile).all() or len(profile) < reach + 4:
        return 0
    solder = float(np.median(profile[reach:]))
    step = settings.strip_min_step
    above = profile[:reach] - solder > step
    if not above[: max(2, len(above) // 8)].any():
        return 0
    k = int(np.argmin(above)) if not above.all() else reach  # first bin back at the solder level
    plateau = profile[:k]
    flat = np.abs(np.diff(plateau)) < 0.25 * (float(np.median(plateau)) - solder) if k > 1 else np.array([])
    run = _longest_run(flat)
    if k >= reach or run < max(3, settings.strip_min_share * len(profile)):
        return 0
    level = float(np.median(plateau[-max(2, run):]))
    middle = solder + 0.5 * (level - solder)
    crossing = np.flatnonzero(profile[:reach] <= middle)
    return int(crossing[0]) if len(crossing) else 0


def masked_median(values: np.ndarray, mask: np.ndarray, axis: int, min_count: int = 3) -> np.ndarray:
    """Median of ``values`` where ``mask`` holds, along ``axis`` (NaN where fewer than ``min_count``)."""
    ordered = np.sort(np.where(mask, values, np.nan), axis=axis)  # NaN sort last
    counts = mask.sum(axis=axis)
    pick = np.expand_dims(np.maximum(counts - 1, 0) // 2, axis)
    out = np.take_along_axis(ordered, pick, axis=axis).squeeze(axis)
    return np.where(counts >= min_count, out, np.nan)


def _longest_run(flags: np.ndarray) -> int:
    best = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        best = max(best, current)
    return best


class PackageFrame:
    """The region turned so the package's axes (the joint's minimum-area rectangle) run along
    rows and columns, on a canvas that holds it whole; what lies above and below a joint is
    rectangular along these axes. Turns of under a degree are left out."""

    def __init__(self, joint: np.ndarray):
        contours, _ = cv2.findContours(joint.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        angle = cv2.minAreaRect(np.vstack(contours))[2]
        self.angle = float((angle + 45.0) % 90.0 - 45.0)
        self.shape = joint.shape
        self.turned = abs(self.angle) > 1.0
        if self.turned:
            height, width = joint.shape
            centre = ((width - 1) / 2, (height - 1) / 2)
            self.forward = cv2.getRotationMatrix2D(centre, self.angle, 1.0)
            cos, sin = abs(self.forward[0, 0]), abs(self.forward[0, 1])
            self.size = (int(np.ceil(width * cos + height * sin)) + 2, int(np.ceil(width * sin + height * cos)) + 2)
            self.forward[0, 2] += (self.size[0] - 1) / 2 - centre[0]
            self.forward[1, 2] += (self.size[1] - 1) / 2 - centre[1]
            self.back = cv2.invertAffineTransform(self.forward)

    def turn(self, image: np.ndarray) -> np.ndarray:
        """Into the package frame (a bool mask stays a mask)."""
        if not self.turned:
            return image
        if image.dtype == bool:
            return cv2.warpAffine(image.astype(np.uint8), self.forward, self.size, flags=cv2.INTER_NEAREST) > 0
        return cv2.warpAffine(image, self.forward, self.size, flags=cv2.INTER_LINEAR)

    def back_to_region(self, image: np.ndarray, nearest: bool = False) -> np.ndarray:
        """Back onto the region's grid."""
        if not self.turned:
            return image
        if image.dtype == bool:
            return cv2.warpAffine(image.astype(np.uint8), self.back, (self.shape[1], self.shape[0]),
                                  flags=cv2.INTER_NEAREST) > 0
        return cv2.warpAffine(image, self.back, (self.shape[1], self.shape[0]),
                              flags=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

def outline_stretches(mask: np.ndarray, length_px: float) -> tuple[np.ndarray, int]:
    """Each pixel's nearest stretch of ``mask``'s outline (stretches of about ``length_px``), and
    the number of stretches: what lies beside an edge differs along it (a trace, the package
    body, bare board), so edge properties are taken per stretch."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    points = max(contours, key=len)[:, 0, :]
    count = max(1, int(round(len(points) / max(length_px, 1.0))))
    ids = (np.arange(len(points)) * count // len(points)).astype(np.int32)
    seeds = np.zeros(mask.shape, np.int32)
    seeds[points[:, 1], points[:, 0]] = ids + 1
    _, labels = cv2.distanceTransformWithLabels((seeds == 0).astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    rows, cols = np.nonzero(seeds)  # labels number the seed pixels in this (row-major) order
    lookup = np.concatenate([[0], seeds[rows, cols] - 1])
    return lookup[labels].astype(np.int64), count


def _outline_points(mask: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return np.vstack(contours)


def _convex_if_notched(region: np.ndarray, joint: np.ndarray, slack: float) -> np.ndarray:
    """Pads are convex (rectangles, rounded or chamfered; discs): a notch in the dark region
    is an edge void the closing could not bridge, and the wetted outline is its convex hull.
    The hull is kept when it adds at most ``slack`` of the area and what it adds is darker
    than the joint's surroundings (a void in the solder, not bare board between two arms of
    a shape that is not one convex pad)."""
    hull = cv2.convexHull(_outline_points(joint))
    filled = np.zeros(joint.shape, np.uint8)
    cv2.fillConvexPoly(filled, hull, 1)
    filled = filled.astype(bool) | joint
    added = filled & ~joint
    if not added.any():
        return joint
    if filled.sum() > (1.0 + slack) * joint.sum():
        return joint
    outside = cv2.distanceTransform((~filled).astype(np.uint8), cv2.DIST_L2, 3)
    ring = ~filled & (outside <= 4)
    if ring.any():
        solder, beside = float(np.percentile(region[joint], 30)), float(np.median(region[ring]))
        if float(np.median(region[added])) > solder + 0.85 * (beside - solder):
            return joint
    return filled


def _two_level_joint(image: np.ndarray, pixel_um: float, roi: Box, settings: LocateSettings,
                     share: float | None = None, smooth: np.ndarray | None = None):
    """(joint mask, threshold level) or a reason: Otsu first, then halfway between the
    chosen joint's solder and its surroundings (``smooth``: the image, :func:`smoothed`, if
    the caller has it already)."""
    smooth = smoothed(image) if smooth is None else smooth
    try:
        level = float(threshold_otsu(smooth))
    except ValueError:
        return "blank image: every pixel has the same value"
    joint = None
    for _ in range(2):  # the levels need only a rough joint: wires are opened away at the end
        labels, count = dark_components(smooth, level, 0.0)
        best = choose_joint(labels, count, roi, prefer=joint)
        if best == 0:
            return NO_JOINT
        joint = labels == best
        solder, outside = _levels(smooth, joint, max(2.0, 0.25 * np.sqrt(joint.sum())))
        if outside - solder < settings.min_contrast:
            return NO_JOINT
        level = solder + (settings.joint_level if share is None else share) * (outside - solder)
    labels, count = dark_components(smooth, level, settings.wire_um / pixel_um)
    best = choose_joint(labels, count, roi, prefer=joint)
    return (labels == best, level) if best else NO_JOINT


def smoothed(image: np.ndarray) -> np.ndarray:
    """The image blurred against its pixel noise (:func:`_smoothing_px`)."""
    return cv2.GaussianBlur(image, (0, 0), _smoothing_px(image))


def _smoothing_px(image: np.ndarray) -> float:
    """Gaussian sigma against pixel noise: at least 1 px, more where the noise left after
    smoothing (noise / (2 sqrt(pi) sigma)) would exceed 5 % of the image's spread. Noise is
    read from neighbour differences, which edges hardly move."""
    sample = image[:: max(1, image.shape[0] // 128), :]
    noise = 1.4826 * np.median(np.abs(np.diff(sample[:, ::2], axis=1))) / np.sqrt(2)
    spread = float(np.subtract(*np.percentile(sample, [95, 5])))
    return float(np.clip(noise / (2 * np.sqrt(np.pi) * 0.05 * max(spread, 1e-3)), 1.0, 3.0))


def dark_components(smooth: np.ndarray, level: float, open_px: float) -> tuple[np.ndarray, int]:
    """Labels of regions darker than ``level`` after thin lines are opened away."""
    dark = disk_opening(smooth < level, open_px).astype(np.uint8)
    count, labels = cv2.connectedComponents(dark, connectivity=8)
    return labels, count - 1


def choose_joint(labels: np.ndarray, count: int, roi: Box, prefer: np.ndarray | None = None) -> int:
    """Label of the joint (0: none): where ``prefer`` (an earlier look) lies, else most
    area inside the ROI, near its centre, not cut by the border."""
    if count == 0:
        return 0
    ids = labels.ravel()
    if prefer is not None:
        overlap = np.bincount(ids[prefer.ravel()], minlength=count + 1)[1:]
        if overlap.max() > 0:
            return 1 + int(np.argmax(overlap))
    x, y, w, h = roi
    inside = np.zeros(labels.shape, bool)
    inside[y:y + h, x:x + w] = True
    area_in = np.bincount(ids[inside.ravel()], minlength=count + 1)[1:].astype(float)
    total = np.maximum(np.bincount(ids, minlength=count + 1)[1:].astype(float), 1.0)
    rows, cols = np.indices(labels.shape)
    cy = np.bincount(ids, weights=rows.ravel(), minlength=count + 1)[1:] / total
    cx = np.bincount(ids, weights=cols.ravel(), minlength=count + 1)[1:] / total
    off = np.hypot((cy - (y + h / 2)) / max(h, 1), (cx - (x + w / 2)) / max(w, 1))
    border = np.zeros(labels.shape, bool)
    border[[0, -1], :] = True
    border[:, [0, -1]] = True
    on_border = np.bincount(ids[border.ravel()], minlength=count + 1)[1:] > 0
    score = area_in * np.clip(1.0 - off, 0.05, 1.0) * np.where(on_border, 0.5, 1.0)
    return 1 + int(np.argmax(score)) if score.max() > 0 else 0


def _levels(smooth: np.ndarray, joint: np.ndarray, reach_px: float) -> tuple[float, float]:
    """(solder level, surroundings level): a low percentile inside the joint (voids only
    brighten it), the median of a ring around it."""
    outside = cv2.distanceTransform((~joint).astype(np.uint8), cv2.DIST_L2, 3)
    ring = (outside > 0) & (outside <= max(1.0, reach_px))
    solder = float(np.percentile(smooth[joint], 30))
    outside = float(np.median(smooth[ring])) if ring.any() else float(np.percentile(smooth, 90))
    return solder, outside


def scaled_box(box: Box, factor: float) -> Box:
    x, y, w, h = box
    return int(x * factor), int(y * factor), max(1, int(round(w * factor))), max(1, int(round(h * factor)))


def describe(joint: np.ndarray, grid_um: float, settings: LocateSettings) -> JointLocation:
    """Size, orientation and border contact of an outline; a reason when it is out of range or cut."""
    points = _outline_points(joint)
    (_, _), (a, b), angle = cv2.minAreaRect(points)
    long_angle = angle if a >= b else angle + 90.0
    x, y, w, h = cv2.boundingRect(points)
    edge = joint.astype(np.uint8) - cv2.erode(joint.astype(np.uint8), np.ones((3, 3), np.uint8))
    on_border = int(edge[0].sum() + edge[-1].sum() + edge[1:-1, 0].sum() + edge[1:-1, -1].sum())
    border_share = on_border / max(int(edge.sum()), 1)
    length, width = max(a, b) * grid_um, min(a, b) * grid_um
    location = JointLocation(mask=joint, box=(x, y, w, h), area_um2=float(joint.sum() * grid_um ** 2),
                             length_um=float(length), width_um=float(width),
                             angle_deg=float((-long_angle) % 180.0), border_share=border_share)
    if width / grid_um < settings.min_width_px:
        location.reason = (f"the joint is only {width / grid_um:.0f} px wide at {grid_um:.3g} um/px, too coarse to "
                           f"resolve its voids (min_width_px = {settings.min_width_px}); image it at "
                           f"{width / settings.min_width_px:.3g} um/px or finer")
    elif length < settings.min_joint_um:
        location.reason = (f"the darkest compact region is only {length:.0f} um long, below the configured joint "
                           f"size range (min_joint_um = {settings.min_joint_um:g})")
    elif border_share > settings.max_border_share:
        location.reason = (f"joint runs out of the image ({border_share:.0%} of its outline lies on the image "
                           "border); the image or ROI must hold the whole joint")
    return location


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every region it encloses filled (a flood fill of the outside from the border)."""
    outside = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.uint8)
    outside[1:-1, 1:-1] = mask
    flood = np.zeros((mask.shape[0] + 4, mask.shape[1] + 4), np.uint8)
    cv2.floodFill(outside, flood, (0, 0), 2)
    return outside[1:-1, 1:-1] != 2


def disk_opening(mask: np.ndarray, radius: float) -> np.ndarray:
    """Opening with a disk (lines and spurs narrower than about twice ``radius`` go)."""
    if radius < 0.75:
        return mask
    return ~disk_closing(~mask, radius, pad_value=1)


def disk_closing(mask: np.ndarray, radius: float, pad_value: int = 0) -> np.ndarray:
    """Closing with a disk, via two Euclidean distance transforms (fast for large radii)."""
    if radius < 0.75:
        return mask
    pad = int(np.ceil(radius)) + 1
    padded = np.pad(mask.astype(np.uint8), pad, constant_values=pad_value)
    dilated = cv2.distanceTransform(1 - padded, cv2.DIST_L2, 5) <= radius
    closed = cv2.distanceTransform(dilated.astype(np.uint8), cv2.DIST_L2, 5) > radius
    return closed[pad:-pad, pad:-pad]
