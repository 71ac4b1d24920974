import json

import numpy as np
import pytest

from fpgagen.models.checkpoint import default_checkpoint, metrics_path
from fpgagen.models.classifier import accuracy, load_classifier
from fpgagen.models.data import load_dataset
from fpgagen.models.metrics import frechet_distance, quality
from fpgagen.models.presets import load_preset
from fpgagen.models.train import evaluate


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20000, 4))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    # N(0, I) vs N(m, 4I) in D dims: |m|^2 + D * (1 + 4 - 2 * 2)
    b = rng.standard_normal((20000, 4)) * 2.0 + np.array([1.0, 0.0, 2.0, 0.0])
    assert frechet_distance(a, b) == pytest.approx(5.0 + 4.0, rel=0.05)


@pytest.mark.parametrize("dataset", ["digits8", "mnist28"])
def test_shipped_classifier_accuracy(dataset):
    data = load_dataset(dataset)
    measured = accuracy(load_classifier(dataset), data.held_out.images, data.held_out.labels)
    name = {"digits8": "classifier8", "mnist28": "classifier28"}[dataset]
    recorded = json.loads(metrics_path(default_checkpoint(name)).read_text())
    assert measured == pytest.approx(recorded["test_accuracy"], abs=1e-6)
    assert measured > 0.95


def test_frechet_orders_real_generated_noise(preset_name):
    q = evaluate(load_preset(preset_name))
    assert q["real"]["frechet"] < q["generated"]["frechet"] < q["noise"]["frechet"]
    assert q["generated"]["recognizability"] > q["noise"]["recognizability"]
    recorded = json.loads(metrics_path(default_checkpoint(preset_name)).read_text())["quality"]
    assert q["generated"]["frechet"] == pytest.approx(recorded["generated"]["frechet"], rel=1e-3)


def test_quality_rejects_bad_images():
    with pytest.raises(ValueError, match=r"must have shape \(N, 1, 8, 8\)"):
        quality(np.zeros((4, 1, 28, 28), np.float32), "digits8")
    with pytest.raises(ValueError, match="NaN or Inf"):
        quality(np.full((4, 1, 8, 8), np.nan, np.float32), "digits8")
