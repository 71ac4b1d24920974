"""Training: DCGAN-style adversarial training for GAN presets, the ELBO for VAE presets.

Runs are seeded and reproducible on one machine: the same seed, preset and epochs give the same weights.
:func:`train_preset` trains, measures quality (:mod:`fpgagen.models.metrics`) and writes the checkpoint with its
metrics.json.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from fpgagen.core.latents import latents
from fpgagen.models.checkpoint import save_checkpoint
from fpgagen.models.cost import macs_per_image, parameter_count
from fpgagen.models.data import load_dataset
from fpgagen.models.generator import Generator
from fpgagen.models.metrics import quality, reference_metrics, to_signed_unit
from fpgagen.models.presets import Preset, get_preset


@dataclass
class TrainResult:
    """A trained preset: its modules by checkpoint prefix, per-epoch mean losses and the wall time."""

    preset: Preset
    modules: dict[str, nn.Module]
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def generator(self) -> nn.Module:
        return self.modules["generator"]


def _batches(n: int, batch_size: int, shuffle: torch.Generator):
    """Shuffled full batches (a last partial batch would upset BatchNorm statistics)."""
    order = torch.randperm(n, generator=shuffle)
    return order[: n - n % batch_size].split(batch_size)


@torch.no_grad()
def recalibrate_batchnorm(generator: nn.Module, latent_dim: int, seed: int, batches: int = 32, batch_size: int = 256):
    """Replace BatchNorm running statistics by exact population averages over fresh latents.

    The exponential averages taken during adversarial training lag the generator and degrade its eval-mode
    output; the deployed (folded) model uses these statistics, so they must be right.
    """
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    generator.train()
    rng = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        generator(torch.randn(batch_size, latent_dim, generator=rng))
    for m in norms:
        m.momentum = 0.1
    generator.eval()


def train_gan(preset: Preset, seed: int, epochs: int, progress: bool = True) -> TrainResult:
    """Adversarial training with the non-saturating loss, one-sided label smoothing and Adam(0.5, 0.999)."""
    torch.manual_seed(seed)
    images = torch.from_numpy(load_dataset(preset.training.dataset).train.images)
    generator, discriminator = preset.make_generator(), preset.training.make_partner()
    opt_g = torch.optim.Adam(generator.parameters(), lr=preset.training.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=preset.training.lr, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    shuffle = torch.Generator().manual_seed(seed)
    noise = torch.Generator().manual_seed(seed + 1)
    history: dict[str, list[float]] = {"loss_d": [], "loss_g": []}
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=f"train {preset.name}", disable=not progress)
    for _ in bar:
        generator.train()
        discriminator.train()
        sums = np.zeros(2)
        batches = _batches(len(images), preset.training.batch_size, shuffle)
        for idx in batches:
            real = images[idx]
            fake = generator(torch.randn(len(idx), preset.spec.latent_dim, generator=noise))
            logits_real, logits_fake = discriminator(real), discriminator(fake.detach())
            loss_d = bce(logits_real, torch.full_like(logits_real, 0.9)) + bce(
                logits_fake, torch.zeros_like(logits_fake)
            )
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()

            logits = discriminator(fake)
            loss_g = bce(logits, torch.ones_like(logits))
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            sums += (loss_d.item(), loss_g.item())
        history["loss_d"].append(sums[0] / len(batches))
        history["loss_g"].append(sums[1] / len(batches))
        bar.set_postfix(loss_d=f"{history['loss_d'][-1]:.3f}", loss_g=f"{history['loss_g'][-1]:.3f}")
    recalibrate_batchnorm(generator, preset.spec.latent_dim, seed)
    return TrainResult(preset, {"generator": generator.eval()}, history, time.perf_counter() - start)


def elbo_loss(encoder: nn.Module, decoder: nn.Module, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Negative ELBO per image: Bernoulli reconstruction of x in [0, 1] plus KL to N(0, I)."""
    mean, log_var = encoder(x).chunk(2, dim=1)
    z = mean + torch.exp(0.5 * log_var) * eps
    recon = nn.functional.binary_cross_entropy(decoder(z), x, reduction="sum")
    kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp())
    return (recon + kl) / len(x)


def train_vae(preset: Preset, seed: int, epochs: int, progress: bool = True) -> TrainResult:
    torch.manual_seed(seed)
    images = torch.from_numpy(load_dataset(preset.training.dataset).train.images) * 0.5 + 0.5
    decoder, encoder = preset.make_generator(), preset.training.make_partner()
    params = list(decoder.parameters()) + list(encoder.parameters())
    optimizer = torch.optim.Adam(params, lr=preset.training.lr)
    shuffle = torch.Generator().manual_seed(seed)
    noise = torch.Generator().manual_seed(seed + 1)
    history: dict[str, list[float]] = {"loss": []}
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=f"train {preset.name}", disable=not progress)
    for _ in bar:
        decoder.train()
        encoder.train()
        total = 0.0
        batches = _batches(len(images), preset.training.batch_size, shuffle)
        for idx in batches:
            eps = torch.randn(len(idx), preset.spec.latent_dim, generator=noise)
            loss = elbo_loss(encoder, decoder, images[idx], eps)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        history["loss"].append(total / len(batches))
        bar.set_postfix(loss=f"{history['loss'][-1]:.1f}")
    return TrainResult(
        preset, {"generator": decoder.eval(), "encoder": encoder.eval()}, history, time.perf_counter() - start
    )


TRAINERS = {"gan": train_gan, "vae": train_vae}


def train(name: str, seed: int = 0, epochs: int | None = None, progress: bool = True) -> TrainResult:
    """Train preset ``name`` for ``epochs`` (default: the preset's) from ``seed``."""
    preset = get_preset(name)
    epochs = preset.training.epochs if epochs is None else epochs
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    return TRAINERS[preset.training.kind](preset, seed, epochs, progress)


def evaluate(generator: Generator, n: int | None = None, seed: int = 0) -> dict:
    """Quality of ``n`` samples (default: as many as held-out digits) beside the real and noise references."""
    spec = generator.spec
    if spec.dataset is None:
        raise ValueError(f"{spec.name}: no digit dataset to judge its images against")
    n = len(load_dataset(spec.dataset).held_out) if n is None else n
    images = to_signed_unit(generator.generate(latents(n, spec.latent_dim, seed)), spec.output_range)
    return {"n": n, "seed": seed, "generated": quality(images, spec.dataset),
            **reference_metrics(spec.dataset, n, seed)}


def train_preset(name: str, out: Path, seed: int = 0, epochs: int | None = None, progress: bool = True) -> dict:
    """Train, evaluate and save preset ``name`` to ``out`` (+ metrics.json); returns the metrics."""
    result = train(name, seed, epochs, progress)
    preset = result.preset
    metrics = {
        "preset": preset.name,
        "kind": preset.training.kind,
        "dataset": preset.training.dataset,
        "latent_dim": preset.spec.latent_dim,
        "image_shape": list(preset.spec.image_shape),
        "generator_parameters": parameter_count(result.generator),
        "macs_per_image": macs_per_image(result.generator, preset.spec.latent_dim),
        "seed": seed,
        "epochs": len(next(iter(result.history.values()))),
        "train_seconds": round(result.seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "final_losses": {k: round(v[-1], 4) for k, v in result.history.items()},
        "quality": evaluate(Generator(preset.spec, result.generator), seed=seed),
    }
    save_checkpoint(out, preset.name, result.modules, metrics)
    return metrics
