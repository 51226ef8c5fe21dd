"""The pretraining loop: two augmented views per image, one method, checkpoints every epoch.

Labels are never read for training; they are only used by the regression probe
that reports, every few epochs, how well the current embedding predicts log
lifetime on held-out boards.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch
from torch.nn.parallel import DistributedDataParallel

from ..atomic import atomic_write_bytes, check_writable_target
from ..errors import MawisError, UsageError
from ..ingest.dataset import Dataset, load_dataset
from . import distributed as dist
from .augment import BatchAugment, two_views
from .config import PretrainConfig
from .data import BatchFeeder, InputSpec, dataset_fingerprint, load_inputs, modality_rows
from .methods import build_method
from .model_io import MODEL_FILE, save_encoder
from .probe import embed, probe_set, regression_probe

CHECKPOINT = "checkpoint.pt"


@dataclass
class PretrainResult:
    out_dir: Path
    history: list[dict]
    epochs_run: int          # epochs trained by this call (less than the total after --resume)


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and dist.active():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device(name)


def work_dir_for(out_dir: Path) -> Path:
    """Where checkpoints of an unfinished run live (beside the output, hidden)."""
    return out_dir.absolute().parent / f".{out_dir.name}.pretrain-work"


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def optimisation_step(model, method, optimizer, view1: torch.Tensor, view2: torch.Tensor, progress: float) -> torch.Tensor:
    """One step on two views; on CUDA in bf16 autocast with channels_last. ``model`` is
    ``method`` or its DDP wrapper; ``progress`` (0..1) drives momentum schedules."""
    cuda = view1.device.type == "cuda"
    if cuda:
        view1 = view1.contiguous(memory_format=torch.channels_last)
        view2 = view2.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext():
        loss = model(view1, view2)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    method.after_step(progress)
    return loss.detach()


def _run_identity(cfg: PretrainConfig, spec: InputSpec, fingerprint: str, batch: int) -> dict:
    """What must match for a checkpoint to continue this run (everything but device and probe)."""
    settings = {k: v for k, v in cfg.to_dict().items() if k not in ("device", "probe")}
    return json.loads(json.dumps({**settings, "input": [spec.modality, spec.height, spec.width],
                                  "dataset_fingerprint": fingerprint, "batch_per_rank": batch,
                                  "world_size": dist.world_size()}))


def _finished_run(out_dir: Path) -> list[dict] | None:
    """The history of a model already saved at ``out_dir`` with no checkpoint left to continue."""
    if not (out_dir / MODEL_FILE).is_file() or (work_dir_for(out_dir) / CHECKPOINT).is_file():
        return None
    try:
        history = json.loads((out_dir / MODEL_FILE).read_text()).get("history")
    except (OSError, ValueError, AttributeError):
        return None
    return history if isinstance(history, list) and history else None


def _state_digest(state: dict) -> str:
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _save_checkpoint(work: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    try:
        atomic_write_bytes(work / CHECKPOINT, buffer.getvalue())
    except OSError as exc:
        raise MawisError(f"cannot write the checkpoint in {work}: {exc.strerror or exc}") from None


def _load_checkpoint(work: Path, identity: dict) -> dict | None:
    path = work / CHECKPOINT
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged checkpoint must not crash with a traceback
        raise MawisError(f"{path}: cannot read the checkpoint ({type(exc).__name__}); delete {work} and start again") from None
    if json.loads(state["identity"]) != identity:
        raise MawisError(f"{path}: the checkpoint is from a run with other settings or data; "
                         f"run without --resume (or with the same settings) or delete {work}")
    return state


def restrict_to_joints(ds: Dataset, joints) -> Dataset:
    keep = set(joints)
    return Dataset(ds.root, ds.images[ds.images["joint_id"].isin(keep)].reset_index(drop=True),
                   ds.labels[ds.labels["joint_id"].isin(keep)].reset_index(drop=True), ds.info)


class _Trainer:
    def __init__(self, dataset_dir: Path, out_dir: Path, cfg: PretrainConfig, log, progress, joints=None,
                 initial_state: dict | None = None):
        self.log, self.progress = log or (lambda _record: None), progress
        self.initial_state = initial_state
        self.device = resolve_device(cfg.device)
        self.distributed = dist.init_from_env(self.device)
        self.device = resolve_device(cfg.device)
        self.cfg = cfg.resolved(self.device.type)
        self.ds = load_dataset(dataset_dir)
        if joints is not None:  # e.g. an evaluation's training joints: held-out joints stay unseen
            self.ds = restrict_to_joints(self.ds, joints)
        self.work = work_dir_for(Path(out_dir))
        rows = modality_rows(self.ds, self.cfg.modality)
        if len(rows) < 2 * dist.world_size():
            raise MawisError(f"{dataset_dir}: only {len(rows)} {self.cfg.modality} images; pretraining needs more")
        try:
            self.spec = InputSpec.for_dataset(self.ds, self.cfg.modality, self.cfg.input_scale)
            self.inputs = load_inputs(self.ds, self.spec, rows)
        except (OSError, ValueError, KeyError, IndexError) as exc:
            raise MawisError(f"{dataset_dir}: the data set is damaged or incomplete ({type(exc).__name__}: {exc}); "
                             "run `mawis ingest` again") from None
        self.fingerprint = dataset_fingerprint(self.ds, self.cfg.modality)
        self.batch = min(self.cfg.batch_size, len(self.inputs) // dist.world_size())
        self.probe = probe_set(self.ds, self.cfg.modality, self.cfg.probe)
        # a queue longer than the data set would hold stale keys of the anchor's own image
        queue = min(self.cfg.method_config.moco_queue, max(self.batch, len(self.inputs) - self.batch))
        self.cfg = replace(self.cfg, method_config=replace(self.cfg.method_config, moco_queue=queue))
        # the probe's images are among the training inputs: take them from there, not from disk again
        image_ids = pd.Index(rows["image_id"])
        self.probe_inputs = self.inputs[image_ids.get_indexer(self.probe.rows["image_id"])] if self.probe else None

    def build(self):
        torch.manual_seed(self.cfg.seed)
        method = build_method(self.cfg.method, self.cfg.encoder, self.cfg.method_config,
                              self.cfg.input_transform, self.initial_state).to(self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its fastest kernels
            method = method.to(memory_format=torch.channels_last)
        if self.distributed and self.device.type == "cuda":
            method = torch.nn.SyncBatchNorm.convert_sync_batchnorm(method)
        self.method = method
        self.model = DistributedDataParallel(method, device_ids=[self.device.index] if self.device.type == "cuda"
                                             else None) if self.distributed else method
        self.optimizer = torch.optim.AdamW(method.param_groups(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)
        self.augment = BatchAugment(self.cfg.augment)
        self.feed = BatchFeeder(self.inputs, self.batch, self.device)
        self.generator = torch.Generator()

    def steps_per_epoch(self) -> int:
        return max(1, len(self.inputs) // dist.world_size() // self.batch)

    def run_probe(self) -> dict:
        if self.probe is None or dist.rank() != 0:
            return {}
        features = embed(self.method.encoder, self.probe_inputs, self.device)
        return {**regression_probe(features, self.probe.log_life, self.probe.train, self.probe.test,
                                   self.cfg.probe.neighbours), "probe_split": self.probe.split_by}

    def train_epoch(self, epoch: int) -> dict:
        steps, total = self.steps_per_epoch(), self.steps_per_epoch() * self.cfg.epochs
        warmup = min(int(self.cfg.warmup_epochs * steps), total // 2)
        order = torch.randperm(len(self.inputs), generator=torch.Generator().manual_seed(self.cfg.seed * 7919 + epoch))
        # each (seed, rank, epoch) has its own augmentation stream: a resumed run draws what the
        # uninterrupted one would have, on every rank
        self.generator.manual_seed((self.cfg.seed * 1_000_003 + dist.rank()) * 10_007 + epoch)
        order = order[dist.rank()::dist.world_size()]
        self.model.train()
        losses, start, seen = [], time.perf_counter(), 0
        for i in range(steps):
            step = epoch * steps + i
            for group in self.optimizer.param_groups:
                group["lr"] = self.cfg.lr * group.get("lr_scale", 1.0) * lr_factor(step, total, warmup)
            x = self.feed(order[i * self.batch:(i + 1) * self.batch])
            view1, view2 = two_views(x, self.augment, self.generator)
            loss = optimisation_step(self.model, self.method, self.optimizer, view1, view2, (step + 1) / total)
            losses.append(loss)
            seen += len(x)
            if self.progress is not None:
                self.progress("pretrain", step + 1, total)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        loss = dist.all_reduce_mean(float(torch.stack(losses).float().mean()), self.device)
        if not math.isfinite(loss):
            raise MawisError(f"the {self.cfg.method} loss became {loss} in epoch {epoch + 1}; lower lr in --config "
                             "or the augmentation strength")
        return {"epoch": epoch + 1, "loss": loss,
                "images_per_s": seen * dist.world_size() / max(elapsed, 1e-9), "seconds": elapsed}

    def state(self, epoch: int, history: list[dict], identity: dict) -> dict:
        return {"identity": json.dumps(identity), "epoch": epoch, "history": json.dumps(history),
                "model": self.method.state_dict(), "optimizer": self.optimizer.state_dict()}


def pretrain(dataset_dir: Path, out_dir: Path, cfg: PretrainConfig = PretrainConfig(), *, resume: bool = False,
             overwrite: bool = False, log=None, progress=None, joints=None,
             initial_state: dict | None = None) -> PretrainResult:
    """Pretrain an encoder on ``dataset_dir``'s crops and save it to ``out_dir``.

    ``joints`` (ids) limits training, and the probe, to those joints' images;
    ``initial_state`` (an encoder state dict) continues from trained weights.
    """
    cfg.validate()
    out_dir = Path(out_dir)
    finished = _finished_run(out_dir) if resume and not overwrite else None
    if finished is not None:  # killed after its model was saved: there is nothing left to train
        (log or (lambda _record: None))({"event": "complete", "epoch": len(finished) - 1})
        return PretrainResult(out_dir, finished, 0)
    if dist.rank() == 0:
        check_writable_target(out_dir, overwrite, marker=MODEL_FILE)
    t = _Trainer(dataset_dir, out_dir, cfg, log, progress, joints, initial_state)
    t.build()
    identity = _run_identity(t.cfg, t.spec, t.fingerprint, t.batch)
    if initial_state is not None:  # a checkpoint only continues a run that started from the same weights
        identity["initial_state"] = _state_digest(initial_state)
    state = _load_checkpoint(t.work, identity) if resume else None
    start_epoch, history = 0, []
    if state is not None:
        t.method.load_state_dict(state["model"])
        t.optimizer.load_state_dict(state["optimizer"])
        start_epoch, history = int(state["epoch"]), json.loads(state["history"])
        t.log({"event": "resumed", "epoch": start_epoch})
    elif dist.rank() == 0:
        shutil.rmtree(t.work, ignore_errors=True)
        t.work.mkdir(parents=True)
        record = {"epoch": 0, **t.run_probe()}  # random weights: the baseline the probe should beat
        history.append(record)
        t.log(record)
    for epoch in range(start_epoch, t.cfg.epochs):
        try:
            record = t.train_epoch(epoch)
        except torch.cuda.OutOfMemoryError:
            raise MawisError(f"out of GPU memory at {t.batch} images per step; lower --batch-size "
                             "or use --encoder small") from None
        last = epoch + 1 == t.cfg.epochs
        if last or (epoch + 1) % t.cfg.probe.every_epochs == 0:
            record.update(t.run_probe())
        history.append(record)
        t.log(record)
        if dist.rank() == 0:
            _save_checkpoint(t.work, t.state(epoch + 1, history, identity))
        if t.distributed:
            torch.distributed.barrier()
    if dist.rank() == 0:
        save_encoder(out_dir, t.method.encoder, config=t.cfg, spec=t.spec, dataset_dir=Path(dataset_dir),
                     fingerprint=t.fingerprint, history=history, overwrite=overwrite)
        shutil.rmtree(t.work, ignore_errors=True)
    if t.distributed:
        torch.distributed.barrier()
        dist.shutdown()
    return PretrainResult(out_dir, history, t.cfg.epochs - start_epoch)
