"""Several data sets as one (``mawis retrain --data A B ...``).

Crops and measurement regions are concatenated per modality, tables stacked. When two sources share an id
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
from .dataset import CROPS_FILE, DATASET_FILE, IMAGES_FILE, LABELS_FILE, REGIONS_FILE, REPORT_FILE, Dataset, load_dataset

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
    offsets = {(m, kind): 0 for m in MODALITIES for kind in (CROPS_FILE, REGIONS_FILE)}
    for name, ds in zip(names, datasets):
        table = ds.images.copy()
        table["source"] = table["source"] if "source" in table else ds.info.get("batch_fingerprint")
        for modality in MODALITIES:
            rows = table["modality"] == modality
            for kind, column in ((CROPS_FILE, "crop_index"), (REGIONS_FILE, "region_offset")):
                table.loc[rows, column] = table.loc[rows, column] + offsets[modality, kind]
                offsets[modality, kind] += len(_array(ds, kind, modality))
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
            for kind in (CROPS_FILE, REGIONS_FILE):
                _concat([_array(ds, kind, modality) for ds in datasets], tmp / kind.format(modality=modality))
        merged_images.to_parquet(tmp / IMAGES_FILE, index=False)
        merged_labels.to_parquet(tmp / LABELS_FILE, index=False)
        (tmp / DATASET_FILE).write_text(json.dumps(info, indent=1))
        (tmp / REPORT_FILE).write_text(json.dumps({"merged_from": info["merged_from"]}, indent=1))
    return Path(out)


def _check_compatible(datasets: list[Dataset]) -> None:
    first = datasets[0]
    for ds in datasets[1:]:
        for section in ("xray", "micrograph", "locate", "section", "voids", "cracks"):
            if ds.info["config"].get(section) != first.info["config"].get(section):
                raise MawisError(f"{ds.root}: its [{section}] settings differ from {first.root}'s; ingest both with "
                                 "the same --config")
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


def _array(ds: Dataset, kind: str, modality: str) -> np.ndarray:
    """A data set's crops or regions of one modality (an empty array when it has none)."""
    path = ds.root / kind.format(modality=modality)
    return np.load(path, mmap_mode="r", allow_pickle=False) if path.is_file() else np.zeros((0,), np.uint16)


def _concat(arrays: list[np.ndarray], path: Path) -> None:
    arrays = [a for a in arrays if len(a)] or [a for a in arrays if a.ndim > 1][:1] or arrays[:1]
    if not arrays:
        return
    shape = (sum(len(a) for a in arrays), *arrays[0].shape[1:])
    out = np.lib.format.open_memmap(path, mode="w+", dtype=arrays[0].dtype, shape=shape)
    start = 0
    for array in arrays:
        step = max(1, (1 << 24) // max(1, int(np.prod(array.shape[1:]))))
        for chunk in range(0, len(array), step):
            part = array[chunk:chunk + step]
            out[start:start + len(part)] = part
            start += len(part)
    out.flush()
    del out
