"""SSL losses and methods against independent references: loop-based formulas written
here, lightly's NT-Xent as a peer, and hand-computed EMA / ring-buffer values."""

from __future__ import annotations

import math
import os

import pytest
import torch
from torch import nn

from mawis.ssl import distributed as dist
from mawis.ssl.encoders import SmallConvEncoder
from mawis.ssl.losses import byol_loss, nt_xent_loss, queue_info_nce_loss
from mawis.ssl.methods import BYOL, MoCo, MethodConfig, SimCLR, ema_update

TINY = dict(projection_hidden=8, projection_dim=4, byol_predictor_hidden=8)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


def reference_nt_xent(z1, z2, t, extra=()):
    """-log(exp(sim(i,j)/t) / sum_{k != i} exp(sim(i,k)/t)) averaged over the 2N anchors;
    ``extra`` vectors join every anchor's denominator."""
    z = list(torch.cat([z1, z2]))
    n2 = len(z)
    total = 0.0
    for i in range(n2):
        j = (i + n2 // 2) % n2
        denom = sum(math.exp(_cos(z[i], c) / t) for k, c in enumerate(z + list(extra)) if k != i)
        total += -math.log(math.exp(_cos(z[i], z[j]) / t) / denom)
    return total / n2


# float64 throughout so the comparisons can be tight
CASES = [(2, 3, 0.1), (4, 5, 0.5), (3, 8, 1.0)]


@pytest.mark.parametrize("n,d,t", CASES)
def test_nt_xent_matches_formula(n, d, t):
    z1, z2 = torch.randn(n, d, dtype=torch.float64), torch.randn(n, d, dtype=torch.float64)
    assert float(nt_xent_loss(z1, z2, t)) == pytest.approx(reference_nt_xent(z1, z2, t), rel=1e-9)


@pytest.mark.parametrize("n,d,t", CASES)
def test_nt_xent_extra_negatives_join_every_denominator(n, d, t):
    z1, z2 = torch.randn(n, d, dtype=torch.float64), torch.randn(n, d, dtype=torch.float64)
    o1, o2 = torch.randn(2 * n, d, dtype=torch.float64), torch.randn(2 * n, d, dtype=torch.float64)
    got = float(nt_xent_loss(z1, z2, t, negatives=(o1, o2)))
    assert got == pytest.approx(reference_nt_xent(z1, z2, t, extra=torch.cat([o1, o2])), rel=1e-9)
    assert got > float(nt_xent_loss(z1, z2, t))  # more negatives can only raise the loss


def _lightly_ntxent():
    # CI installs the test extra, so a missing lightly there is a broken install, not a skip.
    if os.environ.get("CI"):
        from lightly.loss import NTXentLoss
        return NTXentLoss
    return pytest.importorskip("lightly.loss").NTXentLoss


@pytest.mark.parametrize("n,d,t", CASES)
def test_nt_xent_matches_lightly(n, d, t):
    z1, z2 = torch.randn(n, d, dtype=torch.float64), torch.randn(n, d, dtype=torch.float64)
    peer = _lightly_ntxent()(temperature=t, memory_bank_size=0)
    assert float(nt_xent_loss(z1, z2, t)) == pytest.approx(float(peer(z1, z2)), rel=1e-9)


def test_queue_info_nce_matches_formula():
    n, d, size, t = 3, 5, 7, 0.2
    q, k, queue = (torch.randn(m, d, dtype=torch.float64) for m in (n, n, size))
    total = 0.0
    for i in range(n):
        logits = [_cos(q[i], k[i]) / t] + [_cos(q[i], c) / t for c in queue]
        total += -(logits[0] - math.log(sum(math.exp(x) for x in logits)))  # cross-entropy, target 0
    assert float(queue_info_nce_loss(q, k, queue, t)) == pytest.approx(total / n, rel=1e-9)


def test_byol_loss_is_two_minus_two_cos_and_target_is_detached():
    p = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    z = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    loss = byol_loss(p, z)
    expected = sum(2 - 2 * _cos(a, b) for a, b in zip(p.detach(), z.detach())) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-9)
    loss.backward()
    assert p.grad is not None and z.grad is None


def test_ema_update_hand_values_and_buffer_copy():
    target, online = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)), nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with torch.no_grad():
        target[0].weight.fill_(1.0), target[0].bias.fill_(0.0)
        online[0].weight.fill_(3.0), online[0].bias.fill_(10.0)
        online[1].running_mean.copy_(torch.tensor([5.0, -6.0]))
    ema_update(target, online, 0.9)
    assert torch.allclose(target[0].weight, torch.full((2, 2), 1.2))  # 0.9 * 1 + 0.1 * 3
    assert torch.allclose(target[0].bias, torch.full((2,), 1.0))      # 0.9 * 0 + 0.1 * 10
    assert torch.equal(target[1].running_mean, torch.tensor([5.0, -6.0]))  # copied, not averaged
    assert torch.equal(online[0].weight, torch.full((2, 2), 3.0))          # online untouched


def _views(n=4):
    return torch.randn(n, 1, 16, 16), torch.randn(n, 1, 16, 16)


def _snapshot(*modules):
    return [p.detach().clone() for m in modules for p in m.parameters()]


def _sgd_step(model, lr=0.5):
    """One forward/backward/SGD step; the online weights must actually move, or EMA checks are vacuous."""
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    before = _snapshot(model.encoder, model.projector)
    loss = model(*_views())
    loss.backward()
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, _snapshot(model.encoder, model.projector)))


def _assert_ema(old_target, online_modules, target_modules, m):
    new_online = _snapshot(*online_modules)
    got = _snapshot(*target_modules)
    assert len(got) == len(old_target) == len(new_online)
    for g, t, o in zip(got, old_target, new_online):
        assert torch.allclose(g, m * t + (1 - m) * o, atol=1e-6)


def test_moco_key_encoder_is_frozen_copy_and_follows_momentum():
    model = MoCo(SmallConvEncoder(width=4, stages=2), MethodConfig(moco_queue=8, moco_momentum=0.9, **TINY))
    for online, key in ((model.encoder, model.key_encoder), (model.projector, model.key_projector)):
        pairs = list(zip(online.parameters(), key.parameters()))
        assert pairs and all(torch.equal(o, k) and o is not k for o, k in pairs)
        assert all(not k.requires_grad for _, k in pairs)
    old_key = _snapshot(model.key_encoder, model.key_projector)
    _sgd_step(model)
    model.after_step(0.0)
    _assert_ema(old_key, (model.encoder, model.projector), (model.key_encoder, model.key_projector), 0.9)


def test_moco_queue_is_ring_buffer_of_normalised_keys():
    model = MoCo(SmallConvEncoder(width=4, stages=2), MethodConfig(moco_queue=8, **TINY))
    first, second = torch.randn(6, 4), torch.randn(6, 4)
    unit = nn.functional.normalize
    model.enqueue(first)
    assert int(model.queue_ptr) == 6 and torch.allclose(model.queue[:6], unit(first, dim=1))
    model.enqueue(second)
    assert int(model.queue_ptr) == 4
    assert torch.allclose(model.queue[6:], unit(second[:2], dim=1))   # fills the end ...
    assert torch.allclose(model.queue[:4], unit(second[2:], dim=1))   # ... then wraps to the start
    assert torch.allclose(model.queue[4:6], unit(first[4:], dim=1))   # the rest of the first batch survives


def test_byol_momentum_schedule():
    model = BYOL(SmallConvEncoder(width=4, stages=2), MethodConfig(byol_momentum=0.96, **TINY))
    for p in (0.0, 0.25, 0.5, 1.0):
        assert model.momentum(p) == pytest.approx(1 - 0.04 * (math.cos(math.pi * p) + 1) / 2)
    assert model.momentum(0.0) == pytest.approx(0.96)
    assert model.momentum(0.5) == pytest.approx(0.98)
    assert model.momentum(1.0) == pytest.approx(1.0)


def test_byol_target_follows_ema_and_has_no_predictor():
    model = BYOL(SmallConvEncoder(width=4, stages=2), MethodConfig(byol_momentum=0.9, **TINY))
    target_ids = {id(p) for m in (model.target_encoder, model.target_projector) for p in m.parameters()}
    assert not target_ids & {id(p) for p in model.predictor.parameters()}
    assert [n for n, _ in model.named_children() if "predictor" in n] == ["predictor"]
    old_target = _snapshot(model.target_encoder, model.target_projector)
    _sgd_step(model)
    assert all(p.grad is not None for p in model.predictor.parameters())
    model.after_step(0.5)
    _assert_ema(old_target, (model.encoder, model.projector), (model.target_encoder, model.target_projector),
                model.momentum(0.5))


def test_simclr_loss_is_finite_and_trains_encoder():
    assert dist.gather_from_other_ranks(torch.ones(2, 3)) is None  # no process group in a single process
    model = SimCLR(SmallConvEncoder(width=4, stages=2), MethodConfig(**TINY))
    v1, v2 = _views()
    loss = model(v1, v2)
    assert loss.dim() == 0 and torch.isfinite(loss)
    # train-mode BN uses batch statistics, so re-projecting gives the same embeddings: value and
    # encoder gradient must match the plain loss on both views (neither view may be cut off)
    expected = nt_xent_loss(model.projector(model.encoder(v1)), model.projector(model.encoder(v2)), 0.2)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    params = list(model.encoder.parameters())
    grads = torch.autograd.grad(loss, params)
    assert any(g.abs().sum() > 0 for g in grads)
    for g, e in zip(grads, torch.autograd.grad(expected, params)):
        assert torch.allclose(g, e, atol=1e-6)
