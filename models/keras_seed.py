"""The seed document's generator in Keras 3: TensorFlow's DCGAN tutorial's ``make_generator_model``, untrained
but with realistic BatchNormalization statistics, saved as a ``.keras`` file (for tests of the Keras front end and
benches).

:func:`make_generator_model` writes the tutorial's model layer for layer (the tutorial's
``Dense(..., input_shape=(100,))`` is ``keras.Input((100,))`` first in Keras 3). :func:`set_batchnorm_statistics`
gives each BatchNormalization the mean and variance of its own input on a batch of normal latents (what training
leaves in its moving statistics, up to the training drift) and non-trivial gamma and beta, seeded.
:func:`save_generator` does both and saves the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fpgagen.models.keras_import import keras_on_torch

LATENT_DIM = 100
IMAGE_SHAPE = (1, 28, 28)  # (C, H, W); Keras's output is (28, 28, 1)


def make_generator_model(latent_dim: int = LATENT_DIM, widths: tuple[int, int, int] = (256, 128, 64)):
    """TensorFlow's DCGAN tutorial generator (tensorflow.org/tutorials/generative/dcgan), in Keras 3; ``widths``
    (the channels after the Dense and the two stride-1 and stride-2 transposed convolutions) and ``latent_dim`` shrink
    it layer for layer (``fpgagen examples`` writes a (16, 8, 4) one)."""
    keras = keras_on_torch()
    from keras import layers

    dense, first, second = widths
    model = keras.Sequential()
    model.add(keras.Input((latent_dim,)))
    model.add(layers.Dense(7 * 7 * dense, use_bias=False))
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())

    model.add(layers.Reshape((7, 7, dense)))
    _expect(model, (None, 7, 7, dense))  # None is the batch size

    model.add(layers.Conv2DTranspose(first, (5, 5), strides=(1, 1), padding="same", use_bias=False))
    _expect(model, (None, 7, 7, first))
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())

    model.add(layers.Conv2DTranspose(second, (5, 5), strides=(2, 2), padding="same", use_bias=False))
    _expect(model, (None, 14, 14, second))
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())

    model.add(layers.Conv2DTranspose(1, (5, 5), strides=(2, 2), padding="same", use_bias=False, activation="tanh"))
    _expect(model, (None, 28, 28, 1))
    return model


def _expect(model, shape: tuple) -> None:
    if tuple(model.output_shape) != shape:
        raise RuntimeError(f"the tutorial's generator has output shape {model.output_shape} here, not {shape}")


def set_batchnorm_statistics(model, n: int = 256, seed: int = 0) -> None:
    """Give every BatchNormalization of a Sequential ``model`` realistic inference statistics, in place.

    The layers run one by one (inference mode) on ``n`` standard normal latents of ``seed``; each
    BatchNormalization gets the per-channel mean and variance of its input, gamma uniform in [0.5, 1.5] and beta
    normal with deviation 0.1, before the batch goes on through it.
    """
    keras = keras_on_torch()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, model.input_shape[-1])).astype(np.float32)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            axes = tuple(range(x.ndim - 1))
            c = x.shape[-1]
            layer.moving_mean.assign(x.mean(axis=axes))
            layer.moving_variance.assign(x.var(axis=axes))
            layer.gamma.assign(rng.uniform(0.5, 1.5, c).astype(np.float32))
            layer.beta.assign((0.1 * rng.standard_normal(c)).astype(np.float32))
        x = keras.ops.convert_to_numpy(layer(x, training=False))


def save_generator(path: Path, seed: int = 0, latent_dim: int = LATENT_DIM,
                   widths: tuple[int, int, int] = (256, 128, 64)) -> Path:
    """The tutorial's generator (at ``latent_dim`` and ``widths``, :func:`make_generator_model`) with seeded weights
    (``keras.utils.set_random_seed(seed)``) and BatchNormalization statistics (:func:`set_batchnorm_statistics`),
    saved to ``path`` (a ``.keras`` file); returns ``path``."""
    keras = keras_on_torch()
    keras.utils.set_random_seed(seed)
    model = make_generator_model(latent_dim, widths)
    set_batchnorm_statistics(model, seed=seed)
    path = Path(path)
    model.save(path)
    return path
