"""Configuration of the virtual test lab, as data.

Machines (X-ray stations and their metallography labs) and package families live
in TOML files next to this module; the physics and campaign settings are
dataclasses with documented defaults. :func:`load_machines` and
:func:`load_components` accept another TOML file to replace the shipped ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..tomlio import read_toml

_HERE = Path(__file__).parent
MACHINES_FILE = _HERE / "machines.toml"
COMPONENTS_FILE = _HERE / "components.toml"


@dataclass(frozen=True)
class XrayStation:
    station_id: str
    pixel_size_um: float
    fov_um: float
    bit_depth: int
    file_format: str
    photons: float
    gain: float
    offset: float
    gamma: float
    focal_blur_um: float
    detector_blur_px: float
    mu_solder_per_um: float
    vignetting: float
    layout: str = "single"
    panel_rows: int = 1
    panel_cols: int = 1


@dataclass(frozen=True)
class Microscope:
    station_id: str
    pixel_size_um: float
    file_format: str
    white_balance: tuple[float, float, float]
    illumination_falloff: float
    noise_sigma: float
    blur_px: float
    jpeg_quality: int = 0


@dataclass(frozen=True)
class Machine:
    """An inspection site: one X-ray station plus the lab that cuts its cross-sections."""

    name: str
    description: str
    xray: XrayStation
    microscope: Microscope


@dataclass(frozen=True)
class Component:
    name: str
    description: str
    cte_ppm: float
    dnp_um: float
    pad_width_um: tuple[float, float]
    pad_length_um: tuple[float, float]
    solder_thickness_um: tuple[float, float]
    weight: float


@dataclass(frozen=True)
class VoidModel:
    """How voids are drawn (top-view area shares, sizes, placement)."""

    board_median_fraction: float = 0.07   # paste/reflow lot median void area share
    board_sigma: float = 0.45              # lognormal spread between boards
    joint_sigma: float = 0.7               # lognormal spread between joints of a board
    max_fraction: float = 0.35
    void_free_prob: float = 0.08           # joints with almost no voids
    median_diameter_um: tuple[float, float] = (14.0, 55.0)
    diameter_sigma: float = 0.55           # lognormal sigma of void diameters
    big_void_prob: float = 0.18            # one dominant void
    big_void_diameter_um: tuple[float, float] = (80.0, 210.0)
    placement_probs: tuple[float, float, float] = (0.55, 0.27, 0.18)  # uniform, clustered, edge
    max_voids: int = 90


@dataclass(frozen=True)
class FatigueModel:
    """Crack initiation (Coffin-Manson/Engelmaier) and growth (Paris-type) constants.

    Engelmaier shear strain range: dgamma = dnp * dCTE * dT / h.
    Initiation: N0 = k_init * dgamma ** -n_init.
    Growth along the component-side interface: da/dN = k_growth * dgamma ** n_growth
    in um/cycle, accelerated where voids cut the crack path.
    Failure: the crack spans ``failure_crack_fraction`` of the joint width.
    """

    board_cte_ppm: float = 16.0
    delta_t_k: float = 165.0            # -40/+125 degC
    k_init: float = 0.6
    n_init: float = 2.0
    k_growth: float = 46.0
    n_growth: float = 2.0
    joint_sigma: float = 0.28           # lognormal scatter between nominally equal joints
    side_sigma: float = 0.15            # extra scatter of initiation per joint edge
    board_sigma: float = 0.08
    path_void_coupling: float = 0.85    # how much a voided ligament speeds the crack (<1)
    nearby_void_weight: float = 0.35    # voids off the crack plane still concentrate strain
    edge_band_um: float = 60.0          # edge voids here hasten initiation
    edge_void_initiation: float = 6.0   # N0 *= exp(-this * edge void share)
    area_strain_gain: float = 1.5       # dgamma *= 1 + this * void share (load-bearing area)
    failure_crack_fraction: float = 0.5


@dataclass(frozen=True)
class CampaignConfig:
    """One thermal-cycling campaign and its inspections."""

    joints: int = 200
    seed: int = 0
    machine: str = "xr-a"
    micrographs: bool = True
    micrograph_fraction: float = 0.3    # share of joints that get a cross-section
    label_fraction: float = 0.5         # share of joints on boards that go into cycling
    joints_per_board: int = 16
    end_cycles: int = 4000              # the test stops here: survivors are right-censored
    xray_cycles: tuple[int, ...] = (0, 1500, 3000)
    pull_cycles: tuple[int, ...] = (1000, 2000, 3000)
    reading_interval: int | None = None  # None: drawn per campaign from reading_intervals
    reading_intervals: tuple[int, ...] = (100, 150, 200, 250)
    reading_jitter: float = 0.08        # share of the interval
    missing_reading_prob: float = 0.07
    event_detector_share: float = 0.2   # test boards monitored by an event detector only
    measured: tuple[str, ...] = ("crack_fraction", "rth_increase_pct")
    crack_reading_sigma: float = 0.015
    rth_reading_sigma_pct: float = 0.5
    workers: int = 0                     # 0: one per CPU core
    voids: VoidModel = field(default_factory=VoidModel)
    fatigue: FatigueModel = field(default_factory=FatigueModel)

    def validate(self) -> None:
        """Raise :class:`UsageError` with one line naming the bad setting."""
        if self.joints < 1:
            raise UsageError(f"--joints must be at least 1 (got {self.joints})")
        for name in ("label_fraction", "micrograph_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                flag = "--" + name.replace("_", "-")
                raise UsageError(f"{flag} must lie in [0, 1] (got {value})")
        if self.joints_per_board < 1:
            raise UsageError(f"joints_per_board must be at least 1 (got {self.joints_per_board})")
        if self.end_cycles <= 0:
            raise UsageError(f"--end-cycles must be positive (got {self.end_cycles})")
        if self.workers < 0:
            raise UsageError(f"--workers must be 0 (auto) or positive (got {self.workers})")
        unknown = set(self.measured) - {"crack_fraction", "rth_increase_pct"}
        if unknown or not self.measured:
            raise UsageError("measured must name crack_fraction and/or rth_increase_pct")


def _build(cls: type, table: dict[str, Any], where: str):
    names = {f.name for f in fields(cls)}
    unknown = set(table) - names
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in table.items()})
    except TypeError as exc:
        raise UsageError(f"{where}: {exc}") from None


def load_machines(path: Path | None = None) -> dict[str, Machine]:
    path = Path(path or MACHINES_FILE)
    machines = {}
    for name, table in read_toml(path).items():
        try:
            xray, scope = table["xray"], table["microscope"]
        except KeyError as exc:
            raise UsageError(f"{path}: machine {name!r} lacks a [{name}.{exc.args[0]}] table") from None
        machines[name] = Machine(
            name=name,
            description=table.get("description", ""),
            xray=_build(XrayStation, xray, f"{path} [{name}.xray]"),
            microscope=_build(Microscope, scope, f"{path} [{name}.microscope]"),
        )
    return machines


def load_components(path: Path | None = None) -> dict[str, Component]:
    path = Path(path or COMPONENTS_FILE)
    return {
        name: _build(Component, {"name": name, **table}, f"{path} [{name}]")
        for name, table in read_toml(path).items()
    }


def get_machine(name: str, path: Path | None = None) -> Machine:
    machines = load_machines(path)
    if name not in machines:
        known = ", ".join(sorted(machines))
        raise UsageError(f"unknown machine {name!r}; choose one of: {known}")
    return machines[name]
