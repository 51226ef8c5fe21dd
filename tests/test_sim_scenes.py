"""X-ray scenes of the virtual lab: whole packages on boards, magnification per board, image
layouts with ROIs, and truth masks and boxes that agree with the images."""

from __future__ import annotations

import hashlib
import time

import cv2
import numpy as np
import pandas as pd
import pytest

from mawis.batch.contract import validate_batch
from mawis.batch.images import read_image, to_unit_float
from mawis.cli import main
from mawis.sim import load_components, load_machines
from mawis.sim.views import ROI_MARGIN, ROI_MAX_CUT

from .conftest import assert_one_error_line, make_batch

MIXED = ("QFN-16", "LED-3535", "R0201", "DPAK")


@pytest.fixture(scope="module")
def package_batch(tmp_path_factory):
    """One image per package (tight ROIs), families with vias in pads, the held-out QFN named."""
    # seed 18 puts all four families on the boards, one QFN complete
    return make_batch(tmp_path_factory.mktemp("scenes"), "pkg", machine="xr-d", families=MIXED, joints=44,
                      seed=18, label_fraction=0.5)


@pytest.fixture(scope="module")
def single_batch(tmp_path_factory):
    """One image per joint, neighbours in view."""
    return make_batch(tmp_path_factory.mktemp("scenes"), "single", machine="xr-f",
                      families=("LED-3535", "SOT-23", "R0402"), joints=32, label_fraction=0.5)


def _rows(batch, truth):
    manifest = pd.read_csv(batch / "manifest.csv", keep_default_na=False)
    images = pd.read_csv(truth / "images.csv")
    joints = pd.read_csv(truth / "joints.csv")
    xray = manifest[manifest["modality"] == "xray"].merge(
        images.drop(columns=["joint_id", "modality", "cycles", "path", "pixel_size_um"]), on="image_id")
    return xray.merge(joints[["joint_id", "package_id", "pad_role", "family"]], on="joint_id")


def _roi(row):
    if str(row["w"]).strip() if "w" in row else False:
        return tuple(int(row[c]) for c in ("x", "y", "w", "h"))
    return None


def _crop(pixels, row):
    roi = _roi(row)
    if roi is None:
        return pixels
    x, y, w, h = roi
    return pixels[y:y + h, x:x + w]


@pytest.mark.parametrize("which", ["package_batch", "single_batch"])
def test_batches_conform_and_truth_has_the_new_columns(request, which):
    batch, truth = request.getfixturevalue(which)
    assert validate_batch(batch) == []
    joints = pd.read_csv(truth / "joints.csv")
    for col in ("family", "package_id", "pad_index", "pad_role", "dnp_um", "held_out_family", "area_um2",
                "width_um", "length_um"):
        assert col in joints.columns and joints[col].notna().all(), col
    assert (joints["area_um2"] < joints["width_um"] * joints["length_um"]).all()
    images = pd.read_csv(truth / "images.csv")
    xray = images[images["modality"] == "xray"]
    for col in ("pixel_size_um", "joint_x", "joint_y", "joint_w", "joint_h", "joint_angle_deg", "held_out_station"):
        assert xray[col].notna().all(), col
    info = pd.read_json(truth / "campaign.json", typ="series")
    assert info["station"] in load_machines() and set(info["families"]) == set(joints["family"])


def test_masks_agree_with_images_voids_brighter_vias_darker(package_batch):
    batch, truth = package_batch
    rows = _rows(batch, truth)
    void_contrast, via_contrast = [], []
    for _, row in rows[rows["cycles"] == 0].iterrows():
        mask = read_image(truth / row["mask_path"])
        image = to_unit_float(_crop(read_image(batch / row["path"]), row))
        assert mask.shape == image.shape and set(np.unique(mask)) <= {0, 64, 128, 255}
        inner = cv2.erode((mask > 0).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        for value, out in ((255, void_contrast), (64, via_contrast)):
            feature = (mask == value).astype(np.uint8)
            if (feature.astype(bool) & inner).sum() < 30:
                continue
            ring = cv2.dilate(feature, np.ones((7, 7), np.uint8)).astype(bool) & (mask == 128) & inner
            if ring.sum() >= 20:
                out.append(image[feature.astype(bool) & inner].mean() - image[ring].mean())
    assert len(void_contrast) > 10 and np.mean(np.array(void_contrast) > 0) > 0.9, void_contrast
    assert len(via_contrast) >= 1 and max(via_contrast) < 0, "filled vias under the joint show darker"


@pytest.mark.parametrize("which", ["package_batch", "single_batch"])
def test_truth_box_holds_the_mask_and_roi_is_tight(request, which):
    batch, truth = request.getfixturevalue(which)
    rows = _rows(batch, truth)
    for _, row in rows.iterrows():
        mask = read_image(truth / row["mask_path"])
        fine = read_image(truth / row["fine_mask_path"])
        x, y, w, h = (int(row[c]) for c in ("joint_x", "joint_y", "joint_w", "joint_h"))
        inside = np.zeros(mask.shape, bool)
        inside[max(y, 0):y + h, max(x, 0):x + w] = True
        assert not ((mask > 0) & ~inside).any()
        f = int(row["fine_factor"])
        inside_fine = np.zeros(fine.shape, bool)
        inside_fine[max(y * f, 0):(y + h) * f, max(x * f, 0):(x + w) * f] = True
        assert not ((fine > 0) & ~inside_fine).any()
        roi = _roi(row)
        if roi is None:  # one joint per image: the whole joint is in view
            assert x >= 0 and y >= 0 and x + w <= mask.shape[1] and y + h <= mask.shape[0]
            continue
        # margins 0-20 % of the joint's size; a cut into the joint never more than 3 %
        left, top = x, y
        right, bottom = roi[2] - (x + w), roi[3] - (y + h)
        for margin, size in ((left, w), (right, w), (top, h), (bottom, h)):
            assert margin <= ROI_MARGIN[1] * size + 2, (row["image_id"], margin, size)
            assert margin >= -(ROI_MAX_CUT * size + 2), (row["image_id"], margin, size)


def test_each_joint_mask_holds_only_its_own_solder(package_batch):
    batch, truth = package_batch
    rows = _rows(batch, truth)
    for path, group in rows[rows["cycles"] == 0].groupby("path"):
        if len(group) < 2:
            continue
        shape = read_image(batch / path).shape
        taken = np.zeros(shape, bool)
        for _, row in group.iterrows():
            x, y, w, h = _roi(row)
            solder = np.zeros(shape, bool)
            solder[y:y + h, x:x + w] = read_image(truth / row["mask_path"]) > 0
            assert not (solder & taken).any(), f"{row['image_id']} overlaps a neighbour's solder"
            taken |= solder


def test_package_images_hold_every_pad_of_their_package(package_batch):
    batch, truth = package_batch
    rows = _rows(batch, truth)
    joints = pd.read_csv(truth / "joints.csv")
    pads = {name: c.pads_per_package for name, c in load_components().items()}
    complete = joints.groupby("package_id").filter(lambda g: len(g) == pads[g["family"].iloc[0]])["package_id"]
    assert complete.nunique() >= 3
    first = rows[(rows["cycles"] == 0) & rows["package_id"].isin(set(complete))]
    for path, group in first.groupby("path"):
        assert group["package_id"].nunique() == 1, "one package per image"
        assert len(group) == pads[group["family"].iloc[0]], path
    qfn = joints[joints["family"] == "QFN-16"]
    assert set(qfn["pad_role"]) == {"perimeter", "thermal"} and qfn["held_out_family"].all()


@pytest.mark.parametrize("which", ["package_batch", "single_batch"])
def test_magnification_differs_between_boards_within_the_station_range(request, which):
    batch, truth = request.getfixturevalue(which)
    manifest = pd.read_csv(batch / "manifest.csv")
    xray = manifest[manifest["modality"] == "xray"]
    per_board = xray.groupby("board_id")["pixel_size_um"]
    assert (per_board.nunique() == 1).all() and per_board.first().nunique() >= 2
    machine = load_machines()[pd.read_json(truth / "campaign.json", typ="series")["station"]]
    lo, hi = machine.xray.pixel_range
    assert xray["pixel_size_um"].between(lo - 1e-3, hi + 1e-3).all()
    images = pd.read_csv(truth / "images.csv")
    xi = images[images["modality"] == "xray"]
    assert (xi[["image_w", "image_h"]].max(axis=1) <= machine.xray.detector_px).all()
    # fine render step: pixel / ceil(pixel / 2 um), fewer subdivisions only on big images
    factor = np.ceil(xi["pixel_size_um"] / 2.0 - 1e-9)
    assert (xi["fine_factor"] <= factor).all()
    assert ((xi["fine_factor"] == factor) | (xi[["image_w", "image_h"]].max(axis=1) * factor > 2000)).all()


def test_single_views_are_off_centre_and_show_neighbours(single_batch):
    batch, truth = single_batch
    rows = _rows(batch, truth)
    offsets, crowded = [], []
    for _, row in rows[rows["cycles"] == 0].iterrows():
        image = to_unit_float(read_image(batch / row["path"]))
        mask = read_image(truth / row["mask_path"])
        cx = row["joint_x"] + row["joint_w"] / 2 - image.shape[1] / 2
        cy = row["joint_y"] + row["joint_h"] / 2 - image.shape[0] / 2
        offsets.append(np.hypot(cx, cy) / max(row["joint_w"], row["joint_h"]))
        # outside the joint and its own copper land: neighbouring pads, traces, vias, bodies, wires
        solder, board = np.median(image[mask == 128]), np.percentile(image, 95)
        k = int(40 / row["pixel_size_um"]) + 3
        around = cv2.dilate((mask > 0).astype(np.uint8), np.ones((2 * k + 1, 2 * k + 1), np.uint8)) == 0
        crowded.append((image[around] < solder + 0.5 * (board - solder)).mean())
    assert np.std(offsets) > 0.03 and max(offsets) > 0.08
    assert np.median(crowded) > 0.02, crowded


def test_held_out_items_are_simulated_only_on_request(batches, package_batch):
    for machine in ("xr-a", "xr-b", "xr-c"):
        joints = pd.read_csv(batches[machine][1] / "joints.csv")
        assert not joints["held_out_family"].any() and "QFN-16" not in set(joints["family"])
        images = pd.read_csv(batches[machine][1] / "images.csv")
        assert not images["held_out_station"].any()
    assert "QFN-16" in set(pd.read_csv(package_batch[1] / "joints.csv")["family"])


def test_cli_families_held_out_and_bad_names(tmp_path, capsys):
    out = tmp_path / "b"
    code = main(["simulate", str(out), "--joints", "6", "--seed", "2", "--workers", "1", "--held-out",
                 "--families", "R0201", "--machine", "xr-h", "--no-micrographs"])
    assert code == 0
    joints = pd.read_csv(tmp_path / "b-truth" / "joints.csv")
    assert set(joints["family"]) <= {"R0201", "QFN-16"}
    info = pd.read_json(tmp_path / "b-truth" / "campaign.json", typ="series")
    assert info["held_out_station"] and info["station"] == "xr-h"
    capsys.readouterr()
    for args, message in ((["--families", "R9999"], "unknown package family 'R9999'"),
                          (["--machine", "xr-z"], "unknown machine 'xr-z'"),
                          (["--families", ","], "--families names no family")):
        code = main(["simulate", str(tmp_path / "c"), "--joints", "4", *args])
        assert code == 2
        assert_one_error_line(capsys.readouterr().err, message)


def test_mixed_campaign_repeats_per_seed_whatever_the_worker_count(tmp_path):
    def digest(folder):
        h = hashlib.sha256()
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            h.update(path.relative_to(folder).as_posix().encode())
            h.update(path.read_bytes())
        return h.hexdigest()

    kwargs = dict(machine="xr-c", families=("LED-3535", "R0201", "SOT-23"), joints=18, joints_per_board=6)
    one = make_batch(tmp_path, "one", workers=1, **kwargs)
    two = make_batch(tmp_path, "two", workers=2, **kwargs)
    assert digest(one[0]) == digest(two[0]) and digest(one[1]) == digest(two[1])


def test_a_big_pad_renders_in_seconds():
    """One 8 mm power pad: the fine grid adapts (at most ~2500 px a side), no gigabytes."""
    from dataclasses import replace

    from mawis.sim import VoidModel
    from mawis.sim.board import build_board, sample_pad_scene
    from mawis.sim.geometry import sample_joint_geometry
    from mawis.sim.views import board_imaging, single_view
    from mawis.sim.xray import render_view, roi_labels

    components = load_components()
    comp = components["PM-PAD"]
    rng = np.random.default_rng(0)
    geom = sample_joint_geometry(rng, comp, VoidModel(), 0.1, comp.sites[0])
    geom = replace(geom, width_um=8000.0, length_um=8000.0)
    pads = [[(0, 0, geom, sample_pad_scene(rng, comp.pads[0], geom))]]
    board = build_board("B0001", comp, pads, np.random.default_rng(1), components, VoidModel(), 0.1)
    station = load_machines()["xr-f"].xray
    started = time.perf_counter()
    imaging = board_imaging(board, station, np.random.default_rng(2))
    view = single_view(board.packages[0].pads[0], imaging, station.detector_px, np.random.default_rng(3))
    render = render_view(board, view, station, np.random.default_rng(4), mu_scale=imaging.mu_scale,
                         labels_for=frozenset({0}))
    labels, fine, box = roi_labels(render.masks[0], (0, 0, view.width_px, view.height_px), render.factor)
    seconds = time.perf_counter() - started
    assert seconds < 10, seconds
    assert max(render.signal.shape) <= station.detector_px
    assert max(fine.shape) <= 2600 and (labels == 2).any()
    assert box[2] * view.pixel_um == pytest.approx(8000.0, rel=0.05)
