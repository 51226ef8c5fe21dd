"""Interruption check: kill `mawis ingest` and `mawis pretrain` with SIGKILL at random moments,
re-run them, and compare with an uninterrupted run.

    .venv/bin/python bench/kill_resume.py [--kills 10] [--joints 200] [--epochs 4] [--work DIR] [--seed 0]

Ingest (and, with ``--other-kills`` rounds each, ``train`` and ``predict``): each round kills
a run that replaces an earlier, finished output (``--overwrite``)
and checks that the earlier data set is still whole, then re-runs it to the end and compares
the tables (by image id) and every crop with the reference run. Pretrain: each round kills a
fresh run, continues it with ``--resume`` and compares the encoder's weights and the loss
history with the reference run. Prints one line per round and a summary; exits 1 if any
round differs. Measures and prints; it is a script, not a timed test.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

MAWIS = [sys.executable, "-m", "mawis.cli"]
VOLATILE = ("crop_index",)  # where a crop lands depends on which worker finishes first


def run(args: list[str], kill_after: float | None = None) -> tuple[int, float]:
    """Run mawis; with ``kill_after`` SIGKILL it then (if still running). Exit code and seconds."""
    start = time.perf_counter()
    proc = subprocess.Popen(MAWIS + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        import os
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: worker processes too
        proc.wait()
    return proc.returncode, time.perf_counter() - start


def dataset_view(root: Path) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    images = pd.read_parquet(root / "images.parquet").sort_values("image_id").reset_index(drop=True)
    crops = {}
    for modality in ("xray", "micrograph"):
        arrays = np.load(root / f"crops_{modality}.npy", mmap_mode="r")
        rows = images[images["modality"] == modality]
        for image_id, index in zip(rows["image_id"], rows["crop_index"]):
            crops[image_id] = np.asarray(arrays[int(index)])
    return images.drop(columns=list(VOLATILE)), crops


def same_dataset(a: Path, b: Path) -> bool:
    (ta, ca), (tb, cb) = dataset_view(a), dataset_view(b)
    labels_equal = pd.read_parquet(a / "labels.parquet").equals(pd.read_parquet(b / "labels.parquet"))
    return ta.equals(tb) and labels_equal and ca.keys() == cb.keys() and all(np.array_equal(ca[k], cb[k]) for k in ca)


def encoder_state(folder: Path) -> dict:
    return torch.load(folder / "encoder.pt", map_location="cpu", weights_only=True)


def same_encoder(a: Path, b: Path) -> tuple[bool, float]:
    sa, sb = encoder_state(a), encoder_state(b)
    diff = max(float((sa[k].float() - sb[k].float()).abs().max()) for k in sa) if sa.keys() == sb.keys() else np.inf
    losses = [[r.get("loss") for r in json.loads((f / "model.json").read_text())["history"]] for f in (a, b)]
    return diff == 0.0 and losses[0] == losses[1], diff


def ingest_rounds(work: Path, kills: int, rng: random.Random) -> int:
    batch, ref = work / "batch", work / "ingest-ref"
    code, seconds = run(["ingest", str(batch), "--out", str(ref), "--workers", "2"])
    assert code == 0, "the reference ingest failed"
    bad = 0
    for i in range(kills):
        out = work / f"ingest-{i}"
        shutil.copytree(ref, out)  # the earlier, finished data set a re-run replaces
        at = rng.uniform(0.05, 1.0) * seconds
        code, _ = run(["ingest", str(batch), "--out", str(out), "--workers", "2", "--overwrite"], kill_after=at)
        intact = same_dataset(out, ref)
        killed_left = len(list(work.glob(f".ingest-{i}.*-*")))
        rerun, _ = run(["ingest", str(batch), "--out", str(out), "--workers", "2", "--overwrite"])
        equal = rerun == 0 and same_dataset(out, ref)
        leftovers = len(list(work.glob(f".ingest-{i}.*-*")))
        print(f"ingest   round {i + 1:2d}: killed at {at:5.1f} s (exit {code}); earlier data set intact: {intact}; "
              f"re-run equal to uninterrupted: {equal}; temp folders: {killed_left} after the kill, "
              f"{leftovers} after the re-run")
        bad += not (intact and equal)
        shutil.rmtree(out)
    return bad


def pretrain_rounds(work: Path, kills: int, epochs: int, rng: random.Random) -> int:
    dataset, ref = work / "ingest-ref", work / "encoder-ref"
    args = ["pretrain", str(dataset), "--epochs", str(epochs), "--batch-size", "32", "--device", "cpu"]
    code, seconds = run(args + ["--out", str(ref)])
    assert code == 0, "the reference pretraining failed"
    bad = 0
    for i in range(kills):
        out = work / f"encoder-{i}"
        at = rng.uniform(0.05, 0.8) * seconds  # a run ending before its kill would test nothing
        code, _ = run(args + ["--out", str(out)], kill_after=at)
        resumed, _ = run(args + ["--out", str(out), "--resume"])
        equal, diff = same_encoder(out, ref) if resumed == 0 else (False, np.inf)
        print(f"pretrain round {i + 1:2d}: killed at {at:5.1f} s (exit {code}); resumed exit {resumed}; "
              f"weights and losses equal to uninterrupted: {equal} (max |diff| {diff:.3g})")
        bad += not equal
        shutil.rmtree(out, ignore_errors=True)
    return bad


def same_files(a: Path, b: Path, names: tuple[str, ...]) -> bool:
    return all((a / n).is_file() and (a / n).read_bytes() == (b / n).read_bytes() for n in names)


def replace_rounds(work: Path, kills: int, rng: random.Random, name: str, args: list[str], compare: tuple[str, ...]) \
        -> int:
    """Kill a run that replaces a finished output (--overwrite): the output must stay whole, and a
    re-run must give the same files as the uninterrupted one."""
    ref = work / f"{name}-ref"
    code, seconds = run(args + ["--out", str(ref)])
    assert code == 0, f"the reference {name} failed"
    bad = 0
    for i in range(kills):
        out = work / f"{name}-{i}"
        shutil.copytree(ref, out)
        at = rng.uniform(0.05, 0.8) * seconds
        code, _ = run(args + ["--out", str(out), "--overwrite"], kill_after=at)
        intact = same_files(out, ref, compare)
        rerun, _ = run(args + ["--out", str(out), "--overwrite"])
        equal = rerun == 0 and same_files(out, ref, compare)
        print(f"{name:<8} round {i + 1:2d}: killed at {at:5.1f} s (exit {code}); earlier output intact: {intact}; "
              f"re-run equal to uninterrupted: {equal}")
        bad += not (intact and equal)
        shutil.rmtree(out)
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--joints", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--other-kills", type=int, default=3, help="kills of `mawis train` and `mawis predict`")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mawis-kill-"))
    rng = random.Random(args.seed)
    code, _ = run(["simulate", str(work / "batch"), "--joints", str(args.joints), "--seed", "3", "--overwrite"])
    assert code == 0, "simulation failed"
    bad = ingest_rounds(work, args.kills, rng) + pretrain_rounds(work, args.kills, args.epochs, rng)
    train = ["train", str(work / "ingest-ref"), "--encoder", str(work / "encoder-ref")]
    bad += replace_rounds(work, args.other_kills, rng, "train", train, ("weights.pt", "reference.parquet"))
    predict = ["predict", str(work / "ingest-ref"), "--model", str(work / "train-ref")]
    bad += replace_rounds(work, args.other_kills, rng, "predict", predict, ("predictions.csv", "predictions.parquet"))
    total = 2 * args.kills + 2 * args.other_kills
    print(f"{total - bad} of {total} interrupted runs completed equal to the uninterrupted run")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
