"""Never green for what was not seen: joints that could not be measured, are of a package the model
was not trained on, or are out of distribution get the risk class "cannot tell" (with a reason) in every output of `mawis predict`, are counted in
no other class, and are left out of the Weibull fit, which says how many joints it rests on."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mawis.cli import main
from mawis.ingest.config import IngestConfig
from mawis.ingest.dataset import load_dataset
from mawis.ingest.pipeline import ingest_batch
from mawis.registry.store import Registry
from mawis.reports.lifetime_report import CANNOT, FORMAT_VERSION, RISKS
from mawis.ssl.config import PretrainConfig
from mawis.ssl.train import pretrain
from mawis.workflows.predict import CANNOT_TELL, TABLE_COLUMNS, abstentions, known_components, risk_classes
from mawis.workflows.train import train_model

from .conftest import make_batch
from .test_lifetime_cli import TINY

REQUIRED = 300.0  # low: most trusted joints are "low" risk, so an untold one would be green without its class
BLANK = ("J000001", "J000002", "J000003")   # X-ray replaced by a flat image of the same size and format
NOISE = ("J000004", "J000005")              # X-ray replaced by pure noise
CHANGED = ("J000006", "J000007", "J000008", "J000009")   # intensities strongly changed: inverted, or cubed
NEW_PACKAGE = ("J000010", "J000011")      # manifest names a package the model was never trained on
TAMPERED = BLANK + NOISE + CHANGED + NEW_PACKAGE


def _rewrite(path, change) -> None:
    with Image.open(path) as image:
        pixels = np.array(image)
    top = np.iinfo(pixels.dtype).max
    Image.fromarray(np.clip(change(pixels.astype(np.float64), top), 0, top).astype(pixels.dtype)).save(path)


def _gone(manifest: pd.DataFrame) -> str:
    """A joint beyond the tampered ones with a single image (its X-ray): emptied, it is quarantined."""
    counts = manifest.groupby("joint_id").size()
    return next(j for j in sorted(counts.index) if j not in TAMPERED and counts[j] == 1)


def _tamper(batch) -> None:
    manifest = pd.read_csv(batch / "manifest.csv")
    (batch / manifest.set_index("joint_id").at[_gone(manifest), "path"]).write_bytes(b"")
    manifest.loc[manifest["joint_id"].isin(NEW_PACKAGE), "component"] = "QFN-99"
    manifest.to_csv(batch / "manifest.csv", index=False)
    xray = manifest[manifest["modality"] == "xray"].set_index("joint_id")["path"]
    rng = np.random.default_rng(5)
    inverted, cubed = (lambda a, top: top - a), (lambda a, top: top * (a / top) ** 3)
    changes = [inverted, cubed, cubed, inverted]  # milder changes (gain, offset, gamma) the model takes in its stride
    for joint in BLANK:
        _rewrite(batch / xray[joint], lambda a, top: np.full_like(a, np.median(a)))
    for joint in NOISE:
        _rewrite(batch / xray[joint], lambda a, top: rng.uniform(0, top, a.shape))
    for joint, change in zip(CHANGED, changes):
        _rewrite(batch / xray[joint], change)


@pytest.fixture(scope="module")
def predicted(tmp_path_factory):
    """An ssl model trained on a small campaign, and `mawis predict` of a fresh 40-joint batch in which
    some X-rays are blank or noise (cannot be measured) and some strongly changed (out of distribution)."""
    root = tmp_path_factory.mktemp("abstention")
    campaign, _ = make_batch(root, "campaign", joints=120, seed=21, label_fraction=1.0)
    dataset = ingest_batch(campaign, root / "dataset", IngestConfig(workers=2)).dataset_dir
    encoder = pretrain(dataset, root / "encoder", PretrainConfig(epochs=1, batch_size=32, device="cpu")).out_dir
    registry = Registry(root / "models")
    train_model(dataset, TINY, encoder_dir=encoder, registry=registry)
    batch, _ = make_batch(root, "batch", joints=40, seed=22, label_fraction=0.0)
    _tamper(batch)
    out = root / "pred"
    return {"batch": batch, "campaign": campaign, "out": out, "registry": registry,
            "code": main(["predict", str(batch), "--registry", str(registry.root), "--out", str(out),
                          "--required-cycles", str(REQUIRED)])}


def test_untold_joints_are_never_in_a_confident_class(predicted):
    out = predicted["out"]
    assert predicted["code"] == 0
    csv = pd.read_csv(out / "predictions.csv", keep_default_na=False)
    parquet = pd.read_parquet(out / "predictions.parquet")
    assert list(csv.columns) == list(parquet.columns) == list(TABLE_COLUMNS)
    assert csv["joint_id"].tolist() == parquet["joint_id"].tolist()
    for table in (csv, parquet):
        table = table.set_index("joint_id")
        assert set(table["risk_class"]) <= set(RISKS) | {CANNOT_TELL}
        tampered = table.loc[list(TAMPERED)]
        unmeasured = table.loc[list(BLANK + NOISE)]
        assert (unmeasured["risk_class"] == CANNOT_TELL).all(), unmeasured[["risk_class", "reason"]]
        # how many strongly changed X-rays the out-of-distribution score catches is the drift check's
        # sensitivity, not abstention's: most are caught, and every caught one is untold (below)
        assert (table.loc[list(CHANGED), "risk_class"] == CANNOT_TELL).sum() >= 2, tampered[["risk_class", "reason"]]
        for joint in NEW_PACKAGE:
            assert table.at[joint, "risk_class"] == CANNOT_TELL
            assert "package QFN-99 is not in the model's training data" in table.at[joint, "reason"]
        for joint in BLANK + NOISE:
            assert table.at[joint, "reason"].startswith("could not be measured (X-ray): "), table.at[joint, "reason"]
            assert not table.at[joint, "measurable"]
        # the class follows the reason, everywhere: every OOD or unmeasurable joint, and nothing else
        untold = table["risk_class"] == CANNOT_TELL
        assert (untold == (table["reason"] != "")).all()
        assert untold[table["ood"].astype(bool)].all() and untold[~table["measurable"].astype(bool)].all()
        ood = table[table["ood"].astype(bool)]
        assert ood["reason"].str.contains(r"out of distribution \(score \d+\.\d\d > threshold \d+\.\d\d\)").all()
        # the predicted value is still there, for information
        assert np.isfinite(tampered["predicted_cycles"].astype(float)).all()
    # a joint whose every image was quarantined has no prediction, and is still listed, untold
    gone = _gone(pd.read_csv(predicted["batch"] / "manifest.csv"))
    row = parquet.set_index("joint_id").loc[gone]
    assert row["risk_class"] == CANNOT_TELL and row["reason"].startswith("no usable image: ") and "empty file" in row["reason"]
    assert not np.isfinite(float(row["predicted_cycles"])) and not row["measurable"]
    # some strongly changed joint was measurable but out of distribution, so both kinds are exercised
    assert (parquet["ood"] & parquet["measurable"] & parquet["joint_id"].isin(CHANGED)).any(), parquet
    # without the class, untold joints would have been counted as confident (mostly low: green)
    confident = risk_classes(parquet["lower_cycles"].to_numpy(), parquet["predicted_cycles"].to_numpy(), REQUIRED)
    assert (confident[parquet["risk_class"].to_numpy() == CANNOT_TELL] == "low").any()


def test_every_input_image_that_was_not_measured_makes_its_joint_untold(predicted):
    """Cross-check against the images table of the ingested data set: measure_status / measure_reason."""
    out = predicted["out"]
    images = load_dataset(out / "dataset").images.set_index("image_id")
    table = pd.read_parquet(out / "predictions.parquet")
    checked = 0
    for row in table.itertuples():
        for image, word in ((row.xray_image_id, "X-ray"), (row.micrograph_image_id, "cross-section")):
            if pd.isna(image) or str(images.at[image, "measure_status"]) == "ok":
                continue
            checked += 1
            assert row.risk_class == CANNOT_TELL and not row.measurable
            assert f"could not be measured ({word}): {images.at[image, 'measure_reason']}" in row.reason
    assert checked >= len(BLANK + NOISE)


def test_counts_and_weibull_say_what_they_rest_on(predicted):
    out = predicted["out"]
    table = pd.read_parquet(out / "predictions.parquet")
    summary = json.loads((out / "prediction.json").read_text())
    n, untold = len(table), int((table["risk_class"] == CANNOT_TELL).sum())
    counts = summary["counts"]
    assert summary["version"] == FORMAT_VERSION == 2
    assert sum(counts["risk"].values()) == n == counts["joints"] == summary["batch"]["joints"]
    assert counts["risk"][CANNOT_TELL] == counts["cannot_tell"]["joints"] == untold >= len(TAMPERED)
    assert counts["trusted"] == n - untold == sum(counts["risk"][k] for k in RISKS)
    for risk in RISKS:
        assert counts["risk"][risk] == int((table["risk_class"] == risk).sum())
    assert counts["cannot_tell"]["ood"] == int(table["ood"].sum()) == counts["ood"]
    new = table["reason"].str.contains("is not in the model's training data")
    assert counts["cannot_tell"]["new_package"] == int(new.sum()) >= len(NEW_PACKAGE)
    # exactly the joints whose package the training campaign lacked (all its joints, not the drift sample)
    trained = set(pd.read_csv(predicted["campaign"] / "manifest.csv")["component"].dropna())
    assert set(table.loc[new, "joint_id"]) == set(table.loc[~table["component"].isin(trained), "joint_id"])
    measured_badly = table["reason"].str.contains("could not be measured")
    assert counts["cannot_tell"]["unmeasurable"] == int(measured_badly.sum())
    assert counts["unmeasurable"] == int((~table["measurable"]).sum()) == int(measured_badly.sum()) + 1  # + quarantined
    assert counts["cannot_tell"]["no_input_image"] == int(table["reason"].str.startswith("no usable").sum()) >= 1
    assert summary["weibull"]["n"] == n - untold  # the fit uses only trustworthy predictions
    assert summary["weibull_basis"] == {"joints": n - untold, "of": n, "cannot_tell": untold}
    for fit in summary["weibull_by_component"].values():
        assert fit["n"] <= n - untold
    gallery = summary["gallery"]
    assert any(g["risk_class"] == CANNOT_TELL and g["reason"] for g in gallery)
    assert [g["risk_class"] for g in gallery] == sorted((g["risk_class"] for g in gallery),
                                                         key=lambda r: r == CANNOT_TELL)  # trusted riskiest first


def test_the_report_says_first_how_many_cannot_be_told(predicted, open_in_chromium):
    out = predicted["out"]
    table = pd.read_parquet(out / "predictions.parquet")
    n, untold = len(table), int((table["risk_class"] == CANNOT_TELL).sum())
    page = (out / "lifetime_report.html").read_text(encoding="utf-8")
    lead = re.search(r'<p class="lead">(.*?)</p>', page, re.S).group(1)
    assert f"{untold} of the {n} joints" in lead and "cannot be told" in lead
    assert "could not be measured" in lead and "out of distribution" in lead
    new = int(table["reason"].str.contains("is not in the model's training data").sum())
    assert f"{new} are of a package the model was not trained on" in lead
    assert "1 has no usable input image" in lead  # the joint whose only image was quarantined
    green = lead.find("the requirement even at the low end")
    assert green == -1 or lead.index("cannot be told") < green  # before any green statement
    assert f"B10 from {n - untold} of {n} joints; {untold} cannot tell" in page
    assert f'<div class="v">{untold}</div><div class="l">cannot tell</div>' in page
    summary = page[page.index('<section id="summary"'):page.index("</section>")]
    if 2 * untold > n:
        assert 'class="alert"' in summary and "Most of this batch cannot be told" in summary
        assert '<div class="kpi low muted">' in summary  # no green tile dominating

    def tile(driver):
        return driver.execute_script("""
            const t = document.querySelector('.kpi.cannot'); const r = t.getBoundingClientRect();
            const s = getComputedStyle(t);
            return {visible: r.width > 0 && r.height > 0 && s.visibility === 'visible' && s.display !== 'none',
                    top: r.top, text: t.textContent};""")

    shot = open_in_chromium(out / "lifetime_report.html", name="abstention", inspect=tile,
                            counts=[".badge.cannot", "#risk tr.cannot", ".card.cannot", ".untold li"],
                            texts=["p.lead", ".untold h3"])
    assert shot.errors == [], shot.errors
    seen = shot.inspected
    assert seen["visible"] and seen["top"] < 900 and seen["text"].startswith(f"{untold}cannot tell"), seen
    assert "cannot be told" in shot.text("p.lead")[0]
    assert shot.text(".untold h3") == [f"Why {untold} joints cannot be told"]
    assert shot.count("#risk tr.cannot") == untold and shot.count(".card.cannot") >= 1
    assert shot.count(".untold li") >= 2
    assert shot.images and shot.images_loaded() == len(shot.images)


def test_abstention_reasons_from_the_images_table():
    """Unit: each cause, alone and together, from measure_status / measure_reason and the OOD flags."""
    joints = pd.DataFrame({"joint_id": ["A", "B", "C", "D", "E", "F"],
                           "xray_image_id": ["a", "b", None, None, "e", "f"],
                           "micrograph_image_id": [None, "b2", "c2", None, None, None]})
    images = pd.DataFrame({"image_id": ["a", "b", "b2", "c2", "e", "f"],
                           "measure_status": pd.array(["ok", "ok", "unmeasurable", "ok", "unmeasurable", None],
                                                      dtype="string"),
                           "measure_reason": pd.array(["", "", "too dark", "", "blank", None], dtype="string")})
    flags = np.array([False, False, False, False, True, False])
    scores = np.array([0.5, 0.7, np.nan, np.nan, 9.0, np.nan])
    causes, reasons, measurable = abstentions(joints, images, flags, scores, 2.5, "xray")
    assert reasons[0] == ""
    assert reasons[1] == "could not be measured (cross-section): too dark"
    assert reasons[2] == "no as-reflowed X-ray, which the model needs"
    assert reasons[3] == "no usable input image (no as-reflowed X-ray or cross-section)"
    assert reasons[4] == "could not be measured (X-ray): blank; out of distribution (score 9.00 > threshold 2.50)"
    assert reasons[5] == "could not be measured (X-ray): measure status missing"
    assert measurable.tolist() == [True, False, True, False, False, False]
    assert {k: v.tolist() for k, v in causes.items()} == {
        "unmeasurable": [False, True, False, False, True, True],
        "no_input_image": [False, False, False, True, False, False],
        "no_model_input": [False, False, True, False, False, False],
        "new_package": [False] * 6,
        "ood": [False, False, False, False, True, False]}
    # a features-only model (no encoder) does not need an X-ray
    _, reasons, _ = abstentions(joints, images, flags, scores, 2.5, None, input_max_cycles=100)
    assert reasons[2] == ""
    assert reasons[3] == "no usable input image (no X-ray or cross-section at or before 100 cycles)"
    classes = risk_classes(np.array([900.0] * 6), np.array([2000.0] * 6), 500.0, reasons)
    assert classes.tolist() == ["low", CANNOT, "low", CANNOT, CANNOT, CANNOT]


def test_a_package_the_model_was_not_trained_on_cannot_be_told():
    """Unit: a family-wide offset in life is invisible to an OOD score fitted on the training families,
    so the package name decides (trimmed, any case); missing names and models trained without the
    column decide nothing."""
    names = ["LED-3030", " led-3030 ", "QFN-16", "", "nan", None, pd.NA, np.nan]
    joints = pd.DataFrame({"joint_id": list("ABCDEFGH"), "xray_image_id": list("abcdefgh"),
                           "micrograph_image_id": [None] * 8,
                           "component": pd.array(names, dtype="object")})
    images = pd.DataFrame({"image_id": list("abcdefgh"), "measure_status": ["ok"] * 8, "measure_reason": [""] * 8})
    for stored in (pd.Series(names, dtype="object"), pd.Series(names, dtype="string")):
        joints["component"] = stored
        known = known_components({"dataset": {"components": ["LED-3030", "nan"]}})
        assert known == frozenset({"led-3030"})
        flags, scores = np.zeros(8, bool), np.zeros(8)
        causes, reasons, _ = abstentions(joints, images, flags, scores, 2.5, "xray", known=known)
        assert reasons == ["", "", "package QFN-16 is not in the model's training data"] + [""] * 5
        assert causes["new_package"].tolist() == [False, False, True] + [False] * 5
        _, reasons, _ = abstentions(joints, images, flags, scores, 2.5, "xray", known=None)
        assert reasons == [""] * 8
    # what was recorded at training wins over the drift reference (a sample of boards); else the reference
    reference = pd.DataFrame({"component": ["LED-3030", None, "unknown"]})
    assert known_components({"dataset": {"components": ["LED-3030", "R0201"]}}, reference) == {"led-3030", "r0201"}
    assert known_components({}, reference) == frozenset({"led-3030"})
    assert known_components({"dataset": {"components": []}}, reference) is None
    assert known_components({}, None) is None
