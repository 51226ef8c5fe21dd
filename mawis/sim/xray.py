"""2-D transmission X-ray (top view) of a board region, as an inspection station records it.

A *view* is a rectangle of a board (:mod:`.board`) at one pixel size: one joint
with some of its surroundings (``single`` layout), a whole package, or a block of
packages (``panel``). Physics, per detector pixel:

* Line integrals of attenuation (Beer-Lambert), expressed as micrometres of SAC
  solder (``eq``) times the station's effective solder attenuation: the laminate
  (FR4 with its faint glass-weave pattern, or an aluminium IMS base), top-layer
  copper (pads larger than the wetted solder, traces, via lands) and inner-layer
  copper bands, plated through vias (a barrel seen end-on: ``board thickness`` of
  copper over a thin ring, and no laminate in the hole, so a dark ring around a
  brighter hole), filled vias under pads (dark disks: copper or solder ``depth``
  deep), each package's body, lead frame, die, die attach and chip end caps, and
  bond wires (gold about twice as absorbing as solder, aluminium nearly
  transparent, seen through their round cross-section).
* Solder: ``mu * t`` with ``t`` the local solder height, thinning out over the
  fillet at the joint edge. A void of height ``h`` removes ``h * sqrt(1 - r^2)`` of
  solder at normalised radius ``r``, so voids show brighter than solder, brightest
  at their centre; vias and wires add attenuation, so they show darker.
* The operator sets the tube voltage per board: thick joints under thick copper
  (a DPAK tab, a power module) are imaged at a harder beam, which scales every
  attenuation down by the same factor (``mu_scale``, so that the thickest joint
  has an optical depth of 1.2-2.2).
* Transmission ``exp(-tau)``, focal-spot unsharpness (Gaussian, in micrometres,
  so it scales with pixel size), area integration over the detector pixel,
  vignetting, quantum (Poisson) noise from a finite photon count, scintillator
  blur, then the station's window (gain, offset; a gain above one clips the bare
  board to white), display gamma and quantisation to ``data_bits`` in an 8- or
  16-bit image.

Rendering happens on a fine grid aligned with the image (step = pixel / factor,
factor = ceil(pixel / 2 um), capped so the fine grid stays within about 2500 px a
side), in the board frame; each joint is evaluated in its own rotated frame only
inside its window, so a 10 mm pad costs what its pixels cost. The truth labels
(:class:`JointMask`) come from the same fine grid: only the requested joint's
solder, its voids and the filled vias under it.

:func:`render_xray` keeps the one-joint interface (a joint alone on a board with
the legacy :class:`XrayScene` surroundings, the station's nominal pixel size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from .board import MU_RATIO, NOMINAL_MU, BoardScene, Package, PadInstance, PadScene, Part, _trace_polyline
from .config import XrayStation
from .geometry import JointGeometry, _void_local, outline_points, solder_sdf

FINE_STEP_TARGET_UM = 2.0
MAX_FINE_PX = 2500
LABEL_SOLDER, LABEL_VOID, LABEL_VIA = 1, 2, 3


# --- views ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class View:
    """A rectangle of the board (centre in um, board frame) imaged at ``pixel_um``."""

    centre_um: tuple[float, float]
    width_px: int
    height_px: int
    pixel_um: float


def fine_factor(pixel_um: float, longest_side_px: int) -> int:
    """Subdivision of a detector pixel for rendering: about 2 um, at most ~2500 fine px a side."""
    factor = max(1, int(math.ceil(pixel_um / FINE_STEP_TARGET_UM - 1e-9)))
    return max(1, min(factor, MAX_FINE_PX // max(longest_side_px, 1)))


@dataclass(frozen=True)
class _Grid:
    """The fine render grid: pixel (r, c) has its centre at (x0 + (c + .5) f, y0 + (r + .5) f)."""

    x0: float
    y0: float
    step: float
    width: int
    height: int

    def cols(self, lo: float, hi: float) -> slice:
        return slice(max(int(math.floor((lo - self.x0) / self.step)) - 1, 0),
                     min(max(int(math.ceil((hi - self.x0) / self.step)) + 1, 0), self.width))

    def rows(self, lo: float, hi: float) -> slice:
        return slice(max(int(math.floor((lo - self.y0) / self.step)) - 1, 0),
                     min(max(int(math.ceil((hi - self.y0) / self.step)) + 1, 0), self.height))

    def xs(self, cols: slice) -> np.ndarray:
        return (self.x0 + (np.arange(cols.start, cols.stop) + 0.5) * self.step).astype(np.float32)

    def ys(self, rows: slice) -> np.ndarray:
        return (self.y0 + (np.arange(rows.start, rows.stop) + 0.5) * self.step).astype(np.float32)

    def px(self, points: np.ndarray) -> np.ndarray:
        """Board points to cv2 drawing coordinates (4 fractional bits)."""
        p = (np.asarray(points) - [self.x0, self.y0]) / self.step - 0.5
        return np.round(p * 16).astype(np.int32)


class JointMask(NamedTuple):
    """One joint's truth on the fine grid: window origin (row, col) in fine image pixels
    (the image's top-left fine pixel is (0, 0)) and boolean solder, void, via masks."""

    row: int
    col: int
    solder: np.ndarray
    void: np.ndarray
    via: np.ndarray


class ViewRender(NamedTuple):
    """``signal``: float32 in [0, 1] after the station's window and gamma (quantise with
    :func:`quantise`); ``factor``: fine pixels per detector pixel; ``masks``: the
    requested joints' :class:`JointMask`."""

    signal: np.ndarray
    factor: int
    fine_step_um: float
    masks: dict[int, JointMask]


def render_view(
    board: BoardScene,
    view: View,
    station: XrayStation,
    rng: np.random.Generator,
    *,
    mu_scale: float = 1.0,
    absent: frozenset[str] = frozenset(),
    labels_for: frozenset[int] = frozenset(),
) -> ViewRender:
    """Render ``view`` of ``board`` as ``station`` records it.

    ``absent``: packages already removed from the board (cut for sections): their
    pads are bare copper. ``labels_for``: joint indices whose truth masks to return.
    """
    px, w, h = view.pixel_um, view.width_px, view.height_px
    margin = int(math.ceil(3.0 * station.focal_blur_um / px)) + 2
    factor = fine_factor(px, max(w, h) + 2 * margin)
    step = px / factor
    grid = _Grid(view.centre_um[0] - (w / 2 + margin) * px, view.centre_um[1] - (h / 2 + margin) * px, step,
                 (w + 2 * margin) * factor, (h + 2 * margin) * factor)
    eq, laminate, masks = _scene_eq(board, grid, rng, absent, labels_for)
    eq += laminate
    eq *= -station.mu_solder_per_um * mu_scale
    transmission = cv2.exp(eq)
    transmission = cv2.GaussianBlur(transmission, (0, 0), station.focal_blur_um / step)
    size = (w + 2 * margin, h + 2 * margin)
    intensity = cv2.resize(transmission, size, interpolation=cv2.INTER_AREA)[margin:margin + h, margin:margin + w]
    intensity = intensity * _vignetting(w, h, station.vignetting, rng)
    counts = rng.poisson(np.clip(intensity, 0, None) * station.photons).astype(np.float32)
    detected = cv2.GaussianBlur(counts / station.photons, (0, 0), station.detector_blur_px)
    gain = station.gain * rng.uniform(0.97, 1.03)
    signal = station.offset + gain * np.clip(detected, 0.0, None) ** station.gamma
    shift = margin * factor
    masks = {k: m._replace(row=m.row - shift, col=m.col - shift) for k, m in masks.items()}
    return ViewRender(np.clip(signal, 0.0, 1.0).astype(np.float32), factor, step, masks)


# --- the scene on the fine grid ------------------------------------------------------------------------

def _scene_eq(board: BoardScene, grid: _Grid, rng, absent, labels_for):
    """Solder-equivalent thickness (um) of everything but the laminate, the laminate's, and joint masks."""
    shape = (grid.height, grid.width)
    eq = np.zeros(shape, np.float32)
    laminate = _laminate(board, grid)
    top = np.zeros(shape, np.uint8)
    inner = np.zeros(shape, np.uint8)
    ring = np.zeros(shape, np.uint8)
    hole = np.zeros(shape, np.uint8)
    view_box = (grid.x0, grid.y0, grid.x0 + grid.width * grid.step, grid.y0 + grid.height * grid.step)

    def near(points: np.ndarray, pad_um: float) -> bool:
        p = np.asarray(points).reshape(-1, 2)
        return not (p[:, 0].max() + pad_um < view_box[0] or p[:, 0].min() - pad_um > view_box[2]
                    or p[:, 1].max() + pad_um < view_box[1] or p[:, 1].min() - pad_um > view_box[3])

    drawn = {"inner": False, "vias": False}
    for line, width in board.inner:
        if near(line, width):
            drawn["inner"] = True
            cv2.polylines(inner, [grid.px(line)], False, 255, _thick(width, grid), cv2.LINE_AA, 4)
    for line, width in board.traces:
        if near(line, width):
            cv2.polylines(top, [grid.px(line)], False, 255, _thick(width, grid), cv2.LINE_AA, 4)
    pads = [(pkg, pad) for pkg in board.packages for pad in pkg.pads]
    outlines = {}
    for pkg, pad in pads:
        reach = 0.75 * math.hypot(pad.geometry.width_um, pad.geometry.length_um) + pad.scene.copper_margin_um
        if not near(np.array([[pad.x_um, pad.y_um]]), reach):
            continue
        outline = _to_board(pad, outline_points(pad.geometry))
        outlines[(pkg.package_id, pad.site_index)] = outline
        cv2.fillPoly(top, [grid.px(_copper_outline(pad))], 255, cv2.LINE_AA, 4)
    plating = 22.0
    for x, y, drill, land in board.vias:
        if not near(np.array([[x, y]]), land):
            continue
        drawn["vias"] = True
        centre = tuple(int(v) for v in grid.px(np.array([x, y])))
        cv2.circle(top, centre, int(round(land / 2 / grid.step * 16)), 255, -1, cv2.LINE_AA, 4)
        cv2.circle(top, centre, int(round(drill / 2 / grid.step * 16)), 0, -1, cv2.LINE_AA, 4)
        cv2.circle(ring, centre, int(round((drill / 2 - plating / 2) / grid.step * 16)), 255,
                   _thick(plating, grid), cv2.LINE_AA, 4)
        cv2.circle(hole, centre, int(round((drill / 2 - plating) / grid.step * 16)), 255, -1, cv2.LINE_AA, 4)
    copper = MU_RATIO["copper"]
    cv2.scaleAdd(top.astype(np.float32), copper * board.copper_um / 255.0, eq, dst=eq)
    if drawn["inner"]:
        cv2.scaleAdd(inner.astype(np.float32), copper * 35.0 / 255.0, eq, dst=eq)
    if drawn["vias"]:
        cv2.scaleAdd(ring.astype(np.float32), copper * board.thickness_um / 255.0, eq, dst=eq)
        laminate *= 1.0 - hole.astype(np.float32) / 255.0

    masks: dict[int, JointMask] = {}
    for pkg, pad in pads:
        key = (pkg.package_id, pad.site_index)
        if key not in outlines or pkg.package_id in absent:
            continue
        mask = _add_solder(eq, grid, pad, outlines[key], pad.joint_index in labels_for and pad.joint_index >= 0)
        if mask is not None:
            masks[pad.joint_index] = mask
    for pkg in board.packages:
        if pkg.package_id in absent:
            continue
        reach = math.hypot(*pkg.body_half_um) + 500.0
        if near(np.array([[pkg.x_um, pkg.y_um]]), reach):
            _add_package(eq, grid, pkg, rng)
    return eq, laminate, masks


def _thick(width_um: float, grid: _Grid) -> int:
    return max(1, int(round(width_um / grid.step)))


def _to_board(pad: PadInstance, points: np.ndarray) -> np.ndarray:
    a = math.radians(pad.angle_deg)
    c, s = math.cos(a), math.sin(a)
    return np.stack([c * points[:, 0] - s * points[:, 1] + pad.x_um, s * points[:, 0] + c * points[:, 1] + pad.y_um], 1)


def _copper_outline(pad: PadInstance) -> np.ndarray:
    g, m = pad.geometry, pad.scene.copper_margin_um
    land = JointGeometry(g.component, g.width_um + 2 * m, g.length_um + 2 * m, g.corner_radius_um + m, 1.0, 1.0,
                         (0.0,) * len(g.edge_amplitudes_um), (0.0,) * len(g.edge_phases), ())
    return _to_board(pad, outline_points(land, 96))


def _laminate(board: BoardScene, grid: _Grid) -> np.ndarray:
    """Laminate attenuation (um of solder): FR4 with its glass weave, or a uniform IMS base."""
    base = board.tau_board / NOMINAL_MU
    every = max(1, int(round(20.0 / grid.step)))
    first = (every - 1) // 2
    xs = grid.x0 + (np.arange(first, grid.width, every) + 0.5) * grid.step
    ys = grid.y0 + (np.arange(first, grid.height, every) + 0.5) * grid.step
    cx, cy = np.meshgrid(xs, ys)
    if board.kind == "fr4":
        c, s = math.cos(board.weave_angle_rad), math.sin(board.weave_angle_rad)
        k = 2 * np.pi / board.weave_pitch_um
        u, v = c * cx + s * cy, -s * cx + c * cy
        pattern = 1.0 + 0.12 * (np.sin(k * u + board.weave_phase[0]) ** 2 * np.sin(k * v + board.weave_phase[1]) ** 2)
    else:  # filled dielectric over aluminium: a faint long-range unevenness only
        pattern = 1.0 + 0.02 * np.sin(cx / 2300.0 + board.weave_phase[0]) * np.cos(cy / 3100.0 + board.weave_phase[1])
    return _upsample((base * pattern).astype(np.float32), every, grid.height, grid.width)


def _upsample(coarse: np.ndarray, every: int, height: int, width: int) -> np.ndarray:
    """Linear interpolation of block-centre samples back to the fine grid (edges held)."""
    if every == 1:
        return coarse[:height, :width].copy()
    fine = cv2.resize(coarse, (coarse.shape[1] * every, coarse.shape[0] * every), interpolation=cv2.INTER_LINEAR)
    out = np.empty((height, width), np.float32)
    h, w = min(height, fine.shape[0]), min(width, fine.shape[1])
    out[:h, :w] = fine[:h, :w]
    out[h:, :w] = fine[h - 1:h, :w]
    out[:, w:] = out[:, w - 1:w]
    return out


def _add_solder(eq: np.ndarray, grid: _Grid, pad: PadInstance, outline: np.ndarray, want_mask: bool):
    """Add one joint's solder (and the filled vias under it) to ``eq``; its truth masks if wanted."""
    geom = pad.geometry
    rows = grid.rows(outline[:, 1].min(), outline[:, 1].max())
    cols = grid.cols(outline[:, 0].min(), outline[:, 0].max())
    if rows.stop <= rows.start or cols.stop <= cols.start:
        return None
    xs, ys = grid.xs(cols), grid.ys(rows)
    a = math.radians(pad.angle_deg)
    c, s = math.cos(a), math.sin(a)

    def local(bx, by):
        dx, dy = bx - pad.x_um, by - pad.y_um
        return c * dx + s * dy, -s * dx + c * dy

    # the outline's distance field is linear along straight edges: sample it coarsely (finer
    # than a third of the corner radius, never coarser than 6 render pixels) and interpolate
    every = max(1, min(6, int(max(6.0, geom.corner_radius_um / 3.0) / grid.step)))
    if min(len(xs), len(ys)) < 2 * every:
        every = 1
    first = (every - 1) // 2
    cu, cv = local(*np.meshgrid(xs[first::every], ys[first::every]))
    sdf = _upsample(solder_sdf(geom, cu, cv).astype(np.float32), every, len(ys), len(xs))
    height = np.clip(-sdf / geom.fillet_um, 0.0, 1.0) ** 0.6
    missing = np.zeros(sdf.shape, np.float32)
    void_any = np.zeros(sdf.shape, bool) if want_mask else None
    for void in geom.voids:
        vx, vy = pad.x_um + c * void.cx_um - s * void.cy_um, pad.y_um + s * void.cx_um + c * void.cy_um
        reach = max(void.rx_um, void.ry_um)
        r = _sub(ys, vy - reach, vy + reach)
        k = _sub(xs, vx - reach, vx + reach)
        if r.stop <= r.start or k.stop <= k.start:
            continue
        u, v = local(xs[k][None, :], ys[r][:, None])
        q = _void_local(void, u, v)
        missing[r, k] += void.height_frac * np.sqrt(np.clip(1.0 - q, 0.0, None))
        if want_mask:
            void_any[r, k] |= q < 1.0
    solder_eq = geom.solder_thickness_um * height * (1.0 - np.minimum(missing, 0.97))
    via_any = np.zeros(sdf.shape, bool) if want_mask else None
    for via in geom.vias:
        vx, vy = pad.x_um + c * via.cx_um - s * via.cy_um, pad.y_um + s * via.cx_um + c * via.cy_um
        r = _sub(ys, vy - via.radius_um, vy + via.radius_um)
        k = _sub(xs, vx - via.radius_um, vx + via.radius_um)
        if r.stop <= r.start or k.stop <= k.start:
            continue
        d2 = (xs[k][None, :] - vx) ** 2 + (ys[r][:, None] - vy) ** 2
        disk = np.clip((via.radius_um - np.sqrt(d2)) / grid.step + 0.5, 0.0, 1.0)
        ratio = MU_RATIO["solder" if via.kind == "solder" else "copper"]
        solder_eq[r, k] += ratio * via.depth_um * disk
        if want_mask:
            via_any[r, k] |= d2 < via.radius_um ** 2
    eq[rows, cols] += solder_eq
    if not want_mask:
        return None
    solder = sdf < 0
    return JointMask(rows.start, cols.start, solder, void_any & solder, via_any & solder)


def _sub(axis: np.ndarray, lo: float, hi: float) -> slice:
    return slice(int(np.searchsorted(axis, lo)), int(np.searchsorted(axis, hi)))


def _add_package(eq: np.ndarray, grid: _Grid, pkg: Package, rng: np.random.Generator) -> None:
    """Body, lead frame, die, die attach, end caps and wires of one package."""
    for part in pkg.parts:
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [part.hx, part.hy] + [part.cx, part.cy]
        _fill(eq, grid, pkg.to_board(corners), part, rng)
    for wire in pkg.wires:
        points = pkg.to_board(wire.points)
        rows = grid.rows(points[:, 1].min() - wire.diameter_um, points[:, 1].max() + wire.diameter_um)
        cols = grid.cols(points[:, 0].min() - wire.diameter_um, points[:, 0].max() + wire.diameter_um)
        if rows.stop <= rows.start or cols.stop <= cols.start:
            continue
        canvas = np.zeros((rows.stop - rows.start, cols.stop - cols.start), np.uint8)
        shifted = grid.px(points) - np.array([cols.start, rows.start]) * 16
        cv2.polylines(canvas, [shifted], False, 255, _thick(wire.diameter_um, grid), cv2.LINE_AA, 4)
        # a round wire: mean chord pi/4 * d
        eq[rows, cols] += (MU_RATIO[wire.material] * 0.785 * wire.diameter_um / 255.0) * canvas


def _fill(eq: np.ndarray, grid: _Grid, corners: np.ndarray, part: Part, rng: np.random.Generator) -> None:
    rows = grid.rows(corners[:, 1].min(), corners[:, 1].max())
    cols = grid.cols(corners[:, 0].min(), corners[:, 0].max())
    if rows.stop <= rows.start or cols.stop <= cols.start:
        return
    canvas = np.zeros((rows.stop - rows.start, cols.stop - cols.start), np.uint8)
    shifted = grid.px(corners) - np.array([cols.start, rows.start]) * 16
    cv2.fillConvexPoly(canvas, shifted, 255, cv2.LINE_AA, 4)
    value = canvas.astype(np.float32) * (part.eq_um / 255.0)
    if part.kind == "body":  # filler and grain: a faint mottling
        noise = rng.normal(0.0, 1.0, (12, 12)).astype(np.float32)
        value *= 1.0 + 0.05 * cv2.resize(noise, canvas.shape[::-1], interpolation=cv2.INTER_LINEAR)
    eq[rows, cols] += value


def _vignetting(width: int, height: int, strength: float, rng: np.random.Generator) -> np.ndarray:
    size = max(width, height)
    centre = np.array([(width - 1) / 2, (height - 1) / 2]) + rng.normal(0.0, size * 0.15, 2)
    xx = (np.arange(width, dtype=np.float32) - centre[0]) ** 2
    yy = (np.arange(height, dtype=np.float32) - centre[1]) ** 2
    return 1.0 - strength * (yy[:, None] + xx[None, :]) / (size * size / 2)


def quantise(signal: np.ndarray, bit_depth: int, data_bits: int | None = None) -> np.ndarray:
    """Scale [0, 1] to ``data_bits`` (default: all of ``bit_depth``) and store in 8 or 16 bits."""
    top = (1 << (data_bits or bit_depth)) - 1
    dtype = np.uint16 if bit_depth > 8 else np.uint8
    return np.round(np.clip(signal, 0.0, 1.0) * top).astype(dtype)


def roi_labels(mask: JointMask, roi: tuple[int, int, int, int], factor: int):
    """A joint's labels on the ROI grid and on its fine subdivision, and its true bounding box.

    Labels: 0 outside this joint's solder, 1 solder, 2 void, 3 solder over a filled
    via. The bounding box (x, y, w, h) is in ROI pixels: the smallest box of whole
    pixels that holds every fine solder pixel (it may reach beyond a tight ROI).
    """
    x, y, w, h = roi
    fine = np.zeros((h * factor, w * factor), np.uint8)
    coarse = np.zeros((h, w), np.uint8)
    # the joint's window in ROI pixels, whole detector pixels, clipped to the ROI
    r0, c0 = mask.row - y * factor, mask.col - x * factor
    top, left = max(r0 // factor, 0), max(c0 // factor, 0)
    bottom = min(-(-(r0 + mask.solder.shape[0]) // factor), h)
    right = min(-(-(c0 + mask.solder.shape[1]) // factor), w)
    if bottom > top and right > left:
        shape = ((bottom - top) * factor, (right - left) * factor)
        layers = []
        for layer in (mask.solder, mask.void, mask.via):
            canvas = np.zeros(shape, np.float32)
            rs = slice(max(r0 - top * factor, 0), min(r0 - top * factor + layer.shape[0], shape[0]))
            cs = slice(max(c0 - left * factor, 0), min(c0 - left * factor + layer.shape[1], shape[1]))
            lr, lc = rs.start - (r0 - top * factor), cs.start - (c0 - left * factor)
            canvas[rs, cs] = layer[lr:lr + rs.stop - rs.start, lc:lc + cs.stop - cs.start]
            layers.append(canvas)
        fine[top * factor:bottom * factor, left * factor:right * factor] = _label_image(*layers)
        if factor > 1:
            size = (right - left, bottom - top)
            layers = [cv2.resize(layer, size, interpolation=cv2.INTER_AREA) for layer in layers]
        coarse[top:bottom, left:right] = _label_image(*layers)
    rr, cc = np.nonzero(mask.solder.any(axis=1))[0], np.nonzero(mask.solder.any(axis=0))[0]
    if rr.size == 0:
        return coarse, fine, (0, 0, 0, 0)
    btop, bbottom = (mask.row + rr[0]) // factor, (mask.row + rr[-1]) // factor + 1
    bleft, bright = (mask.col + cc[0]) // factor, (mask.col + cc[-1]) // factor + 1
    return coarse, fine, (int(bleft - x), int(btop - y), int(bright - bleft), int(bbottom - btop))


def _label_image(solder_cover: np.ndarray, void_cover: np.ndarray, via_cover: np.ndarray) -> np.ndarray:
    labels = np.zeros(solder_cover.shape, dtype=np.uint8)
    solder = solder_cover >= 0.5
    labels[solder] = LABEL_SOLDER
    labels[(via_cover >= 0.5) & solder] = LABEL_VIA
    labels[(void_cover >= 0.5) & solder] = LABEL_VOID
    return labels


# --- the one-joint interface ------------------------------------------------------------------------

@dataclass(frozen=True)
class XrayScene:
    """Board-side surroundings of a lone joint that stay the same across inspections."""

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


class XrayRender(NamedTuple):
    """One rendered joint image and its truth.

    ``signal``: float32 in [0, 1] after the station's gain, offset and gamma (quantise
    with :func:`quantise`). ``labels``: uint8, 0 = outside the solder, 1 = solder,
    2 = void, 3 = solder over a filled via, on the detector grid. ``fine_labels``:
    the same on the render grid, ``fine_step_um`` per pixel (an integer subdivision
    of the detector pixel), so that validation is not limited by the detector's own
    pixelation.
    """

    signal: np.ndarray
    labels: np.ndarray
    fine_labels: np.ndarray
    fine_step_um: float


def lone_joint_board(geom: JointGeometry, scene: XrayScene, angle_deg: float = 0.0) -> BoardScene:
    """A board holding one joint at the origin, with the legacy scene's trace and body half-plane."""
    pad_scene = PadScene(scene.pad_margin_um, scene.trace_width_um, 90.0 * scene.trace_side, 3000.0, 0.0, 0.5,
                         False, 0.0, 0.0)
    pad = PadInstance(0, 0, geom, pad_scene, 0.0, 0.0, angle_deg)
    reach = 4000.0
    body = Part("body", scene.body_edge_um + scene.body_side * reach, 0.0, reach, reach, scene.tau_body / NOMINAL_MU)
    package = Package("P", geom.component, 0.0, 0.0, angle_deg, (pad,), (body,), (), (reach, reach))
    trace = _trace_polyline(pad)

    return BoardScene(
        board_id="B", family=geom.component, kind="fr4", packages=(package,), grid=(1, 1), cell_um=0.0,
        vias=np.zeros((0, 4)), traces=() if trace is None else ((trace, scene.trace_width_um),), inner=(),
        tau_board=scene.tau_board, thickness_um=1600.0, copper_um=35.0,
        weave_pitch_um=scene.weave_pitch_um, weave_phase=scene.weave_phase,
        weave_angle_rad=scene.weave_angle_rad, mu_path_um=geom.solder_thickness_um,
    )


def render_xray(
    geom: JointGeometry,
    scene: XrayScene,
    station: XrayStation,
    rng: np.random.Generator,
    pose: Pose | None = None,
) -> XrayRender:
    """Render one joint alone, as ``station`` records it at its nominal pixel size."""
    pose = pose or sample_pose(rng)
    board = lone_joint_board(geom, scene, pose.angle_deg)
    size = int(round(station.fov_um / station.pixel_size_um))
    view = View((-pose.shift_um[0], -pose.shift_um[1]), size, size, station.pixel_size_um)
    render = render_view(board, view, station, rng, labels_for=frozenset({0}))
    mask = render.masks.get(0)
    if mask is None:
        empty = np.zeros((size, size), np.uint8)
        return XrayRender(render.signal, empty, np.zeros((size * render.factor,) * 2, np.uint8), render.fine_step_um)
    labels, fine, _ = roi_labels(mask, (0, 0, size, size), render.factor)
    return XrayRender(render.signal, labels, fine, render.fine_step_um)
