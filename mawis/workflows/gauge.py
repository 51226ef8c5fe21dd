"""``mawis gauge A B``: a gauge study of two batches (or data sets) holding the same joints.

Ingests each (as ``mawis ingest`` would, into scratch), measures, matches the joints, and
writes into ``OUT`` atomically: ``gauge.json`` (the agreement per measure, the counts and
what was compared), ``gauge_pairs.csv`` (one row per matched image pair) and
``gauge.png`` (Bland-Altman plot and scatter of the void fraction).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..atomic import atomic_dir, check_writable_target
from ..errors import UsageError
from ..evaluation.gauge import GaugeStudy, gauge_study
from ..ingest.dataset import load_dataset, xray_stations
from ..ingest.pipeline import dataset_folder
from ..jsonio import dumps, json_safe
from ..measure.export import measured_images

GAUGE_FILE = "gauge.json"
PAIRS_FILE = "gauge_pairs.csv"
FIGURE_FILE = "gauge.png"


@dataclass(frozen=True)
class GaugeResult:
    out_dir: Path
    study: GaugeStudy
    report: dict


def gauge(source_a: Path, source_b: Path, out_dir: Path, *, overwrite: bool = False, workers: int = 0,
          progress=None) -> GaugeResult:
    out_dir = Path(out_dir)
    if Path(source_a).absolute() == Path(source_b).absolute():
        raise UsageError("a gauge study compares two different batches; both arguments name the same folder")
    check_writable_target(out_dir, overwrite, marker=GAUGE_FILE)
    scratch = Path(tempfile.mkdtemp(prefix="mawis-gauge-"))
    try:
        tables, names = [], []
        for key, source in (("a", source_a), ("b", source_b)):
            dataset_dir, _ = dataset_folder(Path(source), scratch / key, workers, progress)
            ds = load_dataset(dataset_dir)
            tables.append(measured_images(ds, progress))
            names.append(", ".join(xray_stations(tables[-1])) or Path(source).absolute().name)
        study = gauge_study(*tables)
        if study.counts["matched"] == 0:
            raise UsageError(f"{source_a} and {source_b} share no joint (joint_id, modality, cycles); a gauge study "
                             "needs the same joints imaged on both stations")
        report = json_safe({
            "format": "mawis-gauge", "version": 1, "mawis_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "a": {"source": str(Path(source_a).absolute()), "station": names[0]},
            "b": {"source": str(Path(source_b).absolute()), "station": names[1]},
            "counts": study.counts, "agreement": study.summary,
            "note": "differences are B - A per matched image; void and crack measures in percentage points, joint "
                    "area in % of A; limits of agreement = bias +- 1.96 SD (Bland-Altman)",
        })
        with atomic_dir(out_dir, overwrite=overwrite, marker=GAUGE_FILE) as tmp:
            study.pairs.to_csv(tmp / PAIRS_FILE, index=False)  # tmp is renamed into place whole
            (tmp / GAUGE_FILE).write_text(dumps(report))
            from ..reports.gauge_figure import gauge_figure
            gauge_figure(study, names, tmp / FIGURE_FILE)
        return GaugeResult(out_dir, study, report)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
