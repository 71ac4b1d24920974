"""Digit classifiers that judge generated images: one per resolution, trained on the same offline data.

Their softmax gives recognizability and class coverage, their penultimate layer the features for the Frechet
distance (see :mod:`fpgagen.models.metrics`). Each is trained on its dataset's train split only; the test
accuracy on the held-out split is recorded beside the checkpoint.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from fpgagen.models.checkpoint import default_checkpoint, load_checkpoint, save_checkpoint
from fpgagen.models.data import load_dataset

FEATURES = 64


class DigitClassifier(nn.Module):
    """``body`` maps images in [-1, 1] to FEATURES features; ``head`` maps those to 10 logits."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body
        self.head = nn.Linear(FEATURES, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _classifier8() -> DigitClassifier:
    return DigitClassifier(
        nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 4 * 4, FEATURES), nn.ReLU(),
        )
    )


def _classifier28() -> DigitClassifier:
    return DigitClassifier(
        nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 7 * 7, FEATURES), nn.ReLU(),
        )
    )


# classifier name -> (dataset it judges, builder, training epochs)
CLASSIFIERS = {
    "classifier8": ("digits8", _classifier8, 40),
    "classifier28": ("mnist28", _classifier28, 12),
}


def classifier_name(dataset: str) -> str:
    for name, (ds, _, _) in CLASSIFIERS.items():
        if ds == dataset:
            return name
    raise ValueError(f"no classifier for dataset {dataset!r}")


def build_classifier(name: str) -> DigitClassifier:
    if name not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {name!r}; known: {', '.join(CLASSIFIERS)}")
    return CLASSIFIERS[name][1]()


_loaded: dict[str, DigitClassifier] = {}


def load_classifier(dataset: str) -> DigitClassifier:
    """The shipped classifier for ``dataset``, in eval mode (cached per process)."""
    name = classifier_name(dataset)
    if name not in _loaded:
        model = build_classifier(name)
        load_checkpoint(default_checkpoint(name), name, {"classifier": model})
        _loaded[name] = model.eval()
    return _loaded[name]


@torch.no_grad()
def accuracy(model: DigitClassifier, images: np.ndarray, labels: np.ndarray) -> float:
    model.eval()
    logits = model(torch.from_numpy(images))
    return float((logits.argmax(1).numpy() == labels).mean())


def train_classifier(name: str, seed: int = 0, epochs: int | None = None, progress: bool = True) -> tuple[
    DigitClassifier, dict
]:
    """Train classifier ``name`` on its dataset's train split; returns the model and its metrics."""
    from tqdm import tqdm

    dataset_name, _, default_epochs = CLASSIFIERS[name]
    epochs = default_epochs if epochs is None else epochs
    data = load_dataset(dataset_name)
    torch.manual_seed(seed)
    model = build_classifier(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, labels = torch.from_numpy(data.train.images), torch.from_numpy(data.train.labels)
    shuffle = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in tqdm(range(epochs), desc=f"train {name}", disable=not progress):
        model.train()
        for idx in torch.randperm(len(labels), generator=shuffle).split(64):
            loss = nn.functional.cross_entropy(model(images[idx]), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    metrics = {
        "model": name,
        "dataset": dataset_name,
        "seed": seed,
        "epochs": epochs,
        "train_seconds": round(seconds, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_accuracy": accuracy(model, data.train.images, data.train.labels),
        "test_accuracy": accuracy(model, data.held_out.images, data.held_out.labels),
        "test_images": len(data.held_out),
    }
    return model.eval(), metrics


def train_and_save_classifier(name: str, out, seed: int = 0, epochs: int | None = None) -> dict:
    model, metrics = train_classifier(name, seed=seed, epochs=epochs)
    save_checkpoint(out, name, {"classifier": model}, metrics)
    return metrics
