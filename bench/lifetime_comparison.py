"""Benchmark: the SSL vs SL lifetime comparison on a simulated campaign, end to end.

    .venv/bin/python bench/lifetime_comparison.py [--joints 2000] [--seed 7] [--out reports/lifetime-comparison]

Simulates a campaign with every board thermally cycled (so the test boards have
labels to score), ingests it, and runs ``mawis evaluate`` with its defaults and the
simulator's truth (true lives, truth void masks). Prints the timings of each stage,
the headline table and the label-efficiency means; the report lands in ``--out``.
Measures and prints; asserts nothing. Defaults were chosen on campaign seed 31;
report numbers from other seeds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from mawis.evaluation.config import EvaluationConfig
from mawis.evaluation.run import evaluate
from mawis.ingest.config import IngestConfig
from mawis.ingest.pipeline import ingest_batch
from mawis.sim import CampaignConfig, simulate_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joints", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("reports/lifetime-comparison"))
    parser.add_argument("--work", type=Path, default=None, help="keep the batch and data set here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mawis-bench-"))
    clock = time.perf_counter()
    sim = simulate_batch(CampaignConfig(joints=args.joints, seed=args.seed, label_fraction=1.0, workers=2),
                         work / "batch")
    simulated = time.perf_counter() - clock
    clock = time.perf_counter()
    dataset = ingest_batch(sim.batch_dir, work / "dataset", IngestConfig(workers=2), overwrite=True).dataset_dir
    ingested = time.perf_counter() - clock
    clock = time.perf_counter()
    metrics = evaluate(dataset, args.out, EvaluationConfig(), truth_dir=sim.truth_dir, overwrite=True,
                       log=lambda line: print(line, flush=True)).metrics
    evaluated = time.perf_counter() - clock
    print(f"\nsimulate {simulated:.0f} s, ingest {ingested:.0f} s, evaluate {evaluated:.0f} s "
          f"({', '.join(f'{k} {v:.0f} s' for k, v in metrics['timings'].items())})")
    table = pd.DataFrame(metrics["models"]).T
    columns = [c for c in ("r2", "c_index", "mae", "within_2x", "coverage_km", "coverage_failed", "coverage_true",
                           "r2_true", "c_index_true", "n_train_labels") if c in table]
    print(table[columns].to_string(float_format=lambda v: f"{v:.3f}"))
    curve = pd.DataFrame(metrics["label_efficiency"])
    for value in ("r2", "c_index"):
        print(f"\nlabel efficiency, mean {value} over seeds {metrics['settings']['seeds']}")
        print(curve.pivot_table(index="fraction", columns="model", values=value, aggfunc="mean")
              .to_string(float_format=lambda v: f"{v:.3f}"))
    print("\n" + "\n".join(f"- {line}" for line in metrics["findings"]))
    print(f"report: {args.out / 'comparison.html'}")


if __name__ == "__main__":
    main()
