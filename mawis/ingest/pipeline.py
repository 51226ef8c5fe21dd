"""``mawis ingest``: batch -> validated, aligned, labelled data set on disk.

Steps: read and check the CSV files (a structural problem stops here and nothing
is written); derive lifetime labels from the readings; read every image file once
(in worker processes, streaming), check it, and for each of its rows find the joint,
cut its measurement region and its encoder crop (:mod:`mawis.imaging.prepare`) and
measure it; write the crops and the regions into memory-mappable arrays and the rows
into a Parquet table. Bad images are quarantined with their reason, unless
``strict``. Everything is written into a temporary folder that replaces the output
only at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .. import __version__
from ..atomic import atomic_dir, check_writable_target
from ..batch.contract import (
    LIFETIMES, MANIFEST, MEASUREMENT_SIGNALS, MEASUREMENTS, MODALITIES, ROI_COLUMNS, Problem, csv_line, parse_roi, pixels_problem,
    read_tables, safe_relative_path,
)
from ..batch.images import ImageReadError, check_suffix, decode_image
from ..errors import MawisError
from ..imaging.align import CROP_DTYPE, ScaleError
from ..imaging.prepare import prepare_image
from ..measure.pipeline import empty_measurements, layer_columns, measure_region, measurement_frame
from ..parallel import process_pool
from .config import IngestConfig
from .dataset import CROPS_FILE, DATASET_FILE, DATASET_VERSION, IMAGES_FILE, LABELS_FILE, REGIONS_FILE, REPORT_FILE
from .labels import derive_labels

ProgressFn = Callable[[str, int, int], None]
CORE_COLUMNS = ("image_id", "joint_id", "modality", "path", "pixel_size_um", "cycles",
                "board_id", "component", "machine", *ROI_COLUMNS)


class BatchError(MawisError):
    """The batch cannot be ingested as a whole."""


@dataclass(frozen=True)
class IngestResult:
    dataset_dir: Path
    report: dict


# --- reading the tables -------------------------------------------------------------------------

def _structural_check(batch: Path) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    manifest, measurements, lifetimes, problems = read_tables(batch)
    if problems:
        raise BatchError(_one_line(batch, problems))
    return manifest, measurements, lifetimes


def _one_line(batch: Path, problems: list[Problem]) -> str:
    first = problems[0]
    where = first if Path(first.file).is_absolute() or first.file == str(batch) else Problem(
        str(batch / first.file), first.line, first.message)
    more = f" (and {len(problems) - 1} more problem(s); `mawis validate {batch}` lists all)" if len(problems) > 1 else ""
    return f"{where}{more}"


def _typed_measurements(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    if frame is None:
        return None
    typed = frame.copy()
    for col in ("cycles", *MEASUREMENT_SIGNALS):
        if col in typed.columns:
            typed[col] = pd.to_numeric(typed[col], errors="coerce")
    return typed


def _typed_lifetimes(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    if frame is None:
        return None
    typed = frame.copy()
    typed["cycles_to_failure"] = pd.to_numeric(typed["cycles_to_failure"])
    if "censored" in typed.columns:
        typed["censored"] = pd.to_numeric(typed["censored"].replace("", "0"))
    return typed


# --- images -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _FileTask:
    path: str                       # absolute, inside the batch
    rel_path: str
    rows: tuple[tuple[int, dict], ...]   # (manifest index, row cells)


def _file_tasks(batch: Path, manifest: pd.DataFrame) -> list[_FileTask]:
    groups: dict[str, list[tuple[int, dict]]] = {}
    for i in manifest.index:
        row = manifest.loc[i]
        target = safe_relative_path(batch, row["path"])
        groups.setdefault(str(target), []).append((int(i), row.to_dict()))
    return [_FileTask(path, rows[0][1]["path"], tuple(rows)) for path, rows in sorted(groups.items())]


FILES_PER_JOB = 8  # files per worker job: amortises inter-process overhead, keeps memory small


def _process_files(args: tuple[list[_FileTask], IngestConfig]) -> list[tuple[str, list[tuple]]]:
    files, config = args
    return [_process_file((task, config)) for task in files]


def _process_file(args: tuple[_FileTask, IngestConfig]) -> tuple[str, list[tuple]]:
    """Read one file; return its content hash and, per manifest row, (index, crop, reason, meta).

    Anything that goes wrong with one file becomes that file's quarantine reason;
    it never stops the batch.
    """
    task, config = args
    try:
        return _process_file_unsafe(task, config)
    except Exception as exc:  # a decoder or resampler failing on odd input
        reason = f"cannot process image {task.rel_path!r} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        return "", [(i, None, reason, None) for i, _ in task.rows]


def _process_file_unsafe(task: _FileTask, config: IngestConfig) -> tuple[str, list[tuple]]:
    def everyone(reason: str):
        return [(i, None, reason, None) for i, _ in task.rows]

    try:
        check_suffix(Path(task.rel_path))
        if not Path(task.path).is_file():
            return "", everyone(f"image file {task.rel_path!r} not found")
        data = Path(task.path).read_bytes()
    except ImageReadError as exc:
        return "", everyone(str(exc))
    except OSError as exc:
        return "", everyone(f"cannot read {task.rel_path!r} ({exc.strerror})")
    digest = hashlib.sha256(data).hexdigest()
    try:
        pixels = decode_image(data, Path(task.rel_path), config.max_image_pixels)
    except ImageReadError as exc:
        return digest, everyone(str(exc))
    return digest, [_align_row(i, cells, pixels, config) for i, cells in task.rows]


def _align_row(i: int, cells: dict, pixels: np.ndarray, config: IngestConfig) -> tuple:
    row = pd.Series(cells)
    reason = pixels_problem(pixels, row, config.min_side_px)
    if reason:
        return i, None, reason, None
    modality = cells["modality"]
    try:
        prepared = prepare_image(modality, pixels, parse_roi(row), float(cells["pixel_size_um"]),
                                 config.alignment(modality), config.locate, config.section)
    except ScaleError as exc:
        return i, None, f"{cells['path']}: {exc}", None
    region_at, crop_at = prepared.region_at, prepared.crop_at
    meta = {"source_height": pixels.shape[0], "source_width": pixels.shape[1],
            "source_bit_depth": 16 if pixels.dtype == np.uint16 else 8,
            "source_channels": 1 if pixels.ndim == 2 else 3,
            "joint_x": prepared.joint_box[0], "joint_y": prepared.joint_box[1],
            "joint_w": prepared.joint_box[2], "joint_h": prepared.joint_box[3],
            "region_x": region_at.x, "region_y": region_at.y, "region_step": region_at.step,
            "region_pixel_size_um": prepared.region_pixel_um, "region_flip": region_at.flip,
            "crop_x": crop_at.x, "crop_y": crop_at.y, "crop_step": crop_at.step,
            "crop_pixel_size_um": prepared.crop_pixel_um, "crop_padded_share": prepared.crop_padded_share,
            "site_reason": prepared.site_reason, **layer_columns(prepared.layers),
            "measurements": _measurements(modality, prepared, config)}
    return i, (prepared.crop, prepared.region), None, meta


def _measurements(modality: str, prepared, config: IngestConfig) -> dict:
    if not config.measure:
        return empty_measurements()
    return measure_region(modality, prepared.region, prepared.region_pixel_um, config.measure_settings(),
                          prepared.layers, prepared.location, prepared.site_reason)


class _RegionWriter:
    """Appends measurement regions (any size) to one flat uint16 .npy file; the table keeps
    each region's offset and shape. Plain sequential writes, header rewritten at the end."""

    def __init__(self, path: Path, capacity: int):
        self.path, self.count = path, 0
        self.handle = open(path, "wb")
        self.header = _npy_header((capacity,))
        self.handle.write(self.header)

    def append(self, region: np.ndarray) -> tuple[int, int, int]:
        offset = self.count
        self.handle.write(np.ascontiguousarray(region, dtype=CROP_DTYPE).tobytes())
        self.count += region.size
        return offset, region.shape[0], region.shape[1]

    def close(self) -> None:
        self.handle.seek(0)
        self.handle.write(_npy_header((self.count,), len(self.header)))
        self.handle.truncate(len(self.header) + self.count * np.dtype(CROP_DTYPE).itemsize)
        self.handle.close()


class _CropWriter:
    """Appends crops of one modality to a .npy file with plain sequential writes.

    Not a memory map: a written map keeps its dirty pages resident in this process, so its
    memory grew with the batch (3.7 GB for 100,000 images); file writes leave them to the
    kernel's cache. The header is written for the full capacity and rewritten, padded to
    the same length, with the final count at the end.
    """

    def __init__(self, path: Path, capacity: int, height: int, width: int):
        self.path, self.count, self.frame = path, 0, (height, width)
        self.handle = open(path, "wb")
        self.header = _npy_header((capacity, height, width))
        self.handle.write(self.header)

    def append(self, crop: np.ndarray) -> int:
        self.handle.write(np.ascontiguousarray(crop, dtype=CROP_DTYPE).tobytes())
        self.count += 1
        return self.count - 1

    def close(self) -> None:
        self.handle.seek(0)
        self.handle.write(_npy_header((self.count, *self.frame), len(self.header)))
        self.handle.truncate(len(self.header) + self.count * int(np.prod(self.frame)) * np.dtype(CROP_DTYPE).itemsize)
        self.handle.close()


def _npy_header(shape: tuple[int, ...], length: int | None = None) -> bytes:
    """A .npy (version 1.0) header for a C-ordered crop array, padded to ``length`` bytes."""
    text = "{'descr': %r, 'fortran_order': False, 'shape': %r, }" % (
        np.lib.format.dtype_to_descr(np.dtype(CROP_DTYPE)), tuple(shape))
    total = length or -(-(10 + len(text) + 1) // 64) * 64
    body = text + " " * (total - 10 - len(text) - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body.encode("latin1")


# --- the table ----------------------------------------------------------------------------------

def _images_table(manifest: pd.DataFrame, kept: dict[int, tuple[int, dict]], config: IngestConfig,
                  labels: pd.DataFrame) -> pd.DataFrame:
    rows = manifest.loc[sorted(kept)]
    table = pd.DataFrame({
        "image_id": rows["image_id"].astype("string"),
        "joint_id": rows["joint_id"].astype("string"),
        "modality": rows["modality"].astype("string"),
        "cycles": pd.to_numeric(rows["cycles"]).astype("int64"),
        "path": rows["path"].astype("string"),
        "source_pixel_size_um": pd.to_numeric(rows["pixel_size_um"]).astype("float64"),
    })
    for col in ("board_id", "component", "machine"):
        values = rows[col] if col in rows.columns else pd.Series("", index=rows.index)
        table[col] = values.replace("", pd.NA).astype("string")
    for col in ROI_COLUMNS:
        values = rows[col] if col in rows.columns else pd.Series("", index=rows.index)
        table[f"roi_{col}"] = pd.to_numeric(values.replace("", pd.NA)).astype("Int64")
    metas = [dict(kept[i][1]) for i in rows.index]
    measured = measurement_frame([m.pop("measurements") for m in metas], rows.index)
    meta = pd.DataFrame(metas, index=rows.index)
    for col in meta.columns:
        kind = ("int64" if col.startswith("source_") else "string" if col in ("region_flip", "site_reason")
                else "float64")
        table[col] = meta[col].astype(kind)
    for col in measured.columns:
        table[col] = measured[col]
    table["crop_index"] = [kept[i][0] for i in rows.index]
    table["region_offset"] = [kept[i][2][0] for i in rows.index]
    table["region_rows"] = [kept[i][2][1] for i in rows.index]
    table["region_cols"] = [kept[i][2][2] for i in rows.index]
    table["line"] = [csv_line(i) for i in rows.index]
    labelled = table[["joint_id"]].merge(labels, on="joint_id", how="left").set_index(table.index)
    table["cycles_to_failure"] = labelled["cycles_to_failure"].astype("float64")
    table["censored"] = labelled["censored"].astype("boolean")
    table["label_source"] = labelled["label_source"].astype("string")
    for col in [c for c in manifest.columns if c not in CORE_COLUMNS]:
        name = col
        while name in table.columns:  # an extra column never replaces one of ours
            name = f"extra_{name}"
        table[name] = rows[col].astype("string")
    return table.sort_values(["modality", "crop_index"], kind="stable").reset_index(drop=True)


def _label_summary(labels: pd.DataFrame, manifest_joints: set[str]) -> dict:
    failed = labels[~labels["censored"]]
    return {
        "joints_labelled": int(len(labels)),
        "failed": int(len(failed)),
        "censored": int(labels["censored"].sum()),
        "from_measurements": int((labels["label_source"] == "measurements").sum()),
        "from_lifetimes": int((labels["label_source"] == "lifetimes").sum()),
        "median_cycles_to_failure_of_failed": float(failed["cycles_to_failure"].median()) if len(failed) else None,
        "labelled_joints_without_images": int(len(set(labels["joint_id"]) - manifest_joints)),
    }


def _fingerprint(batch: Path, digests: list[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for name in (MANIFEST, MEASUREMENTS, LIFETIMES):
        if (batch / name).is_file():
            h.update(name.encode())
            h.update((batch / name).read_bytes())
    for rel, digest in sorted(digests):
        h.update(f"{rel}\0{digest}\n".encode())
    return h.hexdigest()


# --- orchestration ------------------------------------------------------------------------------

def ingest_batch(batch: Path, out: Path, config: IngestConfig = IngestConfig(), *, overwrite: bool = False,
                 progress: ProgressFn | None = None) -> IngestResult:
    """Ingest ``batch`` into the data set folder ``out``; see the module docstring."""
    started = time.perf_counter()
    batch, out = Path(batch), Path(out)
    config.validate()
    manifest, measurements, lifetimes = _structural_check(batch)
    if out.resolve().is_relative_to(batch.resolve()) or batch.resolve().is_relative_to(out.resolve()):
        raise BatchError(f"--out {out} and the batch {batch} overlap; write the data set to a separate folder")
    check_writable_target(out, overwrite, marker=DATASET_FILE)
    labels = derive_labels(_typed_measurements(measurements), _typed_lifetimes(lifetimes), config.thresholds)
    tasks = _file_tasks(batch, manifest)
    report_progress = progress or (lambda stage, done, total: None)
    workers = config.workers or os.cpu_count() or 1
    with atomic_dir(out, overwrite, marker=DATASET_FILE) as tmp:
        writers = {
            m: _CropWriter(tmp / CROPS_FILE.format(modality=m), int((manifest["modality"] == m).sum()),
                           config.alignment(m).crop_height, config.alignment(m).crop_width)
            for m in MODALITIES
        }
        # the region count is unknown until the end: a 20-digit capacity leaves room in the header
        region_writers = {m: _RegionWriter(tmp / REGIONS_FILE.format(modality=m), 10**19) for m in MODALITIES}
        kept, quarantined, digests = {}, [], []
        with process_pool(workers) as pool:
            chunks = [tasks[k:k + FILES_PER_JOB] for k in range(0, len(tasks), FILES_PER_JOB)]
            outputs = pool.imap(_process_files, ((chunk, config) for chunk in chunks), window=4 * workers)
            report_progress("images", 0, len(manifest))
            done = 0
            for task, (digest, results) in zip(tasks, (out for chunk_out in outputs for out in chunk_out)):
                digests.append((task.rel_path, digest))
                for i, crop, reason, meta in results:
                    if crop is None:
                        if config.strict:
                            raise BatchError(f"{batch / MANIFEST}:{csv_line(i)}: {reason} (--strict refuses a batch "
                                             "with a bad image; without it the image is quarantined)")
                        quarantined.append({"image_id": manifest.at[i, "image_id"],
                                            "joint_id": manifest.at[i, "joint_id"],
                                            **{c: manifest.at[i, c] for c in ("board_id", "component")
                                               if c in manifest.columns},
                                            "path": manifest.at[i, "path"],
                                            "line": csv_line(i), "reason": reason})
                    else:
                        modality = manifest.at[i, "modality"]
                        kept[i] = (writers[modality].append(crop[0]), meta, region_writers[modality].append(crop[1]))
                done += len(results)
                report_progress("images", done, len(manifest))
        for writer in (*writers.values(), *region_writers.values()):
            writer.close()
        if not kept:
            q = quarantined[0]
            raise BatchError(f"{batch / MANIFEST}: no usable image; first problem at line {q['line']}: {q['reason']}")
        table = _images_table(manifest, kept, config, labels)
        table.to_parquet(tmp / IMAGES_FILE, index=False)
        labels.to_parquet(tmp / LABELS_FILE, index=False)
        fingerprint = _fingerprint(batch, digests)
        seconds = time.perf_counter() - started
        report = _report(batch, table, quarantined, labels, set(manifest["joint_id"]), fingerprint, seconds, workers)
        (tmp / DATASET_FILE).write_text(json.dumps({
            "format": "mawis-dataset", "version": DATASET_VERSION, "mawis_version": __version__,
            "batch_fingerprint": fingerprint, "config": config.to_dict(),
            "crops": {m: CROPS_FILE.format(modality=m) for m in MODALITIES},
            "regions": {m: REGIONS_FILE.format(modality=m) for m in MODALITIES},
        }, indent=2))
        (tmp / REPORT_FILE).write_text(json.dumps(report, indent=2))
    return IngestResult(out, report)


def _report(batch, table, quarantined, labels, manifest_joints, fingerprint, seconds, workers) -> dict:
    n_images = len(table) + len(quarantined)
    by = table.groupby(["modality", table["machine"].fillna("unknown")]).size()
    return {
        "batch": str(batch),
        "batch_fingerprint": fingerprint,
        "images_in_manifest": n_images,
        "images_ingested": int(len(table)),
        "by_modality_and_machine": {f"{m}/{k}": int(v) for (m, k), v in by.items()},
        "joints": int(table["joint_id"].nunique()),
        "boards": int(table["board_id"].nunique()),
        "quarantined": quarantined,
        "labels": _label_summary(labels, manifest_joints),
        "timings": {"seconds": round(seconds, 3), "images_per_second": round(n_images / max(seconds, 1e-9), 1),
                    "workers": workers},
    }


def dataset_folder(source: Path, scratch: Path, workers: int = 0, progress: ProgressFn | None = None) \
        -> tuple[Path, bool]:
    """A data set folder for ``source``: itself, or ``scratch`` after ingesting the batch there
    (True when it was ingested). Commands that accept either go through here."""
    source = Path(source)
    if (source / DATASET_FILE).is_file():
        return source, False
    if (source / MANIFEST).is_file():
        return ingest_batch(source, scratch, IngestConfig(workers=workers), progress=progress).dataset_dir, True
    raise MawisError(f"{source}: neither a batch (no {MANIFEST}) nor a data set (no {DATASET_FILE})")
