"""Gauge study: the same joints measured on two stations, and how well they agree.

A measurement a quality team can act on must not depend on which X-ray station took the
image. The same joints (matched by ``joint_id`` and inspection cycle) are measured on
two stations; per joint the difference B - A of each measure is taken, and the study
reports the median, mean and 95th percentile of its absolute value, its mean (the bias
of B against A) with a bootstrap interval, and the limits of agreement (bias +- 1.96 SD,
Bland and Altman). Joints that one station could not measure are counted, not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# measures compared, with the unit they are reported in and the factor to that unit
MEASURES = {
    "void_fraction": ("pp", 100.0),
    "largest_void_fraction": ("pp", 100.0),
    "edge_void_fraction": ("pp", 100.0),
    "joint_area_um2": ("% of A", None),  # relative difference
    "crack_fraction": ("pp", 100.0),
}


@dataclass(frozen=True)
class GaugeStudy:
    pairs: pd.DataFrame      # one row per matched image pair: ids, both values, differences
    summary: dict            # per measure: n, median/mean/p95 |diff|, bias and its interval, limits of agreement
    counts: dict             # images on each side, matched, unmeasurable on either side


def match_images(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Image pairs of the same joint, modality and inspection cycle on the two stations
    (the first image of each, where a station imaged one twice)."""
    keys = ["joint_id", "modality", "cycles"]
    first = lambda t: t.sort_values([*keys, "image_id"]).drop_duplicates(keys)  # noqa: E731
    columns = [*keys, "image_id", "board_id", "component", "measure_status", "measure_reason",
               *[m for m in MEASURES if m in a.columns and m in b.columns]]
    left = first(a)[[c for c in columns if c in a.columns]]
    right = first(b)[[c for c in columns if c in b.columns]]
    return left.merge(right, on=keys, suffixes=("_a", "_b"), how="inner")


def gauge_study(a: pd.DataFrame, b: pd.DataFrame, *, seed: int = 0, resamples: int = 2000) -> GaugeStudy:
    """Agreement of the measured image tables ``a`` and ``b`` (as ingestion writes them)."""
    pairs = match_images(a, b)
    both_ok = (pairs["measure_status_a"] == "ok") & (pairs["measure_status_b"] == "ok")
    summary = {}
    rng = np.random.default_rng(seed)
    for measure, (unit, factor) in MEASURES.items():
        if f"{measure}_a" not in pairs:
            continue
        va, vb = pairs[f"{measure}_a"].astype(float), pairs[f"{measure}_b"].astype(float)
        diff = (vb - va) * factor if factor is not None else (vb / va - 1.0) * 100.0
        pairs[f"{measure}_diff"] = diff.where(both_ok)
        used = diff[both_ok & diff.notna()].to_numpy(float)
        if len(used):
            summary[measure] = _agreement(used, unit, rng, resamples)
    counts = {"images_a": int(len(a)), "images_b": int(len(b)), "matched": int(len(pairs)),
              "matched_xray": int((pairs["modality"] == "xray").sum()),
              "matched_micrograph": int((pairs["modality"] == "micrograph").sum()),
              "unmeasurable_a": int((pairs["measure_status_a"] != "ok").sum()),
              "unmeasurable_b": int((pairs["measure_status_b"] != "ok").sum()),
              "compared": int(both_ok.sum())}
    return GaugeStudy(pairs, summary, counts)


def _agreement(diff: np.ndarray, unit: str, rng: np.random.Generator, resamples: int) -> dict:
    absolute = np.abs(diff)
    bias = float(diff.mean())
    spread = float(diff.std(ddof=1)) if len(diff) > 1 else 0.0
    boot = rng.choice(diff, size=(resamples, len(diff)), replace=True).mean(axis=1) if len(diff) > 1 else diff
    return {"unit": unit, "n": int(len(diff)),
            "median_abs": float(np.median(absolute)), "mean_abs": float(absolute.mean()),
            "p95_abs": float(np.percentile(absolute, 95)),
            "bias": bias, "bias_low": float(np.percentile(boot, 2.5)), "bias_high": float(np.percentile(boot, 97.5)),
            "limits_of_agreement": [bias - 1.96 * spread, bias + 1.96 * spread]}
