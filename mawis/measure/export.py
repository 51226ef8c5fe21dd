"""``mawis measure``: per-joint metrics and verdicts for quality teams, from a batch or a data set."""

from __future__ import annotations

import io
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..atomic import atomic_dir, atomic_write_bytes, check_writable_target
from ..ingest.config import recorded_measure_settings
from ..ingest.dataset import Dataset, load_dataset
from ..ingest.pipeline import dataset_folder
from .pipeline import joint_table, measure_dataset, write_overlays
from .rules import load_rules


OVERLAY_MARKER = ".mawis-overlays"


@dataclass(frozen=True)
class MeasureResult:
    joints: pd.DataFrame
    csv_path: Path
    overlays: int


def measure(source: Path, out_csv: Path, *, rules_path: Path | None = None, overlays_dir: Path | None = None,
            workers: int = 0, progress=None) -> MeasureResult:
    """Measure ``source`` (a data set, or a batch that is ingested on the fly) and write the joint table."""
    source = Path(source)
    rules = load_rules(rules_path)
    if overlays_dir is not None:  # refuse a foreign overlays folder before writing anything
        check_writable_target(Path(overlays_dir), overwrite=True, marker=OVERLAY_MARKER)
    scratch = Path(tempfile.mkdtemp(prefix="mawis-measure-"))
    try:
        dataset, _ = dataset_folder(source, scratch / "dataset", workers, progress)
        return _from_dataset(dataset, out_csv, rules, overlays_dir, progress)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measured_images(ds: Dataset, progress=None) -> pd.DataFrame:
    """The data set's image table with measurements; one ingested with --no-measure is measured
    now from its stored regions, with the settings it was ingested with (the data set on disk
    is left as it is)."""
    images = ds.images
    if "measure_status" in images.columns and (images["measure_status"].fillna("") != "").any():
        return images
    return measure_dataset(images, ds.region, recorded_measure_settings(ds.info["config"]), progress=progress)


def _from_dataset(root: Path, out_csv: Path, rules, overlays_dir: Path | None, progress=None) -> MeasureResult:
    ds = load_dataset(root)
    images = measured_images(ds, progress)
    table = joint_table(images, rules)
    table.insert(len(table.columns), "rules_version", rules.version)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_csv, buffer.getvalue().encode())
    count = 0
    if overlays_dir is not None:
        # replaced as a whole; an existing folder is only replaced if mawis made it
        with atomic_dir(Path(overlays_dir), overwrite=True, marker=OVERLAY_MARKER) as tmp:
            count = write_overlays(images, ds.region, tmp, recorded_measure_settings(ds.info["config"]))
            (tmp / OVERLAY_MARKER).write_text("overlays written by mawis measure\n")
    return MeasureResult(table, out_csv, count)
