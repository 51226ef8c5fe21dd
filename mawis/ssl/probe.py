"""Regression probes: how well a frozen embedding predicts log cycles to failure.

During pretraining this answers "is it helping?" without waiting for the lifetime
head. Joints with an observed failure give the targets (censored joints only give a
lower bound; the censoring-aware model comes with ``mawis train``). Train and test
joints never share a board (with fewer than 4 boards the split is by joint, and the
probe's records say so). Pretraining sees the test boards' images, never their labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import GroupShuffleSplit
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..ingest.dataset import Dataset


@dataclass(frozen=True)
class ProbeConfig:
    every_epochs: int = 1       # probe after every N epochs (and after the last)
    test_share: float = 0.3     # held-out share of boards
    neighbours: int = 10
    min_joints: int = 20        # fewer failed joints: no probe
    seed: int = 0


@dataclass
class ProbeSet:
    rows: pd.DataFrame           # one image per failed joint (earliest inspection)
    log_life: np.ndarray         # ln(cycles to failure)
    train: np.ndarray            # boolean masks over rows
    test: np.ndarray
    split_by: str                # "board", or "joint" when the data set has fewer than 4 boards


def probe_set(ds: Dataset, modality: str, cfg: ProbeConfig) -> ProbeSet | None:
    """Earliest image of each joint with an observed failure, split by board (or joint)."""
    labels = ds.labels[~ds.labels["censored"].astype(bool)]
    labels = labels[np.isfinite(labels["cycles_to_failure"]) & (labels["cycles_to_failure"] > 0)]
    rows = ds.images[(ds.images["modality"] == modality) & ds.images["joint_id"].isin(labels["joint_id"])]
    rows = rows.sort_values(["joint_id", "cycles"]).drop_duplicates("joint_id")
    if len(rows) < cfg.min_joints:
        return None
    life = rows["joint_id"].map(labels.set_index("joint_id")["cycles_to_failure"]).to_numpy(dtype=float)
    groups, split_by = (rows["board_id"].fillna(rows["joint_id"]), "board") if "board_id" in rows \
        else (rows["joint_id"], "joint")
    if groups.nunique() < 4:  # too few boards to hold some out: joints of one board may then be on both sides
        groups, split_by = rows["joint_id"], "joint"
    split = GroupShuffleSplit(n_splits=1, test_size=cfg.test_share, random_state=cfg.seed)
    train_idx, _ = next(split.split(rows, groups=groups.to_numpy()))
    train = np.zeros(len(rows), dtype=bool)
    train[train_idx] = True
    return ProbeSet(rows.reset_index(drop=True), np.log(life), train, ~train, split_by)


@torch.no_grad()
def embed(encoder: torch.nn.Module, inputs: torch.Tensor, device: torch.device, batch_size: int = 256) -> np.ndarray:
    """Embeddings of uint8 inputs (n, 1, h, w), in eval mode (BatchNorm uses running statistics)."""
    was_training = encoder.training
    encoder.eval()
    parts = []
    for start in range(0, len(inputs), batch_size):
        x = inputs[start:start + batch_size].to(device).float().div_(255.0)
        parts.append(encoder(x).float().cpu())
    encoder.train(was_training)
    return torch.cat(parts).numpy() if parts else np.zeros((0, 0), dtype=np.float32)


def regression_probe(features: np.ndarray, target: np.ndarray, train: np.ndarray, test: np.ndarray,
                     neighbours: int = 10) -> dict:
    """kNN and ridge regression fitted on ``train``, scored on ``test`` (R², MAE in ln cycles)."""
    ridge = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 5, 15)))
    knn = make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=min(neighbours, int(train.sum()))))
    out = {"probe_train": int(train.sum()), "probe_test": int(test.sum())}
    for name, model in (("ridge", ridge), ("knn", knn)):
        model.fit(features[train], target[train])
        pred = model.predict(features[test])
        out[f"{name}_r2"] = float(r2_score(target[test], pred))
        out[f"{name}_mae"] = float(mean_absolute_error(target[test], pred))
    return out
