"""Batched per-sample augmentations (mawis.ssl.augment): fast CPU checks on tiny tensors."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torchvision.transforms.v2.functional as TF

from mawis.errors import UsageError
from mawis.ssl.augment import (AugmentConfig, BatchAugment, augment_config_from_dict, border_fill,
                               two_views)

OFF = AugmentConfig.off()


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(b: int, h: int, w: int, seed: int = 1, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return low + (high - low) * torch.rand(b, 1, h, w, generator=gen(seed))


def dihedral(x: torch.Tensor, square: bool = True) -> list[torch.Tensor]:
    """The 8 dihedral transforms of a (C, H, W) image (4 when it is not square)."""
    out = []
    for flipped in (x, x.flip(-1)):
        for k in ((0, 1, 2, 3) if square else (0, 2)):
            out.append(torch.rot90(flipped, k, dims=(-2, -1)))
    return out


@pytest.mark.parametrize("shape", [(6, 1, 32, 32), (6, 1, 32, 80), (3, 2, 20, 12)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_range_preserved(shape, dtype):
    x = torch.rand(shape, generator=gen(3), dtype=dtype)
    cfg = replace(AugmentConfig(), blur_p=1.0, noise_p=1.0, noise_sigma_range=(0.2, 0.3))  # pushes values outside
    y = BatchAugment(cfg)(x, gen())
    assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert not torch.equal(y, x)


def test_off_is_identity():
    x = images(4, 16, 24)
    assert torch.equal(BatchAugment(OFF)(x, gen()), x)


def test_same_image_repeated_gives_different_outputs():
    x = images(1, 24, 24).expand(16, 1, 24, 24).contiguous()
    y = BatchAugment(AugmentConfig())(x, gen())
    flat = y.flatten(1)
    distinct = torch.cdist(flat, flat) + torch.eye(16) * 1e9
    assert float(distinct.min()) > 1e-3


def test_gain_is_per_sample_and_in_range():
    x = images(1, 16, 16, low=0.1, high=0.8).expand(32, 1, 16, 16)   # gain <= 1.2 never saturates
    y = BatchAugment(replace(OFF, gain_p=1.0))(x, gen())
    ratio = y.mean((1, 2, 3)) / x.mean((1, 2, 3))
    assert float(ratio.min()) >= 0.8 - 1e-6 and float(ratio.max()) <= 1.2 + 1e-6
    assert float(ratio.max() - ratio.min()) > 0.2                       # spread over the range, not one draw
    # a pure gain: every pixel of a sample is scaled by the same factor
    torch.testing.assert_close(y, x * ratio.view(-1, 1, 1, 1))


def test_offset_is_per_sample_and_in_range():
    x = images(1, 16, 16, low=0.2, high=0.8).expand(32, 1, 16, 16)
    y = BatchAugment(replace(OFF, offset_p=1.0))(x, gen())
    shift = (y - x).mean((1, 2, 3))
    assert float(shift.abs().max()) <= 0.08 + 1e-6
    assert float(shift.max() - shift.min()) > 0.08
    torch.testing.assert_close(y - x, shift.view(-1, 1, 1, 1).expand_as(x))


def test_gamma_is_per_sample_and_in_range():
    x = images(1, 16, 16, low=0.05, high=0.95).expand(32, 1, 16, 16)
    y = BatchAugment(replace(OFF, gamma_p=1.0))(x, gen())
    gamma = y.log() / x.log()                                            # y = x ** gamma
    per_sample = gamma.mean((1, 2, 3))
    torch.testing.assert_close(gamma, per_sample.view(-1, 1, 1, 1).expand_as(gamma), rtol=1e-4, atol=1e-4)
    lo, hi = torch.tensor(-0.35).exp(), torch.tensor(0.35).exp()
    assert float(per_sample.min()) >= lo - 1e-4 and float(per_sample.max()) <= hi + 1e-4
    assert float(per_sample.min()) < 0.9 and float(per_sample.max()) > 1.1


def test_probability_selects_a_share_of_samples():
    x = images(1, 8, 8, low=0.2, high=0.6).expand(400, 1, 8, 8)
    y = BatchAugment(replace(OFF, gain_p=0.25))(x, gen())
    changed = (y != x).flatten(1).any(1).float().mean()
    assert 0.15 < float(changed) < 0.35


def test_reproducible_from_the_generator_seed():
    x = images(8, 20, 28)
    aug = BatchAugment(replace(AugmentConfig(), blur_p=0.5))
    a, b, c = aug(x, gen(5)), aug(x, gen(5)), aug(x, gen(6))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    v1, v2 = two_views(x, aug, gen(5))
    w1, w2 = two_views(x, aug, gen(5))
    assert torch.equal(v1, w1) and torch.equal(v2, w2)
    assert v1.shape == x.shape and not torch.allclose(v1, v2)


def test_flips_and_quarter_turns_are_dihedral_permutations():
    x = images(1, 9, 9).expand(64, 1, 9, 9)
    y = BatchAugment(replace(OFF, hflip_p=0.5, vflip_p=0.5, rot90_p=1.0))(x, gen())
    candidates = dihedral(x[0])
    seen = set()
    for out in y:
        matches = [i for i, c in enumerate(candidates) if torch.equal(out, c)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(range(8))       # every transform occurs: drawn per sample, not once per batch


def test_non_square_uses_half_turns_only():
    x = images(1, 6, 14).expand(48, 1, 6, 14)
    y = BatchAugment(replace(OFF, hflip_p=0.5, vflip_p=0.5, rot90_p=1.0))(x, gen())
    candidates = dihedral(x[0], square=False)
    seen = {next(i for i, c in enumerate(candidates) if torch.equal(out, c)) for out in y}
    assert seen == set(range(4))


def test_geometry_matches_its_parameters():
    x = images(32, 10, 10)
    aug = BatchAugment(replace(OFF, hflip_p=0.5, vflip_p=0.5, rot90_p=1.0))
    params = aug.sample_params(x, gen(2))
    y = aug.apply(x, params)
    for i in range(len(x)):
        expected = x[i]
        if params.hflip[i]:
            expected = expected.flip(-1)
        if params.vflip[i]:
            expected = expected.flip(-2)
        expected = torch.rot90(expected, int(params.rot90[i]), dims=(-2, -1))
        assert torch.equal(y[i], expected)


def border_scene(b: int = 32, h: int = 20, w: int = 20) -> torch.Tensor:
    """A border ring (median 0.25; left column 0.15, right 0.35), a mid-grey interior and a bright
    square touching the right border."""
    x = torch.full((1, 1, h, w), 0.25)
    x[..., 1:-1, 0], x[..., 1:-1, -1] = 0.15, 0.35
    x[..., 1:-1, 1:-1] = 0.4 + 0.2 * torch.rand(h - 2, w - 2, generator=gen(9))
    x[..., 8:12, w - 4:] = 1.0
    return x.expand(b, 1, h, w).contiguous()


def test_translation_does_not_wrap_and_fills_with_border_median():
    x = border_scene()
    aug = BatchAugment(replace(OFF, shift_p=1.0, max_shift_frac=0.2))   # up to 4 pixels
    params = aug.sample_params(x, gen())
    y = aug.apply(x, params)
    assert float(border_fill(x, "median")[0]) == pytest.approx(0.25)
    assert int(params.shift_x.max()) == 4 and int(params.shift_x.min()) == -4
    assert float(y[..., :, :4].max()) < 1.0            # the bright square never reappears on the left
    for out, dy, dx in zip(y, params.shift_y.tolist(), params.shift_x.tolist()):
        if dx > 0:
            assert torch.all(out[..., :, :dx] == 0.25)   # the uncovered band holds the border median
        if dy < 0:
            assert torch.all(out[..., dy:, :] == 0.25)
        # the rest is the input moved by (dy, dx)
        src = x[0][..., max(0, -dy):20 - max(0, dy), max(0, -dx):20 - max(0, dx)]
        dst = out[..., max(0, dy):20 - max(0, -dy), max(0, dx):20 - max(0, -dx)]
        assert torch.equal(src, dst)


def test_translation_fill_mean():
    x = border_scene(b=16)
    y = BatchAugment(replace(OFF, shift_p=1.0, max_shift_frac=0.2, fill="mean"))(x, gen())
    mean = float(border_fill(x, "mean")[0])
    assert mean > 0.26                                  # the bright square lifts the mean above the median
    values = set(torch.unique(y).tolist()) - set(torch.unique(x).tolist())
    assert values and all(v == pytest.approx(mean) for v in values)


def disc(b: int, size: int = 48, radius: float = 10.0) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size) - (size - 1) / 2, torch.arange(size) - (size - 1) / 2, indexing="ij")
    one = ((yy**2 + xx**2).sqrt() <= radius).float() * 0.8 + 0.1
    return one.expand(b, 1, size, size).contiguous()


def test_no_rescaling_by_default():
    x = disc(24)
    cfg = AugmentConfig().only("hflip", "vflip", "rot90", "shift", "scale")
    assert cfg.scale_jitter == 0.0
    y = BatchAugment(cfg)(x, gen())
    area = (y > 0.5).flatten(1).sum(1).float()
    expected = float((x[0] > 0.5).sum())
    assert torch.all((area / expected - 1).abs() <= 0.01)


def test_optional_scale_jitter_changes_size_per_sample():
    x = disc(24)
    aug = BatchAugment(replace(OFF, scale_p=1.0, scale_jitter=0.3))
    params = aug.sample_params(x, gen())
    y = aug.apply(x, params)
    ratio = (y > 0.5).flatten(1).sum(1).float() / float((x[0] > 0.5).sum())
    torch.testing.assert_close(ratio, params.scale**2, rtol=0.08, atol=0.0)
    assert float(ratio.max() - ratio.min()) > 0.5


def high_frequency_energy(x: torch.Tensor) -> torch.Tensor:
    return ((x[..., 1:, :] - x[..., :-1, :]) ** 2).mean((1, 2, 3)) + ((x[..., 1:] - x[..., :-1]) ** 2).mean((1, 2, 3))


def test_blur_reduces_high_frequencies_per_sample():
    x = images(1, 24, 24).expand(16, 1, 24, 24)
    aug = BatchAugment(replace(OFF, blur_p=1.0, blur_sigma_range=(0.5, 1.5)))
    params = aug.sample_params(x, gen())
    y = aug.apply(x, params)
    energy = high_frequency_energy(y)
    assert torch.all(energy < 0.8 * high_frequency_energy(x))
    order = torch.argsort(params.blur_sigma)
    assert torch.all(energy[order][1:] <= energy[order][:-1])           # more blur, less energy: per sample


def test_blur_matches_torchvision_inside():
    x = images(6, 20, 16)
    aug = BatchAugment(replace(OFF, blur_p=1.0))
    params = aug.sample_params(x, gen())
    y = aug.apply(x, params)
    r = 4                                                                # ceil(3 * 1.2)
    for i, sigma in enumerate(params.blur_sigma.tolist()):
        ref = TF.gaussian_blur(x[i], kernel_size=[2 * r + 1] * 2, sigma=[sigma] * 2)
        torch.testing.assert_close(y[i][..., r:-r, r:-r], ref[..., r:-r, r:-r], rtol=1e-5, atol=1e-5)


def test_noise_adds_variance_per_sample():
    x = torch.full((16, 1, 32, 32), 0.5)
    aug = BatchAugment(replace(OFF, noise_p=1.0, noise_sigma_range=(0.01, 0.05)))
    params = aug.sample_params(x, gen())
    y = aug.apply(x, params)
    std = y.std((1, 2, 3))
    torch.testing.assert_close(std, params.noise_sigma, rtol=0.1, atol=0.0)
    noise = (y - x).flatten(1)
    assert float(torch.corrcoef(noise[:2]).abs()[0, 1]) < 0.2          # each sample its own noise field


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batch_with_cpu_generator():
    x = images(8, 24, 40)
    cfg = replace(AugmentConfig(), noise_p=0.0, blur_p=0.5)
    on_cpu = BatchAugment(cfg)(x, gen(4))
    on_gpu = BatchAugment(cfg)(x.cuda(), gen(4))
    assert on_gpu.device.type == "cuda" and on_gpu.shape == x.shape and on_gpu.dtype == x.dtype
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-4, atol=1e-4)   # same draws on both devices
    v1, v2 = two_views(x.cuda(), BatchAugment(AugmentConfig()), gen(4))
    w1, _ = two_views(x.cuda(), BatchAugment(AugmentConfig()), gen(4))
    assert v1.device.type == "cuda" and torch.equal(v1, w1) and not torch.allclose(v1, v2)
    assert float(v1.min()) >= 0.0 and float(v1.max()) <= 1.0
    cuda_gen = torch.Generator("cuda").manual_seed(4)                 # a generator on the GPU works too
    for batch in (x, x.cuda(), x.cuda().bfloat16()):
        out = BatchAugment(AugmentConfig())(batch, cuda_gen)
        assert out.device == batch.device and out.dtype == batch.dtype and out.shape == batch.shape


def test_config_from_dict_accepts_lists_and_defaults():
    cfg = augment_config_from_dict({"gamma_range": [-0.3, 0.3], "blur_p": 0.5, "fill": "mean"})
    assert cfg.gamma_range == (-0.3, 0.3) and cfg.blur_p == 0.5 and cfg.fill == "mean"
    assert augment_config_from_dict({}) == AugmentConfig()


@pytest.mark.parametrize("data, key", [
    ({"blurr_p": 0.3}, "blurr_p"),
    ({"gain_p": 1.5}, "gain_p"),
    ({"hflip_p": -0.1}, "hflip_p"),
    ({"noise_sigma_range": [-0.01, 0.03]}, "noise_sigma_range"),
    ({"blur_sigma_range": [-1.0, 1.0]}, "blur_sigma_range"),
    ({"gain_range": [1.2, 0.8]}, "gain_range"),
    ({"gain_range": [0.8]}, "gain_range"),
    ({"max_shift_frac": 0.7}, "max_shift_frac"),
    ({"scale_jitter": -0.1}, "scale_jitter"),
    ({"fill": "wrap"}, "fill"),
    ({"noise_p": "often"}, "noise_p"),
])
def test_config_from_dict_errors_name_the_key(data, key):
    with pytest.raises(UsageError) as info:
        augment_config_from_dict(data)
    message = str(info.value)
    assert key in message and "\n" not in message
