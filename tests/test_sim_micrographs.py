"""Cross-sections of the virtual lab: any joint width, off-centre joints, the component side of
each family, and images stored mirrored with the flip in the truth."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mawis.batch.images import read_image
from mawis.sim import VoidModel, load_components, load_machines
from mawis.sim.geometry import sample_joint_geometry
from mawis.sim.micrograph import SectionContext, render_micrograph
from mawis.sim.simulate import _section_context

from .conftest import make_batch

SOLDER = 1


def _joint(family: str, site: int = 0, seed: int = 0):
    comp = load_components()[family]
    return sample_joint_geometry(np.random.default_rng(seed), comp, VoidModel(), 0.08, comp.sites[site])


def _render(geom, scope, seed=1, context=None, pixel=None, crack=(60.0, 40.0)):
    return render_micrograph(geom, 0.0, crack[0], crack[1], scope, np.random.default_rng(seed), context=context,
                             pixel_um=pixel)


def test_mirrored_and_upside_down_sections_are_flipped_copies():
    geom = _joint("LED-3535")
    scope = load_machines()["xr-a"].microscope
    plain = _render(geom, replace(scope, mirror_prob=0.0, flip_prob=0.0), pixel=1.0)
    lr = _render(geom, replace(scope, mirror_prob=1.0, flip_prob=0.0), pixel=1.0)
    both = _render(geom, replace(scope, mirror_prob=1.0, flip_prob=1.0), pixel=1.0)
    assert not plain.mirrored_lr and lr.mirrored_lr and not lr.mirrored_ud and both.mirrored_ud
    assert np.array_equal(lr.rgb, plain.rgb[:, ::-1]) and np.array_equal(lr.labels, plain.labels[:, ::-1])
    assert np.array_equal(both.rgb, plain.rgb[::-1, ::-1]) and np.array_equal(both.labels, plain.labels[::-1, ::-1])
    x, y, w, h = plain.solder_box
    assert (plain.labels[y:y + h, x:x + w] > 0).any() and not (np.delete(plain.labels, np.s_[y:y + h], 0) > 0).any()
    # upside down: the component is at the bottom, the board's laminate at the top
    assert both.solder_box[1] == plain.rgb.shape[0] - (y + h)


def test_joints_are_not_centred_and_margins_are_resin_and_board():
    geom = _joint("R0402")
    scope = replace(load_machines()["xr-a"].microscope, mirror_prob=0.0, flip_prob=0.0)
    lefts, rights = [], []
    for seed in range(8):
        r = _render(geom, scope, seed=seed, pixel=1.0)
        x, _, w, _ = r.solder_box
        lefts.append(x * r.pixel_um)
        rights.append((r.rgb.shape[1] - x - w) * r.pixel_um)
    margins = np.array(lefts + rights)
    assert margins.min() > 0 and margins.max() < 700 and margins.max() > 250
    assert np.std(np.array(lefts) - np.array(rights)) > 80, "asymmetric margins: the joint is not centred"


@pytest.mark.parametrize("family,site,copper_above", [("LED-3030", 0, True), ("QFN-16", 16, True),
                                                      ("PM-PAD", 0, True), ("LED-3535", 0, False),
                                                      ("R0201", 1, False)])
def test_component_side_of_each_family(family, site, copper_above):
    """Lead frames and DBC copper look copper-orange above the solder; ceramic and chip
    terminations do not; a chip's solder fillet climbs its end face."""
    comp = load_components()[family]
    geom = _joint(family, site)

    class _Joint:  # what _section_context reads
        site_index = site
        geometry = geom

    context = _section_context(comp, _Joint)
    scope = replace(load_machines()["xr-a"].microscope, mirror_prob=0.0, flip_prob=0.0)
    r = _render(geom, scope, context=context, pixel=max(1.0, geom.width_um / 3000))
    x, y, w, h = r.solder_box
    above = r.rgb[max(y - int(30 / r.pixel_um), 0):y, x + w // 4:x + 3 * w // 4].reshape(-1, 3).astype(float)
    orange = np.mean(above[:, 0] - above[:, 2] > 50)
    assert (orange > 0.5) == copper_above, (family, orange)
    if comp.termination == "chip":
        slab = np.nonzero((r.labels == SOLDER).any(axis=1))[0]
        assert (slab[-1] - slab[0]) * r.pixel_um > 1.3 * geom.solder_thickness_um, "fillet up the end face"


def test_a_10_mm_joint_sections_in_seconds():
    geom = replace(_joint("PM-PAD"), width_um=10000.0, length_um=9000.0)
    scope = load_machines()["xr-b"].microscope
    started = time.perf_counter()
    r = render_micrograph(geom, 0.0, 2000.0, 1500.0, scope, np.random.default_rng(0),
                          context=SectionContext("dbc", None, 300.0, "ims"), pixel_um=2.0)
    assert time.perf_counter() - started < 15
    assert 5000 <= r.rgb.shape[1] <= 6300 and r.solder_box[2] * 2.0 == pytest.approx(10000, rel=0.05)
    cracked = (r.labels == 2).any(axis=0).sum() * 2.0
    assert cracked == pytest.approx(3500, rel=0.05)


def test_batch_sections_record_pixel_size_flips_and_solder_box(tmp_path):
    batch, truth = make_batch(tmp_path, "mg", machine="xr-h", families=("R0402", "SOT-23"), joints=24,
                              micrograph_fraction=1.0, label_fraction=0.5)
    images = pd.read_csv(truth / "images.csv")
    micro = images[images["modality"] == "micrograph"]
    assert len(micro) >= 20 and micro["mirrored_lr"].any() and not micro["mirrored_lr"].all()
    lo, hi = load_machines()["xr-h"].microscope.pixel_range
    assert micro["pixel_size_um"].between(lo, hi).all() and micro["pixel_size_um"].nunique() > 5
    manifest = pd.read_csv(batch / "manifest.csv").set_index("image_id")
    for _, row in micro.iterrows():
        mask = read_image(truth / row["mask_path"])
        assert manifest.at[row["image_id"], "pixel_size_um"] == pytest.approx(row["pixel_size_um"], abs=1e-3)
        ys, xs = np.nonzero(mask > 0)
        if xs.size:
            assert (xs.min(), ys.min()) == (row["solder_x"], row["solder_y"])
            assert (xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) == (row["solder_w"], row["solder_h"])
