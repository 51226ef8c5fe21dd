"""Data-parallel pretraining on the CPU: 2 processes, gloo backend.

* ``torchrun --standalone --nproc_per_node 2 -m mawis.cli pretrain ...``, the way users
  launch it, for SimCLR and MoCo v2 on a tiny simulated data set: exit code 0, exactly
  one model folder (rank 0 alone writes it; no work folder left behind), loadable
  weights, and the trained epoch in the saved history.
* The helpers of :mod:`mawis.ssl.distributed` and the cross-rank losses in 2 processes
  started with ``torch.multiprocessing.spawn`` (FileStore rendezvous, no port):
  ``gather_all`` concatenates in rank order, ``gather_from_other_ranks`` returns the
  other rank's tensor, ``nt_xent_loss`` with the other rank's views as ``negatives``
  equals the single-process NT-Xent of the concatenated batch restricted to this rank's
  anchors, and a DDP MoCo step fills the queue with both ranks' keys in rank order.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
WORLD = 2


# --------------------------------------------------------------------------- torchrun, end to end

@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    """24 simulated joints, X-ray only (56 images): 3 steps of 8 images per rank and epoch."""
    from mawis.ingest.config import IngestConfig
    from mawis.ingest.pipeline import ingest_batch
    from tests.conftest import make_batch

    root = tmp_path_factory.mktemp("ddp")
    batch_dir, _ = make_batch(root, "batch", joints=24, micrographs=False)
    ingest_batch(batch_dir, root / "dataset", IngestConfig(measure=False, workers=2))
    return root / "dataset"


def _torchrun(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):  # never inherit a launcher's
        env.pop(name, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}",
           "-m", "mawis.cli", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("method", ["simclr", "moco"])
def test_torchrun_two_cpu_processes(tiny_dataset: Path, tmp_path: Path, method: str):
    from mawis.ssl.model_io import load_encoder

    out = tmp_path / "models" / "encoder"
    proc = _torchrun("pretrain", str(tiny_dataset), "--method", method, "--epochs", "1", "--batch-size", "8",
                     "--device", "cpu", "--out", str(out))
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    # exactly one output: the model folder, and no temporary or work folder beside it
    assert sorted(p.name for p in out.parent.iterdir()) == ["encoder"], list(out.parent.iterdir())
    assert (out / "model.json").is_file() and (out / "encoder.pt").is_file()
    meta = json.loads((out / "model.json").read_text())
    assert meta["method"] == method and meta["config"]["epochs"] == 1
    history = meta["history"]
    assert [r["epoch"] for r in history] == [0, 1], history      # random-weights baseline, then the epoch
    assert math.isfinite(history[-1]["loss"]) and history[-1]["loss"] > 0
    loaded = load_encoder(out)                                    # the hash matches and the weights load
    assert loaded.meta["method"] == method


# --------------------------------------------------------------------------- helpers, spawned ranks

N, DIM, TEMPERATURE = 4, 8, 0.2


def _views(rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank ``rank``'s projections of its N samples (two views), the same on whichever process makes them."""
    g = torch.Generator().manual_seed(100 + rank)
    return (torch.randn(N, DIM, generator=g, dtype=torch.float64),
            torch.randn(N, DIM, generator=g, dtype=torch.float64))


def _per_anchor_nt_xent(z1: torch.Tensor, z2: torch.Tensor, t: float) -> torch.Tensor:
    """NT-Xent of each of the 2M anchors of one batch (M samples), written from the definition:
    -log(exp(cos(a, positive) / t) / sum over all other 2M - 1 views c of exp(cos(a, c) / t))."""
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    m2 = z.shape[0]
    out = torch.empty(m2, dtype=z.dtype)
    for a in range(m2):
        positive = (a + m2 // 2) % m2
        sims = z[a] @ z.T / t
        others = torch.cat([sims[:a], sims[a + 1:]])
        out[a] = torch.logsumexp(others, 0) - sims[positive]
    return out


def _check_helpers(rank: int) -> None:
    from mawis.ssl import distributed as dist
    from mawis.ssl.losses import nt_xent_loss

    assert dist.active() and dist.rank() == rank and dist.world_size() == WORLD
    other = 1 - rank
    z1, z2 = _views(rank)
    (a1, a2), (b1, b2) = _views(0), _views(1)

    gathered = dist.gather_all(z1)
    assert torch.equal(gathered, torch.cat([a1, b1]))                       # rank order
    assert torch.equal(dist.gather_all(torch.tensor([rank])), torch.tensor([0, 1]))
    assert not dist.gather_all(z1.clone().requires_grad_()).requires_grad  # no gradient through gathers
    from_other = dist.gather_from_other_ranks(z1)
    assert torch.equal(from_other, _views(other)[0])
    assert dist.all_reduce_mean(float(rank), torch.device("cpu")) == pytest.approx(0.5)

    # NT-Xent across ranks: this rank's 2N anchors, candidates = local 2N views + the other rank's 2N.
    # In the single-process loss on the concatenated batch (samples 0..N-1 from rank 0, N..2N-1 from
    # rank 1), every anchor has the same candidates (all 4N views but itself) and the same positive,
    # so rank r's loss is the mean of the single-process per-anchor losses over r's anchors, and the
    # mean over ranks is the single-process loss itself.
    z1r = z1.clone().requires_grad_()
    loss = nt_xent_loss(z1r, z2, TEMPERATURE, negatives=(dist.gather_from_other_ranks(z1),
                                                          dist.gather_from_other_ranks(z2)))
    full1, full2 = torch.cat([a1, b1]), torch.cat([a2, b2])
    per_anchor = _per_anchor_nt_xent(full1, full2, TEMPERATURE)              # anchors: view1 0..2N-1, view2 0..2N-1
    mine = torch.cat([torch.arange(rank * N, (rank + 1) * N), 2 * N + torch.arange(rank * N, (rank + 1) * N)])
    assert torch.allclose(loss.detach(), per_anchor[mine].mean(), rtol=0, atol=1e-12), (float(loss), rank)
    single = nt_xent_loss(full1, full2, TEMPERATURE)
    assert dist.all_reduce_mean(float(loss), torch.device("cpu")) == pytest.approx(float(single), abs=1e-12)
    loss.backward()                                                           # the gradient stays local
    assert z1r.grad is not None and torch.isfinite(z1r.grad).all()


def _check_moco_step(rank: int) -> None:
    """One DDP step of MoCo v2: both ranks' keys enter the queue in rank order, replicas stay equal."""
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    from mawis.ssl import distributed as dist
    from mawis.ssl.encoders import Encoder, SmallConvEncoder
    from mawis.ssl.methods import MethodConfig, MoCo

    torch.manual_seed(0)                                                      # DDP also broadcasts rank 0's weights
    cfg = MethodConfig(projection_hidden=16, projection_dim=8, moco_queue=64)
    method = MoCo(Encoder(SmallConvEncoder(width=4, stages=1, stem_stride=1), nn.Identity()), cfg)
    model = DistributedDataParallel(method)
    before = method.queue.clone()
    g = torch.Generator().manual_seed(10 + rank)                             # each rank its own images
    view1, view2 = torch.rand(N, 1, 12, 12, generator=g), torch.rand(N, 1, 12, 12, generator=g)
    with torch.no_grad():                                                     # this rank's keys, as MoCo makes them
        keys = torch.cat([method._keys(view1), method._keys(view2)])
    optimizer = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.1)
    loss = model(view1, view2)
    loss.backward()
    optimizer.step()
    method.after_step(1.0)

    all_keys = nn.functional.normalize(dist.gather_all(keys), dim=1)        # rank 0's 2N keys, then rank 1's
    assert int(method.queue_ptr) == 2 * N * WORLD
    assert torch.allclose(method.queue[:2 * N * WORLD], all_keys, atol=1e-6)
    assert torch.equal(method.queue[2 * N * WORLD:], before[2 * N * WORLD:])
    # every replica holds the same queue, weights and key encoder after the step
    for name, tensor in [("queue", method.queue), *method.encoder.named_parameters(),
                         *method.key_encoder.named_parameters()]:
        copies = dist.gather_all(tensor.detach())
        assert torch.equal(copies[: len(tensor)], copies[len(tensor):]), name


def _rank_main(rank: int, init_file: str) -> None:
    import torch.distributed as td

    torch.set_num_threads(1)
    td.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        _check_helpers(rank)
        _check_moco_step(rank)
        td.barrier()
    finally:
        td.destroy_process_group()
    # every check passed and the group is gone: leave as a finished torchrun worker does
    from mawis.ssl.distributed import exit_worker

    exit_worker()


def test_distributed_helpers_in_two_gloo_processes(tmp_path: Path):
    import torch.multiprocessing as mp

    mp.spawn(_rank_main, args=(str(tmp_path / "rendezvous"),), nprocs=WORLD, join=True)


def test_helpers_are_no_ops_in_one_process():
    from mawis.ssl import distributed as dist

    x = torch.arange(6.0).view(3, 2)
    assert not dist.active() and dist.rank() == 0 and dist.world_size() == 1
    assert dist.gather_all(x) is x
    assert dist.gather_from_other_ranks(x) is None
    assert dist.all_reduce_mean(1.5, torch.device("cpu")) == 1.5
