"""Finding the solder joint in an optical cross-section, wherever it sits and whatever its width.

A polished cross-section shows, from the component down to the board: the component
body, its termination, the solder, intermetallic layers, the copper pad and the
laminate, all embedded in dark resin. The solder is the bright, colour-neutral layer
that touches neither the top nor the bottom of the image (the body and the laminate
run to the image edges), flanked by resin where its fillets end. Labs may store the
image mirrored, left-right or upside down.

1. **Solder.** On a copy shrunk to at most ``search_px`` per side, pixels brighter than
   ``bright_share`` of the way from the resin to the bright level, and (in colour
   images) not coloured like copper, form components; the largest one that touches
   neither the top nor the bottom border, not mostly outside the ROI, is the solder.
2. **Orientation.** The fillets spread the solder onto the pad: the solder is wider at
   the board side. Where colour is available, the copper pad (wider than the solder,
   orange) confirms it. An image with the board at the top is turned over.
3. **Region.** The solder's box plus a margin (the termination above it and the pad
   below it, and the resin beside its fillets) is the measurement region, on the
   image's own grid or shrunk so that the joint spans at most ``max_width_px``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi

from .locate import fill_holes, scaled_box

Box = tuple[int, int, int, int]

NO_SOLDER = "no solder layer found between component and board (blank, saturated or not a cross-section)"


@dataclass(frozen=True)
class SectionSettings:
    search_px: int = 1024          # the search runs on at most this many pixels per side
    max_width_px: int = 4096       # the joint's width on the measurement grid (wider joints are shrunk)
    bright_share: float = 0.7      # solder: brighter than this share of the way from resin to bright
    max_saturation: float = 0.22   # solder is not strongly coloured (copper is; a lab's white balance may tint solder a little)
    valley_um: float = 16.0        # thin dark horizontal lines up to this high part layers (barrier, IMC, crack)
    valley_depth: float = 0.08     # ... where they are this much (of the contrast) darker than around them
    min_width_um: float = 100.0    # narrower bright regions are not a joint
    min_height_um: float = 5.0
    margin_x_um: float = 60.0      # region: beside the solder's fillets
    margin_y_um: float = 70.0      # region: above and below the solder (termination, pad)
    min_contrast: float = 0.15     # solder must stand out from the resin by this much


@dataclass(frozen=True)
class SectionLayers:
    """The solder in a measurement region (component side up), in region pixels: the row of
    the component-side interface and the wetted width under it."""

    top: int
    left: int
    right: int


@dataclass(frozen=True)
class SectionSite:
    region: Box                                # on the input grid
    scale: float                               # measurement grid pixels per input pixel (<= 1)
    joint: tuple[float, float, float, float]   # the solder's box on the input grid
    flip: str                                  # "ud" when the board is at the top ("" otherwise)


def find_section_site(values: np.ndarray, pixel_um: float, roi: Box | None = None,
                      settings: SectionSettings = SectionSettings()) -> SectionSite | str:
    """Where the solder is in a cross-section (RGB or grey, float in [0, 1]), or why it cannot be found."""
    roi = roi or (0, 0, values.shape[1], values.shape[0])
    factor = min(1.0, settings.search_px / max(values.shape[:2]))
    small = values if factor == 1.0 else cv2.resize(values, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    small_um = pixel_um / factor
    solder = solder_component(small, small_um, scaled_box(roi, factor), settings)
    if isinstance(solder, str):
        return solder
    flip = "ud" if _board_on_top(solder, small) else ""
    ys, xs = np.nonzero(solder)
    joint = (xs.min() / factor, ys.min() / factor, (xs.max() - xs.min() + 1) / factor, (ys.max() - ys.min() + 1) / factor)
    mx, my = settings.margin_x_um / pixel_um, settings.margin_y_um / pixel_um
    x0, y0 = max(0, int(joint[0] - mx)), max(0, int(joint[1] - my))
    x1 = min(values.shape[1], int(np.ceil(joint[0] + joint[2] + mx)))
    y1 = min(values.shape[0], int(np.ceil(joint[1] + joint[3] + my)))
    scale = min(1.0, settings.max_width_px / max(joint[2], 1.0))
    return SectionSite((x0, y0, x1 - x0, y1 - y0), scale, joint, flip)


def solder_component(image: np.ndarray, pixel_um: float, roi: Box | None, settings: SectionSettings) -> np.ndarray | str:
    """The solder (bool mask, holes filled) of a cross-section (RGB or grey), or why there is none.

    Bright pixels, less thin dark horizontal lines (a nickel barrier, intermetallics, a crack:
    they part the solder from a bright termination), less strongly coloured ones (copper).
    Of the components that touch neither the top nor the bottom of the image, the largest
    is the solder; pieces of the same layer (parted by sectioned voids) join it."""
    roi = roi or (0, 0, image.shape[1], image.shape[0])
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    grey = cv2.GaussianBlur(grey, (0, 0), 1.0)
    resin, bright = np.percentile(grey, 3), np.percentile(grey, 97)
    if bright - resin < settings.min_contrast:
        return NO_SOLDER
    line = max(3, int(round(settings.valley_um / pixel_um)) | 1)
    valley = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, np.ones((line, 1), np.uint8))
    candidate = (grey > resin + settings.bright_share * (bright - resin)) & \
        (valley < settings.valley_depth * (bright - resin))
    if image.ndim == 3:
        channels = cv2.split(image)
        saturation = cv2.max(cv2.max(channels[0], channels[1]), channels[2]) - \
            cv2.min(cv2.min(channels[0], channels[1]), channels[2])
        candidate &= cv2.GaussianBlur(saturation, (0, 0), 1.0) < settings.max_saturation
    labels, count = ndi.label(candidate)
    if count == 0:
        return NO_SOLDER
    height = candidate.shape[0]
    x, _, w, _ = roi
    boxes = ndi.find_objects(labels)
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    best, best_area = 0, 0
    for k, (rows, cols) in enumerate(boxes, start=1):
        if rows.start == 0 or rows.stop == height:  # the body or the laminate, not the solder
            continue
        if (cols.stop - cols.start) * pixel_um < settings.min_width_um or (rows.stop - rows.start) * pixel_um < settings.min_height_um:
            continue
        inside = max(0, min(cols.stop, x + w) - max(cols.start, x)) / (cols.stop - cols.start)
        if inside >= 0.5 and areas[k] > best_area:
            best, best_area = k, int(areas[k])
    if best == 0:
        return NO_SOLDER
    keep = np.zeros(count + 1, bool)
    keep[best] = True
    top, bottom = boxes[best - 1][0].start, boxes[best - 1][0].stop
    for k, (rows, cols) in enumerate(boxes, start=1):  # the same layer, parted by voids
        overlap = min(rows.stop, bottom) - max(rows.start, top)
        if rows.start > 0 and rows.stop < height and overlap >= 0.6 * (rows.stop - rows.start) and areas[k] > 20:
            keep[k] = True
    return fill_holes(keep[labels])


def _board_on_top(solder: np.ndarray, image: np.ndarray) -> bool:
    """The fillets make the solder wider on the board side; copper (orange, wider than
    the solder) next to it confirms the board side in colour images."""
    rows = np.flatnonzero(solder.any(axis=1))
    quarter = max(1, len(rows) // 4)
    widths = solder[rows].sum(axis=1)
    top, bottom = widths[:quarter].mean(), widths[-quarter:].mean()
    if image.ndim == 3:
        copper = _copper_width(image, solder, rows[0], -1), _copper_width(image, solder, rows[-1], 1)
        if max(copper) > 1.05 * min(copper) and abs(top - bottom) < 0.03 * max(top, bottom):
            return copper[0] > copper[1]
    return top > bottom


def _copper_width(image: np.ndarray, solder: np.ndarray, edge_row: int, direction: int) -> float:
    """Widest run of copper-coloured pixels in the rows just beyond ``edge_row``."""
    height = image.shape[0]
    band = range(edge_row + direction, edge_row + direction * 12, direction)
    red_excess = image[..., 0] - image[..., 2]
    widths = [float((red_excess[r] > 0.15).sum()) for r in band if 0 <= r < height]
    return max(widths, default=0.0)


def section_layers(region: np.ndarray, pixel_um: float, settings: SectionSettings = SectionSettings()) -> SectionLayers | str:
    """Interface row and wetted width of the solder in a region turned component side up (RGB
    or grey): the solder's top edge over its middle columns, and its extent a third of the way
    down the layer (a crack under the interface cuts the rows above; the fillets spread onto
    the pad below)."""
    solder = solder_component(region, pixel_um, None, settings)
    if isinstance(solder, str):
        return solder
    columns = np.flatnonzero(solder.any(axis=0))
    middle = columns[(columns >= np.percentile(columns, 20)) & (columns <= np.percentile(columns, 80))]
    top = int(np.median(np.argmax(solder[:, middle], axis=0)))
    bottom = int(np.median(solder.shape[0] - np.argmax(solder[::-1, middle], axis=0)))
    thickness = max(1, bottom - top)
    band = solder[top + int(0.3 * thickness):top + max(int(0.3 * thickness) + 1, int(0.5 * thickness))]
    spans = [np.flatnonzero(r) for r in band if r.any()]
    if not spans:
        return NO_SOLDER
    left, right = int(np.median([r[0] for r in spans])), int(np.median([r[-1] for r in spans]))
    if (right - left + 1) * pixel_um < settings.min_width_um:
        return "solder layer too narrow to be a joint (min_width_um)"
    return SectionLayers(top, left, right)
