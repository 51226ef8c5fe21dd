"""Spatial alignment: every crop shows the same physical scale and field of view.

Stations differ in pixel size (4-9 um/px for X-ray, about 1 um/px for
micrographs), so a 100 um void spans a different number of pixels on each. Here
every image is (1) scaled to [0, 1] by its bit depth, (2) converted to grey, (3)
resampled to the modality's canonical pixel size with an anti-aliasing filter
(area averaging when shrinking, bicubic when enlarging), and (4) cut to a fixed
physical field of view centred on the joint. After this a void of a given size has
the same size in pixels whatever station took it, which is what lets lifetime
models read size information from the crops.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..batch.images import to_unit_float

CROP_DTYPE = np.uint16
CROP_MAX = 65535


@dataclass(frozen=True)
class ModalityAlignment:
    """Canonical sampling of one modality."""

    pixel_size_um: float
    crop_height: int
    crop_width: int
    centre_on: str  # "dark_blob": the solder in an X-ray; "frame": the lab centres its cross-sections


DEFAULT_ALIGNMENT = {
    "xray": ModalityAlignment(pixel_size_um=5.0, crop_height=128, crop_width=128, centre_on="dark_blob"),
    # fatigue cracks are 1.5-4 um wide: 1 um/px keeps them measurable; 256 x 640 um holds a
    # 400-560 um wide joint with its fillets, pad and package edge
    "micrograph": ModalityAlignment(pixel_size_um=1.0, crop_height=256, crop_width=640, centre_on="frame"),
}


def to_gray_unit(pixels: np.ndarray) -> np.ndarray:
    """Float32 grey image in [0, 1] from 8/16-bit gray or RGB pixels."""
    values = to_unit_float(pixels)
    if values.ndim == 3:
        values = cv2.cvtColor(values, cv2.COLOR_RGB2GRAY)
    return values


MAX_RESAMPLED_SIDE = 16384


class ScaleError(ValueError):
    """The pixel size would make the resampled image absurdly small or large."""


def resampled_shape(shape: tuple[int, int], source_um: float, target_um: float) -> tuple[int, int]:
    scale = source_um / target_um
    height, width = int(round(shape[0] * scale)), int(round(shape[1] * scale))
    if min(height, width) < 8 or max(height, width) > MAX_RESAMPLED_SIDE:
        raise ScaleError(f"pixel_size_um {source_um:g} turns this {shape[1]}x{shape[0]} px image into "
                         f"{width}x{height} px at {target_um:g} um/px; check that the pixel size is in micrometres")
    return height, width


def resample(values: np.ndarray, source_um: float, target_um: float) -> np.ndarray:
    """Resample to ``target_um`` per pixel; anti-aliased when shrinking."""
    scale = source_um / target_um
    height, width = resampled_shape(values.shape[:2], source_um, target_um)
    if (height, width) == values.shape[:2]:
        return values
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return np.clip(cv2.resize(values, (width, height), interpolation=method), 0.0, 1.0)


def dark_blob_centre(values: np.ndarray) -> tuple[float, float]:
    """Centre (row, col) of the solder: the largest region darker than halfway between
    the darkest pixels and the image median, taken at its bounding-box centre.

    The halfway level keeps copper traces and package edges (lighter than solder) out;
    the bounding box is not pulled by voids. Falls back to the image centre when no
    region stands out (blank or all-noise images).
    """
    small = cv2.GaussianBlur(values, (0, 0), 2.0)
    low, mid = np.percentile(small, 2), np.median(small)
    centre = ((values.shape[0] - 1) / 2, (values.shape[1] - 1) / 2)
    if mid - low < 0.02:
        return centre
    dark = (small < low + 0.5 * (mid - low)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    if count <= 1:
        return centre
    areas = stats[1:, cv2.CC_STAT_AREA]
    best = 1 + int(np.argmax(areas))
    if areas[best - 1] < 0.02 * values.size:
        return centre
    x, y, w, h = stats[best, :4]
    return float(y + (h - 1) / 2), float(x + (w - 1) / 2)


def crop_around(values: np.ndarray, centre: tuple[float, float], height: int, width: int) -> np.ndarray:
    """A ``height`` x ``width`` window centred on ``centre``.

    Where the window leaves the image it is filled with the image's median grey
    (a flat background), never with mirrored content that would invent solder or voids.
    """
    top = int(round(centre[0] - (height - 1) / 2))
    left = int(round(centre[1] - (width - 1) / 2))
    pad_top, pad_left = max(0, -top), max(0, -left)
    pad_bottom = max(0, top + height - values.shape[0])
    pad_right = max(0, left + width - values.shape[1])
    if pad_top or pad_left or pad_bottom or pad_right:
        fill = float(np.median(values))
        values = cv2.copyMakeBorder(values, pad_top, pad_bottom, pad_left, pad_right, cv2.BORDER_CONSTANT, value=fill)
        top, left = top + pad_top, left + pad_left
    return values[top:top + height, left:left + width]


def padded_share(shape: tuple[int, int], centre: tuple[float, float], height: int, width: int) -> float:
    """Share of a crop that lies outside the resampled image (filled, not imaged)."""
    top = int(round(centre[0] - (height - 1) / 2))
    left = int(round(centre[1] - (width - 1) / 2))
    inside_h = max(0, min(top + height, shape[0]) - max(top, 0))
    inside_w = max(0, min(left + width, shape[1]) - max(left, 0))
    return 1.0 - inside_h * inside_w / (height * width)


def joint_centre(values: np.ndarray, spec: ModalityAlignment) -> tuple[float, float]:
    if spec.centre_on == "dark_blob":
        return dark_blob_centre(values)
    return (values.shape[0] - 1) / 2, (values.shape[1] - 1) / 2


def align_image(pixels: np.ndarray, pixel_size_um: float, spec: ModalityAlignment) -> tuple[np.ndarray, tuple[float, float]]:
    """The canonical crop of one image (or ROI) as uint16 in [0, 65535], and the joint centre used.

    The centre is in canonical pixels of the resampled image; :func:`align_mask` takes
    it to cut a label image the same way.
    """
    values = resample(to_gray_unit(pixels), pixel_size_um, spec.pixel_size_um)
    centre = joint_centre(values, spec)
    crop = crop_around(values, centre, spec.crop_height, spec.crop_width)
    return np.round(crop * CROP_MAX).astype(CROP_DTYPE), centre


def align_image_with_padding(pixels: np.ndarray, pixel_size_um: float, spec: ModalityAlignment):
    """:func:`align_image` plus the share of the crop that had to be filled."""
    crop, centre = align_image(pixels, pixel_size_um, spec)
    shape = resampled_shape(pixels.shape[:2], pixel_size_um, spec.pixel_size_um)
    return crop, centre, padded_share(shape, centre, spec.crop_height, spec.crop_width)


def align_mask(mask: np.ndarray, pixel_size_um: float, spec: ModalityAlignment, centre: tuple[float, float]) -> np.ndarray:
    """Resample and cut a boolean mask exactly as :func:`align_image` cut its image."""
    coverage = resample(mask.astype(np.float32), pixel_size_um, spec.pixel_size_um)
    return crop_around(coverage, centre, spec.crop_height, spec.crop_width) >= 0.5
