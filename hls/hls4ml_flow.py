"""QuantizedModel -> hls4ml 1.3.0 io_stream model, every type taken from the QuantizedModel.

The path is: :func:`to_torch` rebuilds a float torch ``nn.Sequential`` whose weights are the exact dequantized
codes; :func:`hls_config` states every precision, table, strategy and reuse factor of it; :func:`convert` runs
hls4ml's PyTorch converter with fpgagen's flow (the ``view`` fix below) and then checks that hls4ml kept every
type and reuse factor it was given (:class:`HLSConversionError` otherwise).

Layer names: child ``i`` of the Sequential is hls4ml layer ``_<i>``; the k-th reshape (traced through to its
``x.view``) is ``view``, ``view_1``, ...; the input is ``input_1`` (:func:`hls_layer_names`, the one place this
mapping lives). In io_stream hls4ml also inserts ``zp2d_<conv>`` (ZeroPadding2D, typed as its input) before each
padded convolution and replaces ``view`` by ``repack_view`` (Repack, typed as the reshape's result); both copy, and
:func:`convert` checks their types.

``conv_transpose2d`` layers become :class:`~fpgagen.hls.hls4ml_conv_transpose.ConvTranspose2d` (an
``nn.ConvTranspose2d`` that also computes a negative ``output_padding``, Keras's 'same'), which hls4ml 1.3.0 cannot
convert by itself: fpgagen's extension (:mod:`fpgagen.hls.hls4ml_conv_transpose`: torch module, converter handler, IR
layer, templates, C++ kernel) is registered when this module is imported. So is
:mod:`fpgagen.hls.hls4ml_weight_ports`: a layer placed ``loaded`` or ``streamed`` (a dense, a loaded conv2d, a
transposed convolution) becomes its weight-port module (:func:`~fpgagen.hls.hls4ml_weight_ports.port_module`), whose
weights come in on a weight port of the top function instead of being compiled in (:func:`convert` drops them from
the graph after its checks).

The view fix: hls4ml's channels-last conversion gives a ``view(-1, C, H, W)`` the output shape (H, W, C) but keeps
``target_shape = [C, H, W]`` and the Dense's torch (C, H, W) output order: the numbers come out permuted, and in
io_stream the Repack packs the wrong beats (digits8 does not even compile). :class:`ChannelsLastViewFix`, an
hls4ml optimizer pass run by the registered flow ``fpgagen:view_fix`` after hls4ml's ``convert`` flow, permutes the
Dense's output units into (H, W, C) order and sets ``target_shape = [H, W, C]`` (docs/hls4ml-notes.md, section 1).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass

import hls4ml
import hls4ml.model.layers as hl
import numpy as np
import torch
from hls4ml.model.flow import get_flow, register_flow
from hls4ml.model.optimizer import OptimizerPass, get_optimizer, register_pass
from hls4ml.model.types import UnspecifiedPrecisionType, WeightVariable
from torch import nn

from fpgagen.core.errors import ToolNotFoundError  # noqa: F401  (re-exported)
from fpgagen.core.fixed import FixedType
from fpgagen.core.layers import ARITHMETIC, implementation, implements, realises, require
from fpgagen.core.quantized_model import Layer, QuantizedModel
from fpgagen.hls import hls4ml_conv_transpose, hls4ml_weight_ports
from fpgagen.hls.hls4ml_conv_transpose import ConvTranspose2d
from fpgagen.hls.hls4ml_weight_ports import drop_port_weights, port_module, weight_port_passes

FLOW_VERSION = 1  # bump when anything here changes the generated project (it keys the C-simulation cache)
IO_TYPE = "io_stream"
STRATEGY = "Resource"
INPUT_NAME = "input_1"
VIEW_FIX_PASS = "fpgagen_channels_last_view_fix"
VIEW_FIX_FLOW = "fpgagen:view_fix"

hls4ml_conv_transpose.register()  # ConvTranspose2d: handler, layer, templates, kernel (hls4ml 1.3.0 has none)
hls4ml_weight_ports.register()  # layers whose weights come in on a weight port of the top function
realises("hls4ml", "loaded", "dense", "conv2d", "conv_transpose2d")
realises("hls4ml", "streamed", "dense", "conv_transpose2d")


class HLSConversionError(ValueError):
    """hls4ml would build something other than the QuantizedModel says (a type or reuse factor it changed)."""


# --------------------------------------------------------------------------------------------- names, torch model


def hls_layer_names(model: QuantizedModel) -> dict[str, str]:
    """fpgagen layer name -> hls4ml layer name (torch.fx names of :func:`to_torch`'s children)."""
    names, views = {}, 0
    for i, lr in enumerate(model.layers):
        if lr.kind == "reshape":
            names[lr.name] = "view" if views == 0 else f"view_{views}"
            views += 1
        else:
            names[lr.name] = f"_{i}"
    return names


def _dequantize(codes: np.ndarray, t: FixedType, dtype: torch.dtype) -> torch.Tensor:
    values = t.to_float(codes)
    tensor = torch.from_numpy(values).to(dtype)
    if not np.array_equal(tensor.double().numpy(), values):
        raise ValueError(f"codes of {t} are not exactly representable in {dtype}; use dtype=torch.float64")
    return tensor


class View(nn.Module):
    """``x.view(-1, *shape)``: written as a ``view`` call so that torch.fx (and so hls4ml's parser) sees one."""

    def __init__(self, *shape: int):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.view(-1, *self.shape)


@dataclass(frozen=True)
class HlsMapping:
    """The ``hls4ml`` implementation of a layer kind: the torch module hls4ml's converter reads for it
    (``module(layer)``, weights set afterwards) and its ``hls_config`` entry (``configure(layer, entry)`` adds to
    the entry that already holds ``Precision`` with the result type)."""

    module: Callable[[Layer], nn.Module]
    configure: Callable[[Layer, dict], None] = lambda lr, entry: None


def _arithmetic_config(lr: Layer, entry: dict) -> None:
    entry["Precision"].update(weight=str(lr.weight_t), bias=str(lr.bias_t), accum=str(lr.accum_t))
    entry.update(Strategy=STRATEGY, ReuseFactor=int(lr.reuse_factor))
    if lr.kind == "conv2d":
        entry.update(ParallelizationFactor=1, ConvImplementation="LineBuffer")


def _table_config(lr: Layer, entry: dict) -> None:
    entry.update(table_t=str(lr.table_t), TableSize=int(lr.table_size))


def _leaky_relu_config(lr: Layer, entry: dict) -> None:
    entry["Precision"]["param"] = str(lr.param_t)


def _upsample_config(lr: Layer, entry: dict) -> None:
    entry["Algorithm"] = "nearest"


for _kind, _mapping in {
    "dense": HlsMapping(lambda lr: nn.Linear(lr.in_shape[0], lr.out_shape[0]), _arithmetic_config),
    "conv2d": HlsMapping(lambda lr: nn.Conv2d(lr.in_shape[0], lr.out_shape[0], lr.weight.shape[-1],
                                              padding=lr.padding), _arithmetic_config),
    "conv_transpose2d": HlsMapping(lambda lr: ConvTranspose2d(
        lr.in_shape[0], lr.out_shape[0], lr.weight.shape[-1], stride=lr.stride, padding=lr.padding,
        output_padding=lr.output_padding), _arithmetic_config),
    "relu": HlsMapping(lambda lr: nn.ReLU()),
    "leaky_relu": HlsMapping(lambda lr: nn.LeakyReLU(float(lr.param_t.to_float(lr.alpha))), _leaky_relu_config),
    "tanh": HlsMapping(lambda lr: nn.Tanh(), _table_config),
    "sigmoid": HlsMapping(lambda lr: nn.Sigmoid(), _table_config),
    "reshape": HlsMapping(lambda lr: View(*lr.out_shape)),
    "upsample": HlsMapping(lambda lr: nn.Upsample(scale_factor=lr.factor, mode="nearest"), _upsample_config),
}.items():
    implements("hls4ml", _kind)(_mapping)


@torch.no_grad()
def to_torch(model: QuantizedModel, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """A float ``nn.Sequential`` with one child per layer, weights and biases the exact dequantized codes.

    It computes in float (no fixed-point casts), so it is the input of hls4ml's converter, not a bit-exact model.
    ``dtype`` float64 keeps codes wider than 24 bits exact (a ValueError says when float32 cannot).
    """
    require("hls4ml", model.layers)
    if model.kernel != "hls":
        raise ValueError(f"{model.name} is folded for the RTL kernel (--kernel rtl: its own MAC arrays, packed DSP "
                         "slices and LUT multipliers), which hls4ml's kernel cannot build: quantize it with --kernel "
                         "hls for hls4ml's C simulation and board project")
    ports = {wp.layer: wp for wp in weight_port_passes(model)}
    children: list[nn.Module] = []
    for lr in model.layers:
        if lr.name in ports:  # a loaded or streamed layer: its weights come in on a weight port
            m = port_module(lr, ports[lr.name])
        else:
            m = implementation("hls4ml", lr).module(lr)
        if lr.kind in ARITHMETIC:
            m.weight.data = _dequantize(lr.weight, lr.weight_t, dtype)
            m.bias.data = _dequantize(lr.bias, lr.bias_t, dtype)
        children.append(m)
    return nn.Sequential(*children).to(dtype).eval()


# --------------------------------------------------------------------------------------------- config


def hls_config(model: QuantizedModel, backend: str = "Vivado") -> dict:
    """The hls4ml ``hls_config`` (granularity 'name') of ``model``: every precision explicit, never 'auto'.

    Per layer: ``Precision`` (result; weight, bias, accum for dense/conv; param for leaky_relu), ``table_t`` and
    ``TableSize`` for tanh/sigmoid (hls4ml 1.3.0 ignores ``Precision['table']``; a top-level ``table_t`` key is
    honoured), ``Strategy`` Resource and ``ReuseFactor`` = ``Layer.reuse_factor``. ``Flows`` runs fpgagen's view fix,
    then the backend's default flow. The I/O type (io_stream) is a converter argument, see :func:`convert`.
    """
    names = hls_layer_names(model)
    layer_cfg = {INPUT_NAME: {"Precision": {"result": str(model.input_t)}, "Trace": False}}
    for lr in model.layers:
        entry = {"Precision": {"result": str(lr.result_t)}, "Trace": False}
        implementation("hls4ml", lr).configure(lr, entry)
        layer_cfg[names[lr.name]] = entry
    return {
        "Model": {"Precision": {"default": str(model.input_t)}, "ReuseFactor": 1, "Strategy": STRATEGY,
                  "ChannelsLastConversion": "full", "TransposeOutputs": False, "BramFactor": 1_000_000_000,
                  "TraceOutput": False},
        "InputShape": (model.latent_dim,),
        "LayerName": layer_cfg,
        "Flows": [register_view_fix(), hls4ml.backends.get_backend(backend).get_default_flow()],
    }


def convert(model: QuantizedModel, output_dir, backend: str = "Vivado", view_fix: bool = True, **backend_kw):
    """hls4ml ``ModelGraph`` of ``model`` (io_stream), checked against the QuantizedModel; nothing written yet.

    ``backend_kw`` go to hls4ml's converter (VivadoAccelerator: board, interface, input_type, ...).
    ``view_fix=False`` converts without fpgagen's flow, only to show hls4ml's defect (the checks are skipped).
    """
    check_codes(model)
    cfg = hls_config(model, backend)
    if not view_fix:
        cfg.pop("Flows")
    with contextlib.redirect_stdout(io.StringIO()):  # hls4ml prints the topology; check_graph says what matters
        hm = hls4ml.converters.convert_from_pytorch_model(
            to_torch(model, torch.float64), hls_config=cfg, output_dir=str(output_dir), io_type=IO_TYPE,
            backend=backend, **backend_kw)
    if view_fix:
        check_graph(model, hm)
    drop_port_weights(hm)
    return hm


# --------------------------------------------------------------------------------------------- checks


def _type_of(layer, attr: str) -> str:
    var = layer.get_attr(attr)
    if var is None:
        raise HLSConversionError(f"hls4ml layer {layer.name} has no {attr}")
    precision = getattr(var, "precision", None) or getattr(var.type, "precision", None)
    return str(precision)


def layer_types(layer) -> dict[str, str]:
    """Every ``*_t`` type of an hls4ml layer (plus its weight/bias variables) as hls4ml prints it."""
    out = {}
    for key, value in layer.attributes.items():
        if key.endswith("_t") and hasattr(value, "precision"):
            out[key] = str(value.precision)
    for key, var in layer.weights.items():
        out[f"{key}_t"] = str(var.type.precision)
    return out


def assert_no_auto(hm) -> None:
    """Every type in the converted graph is concrete (no 'auto' / UnspecifiedPrecisionType left)."""
    for layer in hm.get_layers():
        for key, value in list(layer.attributes.items()) + [(f"{k}_t", v.type) for k, v in layer.weights.items()]:
            precision = getattr(value, "precision", None) or getattr(getattr(value, "type", None), "precision", None)
            if isinstance(precision, UnspecifiedPrecisionType) or str(precision).lower() == "auto":
                raise HLSConversionError(f"hls4ml layer {layer.name}: {key} is 'auto'")


def check_codes(model: QuantizedModel) -> None:
    """Raise HLSConversionError unless every stored code survives hls4ml's load: weights, biases and the leaky_relu
    slope reach the C++ as decimal text cast to their type, so a code the type's own cast cannot produce (the
    code -2**(W-1) under AP_SAT_SYM) would silently change."""
    problems = []
    for lr in model.layers:
        for what, codes, t in (("weight", lr.weight, lr.weight_t), ("bias", lr.bias, lr.bias_t),
                               ("alpha", None if lr.alpha is None else np.array([lr.alpha]), lr.param_t)):
            if codes is not None:
                changed = np.count_nonzero(t.from_float(t.to_float(codes)) != codes)
                if changed:
                    problems.append(f"{lr.name}: {changed} {what} code(s) change when cast to {t}")
    if problems:
        raise HLSConversionError(f"{model.name!r}: codes hls4ml cannot load unchanged:\n  " + "\n  ".join(problems))


def _same(hls_text: str, want: FixedType) -> bool:
    try:
        return FixedType.parse(hls_text) == want
    except ValueError:
        return False


def check_graph(model: QuantizedModel, hm) -> None:
    """Raise HLSConversionError unless hls4ml kept every type and reuse factor of ``model`` and fixed every view."""
    assert_no_auto(hm)
    layers = {layer.name: layer for layer in hm.get_layers()}
    problems = []
    names = hls_layer_names(model)
    if not _same(_type_of(layers[INPUT_NAME], "result_t"), model.input_t):
        problems.append(f"input: {_type_of(layers[INPUT_NAME], 'result_t')} != {model.input_t}")
    prev_t = model.input_t
    for lr in model.layers:
        name = names[lr.name]
        if lr.kind == "reshape":
            name = f"repack_{name}" if f"repack_{name}" in layers else name
        layer = layers.get(name)
        if layer is None:
            problems.append(f"{lr.name}: no hls4ml layer {name!r} (layers: {', '.join(layers)})")
            continue
        want = {"result_t": lr.result_t}
        if lr.kind in ARITHMETIC:
            want.update(weight_t=lr.weight_t, bias_t=lr.bias_t, accum_t=lr.accum_t)
            rf = layer.get_attr("reuse_factor")
            if rf != lr.reuse_factor:
                problems.append(f"{lr.name}: hls4ml uses ReuseFactor {rf} instead of {lr.reuse_factor} (not valid "
                                f"for its {lr.weight.size} weights under the Resource strategy)")
        if lr.kind == "leaky_relu":
            want["param_t"] = lr.param_t
        if lr.kind in ("tanh", "sigmoid"):
            want["table_t"] = lr.table_t
            if layer.get_attr("table_size") != lr.table_size:
                problems.append(f"{lr.name}: table_size {layer.get_attr('table_size')} != {lr.table_size}")
        types = layer_types(layer)
        for key, t in want.items():
            if not _same(types.get(key, "missing"), t):
                problems.append(f"{lr.name} ({name}).{key}: hls4ml has {types.get(key, 'missing')}, expected {t}")
        if lr.kind == "conv2d" and lr.padding:
            pad = layers.get(f"zp2d_{name}")
            if pad is None or not _same(_type_of(pad, "result_t"), prev_t):
                problems.append(f"{lr.name}: inserted zp2d_{name} missing or not typed as its input {prev_t}")
        if lr.kind == "reshape" and len(lr.out_shape) == 3:
            view = layer if name.startswith("repack_") else layers[name]
            c, h, w = lr.out_shape
            if list(view.get_attr("target_shape")) != [h, w, c]:
                problems.append(f"{lr.name}: {name} was not fixed by {VIEW_FIX_FLOW} (needs Dense -> elementwise "
                                f"layers -> reshape; target_shape {view.get_attr('target_shape')})")
        prev_t = lr.result_t
    if problems:
        raise HLSConversionError(f"hls4ml conversion of {model.name!r} differs from the QuantizedModel:\n  "
                                 + "\n  ".join(problems))


# --------------------------------------------------------------------------------------------- content hash


def model_hash(model: QuantizedModel) -> str:
    """Hash of everything that decides the arithmetic (``model.json`` minus ``info``, and every code array)."""
    doc = {"preset": model.name, "input_t": str(model.input_t), "output_range": list(model.output_range),
           "layers": [lr.to_json() for lr in model.layers]}
    h = hashlib.sha256(json.dumps(doc, sort_keys=True).encode())
    for lr in model.layers:
        for codes in (lr.weight, lr.bias):
            if codes is not None:
                h.update(np.ascontiguousarray(codes, np.int64).tobytes())
    return h.hexdigest()[:20]


# --------------------------------------------------------------------------------------------- the view fix


class ChannelsLastViewFix(OptimizerPass):
    """``Dense -> [elementwise]* -> Reshape(C, H, W)`` made correct under hls4ml's channels-last conversion.

    Matches a Reshape whose ``target_shape`` is (C, H, W) while its output is (H, W, C), fed by a Dense through
    element-wise layers only (Activation, scalar ParametrizedActivation, BatchNormalization). Permutes the Dense's
    output units (weight columns, bias; BatchNorm scale and bias) into (H, W, C) order and sets ``target_shape =
    [H, W, C]``. Runs after hls4ml's 'convert' flow (Dense weights already (n_in, n_out)) and before the backend's
    streaming passes, so the Repack that replaces the Reshape in io_stream is built from the fixed shape.
    """

    def match(self, node):
        if not isinstance(node, hl.Reshape) or getattr(node, "_fpgagen_view_fixed", False):
            return False
        if node.model.config.config["HLSConfig"]["Model"].get("ChannelsLastConversion", "off") == "off":
            return False
        target = list(node.get_attr("target_shape"))
        if len(target) != 3 or list(node.get_output_variable().shape) != [target[1], target[2], target[0]]:
            return False
        return self.source(node) is not None

    @staticmethod
    def source(node):
        """The Dense feeding ``node`` through per-element layers, and the BatchNorms in between (or None)."""
        bns, prev = [], node.get_input_node()
        while prev is not None:
            if isinstance(prev, hl.Dense):
                return prev, bns
            if isinstance(prev, hl.BatchNormalization):
                bns.append(prev)
            elif not isinstance(prev, hl.Activation | hl.ParametrizedActivation) or prev.class_name == "PReLU":
                return None
            if len(prev.get_output_nodes()) != 1:
                return None
            prev = prev.get_input_node()
        return None

    def transform(self, model, node):
        c, h, w = node.get_attr("target_shape")
        perm = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()  # new unit j <- old unit perm[j]
        dense, bns = self.source(node)

        def permute(layer, key, axis):
            var = layer.weights.get(key)
            if var is not None:
                layer.set_attr(key, WeightVariable(var_name=var.name, type_name=var.type.name,
                                                   precision=var.type.precision, quantizer=var.quantizer,
                                                   data=np.take(var.data, perm, axis=axis), index=layer.index))

        permute(dense, "weight", 1)
        permute(dense, "bias", 0)
        for bn in bns:
            permute(bn, "scale", 0)
            permute(bn, "bias", 0)
        node.set_attr("target_shape", [h, w, c])
        node._fpgagen_view_fixed = True
        return True


def register_view_fix() -> str:
    """Register the view-fix pass and the flow ``fpgagen:view_fix`` (requires 'convert'); idempotent."""
    try:
        get_optimizer(VIEW_FIX_PASS)
    except Exception:
        register_pass(VIEW_FIX_PASS, ChannelsLastViewFix)
    try:
        get_flow(VIEW_FIX_FLOW)
    except Exception:
        register_flow(VIEW_FIX_FLOW, [VIEW_FIX_PASS], requires=["convert"])
    return VIEW_FIX_FLOW
