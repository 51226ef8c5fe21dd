"""Saving and loading pretrained encoders as plain data.

A model folder holds ``encoder.pt`` (a state dict of tensors, loaded with
``weights_only=True`` so a tampered file cannot run code), ``model.json`` (what
built it: method, encoder, input size, configuration, data set fingerprint, library
versions, training curves, and the SHA-256 of ``encoder.pt``, checked before use),
``curves.csv`` and ``curves.png``.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..atomic import atomic_dir
from ..errors import MawisError
from ..model_files import read_model_folder
from .encoders import build_encoder

MODEL_FILE = "model.json"
WEIGHTS_FILE = "encoder.pt"
FORMAT = "mawis-encoder"
FORMAT_VERSION = 1


@dataclass
class LoadedEncoder:
    encoder: torch.nn.Module
    meta: dict

    @property
    def input_size(self) -> tuple[int, int]:
        return int(self.meta["input"]["height"]), int(self.meta["input"]["width"])


def library_versions() -> dict:
    import sklearn
    import torchvision

    from .. import __version__ as mawis_version
    return {"mawis": mawis_version, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__, "python": platform.python_version()}


def save_encoder(out_dir: Path, encoder: torch.nn.Module, *, config, spec, dataset_dir: Path, fingerprint: str,
                 history: list[dict], overwrite: bool = False) -> None:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in encoder.state_dict().items()}, buffer)
    weights = buffer.getvalue()
    meta = {
        "format": FORMAT, "version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "method": config.method, "encoder": config.encoder, "input_transform": config.input_transform,
        "out_dim": int(encoder.out_dim),
        "input": {"modality": spec.modality, "height": spec.height, "width": spec.width,
                  "scale_of_crop": config.input_scale},
        "config": config.to_dict(),
        "dataset": {"path": str(Path(dataset_dir).absolute()), "fingerprint": fingerprint},
        "library_versions": library_versions(),
        "history": history,
        "sha256": {WEIGHTS_FILE: hashlib.sha256(weights).hexdigest()},
    }
    with atomic_dir(Path(out_dir), overwrite=overwrite, marker=MODEL_FILE) as tmp:
        (tmp / WEIGHTS_FILE).write_bytes(weights)
        curves = pd.DataFrame(history)
        curves.to_csv(tmp / "curves.csv", index=False)
        _plot_curves(curves, tmp / "curves.png", config.method)
        (tmp / MODEL_FILE).write_text(json.dumps(meta, indent=2, default=str))


def _plot_curves(curves: pd.DataFrame, path: Path, method: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_probe) = plt.subplots(1, 2, figsize=(9, 3.2))
    trained = curves[curves["epoch"] > 0] if "loss" in curves else curves.iloc[0:0]
    if len(trained):
        ax_loss.plot(trained["epoch"], trained["loss"], marker="o")
    ax_loss.set(xlabel="epoch", ylabel=f"{method} loss", title="training loss")
    for column, label in (("ridge_r2", "ridge probe"), ("knn_r2", "kNN probe")):
        if column in curves:
            probed = curves.dropna(subset=[column])
            ax_probe.plot(probed["epoch"], probed[column], marker="o", label=label)
    ax_probe.set(xlabel="epoch (0 = random weights)", ylabel="R² of ln(cycles), held-out boards",
                 title="regression probe")
    if ax_probe.lines:
        ax_probe.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_encoder(model_dir: Path, device: str | torch.device = "cpu") -> LoadedEncoder:
    """The encoder of a model folder, after checking its format and content hash."""
    meta, data = read_model_folder(model_dir, MODEL_FILE, WEIGHTS_FILE, FORMAT, FORMAT_VERSION,
                                   what="encoder folder", command="pretrain")
    weights_path = Path(model_dir) / WEIGHTS_FILE
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        encoder = build_encoder(meta["encoder"], meta.get("input_transform", "none"))
        encoder.load_state_dict(state)
    except Exception as exc:
        raise MawisError(f"{weights_path}: cannot load the weights ({type(exc).__name__}); pretrain again") from None
    return LoadedEncoder(encoder.to(device).eval(), meta)
