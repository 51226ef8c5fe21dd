"""Batched, per-sample random augmentations for 1-channel inspection images.

Contrastive pretraining (SimCLR, MoCo v2, BYOL) learns what two augmented views of
one joint have in common, so the augmentations *define* what the encoder learns to
ignore. The usual ImageNet recipe (random resized crops, colour jitter, grey-scale,
solarisation) is made for natural photos and would be wrong here:

* **No colour jitter, no grey-scale.** The images have one channel: X-ray
  transmission or a grey micrograph.
* **No random resized crops, no rescaling by default.** Pixel pitch (µm/px) is
  aligned at ingestion, so the *physical size* of voids, cracks and the joint itself
  carries lifetime information. Zooming would teach the encoder to ignore exactly
  that. ``scale_jitter`` exists for experiments and is off (0.0) by default.

What is applied instead, and why:

1. **Flips and 90° rotations** (square images; 0/180° only when H != W). The
   thermo-mechanical load of a joint is symmetric, so orientation does not change
   the lifetime: these are exact, label-preserving pixel permutations.
2. **Small integer translations** (up to ``max_shift_frac`` of the size). Joints
   are centred at ingestion, but not perfectly; the encoder should not care about a
   few pixels of misregistration. The uncovered band is filled with the sample's
   border median (or mean): wrap-around or mirrored content would invent a second
   joint edge or a void that is not there.
3. **Gaussian blur** (per-sample sigma). Stations differ in focal-spot size and
   focus; micrographs differ in focus.
4. **Gain, offset and gamma** (in that order: ``clamp(gain * x + offset) ** gamma``).
   They imitate different X-ray stations: detector gain, dark level and display
   gamma. Robustness to the station is what mawis must have.
5. **Additive Gaussian noise** (per-sample sigma): detector and quantum noise.

Then the result is clamped to [0, 1].

Everything is drawn **per sample** (torchvision's batched random transforms share one
draw per batch, which gives every view in a batch the same flip, the same gain...)
from an explicit :class:`torch.Generator`, so a run is reproducible from its seed.
The parameters are drawn on the generator's device (usually the CPU, whose state a
checkpoint can save) and moved to the batch's device; the noise field is drawn on
the batch's device from a generator seeded by one draw of the given generator, so a
CUDA batch never waits for CPU random numbers. The parameter draws do not depend on
the batch's device: a CPU and a CUDA batch get the same flips, shifts, gains...; only
the noise field differs between devices.

The pieces follow torchvision v2's split of ``make_params`` and ``transform``:
:func:`sample_params` draws an :class:`AugmentParams` (one tensor per parameter,
one entry per sample), and :func:`apply_geometry`, :func:`apply_blur`,
:func:`apply_intensity` and :func:`apply_noise` apply them, vectorised over the batch
(no Python loop over samples). :class:`BatchAugment` composes them, and
:func:`two_views` makes the two views a contrastive method needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError

FILLS = ("median", "mean")


@dataclass(frozen=True)
class AugmentConfig:
    """Strength and probability of each augmentation; ``*_p`` is the per-sample chance.

    Defaults suit X-ray joint images after pixel-pitch alignment. ``AugmentConfig.off()``
    disables everything (the identity), a start for enabling one piece at a time.
    """

    # Dihedral transforms: exact, label-preserving (the joint's load is symmetric).
    hflip_p: float = 0.5
    vflip_p: float = 0.5
    rot90_p: float = 1.0                 # chance to draw k uniformly from 0..3 (0 or 2 when H != W)
    # Integer translation, the uncovered band filled with the sample's border statistic.
    shift_p: float = 1.0
    max_shift_frac: float = 0.06         # of the height (rows) and of the width (columns)
    fill: str = "median"                 # "median" or "mean" of the input's border pixels
    # Isotropic rescaling about the centre: scale ~ U(1 - scale_jitter, 1 + scale_jitter).
    scale_p: float = 1.0
    scale_jitter: float = 0.0            # off: µm/px is aligned at ingestion and size matters
    # Gaussian blur: sigma in pixels ~ U(blur_sigma_range).
    blur_p: float = 0.3
    blur_sigma_range: tuple[float, float] = (0.1, 1.2)
    # Station look: y = clamp(gain * x + offset, 0, 1) ** gamma. Gain cancels in the X-ray
    # optical-depth input; gamma and offset do not: they rescale the optical depth, which is
    # solder thickness, a driver of fatigue life. Invariance to them cost the lifetime head
    # most of what the embedding adds (R² of ln life 0.50 -> 0.74 at 100 % labels with them off,
    # simulated campaign seed 31), so they are off by default; turn them on for micrographs or
    # when stations differ in gamma and robustness matters more than thickness.
    gain_p: float = 0.8
    gain_range: tuple[float, float] = (0.8, 1.2)
    offset_p: float = 0.0
    offset_range: tuple[float, float] = (-0.08, 0.08)
    gamma_p: float = 0.0
    gamma_range: tuple[float, float] = (-0.35, 0.35)   # of log(gamma): gamma = exp(U(range))
    # Additive Gaussian detector noise: sigma ~ U(noise_sigma_range).
    noise_p: float = 0.5
    noise_sigma_range: tuple[float, float] = (0.0, 0.03)

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def off(cls) -> "AugmentConfig":
        """A config that changes nothing: every probability 0."""
        return cls(**{f.name: 0.0 for f in fields(cls) if f.name.endswith("_p")})

    def only(self, *groups: str) -> "AugmentConfig":
        """This config with every augmentation except ``groups`` (e.g. ``"gain"``, ``"blur"``) disabled."""
        probs = {f.name for f in fields(self) if f.name.endswith("_p")}
        unknown = {g for g in groups if f"{g}_p" not in probs}
        if unknown:
            raise UsageError(f"[augment] unknown augmentation(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(sorted(p[:-2] for p in probs))}")
        return replace(self, **{p: 0.0 for p in probs if p[:-2] not in groups})


_PROBABILITIES = tuple(f.name for f in fields(AugmentConfig) if f.name.endswith("_p"))
_RANGES = tuple(f.name for f in fields(AugmentConfig) if f.name.endswith("_range"))


def _validate(cfg: AugmentConfig) -> None:
    """Raise :class:`UsageError` naming the first bad setting."""

    def bad(name: str, rule: str) -> UsageError:
        return UsageError(f"[augment] {name} {rule} (got {getattr(cfg, name)!r})")

    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    for name in _PROBABILITIES:
        value = getattr(cfg, name)
        if not number(value) or not 0.0 <= value <= 1.0:
            raise bad(name, "must be a probability in [0, 1]")
    for name in _RANGES:
        value = getattr(cfg, name)
        if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(number(v) for v in value)
                and value[0] <= value[1]):
            raise bad(name, "must be a pair [low, high] of numbers with low <= high")
    if not number(cfg.max_shift_frac) or not 0.0 <= cfg.max_shift_frac < 0.5:
        raise bad("max_shift_frac", "must lie in [0, 0.5)")
    if cfg.fill not in FILLS:
        raise bad("fill", f"must be one of {', '.join(FILLS)}")
    if not number(cfg.scale_jitter) or not 0.0 <= cfg.scale_jitter < 1.0:
        raise bad("scale_jitter", "must lie in [0, 1)")
    if not 0.0 <= cfg.blur_sigma_range[0] or cfg.blur_sigma_range[1] > 10.0:
        raise bad("blur_sigma_range", "must lie in [0, 10] pixels (a sigma cannot be negative)")
    if not 0.0 < cfg.gain_range[0] or cfg.gain_range[1] > 10.0:
        raise bad("gain_range", "must lie in (0, 10]")
    if not -1.0 <= cfg.offset_range[0] or cfg.offset_range[1] > 1.0:
        raise bad("offset_range", "must lie in [-1, 1]")
    if not -3.0 <= cfg.gamma_range[0] or cfg.gamma_range[1] > 3.0:
        raise bad("gamma_range", "is a range of log(gamma) and must lie in [-3, 3]")
    if not 0.0 <= cfg.noise_sigma_range[0] or cfg.noise_sigma_range[1] > 1.0:
        raise bad("noise_sigma_range", "must lie in [0, 1] (a sigma cannot be negative)")


def augment_config_from_dict(d: dict) -> AugmentConfig:
    """An :class:`AugmentConfig` from a TOML/JSON table; lists become tuples.

    Raises :class:`UsageError` with a one-line message naming the bad key for unknown
    keys and for out-of-range or mistyped values.
    """
    if not isinstance(d, dict):
        raise UsageError(f"[augment] must be a table of settings (got {d!r})")
    known = {f.name for f in fields(AugmentConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise UsageError(f"[augment] unknown setting(s) {', '.join(map(str, unknown))}; "
                         f"known: {', '.join(sorted(known))}")
    return AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass(frozen=True)
class AugmentParams:
    """Per-sample parameters of one augmentation call; every tensor has one entry per sample.

    Unselected samples carry the identity value (no flip, k = 0, shift 0, scale 1,
    blur sigma 0, gain 1, offset 0, gamma 1, noise sigma 0).
    """

    hflip: torch.Tensor        # bool
    vflip: torch.Tensor        # bool
    rot90: torch.Tensor        # int64, counter-clockwise quarter turns (as torch.rot90)
    shift_y: torch.Tensor      # int64, rows; positive moves content down
    shift_x: torch.Tensor      # int64, columns; positive moves content right
    scale: torch.Tensor        # float32, > 1 enlarges
    blur_sigma: torch.Tensor   # float32, pixels; 0 = no blur
    gain: torch.Tensor         # float32
    offset: torch.Tensor       # float32
    gamma: torch.Tensor        # float32
    noise_sigma: torch.Tensor  # float32; 0 = no noise
    noise_seed: int            # seeds the noise field's generator on the batch's device

    def to(self, device: torch.device) -> "AugmentParams":
        return replace(self, **{f.name: _to(getattr(self, f.name), device)
                                for f in fields(self) if f.name != "noise_seed"})


def _to(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move a small tensor; asynchronously only host -> accelerator, which is safe from pageable memory."""
    device = torch.device(device)
    return t.to(device, non_blocking=t.device.type == "cpu" and device.type != "cpu")


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=generator.device)


def sample_params(cfg: AugmentConfig, batch: int, height: int, width: int,
                  generator: torch.Generator) -> AugmentParams:
    """Draw every parameter for ``batch`` samples of ``height`` x ``width`` on the generator's device.

    Every parameter is drawn (and the generator advanced the same way) whatever the
    probabilities, so a setting of one augmentation never changes the draws of another.
    """
    n, g = batch, generator

    def chosen(p: float) -> torch.Tensor:
        return torch.rand(n, generator=g, device=g.device) < p

    def integers(high: int) -> torch.Tensor:   # uniform on [-high, high]
        return torch.randint(-high, high + 1, (n,), generator=g, device=g.device)

    hflip, vflip = chosen(cfg.hflip_p), chosen(cfg.vflip_p)
    k = torch.randint(0, 4, (n,), generator=g, device=g.device)
    if height != width:
        k = (k % 2) * 2                        # 0 or 180 degrees keep a non-square shape
    rot90 = torch.where(chosen(cfg.rot90_p), k, torch.zeros_like(k))
    max_dy, max_dx = int(cfg.max_shift_frac * height), int(cfg.max_shift_frac * width)
    shifting = chosen(cfg.shift_p)
    shift_y = torch.where(shifting, integers(max_dy), 0)
    shift_x = torch.where(shifting, integers(max_dx), 0)
    scale = torch.where(chosen(cfg.scale_p), _uniform(n, 1 - cfg.scale_jitter, 1 + cfg.scale_jitter, g), 1.0)
    blur_sigma = torch.where(chosen(cfg.blur_p), _uniform(n, *cfg.blur_sigma_range, g), 0.0)
    gain = torch.where(chosen(cfg.gain_p), _uniform(n, *cfg.gain_range, g), 1.0)
    offset = torch.where(chosen(cfg.offset_p), _uniform(n, *cfg.offset_range, g), 0.0)
    gamma = torch.where(chosen(cfg.gamma_p), _uniform(n, *cfg.gamma_range, g).exp(), 1.0)
    noise_sigma = torch.where(chosen(cfg.noise_p), _uniform(n, *cfg.noise_sigma_range, g), 0.0)
    noise_seed = int(torch.randint(0, 2**62, (1,), generator=g, device=g.device))
    return AugmentParams(hflip, vflip, rot90, shift_y, shift_x, scale, blur_sigma, gain, offset, gamma,
                         noise_sigma, noise_seed)


def border_fill(x: torch.Tensor, statistic: str = "median") -> torch.Tensor:
    """Per-sample, per-channel median or mean of the border pixels, shaped (B, C, 1, 1)."""
    if x.shape[-2] < 3 or x.shape[-1] < 3:
        border = x.flatten(2)
    else:
        border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., 1:-1, 0], x[..., 1:-1, -1]], dim=-1)
    if statistic == "mean":
        value = border.mean(-1)
    else:
        value = border.median(-1).values
    return value[..., None, None]


def apply_scale(x: torch.Tensor, scale: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """Rescale each sample about its centre (bilinear); what comes in from outside is ``fill``."""
    b = x.shape[0]
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / scale.to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill
    return torch.where((scale != 1.0).view(b, 1, 1, 1), out, x)


def apply_geometry(x: torch.Tensor, p: AugmentParams, fill: torch.Tensor) -> torch.Tensor:
    """Flip, rotate by quarter turns, then shift each sample: one transpose and two integer gathers.

    Every dihedral transform is an optional transpose followed by optional row and
    column reversals, so after transposing the samples with an odd number of quarter
    turns, output pixel (i, j) reads input pixel (R[i], C[j]), where R and C are
    per-sample reversals of ``i - shift_y`` and ``j - shift_x``. Pixels whose shifted
    position falls outside the image take ``fill`` (B, C, 1, 1). Exact: only input
    pixel values (or the fill) appear in the output, and nothing wraps around.
    """
    b, c, h, w = x.shape
    k = p.rot90
    transposed = k % 2 == 1
    if bool(transposed.any()):
        if h != w:
            raise ValueError("quarter turns of a non-square image change its shape; use 0 or 180 degrees")
        x = torch.where(transposed.view(b, 1, 1, 1), x.transpose(-1, -2), x)
    # y = rot90^k(flips(x)): with the transpose done, what is left are reversals of rows and columns.
    reverse_rows = torch.where(transposed, (k == 1) ^ p.hflip, (k == 2) ^ p.vflip).view(b, 1)
    reverse_cols = torch.where(transposed, (k == 3) ^ p.vflip, (k == 2) ^ p.hflip).view(b, 1)
    u = torch.arange(h, device=x.device).view(1, h) - p.shift_y.view(b, 1)      # (B, H)
    v = torch.arange(w, device=x.device).view(1, w) - p.shift_x.view(b, 1)      # (B, W)
    inside = ((u >= 0) & (u < h)).view(b, 1, h, 1) & ((v >= 0) & (v < w)).view(b, 1, 1, w)
    u, v = u.clamp(0, h - 1), v.clamp(0, w - 1)
    rows = torch.where(reverse_rows, h - 1 - u, u).view(b, 1, h, 1).expand(b, c, h, w)
    cols = torch.where(reverse_cols, w - 1 - v, v).view(b, 1, 1, w).expand(b, c, h, w)
    out = torch.gather(torch.gather(x, 2, rows), 3, cols)
    return torch.where(inside, out, fill)


def gaussian_kernels(sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Normalised 1-D Gaussian kernels (B, 2 * radius + 1); sigma 0 gives the identity (a delta)."""
    t = torch.arange(-radius, radius + 1, device=sigma.device, dtype=sigma.dtype)
    s = sigma.clamp_min(1e-6).view(-1, 1)
    k = torch.exp(-0.5 * (t / s) ** 2)
    return k / k.sum(dim=1, keepdim=True)


def apply_blur(x: torch.Tensor, sigma: torch.Tensor, max_sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with a per-sample sigma: two grouped convolutions, groups = B * C.

    The kernel size is fixed from ``max_sigma`` (radius ceil(3 sigma)); borders replicate.
    """
    b, c, h, w = x.shape
    radius = max(1, math.ceil(3.0 * max_sigma))
    kernels = gaussian_kernels(sigma.to(torch.float32), radius).to(x.dtype)            # (B, K)
    kernels = kernels.repeat_interleave(c, dim=0)                                      # (B*C, K)
    y = F.pad(x.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="replicate")
    y = F.conv2d(y, kernels.view(b * c, 1, -1, 1), groups=b * c)
    y = F.conv2d(y, kernels.view(b * c, 1, 1, -1), groups=b * c)
    return torch.where((sigma > 0).view(b, 1, 1, 1), y.view(b, c, h, w), x)


def apply_intensity(x: torch.Tensor, gain: torch.Tensor, offset: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """``clamp(gain * x + offset, 0, 1) ** gamma`` per sample: detector gain, dark level, display gamma.

    Clamping before the gamma keeps it defined; gamma maps [0, 1] onto itself.
    """
    shape = (-1,) + (1,) * (x.ndim - 1)
    y = x * gain.to(x.dtype).view(shape)
    return y.add_(offset.to(x.dtype).view(shape)).clamp_(0.0, 1.0).pow_(gamma.to(x.dtype).view(shape))


def gaussian_noise(shape: tuple[int, ...], sigma: torch.Tensor, seed: int, device: torch.device,
                   dtype: torch.dtype) -> torch.Tensor:
    """Gaussian noise with a per-sample sigma (``shape[0]`` entries), drawn on ``device`` from a generator seeded by ``seed``."""
    g = torch.Generator(device=device).manual_seed(seed)
    noise = torch.randn(shape, generator=g, device=device, dtype=dtype)
    return noise.mul_(sigma.to(dtype).view((-1,) + (1,) * (len(shape) - 1)))


def apply_noise(x: torch.Tensor, sigma: torch.Tensor, seed: int) -> torch.Tensor:
    """``x`` plus Gaussian noise with a per-sample sigma, drawn on ``x``'s device (see :func:`gaussian_noise`)."""
    return x + gaussian_noise(tuple(x.shape), sigma, seed, x.device, x.dtype)


class BatchAugment(nn.Module):
    """Per-sample random augmentation of a batch (B, C, H, W) in [0, 1] on its own device.

    Order: geometry (scale, flips/rotations, shift) -> blur -> gain/offset/gamma ->
    noise -> clamp to [0, 1]. The output has the input's shape, dtype and device.
    Runs without autograd: augmentations are data, not part of the model.
    """

    def __init__(self, config: AugmentConfig = AugmentConfig()):
        super().__init__()
        self.config = config

    def extra_repr(self) -> str:
        return repr(self.config)

    def sample_params(self, x: torch.Tensor, generator: torch.Generator) -> AugmentParams:
        return sample_params(self.config, x.shape[0], x.shape[-2], x.shape[-1], generator)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if x.ndim != 4 or not x.is_floating_point():
            raise ValueError(f"BatchAugment expects a float tensor (B, C, H, W), got {tuple(x.shape)} {x.dtype}")
        return self.apply(x, self.sample_params(x, generator))

    @torch.no_grad()
    def apply(self, x: torch.Tensor, drawn: AugmentParams) -> torch.Tensor:
        """Apply parameters drawn on any device.

        Which steps run, and on which samples, is decided where the parameters were
        drawn (the CPU for a CPU generator), so a CUDA batch is never synchronised.
        Blur and noise run on the selected samples only. ``x`` itself is not modified.
        """
        cfg = self.config
        if x.shape[0] == 0:
            return x.clone()
        p = drawn.to(x.device)
        owned = False                                         # may x be changed in place?

        def subset(selected: torch.Tensor) -> torch.Tensor | None:
            """Indices (on x's device) of the selected samples; None when all are."""
            if bool(selected.all()):
                return None
            return _to(selected.nonzero().flatten(), x.device)

        geometric = (drawn.hflip | drawn.vflip | (drawn.rot90 != 0) | (drawn.shift_y != 0) | (drawn.shift_x != 0)
                     | (drawn.scale != 1.0))
        if bool(geometric.any()):
            fill = border_fill(x, cfg.fill)
            if bool((drawn.scale != 1.0).any()):
                x = apply_scale(x, p.scale, fill)
            x, owned = apply_geometry(x, p, fill), True
        blurred = drawn.blur_sigma > 0
        if bool(blurred.any()):
            index = subset(blurred)
            if index is None:
                x, owned = apply_blur(x, p.blur_sigma, cfg.blur_sigma_range[1]), True
            else:
                part = apply_blur(x.index_select(0, index), p.blur_sigma.index_select(0, index),
                                  cfg.blur_sigma_range[1])
                x, owned = (x.index_copy_(0, index, part) if owned else x.index_copy(0, index, part)), True
        if bool(((drawn.gain != 1.0) | (drawn.offset != 0.0) | (drawn.gamma != 1.0)).any()):
            x, owned = apply_intensity(x, p.gain, p.offset, p.gamma), True
        noisy = drawn.noise_sigma > 0
        if bool(noisy.any()):
            index = subset(noisy)
            shape = (x.shape[0] if index is None else len(index),) + tuple(x.shape[1:])
            sigma = p.noise_sigma if index is None else p.noise_sigma.index_select(0, index)
            noise = gaussian_noise(shape, sigma, drawn.noise_seed, x.device, x.dtype)
            if index is None:
                x, owned = (x.add_(noise) if owned else x + noise), True
            else:
                x, owned = (x.index_add_(0, index, noise) if owned else x.index_add(0, index, noise)), True
        return x.clamp_(0.0, 1.0) if owned else x.clamp(0.0, 1.0)


def two_views(x: torch.Tensor, augment: BatchAugment, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independently augmented views of ``x``, made in one batched call of twice the size."""
    both = augment(torch.cat([x, x]), generator)
    return both[: x.shape[0]], both[x.shape[0]:]
