"""Physical joint geometry: pad outline, solder height and voids, in micrometres.

The joint frame has its origin at the pad centre; x runs across the joint width
(the direction a fatigue crack travels from the joint edges inward and the
direction of the metallographic cut), y along its length, z up from the copper
pad to the component. Everything here is resolution free: images are rendered
from this description at whatever pixel size a station has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Component, VoidModel

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


def _void_centres(rng, mode: str, n: int, half_w: float, half_l: float) -> np.ndarray:
    if mode == "clustered":
        n_clusters = int(rng.integers(1, 4))
        centres = rng.uniform([-half_w * 0.6, -half_l * 0.6], [half_w * 0.6, half_l * 0.6], size=(n_clusters, 2))
        spread = rng.uniform(30.0, 80.0)
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
) -> tuple[Void, ...]:
    """Draw voids until their summed area reaches ``target_fraction`` of the pad."""
    pad_area = width_um * length_um
    mode = rng.choice(["uniform", "clustered", "edge"], p=model.placement_probs)
    median_d = _uniform(rng, model.median_diameter_um)
    voids: list[Void] = []
    area = 0.0
    big_first = rng.random() < model.big_void_prob and target_fraction > 0.04
    while area < target_fraction * pad_area and len(voids) < model.max_voids:
        if big_first and not voids:
            d = min(_uniform(rng, model.big_void_diameter_um), 2 * np.sqrt(target_fraction * pad_area / np.pi))
            cx, cy = _void_centres(rng, str(mode), 1, width_um / 2 * 0.7, length_um / 2 * 0.7)[0]
        else:
            d = float(np.clip(median_d * rng.lognormal(0.0, model.diameter_sigma), 5.0, 160.0))
            cx, cy = _void_centres(rng, str(mode), 1, width_um / 2, length_um / 2)[0]
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


def sample_joint_geometry(
    rng: np.random.Generator,
    component: Component,
    model: VoidModel,
    board_void_level: float,
) -> JointGeometry:
    """One joint of ``component`` from a board whose paste lot gives ``board_void_level``."""
    width = _uniform(rng, component.pad_width_um)
    length = _uniform(rng, component.pad_length_um)
    thickness = _uniform(rng, component.solder_thickness_um)
    if rng.random() < model.void_free_prob:
        target = float(rng.uniform(0.0, 0.01))
    else:
        target = float(min(board_void_level * rng.lognormal(0.0, model.joint_sigma), model.max_fraction))
    n_harm = len(EDGE_HARMONICS)
    return JointGeometry(
        component=component.name,
        width_um=width,
        length_um=length,
        corner_radius_um=float(rng.uniform(25.0, 70.0)),
        solder_thickness_um=thickness,
        fillet_um=float(rng.uniform(14.0, 30.0)),
        edge_amplitudes_um=tuple(float(a) for a in rng.uniform(0.0, 2.5, n_harm) / np.sqrt(EDGE_HARMONICS - 2)),
        edge_phases=tuple(float(p) for p in rng.uniform(0, 2 * np.pi, n_harm)),
        voids=sample_voids(rng, model, width, length, thickness, target),
    )
