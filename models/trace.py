"""Tracing a torch generator into the chain of calls :mod:`fpgagen.models.lower` lowers.

``torch.fx.symbolic_trace`` records the module's ``forward`` as a graph (nested containers, ModuleList loops and
custom ``forward`` methods are traced through; ``torch.nn`` modules stay whole), and ``ShapeProp`` runs that graph
on a batch of :data:`EXAMPLE_BATCH` zero latents so that every tensor's shape is known. The graph must be a chain:
one latent input, every tensor call taking the one tensor before it and feeding only the next, one tensor returned.
Shape queries (``x.size(0)``, ``x.shape[0]``) may feed any call's arguments.

:func:`trace` returns the chain as :class:`TracedOp` s with per-sample shapes, and every structural problem
(two inputs, a branch, a merge, a parameter read by the ``forward`` itself, a call that moves the batch axis) in a
:class:`Problems` collection the lowering adds its own to, so that one :class:`LoweringError` names them all.
"""

from __future__ import annotations

import copy
import inspect
import operator
from dataclasses import dataclass

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from fpgagen.core.errors import LoweringError, Problems

# The example batch ShapeProp runs: more than one latent, so that squeeze() cannot drop the batch axis and a view
# that merges or moves the batch axis shows in the shapes.
EXAMPLE_BATCH = 2

# Calls on a tensor that return its shape, not a tensor: x.size(0), x.shape[0], x.dim().
_QUERY_METHODS = ("size", "dim", "numel")
_QUERY_ATTRIBUTES = ("shape", "ndim")


def qualified_name(fn) -> str:
    """``torch.relu``, ``torch.nn.functional.interpolate``, ``operator.add``: how a function is named in messages."""
    module = {"_operator": "operator", "torch._C._nn": "torch.nn.functional", "builtins": ""}.get(
        getattr(fn, "__module__", None) or "", getattr(fn, "__module__", None) or "")
    name = getattr(fn, "__name__", repr(fn))
    return f"{module}.{name}" if module else name


@dataclass
class TracedOp:
    """One tensor call of the traced chain.

    Attributes:
        node: the fx node's name (unique in the graph), e.g. ``body_0`` or ``interpolate``.
        op: ``"call_module"``, ``"call_function"`` or ``"call_method"`` (``"output"``: the returned value).
        target: the module's qualified name, the function, or the method's name.
        module: the called module (``call_module``), else None.
        args, kwargs: the call's arguments as recorded (fx nodes for the tensor input and shape queries).
        in_shape, out_shape: per-sample shapes of its tensor input and result (None where the graph could not run).
        index: position of the node in the graph (problems are reported in graph order).
    """

    node: str
    op: str
    target: object
    module: nn.Module | None
    args: tuple
    kwargs: dict
    in_shape: tuple[int, ...] | None
    out_shape: tuple[int, ...] | None
    index: int

    @property
    def label(self) -> str:
        """``body_0 (call_module body.0: Conv2d)``: the node as messages name it."""
        if self.op == "output":
            return self.node
        if self.op == "call_module":
            what = f"{self.target}: {type(self.module).__name__}"
        elif self.op == "call_method":
            what = f"Tensor.{self.target}"
        else:
            what = qualified_name(self.target)
        return f"{self.node} ({self.op} {what})"

    def arguments(self) -> dict:
        """The call's arguments by parameter name (defaults filled in) where the function's signature is known,
        else ``kwargs`` alone."""
        try:
            bound = inspect.signature(self.target).bind(*self.args, **self.kwargs)
        except (TypeError, ValueError):
            return dict(self.kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)


@dataclass
class Trace:
    """A traced module: its chain of calls, their shapes, and what is wrong with its structure.

    Attributes:
        ops: the tensor calls in graph order (a chain when ``problems`` is empty).
        problems: the structural problems found (the lowering adds its own).
        shapes: whether every shape is known (the graph ran on the example batch).
        out_shape: per-sample shape of the returned tensor (None when unknown).
    """

    ops: list[TracedOp]
    problems: Problems
    shapes: bool
    out_shape: tuple[int, ...] | None


def _shape_queries(graph: fx.Graph) -> set[fx.Node]:
    """Nodes that compute a shape, not a tensor: size/dim/numel calls, ``.shape`` / ``.ndim``, and arithmetic or
    indexing on those alone."""
    queries: set[fx.Node] = set()
    for node in graph.nodes:
        if node.op == "call_method" and node.target in _QUERY_METHODS:
            queries.add(node)
        elif (node.op == "call_function" and node.target is getattr and len(node.args) == 2
              and node.args[1] in _QUERY_ATTRIBUTES):
            queries.add(node)
        elif (node.op == "call_function" and node.all_input_nodes
              and all(n in queries for n in node.all_input_nodes)
              and getattr(node.target, "__module__", None) in ("_operator", "builtins", operator.__name__)):
            queries.add(node)
    return queries


def _per_sample(node: fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    return tuple(int(v) for v in meta.shape[1:]) if hasattr(meta, "shape") else None


def trace(module: nn.Module, latent_dim: int) -> Trace:
    """Trace ``module`` (a copy, in eval mode) on latents of ``latent_dim``.

    Raises:
        LoweringError: torch.fx cannot trace the module, or the traced graph fails on the example batch.
    """
    name = type(module).__name__
    root = copy.deepcopy(module).eval()
    try:
        gm = fx.symbolic_trace(root)
    except Exception as e:  # torch.fx raises many types (TraceError, TypeError, NotImplementedError ...)
        raise LoweringError(f"torch.fx cannot trace {name}: {type(e).__name__}: {e}. fpgagen lowers a forward "
                            "torch.fx can trace (no Python control flow on tensor values)") from e
    graph = gm.graph
    nodes = list(graph.nodes)
    problems = Problems()
    inputs = [n for n in nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        problems.add(-1, f"{name}.forward({', '.join(n.name for n in inputs)})",
                     f"takes {len(inputs)} inputs; a generator takes one batch of latents")
    shapes = len(inputs) == 1
    if shapes:
        try:
            with torch.no_grad():
                ShapeProp(gm).propagate(torch.zeros(EXAMPLE_BATCH, latent_dim))
        except Exception as e:
            raise LoweringError(f"{name} fails on a batch of {EXAMPLE_BATCH} latents of size {latent_dim}: "
                                f"{type(e).__name__}: {e}") from e

    queries = _shape_queries(graph)
    calls = [n for n in nodes if n.op.startswith("call_") and n not in queries]
    ops = [_traced_op(gm, node, i, queries) for i, node in enumerate(nodes) if node in calls]
    _check_chain(gm, nodes, inputs, calls, ops, shapes, problems)
    result = next(n for n in nodes if n.op == "output").args[0]
    if not isinstance(result, fx.Node) or result not in (*inputs, *calls):
        problems.add(len(nodes), f"{name}.forward's return value",
                     f"is {type(result).__name__}; a generator returns one image tensor")
    out_shape = _per_sample(result) if shapes and isinstance(result, fx.Node) else None
    return Trace(ops, problems, shapes and out_shape is not None, out_shape)


def _check_chain(gm: fx.GraphModule, nodes: list[fx.Node], inputs: list[fx.Node], calls: list[fx.Node],
                 ops: list[TracedOp], shapes: bool, problems: Problems) -> None:
    """Add a problem for each call that does not take exactly the one tensor before it and return one tensor
    with the batch axis first, and for each tensor used more than once or never."""
    tensors = set(inputs) | set(calls)
    for node, op in zip(calls, ops, strict=True):
        sources = [n for n in node.all_input_nodes if n in tensors]
        if len(sources) != 1:
            problems.add(op.index, op.label, f"takes {len(sources)} tensors ({', '.join(n.name for n in sources)}); "
                         "fpgagen lowers a chain, each call taking the one tensor before it")
        for attr in (n for n in node.all_input_nodes if n.op == "get_attr"):
            problems.add(op.index, op.label, f"reads {attr.target} itself; fpgagen lowers the weights of modules only")
        if shapes and op.out_shape is None:
            problems.add(op.index, op.label, "does not return one tensor")
        elif shapes and tuple(node.meta["tensor_meta"].shape[:1]) != (EXAMPLE_BATCH,):
            problems.add(op.index, op.label, f"gives shape {tuple(node.meta['tensor_meta'].shape)} for "
                         f"{EXAMPLE_BATCH} latents: it merges or moves the batch axis")
    index = {n: i for i, n in enumerate(nodes)}
    for node in [*inputs, *calls]:
        users = [u for u in node.users if u in tensors or u.op == "output"]
        if len(users) > 1:
            problems.add(index[node], _label(gm, node), f"feeds {len(users)} calls ({', '.join(u.name for u in users)})"
                         "; fpgagen lowers a chain, each tensor used once")
        elif not users:
            dropped = "" if node.op == "placeholder" else " (an in-place call whose result is dropped?)"
            problems.add(index[node], _label(gm, node), f"is never used{dropped}; fpgagen lowers a chain")


def _label(gm: fx.GraphModule, node: fx.Node) -> str:
    if node.op == "placeholder":
        return f"{node.name} (an input)"
    return _traced_op(gm, node, 0, set()).label


def _traced_op(gm: fx.GraphModule, node: fx.Node, index: int, queries: set[fx.Node]) -> TracedOp:
    sources = [n for n in node.all_input_nodes if n not in queries and n.op != "get_attr"]
    module = gm.get_submodule(node.target) if node.op == "call_module" else None
    in_shape = _per_sample(sources[0]) if sources else None
    return TracedOp(node.name, node.op, node.target, module, tuple(node.args), dict(node.kwargs), in_shape,
                    _per_sample(node), index)
