"""Physical joint geometry: pad outline, solder height and voids, in micrometres.

The joint frame has its origin at the pad centre; x runs across the joint width
(the direction a fatigue crack travels from the joint edges inward and the
direction of the metallographic cut; it points away from the package's neutral
point), y along its length, z up from the copper pad to the component.
Everything here is resolution free: images are rendered from this description
at whatever pixel size a station has.

Sizes come from the family's pad role (:class:`~.config.PadRole`): a 0201
termination is 0.2 mm wide, a power-module pad 10 mm. Corner radius, fillet
and edge roughness scale with the pad and the solder height; void diameters
scale with the pad (:class:`~.config.VoidModel`), so a big pad has big voids
and may hold more of them. Pads with vias under them (``JointGeometry.vias``:
copper- or solder-filled vias seen as dark disks in X-ray) outgas during
reflow: some of their voids sit over the vias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Component, PadRole, PadSite, VoidModel

EDGE_HARMONICS = np.arange(3, 9)


@dataclass(frozen=True)
class Void:
    """A gas void: an ellipsoid-like bubble inside the solder."""

    cx_um: float
    cy_um: float
    rx_um: float
    ry_um: float
    angle_rad: float
    height_frac: float   # void height as a share of the solder height
    z_frac: float        # void centre height: 0 = copper pad side, 1 = component side

    @property
    def reaches_component_side(self) -> bool:
        """True if the void touches the plane where fatigue cracks run."""
        return self.z_frac + self.height_frac / 2 >= 0.85


@dataclass(frozen=True)
class PadVia:
    """A filled via under the pad (joint frame, um): a dark disk in X-ray.

    ``kind``: microvia (laser-drilled, copper-filled, ``depth_um`` deep), plugged
    (through via filled with copper) or solder (open through via that solder
    wicked into, ``depth_um`` deep).
    """

    cx_um: float
    cy_um: float
    radius_um: float
    kind: str
    depth_um: float


@dataclass(frozen=True)
class JointGeometry:
    component: str
    width_um: float            # along x
    length_um: float           # along y
    corner_radius_um: float
    solder_thickness_um: float
    fillet_um: float           # width of the edge zone where the solder thins out
    edge_amplitudes_um: tuple[float, ...]
    edge_phases: tuple[float, ...]
    voids: tuple[Void, ...]
    role: str = ""             # pad role in the family (termination, thermal, lead ...)
    dnp_um: float | None = None  # distance from the package's neutral point to the pad centre
    vias: tuple[PadVia, ...] = ()

    @property
    def strain_length_um(self) -> float | None:
        """Engelmaier's distance for this joint: its far edge from the neutral point."""
        return None if self.dnp_um is None else self.dnp_um + self.width_um / 2

    @property
    def area_um2(self) -> float:
        """Wetted area of the rounded-rectangle outline (edge roughness averages out)."""
        r = self.corner_radius_um
        return self.width_um * self.length_um - (4 - np.pi) * r * r


def solder_sdf(geom: JointGeometry, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed distance (um) to the wetted solder outline; negative inside."""
    hx = geom.width_um / 2 - geom.corner_radius_um
    hy = geom.length_um / 2 - geom.corner_radius_um
    qx = np.abs(x) - hx
    qy = np.abs(y) - hy
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    inside = np.minimum(np.maximum(qx, qy), 0)
    sdf = outside + inside - geom.corner_radius_um
    # edge roughness: sum_k a_k cos(k*theta + phi_k), via powers of the unit phasor (cheap)
    radius = np.hypot(x, y)
    phasor = (x + 1j * y) / np.maximum(radius, 1e-6)
    power = phasor ** (EDGE_HARMONICS[0] - 1)
    wobble = np.zeros(sdf.shape, dtype=np.float32)
    for amp, phase in zip(geom.edge_amplitudes_um, geom.edge_phases):
        power = power * phasor
        wobble += amp * (power * np.exp(1j * phase)).real.astype(np.float32)
    return sdf + wobble


def outline_points(geom: JointGeometry, n: int = 256) -> np.ndarray:
    """Points (about 1.5 n x 2, um, joint frame) on the wetted outline in polygon order, edge roughness included.

    The rounded rectangle's boundary moved along its normal by the roughness term
    of :func:`solder_sdf` (exact to first order in the small roughness).
    """
    r = geom.corner_radius_um
    hx, hy = geom.width_um / 2 - r, geom.length_um / 2 - r
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    normal = np.stack([np.cos(t), np.sin(t)], axis=1)
    # a rounded rectangle = the inner rectangle grown by r: corner centre + r * normal
    corner = np.stack([np.sign(normal[:, 0]) * hx, np.sign(normal[:, 1]) * hy], axis=1)
    points = corner + r * normal
    # flat sides: spread points along them too (the corner formula bunches them at the corners)
    side_t = np.linspace(-1, 1, n // 8)
    sides = [np.stack([np.full_like(side_t, sx * (hx + r)), side_t * hy], 1) for sx in (-1, 1)]
    sides += [np.stack([side_t * hx, np.full_like(side_t, sy * (hy + r))], 1) for sy in (-1, 1)]
    normals = [np.tile([sx, 0.0], (side_t.size, 1)) for sx in (-1, 1)]
    normals += [np.tile([0.0, sy], (side_t.size, 1)) for sy in (-1, 1)]
    points = np.concatenate([points, *sides])
    normal = np.concatenate([normal, *normals])
    theta = np.arctan2(points[:, 1], points[:, 0])
    order = np.argsort(theta, kind="stable")   # polygon order (the outline is star-shaped)
    points, normal, theta = points[order], normal[order], theta[order]
    wobble = np.zeros(len(points))
    for k, amp, phase in zip(EDGE_HARMONICS, geom.edge_amplitudes_um, geom.edge_phases):
        wobble += amp * np.cos(k * theta + phase)
    return points - wobble[:, None] * normal


def _void_local(void: Void, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Squared normalised radius of points (x, y) in the void's ellipse."""
    c, s = np.cos(void.angle_rad), np.sin(void.angle_rad)
    dx, dy = x - void.cx_um, y - void.cy_um
    u = (c * dx + s * dy) / void.rx_um
    v = (-s * dx + c * dy) / void.ry_um
    return u * u + v * v


def _void_windows(geom: JointGeometry, xs: np.ndarray, ys: np.ndarray):
    """Yield (void, row slice, col slice, q) with q evaluated only in the void's bounding box.

    ``xs`` and ``ys`` are the ascending 1-D axes of a regular grid.
    """
    for void in geom.voids:
        reach = max(void.rx_um, void.ry_um)
        cols = slice(np.searchsorted(xs, void.cx_um - reach), np.searchsorted(xs, void.cx_um + reach))
        rows = slice(np.searchsorted(ys, void.cy_um - reach), np.searchsorted(ys, void.cy_um + reach))
        if cols.stop <= cols.start or rows.stop <= rows.start:
            continue
        gx, gy = np.meshgrid(xs[cols], ys[rows])
        yield void, rows, cols, _void_local(void, gx, gy)


def void_depth_fraction(geom: JointGeometry, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Share of the solder height that voids remove along vertical rays on the grid xs x ys.

    A bubble of height h removes h * sqrt(1 - r^2) at normalised radius r, which is
    what gives voids their rounded, brighter-towards-the-centre look in X-ray.
    """
    missing = np.zeros((len(ys), len(xs)), dtype=np.float32)
    for void, rows, cols, q in _void_windows(geom, xs, ys):
        missing[rows, cols] += void.height_frac * np.sqrt(np.clip(1.0 - q, 0.0, None))
    return np.minimum(missing, 0.97)


def void_mask(geom: JointGeometry, xs: np.ndarray, ys: np.ndarray, *, component_side_only: bool = False) -> np.ndarray:
    """Boolean top-view void mask on the grid xs x ys."""
    mask = np.zeros((len(ys), len(xs)), dtype=bool)
    for void, rows, cols, q in _void_windows(geom, xs, ys):
        if component_side_only and not void.reaches_component_side:
            continue
        mask[rows, cols] |= q < 1.0
    return mask


def via_mask(geom: JointGeometry, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Boolean top-view mask of the filled vias under the pad on the grid xs x ys."""
    mask = np.zeros((len(ys), len(xs)), dtype=bool)
    for via in geom.vias:
        cols = slice(np.searchsorted(xs, via.cx_um - via.radius_um), np.searchsorted(xs, via.cx_um + via.radius_um))
        rows = slice(np.searchsorted(ys, via.cy_um - via.radius_um), np.searchsorted(ys, via.cy_um + via.radius_um))
        if cols.stop <= cols.start or rows.stop <= rows.start:
            continue
        dx, dy = xs[cols][None, :] - via.cx_um, ys[rows][:, None] - via.cy_um
        mask[rows, cols] |= dx * dx + dy * dy < via.radius_um ** 2
    return mask


def size_scale(model: VoidModel, width_um: float, length_um: float) -> float:
    """How much bigger than on a classic 0.45 mm pad this pad's voids are."""
    s = (np.sqrt(width_um * length_um) / model.size_reference_um) ** model.size_exponent
    return float(np.clip(s, *model.size_scale_bounds))


def grid_step_um(geom: JointGeometry, finest: float = 2.0, cells: int = 900) -> float:
    """A truth-raster step fine enough for the joint (2 um on small pads, coarser on big ones)."""
    return max(finest, max(geom.width_um, geom.length_um) / cells)


def joint_axes(geom: JointGeometry, step_um: float, margin_um: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    """Axes (xs, ys) of a regular grid covering the joint plus a margin, in the joint frame."""
    half_w = geom.width_um / 2 + margin_um
    half_l = geom.length_um / 2 + margin_um
    xs = np.arange(-half_w, half_w + step_um / 2, step_um, dtype=np.float32)
    ys = np.arange(-half_l, half_l + step_um / 2, step_um, dtype=np.float32)
    return xs, ys


# --- sampling ---------------------------------------------------------------------------------

def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def _void_centres(rng, mode: str, n: int, half_w: float, half_l: float, scale: float = 1.0,
                  vias: tuple[PadVia, ...] = ()) -> np.ndarray:
    if mode == "via" and vias:
        # outgassing of a via: bubbles at its rim and just around it
        pick = rng.integers(0, len(vias), size=n)
        angle = rng.uniform(0, 2 * np.pi, size=n)
        radius = np.array([vias[k].radius_um for k in pick]) * rng.uniform(0.6, 2.2, size=n)
        centres = np.array([[vias[k].cx_um, vias[k].cy_um] for k in pick])
        return centres + radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    if mode == "clustered":
        n_clusters = int(rng.integers(1, 4))
        centres = rng.uniform([-half_w * 0.6, -half_l * 0.6], [half_w * 0.6, half_l * 0.6], size=(n_clusters, 2))
        spread = rng.uniform(30.0, 80.0) * scale
        pick = rng.integers(0, n_clusters, size=n)
        return centres[pick] + rng.normal(0.0, spread, size=(n, 2))
    if mode == "edge":
        # outgassing along the pad edge: a ring just inside the outline
        t = rng.uniform(0, 1, size=n)
        inset = rng.uniform(0.05, 0.22, size=n)
        side = rng.integers(0, 4, size=n)
        x = np.where(side < 2, (2 * t - 1) * half_w, np.where(side == 2, -1, 1) * half_w * (1 - inset))
        y = np.where(side < 2, np.where(side == 0, -1, 1) * half_l * (1 - inset), (2 * t - 1) * half_l)
        return np.stack([x, y], axis=1)
    return rng.uniform([-half_w, -half_l], [half_w, half_l], size=(n, 2))


def sample_voids(
    rng: np.random.Generator,
    model: VoidModel,
    width_um: float,
    length_um: float,
    thickness_um: float,
    target_fraction: float,
    vias: tuple[PadVia, ...] = (),
) -> tuple[Void, ...]:
    """Draw voids until their summed area reaches ``target_fraction`` of the pad.

    Diameters scale with the pad (:func:`size_scale`); on a pad with vias a share
    of the voids (about half) gathers at the vias.
    """
    pad_area = width_um * length_um
    scale = size_scale(model, width_um, length_um)
    mode = str(rng.choice(["uniform", "clustered", "edge"], p=model.placement_probs))
    via_share = float(rng.uniform(0.3, 0.7)) if vias else 0.0
    median_d = _uniform(rng, model.median_diameter_um) * scale
    max_d = 160.0 * scale
    max_voids = int(round(model.max_voids * np.sqrt(max(scale, 1.0))))
    voids: list[Void] = []
    area = 0.0
    big_first = rng.random() < model.big_void_prob and target_fraction > 0.04
    while area < target_fraction * pad_area and len(voids) < max_voids:
        if big_first and not voids:
            d = min(_uniform(rng, model.big_void_diameter_um) * scale, 2 * np.sqrt(target_fraction * pad_area / np.pi))
            cx, cy = _void_centres(rng, mode, 1, width_um / 2 * 0.7, length_um / 2 * 0.7, scale)[0]
        else:
            d = float(np.clip(median_d * rng.lognormal(0.0, model.diameter_sigma), model.min_diameter_um, max_d))
            here = "via" if via_share and rng.random() < via_share else mode
            if here == "via":
                d = min(d, 1.5 * max(v.radius_um for v in vias))
            cx, cy = _void_centres(rng, here, 1, width_um / 2, length_um / 2, scale, vias)[0]
        aspect = rng.uniform(0.75, 1.0)
        rx, ry = d / 2, d / 2 * aspect
        # keep most of the void inside the wetted area
        cx = float(np.clip(cx, -width_um / 2 + 0.7 * rx, width_um / 2 - 0.7 * rx))
        cy = float(np.clip(cy, -length_um / 2 + 0.7 * rx, length_um / 2 - 0.7 * rx))
        height = float(np.clip(min(d * rng.uniform(0.7, 1.0), 0.92 * thickness_um) / thickness_um, 0.1, 0.95))
        z_centre = float(rng.uniform(height / 2, 1 - height / 2))
        voids.append(Void(cx, cy, rx, ry, float(rng.uniform(0, np.pi)), height, z_centre))
        area += np.pi * rx * ry
    return tuple(voids)


def _sample_vias(rng: np.random.Generator, role: PadRole, width: float, length: float,
                 thickness: float) -> tuple[PadVia, ...]:
    """Filled vias under the pad: an n x n grid (jittered) inside the wetted area."""
    if role.via_in_pad_prob <= 0 or rng.random() >= role.via_in_pad_prob:
        return ()
    n = int(rng.integers(role.vias[0], role.vias[1] + 1))
    if role.via_kind == "microvia":
        radius = float(rng.uniform(40.0, 75.0))
    else:
        radius = float(rng.uniform(100.0, 170.0))
    radius = min(radius, 0.12 * min(width, length))
    pitch_x, pitch_y = width / (n + rng.uniform(0.3, 1.0)), length / (n + rng.uniform(0.3, 1.0))
    vias = []
    for i in range(n):
        for j in range(n):
            cx = (i - (n - 1) / 2) * pitch_x + rng.normal(0.0, 0.02 * pitch_x)
            cy = (j - (n - 1) / 2) * pitch_y + rng.normal(0.0, 0.02 * pitch_y)
            if role.via_kind == "microvia":
                depth = float(rng.uniform(60.0, 120.0))      # one dielectric layer, copper filled
            elif role.via_kind == "solder":
                depth = float(rng.uniform(150.0, 900.0))     # solder wicked down the barrel
            else:
                depth = float(rng.uniform(800.0, 1600.0))    # copper plug through the board
            vias.append(PadVia(float(cx), float(cy), radius, role.via_kind, depth))
    return tuple(vias)


def sample_joint_geometry(
    rng: np.random.Generator,
    component: Component,
    model: VoidModel,
    board_void_level: float,
    site: PadSite | None = None,
) -> JointGeometry:
    """One joint of ``component`` from a board whose paste lot gives ``board_void_level``.

    ``site``: which pad of the package (its role sets the sizes, its position the
    DNP); without one, a pad of the family's first role with the family's nominal DNP.
    """
    role = component.role(site.role) if site is not None else component.pads[0]
    width = _uniform(rng, role.width_um)
    length = _uniform(rng, role.length_um)
    thickness = _uniform(rng, role.solder_thickness_um or component.solder_thickness_um)
    if rng.random() < model.void_free_prob:
        target = float(rng.uniform(0.0, 0.01))
    else:
        target = float(min(board_void_level * rng.lognormal(0.0, model.joint_sigma), model.max_fraction))
    n_harm = len(EDGE_HARMONICS)
    size = np.sqrt(width * length)
    # classic 0.45 mm pads: 25-70 um corners, 14-30 um fillets, ~2 um edge roughness
    corner = float(rng.uniform(*role.corner_radius_share) * min(width, length))
    corner = float(np.clip(corner, 8.0, 0.45 * min(width, length)))
    rough = 2.5 * np.sqrt(size / 450.0)
    vias = _sample_vias(rng, role, width, length, thickness)
    return JointGeometry(
        component=component.name,
        width_um=width,
        length_um=length,
        corner_radius_um=corner,
        solder_thickness_um=thickness,
        fillet_um=float(rng.uniform(0.25, 0.5) * thickness),
        edge_amplitudes_um=tuple(float(a) for a in rng.uniform(0.0, rough, n_harm) / np.sqrt(EDGE_HARMONICS - 2)),
        edge_phases=tuple(float(p) for p in rng.uniform(0, 2 * np.pi, n_harm)),
        voids=sample_voids(rng, model, width, length, thickness, target, vias),
        role=role.role,
        dnp_um=None if site is None else site.dnp_um,
        vias=vias,
    )
