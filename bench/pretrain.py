"""Benchmark: SSL pretraining throughput (images/s): model only, the mawis pipeline, a DataLoader baseline.

    .venv/bin/python bench/pretrain.py [--device auto|cpu|cuda] [--methods simclr moco byol]
        [--encoders small resnet18] [--batch-size N] [--steps N] [--warmup N] [--size PX]
        [--workers N] [--json FILE]

Measures and prints; asserts nothing. One image is one sample, from which two views
are made. For each method and encoder, three modes run the same training step
(method loss, AdamW, ``after_step``; on CUDA with bf16 autocast and channels_last,
as ``mawis/ssl/train.py``):

* ``model-only``: two fixed random float views already on the device: no data, no
  augmentation, no host transfer. The upper bound.
* ``pipeline``: what mawis does. A uint8 tensor of ``--images`` crops (1 x size x
  size) in host memory; each step gathers a random batch into pinned staging memory
  (``BatchFeeder``), copies it as uint8 to the device and makes two views there with ``two_views``
  (per-sample parameters from a CPU generator).
* ``dataloader``: the conventional baseline. A ``torch.utils.data.DataLoader`` over
  a Dataset that makes two views per sample with torchvision.transforms.v2 per-sample
  CPU transforms of comparable content (flips, quarter turns, a small translation,
  blur, brightness/contrast, gamma, Gaussian noise) in ``--workers`` worker
  processes, pinned on CUDA, then copied to the device as float32.

Defaults: CPU: encoder small, batch 128, 20 steps, 0 workers (about 1 minute on 2
idle cores); CUDA: encoders small and resnet18, batch 256, 50 steps, min(8, CPU
cores) workers (a generous baseline: the usual 4-8 workers per GPU). On the CPU,
workers only compete with the training step's threads for the same cores: on 2
cores, 2 workers made the dataloader mode about 3x slower than 0 (the step's OpenMP
threads stall whenever a worker takes their core), so 0 is the stronger baseline
there. Images are 64 px for small and 128 px for resnet18 (``--size`` sets one size
for all). Each mode first runs ``--warmup`` steps (which also start the
DataLoader's workers), then times ``--steps`` steps, synchronising CUDA before
reading the clock. On a GPU (H100/H200, about 2 minutes):

    .venv/bin/python bench/pretrain.py --device cuda --steps 100 --warmup 10 --json pretrain-gpu.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler
from torchvision.transforms import v2

from mawis.ssl.augment import AugmentConfig, BatchAugment, two_views
from mawis.ssl.config import PretrainConfig
from mawis.ssl.data import BatchFeeder
from mawis.ssl.methods import METHODS, build_method
from mawis.ssl.train import optimisation_step

MODES = ("model-only", "pipeline", "dataloader")
DEFAULT_SIZE = {"small": 64, "resnet18": 128}


def usable_cores() -> int:
    with contextlib.suppress(AttributeError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--encoders", nargs="+", choices=tuple(DEFAULT_SIZE),
                        help="default: small on the CPU, small resnet18 on CUDA")
    parser.add_argument("--batch-size", type=int, help="images per step (default 128 on the CPU, 256 on CUDA)")
    parser.add_argument("--steps", type=int, help="timed steps per mode (default 20 on the CPU, 50 on CUDA)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before each timed run")
    parser.add_argument("--size", type=int, help="image side in px (default 64 for small, 128 for resnet18)")
    parser.add_argument("--images", type=int, default=4096, help="images held in host memory")
    parser.add_argument("--workers", type=int,
                        help="DataLoader workers (default 0 on the CPU, min(8, cores) on CUDA)")
    parser.add_argument("--input-transform", default="optical_depth", choices=("optical_depth", "none"),
                        help="the encoder's input transform (mawis uses optical_depth for X-ray)")
    parser.add_argument("--json", type=Path, help="also write every row to this JSON file")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available here")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    args.device = torch.device(args.device)
    gpu = args.device.type == "cuda"
    args.encoders = args.encoders or (["small", "resnet18"] if gpu else ["small"])
    args.batch_size = args.batch_size or (256 if gpu else 128)
    args.steps = args.steps or (50 if gpu else 20)
    if args.workers is None:
        args.workers = min(8, usable_cores()) if gpu else 0
    if args.batch_size < 2 or args.steps < 1 or args.warmup < 0 or args.images < args.batch_size:
        parser.error("need --batch-size >= 2, --steps >= 1, --warmup >= 0 and --images >= --batch-size")
    return args


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or "CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {usable_cores()} cores"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class TrainStep:
    """One optimiser step of ``method`` on two views, as in ``mawis/ssl/train.py``."""

    def __init__(self, method: str, encoder: str, input_transform: str, device: torch.device, total_steps: int):
        cfg = PretrainConfig()
        torch.manual_seed(0)
        self.cuda = device.type == "cuda"
        self.method = build_method(method, encoder, cfg.method_config, input_transform).to(device)
        if self.cuda:
            self.method = self.method.to(memory_format=torch.channels_last)
        self.method.train()
        params = [p for p in self.method.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.step, self.total = 0, total_steps

    def __call__(self, view1: torch.Tensor, view2: torch.Tensor) -> None:
        self.step += 1
        optimisation_step(self.method, self.method, self.optimizer, view1, view2, min(1.0, self.step / self.total))


def time_steps(train_step: TrainStep, next_views, warmup: int, steps: int, device: torch.device) -> float:
    """Seconds for ``steps`` steps after ``warmup`` untimed ones."""
    for _ in range(warmup):
        train_step(*next_views())
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        train_step(*next_views())
    synchronize(device)
    return time.perf_counter() - start


# --- the three data sources -------------------------------------------------------------------------

def model_only_views(batch: int, size: int, device: torch.device):
    """The same two random views every step, already on the device."""
    memory = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    views = [torch.rand(batch, 1, size, size, device=device).contiguous(memory_format=memory) for _ in range(2)]
    return lambda: views


def pipeline_views(inputs: torch.Tensor, batch: int, device: torch.device):
    """mawis: gather a random uint8 batch into pinned staging memory, copy it, augment it on the device."""
    augment, generator = BatchAugment(AugmentConfig()), torch.Generator().manual_seed(0)
    feed = BatchFeeder(inputs, batch, device)

    def next_views():
        index = torch.randint(len(inputs), (batch,), generator=generator)
        return two_views(feed(index), augment, generator)
    return next_views


class RandomRot90(torch.nn.Module):
    """A uniformly drawn number of quarter turns (square images)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.rot90(x, int(torch.randint(0, 4, ())), dims=(-2, -1))


class RandomGamma(torch.nn.Module):
    """``x ** gamma`` with log(gamma) ~ U(-limit, limit), as mawis's display gamma."""

    def __init__(self, limit: float = 0.35):
        super().__init__()
        self.limit = limit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_gamma = (torch.rand(()) * 2 - 1) * self.limit
        return x.clamp(0.0, 1.0).pow(float(log_gamma.exp()))


def cpu_transform(cfg: AugmentConfig = AugmentConfig()) -> v2.Compose:
    """Per-sample torchvision v2 transforms with the content and probabilities of mawis's defaults."""
    radius = max(1, int(3.0 * cfg.blur_sigma_range[1] + 0.999))
    return v2.Compose([
        v2.RandomHorizontalFlip(cfg.hflip_p),
        v2.RandomVerticalFlip(cfg.vflip_p),
        RandomRot90(),
        v2.RandomAffine(degrees=0.0, translate=(cfg.max_shift_frac, cfg.max_shift_frac)),
        v2.RandomApply([v2.GaussianBlur(2 * radius + 1, sigma=cfg.blur_sigma_range)], p=cfg.blur_p),
        v2.RandomApply([v2.ColorJitter(brightness=0.2, contrast=0.2)], p=cfg.gain_p),
        v2.RandomApply([RandomGamma(cfg.gamma_range[1])], p=cfg.gamma_p),
        v2.RandomApply([v2.GaussianNoise(sigma=cfg.noise_sigma_range[1])], p=cfg.noise_p),
    ])


class TwoViewDataset(Dataset):
    """Sample i -> two independently transformed float views of uint8 image i."""

    def __init__(self, images: torch.Tensor):
        self.images, self.transform = images, cpu_transform()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[i].float().div_(255.0)
        return self.transform(x), self.transform(x)


def dataloader_views(images: torch.Tensor, batch: int, batches: int, workers: int, device: torch.device):
    """The conventional loader: CPU transforms in worker processes, pinned batches, copy to the device."""
    dataset = TwoViewDataset(images)
    sampler = RandomSampler(dataset, replacement=True, num_samples=batch * batches,
                            generator=torch.Generator().manual_seed(0))
    loader = DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True,
                        pin_memory=device.type == "cuda")
    batches_iter = iter(loader)

    def next_views():
        view1, view2 = next(batches_iter)
        return view1.to(device, non_blocking=True), view2.to(device, non_blocking=True)
    return next_views


# --- running and reporting --------------------------------------------------------------------------

def bench_row(method: str, encoder: str, mode: str, images: torch.Tensor, args) -> dict:
    """One table row."""
    size, batch, device = images.shape[-1], args.batch_size, args.device
    step = TrainStep(method, encoder, args.input_transform, device, args.warmup + args.steps)
    if mode == "model-only":
        views = model_only_views(batch, size, device)
    elif mode == "pipeline":
        views = pipeline_views(images, batch, device)
    else:
        views = dataloader_views(images, batch, args.warmup + args.steps, args.workers, device)
    seconds = time_steps(step, views, args.warmup, args.steps, device)
    return {"method": method, "encoder": encoder, "mode": mode, "size": size, "batch": batch,
            "steps": args.steps, "workers": args.workers if mode == "dataloader" else 0,
            "seconds": seconds, "images_per_s": batch * args.steps / seconds,
            "ms_per_step": 1000.0 * seconds / args.steps}


def header(args) -> dict:
    return {"device": device_name(args.device), "device_type": args.device.type, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "cpus": usable_cores(), "workers": args.workers,
            "load_avg_1min": os.getloadavg()[0], "batch": args.batch_size, "steps": args.steps,
            "warmup": args.warmup, "images": args.images, "input_transform": args.input_transform}


def print_rows(rows: list[dict]) -> None:
    print("| method | encoder | mode | px | batch | workers | ms/step | images/s |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['method']} | {r['encoder']} | {r['mode']} | {r['size']} | {r['batch']} | {r['workers']} "
              f"| {r['ms_per_step']:.1f} | {r['images_per_s']:.0f} |")


def print_summary(rows: list[dict]) -> None:
    rate = {(r["method"], r["encoder"], r["mode"]): r["images_per_s"] for r in rows}
    print("\n| method | encoder | pipeline / model-only | pipeline / dataloader | pipeline beats dataloader |")
    print("|---|---|---:|---:|---|")
    for method, encoder in dict.fromkeys((r["method"], r["encoder"]) for r in rows):
        model, pipe, loader = (rate.get((method, encoder, m)) for m in ("model-only", "pipeline", "dataloader"))
        ratio = f"{pipe / model:.2f}" if pipe and model else "-"
        versus = f"{pipe / loader:.2f}" if pipe and loader else "-"
        beats = ("yes" if pipe > loader else "no") if pipe and loader else "-"
        print(f"| {method} | {encoder} | {ratio} | {versus} | {beats} |")


def main() -> None:
    args = parse_args()
    info = header(args)
    print(f"device={args.device.type} ({info['device']}) torch={info['torch']} threads={info['threads']} "
          f"cpus={info['cpus']} workers={args.workers} load1={info['load_avg_1min']:.2f} "
          f"batch={args.batch_size} steps={args.steps} warmup={args.warmup} images={args.images} "
          f"input_transform={args.input_transform}\n", flush=True)
    rows, start = [], time.perf_counter()
    for encoder in args.encoders:
        size = args.size or DEFAULT_SIZE[encoder]
        images = torch.randint(0, 256, (args.images, 1, size, size), dtype=torch.uint8,
                               generator=torch.Generator().manual_seed(0))
        for method in args.methods:
            for mode in MODES:
                rows.append(bench_row(method, encoder, mode, images, args))
                if args.device.type == "cuda":
                    torch.cuda.empty_cache()
    print_rows(rows)
    print_summary(rows)
    print(f"\ntotal {time.perf_counter() - start:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"header": info, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
