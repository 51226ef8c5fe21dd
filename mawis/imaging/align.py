"""Spatial alignment: regions to measure and crops for the encoder, in physical units.

Stations differ in pixel size (1-20 um/px for X-ray, 0.5-2.5 um/px for cross-sections)
and joints in size (0.2-10 mm). Two products come out of every image:

* the **measurement region**: the joint plus a margin, at the image's own resolution
  (or coarser where the joint would span too many pixels), where voids and cracks are
  measured on the whole joint (:mod:`mawis.imaging.locate`, :mod:`mawis.measure`);
* the **encoder crop**, a fixed number of pixels per modality. With
  ``field_of_view = "joint"`` (the default) it shows the joint plus ``joint_margin`` of
  its size, so every joint fills its crop whatever its size and the crop's pixel size
  (``crop_pixel_size_um``) differs per image: the lifetime model reads physical size
  from the measured joint dimensions instead. With ``"fixed"`` every crop shows the
  same field of view at ``pixel_size_um`` (joints larger than it are cut).

Geometry is recorded in the **ROI frame**: source pixels relative to the ROI's top-left
corner (the whole image when there is no ROI), where the truth masks of the virtual lab
also live. :class:`Placement` maps any of these grids onto another.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..batch.images import to_unit_float

CROP_DTYPE = np.uint16
CROP_MAX = 65535
FIELDS_OF_VIEW = ("joint", "fixed")


@dataclass(frozen=True)
class ModalityAlignment:
    """The encoder crop of one modality."""

    crop_height: int
    crop_width: int
    field_of_view: str = "joint"   # "joint": the joint plus a margin fills the crop; "fixed": pixel_size_um per pixel
    joint_margin: float = 0.3      # "joint": the crop spans the joint's extent times (1 + this)
    pixel_size_um: float = 5.0     # "fixed": the crop's pixel size


DEFAULT_ALIGNMENT = {
    "xray": ModalityAlignment(crop_height=128, crop_width=128, pixel_size_um=5.0),
    # a cross-section is wide and flat: 256 x 640 keeps the solder layer tall enough to see
    "micrograph": ModalityAlignment(crop_height=256, crop_width=640, pixel_size_um=1.0),
}


@dataclass(frozen=True)
class Placement:
    """A grid placed in the ROI frame: its pixel (0, 0) covers source pixels from (x, y),
    and one of its pixels spans ``step`` source pixels. ``flip`` mirrors the grid's
    content ("lr", "ud", "lrud" or "") after the placement (cross-sections stored mirrored)."""

    x: float
    y: float
    step: float
    flip: str = ""

    def warp(self, image: np.ndarray, onto: "Placement", shape: tuple[int, int], nearest: bool = True) -> np.ndarray:
        """``image`` (on this grid) resampled onto the grid ``onto`` of ``shape`` (rows, cols)."""
        image = flipped(image, self.flip)
        scale = self.step / onto.step
        matrix = np.array([[scale, 0.0, (self.x - onto.x) / onto.step + 0.5 * scale - 0.5],
                           [0.0, scale, (self.y - onto.y) / onto.step + 0.5 * scale - 0.5]], np.float32)
        flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
        source = image.astype(np.uint8) if image.dtype == bool else image
        if not nearest and scale < 0.8:  # shrinking: average first (warpAffine only samples)
            source = cv2.GaussianBlur(source, (0, 0), 0.45 / scale)
        out = cv2.warpAffine(source, matrix, (shape[1], shape[0]), flags=flags, borderMode=cv2.BORDER_CONSTANT)
        out = flipped(out, onto.flip)
        return out.astype(bool) if image.dtype == bool else out


def flipped(image: np.ndarray, flip: str) -> np.ndarray:
    """``image`` mirrored as ``flip`` says ("lr", "ud", both or neither); flipping twice undoes it."""
    if "lr" in flip:
        image = image[:, ::-1]
    if "ud" in flip:
        image = image[::-1]
    return np.ascontiguousarray(image)


def to_gray_unit(pixels: np.ndarray) -> np.ndarray:
    """Float32 grey image in [0, 1] from 8/16-bit gray or RGB pixels."""
    values = to_unit_float(pixels)
    if values.ndim == 3:
        values = cv2.cvtColor(values, cv2.COLOR_RGB2GRAY)
    return values


MAX_RESAMPLED_SIDE = 16384


class ScaleError(ValueError):
    """The pixel size would make the resampled image absurdly small or large."""


def check_scale(shape: tuple[int, int], source_um: float, target_um: float) -> None:
    """Refuse a pixel size that would resample the image to under 8 or over 16384 px."""
    scale = source_um / target_um
    height, width = int(round(shape[0] * scale)), int(round(shape[1] * scale))
    if min(height, width) < 8 or max(height, width) > MAX_RESAMPLED_SIDE:
        raise ScaleError(f"pixel_size_um {source_um:g} turns this {shape[1]}x{shape[0]} px image into "
                         f"{width}x{height} px at {target_um:g} um/px; check that the pixel size is in micrometres")


def context_region(pixels: np.ndarray, roi: tuple[int, int, int, int] | None, share: float):
    """(pixels of the ROI widened by ``share`` of its size per side, the ROI's box within
    them, their top-left corner in the ROI frame). A joint whose ROI was drawn tight still
    shows its edge; the whole image when there is no ROI."""
    height, width = pixels.shape[:2]
    if roi is None:
        return pixels, (0, 0, width, height), (0, 0)
    x, y, w, h = roi
    dx, dy = int(round(share * w)), int(round(share * h))
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(width, x + w + dx), min(height, y + h + dy)
    return pixels[y0:y1, x0:x1], (x - x0, y - y0, w, h), (x0 - x, y0 - y)


def cut_scaled(values: np.ndarray, box: tuple[int, int, int, int], scale: float) -> np.ndarray:
    """``box`` of ``values``, shrunk by ``scale`` (<= 1) with area averaging."""
    x, y, w, h = box
    part = values[y:y + h, x:x + w]
    if scale >= 1.0:
        return np.ascontiguousarray(part)
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return cv2.resize(part, size, interpolation=cv2.INTER_AREA)


def crop_window(joint_box: tuple[float, float, float, float], spec: ModalityAlignment, source_um: float) -> tuple[float, float, float]:
    """(x, y, step) of the encoder crop on the source grid: centred on the joint's box."""
    x, y, w, h = joint_box
    cx, cy = x + w / 2, y + h / 2
    if spec.field_of_view == "fixed":
        step = spec.pixel_size_um / source_um
    else:  # the joint and its margin fill the crop along its tighter direction
        step = max(w / spec.crop_width, h / spec.crop_height) * (1.0 + spec.joint_margin)
        step = max(step, 1e-3)
    return cx - spec.crop_width * step / 2, cy - spec.crop_height * step / 2, step


def encoder_crop(values: np.ndarray, window: tuple[float, float, float], spec: ModalityAlignment) -> tuple[np.ndarray, float]:
    """(uint16 crop of ``spec``'s shape, share of it outside the image). Outside the image
    the crop holds the image's median grey (a flat background, never mirrored content
    that would invent solder or voids)."""
    x, y, step = window
    shape = (spec.crop_height, spec.crop_width)
    fill = float(np.median(values[:: max(1, values.shape[0] // 256), :: max(1, values.shape[1] // 256)]))
    # only the window (and the reach of the anti-alias blur) is resampled, not the whole image
    reach = int(np.ceil(1.5 * step)) + 2
    x0, y0 = max(0, int(np.floor(x)) - reach), max(0, int(np.floor(y)) - reach)
    x1 = min(values.shape[1], int(np.ceil(x + shape[1] * step)) + reach)
    y1 = min(values.shape[0], int(np.ceil(y + shape[0] * step)) + reach)
    if x1 <= x0 or y1 <= y0:
        return to_crop_dtype(np.full(shape, fill, np.float32)), 1.0
    part = values[y0:y1, x0:x1].astype(np.float32) - fill
    crop = Placement(float(x0), float(y0), 1.0).warp(part, Placement(x, y, step), shape, nearest=False) + fill
    return to_crop_dtype(crop), 1.0 - _inside_share(window, shape, values.shape)


def _inside_share(window: tuple[float, float, float], shape: tuple[int, int], image_shape: tuple[int, ...]) -> float:
    """Share of the crop window's area that lies on the image."""
    x, y, step = window
    inside_x = max(0.0, min(x + shape[1] * step, image_shape[1]) - max(x, 0.0)) / (shape[1] * step)
    inside_y = max(0.0, min(y + shape[0] * step, image_shape[0]) - max(y, 0.0)) / (shape[0] * step)
    return float(inside_x * inside_y)


def to_crop_dtype(values: np.ndarray) -> np.ndarray:
    return np.round(np.clip(values, 0.0, 1.0) * CROP_MAX).astype(CROP_DTYPE)


def from_crop_dtype(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float32) / CROP_MAX
