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


def make_generator_model():
    """TensorFlow's DCGAN tutorial generator (tensorflow.org/tutorials/generative/dcgan), in Keras 3."""
    keras = keras_on_torch()
    from keras import layers

    model = keras.Sequential()
    model.add(keras.Input((LATENT_DIM,)))
    model.add(layers.Dense(7 * 7 * 256, use_bias=False))
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())

    model.add(layers.Reshape((7, 7, 256)))
    _expect(model, (None, 7, 7, 256))  # None is the batch size

    model.add(layers.Conv2DTranspose(128, (5, 5), strides=(1, 1), padding="same", use_bias=False))
    _expect(model, (None, 7, 7, 128))
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())

    model.add(layers.Conv2DTranspose(64, (5, 5), strides=(2, 2), padding="same", use_bias=False))
    _expect(model, (None, 14, 14, 64))
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


def save_generator(path: Path, seed: int = 0) -> Path:
    """The tutorial's generator with seeded weights (``keras.utils.set_random_seed(seed)``) and BatchNormalization
    statistics (:func:`set_batchnorm_statistics`), saved to ``path`` (a ``.keras`` file); returns ``path``."""
    keras = keras_on_torch()
    keras.utils.set_random_seed(seed)
    model = make_generator_model()
    set_batchnorm_statistics(model, seed=seed)
    path = Path(path)
    model.save(path)
    return path
