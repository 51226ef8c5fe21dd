"""One row per joint: what the lifetime models see and what they are scored on.

A joint's inputs are the images a production joint can have before its life is
known: its earliest X-ray and latest cross-section taken at or before
``input_max_cycles`` (0 by default: as reflowed), with their measured void and crack
features, and its component. Later images are outcomes, not inputs: a joint is
cross-sectioned when it is pulled or after it failed, so the cycle count of that cut
is its censoring or failure time, and the crack it shows is the failure itself. A
joint may have either modality, or both. Its outcome is ln(cycles to failure) with
an event flag (False: censored, the life only exceeds that time).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..ingest.dataset import Dataset

# the joint's physical size reaches the model here: encoder crops show every joint at its own scale
XRAY_FEATURES = ("void_fraction", "largest_void_fraction", "void_count", "void_mean_diameter_um",
                 "void_max_diameter_um", "edge_void_fraction", "void_centroid_offset_um", "joint_area_um2",
                 "joint_solidity", "joint_length_um", "joint_width_um")
MICROGRAPH_FEATURES = ("crack_fraction", "crack_length_um", "wetted_width_um", "sectioned_void_count")
# heavy-tailed, non-negative sizes and counts: compared on a log scale
LOG_FEATURES = {"void_count", "void_mean_diameter_um", "void_max_diameter_um", "void_centroid_offset_um",
                "joint_area_um2", "joint_length_um", "joint_width_um", "crack_length_um", "wetted_width_um",
                "sectioned_void_count"}
MIN_CYCLES = 1.0  # a failure "at 0 cycles" (first reading already failed) is taken as 1 cycle


def _one_per_joint(images: pd.DataFrame, modality: str, latest: bool, max_cycles: float) -> pd.DataFrame:
    rows = images[(images["modality"] == modality) & (images["cycles"] <= max_cycles)]
    rows = rows.sort_values(["joint_id", "cycles", "image_id"])
    return rows.drop_duplicates("joint_id", keep="last" if latest else "first").set_index("joint_id")


def joint_table(ds: Dataset, progress=None, input_max_cycles: float = 0) -> pd.DataFrame:
    """Per joint: ids, image references, features, and the outcome where labelled.

    Only images taken at or before ``input_max_cycles`` are inputs. A data set ingested
    with --no-measure is measured here from its crops.
    """
    from ..measure.export import measured_images

    images = measured_images(ds, progress)
    first = images.drop_duplicates("joint_id").set_index("joint_id")
    out = pd.DataFrame(index=pd.Index(sorted(first.index), name="joint_id"))
    out["board_id"] = first["board_id"].astype(object) if "board_id" in first else None
    out["component"] = first["component"].astype(object) if "component" in first else "unknown"
    xray = _one_per_joint(images, "xray", latest=False, max_cycles=input_max_cycles)
    micro = _one_per_joint(images, "micrograph", latest=True, max_cycles=input_max_cycles)
    out["xray_image_id"] = xray["image_id"].astype(object).reindex(out.index)
    out["micrograph_image_id"] = micro["image_id"].astype(object).reindex(out.index)
    for name in XRAY_FEATURES:
        out[name] = xray[name].astype(float).reindex(out.index) if name in xray else np.nan
    for name in MICROGRAPH_FEATURES:
        out[name] = micro[name].astype(float).reindex(out.index) if name in micro else np.nan
    labels = ds.labels.set_index("joint_id")
    time = labels["cycles_to_failure"].astype(float).reindex(out.index)
    out["labelled"] = time.notna() & np.isfinite(time)
    out["log_time"] = np.log(np.maximum(time, MIN_CYCLES))
    out["event"] = (~labels["censored"].astype(bool)).reindex(out.index).fillna(False).astype(bool)
    out["board_id"] = out["board_id"].where(out["board_id"].notna(), out.index.to_series())
    return out.reset_index()


@dataclass
class FeatureEncoder:
    """Turns the joint table's features into a standardised numeric matrix.

    Fitted on training joints only: medians fill a missing modality's features (with a
    has_xray / has_micrograph indicator beside them), log scales tame sizes and counts,
    components become one-hot columns (an unseen component gets none).
    """
    numeric: tuple[str, ...] = XRAY_FEATURES + MICROGRAPH_FEATURES
    medians: dict = field(default_factory=dict)
    means: dict = field(default_factory=dict)
    stds: dict = field(default_factory=dict)
    components: list = field(default_factory=list)

    def _raw(self, joints: pd.DataFrame) -> pd.DataFrame:
        raw = pd.DataFrame(index=joints.index)
        for name in self.numeric:
            values = joints[name].astype(float)
            raw[name] = np.log1p(values.clip(lower=0)) if name in LOG_FEATURES else values
        raw["has_xray"] = joints["xray_image_id"].notna().astype(float)
        raw["has_micrograph"] = joints["micrograph_image_id"].notna().astype(float)
        return raw

    def fit(self, joints: pd.DataFrame) -> "FeatureEncoder":
        raw = self._raw(joints)
        self.medians = {c: float(v) if np.isfinite(v) else 0.0 for c, v in raw.median().items()}
        filled = raw.fillna(self.medians)
        self.means = {c: float(v) for c, v in filled.mean().items()}
        self.stds = {c: float(v) if v > 1e-9 else 1.0 for c, v in filled.std(ddof=0).items()}
        self.components = sorted(joints["component"].dropna().astype(str).unique())
        return self

    @property
    def names(self) -> list[str]:
        return [*self.means] + [f"component={c}" for c in self.components]

    def transform(self, joints: pd.DataFrame) -> np.ndarray:
        raw = self._raw(joints).fillna(self.medians)
        numeric = (raw[list(self.means)] - pd.Series(self.means)) / pd.Series(self.stds)
        onehot = np.stack([(joints["component"].astype(str) == c).to_numpy(float) for c in self.components], axis=1) \
            if self.components else np.zeros((len(joints), 0))
        return np.concatenate([numeric.to_numpy(float), onehot], axis=1)

    def to_dict(self) -> dict:
        return {"numeric": list(self.numeric), "medians": self.medians, "means": self.means, "stds": self.stds,
                "components": self.components}

    @staticmethod
    def from_dict(d: dict) -> "FeatureEncoder":
        return FeatureEncoder(tuple(d["numeric"]), dict(d["medians"]), dict(d["means"]), dict(d["stds"]),
                              list(d["components"]))
