"""The simulator writes contract-v1 batches whose images agree with their ground truth."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from mawis.batch.contract import validate_batch
from mawis.batch.images import read_image, to_unit_float
from mawis.sim import CampaignConfig, load_machines, simulate_batch

from .conftest import fail_after, make_batch

MACHINES = ("xr-a", "xr-b", "xr-c")


@pytest.mark.parametrize("machine", MACHINES)
def test_batch_conforms_to_contract_v1(batches, machine):
    batch, _ = batches[machine]
    assert validate_batch(batch) == []
    manifest = pd.read_csv(batch / "manifest.csv")
    assert set(manifest["modality"]) == {"xray", "micrograph"}
    assert manifest["image_id"].is_unique
    assert (batch / "measurements.csv").is_file() and (batch / "lifetimes.csv").is_file()


@pytest.mark.parametrize("machine", MACHINES)
def test_truth_is_kept_outside_the_batch(batches, machine):
    batch, truth = batches[machine]
    assert not truth.resolve().is_relative_to(batch.resolve())
    assert not list(batch.rglob("masks")) and not (batch / "joints.csv").exists()
    for name in ("joints.csv", "images.csv", "campaign.json"):
        assert (truth / name).is_file()


@pytest.mark.parametrize("machine", MACHINES)
def test_stations_write_their_own_pixel_size_and_format(batches, machine):
    """Each board gets its own magnification within the station's range (one pixel size per
    board, not per station); format and bit depth are the station's."""
    batch, _ = batches[machine]
    station = load_machines()[machine].xray
    manifest = pd.read_csv(batch / "manifest.csv", keep_default_na=False)
    xray = manifest[manifest["modality"] == "xray"]
    lo, hi = station.pixel_range
    assert xray["pixel_size_um"].between(lo - 1e-3, hi + 1e-3).all()
    assert (xray.groupby("board_id")["pixel_size_um"].nunique() == 1).all(), "one magnification per board"
    pixels = read_image(batch / xray["path"].iloc[0])
    assert pixels.dtype == (np.uint16 if station.bit_depth == 16 else np.uint8)
    if station.layout == "panel":
        assert (xray["path"].value_counts() > 1).any(), "panel images hold several joints"
        assert xray[["x", "y", "w", "h"]].ne("").all().all()


def _xray_rows(batch, truth):
    manifest = pd.read_csv(batch / "manifest.csv", keep_default_na=False)
    images = pd.read_csv(truth / "images.csv")
    rows = manifest[manifest["modality"] == "xray"].merge(
        images[["image_id", "mask_path"]].assign(true_pixel_um=images["pixel_size_um"]), on="image_id")
    return rows


def _crop(pixels, row):
    if str(row.get("w", "")).strip():
        x, y, w, h = (int(row[c]) for c in ("x", "y", "w", "h"))
        return pixels[y:y + h, x:x + w]
    return pixels


def _local_contrast(image, mask):
    """Mean brightness of the voids minus that of the solder right around them (a ring a few
    pixels wide): lead frames, bodies and wires over part of a joint do not enter."""
    import cv2

    void = (mask == 255).astype(np.uint8)
    ring = cv2.dilate(void, np.ones((7, 7), np.uint8)).astype(bool) & (mask == 128)
    return image[void.astype(bool)].mean() - image[ring].mean()


@pytest.mark.parametrize("machine", MACHINES)
def test_xray_void_masks_match_truth_and_image(batches, machine):
    """Mask void share tracks the true void fraction; voids are brighter than solder in the image."""
    batch, truth = batches[machine]
    joints = pd.read_csv(truth / "joints.csv").set_index("joint_id")
    rows = _xray_rows(batch, truth)
    errors, contrasts = [], []
    for _, row in rows[rows["cycles"] == 0].iterrows():
        mask = read_image(truth / row["mask_path"])
        image = to_unit_float(_crop(read_image(batch / row["path"]), row))
        assert mask.shape == image.shape, "mask must share the image (ROI) grid"
        assert set(np.unique(mask)) <= {0, 64, 128, 255}   # 64: solder over a filled via
        solder, void = mask > 0, mask == 255
        # rasterising at coarser pixels blurs small voids; the tolerance grows with pixel size
        error = void.sum() / solder.sum() - joints.at[row["joint_id"], "void_fraction"]
        errors.append(abs(error) / row["true_pixel_um"])
        if void.sum() > 30:
            contrasts.append(_local_contrast(image, mask))
    assert np.mean(errors) < 0.0006, f"mean |mask - truth| void fraction per um of pixel {np.mean(errors):.5f}"
    assert contrasts and min(contrasts) > 0, f"voids must show brighter than solder, contrasts {contrasts}"


@pytest.mark.parametrize("machine", MACHINES)
def test_fine_xray_masks_refine_the_detector_grid(batches, machine):
    """The fine truth subdivides each detector pixel evenly, is closer to the true void
    fraction than the detector-grid mask, and agrees with it once pixelated."""
    import cv2

    _, truth = batches[machine]
    joints = pd.read_csv(truth / "joints.csv").set_index("joint_id")
    images = pd.read_csv(truth / "images.csv")
    fine_errors, coarse_errors = [], []
    for _, row in images[(images["modality"] == "xray") & (images["cycles"] == 0)].iterrows():
        fine, coarse = read_image(truth / row["fine_mask_path"]), read_image(truth / row["mask_path"])
        factor = row["pixel_size_um"] / row["fine_mask_pixel_um"]   # the board's own magnification
        assert factor == pytest.approx(round(factor)) and round(factor) == row["fine_factor"]
        factor = round(factor)
        assert fine.shape == tuple(n * factor for n in coarse.shape)
        cover = cv2.resize((fine == 255).astype(np.float32), coarse.shape[::-1], interpolation=cv2.INTER_AREA)
        assert ((cover >= 0.5) != (coarse == 255)).mean() < 0.01
        true = joints.at[row["joint_id"], "void_fraction"]
        fine_errors.append(abs((fine == 255).sum() / (fine > 0).sum() - true))
        coarse_errors.append(abs((coarse == 255).sum() / (coarse > 0).sum() - true))
    assert np.mean(fine_errors) < 0.002 and np.mean(fine_errors) <= np.mean(coarse_errors)


def test_micrograph_crack_masks_match_truth(batches):
    batch, truth = batches["xr-a"]
    images = pd.read_csv(truth / "images.csv")
    joints = pd.read_csv(truth / "joints.csv").set_index("joint_id")
    micro = images[images["modality"] == "micrograph"]
    assert len(micro) > 3
    lo, hi = load_machines()["xr-a"].microscope.pixel_range
    cracked = 0
    for _, row in micro.iterrows():
        mask = read_image(truth / row["mask_path"])
        pixel = row["pixel_size_um"]   # magnification per sample
        assert lo <= pixel <= hi
        crack_columns = (mask == 255).any(axis=0).sum() * pixel
        width = joints.at[row["joint_id"], "width_um"]
        assert crack_columns / width == pytest.approx(row["crack_fraction"], abs=0.02)
        cracked += row["crack_fraction"] > 0
        rgb = read_image(batch / f"{row['path']}")
        assert rgb.ndim == 3 and rgb.shape[:2] == mask.shape
    assert cracked > 0, "some cross-sections must show a fatigue crack"


def test_micrograph_cracks_are_dark(batches):
    batch, truth = batches["xr-a"]
    images = pd.read_csv(truth / "images.csv")
    row = images[(images["modality"] == "micrograph")].sort_values("crack_fraction").iloc[-1]
    mask = read_image(truth / row["mask_path"])
    gray = read_image(batch / row["path"]).mean(axis=2)
    assert gray[mask == 255].mean() < gray[mask == 96].mean() - 40


def test_same_seed_repeats_and_other_seed_differs(tmp_path):
    def digest(batch):
        h = hashlib.sha256()
        for path in sorted(p for p in batch.rglob("*") if p.is_file()):
            h.update(path.relative_to(batch).as_posix().encode())
            h.update(path.read_bytes())
        return h.hexdigest()

    first = make_batch(tmp_path, "a", joints=16, workers=1)
    again = make_batch(tmp_path, "b", joints=16, workers=2)   # worker count must not matter
    other = make_batch(tmp_path, "c", joints=16, seed=8)
    for part in (0, 1):  # the batch, then its truth
        assert digest(first[part]) == digest(again[part])
        assert digest(first[part]) != digest(other[part])


def test_label_fraction_controls_cycled_boards(tmp_path):
    batch, truth = make_batch(tmp_path, "none", joints=24, label_fraction=0.0, micrographs=False)
    assert not (batch / "measurements.csv").exists() and not (batch / "lifetimes.csv").exists()
    manifest = pd.read_csv(batch / "manifest.csv")
    assert set(manifest["cycles"]) == {0} and set(manifest["modality"]) == {"xray"}


def test_short_test_censors_at_its_end(tmp_path):
    end = 1800
    batch, truth = make_batch(tmp_path, "short", joints=48, end_cycles=end, label_fraction=1.0)
    manifest = pd.read_csv(batch / "manifest.csv")
    readings = pd.read_csv(batch / "measurements.csv")
    lifetimes = pd.read_csv(batch / "lifetimes.csv")
    assert manifest["cycles"].max() <= end and readings["cycles"].max() <= end
    assert lifetimes["cycles_to_failure"].max() <= end
    censored = lifetimes[lifetimes["censored"] == 1].merge(pd.read_csv(truth / "joints.csv"), on="joint_id")
    assert (censored["cycles_to_failure_y"] >= censored["cycles_to_failure_x"]).all()


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    import mawis.sim.simulate as sim

    fail_after(monkeypatch, sim, "_render_task", calls=1)
    with pytest.raises(KeyboardInterrupt):
        simulate_batch(CampaignConfig(joints=10, seed=1, workers=1), tmp_path / "batch")
    assert list(tmp_path.iterdir()) == []


def _noise_and_edge(machine):
    """Quantum-noise level and solder-edge width (um) of one station on the same joint and pose."""
    import cv2

    from mawis.sim import VoidModel, load_components
    from mawis.sim.geometry import sample_joint_geometry
    from mawis.sim.xray import Pose, render_xray, sample_scene

    geom = sample_joint_geometry(np.random.default_rng(0), load_components()["LED-3535"], VoidModel(), 0.0)
    scene, pose = sample_scene(np.random.default_rng(1), geom), Pose((0.0, 0.0), 0.0)
    station = load_machines()[machine].xray
    a, labels, *_ = render_xray(geom, scene, station, np.random.default_rng(2), pose)
    b = render_xray(geom, scene, station, np.random.default_rng(3), pose).signal
    high_pass = lambda img: img - cv2.GaussianBlur(img, (0, 0), 3)  # noqa: E731
    noise = float(np.std(high_pass(a) - high_pass(b)) / np.sqrt(2) / a.mean())
    centre = a.shape[0] // 2
    row = a[centre - 8:centre + 8].mean(axis=0)  # edges are vertical at zero rotation
    contrast = np.percentile(row, 95) - np.percentile(row, 5)
    edge_um = float(contrast / np.abs(np.diff(row)).max() * station.pixel_size_um)
    return noise, edge_um


def test_stations_differ_in_noise_and_blur():
    noise_a, edge_a = _noise_and_edge("xr-a")
    noise_b, edge_b = _noise_and_edge("xr-b")
    assert noise_b > 1.3 * noise_a, (noise_a, noise_b)
    assert edge_b > 1.3 * edge_a, (edge_a, edge_b)
