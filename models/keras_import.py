"""The Keras 3 front end: a ``.keras`` file -> a :class:`~fpgagen.models.imports.SourceModel`.

Keras runs on its torch backend (fpgagen sets ``KERAS_BACKEND=torch`` before it first imports keras; no TensorFlow
is needed). A Sequential or functional model that is one chain from one latent vector input lowers, layer by layer,
by the ``keras`` implementations registered here in :mod:`fpgagen.core.layers` (each names the Keras layer classes
it lowers and its limits), with

- **BatchNormalization** (inference statistics, the last axis) folded in float64 into the Dense, Conv2D or
  Conv2DTranspose right before it (when that layer has no activation of its own);
- a layer's own ``activation`` (linear, relu, tanh, sigmoid) lowered as the activation layer after it;
- **Reshape** to (H, W, C) after a Dense lowered by :func:`~fpgagen.models.imports.channels_last_reshape` (the
  Dense's outputs permuted so that fpgagen's (C, H, W) view of them is Keras's feature map);
- **Conv2DTranspose** geometry taken from Keras's own rule (:func:`keras_transposed_crops`): 'same' with stride 2
  and kernel 5 is torch's padding 1, output_padding -1 (the full map cropped by 1 and 2);
- kernels turned into torch layouts: Dense (in, out) -> (out, in); Conv2D (kh, kw, in, out) -> (out, in, kh, kw);
  Conv2DTranspose (kh, kw, out, in) -> (in, out, kh, kw);
- InputLayer, Dropout (the identity at inference) and Activation('linear') skipped;
- a **flat output** (N, C*H*W), a VAE decoder's, viewed as the (C, H, W) given (``image_shape``,
  :func:`~fpgagen.models.imports.image_view`) in C order, as torch's ``view`` would -- not as a channels-last
  Reshape to (H, W, C) would: a ``reshape`` appended, and Keras's output viewed the same way.

Layer ``i`` of the FloatModel is named ``<kind>_<i>``. Whatever is unsupported -- an unknown layer, an unsupported
attribute, a second input or output, a branch or merge, a nested model -- is refused before anything else, in one
:class:`~fpgagen.core.errors.LoweringError` naming every offending layer and the supported vocabulary.

Adding a Keras spelling of a kind: list its class in that kind's ``@lowers`` below.
"""

from __future__ import annotations

import os
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fpgagen.core.errors import LoweringError, Problems, Unsupported
from fpgagen.core.float_model import FloatLayer, FloatModel
from fpgagen.core.layers import implements, registered
from fpgagen.core.transposed import TRANSPOSED_SUPPORTED, transposed_support
from fpgagen.models.imports import (
    SourceModel,
    channels_last_reshape,
    final_kind,
    fold_batchnorm_into,
    image_view,
    viewed,
)

KERAS_BACKEND = "torch"
ACTIVATIONS = {"linear": None, "relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}  # Keras name -> kind
SKIPPED = ("InputLayer", "Dropout")  # nothing to compute at inference
ARITHMETIC_CLASSES = ("Dense", "Conv2D", "Conv2DTranspose")


def keras_on_torch():
    """The ``keras`` module on its torch backend, imported here first (``KERAS_BACKEND=torch``).

    Raises:
        RuntimeError: keras was imported before with another backend (it cannot switch within a process).
    """
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = KERAS_BACKEND
    import keras

    backend = keras.backend.backend()
    if backend != KERAS_BACKEND:
        raise RuntimeError(f"keras was imported with its {backend!r} backend before fpgagen's Keras front end; "
                           f"fpgagen runs Keras models on the {KERAS_BACKEND!r} backend. Import fpgagen before "
                           f"keras, or set KERAS_BACKEND={KERAS_BACKEND} for the process.")
    return keras


@dataclass(frozen=True)
class KerasLowering:
    """The ``keras`` implementation of a kind.

    Attributes:
        layers: Keras layer class names that lower to the kind (``Activation`` by its activation's name).
        lower: ``(layer, batchnorm, built) -> [FloatLayer, ...]`` for a Keras layer, given the BatchNormalization
            folded into it (arithmetic kinds; else None) and the layers built so far (None after a refused layer);
            raises :class:`Unsupported` naming each unsupported attribute.
        limits: what of those layers is supported, in words (for refusals).
    """

    layers: tuple[str, ...]
    lower: Callable
    limits: str = ""

    def describe(self) -> str:
        return ", ".join(self.layers) + (f" ({self.limits})" if self.limits else "")


def lowers(kind: str, layers: tuple[str, ...], limits: str = ""):
    """Decorator: register ``fn(layer, batchnorm, built) -> [FloatLayer]`` as the lowering of ``layers`` to
    ``kind``."""

    def register(fn):
        implements("keras", kind)(KerasLowering(tuple(layers), fn, limits))
        return fn

    return register


# ============================================================================================== weights, geometry
def _numpy(variable) -> np.ndarray:
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)


def fold_batchnorm(weight: np.ndarray, bias: np.ndarray, bn, channel_axis: int) -> tuple[np.ndarray, np.ndarray]:
    """``(weight, bias)`` (torch layout) with the Keras BatchNormalization ``bn`` after the layer folded in
    (:func:`fpgagen.models.imports.fold_batchnorm_into`; ``s`` scales the weights of each output channel along
    ``channel_axis``)."""
    n = weight.shape[channel_axis]
    mean, var = _numpy(bn.moving_mean), _numpy(bn.moving_variance)
    if mean.shape != (n,):
        raise Unsupported(f"BatchNormalization {bn.name!r} of {mean.shape[0]} features after {n} channels")
    gamma = _numpy(bn.gamma) if bn.gamma is not None else np.ones(n)
    beta = _numpy(bn.beta) if bn.beta is not None else np.zeros(n)
    return fold_batchnorm_into(weight, bias, gamma, beta, mean, var, float(bn.epsilon), channel_axis)


def _weights(layer, bn, layout: tuple[int, ...], channel_axis: int) -> dict:
    """float32 ``weight`` (the kernel transposed by ``layout`` into torch's) and ``bias`` (zero without one)."""
    weight = np.ascontiguousarray(_numpy(layer.kernel).astype(np.float32).transpose(layout))
    n_out = weight.shape[channel_axis]
    bias = _numpy(layer.bias).astype(np.float32) if layer.use_bias else np.zeros(n_out, np.float32)
    if bn is not None:
        weight, bias = fold_batchnorm(weight, bias, bn, channel_axis)
    return {"weight": np.ascontiguousarray(weight), "bias": bias}


def keras_transposed_crops(k: int, stride: int, padding: str, output_padding: int | None = None) -> tuple[int, int]:
    """Rows Keras 3 crops from the start and the end of the full transposed convolution (``(n - 1) * stride + k``
    rows), as its torch backend does (keras/src/backend/common/backend_utils.py,
    ``compute_conv_transpose_output_crops_for_torch``, dilation 1); negative means zero rows added.

    fpgagen's conv_transpose2d is then ``padding = start``, ``output_padding = start - end``.
    """
    if padding == "valid":
        out_pad = max(k, stride) - k if output_padding is None else output_padding
        left, right = k - 1, k - 1 + out_pad
    else:
        pad_len = stride + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
        left = min(pad_len // 2 + pad_len % 2, k - 1)
        right = pad_len - left
    return k - 1 - left, k - 1 - right


def _single(layer, name: str, problems: list[str]) -> int:
    values = tuple(getattr(layer, name))
    if len(set(values)) != 1:
        problems.append(f"{name} {values} (supported: the same on both axes)")
    return int(values[0])


def _channels_last(layer, problems: list[str]) -> None:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        problems.append(f"data_format {layer.data_format!r} (supported: 'channels_last')")


def _activation_layers(layer, problems: list[str]) -> list[FloatLayer]:
    """The activation layer of a Dense/Conv's own ``activation`` (none for linear)."""
    name = _activation_name(layer)
    if name not in ACTIVATIONS:
        problems.append(f"activation {name!r} (supported: {', '.join(ACTIVATIONS)})")
        return []
    return [] if ACTIVATIONS[name] is None else [FloatLayer("", ACTIVATIONS[name])]


def _activation_name(layer) -> str:
    fn = layer.activation
    return getattr(fn, "__name__", type(fn).__name__)


def _input_rank(layer) -> int | None:
    try:
        return len(layer.input.shape)
    except (AttributeError, ValueError):
        return None


# ============================================================================================== the kinds
@lowers("dense", ("Dense",), "on a vector; activation linear, relu, tanh or sigmoid")
def _dense(layer, bn, built) -> list[FloatLayer]:
    problems = []
    if _input_rank(layer) not in (None, 2):
        problems.append(f"applied to a {tuple(layer.input.shape)[1:]} tensor (along its last axis); fpgagen lowers "
                        "Dense on a vector")
    act = _activation_layers(layer, problems)
    if problems:
        raise Unsupported(*problems)
    return [FloatLayer("", "dense", **_weights(layer, bn, (1, 0), channel_axis=0)), *act]


@lowers("conv2d", ("Conv2D",), "strides 1, a square kernel, padding 'valid' or 'same' (odd kernel), dilation 1, "
        "groups 1, channels_last; activation linear, relu, tanh or sigmoid")
def _conv2d(layer, bn, built) -> list[FloatLayer]:
    problems = []
    _channels_last(layer, problems)
    k = _single(layer, "kernel_size", problems)
    if tuple(layer.strides) != (1, 1):
        problems.append(f"strides {tuple(layer.strides)} (supported: (1, 1))")
    if tuple(layer.dilation_rate) != (1, 1):
        problems.append(f"dilation_rate {tuple(layer.dilation_rate)} (supported: (1, 1))")
    if getattr(layer, "groups", 1) != 1:
        problems.append(f"groups {layer.groups} (supported: 1)")
    if layer.padding == "same" and k % 2 == 0:
        problems.append(f"padding 'same' with the even kernel {k} pads unevenly (supported: an odd kernel)")
    elif layer.padding not in ("same", "valid"):
        problems.append(f"padding {layer.padding!r} (supported: 'same', 'valid')")
    act = _activation_layers(layer, problems)
    if problems:
        raise Unsupported(*problems)
    padding = (k - 1) // 2 if layer.padding == "same" else 0
    return [FloatLayer("", "conv2d", padding=padding, **_weights(layer, bn, (3, 2, 0, 1), channel_axis=0)), *act]


@lowers("conv_transpose2d", ("Conv2DTranspose",), "strides 1 or 2, padding 'same' or 'valid' with Keras's crops "
        f"within {TRANSPOSED_SUPPORTED}; channels_last; activation linear, relu, tanh or sigmoid")
def _conv_transpose2d(layer, bn, built) -> list[FloatLayer]:
    problems = []
    _channels_last(layer, problems)
    k = _single(layer, "kernel_size", problems)
    stride = _single(layer, "strides", problems)
    if tuple(layer.dilation_rate) != (1, 1):
        problems.append(f"dilation_rate {tuple(layer.dilation_rate)} (supported: (1, 1))")
    if getattr(layer, "groups", 1) != 1:
        problems.append(f"groups {layer.groups} (supported: 1)")
    out_pad = layer.output_padding
    if out_pad is not None:
        out_pad = _single(layer, "output_padding", problems)
    start = end = 0
    if layer.padding not in ("same", "valid"):
        problems.append(f"padding {layer.padding!r} (supported: 'same', 'valid')")
    else:
        start, end = keras_transposed_crops(k, stride, layer.padding, out_pad)
        if min(start, end) < 0:
            problems.append(f"padding {layer.padding!r} with output_padding {out_pad} adds zero rows beyond the full "
                            "map (supported: crops only)")
        else:
            problems += [f"{u} (Keras's {layer.padding!r}: crops {start} and {end} of the full map)"
                         for u in transposed_support(k, stride, start, start - end)]
    act = _activation_layers(layer, problems)
    if problems:
        raise Unsupported(*problems)
    return [FloatLayer("", "conv_transpose2d", stride=stride, padding=start, output_padding=start - end,
                       **_weights(layer, bn, (3, 2, 0, 1), channel_axis=1)), *act]


def _plain_relu(layer, problems: list[str]) -> None:
    if layer.max_value is not None:
        problems.append(f"max_value {float(layer.max_value)!r} (supported: None, the plain ReLU)")
    for key in ("negative_slope", "threshold"):
        if float(getattr(layer, key)) != 0.0:
            problems.append(f"{key} {float(getattr(layer, key))!r} (supported: 0, the plain ReLU)")


@lowers("relu", ("ReLU", "Activation"), "ReLU without max_value, negative_slope or threshold; Activation('relu'); "
        "activation='relu' of a Dense or convolution")
def _relu(layer, bn, built) -> list[FloatLayer]:
    problems = []
    if type(layer).__name__ == "ReLU":
        _plain_relu(layer, problems)
    if problems:
        raise Unsupported(*problems)
    return [FloatLayer("", "relu")]


@lowers("leaky_relu", ("LeakyReLU",), "its negative_slope (Keras 3's default 0.3)")
def _leaky_relu(layer, bn, built) -> list[FloatLayer]:
    return [FloatLayer("", "leaky_relu", alpha=float(layer.negative_slope))]


@lowers("tanh", ("Activation",), "Activation('tanh'); activation='tanh' of a Dense or convolution")
def _tanh(layer, bn, built) -> list[FloatLayer]:
    return [FloatLayer("", "tanh")]


@lowers("sigmoid", ("Activation",), "Activation('sigmoid'); activation='sigmoid' of a Dense or convolution")
def _sigmoid(layer, bn, built) -> list[FloatLayer]:
    return [FloatLayer("", "sigmoid")]


@lowers("reshape", ("Reshape",), "to (H, W, C) after a Dense (element-wise layers between), or a vector to itself")
def _reshape(layer, bn, built) -> list[FloatLayer]:
    target = tuple(int(v) for v in layer.target_shape)
    rank = _input_rank(layer)
    if len(target) == 1 and rank in (None, 2):
        return []
    if len(target) != 3 or rank not in (None, 2):
        raise Unsupported(f"target_shape {target} (supported: a vector to (H, W, C))")
    if built is None:  # a layer before was refused: nothing to permute
        return []
    try:
        return [channels_last_reshape(built, target, "")]
    except ValueError as e:
        raise Unsupported(str(e)) from None


@lowers("upsample", ("UpSampling2D",), "size 2, interpolation 'nearest', channels_last")
def _upsample(layer, bn, built) -> list[FloatLayer]:
    problems = []
    _channels_last(layer, problems)
    if tuple(layer.size) != (2, 2):
        problems.append(f"size {tuple(layer.size)} (supported: (2, 2))")
    if layer.interpolation != "nearest":
        problems.append(f"interpolation {layer.interpolation!r} (supported: 'nearest')")
    if problems:
        raise Unsupported(*problems)
    return [FloatLayer("", "upsample", factor=2)]


# ============================================================================================== the walk
def vocabulary() -> str:
    """What fpgagen lowers of Keras, kind by kind, in words (the tail of every refusal)."""
    lines = [f"  {kind}: {lowering.describe()}" for kind, lowering in registered("keras").items()]
    lines.append("  BatchNormalization (inference statistics, the last axis) directly after a Dense, Conv2D or "
                 "Conv2DTranspose without activation: folded into it")
    lines.append("  InputLayer, Dropout (the identity at inference), Activation('linear'): skipped")
    return "\n".join(lines)


def _lowering_of(layer) -> tuple[str, KerasLowering] | None:
    cls = type(layer).__name__
    if cls == "Activation":
        kind = ACTIVATIONS.get(_activation_name(layer), "")
        return (kind, registered("keras")[kind]) if kind else None
    for kind, lowering in registered("keras").items():
        if cls in lowering.layers and cls != "Activation":
            return kind, lowering
    return None


def _label(layer) -> str:
    return f"{layer.name} ({type(layer).__name__})"


def _chain(model, problems: Problems) -> list:
    """The model's layers in order, checked to be one chain from one input (else problems, by layer)."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if len(model.inputs) != 1:
        problems.add(-1, f"model {model.name!r}", f"{len(model.inputs)} inputs (supported: one latent vector)")
    if len(model.outputs) != 1:
        problems.add(-1, f"model {model.name!r}", f"{len(model.outputs)} outputs (supported: one image)")
    for index, layer in enumerate(layers):
        if hasattr(layer, "layers") and type(layer).__name__ in ("Sequential", "Functional", "Model"):
            problems.add(index, _label(layer), "a nested model (supported: a flat Sequential or functional model)")
    if type(model).__name__ == "Sequential" or problems:
        return layers
    previous = model.inputs[0]._keras_history.operation
    for index, layer in enumerate(layers):
        sources = [t._keras_history.operation for node in layer._inbound_nodes for t in node.input_tensors]
        if len(layer._inbound_nodes) != 1:
            problems.add(index, _label(layer), f"called {len(layer._inbound_nodes)} times (supported: once, a chain)")
        elif sources != [previous]:
            names = ", ".join(s.name for s in sources)
            problems.add(index, _label(layer), f"takes {names} (a branch or merge; supported: a single chain, each "
                         f"layer taking the one before it, here {previous.name})")
        previous = layer
    out = model.outputs[0]._keras_history.operation
    if not problems and layers and out is not layers[-1]:
        problems.add(len(layers), f"model {model.name!r}", f"its output is {out.name}, not the last layer (a branch)")
    return layers


def _lower_chain(layers: list, problems: Problems) -> list[FloatLayer]:
    built: list[FloatLayer] = []
    refused = False
    i = 0
    while i < len(layers):
        layer, index = layers[i], i
        cls = type(layer).__name__
        i += 1
        if cls in SKIPPED or (cls == "Activation" and _activation_name(layer) == "linear"):
            continue
        if cls == "BatchNormalization":
            problems.add(index, _label(layer), "BatchNormalization not directly after a Dense, Conv2D or "
                         "Conv2DTranspose without activation cannot be folded")
            continue
        found = _lowering_of(layer)
        if found is None:
            what = f"activation {_activation_name(layer)!r}" if cls == "Activation" else "this layer"
            problems.add(index, _label(layer), f"{what} is not in fpgagen's vocabulary")
            continue
        kind, lowering = found
        bn = None
        if i < len(layers) and type(layers[i]).__name__ == "BatchNormalization" and cls in ARITHMETIC_CLASSES:
            if _activation_name(layer) != "linear":
                problems.add(i, _label(layers[i]), f"after {layer.name}'s activation {_activation_name(layer)!r} "
                             "cannot be folded")
            else:
                bn = layers[i]
                rank = _input_rank(bn)
                axes = bn.axis if isinstance(bn.axis, list | tuple) else [bn.axis]
                if rank is not None and [a % rank for a in axes] != [rank - 1]:
                    problems.add(i, _label(bn), f"axis {bn.axis} (supported: the last, the channels)")
            i += 1
        try:
            built += lowering.lower(layer, bn, None if refused else built)
        except Unsupported as e:
            refused = True
            for text in e.problems:
                problems.add(index, _label(layer), text)
    return built


def lower_keras(model, name: str, latent_dim: int | None = None, image_shape=None) -> FloatModel:
    """The FloatModel of a Keras 3 generator model (latents (N, latent_dim) -> images (N, H, W, C), or a flat
    (N, C*H*W) viewed as ``image_shape`` (C, H, W)).

    Raises:
        LoweringError: before any layer is built, naming every layer fpgagen does not lower and what it lowers.
    """
    problems = Problems()
    layers = _chain(model, problems)
    in_shape = tuple(model.inputs[0].shape)[1:] if model.inputs else ()
    out_shape = tuple(model.outputs[0].shape)[1:] if model.outputs else ()
    if len(in_shape) != 1 or (in_shape[0] is None and latent_dim is None):
        problems.add(-1, f"model {model.name!r}", f"input shape {in_shape} (supported: a latent vector of known size)")
    elif latent_dim is not None and in_shape[0] not in (None, latent_dim):
        problems.add(-1, f"model {model.name!r}", f"input of {in_shape[0]} latents, but latent_dim {latent_dim}")
    images = None
    if None in out_shape:
        problems.add(1 << 30, f"model {model.name!r}", f"output shape {out_shape} (supported: an image (H, W, C), "
                     "or a flat (C*H*W,) with --image-shape)")
    else:
        try:  # an image is delivered (H, W, C): compared as (C, H, W)
            images = image_view((out_shape[2], *out_shape[:2]) if len(out_shape) == 3 else out_shape, image_shape)
        except ValueError as e:
            problems.add(1 << 30, f"model {model.name!r}", str(e))
    if not problems:
        built = _lower_chain(layers, problems)
    if problems:
        raise LoweringError(f"fpgagen cannot lower {name} (Keras {type(model).__name__} {model.name!r}): "
                            f"{len(problems)} unsupported layer(s)\n" + "\n".join(problems.lines())
                            + "\nfpgagen lowers a chain from one latent vector input through these layers:\n"
                            + vocabulary())
    if len(out_shape) == 1:
        built.append(FloatLayer("", "reshape", out_shape=images))
    for index, layer in enumerate(built):
        layer.name = f"{layer.kind}_{index}"
    output_range = (0.0, 1.0) if final_kind(built) == "sigmoid" else (-1.0, 1.0)  # provisional but tanh, sigmoid
    return FloatModel(built, name, latent_dim or int(in_shape[0]), images, output_range)


def read_keras(path: Path, name: str, latent_dim: int | None = None, image_shape=None) -> SourceModel:
    """A ``.keras`` file (Keras 3) as a SourceModel, run by Keras on its torch backend.

    Args:
        path: the ``.keras`` file.
        name: the generator's name.
        latent_dim: the latent size, checked against the model's input (taken from it when None).
        image_shape: (C, H, W) a flat output (N, C*H*W) is viewed as; an image output must be that, if given.

    Raises:
        FileNotFoundError: no such file. ValueError: not a Keras model file Keras can load (both name the file).
        LoweringError: the model is not a chain of what fpgagen lowers (every such layer named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Keras model file {path} does not exist")
    keras = keras_on_torch()
    if not zipfile.is_zipfile(path):  # Keras would say "File not found" of a file that is there but not a zip
        raise ValueError(f"{path}: not a Keras model file: a .keras file is a zip archive (config.json, "
                         "model.weights.h5), this is not one")
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:  # Keras raises ValueError, OSError, zipfile.BadZipFile, KeyError ... for a bad file
        raise ValueError(f"{path}: not a Keras model file Keras {keras.__version__} can load "
                         f"({type(e).__name__}: {e})") from e
    float_model = lower_keras(model, name, latent_dim, image_shape)

    def run(z: np.ndarray) -> np.ndarray:
        y = np.asarray(model.predict(np.asarray(z, np.float32), batch_size=256, verbose=0), np.float32)
        return np.ascontiguousarray(y.transpose(0, 3, 1, 2) if y.ndim == 4 else y)

    flat = len(model.outputs[0].shape) == 2
    return SourceModel(float_model, viewed(run, float_model.image_shape) if flat else run,
                       f"keras {keras.__version__} ({KERAS_BACKEND} backend)", path)

