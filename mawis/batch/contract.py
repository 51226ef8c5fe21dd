"""The inspection batch format, contract v1 (see docs/batch-format in the shared docs).

This module knows the columns and rules of the contract and checks a batch
against them. It reports every problem with the file, the row (as numbered in the
CSV file, header = line 1) and the reason; it never changes the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from .images import ImageReadError, read_image

CONTRACT_VERSION = 1
MANIFEST = "manifest.csv"
MEASUREMENTS = "measurements.csv"
LIFETIMES = "lifetimes.csv"

MANIFEST_REQUIRED = ("image_id", "joint_id", "modality", "path", "pixel_size_um", "cycles")
MANIFEST_OPTIONAL = ("board_id", "component", "machine")
ROI_COLUMNS = ("x", "y", "w", "h")
MODALITIES = ("xray", "micrograph")
MEASUREMENT_REQUIRED = ("joint_id", "cycles")
MEASUREMENT_SIGNALS = ("crack_fraction", "rth_increase_pct")
LIFETIME_REQUIRED = ("joint_id", "cycles_to_failure")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None      # CSV line number (header = 1); None = the whole file
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


def _line(index: int) -> int:
    return int(index) + 2  # header is line 1


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)


def _missing_columns(frame: pd.DataFrame, required, name: str) -> list[Problem]:
    missing = [c for c in required if c not in frame.columns]
    return [Problem(name, 1, f"missing required column(s): {', '.join(missing)}")] if missing else []


def _numbers(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series.str.strip(), errors="coerce")


def safe_relative_path(batch: Path, raw: str) -> Path | None:
    """The file a manifest path names, or None if it would leave the batch folder."""
    text = raw.strip().replace("\\", "/")
    rel = PurePosixPath(text)
    if not text or rel.is_absolute() or ".." in rel.parts or (len(text) > 1 and text[1] == ":"):
        return None
    target = (batch / rel).resolve()
    return target if target.is_relative_to(batch.resolve()) else None


def check_manifest(batch: Path, manifest: pd.DataFrame, *, read_images: bool = True) -> list[Problem]:
    problems = _missing_columns(manifest, MANIFEST_REQUIRED, MANIFEST)
    if problems:
        return problems
    name = MANIFEST
    for col in ("image_id", "joint_id", "modality", "path"):
        for i in manifest.index[manifest[col].str.strip() == ""]:
            problems.append(Problem(name, _line(i), f"empty {col}"))
    dup = manifest["image_id"].duplicated(keep="first") & (manifest["image_id"] != "")
    for i in manifest.index[dup]:
        problems.append(Problem(name, _line(i), f"duplicate image_id {manifest.at[i, 'image_id']!r}"))
    for i in manifest.index[~manifest["modality"].isin(MODALITIES)]:
        problems.append(Problem(name, _line(i), f"unknown modality {manifest.at[i, 'modality']!r}; use xray or micrograph"))
    pixel = _numbers(manifest["pixel_size_um"])
    for i in manifest.index[~(pixel > 0) | ~np.isfinite(pixel)]:
        problems.append(Problem(name, _line(i), f"pixel_size_um must be a number > 0, got {manifest.at[i, 'pixel_size_um']!r}"))
    cycles = _numbers(manifest["cycles"])
    bad_cycles = ~(cycles >= 0) | (cycles != np.floor(cycles))
    for i in manifest.index[bad_cycles]:
        problems.append(Problem(name, _line(i), f"cycles must be an integer >= 0, got {manifest.at[i, 'cycles']!r}"))
    problems += _check_files(batch, manifest, read_images)
    return problems


def _roi(manifest: pd.DataFrame, i) -> tuple[int, int, int, int] | None | str:
    if not all(c in manifest.columns for c in ROI_COLUMNS):
        return None
    cells = [manifest.at[i, c].strip() for c in ROI_COLUMNS]
    if all(c == "" for c in cells):
        return None
    try:
        values = [float(c) for c in cells]
    except ValueError:
        return "ROI x,y,w,h must be four integers or four empty cells"
    if any(v != int(v) for v in values) or values[0] < 0 or values[1] < 0 or values[2] <= 0 or values[3] <= 0:
        return "ROI x,y must be integers >= 0 and w,h integers > 0"
    return tuple(int(v) for v in values)


def _check_files(batch: Path, manifest: pd.DataFrame, read_images: bool) -> list[Problem]:
    problems = []
    shapes: dict[Path, tuple[int, int]] = {}
    for i in manifest.index:
        raw = manifest.at[i, "path"]
        if not raw.strip():
            continue
        target = safe_relative_path(batch, raw)
        if target is None:
            problems.append(Problem(MANIFEST, _line(i), f"path {raw!r} leaves the batch folder; use a path relative to it"))
            continue
        roi = _roi(manifest, i)
        if isinstance(roi, str):
            problems.append(Problem(MANIFEST, _line(i), roi))
            continue
        if not target.is_file():
            problems.append(Problem(MANIFEST, _line(i), f"image file {raw!r} not found"))
            continue
        if not read_images:
            continue
        if target not in shapes:
            try:
                shapes[target] = read_image(target).shape[:2]
            except ImageReadError as exc:
                problems.append(Problem(MANIFEST, _line(i), f"image {raw!r} unreadable: {exc}"))
                shapes[target] = (0, 0)
                continue
        height, width = shapes[target]
        if roi is not None and height and (roi[0] + roi[2] > width or roi[1] + roi[3] > height):
            problems.append(Problem(MANIFEST, _line(i), f"ROI {roi} lies outside the {width}x{height} image {raw!r}"))
    return problems


def check_measurements(frame: pd.DataFrame) -> list[Problem]:
    name = MEASUREMENTS
    problems = _missing_columns(frame, MEASUREMENT_REQUIRED, name)
    signals = [c for c in MEASUREMENT_SIGNALS if c in frame.columns]
    if not signals:
        problems.append(Problem(name, 1, "needs a crack_fraction or rth_increase_pct column"))
    if problems:
        return problems
    cycles = _numbers(frame["cycles"])
    for i in frame.index[~(cycles >= 0)]:
        problems.append(Problem(name, _line(i), f"cycles must be a number >= 0, got {frame.at[i, 'cycles']!r}"))
    for col in signals:
        values = _numbers(frame[col])
        empty = frame[col].str.strip() == ""
        for i in frame.index[~empty & ~np.isfinite(values)]:
            problems.append(Problem(name, _line(i), f"{col} must be a finite number, got {frame.at[i, col]!r}"))
    if "crack_fraction" in signals:
        values = _numbers(frame["crack_fraction"])
        for i in frame.index[(values < 0) | (values > 1)]:
            problems.append(Problem(name, _line(i), f"crack_fraction must lie in 0..1, got {frame.at[i, 'crack_fraction']!r}"))
    return problems


def check_lifetimes(frame: pd.DataFrame) -> list[Problem]:
    name = LIFETIMES
    problems = _missing_columns(frame, LIFETIME_REQUIRED, name)
    if problems:
        return problems
    values = _numbers(frame["cycles_to_failure"])
    for i in frame.index[~(values >= 0) | ~np.isfinite(values)]:
        problems.append(Problem(name, _line(i), f"cycles_to_failure must be a number >= 0, got {frame.at[i, 'cycles_to_failure']!r}"))
    if "censored" in frame.columns:
        for i in frame.index[~frame["censored"].str.strip().isin(["", "0", "1"])]:
            problems.append(Problem(name, _line(i), f"censored must be 0 or 1, got {frame.at[i, 'censored']!r}"))
    return problems


def validate_batch(batch: Path, *, read_images: bool = True) -> list[Problem]:
    """Every way ``batch`` departs from contract v1; an empty list means it conforms."""
    batch = Path(batch)
    if not (batch / MANIFEST).is_file():
        return [Problem(str(batch), None, f"no {MANIFEST}; a batch folder must contain one")]
    problems = check_manifest(batch, _read_csv(batch / MANIFEST), read_images=read_images)
    if (batch / MEASUREMENTS).is_file():
        problems += check_measurements(_read_csv(batch / MEASUREMENTS))
    if (batch / LIFETIMES).is_file():
        problems += check_lifetimes(_read_csv(batch / LIFETIMES))
    return problems
