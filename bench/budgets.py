"""Performance budgets: one command, one table, each measured number beside its budget.

    .venv/bin/python bench/budgets.py [--work DIR] [--memory-images 10000 100000] [--device cpu]

Measures, on a simulated campaign (2,000 joints, station xr-a): ingest with measurement
(images/s), re-measuring the stored measurement regions (images/s, one process), pretraining throughput per
method (images/s over one epoch, small encoder on the CPU; ResNet-18 on a GPU with
--device cuda), predict (joints/s, after ingestion), and the peak resident memory of
`mawis ingest` on batches of 10,000 and 100,000 X-ray images (made from the campaign's
images by hard links under new ids, so no disk is spent on copies). Asserts nothing;
prints the table and writes it as JSON beside the work folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from mawis.ingest.config import IngestConfig, recorded_measure_settings
from mawis.ingest.dataset import load_dataset
from mawis.ingest.pipeline import ingest_batch
from mawis.lifetime.config import LifetimeConfig
from mawis.measure.pipeline import measure_dataset
from mawis.sim import CampaignConfig, simulate_batch
from mawis.ssl.config import PretrainConfig
from mawis.ssl.train import pretrain
from mawis.workflows.predict import predict
from mawis.workflows.train import train_model

BUDGETS = {  # what a 2-core CPU machine must sustain; GPU rows are for a CUDA device
    "ingest": 200.0, "measure": 100.0, "pretrain-cpu": 300.0, "pretrain-cuda": 3000.0, "predict": 170.0,
    "memory_mb": 2000.0,
}


def campaign(work: Path) -> tuple[Path, Path, float]:
    batch = work / "batch"
    if not (batch / "manifest.csv").is_file():
        simulate_batch(CampaignConfig(joints=2000, seed=12, micrographs=False), batch)
    clock = time.perf_counter()
    result = ingest_batch(batch, work / "dataset", IngestConfig(), overwrite=True)
    rate = result.report["images_ingested"] / (time.perf_counter() - clock)
    return batch, result.dataset_dir, rate


def measure_rate(dataset: Path, images: int = 600) -> float:
    ds = load_dataset(dataset)
    rows = ds.images.head(images)
    clock = time.perf_counter()
    measure_dataset(rows, ds.region, recorded_measure_settings(ds.info["config"]))
    return len(rows) / (time.perf_counter() - clock)


def pretrain_rates(dataset: Path, work: Path, device: str) -> dict[str, float]:
    rates = {}
    for method in ("simclr", "moco", "byol"):
        cfg = replace(PretrainConfig(), method=method, epochs=1, device=device)
        result = pretrain(dataset, work / f"enc-{method}", cfg, overwrite=True)
        rates[method] = float(result.history[-1]["images_per_s"])
    return rates


def predict_rate(dataset: Path, work: Path) -> float:
    model = train_model(dataset, LifetimeConfig(), encoder_dir=work / "enc-simclr", out_dir=work / "model",
                        overwrite=True)
    clock = time.perf_counter()
    result = predict(dataset, work / "prediction", model=str(model.out_dir), overwrite=True)
    return result.summary["batch"]["joints"] / (time.perf_counter() - clock)


def replicated_batch(batch: Path, out: Path, images: int) -> Path:
    """A batch of ``images`` X-ray rows: the campaign's as-reflowed images again and again under new
    ids (joint, board and image), as hard links."""
    manifest = pd.read_csv(batch / "manifest.csv", dtype=str, keep_default_na=False)
    base = manifest[(manifest["modality"] == "xray") & (manifest["cycles"] == "0")]
    parts = []
    for k in range(-(-images // len(base))):
        copy = base.copy()
        for col in ("image_id", "joint_id", "board_id"):
            copy[col] = copy[col] + f"-r{k}"
        copy["path"] = [f"r{k}/{Path(p).name}" for p in base["path"]]
        (out / f"r{k}").mkdir(parents=True, exist_ok=True)
        for src, dst in zip(base["path"], copy["path"]):
            if not (out / dst).exists():
                os.link(batch / src, out / dst)
        parts.append(copy)
    pd.concat(parts).head(images).to_csv(out / "manifest.csv", index=False)
    return out


def peak_ingest_memory(batch: Path, out: Path) -> tuple[float, float]:
    """Peak resident memory (MB) of the largest process of one `mawis ingest` run, and its seconds."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "code = subprocess.run([sys.executable, '-m', 'mawis.cli', 'ingest', sys.argv[1], '--out', sys.argv[2], "
             "'--overwrite'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode; "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, time.perf_counter() - t, code)")
    text = subprocess.run([sys.executable, "-c", probe, str(batch), str(out)], capture_output=True, text=True,
                          check=True).stdout.split()
    if text[2] != "0":
        raise SystemExit(f"ingest of {batch} failed (exit {text[2]})")
    return float(text[0]), float(text[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--memory-images", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mawis-budgets-"))
    rows = []
    batch, dataset, ingest = campaign(work)
    rows.append(("ingest with measurement, images/s", ingest, BUDGETS["ingest"], ">="))
    rows.append(("measure stored regions, images/s (1 process)", measure_rate(dataset), BUDGETS["measure"], ">="))
    for method, rate in pretrain_rates(dataset, work, args.device).items():
        rows.append((f"pretrain {method} ({args.device}), images/s", rate, BUDGETS[f"pretrain-{args.device}"], ">="))
    rows.append(("predict after ingestion, joints/s", predict_rate(dataset, work), BUDGETS["predict"], ">="))
    for images in args.memory_images:
        big = replicated_batch(batch, work / f"big-{images}", images)
        mb, seconds = peak_ingest_memory(big, work / f"big-{images}-dataset")
        rows.append((f"ingest {images:,} images: peak memory, MB ({images / seconds:.0f} images/s)", mb,
                     BUDGETS["memory_mb"], "<="))
    print(f"{'measure':<62} {'value':>10} {'budget':>10}  met")
    for name, value, budget, sense in rows:
        met = value >= budget if sense == ">=" else value <= budget
        print(f"{name:<62} {value:>10.0f} {sense + ' ' + format(budget, '.0f'):>10}  {'yes' if met else 'NO'}")
    (work / "budgets.json").write_text(json.dumps([dict(zip(("measure", "value", "budget", "sense"), r))
                                                  for r in rows], indent=2))
    print(f"written {work / 'budgets.json'}")


if __name__ == "__main__":
    main()
