"""The lifetime models: one linear log-normal AFT head over an embedding and features.

Kinds (``KINDS``):

* ``features``: the head on the measured void/crack features only (no image encoder);
* ``ssl``: a frozen self-supervised encoder; its embedding, reduced by PCA, beside the
  features (the product default);
* ``ssl-finetune``: the same encoder trained further together with the head;
* ``sl``: the same backbone trained from scratch with the head on the labelled joints
  only (the supervised baseline);
* ``random``: the ``ssl`` recipe on the same backbone with random, untrained weights (the
  control that shows what pretraining itself adds).

Every kind ends as ``mu = w . [embedding part, features] + b`` with one sigma, and an
interval ``mu + sigma * [q_lo, q_hi]`` from out-of-fold residuals (see conformal.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm
from torch import nn

from ..errors import MawisError
from ..ingest.dataset import Dataset
from ..ssl.augment import BatchAugment
from ..ssl.data import InputSpec, load_inputs
from ..ssl.encoders import build_encoder
from ..ssl.probe import embed
from .aft import LinearAFT, penalty_label, group_folds, lognormal_nll, penalty_grid, select_alpha
from .config import LifetimeConfig
from .conformal import conformal_bounds
from .metrics import lifetime_metrics
from .table import FeatureEncoder

MIN_LABELLED, MIN_FAILED = 5, 2


@dataclass
class JointData:
    """Joints (rows of the joint table) with their encoder inputs, in one order."""
    joints: pd.DataFrame
    images: torch.Tensor | None = None     # uint8 (n, 1, h, w); zeros where a joint has no image
    has_image: np.ndarray | None = None    # bool (n,)

    def subset(self, rows: np.ndarray) -> "JointData":
        """The joints selected by a boolean mask or by positions, in that order."""
        rows = np.asarray(rows)
        positions = np.nonzero(rows)[0] if rows.dtype == bool else rows.astype(np.int64)
        return JointData(self.joints.iloc[positions].reset_index(drop=True),
                         None if self.images is None else self.images[torch.from_numpy(positions)],
                         None if self.has_image is None else self.has_image[positions])

    @property
    def labelled(self) -> np.ndarray:
        return self.joints["labelled"].to_numpy(bool)


def joint_inputs(ds: Dataset, joints: pd.DataFrame, spec: InputSpec) -> JointData:
    """Load each joint's image of ``spec.modality`` at the encoder's input size."""
    column = f"{spec.modality}_image_id"
    has = joints[column].notna().to_numpy()
    images = torch.zeros((len(joints), 1, spec.height, spec.width), dtype=torch.uint8)
    if has.any():
        rows = ds.images.set_index("image_id").loc[joints.loc[has, column]].reset_index()
        images[torch.from_numpy(np.nonzero(has)[0])] = load_inputs(ds, spec, rows)
    return JointData(joints.reset_index(drop=True), images, has)


@dataclass
class EmbeddingProjection:
    """Centre, PCA-rotate and whiten a frozen embedding (fitted on training joints, no labels)."""
    mean: np.ndarray
    components: np.ndarray   # (k, d)
    scale: np.ndarray        # (k,)

    @staticmethod
    def fit(embeddings: np.ndarray, k: int) -> "EmbeddingProjection":
        mean = embeddings.mean(axis=0)
        _, singular, vt = np.linalg.svd(embeddings - mean, full_matrices=False)
        # directions with (almost) no spread would be blown up by whitening: left out
        usable = int((singular > 1e-6 * max(float(singular[0]) if len(singular) else 0.0, 1e-30)).sum())
        components = vt[: max(1, min(k, usable, len(embeddings) - 1))]
        scores = (embeddings - mean) @ components.T
        return EmbeddingProjection(mean, components, np.maximum(scores.std(axis=0), 1e-9))

    def transform(self, embeddings: np.ndarray) -> np.ndarray:
        return ((embeddings - self.mean) @ self.components.T) / self.scale

    def as_linear(self, weights: np.ndarray) -> tuple[np.ndarray, float]:
        """The embedding-space weights and offset of ``weights . transform(e)``."""
        direction = self.components.T @ (weights / self.scale)
        return direction, -float(self.mean @ direction)


@dataclass
class LifetimeModel:
    kind: str
    features: FeatureEncoder
    coef: np.ndarray               # over [embedding part, features]
    intercept: float
    sigma: float
    bounds: tuple[float, float]    # normalised-residual quantiles of the interval
    level: float
    encoder: nn.Module | None = None
    spec: InputSpec | None = None
    encoder_info: dict = field(default_factory=dict)
    projection: EmbeddingProjection | None = None   # None with an encoder: the raw embedding is used
    training: dict = field(default_factory=dict)

    @property
    def embedding_width(self) -> int:
        if self.encoder is None:
            return 0
        return len(self.projection.scale) if self.projection is not None else int(self.encoder.out_dim)

    def embeddings(self, data: JointData, device: str = "cpu") -> np.ndarray:
        """Raw encoder embeddings of the joints (zeros where a joint has no image)."""
        e = embed(self.encoder.to(device), data.images, torch.device(device)).astype(np.float64)
        e[~data.has_image] = 0.0
        return e

    def design(self, data: JointData, device: str = "cpu", embeddings: np.ndarray | None = None) -> np.ndarray:
        """The head's inputs; ``embeddings`` (from :meth:`embeddings`) saves computing them again."""
        x = self.features.transform(data.joints)
        if self.encoder is None:
            return x
        e = self.embeddings(data, device) if embeddings is None else np.array(embeddings, dtype=np.float64)
        if self.projection is not None:
            e = self.projection.transform(e)
            e[~data.has_image] = 0.0
        return np.concatenate([e, x], axis=1)

    def predict(self, data: JointData, device: str = "cpu", embeddings: np.ndarray | None = None) -> pd.DataFrame:
        """ln cycles to failure: the point prediction and the interval, one row per joint."""
        mu = self.design(data, device, embeddings) @ self.coef + self.intercept
        return pd.DataFrame({"joint_id": data.joints["joint_id"].to_numpy(), "log_pred": mu,
                             "log_lo": mu + self.sigma * self.bounds[0], "log_hi": mu + self.sigma * self.bounds[1]})

    def risk_direction(self) -> tuple[np.ndarray, float]:
        """Weights a on the raw embedding such that mu = a . e + (terms that do not depend on the image)."""
        w = self.coef[: self.embedding_width]
        if self.projection is None:
            return w, 0.0
        return self.projection.as_linear(w)


def subsample_labels(joints: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """Keep the labels of a random ``fraction`` of the labelled joints; the others become unlabelled."""
    if fraction >= 1.0:
        return joints
    labelled = np.nonzero(joints["labelled"].to_numpy(bool))[0]
    if not len(labelled):
        raise MawisError("the data set has no labelled joints; lifetime models need cycled joints with "
                         "readings or lifetimes.csv")
    keep = np.random.default_rng(seed).choice(labelled, size=max(1, round(fraction * len(labelled))), replace=False)
    out = joints.copy()
    out["labelled"] = False
    out.loc[out.index[keep], "labelled"] = True
    return out


def check_labels(joints: pd.DataFrame) -> None:
    labelled = joints[joints["labelled"]]
    if len(labelled) < MIN_LABELLED or labelled["event"].sum() < MIN_FAILED:
        raise MawisError(f"only {len(labelled)} labelled joints ({int(labelled['event'].sum())} with an observed "
                         f"failure); a lifetime model needs at least {MIN_LABELLED} and {MIN_FAILED}: "
                         "add cycled boards or raise --label-fraction")


def _outcome(joints: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (joints["log_time"].to_numpy(float), joints["event"].to_numpy(bool),
            joints["board_id"].astype(str).to_numpy())


def _fit_linear(z: np.ndarray, labelled: pd.DataFrame, cfg: LifetimeConfig, calibrate: bool, n_embedding: int = 0):
    """L2 choice by grouped CV, out-of-fold residuals for the interval, then the final fit."""
    log_t, event, groups = _outcome(labelled)
    grid = penalty_grid(cfg.alphas, cfg.embedding_alphas, n_embedding, z.shape[1], cfg.embedding_components)
    alpha, scores = select_alpha(z, log_t, event, groups, grid, cfg.folds)
    head = LinearAFT(alpha).fit(z, log_t, event)
    residuals, res_event, held = [], [], []
    for tr, te in group_folds(groups, event, cfg.folds) if calibrate else []:
        fold = LinearAFT(alpha).fit(z[tr], log_t[tr], event[tr])
        mu = fold.predict(z[te])
        residuals.append((log_t[te] - mu) / fold.sigma)
        res_event.append(event[te])
        held.append((te, mu))
    bounds = _bounds(residuals, res_event, cfg.interval_level)
    return head, bounds, {"alpha": penalty_label(alpha, n_embedding), **_out_of_fold(log_t, event, held)}


def _out_of_fold(log_t: np.ndarray, event: np.ndarray, held: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Scores of the calibration folds' predictions: an estimate of the model on unseen boards."""
    if not held:
        return {}
    rows = np.concatenate([te for te, _ in held])
    mu = np.concatenate([m for _, m in held])
    scores = lifetime_metrics(log_t[rows], event[rows], mu)
    return {"cv_metrics": {k: scores[k] for k in ("c_index", "r2", "mae", "within_2x", "n", "n_failed")}}


def _bounds(residuals: list, events: list, level: float) -> tuple[float, float]:
    if not residuals:  # no held-out residuals: the model's own normal quantiles
        z = float(norm.ppf(0.5 + level / 2.0))
        return -z, z
    return conformal_bounds(np.concatenate(residuals), np.concatenate(events), level)


def fit_features_model(data: JointData, cfg: LifetimeConfig, calibrate: bool = True) -> LifetimeModel:
    check_labels(data.joints)
    features = FeatureEncoder().fit(data.joints)
    lab = data.subset(data.labelled)
    head, bounds, info = _fit_linear(features.transform(lab.joints), lab.joints, cfg, calibrate)
    return LifetimeModel("features", features, head.coef, head.intercept, head.sigma, bounds, cfg.interval_level,
                         training={**info, "labelled": len(lab.joints)})


def fit_frozen_model(data: JointData, encoder: nn.Module, spec: InputSpec, encoder_info: dict,
                     cfg: LifetimeConfig, calibrate: bool = True, kind: str = "ssl") -> LifetimeModel:
    """``ssl`` (or the ``random`` control): PCA of the frozen embedding (all training joints) + features
    -> AFT head."""
    check_labels(data.joints)
    model = LifetimeModel(kind, FeatureEncoder().fit(data.joints), np.zeros(0), 0.0, 1.0, (-1.0, 1.0),
                          cfg.interval_level, encoder=encoder.eval(), spec=spec, encoder_info=encoder_info)
    raw = model.embeddings(data, cfg.device)
    model.projection = EmbeddingProjection.fit(raw[data.has_image], max(cfg.embedding_components))
    lab = data.subset(data.labelled)
    head, bounds, info = _fit_linear(model.design(lab, cfg.device), lab.joints, cfg, calibrate,
                                     n_embedding=model.embedding_width)
    model.coef, model.intercept, model.sigma, model.bounds = head.coef, head.intercept, head.sigma, bounds
    model.training = {**info, "labelled": len(lab.joints)}
    return model


class _EndToEndNet(nn.Module):
    def __init__(self, encoder: nn.Module, n_features: int, log_t: torch.Tensor):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.out_dim + n_features, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, float(log_t.mean()))
        self.log_sigma = nn.Parameter(torch.tensor(math.log(max(float(log_t.std()), 0.1)) if len(log_t) > 1 else 0.0))

    def forward(self, x, has_image, features):
        e = self.encoder(x) * has_image[:, None]
        return self.head(torch.cat([e, features], dim=1)).squeeze(1)


def _train_end_to_end(encoder_factory, lab: JointData, x: np.ndarray, cfg: LifetimeConfig, seed: int,
                      finetune: bool, progress=None, stage: str = "") -> _EndToEndNet:
    log_t, event, _ = _outcome(lab.joints)
    e2e = cfg.end_to_end
    torch.manual_seed(seed)  # before the encoder is built: a fresh one's weights follow the seed too
    y, ev = torch.tensor(log_t, dtype=torch.float32), torch.tensor(event)
    net = _EndToEndNet(encoder_factory(), x.shape[1], y)
    feats = torch.as_tensor(x, dtype=torch.float32)
    has = torch.as_tensor(lab.has_image, dtype=torch.float32)
    scale = e2e.finetune_encoder_lr_scale if finetune else 1.0
    groups = [{"params": net.encoder.parameters(), "lr": e2e.lr * scale, "base": e2e.lr * scale},
              {"params": [*net.head.parameters(), net.log_sigma], "lr": e2e.lr, "base": e2e.lr}]
    opt = torch.optim.AdamW(groups, weight_decay=e2e.weight_decay)
    augment, gen = BatchAugment(cfg.augment), torch.Generator().manual_seed(seed)
    batch = min(e2e.batch_size, len(y))
    net.train()
    for step in range(e2e.steps):
        for group in opt.param_groups:
            group["lr"] = group["base"] * 0.5 * (1.0 + math.cos(math.pi * step / e2e.steps))
        idx = torch.randint(len(y), (batch,), generator=gen)
        images = augment(lab.images[idx].float().div_(255.0), gen)
        loss = lognormal_nll(net(images, has[idx], feats[idx]), net.log_sigma, y[idx], ev[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if progress is not None and (step + 1) % 10 == 0:
            progress(stage, step + 1, e2e.steps)
    return net.eval()


def fit_end_to_end_model(data: JointData, encoder_factory, spec: InputSpec, encoder_info: dict, cfg: LifetimeConfig,
                         *, kind: str = "sl", calibrate: bool = True, progress=None) -> LifetimeModel:
    """``sl`` (fresh encoder) or ``ssl-finetune`` (pretrained encoder): encoder and head trained together
    with the censored log-normal likelihood. ``encoder_factory()`` returns a new encoder each call."""
    check_labels(data.joints)
    features = FeatureEncoder().fit(data.joints)
    lab = data.subset(data.labelled)
    x = features.transform(lab.joints)
    finetune = kind == "ssl-finetune"
    log_t, event, groups = _outcome(lab.joints)
    residuals, res_event, held = [], [], []
    splits = group_folds(groups, event, cfg.folds) if calibrate else []
    for i, (tr, te) in enumerate(splits):
        fold_net = _train_end_to_end(encoder_factory, lab.subset(tr), x[tr], cfg, cfg.seed + 1 + i, finetune,
                                     progress, f"{kind}: calibration fold {i + 1}")
        with torch.no_grad():
            part = lab.subset(te)
            mu = fold_net(part.images.float() / 255.0, torch.as_tensor(part.has_image, dtype=torch.float32),
                          torch.as_tensor(x[te], dtype=torch.float32)).numpy()
        residuals.append((log_t[te] - mu) / float(fold_net.log_sigma.detach().exp()))
        res_event.append(event[te])
        held.append((te, mu))
    net = _train_end_to_end(encoder_factory, lab, x, cfg, cfg.seed, finetune, progress, f"{kind}: training")
    weights = net.head.weight.detach().double().numpy().ravel()
    return LifetimeModel(kind, features, weights, float(net.head.bias.detach()), float(net.log_sigma.detach().exp()),
                         _bounds(residuals, res_event, cfg.interval_level), cfg.interval_level,
                         encoder=net.encoder.eval(), spec=spec, encoder_info=encoder_info,
                         training={"labelled": len(lab.joints), "steps": cfg.end_to_end.steps,
                                   **_out_of_fold(log_t, event, held)})


def fit_kind(kind: str, data: JointData, cfg: LifetimeConfig, *, encoder: nn.Module | None = None,
             spec: InputSpec | None = None, info: dict | None = None, calibrate: bool = True,
             progress=None) -> LifetimeModel:
    """Fit one of ``KINDS``. ``encoder`` is the pretrained encoder (``ssl``, ``ssl-finetune``); ``info``
    describes it, or the backbone that ``sl`` and ``random`` build fresh (seeded by ``cfg.seed``)."""
    if kind == "features":
        return fit_features_model(data, cfg, calibrate)
    if kind == "ssl":
        return fit_frozen_model(data, encoder, spec, info, cfg, calibrate)
    if kind == "ssl-finetune":
        return fit_end_to_end_model(data, copy_encoder_factory(encoder), spec, info, cfg, kind=kind,
                                    calibrate=calibrate, progress=progress)
    fresh = {**info, "method": None, "source": "random init", "sha256": None}
    factory = fresh_encoder_factory(info["encoder"], info["input_transform"])
    if kind == "random":
        torch.manual_seed(cfg.seed)
        return fit_frozen_model(data, factory(), spec, fresh, cfg, calibrate, kind="random")
    return fit_end_to_end_model(data, factory, spec, fresh, cfg, kind="sl", calibrate=calibrate, progress=progress)


def encoder_info(meta: dict, source: str) -> dict:
    """What a lifetime model records of the pretrained encoder it was built on."""
    return {"encoder": meta["encoder"], "input_transform": meta.get("input_transform", "none"),
            "method": meta.get("method"), "source": source, "sha256": meta.get("sha256", {}).get("encoder.pt")}


def input_spec(meta: dict) -> InputSpec:
    return InputSpec(**{k: meta["input"][k] for k in ("modality", "height", "width")})


def fresh_encoder_factory(name: str, input_transform: str):
    return lambda: build_encoder(name, input_transform)


def copy_encoder_factory(encoder: nn.Module):
    import copy
    return lambda: copy.deepcopy(encoder).train()


