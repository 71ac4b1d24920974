"""A user's own generator -- a torch module, an ONNX file, a Keras model -- read into the layer vocabulary.

Each front end reads its framework's model into a :class:`SourceModel`: the
:class:`~fpgagen.core.float_model.FloatModel` it lowers to (BatchNorm folded, channels-last layouts turned into
fpgagen's channels-first one) and a runner of the source framework itself, so that the import can be checked
against it. The front ends:

- :func:`fpgagen.models.torch_import.read_torch`: ``file.py:factory`` (+ weights), traced with torch.fx;
- :func:`fpgagen.models.onnx_import.read_onnx`: a ``.onnx`` file, checked with onnxruntime;
- :func:`fpgagen.models.keras_import.read_keras`: a ``.keras`` file, run by Keras 3 on its torch backend.

Anything a front end cannot lower is refused before any other work in one
:class:`~fpgagen.core.errors.LoweringError` that names every unsupported node or layer and the supported vocabulary.

A model whose output is flat, (N, C*H*W) -- a VAE decoder such as pytorch/examples' -- is read as images with an
image shape (C, H, W) given (``--image-shape``), the same way by every front end (:func:`image_view`): the flat
vector is viewed in C order as (C, H, W), torch's ``view(-1, C, H, W)``, by a ``reshape`` layer appended to the
FloatModel (none where its layers already give that shape), and the framework's own output is viewed the same way
for the import check (:func:`viewed`).

This module holds what they share; numpy only at import, so the ONNX front end stays torch-free.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fpgagen.core.float_model import FloatLayer, FloatModel
from fpgagen.core.layers import get_kind


@dataclass(eq=False)
class SourceModel:
    """A model as its front end read it.

    Attributes:
        float_model: its lowering; ``output_range`` is provisional (the import sets it from the final Tanh or
            Sigmoid, else from calibration).
        run: the source framework itself on latents (N, latent_dim) float32 -> images (N, C, H, W) float32
            (channels-last outputs transposed), what the import check compares ``float_model`` with.
        framework: the framework and version that ran ``run``, e.g. ``"onnxruntime 1.32.0 (opset 17)"``.
        file: the file the model came from (its sha256 goes into the spec); None for a module built in memory.
        module: the torch module (torch front end only): the ``torch`` target runs it.
        weights: the weights file loaded into ``module`` (torch front end only).
    """

    float_model: FloatModel
    run: Callable[[np.ndarray], np.ndarray]
    framework: str
    file: Path | None = None
    module: object | None = None
    weights: Path | None = None


def check_name(name: str) -> str:
    """``name`` when it can name a model's files (``overlays/<board>/<name>.bit`` ...), else ValueError."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise ValueError(f"model name {name!r}: use 1-64 letters, digits, '_', '-' or '.', starting with a letter or "
                         "digit (it names the model's files)")
    return name


def check_image_shape(image_shape) -> tuple[int, int, int]:
    """``image_shape`` as a (C, H, W) tuple of three positive ints, else ValueError naming it."""
    try:
        shape = tuple(image_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) and v > 0
                                  for v in shape):
        raise ValueError(f"image shape {image_shape!r}: expected three positive integers C, H, W")
    return tuple(int(v) for v in shape)


def image_view(output, image_shape=None) -> tuple[int, int, int]:
    """The (C, H, W) of the images a model delivers whose per-sample output is ``output``, given the image shape
    ``image_shape`` (``--image-shape``; None where not given).

    Images (C, H, W) are taken as they are (``image_shape``, if given, must be the same); a flat output (K,) is
    viewed as ``image_shape``, whose C*H*W must be K. Raises ValueError, its text the rest of a sentence about the
    model ("... returns ..."), on a flat output without ``image_shape``, a size mismatch, or any other shape.
    """
    output = tuple(int(v) for v in output)
    shape = check_image_shape(image_shape) if image_shape is not None else None
    if len(output) == 3:
        if shape is not None and shape != output:
            raise ValueError(f"returns images (N, {', '.join(map(str, output))}), not the --image-shape "
                             f"{','.join(map(str, shape))} given (--image-shape views a flat output (N, C*H*W) as "
                             "images; leave it out, or give the model's own shape)")
        return output
    if len(output) == 1:
        if shape is None:
            raise ValueError(f"returns a flat (N, {output[0]}); a generator returns images (N, C, H, W): pass "
                             f"--image-shape C,H,W with C*H*W = {output[0]} to view its output as images")
        if math.prod(shape) != output[0]:
            raise ValueError(f"returns a flat (N, {output[0]}), but --image-shape {','.join(map(str, shape))} holds "
                             f"{math.prod(shape)} values (C*H*W must be {output[0]})")
        return shape
    raise ValueError(f"returns (N, {', '.join(map(str, output))}); a generator returns images (N, C, H, W), or a flat "
                     "(N, C*H*W) viewed as images with --image-shape C,H,W")


def viewed(run: Callable[[np.ndarray], np.ndarray], image_shape) -> Callable[[np.ndarray], np.ndarray]:
    """``run`` (a framework on latents) with its flat output viewed as images (N, *image_shape), as the ``reshape``
    layer :func:`image_view`'s front ends append views the FloatModel's."""
    shape = tuple(image_shape)
    return lambda z: np.asarray(run(z)).reshape(-1, *shape)


def final_kind(layers: list[FloatLayer]) -> str | None:
    """The kind of the last layer that computes (copies -- a reshape, an upsampling -- move its values unchanged):
    a final ``tanh`` or ``sigmoid`` bounds the output even when a reshape of a flat output follows it."""
    return next((lr.kind for lr in reversed(layers) if get_kind(lr.kind).role != "copy"), None)


def channels_last_reshape(layers: list[FloatLayer], hwc: tuple[int, int, int], name: str) -> FloatLayer:
    """The ``reshape`` layer for a channels-last reshape of a vector to (H, W, C), as Keras and channels-last ONNX
    graphs write it.

    fpgagen's reshape views the vector as (C, H, W). The dense layer before it (only element-wise layers may lie
    between) has its output rows permuted in place so that viewing them channels-first gives the feature map the
    channels-last reshape gave: row ``c*H*W + h*W + w`` becomes the old row ``(h*W + w)*C + c``. No layer is added
    and nothing is computed at run time. Raises ValueError (the text names what precedes) when no dense does.
    """
    h, w, c = (int(v) for v in hwc)
    between = []
    for layer in reversed(layers):
        if layer.kind == "dense":
            if layer.weight.shape[0] != h * w * c:
                raise ValueError(f"the dense layer before it has {layer.weight.shape[0]} outputs, not {h}*{w}*{c}")
            order = np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).ravel()
            layer.weight, layer.bias = layer.weight[order], layer.bias[order]
            return FloatLayer(name, "reshape", out_shape=(c, h, w))
        if get_kind(layer.kind).role != "activation":
            break
        between.append(layer.kind)
    before = f"a {layers[-len(between) - 1].kind} layer" if len(layers) > len(between) else "the latent input"
    raise ValueError(f"a channels-last reshape to {(h, w, c)} needs a dense layer before it (element-wise layers "
                     f"between allowed), found {before}")


def fold_batchnorm_into(weight, bias, gamma, beta, mean, var, eps: float,
                        channel_axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(weight, bias)`` of an arithmetic layer with the inference BatchNorm after it folded in, as every front end
    folds: ``gamma (W x + b - mean) / sqrt(var + eps) + beta = (s W) x + s (b - mean) + beta`` with
    ``s = gamma / sqrt(var + eps)``, in float64, returned as float32. ``s`` scales the weights of each output
    channel, along ``channel_axis`` (0 for dense and conv2d (O, ...), 1 for a transposed convolution (C, O, K, K));
    the statistics are per output channel (numpy arrays, or anything ``np.asarray`` takes)."""
    f64 = [np.asarray(v, np.float64) for v in (weight, bias, gamma, beta, mean, var)]
    weight, bias, gamma, beta, mean, var = f64
    s = gamma / np.sqrt(var + eps)
    per_output = [1] * weight.ndim
    per_output[channel_axis] = -1
    return (weight * s.reshape(per_output)).astype(np.float32), (s * (bias - mean) + beta).astype(np.float32)


def conv_transpose_1x1_as_dense(weight: np.ndarray, bias: np.ndarray, padding: tuple[int, int],
                                output_padding: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A transposed convolution on a 1x1 map as the ``(weight, bias)`` of the dense layer whose output, viewed as
    (O, H, W), is its output (the canonical PyTorch DCGAN's first layer, after ``z.view(-1, nz, 1, 1)``).

    Input pixel (0, 0) reaches output (y, x) through tap (y + p, x + p) of the kernel (``padding`` p is cropped from
    each side of the K x K map and ``output_padding`` rows and columns are added, which no tap reaches), so
    H = K - 2 p + output_padding and dense row (o, y, x) holds ``weight[:, o, y + p, x + p]`` (zero beyond the
    kernel); every row of channel o gets bias o. Stride does not matter for one input pixel.

    Args:
        weight: (C, O, KH, KW), torch's and ONNX's ConvTranspose layout (BatchNorm already folded).
        bias: (O,).
        padding, output_padding: (along H, along W).
    """
    c_in, c_out, kh, kw = weight.shape
    (ph, pw), (oh, ow) = padding, output_padding
    full = np.zeros((c_in, c_out, kh + oh, kw + ow), np.float32)
    full[:, :, :kh, :kw] = weight
    h, wd = kh - 2 * ph + oh, kw - 2 * pw + ow
    crop = full[:, :, ph : ph + h, pw : pw + wd]  # (C, O, H, W)
    dense = np.ascontiguousarray(crop.transpose(1, 2, 3, 0).reshape(c_out * h * wd, c_in))
    return dense, np.repeat(np.asarray(bias, np.float32), h * wd)
