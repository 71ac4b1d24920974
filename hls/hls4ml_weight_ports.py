"""Dense layers whose weights come in on a weight port of hls4ml's top function (``loaded`` and ``streamed``).

hls4ml 1.3.0 compiles every weight into the kernel (fpgagen's ``rom`` placement). A dense placed ``loaded`` or
``streamed`` (:mod:`fpgagen.core.folding`) reads its weights instead from an ``hls::stream<ap_uint<B>>`` argument
``s_axis_w<k>`` of the top function, ``B`` the board's HP port width (``QuantizedModel.weight_ports.bits``), port
``k`` the k-th off-ROM layer in stream order: the RTL twin's ports, carrying the same passes of the same weights file
(:mod:`fpgagen.core.weight_stream`; the RTL's ``weight_image``). The C++ kernel is
``hls4ml_templates/nnet_dense_weight_port.h``; its word order and split are the RTL's ``fg_dense``'s.

Like :mod:`fpgagen.hls.hls4ml_conv_transpose`, this extends hls4ml without touching its files:

- :class:`WeightPortLinear`, the torch module :func:`fpgagen.hls.hls4ml_flow.to_torch` builds for such a dense,
  and its converter handler (:func:`parse_weight_port_linear`);
- the IR layer :class:`WeightPortDense`, a subclass of hls4ml's ``Dense``: every Dense pass (reuse-factor
  validation, the view fix) treats it as one, while the templates (matched by class name) are fpgagen's own;
- after conversion :func:`drop_port_weights` removes its weight variable (the weights are not compiled in: no
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
from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
from hls4ml.model.attributes import Attribute
from hls4ml.model.layers import Dense
from hls4ml.utils.torch import HLS4MLModule
from torch import nn

from fpgagen.core.folding import dense_split, stage_cost, streamed_lanes
from fpgagen.core.layers import ARITHMETIC
from fpgagen.core.quantized_model import QuantizedModel
from fpgagen.core.weight_stream import pass_beats
from fpgagen.hls.hls4ml_extension import register_extension

HEADER = Path(__file__).resolve().parent / "hls4ml_templates" / "nnet_dense_weight_port.h"
TORCH_CLASS = "WeightPortLinear"
LAYER_CLASS = "WeightPortDense"
PORT_NAME = "s_axis_w{port}"  # the RTL top's weight ports are named so too
BEAT_TYPE = "fpgagen_weight_beat_t"


class WeightPortError(ValueError):
    """A weight port hls4ml's kernel cannot have, or a written project this module cannot add the ports to."""


@dataclass(frozen=True)
class WeightPortPass:
    """Weight port ``port`` of the kernel: the layer behind it, its placement, the split of its weight words
    (``n_in_block`` x ``n_out_group`` lanes of ``lane_bits`` bits, ``words`` of them: the RTL's), and its pass in the
    weights file (``beats`` beats of ``beat_bits`` bits, ``nbytes`` bytes at ``offset``)."""

    port: int
    layer: str
    placement: str
    n_in_block: int
    n_out_group: int
    lane_bits: int
    words: int
    beat_bits: int
    beats: int
    offset: int
    nbytes: int


def weight_port_passes(model: QuantizedModel) -> list[WeightPortPass]:
    """The weight ports of ``model``'s kernel, in port order (the layers off the ROMs, in stream order): the same
    ports, passes and offsets as the RTL's ``weight_image``, derived here from the folding (a dense's multipliers
    are its RTL stage's, :func:`fpgagen.core.folding.stage_cost`), since the back ends do not import each other.
    Raises :class:`WeightPortError` for an off-ROM layer this back end does not realise yet."""
    lanes = streamed_lanes(list(model.layers))
    out, offset = [], 0
    for lr in model.layers:
        if lr.kind not in ARITHMETIC or lr.placement == "rom":
            continue
        if lr.kind != "dense":
            raise WeightPortError(f"layer {lr.name} ({lr.kind}, {lr.placement}): hls4ml's kernel has weight ports for "
                                  "dense layers only")
        if model.weight_ports is None:
            raise WeightPortError(f"layer {lr.name} is {lr.placement} but the model has no weight ports")
        n_out, n_in = lr.weight.shape
        p = stage_cost(lr, lr.reuse_factor, lanes.get(lr.name)).multipliers
        pi, po = dense_split(n_in, n_out, p)
        bits = model.weight_ports.bits
        words = n_in * n_out // p
        beats = pass_beats(words, p, lr.weight_t.width, bits)
        out.append(WeightPortPass(len(out), lr.name, lr.placement, pi, po, lr.weight_t.width, words, bits, beats,
                                  offset, beats * bits // 8))
        offset += beats * bits // 8
    return out


def header_digest() -> str:
    """Hash of the C++ kernel, its templates and the project edits: part of the C-simulation cache key of models
    with weight ports."""
    text = CONFIG_TEMPLATE + FUNCTION_TEMPLATE + BRIDGE_TEMPLATE + PORT_NAME + BEAT_TYPE
    return hashlib.sha256(HEADER.read_bytes() + text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------- torch, converter


class WeightPortLinear(HLS4MLModule, nn.Linear):
    """``nn.Linear`` of a dense whose weights come in on weight port ``port`` (a :class:`WeightPortPass`): hls4ml's
    converter picks fpgagen's handler by the class name and, as an ``HLS4MLModule``, does not trace into it. Its
    weights are the exact codes all the same, so the torch model still computes the layer."""

    def __init__(self, in_features: int, out_features: int, weight_port: WeightPortPass):
        super().__init__(in_features, out_features)
        self.weight_port = weight_port


def parse_weight_port_linear(operation, layer_name, input_names, input_shapes, node, class_object, data_reader,
                             config):
    """hls4ml PyTorch handler: :class:`WeightPortLinear` -> a :class:`WeightPortDense` layer dict."""
    wp = class_object.weight_port
    layer = {
        "name": layer_name, "inputs": input_names, "class_name": LAYER_CLASS,
        "weight_data": class_object.weight.data.numpy(), "bias_data": class_object.bias.data.numpy(),
        "n_in": class_object.in_features, "n_out": class_object.out_features, "use_bias": True,
        "weight_port": wp.port, "placement": wp.placement, "n_in_block": wp.n_in_block,
        "n_out_group": wp.n_out_group, "beat_bits": wp.beat_bits, "pass_beats": wp.beats,
    }
    output_shape = input_shapes[0][:]
    output_shape[-1] = class_object.out_features
    return layer, output_shape


class WeightPortDense(Dense):
    """hls4ml's Dense whose weights come from weight port ``weight_port`` (attributes: the port, ``placement``,
    the word split ``n_in_block`` x ``n_out_group``, ``beat_bits``, ``pass_beats``). It keeps Dense's weight
    variable through hls4ml's passes (the view fix permutes it like a Dense's) until :func:`drop_port_weights`."""

    _expected_attributes = [*Dense._expected_attributes, Attribute("weight_port"),
                            Attribute("placement", value_type=str), Attribute("n_in_block"), Attribute("n_out_group"),
                            Attribute("beat_bits"), Attribute("pass_beats")]


def drop_port_weights(hm) -> None:
    """Remove the weight variable of every :class:`WeightPortDense` of ``hm`` (after conversion and its checks,
    before ``write()``): the project then neither compiles those weights in nor writes them. ``weight_t`` stays."""
    for layer in hm.get_layers():
        if isinstance(layer, WeightPortDense):
            layer.weights.pop("weight", None)


# --------------------------------------------------------------------------------------------- templates

CONFIG_TEMPLATE = """struct config{index} : nnet::dense_weight_port_config {{
    static const unsigned n_in = {n_in};
    static const unsigned n_out = {n_out};
    static const unsigned n_in_block = {n_in_block};
    static const unsigned n_out_group = {n_out_group};
    static const unsigned n_blocks = {n_blocks};
    static const unsigned n_groups = {n_groups};
    static const unsigned multiplier_limit = {multiplier_limit};
    static const unsigned n_words = {n_words};
    static const unsigned lane_bits = {lane_bits};
    static const unsigned beat_bits = {beat_bits};
    static const unsigned pass_beats = {pass_beats};
    static const bool loaded = {loaded};
    typedef {accum_t.name} accum_t;
    typedef {bias_t.name} bias_t;
    typedef {weight_t.name} weight_t;
    template<class x_T, class y_T>
    using product = nnet::product::{product_type}<x_T, y_T>;
}};\n"""

FUNCTION_TEMPLATE = ("nnet::dense_weight_port<{input_t}, {output_t}, {config}>({input}, {output}, {port}, {b});"
                     " // weight port {port_index}, {placement}")
INCLUDES = [f"nnet_utils/{HEADER.name}"]


class WeightPortDenseConfigTemplate(LayerConfigTemplate):
    def __init__(self):
        super().__init__(WeightPortDense)
        self.template = CONFIG_TEMPLATE

    def format(self, node):
        if node.model.config.get_config_value("IOType") != "io_stream":
            raise WeightPortError(f"hls4ml layer {node.name} ({LAYER_CLASS}): only io_stream is implemented")
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
        params = self._default_function_params(node)
        params.update(port=PORT_NAME.format(port=node.get_attr("weight_port")), port_index=node.get_attr("weight_port"),
                      b=node.get_weights("bias").name, placement=node.get_attr("placement"))
        return self.template.format(**params)


# --------------------------------------------------------------------------------------------- the written project

BRIDGE_TEMPLATE = """
// fpgagen: the weights file of the kernel's weight ports (fpgagen.hls.hls4ml_weight_ports), fed by the wrappers
// below: each loaded pass once (the first call after fpgagen_set_weights), each streamed pass every call.
#include <vector>
static std::vector<unsigned char> fpgagen_weights;
static bool fpgagen_loaded_sent = false;
static long fpgagen_weight_errors = 0;

template <class beat_T, unsigned BEAT_BYTES>
static void fpgagen_send_pass(hls::stream<beat_T> &port, unsigned long offset, unsigned long beats) {{
    for (unsigned long i = 0; i < beats; i++) {{
        beat_T beat = 0;
        for (unsigned b = 0; b < BEAT_BYTES; b++) {{
            beat(8 * b + 7, 8 * b) = fpgagen_weights[offset + i * BEAT_BYTES + b];
        }}
        port.write(beat);
    }}
}}

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
                                  loaded_ranges=loaded_ranges)
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


def register() -> None:
    """Register the handler, the layer, the Vivado templates and the kernel source with hls4ml (idempotent)."""
    templates = (WeightPortDenseConfigTemplate, WeightPortDenseFunctionTemplate)
    register_extension(TORCH_CLASS, parse_weight_port_linear, LAYER_CLASS, WeightPortDense, templates, HEADER)
