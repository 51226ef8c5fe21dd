"""Benchmark: ``mawis predict`` on a large batch, after ingestion.

    .venv/bin/python bench/predict.py [--joints 10000] [--seed 8] [--work DIR] [--model MODEL_DIR]

Simulates a production batch (no cycling) and ingests it once (kept in ``--work``, reused
when it is there), then times ``predict`` on the ingested data set: joint tables,
embedding, prediction, acceptance rules, out-of-distribution scores, the drift test, the
Weibull fit, the gallery and the report. Without ``--model`` a small model is made first
(a 600-joint campaign, 3 pretraining epochs). Measures and prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mawis.ingest.config import IngestConfig
from mawis.ingest.dataset import DATASET_FILE
from mawis.ingest.pipeline import ingest_batch
from mawis.lifetime.config import LifetimeConfig
from mawis.sim import CampaignConfig, simulate_batch
from mawis.ssl.config import PretrainConfig
from mawis.ssl.train import pretrain
from mawis.workflows.predict import predict
from mawis.workflows.train import train_model


def small_model(work: Path) -> Path:
    if (work / "model" / "lifetime.json").is_file():
        return work / "model"
    simulate_batch(CampaignConfig(joints=600, seed=1), work / "train-batch")
    ingest_batch(work / "train-batch", work / "train-dataset", IngestConfig())
    pretrain(work / "train-dataset", work / "encoder", PretrainConfig(epochs=3, batch_size=64))
    return train_model(work / "train-dataset", LifetimeConfig(), encoder_dir=work / "encoder",
                       out_dir=work / "model").out_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joints", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--work", type=Path, default=None, help="keep the batch, data set and model here")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--dataset", type=Path, default=None, help="an ingested batch to predict (skips simulation)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mawis-bench-"))
    model = args.model or small_model(work)
    dataset = args.dataset or work / "dataset"
    if not (dataset / DATASET_FILE).is_file():
        clock = time.perf_counter()
        simulate_batch(CampaignConfig(joints=args.joints, seed=args.seed, label_fraction=0.0), work / "batch")
        print(f"simulate  {time.perf_counter() - clock:6.1f} s")
        clock = time.perf_counter()
        ingest_batch(work / "batch", dataset, IngestConfig())
        print(f"ingest    {time.perf_counter() - clock:6.1f} s (not part of the budget)")
    clock = time.perf_counter()
    result = predict(dataset, work / "prediction", model=str(model), overwrite=True)
    seconds = time.perf_counter() - clock
    joints = result.summary["batch"]["joints"]
    print(f"predict   {seconds:6.1f} s for {joints} joints ({joints / seconds:.0f} joints/s); budget 60 s")
    for stage, value in result.summary["timings"].items():
        print(f"  {stage:<8} {value:6.1f} s")
    print(f"report    {result.out_dir / 'lifetime_report.html'}")


if __name__ == "__main__":
    main()
