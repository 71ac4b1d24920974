"""torch's ConvTranspose2d in hls4ml 1.3.0 (io_stream, Vivado backends), through hls4ml's extension API.

hls4ml 1.3.0 has no transposed convolution (hls4ml issues/PRs #644, #844, #896 never landed). This module adds
one without touching hls4ml's files, the way hls4ml's own ``test/pytest/test_extensions.py`` adds a layer:

- the torch module :class:`ConvTranspose2d` that :func:`fpgagen.hls.hls4ml_flow.to_torch` builds (torch's, but
  for a negative ``output_padding``), and a PyTorch converter handler for it (:func:`parse_conv_transpose2d`,
  ``register_pytorch_layer_handler``) that refuses what fpgagen does not implement, naming the layer;
- an hls4ml IR layer :class:`ConvTranspose2D` (``register_layer``) whose weight, bias, accumulator and result
  precisions and reuse factor come from the hls4ml config like Conv2D's;
- a config and a function-call template (``backend.register_template``) and the C++ kernel
  ``hls4ml_templates/nnet_conv_transpose2d_stream.h`` (``backend.register_source``), copied into every project's
  ``firmware/nnet_utils/``.

:func:`register` does all of it once (idempotent); :mod:`fpgagen.hls.hls4ml_flow` calls it on import.

The kernel computes each output pixel from its phase's useful taps only (see
:func:`fpgagen.core.transposed.transposed_phases`), one tap's C x O product at the reuse factor (split as
:func:`fpgagen.core.transposed.tap_split`, the RTL stage's split: PI x PO multipliers), accumulates
in ``accum_t`` starting from the bias and casts once to the result type: bit for bit
:func:`fpgagen.core.golden.conv_transpose2d` when the accumulator is exact (fpgagen's contract).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import hls4ml
import numpy as np
import torch
from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
from hls4ml.model.attributes import Attribute, ConfigurableAttribute, TypeAttribute, WeightAttribute
from hls4ml.model.layers import Layer
from hls4ml.utils.torch import HLS4MLModule
from torch import nn
from torch.nn import functional as F

from fpgagen.core.transposed import (
    TRANSPOSED_SUPPORTED,
    pad_output_groups,
    tap_split,
    transposed_module_problems,
    transposed_out_size,
)
from fpgagen.hls.hls4ml_extension import register_extension

HEADER = Path(__file__).resolve().parent / "hls4ml_templates" / "nnet_conv_transpose2d_stream.h"
TORCH_CLASS = "ConvTranspose2d"
LAYER_CLASS = "ConvTranspose2D"


class UnsupportedConvTransposeError(ValueError):
    """A ConvTranspose2d the extension does not implement (the message names the layer and what is supported)."""


def header_digest() -> str:
    """Hash of the C++ kernel and the templates that configure and call it: part of the C-simulation cache key of
    models that use it."""
    return hashlib.sha256(HEADER.read_bytes() + (CONFIG_TEMPLATE + FUNCTION_TEMPLATE).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------- torch, converter


class ConvTranspose2d(HLS4MLModule, nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` whose ``output_padding`` may also be negative: the output then loses that many more
    rows and columns at the end (:func:`fpgagen.core.transposed.transposed_out_size`), which torch's own forward
    refuses. hls4ml's converter picks its handler by the class name (fpgagen's extension handler, which reads the
    attributes) and, as an ``HLS4MLModule``, does not trace into this forward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        crop = [-op for op in self.output_padding]
        if max(crop) <= 0:
            return super().forward(x)
        y = F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, 0, self.groups, self.dilation)
        return y[..., : y.shape[-2] - max(crop[0], 0), : y.shape[-1] - max(crop[1], 0)]


def parse_conv_transpose2d(operation, layer_name, input_names, input_shapes, node, class_object, data_reader, config):
    """hls4ml PyTorch handler: ``ConvTranspose2d`` -> a :class:`ConvTranspose2D` layer dict (channels first, as
    every PyTorch layer enters hls4ml; the channels-last conversion turns the output shape round)."""
    problems = transposed_module_problems(class_object)
    if problems:
        raise UnsupportedConvTransposeError(
            f"ConvTranspose2d layer {layer_name!r}: unsupported {'; '.join(problems)}. fpgagen's hls4ml extension "
            f"supports {TRANSPOSED_SUPPORTED}.")
    if len(input_shapes[0]) != 4:
        raise UnsupportedConvTransposeError(f"ConvTranspose2d layer {layer_name!r}: input shape {input_shapes[0]}, "
                                            "expected (N, C, H, W)")
    _, n_chan, in_height, in_width = input_shapes[0]
    k, stride = class_object.kernel_size[0], class_object.stride[0]
    padding, output_padding = class_object.padding[0], class_object.output_padding[0]
    out_height, out_width = (transposed_out_size(n, k, stride, padding, output_padding) for n in (in_height, in_width))
    if out_height < 1 or out_width < 1:
        raise UnsupportedConvTransposeError(f"ConvTranspose2d layer {layer_name!r}: input {in_height}x{in_width} "
                                            f"gives an empty output ({out_height}x{out_width})")
    layer = {
        "name": layer_name, "inputs": input_names, "class_name": LAYER_CLASS, "data_format": "channels_first",
        "weight_data": class_object.weight.data.numpy(),
        "bias_data": None if class_object.bias is None else class_object.bias.data.numpy(),
        "in_height": in_height, "in_width": in_width, "n_chan": n_chan, "n_filt": class_object.out_channels,
        "out_height": out_height, "out_width": out_width, "filt_size": k, "stride": stride, "pad": padding,
        "output_padding": output_padding,
    }
    return layer, [input_shapes[0][0], class_object.out_channels, out_height, out_width]


# --------------------------------------------------------------------------------------------- IR layer


def kernel_weights(weight: np.ndarray, reuse_factor: int) -> np.ndarray:
    """Torch-layout weights (C, O, K, K) as the kernel's 1-d array at ``reuse_factor``: (tap, output group,
    input block, output in group, input in block), zero for output channels beyond O (a ragged last group)."""
    c, o, k, _ = weight.shape
    pi, po = tap_split(c, o, reuse_factor)
    padded = pad_output_groups(weight, po, axis=1)
    # padded[ib*PI + pi, og*PO + po, ty, tx] -> (ty, tx, og, ib, po, pi)
    return padded.reshape(c // pi, pi, -1, po, k, k).transpose(4, 5, 2, 0, 3, 1).ravel()



class ConvTranspose2D(Layer):
    """hls4ml IR layer of a square-kernel transposed convolution (torch semantics).

    The weight variable is 1-d, in the kernel's layout (tap, output group, input block, output in group, input in
    block; zero beyond the output channels, :func:`kernel_weights`): it is laid out here from torch's (C, O, K, K)
    at the layer's reuse factor, so hls4ml's channels-last pass (which transposes 4-d weights) leaves it alone. The
    output shape follows ``data_format`` like Conv2D's.
    """

    _expected_attributes = [
        Attribute("in_height"), Attribute("in_width"), Attribute("n_chan"),
        Attribute("out_height"), Attribute("out_width"), Attribute("n_filt"),
        Attribute("filt_size"), Attribute("stride"), Attribute("pad"), Attribute("output_padding"),
        WeightAttribute("weight"), WeightAttribute("bias"),
        TypeAttribute("weight"), TypeAttribute("bias"), TypeAttribute("accum"),
        ConfigurableAttribute("reuse_factor", default=1),
    ]

    def initialize(self):
        a = self.attributes
        if self.get_attr("data_format") == "channels_last":
            shape = [a["out_height"], a["out_width"], a["n_filt"]]
        else:
            shape = [a["n_filt"], a["out_height"], a["out_width"]]
        self.add_output_variable(shape)
        weight = np.asarray(self.get_attr("weight_data"))  # torch (C, O, K, K)
        # laid out for the reuse factor the config gives now (hls4ml's default 1 without one); _check_node refuses
        # a project whose reuse factor changed after this
        rf = int(self.get_attr("reuse_factor") or 1)
        self.set_attr("weight_reuse_factor", rf)
        self.add_weights_variable(name="weight", var_name="w{index}", data=kernel_weights(weight, rf))
        self.add_bias()


# --------------------------------------------------------------------------------------------- templates

CONFIG_TEMPLATE = """struct config{index} : nnet::conv_transpose2d_config {{
    static const unsigned in_height = {in_height};
    static const unsigned in_width = {in_width};
    static const unsigned n_chan = {n_chan};
    static const unsigned out_height = {out_height};
    static const unsigned out_width = {out_width};
    static const unsigned n_filt = {n_filt};
    static const unsigned filt_size = {filt_size};
    static const unsigned stride = {stride};
    static const unsigned pad = {pad};
    static const int output_padding = {output_padding};
    static const unsigned n_rows = {n_rows};
    static const unsigned n_in_block = {n_in_block};
    static const unsigned n_out_group = {n_out_group};
    static const unsigned n_blocks = {n_blocks};
    static const unsigned n_groups = {n_groups};
    static const unsigned reuse_factor = {reuse};
    static const unsigned multiplier_limit = {multiplier_limit};
    static const unsigned n_weights = {n_weights};
    typedef {accum_t.name} accum_t;
    typedef {bias_t.name} bias_t;
    typedef {weight_t.name} weight_t;
    template<class x_T, class y_T>
    using product = nnet::product::{product_type}<x_T, y_T>;
}};\n"""

FUNCTION_TEMPLATE = "nnet::conv_transpose_2d_cl<{input_t}, {output_t}, {config}>({input}, {output}, {w}, {b});"
INCLUDES = [f"nnet_utils/{HEADER.name}"]


def _check_node(node) -> None:
    where = f"hls4ml layer {node.name} ({LAYER_CLASS})"
    if node.model.config.get_config_value("IOType") != "io_stream":
        raise UnsupportedConvTransposeError(f"{where}: only io_stream is implemented")
    if node.get_attr("data_format") != "channels_last":
        raise UnsupportedConvTransposeError(f"{where}: needs ChannelsLastConversion (the kernel streams pixels "
                                            "channels last)")
    rf = node.get_attr("reuse_factor")
    try:
        tap_split(node.get_attr("n_chan"), node.get_attr("n_filt"), rf)
    except ValueError as e:
        raise UnsupportedConvTransposeError(f"{where}: {e}") from None
    if rf != node.get_attr("weight_reuse_factor"):
        raise UnsupportedConvTransposeError(f"{where}: reuse factor {rf}, but its weights were laid out for "
                                            f"{node.get_attr('weight_reuse_factor')} (set ReuseFactor in the layer's "
                                            "config before conversion)")


class ConvTranspose2DConfigTemplate(LayerConfigTemplate):
    def __init__(self):
        super().__init__(ConvTranspose2D)
        self.template = CONFIG_TEMPLATE

    def format(self, node):
        _check_node(node)
        params = self._default_config_params(node)
        params["n_rows"] = (node.get_attr("filt_size") - 1) // node.get_attr("stride") + 1
        c, o, k = node.get_attr("n_chan"), node.get_attr("n_filt"), node.get_attr("filt_size")
        pi, po = tap_split(c, o, node.get_attr("reuse_factor"))
        params.update(n_in_block=pi, n_out_group=po, n_blocks=c // pi, n_groups=-(-o // po), multiplier_limit=pi * po,
                      n_weights=k * k * node.get_attr("reuse_factor") * pi * po)
        params["product_type"] = hls4ml.backends.get_backend("Vivado").product_type(
            node.get_input_variable().type.precision, node.get_weights("weight").type.precision)
        return self.template.format(**params)


class ConvTranspose2DFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__(ConvTranspose2D, include_header=INCLUDES)
        self.template = FUNCTION_TEMPLATE

    def format(self, node):
        params = self._default_function_params(node)
        params["w"] = node.get_weights("weight").name
        params["b"] = node.get_weights("bias").name
        return self.template.format(**params)


# --------------------------------------------------------------------------------------------- registration


def register() -> None:
    """Register the handler, the layer, the Vivado templates and the kernel source with hls4ml (idempotent)."""
    templates = (ConvTranspose2DConfigTemplate, ConvTranspose2DFunctionTemplate)
    register_extension(TORCH_CLASS, parse_conv_transpose2d, LAYER_CLASS, ConvTranspose2D, templates, HEADER)
