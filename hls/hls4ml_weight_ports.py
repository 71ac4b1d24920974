"""Layers whose weights come in on a weight port of hls4ml's top function (``loaded`` and ``streamed``).

hls4ml 1.3.0 compiles every weight into the kernel (fpgagen's ``rom`` placement). A layer placed ``loaded`` or
``streamed`` (:mod:`fpgagen.core.folding`) reads its weights instead from an ``hls::stream<ap_uint<B>>`` argument
``s_axis_w<k>`` of the top function, ``B`` the board's HP port width (``QuantizedModel.weight_ports.bits``), port
``k`` the k-th off-ROM layer in stream order: the RTL twin's ports, carrying the same passes of the same weights file
(:mod:`fpgagen.core.weight_stream`; the RTL's ``weight_image``), each pass in the word order and split of the RTL
stage's ROM file (:mod:`fpgagen.rtl.memfiles`). The C++ kernels, under ``hls4ml_templates/``
(``nnet_weight_port.h``: the beats and the gearbox all share):

- dense, loaded or streamed: ``nnet_dense_weight_port.h``, fpgagen's own kernel in ``fg_dense``'s word order (loaded:
  the first call writes a RAM);
- conv2d, loaded only (every output pixel reads every weight again, so it is never streamed):
  ``nnet_conv2d_weight_port.h`` writes ``fg_conv2d``'s words, on the first call, into a RAM at the addresses of
  hls4ml's own weight array, then runs hls4ml's ``conv_2d_cl`` on it;
- conv_transpose2d loaded: ``nnet_conv_transpose2d_weight_port.h`` does the same for fpgagen's transposed kernel
  (:mod:`fpgagen.hls.hls4ml_conv_transpose`); streamed: a weight-stationary kernel, like ``fg_conv_transpose2d_ws``
  (each word read once per image, in the pass's order, against the whole input frame).

Like :mod:`fpgagen.hls.hls4ml_conv_transpose`, this extends hls4ml without touching its files, one extension per
kind (:func:`register`):

- a torch module, :class:`WeightPortLinear`, :class:`WeightPortConv2d` or :class:`WeightPortConvTranspose2d`, that
  :func:`fpgagen.hls.hls4ml_flow.to_torch` builds for such a layer (:func:`port_module`), and its converter handler,
  which hls4ml picks by the class name: the layer's own handler's dict, with the port's attributes;
- the IR layer, a subclass of the layer it would be (:class:`WeightPortDense` of hls4ml's ``Dense``,
  :class:`WeightPortConv2D` of ``Conv2D``, :class:`WeightPortConvTranspose2D` of fpgagen's ``ConvTranspose2D``), so
  that every pass for that layer (reuse-factor validation, the zero padding before a conv2d, the resource strategy's
  layout, the view fix) treats it as one, while the templates (matched by class name) are fpgagen's own: the
  parent's config with a ``config<i>_port`` struct after it (:data:`PORT_CONFIG_TEMPLATE`), and a call of the
  weight-port kernel;
- after conversion :func:`drop_port_weights` removes their weight variables (the weights are not compiled in: no
  ``w<i>.txt``, no ROM; ``weight_t`` stays declared), and after ``write()`` :func:`add_weight_ports` adds the ports
  to the project's top function, its prototype and the C bridge, whose ``fpgagen_set_weights`` takes the weights
  file that ``<project>_float`` / ``_double`` then feed in (loaded passes once, streamed passes every call).

hls4ml's writer has no hook for extra top-level arguments, so :func:`add_weight_ports` edits the written text at
the few places it names; it raises :class:`WeightPortError` when hls4ml's output no longer has them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import hls4ml
import numpy as np
from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
from hls4ml.backends.vivado.passes.convolution_templates import (
    Conv2DConfigTemplate,
    conv2d_config_template,
    conv2d_include_list,
    conv_mult_config_template,
)
from hls4ml.converters.pytorch.convolution import parse_conv2d_layer
from hls4ml.model.attributes import Attribute
from hls4ml.model.layers import Conv2D, Dense
from hls4ml.utils.torch import HLS4MLModule
from torch import nn

from fpgagen.core.folding import dense_split, stage_cost, streamed_lanes
from fpgagen.core.layers import ARITHMETIC
from fpgagen.core.quantized_model import Layer, QuantizedModel
from fpgagen.core.transposed import tap_split
from fpgagen.core.weight_stream import pass_beats
from fpgagen.hls.hls4ml_conv_transpose import CONFIG_TEMPLATE as CONV_TRANSPOSE_CONFIG_TEMPLATE
from fpgagen.hls.hls4ml_conv_transpose import (
    ConvTranspose2D,
    ConvTranspose2d,
    ConvTranspose2DConfigTemplate,
    parse_conv_transpose2d,
)
from fpgagen.hls.hls4ml_extension import register_extension

TEMPLATES = Path(__file__).resolve().parent / "hls4ml_templates"
COMMON_HEADER = TEMPLATES / "nnet_weight_port.h"  # the beats and the gearbox, included by the three below
HEADER = TEMPLATES / "nnet_dense_weight_port.h"
CONV2D_HEADER = TEMPLATES / "nnet_conv2d_weight_port.h"
CONV_TRANSPOSE_HEADER = TEMPLATES / "nnet_conv_transpose2d_weight_port.h"
HEADERS = (COMMON_HEADER, HEADER, CONV2D_HEADER, CONV_TRANSPOSE_HEADER)
TORCH_CLASS = "WeightPortLinear"
LAYER_CLASS = "WeightPortDense"
PORT_NAME = "s_axis_w{port}"  # the RTL top's weight ports are named so too
BEAT_TYPE = "fpgagen_weight_beat_t"


class WeightPortError(ValueError):
    """A weight port hls4ml's kernel cannot have, or a written project this module cannot add the ports to."""


@dataclass(frozen=True)
class WeightPortPass:
    """Weight port ``port`` of the kernel: the layer behind it (its ``kind``), its placement, the split of its weight
    words (``n_in_block`` x ``n_out_group`` lanes of ``lane_bits`` bits, ``words`` of them: the RTL stage's), and its
    pass in the weights file (``beats`` beats of ``beat_bits`` bits, ``nbytes`` bytes at ``offset``)."""

    port: int
    layer: str
    kind: str
    placement: str
    n_in_block: int
    n_out_group: int
    lane_bits: int
    words: int
    beat_bits: int
    beats: int
    offset: int
    nbytes: int


def _split(lr: Layer, out_lanes: int | None) -> tuple[int, int, int]:
    """(PI, PO, words) of the RTL stage's weight memory: a dense's or conv2d's MAC array
    (:func:`~fpgagen.core.folding.dense_split` of its dense kernel at the stage's multipliers), a transposed
    convolution's tap split (:func:`~fpgagen.core.transposed.tap_split`, ragged last output group included)."""
    if lr.kind == "conv_transpose2d":
        c, o, k, _ = lr.weight.shape
        pi, po = tap_split(c, o, lr.reuse_factor)
        return pi, po, -(-o // po) * k * k * (c // pi)
    n_out, n_in = lr.weight.shape[0], lr.weight.size // lr.weight.shape[0]  # conv2d: (O, C, K, K) as (O, K*K*C)
    p = stage_cost(lr, lr.reuse_factor, out_lanes).multipliers
    pi, po = dense_split(n_in, n_out, p)
    return pi, po, n_in * n_out // p


def weight_port_passes(model: QuantizedModel) -> list[WeightPortPass]:
    """The weight ports of ``model``'s kernel, in port order (the layers off the ROMs, in stream order): the same
    ports, passes and offsets as the RTL's ``weight_image``, derived here from the folding (a layer's split is its
    RTL stage's, :func:`fpgagen.core.folding.stage_cost`), since the back ends do not import each other."""
    lanes = streamed_lanes(list(model.layers))
    out, offset = [], 0
    for lr in model.layers:
        if lr.kind not in ARITHMETIC or lr.placement == "rom":
            continue
        if model.weight_ports is None:
            raise WeightPortError(f"layer {lr.name} is {lr.placement} but the model has no weight ports")
        pi, po, words = _split(lr, lanes.get(lr.name))
        bits = model.weight_ports.bits
        beats = pass_beats(words, pi * po, lr.weight_t.width, bits)
        out.append(WeightPortPass(len(out), lr.name, lr.kind, lr.placement, pi, po, lr.weight_t.width, words, bits,
                                  beats, offset, beats * bits // 8))
        offset += beats * bits // 8
    return out


def header_digest() -> str:
    """Hash of the C++ kernels, their templates and the project edits: part of the C-simulation cache key of models
    with weight ports."""
    text = (CONFIG_TEMPLATE + FUNCTION_TEMPLATE + PORT_CONFIG_TEMPLATE + CONV2D_FUNCTION_TEMPLATE
            + CONV_TRANSPOSE_FUNCTION_TEMPLATE + SEND_PASS_CPP + BRIDGE_TEMPLATE + PORT_NAME + BEAT_TYPE)
    return hashlib.sha256(b"".join(h.read_bytes() for h in HEADERS) + text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------- torch, converter


class WeightPortLinear(HLS4MLModule, nn.Linear):
    """``nn.Linear`` of a dense whose weights come in on weight port ``port`` (a :class:`WeightPortPass`): hls4ml's
    converter picks fpgagen's handler by the class name and, as an ``HLS4MLModule``, does not trace into it. Its
    weights are the exact codes all the same, so the torch model still computes the layer."""

    def __init__(self, in_features: int, out_features: int, weight_port: WeightPortPass):
        super().__init__(in_features, out_features)
        self.weight_port = weight_port


class WeightPortConv2d(HLS4MLModule, nn.Conv2d):
    """``nn.Conv2d`` of a conv2d whose weights come in on a weight port (as :class:`WeightPortLinear`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int,
                 weight_port: WeightPortPass):
        super().__init__(in_channels, out_channels, kernel_size, padding=padding)
        self.weight_port = weight_port


class WeightPortConvTranspose2d(ConvTranspose2d):
    """fpgagen's ``ConvTranspose2d`` of a transposed convolution whose weights come in on a weight port (as
    :class:`WeightPortLinear`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int,
                 output_padding: int, weight_port: WeightPortPass):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         output_padding=output_padding)
        self.weight_port = weight_port


def port_module(lr: Layer, wp: WeightPortPass) -> nn.Module:
    """The torch module of arithmetic layer ``lr`` behind weight port ``wp`` (weights and biases set afterwards):
    the weight-port class of the module :mod:`fpgagen.hls.hls4ml_flow` builds for the kind, with its geometry."""
    k = lr.weight.shape[-1]
    if lr.kind == "dense":
        return WeightPortLinear(lr.in_shape[0], lr.out_shape[0], wp)
    if lr.kind == "conv2d":
        return WeightPortConv2d(lr.in_shape[0], lr.out_shape[0], k, lr.padding, wp)
    return WeightPortConvTranspose2d(lr.in_shape[0], lr.out_shape[0], k, lr.stride, lr.padding, lr.output_padding,
                                     wp)


def _port_attributes(wp: WeightPortPass) -> dict:
    return {"weight_port": wp.port, "placement": wp.placement, "n_in_block": wp.n_in_block,
            "n_out_group": wp.n_out_group, "beat_bits": wp.beat_bits, "pass_beats": wp.beats, "pass_words": wp.words}


def parse_weight_port_linear(operation, layer_name, input_names, input_shapes, node, class_object, data_reader,
                             config):
    """hls4ml PyTorch handler: :class:`WeightPortLinear` -> a :class:`WeightPortDense` layer dict."""
    layer = {
        "name": layer_name, "inputs": input_names, "class_name": LAYER_CLASS,
        "weight_data": class_object.weight.data.numpy(), "bias_data": class_object.bias.data.numpy(),
        "n_in": class_object.in_features, "n_out": class_object.out_features, "use_bias": True,
        **_port_attributes(class_object.weight_port),
    }
    output_shape = input_shapes[0][:]
    output_shape[-1] = class_object.out_features
    return layer, output_shape


def parse_weight_port_conv2d(operation, layer_name, input_names, input_shapes, node, class_object, data_reader,
                             config):
    """hls4ml PyTorch handler: :class:`WeightPortConv2d` -> hls4ml's Conv2d layer dict as a
    :class:`WeightPortConv2D`."""
    layer, output_shape = parse_conv2d_layer("Conv2d", layer_name, input_names, input_shapes, node, class_object,
                                             data_reader, config)
    layer.update(class_name=CONV2D_LAYER_CLASS, **_port_attributes(class_object.weight_port))
    return layer, output_shape


def parse_weight_port_conv_transpose2d(operation, layer_name, input_names, input_shapes, node, class_object,
                                       data_reader, config):
    """hls4ml PyTorch handler: :class:`WeightPortConvTranspose2d` -> fpgagen's ConvTranspose2d layer dict as a
    :class:`WeightPortConvTranspose2D`."""
    layer, output_shape = parse_conv_transpose2d(operation, layer_name, input_names, input_shapes, node,
                                                 class_object, data_reader, config)
    layer.update(class_name=CONV_TRANSPOSE_LAYER_CLASS, **_port_attributes(class_object.weight_port))
    return layer, output_shape


# --------------------------------------------------------------------------------------------- IR layers


class WeightPortLayer:
    """What the IR layers behind a weight port add to the layer they subclass: the port (``weight_port``), its
    ``placement``, the word split ``n_in_block`` x ``n_out_group`` of the RTL stage, ``beat_bits``, ``pass_beats``
    and ``pass_words``. hls4ml collects ``_expected_attributes`` along the class hierarchy."""

    _expected_attributes = [Attribute("weight_port"), Attribute("placement", value_type=str), Attribute("n_in_block"),
                            Attribute("n_out_group"), Attribute("beat_bits"), Attribute("pass_beats"),
                            Attribute("pass_words")]


class WeightPortDense(WeightPortLayer, Dense):
    """hls4ml's Dense whose weights come from a weight port. It keeps Dense's weight variable through hls4ml's passes
    (the view fix permutes it like a Dense's) until :func:`drop_port_weights`."""


class WeightPortConv2D(WeightPortLayer, Conv2D):
    """hls4ml's Conv2D whose weights are loaded from a weight port. Its weight variable goes through hls4ml's passes
    as a Conv2D's (the channels-last transposition, the resource strategy's (F, H, W, C) layout) until
    :func:`drop_port_weights` checks that layout, which the kernel's RAM is written in, and removes it. It counts no
    zero weights: those loaded are not known when the kernel is built, so no multiplier can be left out for them."""

    def initialize(self):
        super().initialize()
        self.get_weights("weight").nzeros = 0


class WeightPortConvTranspose2D(WeightPortLayer, ConvTranspose2D):
    """fpgagen's ConvTranspose2D whose weights come from a weight port (loaded or streamed)."""


PORT_LAYERS = (WeightPortDense, WeightPortConv2D, WeightPortConvTranspose2D)
CONV2D_LAYER_CLASS = WeightPortConv2D.__name__
CONV_TRANSPOSE_LAYER_CLASS = WeightPortConvTranspose2D.__name__


def drop_port_weights(hm) -> None:
    """Remove the weight variable of every weight-port layer of ``hm`` (after conversion and its checks, before
    ``write()``): the project then neither compiles those weights in nor writes them. ``weight_t`` stays. A conv2d's
    weights must be laid out as its kernel writes its RAM, hls4ml's Resource layout (O, KH, KW, C) of torch's
    (O, C, KH, KW): :class:`WeightPortError` otherwise (an hls4ml that lays them out differently)."""
    for layer in hm.get_layers():
        if not isinstance(layer, PORT_LAYERS):
            continue
        var = layer.weights.pop("weight", None)
        if isinstance(layer, WeightPortConv2D) and var is not None:
            want = np.asarray(layer.get_attr("weight_data")).transpose(0, 2, 3, 1)
            if var.data.shape != want.shape or not np.array_equal(var.data, want):
                raise WeightPortError(f"hls4ml layer {layer.name}: hls4ml ({hls4ml.__version__}) laid out its conv2d "
                                      f"weights as {var.data.shape}, not the (O, KH, KW, C) = {want.shape} the kernel "
                                      "writes its RAM in")


# --------------------------------------------------------------------------------------------- templates

# the fields of a weight port's config (nnet::weight_port_config), the dense's and a convolution's alike
PORT_FIELDS = """    static const unsigned n_in_block = {n_in_block};
    static const unsigned n_out_group = {n_out_group};
    static const unsigned n_blocks = {n_blocks};
    static const unsigned n_groups = {n_groups};
    static const unsigned multiplier_limit = {multiplier_limit};
    static const unsigned n_words = {n_words};
    static const unsigned lane_bits = {lane_bits};
    static const unsigned beat_bits = {beat_bits};
    static const unsigned pass_beats = {pass_beats};
    static const bool loaded = {loaded};
"""

CONFIG_TEMPLATE = ("""struct config{index} : nnet::dense_weight_port_config {{
    static const unsigned n_in = {n_in};
    static const unsigned n_out = {n_out};
""" + PORT_FIELDS + """    typedef {accum_t.name} accum_t;
    typedef {bias_t.name} bias_t;
    typedef {weight_t.name} weight_t;
    template<class x_T, class y_T>
    using product = nnet::product::{product_type}<x_T, y_T>;
}};\n""")

FUNCTION_TEMPLATE = ("nnet::dense_weight_port<{input_t}, {output_t}, {config}>({input}, {output}, {port}, {b});"
                     " // weight port {port_index}, {placement}")
INCLUDES = [f"nnet_utils/{HEADER.name}"]

# the weight port of a convolution, after the layer's own config (config<i>)
PORT_CONFIG_TEMPLATE = ("struct config{index}_port : nnet::weight_port_config {{\n" + PORT_FIELDS
                        + "    typedef {weight_t.name} weight_t;\n}};\n")

CONV2D_FUNCTION_TEMPLATE = ("nnet::conv_2d_weight_port_cl<{input_t}, {output_t}, {config}, {config}_port>({input}, "
                            "{output}, {port}, {b}); // weight port {port_index}, loaded")
CONV_TRANSPOSE_FUNCTION_TEMPLATE = ("nnet::{kernel}<{input_t}, {output_t}, {config}, {config}_port>({input}, "
                                    "{output}, {port}, {b}); // weight port {port_index}, {placement}")
CONV_TRANSPOSE_KERNELS = {"loaded": "conv_transpose_2d_weight_port_cl", "streamed": "conv_transpose_2d_ws_cl"}


def _require_stream(node) -> None:
    if node.model.config.get_config_value("IOType") != "io_stream":
        raise WeightPortError(f"hls4ml layer {node.name} ({node.class_name}): only io_stream is implemented")


def _port_config(node, n_blocks: int, n_groups: int) -> str:
    """``config<i>_port`` of a convolution's weight port (``n_blocks`` input blocks, ``n_groups`` output groups)."""
    pi, po = node.get_attr("n_in_block"), node.get_attr("n_out_group")
    weight_t = node.get_attr("weight_t")
    return PORT_CONFIG_TEMPLATE.format(
        index=node.index, n_in_block=pi, n_out_group=po, n_blocks=n_blocks, n_groups=n_groups,
        multiplier_limit=pi * po, n_words=node.get_attr("pass_words"), lane_bits=weight_t.precision.width,
        beat_bits=node.get_attr("beat_bits"), pass_beats=node.get_attr("pass_beats"),
        loaded="true" if node.get_attr("placement") == "loaded" else "false", weight_t=weight_t)


def _port_call_params(template: FunctionCallTemplate, node) -> dict:
    params = template._default_function_params(node)
    params.update(port=PORT_NAME.format(port=node.get_attr("weight_port")), port_index=node.get_attr("weight_port"),
                  b=node.get_weights("bias").name, placement=node.get_attr("placement"))
    return params


class WeightPortDenseConfigTemplate(LayerConfigTemplate):
    def __init__(self):
        super().__init__(WeightPortDense)
        self.template = CONFIG_TEMPLATE

    def format(self, node):
        _require_stream(node)
        params = self._default_config_params(node)
        n_in, n_out = node.get_attr("n_in"), node.get_attr("n_out")
        pi, po = node.get_attr("n_in_block"), node.get_attr("n_out_group")
        weight_t = node.get_attr("weight_t")
        params.update(n_blocks=n_in // pi, n_groups=n_out // po, multiplier_limit=pi * po,
                      n_words=n_in * n_out // (pi * po), lane_bits=weight_t.precision.width,
                      loaded="true" if node.get_attr("placement") == "loaded" else "false", weight_t=weight_t)
        params["product_type"] = hls4ml.backends.get_backend("Vivado").product_type(
            node.get_input_variable().type.precision, weight_t.precision)
        return self.template.format(**params)


class WeightPortDenseFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__(WeightPortDense, include_header=INCLUDES)
        self.template = FUNCTION_TEMPLATE

    def format(self, node):
        return self.template.format(**_port_call_params(self, node))


class WeightPortConv2DConfigTemplate(Conv2DConfigTemplate):
    """hls4ml's Conv2D config (and its ``_mult`` config), then the port's."""

    def __init__(self):
        LayerConfigTemplate.__init__(self, WeightPortConv2D)  # hls4ml's PointwiseConv2D template does the same
        self.template = conv2d_config_template
        self.mult_template = conv_mult_config_template

    def format(self, node):
        _require_stream(node)
        n_in = node.get_attr("filt_height") * node.get_attr("filt_width") * node.get_attr("n_chan")
        return super().format(node) + _port_config(node, n_in // node.get_attr("n_in_block"),
                                                   node.get_attr("n_filt") // node.get_attr("n_out_group"))


class WeightPortConv2DFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__(WeightPortConv2D, include_header=[*conv2d_include_list, f"nnet_utils/{CONV2D_HEADER.name}"])
        self.template = CONV2D_FUNCTION_TEMPLATE

    def format(self, node):
        return self.template.format(**_port_call_params(self, node))


class WeightPortConvTranspose2DConfigTemplate(ConvTranspose2DConfigTemplate):
    """fpgagen's ConvTranspose2D config, then the port's."""

    def __init__(self):
        LayerConfigTemplate.__init__(self, WeightPortConvTranspose2D)
        self.template = CONV_TRANSPOSE_CONFIG_TEMPLATE

    def format(self, node):
        po = node.get_attr("n_out_group")
        return super().format(node) + _port_config(node, node.get_attr("n_chan") // node.get_attr("n_in_block"),
                                                   -(-node.get_attr("n_filt") // po))


class WeightPortConvTranspose2DFunctionTemplate(FunctionCallTemplate):
    def __init__(self):
        super().__init__(WeightPortConvTranspose2D, include_header=[f"nnet_utils/{CONV_TRANSPOSE_HEADER.name}"])
        self.template = CONV_TRANSPOSE_FUNCTION_TEMPLATE

    def format(self, node):
        params = _port_call_params(self, node)
        params["kernel"] = CONV_TRANSPOSE_KERNELS[node.get_attr("placement")]
        return self.template.format(**params)


# --------------------------------------------------------------------------------------------- the written project

# The weights file in memory and one port's pass sent from it, as the DMA sends it: the C bridge's and the board
# project's testbench's (fpgagen.hls.accelerator.add_axi_weight_ports)
SEND_PASS_CPP = """#include <vector>
static std::vector<unsigned char> fpgagen_weights;

template <class beat_T, unsigned BEAT_BYTES>
static void fpgagen_send_pass(hls::stream<beat_T> &port, unsigned long offset, unsigned long beats) {
    for (unsigned long i = 0; i < beats; i++) {
        beat_T beat = 0;
        for (unsigned b = 0; b < BEAT_BYTES; b++) {
            beat(8 * b + 7, 8 * b) = fpgagen_weights[offset + i * BEAT_BYTES + b];
        }
        port.write(beat);
    }
}

"""

BRIDGE_TEMPLATE = """
// fpgagen: the weights file of the kernel's weight ports (fpgagen.hls.hls4ml_weight_ports), fed by the wrappers
// below: each loaded pass once (the first call after fpgagen_set_weights), each streamed pass every call.
{send_pass}static bool fpgagen_loaded_sent = false;
static long fpgagen_weight_errors = 0;

extern "C" {{
// The weights file (every port's pass, as fpgagen's weight_image lays it out); returns 0, -1 when its length is
// not the {nbytes} bytes the ports take, or -2 when it changes a loaded pass the kernel already holds (its RAM is
// written once, as after reset: load the library afresh).
int fpgagen_set_weights(const unsigned char *data, unsigned long nbytes) {{
    static const unsigned long loaded[][2] = {{{loaded_ranges}{{0, 0}}}};  // (offset, bytes) of each loaded pass
    if (nbytes != {nbytes}UL) return -1;
    if (fpgagen_loaded_sent) {{
        for (unsigned i = 0; loaded[i][1]; i++) {{
            for (unsigned long b = loaded[i][0]; b < loaded[i][0] + loaded[i][1]; b++) {{
                if (data[b] != fpgagen_weights[b]) return -2;
            }}
        }}
    }}
    fpgagen_weights.assign(data, data + nbytes);
    return 0;
}}

// Calls whose weight ports held beats the kernel did not read, or were called before fpgagen_set_weights.
long fpgagen_weight_port_errors() {{ return fpgagen_weight_errors; }}
}}

static bool fpgagen_feed_ports({port_params}) {{
    if (fpgagen_weights.empty()) {{
        fpgagen_weight_errors++;
        return false;
    }}
{feed}    fpgagen_loaded_sent = true;
    return true;
}}

static void fpgagen_check_ports({port_params}) {{
{check}}}
"""


def _edit(text: str, pattern: str, repl, what: str, path: Path) -> str:
    new, n = re.subn(pattern, repl, text, count=1, flags=re.S)
    if n != 1:
        raise WeightPortError(f"{path}: hls4ml's {what} not found; this hls4ml ({hls4ml.__version__}) writes projects "
                              "fpgagen cannot add weight ports to")
    return new


def add_weight_ports(project_dir, project: str, passes: list[WeightPortPass], bridge_top: str | None = None) -> None:
    """Add weight ports ``s_axis_w<k>`` to the hls4ml project written in ``project_dir`` (after ``write()``): the
    top function's parameters and AXI-Stream interface pragma, its prototype, and in the C bridge the weights file
    (``fpgagen_set_weights``) fed into the ports around each call of ``<project>_float`` / ``<project>_double``.
    ``bridge_top``: the function the bridge calls (the board project's bridge calls the AXI wrapper
    ``<project>_axi``, which :func:`fpgagen.hls.accelerator.add_axi_weight_ports` gives the ports); default
    ``project``."""
    if not passes:
        return
    project_dir = Path(project_dir)
    bits = {wp.beat_bits for wp in passes}
    if len(bits) != 1:
        raise WeightPortError(f"weight ports of different widths {sorted(bits)}")
    beat_bits = bits.pop()
    names = [PORT_NAME.format(port=wp.port) for wp in passes]
    params = ",\n".join(f"    hls::stream<{BEAT_TYPE}> &{n}" for n in names)

    header = project_dir / "firmware" / f"{project}.h"
    text = header.read_text()
    text = _edit(text, r'(#include "defines.h"\n)', rf"\1\ntypedef ap_uint<{beat_bits}> {BEAT_TYPE};  // a weight "
                 "port's beat (fpgagen)\n", "defines include", header)
    text = _edit(text, rf"(void {project}\(.*?)(\n\);)", lambda m: f"{m.group(1)},\n{params}{m.group(2)}",
                 "top-function prototype", header)
    header.write_text(text)

    source = project_dir / "firmware" / f"{project}.cpp"
    text = source.read_text()
    text = _edit(text, rf"(void {project}\(.*?)(\n\) {{)", lambda m: f"{m.group(1)},\n{params}{m.group(2)}",
                 "top-function definition", source)
    text = _edit(text, r"(#pragma HLS INTERFACE axis port=\S+)", lambda m: f"{m.group(1)},{','.join(names)}",
                 "AXI-Stream interface pragma", source)
    source.write_text(text)

    bridge = project_dir / f"{project}_bridge.cpp"
    text = bridge.read_text()
    port_params = ", ".join(f"hls::stream<{BEAT_TYPE}> &{n}" for n in names)
    feed = "".join(
        ("    if (!fpgagen_loaded_sent) " if wp.placement == "loaded" else "    ")
        + f"fpgagen_send_pass<{BEAT_TYPE}, {beat_bits // 8}>({n}, {wp.offset}UL, {wp.beats}UL);  // {wp.layer}, "
        f"{wp.placement}\n" for wp, n in zip(passes, names, strict=True))
    check = "".join(f"    if (!{n}.empty()) {{ fpgagen_weight_errors++; while (!{n}.empty()) {n}.read(); }}\n"
                    for n in names)
    nbytes = passes[-1].offset + passes[-1].nbytes
    loaded_ranges = "".join(f"{{{wp.offset}UL, {wp.nbytes}UL}}, " for wp in passes if wp.placement == "loaded")
    glue = BRIDGE_TEMPLATE.format(nbytes=nbytes, port_params=port_params, feed=feed, check=check,
                                  loaded_ranges=loaded_ranges, send_pass=SEND_PASS_CPP)
    text = _edit(text, r'(\nextern "C" \{\n)', lambda m: glue + m.group(1), "extern \"C\" block", bridge)
    args = ",".join(names)

    def call(m):
        lines = [*(f'hls::stream<{BEAT_TYPE}> {n}("{n}");' for n in names), f"if (!fpgagen_feed_ports({args})) return;",
                 f"{m.group(2)},{args});", f"fpgagen_check_ports({args});"]
        return "".join(m.group(1) + line for line in lines)

    called = bridge_top or project
    text, n = re.subn(rf"(\n[ \t]*)({called}\([^;]*?)\);", call, text)
    if n != 2:
        raise WeightPortError(f"{bridge}: expected the two calls of {called} in {project}_float and _double, found "
                              f"{n}; this hls4ml ({hls4ml.__version__}) writes a bridge fpgagen cannot add weight "
                              "ports to")
    bridge.write_text(text)


# --------------------------------------------------------------------------------------------- registration


EXTENSIONS = (  # torch class, handler, IR layer, templates, kernel
    (TORCH_CLASS, parse_weight_port_linear, WeightPortDense,
     (WeightPortDenseConfigTemplate, WeightPortDenseFunctionTemplate), HEADER),
    (WeightPortConv2d.__name__, parse_weight_port_conv2d, WeightPortConv2D,
     (WeightPortConv2DConfigTemplate, WeightPortConv2DFunctionTemplate), CONV2D_HEADER),
    (WeightPortConvTranspose2d.__name__, parse_weight_port_conv_transpose2d, WeightPortConvTranspose2D,
     (WeightPortConvTranspose2DConfigTemplate, WeightPortConvTranspose2DFunctionTemplate), CONV_TRANSPOSE_HEADER),
)


def register() -> None:
    """Register the handlers, the layers, the Vivado templates and the kernel sources with hls4ml (idempotent)."""
    for torch_class, handler, layer_class, templates, header in EXTENSIONS:
        register_extension(torch_class, handler, layer_class.__name__, layer_class, templates, (COMMON_HEADER, header))
