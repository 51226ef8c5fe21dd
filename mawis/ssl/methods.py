"""SimCLR, MoCo v2 and BYOL as modules that turn two augmented views into a loss.

Each method owns its encoder and heads. The training loop calls ``method(view1,
view2)`` for the loss and, after each optimiser step, ``method.after_step(progress)``
for what changes outside the gradient (momentum encoders). ``method.encoder`` is what
pretraining keeps.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import UsageError
from . import distributed as dist
from .encoders import build_encoder
from .heads import mlp_head
from .losses import byol_loss, nt_xent_loss, queue_info_nce_loss

METHODS = ("simclr", "moco", "byol")


@dataclass(frozen=True)
class MethodConfig:
    temperature: float = 0.2        # SimCLR / MoCo softmax temperature
    projection_hidden: int = 512
    projection_dim: int = 128
    moco_momentum: float = 0.99     # key encoder: theta_k <- m theta_k + (1 - m) theta_q
    moco_queue: int = 4096          # negatives kept from earlier batches
    byol_momentum: float = 0.99     # target EMA at the start; raised to 1 on a cosine schedule
    byol_predictor_hidden: int = 512
    predictor_lr_scale: float = 10.0  # BYOL predictor learning rate, relative to the base rate


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """``theta_t <- m * theta_t + (1 - m) * theta_o`` for parameters; buffers (BN statistics) are copied."""
    for t, o in zip(target.parameters(), online.parameters()):
        t.mul_(momentum).add_(o.detach(), alpha=1.0 - momentum)
    for t, o in zip(target.buffers(), online.buffers()):
        t.copy_(o)


def _trainable(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


def _frozen_copy(module: nn.Module) -> nn.Module:
    twin = copy.deepcopy(module)
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin


class _Method(nn.Module):
    """Encoder plus projector; by default one optimiser group and nothing to do after a step."""

    def __init__(self, encoder: nn.Module, cfg: MethodConfig):
        super().__init__()
        self.encoder, self.cfg = encoder, cfg
        self.projector = mlp_head(encoder.out_dim, cfg.projection_hidden, cfg.projection_dim)

    def param_groups(self) -> list[dict]:
        return [{"params": _trainable(self)}]

    def after_step(self, progress: float) -> None:
        pass


class SimCLR(_Method):
    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        z1, z2 = self.projector(self.encoder(view1)), self.projector(self.encoder(view2))
        # other ranks' views are extra negatives, gathered without gradient: each rank's loss
        # moves only its own embeddings (an approximation of the global-batch gradient)
        others = dist.gather_from_other_ranks(z1.detach()), dist.gather_from_other_ranks(z2.detach())
        return nt_xent_loss(z1, z2, self.cfg.temperature, negatives=others if others[0] is not None else None)


class MoCo(_Method):
    def __init__(self, encoder: nn.Module, cfg: MethodConfig):
        super().__init__(encoder, cfg)
        self.key_encoder, self.key_projector = _frozen_copy(self.encoder), _frozen_copy(self.projector)
        self.register_buffer("queue", nn.functional.normalize(torch.randn(cfg.moco_queue, cfg.projection_dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def _keys(self, view: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.key_projector(self.key_encoder(view))

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        q1, q2 = self.projector(self.encoder(view1)), self.projector(self.encoder(view2))
        k1, k2 = self._keys(view1), self._keys(view2)
        t = self.cfg.temperature
        loss = 0.5 * (queue_info_nce_loss(q1, k2, self.queue, t) + queue_info_nce_loss(q2, k1, self.queue, t))
        self.enqueue(torch.cat([k1, k2]))
        return loss

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Replace the oldest queue entries with ``keys`` (from all ranks), as a ring buffer."""
        keys = nn.functional.normalize(dist.gather_all(keys.float()), dim=1)
        size, n = self.queue.shape[0], min(keys.shape[0], self.queue.shape[0])
        ptr = int(self.queue_ptr)
        index = (torch.arange(n, device=keys.device) + ptr) % size
        self.queue[index] = keys[:n].to(self.queue.dtype)
        self.queue_ptr.fill_((ptr + n) % size)

    def after_step(self, progress: float) -> None:
        ema_update(self.key_encoder, self.encoder, self.cfg.moco_momentum)
        ema_update(self.key_projector, self.projector, self.cfg.moco_momentum)


class BYOL(_Method):
    def __init__(self, encoder: nn.Module, cfg: MethodConfig):
        super().__init__(encoder, cfg)
        self.predictor = mlp_head(cfg.projection_dim, cfg.byol_predictor_hidden, cfg.projection_dim)
        self.target_encoder, self.target_projector = _frozen_copy(self.encoder), _frozen_copy(self.projector)

    def _target(self, view: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.target_projector(self.target_encoder(view))

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        p1 = self.predictor(self.projector(self.encoder(view1)))
        p2 = self.predictor(self.projector(self.encoder(view2)))
        return 0.5 * (byol_loss(p1, self._target(view2)) + byol_loss(p2, self._target(view1)))

    def param_groups(self) -> list[dict]:
        """The predictor learns at ``predictor_lr_scale`` times the base rate: it has to keep up
        with the slowly moving target for the online network to learn (as in SimSiam/BYOL practice)."""
        predictor = set(map(id, self.predictor.parameters()))
        rest = [p for p in _trainable(self) if id(p) not in predictor]
        return [{"params": rest}, {"params": list(self.predictor.parameters()), "lr_scale": self.cfg.predictor_lr_scale}]

    def momentum(self, progress: float) -> float:
        """BYOL's schedule: tau = 1 - (1 - tau_base) (cos(pi * progress) + 1) / 2."""
        return 1.0 - (1.0 - self.cfg.byol_momentum) * (math.cos(math.pi * min(max(progress, 0.0), 1.0)) + 1) / 2

    def after_step(self, progress: float) -> None:
        m = self.momentum(progress)
        ema_update(self.target_encoder, self.encoder, m)
        ema_update(self.target_projector, self.projector, m)


def build_method(name: str, encoder_name: str, cfg: MethodConfig = MethodConfig(),
                 input_transform: str = "none", encoder_state: dict | None = None) -> nn.Module:
    """The method around a new encoder; ``encoder_state`` starts it (and its momentum twin) from
    trained weights, e.g. when pretraining continues on new data."""
    classes = {"simclr": SimCLR, "moco": MoCo, "byol": BYOL}
    if name not in classes:
        raise UsageError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    encoder = build_encoder(encoder_name, input_transform)
    if encoder_state is not None:
        encoder.load_state_dict(encoder_state)
    return classes[name](encoder, cfg)
