"""An ingested data set on disk, and loading it back for the later stages.

Layout of ``DATASET_DIR``:

* ``images.parquet``: one row per usable image (ids, cycles, pixel sizes, board,
  component, machine, ROI, source format, label columns, ``crop_index``, and the
  manifest's extra columns as they were);
* ``labels.parquet``: one row per labelled joint (cycles_to_failure, censored,
  label_source, the bracketing readings);
* ``crops_xray.npy`` / ``crops_micrograph.npy``: aligned crops, uint16, shape
  (n, height, width), memory-mappable; row ``crop_index`` of the table;
* ``dataset.json``: format version, configuration, batch fingerprint;
* ``ingest_report.json``: counts, quarantined images with reasons, label summary, timings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import MawisError

IMAGES_FILE = "images.parquet"
LABELS_FILE = "labels.parquet"
CROPS_FILE = "crops_{modality}.npy"
DATASET_FILE = "dataset.json"
REPORT_FILE = "ingest_report.json"


@dataclass
class Dataset:
    root: Path
    images: pd.DataFrame
    labels: pd.DataFrame
    info: dict

    def crops(self, modality: str) -> np.ndarray:
        """Memory-mapped crops of one modality (uint16); index with ``images.crop_index``."""
        return np.load(self.root / CROPS_FILE.format(modality=modality), mmap_mode="r", allow_pickle=False)


def load_dataset(root: Path) -> Dataset:
    root = Path(root)
    info_path = root / DATASET_FILE
    if not info_path.is_file():
        raise MawisError(f"{root}: not a mawis data set (no {DATASET_FILE}); create one with `mawis ingest`")
    info = json.loads(info_path.read_text())
    if info.get("format") != "mawis-dataset" or info.get("version") != 1:
        raise MawisError(f"{info_path}: unsupported data set format; re-run `mawis ingest` with this version")
    return Dataset(root, pd.read_parquet(root / IMAGES_FILE), pd.read_parquet(root / LABELS_FILE), info)
