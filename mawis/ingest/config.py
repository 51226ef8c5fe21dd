"""Ingestion settings, as data: canonical sampling per modality, failure thresholds, limits.

Override any of them with a TOML file (``mawis ingest --config FILE``)::

    [xray]
    pixel_size_um = 5.0
    crop_height = 128
    crop_width = 128

    [thresholds]
    crack_fraction = 0.5
    rth_increase_pct = 20.0
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ..errors import UsageError
from ..tomlio import read_toml
from ..imaging.align import DEFAULT_ALIGNMENT, ModalityAlignment
from .labels import FailureThresholds


@dataclass(frozen=True)
class IngestConfig:
    xray: ModalityAlignment = field(default_factory=lambda: DEFAULT_ALIGNMENT["xray"])
    micrograph: ModalityAlignment = field(default_factory=lambda: DEFAULT_ALIGNMENT["micrograph"])
    thresholds: FailureThresholds = field(default_factory=FailureThresholds)
    min_side_px: int = 8          # smaller images (or ROIs) cannot show a joint
    max_image_pixels: int = 100_000_000  # larger images are refused from their header, never decoded
    workers: int = 0              # 0: one process per CPU core
    strict: bool = False          # refuse the whole batch if any image is bad
    measure: bool = True          # measure voids and cracks on every crop (mawis.measure)

    def alignment(self, modality: str) -> ModalityAlignment:
        return self.xray if modality == "xray" else self.micrograph

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("workers")
        return data

    def validate(self) -> None:
        for name in ("xray", "micrograph"):
            spec = getattr(self, name)
            _check_number(f"[{name}] pixel_size_um", spec.pixel_size_um, 0.05, 1000.0)
            _check_int(f"[{name}] crop_height", spec.crop_height, 8, MAX_CROP_SIDE)
            _check_int(f"[{name}] crop_width", spec.crop_width, 8, MAX_CROP_SIDE)
            if spec.centre_on not in CENTRE_METHODS:
                raise UsageError(f"[{name}] centre_on must be one of {', '.join(CENTRE_METHODS)} (got {spec.centre_on!r})")
        _check_number("[thresholds] crack_fraction", self.thresholds.crack_fraction, 0.0, 1.0)
        _check_number("[thresholds] rth_increase_pct", self.thresholds.rth_increase_pct, 0.0, 1e4)
        _check_int("min_side_px", self.min_side_px, 1, 4096)
        _check_int("max_image_pixels", self.max_image_pixels, 64, 10**10)
        if not isinstance(self.workers, int) or self.workers < 0:
            raise UsageError(f"--workers must be 0 (auto) or positive (got {self.workers})")


MAX_CROP_SIDE = 4096
CENTRE_METHODS = ("dark_blob", "frame")


def _check_number(name: str, value, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value <= high:
        raise UsageError(f"{name} must be a number in ({low:g}, {high:g}] (got {value!r})")


def _check_int(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(f"{name} must be an integer in [{low}, {high}] (got {value!r})")


def _section(cls, base, table: dict, where: str):
    names = {f.name for f in fields(cls)}
    unknown = set(table) - names
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        return replace(base, **table)
    except TypeError as exc:
        raise UsageError(f"{where}: {exc}") from None


def load_ingest_config(path: Path | None, **overrides) -> IngestConfig:
    """Defaults, then the TOML file (if any), then explicit keyword overrides."""
    config = IngestConfig()
    if path is not None:
        table = read_toml(path, "config file")
        sections = {"xray": ModalityAlignment, "micrograph": ModalityAlignment, "thresholds": FailureThresholds}
        settings = ("min_side_px", "max_image_pixels")
        unknown = set(table) - set(sections) - set(settings)
        if unknown:
            raise UsageError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}")
        for name, cls in sections.items():
            if name in table:
                config = replace(config, **{name: _section(cls, getattr(config, name), table[name], f"{path} [{name}]")})
        config = replace(config, **{name: table[name] for name in settings if name in table})
    config = replace(config, **overrides)
    config.validate()
    return config
