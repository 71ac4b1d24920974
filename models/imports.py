"""A user's own generator -- a torch module, an ONNX file, a Keras model -- read into the layer vocabulary.

Each front end reads its framework's model into a :class:`SourceModel`: the
:class:`~fpgagen.core.float_model.FloatModel` it lowers to (BatchNorm folded, channels-last layouts turned into
fpgagen's channels-first one) and a runner of the source framework itself, so that the import can be checked against
it. The front ends:

- :func:`fpgagen.models.torch_import.read_torch`: ``file.py:factory`` (+ weights), traced with torch.fx;
- :func:`fpgagen.models.onnx_import.read_onnx`: a ``.onnx`` file, checked with onnxruntime;
- :func:`fpgagen.models.keras_import.read_keras`: a ``.keras`` file, run by Keras 3 on its torch backend.

Anything a front end cannot lower is refused before any other work in one
:class:`~fpgagen.core.errors.LoweringError` that names every unsupported node or layer and the supported vocabulary.
This module holds what they share; numpy only at import, so the ONNX front end stays torch-free.
"""

from __future__ import annotations

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
    """

    float_model: FloatModel
    run: Callable[[np.ndarray], np.ndarray]
    framework: str
    file: Path | None = None
    module: object | None = None


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
