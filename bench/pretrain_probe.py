"""Benchmark: what each pretraining method buys in the regression probe, and how fast.

    .venv/bin/python bench/pretrain_probe.py [--joints 400] [--epochs 10] [--batch-size 64] [--device auto]
        [--pretrain-seeds 0 1 2 3 4] [--station-jitter]

Simulates a campaign (all joints thermally cycled, so about 90 % give an observed
failure), ingests it, pretrains SimCLR, MoCo v2 and BYOL with the same seed(s), and
prints the ridge / kNN probe R² of ln(cycles to failure) on held-out boards with
random weights (epoch 0) and after training, plus training throughput. Measures
and prints; asserts nothing: at this budget the gain over random weights changes
sign from one pretraining seed to the next, so it is a benchmark, not a test (give
several ``--pretrain-seeds`` to see the spread). ``--station-jitter`` turns on the
gamma and offset jitter the README's table was measured with. The probe's test
boards are also where it is read during training, so this is a monitoring score,
not a final evaluation.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from mawis.ingest.config import IngestConfig
from mawis.ingest.pipeline import ingest_batch
from mawis.sim import CampaignConfig, simulate_batch
from mawis.ssl.augment import AugmentConfig
from mawis.ssl.config import PretrainConfig
from mawis.ssl.train import pretrain, resolve_device


def _row(method: str, cfg: PretrainConfig, history: list[dict], seconds: float) -> str:
    first, last = history[0], history[-1]
    if "ridge_r2" not in first:
        raise SystemExit("the simulated campaign gave too few failed joints for the probe; use more --joints")
    best = max(h["ridge_r2"] for h in history[1:])
    speed = sum(h["images_per_s"] for h in history[1:]) / (len(history) - 1)
    return (f"| {method} | {cfg.seed} | {cfg.encoder} | {cfg.epochs} | {speed:.0f} | {first['ridge_r2']:.3f} | "
            f"{last['ridge_r2']:.3f} | {best:.3f} | {first['knn_r2']:.3f} | {last['knn_r2']:.3f} | {seconds:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joints", type=int, default=400)
    parser.add_argument("--seed", type=int, default=5, help="campaign seed")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--encoder", default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--methods", nargs="+", default=["simclr", "moco", "byol"])
    parser.add_argument("--pretrain-seeds", nargs="+", type=int, default=[0], help="one run per method and seed")
    parser.add_argument("--station-jitter", action="store_true", help="gamma and offset jitter on (p = 0.8)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    root = Path(tempfile.mkdtemp(prefix="mawis-bench-ssl-"))
    lines = [f"device: {name}; torch {torch.__version__}; {args.joints} joints (seed {args.seed})",
             "| method | seed | encoder | epochs | images/s | ridge R² random | ridge R² final | ridge R² best | "
             "kNN R² random | kNN R² final | seconds |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    augment = AugmentConfig(gamma_p=0.8, offset_p=0.8) if args.station_jitter else AugmentConfig()
    try:
        campaign = CampaignConfig(joints=args.joints, seed=args.seed, label_fraction=1.0, micrographs=False)
        sim = simulate_batch(campaign, root / "batch")
        dataset = ingest_batch(sim.batch_dir, root / "dataset", IngestConfig(measure=False)).dataset_dir
        for method in args.methods:
            for seed in args.pretrain_seeds:
                cfg = PretrainConfig(method=method, epochs=args.epochs, batch_size=args.batch_size, device=args.device,
                                     encoder=args.encoder, seed=seed, augment=augment)
                start = time.perf_counter()
                history = pretrain(dataset, root / f"{method}-{seed}", cfg).history
                lines.append(_row(method, replace(cfg, encoder=cfg.resolved(device.type).encoder), history,
                                  time.perf_counter() - start))
                print(lines[-1], flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
