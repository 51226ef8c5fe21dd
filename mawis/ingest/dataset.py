"""An ingested data set on disk, and loading it back for the later stages.

Layout of ``DATASET_DIR``:

* ``images.parquet``: one row per usable image (ids, cycles, pixel sizes, board,
  component, machine, ROI, source format, label columns, ``crop_index``, ``site_reason``
  (why no joint was found in the image, "" when one was), the measurement columns, and
  the manifest's extra columns as they were);
* ``labels.parquet``: one row per labelled joint (cycles_to_failure, censored,
  label_source, the bracketing readings);
* ``crops_xray.npy`` / ``crops_micrograph.npy``: encoder crops, uint16, shape
  (n, height, width), memory-mappable; row ``crop_index`` of the table;
* ``regions_xray.npy`` / ``regions_micrograph.npy``: measurement regions (the joint and
  a margin on its measurement grid), uint16, all of them flat in one memory-mappable
  array; an image's region starts at ``region_offset`` and has shape
  (``region_rows``, ``region_cols``);
* ``dataset.json``: format version, configuration, batch fingerprint;
* ``ingest_report.json``: counts, quarantined images with reasons, label summary, timings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import MawisError
from ..imaging.align import Placement

IMAGES_FILE = "images.parquet"
LABELS_FILE = "labels.parquet"
CROPS_FILE = "crops_{modality}.npy"
REGIONS_FILE = "regions_{modality}.npy"
DATASET_VERSION = 2  # 2: measurement regions, joint-sized crops
DATASET_FILE = "dataset.json"
REPORT_FILE = "ingest_report.json"


@dataclass
class Dataset:
    root: Path
    images: pd.DataFrame
    labels: pd.DataFrame
    info: dict
    _regions: dict = field(default_factory=dict, repr=False)

    def crops(self, modality: str) -> np.ndarray:
        """Memory-mapped crops of one modality (uint16); index with ``images.crop_index``."""
        return np.load(self.root / CROPS_FILE.format(modality=modality), mmap_mode="r", allow_pickle=False)

    def region(self, row) -> np.ndarray:
        """The measurement region (uint16, on its measurement grid) of one image-table row."""
        flat = self._regions.get(row["modality"])
        if flat is None:
            flat = self._regions[row["modality"]] = np.load(
                self.root / REGIONS_FILE.format(modality=row["modality"]), mmap_mode="r", allow_pickle=False)
        start, rows, cols = int(row["region_offset"]), int(row["region_rows"]), int(row["region_cols"])
        return np.asarray(flat[start:start + rows * cols]).reshape(rows, cols)


def placements(row) -> tuple[Placement, Placement]:
    """Where an image-table row's measurement region and encoder crop lie in its ROI frame."""
    flip = str(row["region_flip"]) if isinstance(row["region_flip"], str) else ""
    return (Placement(float(row["region_x"]), float(row["region_y"]), float(row["region_step"]), flip),
            Placement(float(row["crop_x"]), float(row["crop_y"]), float(row["crop_step"]), flip))


def xray_stations(images: pd.DataFrame) -> list[str]:
    """The X-ray stations (``machine``) of an images table, sorted; [] when none is named."""
    if "machine" not in images:
        return []
    return sorted(images.loc[images["modality"] == "xray", "machine"].dropna().astype(str).unique().tolist())


def load_dataset(root: Path) -> Dataset:
    root = Path(root)
    info_path = root / DATASET_FILE
    if not info_path.is_file():
        raise MawisError(f"{root}: not a mawis data set (no {DATASET_FILE}); create one with `mawis ingest`")
    info = json.loads(info_path.read_text())
    if info.get("format") != "mawis-dataset":
        raise MawisError(f"{info_path}: not a mawis data set; create one with `mawis ingest`")
    if info.get("version") != DATASET_VERSION:
        raise MawisError(f"{info_path}: data set format version {info.get('version')!r}, this mawis reads version "
                         f"{DATASET_VERSION}; ingest the batch again with `mawis ingest`")
    return Dataset(root, pd.read_parquet(root / IMAGES_FILE), pd.read_parquet(root / LABELS_FILE), info)
