"""The ONNX front end: a ``.onnx`` generator -> a FloatModel of the layer vocabulary, checked with onnxruntime.

:func:`read_onnx` reads a graph from one latent input (N, latent_dim) -- or (N, latent_dim, 1, 1) -- to one image
output and lowers it node by node, each node by the ``onnx`` implementation of its kind in :mod:`fpgagen.core.layers`
(registered by :mod:`fpgagen.models.onnx_ops`: each names the op types it lowers and their limits), with

- **BatchNormalization** (inference) folded into the Gemm/MatMul/Conv/ConvTranspose right before it (float64,
  once, as the torch front end folds), and an **Add of a constant** right after one of them taken as its bias
  (MatMul + Add is a dense layer);
- **shape-only nodes** (Reshape, Flatten, Squeeze, Unsqueeze) never lowered one by one: a run of them becomes one
  ``reshape`` layer right before the layer that needs the shape, or none where the shape does not change;
- **Transpose** nodes, which channels-last exporters (tf2onnx, Keras) put around convolutions, tracked as the
  layout of the current tensor (a permutation of fpgagen's channels-first one): a Reshape of a vector to
  (N, H, W, C) transposed to NCHW becomes :func:`~fpgagen.models.imports.channels_last_reshape` (the dense layer's
  rows permuted, no layer added); Conv, ConvTranspose and Resize need NCHW; an output left channels-last is
  delivered NCHW (and ``run`` transposes onnxruntime's output the same way);
- a **ConvTranspose on a 1x1 map** after the latent vector (the PyTorch DCGAN stem, input (N, nz, 1, 1) or a
  Reshape to it) lowered to ``dense`` + ``reshape``, as the torch front end does;
- a **flat output** (N, C*H*W), a VAE decoder's, viewed as the (C, H, W) given (``image_shape``,
  :func:`~fpgagen.models.imports.image_view`): a ``reshape`` appended, as a final Reshape node to (N, C, H, W)
  would be, and onnxruntime's output viewed the same way;
- **Identity**, **Dropout** (inference) passed through, and every node whose inputs are all constants -- Constant,
  and the shape arithmetic torch's exporter writes for ``x.view(x.size(0), ...)``: Shape, Gather, Unsqueeze,
  Concat, Cast, Slice ... -- evaluated at import (by onnx's reference evaluator), not lowered.

Layer ``i`` is named ``<kind>_<i>``. Anything unsupported -- an op outside the vocabulary, an unsupported attribute,
a second input, a branch or merge, an opset outside :data:`OPSETS` -- is refused before anything else is built, in
one :class:`~fpgagen.core.errors.LoweringError` naming every offending node (name, op type, attribute) and the
vocabulary. Nothing is written anywhere.

**Opsets** 9 to 28 of the default domain: 9 is the first whose BatchNormalization has no ``spatial`` attribute and
whose Upsample takes its scales as an input; 28 is the newest both onnx 1.23.2's checker and onnxruntime 1.32.0
accept. torch 2.13's legacy (TorchScript) exporter writes opsets 7 to 20, 20 by default.

torch-free: onnx, onnxruntime and numpy only, so an ONNX file is read and checked without torch.

The per-kind lowerings and the folding live in :mod:`fpgagen.models.onnx_ops`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from fpgagen.core.errors import LoweringError, Problems, Unsupported
from fpgagen.core.float_model import FloatLayer, FloatModel
from fpgagen.core.latents import check_latents
from fpgagen.core.layers import LayerError, get_kind, registered
from fpgagen.models.imports import SourceModel, channels_last_reshape, image_view, viewed
from fpgagen.models.onnx_ops import Flow, OnnxLowering, OnnxOp, batched, fold_batchnorm, fold_bias, identity_perm

OPSETS = (9, 28)  # default-domain opsets read (inclusive)
BATCH = 1021  # the batch size shape arithmetic sees where the graph's batch axis is symbolic (a prime no feature has)
END = 1 << 30  # graph position of problems with the output (reported last)
PASSED = ("Identity", "Dropout")
SHAPE_READERS = ("Shape", "Size")  # read only the shape of a computed tensor: not a use of its values
RANDOM = ("RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli")


# ============================================================================================== the walk
def vocabulary() -> str:
    """What fpgagen lowers of ONNX, kind by kind, in words (the tail of every refusal)."""
    lines = [f"  {kind}: {lowering.describe()}" for kind, lowering in registered("onnx").items()]
    lines += ["  BatchNormalization (inference) directly after Gemm, MatMul, Conv or ConvTranspose: folded into it",
              "  Add of a constant directly after Gemm, MatMul, Conv or ConvTranspose: its bias",
              "  Identity, Dropout (inference): passed through",
              "  any node of constant inputs (Constant; Shape, Gather, Unsqueeze, Concat, Cast, Slice ... on known "
              "shapes): evaluated at import",
              f"  default-domain opsets {OPSETS[0]} to {OPSETS[1]}"]
    return "\n".join(lines)


def _lowering_of(op_type: str) -> tuple[str, OnnxLowering] | None:
    for kind, lowering in registered("onnx").items():
        if op_type in lowering.ops:
            return kind, lowering
    return None


def _label(index: int, node: onnx.NodeProto) -> str:
    op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
    return f"{node.name or f'node #{index}'} ({op})"


def _attributes(node: onnx.NodeProto) -> dict:
    attrs = {}
    for a in node.attribute:
        value = onnx.helper.get_attribute_value(a)
        attrs[a.name] = value.decode() if isinstance(value, bytes) else value
    return attrs


def _load(path: Path) -> onnx.ModelProto:
    """The checked model; FileNotFoundError or ValueError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(str(path))
    except Exception as e:  # protobuf's DecodeError and friends
        raise ValueError(f"{path} is not an ONNX model: {type(e).__name__}: {e}") from None
    if not model.graph.node and not model.graph.output:
        raise ValueError(f"{path} is not an ONNX model: it holds no graph")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise ValueError(f"{path} fails onnx.checker: {str(e).strip().splitlines()[0]}") from None
    return model


def _dims(value: onnx.ValueInfoProto) -> list[int | None]:
    return [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]


def read_onnx(path: Path, name: str, latent_dim: int | None = None, image_shape=None) -> SourceModel:
    """Read a ``.onnx`` generator: its FloatModel and an onnxruntime runner to check it against.

    Args:
        path: the file.
        name: the model's name (the FloatModel's).
        latent_dim: the latent size where the graph input does not state it; where it does, it must agree.
        image_shape: (C, H, W) a flat output (N, C*H*W) is viewed as (:func:`~fpgagen.models.imports.image_view`);
            a graph that outputs images must output that shape, if given.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an ONNX file, or one onnx.checker rejects.
        LoweringError: before any layer is built, naming every node fpgagen does not lower and what it lowers.
    """
    path = Path(path)
    model = _load(path)
    graph = model.graph
    problems = Problems()
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or not OPSETS[0] <= opset <= OPSETS[1]:
        problems.add(-1, "the model", f"opset {opset} of the default domain (supported: {OPSETS[0]} to {OPSETS[1]})")
    opset = opset or OPSETS[1]

    values: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in values]
    flows: dict[str, Flow] = {}
    consumers: dict[str, list[str]] = {}
    for index, node in enumerate(graph.node):
        if node.op_type not in SHAPE_READERS:
            for t in dict.fromkeys(i for i in node.input if i):
                consumers.setdefault(t, []).append(_label(index, node))
    for out in graph.output:
        consumers.setdefault(out.name, []).append(f"graph output {out.name!r}")

    batch, in_shape = BATCH, (1,)
    if not inputs:
        problems.add(-1, "the model", "no graph input (supported: one latent input)")
    for extra in inputs[1:]:
        problems.add(-1, f"input {extra.name!r}", "a second graph input (supported: one latent input)")
        flows[extra.name] = Flow((0,), (0,), (0,))
    if inputs:
        latent_dim, batch, in_shape = _latent_input(inputs[0], latent_dim, problems)
        flows[inputs[0].name] = Flow((math.prod(in_shape),), in_shape, identity_perm(len(in_shape)))
        _check_branch(inputs[0].name, f"input {inputs[0].name!r}", -1, consumers, problems)
    if len(graph.output) != 1:
        problems.add(END, "the model", f"{len(graph.output)} graph outputs (supported: one image output)")

    layers: list[FloatLayer] = []
    walk = True  # shapes known: layers placed (after a refused node, the flow goes on from onnx's shape inference)
    inferred = _inferred_shapes(model)
    for index, node in enumerate(graph.node):
        label = _label(index, node)
        computed = [i for i, t in enumerate(node.input) if t in flows]
        if not computed:
            _evaluate(index, label, node, values, opset, problems)
            continue
        flow = flows[node.input[computed[0]]]
        if node.op_type in SHAPE_READERS and computed == [0]:
            _read_shape(node, flow, batch, values)
            continue
        if len(computed) > 1:
            problems.add(index, label, f"merges {len(computed)} computed tensors "
                         f"({', '.join(node.input[i] for i in computed)}); fpgagen lowers a chain")
            flows[node.output[0]], walk = _guessed(inferred.get(node.output[0]), flow, walk)
            continue
        op = OnnxOp(index, label, node, _attributes(node), [values.get(t) for t in node.input], computed[0], opset,
                    batch)
        try:
            unused = [t for t in node.output[1:] if t and t in consumers]
            if unused:
                raise Unsupported(f"its extra outputs {unused} are used (supported: the first output only)")
            flow = _lower_node(op, flow, layers if walk else None)
        except Unsupported as e:
            for text in e.problems:
                problems.add(index, label, text)
            flow, walk = _guessed(inferred.get(node.output[0]), flow, walk)
        flows[node.output[0]] = flow
        _check_branch(node.output[0], label, index, consumers, problems)

    flat, out_perm = False, ()
    if graph.output and walk:
        out = graph.output[0].name
        if out not in flows:
            problems.add(END, f"graph output {out!r}", "is not computed from the latent input")
        else:
            flat = len(flows[out].shape) == 1
            try:
                image_shape, out_perm = _output(flows[out], layers, image_shape)
            except Unsupported as e:
                for text in e.problems:
                    problems.add(END, f"graph output {out!r}", text)
    if problems:
        raise LoweringError(f"fpgagen cannot lower {name} ({path.name}): {len(problems)} unsupported node(s)\n"
                            + "\n".join(problems.lines()) + "\nfpgagen lowers a chain from one latent input through "
                            "these ONNX nodes:\n" + vocabulary())
    for index, layer in enumerate(layers):
        layer.name = f"{layer.kind}_{index}"
    float_model = FloatModel(layers, name, latent_dim, image_shape)
    run = _runner(path, inputs[0], latent_dim, in_shape, out_perm)
    return SourceModel(float_model, viewed(run, image_shape) if flat else run,
                       f"onnxruntime {ort.__version__} (onnx opset {opset})", file=path)


def _latent_input(value: onnx.ValueInfoProto, latent_dim: int | None, problems: Problems):
    """(latent size, batch size shape arithmetic sees, per-sample input shape or None) of the latent input."""
    label = f"input {value.name!r}"
    tensor = value.type.tensor_type
    if tensor.elem_type != onnx.TensorProto.FLOAT:
        problems.add(-1, label, f"element type {onnx.TensorProto.DataType.Name(tensor.elem_type)} (supported: "
                     "FLOAT)")
    dims = _dims(value)
    if len(dims) not in (2, 4) or (len(dims) == 4 and dims[2:] != [1, 1]):
        problems.add(-1, label, f"shape {['?' if d is None else d for d in dims]} (supported: (N, latent_dim) or "
                     "(N, latent_dim, 1, 1))")
        return latent_dim, BATCH, tuple(d or 1 for d in dims[1:]) or (1,)  # to judge the nodes after it
    stated = dims[1]
    if stated is not None and latent_dim is not None and int(latent_dim) != stated:
        problems.add(-1, label, f"takes latents of {stated}, but latent_dim {latent_dim} was given")
    elif stated is None and latent_dim is None:
        problems.add(-1, label, "its latent size is symbolic: give latent_dim")
        latent_dim = 1
    latent_dim = int(stated if stated is not None else latent_dim)
    batch = dims[0] if dims[0] is not None else BATCH
    return latent_dim, batch, (latent_dim,) if len(dims) == 2 else (latent_dim, 1, 1)


def _inferred_shapes(model: onnx.ModelProto) -> dict[str, tuple]:
    """Per-sample shapes onnx's shape inference finds (the refusal goes on judging the nodes after a refused one)."""
    try:
        graph = onnx.shape_inference.infer_shapes(model, data_prop=True).graph
    except Exception:  # a refusal is coming anyway; judge what can be judged
        return {}
    shapes = {}
    for value in [*graph.value_info, *graph.output]:
        dims = _dims(value)
        if len(dims) > 1 and None not in dims[1:]:
            shapes[value.name] = tuple(dims[1:])
    return shapes


def _guessed(shape: tuple | None, flow: Flow, walk: bool) -> tuple[Flow, bool]:
    """The flow after a refused node: its inferred shape in fpgagen's layout, else the old one, no longer walked."""
    if shape is None or not walk:
        return flow, False
    return Flow(shape, shape, identity_perm(len(shape))), walk


def _check_branch(tensor: str, label: str, index: int, consumers: dict, problems: Problems) -> None:
    users = consumers.get(tensor, [])
    if len(users) > 1:
        problems.add(index, label, f"its output {tensor!r} feeds {len(users)} nodes ({', '.join(users)}): a branch; "
                     "fpgagen lowers a chain")


def _evaluate(index: int, label: str, node: onnx.NodeProto, values: dict, opset: int, problems: Problems) -> None:
    """A node of constant inputs, evaluated at import (onnx's reference evaluator, numpy)."""
    from onnx.reference import ReferenceEvaluator

    if any(t and t not in values for t in node.input):
        return  # downstream of a refused node: already reported
    if node.op_type in RANDOM:
        problems.add(index, label, "draws random numbers at run time (supported: constants evaluated at import)")
        return
    try:
        results = ReferenceEvaluator(node, opsets={"": opset}).run(None, {t: values[t] for t in node.input if t})
    except Exception as e:
        problems.add(index, label, f"could not be evaluated at import ({type(e).__name__}: {e})")
        return
    for t, v in zip(node.output, results, strict=False):
        if t:
            values[t] = np.asarray(v)


def _read_shape(node: onnx.NodeProto, flow: Flow, batch: int, values: dict) -> None:
    """Shape or Size of a computed tensor: a constant (the batch axis as ``batch``)."""
    full = np.array((batch, *flow.shape), np.int64)
    if node.op_type == "Size":
        values[node.output[0]] = np.array(math.prod(full.tolist()), np.int64)
        return
    attrs = _attributes(node)
    values[node.output[0]] = full[attrs.get("start", 0) : attrs.get("end", len(full))]


def _lower_node(op: OnnxOp, flow: Flow, layers: list[FloatLayer] | None) -> Flow:
    """The flow after ``op``; its layer (if any) appended to ``layers`` (None: only judge the node)."""
    if op.op_type in PASSED:
        if op.op_type == "Dropout" and op.has(2) and op.values[2] is not None and bool(op.values[2]):
            raise Unsupported("training_mode true (supported: inference)")
        return flow
    if op.op_type == "BatchNormalization":
        return fold_batchnorm(op, flow) if layers is not None else flow
    if op.op_type == "Add":
        return fold_bias(op, flow) if layers is not None else flow
    found = _lowering_of(op.op_type) if op.node.domain in ("", "ai.onnx") else None
    if found is None:
        raise Unsupported("this op is not in fpgagen's vocabulary")
    kind, lowering = found
    if kind == "reshape":
        return lowering.lower(op, flow)
    layer = lowering.lower(op, flow)
    role = get_kind(layer.kind).role
    if layers is None:
        return flow
    if layer.kind != "dense" and role != "activation":
        flow = _materialize(flow, layers)
    if role == "activation":
        layer.in_shape = flow.x_shape
        layers.append(layer)
        return replace(flow, fold=None)
    view = layer.out_shape if layer.kind == "dense" else None
    if layer.kind == "dense" and view is None and (len(flow.shape) != 1 or len(flow.x_shape) != 1):
        if len(flow.x_shape) == 3:
            raise Unsupported(f"takes the {flow.x_shape} feature map as a vector; fpgagen views a vector as a "
                              "feature map, not a feature map as a vector")
        raise Unsupported(f"applied to a {batched((op.batch, *flow.shape))} tensor (supported: (N, K))")
    layer.in_shape = flow.x_shape
    try:
        out_shape = tuple(int(v) for v in get_kind(layer.kind).out_shape(layer))
    except LayerError as e:
        raise Unsupported(str(e).split(": ", 1)[-1]) from None
    layers.append(layer)
    view = view or out_shape
    return Flow(out_shape, view, identity_perm(len(view)), layer if role == "arithmetic" else None)


def _materialize(flow: Flow, layers: list[FloatLayer]) -> Flow:
    """The flow with the layers' output in the (C, H, W) shape the graph's tensor has (a ``reshape`` appended, or
    the dense layer before permuted by :func:`channels_last_reshape`); Unsupported where fpgagen cannot."""
    shape = flow.shape
    done = Flow(shape, shape, identity_perm(len(shape)))
    if flow.x_shape == shape and flow.flat_order_kept:
        return replace(done, fold=flow.fold)
    if len(flow.x_shape) != 1 or len(shape) != 3:
        raise Unsupported(f"needs its input as {shape}, the layers give {flow.x_shape}; fpgagen's reshape views a "
                          "vector as (C, H, W) only")
    if flow.flat_order_kept:
        layer = FloatLayer("", "reshape", out_shape=shape)
    elif len(flow.view) == 3 and flow.perm == (2, 0, 1):
        try:
            layer = channels_last_reshape(layers, flow.view, "")
        except ValueError as e:
            raise Unsupported(str(e)) from None
    else:
        raise Unsupported(f"its input is the vector viewed as {flow.view} and transposed by {list(flow.perm)}; "
                          "fpgagen views a vector as (C, H, W), or as (H, W, C) transposed to (C, H, W)")
    layer.in_shape = flow.x_shape
    layers.append(layer)
    return done


def _output(flow: Flow, layers: list[FloatLayer], image_shape) -> tuple[tuple, tuple]:
    """(image shape, permutation from the image to the graph's output) of the final flow (a flat output: its own
    permutation, the runner views it as images); a pending view materialized, a flat output viewed as
    ``image_shape`` (:func:`~fpgagen.models.imports.image_view`)."""
    try:
        if len(flow.shape) != 3:
            shape = image_view(flow.shape, image_shape)
            return _materialize(Flow(flow.x_shape, shape, identity_perm(3)), layers).x_shape, flow.perm
        if len(flow.x_shape) == 3 and flow.view == flow.x_shape:
            images, perm = flow.x_shape, flow.perm
        else:
            images, perm = _materialize(flow, layers).x_shape, identity_perm(3)
        return image_view(images, image_shape), perm  # a channels-last output is compared as it is delivered
    except ValueError as e:
        raise Unsupported(str(e)) from None


def _runner(path: Path, value: onnx.ValueInfoProto, latent_dim: int, in_shape: tuple, out_perm: tuple):
    """``run(z)``: onnxruntime (CPU) on float32 latents -> (N, C, H, W) float32 images; a fixed batch size is fed
    in chunks, a channels-last output transposed."""
    session = None
    fixed = _dims(value)[0]
    back = (0, *(1 + int(p) for p in np.argsort(out_perm)))

    def run(z: np.ndarray) -> np.ndarray:
        nonlocal session
        if session is None:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        z = check_latents(z, latent_dim).reshape(-1, *in_shape)
        step = fixed or len(z)
        outs = []
        for lo in range(0, len(z), step):
            chunk = z[lo : lo + step]
            pad = step - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.zeros((pad, *in_shape), np.float32)])
            outs.append(session.run(None, {value.name: chunk})[0][: step - pad])
        return np.ascontiguousarray(np.concatenate(outs).transpose(back), np.float32)

    return run
