"""Boards of the virtual test lab: packages placed on a board, with their pads, copper, vias and wires.

Board frame: x to the right, y down (as an image shows the board), micrometres.
A board carries several packages of one family on a grid (``rows x cols`` cells,
a gap of 0.5-2.5 mm between footprints), each turned by 0/90/180/270 degrees plus
a small placement error. Every pad of a package is a solder joint with its own
geometry (:mod:`.geometry`); the campaign's joints are the pads, package after
package, so the last package of a campaign may hold pads beyond its joint count:
they are on the board (and in the images) but not in the campaign.

What a top-view X-ray sees of a board (rendered by :mod:`.xray`):

* the laminate (FR4: glass weave; aluminium IMS: uniform, more absorbing);
* top-layer copper: each pad's copper land, larger than the wetted solder by a
  margin, traces leaving the pads (outward or sideways, sometimes bent by 45
  degrees, often ending in a plated through via), inner-layer copper bands;
* plated through vias: a copper barrel seen end-on (a dark ring) around an empty,
  brighter hole; filled vias under pads (:class:`~.geometry.PadVia`) are dark disks;
* per package: the body (ceramic, chip, EMC mould, or a power module's DBC
  ceramic), the copper lead frame under an EMC body (terminals over the pads, die
  paddle, tie bars), chip-resistor end caps, the die(s) and a solder die attach,
  bond wires (gold: thin and dark; aluminium: thick and faint) as curved arcs
  from the die to the terminals, partly crossing the pads;
* a few small decoy parts (0201/0402 chips) in the gaps between packages.

Everything is drawn from keyed random streams, so a board looks the same in every
inspection and whatever the number of worker processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import Component, PadRole, PadSite, VoidModel
from .geometry import JointGeometry, sample_joint_geometry

COPPER_UM = 35.0
NOMINAL_MU = 0.02      # tau values in components.toml are given at this SAC attenuation (per um)
# linear attenuation relative to SAC solder at the stations' tube voltages
MU_RATIO = {"copper": 0.45, "gold": 2.1, "aluminium": 0.03, "silicon": 0.025, "solder": 1.0}


@dataclass(frozen=True)
class PadScene:
    """Board-side surroundings of one pad, in its joint frame (um)."""

    copper_margin_um: float
    trace_width_um: float          # 0: no trace leaves the pad
    trace_angle_deg: float         # 0: along the joint's +x (away from the package centre)
    trace_length_um: float
    trace_bend_deg: float
    trace_bend_at_um: float
    trace_via: bool                # the trace ends in a plated through via
    via_drill_um: float
    via_land_um: float


def sample_pad_scene(rng: np.random.Generator, role: PadRole, geom: JointGeometry) -> PadScene:
    has_trace = rng.random() < role.trace_prob
    size = min(geom.width_um, geom.length_um)
    width = float(np.clip(size * rng.uniform(0.3, 0.75), 80.0, 2500.0)) if has_trace else 0.0
    angle = float(rng.choice([0.0, 0.0, 0.0, 90.0, -90.0]))
    drill = float(rng.uniform(200.0, 350.0))
    return PadScene(
        copper_margin_um=float(rng.uniform(*role.copper_margin_um)),
        trace_width_um=width,
        trace_angle_deg=angle,
        trace_length_um=float(rng.uniform(700.0, 2600.0) + 0.5 * size),
        trace_bend_deg=float(rng.choice([0.0, 45.0, -45.0])),
        trace_bend_at_um=float(rng.uniform(0.3, 0.8)),
        trace_via=bool(rng.random() < 0.6),
        via_drill_um=drill,
        via_land_um=drill + float(rng.uniform(180.0, 320.0)),
    )


@dataclass(frozen=True)
class PadInstance:
    """One pad of a package on the board."""

    joint_index: int               # campaign joint, or -1 (beyond the campaign's joint count, decoys)
    site_index: int
    geometry: JointGeometry
    scene: PadScene
    x_um: float                    # pad centre, board frame
    y_um: float
    angle_deg: float               # the joint's +x in the board frame (from +x towards +y)


@dataclass(frozen=True)
class Part:
    """A rotated rectangle of one material in the package frame (um)."""

    kind: str                      # body | leadframe | tiebar | die | attach | cap | resistive
    cx: float
    cy: float
    hx: float
    hy: float
    eq_um: float                   # attenuation as micrometres of SAC solder


@dataclass(frozen=True)
class Wire:
    points: np.ndarray             # k x 2, package frame (um)
    diameter_um: float
    material: str


@dataclass(frozen=True)
class Package:
    package_id: str
    family: str
    x_um: float
    y_um: float
    angle_deg: float
    pads: tuple[PadInstance, ...]
    parts: tuple[Part, ...]
    wires: tuple[Wire, ...]
    body_half_um: tuple[float, float]
    decoy: bool = False

    def to_board(self, points: np.ndarray) -> np.ndarray:
        a = math.radians(self.angle_deg)
        c, s = math.cos(a), math.sin(a)
        p = np.asarray(points, dtype=float)
        return np.stack([c * p[..., 0] - s * p[..., 1] + self.x_um, s * p[..., 0] + c * p[..., 1] + self.y_um], -1)


@dataclass(frozen=True)
class BoardScene:
    board_id: str
    family: str
    kind: str                      # fr4 | ims
    packages: tuple[Package, ...]  # campaign packages first (grid order), then decoys
    grid: tuple[int, int]          # rows, cols of the campaign packages
    cell_um: float
    vias: np.ndarray               # n x 4: x, y, drill, land of plated (open) through vias
    traces: tuple[tuple[np.ndarray, float], ...]     # top-layer polylines (board frame) and widths
    inner: tuple[tuple[np.ndarray, float], ...]      # inner-layer copper bands
    tau_board: float
    thickness_um: float
    copper_um: float
    weave_pitch_um: float
    weave_phase: tuple[float, float]
    weave_angle_rad: float
    mu_path_um: float              # thickest solder-equivalent path over a pad (sets the per-board kV)

    @property
    def campaign_packages(self) -> tuple[Package, ...]:
        return tuple(p for p in self.packages if not p.decoy)


def pad_centre(site: PadSite, centre: tuple[float, float], angle_deg: float) -> tuple[float, float, float]:
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return (centre[0] + c * site.x_um - s * site.y_um, centre[1] + s * site.x_um + c * site.y_um,
            (angle_deg + site.angle_deg) % 360.0)


def grid_layout(component: Component, n_packages: int, rng: np.random.Generator):
    """Package centres and angles on a grid: (rows, cols, cell size, [(x, y, angle)])."""
    hx, hy = component.footprint_um()
    module = component.body == "module"
    if module:  # the substrate grows with the pad: use the largest
        pad = component.pads[0]
        hx = hy = max(pad.width_um[1], pad.length_um[1]) / 2 + 1200.0
    size = 2 * max(hx, hy)
    gap = float(rng.uniform(500.0, 2500.0)) + 0.08 * size
    cell = size + gap
    cols = int(math.ceil(math.sqrt(n_packages)))
    rows = int(math.ceil(n_packages / cols))
    border = 2500.0
    places = []
    for k in range(n_packages):
        r, c = divmod(k, cols)
        jitter = rng.uniform(-0.12, 0.12, 2) * gap
        angle = float(rng.choice([0.0, 90.0, 180.0, 270.0]) + np.clip(rng.normal(0.0, 1.2), -4.0, 4.0))
        places.append((border + (c + 0.5) * cell + jitter[0], border + (r + 0.5) * cell + jitter[1], angle))
    return rows, cols, cell, gap, places


# --- package parts --------------------------------------------------------------------------------

def _package_parts(rng: np.random.Generator, component: Component, pads: list[tuple[PadSite, JointGeometry]]):
    """Body, lead frame, dies, caps and wires of one package, in its own frame."""
    parts: list[Part] = []
    wires: list[Wire] = []
    bx, by = component.body_size_um[0] / 2, component.body_size_um[1] / 2
    if component.body == "module":
        geom = pads[0][1]
        grow = rng.uniform(400.0, 1000.0)
        bx, by = geom.width_um / 2 + grow, geom.length_um / 2 + grow
    parts.append(Part("body", 0.0, 0.0, bx, by, float(rng.uniform(*component.body_tau)) / NOMINAL_MU))
    frame_eq = MU_RATIO["copper"] * component.leadframe_um
    if component.body == "chip":
        cap = rng.uniform(0.2, 0.3) * 2 * bx
        cap_eq = float(rng.uniform(0.3, 0.6)) / NOMINAL_MU      # Ag/Ni/Sn end caps
        for side in (-1, 1):
            parts.append(Part("cap", side * (bx - cap / 2), 0.0, cap / 2, by, cap_eq))
        parts.append(Part("resistive", 0.0, 0.0, bx - cap, by * 0.8, float(rng.uniform(0.04, 0.1)) / NOMINAL_MU))
    elif component.body == "emc" and frame_eq > 0:
        for site, geom in pads:
            # the terminal the solder wets, reaching inward under the mould
            reach = float(min(rng.uniform(0.15, 0.5) * geom.width_um, rng.uniform(150.0, 450.0)))
            reach = reach if site.dnp_um > 1.0 else 0.0
            a = math.radians(site.angle_deg)
            inward = -reach / 2
            cx = site.x_um + math.cos(a) * inward
            cy = site.y_um + math.sin(a) * inward
            hw, hl = geom.width_um / 2 + reach / 2, geom.length_um / 2
            if abs(math.sin(a)) > 0.7:
                hw, hl = hl, hw
            # the solder wets the terminal, which is as large or a little larger
            grow = float(rng.uniform(1.0, 1.05))
            parts.append(Part("leadframe", cx, cy, hw * grow, hl * grow, frame_eq))
        if any(s.dnp_um < 1.0 for s, _ in pads):  # die paddle tie bars to the corners
            w = float(rng.uniform(120.0, 200.0))
            for sx in (-1, 1):
                for sy in (-1, 1):
                    parts.append(Part("tiebar", sx * bx * 0.42, sy * by * 0.42, w / 2, w / 2, frame_eq))
    elif component.body == "module":
        geom = pads[0][1]
        parts.append(Part("leadframe", 0.0, 0.0, geom.width_um / 2, geom.length_um / 2, frame_eq))
        # patterned top copper: two or three islands
        n = int(rng.integers(2, 4))
        gap = rng.uniform(600.0, 1200.0)
        span = 2 * (bx - 300.0)
        island = (span - (n - 1) * gap) / n
        for i in range(n):
            cx = -span / 2 + island / 2 + i * (island + gap)
            parts.append(Part("leadframe", cx, 0.0, island / 2, by - 300.0, frame_eq))
    # dies
    dies = []
    dx, dy = component.die_size_um
    if dx > 0:
        n_dies = 1
        if component.name.startswith("LED-5050"):
            n_dies = 3
        elif component.body == "module":
            n_dies = int(rng.integers(2, 5))
        for k in range(n_dies):
            if n_dies == 1:
                cx, cy = _die_home(component, pads, rng)
            elif component.body == "module":
                cx = (k - (n_dies - 1) / 2) * (2 * bx / (n_dies + 0.5))
                cy = float(rng.uniform(-0.3, 0.3) * by)
            else:
                cx, cy = 0.0, (k - 1) * 1600.0
            scale = rng.uniform(0.85, 1.1)
            dies.append((cx, cy, dx / 2 * scale, dy / 2 * scale))
            thick = float(rng.uniform(150.0, 350.0))           # silicon (or sapphire/GaN) die
            parts.append(Part("die", cx, cy, dx / 2 * scale, dy / 2 * scale, MU_RATIO["silicon"] * thick))
            if component.die_attach_um > 0:
                parts.append(Part("attach", cx, cy, dx / 2 * scale * 1.03, dy / 2 * scale * 1.03,
                                  float(component.die_attach_um)))
    # bond wires: from a die's edge to the inner end of a terminal (or to a top-copper island)
    if component.bond_wires and dies:
        targets = [(s, g) for s, g in pads if s.dnp_um > 1.0] or pads
        for k in range(component.bond_wires):
            site, geom = targets[k % len(targets)]
            # each terminal is wired to its nearest die
            cx, cy, hx, hy = min(dies, key=lambda d: math.hypot(d[0] - site.x_um, d[1] - site.y_um))
            a = math.radians(site.angle_deg)
            tx = site.x_um - math.cos(a) * geom.width_um * rng.uniform(0.1, 0.45)
            ty = site.y_um - math.sin(a) * geom.width_um * rng.uniform(0.1, 0.45)
            if site.dnp_um <= 1.0:  # one pad only (module): land on the substrate beside the die
                tx, ty = cx + rng.uniform(1.2, 2.0) * hx * rng.choice([-1, 1]), cy + rng.uniform(-1, 1) * hy
            toward = np.array([tx - cx, ty - cy])
            toward /= max(np.linalg.norm(toward), 1e-6)
            start = np.array([cx, cy]) + toward * np.array([hx, hy]) * rng.uniform(0.6, 0.9)
            start += rng.uniform(-0.5, 0.5, 2) * np.array([hx, hy]) * toward[::-1]
            wires.append(Wire(_arc(start, np.array([tx, ty]), rng), float(rng.uniform(*component.wire_diameter_um)),
                              component.wire))
    return tuple(parts), tuple(wires), (bx, by)


def _die_home(component: Component, pads, rng) -> tuple[float, float]:
    """The single die sits on the thermal pad / paddle, or on one electrode terminal (lead-frame LEDs)."""
    centre = [s for s, _ in pads if s.dnp_um < 1.0]
    if centre or component.body != "emc":
        return 0.0, 0.0
    site, geom = pads[int(rng.integers(0, len(pads)))]
    a = math.radians(site.angle_deg)
    return site.x_um - math.cos(a) * geom.width_um * 0.7, site.y_um - math.sin(a) * geom.width_um * 0.7


def _arc(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, n: int = 24) -> np.ndarray:
    """A bond wire seen from above: a quadratic curve bulging sideways."""
    mid = (a + b) / 2
    d = b - a
    normal = np.array([-d[1], d[0]])
    bulge = rng.uniform(-0.35, 0.35)
    ctrl = mid + bulge * normal
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * a + 2 * (1 - t) * t * ctrl + t * t * b


# --- the board ----------------------------------------------------------------------------------

def _trace_polyline(pad: PadInstance) -> np.ndarray | None:
    sc = pad.scene
    if sc.trace_width_um <= 0:
        return None
    a = math.radians(pad.angle_deg + sc.trace_angle_deg)
    start = np.array([pad.x_um, pad.y_um])
    first = sc.trace_length_um * sc.trace_bend_at_um
    p1 = start + first * np.array([math.cos(a), math.sin(a)])
    b = a + math.radians(sc.trace_bend_deg)
    p2 = p1 + (sc.trace_length_um - first) * np.array([math.cos(b), math.sin(b)])
    return np.stack([start, p1, p2])


def build_board(
    board_id: str,
    component: Component,
    package_pads: list[list[tuple[int, int, JointGeometry, PadScene]]],
    rng: np.random.Generator,
    components: dict[str, Component],
    void_model: VoidModel,
    void_level: float,
) -> BoardScene:
    """Place the packages (each a list of (joint index, site index, geometry, pad scene)) on a board."""
    n = len(package_pads)
    rows, cols, cell, gap, grid_places = grid_layout(component, n, rng)
    packages = []
    for k, pads in enumerate(package_pads):
        x, y, angle = grid_places[k]
        parts, wires, half = _package_parts(rng, component, [(component.sites[i], g) for _, i, g, _ in pads])
        instances = []
        for joint_index, site_index, geom, scene in pads:
            px, py, pa = pad_centre(component.sites[site_index], (x, y), angle)
            instances.append(PadInstance(joint_index, site_index, geom, scene, px, py, pa))
        packages.append(Package(f"{board_id}-P{k + 1:02d}", component.name, x, y, angle, tuple(instances),
                                parts, wires, half))
    decoys = _decoys(rng, packages, cell, gap, components, void_model, void_level, board_id)
    # copper must not short: traces stop short of other pads, vias keep clear of every pad
    all_pads = [pad for package in packages + decoys for pad in package.pads]
    circles = np.array([[pad.x_um, pad.y_um, 0.5 * math.hypot(pad.geometry.width_um, pad.geometry.length_um)
                         + pad.scene.copper_margin_um] for pad in all_pads]).reshape(-1, 3)
    traces, vias = [], []
    for k, pad in enumerate(all_pads):
        line = _trace_polyline(pad)
        if line is None:
            continue
        line = _clip_trace(line, circles, k, pad.scene.trace_width_um / 2 + 120.0)
        if line is None:
            continue
        traces.append((line, pad.scene.trace_width_um))
        if pad.scene.trace_via and _clear(line[-1], circles, pad.scene.via_land_um / 2 + 100.0):
            vias.append([*line[-1], pad.scene.via_drill_um, pad.scene.via_land_um])
    kind = component.board
    width = 2 * 2500.0 + cols * cell
    height = 2 * 2500.0 + rows * cell
    inner = []
    if kind == "fr4":
        for _ in range(int(rng.integers(0, 4))):  # inner-layer copper bands crossing the board
            horizontal = rng.random() < 0.5
            pos = rng.uniform(0, height if horizontal else width)
            line = np.array([[0.0, pos], [width, pos]]) if horizontal else np.array([[pos, 0.0], [pos, height]])
            inner.append((line, float(rng.uniform(150.0, 900.0))))
        for _ in range(int(rng.integers(0, 2 * n + 2))):  # stitching vias, in the open board only
            drill = float(rng.uniform(200.0, 300.0))
            via = [rng.uniform(0, width), rng.uniform(0, height), drill, drill + rng.uniform(180.0, 300.0)]
            if _clear(np.array(via[:2]), circles, via[3] / 2 + 150.0):
                vias.append(via)
    thickness = float(rng.uniform(800.0, 1600.0)) if kind == "fr4" else float(rng.uniform(1000.0, 1600.0))
    mu_path = max(g.solder_thickness_um + MU_RATIO["copper"] * _frame_over_pad(component)
                  for pads in package_pads for _, _, g, _ in pads)
    return BoardScene(
        board_id=board_id, family=component.name, kind=kind,
        packages=tuple(packages + decoys), grid=(rows, cols), cell_um=cell,
        vias=np.array(vias, dtype=float).reshape(-1, 4),
        traces=tuple(traces), inner=tuple(inner),
        tau_board=float(rng.uniform(0.15, 0.3) if kind == "fr4" else rng.uniform(0.55, 0.8)),
        thickness_um=thickness,
        copper_um=COPPER_UM if kind == "fr4" else float(rng.uniform(35.0, 70.0)),
        weave_pitch_um=float(rng.uniform(380.0, 520.0)),
        weave_phase=(float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))),
        weave_angle_rad=float(rng.normal(0.0, 0.03)),
        mu_path_um=float(mu_path),
    )


def _clear(point: np.ndarray, circles: np.ndarray, clearance: float, skip: int = -1) -> bool:
    d = np.hypot(circles[:, 0] - point[0], circles[:, 1] - point[1]) - circles[:, 2]
    if skip >= 0:
        d[skip] = np.inf
    return bool(d.size == 0 or d.min() > clearance)


def _clip_trace(line: np.ndarray, circles: np.ndarray, own: int, clearance: float) -> np.ndarray | None:
    """The trace up to where it would come within ``clearance`` of another pad (None: too short)."""
    points = [line[0]]
    for a, b in zip(line[:-1], line[1:]):
        n = max(2, int(np.hypot(*(b - a)) / 20.0))
        last = a
        for t in np.linspace(0, 1, n)[1:]:
            p = a + t * (b - a)
            if not _clear(p, circles, clearance, skip=own):
                points.append(last)
                return np.stack(points) if _length(points) > 250.0 else None
            last = p
        points.append(b)
    return np.stack(points)


def _length(points) -> float:
    p = np.asarray(points)
    return float(np.hypot(*np.diff(p, axis=0).T).sum())


def _frame_over_pad(component: Component) -> float:
    if component.body == "module":
        return 2 * component.leadframe_um
    return component.leadframe_um if component.body == "emc" else 0.0


def _decoys(rng, packages: list[Package], cell: float, gap: float, components: dict[str, Component],
            void_model: VoidModel, void_level: float, board_id: str) -> list[Package]:
    """Small chip parts in the gaps between packages: seen in images, never joints of the campaign."""
    choices = [components[n] for n in ("R0402", "R0201") if n in components]
    decoys = []
    if not choices:
        return decoys
    for package in packages:
        if rng.random() >= 0.45:
            continue
        comp = choices[int(rng.integers(0, len(choices)))]
        hx, hy = comp.footprint_um()
        if 2 * max(hx, hy) > 0.8 * gap:
            continue
        side = int(rng.integers(0, 4))
        along = rng.uniform(-0.35, 0.35) * cell
        off = cell / 2
        dx, dy = [(off, along), (-off, along), (along, off), (along, -off)][side]
        x, y = package.x_um + dx, package.y_um + dy
        angle = float(rng.choice([0.0, 90.0]) + rng.normal(0.0, 1.0))
        pads = []
        for i, site in enumerate(comp.sites):
            geom = sample_joint_geometry(rng, comp, void_model, void_level, site)
            pads.append((i, site, geom, sample_pad_scene(rng, comp.role(site.role), geom)))
        parts, wires, half = _package_parts(rng, comp, [(s, g) for _, s, g, _ in pads])
        instances = []
        for i, site, geom, scene in pads:
            px, py, pa = pad_centre(site, (x, y), angle)
            # decoys are connected by short stubs only
            scene = PadScene(scene.copper_margin_um, min(scene.trace_width_um, 150.0), scene.trace_angle_deg,
                             min(scene.trace_length_um, 600.0), 0.0, 0.5, False, 0.0, 0.0)
            instances.append(PadInstance(-1, i, geom, scene, px, py, pa))
        decoys.append(Package(f"{board_id}-D{len(decoys) + 1:02d}", comp.name, x, y, angle, tuple(instances),
                              parts, wires, half, decoy=True))
    return decoys
