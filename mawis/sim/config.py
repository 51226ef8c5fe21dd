"""Configuration of the virtual test lab, as data.

Machines (X-ray stations and their metallography labs) and package families live
in TOML files next to this module (``machines.toml``, ``components.toml``); the
physics and campaign settings are dataclasses with documented defaults.
:func:`load_machines` and :func:`load_components` accept another TOML file to
replace the shipped ones.

Held-out items. Exactly one package family and one station carry ``held_out =
true``: they are never simulated unless named explicitly (``families=`` /
``--families``, ``--held-out``, ``--machine``), so that models can be tested on a
package and a station they have never seen. :func:`development_families` and
:func:`development_machines` list the others.

Package families (``components.toml``): per family the body's effective CTE, the
body type (``ceramic``, ``chip``, ``emc`` mould over a lead frame, power
``module``), the cross-section look of its termination, bond wires, the board it
sits on, and a pad layout: pad *roles* (``[[FAMILY.pad]]``: sizes, solder height,
vias in the pad, traces) and *sites* (``[[FAMILY.site]]``: where each pad lies
relative to the package's neutral point, and the direction of the joint's x axis,
the direction fatigue cracks run and sections are cut, pointing away from the
package centre). A site with ``count > 1`` is a row of pads ``pitch_um`` apart
along the joint's y axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..tomlio import read_toml

_HERE = Path(__file__).parent
MACHINES_FILE = _HERE / "machines.toml"
COMPONENTS_FILE = _HERE / "components.toml"

LAYOUTS = ("single", "package", "panel")
QUALITIES = ("sharp", "noisy")
BODIES = ("ceramic", "chip", "emc", "module")
TERMINATIONS = ("thickfilm", "chip", "leadframe", "dbc")
WIRES = ("none", "gold", "copper", "aluminium")
BOARDS = ("fr4", "ims")
VIA_KINDS = ("microvia", "plugged", "solder")


@dataclass(frozen=True)
class XrayStation:
    """One X-ray station. ``pixel_size_um`` is its nominal magnification (the legacy
    single-joint renderer uses it); campaigns draw a pixel size per board within
    ``pixel_size_range_um`` so that the package (or joint) fills the detector."""

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
    pixel_size_range_um: tuple[float, float] = (0.0, 0.0)   # (0, 0): the nominal pixel size only
    detector_px: int = 1500          # longest image side the detector gives
    data_bits: int = 0               # significant bits (12-bit detectors write 16-bit files); 0 = bit_depth

    @property
    def pixel_range(self) -> tuple[float, float]:
        lo, hi = self.pixel_size_range_um
        return (lo, hi) if hi > 0 else (self.pixel_size_um, self.pixel_size_um)

    @property
    def significant_bits(self) -> int:
        return self.data_bits or self.bit_depth


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
    pixel_size_range_um: tuple[float, float] = (0.0, 0.0)   # per-sample magnification; (0, 0): nominal only
    max_width_px: int = 5200         # big joints go to the coarse end of the range
    mirror_prob: float = 0.0         # share of sections stored left-right mirrored
    flip_prob: float = 0.0           # share stored upside down

    @property
    def pixel_range(self) -> tuple[float, float]:
        lo, hi = self.pixel_size_range_um
        return (lo, hi) if hi > 0 else (self.pixel_size_um, self.pixel_size_um)


@dataclass(frozen=True)
class Machine:
    """An inspection site: one X-ray station plus the lab that cuts its cross-sections."""

    name: str
    description: str
    xray: XrayStation
    microscope: Microscope
    quality: str = "sharp"           # "sharp" or "noisy" (accuracy targets are reported per quality)
    held_out: bool = False


@dataclass(frozen=True)
class PadRole:
    """Size and surroundings of one kind of pad of a package (termination, thermal, lead ...)."""

    role: str
    width_um: tuple[float, float]            # along the joint's x axis (crack and section direction)
    length_um: tuple[float, float]
    solder_thickness_um: tuple[float, float] | None = None   # None: the family's range
    copper_margin_um: tuple[float, float] = (12.0, 35.0)     # copper pad beyond the wetted solder
    via_in_pad_prob: float = 0.0             # chance that the pad has filled vias under it
    vias: tuple[int, int] = (1, 1)           # n x n via grid when it has (range of n)
    via_kind: str = "microvia"               # microvia (Cu filled, shallow) | plugged (Cu filled through) | solder
    trace_prob: float = 0.85                 # chance that a trace leaves the pad
    corner_radius_share: tuple[float, float] = (0.06, 0.16)  # of the smaller pad side
    strain_factor: float = 1.0               # share of the mismatch strain reaching the solder (compliant leads < 1)


@dataclass(frozen=True)
class PadSite:
    """Where a pad lies in the package frame (origin = neutral point, um) and where its +x points."""

    role: str
    x_um: float
    y_um: float
    angle_deg: float = 0.0

    @property
    def dnp_um(self) -> float:
        """Distance from the package's neutral point to the pad centre."""
        return math.hypot(self.x_um, self.y_um)


@dataclass(frozen=True)
class Component:
    """A package family: body, pads and how it sits on the board."""

    name: str
    description: str
    cte_ppm: float
    dnp_um: float                  # nominal strain length of a joint without a site (legacy API)
    pad_width_um: tuple[float, float]     # the first pad role's sizes (legacy API)
    pad_length_um: tuple[float, float]
    solder_thickness_um: tuple[float, float]
    weight: float
    body: str = "ceramic"
    termination: str = "thickfilm"
    body_size_um: tuple[float, float] = (3000.0, 3000.0)
    body_tau: tuple[float, float] = (0.2, 0.4)       # body attenuation at the station's nominal kV
    leadframe_um: float = 0.0                        # copper lead frame thickness (EMC packages)
    die_size_um: tuple[float, float] = (0.0, 0.0)
    die_attach_um: float = 0.0                       # solder die attach (dark square in X-ray), 0 = glue
    bond_wires: int = 0
    wire: str = "none"
    wire_diameter_um: tuple[float, float] = (25.0, 25.0)
    board: str = "fr4"
    board_cte_ppm: float = 0.0                        # 0: the fatigue model's board CTE
    held_out: bool = False
    pads: tuple[PadRole, ...] = ()
    sites: tuple[PadSite, ...] = ()

    def role(self, name: str) -> PadRole:
        for pad in self.pads:
            if pad.role == name:
                return pad
        raise KeyError(name)

    @property
    def pads_per_package(self) -> int:
        return len(self.sites)

    def footprint_um(self) -> tuple[float, float]:
        """Half extents (x, y) of the package footprint: body and pads together, in the package frame."""
        hx, hy = self.body_size_um[0] / 2, self.body_size_um[1] / 2
        for site in self.sites:
            pad = self.role(site.role)
            r = 0.5 * math.hypot(pad.width_um[1], pad.length_um[1]) + pad.copper_margin_um[1]
            hx, hy = max(hx, abs(site.x_um) + r), max(hy, abs(site.y_um) + r)
        return hx, hy


@dataclass(frozen=True)
class VoidModel:
    """How voids are drawn (top-view area shares, sizes, placement).

    Sizes scale with the pad: every diameter is multiplied by
    ``(sqrt(pad area) / size_reference_um) ** size_exponent`` (clipped to
    ``size_scale_bounds``), so a 0201 termination has 5-40 um voids and a 10 mm
    power pad voids of 0.1-2 mm; big pads may hold up to ``max_voids *
    sqrt(scale)`` voids.
    """

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
    size_reference_um: float = 450.0
    size_exponent: float = 0.9
    size_scale_bounds: tuple[float, float] = (0.4, 10.0)
    min_diameter_um: float = 5.0


@dataclass(frozen=True)
class FatigueModel:
    """Crack initiation (Coffin-Manson/Engelmaier) and growth (Paris-type) constants.

    Engelmaier shear strain range: dgamma = L * dCTE * dT / h, with L the joint's
    strain length (distance from the package's neutral point to the joint's far
    edge: DNP of the pad centre plus half the joint width along the crack path).
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
    """One thermal-cycling campaign and its inspections.

    ``families``: package families on the boards (empty = every family that is not
    held out). ``joints_per_board``: about this many joints per board (whole
    packages: a board carries ``round(joints_per_board / pads per package)``
    packages, at least one).
    """

    joints: int = 200
    seed: int = 0
    machine: str = "xr-a"
    families: tuple[str, ...] = ()
    micrographs: bool = True
    micrograph_fraction: float = 0.3    # share of joints that get a cross-section (whole packages are cut)
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
        if isinstance(self.families, str):
            raise UsageError("families must be a list of family names, not one string")
        resolve_families(self.families)

    def family_names(self) -> tuple[str, ...]:
        """The families this campaign puts on its boards."""
        return resolve_families(self.families)


# --- loading ------------------------------------------------------------------------------------

def _build(cls: type, table: dict[str, Any], where: str):
    names = {f.name for f in fields(cls)}
    unknown = set(table) - names
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in table.items()})
    except TypeError as exc:
        raise UsageError(f"{where}: {exc}") from None


def _check_choice(value: str, choices: tuple[str, ...], where: str, key: str) -> None:
    if value not in choices:
        raise UsageError(f"{where}: {key} = {value!r}; choose one of: {', '.join(choices)}")


def load_machines(path: Path | None = None) -> dict[str, Machine]:
    path = Path(path or MACHINES_FILE)
    machines = {}
    for name, table in read_toml(path).items():
        try:
            xray, scope = table["xray"], table["microscope"]
        except KeyError as exc:
            raise UsageError(f"{path}: machine {name!r} lacks a [{name}.{exc.args[0]}] table") from None
        extra = set(table) - {"xray", "microscope", "description", "quality", "held_out"}
        if extra:
            raise UsageError(f"{path} [{name}]: unknown key(s) {', '.join(sorted(extra))}")
        station = _build(XrayStation, xray, f"{path} [{name}.xray]")
        _check_choice(station.layout, LAYOUTS, f"{path} [{name}.xray]", "layout")
        lo, hi = station.pixel_range
        if not 0 < lo <= hi:
            raise UsageError(f"{path} [{name}.xray]: pixel_size_range_um must be 0 < low <= high")
        quality = table.get("quality", "sharp")
        _check_choice(quality, QUALITIES, f"{path} [{name}]", "quality")
        machines[name] = Machine(
            name=name,
            description=table.get("description", ""),
            xray=station,
            microscope=_build(Microscope, scope, f"{path} [{name}.microscope]"),
            quality=quality,
            held_out=bool(table.get("held_out", False)),
        )
    return machines


def _expand_sites(entries: list[dict], where: str) -> tuple[PadSite, ...]:
    sites = []
    for k, entry in enumerate(entries):
        entry = dict(entry)
        count = int(entry.pop("count", 1))
        pitch = float(entry.pop("pitch_um", 0.0))
        site = _build(PadSite, entry, f"{where} site {k + 1}")
        # a row of pads along the joint's y axis (perpendicular to its x axis)
        a = math.radians(site.angle_deg)
        ny = (-math.sin(a), math.cos(a))
        for i in range(count):
            t = (i - (count - 1) / 2) * pitch
            sites.append(PadSite(site.role, site.x_um + t * ny[0], site.y_um + t * ny[1], site.angle_deg))
    return tuple(sites)


def _component(name: str, table: dict[str, Any], path: Path) -> Component:
    where = f"{path} [{name}]"
    table = dict(table)
    pad_tables = table.pop("pad", None)
    site_tables = table.pop("site", None)
    if not pad_tables or not site_tables:
        raise UsageError(f"{where}: a family needs [[{name}.pad]] and [[{name}.site]] tables")
    pads = tuple(_build(PadRole, p, f"{where} pad {k + 1}") for k, p in enumerate(pad_tables))
    sites = _expand_sites(site_tables, where)
    roles = {p.role for p in pads}
    for site in sites:
        if site.role not in roles:
            raise UsageError(f"{where}: site role {site.role!r} has no [[{name}.pad]] table")
    for pad in pads:
        _check_choice(pad.via_kind, VIA_KINDS, where, "via_kind")
    first = pads[0]
    thickness = tuple(table.get("solder_thickness_um", first.solder_thickness_um or (40.0, 70.0)))
    if "dnp_um" not in table:
        # nominal strain length: the farthest joint's far edge
        widths = {p.role: 0.5 * (p.width_um[0] + p.width_um[1]) for p in pads}
        table["dnp_um"] = max(s.dnp_um + 0.5 * widths[s.role] for s in sites)
    table.update(pad_width_um=first.width_um, pad_length_um=first.length_um, solder_thickness_um=thickness)
    component = _build(Component, {"name": name, **table}, where)
    for key, choices in (("body", BODIES), ("termination", TERMINATIONS), ("wire", WIRES), ("board", BOARDS)):
        _check_choice(getattr(component, key), choices, where, key)
    return replace(component, pads=pads, sites=sites)


def load_components(path: Path | None = None) -> dict[str, Component]:
    path = Path(path or COMPONENTS_FILE)
    return {name: _component(name, table, path) for name, table in read_toml(path).items()}


def development_families(path: Path | None = None) -> tuple[str, ...]:
    """Every package family that is not held out, in file order."""
    return tuple(name for name, c in load_components(path).items() if not c.held_out)


def held_out_families(path: Path | None = None) -> tuple[str, ...]:
    return tuple(name for name, c in load_components(path).items() if c.held_out)


def development_machines(path: Path | None = None) -> tuple[str, ...]:
    """Every inspection site that is not held out, in file order."""
    return tuple(name for name, m in load_machines(path).items() if not m.held_out)


def held_out_machines(path: Path | None = None) -> tuple[str, ...]:
    return tuple(name for name, m in load_machines(path).items() if m.held_out)


def resolve_families(names, path: Path | None = None) -> tuple[str, ...]:
    """Check family names (empty: the development families); unknown ones raise one line."""
    components = load_components(path)
    if not names:
        return tuple(n for n, c in components.items() if not c.held_out)
    unknown = [n for n in names if n not in components]
    if unknown:
        raise UsageError(f"unknown package family {unknown[0]!r}; choose from: {', '.join(components)}")
    return tuple(dict.fromkeys(names))


def get_machine(name: str, path: Path | None = None) -> Machine:
    machines = load_machines(path)
    if name not in machines:
        known = ", ".join(sorted(machines))
        raise UsageError(f"unknown machine {name!r}; choose one of: {known}")
    return machines[name]
