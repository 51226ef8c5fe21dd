"""Pretraining settings, as data. Override any of them with a TOML file
(``mawis pretrain --config FILE``); command-line options win over the file::

    epochs = 30
    batch_size = 256
    lr = 0.002

    [augment]
    gamma_range = [-0.3, 0.3]

    [method_config]
    temperature = 0.1
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ..errors import UsageError
from ..tomlio import read_toml
from .augment import AugmentConfig, augment_config_from_dict
from .encoders import ENCODERS, INPUT_TRANSFORMS
from .methods import METHODS, MethodConfig
from .probe import ProbeConfig

MODALITIES = ("xray", "micrograph")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class PretrainConfig:
    method: str = "simclr"
    modality: str = "xray"
    encoder: str = "auto"            # auto: "small" on the CPU, "resnet18" on a GPU
    epochs: int = 20
    batch_size: int = 0              # 0: 128 on the CPU, 256 on a GPU
    lr: float = 2e-3                 # AdamW, cosine decay after a linear warm-up
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    input_scale: float = 0.0         # of the aligned crop; 0: 0.5 (small) or 1.0 (resnet18), halved for micrographs
    input_transform: str = "auto"    # auto: optical_depth for X-ray (Beer-Lambert, gain-free), none for micrographs
    device: str = "auto"
    seed: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    method_config: MethodConfig = field(default_factory=MethodConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)

    def resolved(self, device_type: str) -> "PretrainConfig":
        """Fill the ``auto`` / 0 settings for the device the run uses."""
        gpu, micrograph = device_type == "cuda", self.modality == "micrograph"
        encoder = self.encoder if self.encoder != "auto" else ("resnet18" if gpu else "small")
        return replace(
            self, encoder=encoder,
            batch_size=self.batch_size or (256 if gpu else 128),
            input_scale=self.input_scale or (1.0 if encoder == "resnet18" else 0.5) * (0.5 if micrograph else 1.0),
            input_transform=self.input_transform if self.input_transform != "auto"
            else ("optical_depth" if self.modality == "xray" else "none"),
        )

    def validate(self) -> None:
        for name, value, allowed in (("method", self.method, METHODS), ("modality", self.modality, MODALITIES),
                                     ("encoder", self.encoder, ("auto", *ENCODERS)), ("device", self.device, DEVICES),
                                     ("input_transform", self.input_transform, ("auto", *INPUT_TRANSFORMS))):
            if value not in allowed:
                raise UsageError(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
        for name, value, low in (("epochs", self.epochs, 1), ("batch_size", self.batch_size, 0)):
            if not isinstance(value, int) or value < low:
                raise UsageError(f"{name} must be an integer >= {low} (got {value!r})")
        if self.batch_size == 1:
            raise UsageError("batch_size must be at least 2 (contrastive losses compare samples)")
        if not 0.0 <= self.input_scale <= 4.0:
            raise UsageError(f"input_scale must lie in (0, 4] or be 0 for the default (got {self.input_scale})")
        _check(self.lr, "lr", 0.0, 10.0, low_open=True)
        _check(self.weight_decay, "weight_decay", 0.0, 1.0)
        _check(self.warmup_epochs, "warmup_epochs", 0.0, 1e4)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise UsageError(f"seed must be a non-negative integer (got {self.seed!r})")
        m, p = self.method_config, self.probe
        _check(m.temperature, "[method_config] temperature", 0.0, 10.0, low_open=True)
        _check(m.moco_momentum, "[method_config] moco_momentum", 0.0, 1.0)
        _check(m.byol_momentum, "[method_config] byol_momentum", 0.0, 1.0)
        _check(m.predictor_lr_scale, "[method_config] predictor_lr_scale", 0.0, 1000.0, low_open=True)
        for name in ("projection_hidden", "projection_dim", "moco_queue", "byol_predictor_hidden"):
            _check_int(getattr(m, name), f"[method_config] {name}", 1)
        _check_int(p.every_epochs, "[probe] every_epochs", 1)
        _check_int(p.neighbours, "[probe] neighbours", 1)
        _check_int(p.min_joints, "[probe] min_joints", 4)
        _check(p.test_share, "[probe] test_share", 0.05, 0.95)

    def to_dict(self) -> dict:
        return asdict(self)


def _check(value, name: str, low: float, high: float, low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and \
        (low < value if low_open else low <= value) and value <= high
    if not ok:
        raise UsageError(f"{name} must be a number in {'(' if low_open else '['}{low:g}, {high:g}] (got {value!r})")


def _check_int(value, name: str, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise UsageError(f"{name} must be an integer >= {low} (got {value!r})")


def _sub(cls, data: dict, section: str):
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise UsageError(f"[{section}] unknown setting(s) {', '.join(sorted(unknown))}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def pretrain_config_from_dict(data: dict, base: PretrainConfig = PretrainConfig()) -> PretrainConfig:
    data = dict(data)
    updates = {}
    if "augment" in data:
        updates["augment"] = augment_config_from_dict(data.pop("augment"))
    if "method_config" in data:
        updates["method_config"] = _sub(MethodConfig, data.pop("method_config"), "method_config")
    if "probe" in data:
        updates["probe"] = _sub(ProbeConfig, data.pop("probe"), "probe")
    known = {f.name for f in fields(PretrainConfig)} - {"augment", "method_config", "probe"}
    unknown = set(data) - known
    if unknown:
        raise UsageError(f"unknown setting(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    cfg = replace(base, **data, **updates)
    cfg.validate()
    return cfg


def load_pretrain_config(path: Path | None) -> PretrainConfig:
    if path is None:
        return PretrainConfig()
    try:
        return pretrain_config_from_dict(read_toml(path, "pretraining configuration"))
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None
    except TypeError as exc:
        raise UsageError(f"{path}: {exc}") from None
