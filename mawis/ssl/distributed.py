"""What the methods need from torch.distributed, as no-ops in a single process.

Runs launched with ``torchrun`` (DDP) set the usual environment variables;
:func:`init_from_env` starts the process group (nccl on CUDA, gloo on CPU).
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as td


def active() -> bool:
    return td.is_available() and td.is_initialized() and td.get_world_size() > 1


def rank() -> int:
    return td.get_rank() if active() else 0


def world_size() -> int:
    return td.get_world_size() if active() else 1


def init_from_env(device: torch.device) -> bool:
    """Join the process group when launched by torchrun; returns whether this is a distributed run."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or td.is_initialized():
        return active()
    if device.type == "cuda":  # one GPU per process, as torchrun numbers them on each node
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    td.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return active()


def shutdown() -> None:
    """Leave the process group :func:`init_from_env` joined. A gloo group left for interpreter
    exit to tear down can abort its rank ("terminate called without an active exception")
    after all the work is done, and torchrun then fails the run."""
    if td.is_available() and td.is_initialized():
        td.destroy_process_group()


def exit_worker() -> None:
    """End a torchrun worker whose work is done and written, skipping the interpreter's
    finalisation: with torch 2.14, gloo threads aborted it ("terminate called without an
    active exception", SIGABRT) even after :func:`shutdown`, and torchrun then failed the
    whole run (tests/test_ssl_distributed.py measured 3 of 25 without this, 0 of 30 with it)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@torch.no_grad()
def gather_all(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from all ranks (rank order), without gradient."""
    if not active():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(td.get_world_size())]
    td.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


@torch.no_grad()
def gather_from_other_ranks(tensor: torch.Tensor) -> torch.Tensor | None:
    """The other ranks' copies of ``tensor``, concatenated; None in a single process."""
    if not active():
        return None
    parts = [torch.empty_like(tensor) for _ in range(td.get_world_size())]
    td.all_gather(parts, tensor.contiguous())
    return torch.cat([p for i, p in enumerate(parts) if i != td.get_rank()])


def all_reduce_mean(value: float, device: torch.device) -> float:
    if not active():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    td.all_reduce(t)
    return float(t.item()) / td.get_world_size()
