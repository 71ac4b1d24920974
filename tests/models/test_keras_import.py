"""The Keras 3 front end on the seed document's generator (TensorFlow's DCGAN tutorial, models/keras_seed.py): the
import check against Keras's own predict, layout and padding mix-ups caught, golden == C simulation == RTL twin bit
for bit, the accelerator project, Keras's 'same' crops, refusals."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fpgagen.core import golden
from fpgagen.core.accuracy import psnr_db
from fpgagen.core.errors import LoweringError
from fpgagen.core.float_model import FloatModel
from fpgagen.core.latents import latents
from fpgagen.core.quantize import calibrate, quantize_float
from fpgagen.models.keras_import import keras_on_torch, keras_transposed_crops, lower_keras, read_keras
from fpgagen.models.keras_seed import IMAGE_SHAPE, LATENT_DIM, save_generator
from fpgagen.overlays.boards import get_board

keras = keras_on_torch()
layers = keras.layers

SPAN = 2.0  # tanh's output range
TOLERANCE = 1e-4 * SPAN  # the import check: Keras predict vs the FloatModel
WIDTHS = (8, 7)  # data, weight: dcgan28's measured widths; 34.7 dB against float on 64 latents of seed 5


@pytest.fixture(scope="module")
def seed_file(tmp_path_factory) -> Path:
    return save_generator(tmp_path_factory.mktemp("keras") / "generator.keras", seed=0)


@pytest.fixture(scope="module")
def source(seed_file):
    return read_keras(seed_file, "keras_dcgan")


@pytest.fixture(scope="module")
def quantized(source):
    fm = source.float_model
    return quantize_float(fm, calibrate(fm), widths=WIDTHS, budget=get_board("zcu102").folding_budget())


def _worst(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).max())


# --------------------------------------------------------------------------------------------- the import


def test_the_seed_lowers_with_keras_same_as_an_end_crop(source):
    fm = source.float_model
    assert source.framework == f"keras {keras.__version__} (torch backend)"
    assert (fm.latent_dim, fm.image_shape, fm.output_range) == (LATENT_DIM, IMAGE_SHAPE, (-1.0, 1.0))
    assert [(lr.name, lr.out_shape) for lr in fm.layers] == [
        ("dense_0", (12544,)), ("leaky_relu_1", (12544,)), ("reshape_2", (256, 7, 7)),
        ("conv_transpose2d_3", (128, 7, 7)), ("leaky_relu_4", (128, 7, 7)), ("conv_transpose2d_5", (64, 14, 14)),
        ("leaky_relu_6", (64, 14, 14)), ("conv_transpose2d_7", (1, 28, 28)), ("tanh_8", (1, 28, 28))]
    geometry = [(lr.stride, lr.padding, lr.output_padding) for lr in fm.layers if lr.kind == "conv_transpose2d"]
    assert geometry == [(1, 2, 0), (2, 1, -1), (2, 1, -1)]
    assert [lr.alpha for lr in fm.layers if lr.kind == "leaky_relu"] == pytest.approx([0.3] * 3)  # Keras 3's default


def test_the_import_check_on_the_seed(source):
    z = latents(256, LATENT_DIM, seed=3)
    want, got = source.run(z), source.float_model.run(z)
    assert want.shape == got.shape == (256, *IMAGE_SHAPE) and want.dtype == got.dtype == np.float32
    assert want.std() > 0.1, "degenerate test: the images hardly vary"
    assert _worst(got, want) <= TOLERANCE  # measured 2.8e-6


def _mixed_up(fm: FloatModel, *, hwc_as_chw=False, torch_padding=False) -> FloatModel:
    """The seed's FloatModel with a layout or padding mistake a front end could make."""
    mixed = copy.deepcopy(fm.layers)
    if hwc_as_chw:  # the Dense's (H, W, C)-ordered outputs viewed as (C, H, W): its rows left unpermuted
        dense = mixed[0]
        order = np.arange(12544).reshape(7, 7, 256).transpose(2, 0, 1).ravel()
        dense.weight, dense.bias = dense.weight[np.argsort(order)], dense.bias[np.argsort(order)]
    if torch_padding:  # torch's symmetric 'same' for stride 2, kernel 5: padding 2, output_padding 1 (also 14, 28)
        for lr in mixed:
            if lr.kind == "conv_transpose2d" and lr.stride == 2:
                lr.padding, lr.output_padding = 2, 1
    return FloatModel(mixed, fm.name, fm.latent_dim, fm.image_shape, fm.output_range)


@pytest.mark.parametrize("mistake", ["hwc_as_chw", "torch_padding"])
def test_a_layout_or_padding_mix_up_misses_the_tolerance_by_far(source, mistake):
    z = latents(64, LATENT_DIM, seed=4)
    want = source.run(z)
    assert _worst(source.float_model.run(z), want) <= TOLERANCE
    assert _worst(_mixed_up(source.float_model, **{mistake: True}).run(z), want) > 100 * TOLERANCE


@pytest.mark.parametrize("stride,k,padding,output_padding", [
    (s, k, p, op) for s in (1, 2) for k in (2, 3, 4, 5) for p in ("same", "valid") for op in (None, *range(s))])
def test_transposed_crops_are_keras_own(stride, k, padding, output_padding):
    from keras.src.backend.common.backend_utils import compute_conv_transpose_output_crops_for_torch

    want = compute_conv_transpose_output_crops_for_torch((1, 1, 7, 7), (k, k, 1, 1), (stride, stride), padding,
                                                         output_padding, (1, 1))
    assert [keras_transposed_crops(k, stride, padding, output_padding)] * 2 == [tuple(c) for c in want]


def _check(model, image_shape, z):
    fm = lower_keras(model, "t")
    assert fm.image_shape == image_shape
    want = np.asarray(model.predict(z, verbose=0)).transpose(0, 3, 1, 2)
    assert _worst(fm.run(z), want) <= 1e-4 * max(1.0, float(np.abs(want).max()))
    return fm


def test_a_functional_model_with_conv_upsample_and_every_activation_spelling():
    """Dense with bias and relu, BatchNormalization after a Conv2D with bias (epsilon of its own), Dropout
    skipped, UpSampling2D, Conv2D 'valid' and 'same', ReLU, Activation, Conv2DTranspose 'valid' and 'same' k3 s2
    (padding 0, output_padding -1), sigmoid."""
    keras.utils.set_random_seed(1)
    z_in = keras.Input((6,))
    x = layers.Dense(4 * 4 * 8, activation="relu")(z_in)
    x = layers.Reshape((4, 4, 8))(x)
    x = layers.Conv2D(6, 3, padding="same")(x)
    bn = layers.BatchNormalization(epsilon=0.01)
    x = layers.Dropout(0.3)(layers.ReLU()(bn(x)))
    x = layers.UpSampling2D()(x)
    x = layers.Conv2D(5, 3, padding="valid", activation="tanh")(x)
    x = layers.Conv2DTranspose(4, 3, strides=2, padding="same")(x)
    x = layers.Activation("relu")(layers.Activation("linear")(layers.LeakyReLU(negative_slope=0.1)(x)))
    x = layers.Conv2DTranspose(2, 4, strides=1, padding="valid", activation="sigmoid")(x)
    model = keras.Model(z_in, x)
    rng = np.random.default_rng(0)
    bn.moving_mean.assign(rng.standard_normal(6).astype(np.float32))
    bn.moving_variance.assign(rng.uniform(0.5, 2, 6).astype(np.float32))
    bn.gamma.assign(rng.uniform(0.5, 1.5, 6).astype(np.float32))
    fm = _check(model, (2, 15, 15), latents(32, 6, seed=1))
    assert [lr.kind for lr in fm.layers] == ["dense", "relu", "reshape", "conv2d", "relu", "upsample", "conv2d", "tanh",
                                             "conv_transpose2d", "leaky_relu", "relu", "conv_transpose2d", "sigmoid"]
    assert fm.output_range == (0.0, 1.0)
    assert (fm.layers[8].padding, fm.layers[8].output_padding) == (0, -1)


def test_a_corrupt_or_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.keras does not exist"):
        read_keras(tmp_path / "nothing.keras", "t")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=r"bad.keras: not a Keras model file: a .keras file is a zip archive"):
        read_keras(bad, "t")


# --------------------------------------------------------------------------------------------- fixed point


def test_the_seed_quantized_is_close_to_float(source, quantized):
    z = latents(64, LATENT_DIM, seed=5)
    assert psnr_db(source.float_model.run(z), golden.generate(quantized, z), SPAN) >= 30  # measured 34.7 dB
    assert sum(lr.multipliers for lr in quantized.layers if lr.weight is not None) <= 2520  # the ZCU102's DSPs


def _seed_latents() -> np.ndarray:
    z = latents(8, LATENT_DIM, seed=11)
    z[0] *= 5.0  # beyond the input type's range: saturating casts
    return z


@pytest.mark.slow(40)
@pytest.mark.parametrize("target", ["csim", "rtlsim"])
def test_the_seed_is_bit_exact_on(target, quantized, equals_golden):
    equals_golden(target, quantized, _seed_latents())


@pytest.mark.slow(15)
def test_the_accelerator_project_for_the_zcu102(quantized, tmp_path):
    from fpgagen.hls.accelerator import write_accelerator_project

    manifest = write_accelerator_project(quantized, tmp_path, "zcu102")
    prj = tmp_path / "hls4ml_prj"
    assert (manifest["board"], manifest["preset"]) == ("zcu102", "keras_dcgan")
    assert (prj / "firmware" / "myproject_axi.cpp").is_file() and (tmp_path / "quantized" / "model.json").is_file()
    assert manifest["stream"]["beats_per_image"] == 28 * 28
    params = (prj / "firmware" / "parameters.h").read_text()
    assert params.count("static const int output_padding = -1;") == 2


# --------------------------------------------------------------------------------------------- refusals


def test_everything_unsupported_is_refused_in_one_error_naming_each_layer():
    z_in = keras.Input((8,))
    x = layers.Dense(4 * 4 * 4, activation="softmax", name="dense_softmax")(z_in)
    x = layers.Reshape((4, 4, 4))(x)
    x = layers.Conv2D(4, 3, padding="same", dilation_rate=2, name="dilated")(x)
    x = layers.Conv2D(4, 3, padding="same", groups=2, name="grouped")(x)
    x = layers.Conv2DTranspose(2, 3, strides=3, padding="same", name="stride3")(x)
    x = layers.UpSampling2D(interpolation="bilinear", name="bilinear")(x)
    x = layers.Softmax(name="softmax")(x)
    model = keras.Model(z_in, x)
    with pytest.raises(LoweringError) as e:
        lower_keras(model, "bad")
    text = str(e.value)
    for expected in ("dense_softmax (Dense): activation 'softmax'", "dilated (Conv2D): dilation_rate (2, 2)",
                     "grouped (Conv2D): groups 2", "stride3 (Conv2DTranspose): stride 3 (supported: 1, 2)",
                     "bilinear (UpSampling2D): interpolation 'bilinear'",
                     "softmax (Softmax): this layer is not in fpgagen's vocabulary", "6 unsupported layer(s)",
                     "conv_transpose2d: Conv2DTranspose", "BatchNormalization (inference statistics"):
        assert expected in text, f"{expected!r} not in:\n{text}"


def test_a_two_input_model_is_refused():
    a, b = keras.Input((4,)), keras.Input((4,))
    x = layers.Dense(2 * 2 * 1)(layers.Concatenate()([a, b]))
    model = keras.Model([a, b], layers.Reshape((2, 2, 1))(x))
    with pytest.raises(LoweringError, match=r"2 inputs \(supported: one latent vector\)"):
        lower_keras(model, "two")


def test_a_branch_is_refused_naming_the_merge():
    z_in = keras.Input((4,))
    x = layers.Dense(16)(z_in)
    y = layers.Add(name="merge")([x, layers.ReLU()(x)])
    model = keras.Model(z_in, layers.Reshape((4, 4, 1))(y))
    with pytest.raises(LoweringError, match=r"merge \(Add\): takes .* \(a branch or merge"):
        lower_keras(model, "branch")


def test_another_keras_backend_is_a_clear_error(seed_file, monkeypatch):
    """Keras imported first with another backend (only torch is installed here: its backend() is faked)."""
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(RuntimeError, match="keras was imported with its 'jax' backend before fpgagen's Keras front "
                       "end; fpgagen runs Keras models on the 'torch' backend"):
        read_keras(seed_file, "t")


def test_importing_the_front_end_leaves_keras_alone_and_sets_the_torch_backend():
    code = ("import sys, os\nimport fpgagen.models.keras_import as k\nassert 'keras' not in sys.modules\n"
            "k.keras_on_torch()\nassert os.environ['KERAS_BACKEND'] == 'torch'\n")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"} | {"PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_a_flat_decoder_imports_with_an_image_shape_viewed_in_c_order(tmp_path):
    """A Dense VAE decoder with an (N, 48) output imports with image shape (3, 4, 4): a reshape appended, Keras's
    output viewed in C order (channel-major, as torch's view), not as a channels-last Reshape to (4, 4, 3) would."""
    from fpgagen.models.load import load_model

    keras.utils.set_random_seed(2)
    decoder = keras.Sequential([keras.Input((8,)), layers.Dense(64, activation="relu"),
                                layers.Dense(48, activation="sigmoid")])
    path = tmp_path / "vae.keras"
    decoder.save(path)
    with pytest.raises(LoweringError, match=r"returns a flat \(N, 48\); .* pass --image-shape C,H,W with "
                                            r"C\*H\*W = 48"):
        read_keras(path, "vae")
    source = read_keras(path, "vae", image_shape=(3, 4, 4))
    fm = source.float_model
    assert [lr.kind for lr in fm.layers] == ["dense", "relu", "dense", "sigmoid", "reshape"]
    z = latents(32, 8, seed=2)
    flat = np.asarray(decoder.predict(z, verbose=0))
    np.testing.assert_allclose(source.run(z), flat.reshape(-1, 3, 4, 4), atol=1e-6)
    assert _worst(fm.run(z), flat.reshape(-1, 3, 4, 4)) <= 1e-6
    assert _worst(fm.run(z), flat.reshape(-1, 4, 4, 3).transpose(0, 3, 1, 2)) > 0.1  # not channels-last
    generator = load_model(str(path), image_shape=(3, 4, 4))
    assert (generator.spec.image_shape, generator.spec.output_range) == ((3, 4, 4), (0.0, 1.0))
    with pytest.raises(LoweringError, match=r"returns images \(N, 1, 28, 28\), not the --image-shape 3,4,4 given"):
        lower_keras(keras.saving.load_model(save_generator(tmp_path / "seed.keras", seed=0)), "seed",
                    image_shape=(3, 4, 4))
