"""Random QuantizedModels: small layer stacks with random shapes, types, rounding/overflow modes and reuse factors.

For agreement tests between executors (golden, C simulation, RTL) that must not be tuned to the presets, every
arithmetic layer with an exact accumulator (as the QuantizedModel requires) and a reuse factor hls4ml accepts:

- :func:`random_model`: ``Dense -> activation -> reshape -> [upsample] -> (Conv2d -> activation) x 1..2``;
- :func:`random_transposed_model`: ``Dense -> activation -> reshape -> (ConvTranspose2d -> activation) x 1..2``,
  the first transposed convolution's geometry (stride, kernel, padding, output_padding) taken in turn from
  :data:`TRANSPOSED_GEOMETRIES` by the seed, so seeds ``0 .. len(TRANSPOSED_GEOMETRIES) - 1`` cover every
  supported one with a non-negative output_padding;
- :func:`randomly_placed`: either with its weights placed at random (ROM, loaded, streamed) behind random weight
  ports and DDR bandwidth.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np

from fpgagen.core.fixed import OVERFLOW, ROUNDING, FixedType
from fpgagen.core.folding import STREAMABLE, WeightPorts, reuse_factors
from fpgagen.core.layers import ARITHMETIC
from fpgagen.core.quantize import exact_accumulator
from fpgagen.core.quantized_model import Layer, QuantizedModel
from fpgagen.core.transposed import TRANSPOSED_KERNELS, TRANSPOSED_STRIDES, transposed_out_size, transposed_support

# Every (stride, kernel, padding, output_padding >= 0) of a transposed convolution fpgagen implements (a negative
# output_padding, Keras's end crop, has tests of its own; leaving it out keeps the seeded models as they were).
TRANSPOSED_GEOMETRIES: tuple[tuple[int, int, int, int], ...] = tuple(
    (s, k, p, op) for s, k in itertools.product(TRANSPOSED_STRIDES, TRANSPOSED_KERNELS)
    for p in range(k) for op in range(s) if not transposed_support(k, s, p, op))


def _type(rng, width: tuple[int, int], integer: tuple[int, int], signed: bool = True) -> FixedType:
    w = int(rng.integers(width[0], width[1] + 1))
    i = int(rng.integers(integer[0], min(integer[1], w - 1) + 1))
    return FixedType(w, i, signed, str(rng.choice(ROUNDING)), str(rng.choice(OVERFLOW)))


def _codes(rng, t: FixedType, shape, spread: float = 1.0) -> np.ndarray:
    lo, hi = int(t.min_code * spread), int(t.max_code * spread)
    if t.overflow == "SAT_SYM" and t.signed:  # a cast never yields -2**(W-1) under SAT_SYM
        lo = max(lo, -t.max_code)
    return rng.integers(lo, hi + 1, size=shape).astype(np.int64)


def _arith(rng, name, kind, in_shape, out_shape, x_t, weight_shape, padding=0, stride=1, output_padding=0) -> Layer:
    weight_t = _type(rng, (4, 10), (0, 2))
    frac = x_t.frac + weight_t.frac
    bias_int = int(rng.integers(1, 4))
    bias_t = FixedType(frac + bias_int, bias_int, True, str(rng.choice(ROUNDING)), "SAT")
    bias_shape = weight_shape[1:2] if kind == "conv_transpose2d" else weight_shape[:1]  # (C, O, K, K): O outputs
    lr = Layer(name, kind, in_shape, out_shape, _type(rng, (5, 14), (1, 5)), weight=_codes(rng, weight_t, weight_shape),
               bias=_codes(rng, bias_t, bias_shape, 0.5), weight_t=weight_t, bias_t=bias_t, padding=padding,
               stride=stride, output_padding=output_padding)
    exact = exact_accumulator(lr, x_t)
    extra = int(rng.integers(0, 3))  # sometimes wider than needed, with other (irrelevant) modes
    lr.accum_t = FixedType(exact.width + extra, exact.integer + extra, True, str(rng.choice(ROUNDING)),
                           str(rng.choice(OVERFLOW)))
    lr.reuse_factor = int(rng.choice(reuse_factors(lr)))
    return lr


def _activation(rng, name_index: int, shape, x_t: FixedType, kinds=("relu", "leaky_relu", "tanh", "sigmoid")) -> Layer:
    kind = str(rng.choice(kinds))
    name = f"{kind}_{name_index}"
    if kind == "relu":
        return Layer(name, kind, shape, shape, _type(rng, (4, 12), (1, 5)))
    if kind == "leaky_relu":
        param_t = _type(rng, (4, 10), (-1, 1))
        alpha = int(rng.integers(1, max(2, param_t.max_code // 2)))
        return Layer(name, kind, shape, shape, _type(rng, (4, 12), (1, 5)), param_t=param_t, alpha=alpha)
    signed = kind == "tanh" or bool(rng.integers(2))
    table_t = _type(rng, (5, 14), (1, 2) if signed else (0, 1), signed)
    return Layer(name, kind, shape, shape, _type(rng, (4, 12), (1, 3)), table_t=table_t,
                 table_size=int(2 ** rng.integers(5, 11)))


def _stem(rng, latent: int, input_t: FixedType, c: int, h: int) -> list[Layer]:
    """dense -> random activation -> reshape to (c, h, h): how every random model starts."""
    dense = _arith(rng, "dense_0", "dense", (latent,), (c * h * h,), input_t, (c * h * h, latent))
    act = _activation(rng, 1, (c * h * h,), dense.result_t)
    return [dense, act, Layer("reshape_2", "reshape", (c * h * h,), (c, h, h), act.result_t)]


def random_model(seed: int) -> QuantizedModel:
    """A small random QuantizedModel (validated); the same seed gives the same model."""
    rng = np.random.default_rng(seed)
    latent = int(rng.integers(3, 13))
    input_t = _type(rng, (5, 12), (2, 4))
    c, h = int(rng.integers(1, 5)), int(rng.integers(2, 5))
    layers = _stem(rng, latent, input_t, c, h)
    x_t = layers[-1].result_t

    def add(layer: Layer) -> Layer:
        layers.append(layer)
        return layer

    shape = (c, h, h)
    if rng.integers(2) or h < 3:
        shape = (c, 2 * h, 2 * h)
        add(Layer(f"upsample_{len(layers)}", "upsample", (c, h, h), shape, x_t, factor=2))
    for _ in range(int(rng.integers(1, 3))):
        k, pad = ((3, 1), (3, 1), (3, 0), (1, 0))[int(rng.integers(4))]
        o = int(rng.integers(1, 5))
        out = (o, shape[1] + 2 * pad - k + 1, shape[2] + 2 * pad - k + 1)
        x_t = add(_arith(rng, f"conv2d_{len(layers)}", "conv2d", shape, out, x_t, (o, shape[0], k, k), pad)).result_t
        x_t = add(_activation(rng, len(layers), out, x_t)).result_t
        shape = out
    model = QuantizedModel(f"random{seed}", input_t, layers, (-1.0, 1.0), {"random_seed": seed})
    model.validate()
    return model


def _input_size(rng, geometry: tuple[int, int, int, int], largest_output: int = 16) -> int:
    """A random input height (= width) from 1 to 6 whose transposed-convolution output is 1 to
    ``largest_output`` pixels."""
    stride, k, padding, output_padding = geometry
    sizes = [n for n in range(1, 7)
             if 1 <= transposed_out_size(n, k, stride, padding, output_padding) <= largest_output]
    return int(rng.choice(sizes))


def _transposed(rng, index: int, shape, x_t: FixedType, geometry: tuple[int, int, int, int]) -> Layer:
    stride, k, padding, output_padding = geometry
    c, h, w = shape
    o = int(rng.integers(1, 5))
    out = (o, *(transposed_out_size(n, k, stride, padding, output_padding) for n in (h, w)))
    return _arith(rng, f"conv_transpose2d_{index}", "conv_transpose2d", shape, out, x_t, (c, o, k, k), padding,
                  stride, output_padding)


def random_transposed_model(seed: int) -> QuantizedModel:
    """A small random QuantizedModel with one or two transposed convolutions (validated); the same seed gives the
    same model. The first transposed convolution has geometry ``TRANSPOSED_GEOMETRIES[seed % len(...)]``, a second
    one (half the seeds) a random supported geometry whose output stays at most 16 pixels wide."""
    rng = np.random.default_rng(seed)
    geometry = TRANSPOSED_GEOMETRIES[seed % len(TRANSPOSED_GEOMETRIES)]
    latent = int(rng.integers(3, 13))
    input_t = _type(rng, (5, 12), (2, 4))
    c, h = int(rng.integers(1, 5)), _input_size(rng, geometry)
    layers = _stem(rng, latent, input_t, c, h)
    x_t = layers[-1].result_t

    def add(layer: Layer) -> Layer:
        layers.append(layer)
        return layer

    shape = (c, h, h)
    for index in range(int(rng.integers(1, 3))):
        if index:
            fitting = [g for g in TRANSPOSED_GEOMETRIES
                       if 1 <= transposed_out_size(shape[1], g[1], g[0], g[2], g[3]) <= 16]
            if not fitting:
                break
            geometry = fitting[int(rng.integers(len(fitting)))]
        lr = add(_transposed(rng, len(layers), shape, x_t, geometry))
        x_t = add(_activation(rng, len(layers), lr.out_shape, lr.result_t)).result_t
        shape = lr.out_shape
    model = QuantizedModel(f"random_transposed{seed}", input_t, layers, (-1.0, 1.0), {"random_seed": seed})
    model.validate()
    return model


def randomly_placed(model: QuantizedModel, seed: int) -> QuantizedModel:
    """A copy of ``model`` whose arithmetic layers' weights are placed at random (``rom``, ``loaded``, or
    ``streamed`` where the kind allows it; at least one layer off the ROMs), behind weight ports of 64 or 128 bits
    and a DDR that gives them between a quarter of a beat and two beats per cycle in all (tight enough to stall a
    streamed layer often). Same model and seed, same result."""
    rng = np.random.default_rng(seed)
    placed = copy.deepcopy(model)
    arith = [lr for lr in placed.layers if lr.kind in ARITHMETIC]
    for lr in arith:
        where = ["rom", "loaded"] + (["streamed"] if lr.kind in STREAMABLE else [])
        lr.placement = str(rng.choice(where))
    if all(lr.placement == "rom" for lr in arith):
        arith[int(rng.integers(len(arith)))].placement = "loaded"
    bits = int(rng.choice([64, 128]))
    placed.weight_ports = WeightPorts(bits, len(arith), float(bits * rng.uniform(0.25, 2.0)))
    placed.name = f"{model.name}_placed{seed}"
    placed.validate()
    return placed
