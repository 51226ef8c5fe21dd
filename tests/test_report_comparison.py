"""The comparison page of an evaluation: self-contained, complete, and tolerant of missing parts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mawis.errors import MawisError
from mawis.reports.comparison import SECTIONS, TITLE, render_comparison

MODELS = {
    "ssl": "SSL embedding + AFT head",
    "sl": "Supervised CNN <baseline>",  # markup-like text must come out escaped
    "features": "Void features + AFT",
}
FINDINGS = ["With 10 % of the labels the SSL model beats the supervised CNN.",
            "All models rank censored joints better than chance."]
FRACTIONS = [0.05, 0.25, 1.0]
SEEDS = [0, 1]


def make_eval_dir(root: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    models = {m: {"label": label, "description": f"the {m} model.", "r2": rng.uniform(0.3, 0.8),
                  "mae": rng.uniform(0.2, 0.5), "median_ae": rng.uniform(0.1, 0.4), "within_2x": rng.uniform(0.6, 0.9),
                  "c_index": rng.uniform(0.6, 0.8), "coverage_failed": 0.74, "coverage_km": None,
                  "interval_level": 0.8, "interval_width_factor": 3.2, "n_train_labels": 70, "fit_seconds": 1.5}
              for m, label in MODELS.items()}
    metrics = {
        "format": "mawis-evaluation", "version": 1, "created": "2026-11-28T10:00:00+00:00",
        "dataset": {"path": "/data/batch-7", "fingerprint": "0123456789abcdef0123", "joints": 400,
                    "labelled_joints": 300, "censored_share": 0.4},
        "split": {"by": "board", "test_share": 0.3, "train_joints": 280, "test_joints": 120,
                  "test_failed": 70, "test_censored": 50, "seed": 0},
        "settings": {"label_fraction": 0.1, "interval_level": 0.8, "fractions": FRACTIONS, "seeds": SEEDS,
                     "robustness": True},
        "pretraining": {"method": "simclr", "encoder": "small", "epochs": 20, "images": 400,
                        "sees_test_images": False, "seconds": 321.0},
        "models": models,
        "label_efficiency": [{"model": m, "fraction": f, "seed": s, "n_labels": int(280 * f),
                              "r2": rng.uniform(0, 0.8), "mae": rng.uniform(0.2, 0.6), "c_index": rng.uniform(0.5, 0.8)}
                             for m in MODELS for f in FRACTIONS for s in SEEDS],
        "robustness": [{"model": m, "distortion": d, "level": lv, "r2": 0.5, "mae": 0.4, "c_index": 0.7,
                        "relative_degradation": rng.uniform(0, 0.5)}
                       for m in MODELS for d in ("gamma", "noise") for lv in (0.1, 0.3)],
        "embedding_probes": {"ssl": {"ridge_r2": 0.55, "knn_r2": 0.5}, "sl": {"ridge_r2": None, "knn_r2": 0.4}},
        "saliency": {"mask_source": "truth", "models": {"ssl": {"overlap": 0.4, "chance": 0.1},
                                                        "sl": {"overlap": 0.25, "chance": 0.1}}},
        "findings": FINDINGS,
        "notes": ["Intervals are from the AFT head's log-normal quantiles."],
        "timings": {"pretrain": 321.0, "fit heads": 12.5},
    }
    (root / "metrics.json").write_text(json.dumps(metrics))

    n = 40
    log_time = rng.normal(8, 0.6, n)
    event = rng.random(n) < 0.6
    void = rng.uniform(0, 0.3, n)
    void[:3] = np.nan
    predictions = pd.concat([pd.DataFrame({
        "joint_id": [f"J{i:03d}" for i in range(n)], "board_id": [f"B{i // 8}" for i in range(n)],
        "model": m, "log_pred": log_time + rng.normal(0, 0.3, n), "log_lo": log_time - 0.6, "log_hi": log_time + 0.6,
        "log_time": log_time, "event": event, "void_fraction": void}) for m in MODELS], ignore_index=True)
    predictions.to_parquet(root / "test_predictions.parquet")

    maps = pd.concat([pd.DataFrame({"model": m, "projection": p, "x": rng.normal(size=n), "y": rng.normal(size=n),
                                    "log_time": log_time, "event": event})
                      for m in ("ssl", "sl") for p in ("pca", "tsne")], ignore_index=True)
    maps.to_parquet(root / "embedding_maps.parquet")

    k, size = 4, 32
    mask = np.zeros((k, size, size), dtype=bool)
    mask[:, 10:18, 12:20] = True
    np.savez(root / "saliency.npz", image=rng.random((k, size, size)), mask=mask,
             joint_id=np.array([f"J{i:03d}" for i in range(k)]),
             saliency_ssl=rng.random((k, size, size)), saliency_sl=rng.random((k, size, size)))
    return root


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, str]:
    eval_dir = make_eval_dir(tmp_path_factory.mktemp("report") / "eval")
    path = render_comparison(eval_dir)
    return path, path.read_text(encoding="utf-8")


def test_page_is_written_next_to_the_evaluation(rendered):
    path, text = rendered
    assert path == path.parent / "comparison.html" and path.is_file()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_every_section_findings_and_model_label_appear(rendered):
    _, text = rendered
    assert TITLE in text
    for _, heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in text
    for finding in FINDINGS:
        assert finding in text
    # findings come before the metrics table: people read them first
    assert text.index(FINDINGS[0]) < text.index("Test-set metrics</h2>")
    assert "SSL embedding + AFT head" in text and "Void features + AFT" in text
    assert "Supervised CNN &lt;baseline&gt;" in text and "<baseline>" not in text
    assert "/data/batch-7" in text and "0123456789ab" in text
    assert "74.0 %" in text and "–" in text  # coverage as percent; null shown as a dash


def test_page_is_self_contained(rendered):
    _, text = rendered
    # label efficiency, robustness, embeddings, saliency, predictions, residuals
    assert text.count('<img src="data:image/png;base64,') == 6
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text and "<link" not in text
    assert "@media print" in text
    assert len(text) < 3_000_000


def test_missing_optional_parts_are_explained(tmp_path):
    eval_dir = make_eval_dir(tmp_path / "eval", seed=1)
    (eval_dir / "saliency.npz").unlink()
    (eval_dir / "embedding_maps.parquet").unlink()
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    del metrics["robustness"], metrics["timings"]
    (eval_dir / "metrics.json").write_text(json.dumps(metrics))
    out = render_comparison(eval_dir, tmp_path / "elsewhere" / "page.html")
    text = out.read_text(encoding="utf-8")
    assert out == tmp_path / "elsewhere" / "page.html"
    for _, heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in text
    assert "saliency.npz is not in the evaluation folder" in text
    assert "embedding_maps.parquet is not in the evaluation folder" in text
    assert "did not test robustness" in text and "No timings recorded" in text
    assert "Overlap with the voids" in text  # scores from metrics.json still shown without the maps
    assert text.count('<img src="data:image/png;base64,') == 3


def test_missing_or_foreign_metrics_is_a_one_line_error(tmp_path):
    with pytest.raises(MawisError, match="metrics.json.*mawis evaluate") as info:
        render_comparison(tmp_path)
    assert "\n" not in str(info.value)
    (tmp_path / "metrics.json").write_text(json.dumps({"format": "mawis-encoder", "version": 1}))
    with pytest.raises(MawisError, match="not a mawis-evaluation file"):
        render_comparison(tmp_path)
    assert not (tmp_path / "comparison.html").exists()

