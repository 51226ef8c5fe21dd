"""Saving and loading lifetime models as plain data.

A lifetime model folder holds ``lifetime.json`` (kind, feature encoding, head scalars,
interval, encoder description, training settings and data fingerprint, the SHA-256 of
the weights) and ``weights.pt`` (a flat dict of tensors: head weights, PCA projection,
encoder state; loaded with ``weights_only=True`` after the hash check, so a tampered
file can neither run code nor be used silently).
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_dir
from ..errors import MawisError
from ..model_files import read_model_folder
from ..ssl.data import InputSpec
from ..ssl.encoders import build_encoder
from ..ssl.model_io import library_versions
from .models import EmbeddingProjection, LifetimeModel
from .table import FeatureEncoder

META_FILE = "lifetime.json"
WEIGHTS_FILE = "weights.pt"
FORMAT, FORMAT_VERSION = "mawis-lifetime", 1


def _tensors(model: LifetimeModel) -> dict[str, torch.Tensor]:
    out = {"head.coef": torch.from_numpy(np.asarray(model.coef, np.float64))}
    if model.projection is not None:
        for name in ("mean", "components", "scale"):
            out[f"projection.{name}"] = torch.from_numpy(np.asarray(getattr(model.projection, name), np.float64))
    if model.encoder is not None:
        out.update({f"encoder.{k}": v.detach().cpu() for k, v in model.encoder.state_dict().items()})
    return out


def save_lifetime_model(out_dir: Path, model: LifetimeModel, extra: dict, overwrite: bool = False,
                        files: dict[str, bytes] | None = None) -> Path:
    """Write the model folder atomically; ``extra`` (data set, metrics, ...) goes into lifetime.json,
    ``files`` (e.g. the drift reference) beside it, each vouched for by its SHA-256."""
    files = dict(files or {})
    buffer = io.BytesIO()
    torch.save(_tensors(model), buffer)
    weights = buffer.getvalue()
    meta = {
        "format": FORMAT, "version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "kind": model.kind, "features": model.features.to_dict(),
        "head": {"intercept": model.intercept, "sigma": model.sigma, "bounds": list(model.bounds),
                 "interval_level": model.level},
        "encoder": ({**model.encoder_info, "input": {"modality": model.spec.modality, "height": model.spec.height,
                                                      "width": model.spec.width}}
                    if model.encoder is not None else None),
        "training": model.training, "library_versions": library_versions(), **extra,
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in {WEIGHTS_FILE: weights, **files}.items()},
    }
    with atomic_dir(Path(out_dir), overwrite=overwrite, marker=META_FILE) as tmp:
        (tmp / WEIGHTS_FILE).write_bytes(weights)
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
    return Path(out_dir)


def load_lifetime_model(model_dir: Path) -> tuple[LifetimeModel, dict]:
    """The model of a folder written by :func:`save_lifetime_model`, after the hash check."""
    meta, data = read_model_folder(model_dir, META_FILE, WEIGHTS_FILE, FORMAT, FORMAT_VERSION,
                                   what="lifetime model", command="train")
    path = Path(model_dir) / WEIGHTS_FILE
    try:
        tensors = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        return _build(meta, tensors), meta
    except (KeyError, RuntimeError, ValueError, TypeError, pickle.UnpicklingError) as exc:
        raise MawisError(f"{path}: cannot rebuild the model ({type(exc).__name__}); train again") from None


def _build(meta: dict, tensors: dict) -> LifetimeModel:
    head = meta["head"]
    model = LifetimeModel(meta["kind"], FeatureEncoder.from_dict(meta["features"]), tensors["head.coef"].numpy(),
                          float(head["intercept"]), float(head["sigma"]), tuple(head["bounds"]),
                          float(head["interval_level"]), training=meta.get("training", {}))
    if "projection.mean" in tensors:
        model.projection = EmbeddingProjection(*(tensors[f"projection.{n}"].numpy()
                                                 for n in ("mean", "components", "scale")))
    info = meta.get("encoder")
    if info:
        encoder = build_encoder(info["encoder"], info.get("input_transform", "none"))
        state = {k[len("encoder."):]: v for k, v in tensors.items() if k.startswith("encoder.")}
        encoder.load_state_dict(state)
        model.encoder, model.encoder_info = encoder.eval(), {k: v for k, v in info.items() if k != "input"}
        model.spec = InputSpec(**info["input"])
    return model


def read_model_file(model_dir: Path, meta: dict, name: str) -> bytes | None:
    """The bytes of an extra file of a model folder after its hash check; None if the model has none."""
    recorded = meta.get("sha256", {}).get(name) if isinstance(meta.get("sha256"), dict) else None
    if recorded is None:
        return None
    path = Path(model_dir) / name
    if not path.is_file():
        raise MawisError(f"{model_dir}: {name} is missing; the model folder is incomplete")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != recorded:
        raise MawisError(f"{path}: content hash does not match {META_FILE}; the file was changed or damaged")
    return data
