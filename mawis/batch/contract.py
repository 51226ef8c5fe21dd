"""The inspection batch format, contract v1 (see docs/batch-format in the shared docs).

This module knows the columns and rules of the contract and checks a batch
against them. Every problem names the file, the row (as numbered in the CSV file,
header = line 1) and the reason; nothing here changes the batch.

Problems come in two kinds. *Structural* problems (a missing column, a duplicate
image_id, a path leaving the batch folder, ...) make the batch unusable as a whole.
*Image* problems (a missing, unreadable or too-small file, an ROI outside its
image) concern one row; ingestion sets such rows aside and goes on.
"""

from __future__ import annotations

import csv
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


class CsvError(Exception):
    """A CSV file that cannot be parsed at all."""


def csv_line(index: int) -> int:
    return int(index) + 2  # header is line 1


def read_csv(path: Path) -> pd.DataFrame:
    """All cells as stripped strings; raises :class:`CsvError` with a one-line reason."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise CsvError("not UTF-8 text; save it as UTF-8 CSV") from None
    except pd.errors.EmptyDataError:
        raise CsvError("empty file; it needs a header line") from None
    except pd.errors.ParserError as exc:
        raise CsvError(f"not a valid CSV file ({str(exc).splitlines()[0]})") from None
    header = _header(path)
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise CsvError(f"column {repeated[0]!r} appears more than once in the header; keep one")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.apply(lambda col: col.str.strip())


def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return [name.strip() for name in next(csv.reader(handle), [])]


def _missing_columns(frame: pd.DataFrame, required, name: str) -> list[Problem]:
    missing = [c for c in required if c not in frame.columns]
    if missing and len(frame.columns) == 1 and ";" in frame.columns[0]:
        return [Problem(name, 1, "columns are separated by ';'; the contract uses commas")]
    return [Problem(name, 1, f"missing required column(s): {', '.join(missing)}")] if missing else []


def _numbers(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def safe_relative_path(batch: Path, raw: str) -> Path | None:
    """The file a manifest path names, or None if it would leave the batch folder.

    Absolute paths, drive letters, ``..`` and symbolic links that point outside the
    batch are all refused.
    """
    text = raw.strip().replace("\\", "/")
    rel = PurePosixPath(text)
    if not text or rel.is_absolute() or ".." in rel.parts or (len(text) > 1 and text[1] == ":"):
        return None
    target = (batch / rel).resolve()
    return target if target.is_relative_to(batch.resolve()) else None


def parse_roi(row: pd.Series) -> tuple[int, int, int, int] | None | str:
    """ROI (x, y, w, h), None for the whole image, or a message saying what is wrong."""
    if not all(c in row.index for c in ROI_COLUMNS):
        return None
    cells = [row[c] for c in ROI_COLUMNS]
    if all(c == "" for c in cells):
        return None
    try:
        values = [float(c) for c in cells]
    except ValueError:
        return "ROI x,y,w,h must be four integers or four empty cells"
    if any(not np.isfinite(v) or v != int(v) for v in values) or min(values[:2]) < 0 or min(values[2:]) <= 0:
        return "ROI x,y must be integers >= 0 and w,h integers > 0"
    return tuple(int(v) for v in values)


def cut_roi(pixels: np.ndarray, roi: tuple[int, int, int, int] | None) -> np.ndarray:
    """The ROI's pixels (the whole image when ``roi`` is None)."""
    if roi is None:
        return pixels
    x, y, w, h = roi
    return pixels[y:y + h, x:x + w]


def manifest_problems(batch: Path, manifest: pd.DataFrame) -> list[Problem]:
    """Structural problems of the manifest (no image is opened)."""
    problems = _missing_columns(manifest, MANIFEST_REQUIRED, MANIFEST)
    if problems:
        return problems
    if manifest.empty:
        return [Problem(MANIFEST, None, "has no rows; a batch needs at least one image")]
    name = MANIFEST
    for col in ("image_id", "joint_id", "modality", "path"):
        for i in manifest.index[manifest[col] == ""]:
            problems.append(Problem(name, csv_line(i), f"empty {col}"))
    dup = manifest["image_id"].duplicated(keep="first") & (manifest["image_id"] != "")
    for i in manifest.index[dup]:
        problems.append(Problem(name, csv_line(i), f"duplicate image_id {manifest.at[i, 'image_id']!r}; ids must be unique"))
    for i in manifest.index[~manifest["modality"].isin(MODALITIES) & (manifest["modality"] != "")]:
        problems.append(Problem(name, csv_line(i), f"unknown modality {manifest.at[i, 'modality']!r}; use xray or micrograph"))
    pixel = _numbers(manifest["pixel_size_um"])
    for i in manifest.index[~((pixel > 0) & np.isfinite(pixel))]:
        problems.append(Problem(name, csv_line(i), f"pixel_size_um must be a number > 0, got {manifest.at[i, 'pixel_size_um']!r}"))
    cycles = _numbers(manifest["cycles"])
    for i in manifest.index[~((cycles >= 0) & (cycles == np.floor(cycles)) & np.isfinite(cycles))]:
        problems.append(Problem(name, csv_line(i), f"cycles must be an integer >= 0, got {manifest.at[i, 'cycles']!r}"))
    for i in manifest.index:
        raw = manifest.at[i, "path"]
        if raw and safe_relative_path(batch, raw) is None:
            problems.append(Problem(name, csv_line(i), f"path {raw!r} leaves the batch folder; use a path inside it"))
        roi = parse_roi(manifest.loc[i])
        if isinstance(roi, str):
            problems.append(Problem(name, csv_line(i), roi))
    return problems


def measurement_problems(frame: pd.DataFrame) -> list[Problem]:
    name = MEASUREMENTS
    problems = _missing_columns(frame, MEASUREMENT_REQUIRED, name)
    signals = [c for c in MEASUREMENT_SIGNALS if c in frame.columns]
    if not signals and not problems:
        problems.append(Problem(name, 1, "needs a crack_fraction or rth_increase_pct column"))
    if problems:
        return problems
    for i in frame.index[frame["joint_id"] == ""]:
        problems.append(Problem(name, csv_line(i), "empty joint_id"))
    cycles = _numbers(frame["cycles"])
    for i in frame.index[~((cycles >= 0) & np.isfinite(cycles))]:
        problems.append(Problem(name, csv_line(i), f"cycles must be a number >= 0, got {frame.at[i, 'cycles']!r}"))
    for col in signals:
        values = _numbers(frame[col])
        for i in frame.index[(frame[col] != "") & ~np.isfinite(values)]:
            problems.append(Problem(name, csv_line(i), f"{col} must be a finite number or empty, got {frame.at[i, col]!r}"))
    if "crack_fraction" in signals:
        values = _numbers(frame["crack_fraction"])
        for i in frame.index[(values < 0) | (values > 1)]:
            problems.append(Problem(name, csv_line(i), f"crack_fraction must lie in 0..1, got {frame.at[i, 'crack_fraction']!r}"))
    empty = np.logical_and.reduce([frame[c] == "" for c in signals])
    for i in frame.index[empty]:
        problems.append(Problem(name, csv_line(i), f"no reading: fill {' or '.join(signals)}"))
    return problems


def lifetime_problems(frame: pd.DataFrame) -> list[Problem]:
    name = LIFETIMES
    problems = _missing_columns(frame, LIFETIME_REQUIRED, name)
    if problems:
        return problems
    for i in frame.index[frame["joint_id"] == ""]:
        problems.append(Problem(name, csv_line(i), "empty joint_id"))
    for i in frame.index[frame["joint_id"].duplicated(keep="first") & (frame["joint_id"] != "")]:
        problems.append(Problem(name, csv_line(i), f"joint_id {frame.at[i, 'joint_id']!r} is listed twice"))
    values = _numbers(frame["cycles_to_failure"])
    for i in frame.index[~((values >= 0) & np.isfinite(values))]:
        problems.append(Problem(name, csv_line(i), f"cycles_to_failure must be a number >= 0, got {frame.at[i, 'cycles_to_failure']!r}"))
    if "censored" in frame.columns:
        for i in frame.index[~frame["censored"].isin(["", "0", "1"])]:
            problems.append(Problem(name, csv_line(i), f"censored must be 0 or 1 (or empty), got {frame.at[i, 'censored']!r}"))
    return problems


def image_problem(batch: Path, row: pd.Series, min_side_px: int = 8) -> str | None:
    """Why one manifest row's image cannot be used, or None if it can."""
    target = safe_relative_path(batch, row["path"])
    if target is None:
        return "path leaves the batch folder"
    if not target.is_file():
        return f"image file {row['path']!r} not found"
    try:
        pixels = read_image(target)
    except ImageReadError as exc:
        return str(exc).split(": ", 1)[-1] + f" ({row['path']})"
    return pixels_problem(pixels, row, min_side_px)


def pixels_problem(pixels: np.ndarray, row: pd.Series, min_side_px: int = 8) -> str | None:
    height, width = pixels.shape[:2]
    roi = parse_roi(row)
    if isinstance(roi, tuple):
        x, y, w, h = roi
        if x + w > width or y + h > height:
            return f"ROI {roi} lies outside the {width}x{height} image {row['path']!r}"
        height, width = h, w
    if min(height, width) < min_side_px:
        return f"image {row['path']!r} is only {width}x{height} px; at least {min_side_px}x{min_side_px} is needed"
    return None


def _read_optional(batch: Path, name: str, checker) -> tuple[pd.DataFrame | None, list[Problem]]:
    path = batch / name
    if not path.is_file():
        return None, []
    try:
        frame = read_csv(path)
    except CsvError as exc:
        return None, [Problem(name, None, str(exc))]
    return frame, checker(frame)


def read_tables(batch: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None, pd.DataFrame | None, list[Problem]]:
    """The three CSV files as string tables, and their structural problems."""
    batch = Path(batch)
    if not batch.is_dir():
        return None, None, None, [Problem(str(batch), None, "not a folder; give the batch folder")]
    if not (batch / MANIFEST).is_file():
        return None, None, None, [Problem(str(batch), None, f"no {MANIFEST}; a batch folder must contain one")]
    manifest, problems = _read_optional(batch, MANIFEST, lambda frame: manifest_problems(batch, frame))
    measurements, more = _read_optional(batch, MEASUREMENTS, measurement_problems)
    lifetimes, most = _read_optional(batch, LIFETIMES, lifetime_problems)
    return manifest, measurements, lifetimes, problems + more + most


def validate_batch(batch: Path, *, read_images: bool = True) -> list[Problem]:
    """Every way ``batch`` departs from contract v1; an empty list means it conforms."""
    batch = Path(batch)
    manifest, _, _, problems = read_tables(batch)
    if problems or manifest is None or not read_images:
        return problems
    for i in manifest.index:
        reason = image_problem(batch, manifest.loc[i])
        if reason:
            problems.append(Problem(MANIFEST, csv_line(i), reason))
    return problems
