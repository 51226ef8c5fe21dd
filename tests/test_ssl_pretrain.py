"""`mawis pretrain`: runs are reproducible from their seed, each method learns what it is
built to learn (with a margin that holds at every seed tried), the probe that monitors
pretraining is correct, runs resume after a kill with identical results, models load
safely, and bad input gets one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from mawis.cli import main
from mawis.errors import MawisError
from mawis.ingest.config import IngestConfig
from mawis.ingest.dataset import Dataset, load_dataset
from mawis.ingest.pipeline import ingest_batch
from mawis.ssl.augment import AugmentConfig, BatchAugment, two_views
from mawis.ssl.config import PretrainConfig
from mawis.ssl.data import InputSpec, load_inputs, modality_rows
from mawis.ssl.methods import build_method
from mawis.ssl.model_io import load_encoder
from mawis.ssl.probe import ProbeConfig, probe_set, regression_probe
from mawis.ssl.train import pretrain, work_dir_for

from .conftest import assert_one_error_line


@pytest.fixture(scope="module")
def small_dataset(batches, tmp_path_factory):
    root = tmp_path_factory.mktemp("ssl-small")
    return ingest_batch(batches["xr-a"][0], root / "dataset", IngestConfig(workers=1, measure=False)).dataset_dir


# Whether pretraining improves the lifetime probe is not asserted here: at a budget a test can
# afford, the probe's gain over random weights is within run-to-run noise (another seed, thread
# count or CPU moves it to either side; README, benchmarks). bench/pretrain_probe.py measures it.
# The tests below assert what holds, with a wide margin, at every seed tried.

@pytest.mark.parametrize("method", ["simclr", "moco", "byol"])
def test_pretraining_is_bit_for_bit_reproducible_on_the_cpu(small_dataset, tmp_path, method):
    # the probe runs on the few failed joints of this small set (min_joints lowered): its scores
    # are compared too
    cfg = PretrainConfig(method=method, epochs=2, batch_size=16, device="cpu", seed=3,
                         probe=ProbeConfig(min_joints=5))
    runs = [pretrain(small_dataset, tmp_path / name, cfg).history for name in ("a", "b")]
    other = pretrain(small_dataset, tmp_path / "c", replace(cfg, seed=4)).history
    weights = [torch.load(tmp_path / name / "encoder.pt", weights_only=True) for name in ("a", "b", "c")]
    timing = ("images_per_s", "seconds")
    same = [[{k: v for k, v in record.items() if k not in timing} for record in run] for run in runs]
    assert same[0] == same[1], "every loss and probe score equal, to the last bit"
    assert weights[0].keys() == weights[1].keys() and all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0]), "the seed matters"
    assert other[-1]["loss"] != runs[0][-1]["loss"]
    first, last = runs[0][0], runs[0][-1]
    assert first["probe_split"] == "joint" and first["probe_train"] + first["probe_test"] >= 5
    assert {"loss", "ridge_r2", "knn_r2"} <= set(last) and [r["epoch"] for r in runs[0]] == [0, 1, 2]


def _view_ranking(encoder: torch.nn.Module, images: torch.Tensor, draws: int = 4) -> float:
    """How often the second view of an image is closer (cosine) to its first view than another
    image's second view is: the pairwise form of the contrastive objective, free of any scale or
    temperature. 0.5 is chance. Two augmented views of ``images`` (float, [0, 1]), fixed draws."""
    generator, augment = torch.Generator().manual_seed(123), BatchAugment(AugmentConfig())
    n = len(images)
    encoder.eval()
    wins = []
    with torch.no_grad():
        for _ in range(draws):
            view1, view2 = two_views(images, augment, generator)
            similarity = F.normalize(encoder(view1), dim=1) @ F.normalize(encoder(view2), dim=1).T
            wins.append(float((similarity.diag()[:, None] > similarity).sum()) / (n * (n - 1)))
    return sum(wins) / len(wins)


@pytest.mark.parametrize("method", ["simclr", "moco", "byol"])
def test_each_method_learns_view_invariance_that_carries_over_to_held_out_boards(small_dataset, tmp_path, method):
    """Pretrained on 4 of the 6 boards (about 55 images, 60 steps of 16), the encoder tells the
    two views of a held-out image apart from other held-out images' views far better than its
    random initialisation does.

    Margin, measured over seeds 0-9 (each another initialisation, batch order and augmentation
    stream) on two versions of this data set (the simulator changed in between), 60 runs: the
    ranking rose from 0.52-0.73 (random weights) to 0.73-0.96, by at least 0.18 (BYOL and MoCo;
    SimCLR by at least 0.22). The test asks for 0.10. At half this budget (30 steps) BYOL's
    smallest gain was 0.11, too close to that. (A temperature-scaled held-out InfoNCE of the
    embeddings was no robust yardstick: on the newer data it barely moved from chance.)
    """
    ds = load_dataset(small_dataset)
    rows = modality_rows(ds, "xray")
    held_out = rows["board_id"].isin(sorted(rows["board_id"].unique())[::3])  # 2 of 6 boards
    images = load_inputs(ds, InputSpec.for_dataset(ds, "xray", 0.5), rows[held_out]).float() / 255.0
    cfg = PretrainConfig(method=method, epochs=20, batch_size=16, device="cpu", seed=0)
    pretrain(small_dataset, tmp_path / "enc", cfg, joints=rows.loc[~held_out, "joint_id"].unique())
    trained = load_encoder(tmp_path / "enc").encoder
    run = cfg.resolved("cpu")
    torch.manual_seed(cfg.seed)  # the initialisation pretraining started from
    initial = build_method(method, run.encoder, run.method_config, run.input_transform).encoder
    before, after = _view_ranking(initial, images), _view_ranking(trained, images)
    assert len(images) >= 20
    assert after > before + 0.10, f"{method}: held-out view ranking {before:.3f} (random weights) -> {after:.3f}"


def test_regression_probe_recovers_a_known_r2():
    # margins: over data seeds 0-39 the scores below missed their expected values by at most
    # 0.013 (ridge R²), 3 % (MAE) and 0.02 (kNN R²)
    rng = np.random.default_rng(0)
    n = 10_000
    signal_ = rng.normal(size=n)
    target = 7.0 + 0.5 * signal_ + 0.25 * rng.normal(size=n)  # R² of the signal: 0.25 / (0.25 + 0.0625) = 0.8
    train = rng.random(n) < 0.7
    features = np.column_stack([signal_, rng.normal(size=(n, 7))])  # one informative column, 7 of noise
    scores = regression_probe(features, target, train, ~train)
    assert scores["probe_train"] == train.sum() and scores["probe_test"] == (~train).sum()
    assert scores["ridge_r2"] == pytest.approx(0.8, abs=0.03)
    assert scores["ridge_mae"] == pytest.approx(0.25 * np.sqrt(2 / np.pi), rel=0.08)  # E|noise|
    one_column = regression_probe(signal_[:, None], target, train, ~train, neighbours=10)
    assert one_column["knn_r2"] == pytest.approx(0.78, abs=0.04)  # the mean of 10 neighbours keeps 1/10 of their noise
    noise = regression_probe(rng.normal(size=(n, 8)), target, train, ~train)
    assert abs(noise["ridge_r2"]) < 0.02 and noise["knn_r2"] < 0.02


def test_probe_set_takes_each_failed_joints_earliest_image_and_keeps_boards_apart(tmp_path):
    boards, per_board = 10, 6
    n = boards * per_board
    joints = pd.DataFrame({"joint_id": [f"J{i:03d}" for i in range(n)],
                           "board_id": [f"B{i // per_board}" for i in range(n)]})
    images = pd.concat([joints.assign(cycles=c, image_id=joints["joint_id"] + f"-{c}") for c in (1500, 0)])
    images = images.assign(modality="xray").reset_index(drop=True)
    labels = joints[["joint_id"]].assign(cycles_to_failure=np.linspace(1000, 9000, n),
                                         censored=[i % 5 == 0 for i in range(n)])
    labels.loc[1, "cycles_to_failure"] = np.nan  # no usable failure time: left out
    probe = probe_set(Dataset(tmp_path, images, labels, {}), "xray", ProbeConfig(min_joints=4))
    failed = labels[~labels["censored"] & labels["cycles_to_failure"].notna()]
    assert sorted(probe.rows["joint_id"]) == sorted(failed["joint_id"]) and (probe.rows["cycles"] == 0).all()
    life = failed.set_index("joint_id")["cycles_to_failure"]
    assert np.allclose(probe.log_life, np.log(probe.rows["joint_id"].map(life)))
    assert probe.split_by == "board" and (probe.train ^ probe.test).all()
    assert not set(probe.rows.loc[probe.train, "board_id"]) & set(probe.rows.loc[probe.test, "board_id"])
    assert 0.2 < probe.test.mean() < 0.4  # about test_share (0.3) of the boards
    assert probe_set(Dataset(tmp_path, images, labels.assign(censored=True), {}), "xray", ProbeConfig()) is None


def test_byol_predictor_learns_faster_than_the_rest():
    from mawis.ssl.methods import build_method

    byol = build_method("byol", "small")
    rest, predictor = byol.param_groups()
    assert {id(p) for p in predictor["params"]} == {id(p) for p in byol.predictor.parameters()}
    assert predictor["lr_scale"] == 10.0 and "lr_scale" not in rest
    frozen = {id(p) for p in byol.target_encoder.parameters()}
    assert not frozen & {id(p) for p in rest["params"]}, "the EMA target is not optimised"


def test_model_folder_holds_what_built_it(small_dataset, tmp_path):
    out = tmp_path / "enc"
    result = pretrain(small_dataset, out, PretrainConfig(epochs=2, batch_size=16, device="cpu"))
    meta = json.loads((out / "model.json").read_text())
    assert meta["method"] == "simclr" and meta["encoder"] == "small" and meta["input_transform"] == "optical_depth"
    assert meta["input"] == {"modality": "xray", "height": 64, "width": 64, "scale_of_crop": 0.5}
    assert {"torch", "torchvision", "mawis"} <= set(meta["library_versions"])
    assert len(meta["dataset"]["fingerprint"]) == 64 and meta["config"]["augment"]["hflip_p"] == 0.5
    assert [h["epoch"] for h in meta["history"]] == [0, 1, 2] and result.epochs_run == 2
    assert (out / "curves.csv").is_file() and (out / "curves.png").stat().st_size > 1000
    assert not work_dir_for(out).exists(), "checkpoints of a finished run are removed"
    loaded = load_encoder(out)
    x = torch.rand(3, 1, *loaded.input_size)
    assert loaded.encoder(x).shape == (3, loaded.encoder.out_dim)


def test_micrographs_pretrain_at_their_own_input_size(small_dataset, tmp_path):
    pretrain(small_dataset, tmp_path / "mg", PretrainConfig(modality="micrograph", epochs=1, batch_size=8, device="cpu"))
    meta = json.loads((tmp_path / "mg" / "model.json").read_text())
    assert meta["input"]["height"] == 64 and meta["input"]["width"] == 160 and meta["input_transform"] == "none"


def test_tampered_or_incomplete_model_is_refused(small_dataset, tmp_path):
    out = tmp_path / "enc"
    pretrain(small_dataset, out, PretrainConfig(epochs=1, batch_size=16, device="cpu"))
    weights = out / "encoder.pt"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(MawisError, match="content hash does not match"):
        load_encoder(out)
    weights.unlink()
    with pytest.raises(MawisError, match="encoder.pt is missing"):
        load_encoder(out)
    with pytest.raises(MawisError, match="not a mawis encoder folder"):
        load_encoder(tmp_path)


def _pretrain_cmd(dataset: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mawis.cli", "pretrain", str(dataset), "--out", str(out), "--epochs", "6",
            "--batch-size", "16", "--device", "cpu", "--method", "moco", *extra]


def test_resume_after_kill_finishes_all_epochs_with_the_uninterrupted_result(small_dataset, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    reference = tmp_path / "reference"
    subprocess.run(_pretrain_cmd(small_dataset, reference), check=True, env=env, capture_output=True)

    out = tmp_path / "killed"
    proc = subprocess.Popen(_pretrain_cmd(small_dataset, out), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    checkpoint = work_dir_for(out) / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.15)  # into the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists() and not out.exists(), "a killed run leaves its last checkpoint and no model folder"
    done = torch.load(checkpoint, weights_only=True)["epoch"]
    assert 1 <= done < 6

    resumed = subprocess.run(_pretrain_cmd(small_dataset, out, "--resume"), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed after epoch {done}" in resumed.stderr
    meta, ref = (json.loads((d / "model.json").read_text()) for d in (out, reference))
    assert [h["epoch"] for h in meta["history"]] == list(range(7))
    assert [round(h.get("loss", 0), 5) for h in meta["history"]] == [round(h.get("loss", 0), 5) for h in ref["history"]]
    a, b = (torch.load(d / "encoder.pt", weights_only=True) for d in (out, reference))
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)


def test_resume_refuses_a_checkpoint_from_other_settings(small_dataset, tmp_path, capsys):
    out = tmp_path / "enc"
    work = work_dir_for(out)
    work.mkdir()
    pretrain_state = {"identity": json.dumps({"method": "byol"}), "epoch": 1}
    torch.save(pretrain_state, work / "checkpoint.pt")
    code = main(["pretrain", str(small_dataset), "--out", str(out), "--epochs", "2", "--batch-size", "16",
                 "--device", "cpu", "--resume"])
    assert code == 2
    assert_one_error_line(capsys.readouterr().err, "checkpoint is from a run with other settings")


@pytest.mark.parametrize("args, message", [
    (["--method", "swav"], "method must be one of simclr, moco, byol"),
    (["--modality", "ct"], "modality must be one of xray, micrograph"),
    (["--epochs", "0"], "epochs must be an integer >= 1"),
    (["--batch-size", "1"], "batch_size must be at least 2"),
    (["--encoder", "vit"], "encoder must be one of auto, small, resnet18"),
])
def test_bad_options_give_one_line(small_dataset, tmp_path, capsys, args, message):
    code = main(["pretrain", str(small_dataset), "--out", str(tmp_path / "m"), "--device", "cpu", *args])
    assert code == 2
    assert_one_error_line(capsys.readouterr().err, message)
    assert not (tmp_path / "m").exists()


def test_missing_dataset_existing_output_and_bad_config(small_dataset, tmp_path, capsys):
    assert main(["pretrain", str(tmp_path / "nope"), "--out", str(tmp_path / "m")]) == 2
    assert_one_error_line(capsys.readouterr().err, "not a mawis data set")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    assert main(["pretrain", str(small_dataset), "--out", str(tmp_path / "taken"), "--device", "cpu"]) == 4
    assert_one_error_line(capsys.readouterr().err, "already exists")
    config = tmp_path / "bad.toml"
    config.write_text("epochs = 2\nlearning_rate = 0.1\n")
    assert main(["pretrain", str(small_dataset), "--out", str(tmp_path / "m"), "--config", str(config)]) == 2
    assert_one_error_line(capsys.readouterr().err, "unknown setting(s) learning_rate")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_cuda_request_without_cuda_gives_one_line(small_dataset, tmp_path, capsys):
    assert main(["pretrain", str(small_dataset), "--out", str(tmp_path / "m"), "--device", "cuda"]) == 2
    assert_one_error_line(capsys.readouterr().err, "no CUDA device is available")
