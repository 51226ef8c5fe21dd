"""Measurement accuracy against the virtual lab's truth, per simulated station, beside an
Otsu-threshold baseline. Prints a table; asserts nothing.

    .venv/bin/python bench/validate_measurement.py --joints 250 --seed 202

Targets (issue 4): void-fraction MAE <= 1.0 percentage point, void-mask IoU >= 0.8 on
images with more than 2 % void area (against the simulator's fine truth masks),
crack-fraction MAE <= 0.05. The measurement
settings were chosen on seed 101; validate on another seed.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from mawis.ingest.config import IngestConfig
from mawis.ingest.pipeline import ingest_batch
from mawis.measure.validation import compare_micrographs, compare_xray, summarise
from mawis.sim import CampaignConfig, simulate_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joints", type=int, default=250)
    parser.add_argument("--seed", type=int, default=202)
    parser.add_argument("--machines", nargs="+", default=["xr-a", "xr-b", "xr-c"])
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mawis-validate-"))
    header = (f"{'station':8} {'images':>6} {'unmeas.':>7} | {'void MAE pp':>11} {'(Otsu)':>8} | "
              f"{'void IoU':>8} {'(Otsu)':>7} {'(det.grid)':>10} {'(grid ceil.)':>12} | {'crack MAE':>9} {'(Otsu)':>7}")
    lines = [header, "-" * len(header)]
    try:
        for machine in args.machines:
            cfg = CampaignConfig(joints=args.joints, seed=args.seed, machine=machine, label_fraction=1.0)
            sim = simulate_batch(cfg, root / machine)
            ds = ingest_batch(sim.batch_dir, root / f"{machine}-ds", IngestConfig(measure=False)).dataset_dir
            s = summarise(compare_xray(ds, sim.truth_dir), compare_micrographs(ds, sim.truth_dir))
            lines.append(f"{machine:8} {s['xray_images'] + s['micrographs']:>6} {s['unmeasurable']:>7} | "
                         f"{s['mawis_void_mae_pp']:>11.2f} {s['otsu_void_mae_pp']:>8.2f} | "
                         f"{s['mawis_void_iou']:>8.3f} {s['otsu_void_iou']:>7.3f} "
                         f"{s['mawis_iou_detector_grid']:>10.3f} {s['detector_grid_iou']:>12.3f} | "
                         f"{s['mawis_crack_mae']:>9.3f} {s['otsu_crack_mae']:>7.3f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"joints={args.joints} seed={args.seed}; targets: void MAE <= 1.0 pp, IoU >= 0.8, crack MAE <= 0.05")
    print("\n".join(lines))
    print("void IoU: against the simulator's fine (about 2 um) truth. (det.grid): mawis against the truth\n"
          "pixelated on the station's detector grid; (grid ceil.): that pixelated truth against the fine one,\n"
          "i.e. what the detector's pixelation alone costs.")


if __name__ == "__main__":
    main()
