"""Benchmark: ingest throughput (images/s) on a simulated batch.

    .venv/bin/python bench/ingest.py --joints 2000 [--machine xr-a] [--micrographs]

Measures and prints; asserts nothing. Budget (issue 3): at least 200 X-ray images/s on
2 CPU cores, measuring each joint whole at its own resolution (issue 14). The batch is
simulated once into a temporary folder (not timed), then ingested (timed) with the
default settings.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from mawis.ingest.config import IngestConfig
from mawis.ingest.pipeline import ingest_batch
from mawis.sim import CampaignConfig, simulate_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joints", type=int, default=2000)
    parser.add_argument("--machine", default="xr-a")
    parser.add_argument("--micrographs", action="store_true", help="include cross-sections (30 %% of joints)")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--no-measure", action="store_true", help="align only, skip void/crack measurement")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mawis-bench-"))
    try:
        cfg = CampaignConfig(joints=args.joints, seed=0, machine=args.machine, micrographs=args.micrographs)
        sim = simulate_batch(cfg, root / "batch")
        start = time.perf_counter()
        config = IngestConfig(workers=args.workers, measure=not args.no_measure)
        result = ingest_batch(root / "batch", root / "dataset", config)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(root, ignore_errors=True)
    counts = result.report["by_modality_and_machine"]
    xray = sum(v for k, v in counts.items() if k.startswith("xray/"))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine={args.machine} cpus={os.cpu_count()} workers={args.workers or os.cpu_count()} "
          f"measure={not args.no_measure} "
          f"joints={sim.joints} images={result.report['images_ingested']} ({counts})")
    print(f"{'images':>7} {'xray':>6} {'seconds':>8} {'images/s':>9} {'xray/s':>7} {'peak MB':>8}  budget")
    print(f"{result.report['images_ingested']:>7} {xray:>6} {seconds:>8.2f} "
          f"{result.report['images_ingested'] / seconds:>9.0f} {xray / seconds:>7.0f} {peak_mb:>8.0f}  "
          ">= 200 X-ray images/s")


if __name__ == "__main__":
    main()
