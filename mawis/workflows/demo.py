"""``mawis demo``: the whole product on the embedded virtual test lab, end to end.

Simulates a thermal-cycling campaign (station xr-a), ingests and measures it, pretrains
an encoder, trains and registers a lifetime model, compares SSL, SL and feature-only
models on held-out boards, predicts a fresh batch from the same station, and checks a
batch from another station (xr-b) for drift. Everything goes under one folder::

    OUT/data/        campaign, its truth, the data set, the new batch, the other station's batch
    OUT/models/      the registry (encoder/ beside it)
    OUT/reports/     contact_sheet.png, evaluation/comparison.html, prediction/lifetime_report.html,
                     drift-other-station/drift.html
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import torch

from .. import __version__
from ..atomic import check_writable_target
from ..errors import MawisError, UsageError
from ..evaluation.config import evaluation_config_from_dict
from ..evaluation.run import evaluate
from ..ingest.config import IngestConfig
from ..ingest.pipeline import ingest_batch
from ..lifetime.config import LifetimeConfig
from ..registry.store import Registry
from ..reports.contact_sheet import render_contact_sheet
from ..sim.config import CampaignConfig
from ..sim.simulate import simulate_batch
from ..ssl.config import PretrainConfig
from ..ssl.train import pretrain
from ..tomlio import read_toml
from .drift import drift
from .predict import REPORT_FILE, PredictConfig, predict
from .train import train_model

PRESETS_FILE = Path(__file__).with_name("demo.toml")


@dataclass(frozen=True)
class DemoConfig:
    campaign_joints: int
    new_batch_joints: int
    other_station_joints: int
    pretrain_epochs: int
    evaluation_own_encoder: bool
    evaluation: dict = field(default_factory=dict)
    seed: int = 0


def demo_preset(name: str) -> DemoConfig:
    presets = read_toml(PRESETS_FILE, "demo presets")
    if name not in presets:
        raise UsageError(f"unknown demo preset {name!r}; known: {', '.join(presets)}")
    data = dict(presets[name])
    known = {f.name for f in fields(DemoConfig)}
    return DemoConfig(**{k: v for k, v in data.items() if k in known})


def auto_preset(quick: bool) -> str:
    if quick:
        return "quick"
    return "gpu" if torch.cuda.is_available() else "default"


@dataclass
class DemoResult:
    out_dir: Path
    outputs: dict[str, Path]
    summary: dict
    seconds: float


def run_demo(out_dir: Path, cfg: DemoConfig, *, overwrite: bool = False, log=None, progress=None) -> DemoResult:
    say = log or (lambda _line: None)
    out_dir = Path(out_dir)
    data, models, reports = out_dir / "data", out_dir / "models", out_dir / "reports"
    _fresh_demo_folder(out_dir, overwrite)
    start = time.perf_counter()
    timings: dict[str, float] = {}

    def step(name: str, fn):
        clock = time.perf_counter()
        say(f"[{time.perf_counter() - start:5.0f} s] {name}")
        result = fn()
        timings[name] = round(time.perf_counter() - clock, 1)
        return result

    base = CampaignConfig(seed=cfg.seed)
    step("simulate the campaign", lambda: simulate_batch(
        replace(base, joints=cfg.campaign_joints), data / "campaign", data / "campaign-truth", overwrite=True,
        progress=progress))
    step("ingest and measure", lambda: ingest_batch(data / "campaign", data / "dataset", IngestConfig(),
                                                    overwrite=True, progress=progress))
    step("contact sheet", lambda: render_contact_sheet(data / "campaign", reports / "contact_sheet.png"))
    pre = replace(PretrainConfig(), epochs=cfg.pretrain_epochs, batch_size=64, seed=cfg.seed)
    step("pretrain the encoder", lambda: pretrain(data / "dataset", models / "encoder", pre, overwrite=True,
                                                  progress=progress))
    registry = Registry(models / "registry")
    trained = step("train and register the lifetime model", lambda: train_model(
        data / "dataset", LifetimeConfig(seed=cfg.seed), encoder_dir=models / "encoder", registry=registry,
        progress=progress))
    registry.promote(trained.model_id)
    eval_cfg = evaluation_config_from_dict(cfg.evaluation, f"{PRESETS_FILE}")
    evaluation = step("evaluate SSL vs SL on held-out boards", lambda: evaluate(
        data / "dataset", reports / "evaluation", eval_cfg,
        encoder_dir=None if cfg.evaluation_own_encoder else models / "encoder", truth_dir=data / "campaign-truth",
        overwrite=True, progress=progress))
    step("simulate a new batch (same station)", lambda: simulate_batch(
        replace(base, joints=cfg.new_batch_joints, seed=cfg.seed + 1, label_fraction=0.0), data / "new-batch",
        data / "new-batch-truth", overwrite=True, progress=progress))
    prediction = step("predict the new batch", lambda: predict(
        data / "new-batch", reports / "prediction", registry=registry, cfg=PredictConfig(), overwrite=True,
        progress=progress))
    step("simulate a batch from another station (xr-b)", lambda: simulate_batch(
        replace(base, joints=cfg.other_station_joints, seed=cfg.seed + 2, label_fraction=0.0, machine="xr-b"),
        data / "other-station", data / "other-station-truth", overwrite=True, progress=progress))
    other = step("check the other station's batch for drift", lambda: drift(
        data / "other-station", reports / "drift-other-station", registry=registry, overwrite=True,
        progress=progress))
    outputs = {"comparison": reports / "evaluation" / "comparison.html",
               "lifetime report": reports / "prediction" / REPORT_FILE,
               "predictions": reports / "prediction" / "predictions.csv",
               "drift (other station)": reports / "drift-other-station" / "drift.html",
               "contact sheet": reports / "contact_sheet.png", "registry": registry.root}
    summary = {"model": trained.model_id, "findings": evaluation.metrics.get("findings", []),
               "prediction": prediction.summary["counts"], "weibull": prediction.summary.get("weibull"),
               "same_station_drift": (prediction.summary.get("drift") or {}).get("summary"),
               "other_station_drift": other.report["summary"], "other_station_flagged": other.report["drift"],
               "timings": timings}
    return DemoResult(out_dir, outputs, summary, time.perf_counter() - start)


MARKER = "demo.json"


def _fresh_demo_folder(out_dir: Path, overwrite: bool) -> None:
    """An empty folder marked as a demo's; an earlier demo is replaced only with ``overwrite``,
    anything else never (a mistyped --out must not wipe a project)."""
    check_writable_target(out_dir, overwrite, marker=MARKER)
    if out_dir.exists() and not out_dir.is_dir():
        raise MawisError(f"{out_dir} is a file; choose a folder for the demo")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    (out_dir / MARKER).write_text(json.dumps({"format": "mawis-demo", "mawis_version": __version__}) + "\n")
