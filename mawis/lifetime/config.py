"""Lifetime-model settings, as data (``mawis train --config FILE.toml``)::

    label_fraction = 0.1
    interval_level = 0.8

    [end_to_end]
    steps = 400
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ..errors import UsageError
from ..ssl.augment import AugmentConfig, augment_config_from_dict
from ..tomlio import read_toml

KINDS = ("features", "ssl", "ssl-finetune", "sl", "random")


@dataclass(frozen=True)
class EndToEndConfig:
    """Training of an encoder together with the head (the SL baseline, and SSL fine-tuning)."""
    steps: int = 300              # optimiser steps, whatever the number of labels
    batch_size: int = 64
    lr: float = 1e-3              # AdamW, cosine decay
    weight_decay: float = 1e-2
    finetune_encoder_lr_scale: float = 0.1  # fine-tuning moves a pretrained encoder slowly


@dataclass(frozen=True)
class LifetimeConfig:
    label_fraction: float = 1.0   # share of the labelled joints whose labels are used (the rest count as unlabelled)
    seed: int = 0
    # Images taken after this many cycles are not inputs: a cut at pull or failure time
    # carries the label itself. 0: as-reflowed images only, what a production joint has.
    input_max_cycles: int = 0
    interval_level: float = 0.8   # nominal coverage of the conformal interval
    folds: int = 5                # grouped folds: L2 choice and out-of-fold residuals for the intervals
    alphas: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0)  # L2 of the features block, chosen by grouped CV
    embedding_alphas: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0, 10000.0)  # the embedding block's own L2
    embedding_components: tuple[int, ...] = (4, 8, 16)  # leading PCA components of a frozen embedding: CV picks
    device: str = "cpu"
    end_to_end: EndToEndConfig = field(default_factory=EndToEndConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # end-to-end training only

    def validate(self) -> None:
        if not 0.0 < self.label_fraction <= 1.0:
            raise UsageError(f"label_fraction must lie in (0, 1] (got {self.label_fraction})")
        if not 0.5 <= self.interval_level < 1.0:
            raise UsageError(f"interval_level must lie in [0.5, 1) (got {self.interval_level})")
        if not isinstance(self.input_max_cycles, int) or self.input_max_cycles < 0:
            raise UsageError(f"input_max_cycles must be a non-negative integer (got {self.input_max_cycles!r})")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise UsageError(f"seed must be a non-negative integer (got {self.seed!r})")
        for name, value in (("folds", self.folds), ("embedding_components", min(self.embedding_components, default=0)),
                            ("[end_to_end] steps", self.end_to_end.steps),
                            ("[end_to_end] batch_size", self.end_to_end.batch_size)):
            if not isinstance(value, int) or value < 2:
                raise UsageError(f"{name} must be an integer >= 2 (got {value!r})")
        for name, values in (("alphas", self.alphas), ("embedding_alphas", self.embedding_alphas)):
            if not values or min(values) <= 0:
                raise UsageError(f"{name} must be a non-empty list of positive numbers")

    def to_dict(self) -> dict:
        return asdict(self)


def lifetime_config_from_dict(data: dict, source: str = "settings") -> LifetimeConfig:
    data = dict(data)
    known = {f.name for f in fields(LifetimeConfig)}
    unknown = set(data) - known
    if unknown:
        raise UsageError(f"{source}: unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    cfg = LifetimeConfig()
    if "end_to_end" in data:
        e2e = dict(data.pop("end_to_end"))
        bad = set(e2e) - {f.name for f in fields(EndToEndConfig)}
        if bad:
            raise UsageError(f"{source}: unknown [end_to_end] setting(s) {', '.join(sorted(bad))}")
        cfg = replace(cfg, end_to_end=EndToEndConfig(**e2e))
    if "augment" in data:
        cfg = replace(cfg, augment=augment_config_from_dict(data.pop("augment")))
    for name in ("alphas", "embedding_alphas"):
        if name in data:
            data[name] = tuple(float(a) for a in data[name])
    if "embedding_components" in data:
        data["embedding_components"] = tuple(int(k) for k in data["embedding_components"])
    cfg = replace(cfg, **data)
    cfg.validate()
    return cfg


def load_lifetime_config(path: Path | None) -> LifetimeConfig:
    return LifetimeConfig() if path is None else lifetime_config_from_dict(read_toml(path), str(path))
