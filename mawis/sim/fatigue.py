"""Thermal-cycling fatigue of one joint: crack initiation, growth and failure.

Model (after Engelmaier and Darveaux, as used for SAC solder):

* Shear strain range per cycle, Engelmaier: ``dgamma = L * dCTE * dT / h``,
  raised by the share of solder area lost to voids (less load-bearing area).
  ``L`` is the joint's own strain length: the distance from the package's
  neutral point to the joint's far edge (``geom.dnp_um + width / 2``; the x axis
  of a pad points away from the neutral point), so the outer pads of a package
  strain most and a centre thermal pad least; ``dCTE`` is between the package's
  effective CTE and its board's (FR4 16 ppm/K, aluminium IMS about 23 ppm/K).
  Compliant leads (gull-wing) pass only ``strain_factor`` of it to the solder.
* Initiation (Coffin-Manson type): ``N0 = k_init * dgamma ** -n_init`` at each of
  the two joint edges, sooner where voids sit in the edge band (stress raisers).
* Growth (Paris type): the crack runs along the component-side interface from
  both edges inward at ``da/dN = k_growth * dgamma ** n_growth`` um/cycle. Where
  voids already cut the crack plane the remaining ligament is smaller and the
  crack advances faster: ``da/dN / (1 - coupling * rho(x))`` with ``rho(x)`` the
  voided share of the joint length at position x.
* Failure: the two crack fronts together span ``failure_crack_fraction`` of the
  joint width. Lognormal scatter between nominally equal joints and boards.

Because only the voids on or near the crack path, and mostly near the edges,
speed a crack, void *location* and *size distribution* matter, not only the
total void area.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Component, FatigueModel
from .geometry import JointGeometry, grid_step_um, joint_axes, solder_sdf, void_mask

GRID_STEP_UM = 2.0   # finest truth raster; big pads use about GRID_CELLS cells per side
GRID_CELLS = 500


@dataclass(frozen=True)
class CrackHistory:
    """Crack length from each edge as a function of cycles (piecewise linear)."""

    width_um: float
    left_cycles: np.ndarray     # cycles at which the left crack reaches left_length_um
    left_length_um: np.ndarray
    right_cycles: np.ndarray
    right_length_um: np.ndarray
    cycles_to_failure: float
    delta_gamma: float
    initiation_left: float
    initiation_right: float

    def lengths_at(self, cycles) -> tuple[np.ndarray, np.ndarray]:
        """Crack length (um) from the left and the right edge after ``cycles``."""
        c = np.asarray(cycles, dtype=float)
        left = np.interp(c, self.left_cycles, self.left_length_um, left=0.0)
        right = np.interp(c, self.right_cycles, self.right_length_um, left=0.0)
        total = left + right
        over = total > self.width_um
        if np.any(over):  # fronts meet: the joint is fully cracked
            scale = np.where(over, self.width_um / np.maximum(total, 1e-9), 1.0)
            left, right = left * scale, right * scale
        return left, right

    def crack_fraction_at(self, cycles) -> np.ndarray:
        left, right = self.lengths_at(cycles)
        return np.clip((left + right) / self.width_um, 0.0, 1.0)


@dataclass(frozen=True)
class VoidProfile:
    """Void measures of one joint from a fine top-view raster (the simulator's truth)."""

    void_fraction: float
    largest_void_fraction: float
    void_count: int
    edge_void_fraction: float
    edge_left: float
    edge_right: float
    path_density: np.ndarray   # rho(x) along the width, x from the left edge
    path_x_um: np.ndarray


def void_profile(geom: JointGeometry, model: FatigueModel) -> VoidProfile:
    from skimage.measure import label

    xs, ys = joint_axes(geom, grid_step_um(geom, GRID_STEP_UM, GRID_CELLS))
    x, y = np.meshgrid(xs, ys)
    solder = solder_sdf(geom, x, y) < 0
    voids = void_mask(geom, xs, ys) & solder
    plane_voids = void_mask(geom, xs, ys, component_side_only=True) & solder
    solder_area = max(int(solder.sum()), 1)
    labelled, count = label(voids, return_num=True, connectivity=2)
    largest = int(np.bincount(labelled.ravel())[1:].max()) if count else 0

    left_edge, right_edge = -geom.width_um / 2, geom.width_um / 2
    band = model.edge_band_um
    in_left = solder & (x < left_edge + band)
    in_right = solder & (x > right_edge - band)
    edge_left = float(voids[in_left].mean()) if in_left.any() else 0.0
    edge_right = float(voids[in_right].mean()) if in_right.any() else 0.0
    edge_band = in_left | in_right | (solder & (np.abs(y) > geom.length_um / 2 - band))

    weighted = plane_voids + model.nearby_void_weight * (voids & ~plane_voids)
    column_solder = np.maximum(solder.sum(axis=0), 1)
    rho = (weighted * solder).sum(axis=0) / column_solder
    keep = (xs >= left_edge) & (xs <= right_edge)
    return VoidProfile(
        void_fraction=float(voids.sum() / solder_area),
        largest_void_fraction=float(largest / solder_area),
        void_count=int(count),
        edge_void_fraction=float(voids[edge_band].mean()) if edge_band.any() else 0.0,
        edge_left=edge_left,
        edge_right=edge_right,
        path_density=np.clip(rho[keep], 0.0, 1.0).astype(float),
        path_x_um=(xs[keep] - left_edge).astype(float),
    )


def strain_length_um(geom: JointGeometry, component: Component) -> float:
    """Engelmaier's distance: the joint's far edge from the neutral point (the family's nominal without a site)."""
    length = geom.strain_length_um
    return component.dnp_um if length is None else length


def shear_strain_range(geom: JointGeometry, component: Component, model: FatigueModel, void_fraction: float) -> float:
    board_cte = component.board_cte_ppm or model.board_cte_ppm
    delta_cte = abs(board_cte - component.cte_ppm) * 1e-6
    dgamma = strain_length_um(geom, component) * delta_cte * model.delta_t_k / geom.solder_thickness_um
    if geom.role:
        dgamma *= component.role(geom.role).strain_factor
    return dgamma * (1.0 + model.area_strain_gain * void_fraction)


def _front(initiation: float, rate: float, x_um: np.ndarray, rho: np.ndarray, coupling: float):
    """Cycles at which a front started at x=0 reaches each x (monotone, piecewise linear)."""
    dx = np.diff(x_um, prepend=0.0)
    slowness = (1.0 - coupling * rho) / rate  # cycles per um
    cycles = initiation + np.cumsum(dx * slowness)
    return np.concatenate([[initiation], cycles]), np.concatenate([[0.0], x_um])


def crack_history(
    geom: JointGeometry,
    component: Component,
    model: FatigueModel,
    profile: VoidProfile,
    joint_factor: float,
    side_factors: tuple[float, float],
) -> CrackHistory:
    """Integrate both crack fronts and find the cycles to failure.

    ``joint_factor`` and ``side_factors`` are the lognormal scatter draws (1 = nominal).
    """
    dgamma = shear_strain_range(geom, component, model, profile.void_fraction)
    n0 = model.k_init * dgamma ** -model.n_init * joint_factor
    rate = model.k_growth * dgamma ** model.n_growth / joint_factor
    init_left = n0 * side_factors[0] * np.exp(-model.edge_void_initiation * profile.edge_left)
    init_right = n0 * side_factors[1] * np.exp(-model.edge_void_initiation * profile.edge_right)
    x = profile.path_x_um
    lc, ll = _front(init_left, rate, x, profile.path_density, model.path_void_coupling)
    rc, rl = _front(init_right, rate, x, profile.path_density[::-1], model.path_void_coupling)
    history = CrackHistory(geom.width_um, lc, ll, rc, rl, np.nan, dgamma, init_left, init_right)
    return _with_failure(history, model.failure_crack_fraction)


def _with_failure(history: CrackHistory, failure_fraction: float) -> CrackHistory:
    # total crack length is piecewise linear between the union of both fronts' breakpoints
    grid = np.union1d(history.left_cycles, history.right_cycles)
    total = history.crack_fraction_at(grid)
    idx = int(np.searchsorted(total, failure_fraction))
    if idx == 0:
        nf = float(grid[0])
    else:
        c0, c1, f0, f1 = grid[idx - 1], grid[idx], total[idx - 1], total[idx]
        nf = float(c0 + (failure_fraction - f0) * (c1 - c0) / max(f1 - f0, 1e-12))
    return CrackHistory(
        history.width_um, history.left_cycles, history.left_length_um,
        history.right_cycles, history.right_length_um, nf,
        history.delta_gamma, history.initiation_left, history.initiation_right,
    )
