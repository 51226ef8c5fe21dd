"""Contrastive and bootstrap losses, each a plain function of embeddings.

* :func:`nt_xent_loss` (SimCLR): InfoNCE where each view's positive is its pair and
  all other 2N - 2 views of the batch are negatives.
* :func:`queue_info_nce_loss` (MoCo v2): InfoNCE of queries against their key plus a
  queue of keys from earlier batches, so small batches still see many negatives.
* :func:`byol_loss`: mean squared error between L2-normalised prediction and target
  projection, i.e. ``2 - 2 cos``; no negatives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _fp32(x: torch.Tensor) -> torch.Tensor:
    """Half-precision embeddings (bf16 autocast) in fp32: at 1/T = 5, bf16 logits step by about 0.03."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2,
                 negatives: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Normalised-temperature cross entropy over ``2N`` views (mean over all anchors).

    ``z1[i]`` and ``z2[i]`` are two views of sample ``i``. ``negatives`` optionally holds
    both views' embeddings from the other ranks of a distributed run (no gradient is
    needed through them); they join every anchor's candidate set.
    """
    z = F.normalize(_fp32(torch.cat([z1, z2])), dim=1)
    n = z1.shape[0]
    candidates = z
    if negatives is not None:
        candidates = torch.cat([z, F.normalize(_fp32(torch.cat(negatives)), dim=1)])
    logits = z @ candidates.T / temperature
    self_mask = torch.zeros_like(logits, dtype=torch.bool)
    self_mask[:, : 2 * n].fill_diagonal_(True)
    logits = logits.masked_fill(self_mask, float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, targets)


def queue_info_nce_loss(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """InfoNCE of queries ``q`` (N, D) against their keys ``k`` (N, D, no gradient) and a
    queue (K, D) of earlier keys as negatives; the positive logit is column 0."""
    q, k = F.normalize(_fp32(q), dim=1), F.normalize(_fp32(k.detach()), dim=1)
    positive = (q * k).sum(dim=1, keepdim=True)
    negative = q @ F.normalize(_fp32(queue.detach()), dim=1).T
    logits = torch.cat([positive, negative], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long, device=q.device))


def byol_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``2 - 2 cos(p, z)``, averaged: the MSE of the normalised vectors (target detached)."""
    p, z = F.normalize(_fp32(prediction), dim=1), F.normalize(_fp32(target.detach()), dim=1)
    return (2 - 2 * (p * z).sum(dim=1)).mean()
