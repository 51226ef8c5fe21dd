"""Calibration of ``mawis drift``: how often it flags a batch from the same station (false
alarms, should be at most alpha = 1 %) and from another station (should be always).

    .venv/bin/python bench/drift_calibration.py --model MODEL --same DATASET --other DATASET \
        [--sizes 50 200 1000 2000] [--repeats 200] [--other-repeats 30] [--out drift-calibration.json]

MODEL is a lifetime model folder (``mawis train``); SAME and OTHER are large ingested data sets
of fresh batches (no joint of the model's training data), one from the training station and
one from another. Each repeat draws whole boards at random from a pool until the batch has
at least SIZE joints and runs the same check as ``mawis drift`` (its own permutation seed).
The pools are profiled (measured, embedded) once. Measures and prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mawis.lifetime.io import load_lifetime_model
from mawis.registry.drift import DriftConfig, check_drift, load_reference
from mawis.workflows.predict import batch_inputs


def draw_boards(profile: pd.DataFrame, size: int, rng: np.random.Generator) -> pd.DataFrame:
    boards = profile["board_id"].unique()
    order = rng.permutation(boards)
    sizes = profile.groupby("board_id").size().reindex(order).to_numpy()
    keep = order[: int(np.searchsorted(np.cumsum(sizes), size)) + 1]
    return profile[profile["board_id"].isin(set(keep))].reset_index(drop=True)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def run(profile: pd.DataFrame, reference: pd.DataFrame, size: int, repeats: int, seed: int) -> dict:
    flags, ps, aucs, joints = [], [], [], []
    for r in range(repeats):
        rng = np.random.default_rng(seed * 100_003 + size * 101 + r)
        batch = draw_boards(profile, size, rng)
        report = check_drift(reference, batch, DriftConfig(seed=int(rng.integers(1 << 30))))
        flags.append(report["drift"])
        ps.append(report["p_value"])
        aucs.append(report["domain_auc"])
        joints.append(len(batch))
    k = int(np.sum(flags))
    lo, hi = wilson(k, repeats)
    return {"size": size, "repeats": repeats, "flagged": k, "share": k / repeats, "ci95": [lo, hi],
            "median_p": float(np.median(ps)), "median_auc": float(np.median(aucs)),
            "mean_joints": float(np.mean(joints))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--same", type=Path, required=True)
    parser.add_argument("--other", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000, 2000])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--other-repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("drift-calibration.json"))
    args = parser.parse_args()
    model, meta = load_lifetime_model(args.model)
    reference = load_reference(args.model, meta)
    clock = time.perf_counter()
    pools = {name: batch_inputs(path, model, meta, "cpu").profile for name, path in
             (("same station", args.same), ("other station", args.other))}
    print(f"profiled the pools in {time.perf_counter() - clock:.0f} s: "
          + ", ".join(f"{k} {len(v)} joints on {v['board_id'].nunique()} boards" for k, v in pools.items()))
    results = []
    print(f"{'pool':<14} {'size':>5} {'joints':>7} {'flagged':>12} {'95 % CI':>15} {'median p':>9} "
          f"{'median AUC':>10} {'s/check':>8}")
    for name, profile in pools.items():
        repeats = args.repeats if name == "same station" else args.other_repeats
        for size in args.sizes:
            if size > len(profile):
                continue
            clock = time.perf_counter()
            row = {"pool": name, **run(profile, reference, size, repeats, seed=len(results))}
            row["seconds_per_check"] = (time.perf_counter() - clock) / repeats
            results.append(row)
            print(f"{name:<14} {size:>5} {row['mean_joints']:>7.0f} {row['flagged']:>4}/{repeats:<4} "
                  f"({100 * row['share']:4.1f} %) {100 * row['ci95'][0]:5.1f}-{100 * row['ci95'][1]:4.1f} % "
                  f"{row['median_p']:>9.3f} {row['median_auc']:>10.2f} {row['seconds_per_check']:>8.2f}", flush=True)
    args.out.write_text(json.dumps({"model": str(args.model), "alpha": DriftConfig().alpha, "results": results},
                                   indent=2))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
