"""``mawis drift``: does a batch still look like a model's training data?

Writes ``drift.json`` and ``drift.html`` into the output folder. The CLI exits with 3
when drift is found and with 5 when the batch has too few boards to tell, so the check
can gate a pipeline (``mawis drift B && mawis predict B``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_dir, check_writable_target
from ..jsonio import dumps, json_safe
from ..registry.drift import DriftConfig, check_drift
from ..registry.store import Registry
from ..reports.drift_report import render_drift
from ..ingest.pipeline import dataset_folder
from .predict import batch_inputs, open_model, resolve_device

DRIFT_FILE = "drift.json"
EXIT_DRIFT, EXIT_CANNOT_TELL = 3, 5


@dataclass
class DriftResult:
    out_dir: Path
    report: dict

    @property
    def exit_code(self) -> int:
        if not self.report["testable"]:
            return EXIT_CANNOT_TELL
        return EXIT_DRIFT if self.report["drift"] else 0


def drift(source: Path, out_dir: Path, *, model: str | Path | None = None, registry: Registry | None = None,
          cfg: DriftConfig = DriftConfig(), overwrite: bool = False, workers: int = 0, device: str = "auto",
          progress=None) -> DriftResult:
    cfg.validate()
    out_dir = Path(out_dir)
    opened = open_model(registry or Registry(), model)
    check_writable_target(out_dir, overwrite, marker=DRIFT_FILE)
    with atomic_dir(out_dir, overwrite=overwrite, marker=DRIFT_FILE) as tmp:
        dataset_dir, _ = dataset_folder(source, tmp / "dataset", workers, progress)
        inputs = batch_inputs(dataset_dir, opened.model, opened.meta, resolve_device(device), progress=progress)
        report = check_drift(opened.reference, inputs.profile, cfg)
        shutil.rmtree(tmp / "dataset", ignore_errors=True)  # an ingested batch is scratch here
        report = json_safe({**report, "batch": {**report["batch"], "source": str(Path(source).absolute())},
                            "model": {k: opened.card[k] for k in ("id", "kind", "source")}})
        (tmp / DRIFT_FILE).write_text(dumps(report))
        render_drift(report, tmp / "drift.html")
    return DriftResult(out_dir, report)
