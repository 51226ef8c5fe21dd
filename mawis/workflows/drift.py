"""``mawis drift``: does a batch still look like a model's training data?

Writes ``drift.json`` and ``drift.html`` into the output folder. The CLI exits with 3
when drift is found, so the check can gate a pipeline.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_dir, check_writable_target
from ..lifetime.io import load_lifetime_model
from ..registry.drift import DriftConfig, check_drift, load_reference
from ..registry.store import Registry, model_card
from ..reports.drift_report import render_drift
from .predict import _finite, batch_inputs, open_source, resolve_device

DRIFT_FILE = "drift.json"
EXIT_DRIFT = 3


@dataclass
class DriftResult:
    out_dir: Path
    report: dict


def drift(source: Path, out_dir: Path, *, model: str | Path | None = None, registry: Registry | None = None,
          cfg: DriftConfig = DriftConfig(), overwrite: bool = False, workers: int = 0, device: str = "auto",
          progress=None) -> DriftResult:
    cfg.validate()
    registry = registry or Registry()
    out_dir = Path(out_dir)
    model_dir = registry.resolve(model)
    lifetime_model, meta = load_lifetime_model(model_dir)
    reference = load_reference(model_dir, meta)
    check_writable_target(out_dir, overwrite, marker=DRIFT_FILE)
    scratch = Path(tempfile.mkdtemp(prefix="mawis-drift-"))
    try:
        dataset_dir, _ = open_source(source, scratch / "dataset", workers, progress)
        inputs = batch_inputs(dataset_dir, lifetime_model, meta, resolve_device(device), progress=progress)
        report = check_drift(reference, inputs.profile, cfg)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    card = model_card(model_dir, meta, registry)
    report = _finite({**report, "batch": {**report["batch"], "source": str(Path(source).absolute())},
                      "model": {"id": card["id"], "kind": card["kind"], "source": card["source"]}})
    with atomic_dir(out_dir, overwrite=overwrite, marker=DRIFT_FILE) as tmp:
        (tmp / DRIFT_FILE).write_text(json.dumps(report, indent=2))
        render_drift(report, tmp / "drift.html")
    return DriftResult(out_dir, report)
