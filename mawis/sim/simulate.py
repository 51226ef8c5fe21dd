"""Run a simulated inspection campaign and write it as a contract-v1 batch.

``simulate_batch`` is the Python API behind ``mawis simulate``. It works in three
steps: (1) per joint, draw the geometry and integrate its fatigue crack (parallel);
(2) plan the campaign: boards, readings, pulls and inspections (sequential, cheap);
(3) render and write every image (parallel). Each random draw comes from a
generator keyed by (seed, purpose, joint, ...), so results do not depend on the
number of worker processes. The ground truth goes to a separate folder, never
inside the batch.
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
from .campaign import Board, JointPlan, plan_joint, reading_schedule
from .config import CampaignConfig, Component, Machine, get_machine, load_components
from .fatigue import CrackHistory, crack_history, void_profile
from .geometry import JointGeometry, sample_joint_geometry
from .imageio import write_image
from .micrograph import render_micrograph
from .xray import XrayScene, quantise, render_xray, sample_scene

ProgressFn = Callable[[str, int, int], None]

# purposes of the keyed random streams
_BOARDS, _JOINT, _CAMPAIGN, _XRAY, _MICRO = range(5)

XRAY_MASK_VALUES = {0: 0, 1: 128, 2: 255}
MICRO_MASK_VALUES = {0: 0, 1: 96, 2: 255, 3: 160}


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


@dataclass
class SimulatedJoint:
    index: int
    joint_id: str
    board: Board
    geometry: JointGeometry
    scene: XrayScene
    history: CrackHistory
    void_fraction: float
    largest_void_fraction: float
    void_count: int
    edge_void_fraction: float


@dataclass(frozen=True)
class SimulationResult:
    batch_dir: Path
    truth_dir: Path
    joints: int
    images: int
    labeled_joints: int
    seconds: float


# --- step 1: joints -----------------------------------------------------------------------------

def _boards(cfg: CampaignConfig, components: dict[str, Component]) -> list[Board]:
    rng = _rng(cfg.seed, _BOARDS)
    n_boards = math.ceil(cfg.joints / cfg.joints_per_board)
    names = list(components)
    weights = np.array([components[n].weight for n in names], dtype=float)
    picks = rng.choice(len(names), size=n_boards, p=weights / weights.sum())
    n_cycled = int(round(cfg.label_fraction * n_boards))
    if cfg.label_fraction > 0:
        n_cycled = max(n_cycled, 1)
    cycled = np.zeros(n_boards, dtype=bool)
    cycled[rng.permutation(n_boards)[:n_cycled]] = True
    boards = []
    for b in range(n_boards):
        event = rng.random() < cfg.event_detector_share
        boards.append(Board(
            board_id=f"B{b + 1:04d}",
            component=names[picks[b]],
            cycled=bool(cycled[b]),
            monitor=("event" if event else "readings") if cycled[b] else "none",
            void_level=float(cfg.voids.board_median_fraction * rng.lognormal(0.0, cfg.voids.board_sigma)),
            life_factor=float(rng.lognormal(0.0, cfg.fatigue.board_sigma)),
        ))
    return boards


def _simulate_joint(task: tuple) -> SimulatedJoint:
    index, board, component, cfg = task
    rng = _rng(cfg.seed, _JOINT, index)
    geom = sample_joint_geometry(rng, component, cfg.voids, board.void_level)
    profile = void_profile(geom, cfg.fatigue)
    joint_factor = board.life_factor * float(rng.lognormal(0.0, cfg.fatigue.joint_sigma))
    sides = tuple(float(v) for v in rng.lognormal(0.0, cfg.fatigue.side_sigma, 2))
    history = crack_history(geom, component, cfg.fatigue, profile, joint_factor, sides)
    return SimulatedJoint(
        index=index, joint_id=f"J{index + 1:06d}", board=board, geometry=geom,
        scene=sample_scene(rng, geom), history=history,
        void_fraction=profile.void_fraction, largest_void_fraction=profile.largest_void_fraction,
        void_count=profile.void_count, edge_void_fraction=profile.edge_void_fraction,
    )


def simulate_joints(cfg: CampaignConfig) -> list[SimulatedJoint]:
    """The joints of a campaign (geometry, voids, crack history), without rendering images."""
    cfg.validate()
    components = load_components()
    boards = _boards(cfg, components)
    tasks = _joint_tasks(cfg, boards, components)
    with process_pool(cfg.workers or os.cpu_count() or 1) as pool:
        return list(_mapped(pool, _simulate_joint, tasks, "joints", lambda *a: None))


def _joint_tasks(cfg: CampaignConfig, boards: list[Board], components: dict[str, Component]) -> list[tuple]:
    board_of = [boards[i // cfg.joints_per_board] for i in range(cfg.joints)]
    return [(i, board, components[board.component], cfg) for i, board in enumerate(board_of)]


# --- step 2: campaign ---------------------------------------------------------------------------

def _plan(cfg: CampaignConfig, joints: list[SimulatedJoint]) -> tuple[int, list[JointPlan]]:
    rng = _rng(cfg.seed, _CAMPAIGN)
    interval, schedule = reading_schedule(cfg, rng)
    plans = []
    for joint in joints:
        cut = cfg.micrographs and rng.random() < cfg.micrograph_fraction
        plan = JointPlan(joint.joint_id, joint.board, cut=cut)
        if cut and joint.board.cycled:
            pulls = [c for c in cfg.pull_cycles if c < cfg.end_cycles] or [cfg.end_cycles]
            plan.pull_cycles = int(rng.choice(pulls))
        plan_joint(plan, cfg, schedule, joint.history.crack_fraction_at, joint.history.cycles_to_failure, rng)
        plans.append(plan)
    return interval, plans


# --- step 3: images -----------------------------------------------------------------------------

@dataclass(frozen=True)
class _ImageTask:
    kind: str                      # "xray" or "micrograph"
    rel_path: str
    cycles: int
    joints: tuple[SimulatedJoint | None, ...]   # panel cells; None = empty cell
    image_ids: tuple[str | None, ...]


def _image_tasks(cfg: CampaignConfig, machine: Machine, joints, plans) -> list[_ImageTask]:
    xray_ext = {"tiff": "tif", "png": "png"}[machine.xray.file_format]
    tasks: list[_ImageTask] = []
    per_image = machine.xray.panel_rows * machine.xray.panel_cols if machine.xray.layout == "panel" else 1
    groups: dict[tuple[str, int], list[SimulatedJoint]] = {}
    for joint, plan in zip(joints, plans):
        for c in plan.xray_cycles:
            groups.setdefault((joint.board.board_id, c), []).append(joint)
    for (board_id, c), members in sorted(groups.items()):
        for start in range(0, len(members), per_image):
            cell = list(members[start:start + per_image])
            ids = tuple(f"{j.joint_id}-xr-{c:05d}" for j in cell)
            name = ids[0] if per_image == 1 else f"{board_id}-xr-{c:05d}-p{start // per_image + 1:02d}"
            pad = per_image - len(cell)
            tasks.append(_ImageTask("xray", f"xray/{board_id}/{name}.{xray_ext}", c,
                                    tuple(cell) + (None,) * pad, ids + (None,) * pad))
    mg_ext = {"png": "png", "jpg": "jpg", "bmp": "bmp"}[machine.microscope.file_format]
    for joint, plan in zip(joints, plans):
        if plan.micrograph_cycles is not None:
            c = plan.micrograph_cycles
            image_id = f"{joint.joint_id}-mg-{c:05d}"
            tasks.append(_ImageTask("micrograph", f"micrograph/{joint.board.board_id}/{image_id}.{mg_ext}", c,
                                    (joint,), (image_id,)))
    return tasks


def _render_task(args: tuple) -> list[dict]:
    task, machine, seed, batch_dir, truth_dir = args
    if task.kind == "xray":
        return _render_xray_task(task, machine, seed, Path(batch_dir), Path(truth_dir))
    return _render_micrograph_task(task, machine, seed, Path(batch_dir), Path(truth_dir))


def _render_xray_task(task: _ImageTask, machine: Machine, seed: int, batch_dir: Path, truth_dir: Path) -> list[dict]:
    station = machine.xray
    tiles, rows = [], []
    for joint, image_id in zip(task.joints, task.image_ids):
        if joint is None:  # empty panel position: bare board
            rng = _rng(seed, _XRAY, 10**9, task.cycles)
            tiles.append(render_xray(_empty_joint(), _bare_scene(), station, rng).signal)
            continue
        rng = _rng(seed, _XRAY, joint.index, task.cycles)
        render = render_xray(joint.geometry, joint.scene, station, rng)
        signal, labels = render.signal, render.labels
        tiles.append(signal)
        left, right = joint.history.lengths_at(task.cycles)
        mask_rel, fine_rel = f"masks/xray/{image_id}.png", f"masks/xray_fine/{image_id}.png"
        write_image(truth_dir / mask_rel, _mask_image(labels, XRAY_MASK_VALUES))
        write_image(truth_dir / fine_rel, _mask_image(render.fine_labels, XRAY_MASK_VALUES))
        rows.append({
            "image_id": image_id, "joint_id": joint.joint_id, "modality": "xray", "cycles": task.cycles,
            "path": task.rel_path, "tile": len(tiles) - 1, "tile_size": signal.shape[0],
            "crack_fraction": float((left + right) / joint.history.width_um),
            "crack_left_um": float(left), "crack_right_um": float(right),
            "mask_path": mask_rel,
            "fine_mask_path": fine_rel, "fine_mask_pixel_um": render.fine_step_um,
            "void_fraction_pixels": float((labels == 2).sum() / max((labels > 0).sum(), 1)),
        })
    image = _assemble_panel(tiles, station.panel_rows, station.panel_cols) if len(tiles) > 1 else tiles[0]
    write_image(batch_dir / task.rel_path, quantise(image, station.bit_depth))
    return rows


def _assemble_panel(tiles: list[np.ndarray], n_rows: int, n_cols: int) -> np.ndarray:
    return np.vstack([np.hstack(tiles[r * n_cols:(r + 1) * n_cols]) for r in range(n_rows)])


def _empty_joint() -> JointGeometry:
    return JointGeometry("none", 1.0, 1.0, 0.4, 1.0, 1.0, (0.0,) * 6, (0.0,) * 6, ())


def _bare_scene() -> XrayScene:
    return XrayScene(0.0, 1, 0.0, 1e6, 1, 0.0, 0.22, 450.0, (0.0, 0.0), 0.0)


def _render_micrograph_task(task, machine: Machine, seed: int, batch_dir: Path, truth_dir: Path) -> list[dict]:
    joint, image_id = task.joints[0], task.image_ids[0]
    rng = _rng(seed, _MICRO, joint.index)
    section_y = float(rng.normal(0.0, 0.12 * joint.geometry.length_um / 2))
    left, right = joint.history.lengths_at(task.cycles)
    rgb, labels = render_micrograph(joint.geometry, section_y, float(left), float(right), machine.microscope, rng)
    write_image(batch_dir / task.rel_path, rgb, jpeg_quality=machine.microscope.jpeg_quality)
    mask_rel = f"masks/micrograph/{image_id}.png"
    write_image(truth_dir / mask_rel, _mask_image(labels, MICRO_MASK_VALUES))
    return [{
        "image_id": image_id, "joint_id": joint.joint_id, "modality": "micrograph", "cycles": task.cycles,
        "path": task.rel_path, "tile": 0, "tile_size": 0,
        "crack_fraction": float((left + right) / joint.history.width_um),
        "crack_left_um": float(left), "crack_right_um": float(right),
        "mask_path": mask_rel, "section_y_um": section_y,
    }]


def _mask_image(labels: np.ndarray, values: dict[int, int]) -> np.ndarray:
    lut = np.zeros(256, dtype=np.uint8)
    for label, value in values.items():
        lut[label] = value
    return lut[labels]


# --- tables -------------------------------------------------------------------------------------

def _manifest(cfg: CampaignConfig, machine: Machine, joints_by_id, image_rows: list[dict]) -> pd.DataFrame:
    station, scope = machine.xray, machine.microscope
    panel = station.layout == "panel"
    rows = []
    for r in image_rows:
        joint = joints_by_id[r["joint_id"]]
        xray = r["modality"] == "xray"
        row = {
            "image_id": r["image_id"], "joint_id": r["joint_id"], "modality": r["modality"], "path": r["path"],
            "pixel_size_um": station.pixel_size_um if xray else scope.pixel_size_um,
            "cycles": r["cycles"], "board_id": joint.board.board_id, "component": joint.board.component,
            "machine": station.station_id if xray else scope.station_id,
            "inspection": _inspection_kind(r, joint),
        }
        if panel:
            size = r["tile_size"]
            tile_row, tile_col = divmod(r["tile"], station.panel_cols)
            row.update(x=tile_col * size, y=tile_row * size, w=size, h=size) if xray else row.update(
                x=None, y=None, w=None, h=None)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if panel:
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
    """Cycle count at which the joint left the test: its pull, or the end of the test."""
    return min(plan.pull_cycles, cfg.end_cycles) if plan.pull_cycles is not None else cfg.end_cycles


def _truth_joints(cfg: CampaignConfig, joints: list[SimulatedJoint], plans: list[JointPlan]) -> pd.DataFrame:
    rows = []
    for j, p in zip(joints, plans):
        g, h = j.geometry, j.history
        rows.append({
            "joint_id": j.joint_id, "board_id": j.board.board_id, "component": j.board.component,
            "cycled": j.board.cycled, "monitor": j.board.monitor,
            "width_um": g.width_um, "length_um": g.length_um, "solder_thickness_um": g.solder_thickness_um,
            "void_fraction": j.void_fraction, "largest_void_fraction": j.largest_void_fraction,
            "void_count": j.void_count, "edge_void_fraction": j.edge_void_fraction,
            "delta_gamma": h.delta_gamma, "initiation_left_cycles": h.initiation_left,
            "initiation_right_cycles": h.initiation_right,
            "cycles_to_failure": h.cycles_to_failure,
            "observed_until": p.stop_cycles if j.board.cycled else 0,
            "failed_in_test": bool(j.board.cycled and h.cycles_to_failure <= _test_end(cfg, p)),
            "pulled_at": p.pull_cycles,
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

    boards = _boards(cfg, components)
    joint_tasks = _joint_tasks(cfg, boards, components)
    with atomic_dir(out_dir, overwrite, "manifest.csv") as batch_tmp, \
            atomic_dir(truth_dir, overwrite, "campaign.json") as truth_tmp, \
            process_pool(workers) as pool:
        joints = list(_mapped(pool, _simulate_joint, joint_tasks, "joints", report))
        interval, plans = _plan(cfg, joints)
        tasks = _image_tasks(cfg, machine, joints, plans)
        args = [(t, machine, cfg.seed, str(batch_tmp), str(truth_tmp)) for t in tasks]
        image_rows = [row for rows in _mapped(pool, _render_task, args, "images", report) for row in rows]
        joints_by_id = {j.joint_id: j for j in joints}
        manifest = _manifest(cfg, machine, joints_by_id, image_rows)
        manifest.to_csv(batch_tmp / "manifest.csv", index=False)
        measurements, lifetimes = _measurements(cfg, plans), _lifetimes(plans)
        if measurements is not None:
            measurements.to_csv(batch_tmp / "measurements.csv", index=False)
        if lifetimes is not None:
            lifetimes.to_csv(batch_tmp / "lifetimes.csv", index=False)
        truth_joints = _truth_joints(cfg, joints, plans)
        truth_joints.to_csv(truth_tmp / "joints.csv", index=False)
        pd.DataFrame(image_rows).sort_values("image_id").to_csv(truth_tmp / "images.csv", index=False)
        _write_campaign_json(truth_tmp, cfg, machine, interval, len(image_rows), truth_joints)
    labeled = int(sum(1 for p in plans if p.board.cycled))
    return SimulationResult(out_dir, truth_dir, cfg.joints, len(image_rows), labeled, time.perf_counter() - started)


def _write_campaign_json(truth_dir: Path, cfg, machine, interval, n_images, truth_joints) -> None:
    info = {
        "mawis_version": __version__,
        "batch_contract": CONTRACT_VERSION,
        "config": asdict(replace(cfg, workers=0)),
        "machine": asdict(machine),
        "reading_interval_cycles": interval,
        "images": n_images,
        "joints": len(truth_joints),
        "median_true_life_cycles": float(truth_joints["cycles_to_failure"].median()),
    }
    (truth_dir / "campaign.json").write_text(json.dumps(info, indent=2, default=str))


def _mapped(pool, fn, items: list, stage: str, report: ProgressFn):
    total = len(items)
    report(stage, 0, total)
    chunk = max(1, min(32, total // 64))
    for done, result in enumerate(pool.map(fn, items, chunksize=chunk), start=1):
        report(stage, done, total)
        yield result
