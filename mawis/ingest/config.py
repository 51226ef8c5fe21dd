"""Ingestion settings, as data: encoder crops per modality, joint localisation, measurement,
failure thresholds, limits.

Override any of them with a TOML file (``mawis ingest --config FILE``)::

    [xray]                 # encoder crop (mawis.imaging.align.ModalityAlignment)
    crop_height = 128
    field_of_view = "joint"

    [locate]               # finding the joint in X-rays (mawis.imaging.locate.LocateSettings)
    max_joint_um = 15000.0

    [section]              # finding the solder in cross-sections (mawis.imaging.section.SectionSettings)
    [voids]                # void analysis (mawis.measure.xray.VoidSettings)
    [cracks]               # crack analysis (mawis.measure.micrograph.CrackSettings)

    [thresholds]
    crack_fraction = 0.5
    rth_increase_pct = 20.0
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ..errors import UsageError
from ..tomlio import read_toml
from ..imaging.align import DEFAULT_ALIGNMENT, FIELDS_OF_VIEW, ModalityAlignment
from ..imaging.locate import LocateSettings
from ..imaging.section import SectionSettings
from ..measure.micrograph import CrackSettings
from ..measure.pipeline import MeasureSettings
from ..measure.xray import VoidSettings
from .labels import FailureThresholds


@dataclass(frozen=True)
class IngestConfig:
    xray: ModalityAlignment = field(default_factory=lambda: DEFAULT_ALIGNMENT["xray"])
    micrograph: ModalityAlignment = field(default_factory=lambda: DEFAULT_ALIGNMENT["micrograph"])
    thresholds: FailureThresholds = field(default_factory=FailureThresholds)
    locate: LocateSettings = field(default_factory=LocateSettings)
    section: SectionSettings = field(default_factory=SectionSettings)
    voids: VoidSettings = field(default_factory=VoidSettings)
    cracks: CrackSettings = field(default_factory=CrackSettings)
    min_side_px: int = 8          # smaller images (or ROIs) cannot show a joint
    max_image_pixels: int = 100_000_000  # larger images are refused from their header, never decoded
    workers: int = 0              # 0: one process per CPU core
    strict: bool = False          # refuse the whole batch if any image is bad
    measure: bool = True          # measure voids and cracks on every crop (mawis.measure)

    def alignment(self, modality: str) -> ModalityAlignment:
        return self.xray if modality == "xray" else self.micrograph

    def measure_settings(self) -> MeasureSettings:
        return MeasureSettings(self.locate, self.voids, self.cracks)

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
            _check_number(f"[{name}] joint_margin", spec.joint_margin, -0.5, 10.0)
            if spec.field_of_view not in FIELDS_OF_VIEW:
                raise UsageError(f"[{name}] field_of_view must be one of {', '.join(FIELDS_OF_VIEW)} "
                                 f"(got {spec.field_of_view!r})")
        for name in ("locate", "section", "voids", "cracks"):
            _check_numbers(f"[{name}]", getattr(self, name))
        if not 0 < self.locate.min_joint_um < self.locate.max_joint_um:
            raise UsageError("[locate] needs 0 < min_joint_um < max_joint_um")
        _check_number("[thresholds] crack_fraction", self.thresholds.crack_fraction, 0.0, 1.0)
        _check_number("[thresholds] rth_increase_pct", self.thresholds.rth_increase_pct, 0.0, 1e4)
        _check_int("min_side_px", self.min_side_px, 1, 4096)
        _check_int("max_image_pixels", self.max_image_pixels, 64, 10**10)
        if not isinstance(self.workers, int) or self.workers < 0:
            raise UsageError(f"--workers must be 0 (auto) or positive (got {self.workers})")


MAX_CROP_SIDE = 4096


def _check_numbers(where: str, settings) -> None:
    """Every setting of a measurement table is a finite number of its declared type, >= 0."""
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.type in ("bool", bool):
            if not isinstance(value, bool):
                raise UsageError(f"{where} {f.name} must be true or false (got {value!r})")
            continue
        if f.type in ("str", str):
            if not isinstance(value, str):
                raise UsageError(f"{where} {f.name} must be text (got {value!r})")
            continue
        wanted = int if f.type in ("int", int) else float
        ok = not isinstance(value, bool) and isinstance(value, (int, float) if wanted is float else int)
        if not ok or not math.isfinite(value) or value < 0:
            kind = "an integer" if wanted is int else "a number"
            raise UsageError(f"{where} {f.name} must be {kind} >= 0 (got {value!r})")


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
        sections = {"xray": ModalityAlignment, "micrograph": ModalityAlignment, "thresholds": FailureThresholds,
                    "locate": LocateSettings, "section": SectionSettings, "voids": VoidSettings,
                    "cracks": CrackSettings}
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


def recorded_measure_settings(config: dict) -> MeasureSettings:
    """The measurement settings a data set was ingested with (``dataset.json``'s config), so
    re-measuring it reproduces ingestion; settings it does not record keep their defaults."""
    def build(cls, table):
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (table or {}).items() if k in names})

    return MeasureSettings(build(LocateSettings, config.get("locate")), build(VoidSettings, config.get("voids")),
                           build(CrackSettings, config.get("cracks")))
