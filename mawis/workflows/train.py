"""``mawis train``: fit a lifetime model, attach its drift reference, and register it (or write it
to a plain folder with ``--out``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..atomic import check_writable_target
from ..lifetime.config import LifetimeConfig
from ..lifetime.io import META_FILE, save_lifetime_model
from ..lifetime.train import FittedLifetime, fit_lifetime
from ..registry.drift import REFERENCE_FILE, DriftConfig, model_profile, reference_bytes
from ..registry.store import Registry


@dataclass
class TrainResult:
    out_dir: Path
    model_id: str | None     # None: a plain folder outside the registry
    promoted: bool
    fitted: FittedLifetime

    @property
    def summary(self) -> dict:
        return self.fitted.summary

    @property
    def model(self):
        return self.fitted.model


def save_fitted(fitted: FittedLifetime, out_dir: Path, *, record: dict | None = None, overwrite: bool = False,
                drift: DriftConfig = DriftConfig(), metrics: dict | None = None) -> Path:
    """Write the model folder with its drift reference; ``record`` is its registry record."""
    profile = model_profile(fitted.model, fitted.data, fitted.extra["config"].get("device", "cpu"))
    extra = {**fitted.extra, **({"registry": record} if record else {}), **({"metrics": metrics} if metrics else {})}
    return save_lifetime_model(out_dir, fitted.model, extra, overwrite=overwrite,
                               files={REFERENCE_FILE: reference_bytes(profile, drift)})


def register_fitted(fitted: FittedLifetime, registry: Registry, *, parent: str | None = None,
                    metrics: dict | None = None) -> tuple[str, Path]:
    """Save under a new id in ``registry``; the id and folder."""
    model_id = registry.new_id(fitted.summary["kind"])
    path = registry.root / model_id
    save_fitted(fitted, path, record={"id": model_id, "parent": parent}, metrics=metrics)
    return model_id, path


def train_model(dataset_dir: Path, cfg: LifetimeConfig = LifetimeConfig(), *, encoder_dir: Path | None = None,
                kind: str = "auto", out_dir: Path | None = None, registry: Registry | None = None,
                overwrite: bool = False, progress=None) -> TrainResult:
    """Fit and save. Without ``out_dir`` the model goes into ``registry`` under a new id, and
    becomes the promoted model if none is promoted yet."""
    if out_dir is not None:
        check_writable_target(Path(out_dir), overwrite, marker=META_FILE)
    fitted = fit_lifetime(dataset_dir, cfg, encoder_dir=encoder_dir, kind=kind, progress=progress)
    if out_dir is not None:
        return TrainResult(save_fitted(fitted, Path(out_dir), overwrite=overwrite), None, False, fitted)
    registry = registry or Registry()
    model_id, path = register_fitted(fitted, registry)
    return TrainResult(path, model_id, registry.promote_if_none(model_id), fitted)
