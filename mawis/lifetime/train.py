"""``mawis train``: fit one lifetime model on a data set's labelled joints and save it.

The model uses every labelled joint (or ``label_fraction`` of them); how good it is
on unseen boards is what ``mawis evaluate`` measures. Interval bounds come from
out-of-fold residuals over grouped folds of the training joints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path


from ..atomic import check_writable_target
from ..errors import UsageError
from ..ingest.dataset import load_dataset
from ..ssl.config import PretrainConfig
from ..ssl.data import InputSpec
from ..ssl.model_io import load_encoder
from .config import KINDS, LifetimeConfig
from .io import META_FILE, save_lifetime_model
from .models import JointData, LifetimeModel, encoder_info, fit_kind, input_spec, joint_inputs, subsample_labels
from .table import joint_table


@dataclass
class TrainResult:
    out_dir: Path
    model: LifetimeModel
    summary: dict


def resolve_kind(kind: str, encoder_dir: Path | None) -> str:
    if kind == "auto":
        return "ssl" if encoder_dir is not None else "features"
    if kind not in KINDS:
        raise UsageError(f"--kind must be auto or one of {', '.join(KINDS)} (got {kind!r})")
    if kind in ("ssl", "ssl-finetune") and encoder_dir is None:
        raise UsageError(f"--kind {kind} needs a pretrained encoder: pass --encoder MODEL_DIR (from `mawis pretrain`)")
    return kind


def train_lifetime(dataset_dir: Path, out_dir: Path, cfg: LifetimeConfig = LifetimeConfig(), *,
                   encoder_dir: Path | None = None, kind: str = "auto", overwrite: bool = False,
                   progress=None) -> TrainResult:
    cfg.validate()
    kind = resolve_kind(kind, encoder_dir)
    out_dir = Path(out_dir)
    check_writable_target(out_dir, overwrite, marker=META_FILE)
    start = time.perf_counter()
    ds = load_dataset(dataset_dir)
    joints = subsample_labels(joint_table(ds, progress, cfg.input_max_cycles), cfg.label_fraction, cfg.seed)
    if kind == "features":
        model = fit_kind(kind, JointData(joints), cfg)
    else:
        loaded, spec, info = _encoder_and_spec(ds, encoder_dir)
        model = fit_kind(kind, joint_inputs(ds, joints, spec), cfg, encoder=loaded and loaded.encoder, spec=spec,
                         info=info, progress=progress)
    labelled = joints[joints["labelled"]]
    summary = {"kind": kind, "labelled_joints": len(labelled), "failed": int(labelled["event"].sum()),
               "censored": int((~labelled["event"]).sum()), "sigma": model.sigma,
               "interval_level": model.level, "interval_factor": math.exp(model.sigma * (model.bounds[1] - model.bounds[0])),
               "seconds": time.perf_counter() - start}
    extra = {"dataset": {"path": str(Path(dataset_dir).absolute()), "fingerprint": ds.info.get("batch_fingerprint"),
                         "joints": len(joints)},
             "config": cfg.to_dict(), "summary": summary}
    save_lifetime_model(out_dir, model, extra, overwrite=overwrite)
    return TrainResult(out_dir, model, summary)


def _encoder_and_spec(ds, encoder_dir: Path | None):
    """The pretrained encoder (or, for SL without one, the CPU default backbone's description)."""
    if encoder_dir is not None:
        loaded = load_encoder(encoder_dir)
        return loaded, input_spec(loaded.meta), encoder_info(loaded.meta, str(encoder_dir))
    default = replace(PretrainConfig(), modality="xray").resolved("cpu")
    spec = InputSpec.for_dataset(ds, "xray", default.input_scale)
    info = {"encoder": default.encoder, "input_transform": default.input_transform, "method": None,
            "source": "random init", "sha256": None}
    return None, spec, info
