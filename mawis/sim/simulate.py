"""Run a simulated inspection campaign and write it as a contract-v1 batch.

``simulate_batch`` is the Python API behind ``mawis simulate``. It works in four
steps: (1) boards and packages: which family each board carries and how many
packages (sequential, cheap); (2) per joint (= per pad), draw the geometry and
integrate its fatigue crack (parallel); (3) lay out each board (package
placement, copper, vias, wires), set up the station per board (magnification,
tube voltage, image groups) and plan the campaign: readings, package pulls,
inspections (sequential, cheap); (4) render and write every image (parallel: the
X-rays of one board at one inspection per task, one cross-section per task).
Each random draw comes from a generator keyed by (seed, purpose, board, joint,
...), so results do not depend on the number of worker processes. The ground
truth goes to a separate folder, never inside the batch.

Truth folder (``<batch>-truth`` by default):

* ``joints.csv``: one row per joint: ids (``board_id``, ``package_id``,
  ``pad_index``, ``pad_role``, ``component``/``family``, ``held_out_family``),
  geometry (``width_um`` along the crack path, ``length_um``, true wetted
  ``area_um2``, ``solder_thickness_um``, ``dnp_um`` from the package's neutral
  point to the pad centre, ``strain_length_um``, position and angle on the
  board), void measures, fatigue (``delta_gamma``, initiation, true
  ``cycles_to_failure``) and the campaign (``cycled``, ``monitor``,
  ``observed_until``, ``failed_in_test``, ``pulled_at``, ``left_board_at``).
* ``images.csv``: one row per manifest row. X-rays: ``pixel_size_um``, the ROI
  (``roi_x, roi_y, roi_w, roi_h``; the whole image for one-joint images), the
  joint's true bounding box on the ROI grid (``joint_x, joint_y, joint_w,
  joint_h``, ROI pixels; it may reach past a tight ROI), ``joint_angle_deg`` (the
  joint's x axis in the image, from +x towards +y), the masks
  (``masks/xray/<image_id>.png`` on the ROI grid, ``masks/xray_fine/`` on its
  ``fine_factor`` subdivision: 0 outside this joint's solder, 128 solder, 255
  void, 64 solder over a filled via; neighbours' solder is 0), ``layout``,
  ``held_out_station``. Cross-sections: ``pixel_size_um``, ``mirrored_lr``,
  ``mirrored_ud``, the solder's box ``solder_x, solder_y, solder_w, solder_h``,
  ``section_y_um``, crack truth; mask ``masks/micrograph/<image_id>.png`` (96
  solder, 255 crack, 160 sectioned void), flipped like the image.
* ``campaign.json``: configuration, station, families used, reading interval,
  counts.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .. import __version__
from ..atomic import atomic_dir, check_writable_target
from ..batch.contract import CONTRACT_VERSION
from ..errors import UsageError
from ..parallel import process_pool
from .board import BoardScene, PadScene, build_board, sample_pad_scene
from .campaign import Board, JointPlan, plan_cut_package, plan_joint, reading_schedule
from .config import CampaignConfig, Component, Machine, get_machine, load_components
from .fatigue import CrackHistory, crack_history, strain_length_um, void_profile
from .geometry import JointGeometry, sample_joint_geometry
from .imageio import write_image
from .micrograph import SectionContext, render_micrograph
from .views import BoardImaging, board_imaging, group_view, roi_for, single_view
from .xray import quantise, render_view, roi_labels

ProgressFn = Callable[[str, int, int], None]

# purposes of the keyed random streams
_BOARDS, _JOINT, _CAMPAIGN, _XRAY, _MICRO, _SCENE, _PAD, _VIEW = range(8)

XRAY_MASK_VALUES = {0: 0, 1: 128, 2: 255, 3: 64}
MICRO_MASK_VALUES = {0: 0, 1: 96, 2: 255, 3: 160}


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


@dataclass
class SimulatedJoint:
    index: int
    joint_id: str
    board: Board
    geometry: JointGeometry
    scene: PadScene
    history: CrackHistory
    void_fraction: float
    largest_void_fraction: float
    void_count: int
    edge_void_fraction: float
    family: str = ""
    package_index: int = 0
    site_index: int = 0
    strain_length_um: float = 0.0

    @property
    def package_id(self) -> str:
        return f"{self.board.board_id}-P{self.package_index + 1:02d}"


@dataclass(frozen=True)
class SimulationResult:
    batch_dir: Path
    truth_dir: Path
    joints: int
    images: int
    labeled_joints: int
    seconds: float


# --- step 1: boards and packages -------------------------------------------------------------------

def _boards(cfg: CampaignConfig, components: dict[str, Component]) -> tuple[list[Board], list[tuple[int, int, int]]]:
    """Boards, and per joint its (board index, package index, site index)."""
    rng = _rng(cfg.seed, _BOARDS)
    names = list(cfg.family_names())
    weights = np.array([components[n].weight for n in names], dtype=float)
    families, slots = [], []
    while len(slots) < cfg.joints:
        component = components[names[rng.choice(len(names), p=weights / weights.sum())]]
        pads = component.pads_per_package
        remaining = cfg.joints - len(slots)
        n_packages = min(max(1, int(round(cfg.joints_per_board / pads))), math.ceil(remaining / pads))
        b = len(families)
        for k in range(n_packages):
            for s in range(pads):
                if len(slots) < cfg.joints:
                    slots.append((b, k, s))
        families.append((component.name, n_packages))
    n_boards = len(families)
    n_cycled = int(round(cfg.label_fraction * n_boards))
    if cfg.label_fraction > 0:
        n_cycled = max(n_cycled, 1)
    cycled = np.zeros(n_boards, dtype=bool)
    cycled[rng.permutation(n_boards)[:n_cycled]] = True
    boards = []
    for b, (family, n_packages) in enumerate(families):
        event = rng.random() < cfg.event_detector_share
        boards.append(Board(
            board_id=f"B{b + 1:04d}",
            component=family,
            cycled=bool(cycled[b]),
            monitor=("event" if event else "readings") if cycled[b] else "none",
            void_level=float(cfg.voids.board_median_fraction * rng.lognormal(0.0, cfg.voids.board_sigma)),
            life_factor=float(rng.lognormal(0.0, cfg.fatigue.board_sigma)),
            index=b,
            packages=n_packages,
        ))
    return boards, slots


# --- step 2: joints -----------------------------------------------------------------------------

def _simulate_joint(task: tuple) -> SimulatedJoint:
    index, board, package_index, site_index, component, cfg = task
    rng = _rng(cfg.seed, _JOINT, index)
    site = component.sites[site_index]
    geom = sample_joint_geometry(rng, component, cfg.voids, board.void_level, site)
    profile = void_profile(geom, cfg.fatigue)
    joint_factor = board.life_factor * float(rng.lognormal(0.0, cfg.fatigue.joint_sigma))
    sides = tuple(float(v) for v in rng.lognormal(0.0, cfg.fatigue.side_sigma, 2))
    history = crack_history(geom, component, cfg.fatigue, profile, joint_factor, sides)
    return SimulatedJoint(
        index=index, joint_id=f"J{index + 1:06d}", board=board, geometry=geom,
        scene=sample_pad_scene(rng, component.role(site.role), geom), history=history,
        void_fraction=profile.void_fraction, largest_void_fraction=profile.largest_void_fraction,
        void_count=profile.void_count, edge_void_fraction=profile.edge_void_fraction,
        family=component.name, package_index=package_index, site_index=site_index,
        strain_length_um=strain_length_um(geom, component),
    )


def _joint_tasks(cfg: CampaignConfig, boards: list[Board], slots, components: dict[str, Component]) -> list[tuple]:
    return [(i, boards[b], k, s, components[boards[b].component], cfg) for i, (b, k, s) in enumerate(slots)]


def simulate_joints(cfg: CampaignConfig) -> list[SimulatedJoint]:
    """The joints of a campaign (geometry, voids, crack history), without rendering images."""
    cfg.validate()
    components = load_components()
    boards, slots = _boards(cfg, components)
    tasks = _joint_tasks(cfg, boards, slots, components)
    with process_pool(cfg.workers or os.cpu_count() or 1) as pool:
        return list(_mapped(pool, _simulate_joint, tasks, "joints", lambda *a: None))


# --- step 3: board layouts and the campaign ---------------------------------------------------------

def _board_scenes(cfg: CampaignConfig, boards: list[Board], joints: list[SimulatedJoint],
                  components: dict[str, Component]) -> list[BoardScene]:
    by_slot = {(j.board.index, j.package_index, j.site_index): j for j in joints}
    scenes = []
    for board in boards:
        component = components[board.component]
        packages = []
        for k in range(board.packages):
            pads = []
            for s, site in enumerate(component.sites):
                joint = by_slot.get((board.index, k, s))
                if joint is not None:
                    pads.append((joint.index, s, joint.geometry, joint.scene))
                    continue
                # a pad of the last package beyond the campaign's joint count: on the board, not a joint
                rng = _rng(cfg.seed, _PAD, board.index, k, s)
                geom = sample_joint_geometry(rng, component, cfg.voids, board.void_level, site)
                pads.append((-1, s, geom, sample_pad_scene(rng, component.role(site.role), geom)))
            packages.append(pads)
        scenes.append(build_board(board.board_id, component, packages, _rng(cfg.seed, _SCENE, board.index),
                                  components, cfg.voids, board.void_level))
    return scenes


def _plan(cfg: CampaignConfig, joints: list[SimulatedJoint]) -> tuple[int, list[JointPlan]]:
    rng = _rng(cfg.seed, _CAMPAIGN)
    interval, schedule = reading_schedule(cfg, rng)
    plans = [JointPlan(j.joint_id, j.board) for j in joints]
    packages: dict[tuple[int, int], list[int]] = {}
    for i, joint in enumerate(joints):
        packages.setdefault((joint.board.index, joint.package_index), []).append(i)
    # whole packages are cut, in random order, until micrograph_fraction of the joints are covered
    order = list(packages)
    cut: set[tuple[int, int]] = set()
    if cfg.micrographs and cfg.micrograph_fraction > 0:
        target = cfg.micrograph_fraction * len(joints)
        covered = 0
        for k in rng.permutation(len(order)):
            if covered >= target - 0.5 * len(packages[order[k]]):
                break
            cut.add(order[k])
            covered += len(packages[order[k]])
    pulls = [c for c in cfg.pull_cycles if c < cfg.end_cycles] or [cfg.end_cycles]
    for key in order:
        members = packages[key]
        if key in cut:
            pull = int(rng.choice(pulls))
            plan_cut_package([plans[i] for i in members], cfg, schedule,
                             [joints[i].history.crack_fraction_at for i in members],
                             [joints[i].history.cycles_to_failure for i in members], pull, rng)
        else:
            for i in members:
                plan_joint(plans[i], cfg, schedule, joints[i].history.crack_fraction_at,
                           joints[i].history.cycles_to_failure, rng)
    return interval, plans


# --- step 4: images -----------------------------------------------------------------------------

@dataclass(frozen=True)
class _XrayTask:
    board: BoardScene
    imaging: BoardImaging
    cycles: int
    members: tuple[tuple[int, str, float, float], ...]   # joint index, joint id, crack left / right (um)
    absent: frozenset[str]
    ext: str


@dataclass(frozen=True)
class _MicroTask:
    joint: SimulatedJoint
    cycles: int
    rel_path: str
    image_id: str
    context: SectionContext


def _image_tasks(cfg: CampaignConfig, machine: Machine, joints: list[SimulatedJoint], plans: list[JointPlan],
                 scenes: list[BoardScene], components: dict[str, Component]) -> list:
    xray_ext = {"tiff": "tif", "png": "png"}[machine.xray.file_format]
    tasks: list = []
    by_board: dict[int, list[int]] = {}
    for i, joint in enumerate(joints):
        by_board.setdefault(joint.board.index, []).append(i)
    for b, scene in enumerate(scenes):
        members = by_board.get(b, [])
        imaging = board_imaging(scene, machine.xray, _rng(cfg.seed, _VIEW, b))
        left = {joints[i].package_id: plans[i].left_at for i in members if plans[i].left_at is not None}
        cycles = sorted({c for i in members for c in plans[i].xray_cycles})
        for c in cycles:
            present = []
            for i in members:
                if c in plans[i].xray_cycles:
                    crack_left, crack_right = joints[i].history.lengths_at(c)
                    present.append((i, joints[i].joint_id, float(crack_left), float(crack_right)))
            absent = frozenset(p for p, at in left.items() if at < c)
            tasks.append(_XrayTask(scene, imaging, c, tuple(present), absent, xray_ext))
    mg_ext = {"png": "png", "jpg": "jpg", "bmp": "bmp", "tiff": "tif"}[machine.microscope.file_format]
    for joint, plan in zip(joints, plans):
        if plan.micrograph_cycles is not None:
            c = plan.micrograph_cycles
            image_id = f"{joint.joint_id}-mg-{c:05d}"
            tasks.append(_MicroTask(joint, c, f"micrograph/{joint.board.board_id}/{image_id}.{mg_ext}", image_id,
                                    _section_context(components[joint.family], joint)))
    return tasks


def _section_context(component: Component, joint: SimulatedJoint) -> SectionContext:
    """Where the package body ends beyond the joint's outer edge (None: a centre pad under the body)."""
    site = component.sites[joint.site_index]
    if site.dnp_um < 1.0:
        outer = None
    else:
        a = math.radians(site.angle_deg)
        hx, hy = component.body_size_um[0] / 2, component.body_size_um[1] / 2
        c, s = math.cos(a), math.sin(a)
        # distance along the joint's +x from the pad centre to the body outline
        reach = [t for t in ((hx - site.x_um) / c if c > 1e-9 else math.inf,
                             (-hx - site.x_um) / c if c < -1e-9 else math.inf,
                             (hy - site.y_um) / s if s > 1e-9 else math.inf,
                             (-hy - site.y_um) / s if s < -1e-9 else math.inf) if t >= 0]
        outer = min(reach) - joint.geometry.width_um / 2 if reach else 0.0
    frame = component.leadframe_um
    return SectionContext(termination=component.termination, body_outer_um=outer, frame_um=frame,
                          board=component.board)


def _render_task(args: tuple) -> list[dict]:
    task, machine, seed, batch_dir, truth_dir = args
    if isinstance(task, _XrayTask):
        return _render_xray_task(task, machine, seed, Path(batch_dir), Path(truth_dir))
    return _render_micrograph_task(task, machine, seed, Path(batch_dir), Path(truth_dir))


def _render_xray_task(task: _XrayTask, machine: Machine, seed: int, batch_dir: Path, truth_dir: Path) -> list[dict]:
    """Every X-ray image of one board at one inspection, with its truth rows."""
    station, board, imaging = machine.xray, task.board, task.imaging
    board_index = int(board.board_id[1:]) - 1
    pads = {pad.joint_index: (pkg, pad) for pkg in board.campaign_packages for pad in pkg.pads if pad.joint_index >= 0}
    members = {m[0]: m for m in task.members}
    rows: list[dict] = []
    if imaging.layout == "single":
        for index in sorted(members):
            pkg, pad = pads[index]
            rng = _rng(seed, _XRAY, board_index, index, task.cycles)
            view = single_view(pad, imaging, station.detector_px, rng)
            name = f"{members[index][1]}-xr-{task.cycles:05d}"
            rows += _write_view(task, machine, view, [(index, None)], name, rng, batch_dir, truth_dir)
        return rows
    by_id = {pkg.package_id: pkg for pkg in board.campaign_packages}
    for g, group in enumerate(imaging.groups):
        shown = [pad.joint_index for pid in group for pad in by_id[pid].pads if pad.joint_index in members]
        if not shown:
            continue
        rng = _rng(seed, _XRAY, board_index, 10**6 + g, task.cycles)
        view = group_view([by_id[pid] for pid in group], imaging, station.detector_px, rng)
        wanted = [(index, roi_for(pads[index][1], view, rng)) for index in shown]
        name = (f"{group[0]}-xr-{task.cycles:05d}" if imaging.layout == "package"
                else f"{board.board_id}-xr-{task.cycles:05d}-p{g + 1:02d}")
        rows += _write_view(task, machine, view, wanted, name, rng, batch_dir, truth_dir)
    return rows


def _write_view(task: _XrayTask, machine: Machine, view, wanted, name: str, rng, batch_dir: Path,
                truth_dir: Path) -> list[dict]:
    station, board = machine.xray, task.board
    rel_path = f"xray/{board.board_id}/{name}.{task.ext}"
    render = render_view(board, view, station, rng, mu_scale=task.imaging.mu_scale, absent=task.absent,
                         labels_for=frozenset(index for index, _ in wanted))
    write_image(batch_dir / rel_path, quantise(render.signal, station.bit_depth, station.significant_bits))
    members = {m[0]: m for m in task.members}
    angles = {pad.joint_index: pad.angle_deg for pkg in board.campaign_packages for pad in pkg.pads}
    rows = []
    for tile, (index, roi) in enumerate(wanted):
        _, joint_id, left, right = members[index]
        image_id = f"{joint_id}-xr-{task.cycles:05d}"
        box = roi or (0, 0, view.width_px, view.height_px)
        labels, fine, bbox = roi_labels(render.masks[index], box, render.factor)
        mask_rel, fine_rel = f"masks/xray/{image_id}.png", f"masks/xray_fine/{image_id}.png"
        write_image(truth_dir / mask_rel, _mask_image(labels, XRAY_MASK_VALUES), mask=True)
        write_image(truth_dir / fine_rel, _mask_image(fine, XRAY_MASK_VALUES), mask=True)
        width = next(pad.geometry.width_um for pkg in board.campaign_packages for pad in pkg.pads
                     if pad.joint_index == index)
        rows.append({
            "image_id": image_id, "joint_id": joint_id, "modality": "xray", "cycles": task.cycles,
            "path": rel_path, "tile": tile, "tile_size": box[2],
            "crack_fraction": float((left + right) / width),
            "crack_left_um": float(left), "crack_right_um": float(right),
            "mask_path": mask_rel,
            "fine_mask_path": fine_rel, "fine_mask_pixel_um": render.fine_step_um,
            "void_fraction_pixels": float((labels == 2).sum() / max((labels > 0).sum(), 1)),
            "pixel_size_um": view.pixel_um, "fine_factor": render.factor,
            "layout": task.imaging.layout, "has_roi": roi is not None,
            "roi_x": box[0], "roi_y": box[1], "roi_w": box[2], "roi_h": box[3],
            "image_w": view.width_px, "image_h": view.height_px,
            "joint_x": bbox[0], "joint_y": bbox[1], "joint_w": bbox[2], "joint_h": bbox[3],
            "joint_angle_deg": round(float(angles[index]), 3),
            "mu_scale": task.imaging.mu_scale,
            "held_out_station": machine.held_out, "station_quality": machine.quality,
        })
    return rows


def _render_micrograph_task(task: _MicroTask, machine: Machine, seed: int, batch_dir: Path,
                            truth_dir: Path) -> list[dict]:
    joint, image_id = task.joint, task.image_id
    rng = _rng(seed, _MICRO, joint.index)
    section_y = float(rng.normal(0.0, 0.12 * joint.geometry.length_um / 2))
    left, right = joint.history.lengths_at(task.cycles)
    render = render_micrograph(joint.geometry, section_y, float(left), float(right), machine.microscope, rng,
                               context=task.context)
    write_image(batch_dir / task.rel_path, render.rgb, jpeg_quality=machine.microscope.jpeg_quality)
    mask_rel = f"masks/micrograph/{image_id}.png"
    write_image(truth_dir / mask_rel, _mask_image(render.labels, MICRO_MASK_VALUES), mask=True)
    x, y, w, h = render.solder_box
    return [{
        "image_id": image_id, "joint_id": joint.joint_id, "modality": "micrograph", "cycles": task.cycles,
        "path": task.rel_path, "tile": 0, "tile_size": 0,
        "crack_fraction": float((left + right) / joint.history.width_um),
        "crack_left_um": float(left), "crack_right_um": float(right),
        "mask_path": mask_rel, "section_y_um": section_y,
        "pixel_size_um": render.pixel_um, "mirrored_lr": render.mirrored_lr, "mirrored_ud": render.mirrored_ud,
        "solder_x": x, "solder_y": y, "solder_w": w, "solder_h": h,
        "image_w": render.rgb.shape[1], "image_h": render.rgb.shape[0],
        "held_out_station": machine.held_out, "station_quality": machine.quality,
    }]


def _mask_image(labels: np.ndarray, values: dict[int, int]) -> np.ndarray:
    lut = np.zeros(256, dtype=np.uint8)
    for label, value in values.items():
        lut[label] = value
    return lut[labels]


# --- tables -------------------------------------------------------------------------------------

def _manifest(machine: Machine, joints_by_id, image_rows: list[dict]) -> pd.DataFrame:
    station, scope = machine.xray, machine.microscope
    with_roi = any(r.get("has_roi") for r in image_rows)
    rows = []
    for r in image_rows:
        joint = joints_by_id[r["joint_id"]]
        xray = r["modality"] == "xray"
        row = {
            "image_id": r["image_id"], "joint_id": r["joint_id"], "modality": r["modality"], "path": r["path"],
            "pixel_size_um": round(float(r["pixel_size_um"]), 4),
            "cycles": r["cycles"], "board_id": joint.board.board_id, "component": joint.family,
            "machine": station.station_id if xray else scope.station_id,
            "inspection": _inspection_kind(r, joint),
        }
        if with_roi:
            if xray and r["has_roi"]:
                row.update(x=r["roi_x"], y=r["roi_y"], w=r["roi_w"], h=r["roi_h"])
            else:
                row.update(x=None, y=None, w=None, h=None)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if with_roi:
        for col in ("x", "y", "w", "h"):
            frame[col] = frame[col].astype("Int64")
    return frame.sort_values(["joint_id", "modality", "cycles"], kind="stable").reset_index(drop=True)


def _inspection_kind(row: dict, joint: SimulatedJoint) -> str:
    if row["modality"] == "xray":
        return "as-reflowed" if row["cycles"] == 0 else "interim"
    if not joint.board.cycled:
        return "dpa"
    return "pulled"


def _test_end(cfg: CampaignConfig, plan: JointPlan) -> int:
    """Cycle count at which the joint left the test: its package's removal, or the end of the test."""
    return min(plan.left_at, cfg.end_cycles) if plan.left_at is not None else cfg.end_cycles


def _truth_joints(cfg: CampaignConfig, joints: list[SimulatedJoint], plans: list[JointPlan],
                  scenes: list[BoardScene], components: dict[str, Component]) -> pd.DataFrame:
    placed = {pad.joint_index: pad for scene in scenes for pkg in scene.campaign_packages for pad in pkg.pads}
    rows = []
    for j, p in zip(joints, plans):
        g, h = j.geometry, j.history
        pad = placed[j.index]
        rows.append({
            "joint_id": j.joint_id, "board_id": j.board.board_id, "component": j.family,
            "family": j.family, "package_id": j.package_id, "pad_index": j.site_index, "pad_role": g.role,
            "held_out_family": components[j.family].held_out,
            "cycled": j.board.cycled, "monitor": j.board.monitor,
            "width_um": g.width_um, "length_um": g.length_um, "area_um2": g.area_um2,
            "solder_thickness_um": g.solder_thickness_um,
            "dnp_um": g.dnp_um, "strain_length_um": j.strain_length_um,
            "x_on_board_um": pad.x_um, "y_on_board_um": pad.y_um, "angle_on_board_deg": pad.angle_deg,
            "vias_in_pad": len(g.vias),
            "void_fraction": j.void_fraction, "largest_void_fraction": j.largest_void_fraction,
            "void_count": j.void_count, "edge_void_fraction": j.edge_void_fraction,
            "delta_gamma": h.delta_gamma, "initiation_left_cycles": h.initiation_left,
            "initiation_right_cycles": h.initiation_right,
            "cycles_to_failure": h.cycles_to_failure,
            "observed_until": p.stop_cycles if j.board.cycled else 0,
            "failed_in_test": bool(j.board.cycled and h.cycles_to_failure <= _test_end(cfg, p)),
            "pulled_at": p.pull_cycles,
            "left_board_at": p.left_at,
        })
    return pd.DataFrame(rows)


def _measurements(cfg: CampaignConfig, plans: list[JointPlan]) -> pd.DataFrame | None:
    rows = [{"joint_id": p.joint_id, **r} for p in plans for r in p.readings]
    if not rows:
        return None
    columns = ["joint_id", "cycles", *[m for m in ("crack_fraction", "rth_increase_pct") if m in cfg.measured]]
    return pd.DataFrame(rows, columns=columns)


def _lifetimes(plans: list[JointPlan]) -> pd.DataFrame | None:
    rows = [{"joint_id": p.joint_id, **p.lifetime_row} for p in plans if p.lifetime_row]
    return pd.DataFrame(rows, columns=["joint_id", "cycles_to_failure", "censored"]) if rows else None


# --- orchestration ------------------------------------------------------------------------------

def default_truth_dir(out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    return out_dir.with_name(out_dir.name + "-truth")


def simulate_batch(
    cfg: CampaignConfig,
    out_dir: Path,
    truth_dir: Path | None = None,
    *,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> SimulationResult:
    """Simulate a campaign; write the batch to ``out_dir`` and the truth to ``truth_dir``."""
    cfg.validate()
    started = time.perf_counter()
    out_dir = Path(out_dir)
    truth_dir = Path(truth_dir) if truth_dir is not None else default_truth_dir(out_dir)
    if truth_dir.absolute().resolve().is_relative_to(out_dir.absolute().resolve()):
        raise UsageError(f"--truth {truth_dir} lies inside the batch {out_dir}; the truth must stay outside it")
    machine = get_machine(cfg.machine)
    components = load_components()
    check_writable_target(out_dir, overwrite, marker="manifest.csv")
    check_writable_target(truth_dir, overwrite, marker="campaign.json")
    workers = cfg.workers or os.cpu_count() or 1
    report = progress or (lambda stage, done, total: None)

    boards, slots = _boards(cfg, components)
    joint_tasks = _joint_tasks(cfg, boards, slots, components)
    with atomic_dir(out_dir, overwrite, "manifest.csv") as batch_tmp, \
            atomic_dir(truth_dir, overwrite, "campaign.json") as truth_tmp, \
            process_pool(workers) as pool:
        joints = list(_mapped(pool, _simulate_joint, joint_tasks, "joints", report))
        scenes = _board_scenes(cfg, boards, joints, components)
        interval, plans = _plan(cfg, joints)
        tasks = _image_tasks(cfg, machine, joints, plans, scenes, components)
        # the costliest first, so the pool's tail is short
        tasks.sort(key=_task_cost, reverse=True)
        args = [(t, machine, cfg.seed, str(batch_tmp), str(truth_tmp)) for t in tasks]
        image_rows = [row for rows in _mapped(pool, _render_task, args, "images", report) for row in rows]
        joints_by_id = {j.joint_id: j for j in joints}
        manifest = _manifest(machine, joints_by_id, image_rows)
        manifest.to_csv(batch_tmp / "manifest.csv", index=False)
        measurements, lifetimes = _measurements(cfg, plans), _lifetimes(plans)
        if measurements is not None:
            measurements.to_csv(batch_tmp / "measurements.csv", index=False)
        if lifetimes is not None:
            lifetimes.to_csv(batch_tmp / "lifetimes.csv", index=False)
        truth_joints = _truth_joints(cfg, joints, plans, scenes, components)
        truth_joints.to_csv(truth_tmp / "joints.csv", index=False)
        pd.DataFrame(image_rows).sort_values("image_id").to_csv(truth_tmp / "images.csv", index=False)
        _write_campaign_json(truth_tmp, cfg, machine, interval, len(image_rows), truth_joints, scenes)
    labeled = int(sum(1 for p in plans if p.board.cycled))
    return SimulationResult(out_dir, truth_dir, cfg.joints, len(image_rows), labeled, time.perf_counter() - started)


def _task_cost(task) -> float:
    if isinstance(task, _XrayTask):
        return float(len(task.members)) * 2.0
    return task.joint.geometry.width_um / 500.0


def _write_campaign_json(truth_dir: Path, cfg, machine, interval, n_images, truth_joints, scenes) -> None:
    families = sorted(set(truth_joints["family"]))
    info = {
        "mawis_version": __version__,
        "batch_contract": CONTRACT_VERSION,
        "config": asdict(replace(cfg, workers=0)),
        "station": machine.name,
        "station_quality": machine.quality,
        "held_out_station": machine.held_out,
        "families": families,
        "held_out_families": sorted(set(truth_joints.loc[truth_joints["held_out_family"], "family"])),
        "machine": asdict(machine),
        "reading_interval_cycles": interval,
        "images": n_images,
        "joints": len(truth_joints),
        "boards": len(scenes),
        "packages": int(truth_joints["package_id"].nunique()),
        "median_true_life_cycles": float(truth_joints["cycles_to_failure"].median()),
        "median_true_life_by_family": {f: float(v) for f, v in
                                       truth_joints.groupby("family")["cycles_to_failure"].median().items()},
    }
    (truth_dir / "campaign.json").write_text(json.dumps(info, indent=2, default=str))


def _mapped(pool, fn, items: list, stage: str, report: ProgressFn):
    total = len(items)
    report(stage, 0, total)
    chunk = max(1, min(32, total // 64))
    for done, result in enumerate(pool.map(fn, items, chunksize=chunk), start=1):
        report(stage, done, total)
        yield result
