"""2-D transmission X-ray (top view) of one joint, as an inspection station records it.

Physics, per detector pixel:

* Line integrals of attenuation (Beer-Lambert) through the board laminate (with
  its faint glass-weave pattern), the copper pad and its trace, the package body
  and the solder. Solder dominates: ``tau = mu_solder * t`` with ``t`` the local
  solder height, which thins out over the fillet at the joint edge. A void of
  height ``h`` removes ``h * sqrt(1 - r^2)`` of solder at normalised radius ``r``,
  so voids show brighter than solder, brightest at their centre.
* Transmission ``exp(-sum tau)``, times the source's vignetting.
* Focal-spot unsharpness (Gaussian, in micrometres, so it scales with pixel size),
  area integration over the detector pixel, quantum (Poisson) noise from a finite
  photon count, scintillator blur, then the station's gain, offset and display
  gamma and quantisation to 8 or 16 bits.

The joint is placed with a small random shift and rotation, as an operator or a
fixture would place it. Rendering happens on a fine grid in the joint frame and
is warped once into the image grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from .config import XrayStation
from .geometry import JointGeometry, solder_sdf, void_depth_fraction, void_mask

FINE_STEP_TARGET_UM = 2.0
LABEL_SOLDER, LABEL_VOID = 1, 2


@dataclass(frozen=True)
class XrayScene:
    """Board-side surroundings of a joint that stay the same across inspections."""

    pad_margin_um: float      # copper pad overhang around the wetted area
    trace_side: int           # +1 / -1: the copper trace leaves the pad along +y / -y
    trace_width_um: float
    body_edge_um: float       # package body covers x beyond this (signed)
    body_side: int
    tau_body: float
    tau_board: float
    weave_pitch_um: float
    weave_phase: tuple[float, float]
    weave_angle_rad: float


def sample_scene(rng: np.random.Generator, geom: JointGeometry) -> XrayScene:
    side = int(rng.choice([-1, 1]))
    return XrayScene(
        pad_margin_um=float(rng.uniform(12.0, 35.0)),
        trace_side=int(rng.choice([-1, 1])),
        trace_width_um=float(rng.uniform(110.0, 220.0)),
        body_edge_um=float(side * (geom.width_um / 2 + rng.uniform(-40.0, 90.0))),
        body_side=-side,
        tau_body=float(rng.uniform(0.2, 0.4)),
        tau_board=float(rng.uniform(0.15, 0.3)),
        weave_pitch_um=float(rng.uniform(380.0, 520.0)),
        weave_phase=(float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))),
        weave_angle_rad=float(rng.normal(0.0, 0.03)),
    )


@dataclass(frozen=True)
class Pose:
    shift_um: tuple[float, float]
    angle_deg: float


def sample_pose(rng: np.random.Generator) -> Pose:
    return Pose(
        shift_um=(float(rng.uniform(-35.0, 35.0)), float(rng.uniform(-35.0, 35.0))),
        angle_deg=float(np.clip(rng.normal(0.0, 1.5), -4.0, 4.0)),
    )


def _optical_depth(geom: JointGeometry, scene: XrayScene, station: XrayStation, xs, ys, rng):
    """Total attenuation (optical depth) and the label masks on the fine joint-frame grid."""
    sdf = _smooth_field(lambda cx, cy: solder_sdf(geom, cx, cy), xs, ys)
    height = np.clip(-sdf / geom.fillet_um, 0.0, 1.0) ** 0.6
    height *= 1.0 - void_depth_fraction(geom, xs, ys)
    tau_solder = station.mu_solder_per_um * geom.solder_thickness_um * height

    pad_sdf = sdf - scene.pad_margin_um
    x, y = xs[None, :], ys[:, None]
    trace = (np.abs(x) < scene.trace_width_um / 2) & (scene.trace_side * y > 0)
    copper = (pad_sdf < 0) | trace
    tau_copper = 0.45 * station.mu_solder_per_um * 35.0 * _soft(copper)

    body = _soft(scene.body_side * (x - scene.body_edge_um) > 0, sigma_px=2.0)
    grain = cv2.resize(rng.normal(0.0, 1.0, (24, 24)).astype(np.float32), (len(xs), len(ys)), interpolation=cv2.INTER_CUBIC)
    tau_body = scene.tau_body * body * (1.0 + 0.04 * grain)

    tau_board = scene.tau_board * (1.0 + 0.12 * _smooth_field(lambda wx, wy: _weave(scene, wx, wy), xs, ys, every=5))

    solder = sdf < 0
    voids = void_mask(geom, xs, ys) & solder
    return tau_solder + tau_copper + tau_body + tau_board, solder, voids


def _weave(scene: XrayScene, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Glass-fibre weave of the laminate: a faint periodic pattern of bundles."""
    c, s = math.cos(scene.weave_angle_rad), math.sin(scene.weave_angle_rad)
    k = 2 * np.pi / scene.weave_pitch_um
    u, v = c * x + s * y, -s * x + c * y
    return np.sin(k * u + scene.weave_phase[0]) ** 2 * np.sin(k * v + scene.weave_phase[1]) ** 2


def _smooth_field(func, xs: np.ndarray, ys: np.ndarray, every: int = 3) -> np.ndarray:
    """Evaluate a smooth field on a coarser grid and interpolate (it is the costly part).

    Coarse samples sit at block centres, which is where cv2's linear resize expects them.
    """
    first = (every - 1) // 2
    cx, cy = np.meshgrid(xs[first::every], ys[first::every])
    coarse = func(cx, cy).astype(np.float32)
    fine = cv2.resize(coarse, (coarse.shape[1] * every, coarse.shape[0] * every), interpolation=cv2.INTER_LINEAR)
    out = np.empty((len(ys), len(xs)), dtype=np.float32)
    h, w = min(len(ys), fine.shape[0]), min(len(xs), fine.shape[1])
    out[:h, :w] = fine[:h, :w]
    out[h:, :w] = fine[h - 1 : h, :w]
    out[:, w:] = out[:, w - 1 : w]
    return out


def _soft(mask: np.ndarray, sigma_px: float = 1.0) -> np.ndarray:
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma_px)


def _warp(img: np.ndarray, matrix: np.ndarray, size: int, interpolation=cv2.INTER_LINEAR) -> np.ndarray:
    return cv2.warpAffine(img, matrix, (size, size), flags=interpolation, borderMode=cv2.BORDER_REFLECT)


def _pose_matrix(pose: Pose, src_origin_um: float, fine_step: float, size_fine: int) -> np.ndarray:
    """Affine map from fine joint-frame pixels to fine image pixels."""
    centre_dst = (size_fine - 1) / 2 + np.array(pose.shift_um) / fine_step
    centre_src = np.array([-src_origin_um / fine_step] * 2)
    rot = cv2.getRotationMatrix2D((0.0, 0.0), pose.angle_deg, 1.0)
    offset = centre_dst - rot[:, :2] @ centre_src
    return np.hstack([rot[:, :2], offset[:, None]])


class XrayRender(NamedTuple):
    """One rendered joint image and its truth.

    ``signal``: float32 in [0, 1] after the station's gain, offset and gamma (quantise
    with :func:`quantise`). ``labels``: uint8, 0 = outside the solder, 1 = solder,
    2 = void, on the detector grid. ``fine_labels``: the same on the render grid,
    ``fine_step_um`` per pixel (an integer subdivision of the detector pixel), so
    that validation is not limited by the detector's own pixelation.
    """

    signal: np.ndarray
    labels: np.ndarray
    fine_labels: np.ndarray
    fine_step_um: float


def render_xray(
    geom: JointGeometry,
    scene: XrayScene,
    station: XrayStation,
    rng: np.random.Generator,
    pose: Pose | None = None,
) -> XrayRender:
    """Render one joint as ``station`` records it."""
    pose = pose or sample_pose(rng)
    size = int(round(station.fov_um / station.pixel_size_um))
    factor = max(1, int(math.ceil(station.pixel_size_um / FINE_STEP_TARGET_UM)))
    fine_step = station.pixel_size_um / factor
    size_fine = size * factor
    half = station.fov_um / 2 + 60.0
    axis = np.arange(-half, half, fine_step, dtype=np.float32)

    tau, solder, voids = _optical_depth(geom, scene, station, axis, axis, rng)
    transmission = np.exp(-tau).astype(np.float32)
    matrix = _pose_matrix(pose, float(axis[0]), fine_step, size_fine)
    transmission = _warp(transmission, matrix, size_fine)
    sigma = station.focal_blur_um / fine_step
    transmission = cv2.GaussianBlur(transmission, (0, 0), sigma)
    intensity = cv2.resize(transmission, (size, size), interpolation=cv2.INTER_AREA)
    intensity *= _vignetting(size, station.vignetting, rng)

    counts = rng.poisson(np.clip(intensity, 0, None) * station.photons).astype(np.float32)
    detected = cv2.GaussianBlur(counts / station.photons, (0, 0), station.detector_blur_px)
    gain = station.gain * rng.uniform(0.97, 1.03)
    signal = station.offset + gain * np.clip(detected, 0.0, None) ** station.gamma
    labels, fine_labels = _labels(solder, voids, matrix, size_fine, size)
    return XrayRender(np.clip(signal, 0.0, 1.0).astype(np.float32), labels, fine_labels, fine_step)


def _vignetting(size: int, strength: float, rng: np.random.Generator) -> np.ndarray:
    centre = (size - 1) / 2 + rng.normal(0.0, size * 0.15, 2)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r2 = ((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (size * size / 2)
    return 1.0 - strength * r2


def _labels(solder, voids, matrix, size_fine: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Label images on the detector grid and on the fine render grid (coverage >= 1/2)."""
    fine = [_warp(mask.astype(np.float32), matrix, size_fine) for mask in (solder, voids)]
    coarse = [cv2.resize(cover, (size, size), interpolation=cv2.INTER_AREA) for cover in fine]
    return _label_image(*coarse), _label_image(*fine)


def _label_image(solder_cover: np.ndarray, void_cover: np.ndarray) -> np.ndarray:
    labels = np.zeros(solder_cover.shape, dtype=np.uint8)
    labels[solder_cover >= 0.5] = LABEL_SOLDER
    labels[(void_cover >= 0.5) & (solder_cover >= 0.5)] = LABEL_VOID
    return labels


def quantise(signal: np.ndarray, bit_depth: int) -> np.ndarray:
    top = (1 << bit_depth) - 1
    dtype = np.uint16 if bit_depth > 8 else np.uint8
    return np.round(np.clip(signal, 0.0, 1.0) * top).astype(dtype)
