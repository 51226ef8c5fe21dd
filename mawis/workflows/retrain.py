"""``mawis retrain``: update a registered model with new data, and keep it only if it is not worse.

1. The given data sets and batches (ingested on the fly) are merged with each other.
2. Held-out joints: whole boards of *labelled joints the old model has never seen* (from
   batches not among its training sources), ``test_share`` of them.
3. SSL pretraining continues from the old encoder on every other joint's images
   (``ssl`` models; a ``features`` model has no encoder).
4. A head is fitted on the non-held-out labels; it and the old model are scored on the
   held-out joints (C-index, the censoring-aware ranking score, decides; R² and MAE are
   reported).
5. The head is refitted with all labels and registered as a child of the old model. It
   is promoted if its held-out C-index is not below the old one's minus ``tolerance``
   (or with ``force``). Without unseen labelled joints there is nothing fair to compare
   on: the model is registered but promoted only with ``force``.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import MawisError, UsageError
from ..evaluation.split import MIN_BOARDS, split_joints
from ..ingest.dataset import DATASET_FILE, load_dataset
from ..ingest.merge import merge_datasets, source_fingerprints
from ..ingest.pipeline import dataset_folder
from ..lifetime.config import lifetime_config_from_dict
from ..lifetime.io import load_lifetime_model
from ..lifetime.metrics import lifetime_metrics
from ..lifetime.models import fit_kind, joint_inputs
from ..lifetime.table import joint_table
from ..lifetime.train import fit_lifetime
from ..registry.store import Registry
from ..ssl.config import PretrainConfig
from ..ssl.data import InputSpec
from ..ssl.model_io import load_encoder
from ..ssl.train import pretrain
from .train import register_fitted

RETRAINABLE = ("ssl", "features")
SCORES = ("c_index", "r2", "mae", "within_2x", "n", "n_failed")


@dataclass(frozen=True)
class RetrainConfig:
    epochs: int = 5             # continued pretraining
    test_share: float = 0.3     # of the boards with unseen labelled joints
    split_seed: int = 0
    tolerance: float = 0.0      # the new C-index may be this much below the old one and still count as not worse
    device: str = "auto"

    def validate(self) -> None:
        if self.epochs < 1:
            raise UsageError(f"--epochs must be at least 1 (got {self.epochs})")
        if not 0.05 <= self.test_share <= 0.8:
            raise UsageError(f"test_share must be in [0.05, 0.8] (got {self.test_share})")
        if not 0.0 <= self.tolerance < 0.5:
            raise UsageError(f"tolerance must be in [0, 0.5) (got {self.tolerance})")


@dataclass
class RetrainResult:
    model_id: str
    path: Path
    parent: str
    promoted: bool
    comparison: dict | None
    reason: str


def retrain(model: str | Path | None, data: list[Path], *, registry: Registry | None = None,
            cfg: RetrainConfig = RetrainConfig(), force: bool = False, workers: int = 0, log=None,
            progress=None) -> RetrainResult:
    cfg.validate()
    if not data:
        raise UsageError("retrain needs new data: pass --data DATASET_OR_BATCH (repeat for several)")
    say = log or (lambda _line: None)
    registry = registry or Registry()
    old_dir = registry.resolve(model)
    old_model, old_meta = load_lifetime_model(old_dir)
    old_id = (old_meta.get("registry") or {}).get("id") or Path(old_dir).name
    if old_model.kind not in RETRAINABLE:
        raise UsageError(f"{old_id} is a {old_model.kind!r} model; retrain updates {' and '.join(RETRAINABLE)} "
                         "models: train a new one with `mawis train`")
    lifetime_cfg = lifetime_config_from_dict(old_meta.get("config") or {}, f"{old_dir}/lifetime.json [config]")
    parent_was_promoted = registry.promoted_id() == old_id
    data = _with_old_data(list(data), old_meta, say)
    scratch = Path(tempfile.mkdtemp(prefix="mawis-retrain-"))
    try:
        dataset_dir = _combined_dataset(data, scratch, workers, progress, say)
        ds = load_dataset(dataset_dir)
        joints = joint_table(ds, progress, lifetime_cfg.input_max_cycles)
        held, why_not = _held_out(joints, ds, old_meta, cfg)
        say(f"held out  {int(held.sum())} labelled joints on {joints.loc[held, 'board_id'].nunique()} boards "
            "the old model has not seen" + (f" ({why_not})" if why_not else ""))
        encoder_dir = None
        if old_model.kind == "ssl":
            encoder_dir = scratch / "encoder"
            _continue_pretraining(ds, encoder_dir, old_model, joints.loc[~held, "joint_id"], cfg, progress)
        comparison = _compare(old_model, joints, held, ds, encoder_dir, lifetime_cfg, progress) if held.any() else None
        fitted = fit_lifetime(dataset_dir, lifetime_cfg, encoder_dir=encoder_dir, kind=old_model.kind,
                              progress=progress)
        record = fitted.extra["dataset"]
        record["path"] = [str(Path(d).absolute()) for d in data]
        # the child has seen everything its parent saw (its encoder started from the parent's)
        record["sources"] = sorted(set(record["sources"]) | _sources(old_meta))
        metrics = ({"source": "held-out boards of the new data at retrain (head fitted without them; the registered "
                              "head was refitted with all labels)",
                    "values": comparison["new"], "old_model": comparison["old"]} if comparison else None)
        model_id, path = register_fitted(fitted, registry, parent=old_id, metrics=metrics)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    better, reason = _decision(comparison, cfg.tolerance, why_not)
    if better and not parent_was_promoted:
        better, reason = False, (f"{reason}; not promoted: its parent {old_id} is not the promoted model, so the "
                                 "promoted one was not part of the comparison (pass --force to promote anyway)")
    promoted = bool(better or force)
    if promoted:
        registry.promote(model_id)
    if force and not better:
        reason += "; promoted anyway (--force)"
    return RetrainResult(model_id, path, old_id, promoted, comparison, reason)


def _sources(meta: dict) -> set[str]:
    data = meta.get("dataset") if isinstance(meta.get("dataset"), dict) else {}
    return {str(s) for s in (data.get("sources") or [data.get("fingerprint")]) if s}


def _with_old_data(data: list[Path], old_meta: dict, say) -> list[Path]:
    """Add the old model's training data set when it is still there and not given: pretraining
    continues on old plus new images."""
    record = old_meta.get("dataset") if isinstance(old_meta.get("dataset"), dict) else {}
    paths = record.get("path")
    paths = [paths] if isinstance(paths, str) else list(paths or [])
    given = set()
    for d in data:
        if (Path(d) / DATASET_FILE).is_file():
            given |= set(source_fingerprints(load_dataset(d)))
    added = []
    for old in paths:
        old = Path(old)
        if not (old / DATASET_FILE).is_file():
            say(f"old data  {old} is no longer there: pretraining continues on the given data only")
            continue
        if not set(source_fingerprints(load_dataset(old))) <= given and old.absolute() not in \
                {Path(d).absolute() for d in data}:
            added.append(old)
            say(f"old data  {old} (the old model's training data) is included")
    return data + added


def _combined_dataset(data: list[Path], scratch: Path, workers: int, progress, say) -> Path:
    folders = []
    for i, source in enumerate(data):
        scratch_dir = scratch / f"{i:02d}-{Path(source).absolute().name}"
        folder, ingested = dataset_folder(source, scratch_dir, workers, progress)
        if ingested:
            say(f"ingest    {source}")
        folders.append(folder)
    if len(folders) == 1:
        return folders[0]
    return merge_datasets(folders, scratch / "merged", progress=progress)


def _held_out(joints, ds, old_meta: dict, cfg: RetrainConfig) -> tuple[np.ndarray, str | None]:
    """Whole boards (``test_share`` of them) of labelled joints from batches the old model was not
    trained on; none, with the reason, when there are too few such boards to split by board."""
    seen = _sources(old_meta)
    images = ds.images
    source = images["source"] if "source" in images else ds.info.get("batch_fingerprint")
    joint_source = images.assign(source=source).drop_duplicates("joint_id").set_index("joint_id")["source"]
    unseen = ~joint_source.reindex(joints["joint_id"]).isin(seen).to_numpy()
    candidates = unseen & joints["labelled"].to_numpy(bool)
    held = np.zeros(len(joints), dtype=bool)
    boards = joints.loc[candidates, "board_id"].nunique()
    if boards < MIN_BOARDS:
        return held, f"{boards} boards with unseen labelled joints; a fair comparison needs at least {MIN_BOARDS}"
    part = joints[candidates].reset_index(drop=True)
    test, _ = split_joints(part, cfg.test_share, cfg.split_seed)
    held[np.nonzero(candidates)[0][test]] = True
    return held, None


def _continue_pretraining(ds, out: Path, old_model, joints, cfg: RetrainConfig, progress) -> None:
    info = old_model.encoder_info
    pre = replace(PretrainConfig(), method=info.get("method") or "simclr", encoder=info["encoder"],
                  input_transform=info.get("input_transform", "none"), modality=old_model.spec.modality,
                  epochs=cfg.epochs, device=cfg.device)
    spec = InputSpec.for_dataset(ds, pre.modality, pre.resolved("cpu").input_scale)
    if (spec.height, spec.width) != (old_model.spec.height, old_model.spec.width):  # before hours of training
        raise MawisError(f"the new data's crops give {spec.height}x{spec.width} px encoder inputs, the old "
                         f"model's were {old_model.spec.height}x{old_model.spec.width}; ingest with the same settings")
    pretrain(ds.root, out, pre, progress=progress, joints=set(joints), initial_state=old_model.encoder.state_dict())


def _compare(old_model, joints, held: np.ndarray, ds, encoder_dir: Path | None, lifetime_cfg, progress) -> dict:
    """Old model vs a head fitted without the held-out joints, both scored on them."""
    train = joints[~held].reset_index(drop=True)
    test = joints[held].reset_index(drop=True)
    if encoder_dir is not None:
        loaded = load_encoder(encoder_dir)
        new = fit_kind("ssl", joint_inputs(ds, train, old_model.spec), lifetime_cfg, encoder=loaded.encoder,
                       spec=old_model.spec, info={**old_model.encoder_info, "source": "retrain"}, progress=progress)
        new_test = joint_inputs(ds, test, old_model.spec)
    else:
        from ..lifetime.models import JointData

        new = fit_kind("features", JointData(train), lifetime_cfg)
        new_test = JointData(test)
    old_test = joint_inputs(ds, test, old_model.spec) if old_model.encoder is not None else new_test
    log_t, event = test["log_time"].to_numpy(float), test["event"].to_numpy(bool)

    def scores(model, data) -> dict:
        p = model.predict(data)
        m = lifetime_metrics(log_t, event, p["log_pred"].to_numpy(), p["log_lo"].to_numpy(), p["log_hi"].to_numpy())
        return {k: m[k] for k in (*SCORES, "coverage_failed", "coverage_km")}

    return {"held_out_joints": int(held.sum()), "held_out_boards": int(test["board_id"].nunique()),
            "old": scores(old_model, old_test), "new": scores(new, new_test)}


def _decision(comparison: dict | None, tolerance: float, why_not: str | None = None) -> tuple[bool, str]:
    if comparison is None:
        return False, ("not promoted: the new data has too few labelled joints the old model has not seen "
                       f"({why_not or 'none'}), so the two cannot be compared fairly (pass --force to promote anyway)")
    old, new = comparison["old"]["c_index"], comparison["new"]["c_index"]
    if not np.isfinite(new) or not np.isfinite(old):
        return False, "not promoted: the held-out joints have no comparable pairs (no observed failures)"
    if new >= old - tolerance:
        return True, f"promoted: held-out C-index {new:.3f} vs {old:.3f} for the old model"
    return False, f"not promoted: held-out C-index {new:.3f} is below the old model's {old:.3f}"


def config_dict(cfg: RetrainConfig) -> dict:
    return asdict(cfg)
