"""One image (or ROI) -> its measurement region and its encoder crop, with their placement.

This is what ingestion runs for every manifest row: find where the joint is
(:mod:`.locate` for X-rays, :mod:`.section` for cross-sections), cut the measurement
region on the measurement grid, and cut the encoder crop around the joint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..batch.images import to_unit_float
from .align import (
    ModalityAlignment, Placement, ScaleError, check_scale, context_region, crop_window, cut_scaled, encoder_crop,
    flipped, from_crop_dtype, to_crop_dtype, to_gray_unit,
)
from .locate import JointLocation, LocateSettings, find_joint_site, normalised, outline_joint
from .section import SectionLayers, SectionSettings, find_section_site, section_layers

Box = tuple[int, int, int, int]


@dataclass
class PreparedImage:
    region: np.ndarray        # uint16 measurement region (grey, normalised; cross-sections turned component side up)
    region_at: Placement      # of the region in the ROI frame
    region_pixel_um: float
    crop: np.ndarray          # uint16 encoder crop
    crop_at: Placement
    crop_pixel_um: float
    crop_padded_share: float  # share of the crop outside the image
    joint_box: tuple[float, float, float, float]  # x, y, w, h of the joint in the ROI frame (source px)
    site_reason: str = ""     # why no joint was found ("" when it was)
    layers: SectionLayers | None = None  # cross-sections: the solder's interface and width in the region
    location: JointLocation | None = None  # X-rays: the joint's outline in the region (measurement reuses it)


def prepare_image(modality: str, pixels: np.ndarray, roi: Box | None, pixel_um: float, spec: ModalityAlignment,
                  locate: LocateSettings, section: SectionSettings) -> PreparedImage:
    """Measurement region and encoder crop of one manifest row; raises :class:`ScaleError`
    for a pixel size that cannot be right."""
    check_scale(pixels.shape[:2] if roi is None else (roi[3], roi[2]), pixel_um, _reference_um(modality))
    share = locate.context_share
    raw, roi_in, origin = context_region(pixels, roi, share)
    gray = normalised(to_gray_unit(raw))
    if modality == "xray":
        site = find_joint_site(gray, pixel_um, roi_in, locate)
        reason = site if isinstance(site, str) else ""
        box, scale, joint, flip = (_fallback(roi_in, locate.max_joint_px) if reason else
                                   (site.region, site.scale, site.joint, ""))
    else:
        site = find_section_site(to_unit_float(raw), pixel_um, roi_in, section)
        reason = site if isinstance(site, str) else ""
        box, scale, joint, flip = (_fallback(roi_in, section.max_width_px) if reason else
                                   (site.region, site.scale, site.joint, site.flip))
    region = flipped(to_crop_dtype(cut_scaled(gray, box, scale)), flip)
    step = 1.0 / scale
    layers = location = None
    if modality == "micrograph" and not reason:  # the layers need colour, which the stored region lacks
        layers = section_layers(flipped(cut_scaled(to_unit_float(raw), box, scale), flip), pixel_um / scale, section)
        reason, layers = (layers, None) if isinstance(layers, str) else ("", layers)
    if modality == "xray" and not reason:  # the outline measurement will use, found on the stored region
        location = outline_joint(from_crop_dtype(region), pixel_um * step, locate)
        if location.found:
            x, y, w, h = location.box
            joint = (box[0] + x * step, box[1] + y * step, w * step, h * step)
    window = crop_window(joint, spec, pixel_um)
    crop, padded = encoder_crop(gray, window, spec)
    return PreparedImage(
        region=region, region_at=Placement(origin[0] + box[0], origin[1] + box[1], step, flip),
        region_pixel_um=pixel_um * step,
        crop=flipped(crop, flip), crop_at=Placement(origin[0] + window[0], origin[1] + window[1], window[2], flip),
        crop_pixel_um=pixel_um * window[2], crop_padded_share=padded,
        joint_box=(origin[0] + joint[0], origin[1] + joint[1], joint[2], joint[3]), site_reason=reason,
        layers=layers, location=location)


def _reference_um(modality: str) -> float:
    """A pixel size the image must resample to sensibly (catches mm or nm typed as um)."""
    return 5.0 if modality == "xray" else 1.0


def _fallback(roi: Box, max_px: int):
    """No joint found: the ROI itself is the region (shrunk to ``max_px``) and the joint box."""
    x, y, w, h = roi
    scale = min(1.0, max_px / max(w, h))
    return roi, scale, (float(x), float(y), float(w), float(h)), ""


__all__ = ["PreparedImage", "prepare_image", "ScaleError"]
