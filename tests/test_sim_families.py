"""Package families and stations of the virtual lab: the size range, held-out items, void
sizes that scale with the pad, DNP per joint and plausible lifetimes for every family."""

from __future__ import annotations

import numpy as np
import pytest

from mawis.errors import UsageError
from mawis.sim import (CampaignConfig, VoidModel, development_families, development_machines, held_out_families,
                       held_out_machines, load_components, load_machines, simulate_joints)
from mawis.sim.geometry import sample_joint_geometry

CLASSIC = ("LED-3535", "LED-3030", "R1206")


def test_exactly_one_family_and_one_station_are_held_out():
    assert held_out_families() == ("QFN-16",)
    assert held_out_machines() == ("xr-h",)
    assert "QFN-16" not in development_families() and "xr-h" not in development_machines()
    assert set(CLASSIC) <= set(development_families())
    assert CampaignConfig().family_names() == development_families()
    assert CampaignConfig(families=("QFN-16", "R0201")).family_names() == ("QFN-16", "R0201")


def test_unknown_family_is_one_clear_error():
    with pytest.raises(UsageError, match="unknown package family 'R9999'; choose from"):
        CampaignConfig(families=("R9999",)).validate()


def test_families_cover_the_size_range_with_layouts():
    components = load_components()
    widths = [w for c in components.values() for pad in c.pads for w in pad.width_um]
    assert min(widths) <= 250 and max(widths) >= 9000
    pads = {name: c.pads_per_package for name, c in components.items()}
    assert pads["R0201"] == pads["R0402"] == pads["LED-3030"] == 2
    assert pads["LED-3535"] == pads["SOT-23"] == pads["DPAK"] == 3 and pads["LED-5050"] in (4, 6)
    assert pads["QFN-16"] == 17 and pads["PM-PAD"] == 1
    qfn = components["QFN-16"]
    assert qfn.role("thermal").via_in_pad_prob > 0.5 and 2500 <= qfn.role("thermal").width_um[0]
    assert {c.wire for c in components.values() if c.name.startswith("LED")} == {"gold"}
    assert {c.body for c in components.values()} == {"ceramic", "chip", "emc", "module"}
    # thin solder under 0201 terminations, thick under power pads
    assert components["R0201"].solder_thickness_um[0] <= 25 and components["PM-PAD"].solder_thickness_um[1] >= 140


def test_stations_span_windows_gammas_bit_depths_and_magnifications():
    machines = load_machines()
    assert {"xr-a", "xr-b", "xr-c"} <= set(machines) and len(development_machines()) >= 6
    stations = [m.xray for m in machines.values()]
    assert {m.quality for m in machines.values()} == {"sharp", "noisy"}
    assert {s.layout for s in stations} == {"single", "package", "panel"}
    assert min(s.pixel_range[0] for s in stations) <= 1.0 and max(s.pixel_range[1] for s in stations) <= 20.0
    assert min(s.gamma for s in stations) <= 0.6 and max(s.gamma for s in stations) >= 1.5
    assert {(s.bit_depth, s.significant_bits) for s in stations} >= {(8, 8), (16, 12), (16, 16)}
    assert any(s.gain * 0.78 ** s.gamma + s.offset > 1.0 for s in stations), "a window that clips the board white"
    for m in machines.values():
        lo, hi = m.microscope.pixel_range
        assert 0.5 <= lo < hi <= 2.5
        assert m.microscope.file_format in ("png", "jpg", "bmp", "tiff")


def test_void_sizes_scale_with_the_pad():
    components, model = load_components(), VoidModel()

    def diameters(family: str, n: int = 12) -> tuple[np.ndarray, int]:
        comp = components[family]
        rng = np.random.default_rng(4)
        d, most = [], 0
        for _ in range(n):
            geom = sample_joint_geometry(rng, comp, model, 0.12, comp.sites[0])
            d += [2 * v.rx_um for v in geom.voids]
            most = max(most, len(geom.voids))
        return np.array(d), most

    small, _ = diameters("R0201")
    big, most = diameters("PM-PAD")
    assert small.min() >= 5.0 and np.percentile(small, 90) <= 45.0
    assert 100.0 <= np.median(big) and 500.0 <= big.max() <= 2200.0
    assert most > VoidModel().max_voids, "a big pad may hold more voids than a small one"


@pytest.fixture(scope="module")
def lives_by_family():
    out = {}
    for family in development_families() + held_out_families():
        joints = simulate_joints(CampaignConfig(joints=36, seed=5, families=(family,), workers=2))
        out[family] = joints
    return out


def test_every_family_lives_plausibly_under_thermal_cycling(lives_by_family):
    for family, joints in lives_by_family.items():
        lives = np.array([j.history.cycles_to_failure for j in joints])
        assert np.all(np.isfinite(lives)) and np.all(lives > 0), family
        assert 500 < np.median(lives) < 8000, (family, np.median(lives))


def test_joints_far_from_the_neutral_point_fail_first(lives_by_family):
    joints = lives_by_family["QFN-16"]
    thermal = [j.history.cycles_to_failure for j in joints if j.geometry.role == "thermal"]
    perimeter = [j.history.cycles_to_failure for j in joints if j.geometry.role == "perimeter"]
    assert thermal and np.median(thermal) > 2 * np.median(perimeter)
    assert all(j.geometry.dnp_um is not None and j.strain_length_um > j.geometry.dnp_um for j in joints)


def test_void_fraction_shortens_life_only_moderately_in_every_family(lives_by_family):
    rs = []
    for joints in lives_by_family.values():
        edge = [j for j in joints if j.geometry.role not in ("thermal",)]
        if len(edge) > 20:
            rs.append(np.corrcoef(np.log([j.history.cycles_to_failure for j in edge]),
                                  [j.void_fraction for j in edge])[0, 1])
    assert -0.65 < np.mean(rs) < -0.1, rs
