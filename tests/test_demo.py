"""`mawis demo --quick`: the whole product end to end, as a new user first runs it, with both
real reports opened in headless Chromium."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mawis.cli import main
from mawis.registry.store import Registry
from mawis.reports import comparison, lifetime_report

pytestmark = pytest.mark.slow


def test_quick_demo_writes_every_report_and_they_render(tmp_path, capsys, open_in_chromium):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick"]) == 0
    printed = capsys.readouterr().err
    reports = out / "reports"
    for path in ("evaluation/comparison.html", "evaluation/metrics.json", "prediction/lifetime_report.html",
                 "prediction/predictions.csv", "drift-other-station/drift.json", "contact_sheet.png"):
        assert (reports / path).is_file(), path
        assert str(reports / path) in printed or path.endswith(("metrics.json", "drift.json"))
    registry = Registry(out / "models" / "registry")
    assert registry.promoted_id() == registry.entries()[-1].id
    assert json.loads((reports / "drift-other-station" / "drift.json").read_text())["drift"] is True
    table = pd.read_csv(reports / "prediction" / "predictions.csv")
    assert len(table) == 200 and table["predicted_cycles"].between(10, 1e6).all()
    assert "other station  DRIFT" in printed and "took" in printed

    life = open_in_chromium(reports / "prediction" / "lifetime_report.html")
    assert life.errors == [], life.errors
    assert [h for _, h in lifetime_report.SECTIONS] == [h for h in life.h2 if h in dict(lifetime_report.SECTIONS).values()]
    assert life.images and life.images_loaded() == len(life.images)
    evaluation = open_in_chromium(reports / "evaluation" / "comparison.html")
    assert evaluation.errors == [], evaluation.errors
    assert evaluation.title == comparison.TITLE
    assert evaluation.images and evaluation.images_loaded() == len(evaluation.images)


def test_demo_refuses_an_existing_folder_without_overwrite(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["demo", "--out", str(tmp_path / "mine"), "--quick"]) == 4
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
