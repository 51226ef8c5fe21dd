"""Several data sets as one (``mawis retrain --data A B ...``).

Crops are concatenated per modality, tables stacked. When two sources share an id
(two simulated campaigns both number their joints from J000001), every joint, board
and image id is prefixed with its source's name, so joints and boards stay distinct.
Each image row keeps the fingerprint of the batch it came from (``source``), which
tells later stages which joints an earlier model has already seen.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..atomic import atomic_dir
from ..errors import MawisError
from .dataset import CROPS_FILE, DATASET_FILE, IMAGES_FILE, LABELS_FILE, REPORT_FILE, Dataset, load_dataset

MODALITIES = ("xray", "micrograph")
ID_COLUMNS = ("image_id", "joint_id", "board_id")


def source_fingerprints(ds: Dataset) -> list[str]:
    """The batches a data set was built from (one, or several for a merged set)."""
    return list(ds.info.get("sources") or [ds.info.get("batch_fingerprint")])


def merge_datasets(sources: list[Path], out: Path, *, overwrite: bool = False, progress=None) -> Path:
    datasets = [load_dataset(s) for s in sources]
    _check_compatible(datasets)
    prefix = _needs_prefix(datasets)
    names = _source_names(sources)
    images, labels = [], []
    offsets = {m: 0 for m in MODALITIES}
    for name, ds in zip(names, datasets):
        table = ds.images.copy()
        table["source"] = table["source"] if "source" in table else ds.info.get("batch_fingerprint")
        for modality in MODALITIES:
            rows = table["modality"] == modality
            table.loc[rows, "crop_index"] = table.loc[rows, "crop_index"] + offsets[modality]
            offsets[modality] += len(ds.crops(modality)) if (ds.root / CROPS_FILE.format(modality=modality)).is_file() \
                else 0
        lab = ds.labels.copy()
        if prefix:
            for col in ID_COLUMNS:
                table[col] = (name + ":") + table[col].astype(str)
            lab["joint_id"] = (name + ":") + lab["joint_id"].astype(str)
        images.append(table)
        labels.append(lab)
    merged_images = pd.concat(images, ignore_index=True)
    if merged_images["image_id"].duplicated().any():
        raise MawisError(f"image {merged_images['image_id'][merged_images['image_id'].duplicated()].iloc[0]} "
                         "appears in two sources; pass each data set or batch once")
    merged_labels = pd.concat(labels, ignore_index=True)
    if merged_labels["joint_id"].duplicated().any():
        raise MawisError(f"joint {merged_labels['joint_id'][merged_labels['joint_id'].duplicated()].iloc[0]} is "
                         "labelled twice; pass each data set or batch once")
    fingerprints = [f for ds in datasets for f in source_fingerprints(ds)]
    info = {**datasets[0].info, "mawis_version": __version__, "sources": fingerprints,
            "batch_fingerprint": hashlib.sha256("\n".join(sorted(fingerprints)).encode()).hexdigest(),
            "merged_from": [str(Path(s).absolute()) for s in sources]}
    with atomic_dir(Path(out), overwrite=overwrite, marker=DATASET_FILE) as tmp:
        for modality in MODALITIES:
            _concat_crops([ds for ds in datasets], modality, tmp / CROPS_FILE.format(modality=modality))
        merged_images.to_parquet(tmp / IMAGES_FILE, index=False)
        merged_labels.to_parquet(tmp / LABELS_FILE, index=False)
        (tmp / DATASET_FILE).write_text(json.dumps(info, indent=1))
        (tmp / REPORT_FILE).write_text(json.dumps({"merged_from": info["merged_from"]}, indent=1))
    return Path(out)


def _check_compatible(datasets: list[Dataset]) -> None:
    first = datasets[0]
    for ds in datasets[1:]:
        for modality in MODALITIES:
            if ds.info["config"][modality] != first.info["config"][modality]:
                raise MawisError(f"{ds.root}: its {modality} crops were aligned with other settings than "
                                 f"{first.root}'s; ingest both with the same --config")
    seen: dict[str, Path] = {}
    for ds in datasets:
        for fingerprint in source_fingerprints(ds):
            if fingerprint in seen:
                raise MawisError(f"{ds.root} and {seen[fingerprint]} hold the same batch; pass it once")
            seen[fingerprint] = ds.root


def _needs_prefix(datasets: list[Dataset]) -> bool:
    for col in ID_COLUMNS:
        ids = pd.concat([ds.images[col].drop_duplicates() for ds in datasets])
        if ids.duplicated().any():
            return True
    # a joint labelled in one source may have its images in another
    joints = pd.concat([pd.concat([ds.images["joint_id"], ds.labels["joint_id"]]).drop_duplicates() for ds in datasets])
    return bool(joints.duplicated().any())


def _source_names(sources: list[Path]) -> list[str]:
    names = []
    for i, source in enumerate(sources):
        name = Path(source).absolute().name or f"s{i + 1}"
        names.append(name if name not in names else f"{name}-{i + 1}")
    return names


def _concat_crops(datasets: list[Dataset], modality: str, path: Path) -> None:
    arrays = [ds.crops(modality) for ds in datasets if (ds.root / CROPS_FILE.format(modality=modality)).is_file()]
    if not arrays:
        return
    shape = (sum(len(a) for a in arrays), *arrays[0].shape[1:])
    out = np.lib.format.open_memmap(path, mode="w+", dtype=arrays[0].dtype, shape=shape)
    start = 0
    for array in arrays:
        for chunk in range(0, len(array), 4096):
            part = array[chunk:chunk + 4096]
            out[start:start + len(part)] = part
            start += len(part)
    out.flush()
    del out
