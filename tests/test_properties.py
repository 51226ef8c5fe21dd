"""Property-based tests (hypothesis): the manifest parser never lets a path out of the batch
and never crashes on odd text, label derivation brackets and interpolates failures correctly
whatever the reading schedule, and void measures stay in range and grow with void area."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mawis.batch.contract import ROI_COLUMNS, CsvError, parse_roi, read_csv, safe_relative_path
from mawis.ingest.labels import FailureThresholds, joint_label
from mawis.measure.xray import VoidResult, void_metrics

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# --- manifest parsing -----------------------------------------------------------------------------

path_parts = st.sampled_from(["..", ".", "", "a", "b.png", "xray", "~", "C:", "\\\\", "/", "..\\\\x", "%2e%2e"])


@FAST
@given(parts=st.lists(path_parts, min_size=1, max_size=6), lead=st.sampled_from(["", "/", "\\\\", "C:/", "./"]))
def test_a_manifest_path_never_resolves_outside_the_batch(tmp_path, parts, lead):
    batch = tmp_path / "batch"
    batch.mkdir(exist_ok=True)
    raw = lead + "/".join(parts)
    target = safe_relative_path(batch, raw)
    if target is not None:
        assert target.is_relative_to(batch.resolve())
        assert ".." not in Path(raw.replace("\\\\", "/")).parts


@FAST
@given(cells=st.lists(st.one_of(st.just(""), st.text(alphabet=string.digits + "-.e+ infa", max_size=6),
                                st.integers(-5, 5000).map(str)), min_size=4, max_size=4))
def test_roi_cells_parse_to_a_valid_box_or_a_message(cells):
    result = parse_roi(pd.Series(dict(zip(ROI_COLUMNS, cells))))
    if isinstance(result, tuple):
        x, y, w, h = result
        assert x >= 0 and y >= 0 and w > 0 and h > 0
    else:
        assert result is None or (isinstance(result, str) and result.startswith("ROI"))
        if result is None:
            assert all(c == "" for c in cells)


@FAST
@given(body=st.binary(max_size=300))
def test_any_bytes_as_a_csv_give_a_table_or_a_one_line_reason(tmp_path, body):
    path = tmp_path / "manifest.csv"
    path.write_bytes(body)
    try:
        frame = read_csv(path)
    except CsvError as exc:
        assert "\n" not in str(exc) and str(exc)
    else:
        assert all(isinstance(c, str) for c in frame.columns)


# --- labels from readings -------------------------------------------------------------------------

@st.composite
def schedules(draw):
    steps = draw(st.lists(st.integers(1, 500), min_size=1, max_size=12))
    cycles = np.cumsum([draw(st.integers(0, 300))] + steps).astype(float)
    return cycles


@FAST
@given(cycles=schedules(), rate=st.floats(1e-5, 5e-3), onset=st.floats(0, 3000), seed=st.integers(0, 2**16))
def test_linear_crack_growth_is_labelled_at_its_true_crossing(cycles, rate, onset, seed):
    """Crack fraction growing linearly from an onset: the label is the exact crossing of 0.5
    when it falls inside the readings, bracketed by the readings around it, and censored at the
    last reading otherwise — whatever the order the rows come in."""
    crack = np.clip((cycles - onset) * rate, 0.0, 1.0)
    readings = pd.DataFrame({"cycles": cycles, "crack_fraction": crack}).sample(frac=1.0, random_state=seed)
    label = joint_label(readings, FailureThresholds())
    crossing = onset + 0.5 / rate
    if crack.max() < 0.5:
        assert label["censored"] and label["cycles_to_failure"] == cycles[-1]
        assert label["failure_after"] == cycles[-1] and label["failure_before"] == np.inf
        return
    assert not label["censored"]
    assert label["failure_after"] <= label["cycles_to_failure"] <= label["failure_before"]
    first = int(np.argmax(crack >= 0.5))
    if first > 0 and crack[first - 1] > 0 and crack[first] < 1:  # both readings on the straight part
        assert label["cycles_to_failure"] == pytest.approx(crossing, rel=1e-9, abs=1e-6)
    assert label["failure_before"] == cycles[first]


@FAST
@given(cycles=schedules(), values=st.lists(st.floats(0, 40, allow_nan=False), min_size=13, max_size=13))
def test_thermal_resistance_labels_stay_within_their_bracket(cycles, values):
    rth = np.asarray(values[: len(cycles)])
    label = joint_label(pd.DataFrame({"cycles": cycles, "rth_increase_pct": rth}), FailureThresholds())
    assert label["failure_after"] <= label["cycles_to_failure"] <= label["failure_before"] or label["censored"]
    assert label["censored"] == bool((rth < 20.0).all())


# --- void measures --------------------------------------------------------------------------------

@st.composite
def joint_with_voids(draw):
    size = draw(st.integers(12, 40))
    joint = np.zeros((size, size), bool)
    m = draw(st.integers(1, size // 4))
    joint[m:size - m, m:size - m] = True
    voids = np.zeros_like(joint)
    for _ in range(draw(st.integers(0, 6))):
        r, c, h, w = (draw(st.integers(0, size - 1)) for _ in range(4))
        voids[r:r + h // 3 + 1, c:c + w // 3 + 1] = True
    return joint, voids & joint


@FAST
@given(case=joint_with_voids(), extra=st.integers(0, 10**6))
def test_void_fraction_stays_in_range_and_grows_with_void_area(case, extra):
    joint, voids = case
    metrics = void_metrics(VoidResult({"status": "ok"}, joint, voids), pixel_um=5.0)
    assert 0.0 <= metrics["void_fraction"] <= 1.0
    assert 0.0 <= metrics["largest_void_fraction"] <= metrics["void_fraction"] + 1e-12
    assert 0.0 <= metrics["edge_void_fraction"] <= 1.0
    free = np.flatnonzero(joint & ~voids)
    assume(len(free) > 0)
    more = voids.copy()
    more.flat[free[extra % len(free)]] = True  # one more void pixel
    grown = void_metrics(VoidResult({"status": "ok"}, joint, more), pixel_um=5.0)
    assert grown["void_fraction"] > metrics["void_fraction"]
