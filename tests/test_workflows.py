"""The users' workflows on small simulated batches: train registers, the registry lists,
promotes and removes, predict writes the table and the lifetime report, drift gates with
its exit code, retrain registers a child and promotes it only when it is not worse."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest

from mawis.cli import main
from mawis.ingest.config import IngestConfig
from mawis.ingest.pipeline import ingest_batch
from mawis.registry.store import Registry
from mawis.ssl.config import PretrainConfig
from mawis.ssl.train import pretrain
from mawis.workflows.predict import TABLE_COLUMNS, risk_classes
from mawis.workflows.train import train_model

from .conftest import assert_one_error_line, make_batch
from .test_lifetime_cli import TINY

FAMILY = ("LED-3535",)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A 120-joint campaign (15 boards), a 1-epoch encoder, an ssl model in a fresh registry, and
    fresh batches: same station, another station, and a labelled one for retraining.

    One package family throughout: 120 joints spread over eight families leave the out-of-fold
    c-index at chance (0.46-0.48 measured), while one family's joints rank at 0.82-0.89 (seeds
    21-23), so the learning check below holds with a wide margin."""
    root = tmp_path_factory.mktemp("workflows")
    campaign, _ = make_batch(root, "campaign", joints=120, seed=21, label_fraction=1.0, families=FAMILY)
    dataset = ingest_batch(campaign, root / "dataset", IngestConfig(workers=2)).dataset_dir
    encoder = pretrain(dataset, root / "encoder", PretrainConfig(epochs=1, batch_size=32, device="cpu")).out_dir
    registry = Registry(root / "models")
    trained = train_model(dataset, TINY, encoder_dir=encoder, registry=registry)
    same, _ = make_batch(root, "same", joints=64, seed=22, label_fraction=0.0, families=FAMILY)
    other, _ = make_batch(root, "other", joints=64, seed=23, label_fraction=0.0, machine="xr-b",
                          families=FAMILY)
    labelled, _ = make_batch(root, "labelled", joints=96, seed=24, label_fraction=1.0, families=FAMILY)
    return {"root": root, "dataset": dataset, "encoder": encoder, "registry": registry, "model": trained,
            "same": same, "other": other, "labelled": labelled}


def test_the_first_trained_model_is_registered_and_promoted(lab):
    registry, trained = lab["registry"], lab["model"]
    assert trained.promoted and registry.promoted_id() == trained.model_id
    assert registry.resolve(None) == registry.resolve("latest") == registry.resolve(trained.model_id)
    meta = json.loads((trained.out_dir / "lifetime.json").read_text())
    assert meta["registry"] == {"id": trained.model_id, "parent": None}
    assert set(meta["sha256"]) == {"weights.pt", "reference.parquet"}
    assert meta["metrics"]["values"]["c_index"] > 0.5  # out-of-fold, training boards


def test_predict_writes_the_table_and_a_self_contained_report(lab, tmp_path, capsys):
    out = tmp_path / "pred"
    reg = str(lab["registry"].root)
    assert main(["predict", str(lab["same"]), "--registry", reg, "--out", str(out), "--required-cycles", "2000"]) == 0
    printed = capsys.readouterr().err
    assert "joints    64 on 8 boards" in printed and "lifetime_report.html" in printed
    table = pd.read_csv(out / "predictions.csv", keep_default_na=False, na_values={"ood_score": [""]})
    assert list(table.columns) == list(TABLE_COLUMNS) and len(table) == 64
    assert table["predicted_cycles"].is_monotonic_increasing  # riskiest first
    assert (table["lower_cycles"] < table["predicted_cycles"]).all()
    assert (table["predicted_cycles"] < table["upper_cycles"]).all()
    expected = risk_classes(table["lower_cycles"].to_numpy(), table["predicted_cycles"].to_numpy(), 2000.0,
                            table["reason"].tolist())
    assert (table["risk_class"] == expected).all()
    # the class wins over the value: OOD and unmeasurable joints are "cannot tell", with a reason
    untold = table["risk_class"] == "cannot tell"
    assert (untold == (table["reason"] != "")).all() and untold[table["ood"] | ~table["measurable"]].all()
    assert set(table["verdict"]) <= {"pass", "fail", "unchecked"}
    assert pd.read_parquet(out / "predictions.parquet")["joint_id"].tolist() == table["joint_id"].tolist()
    summary = json.loads((out / "prediction.json").read_text())
    assert summary["model"]["id"] == lab["model"].model_id and summary["weibull"]["b10"]["value"] > 0
    assert summary["weibull"]["n"] == (~untold).sum() and sum(summary["counts"]["risk"].values()) == 64
    assert summary["gallery"][0]["joint_id"] == table.loc[~untold, "joint_id"].iloc[0]  # riskiest trustworthy
    assert (out / summary["gallery"][0]["xray"]).is_file()
    page = (out / "lifetime_report.html").read_text()
    assert "http://" not in page and "https://" not in page and "data:image/png;base64," in page
    assert lab["model"].model_id in page


def test_risk_classes_follow_the_required_life():
    classes = risk_classes(np.array([500.0, 900.0, 1600.0]), np.array([800.0, 1800.0, 3000.0]), 1500.0)
    assert classes.tolist() == ["high", "elevated", "low"]


def test_drift_exit_code_gates_a_pipeline(lab, tmp_path, capsys):
    reg = str(lab["registry"].root)
    assert main(["drift", str(lab["same"]), "--registry", reg, "--out", str(tmp_path / "same")]) == 0
    assert main(["drift", str(lab["other"]), "--registry", reg, "--out", str(tmp_path / "other")]) == 3
    report = json.loads((tmp_path / "other" / "drift.json").read_text())
    assert report["drift"] and report["domain_auc"] > 0.9
    assert report["most_out_of_distribution"] and (tmp_path / "other" / "drift.html").is_file()
    assert "DRIFT" in capsys.readouterr().err


def test_models_commands(lab, tmp_path, capsys):
    reg = str(lab["registry"].root)
    assert main(["models", "list", "--registry", reg]) == 0
    listed = capsys.readouterr().out
    assert f"* {lab['model'].model_id}" in listed
    assert main(["models", "show", lab["model"].model_id, "--registry", reg]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["promoted"] and card["training_data"]["labelled"] == 120 and card["known_limits"]
    assert main(["models", "remove", lab["model"].model_id, "--registry", reg]) == 2
    assert_one_error_line(capsys.readouterr().err, "is the promoted model")
    assert main(["predict", str(lab["same"]), "--registry", reg, "--model", "nope", "--out", str(tmp_path / "p")]) == 2
    assert_one_error_line(capsys.readouterr().err, "no model 'nope'")
    assert not (tmp_path / "p").exists()
    assert main(["drift", str(lab["same"]), "--registry", str(tmp_path / "empty"), "--out", str(tmp_path / "d")]) == 2
    assert_one_error_line(capsys.readouterr().err, "no promoted model")


def test_concurrent_promotions_leave_a_valid_registry(lab, tmp_path):
    registry = Registry(tmp_path / "reg")
    ids = []
    for _ in range(2):
        model_id = registry.new_id("features")
        (registry.root / model_id).mkdir(parents=True)
        for name in ("lifetime.json",):
            (registry.root / model_id / name).write_text(json.dumps({"kind": "features", "created": model_id}))
        ids.append(model_id)
    threads = [threading.Thread(target=registry.promote, args=(ids[i % 2],)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert registry.promoted_id() in ids
    registry.remove(ids[0], force=True)
    assert [e.id for e in registry.entries()] == [ids[1]]


def test_retrain_registers_a_child_and_compares_on_unseen_boards(lab, capsys):
    reg = str(lab["registry"].root)
    parent = lab["model"].model_id
    code = main(["retrain", "--registry", reg, "--model", parent, "--data", str(lab["dataset"]),
                 "--data", str(lab["labelled"]), "--epochs", "1"])
    assert code == 0
    printed = capsys.readouterr().err
    assert f"(child of {parent})" in printed and "held out" in printed
    entries = Registry(lab["registry"].root).entries()
    child = entries[-1]
    assert child.parent == parent and child.kind == "ssl"
    metrics = child.metrics
    assert "held-out boards of the new data" in metrics["source"]
    assert set(metrics["values"]) >= {"c_index", "r2"} and set(metrics["old_model"]) >= {"c_index"}
    promoted = Registry(lab["registry"].root).promoted_id()
    better = metrics["values"]["c_index"] >= metrics["old_model"]["c_index"]
    assert (promoted == child.id) == better
    # the old model's own training data brings no unseen labels: nothing to compare, not promoted
    assert main(["retrain", "--registry", reg, "--model", parent, "--data", str(lab["dataset"]), "--epochs", "1"]) == 0
    assert "cannot be compared fairly" in capsys.readouterr().err
    assert Registry(lab["registry"].root).promoted_id() == promoted


def test_real_lifetime_report_renders_and_sorts_in_chromium(lab, tmp_path, open_in_chromium):
    """The report of a real prediction, in headless Chromium: no console errors, every section and
    figure there, and clicking a column header re-sorts the risk table."""
    from mawis.reports.lifetime_report import SECTIONS
    from mawis.workflows.predict import predict

    result = predict(lab["same"], tmp_path / "pred", registry=lab["registry"])

    def click_sort(driver):
        first = lambda: driver.execute_script(  # noqa: E731
            "return document.querySelector('#risk table.sortable tbody tr td').textContent;")
        before = first()
        driver.execute_script("document.querySelector('#risk table.sortable th button').click();")
        after = first()
        driver.execute_script("document.querySelector('#risk table.sortable th button').click();")
        return before, after, first()

    page = open_in_chromium(result.out_dir / "lifetime_report.html", name="lifetime_report", inspect=click_sort)
    assert page.errors == [], page.errors
    for anchor, heading in SECTIONS:
        assert anchor in page.section_ids and heading in page.h2
    assert page.images and page.images_loaded() == len(page.images)
    riskiest = result.table["joint_id"].iloc[0]
    before, after, again = page.inspected
    ids = sorted(result.table["joint_id"])
    assert (before, after, again) == (riskiest, ids[0], ids[-1])  # by life, then by joint id up and down


def test_overlay_names_never_leave_the_folder():
    from mawis.measure.pipeline import overlay_name

    assert overlay_name("J000001-xr-00000") == "J000001-xr-00000.png"
    for odd in ("../../x", "B01/J3", "/etc/passwd", ".hidden", "a b"):
        name = overlay_name(odd)
        assert "/" not in name and not name.startswith(".") and name.endswith(".png")
    assert overlay_name("a/b") != overlay_name("a_b")  # different ids never share a file


def test_merged_data_sets_keep_crops_labels_and_ids_apart(lab, tmp_path):
    from mawis.ingest.dataset import load_dataset
    from mawis.ingest.merge import merge_datasets

    other = ingest_batch(lab["labelled"], tmp_path / "other", IngestConfig(workers=2)).dataset_dir
    merged = load_dataset(merge_datasets([lab["dataset"], other], tmp_path / "merged"))
    a, b = load_dataset(lab["dataset"]), load_dataset(other)
    assert len(merged.images) == len(a.images) + len(b.images)
    assert merged.images["joint_id"].is_unique is False  # several images per joint...
    assert merged.images["image_id"].is_unique  # ...but ids from the two campaigns (both J000001...) kept apart
    row = merged.images[merged.images["image_id"] == "other:J000001-xr-00000"].iloc[0]
    source = b.images[b.images["image_id"] == "J000001-xr-00000"].iloc[0]
    assert (merged.crops("xray")[int(row["crop_index"])] == b.crops("xray")[int(source["crop_index"])]).all()
    assert len(merged.labels) == len(a.labels) + len(b.labels) and merged.labels["joint_id"].is_unique
    assert set(merged.info["sources"]) == {a.info["batch_fingerprint"], b.info["batch_fingerprint"]}
    with pytest.raises(Exception, match="hold the same batch"):
        merge_datasets([lab["dataset"], lab["dataset"]], tmp_path / "twice")


def test_only_registered_models_can_be_promoted(lab, tmp_path, capsys):
    out = tmp_path / "plain"
    train_model(lab["dataset"], TINY, kind="features", out_dir=out)
    assert main(["models", "promote", str(out), "--registry", str(lab["registry"].root)]) == 2
    assert_one_error_line(capsys.readouterr().err, "is not in the registry")


def test_predict_without_a_usable_reference_still_predicts_and_says_why():
    from mawis.workflows.predict import PredictConfig, _checks

    profile = pd.DataFrame({"joint_id": ["J1", "J2"], "board_id": ["B1", "B1"], "component": "LED",
                            "has_xray": [True, False], "void_fraction": [0.1, np.nan]})
    scores, flags, drift, note, threshold = _checks(None, profile, PredictConfig())
    assert np.isnan(scores).all() and not flags.any() and drift is None and threshold is None
    assert note.startswith("no out-of-distribution or drift check: the model has no drift reference")
