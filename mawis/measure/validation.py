"""Compare measurements with the virtual lab's ground truth (and with an Otsu baseline).

Used by ``bench/validate_measurement.py`` and the tests. The simulator's truth masks lie
on the image's (ROI's) grid and on a finer render grid; they are mapped onto each
image's measurement region with the placement ingestion recorded. Void IoU is scored
against the fine (about 2 um) truth; the IoU of the truth rasterised on the station's
own detector grid is reported beside it, because at coarse stations that pixelation
alone costs a perfect segmentation several IoU points. Void fractions are compared
with the joint's true void fraction (its 3-D bubbles projected at fine resolution).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..batch.images import read_image
from ..imaging.align import Placement, from_crop_dtype
from ..ingest.config import recorded_measure_settings
from ..ingest.dataset import Dataset, load_dataset, placements
from .baseline import otsu_crack_fraction, otsu_voids
from .pipeline import analyse_section, analyse_xray, row_layers

VOID_IOU_MIN_AREA = 0.02  # IoU is scored on images whose true void area exceeds this


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def truth_on_region(mask: np.ndarray, mask_step: float, row: pd.Series) -> np.ndarray:
    """A truth mask on the ROI grid subdivided by 1 / ``mask_step`` (source px per mask px),
    as it lies on ``row``'s measurement region: a pixel is in where the mask covers half of it."""
    shape = (int(row["region_rows"]), int(row["region_cols"]))
    cover = Placement(0.0, 0.0, mask_step).warp(mask.astype(np.float32), placements(row)[0], shape, nearest=False)
    return cover >= 0.5


def truth_on_crop(mask: np.ndarray, mask_step: float, row: pd.Series, shape: tuple[int, int]) -> np.ndarray:
    """As :func:`truth_on_region`, on the encoder crop of ``shape``."""
    cover = Placement(0.0, 0.0, mask_step).warp(mask.astype(np.float32), placements(row)[1], shape, nearest=False)
    return cover >= 0.5


def true_void_mask(truth_dir: Path, truth: pd.Series, row: pd.Series, shape: tuple[int, int]) -> np.ndarray:
    """The simulator's fine void mask of one X-ray, on its encoder crop of ``shape``."""
    step = float(truth["fine_mask_pixel_um"]) / float(row["source_pixel_size_um"])
    return truth_on_crop(read_image(Path(truth_dir) / truth["fine_mask_path"]) == 255, step, row, shape)


def compare_xray(dataset_dir: Path, truth_dir: Path) -> pd.DataFrame:
    """Per as-reflowed X-ray image: true and measured void fraction and void-mask IoU, mawis and Otsu."""
    ds, truth_dir = load_dataset(dataset_dir), Path(truth_dir)
    settings = recorded_measure_settings(ds.info["config"])
    joints = pd.read_csv(truth_dir / "joints.csv").set_index("joint_id")
    truth = pd.read_csv(truth_dir / "images.csv").set_index("image_id")
    rows = []
    for _, row in ds.images[(ds.images["modality"] == "xray") & (ds.images["cycles"] == 0)].iterrows():
        image = from_crop_dtype(ds.region(row))
        t = truth.loc[row["image_id"]]
        fine_step = float(t["fine_mask_pixel_um"]) / float(row["source_pixel_size_um"])
        true_voids = truth_on_region(read_image(truth_dir / t["fine_mask_path"]) == 255, fine_step, row)
        detector_voids = truth_on_region(read_image(truth_dir / t["mask_path"]) == 255, 1.0, row)
        true_joint = truth_on_region(read_image(truth_dir / t["fine_mask_path"]) > 0, fine_step, row)
        ours = analyse_xray(image, float(row["region_pixel_size_um"]), settings)
        found = ours.voids is not None
        voids = ours.voids.voids if found else np.zeros(image.shape, bool)
        joint = ours.location.mask if found else np.zeros(image.shape, bool)
        otsu_joint, otsu_void = otsu_voids(image)
        rows.append({
            "image_id": row["image_id"], "joint_id": row["joint_id"],
            "component": row.get("component"), "machine": row.get("machine"),
            "pixel_size_um": float(row["source_pixel_size_um"]),
            "true_length_um": float(max(joints.at[row["joint_id"], "width_um"], joints.at[row["joint_id"], "length_um"])),
            "true_void_fraction": float(joints.at[row["joint_id"], "void_fraction"]),
            "mawis_status": "ok" if found else "unmeasurable",
            "mawis_reason": "" if found else ours.location.reason,
            "mawis_void_fraction": float(voids.sum() / joint.sum()) if found else np.nan,
            "otsu_void_fraction": float(otsu_void.sum() / max(otsu_joint.sum(), 1)),
            "mawis_iou": _iou(voids, true_voids),
            "otsu_iou": _iou(otsu_void, true_voids),
            "mawis_iou_detector_grid": _iou(voids, detector_voids),
            "detector_grid_iou": _iou(detector_voids, true_voids),
            "joint_iou": _iou(joint, true_joint),
            "joint_area_ratio": float(joint.sum() / max(true_joint.sum(), 1)),
        })
    return pd.DataFrame(rows)


def compare_micrographs(dataset_dir: Path, truth_dir: Path) -> pd.DataFrame:
    """Per cross-section: true and measured crack fraction, mawis and Otsu."""
    ds, truth_dir = load_dataset(dataset_dir), Path(truth_dir)
    settings = recorded_measure_settings(ds.info["config"])
    truth = pd.read_csv(truth_dir / "images.csv").set_index("image_id")
    joints = pd.read_csv(truth_dir / "joints.csv").set_index("joint_id")
    rows = []
    for _, row in ds.images[ds.images["modality"] == "micrograph"].iterrows():
        image = from_crop_dtype(ds.region(row))
        ours = analyse_section(image, float(row["region_pixel_size_um"]), row_layers(row), settings).metrics
        rows.append({
            "image_id": row["image_id"], "joint_id": row["joint_id"],
            "component": row.get("component"), "machine": row.get("machine"),
            "pixel_size_um": float(row["source_pixel_size_um"]),
            "true_length_um": float(max(joints.at[row["joint_id"], "width_um"], joints.at[row["joint_id"], "length_um"])),
            "true_crack_fraction": float(truth.at[row["image_id"], "crack_fraction"]),
            "mawis_status": ours["status"], "mawis_reason": ours.get("reason", ""),
            "mawis_crack_fraction": ours.get("crack_fraction", np.nan),
            "otsu_crack_fraction": otsu_crack_fraction(image),
        })
    return pd.DataFrame(rows)


def summarise(xray: pd.DataFrame, micro: pd.DataFrame) -> dict:
    """The scores: void-fraction MAE (percentage points) over measured images, mean void IoU on
    images with more than 2 % true void area, crack-fraction MAE, for mawis and Otsu; the
    unmeasurable counts; the mawis IoU against detector-grid truth and that truth's own IoU."""
    measured = xray[xray["mawis_status"] == "ok"] if len(xray) else xray
    scored = measured[measured["true_void_fraction"] > VOID_IOU_MIN_AREA] if len(measured) else measured
    micro_ok = micro[micro["mawis_status"] == "ok"] if len(micro) else micro
    out = {"xray_images": len(xray), "micrographs": len(micro),
           "xray_unmeasurable": int((xray["mawis_status"] != "ok").sum()) if len(xray) else 0,
           "micrograph_unmeasurable": int((micro["mawis_status"] != "ok").sum()) if len(micro) else 0}
    out["unmeasurable"] = out["xray_unmeasurable"] + out["micrograph_unmeasurable"]
    for method in ("mawis", "otsu"):
        out[f"{method}_void_mae_pp"] = _mae(measured, f"{method}_void_fraction", "true_void_fraction") * 100
        out[f"{method}_void_iou"] = float(scored[f"{method}_iou"].mean()) if len(scored) else float("nan")
        out[f"{method}_crack_mae"] = _mae(micro_ok, f"{method}_crack_fraction", "true_crack_fraction")
    out["mawis_void_bias_pp"] = float((measured["mawis_void_fraction"] - measured["true_void_fraction"]).mean() * 100) \
        if len(measured) else float("nan")
    for column in ("mawis_iou_detector_grid", "detector_grid_iou"):
        out[column] = float(scored[column].mean()) if len(scored) else float("nan")
    return out


def _mae(frame: pd.DataFrame, measured: str, true: str) -> float:
    if not len(frame):
        return float("nan")
    return float((frame[measured] - frame[true]).abs().mean())


__all__ = ["compare_xray", "compare_micrographs", "summarise", "truth_on_region", "Dataset"]
