"""Measurement over a data set: per-image metrics, per-joint summary and verdicts.

``measure_region`` is what ``mawis ingest`` calls for every image's measurement region
(in its worker processes); ``measure_dataset`` re-measures a stored data set from the
same regions (for example with other settings), with identical results for identical
settings; ``joint_table`` aggregates per joint and applies the acceptance rules;
``write_overlays`` draws the found outlines on the regions for checking by eye.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..imaging.align import from_crop_dtype
from ..imaging.locate import JointLocation, LocateSettings, outline_joint
from ..imaging.section import SectionLayers
from ..jsonio import is_missing
from .micrograph import CrackResult, CrackSettings, measure_cracks
from .rules import RuleSet
from .xray import UNMEASURABLE, VoidResult, VoidSettings, segment_voids, void_metrics

XRAY_COLUMNS = ("void_fraction", "largest_void_fraction", "void_count", "void_mean_diameter_um",
                "void_max_diameter_um", "edge_void_fraction", "void_centroid_offset_um", "joint_area_um2",
                "joint_solidity", "joint_length_um", "joint_width_um", "joint_angle_deg", "inclusion_fraction")
MICROGRAPH_COLUMNS = ("crack_fraction", "crack_length_um", "crack_left_um", "crack_right_um", "crack_start",
                      "wetted_width_um", "sectioned_void_count")
STATUS_COLUMNS = ("measure_status", "measure_reason")


@dataclass(frozen=True)
class MeasureSettings:
    locate: LocateSettings = field(default_factory=LocateSettings)
    xray: VoidSettings = field(default_factory=VoidSettings)
    micrograph: CrackSettings = field(default_factory=CrackSettings)


@dataclass
class XrayAnalysis:
    location: JointLocation
    voids: VoidResult | None


def analyse_xray(image: np.ndarray, pixel_um: float, settings: MeasureSettings = MeasureSettings(),
                 location: JointLocation | None = None) -> XrayAnalysis:
    """Outline and voids of the joint in one X-ray measurement region (float in [0, 1]);
    ``location`` is the outline when the caller found it already on this region."""
    location = location or outline_joint(image, pixel_um, settings.locate)
    if not location.found:
        return XrayAnalysis(location, None)
    return XrayAnalysis(location, segment_voids(image, location.mask, settings.xray))


def analyse_section(image: np.ndarray, pixel_um: float, layers: SectionLayers | None,
                    settings: MeasureSettings = MeasureSettings()) -> CrackResult:
    """Cracks and sectioned voids in one cross-section measurement region (float in [0, 1]);
    ``layers`` (found in colour at ingestion) say where the solder is."""
    return measure_cracks(image, pixel_um, layers, settings.micrograph)


LAYER_COLUMNS = ("section_top", "section_left", "section_right")


def layer_columns(layers: SectionLayers | None) -> dict:
    """A cross-section's layers as image-table cells (NaN where there are none)."""
    values = (layers.top, layers.left, layers.right) if layers is not None else (np.nan,) * 3
    return dict(zip(LAYER_COLUMNS, (float(v) for v in values)))


def row_layers(row) -> SectionLayers | None:
    """The layers an image-table row recorded, if any."""
    values = [row.get(c) for c in LAYER_COLUMNS]
    if any(v is None or pd.isna(v) for v in values):
        return None
    return SectionLayers(*(int(v) for v in values))


def measure_region(modality: str, region: np.ndarray, pixel_um: float,
                   settings: MeasureSettings = MeasureSettings(), layers: SectionLayers | None = None,
                   location: JointLocation | None = None, site_reason: str = "") -> dict:
    """Metrics of one measurement region; unmeasurable ones get a status and a reason, never NaN metrics.
    ``site_reason``: why ingestion found no joint in the image (its region is then only the ROI
    or the whole image): the region is unmeasurable for that reason, at ingestion and at any
    re-measure alike."""
    if site_reason:
        return {"measure_status": UNMEASURABLE, "measure_reason": site_reason}
    image = from_crop_dtype(region) if region.dtype != np.float32 else region
    if modality == "xray":
        analysis = analyse_xray(image, pixel_um, settings, location)
        if analysis.voids is None:
            metrics = {"status": UNMEASURABLE, "reason": analysis.location.reason}
        else:
            metrics = void_metrics(analysis.voids, pixel_um, settings.xray)
            if metrics["status"] == "ok":
                metrics.update(joint_length_um=analysis.location.length_um, joint_width_um=analysis.location.width_um,
                               joint_angle_deg=analysis.location.angle_deg)
    else:
        metrics = dict(analyse_section(image, pixel_um, layers, settings).metrics)
    metrics = {k: v for k, v in metrics.items() if k != "noise"}
    return {"measure_status": metrics.pop("status"), "measure_reason": metrics.pop("reason"), **metrics}


def _text(value) -> str:
    """A string cell as text: "" for missing (data sets ingested before the column existed)."""
    return "" if is_missing(value) else str(value)


def empty_measurements() -> dict:
    return {"measure_status": "", "measure_reason": ""}


def measurement_frame(rows: list[dict], index) -> pd.DataFrame:
    """Typed columns for the image table (missing metrics as <NA>, never NaN-from-a-crash)."""
    frame = pd.DataFrame(rows, index=index)
    for col in (*XRAY_COLUMNS, *MICROGRAPH_COLUMNS, *STATUS_COLUMNS):
        if col not in frame.columns:
            frame[col] = pd.NA
    typed = pd.DataFrame(index=index)
    for col in STATUS_COLUMNS + ("crack_start",):
        typed[col] = frame[col].astype("string")
    for col in ("void_count", "sectioned_void_count"):
        typed[col] = pd.to_numeric(frame[col]).astype("Int64")
    for col in (*XRAY_COLUMNS, *MICROGRAPH_COLUMNS):
        if col not in typed.columns:
            typed[col] = pd.to_numeric(frame[col]).astype("Float64")
    return typed


def measure_dataset(images: pd.DataFrame, regions, settings: MeasureSettings = MeasureSettings(),
                    progress=None) -> pd.DataFrame:
    """The image table with its measurement columns (re)computed from the stored regions
    (``regions(row) -> uint16 array``, e.g. :meth:`Dataset.region`)."""
    rows = []
    for done, (_, row) in enumerate(images.iterrows(), start=1):
        rows.append(measure_region(row["modality"], regions(row), float(row["region_pixel_size_um"]), settings,
                                   row_layers(row), site_reason=_text(row.get("site_reason"))))
        if progress is not None:
            progress("measure", done, len(images))
    measured = measurement_frame(rows, images.index)
    return pd.concat([images.drop(columns=[c for c in measured.columns if c in images.columns]), measured], axis=1)


def joint_table(images: pd.DataFrame, rules: RuleSet) -> pd.DataFrame:
    """One row per joint: void metrics of its earliest measurable X-ray (as reflowed), crack
    metrics of its latest measurable micrograph, and the acceptance verdict.

    Vectorised per column (a 10,000-joint batch takes about a second); only the rule check
    runs per joint."""
    images = images.reset_index(drop=True)
    by_joint = images.groupby("joint_id", sort=True)
    out = pd.DataFrame(index=pd.Index(sorted(images["joint_id"].unique()), name="joint_id"))
    for col in ("board_id", "component"):
        out[col] = by_joint[col].first() if col in images else None
    out["images"] = by_joint.size()
    out["unmeasurable_images"] = (images["measure_status"] != "ok").groupby(images["joint_id"]).sum()
    ok = images[images["measure_status"] == "ok"]
    xray = _pick(ok, "xray", last=False)
    micro = _pick(ok, "micrograph", last=True)
    for prefix, rows in (("xray", xray), ("micrograph", micro)):
        out[f"{prefix}_image_id"] = rows["image_id"].reindex(out.index)
        out[f"{prefix}_cycles"] = rows["cycles"].reindex(out.index)
    for col in XRAY_COLUMNS:
        out[col] = xray[col].reindex(out.index) if col in xray else None
    for col in MICROGRAPH_COLUMNS:
        out[col] = micro[col].reindex(out.index) if col in micro else None
    table = out.reset_index()
    metrics = table[[*XRAY_COLUMNS, *MICROGRAPH_COLUMNS]].astype(object)
    metrics = metrics.where(metrics.notna(), None)
    judged = [rules.judge(component, _present(row)) for component, row in
              zip(table["component"], metrics.to_dict("records"))]
    table["verdict"], table["failed_rules"], table["rules_not_checked"] = (list(x) for x in zip(*judged)) \
        if judged else ([], [], [])
    table.attrs["rules_version"] = rules.version
    return table


def _pick(ok: pd.DataFrame, modality: str, last: bool) -> pd.DataFrame:
    rows = ok[ok["modality"] == modality].sort_values(["joint_id", "cycles"], kind="stable")
    return rows.drop_duplicates("joint_id", keep="last" if last else "first").set_index("joint_id")


def _present(row: dict) -> dict:
    """The metrics a joint has (numbers only: the rule check skips missing ones)."""
    return {k: float(v) for k, v in row.items()
            if v is not None and not isinstance(v, str) and not pd.isna(v)}


def write_overlays(images: pd.DataFrame, regions, out_dir: Path, settings: MeasureSettings = MeasureSettings()) -> int:
    """PNG per image: its measurement region with the found outlines (X-ray: joint green,
    voids red, filled vias and wires blue; cross-section: crack red, sectioned voids
    magenta, the interface and wetted width green). Small regions are enlarged to be seen."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for _, row in images.iterrows():
        gray = from_crop_dtype(regions(row))
        pixel_um = float(row["region_pixel_size_um"])
        view = cv2.cvtColor((np.clip(gray, 0, 1) * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        zoom = max(1, int(480 // max(view.shape[:2])))
        if row["modality"] == "xray":
            analysis = analyse_xray(gray, pixel_um, settings)
            view = cv2.resize(view, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
            _outline(view, analysis.location.mask, (0, 200, 0), zoom)
            if analysis.voids is not None:
                _outline(view, analysis.voids.voids, (0, 0, 255), zoom)
                _outline(view, analysis.voids.inclusions, (255, 120, 0), zoom)
        else:
            result = analyse_section(gray, pixel_um, row_layers(row), settings)
            if result.crack is not None:
                view[result.crack] = (0, 0, 255)
                _outline(view, result.voids, (255, 0, 255), 1)
                left, right = result.edges
                view[result.solder_row, left:right + 1] = (0, 200, 0)
            view = cv2.resize(view, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
        label = f"{row['image_id']}  {row.get('measure_status', '')}"
        cv2.putText(view, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1, cv2.LINE_AA)
        cv2.imwrite(str(out_dir / overlay_name(row["image_id"])), view)
    return len(images)


def overlay_name(image_id: str) -> str:
    """A safe file name for an image's overlay: ids come from the manifest and may hold any
    character (a "/" or ".." must never make a path), so unusual ids get a hash suffix."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", str(image_id)).lstrip(".") or "image"
    if safe != str(image_id):
        safe = f"{safe[:80]}-{hashlib.sha256(str(image_id).encode()).hexdigest()[:8]}"
    return f"{safe}.png"


def _outline(view: np.ndarray, mask: np.ndarray | None, colour, zoom: int) -> None:
    if mask is None or not mask.any():
        return
    if zoom > 1:
        mask = cv2.resize(mask.astype(np.uint8), None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(view, contours, -1, colour, 1)
