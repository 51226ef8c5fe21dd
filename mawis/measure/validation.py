"""Compare measurements with the virtual lab's ground truth (and with an Otsu baseline).

Used by ``bench/validate_measurement.py`` and the tests. Truth masks are cut to the
crop grid exactly as ingestion cut the images (same resampling, same centre). Void
IoU is scored against the simulator's fine (about 2 um) truth; the IoU against the
truth pixelated on the detector grid is reported beside it, because at coarse
stations that pixelation alone costs a perfect segmentation several IoU points.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..batch.images import read_image
from ..imaging.align import CROP_MAX, ModalityAlignment, align_mask
from ..ingest.dataset import load_dataset
from .baseline import otsu_crack_fraction, otsu_voids
from .micrograph import measure_cracks
from .xray import segment_voids

VOID_IOU_MIN_AREA = 0.02  # IoU is scored on images whose true void area exceeds this


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def true_void_mask(truth_dir: Path, truth: pd.Series, spec: ModalityAlignment, centre) -> np.ndarray:
    """The simulator's fine void mask of one X-ray, cut to its aligned crop."""
    return align_mask(read_image(truth_dir / truth["fine_mask_path"]) == 255, float(truth["fine_mask_pixel_um"]),
                      spec, centre)


def compare_xray(dataset_dir: Path, truth_dir: Path) -> pd.DataFrame:
    """Per as-reflowed X-ray image: true and measured void fraction and void-mask IoU, mawis and Otsu."""
    ds = load_dataset(dataset_dir)
    crops = ds.crops("xray")
    joints = pd.read_csv(truth_dir / "joints.csv").set_index("joint_id")
    masks = pd.read_csv(truth_dir / "images.csv").set_index("image_id")
    spec = ModalityAlignment(**ds.info["config"]["xray"])
    rows = []
    for _, row in ds.images[(ds.images["modality"] == "xray") & (ds.images["cycles"] == 0)].iterrows():
        image = crops[int(row["crop_index"])].astype(np.float32) / CROP_MAX
        truth = masks.loc[row["image_id"]]
        centre = (row["crop_centre_row"], row["crop_centre_col"])
        true_voids = true_void_mask(truth_dir, truth, spec, centre)
        detector_voids = align_mask(read_image(truth_dir / truth["mask_path"]) == 255,
                                    float(row["source_pixel_size_um"]), spec, centre)
        ours = segment_voids(image)
        otsu_joint, otsu_void = otsu_voids(image)
        rows.append({
            "image_id": row["image_id"],
            "true_void_fraction": float(joints.at[row["joint_id"], "void_fraction"]),
            "mawis_status": ours.metrics["status"],
            "mawis_void_fraction": float(ours.voids.sum() / max(ours.joint.sum(), 1)),
            "otsu_void_fraction": float(otsu_void.sum() / max(otsu_joint.sum(), 1)),
            "mawis_iou": _iou(ours.voids, true_voids),
            "otsu_iou": _iou(otsu_void, true_voids),
            "mawis_iou_detector_grid": _iou(ours.voids, detector_voids),
            "detector_grid_iou": _iou(detector_voids, true_voids),
        })
    return pd.DataFrame(rows)


def compare_micrographs(dataset_dir: Path, truth_dir: Path) -> pd.DataFrame:
    """Per cross-section: true and measured crack fraction, mawis and Otsu."""
    ds = load_dataset(dataset_dir)
    crops = ds.crops("micrograph")
    truth = pd.read_csv(truth_dir / "images.csv").set_index("image_id")["crack_fraction"]
    rows = []
    for _, row in ds.images[ds.images["modality"] == "micrograph"].iterrows():
        image = crops[int(row["crop_index"])].astype(np.float32) / CROP_MAX
        ours = measure_cracks(image, float(row["canonical_pixel_size_um"])).metrics
        rows.append({
            "image_id": row["image_id"],
            "true_crack_fraction": float(truth[row["image_id"]]),
            "mawis_status": ours["status"],
            "mawis_crack_fraction": ours.get("crack_fraction", np.nan),
            "otsu_crack_fraction": otsu_crack_fraction(image),
        })
    return pd.DataFrame(rows)


def summarise(xray: pd.DataFrame, micro: pd.DataFrame) -> dict:
    """The issue's scores: void-fraction MAE (percentage points), mean void IoU on images
    with more than 2 % true void area, crack-fraction MAE, for mawis and Otsu; plus the
    mawis IoU against detector-grid truth and that truth's own IoU against the fine truth."""
    scored = xray[xray["true_void_fraction"] > VOID_IOU_MIN_AREA]
    out = {"xray_images": len(xray), "micrographs": len(micro),
           "unmeasurable": int((xray["mawis_status"] != "ok").sum() + (micro["mawis_status"] != "ok").sum())}
    for method in ("mawis", "otsu"):
        out[f"{method}_void_mae_pp"] = float((xray[f"{method}_void_fraction"] - xray["true_void_fraction"]).abs().mean() * 100)
        out[f"{method}_void_iou"] = float(scored[f"{method}_iou"].mean()) if len(scored) else float("nan")
        out[f"{method}_crack_mae"] = float((micro[f"{method}_crack_fraction"] - micro["true_crack_fraction"]).abs().mean()) \
            if len(micro) else float("nan")
    for column in ("mawis_iou_detector_grid", "detector_grid_iou"):
        out[column] = float(scored[column].mean()) if len(scored) else float("nan")
    return out
