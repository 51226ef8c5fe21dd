"""`mawis train` and `mawis evaluate` end to end on a small simulated campaign: models fit,
save and load back safely, the evaluation holds whole boards out (also from pretraining),
writes every table and the report, and bad input gets one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mawis.cli import main
from mawis.errors import MawisError
from mawis.evaluation.split import split_joints
from mawis.ingest.config import IngestConfig
from mawis.ingest.dataset import load_dataset
from mawis.ingest.pipeline import ingest_batch
from mawis.lifetime.config import EndToEndConfig, LifetimeConfig
from mawis.lifetime.io import WEIGHTS_FILE, load_lifetime_model
from mawis.lifetime.models import joint_inputs
from mawis.lifetime.table import joint_table
from mawis.ssl.config import PretrainConfig
from mawis.ssl.train import pretrain
from mawis.workflows.train import train_model

from .conftest import assert_one_error_line, make_batch

TINY = LifetimeConfig(folds=3, alphas=(1.0, 100.0), embedding_alphas=(10.0, 1000.0), embedding_components=(4,),
                      end_to_end=EndToEndConfig(steps=6, batch_size=16))


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """160 joints on 20 cycled boards, 30 % cross-sectioned; measured at ingest; a 1-epoch encoder."""
    root = tmp_path_factory.mktemp("life")
    batch, truth = make_batch(root, "campaign", joints=160, seed=11, label_fraction=1.0, joints_per_board=8)
    dataset = ingest_batch(batch, root / "dataset", IngestConfig(workers=2)).dataset_dir
    encoder = pretrain(dataset, root / "encoder", PretrainConfig(epochs=1, batch_size=32, device="cpu")).out_dir
    return dataset, encoder, truth


def test_only_images_taken_before_cycling_are_inputs(campaign):
    """A cross-section cut when a joint was pulled or had failed carries its label (the cut's cycle
    count is the censoring or failure time): such images are never model inputs by default."""
    dataset, _, _ = campaign
    ds = load_dataset(dataset)
    cycles = ds.images.set_index("image_id")["cycles"]
    joints = joint_table(ds)
    for column in ("xray_image_id", "micrograph_image_id"):
        used = joints[column].dropna()
        assert (cycles.loc[used] == 0).all(), column
    assert "micrograph_cycles" not in joints and "xray_cycles" not in joints
    later = joint_table(ds, input_max_cycles=10**6)
    assert later["micrograph_image_id"].notna().sum() > joints["micrograph_image_id"].notna().sum()


@pytest.mark.parametrize("kind", ["features", "ssl", "sl", "random"])
def test_trained_model_loads_back_and_predicts_the_same(campaign, tmp_path, kind):
    dataset, encoder, _ = campaign
    result = train_model(dataset, TINY, encoder_dir=None if kind == "features" else encoder, kind=kind,
                         out_dir=tmp_path / kind)
    loaded, meta = load_lifetime_model(tmp_path / kind)
    ds = load_dataset(dataset)
    joints = joint_table(ds)
    data = joint_inputs(ds, joints, loaded.spec) if loaded.encoder is not None else None
    from mawis.lifetime.models import JointData
    data = data or JointData(joints)
    before, after = result.model.predict(data), loaded.predict(data)
    assert np.allclose(before[["log_pred", "log_lo", "log_hi"]], after[["log_pred", "log_lo", "log_hi"]], atol=1e-5)
    assert (after["log_lo"] < after["log_pred"]).all() and (after["log_pred"] < after["log_hi"]).all()
    assert meta["kind"] == kind and meta["summary"]["labelled_joints"] == int(joints["labelled"].sum())
    # predictions are lives of a few hundred to tens of thousands of cycles, not noise around 1
    assert 5.0 < float(np.median(after["log_pred"])) < 10.0


def test_a_data_set_where_some_joints_have_no_component_trains(campaign, tmp_path):
    """The manifest's component column is optional per row: missing names are left out of the
    model's record of its packages (they once broke sorting it), never recorded as "nan"."""
    dataset, _, _ = campaign
    copy = tmp_path / "dataset"
    shutil.copytree(dataset, copy)
    images = pd.read_parquet(copy / "images.parquet")
    images["component"] = images["component"].where(images.index % 2 == 0, pd.NA)
    images.to_parquet(copy / "images.parquet")
    result = train_model(copy, TINY, kind="features", out_dir=tmp_path / "m")
    _, meta = load_lifetime_model(result.out_dir)
    recorded = meta["dataset"]["components"]
    assert recorded and all(isinstance(c, str) and c.lower() != "nan" for c in recorded)


def test_train_cli_prints_a_summary_and_refuses_tampered_models(campaign, tmp_path, capsys):
    dataset, encoder, _ = campaign
    out = tmp_path / "m"
    assert main(["train", str(dataset), "--encoder", str(encoder), "--out", str(out), "--label-fraction", "0.5"]) == 0
    printed = capsys.readouterr().err  # mawis reports on stderr; stdout stays free for data
    assert "(ssl)" in printed and "interval" in printed
    weights = out / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:-3] + b"abc")
    with pytest.raises(MawisError, match="content hash does not match"):
        load_lifetime_model(out)


@pytest.mark.parametrize("args, message", [
    (["--label-fraction", "0.02"], "a lifetime model needs at least 5"),
    (["--label-fraction", "1.5"], "label_fraction must lie in (0, 1]"),
    (["--kind", "ssl"], "--kind ssl needs a pretrained encoder"),
    (["--kind", "cnn"], "--kind must be auto or one of"),
])
def test_train_bad_input_gives_one_line_and_no_folder(campaign, tmp_path, capsys, args, message):
    dataset, _, _ = campaign
    assert main(["train", str(dataset), "--out", str(tmp_path / "m"), *args]) == 2
    assert_one_error_line(capsys.readouterr().err, message)
    assert not (tmp_path / "m").exists()


def _tiny_evaluation_config(path: Path) -> Path:
    path.write_text("""
label_fraction = 0.5
fractions = [0.5, 1.0]
seeds = [0]
saliency_examples = 3

[pretrain]
epochs = 1
batch_size = 32

[lifetime]
folds = 3
alphas = [1.0, 100.0]
embedding_alphas = [10.0, 1000.0]
embedding_components = [4]

[lifetime.end_to_end]
steps = 6
batch_size = 16
""")
    return path


def test_evaluate_holds_boards_out_and_writes_every_table_and_the_report(campaign, tmp_path, capsys):
    dataset, _, truth = campaign
    out = tmp_path / "eval"
    config = _tiny_evaluation_config(tmp_path / "eval.toml")
    assert main(["evaluate", str(dataset), "--out", str(out), "--config", str(config), "--truth", str(truth)]) == 0
    printed = capsys.readouterr().err  # mawis reports on stderr; stdout stays free for data
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {"ssl", "ssl-finetune", "sl", "random", "features"}
    for kind, scores in metrics["models"].items():
        assert 0.0 <= scores["c_index"] <= 1.0 and 0.0 <= scores["coverage_km"] <= 1.0, kind
        assert scores["n_train_labels"] > 0 and scores["n_true"] == metrics["split"]["test_labelled"]
    assert len(metrics["label_efficiency"]) == 2 * 4  # fractions x curve models, one seed
    assert len(metrics["robustness"]) == 4 * 5  # distortions x models
    assert metrics["saliency"]["mask_source"] == "truth"
    assert metrics["findings"] and metrics["findings"][0] in printed.replace("\n", " ") or "SSL" in printed
    # held-out boards: no test joint's board in training, and pretraining saw only training joints' X-rays
    ds = load_dataset(dataset)
    joints = joint_table(ds)
    test, by = split_joints(joints, 0.3, 0)
    assert by == "board" and metrics["split"]["by"] == "board"
    assert not set(joints.loc[test, "board_id"]) & set(joints.loc[~test, "board_id"])
    predicted = pd.read_parquet(out / "test_predictions.parquet")
    assert set(predicted["joint_id"]) <= set(joints.loc[test, "joint_id"])
    train_xrays = ds.images[(ds.images["modality"] == "xray") & ds.images["joint_id"].isin(joints.loc[~test, "joint_id"])]
    assert metrics["pretraining"]["images"] == len(train_xrays) and metrics["pretraining"]["sees_test_images"] is False
    encoder_meta = json.loads((out / "encoder" / "model.json").read_text())
    assert encoder_meta["method"] == "simclr"
    html = (out / "comparison.html").read_text()
    assert "Findings" in html and "Label efficiency" in html and "data:image/png;base64," in html
    assert not list(tmp_path.glob(".eval*")), "no work folders left beside the report"


def test_evaluate_bad_input_gives_one_line(campaign, tmp_path, capsys):
    dataset, _, _ = campaign
    bad = tmp_path / "bad.toml"
    bad.write_text("fractions = [0.0, 1.0]\n")
    assert main(["evaluate", str(dataset), "--out", str(tmp_path / "e"), "--config", str(bad)]) == 2
    assert_one_error_line(capsys.readouterr().err, "fractions must lie in (0, 1]")
    bad.write_text("models = [\"ssl\", \"gbm\"]\n")
    assert main(["evaluate", str(dataset), "--out", str(tmp_path / "e"), "--config", str(bad)]) == 2
    assert_one_error_line(capsys.readouterr().err, "unknown model kind")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x.txt").write_text("mine")
    assert main(["evaluate", str(dataset), "--out", str(tmp_path / "taken")]) == 4
    assert not (tmp_path / "e").exists()
