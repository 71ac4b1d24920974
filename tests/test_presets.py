import numpy as np
import pytest
import torch
from torch import nn

from fpgagen.core.latents import latents
from fpgagen.models.lower import Reshape
from fpgagen.models.presets import PRESETS, get_preset, load_preset
from fpgagen.models.sampling import generate

# What hls4ml 1.3.0 converts; dcgan28 alone adds ConvTranspose2d.
CONVERTIBLE = (nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.LeakyReLU, Reshape, nn.Upsample, nn.Conv2d,
               nn.Tanh, nn.Sigmoid)


def test_presets_registered():
    assert {"digits8", "mnist28", "vae28", "dcgan28"} <= set(PRESETS)


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown preset 'nope'.*digits8.*mnist28"):
        get_preset("nope")


@pytest.mark.parametrize("trained", [False, True], ids=["random-init", "shipped"])
def test_generator_maps_latents_to_images(preset_name, trained):
    spec = get_preset(preset_name).spec
    if trained:
        generator = load_preset(preset_name).module
    else:
        torch.manual_seed(0)
        generator = get_preset(preset_name).make_generator()
    images = generate(generator, latents(7, spec.latent_dim, seed=3))
    assert images.shape == (7, *spec.image_shape)
    assert images.dtype == np.float32
    lo, hi = spec.output_range
    assert np.isfinite(images).all()
    assert images.min() >= lo and images.max() <= hi
    assert images.std() > 0.01, "a generator that outputs a constant image"


def test_layer_vocabulary(preset_name):
    preset = get_preset(preset_name)
    layers = list(preset.make_generator())
    foreign = [type(m).__name__ for m in layers if not isinstance(m, CONVERTIBLE)]
    if preset_name == "dcgan28":
        assert set(foreign) == {"ConvTranspose2d"}  # converted by fpgagen's hls4ml extension
    else:
        assert foreign == []
    for m in layers:
        if isinstance(m, nn.Upsample):
            assert m.mode == "nearest" and m.scale_factor == 2
        if isinstance(m, nn.Conv2d):
            assert isinstance(m.padding, tuple) and m.stride == (1, 1)


def test_latents_are_seeded_and_validated():
    assert np.array_equal(latents(5, 16, seed=1), latents(5, 16, seed=1))
    assert not np.array_equal(latents(5, 16, seed=1), latents(5, 16, seed=2))
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="number of samples"):
            latents(bad, 16)
