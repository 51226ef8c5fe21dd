"""Fitting one lifetime model on a data set's labelled joints (``mawis train`` saves it).

The model uses every labelled joint (or ``label_fraction`` of them); how good it is
on unseen boards is what ``mawis evaluate`` measures. Interval bounds come from
out-of-fold residuals over grouped folds of the training joints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path


from ..errors import MawisError, UsageError
from ..ingest.dataset import load_dataset, xray_stations
from ..ssl.config import PretrainConfig
from ..ssl.data import InputSpec
from ..ssl.model_io import load_encoder
from .config import KINDS, LifetimeConfig
from .models import JointData, LifetimeModel, encoder_info, fit_kind, input_spec, joint_inputs, subsample_labels
from .table import joint_table


@dataclass
class FittedLifetime:
    """A fitted model with the joints it was fitted on (the drift reference is built from them)."""
    model: LifetimeModel
    data: JointData
    summary: dict
    extra: dict    # what lifetime.json records about the training run


def resolve_kind(kind: str, has_encoder: bool) -> str:
    if kind == "auto":
        return "ssl" if has_encoder else "features"
    if kind not in KINDS:
        raise UsageError(f"--kind must be auto or one of {', '.join(KINDS)} (got {kind!r})")
    if kind in ("ssl", "ssl-finetune") and not has_encoder:
        raise UsageError(f"--kind {kind} needs a pretrained encoder: pass --encoder MODEL_DIR (from `mawis pretrain`)")
    return kind


def fit_lifetime(dataset_dir: Path, cfg: LifetimeConfig = LifetimeConfig(), *, encoder_dir: Path | None = None,
                 kind: str = "auto", progress=None, encoder=None) -> FittedLifetime:
    """Fit one lifetime model on a data set's labels. ``encoder`` (a LoadedEncoder) may stand in for
    ``encoder_dir`` when the caller has it in memory already."""
    cfg.validate()
    kind = resolve_kind(kind, encoder_dir is not None or encoder is not None)
    start = time.perf_counter()
    ds = load_dataset(dataset_dir)
    table = joint_table(ds, progress, cfg.input_max_cycles)
    if not table["labelled"].any():
        raise MawisError(f"{dataset_dir}: the data set has no lifetime labels (its batch had no readings in "
                         "measurements.csv and no lifetimes.csv); train on a data set of cycled boards")
    joints = subsample_labels(table, cfg.label_fraction, cfg.seed)
    if kind == "features":
        data = JointData(joints)
        model = fit_kind(kind, data, cfg)
    else:
        loaded, spec, info = _encoder_and_spec(ds, encoder_dir, encoder)
        data = joint_inputs(ds, joints, spec)
        model = fit_kind(kind, data, cfg, encoder=loaded and loaded.encoder, spec=spec, info=info, progress=progress)
    labelled = joints[joints["labelled"]]
    summary = {"kind": kind, "labelled_joints": len(labelled), "failed": int(labelled["event"].sum()),
               "censored": int((~labelled["event"]).sum()), "sigma": model.sigma,
               "interval_level": model.level, "interval_factor": math.exp(model.sigma * (model.bounds[1] - model.bounds[0])),
               "seconds": time.perf_counter() - start}
    cv = model.training.get("cv_metrics")
    extra = {"dataset": {"path": str(Path(dataset_dir).absolute()), "fingerprint": ds.info.get("batch_fingerprint"),
                         "sources": ds.info.get("sources") or [ds.info.get("batch_fingerprint")],
                         "joints": len(joints), "labelled": summary["labelled_joints"], "failed": summary["failed"],
                         "censored": summary["censored"],
                         "components": sorted(joints["component"].dropna().astype(str).unique().tolist()),
                         "stations": xray_stations(ds.images)},
             "config": cfg.to_dict(), "summary": summary,
             "metrics": {"source": f"out-of-fold predictions over {cfg.folds} grouped folds of the training boards "
                                   "(the folds that also chose the penalties: slightly optimistic)",
                         "values": cv} if cv else None}
    return FittedLifetime(model, data, summary, extra)


def _encoder_and_spec(ds, encoder_dir: Path | None, loaded=None):
    """The pretrained encoder (or, for SL without one, the CPU default backbone's description)."""
    if encoder_dir is not None or loaded is not None:
        loaded = loaded or load_encoder(encoder_dir)
        return loaded, input_spec(loaded.meta), encoder_info(loaded.meta, str(encoder_dir or loaded.meta.get("source", "")))
    default = replace(PretrainConfig(), modality="xray").resolved("cpu")
    spec = InputSpec.for_dataset(ds, "xray", default.input_scale)
    info = {"encoder": default.encoder, "input_transform": default.input_transform, "method": None,
            "source": "random init", "sha256": None}
    return None, spec, info
