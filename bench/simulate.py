"""Benchmark: how fast the virtual lab writes a campaign (joints/s, images/s).

    .venv/bin/python bench/simulate.py --joints 1000

Measures; asserts nothing. The issue's budget is 1,000 joints with X-rays and 30 %
micrographs in under 60 s on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from mawis.sim import CampaignConfig, simulate_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joints", type=int, default=1000)
    parser.add_argument("--machine", default="xr-a")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mawis-bench-"))
    try:
        cfg = CampaignConfig(joints=args.joints, seed=0, machine=args.machine, micrograph_fraction=0.3,
                             workers=args.workers)
        start = time.perf_counter()
        result = simulate_batch(cfg, root / "batch")
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"machine={args.machine} cpus={os.cpu_count()} workers={args.workers or os.cpu_count()}")
    print(f"{'joints':>8} {'images':>8} {'seconds':>8} {'joints/s':>9} {'images/s':>9}  budget")
    print(f"{result.joints:>8} {result.images:>8} {seconds:>8.1f} {result.joints / seconds:>9.1f} "
          f"{result.images / seconds:>9.1f}  {'<= 60 s for 1000 joints':>10}")


if __name__ == "__main__":
    main()
