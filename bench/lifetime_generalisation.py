"""Lifetime prediction on a package family the models never saw, and the encoder's field of view.

Simulates (all boards cycled) a training campaign of the development families, a test campaign
of the same families (other boards, other seed) and a campaign of the held-out family (QFN-16),
all on one station; ingests each twice, with joint-sized encoder crops (the default) and with a
fixed 640 um field of view; pretrains SimCLR on the training campaign's X-rays; fits the
features-only and the SSL-embedding lifetime heads (and the random-weights control) on the
training labels; and scores ln(cycles to failure) on the two test campaigns: R^2 on the joints
whose failure was observed, and R^2 against every joint's true (simulated) life. Prints one
table; asserts nothing.

    .venv/bin/python bench/lifetime_generalisation.py --joints 800 --seed 41 --machine xr-a --epochs 20
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from mawis.imaging.align import DEFAULT_ALIGNMENT
from mawis.ingest.config import IngestConfig
from mawis.ingest.dataset import load_dataset
from mawis.ingest.pipeline import ingest_batch
from mawis.lifetime.config import LifetimeConfig
from mawis.lifetime.metrics import concordance_index
from mawis.lifetime.train import fit_lifetime
from mawis.sim import CampaignConfig, simulate_batch
from mawis.sim.config import held_out_families
from mawis.ssl.config import PretrainConfig
from mawis.ssl.model_io import load_encoder
from mawis.ssl.train import pretrain
from mawis.workflows.predict import batch_inputs

KINDS = ("features", "ssl", "random")


def fixed_view() -> IngestConfig:
    return IngestConfig(xray=replace(DEFAULT_ALIGNMENT["xray"], field_of_view="fixed", pixel_size_um=5.0))


def score(model, dataset: Path, truth: Path) -> dict:
    inputs = batch_inputs(dataset, model, {}, "cpu")
    predicted = model.predict(inputs.data, "cpu", inputs.embeddings)["log_pred"].to_numpy()
    joints = inputs.joints
    failed = joints["labelled"].to_numpy(bool) & joints["event"].to_numpy(bool)
    true_life = np.log(pd.read_csv(truth / "joints.csv").set_index("joint_id")
                       .loc[joints["joint_id"], "cycles_to_failure"].to_numpy(float))
    return {"r2_failed": _r2(joints["log_time"].to_numpy(float)[failed], predicted[failed]),
            "n_failed": int(failed.sum()),
            "c_index": concordance_index(joints["log_time"].to_numpy(float)[joints["labelled"]],
                                         joints["event"].to_numpy(bool)[joints["labelled"]],
                                         predicted[joints["labelled"].to_numpy(bool)]),
            "r2_true_life": _r2(true_life, predicted), "n": len(joints)}


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    if len(y) < 3:
        return float("nan")
    return float(1.0 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def crop_fit(dataset: Path) -> dict:
    """How the encoder crops hold the joints: share whose outline fits, median share of the crop they fill."""
    images = load_dataset(dataset).images
    xray = images[(images["modality"] == "xray") & (images["measure_status"] == "ok")]
    side_um = xray["crop_pixel_size_um"] * DEFAULT_ALIGNMENT["xray"].crop_width
    return {"joint_fits_crop": float((xray["joint_length_um"] <= side_um).mean()),
            "joint_area_share_of_crop": float((xray["joint_area_um2"] / side_um ** 2).median())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joints", type=int, default=800)
    parser.add_argument("--seed", type=int, default=41)
    parser.add_argument("--machine", default="xr-a")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="keep the campaigns and results here")
    args = parser.parse_args()
    root = Path(args.out or tempfile.mkdtemp(prefix="mawis-generalise-"))
    clock = time.perf_counter()
    held = tuple(held_out_families())
    plans = {"train": (args.joints, ()), "test": (args.joints // 2, ()), "held-out family": (args.joints // 2, held)}
    sims = {}
    for k, (name, (n, families)) in enumerate(plans.items()):
        cfg = CampaignConfig(joints=n, seed=args.seed + k, machine=args.machine, label_fraction=1.0, families=families)
        sims[name] = simulate_batch(cfg, root / name, root / f"{name}-truth", overwrite=True)
    rows = []
    for view, config in (("joint-sized crops", IngestConfig()), ("fixed 640 um field of view", fixed_view())):
        data = {name: ingest_batch(sim.batch_dir, root / f"{name}-{view[:5]}", config, overwrite=True).dataset_dir
                for name, sim in sims.items()}
        encoder_dir = root / f"encoder-{view[:5]}"
        pretrain(data["train"], encoder_dir, replace(PretrainConfig(), method="simclr", epochs=args.epochs,
                                                     device="cpu"), overwrite=True)
        encoder = load_encoder(encoder_dir)
        fits = {"features": fit_lifetime(data["train"], LifetimeConfig(), kind="features"),
                "ssl": fit_lifetime(data["train"], LifetimeConfig(), kind="ssl", encoder=encoder),
                "random": fit_lifetime(data["train"], LifetimeConfig(), kind="random", encoder=encoder)}
        for test in ("test", "held-out family"):
            fit = crop_fit(data[test])
            for kind in KINDS:
                rows.append({"crops": view, "test": test, "model": kind, **fit,
                             **score(fits[kind].model, data[test], sims[test].truth_dir)})
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(f"{args.machine}, campaign seed {args.seed}: train {args.joints} joints of the development families, "
          f"test {args.joints // 2} of them and {args.joints // 2} of {', '.join(held)}; SimCLR {args.epochs} epochs; "
          f"{time.perf_counter() - clock:.0f} s")
    print(table.round(3).to_string(index=False))
    if args.out:
        (root / "lifetime_generalisation.json").write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
