"""Fixtures of the bad-input corpus: a small batch (copied fresh for every case), an ingested
data set and a registry with one model, all made once per session."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from mawis.ingest.config import IngestConfig
from mawis.ingest.pipeline import ingest_batch
from mawis.lifetime.config import LifetimeConfig
from mawis.registry.store import Registry
from mawis.sim import CampaignConfig, simulate_batch
from mawis.workflows.train import train_model


@dataclass
class Corpus:
    batch: Path        # a fresh copy of the pristine batch, free to damage
    dataset: Path      # ingested (shared: never damage it)
    unlabelled: Path   # an ingested data set without any lifetime label
    registry: Path     # holds one promoted features model
    model: Path        # that model's folder (shared: copy before damaging)
    tmp: Path          # this case's scratch folder; outputs go to tmp/out

    @property
    def out(self) -> Path:
        return self.tmp / "out"


@pytest.fixture(scope="session")
def corpus_base(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    cfg = CampaignConfig(joints=64, seed=5, workers=1, joints_per_board=8, label_fraction=1.0,
                         micrograph_fraction=0.3)
    batch = simulate_batch(cfg, root / "batch").batch_dir
    dataset = ingest_batch(batch, root / "dataset", IngestConfig(workers=1)).dataset_dir
    plain = simulate_batch(CampaignConfig(joints=16, seed=6, workers=1, joints_per_board=8, label_fraction=0.0),
                           root / "production").batch_dir
    unlabelled = ingest_batch(plain, root / "unlabelled", IngestConfig(workers=1)).dataset_dir
    registry = Registry(root / "models")
    trained = train_model(dataset, LifetimeConfig(folds=3), kind="features", registry=registry)
    return batch, dataset, unlabelled, registry.root, trained.out_dir


@pytest.fixture
def corpus(corpus_base, tmp_path) -> Corpus:
    batch, dataset, unlabelled, registry, model = corpus_base
    return Corpus(Path(shutil.copytree(batch, tmp_path / "batch")), dataset, unlabelled, registry, model, tmp_path)


def edit_csv(path: Path, change) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(frame)
    frame.to_csv(path, index=False)


def set_cell(path: Path, column: str, value: str, row: int = 0) -> None:
    edit_csv(path, lambda f: f.__setitem__(column, [value if i == row else v for i, v in enumerate(f[column])]))
