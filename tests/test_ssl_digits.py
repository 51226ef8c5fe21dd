"""A short SimCLR run on a real public data set beats raw pixels in a kNN probe.

Data: scikit-learn's digits (``sklearn.datasets.load_digits``: 1797 handwritten digits,
8 x 8 px, 10 classes; it ships with scikit-learn, nothing is downloaded).

Protocol:

* Pixels 0..16 are scaled to [0, 1], and the images upsampled to 16 x 16 (bilinear),
  the smallest size the convolutional encoder handles comfortably.
* A stratified 50/50 split (``random_state=0``) gives a training half (898 images) and a
  held-out test half (899). SimCLR pretrains on the training half only, without labels;
  no test image is seen before the probe.
* SimCLR (:class:`mawis.ssl.methods.SimCLR`, NT-Xent) with
  ``SmallConvEncoder(width=16, stages=2, stem_stride=1)`` (64-d embedding) and the
  project's :class:`~mawis.ssl.augment.BatchAugment` / :func:`~mawis.ssl.augment.two_views`.
  Flips and quarter turns are OFF (digits are not symmetric: a flipped 2 is no 2, a
  turned 6 is a 9); on: shifts of up to 2 px, +-15 % scale, mild blur, gain, gamma and
  noise. Budget: 400 steps of 128 images (about 57 passes over the training half),
  AdamW at lr 2e-3 with cosine decay, temperature 0.5, ``torch.manual_seed(0)`` and a
  seeded generator for batches and augmentations.
* Probe: 1-nearest-neighbour with cosine distance (L2-normalised vectors), fitted on 10
  labelled images per class (100, drawn from the training half with a fixed seed) and
  scored on the 899 test images. The same probe scores the SimCLR embedding (encoder
  output in eval mode, projection head dropped) and raw pixels; for raw pixels the
  better of the 64 original and the 256 upsampled values counts.

How the settings were chosen, without the test half: on a validation set (the training
half minus the 100 labelled images), cosine 1-NN was the strongest probe for raw pixels
among {cosine, euclidean, standardised euclidean} x {k = 1, 5} (0.926 for the 64 pixels,
against 0.886 standardised), so the probe favours the baseline. Temperature (0.2 -> 0.5),
scale jitter and the number of steps were then picked on the same validation set over
training seeds 0, 1, 2 (test accuracies were printed alongside but not used to choose).
Validation accuracy against raw pixels' 0.926: 200 steps 0.935 / 0.934 / 0.910, 400 steps
0.941 / 0.935 / 0.926, 600 steps 0.942 / 0.936 / 0.935; 400 is the compromise with the
run time (600 would take half as long again).

Measured (test half, seeds 0 / 1 / 2): SimCLR 0.930 / 0.924 / 0.927, raw pixels 0.909
(64 px; 0.908 for 256 px); seed 0 gives 0.930 with 1 thread as with 2. The test takes
about 15 s on 2 idle CPU cores.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mawis.ssl.augment import AugmentConfig, BatchAugment, two_views
from mawis.ssl.encoders import Encoder, SmallConvEncoder
from mawis.ssl.methods import MethodConfig, SimCLR

STEPS, BATCH, LR = 400, 128, 2e-3
LABELLED_PER_CLASS = 10
AUGMENT = AugmentConfig(
    hflip_p=0.0, vflip_p=0.0, rot90_p=0.0,                       # digits are not symmetric
    shift_p=1.0, max_shift_frac=0.125,                           # up to 2 px of 16
    scale_p=1.0, scale_jitter=0.15,
    blur_p=0.5, blur_sigma_range=(0.1, 1.0),
    gain_p=0.8, gain_range=(0.7, 1.3), offset_p=0.0, gamma_p=0.5, gamma_range=(-0.3, 0.3),
    noise_p=0.5, noise_sigma_range=(0.0, 0.05),
)


def digits_split(split_seed: int = 0):
    """Images (n, 1, 8, 8) and (n, 1, 16, 16) in [0, 1], labels, and the train / labelled / test indices."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x8 = torch.tensor(digits.images, dtype=torch.float32).div(16.0).unsqueeze(1)
    x16 = F.interpolate(x8, size=(16, 16), mode="bilinear", align_corners=False).clamp(0.0, 1.0)
    y = digits.target
    train, test = train_test_split(np.arange(len(y)), test_size=0.5, stratify=y, random_state=split_seed)
    rng = np.random.default_rng(split_seed)
    labelled = np.concatenate([rng.choice(train[y[train] == c], LABELLED_PER_CLASS, replace=False)
                               for c in range(10)])
    return x8, x16, y, train, labelled, test


def pretrain_simclr(images: torch.Tensor, seed: int) -> nn.Module:
    """SimCLR on ``images`` (no labels); returns the encoder in eval mode."""
    torch.manual_seed(seed)
    encoder = Encoder(SmallConvEncoder(width=16, stages=2, stem_stride=1), nn.Identity())
    method = SimCLR(encoder, MethodConfig(temperature=0.5, projection_hidden=128, projection_dim=64))
    optimizer = torch.optim.AdamW(method.parameters(), lr=LR, weight_decay=1e-4)
    augment, generator = BatchAugment(AUGMENT), torch.Generator().manual_seed(seed)
    method.train()
    for step in range(STEPS):
        for group in optimizer.param_groups:
            group["lr"] = LR * 0.5 * (1 + np.cos(np.pi * step / STEPS))
        batch = images[torch.randint(len(images), (BATCH,), generator=generator)]
        view1, view2 = two_views(batch, augment, generator)
        loss = method(view1, view2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    assert torch.isfinite(loss), float(loss)
    return encoder.eval()


def knn_accuracy(features: np.ndarray, y: np.ndarray, fit: np.ndarray, score: np.ndarray) -> float:
    """1-NN with cosine distance, fitted on rows ``fit`` and scored on rows ``score``."""
    from sklearn.neighbors import KNeighborsClassifier

    z = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    knn = KNeighborsClassifier(n_neighbors=1).fit(z[fit], y[fit])
    return float((knn.predict(z[score]) == y[score]).mean())


def simclr_vs_raw(seed: int = 0) -> dict:
    x8, x16, y, train, labelled, test = digits_split()
    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, 2))
    try:
        with torch.random.fork_rng(devices=[]):               # leave the global RNG as other tests expect it
            encoder = pretrain_simclr(x16[train], seed)
            with torch.no_grad():
                embedding = encoder(x16).numpy()
    finally:
        torch.set_num_threads(threads)
    raw = {"raw_64px": knn_accuracy(x8.flatten(1).numpy(), y, labelled, test),
           "raw_256px": knn_accuracy(x16.flatten(1).numpy(), y, labelled, test)}
    return {"simclr": knn_accuracy(embedding, y, labelled, test), **raw, "raw": max(raw.values()),
            "labelled": len(labelled), "test": len(test), "pretrain_images": len(train)}


def test_simclr_embedding_beats_raw_pixels_on_digits():
    r = simclr_vs_raw(seed=0)
    assert r["pretrain_images"] == 898 and r["labelled"] == 100 and r["test"] == 899
    assert r["simclr"] > r["raw"], (f"1-NN accuracy on {r['test']} held-out digits from {r['labelled']} labels: "
                                    f"SimCLR {r['simclr']:.3f} vs raw pixels {r['raw']:.3f} "
                                    f"(64 px {r['raw_64px']:.3f}, 256 px {r['raw_256px']:.3f})")
