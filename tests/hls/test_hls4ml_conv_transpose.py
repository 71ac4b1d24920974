"""fpgagen's hls4ml ConvTranspose2d extension: golden == C simulation bit for bit on every supported (stride, kernel,
padding, output_padding), random types, modes and reuse factors; the seed's dcgan28 shapes scaled down; the
converter's refusals; registration.

Each model is one g++ compile (~7 s, cached under <cache root>/csim/: $FPGAGEN_CACHE, else ~/.cache/fpgagen), so the
42 supported configurations are chained a few to a model.
"""

from __future__ import annotations

import itertools
import shutil

import hls4ml
import numpy as np
import pytest
import torch
from torch import nn

from fpgagen.core import golden
from fpgagen.core.fixed import OVERFLOW, ROUNDING, FixedType
from fpgagen.core.layers import accumulator_bound
from fpgagen.core.quantized_model import Layer, QuantizedModel
from fpgagen.core.random_model import random_model, random_transposed_model
from fpgagen.core.transposed import (
    TRANSPOSED_KERNELS,
    TRANSPOSED_STRIDES,
    transposed_module_problems,
    transposed_out_size,
    transposed_support,
)
from fpgagen.hls.csim import CSimExecutor, cache_key
from fpgagen.hls.hls4ml_conv_transpose import (
    HEADER,
    UnsupportedConvTransposeError,
    register,
)
from fpgagen.hls.hls4ml_flow import convert, hls_config, hls_layer_names, to_torch

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ (hls4ml's C simulation compiles with it)")

SUPPORTED = [(s, k, p, op) for s, k in itertools.product(TRANSPOSED_STRIDES, TRANSPOSED_KERNELS)
             for p in range(k) for op in range(s) if not transposed_support(k, s, p, op)]
MAX_SIDE = 12  # feature maps of the random stacks stay within 2..MAX_SIDE pixels a side


# --------------------------------------------------------------------------------------------- model building


def _type(rng, width, integer, signed=True) -> FixedType:
    w = int(rng.integers(width[0], width[1] + 1))
    i = int(rng.integers(integer[0], min(integer[1], w - 1) + 1))
    return FixedType(w, i, signed, str(rng.choice(ROUNDING)), str(rng.choice(OVERFLOW)))


def _codes(rng, t: FixedType, shape) -> np.ndarray:
    lo = -t.max_code if t.overflow == "SAT_SYM" and t.signed else t.min_code  # SAT_SYM never gives -2**(W-1)
    return rng.integers(lo, t.max_code + 1, size=shape).astype(np.int64)


def _arith(rng, name, kind, in_shape, out_shape, x_t, weight_shape, n_out, rf_choices, **kw) -> Layer:
    weight_t = _type(rng, (4, 9), (0, 2))
    bias_int = int(rng.integers(1, 4))
    bias_t = FixedType(x_t.frac + weight_t.frac + bias_int, bias_int, True, str(rng.choice(ROUNDING)), "SAT")
    lr = Layer(name, kind, in_shape, out_shape, _type(rng, (8, 14), (1, 5)), weight=_codes(rng, weight_t, weight_shape),
               bias=_codes(rng, bias_t, (n_out,)) // 2, weight_t=weight_t, bias_t=bias_t,
               accum_t=weight_t, reuse_factor=int(rng.choice(rf_choices)), **kw)
    frac = x_t.frac + weight_t.frac
    width = accumulator_bound(lr, x_t, frac).bit_length() + 1 + int(rng.integers(0, 3))  # exact, sometimes wider
    lr.accum_t = FixedType(width, width - frac, True, str(rng.choice(ROUNDING)), str(rng.choice(OVERFLOW)))
    return lr


def _activation(rng, index: int, shape, kinds=("relu", "leaky_relu", "tanh", "sigmoid")) -> Layer:
    kind = str(rng.choice(kinds))
    name, result_t = f"{kind}_{index}", _type(rng, (4, 12), (1, 5))
    if kind == "relu":
        return Layer(name, kind, shape, shape, result_t)
    if kind == "leaky_relu":
        param_t = _type(rng, (4, 10), (-1, 1))
        return Layer(name, kind, shape, shape, result_t, param_t=param_t,
                     alpha=int(rng.integers(1, max(2, param_t.max_code // 2))))
    signed = kind == "tanh" or bool(rng.integers(2))
    return Layer(name, kind, shape, shape, result_t, table_t=_type(rng, (5, 14), (1, 2) if signed else (0, 1), signed),
                 table_size=int(2 ** rng.integers(5, 11)))


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def convt_stack(seed: int, configs, channels=None, side=None, activations=True) -> QuantizedModel:
    """Dense -> activation -> reshape (C, side, side) -> one conv_transpose2d per (stride, kernel, padding,
    output_padding) of ``configs`` (``channels`` gives each output channel count, else random 1..4), each maybe
    followed by an activation; random types, modes and reuse factors."""
    rng = np.random.default_rng(seed)
    latent, input_t = int(rng.integers(3, 9)), _type(rng, (6, 12), (2, 4))
    c = channels[0] if channels else int(rng.integers(1, 5))
    side = side or int(rng.integers(2, 5))
    n = c * side * side
    layers = [_arith(rng, "dense_0", "dense", (latent,), (n,), input_t, (n, latent), n, [1, latent])]
    layers.append(_activation(rng, 1, (n,)))
    layers.append(Layer("reshape_2", "reshape", (n,), (c, side, side), layers[-1].result_t))
    shape = (c, side, side)
    for j, (stride, k, padding, output_padding) in enumerate(configs):
        o = channels[j + 1] if channels else int(rng.integers(1, 5))
        out = (o, *(transposed_out_size(s, k, stride, padding, output_padding) for s in shape[1:]))
        layers.append(_arith(rng, f"conv_transpose2d_{len(layers)}", "conv_transpose2d", shape, out,
                             layers[-1].result_t, (shape[0], o, k, k), o, _divisors(shape[0] * o), stride=stride,
                             padding=padding, output_padding=output_padding))
        if activations and rng.integers(2):
            layers.append(_activation(rng, len(layers), out))
        shape = out
    model = QuantizedModel(f"convt{seed}", input_t, layers, (-1.0, 1.0), {"seed": seed})
    model.validate()
    return model


SHRINK, GROW = (1, 5, 4, 0), (2, 2, 0, 0)  # n -> n - 4 and n -> 2n, repeated where a chain needs them


def plan_stacks(n_models: int = 5, side: int = 3, seed: int = 0) -> list[list[tuple[int, int, int, int]]]:
    """Every supported configuration once, in random order, split over ``n_models`` chains; SHRINK or GROW layers
    go in between wherever the next configuration would leave 2..MAX_SIDE pixels a side."""
    order = [SUPPORTED[i] for i in np.random.default_rng(seed).permutation(len(SUPPORTED))]
    stacks = []
    for part in np.array_split(np.arange(len(order)), n_models):
        n, chain = side, []
        for cfg in (order[i] for i in part):
            stride, k, padding, output_padding = cfg
            while (out := transposed_out_size(n, k, stride, padding, output_padding)) < 2 or out > MAX_SIDE:
                filler = SHRINK if out > MAX_SIDE else GROW
                chain.append(filler)
                n = transposed_out_size(n, filler[1], filler[0], filler[2], filler[3])
            chain.append(cfg)
            n = out
        stacks.append(chain)
    return stacks


STACKS = plan_stacks()


def latents(n: int, dim: int, seed: int) -> np.ndarray:
    z = np.random.default_rng(seed).standard_normal((n, dim)) * 3.0
    z[:3] = [[8.0], [-8.0], [0.0]]  # saturating and zero inputs
    return z


def assert_bit_exact(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype == np.float32
    bad = np.argwhere(got != want)
    assert len(bad) == 0, f"{len(bad)} of {want.size} outputs differ, first at {tuple(bad[0])}: " \
                          f"csim {got[tuple(bad[0])]} golden {want[tuple(bad[0])]}"


# --------------------------------------------------------------------------------------------- bit-exactness


def test_stacks_cover_every_supported_configuration():
    assert len(SUPPORTED) == 42
    assert {cfg for chain in STACKS for cfg in chain} == set(SUPPORTED)


@needs_gxx
@pytest.mark.slow(16)
@pytest.mark.parametrize("index", range(len(STACKS)))
def test_random_convt_stack_csim_equals_golden(index):
    model = convt_stack(100 + index, STACKS[index], side=3)
    z = latents(48, model.latent_dim, seed=index)
    want = golden.generate(model, z)
    assert len(np.unique(want)) > 8, "degenerate test: the outputs hardly vary"
    assert_bit_exact(CSimExecutor(model).prepare().run(z), want)


# Negative output_padding, an end crop (Keras's 'same': s2 k5 -> p1 op-1, s2 k3 -> p0 op-1, s1 k4 and k2 -> op-1),
# the brief's s2 k3 p1 op-1 and the deepest end crop (K - 1), with SHRINK between: 3 -> 6 -> 6 -> 10 -> 6 -> 12 -> 8
# -> 4 -> 7 -> 7 pixels a side
END_CROP_CHAIN = [(2, 5, 1, -1), (1, 4, 1, -1), (2, 3, 1, -1), SHRINK, (2, 3, 0, -1), SHRINK, SHRINK, (2, 5, 0, -4),
                  (1, 2, 0, -1)]


@needs_gxx
@pytest.mark.slow(16)
def test_end_crop_csim_equals_golden():
    model = convt_stack(21, END_CROP_CHAIN, side=3)
    assert model.image_shape[1:] == (7, 7)
    z = latents(48, model.latent_dim, seed=21)
    want = golden.generate(model, z)
    assert len(np.unique(want)) > 8, "degenerate test: the outputs hardly vary"
    assert_bit_exact(CSimExecutor(model).prepare().run(z), want)


def test_end_crop_torch_module_computes_the_cropped_full_convolution(tmp_path):
    """to_torch's ConvTranspose2d with output_padding -1 (which torch's own forward refuses) is the full transposed
    convolution cropped to rows padding .. padding + out - 1, and hls4ml's converter takes it as such."""
    model = convt_stack(22, [(2, 5, 1, -1)], side=7, activations=False)
    assert model.image_shape[1:] == (14, 14)
    seq = to_torch(model, torch.float64)
    m = seq[3]
    assert isinstance(m, nn.ConvTranspose2d) and m.output_padding == (-1, -1)
    x = torch.randn(2, *model.layers[3].in_shape, dtype=torch.float64)
    full = torch.nn.functional.conv_transpose2d(x, m.weight, m.bias, stride=2)
    assert full.shape[-1] == 17
    with torch.no_grad():
        assert torch.equal(m(x), full[..., 1:15, 1:15])
    hm = convert(model, tmp_path / "prj")
    layer = {lr.name: lr for lr in hm.get_layers()}[hls_layer_names(model)["conv_transpose2d_3"]]
    assert layer.get_attr("output_padding") == -1
    assert list(layer.get_output_variable().shape) == [14, 14, model.image_shape[0]]


@needs_gxx
def test_dcgan28_shapes_scaled_down_csim_equals_golden():
    """The seed's generator with channels 256/128/64/1 scaled to 16/8/4/1: 7x7 -> k5 s1 p2 -> 7x7 -> k5 s2 p2 op1
    -> 14x14 -> k5 s2 p2 op1 -> 28x28."""
    configs = [(1, 5, 2, 0), (2, 5, 2, 1), (2, 5, 2, 1)]
    model = convt_stack(7, configs, channels=[16, 8, 4, 1], side=7, activations=False)
    assert model.image_shape == (1, 28, 28)
    z = latents(32, model.latent_dim, seed=7)
    want = golden.generate(model, z)
    assert len(np.unique(want)) > 8
    assert_bit_exact(CSimExecutor(model).prepare().run(z), want)


@needs_gxx
@pytest.mark.parametrize("seed", [0, 12, 34, 40])
def test_random_transposed_model_csim_equals_golden(seed):
    """hls/random_model.py's transposed stacks; these seeds have 1-pixel inputs or outputs (edges the chains above
    do not reach)."""
    model = random_transposed_model(seed)
    assert min(min(lr.in_shape[1:] + lr.out_shape[1:]) for lr in model.layers if lr.kind == "conv_transpose2d") == 1
    z = latents(48, model.latent_dim, seed=seed)
    assert_bit_exact(CSimExecutor(model).prepare().run(z), golden.generate(model, z))


@needs_gxx
@pytest.mark.slow(11)
def test_reuse_factor_extremes_csim_equals_golden():
    """Reuse factor 1 (C*O multipliers) and C*O (one multiplier) on the same layer shape."""
    for rf in (1, 12):
        model = convt_stack(11, [(2, 3, 1, 1)], channels=[3, 4], side=4, activations=False)
        model.layers[-1].reuse_factor = rf
        model.validate()
        z = latents(32, model.latent_dim, seed=rf)
        assert_bit_exact(CSimExecutor(model).prepare().run(z), golden.generate(model, z))


# --------------------------------------------------------------------------------------------- conversion


def test_config_and_torch_model(tmp_path):
    model = convt_stack(3, [(2, 4, 1, 0), (1, 3, 2, 0)], activations=False)
    seq = to_torch(model, torch.float64)
    names = hls_layer_names(model)
    cfg = hls_config(model)
    for lr, m in zip(model.layers, seq, strict=True):
        if lr.kind != "conv_transpose2d":
            continue
        assert isinstance(m, nn.ConvTranspose2d)
        assert (m.stride[0], m.padding[0], m.output_padding[0]) == (lr.stride, lr.padding, lr.output_padding)
        assert np.array_equal(m.weight.detach().numpy(), lr.weight_t.to_float(lr.weight))
        entry = cfg["LayerName"][names[lr.name]]
        assert entry["ReuseFactor"] == lr.reuse_factor and entry["Precision"]["accum"] == str(lr.accum_t)
    assert seq(torch.zeros(1, model.latent_dim, dtype=torch.float64)).shape == (1, *model.image_shape)
    hm = convert(model, tmp_path / "prj")  # checks every type and reuse factor hls4ml kept
    layer = {lr.name: lr for lr in hm.get_layers()}[names["conv_transpose2d_3"]]
    assert layer.class_name == "ConvTranspose2D" and layer.get_attr("data_format") == "channels_last"
    assert list(layer.get_output_variable().shape) == [*model.layers[3].out_shape[1:], model.layers[3].out_shape[0]]
    c, o, k, _ = model.layers[3].weight.shape
    w = layer.get_weights("weight").data.reshape(k, k, o, c)  # the kernel's layout: tap, output, input channel
    assert np.array_equal(w.transpose(3, 2, 0, 1), model.layers[3].weight_t.to_float(model.layers[3].weight))
    hm.write()
    assert (tmp_path / "prj" / "firmware" / "nnet_utils" / HEADER.name).read_bytes() == HEADER.read_bytes()
    assert "nnet::conv_transpose_2d_cl<" in (tmp_path / "prj" / "firmware" / "myproject.cpp").read_text()


def _convert_torch(module: nn.Module, tmp_path, io_type: str = "io_stream"):
    """hls4ml's PyTorch converter on ``nn.Sequential(module)`` with a (2, 6, 6) input."""
    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "ChannelsLastConversion": "full",
                     "TransposeOutputs": False}, "InputShape": (2, 6, 6)}
    return hls4ml.converters.convert_from_pytorch_model(nn.Sequential(module).double().eval(), hls_config=cfg,
                                                        output_dir=str(tmp_path), io_type=io_type, backend="Vivado")


@pytest.mark.parametrize("module,message", [
    (nn.ConvTranspose2d(2, 3, 3, stride=3), "stride 3 .supported: 1, 2"),
    (nn.ConvTranspose2d(2, 3, 6, stride=2), "kernel 6"),
    (nn.ConvTranspose2d(2, 3, 3, padding=3), "padding 3"),
    (nn.ConvTranspose2d(2, 3, 3, stride=2, output_padding=2, dilation=3), "output_padding 2"),
    (nn.ConvTranspose2d(2, 3, (3, 5)), r"kernel_size \(3, 5\)"),
    (nn.ConvTranspose2d(2, 3, 3, dilation=2), "dilation"),
])
def test_unsupported_conv_transpose_is_refused(module, message, tmp_path):
    assert transposed_module_problems(module)
    with pytest.raises(UnsupportedConvTransposeError, match=f"ConvTranspose2d layer '_0': unsupported .*{message}"):
        _convert_torch(module, tmp_path)


def test_supported_module_has_no_problems():
    for stride, k, padding, output_padding in SUPPORTED:
        module = nn.ConvTranspose2d(2, 3, k, stride=stride, padding=padding, output_padding=output_padding)
        assert transposed_module_problems(module) == []
    # hls4ml's parser stops groups and padding modes before the handler; the handler names them too
    assert transposed_module_problems(nn.ConvTranspose2d(2, 4, 3, groups=2)) == ["groups 2 (supported: 1)"]


def test_io_parallel_is_refused(tmp_path):
    with pytest.raises(UnsupportedConvTransposeError, match="only io_stream"):
        _convert_torch(nn.ConvTranspose2d(2, 3, 3), tmp_path, io_type="io_parallel")


def test_register_is_idempotent():
    register()
    register()
    assert "ConvTranspose2d" in hls4ml.converters.get_supported_pytorch_layers()
    for backend in ("Vivado", "VivadoAccelerator"):
        assert f"nnet_utils/{HEADER.name}" in hls4ml.backends.get_backend(backend).get_custom_source()


def test_cache_key_follows_the_kernel_only_for_transposed_models(monkeypatch):
    from fpgagen.hls import csim

    convt, plain = convt_stack(5, [(2, 2, 0, 0)]), random_model(0)
    before = cache_key(convt), cache_key(plain)
    monkeypatch.setattr(csim, "header_digest", lambda: "another kernel")
    assert cache_key(convt) != before[0] and cache_key(plain) == before[1]
