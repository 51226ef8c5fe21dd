"""Benchmark: how fast the virtual lab writes a campaign (joints/s, images/s).

    .venv/bin/python bench/simulate.py --joints 1000                       # every development family
    .venv/bin/python bench/simulate.py --joints 1000 --families classic    # LED-3535, LED-3030, R1206
    .venv/bin/python bench/simulate.py --joints 300 --machine xr-d --families R0201,DPAK,PM-PAD

Measures; asserts nothing. The issue's budget is 1,000 joints with X-rays and 30 %
micrographs in under 60 s on 2 CPU cores; widening the lab (multi-pad packages,
board scenes, magnification per board) may cost at most 1.5x on the classic
families (29 s before).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from mawis.sim import CampaignConfig, simulate_batch

CLASSIC = ("LED-3535", "LED-3030", "R1206")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joints", type=int, default=1000)
    parser.add_argument("--machine", default="xr-a")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--families", default="", help="comma-separated families, 'classic', or empty for all "
                                                        "development families")
    args = parser.parse_args()
    families = CLASSIC if args.families == "classic" else tuple(f for f in args.families.split(",") if f)
    root = Path(tempfile.mkdtemp(prefix="mawis-bench-"))
    try:
        cfg = CampaignConfig(joints=args.joints, seed=0, machine=args.machine, micrograph_fraction=0.3,
                             workers=args.workers, families=families)
        start = time.perf_counter()
        result = simulate_batch(cfg, root / "batch")
        seconds = time.perf_counter() - start
        cpu = os.times()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"machine={args.machine} families={','.join(cfg.family_names())} cpus={os.cpu_count()} "
          f"workers={args.workers or os.cpu_count()}")
    print(f"{'joints':>8} {'images':>8} {'seconds':>8} {'cpu s':>7} {'joints/s':>9} {'images/s':>9}  budget")
    print(f"{result.joints:>8} {result.images:>8} {seconds:>8.1f} "
          f"{cpu.user + cpu.system + cpu.children_user + cpu.children_system:>7.1f} "
          f"{result.joints / seconds:>9.1f} {result.images / seconds:>9.1f}  {'<= 60 s for 1000 joints':>10}")


if __name__ == "__main__":
    main()
