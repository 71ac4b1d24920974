"""The conv_transpose2d contract: golden arithmetic against torch, the per-phase tap counts, what is supported."""

import itertools

import numpy as np
import pytest
import torch

from fpgagen.core.fixed import FixedType
from fpgagen.core.golden import conv_transpose2d
from fpgagen.core.quantized_model import Layer, QuantizedModel, QuantizedModelError
from fpgagen.core.transposed import (
    conv_transpose_ws_cycles,
    transposed_out_size,
    transposed_support,
    transposed_taps,
)
from fpgagen.models.cost import _transposed_taps

X_T = FixedType(8, 3, True, "RND", "SAT")
W_T = FixedType(6, 1, True, "RND", "SAT")
B_T = FixedType(10, 3, True, "RND", "SAT")
WIDE = FixedType(40, 20, True, "TRN", "WRAP")  # accumulator and result: nothing rounds or saturates

SUPPORTED = [(s, k, p, op) for s, k, p, op in itertools.product((1, 2), (2, 3, 4, 5), range(5), (0, 1))
             if not transposed_support(k, s, p, op)]
# Negative output_padding, an end crop: Keras's 'same' (s2 k5 -> p1 op-1, s2 k3 -> p0 op-1, s1 k4 -> p1 op-1,
# s1 k2 -> p0 op-1), the brief's s2 k3 p1 op-1, and the deepest end crops (K - 1)
END_CROPS = [(2, 5, 1, -1), (2, 3, 0, -1), (1, 4, 1, -1), (1, 2, 0, -1), (2, 3, 1, -1), (2, 5, 0, -4), (2, 4, 0, -3),
             (1, 3, 0, -2), (1, 5, 2, -2)]


def _cropped_reference(x, w, stride, padding, output_padding):
    """torch's full transposed convolution (padding 0), rows and columns ``padding .. padding + out - 1`` (zero
    beyond its end, where output_padding exceeds padding)."""
    full = torch.nn.functional.conv_transpose2d(torch.tensor(x, dtype=torch.float64),
                                                torch.tensor(w, dtype=torch.float64), stride=stride).numpy()
    k, grow = w.shape[-1], max(0, output_padding - padding)
    full = np.pad(full, ((0, 0), (0, 0), (0, grow), (0, grow)))
    oh, ow = (transposed_out_size(n, k, stride, padding, output_padding) for n in x.shape[2:])
    return full[:, :, padding : padding + oh, padding : padding + ow]


def _torch_reference(x, w, stride, padding, output_padding):
    """torch's own ConvTranspose2d arithmetic (output_padding >= 0 only)."""
    return torch.nn.functional.conv_transpose2d(torch.tensor(x, dtype=torch.float64),
                                                torch.tensor(w, dtype=torch.float64), stride=stride,
                                                padding=padding, output_padding=output_padding).numpy()


@pytest.mark.parametrize("stride,k,padding,output_padding,reference", [
    *[(*g, _torch_reference) for g in SUPPORTED], *[(*g, _cropped_reference) for g in END_CROPS + SUPPORTED[::5]]])
def test_golden_equals_the_reference_on_integer_codes(stride, k, padding, output_padding, reference):
    """Against torch's ConvTranspose2d where it exists, and against the cropped full convolution (the definition an
    end crop extends) for the end crops and some of the rest."""
    assert not transposed_support(k, stride, padding, output_padding)
    rng = np.random.default_rng(k * 100 + padding * 10 + stride + abs(output_padding))
    for h, w in ((1, 2), (3, 4), (7, 5)):
        if transposed_out_size(h, k, stride, padding, output_padding) < 1:
            continue
        x = rng.integers(-128, 128, (2, 3, h, w))
        wt = rng.integers(-32, 32, (3, 4, k, k))
        b = rng.integers(-500, 500, 4)
        got = conv_transpose2d(x, X_T, wt, b, W_T, B_T, WIDE, WIDE, stride, padding, output_padding)
        ref = reference(x, wt, stride, padding, output_padding)
        ref = ref * (1 << (WIDE.frac - X_T.frac - W_T.frac)) + (b << (WIDE.frac - B_T.frac))[None, :, None, None]
        assert got.shape == ref.shape
        np.testing.assert_array_equal(got, ref)


def test_keras_same_is_a_negative_output_padding():
    """Keras 3's 'same' of stride 2, kernel 5 on 7 rows: the full 17 rows cropped by 1 and 2, i.e. padding 1,
    output_padding -1 -> 14 rows; one more row of end crop than the kernel allows is refused."""
    assert transposed_out_size(7, 5, 2, 1, -1) == 14
    assert transposed_support(5, 2, 1, -1) == [] and transposed_support(5, 2, 0, -4) == []
    assert transposed_support(5, 2, 0, -5) == ["output_padding -5 (supported: padding - kernel + 1 = -4 to stride "
                                               "- 1 = 1)"]
    assert transposed_support(3, 2, 1, 2)


@pytest.mark.parametrize("stride,k,padding,output_padding", SUPPORTED + END_CROPS)
def test_useful_taps_match_the_cost_model(stride, k, padding, output_padding):
    in_hw = (4, 6)
    out_hw = tuple(transposed_out_size(n, k, stride, padding, output_padding) for n in in_hw)
    phase, useful = transposed_taps(k, stride, padding, out_hw, in_hw)
    if output_padding >= 0:
        layer = torch.nn.ConvTranspose2d(1, 1, k, stride=stride, padding=padding, output_padding=output_padding)
        assert useful == _transposed_taps(layer, in_hw)
    else:  # torch's module refuses it: count the ones of the cropped full map
        assert useful == _cropped_reference(np.ones((1, 1, *in_hw)), np.ones((1, 1, k, k)), stride, padding,
                                            output_padding).sum()
    assert useful <= phase <= out_hw[0] * out_hw[1] * k * k


def test_dcgan28_mac_counts():
    """The seed's three transposed convolutions: useful (what fpgagen executes) vs zero insertion."""
    useful = zero_insertion = 0
    for k, s, n_in, n_out, c, o in ((5, 1, 7, 7, 256, 128), (5, 2, 7, 14, 128, 64), (5, 2, 14, 28, 64, 1)):
        useful += transposed_taps(k, s, 2, (n_out, n_out), (n_in, n_in))[1] * c * o
        zero_insertion += n_out * n_out * k * k * c * o
    assert (useful, zero_insertion) == (36_233_792, 81_536_000)  # + the dense's 1,254,400 each: 37.49 M, 82.79 M


def _ws_cycles_brute_force(in_hw, out_hw, c, o, k, stride, padding, pi, po):
    """fg_conv_transpose2d_ws walked word by word in stream order (conv_transpose_words): one cycle per input pixel
    whose output lies inside, at least one per word; the drain one cycle per output pixel and group; the input one
    cycle per pixel. Returns (the longest of the three, compute, useful MACs)."""
    (h, w), (oh, ow) = in_hw, out_hw
    groups, compute, macs = -(-o // po), 0, 0
    for og in range(groups):
        for ty in range(k):
            for tx in range(k):
                pixels = sum(0 <= iy * stride - padding + ty < oh and 0 <= ix * stride - padding + tx < ow
                             for iy in range(h) for ix in range(w))
                compute += c // pi * max(1, pixels)
                macs += c * o * pixels if og == 0 else 0
    return max(h * w, compute, oh * ow * groups), compute, macs


@pytest.mark.parametrize("stride,k,padding,output_padding", SUPPORTED + END_CROPS)
def test_weight_stationary_cycles_walk_every_word(stride, k, padding, output_padding):
    """conv_transpose_ws_cycles against a word-by-word walk; compute never beats the MAC bound (useful MACs /
    (PI * PO)) and meets it when no word is empty and PO divides the outputs; the input never bounds it."""
    for in_hw in ((1, 1), (1, 2), (3, 5), (7, 7)):
        out_hw = tuple(transposed_out_size(n, k, stride, padding, output_padding) for n in in_hw)
        if min(out_hw) < 1:
            continue
        useful = transposed_taps(k, stride, padding, out_hw, in_hw)[1]
        for c, o, pi, po in ((1, 1, 1, 1), (4, 6, 2, 3), (4, 5, 4, 2), (6, 2, 1, 2)):
            want, compute, macs = _ws_cycles_brute_force(in_hw, out_hw, c, o, k, stride, padding, pi, po)
            assert conv_transpose_ws_cycles(in_hw, out_hw, c, o, k, stride, padding, pi, po) == want
            assert macs == c * o * useful and compute * pi * po >= macs and compute >= in_hw[0] * in_hw[1]
            empty_words = compute * pi * po > -(-o // po) * po * c * useful
            if o % po == 0 and not empty_words:
                assert compute * pi * po == macs


def test_weight_stationary_dcgan_layer():
    """The seed's ConvTranspose2d 256 -> 128, 5 x 5 on 7 x 7 ('same', stride 1) with weights streamed: every weight
    once per frame, 819,200 weights in 3,200 words of 256 x 1 lanes; at 256 multipliers the MAC bound exactly."""
    cycles = conv_transpose_ws_cycles((7, 7), (7, 7), 256, 128, 5, 1, 2, 256, 1)
    assert cycles == 256 * 128 * transposed_taps(5, 1, 2, (7, 7), (7, 7))[1] // 256 == 107_648


def _model(stride=2, padding=1, output_padding=1, k=3, out_hw=None):
    out_hw = out_hw or transposed_out_size(3, k, stride, padding, output_padding)
    lr = Layer("conv_transpose2d_0", "conv_transpose2d", (2, 3, 3), (4, out_hw, out_hw), WIDE,
               weight=np.ones((2, 4, k, k), np.int64), bias=np.zeros(4, np.int64), weight_t=W_T, bias_t=B_T,
               accum_t=WIDE, padding=padding, stride=stride, output_padding=output_padding, reuse_factor=2)
    first = Layer("reshape_0", "reshape", (18,), (2, 3, 3), X_T)
    return QuantizedModel("t", X_T, [first, lr], (-1.0, 1.0))


def test_validate_accepts_and_round_trips(tmp_path):
    model = _model()
    model.validate()
    back = QuantizedModel.load(model.save(tmp_path / "m"))
    lr = back.layers[1]
    assert (lr.stride, lr.padding, lr.output_padding) == (2, 1, 1)
    assert lr.multipliers == 4  # 2 x 4 weights per tap / reuse 2


@pytest.mark.parametrize("kw,message", [
    ({"stride": 3, "out_hw": 7}, "unsupported stride 3"),
    ({"output_padding": 2, "out_hw": 7}, "unsupported output_padding 2"),
    ({"k": 3, "padding": 0, "output_padding": -3, "out_hw": 2}, "unsupported output_padding -3"),
    ({"padding": 3, "out_hw": 1}, "unsupported padding 3"),
    ({"out_hw": 9}, "does not follow from in_shape"),
])
def test_validate_names_what_is_unsupported(kw, message):
    with pytest.raises(QuantizedModelError, match=message):
        _model(**kw).validate()
