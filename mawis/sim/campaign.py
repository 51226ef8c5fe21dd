"""The thermal-cycling campaign: which boards are cycled, when joints are read,
imaged, pulled for cross-sections, and when the test ends.

* Whole boards go into the chamber (``label_fraction`` of them, rounded to whole
  boards); the other boards are production boards, X-rayed once as reflowed.
* Cycled boards are monitored either by periodic readings (crack fraction from
  acoustic microscopy and/or thermal-resistance rise), every ``K`` cycles with
  ``K`` differing between campaigns, jittered and with some readings missing; or
  by an event detector that reports the failure cycle directly (lifetimes.csv).
* A reading at or above the failure threshold ends a joint's monitoring.
* Cross-sections cut whole packages (chosen until ``micrograph_fraction`` of the
  joints are covered; every pad of a cut package gets a section). A cut package is
  pulled at an intermediate cycle count, or earlier, when the first of its joints
  is found failed (failure analysis): its other joints are censored there, after a
  last reading. Packages on production boards are cut as reflowed (destructive
  physical analysis). A pulled package is gone from later X-rays of its board.
* The test ends at ``end_cycles``: survivors are right-censored there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import CampaignConfig

CRACK_THRESHOLD = 0.5
RTH_THRESHOLD_PCT = 20.0


def rth_increase_pct(crack_fraction: np.ndarray) -> np.ndarray:
    """Thermal-resistance rise of a joint whose heat path is cracked by ``crack_fraction``.

    Calibrated so that the contract's two failure criteria coincide: a 50 % crack
    raises Rth by 20 %.
    """
    return RTH_THRESHOLD_PCT * (np.clip(crack_fraction, 0.0, 1.0) / CRACK_THRESHOLD) ** 1.4


@dataclass
class Board:
    board_id: str
    component: str                # the package family on this board
    cycled: bool
    monitor: str                  # "readings", "event" or "none"
    void_level: float
    life_factor: float
    index: int = 0
    packages: int = 1


@dataclass
class JointPlan:
    """What happens to one joint during the campaign."""

    joint_id: str
    board: Board
    cut: bool = False
    pull_cycles: int | None = None
    stop_cycles: int = 0               # last cycle the joint was monitored
    readings: list[dict] = field(default_factory=list)
    lifetime_row: dict | None = None
    xray_cycles: list[int] = field(default_factory=list)
    micrograph_cycles: int | None = None
    left_at: int | None = None         # cycle its package left the board (cut), None = stayed


def reading_schedule(cfg: CampaignConfig, rng: np.random.Generator) -> tuple[int, np.ndarray]:
    interval = cfg.reading_interval or int(rng.choice(cfg.reading_intervals))
    nominal = np.arange(0, cfg.end_cycles, interval)
    jitter = rng.uniform(-cfg.reading_jitter, cfg.reading_jitter, nominal.shape) * interval
    jitter[0] = 0.0
    cycles = np.unique(np.concatenate([np.round(nominal + jitter).astype(int), [cfg.end_cycles]]))
    return interval, cycles[(cycles >= 0) & (cycles <= cfg.end_cycles)]


def plan_joint(plan: JointPlan, cfg: CampaignConfig, schedule: np.ndarray, crack_at, true_life: float,
               rng: np.random.Generator) -> None:
    """Fill in readings, labels and inspection cycles of one joint, in place.

    ``crack_at(cycles)`` gives the true crack fraction.
    """
    board = plan.board
    if not board.cycled:
        plan.xray_cycles = [0]
        plan.micrograph_cycles = 0 if plan.cut else None
        return
    stop = min(plan.pull_cycles, cfg.end_cycles) if plan.cut else cfg.end_cycles
    detected_at = None
    if board.monitor == "event":
        if true_life <= stop:
            detected_at = int(np.ceil(true_life))
            plan.lifetime_row = {"cycles_to_failure": int(round(true_life)), "censored": 0}
        else:
            plan.lifetime_row = {"cycles_to_failure": int(stop), "censored": 1}
    else:
        # the lab takes a last reading when it pulls a joint, so a failure is never missed
        cycles = np.unique(np.append(schedule[schedule <= stop], stop))
        detected_at = _take_readings(plan, cfg, cycles, crack_at, rng)
        if plan.cut and detected_at is None:
            plan.lifetime_row = {"cycles_to_failure": int(stop), "censored": 1}
    plan.stop_cycles = int(min(detected_at, stop) if detected_at is not None else stop)
    # failed joints stay on the board (and are X-rayed) until the end; cut ones leave it
    last_on_board = plan.stop_cycles if plan.cut else cfg.end_cycles
    plan.xray_cycles = [c for c in cfg.xray_cycles if c <= last_on_board]
    if plan.cut:
        plan.micrograph_cycles = plan.stop_cycles


def _take_readings(plan: JointPlan, cfg: CampaignConfig, cycles: np.ndarray, crack_at, rng,
                   reference: bool = True) -> int | None:
    """Record noisy readings until a reading crosses a failure threshold; return that cycle.

    ``reference``: the first of ``cycles`` is the thermal-resistance reference (rise 0).
    """
    keep = rng.random(cycles.shape) >= cfg.missing_reading_prob
    keep[0] = True  # the first reading is the thermal-resistance reference
    for i, c in enumerate(cycles):
        if not keep[i] and i != len(cycles) - 1:
            continue
        true_cf = float(crack_at(c))
        row = {"cycles": int(c)}
        crossed = False
        if "crack_fraction" in cfg.measured:
            cf = float(np.clip(true_cf + rng.normal(0.0, cfg.crack_reading_sigma), 0.0, 1.0))
            row["crack_fraction"] = round(cf, 4)
            crossed |= cf >= CRACK_THRESHOLD
        if "rth_increase_pct" in cfg.measured:
            rth = 0.0 if i == 0 and reference else float(rth_increase_pct(true_cf)
                                                          + rng.normal(0.0, cfg.rth_reading_sigma_pct))
            row["rth_increase_pct"] = round(rth, 3)
            crossed |= rth >= RTH_THRESHOLD_PCT
        plan.readings.append(row)
        if crossed:
            return int(c)
    return None


def plan_cut_package(plans: list[JointPlan], cfg: CampaignConfig, schedule: np.ndarray, crack_at: list,
                     true_lives: list[float], pull: int | None, rng: np.random.Generator) -> None:
    """Plan the joints of one package that is cut for cross-sections, in place.

    The package leaves the board at its pull, or when the first of its joints is
    found failed; every joint is sectioned then, and those not found failed by then
    are censored there (after a last reading).
    """
    for plan in plans:
        plan.cut = True
        plan.pull_cycles = pull if plans[0].board.cycled else None
    if not plans[0].board.cycled:
        for plan in plans:
            plan_joint(plan, cfg, schedule, None, 0.0, rng)
            plan.left_at = 0
        return
    for plan, at, life in zip(plans, crack_at, true_lives):
        plan_joint(plan, cfg, schedule, at, life, rng)
    leave = min(plan.stop_cycles for plan in plans)
    for plan, at, life in zip(plans, crack_at, true_lives):
        plan.left_at = leave
        if plan.stop_cycles > leave:
            _censor_at(plan, cfg, leave, at, rng)
        plan.micrograph_cycles = leave
        plan.xray_cycles = [c for c in cfg.xray_cycles if c <= leave]


def _censor_at(plan: JointPlan, cfg: CampaignConfig, leave: int, crack_at, rng) -> None:
    """The joint's package left at ``leave``: drop later readings, take a last one, censor if not failed."""
    plan.stop_cycles = leave
    if plan.board.monitor == "event":
        plan.lifetime_row = {"cycles_to_failure": int(leave), "censored": 1}
        return
    plan.readings = [r for r in plan.readings if r["cycles"] <= leave]
    detected = None
    if not plan.readings or plan.readings[-1]["cycles"] < leave:
        detected = _take_readings(plan, cfg, np.array([leave]), crack_at, rng, reference=not plan.readings)
    plan.lifetime_row = None if detected is not None else {"cycles_to_failure": int(leave), "censored": 1}
