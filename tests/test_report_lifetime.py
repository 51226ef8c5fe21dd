"""The lifetime report of a predicted batch: self-contained, complete, safe with odd input."""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mawis.errors import MawisError
from mawis.reports.lifetime_report import (CANNOT, MAX_TABLE_ROWS, SECTIONS, _weibull_band, _weibull_y,
                                           render_lifetime_report)

REQUIRED = 1500.0
RISKIEST = "J007"
BLANK = "could not be measured (X-ray): no dark joint stands out from its surroundings (blank image)"
ODD_ID = "J<script>alert(1)</script>"
MODEL_ID = "ssl-20261128-113005-3fa2"
WEIBULL = {"n": 40, "level": 0.9, "method": "maximum likelihood",
           "shape": {"value": 2.31, "lo": 1.85, "hi": 2.88},
           "characteristic_life": {"value": 3012.0, "lo": 2705.0, "hi": 3354.0},
           "b10": {"value": 1234.56, "lo": 1010.0, "hi": 1508.0},
           "b1": {"value": 407.0, "lo": 280.0, "hi": 592.0}}


def _png(path: Path, colour: tuple[int, int, int]) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 12), colour).save(path)
    return path.read_bytes()


def _joints(n: int, boards: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    predicted = np.exp(rng.normal(math.log(3000), 0.5, n))
    predicted[7 % n] = 400.0  # the riskiest joint
    lower, upper = predicted / 1.8, predicted * 1.8
    risk = np.where(predicted < REQUIRED, "high", np.where(lower < REQUIRED, "elevated", "low"))
    verdict = rng.choice(["pass", "fail", "unchecked"], n, p=[0.7, 0.2, 0.1])
    ids = [f"J{i:03d}" if n <= 1000 else f"J{i:05d}" for i in range(n)]
    ids[5 % n] = ODD_ID
    void = rng.uniform(0, 0.35, n)
    crack = np.full(n, np.nan)
    crack[::9] = rng.uniform(0, 0.5, len(crack[::9]))
    ood_score = rng.gamma(2.0, 1.0, n)
    ood_score[7 % n] = 1.0  # the riskiest joint is trustworthy
    ood = ood_score > 5.0
    measurable = np.ones(n, bool)
    measurable[3::13] = False  # X-ray could not be measured
    reason = [("; ".join(([] if m else [BLANK]) + ([f"out of distribution (score {s:.2f} > threshold 5.00)"]
                                                     if o else [])))
              for m, o, s in zip(measurable, ood, ood_score)]
    risk = np.where(np.array([bool(r) for r in reason]), CANNOT, risk)
    return pd.DataFrame({
        "joint_id": ids, "board_id": [f"B{i * boards // n:02d}" for i in range(n)],
        "component": np.where(np.arange(n) % 2 == 0, "BGA-256", "R0603"),
        "predicted_cycles": predicted, "lower_cycles": lower, "upper_cycles": upper, "risk_class": risk,
        "reason": reason,
        "verdict": verdict, "failed_rules": np.where(verdict == "fail", "void_total; edge_void", ""),
        "void_fraction": void, "largest_void_fraction": void / 2, "edge_void_fraction": void / 4,
        "void_count": rng.integers(0, 9, n).astype(float), "crack_fraction": crack,
        "crack_length_um": np.where(np.isnan(crack), np.nan, crack * 300), "ood_score": ood_score,
        "ood": ood, "measurable": measurable, "xray_image_id": [f"X{i}" for i in range(n)],
        "micrograph_image_id": [None] * n,
    })


def make_predict_dir(root: Path, n: int = 40, boards: int = 4, seed: int = 0, weibull: dict | None = WEIBULL,
                     gallery: list[dict] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    frame = _joints(n, boards, seed)
    frame.to_parquet(root / "predictions.parquet")
    risk = frame["risk_class"].value_counts()
    told = int((frame["risk_class"] != CANNOT).sum())
    weibull = {**weibull, "n": told} if weibull else weibull
    verdict = frame["verdict"].value_counts()
    if gallery is None:
        _png(root / "gallery" / f"{RISKIEST}-xray.png", (200, 30, 30))
        _png(root / "gallery" / f"{RISKIEST}-micro.png", (30, 30, 200))
        row = frame.iloc[7]
        gallery = [
            {**{k: row[k] for k in ("joint_id", "board_id", "component", "predicted_cycles", "lower_cycles",
                                    "upper_cycles", "risk_class", "verdict", "failed_rules", "void_fraction")},
             "crack_fraction": None, "xray": f"gallery/{RISKIEST}-xray.png",
             "micrograph": f"gallery/{RISKIEST}-micro.png"},
            {"joint_id": "J001", "board_id": "B00", "component": "R0603", "predicted_cycles": 900.0,
             "lower_cycles": 500.0, "upper_cycles": 1600.0, "risk_class": "high", "verdict": "fail",
             "failed_rules": "void_total", "void_fraction": 0.3, "crack_fraction": None,
             "xray": "../outside.png", "micrograph": None},
            {"joint_id": "J002", "board_id": "B00", "component": "R0603", "predicted_cycles": 1000.0,
             "lower_cycles": 600.0, "upper_cycles": 1700.0, "risk_class": "high", "verdict": "pass",
             "failed_rules": "", "void_fraction": 0.1, "crack_fraction": 0.2,
             "xray": "gallery/missing.png", "micrograph": None},
        ]
    meta = {
        "format": "mawis-prediction", "version": 2, "created": "2026-12-01T09:30:00+00:00", "mawis_version": "0.1.0",
        "batch": {"source": "/data/line-3/batch-2026-48", "fingerprint": "feedbeef0123456789", "joints": n,
                  "boards": boards},
        "settings": {"required_cycles": REQUIRED, "interval_level": 0.8, "ood_quantile": 0.99, "weibull_level": 0.9},
        "counts": {"risk": {k: int(risk.get(k, 0)) for k in ("high", "elevated", "low", CANNOT)},
                   "verdict": {k: int(verdict.get(k, 0)) for k in ("pass", "fail", "unchecked")},
                   "ood": int(frame["ood"].sum())},
        "weibull": weibull, "weibull_basis": {"joints": told if weibull else 0, "of": n, "cannot_tell": n - told},
        "weibull_note": "" if weibull else "Weibull fit skipped: fewer than 3 joints with a predicted life.",
        "weibull_by_component": {"BGA-256": weibull, "R0603": weibull} if weibull else {},
        "gallery": gallery,
        "model": {"id": MODEL_ID, "kind": "ssl", "created": "2026-11-28T11:30:05+00:00", "parent": None,
                  "promoted": True, "source": "mawis train",
                  "training_data": {"fingerprint": "abc123", "path": "/data/train", "joints": 300, "labelled": 100,
                                    "failed": 60, "censored": 40},
                  "metrics": {"source": "cross-validation on training boards",
                              "values": {"c_index": 0.78, "coverage_km": 0.81, "mae": 0.21, "n": 120},
                              "old_model": {"c_index": 0.74, "coverage_km": 0.77, "mae": 0.25, "n": 120}},
                  "encoder": {"arch": "resnet18-small", "epochs": 20}, "interval_level": 0.8,
                  "known_limits": ["Trained on SAC305 only.", "Not valid for <0402> packages."]},
        "drift": {"drift": True, "p_value": 0.004, "alpha": 0.01, "domain_auc": 0.71,
                  "summary": "embedding p = 0.002, features p = 0.3"},
        "timings": {"load": 1.2, "predict": 3.4},
    }
    (root / "prediction.json").write_text(json.dumps(meta))
    return root


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("predict")
    _png(root / "outside.png", (1, 2, 3))  # beside the prediction folder: must never be read
    path = render_lifetime_report(make_predict_dir(root / "pred"))
    return path, path.read_text(encoding="utf-8")


def _risk_rows(text: str) -> list[str]:
    section = text[text.index('<section id="risk"'):]
    body = section[section.index("<tbody>"):section.index("</tbody>")]
    return re.findall(r"<tr[ >].*?</tr>", body)


def test_page_is_written_into_the_prediction_folder(rendered):
    path, text = rendered
    assert path == path.parent / "lifetime_report.html" and path.is_file()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert '<link rel="icon" href="data:,">' in text
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_sections_and_key_numbers(rendered):
    _, text = rendered
    for anchor, heading in SECTIONS:
        assert f'<section id="{anchor}"' in text and f"<h2>{heading}</h2>" in text
    for anchor, _ in SECTIONS[1:]:
        assert f'<a href="#{anchor}">' in text
    frame = pd.read_parquet(Path(rendered[0]).parent / "predictions.parquet")
    high = int((frame["risk_class"] == "high").sum())
    assert high > 0
    assert f'<div class="v">{high}</div><div class="l">high risk</div>' in text
    assert f"{high} joints are at high risk" in text or "1 joint is at high risk" in text
    assert "1,235" in text and "1,010–1,508" in text  # B10 and its bounds, in cycles
    assert "1,500 cycles" in text and MODEL_ID in text
    assert "cross-validation on training boards" in text
    assert "<th>Previous model</th>" in text and "<td>0.740</td>" in text and "<td>81.0 %</td>" in text
    assert "not to observed failures" in text
    assert "drift detected" in text
    assert "Not valid for &lt;0402&gt; packages." in text
    assert "Weibull fit per component" in text


def test_riskiest_joint_comes_first_and_rows_are_sortable(rendered):
    _, text = rendered
    rows = _risk_rows(text)
    assert len(rows) == 40
    assert f"<td class=\"text\">{RISKIEST}</td>" in rows[0] and 'class="high"' in rows[0]
    assert 'aria-sort="ascending"><button type="button">Predicted life</button>' in text
    assert text.count('<table class="data sortable">') == 3  # joints, boards, components


def test_text_is_escaped_and_page_is_self_contained(rendered):
    _, text = rendered
    assert "J&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script>alert" not in text
    assert text.count("<script") == 1 and "<script src" not in text  # only the inline sorter
    assert "http://" not in text and "https://" not in text
    assert "@media print" in text
    assert text.count('<img src="data:image/png;base64,') == 2 + 2  # histogram, Weibull plot, 2 gallery images


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to parse the inline script")
def test_inline_script_parses(rendered, tmp_path):
    _, text = rendered
    script = re.search(r"<script>(.*?)</script>", text, re.S).group(1)
    (tmp_path / "sort.js").write_text(script)
    result = subprocess.run(["node", "--check", str(tmp_path / "sort.js")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_gallery_embeds_images_and_never_leaves_the_folder(rendered):
    path, text = rendered
    xray = base64.b64encode((path.parent / "gallery" / f"{RISKIEST}-xray.png").read_bytes()).decode()
    assert f'src="data:image/png;base64,{xray}"' in text
    outside = base64.b64encode((path.parent.parent / "outside.png").read_bytes()).decode()
    assert outside not in text
    assert "../outside.png points outside the prediction folder" in text
    assert "gallery/missing.png is missing" in text


def test_missing_weibull_gives_the_note(tmp_path):
    root = make_predict_dir(tmp_path / "pred", weibull=None, gallery=[])
    text = render_lifetime_report(root, tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Weibull fit skipped: fewer than 3 joints with a predicted life." in text
    assert "no Weibull fit" in text and "Weibull fit per component" not in text
    assert "This prediction has no gallery of images." in text
    assert text.count('<img src="data:image/png;base64,') == 2  # histogram and the plot of the points


def test_large_batch_shows_the_riskiest_rows_only(tmp_path):
    root = make_predict_dir(tmp_path / "pred", n=10_000, boards=1250, gallery=[])
    text = render_lifetime_report(root).read_text(encoding="utf-8")
    rows = _risk_rows(text)
    assert len(rows) == MAX_TABLE_ROWS
    assert f"the table shows the {MAX_TABLE_ROWS} riskiest" in text and "All joints are in predictions.parquet" in text
    assert RISKIEST.replace("J", "J00") in rows[0]
    assert "1,250 boards; the 100 worst are listed." in text
    assert len(text.encode("utf-8")) < 5_000_000


def test_weibull_band_reproduces_the_bounds_it_came_from():
    # bounds as mawis.lifetime.weibull makes them: exp(ln estimate -+ q se), se from cov(ln eta, ln beta)
    beta, eta, q = 2.3, 3000.0, 1.645
    cov = np.array([[0.004, -0.002], [-0.002, 0.012]])

    def bounds(log_value, var):
        return {"value": math.exp(log_value), "lo": math.exp(log_value - q * math.sqrt(var)),
                "hi": math.exp(log_value + q * math.sqrt(var))}

    def life(p):
        u = float(_weibull_y(p)) / beta
        return bounds(math.log(eta) + u, cov[0, 0] + u * u * cov[1, 1] - 2 * u * cov[0, 1])

    fit = {"shape": bounds(math.log(beta), cov[1, 1]), "characteristic_life": bounds(math.log(eta), cov[0, 0]),
           "b10": life(0.1), "b1": life(0.01)}
    lo, hi = _weibull_band(fit, np.array([float(_weibull_y(0.01)), 0.0]))
    assert lo[0] == pytest.approx(fit["b1"]["lo"]) and hi[0] == pytest.approx(fit["b1"]["hi"])
    assert lo[1] == pytest.approx(fit["characteristic_life"]["lo"])
    fit["b10"]["lo"] /= 3  # bounds that no covariance explains: no band rather than a wrong one
    assert _weibull_band(fit, np.array([0.0])) is None


def test_missing_or_foreign_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(MawisError, match="prediction.json.*mawis predict") as info:
        render_lifetime_report(tmp_path)
    assert "\n" not in str(info.value)
    root = make_predict_dir(tmp_path / "pred", gallery=[])
    meta = json.loads((root / "prediction.json").read_text())
    (root / "prediction.json").write_text("{not json")
    with pytest.raises(MawisError, match="prediction.json: not readable JSON"):
        render_lifetime_report(root)
    (root / "prediction.json").write_text(json.dumps({**meta, "format": "mawis-evaluation"}))
    with pytest.raises(MawisError, match="prediction.json: not a mawis-prediction file"):
        render_lifetime_report(root)
    (root / "prediction.json").write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(MawisError, match="unsupported mawis-prediction version 99"):
        render_lifetime_report(root)
    (root / "prediction.json").write_text(json.dumps(meta))
    (root / "predictions.parquet").write_bytes(b"not parquet")
    with pytest.raises(MawisError, match="predictions.parquet: not a readable Parquet table"):
        render_lifetime_report(root)
    pd.DataFrame({"joint_id": ["J1"]}).to_parquet(root / "predictions.parquet")
    with pytest.raises(MawisError, match="predictions.parquet: lacks the column"):
        render_lifetime_report(root)
    (root / "predictions.parquet").unlink()
    with pytest.raises(MawisError, match="predictions.parquet: not found"):
        render_lifetime_report(root)
    assert not (root / "lifetime_report.html").exists()


def _lead(text: str) -> str:
    return re.search(r'<p class="lead">(.*?)</p>', text, re.S).group(1)


def test_joints_that_cannot_be_told_have_their_own_class(rendered):
    path, text = rendered
    frame = pd.read_parquet(path.parent / "predictions.parquet")
    untold = frame[frame["risk_class"] == CANNOT]
    k, n = len(untold), len(frame)
    assert 0 < k < n / 2
    lead = _lead(text)
    assert lead.index(f"{k} of the {n} joints") < lead.index("the requirement even at the low end")
    assert f"{(~frame['measurable']).sum()} could not be measured" in lead and "out of distribution" in lead
    assert f'<div class="v">{k}</div><div class="l">cannot tell</div>' in text
    low = int((frame["risk_class"] == "low").sum())
    assert f'<div class="kpi low"><div class="v">{low}</div>' in text  # the low tile counts only trustworthy joints
    assert f"B10 from {n - k} of {n} joints; {k} cannot tell" in text
    assert f"Why {k} joints cannot be told" in text and "no dark joint stands out" in text
    assert 'class="alert"' not in text  # a minority: no banner
    rows = _risk_rows(text)
    untold_rows = [r for r in rows if '<tr class="cannot">' in r]
    assert len(untold_rows) == k and all('<span class="badge cannot">cannot tell</span>' in r for r in untold_rows)
    assert all('class="info"' in r for r in untold_rows)  # their lives are shown, greyed
    assert "<button type=\"button\">Cannot tell</button>" in text  # per board and per component


def test_most_joints_cannot_be_told_says_so_above_everything(tmp_path):
    root = make_predict_dir(tmp_path / "pred", gallery=[])
    frame = pd.read_parquet(root / "predictions.parquet")
    frame.loc[:29, "reason"] = BLANK
    frame.loc[:29, "risk_class"] = CANNOT
    frame.to_parquet(root / "predictions.parquet")
    text = render_lifetime_report(root).read_text(encoding="utf-8")
    summary = text[text.index('<section id="summary"'):]
    k = int((frame["risk_class"] == CANNOT).sum())
    assert summary.index('class="alert"') < summary.index('class="lead"') < summary.index('class="kpis"')
    assert f"Most of this batch cannot be told: {k} of 40 joints" in summary
    assert '<div class="kpi cannot most">' in summary and '<div class="kpi low muted">' in summary
    assert '<div class="kpi low">' not in summary


def test_a_format_1_prediction_is_read_with_a_warning(tmp_path):
    root = make_predict_dir(tmp_path / "pred", gallery=[])
    frame = pd.read_parquet(root / "predictions.parquet")
    frame["risk_class"] = np.where(frame["predicted_cycles"] < REQUIRED, "high",
                                   np.where(frame["lower_cycles"] < REQUIRED, "elevated", "low"))
    frame.drop(columns=["reason", "measurable"]).to_parquet(root / "predictions.parquet")
    meta = json.loads((root / "prediction.json").read_text())
    meta["version"] = 1
    meta["counts"]["risk"] = {k: int((frame["risk_class"] == k).sum()) for k in ("high", "elevated", "low")}
    (root / "prediction.json").write_text(json.dumps(meta))
    text = render_lifetime_report(root).read_text(encoding="utf-8")
    ood = int(frame["ood"].sum())
    assert "Older prediction (format 1)." in text and "Run `mawis predict` on the batch again" in text
    assert f'<div class="v">{ood}</div><div class="l">cannot tell</div>' in text  # OOD joints: cannot tell
    assert text.count('<tr class="cannot">') == ood
    assert "prediction.json counts" not in text  # no count-mismatch warnings for an old file


def test_a_format_2_table_without_reasons_is_refused(tmp_path):
    root = make_predict_dir(tmp_path / "pred", gallery=[])
    pd.read_parquet(root / "predictions.parquet").drop(columns=["reason"]).to_parquet(root / "predictions.parquet")
    with pytest.raises(MawisError, match="lacks the column.*reason"):
        render_lifetime_report(root)
