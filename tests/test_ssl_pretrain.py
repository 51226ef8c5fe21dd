"""`mawis pretrain`: the three methods learn something lifetime-relevant, runs resume after
a kill with identical results, models load safely, and bad input gets one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mawis.cli import main
from mawis.errors import MawisError
from mawis.ingest.config import IngestConfig
from mawis.ingest.pipeline import ingest_batch
from mawis.ssl.augment import AugmentConfig
from mawis.ssl.config import PretrainConfig
from mawis.ssl.model_io import load_encoder
from mawis.ssl.train import pretrain, work_dir_for

from .conftest import assert_one_error_line, make_batch


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """400 joints, all on cycled boards (about 360 observed failures for the probe)."""
    root = tmp_path_factory.mktemp("ssl")
    batch, _ = make_batch(root, "campaign", joints=400, seed=5, label_fraction=1.0, micrographs=False,
                          joints_per_board=16, workers=2)
    return ingest_batch(batch, root / "dataset", IngestConfig(workers=2, measure=False)).dataset_dir


@pytest.fixture(scope="module")
def small_dataset(batches, tmp_path_factory):
    root = tmp_path_factory.mktemp("ssl-small")
    return ingest_batch(batches["xr-a"][0], root / "dataset", IngestConfig(workers=1, measure=False)).dataset_dir


@pytest.mark.slow
@pytest.mark.parametrize("method", ["simclr", "moco", "byol"])
def test_pretraining_beats_random_weights_in_the_ridge_probe(campaign, tmp_path, method):
    # The station-look jitter (gamma, offset) these margins were set with in issue 5. The default
    # has it off since the lifetime head showed it erases solder thickness; with it off, BYOL's
    # probe on this campaign falls below random weights (0.128 -> 0.098; README, pretraining).
    augment = AugmentConfig(gamma_p=0.8, offset_p=0.8)
    cfg = PretrainConfig(method=method, epochs=10, batch_size=64, device="cpu", seed=0, augment=augment)
    history = pretrain(campaign, tmp_path / method, cfg).history
    random_r2, final_r2 = history[0]["ridge_r2"], history[-1]["ridge_r2"]
    curve = [round(h["ridge_r2"], 3) for h in history]
    assert final_r2 > random_r2 + 0.02, f"{method}: ridge R² {random_r2:.3f} (random) -> {final_r2:.3f}; curve {curve}"


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
