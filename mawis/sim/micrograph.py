"""Optical metallographic cross-section of one solder joint (brightfield, RGB).

The cut is the vertical plane y = ``section_y_um`` through the joint frame of
:mod:`.geometry`: x runs across the image, z upwards, so the component sits at
the top and the copper pad / PCB at the bottom; the joint's +x (away from the
package centre) is on the right before any mirroring. The pixel size is chosen per
sample by the lab (:class:`~.config.Microscope` range; big joints at the coarse
end), the field of view is the joint plus random, asymmetric margins of resin and
board (40-600 um each side, so the joint is not centred), 70 um of laminate (or
the dielectric and aluminium of an IMS board) and the component side.

Component sides (:class:`SectionContext`, from the package family):

* ``thickfilm``: ceramic (Al2O3) body with a fired Ag thick-film termination and a
  thin Ni barrier (ceramic LEDs);
* ``chip``: a chip resistor's wrap-around end cap: the Ag/Ni termination runs down
  the body's end face, and the solder fillet climbs it;
* ``leadframe``: an EMC mould body (dark grey with bright silica filler) over a
  copper lead frame terminal (copper-orange, 90-500 um thick) with a thin plating;
* ``dbc``: a power module's DBC substrate: thick copper under a white ceramic.

The body ends a little beyond the joint on the package's outer side (where the
family's layout puts the package edge) and covers a centre pad on both sides.
Filled vias under the pad show where the cut crosses them (a copper plug, a
solder-filled barrel, or a copper-filled microvia cone).

Physics and appearance, top to bottom, as a metallographer sees a polished section:

* Embedding epoxy fills everything outside materials: dark brown-grey, nearly
  featureless, faint speckle.
* Component body (Al2O3 ceramic): light grey-beige with a fine grain texture and
  pores; on its outer side it ends a little beyond the joint, on the inner side it
  runs out of the field. Its termination is a bright silvery thick-film Ag layer
  (porous specks) with a thin darker Ni barrier towards the solder, 5-12 um in all.
* Solder (SAC): bright, slightly bluish grey with a subtle beta-Sn dendrite /
  eutectic network and fine dark Ag3Sn specks. It spans the wetted width of the
  outline at this section (corner radius and edge wobble included, taken from
  :func:`.geometry.solder_sdf`) under the termination, and spreads to the pad in a
  concave meniscus (toe reach ~ ``geom.fillet_um``).
* Intermetallic layers (Cu6Sn5), 2-5 um, tan-grey and scalloped, at both solder
  interfaces.
* Copper pad (~35 um, salmon-orange, etched side walls) slightly wider than the
  solder; green solder mask (with filler specks) beside it with an opening gap;
  FR4 laminate below: olive-brown resin with glass-fibre bundles cut across
  (packed ~7 um circles) and a wavy bundle cut along (parallel striations).
* Sectioned voids: every void whose ellipse meets the cut shows its chord; its
  height at the cut is ``height_frac * thickness * sqrt(1 - q)`` (a bubble), centred
  at ``z_frac * thickness`` above the pad. Dark interior, shaded rim.
* Fatigue crack: a thin dark meandering line 1-6 um below the component-side IMC,
  from each joint edge inward over ``crack_left_um`` / ``crack_right_um`` (measured
  along x from the solder edge at that height), widest at the mouth and narrowing
  to the tip; where it crosses a void it runs through it (the crack label wins on
  its path, so the labelled crack length equals the requested length).
* Preparation and optics: polishing relief (dark lines at phase boundaries),
  faint parallel scratches, Gaussian blur, uneven illumination, white balance,
  additive noise, 8-bit output. JPEG compression is left to the file writer.
* Storage: a share of the images is stored mirrored left-right (and rarely upside
  down); the flips are part of :class:`MicrographRender` (and of the truth).

Labels: 0 not solder (IMC, metals, epoxy, solder inside a via ... included),
1 solder (the chip fillet on the end face included), 2 crack, 3 sectioned void.
A cut that misses the wetted outline shows no solder (all 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from .config import Microscope
from .geometry import JointGeometry, _void_local, solder_sdf

# Material ids of the scene; the label of each is LABEL_OF_MATERIAL[id].
(EPOXY, BODY, METAL, NICKEL, SOLDER, IMC, COPPER, LAMINATE, GLASS, MASK, VOID, CRACK,
 EMC, FRAME, PLATING, DIELECTRIC, ALUMINIUM, VIASOLDER) = range(18)
LABEL_OF_MATERIAL = np.array([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 3, 2, 0, 0, 0, 0, 0, 0], dtype=np.uint8)

Range = tuple[float, float]
RGB = tuple[float, float, float]


@dataclass(frozen=True)
class MicrographStyle:
    """Tunable look of the micrograph. Ranges are drawn per image."""

    # field of view around the joint
    margin_um: Range = (40.0, 600.0)          # resin/board beside the joint, drawn per side
    laminate_depth_um: float = 70.0
    body_height_um: Range = (70.0, 150.0)     # visible part of the component body
    frame_shown_um: float = 220.0             # thicker lead frames run out of the field
    emc_above_um: Range = (30.0, 80.0)
    plating_um: Range = (1.5, 4.0)
    chip_climb: Range = (0.35, 0.85)          # end-face fillet height, share of the visible body
    dielectric_um: Range = (80.0, 150.0)      # IMS boards
    aluminium_shown_um: float = 45.0
    # layers
    copper_um: float = 35.0
    metallisation_um: Range = (5.0, 12.0)
    nickel_share: Range = (0.2, 0.35)         # Ni barrier share of the termination
    imc_um: Range = (2.0, 5.0)
    scallop_um: Range = (3.0, 9.0)            # width of one Cu6Sn5 scallop
    pad_overhang_um: Range = (15.0, 45.0)     # copper beyond the wetted width
    copper_undercut_um: Range = (3.0, 9.0)    # etched side wall: wider at the foot
    mask_um: Range = (14.0, 24.0)
    mask_gap_um: Range = (6.0, 35.0)
    fillet_reach: Range = (0.7, 1.5)          # toe extension as share of geom.fillet_um
    fillet_power: Range = (1.8, 3.0)          # > 1 gives a concave meniscus
    termination_overhang_um: Range = (0.0, 6.0)
    body_overhang_um: Range = (8.0, 60.0)     # body beyond the solder on its outer side
    resin_top_um: Range = (7.0, 14.0)         # resin-rich layer above the first glass ply
    bundle_period_um: Range = (170.0, 250.0)
    bundle_half_height_um: Range = (9.0, 13.0)
    fibre_diameter_um: Range = (6.0, 8.0)
    # crack
    crack_depth_um: Range = (1.0, 6.0)        # below the component-side IMC
    crack_width_um: Range = (1.5, 4.0)        # at the mouth; narrows to the tip
    crack_meander_um: float = 1.6
    # colours, sRGB 0..255 under neutral light
    epoxy: RGB = (62, 56, 50)
    body: RGB = (184, 178, 160)
    metal: RGB = (230, 229, 222)
    nickel: RGB = (172, 170, 164)
    solder: RGB = (200, 204, 210)
    imc: RGB = (156, 144, 122)
    copper: RGB = (206, 132, 102)
    laminate: RGB = (112, 104, 62)
    glass: RGB = (150, 153, 122)
    mask: RGB = (58, 100, 64)
    void: RGB = (36, 35, 34)
    crack: RGB = (24, 23, 22)
    emc: RGB = (86, 88, 84)
    frame: RGB = (212, 128, 94)
    plating: RGB = (222, 221, 212)
    dielectric: RGB = (156, 150, 128)
    aluminium: RGB = (196, 198, 202)
    white_mask: RGB = (214, 214, 206)         # IMS LED boards wear a white solder mask
    # texture strengths (relative brightness)
    solder_network: float = 0.07
    solder_specks: float = 0.25
    relief_darkening: float = 0.22
    scratch_contrast: float = 0.045
    scratches: tuple[int, int] = (12, 35)

    def colours(self) -> np.ndarray:
        order = (self.epoxy, self.body, self.metal, self.nickel, self.solder, self.imc, self.copper,
                 self.laminate, self.glass, self.mask, self.void, self.crack, self.emc, self.frame,
                 self.plating, self.dielectric, self.aluminium, self.solder)
        return np.array(order, dtype=np.float32)


# Per-material texture amplitudes: broad mottling, fine grain, scratch susceptibility.
_LOW_AMP = np.array([0.06, 0.02, 0.03, 0.03, 0.025, 0.05, 0.04, 0.08, 0.05, 0.08, 0.25, 0.0,
                     0.05, 0.04, 0.03, 0.06, 0.03, 0.025], np.float32)
_FINE_AMP = np.array([0.05, 0.035, 0.03, 0.03, 0.015, 0.05, 0.015, 0.06, 0.04, 0.06, 0.10, 0.05,
                      0.06, 0.015, 0.02, 0.05, 0.02, 0.015], np.float32)
_SCRATCH_WEIGHT = np.array([1.0, 0.3, 0.5, 0.4, 1.0, 0.4, 0.9, 0.8, 0.3, 0.8, 0.0, 0.0,
                            0.6, 0.9, 0.6, 0.7, 1.0, 1.0], np.float32)


@dataclass(frozen=True)
class SectionContext:
    """What the package puts around the joint in the section.

    ``body_outer_um``: how far the package body reaches beyond the joint's outer
    (+x) edge (negative: it ends inside the joint width); None: the body covers the
    joint on both sides (a centre pad). ``frame_um``: lead frame or DBC copper
    thickness. ``board``: fr4 or ims.
    """

    termination: str = "thickfilm"
    body_outer_um: float | None = 30.0
    frame_um: float = 0.0
    board: str = "fr4"


class MicrographRender(NamedTuple):
    """An image as stored (after any flips), its labels, the pixel size, the flips and
    the solder's bounding box (x, y, w, h in pixels; zeros without solder)."""

    rgb: np.ndarray
    labels: np.ndarray
    pixel_um: float
    mirrored_lr: bool
    mirrored_ud: bool
    solder_box: tuple[int, int, int, int]


@dataclass(frozen=True)
class _Frame:
    """Pixel grid of the image in joint coordinates (um); row 0 is the top (largest z)."""

    px: float
    x0: float
    z_top: float
    width: int
    height: int

    @property
    def xs(self) -> np.ndarray:
        return (self.x0 + (np.arange(self.width) + 0.5) * self.px).astype(np.float32)

    @property
    def zs(self) -> np.ndarray:
        return (self.z_top - (np.arange(self.height) + 0.5) * self.px).astype(np.float32)

    def rows(self, z_high: float, z_low: float) -> slice:
        """Rows whose centres may lie between z_low and z_high (inclusive, padded by one)."""
        top = int(np.floor((self.z_top - z_high) / self.px)) - 1
        bottom = int(np.ceil((self.z_top - z_low) / self.px)) + 1
        return slice(max(top, 0), min(max(bottom, 0), self.height))


@dataclass(frozen=True)
class _Layout:
    """Drawn dimensions of this section (um, joint frame; z = 0 is the pad top)."""

    has_solder: bool
    thickness: float
    xl: float                # wetted extent at the component side
    xr: float
    toe: tuple[float, float]  # meniscus reach onto the pad beyond xl / xr
    power: tuple[float, float]
    term: tuple[float, float]  # termination ends (x)
    term_t: float
    nickel_t: float
    style: str                 # thickfilm | chip | leadframe | dbc
    frame_t: float             # lead frame / DBC copper shown above the plating
    body_end: float            # chip: the end face (x); others: where the body ends outside
    climb: float               # chip: fillet height above the solder
    body: tuple[float, float]  # body ends (x)
    pad: tuple[float, float]   # copper top corners (x)
    undercut: float
    mask: tuple[float, float]  # solder-mask inner ends (x)
    mask_t: float
    imc_top: np.ndarray       # per column, um
    imc_bottom: np.ndarray


def section_pixel_um(scope: Microscope, field_width_um: float, rng: np.random.Generator) -> float:
    """The lab's magnification for one sample: random in its range, coarser for big joints."""
    lo, hi = scope.pixel_range
    px = float(rng.uniform(lo, hi))
    return round(max(px, min(hi, field_width_um / scope.max_width_px)), 4)


def render_micrograph(
    geom: JointGeometry,
    section_y_um: float,
    crack_left_um: float,
    crack_right_um: float,
    scope: Microscope,
    rng: np.random.Generator,
    *,
    style: MicrographStyle | None = None,
    context: SectionContext | None = None,
    pixel_um: float | None = None,
) -> MicrographRender:
    """Render one cross-section; labels: 0 = not solder, 1 = solder, 2 = crack, 3 = sectioned void.

    ``pixel_um``: the sample's magnification (default: drawn by :func:`section_pixel_um`);
    ``context``: the package around the joint (default: a ceramic body ending on a random side).
    """
    style = style or MicrographStyle()
    margins = rng.uniform(*style.margin_um, 2)
    if pixel_um is None:
        pixel_um = section_pixel_um(scope, geom.width_um + margins.sum(), rng)
    frame = _frame_for(geom, pixel_um, style, margins, context, rng)
    layout = _draw_layout(geom, section_y_um, frame, style, rng, context)
    mat = _material_map(frame, layout, style, rng, context, geom, section_y_um)
    void_rel = _cut_voids(mat, frame, layout, geom, section_y_um)
    crack_alpha = np.zeros(mat.shape, np.float32)
    for side, length in ((-1, crack_left_um), (1, crack_right_um)):
        if layout.has_solder and length > 0:
            _draw_crack(mat, crack_alpha, frame, layout, side, float(length), style, rng)
    colours = style.colours()
    if context is not None and context.board == "ims":
        colours[MASK] = style.white_mask
    rgb = _shade(mat, void_rel, crack_alpha, frame, layout, style, rng, colours)
    rgb = _optics(rgb, scope, rng)
    labels = LABEL_OF_MATERIAL[mat]
    lr, ud = bool(rng.random() < scope.mirror_prob), bool(rng.random() < scope.flip_prob)
    if lr:
        rgb, labels = rgb[:, ::-1], labels[:, ::-1]
    if ud:
        rgb, labels = rgb[::-1], labels[::-1]
    return MicrographRender(np.ascontiguousarray(rgb), np.ascontiguousarray(labels), float(pixel_um), lr, ud,
                            _solder_box(labels))


def _solder_box(labels: np.ndarray) -> tuple[int, int, int, int]:
    inside = labels > 0
    rows, cols = np.nonzero(inside.any(axis=1))[0], np.nonzero(inside.any(axis=0))[0]
    if rows.size == 0:
        return 0, 0, 0, 0
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


# --- layout -------------------------------------------------------------------------------------

def _component_stack(style: MicrographStyle, ctx: SectionContext | None, rng: np.random.Generator) -> float:
    """Height of the component side shown above the solder (um)."""
    kind = ctx.termination if ctx is not None else "thickfilm"
    if kind == "leadframe":
        shown = min(ctx.frame_um, style.frame_shown_um)
        above = rng.uniform(*style.emc_above_um) if ctx.frame_um <= style.frame_shown_um else 0.0
        return style.plating_um[1] + shown + above
    if kind == "dbc":
        return style.plating_um[1] + ctx.frame_um + rng.uniform(*style.body_height_um) * 0.7
    return style.metallisation_um[1] + rng.uniform(*style.body_height_um)


def _frame_for(geom: JointGeometry, px: float, style: MicrographStyle, margins: np.ndarray,
               ctx: SectionContext | None, rng: np.random.Generator) -> _Frame:
    """The field of view: the joint plus asymmetric margins; component side above, board below."""
    x0 = -geom.width_um / 2 - float(margins[0])
    x1 = geom.width_um / 2 + float(margins[1])
    z_top = geom.solder_thickness_um + _component_stack(style, ctx, rng)
    if ctx is not None and ctx.board == "ims":
        z_bottom = -style.copper_um - style.dielectric_um[1] - style.aluminium_shown_um
    else:
        z_bottom = -style.copper_um - style.laminate_depth_um
    width = int(round((x1 - x0) / px))
    height = int(round((z_top - z_bottom) / px))
    return _Frame(px=px, x0=x0, z_top=z_top, width=width, height=height)


def _wetted_extent(geom: JointGeometry, section_y_um: float) -> tuple[float, float] | None:
    """Outermost x where the cut meets the wetted outline (0.25 um steps, interpolated)."""
    xs = np.arange(-geom.width_um / 2 - 30.0, geom.width_um / 2 + 30.0, 0.25)
    sdf = solder_sdf(geom, xs, np.full_like(xs, section_y_um))
    inside = np.nonzero(sdf < 0)[0]
    if inside.size == 0:
        return None
    i, j = inside[0], inside[-1]

    def crossing(a: int, b: int) -> float:
        fa, fb = sdf[a], sdf[b]
        return float(xs[a] + (xs[b] - xs[a]) * fa / (fa - fb))

    left = crossing(i - 1, i) if i > 0 else float(xs[0])
    right = crossing(j, j + 1) if j + 1 < xs.size else float(xs[-1])
    return left, right


def _scalloped(rng: np.random.Generator, xs: np.ndarray, mean: float, style: MicrographStyle) -> np.ndarray:
    """IMC thickness per column: a row of rounded Cu6Sn5 scallops of varying size."""
    span = float(xs[-1] - xs[0]) + 20.0
    widths = rng.uniform(*style.scallop_um, size=int(span / style.scallop_um[0]) + 2)
    edges = xs[0] - 10.0 + np.concatenate([[0.0], np.cumsum(widths)])
    heights = mean * rng.uniform(0.5, 1.5, size=widths.size)
    k = np.clip(np.searchsorted(edges, xs) - 1, 0, widths.size - 1)
    u = (xs - edges[k]) / widths[k] * 2 - 1
    dome = np.sqrt(np.clip(1 - u * u, 0, 1))
    return (0.35 * mean + heights[k] * 0.75 * dome).astype(np.float32)


def _draw_layout(geom: JointGeometry, section_y_um: float, frame: _Frame,
                 style: MicrographStyle, rng: np.random.Generator, ctx: SectionContext | None = None) -> _Layout:
    extent = _wetted_extent(geom, section_y_um)
    has_solder = extent is not None
    xl, xr = extent if has_solder else (-geom.width_um / 2, geom.width_um / 2)
    u = rng.uniform
    kind = ctx.termination if ctx is not None else "thickfilm"
    big = max(1.0, geom.width_um / 1500.0)
    term_t = u(*style.metallisation_um) if kind in ("thickfilm", "chip") else u(*style.plating_um)
    overhang = (u(*style.pad_overhang_um) * big, u(*style.pad_overhang_um) * big)
    toe = tuple(min(geom.fillet_um * u(*style.fillet_reach), o - 2.0) for o in overhang)
    term = (xl - u(*style.termination_overhang_um), xr + u(*style.termination_overhang_um))
    left_edge, right_edge = float(frame.xs[0]) - 50.0, float(frame.xs[-1]) + 50.0
    climb = 0.0
    if ctx is None:  # legacy: the body ends on a random side
        outer = -1 if rng.random() < 0.5 else 1
        body_end = (xr if outer > 0 else xl) + outer * u(*style.body_overhang_um)
        body = (body_end, right_edge) if outer < 0 else (left_edge, body_end)
    elif kind == "chip":  # the end face sits at the joint's outer edge; the fillet climbs it
        body_end = xr + u(-5.0, 15.0)
        body = (left_edge, body_end)
        term = (term[0], body_end)
        climb = (frame.z_top - geom.solder_thickness_um - term_t) * u(*style.chip_climb)
    elif kind == "leadframe":  # the terminal ends near the joint; the mould around it
        term = (xl - u(0.0, 30.0), xr + u(-10.0, 40.0))
        body_end = term[1] + u(0.0, 60.0) if ctx.body_outer_um is not None else right_edge
        body = (left_edge, body_end)
    elif kind == "dbc":
        term = (xl - u(0.0, 20.0), xr + u(0.0, 20.0))
        body_end = right_edge
        body = (left_edge, right_edge)
    else:  # thick film on ceramic
        if ctx.body_outer_um is None:
            body_end, body = right_edge, (left_edge, right_edge)
        else:
            body_end = xr + max(float(ctx.body_outer_um), term[1] - xr + 2.0)
            body = (left_edge, body_end)
    pad = (xl - overhang[0], xr + overhang[1])
    gaps = (u(*style.mask_gap_um), u(*style.mask_gap_um))
    frame_t = 0.0
    if ctx is not None and kind in ("leadframe", "dbc"):
        frame_t = ctx.frame_um
    return _Layout(
        has_solder=has_solder,
        thickness=geom.solder_thickness_um,
        xl=xl, xr=xr, toe=toe,
        power=(u(*style.fillet_power), u(*style.fillet_power)),
        term=term,
        term_t=term_t,
        nickel_t=term_t * u(*style.nickel_share),
        style=kind,
        frame_t=frame_t,
        body_end=float(body_end),
        climb=float(climb),
        body=body,
        pad=pad,
        undercut=u(*style.copper_undercut_um),
        mask=(pad[0] - gaps[0], pad[1] + gaps[1]),
        mask_t=u(*style.mask_um),
        imc_top=_scalloped(rng, frame.xs, u(*style.imc_um), style),
        imc_bottom=_scalloped(rng, frame.xs, u(*style.imc_um), style),
    )


def _solder_edges(lay: _Layout, z: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Left/right solder surface at height z: a concave meniscus from the pad toe up to the termination."""
    t = np.clip(np.asarray(z, np.float32) / lay.thickness, 0.0, 1.0)
    left = lay.xl - lay.toe[0] * (1 - t) ** lay.power[0]
    right = lay.xr + lay.toe[1] * (1 - t) ** lay.power[1]
    return left, right


# --- material map -------------------------------------------------------------------------------

def _material_map(frame: _Frame, lay: _Layout, style: MicrographStyle, rng: np.random.Generator,
                  ctx: SectionContext | None = None, geom: JointGeometry | None = None,
                  section_y_um: float = 0.0) -> np.ndarray:
    mat = np.full((frame.height, frame.width), EPOXY, np.uint8)
    x = frame.xs[None, :]
    z = frame.zs[:, None]
    _place_component(mat, frame, lay)
    ims = ctx is not None and ctx.board == "ims"
    _place_board(mat, x, z, lay, style, ims, rng)
    if not ims:
        _place_glass(mat, frame, style, rng)
    if geom is not None and geom.vias:
        _place_vias(mat, frame, geom, section_y_um, style)
    if lay.has_solder:
        _place_solder(mat, frame, lay)
        if lay.style == "chip":
            _place_chip_fillet(mat, frame, lay)
    return mat


def _place_component(mat: np.ndarray, frame: _Frame, lay: _Layout) -> None:
    rows = frame.rows(frame.z_top, lay.thickness)
    band = mat[rows]
    x = frame.xs[None, :]
    z = frame.zs[rows][:, None]
    top_of_term = lay.thickness + lay.term_t
    in_body = (x >= lay.body[0]) & (x <= lay.body[1])
    in_term = (x >= lay.term[0]) & (x <= lay.term[1])
    if lay.style == "leadframe":
        # EMC mould flush with the terminal's underside; the copper terminal above its plating
        band[(z >= lay.thickness) & in_body] = EMC
        band[(z >= top_of_term) & (z < top_of_term + lay.frame_t) & in_term] = FRAME
        band[(z >= lay.thickness) & (z < top_of_term) & in_term] = PLATING
        return
    if lay.style == "dbc":
        band[(z >= top_of_term + lay.frame_t) & in_body] = BODY
        band[(z >= top_of_term) & (z < top_of_term + lay.frame_t) & in_term] = FRAME
        band[(z >= lay.thickness) & (z < top_of_term) & in_term] = NICKEL
        return
    band[(z >= top_of_term) & in_body] = BODY
    # thick-film termination thins out at its ends (fired paste edge)
    ends = np.minimum(x - lay.term[0], lay.term[1] - x)
    t = lay.term_t * np.sqrt(np.clip(ends / 10.0, 0, 1))
    term = (z < top_of_term) & (z >= top_of_term - t)
    if lay.style == "chip":  # the cap wraps round the end face, Sn-plated outside
        face = (x > lay.body_end - 0.5) & (x <= lay.body_end + lay.term_t) & (z >= lay.thickness)
        term = (term & (x <= lay.body_end)) | face
        band[term] = METAL
        band[term & ((z < lay.thickness + lay.nickel_t) | (x > lay.body_end + lay.term_t - lay.nickel_t))] = NICKEL
        return
    band[term] = METAL
    band[term & (z < lay.thickness + lay.nickel_t)] = NICKEL


def _place_chip_fillet(mat: np.ndarray, frame: _Frame, lay: _Layout) -> None:
    """The solder meniscus that climbs a chip's end face above the joint (concave)."""
    if lay.climb <= 0:
        return
    face = lay.body_end + lay.term_t
    base = max(lay.xr - face, 0.0) + lay.climb * 0.35
    rows = frame.rows(lay.thickness + lay.climb, lay.thickness)
    band = mat[rows]
    x = frame.xs[None, :]
    z = frame.zs[rows][:, None]
    t = np.clip((z - lay.thickness) / lay.climb, 0, 1)
    reach = face + base * (1 - t) ** 1.8
    fillet = (z >= lay.thickness) & (z < lay.thickness + lay.climb) & (x > face) & (x <= reach) & (band == EPOXY)
    band[fillet] = SOLDER


def _place_vias(mat: np.ndarray, frame: _Frame, geom: JointGeometry, section_y_um: float,
                style: MicrographStyle) -> None:
    """Filled vias under the pad that the cut crosses: plugged, solder-filled or microvia."""
    cu = style.copper_um
    x = frame.xs[None, :]
    z = frame.zs[:, None]
    for via in geom.vias:
        dy = section_y_um - via.cy_um
        if abs(dy) >= via.radius_um:
            continue
        half = float(np.sqrt(via.radius_um ** 2 - dy * dy))
        dx = np.abs(x - via.cx_um)
        if via.kind == "microvia":  # copper-filled cone through the first dielectric
            depth = min(via.depth_um, -frame.zs[-1] - cu)
            t = np.clip((-cu - z) / depth, 0, 1)
            cone = (z < -cu) & (z >= -cu - depth) & (dx <= half * (1 - 0.4 * t))
            mat[cone] = COPPER
            continue
        barrel = (z < 0) & (dx <= half + 20.0)
        mat[barrel & (dx > half)] = COPPER
        if via.kind == "plugged":
            mat[barrel & (dx <= half)] = COPPER
        else:  # solder drawn down the open barrel; resin below it
            fill = barrel & (dx <= half)
            mat[fill] = EPOXY
            mat[fill & (z >= -cu - via.depth_um)] = VIASOLDER


def _place_board(mat: np.ndarray, x: np.ndarray, z: np.ndarray, lay: _Layout, style: MicrographStyle,
                 ims: bool = False, rng: np.random.Generator | None = None) -> None:
    cu = style.copper_um
    mat[(z < -cu)[:, 0]] = LAMINATE
    if ims:  # insulated metal substrate: filled dielectric on aluminium
        depth = rng.uniform(*style.dielectric_um)
        mat[(z < -cu)[:, 0]] = DIELECTRIC
        mat[(z < -cu - depth)[:, 0]] = ALUMINIUM
    # etched copper: side walls lean outwards towards the laminate
    foot = lay.undercut * np.clip(-z / cu, 0, 1)
    copper = (z < 0) & (z >= -cu) & (x >= lay.pad[0] - foot) & (x <= lay.pad[1] + foot)
    mat[copper] = COPPER
    # solder mask: rounded edge at the opening, flat further out
    out = np.maximum(lay.mask[0] - x, x - lay.mask[1])
    mask_t = lay.mask_t * np.sqrt(np.clip(out / 12.0, 0, 1))
    mat[(z >= -cu) & (z < -cu + mask_t) & ~copper] = MASK


def _place_solder(mat: np.ndarray, frame: _Frame, lay: _Layout) -> None:
    rows = frame.rows(lay.thickness, 0.0)
    z = frame.zs[rows][:, None]
    x = frame.xs[None, :]
    left, right = _solder_edges(lay, z)
    solder = (z >= 0) & (z < lay.thickness) & (x >= left) & (x <= right)
    imc = solder & ((z < lay.imc_bottom[None, :]) | (z >= lay.thickness - lay.imc_top[None, :]))
    band = mat[rows]
    band[solder] = SOLDER
    band[imc] = IMC


def _place_glass(mat: np.ndarray, frame: _Frame, style: MicrographStyle, rng: np.random.Generator) -> None:
    """FR4 woven glass: bundles cut across (packed fibre ends) and a wavy bundle cut along."""
    u = rng.uniform
    surface = -style.copper_um
    rows = frame.rows(surface, surface - style.laminate_depth_um)
    z = frame.zs[rows][:, None]
    x = frame.xs[None, :]
    d = u(*style.fibre_diameter_um)
    period = u(*style.bundle_period_um)
    az = u(*style.bundle_half_height_um)
    lift = 0.3 * az               # cut-across bundles alternate up and down
    band_half = u(0.55, 0.8) * az  # the along bundle weaves between them
    pitch = 2 * (az + lift) + 2 * band_half + u(8.0, 16.0)  # resin between plies
    ply0 = surface - u(*style.resin_top_um) - az - lift
    phase = u(0, period)
    # fibre lattice, smoothly warped so fibres are not on a perfect grid
    warp_x = _smooth_noise(rng, (rows.stop - rows.start, frame.width), 10.0 / frame.px) * 1.4
    warp_z = _smooth_noise(rng, (rows.stop - rows.start, frame.width), 10.0 / frame.px) * 1.4
    fibre = _hex_lattice_hits(x + warp_x, z + warp_z, d * 1.06, 0.5 * d)
    glass = np.zeros(fibre.shape, bool)
    for k in range(3):
        centre = ply0 - k * pitch
        sx = (x - phase - k * period * 0.5) / period
        j = np.round(sx)
        up = np.where(j % 2 == 0, 1.0, -1.0)
        cz = centre + up * lift
        ax = 0.5 * period * u(0.78, 0.9)
        inside = ((sx - j) * period / ax) ** 2 + ((z - cz) / az) ** 2 < 1.0
        glass |= inside & fibre
        wave = centre - (lift + 0.9 * az + band_half) * np.cos(np.pi * sx)
        across = np.abs(z - wave)
        glass |= (across < band_half) & (np.cos(2 * np.pi * (z - wave) / d) > -0.55)
    band = mat[rows]
    band[glass & (band == LAMINATE)] = GLASS


def _hex_lattice_hits(x: np.ndarray, z: np.ndarray, pitch: float, radius: float) -> np.ndarray:
    """True where (x, z) lies within radius of a hexagonal lattice point."""
    h = pitch * np.sqrt(3.0)
    best = None
    for ox, oz in ((0.0, 0.0), (0.5 * pitch, 0.5 * h)):
        dx = (x - ox) - pitch * np.round((x - ox) / pitch)
        dz = (z - oz) - h * np.round((z - oz) / h)
        d2 = dx * dx + dz * dz
        best = d2 if best is None else np.minimum(best, d2)
    return best < radius * radius


def _cut_voids(mat: np.ndarray, frame: _Frame, lay: _Layout, geom: JointGeometry, section_y_um: float) -> np.ndarray:
    """Mark sectioned voids; returns the relative height in each void (-1 bottom .. 1 top, 0 elsewhere)."""
    rel = np.zeros(mat.shape, np.float32)
    if not lay.has_solder:
        return rel
    xs = frame.xs
    ys = np.full_like(xs, section_y_um)
    for void in geom.voids:
        q = _void_local(void, xs, ys)
        cols = np.nonzero(q < 1.0)[0]
        if cols.size == 0:
            continue
        half = 0.5 * void.height_frac * lay.thickness * np.sqrt(1.0 - q[cols])
        zc = void.z_frac * lay.thickness
        rows = frame.rows(zc + half.max(), zc - half.max())
        cs = slice(cols[0], cols[-1] + 1)
        dz = (frame.zs[rows][:, None] - zc) / np.maximum(half[None, :], 1e-3)
        sub = mat[rows, cs]
        sub_rel = rel[rows, cs]
        within = np.abs(dz) < 1.0
        hole = within & ((sub == SOLDER) | (sub == IMC))
        # where bubbles overlap, only the lowest wall of the union catches light
        merged = within & (sub == VOID)
        sub_rel[merged] = np.maximum(sub_rel[merged], dz[merged])
        sub[hole] = VOID
        sub_rel[hole] = dz[hole]
    return rel


def _smooth_1d(rng: np.random.Generator, n: int, scale_px: float) -> np.ndarray:
    """Unit-ish smooth random curve of n samples with features ~scale_px long."""
    knots = rng.standard_normal(int(n / max(scale_px, 1.0)) + 4).astype(np.float32)
    return np.interp(np.arange(n) / max(scale_px, 1.0) + 1.0, np.arange(knots.size), knots).astype(np.float32)


def _draw_crack(mat: np.ndarray, alpha: np.ndarray, frame: _Frame, lay: _Layout, side: int, length: float,
                style: MicrographStyle, rng: np.random.Generator) -> None:
    """A fatigue crack from one joint edge inward, just below the component-side IMC."""
    depth = rng.uniform(*style.crack_depth_um)
    z0 = lay.thickness - float(np.mean(lay.imc_top)) - depth
    left, right = _solder_edges(lay, z0)
    edge = float(left if side < 0 else right)
    xs = frame.xs
    s_all = (xs - edge) if side < 0 else (edge - xs)   # distance from the crack mouth
    span = lay.xr - lay.xl
    cols = np.nonzero((s_all >= 0) & (s_all < min(length, span)))[0]
    if cols.size == 0:
        return
    s = s_all[cols]
    px = frame.px
    amp = style.crack_meander_um
    meander = amp * (0.7 * _smooth_1d(rng, cols.size, 22.0 / px) + 0.35 * _smooth_1d(rng, cols.size, 5.0 / px))
    frac = s / max(length, 1e-3)
    width = rng.uniform(*style.crack_width_um) * (1 - 0.75 * frac) ** 0.8 * (1 + 0.8 * np.exp(-s / 8.0))
    half = np.maximum(0.5 * width, 0.5 * px + 1e-3)
    ceiling = lay.thickness - lay.imc_top[cols] - half
    zc = np.minimum(z0 + meander, ceiling)
    rows = frame.rows(float(zc.max() + half.max() + 2 * px), float(zc.min() - half.max() - 2 * px))
    cs = slice(cols[0], cols[-1] + 1)
    dist = np.abs(frame.zs[rows][:, None] - zc[None, :]) / half[None, :]
    sub = mat[rows, cs]
    material = (sub == SOLDER) | (sub == IMC) | (sub == VOID) | (sub == CRACK)
    core = (dist <= 1.0) & material
    sub[core] = CRACK
    # a soft dark halo: the crack lips are rounded by polishing
    halo = np.clip(1.6 - 0.6 * dist, 0, 1) * np.where(material, 1.0, 0.0)
    np.maximum(alpha[rows, cs], halo.astype(np.float32), out=alpha[rows, cs])


# --- shading ------------------------------------------------------------------------------------

def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale_px: float) -> np.ndarray:
    """Zero-mean, roughly unit-variance noise with features about scale_px wide."""
    h, w = shape
    s = max(scale_px, 1.0)
    grid = rng.standard_normal((int(h / s) + 3, int(w / s) + 3), dtype=np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) * 1.3


def _shade(mat: np.ndarray, void_rel: np.ndarray, crack_alpha: np.ndarray, frame: _Frame, lay: _Layout,
           style: MicrographStyle, rng: np.random.Generator, colours: np.ndarray | None = None) -> np.ndarray:
    """Scene colour: material colour times a brightness gain that carries all textures."""
    shape = mat.shape
    px = frame.px
    low = _smooth_noise(rng, shape, 45.0 / px) + 0.5 * _smooth_noise(rng, shape, 12.0 / px)
    fine = _smooth_noise(rng, shape, 1.6 / px)
    gain = 1.0 + np.take(_LOW_AMP, mat) * low + np.take(_FINE_AMP, mat) * fine
    gain -= _relief(mat, style)
    _solder_microstructure(gain, mat, frame, lay, style, rng)
    _component_texture(gain, mat, frame, lay, rng)
    _board_texture(gain, mat, frame, rng)
    _void_shading(gain, mat, void_rel)
    gain *= 1.0 + style.scratch_contrast * _scratches(shape, style, rng) * np.take(_SCRATCH_WEIGHT, mat)
    rgb = np.take(style.colours() if colours is None else colours, mat, axis=0) * gain[..., None]
    _blend_crack_shadow(rgb, crack_alpha, style)
    return rgb


def _blend_crack_shadow(rgb: np.ndarray, alpha: np.ndarray, style: MicrographStyle) -> None:
    """A crack lies in shadow: blend its surroundings towards the crack colour (crack rows only)."""
    rows = np.nonzero(alpha.any(axis=1))[0]
    if rows.size == 0:
        return
    band = slice(rows[0], rows[-1] + 1)
    a = alpha[band][..., None]
    rgb[band] = rgb[band] * (1 - a) + np.asarray(style.crack, np.float32) * a


def _solder_microstructure(gain: np.ndarray, mat: np.ndarray, frame: _Frame, lay: _Layout,
                           style: MicrographStyle, rng: np.random.Generator) -> None:
    """Interdendritic eutectic network, Ag3Sn specks and a few Cu6Sn5 rods darken the solder."""
    if not lay.has_solder:
        return
    rows = frame.rows(lay.thickness, 0.0)
    band = mat[rows]
    shape = band.shape
    px = frame.px
    # ridges of band-passed noise look like a cell / dendrite-arm network
    n1 = _smooth_noise(rng, shape, 9.0 / px)
    n2 = _smooth_noise(rng, shape, 4.0 / px)
    network = np.exp(-((n1 + 0.5 * n2) * 2.2) ** 2)
    specks = (rng.random(shape, dtype=np.float32) > 0.985).astype(np.float32) * network
    for _ in range(int(rng.integers(0, 6))):
        x0, y0 = rng.uniform(0, shape[1]), rng.uniform(0, shape[0])
        ang, n = rng.uniform(0, np.pi), rng.uniform(3.0, 10.0) / px
        tip = (int(x0 + n * np.cos(ang)), int(y0 + n * np.sin(ang)))
        cv2.line(specks, (int(x0), int(y0)), tip, 0.6, 1, cv2.LINE_AA)
    specks = cv2.GaussianBlur(specks, (0, 0), 0.6)
    dark = style.solder_network * network + style.solder_specks * specks
    gain[rows] -= np.where(band == SOLDER, dark, 0.0)


def _component_texture(gain: np.ndarray, mat: np.ndarray, frame: _Frame, lay: _Layout,
                       rng: np.random.Generator) -> None:
    """Alumina grains and pull-out pores in the body, porosity in the thick-film Ag."""
    rows = frame.rows(frame.z_top, lay.thickness)
    band = mat[rows]
    shape = band.shape
    grains = np.round(_smooth_noise(rng, shape, 2.5 / frame.px) * 1.5) * 0.012
    pores = (rng.random(shape, dtype=np.float32) > 0.988).astype(np.float32)
    pores = cv2.GaussianBlur(pores, (0, 0), 0.6) * 2.5
    gain[rows] -= np.where(band == BODY, grains + 0.4 * pores, np.where(band == METAL, 0.3 * pores, 0.0))
    if lay.style == "leadframe":  # silica filler spheres in the mould compound
        filler = np.clip(_smooth_noise(rng, shape, 4.0 / frame.px) - 0.8, 0, 1) * 1.2
        gain[rows] += np.where(band == EMC, filler, 0.0)
    if lay.style in ("leadframe", "dbc"):
        copper_grains = np.round(_smooth_noise(rng, shape, 14.0 / frame.px) * 1.2) * 0.018
        gain[rows] += np.where(band == FRAME, copper_grains, 0.0)


def _board_texture(gain: np.ndarray, mat: np.ndarray, frame: _Frame, rng: np.random.Generator) -> None:
    """Copper grains (faint patches) and bright filler particles in the solder mask."""
    rows = frame.rows(0.0, frame.zs[-1])
    band = mat[rows]
    shape = band.shape
    grains = np.round(_smooth_noise(rng, shape, 14.0 / frame.px) * 1.2) * 0.018
    filler = (rng.random(shape, dtype=np.float32) > 0.97).astype(np.float32)
    filler = cv2.GaussianBlur(filler, (0, 0), 0.7) * 1.5
    gain[rows] += np.where(band == COPPER, grains, np.where((band == MASK) | (band == DIELECTRIC), filler, 0.0))


def _relief(mat: np.ndarray, style: MicrographStyle) -> np.ndarray:
    """Polishing relief rounds the edges of soft phases: thin dark lines at every phase boundary."""
    edge = np.zeros(mat.shape, np.float32)
    vertical = mat[1:] != mat[:-1]
    horizontal = mat[:, 1:] != mat[:, :-1]
    edge[1:] += vertical
    edge[:-1] += vertical
    edge[:, 1:] += horizontal
    edge[:, :-1] += horizontal
    edge = cv2.GaussianBlur(np.minimum(edge, 1.0), (0, 0), 0.9)
    return style.relief_darkening * edge


def _void_shading(gain: np.ndarray, mat: np.ndarray, void_rel: np.ndarray) -> None:
    """The inside of a cut bubble: dark, its lower wall catching some light."""
    inside = mat == VOID
    if inside.any():
        lower_wall = np.clip(-void_rel[inside], 0, 1) ** 2.5
        gain[inside] *= 0.8 + 2.0 * lower_wall


# --- preparation and optics ---------------------------------------------------------------------

def _scratches(shape: tuple[int, int], style: MicrographStyle, rng: np.random.Generator) -> np.ndarray:
    """Faint straight polishing scratches at a common angle (+-4 deg)."""
    h, w = shape
    layer = np.zeros(shape, np.float32)
    angle = rng.uniform(0, np.pi)
    reach = float(h + w)
    for _ in range(int(rng.integers(*style.scratches))):
        a = angle + rng.normal(0, 0.035)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        dx, dy = np.cos(a) * reach, np.sin(a) * reach
        p1 = (int(cx - dx), int(cy - dy))
        p2 = (int(cx + dx), int(cy + dy))
        cv2.line(layer, p1, p2, float(rng.choice([-1.0, 0.6]) * rng.uniform(0.4, 1.0)), 1, cv2.LINE_AA)
    return layer


def _optics(rgb: np.ndarray, scope: Microscope, rng: np.random.Generator) -> np.ndarray:
    """Blur, uneven illumination, white balance, sensor noise, 8-bit quantisation."""
    h, w = rgb.shape[:2]
    if scope.blur_px > 0:
        rgb = cv2.GaussianBlur(rgb, (0, 0), scope.blur_px)
    # radial falloff around a slightly off-centre optical axis
    norm = 0.5 * np.hypot(h, w)
    yy = (np.arange(h, dtype=np.float32)[:, None] - h * rng.uniform(0.4, 0.6)) / norm
    xx = (np.arange(w, dtype=np.float32)[None, :] - w * rng.uniform(0.4, 0.6)) / norm
    light = 1.0 - scope.illumination_falloff * (xx * xx + yy * yy)
    rgb *= light[..., None]
    rgb *= np.asarray(scope.white_balance, np.float32)
    # OpenCV's generator is much faster than numpy's for a full frame; seeding it from rng
    # keeps the image deterministic (its state is per thread).
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
    noise = np.empty_like(rgb)
    cv2.randn(noise, 0.0, float(scope.noise_sigma))
    rgb += noise
    return cv2.convertScaleAbs(cv2.max(rgb, 0.0))
