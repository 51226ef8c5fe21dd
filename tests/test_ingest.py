"""`mawis ingest`: aligned crops, labels and a data set that later stages can load."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mawis.cli import main
from mawis.imaging.align import DEFAULT_ALIGNMENT, align_image, align_mask
from mawis.ingest.config import IngestConfig, load_ingest_config
from mawis.ingest.dataset import load_dataset
from mawis.ingest.pipeline import ingest_batch
from mawis.sim import VoidModel, load_components, load_machines
from mawis.sim.geometry import sample_joint_geometry
from mawis.sim.xray import Pose, quantise, render_xray, sample_scene

from .conftest import assert_one_error_line, fail_after

CONFIG = IngestConfig(workers=2)


@pytest.fixture(scope="module")
def datasets(batches, tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    return {m: ingest_batch(batches[m][0], root / m, CONFIG).dataset_dir for m in ("xr-a", "xr-c")}


def test_same_joint_from_4_and_9_um_stations_gives_matching_crops():
    """Sampling-rate alignment: same size in pixels, and the pad outlines overlap."""
    spec = DEFAULT_ALIGNMENT["xray"]
    ious = []
    for seed in range(6):
        geom = sample_joint_geometry(np.random.default_rng(seed), load_components()["LED-3535"], VoidModel(), 0.1)
        scene = sample_scene(np.random.default_rng(seed + 100), geom)
        masks = []
        for k, machine in enumerate(("xr-a", "xr-b")):
            station = load_machines()[machine].xray
            pose = Pose((20.0 * (-1) ** k, -15.0 * (-1) ** k), 1.5 * k)   # placed differently on each station
            signal, labels, *_ = render_xray(geom, scene, station, np.random.default_rng(seed), pose)
            crop, centre = align_image(quantise(signal, station.bit_depth), station.pixel_size_um, spec)
            assert crop.shape == (spec.crop_height, spec.crop_width) and crop.dtype == np.uint16
            masks.append(align_mask(labels > 0, station.pixel_size_um, spec, centre))
        ious.append((masks[0] & masks[1]).sum() / (masks[0] | masks[1]).sum())
    assert min(ious) > 0.88, ious


def test_dataset_tables_and_crops(datasets, batches):
    ds = load_dataset(datasets["xr-a"])
    manifest = pd.read_csv(batches["xr-a"][0] / "manifest.csv")
    assert len(ds.images) == len(manifest) and set(ds.images["image_id"]) == set(manifest["image_id"])
    for modality, spec in DEFAULT_ALIGNMENT.items():
        rows = ds.images[ds.images["modality"] == modality]
        crops = ds.crops(modality)
        assert isinstance(crops, np.memmap) and crops.shape == (len(rows), spec.crop_height, spec.crop_width)
        assert sorted(rows["crop_index"]) == list(range(len(rows)))
        assert (rows["canonical_pixel_size_um"] == spec.pixel_size_um).all()
    xray = ds.images[ds.images["modality"] == "xray"]
    assert (xray["source_pixel_size_um"] == 4.0).all() and (xray["source_bit_depth"] == 16).all()
    assert "inspection" in ds.images.columns, "extra manifest columns are kept"
    labelled = ds.images.dropna(subset=["cycles_to_failure"])
    assert len(labelled) > 0 and labelled["censored"].dtype == "boolean"
    report = json.loads((datasets["xr-a"] / "ingest_report.json").read_text())
    assert report["images_ingested"] == len(manifest) and report["quarantined"] == []
    assert report["timings"]["images_per_second"] > 0


@pytest.mark.parametrize("machine", ["xr-a", "xr-c"])
def test_crops_are_centred_on_the_whole_joint(datasets, batches, machine):
    """The crop centre sits on the solder (not pulled to the copper trace) and the joint is inside."""
    from mawis.batch.images import read_image

    ds = load_dataset(datasets[machine])
    truth_images = pd.read_csv(batches[machine][1] / "images.csv").set_index("image_id")
    xray = ds.images[ds.images["modality"] == "xray"]
    if machine == "xr-c":
        assert xray["roi_w"].notna().all() and xray["path"].duplicated().any()
    spec = DEFAULT_ALIGNMENT["xray"]
    offsets = []
    for _, row in xray.iterrows():
        mask = read_image(batches[machine][1] / truth_images.at[row["image_id"], "mask_path"]) > 0
        solder = align_mask(mask, row["source_pixel_size_um"], spec, (row["crop_centre_row"], row["crop_centre_col"]))
        rows, cols = np.nonzero(solder)
        offsets.append(np.hypot(rows.mean() - (spec.crop_height - 1) / 2, cols.mean() - (spec.crop_width - 1) / 2))
        assert not (solder[0].any() or solder[-1].any() or solder[:, 0].any() or solder[:, -1].any())
    assert np.median(offsets) < 1.5 and max(offsets) < 5, (np.median(offsets), max(offsets))


def test_labels_in_dataset_agree_with_truth(datasets, batches):
    ds = load_dataset(datasets["xr-a"])
    truth = pd.read_csv(batches["xr-a"][1] / "joints.csv").set_index("joint_id")
    labels = ds.labels.set_index("joint_id")
    censored, failed = labels[labels["censored"]], labels[~labels["censored"]]
    assert len(censored) > 0 and len(failed) > 0
    assert (truth.loc[censored.index, "cycles_to_failure"] >= censored["cycles_to_failure"]).all()
    interval = json.loads((batches["xr-a"][1] / "campaign.json").read_text())["reading_interval_cycles"]
    error = (failed["cycles_to_failure"] - truth.loc[failed.index, "cycles_to_failure"]).abs()
    assert error.max() < 2 * interval and (error <= interval).mean() > 0.9
    unlabelled = set(truth.index[~truth["cycled"]])
    assert not unlabelled & set(labels.index), "production joints never get a made-up label"


def test_reingest_is_identical_and_needs_overwrite(batches, tmp_path, capsys):
    batch = batches["xr-a"][0]
    first = ingest_batch(batch, tmp_path / "one", CONFIG).dataset_dir
    second = ingest_batch(batch, tmp_path / "two", IngestConfig(workers=1)).dataset_dir
    for name in ("images.parquet", "labels.parquet", "crops_xray.npy", "crops_micrograph.npy", "dataset.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    code = main(["ingest", str(batch), "--out", str(first)])
    assert code == 4 and "--overwrite" in capsys.readouterr().err
    assert main(["ingest", str(batch), "--out", str(first), "--overwrite"]) == 0


def test_config_file_changes_canonical_sampling(batches, tmp_path):
    toml = tmp_path / "ingest.toml"
    toml.write_text("[xray]\npixel_size_um = 8.0\ncrop_height = 64\ncrop_width = 64\n"
                    "[thresholds]\ncrack_fraction = 0.3\n")
    config = load_ingest_config(toml, workers=2)
    ds = load_dataset(ingest_batch(batches["xr-a"][0], tmp_path / "ds", config).dataset_dir)
    assert ds.crops("xray").shape[1:] == (64, 64)
    default = load_dataset(ingest_batch(batches["xr-a"][0], tmp_path / "ds0", CONFIG).dataset_dir)
    failed = lambda d: (~d.labels["censored"]).sum()  # noqa: E731
    assert failed(ds) > failed(default), "a lower crack threshold finds failures earlier, so more of them"


def test_interrupted_ingest_leaves_nothing(batches, tmp_path, monkeypatch):
    import mawis.ingest.pipeline as pipeline

    fail_after(monkeypatch, pipeline, "_process_file", calls=3)
    with pytest.raises(KeyboardInterrupt):
        ingest_batch(batches["xr-a"][0], tmp_path / "ds", IngestConfig(workers=1))
    assert list(tmp_path.iterdir()) == []


def test_overwrite_never_replaces_a_foreign_folder(batches, tmp_path, capsys):
    import shutil

    parent = tmp_path / "parent"
    batch = shutil.copytree(batches["xr-a"][0], parent / "batch")
    (parent / "important.txt").write_text("keep me")
    code = main(["ingest", str(batch), "--out", str(parent), "--overwrite"])
    assert code == 2 and "overlap" in capsys.readouterr().err
    other = tmp_path / "notes"
    other.mkdir()
    (other / "a.txt").write_text("keep me too")
    code = main(["ingest", str(batch), "--out", str(other), "--overwrite"])
    assert code == 2 and "does not look like an earlier output" in capsys.readouterr().err
    assert (parent / "important.txt").exists() and (other / "a.txt").exists() and (batch / "manifest.csv").exists()


@pytest.mark.parametrize("text, message", [
    ("[xray]\ncrop_height = \"128\"\n", "[xray] crop_height must be an integer"),
    ("[xray]\ncrop_height = 100000\n", "[xray] crop_height must be an integer in [8, 4096]"),
    ("[xray]\ncentre_on = \"nose\"\n", "centre_on must be one of dark_blob, frame"),
    ("[thresholds]\ncrack_fraction = \"0.3\"\n", "[thresholds] crack_fraction must be a number"),
    ("min_side_px = \"big\"\n", "min_side_px must be an integer"),
    ("max_image_pixels = 10\n", "max_image_pixels must be an integer in [64, 10000000000]"),
    ("[xray\n", "not valid TOML"),
    ("[ct]\npixel_size_um = 1\n", "unknown section(s) ct"),
])
def test_bad_config_file_gives_one_line(batches, tmp_path, capsys, text, message):
    toml = tmp_path / "bad.toml"
    toml.write_text(text)
    code = main(["ingest", str(batches["xr-a"][0]), "--out", str(tmp_path / "ds"), "--config", str(toml)])
    assert code == 2
    assert_one_error_line(capsys.readouterr().err, message)
    assert not (tmp_path / "ds").exists()


def test_the_image_size_limit_is_configurable(batches, tmp_path, capsys):
    toml = tmp_path / "small.toml"
    toml.write_text("max_image_pixels = 1000\n")
    code = main(["ingest", str(batches["xr-a"][0]), "--out", str(tmp_path / "ds"), "--config", str(toml)])
    err = capsys.readouterr().err.strip().splitlines()  # the progress bar, then the error
    errors = [line for line in err if line.startswith("error: ")]
    assert code == 2 and errors == err[-1:]
    assert "no usable image" in errors[0] and "is more than the limit of 1,000 pixels (max_image_pixels)" in errors[0]
    assert not (tmp_path / "ds").exists()
