"""Images from a torch generator module, and image grids: what ``fpgagen sample`` and ``fpgagen eval`` stand on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from fpgagen.core.cache import replacing


@torch.no_grad()
def generate(generator: nn.Module, z: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Images (N, C, H, W) float32 for latents ``z`` (N, latent_dim), in the generator's output range."""
    generator.eval()
    z = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))
    return torch.cat([generator(chunk) for chunk in z.split(batch_size)]).numpy()


def image_grid(images: np.ndarray, output_range: tuple[float, float], cols: int | None = None, scale: int = 1,
               pad: int = 1) -> np.ndarray:
    """Tile images (N, 1, H, W) into one uint8 (rows, cols) picture, ``pad`` grey pixels between tiles."""
    n, _, h, w = images.shape
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    lo, hi = output_range
    pixels = np.clip((images[:, 0] - lo) / (hi - lo), 0.0, 1.0)
    pixels = np.round(pixels * 255).astype(np.uint8).repeat(scale, 1).repeat(scale, 2)
    h, w = h * scale, w * scale
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 96, np.uint8)
    for i, tile in enumerate(pixels):
        r, c = divmod(i, cols)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = tile
    return grid


def save_grid(images: np.ndarray, path: Path, output_range: tuple[float, float]) -> Path:
    """Write an image grid PNG, scaled so that each tile is at least 56 pixels wide."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"image grid must be written as .png, got {path}")
    scale = max(1, 56 // images.shape[-1])
    with replacing(path) as tmp:
        Image.fromarray(image_grid(images, output_range, scale=scale)).save(tmp)
    return path
