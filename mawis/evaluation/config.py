"""Evaluation settings, as data (``mawis evaluate --config FILE.toml``)::

    label_fraction = 0.1
    fractions = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0]
    seeds = [0, 1, 2]

    [pretrain]
    epochs = 20

    [lifetime]
    interval_level = 0.8
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ..errors import UsageError
from ..lifetime.config import KINDS, LifetimeConfig, lifetime_config_from_dict
from ..ssl.config import PretrainConfig, pretrain_config_from_dict
from ..tomlio import read_toml
from .distortions import DISTORTIONS


@dataclass(frozen=True)
class EvaluationConfig:
    label_fraction: float = 0.1          # labels used by the headline comparison
    fractions: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0)  # label-efficiency curve
    seeds: tuple[int, ...] = (0, 1, 2)   # label subsets and initialisations per curve point
    test_share: float = 0.3              # held-out share of boards
    split_seed: int = 0
    models: tuple[str, ...] = ("ssl", "ssl-finetune", "sl", "random", "features")
    curve_models: tuple[str, ...] = ("ssl", "sl", "random", "features")
    pretrain_on_test: bool = False       # let pretraining see the test joints' images (never their labels)
    # (kind, level): gamma exponent, noise sigma of full scale, blur sigma in um
    distortions: tuple[tuple[str, float], ...] = (("gamma", 0.7), ("gamma", 1.4), ("noise", 0.03), ("blur", 7.5))
    saliency_examples: int = 6
    saliency_joints: int = 150           # test joints whose maps are scored
    tsne: bool = True
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    lifetime: LifetimeConfig = field(default_factory=LifetimeConfig)

    def validate(self) -> None:
        for name, values in (("fractions", self.fractions), ("label_fraction", (self.label_fraction,))):
            if not values or any(not 0.0 < f <= 1.0 for f in values):
                raise UsageError(f"{name} must lie in (0, 1] (got {values})")
        if not self.seeds or any(not isinstance(s, int) or s < 0 for s in self.seeds):
            raise UsageError(f"seeds must be non-negative integers (got {self.seeds})")
        if not 0.05 <= self.test_share <= 0.8:
            raise UsageError(f"test_share must lie in [0.05, 0.8] (got {self.test_share})")
        for name, models in (("models", self.models), ("curve_models", self.curve_models)):
            bad = [m for m in models if m not in KINDS]
            if bad or not models:
                raise UsageError(f"{name}: unknown model kind(s) {bad}; known: {', '.join(KINDS)}")
        for kind, _level in self.distortions:
            if kind not in DISTORTIONS:
                raise UsageError(f"distortions: unknown kind {kind!r}; known: {', '.join(DISTORTIONS)}")
        self.pretrain.validate()
        self.lifetime.validate()

    def to_dict(self) -> dict:
        return asdict(self)


def evaluation_config_from_dict(data: dict, source: str = "settings") -> EvaluationConfig:
    data = dict(data)
    unknown = set(data) - {f.name for f in fields(EvaluationConfig)}
    if unknown:
        raise UsageError(f"{source}: unknown setting(s) {', '.join(sorted(unknown))}")
    cfg = EvaluationConfig()
    if "pretrain" in data:
        cfg = replace(cfg, pretrain=pretrain_config_from_dict(data.pop("pretrain")))
    if "lifetime" in data:
        cfg = replace(cfg, lifetime=lifetime_config_from_dict(data.pop("lifetime"), f"{source} [lifetime]"))
    for name in ("fractions", "seeds", "models", "curve_models"):
        if name in data:
            data[name] = tuple(data[name])
    if "distortions" in data:
        data["distortions"] = tuple((str(k), float(v)) for k, v in data["distortions"])
    cfg = replace(cfg, **data)
    cfg.validate()
    return cfg


def load_evaluation_config(path: Path | None) -> EvaluationConfig:
    return EvaluationConfig() if path is None else evaluation_config_from_dict(read_toml(path), str(path))
