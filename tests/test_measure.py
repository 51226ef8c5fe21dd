"""Void and crack measurement: accuracy against the virtual lab's truth, unmeasurable
input, acceptance rules, and the `mawis measure` export."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mawis.cli import main
from mawis.imaging.locate import LocateSettings
from mawis.ingest.config import IngestConfig, recorded_measure_settings
from mawis.ingest.dataset import load_dataset
from mawis.ingest.pipeline import ingest_batch
from mawis.measure.pipeline import MICROGRAPH_COLUMNS, XRAY_COLUMNS, measure_dataset, measure_region
from mawis.measure.rules import load_rules
from mawis.measure.validation import compare_micrographs, compare_xray, summarise

from .conftest import assert_one_error_line


@pytest.fixture(scope="module")
def measured(batches, tmp_path_factory):
    root = tmp_path_factory.mktemp("measured")
    return {m: ingest_batch(batches[m][0], root / m, IngestConfig(workers=2)).dataset_dir for m in batches}


# Levels measured on the validation campaigns (bench/validate_measurement.py, seed 202) are in
# the README; on these 48-joint batches of every development family (seed 7) mawis measured
# MAE 1.49 / 1.45 / 1.38 pp and IoU 0.69 / 0.58 / 0.62, Otsu 21.6-22.7 pp. The bounds leave room
# for the small batches while still failing on a broken analysis.
BOUNDS = {"xr-a": (2.2, 0.6), "xr-b": (2.5, 0.48), "xr-c": (2.2, 0.52)}


@pytest.mark.parametrize("machine", ["xr-a", "xr-b", "xr-c"])
def test_measurement_tracks_truth_and_beats_otsu(measured, batches, machine):
    truth = batches[machine][1]
    scores = summarise(compare_xray(measured[machine], truth), compare_micrographs(measured[machine], truth))
    max_mae, min_iou = BOUNDS[machine]
    assert scores["unmeasurable"] == 0
    assert scores["mawis_void_mae_pp"] < max_mae, scores
    assert scores["mawis_void_iou"] > min_iou, scores
    assert scores["mawis_crack_mae"] < 0.08, scores  # 14 cross-sections here; about 0.01 on these
    assert scores["mawis_void_mae_pp"] < 0.5 * scores["otsu_void_mae_pp"]
    assert scores["mawis_void_iou"] > scores["otsu_void_iou"] + 0.2
    assert scores["mawis_crack_mae"] < 0.5 * scores["otsu_crack_mae"]


def test_ingest_adds_metric_columns(measured):
    images = load_dataset(measured["xr-a"]).images
    assert (images["measure_status"] == "ok").all()
    xray = images[images["modality"] == "xray"]
    micro = images[images["modality"] == "micrograph"]
    assert xray[list(XRAY_COLUMNS)].notna().all().all()
    assert micro[[c for c in MICROGRAPH_COLUMNS if c != "crack_start"]].notna().all().all()
    assert ((xray["void_fraction"] >= 0) & (xray["void_fraction"] <= 1)).all()
    assert (xray["largest_void_fraction"] <= xray["void_fraction"] + 1e-9).all()


def _cases(shape):
    rng = np.random.default_rng(0)
    return {
        "blank": np.zeros(shape, np.uint16),
        "saturated": np.full(shape, 65535, np.uint16),
        "noise": (rng.random(shape) * 65535).astype(np.uint16),
        "tiny": np.zeros((8, 8), np.uint16),
    }


@pytest.mark.parametrize("modality, shape, pixel_um", [("xray", (128, 128), 5.0), ("micrograph", (256, 640), 1.0)])
@pytest.mark.parametrize("case", ["blank", "saturated", "noise", "tiny"])
def test_unmeasurable_input_is_flagged_with_a_reason(modality, shape, pixel_um, case):
    region = _cases(shape)[case]
    result = measure_region(modality, region, pixel_um)
    assert result["measure_status"] == "unmeasurable" and result["measure_reason"]
    assert not any(isinstance(v, float) and np.isnan(v) for v in result.values())


def test_bad_images_in_a_batch_give_unmeasurable_rows_not_nan(batch_with_bad_images, tmp_path):
    ds = load_dataset(ingest_batch(batch_with_bad_images, tmp_path / "ds", IngestConfig(workers=1)).dataset_dir)
    bad = ds.images[ds.images["image_id"].str.startswith("BAD-")]
    assert len(bad) == 3 and (bad["measure_status"] == "unmeasurable").all()
    assert bad["measure_reason"].str.len().gt(0).all() and bad["void_fraction"].isna().all()
    table = pd.read_parquet(ds.root / "images.parquet")
    numeric = table.select_dtypes("number")
    assert not np.isinf(numeric.to_numpy(dtype=float, na_value=0.0)).any()


@pytest.fixture
def batch_with_bad_images(batches, tmp_path):
    import shutil

    import cv2

    batch = shutil.copytree(batches["xr-b"][0], tmp_path / "batch")
    manifest = pd.read_csv(batch / "manifest.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(1)
    images = {"blank": np.zeros((100, 100), np.uint8), "saturated": np.full((100, 100), 255, np.uint8),
              "noise": (rng.random((100, 100)) * 255).astype(np.uint8)}
    rows = []
    for name, pixels in images.items():
        cv2.imwrite(str(batch / f"{name}.png"), pixels)
        row = manifest.iloc[0].copy()
        row["image_id"], row["path"] = f"BAD-{name}", f"{name}.png"
        rows.append(row)
    pd.concat([manifest, pd.DataFrame(rows)]).to_csv(batch / "manifest.csv", index=False)
    return batch


def test_rules_component_specific_replaces_generic():
    rules = load_rules()
    led = {r.metric: r.max for r in rules.for_component("LED-3535")}
    other = {r.metric: r.max for r in rules.for_component("R1206")}
    assert led["void_fraction"] == 0.30 and other["void_fraction"] == 0.25
    verdict, failed, _ = rules.judge("R1206", {"void_fraction": 0.27, "largest_void_fraction": 0.05,
                                               "edge_void_fraction": 0.1, "crack_fraction": 0.1})
    assert verdict == "fail" and "total void area" in failed
    verdict, failed, unchecked = rules.judge("LED-3535", {"void_fraction": 0.27, "largest_void_fraction": 0.05,
                                                          "edge_void_fraction": 0.1})
    assert verdict == "pass" and failed == "" and "crack across the joint" in unchecked
    assert all(r.source for r in rules.rules)


def test_measure_exports_joints_with_verdicts(measured, tmp_path, capsys):
    out = tmp_path / "joints.csv"
    code = main(["measure", str(measured["xr-a"]), "--out", str(out), "--overlays", str(tmp_path / "ov")])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(out)
    images = load_dataset(measured["xr-a"]).images
    assert set(table["joint_id"]) == set(images["joint_id"])
    assert set(table["verdict"]) <= {"pass", "fail", "unchecked"} and (table["verdict"] == "fail").any()
    failing = table[table["verdict"] == "fail"]
    assert failing["failed_rules"].str.len().gt(0).all()
    assert len(list((tmp_path / "ov").glob("*.png"))) == len(images)


def test_measure_measures_a_data_set_ingested_without_measurement(measured, batches, tmp_path):
    from mawis.measure.export import measure

    bare = ingest_batch(batches["xr-a"][0], tmp_path / "bare", IngestConfig(workers=1, measure=False)).dataset_dir
    now = measure(bare, tmp_path / "now.csv").joints.set_index("joint_id")
    at_ingest = measure(measured["xr-a"], tmp_path / "ingest.csv").joints.set_index("joint_id")
    pd.testing.assert_frame_equal(now, at_ingest.loc[now.index], check_dtype=False)
    assert "measure_status" not in load_dataset(bare).images.columns or \
        load_dataset(bare).images["measure_status"].fillna("").eq("").all(), "the data set itself is left as it was"


def test_an_image_without_a_joint_is_unmeasurable_at_ingest_and_at_any_re_measure(batches, tmp_path):
    """Why no joint was found is kept with the image (``site_reason``), so measuring the stored
    regions again (after --no-measure) says the same. It once measured the fallback region
    instead: joints beyond the configured size range came out "ok" on a re-measure."""
    narrow = IngestConfig(workers=1, locate=LocateSettings(max_joint_um=300.0))  # xr-a's joints: 0.5-1.5 mm
    at_ingest = load_dataset(ingest_batch(batches["xr-a"][0], tmp_path / "m", narrow).dataset_dir)
    bare = load_dataset(ingest_batch(batches["xr-a"][0], tmp_path / "b", replace(narrow, measure=False)).dataset_dir)
    again = measure_dataset(bare.images, bare.region, recorded_measure_settings(bare.info["config"]))
    columns = ["image_id", "measure_status", "measure_reason"]
    pd.testing.assert_frame_equal(again[columns].reset_index(drop=True),
                                  at_ingest.images[columns].reset_index(drop=True), check_dtype=False)
    out_of_range = at_ingest.images["site_reason"].str.contains("beyond the configured range")
    assert out_of_range.mean() > 0.5
    assert (at_ingest.images.loc[out_of_range, "measure_status"] == "unmeasurable").all()
    assert (again.loc[out_of_range.to_numpy(), "measure_reason"].to_numpy()
            == at_ingest.images.loc[out_of_range, "site_reason"].to_numpy()).all()


def test_measure_reads_a_batch_and_custom_rules(batches, tmp_path, capsys):
    rules = tmp_path / "strict.toml"
    rules.write_text('version = "t1"\n[[rule]]\nname = "no voids"\nmetric = "void_fraction"\nmax = 0.0\n'
                     'components = ["*"]\nsource = "test"\n')
    out = tmp_path / "joints.csv"
    assert main(["measure", str(batches["xr-c"][0]), "--out", str(out), "--rules", str(rules), "--workers", "1"]) == 0
    table = pd.read_csv(out)
    assert (table["rules_version"] == "t1").all() and (table["verdict"] == "fail").mean() > 0.9


@pytest.mark.parametrize("text, message", [
    ("[[rule]]\nname = 'x'\nmetric = 'void_area'\nmax = 1\nsource = 's'\n", "unknown metric 'void_area'"),
    ("[[rule]]\nname = 'x'\nmetric = 'void_fraction'\nmax = 'a lot'\nsource = 's'\n", "max must be a number"),
    ("[[rule]]\nname = 'x'\nmetric = 'void_fraction'\n", "missing key(s) max, source"),
    ("version = 1\n", "no [[rule]] tables"),
])
def test_bad_rules_file_gives_one_line(measured, tmp_path, capsys, text, message):
    rules = tmp_path / "rules.toml"
    rules.write_text(text)
    code = main(["measure", str(measured["xr-a"]), "--out", str(tmp_path / "j.csv"), "--rules", str(rules)])
    assert code == 2
    assert_one_error_line(capsys.readouterr().err, message)
    assert not (tmp_path / "j.csv").exists()


def test_measure_never_overwrites_a_foreign_overlays_folder(measured, tmp_path, capsys):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.png").write_bytes(b"not ours")
    out = tmp_path / "joints.csv"
    code = main(["measure", str(measured["xr-a"]), "--out", str(out), "--overlays", str(foreign)])
    assert code == 2 and "does not look like an earlier output" in capsys.readouterr().err
    assert not out.exists() and (foreign / "holiday.png").read_bytes() == b"not ours"
    assert main(["measure", str(measured["xr-a"]), "--out", str(out), "--overlays", str(tmp_path / "ov")]) == 0
    assert main(["measure", str(measured["xr-a"]), "--out", str(out), "--overlays", str(tmp_path / "ov")]) == 0
