"""Measurement over a data set: per-image metrics, per-joint summary and verdicts.

``measure_crop`` is what ``mawis ingest`` calls for every crop (in its worker
processes); ``measure_dataset`` re-measures a stored data set (for example with
other settings); ``joint_table`` aggregates per joint and applies the acceptance
rules; ``write_overlays`` draws the found outlines on the crops for checking by eye.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..imaging.align import CROP_MAX
from .micrograph import CrackSettings, measure_cracks
from .rules import RuleSet
from .xray import VoidSettings, segment_voids, void_metrics

XRAY_COLUMNS = ("void_fraction", "largest_void_fraction", "void_count", "void_mean_diameter_um",
                "void_max_diameter_um", "edge_void_fraction", "void_centroid_offset_um", "joint_area_um2",
                "joint_solidity")
MICROGRAPH_COLUMNS = ("crack_fraction", "crack_length_um", "crack_left_um", "crack_right_um", "crack_start",
                      "wetted_width_um", "sectioned_void_count")
STATUS_COLUMNS = ("measure_status", "measure_reason")


@dataclass(frozen=True)
class MeasureSettings:
    xray: VoidSettings = field(default_factory=VoidSettings)
    micrograph: CrackSettings = field(default_factory=CrackSettings)


def measure_crop(modality: str, crop: np.ndarray, pixel_um: float, settings: MeasureSettings = MeasureSettings()) -> dict:
    """Metrics of one aligned crop; unmeasurable crops get a status and a reason, never NaN metrics."""
    image = crop.astype(np.float32) / CROP_MAX if crop.dtype != np.float32 else crop
    if modality == "xray":
        metrics = void_metrics(segment_voids(image, settings.xray), pixel_um, settings.xray)
    else:
        metrics = dict(measure_cracks(image, pixel_um, settings.micrograph).metrics)
    metrics = {k: v for k, v in metrics.items() if k != "noise"}
    return {"measure_status": metrics.pop("status"), "measure_reason": metrics.pop("reason"), **metrics}


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


def measure_dataset(images: pd.DataFrame, crops: dict[str, np.ndarray], settings: MeasureSettings = MeasureSettings(),
                    progress=None) -> pd.DataFrame:
    """The image table with its measurement columns (re)computed from the stored crops."""
    rows = []
    for done, (_, row) in enumerate(images.iterrows(), start=1):
        crop = crops[row["modality"]][int(row["crop_index"])]
        rows.append(measure_crop(row["modality"], crop, float(row["canonical_pixel_size_um"]), settings))
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


def write_overlays(images: pd.DataFrame, crops: dict[str, np.ndarray], out_dir: Path,
                   settings: MeasureSettings = MeasureSettings()) -> int:
    """PNG per image: the crop with the found outlines (joint green, voids red, crack red)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for _, row in images.iterrows():
        crop = crops[row["modality"]][int(row["crop_index"])]
        gray = (crop.astype(np.float32) / CROP_MAX)
        view = cv2.cvtColor((np.clip(gray, 0, 1) * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
        if row["modality"] == "xray":
            result = segment_voids(gray, settings.xray)
            _outline(view, result.joint, (0, 200, 0))
            _outline(view, result.voids, (0, 0, 255))
            view = cv2.resize(view, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
        else:
            result = measure_cracks(gray, float(row["canonical_pixel_size_um"]), settings.micrograph)
            if result.crack is not None:
                view[result.crack] = (0, 0, 255)
                _outline(view, result.voids, (255, 0, 255))
                left, right = result.edges
                view[result.solder_row, left:right + 1] = (0, 200, 0)
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


def _outline(view: np.ndarray, mask: np.ndarray, colour) -> None:
    if mask is None or not mask.any():
        return
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(view, contours, -1, colour, 1)
