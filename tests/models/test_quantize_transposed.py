"""Quantizing transposed convolutions: BatchNorm folding, dcgan28, refusals, reuse factors, random stacks."""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from fpgagen.core import golden
from fpgagen.core.accuracy import psnr_db
from fpgagen.core.errors import LoweringError
from fpgagen.core.folding import choose_reuse_factors, reuse_factors
from fpgagen.core.latents import latents
from fpgagen.core.layers import kernel_dims, kernel_uses
from fpgagen.core.quantize import QuantConfig
from fpgagen.core.quantized_model import QuantizedModel
from fpgagen.core.random_model import TRANSPOSED_GEOMETRIES, random_transposed_model
from fpgagen.core.transposed import transposed_taps
from fpgagen.models.cost import macs_per_image
from fpgagen.models.generator import Generator, GeneratorSpec
from fpgagen.models.lower import Reshape, lower_module
from fpgagen.models.presets import load_preset
from fpgagen.models.quantize import quantize

# dcgan28 at its default widths (8-bit data, 7-bit weights) measured 35.2-35.7 dB on 16 latents of seeds 0-2 and
# 35.8 dB on 1,000 (models/quantization_tradeoff.json); max |error| 0.35-0.40 (0.57 on 1,000).
PSNR_FLOOR_DB = 33.0


@pytest.fixture(scope="module")
def dcgan28():
    return quantize(load_preset("dcgan28"))


@pytest.fixture(scope="module")
def budget():
    """The multiplier budget of the board dcgan28 goes to (quantize's default for it)."""
    return load_preset("dcgan28").board().board.multiplier_budget


def _bn(channels: int, seed: int) -> nn.BatchNorm2d:
    g = torch.Generator().manual_seed(seed)
    bn = nn.BatchNorm2d(channels)
    bn.weight.data = torch.rand(channels, generator=g) + 0.5
    bn.bias.data = torch.randn(channels, generator=g)
    bn.running_mean = torch.randn(channels, generator=g)
    bn.running_var = torch.rand(channels, generator=g) + 0.1
    return bn


@pytest.mark.parametrize("c,o,bias,stride", [(3, 5, False, 2), (4, 4, True, 1), (6, 2, True, 2)])
def test_batchnorm_folds_into_the_output_channels_of_a_transposed_convolution(c, o, bias, stride):
    torch.manual_seed(c * o)
    seq = nn.Sequential(nn.Linear(4, c * 4 * 5), Reshape(c, 4, 5),
                        nn.ConvTranspose2d(c, o, 3, stride=stride, padding=1, output_padding=stride - 1, bias=bias),
                        _bn(o, c + o), nn.Tanh()).eval()
    with torch.no_grad():
        image_shape = tuple(seq(torch.zeros(1, 4)).shape[1:])
    model = lower_module(seq, "t", 4, image_shape)
    assert [lr.kind for lr in model.layers] == ["dense", "reshape", "conv_transpose2d", "tanh"]
    z = latents(8, 4, seed=c)
    with torch.no_grad():
        assert np.abs(model.run(z) - seq(torch.from_numpy(z)).numpy()).max() < 1e-5
    bn, convt = seq[3], model.layers[2]
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    assert np.allclose(convt.weight, (seq[2].weight * s.view(1, -1, 1, 1)).detach().numpy())  # weight[:, o] * s[o]
    assert convt.bias.shape == (o,)


def test_batchnorm_after_a_grouped_transposed_convolution_is_refused():
    seq = nn.Sequential(nn.Linear(4, 4 * 3 * 3), Reshape(4, 3, 3), nn.ConvTranspose2d(4, 4, 3, groups=2),
                        nn.BatchNorm2d(4))
    with pytest.raises(LoweringError, match=r"_2 \(call_module 2: ConvTranspose2d\): groups 2 \(supported: 1\)"):
        lower_module(seq, "t", 4, (4, 5, 5))


def test_dcgan28_quantizes_with_exact_accumulators(dcgan28, tmp_path):
    generator = load_preset("dcgan28")
    torch_layers = [m for m in generator.module if isinstance(m, nn.ConvTranspose2d)]
    layers = [lr for lr in dcgan28.layers if lr.kind == "conv_transpose2d"]
    assert [lr.name for lr in layers] == ["conv_transpose2d_3", "conv_transpose2d_5", "conv_transpose2d_7"]
    assert (dcgan28.input_t.width, layers[0].weight_t.width) == generator.spec.widths
    for lr, m in zip(layers, torch_layers, strict=True):
        assert lr.weight.shape == tuple(m.weight.shape)  # (C, O, K, K)
        assert (lr.stride, lr.padding, lr.output_padding) == (m.stride[0], m.padding[0], m.output_padding[0])
        assert lr.result_t.rounding == "RND" and lr.result_t.overflow == "SAT"
    assert not layers[-1].bias.any()  # bias=False and no BatchNorm after it: a zero bias
    x_t = dcgan28.input_t
    for lr in dcgan28.layers:
        if lr.weight is not None:
            assert lr.accum_t.frac == x_t.frac + lr.weight_t.frac
        x_t = lr.result_t
    back = QuantizedModel.load(dcgan28.save(tmp_path / "dcgan28"))
    assert [lr.to_json() for lr in back.layers] == [lr.to_json() for lr in dcgan28.layers]


def test_dcgan28_golden_is_close_to_float(dcgan28):
    z = latents(16, 100, seed=0)
    ref, fixed = load_preset("dcgan28").generate(z), golden.generate(dcgan28, z)
    assert psnr_db(ref, fixed, 2.0) >= PSNR_FLOOR_DB
    assert np.abs(fixed - ref).max() < 0.6


def test_dcgan28_executes_the_useful_macs_within_its_boards_budget(dcgan28, budget):
    from fpgagen.core.folding import stage_cost

    generator = load_preset("dcgan28")
    useful = macs_per_image(generator.module, generator.spec.latent_dim)["useful"]
    assert sum(lr.multiplications for lr in dcgan28.layers) == useful == 37_488_192
    arith = [lr for lr in dcgan28.layers if lr.weight is not None]
    folding = generator.board().board.folding_budget()
    assert dcgan28.info["multipliers_budget"] == budget == folding.multipliers > 200
    assert sum(lr.multipliers for lr in arith) <= budget
    for lr in arith:
        assert lr.reuse_factor in reuse_factors(lr)
        assert lr.multipliers * lr.reuse_factor >= math.prod(kernel_dims(lr))  # a ragged last group idles
        assert lr.multiplications == math.prod(kernel_dims(lr)) * kernel_uses(lr)
    # balanced: the slowest stage cannot take a faster reuse factor without breaking the multiplier or LUT budget
    costs = {lr.name: stage_cost(lr, lr.reuse_factor, 256 if lr.kind == "dense" else None,
                                 folding.lut_per_multiplier) for lr in arith}
    slowest = max(arith, key=lambda lr: costs[lr.name].hls_cycles)
    assert slowest.kind == "conv_transpose2d"
    others = [c for name, c in costs.items() if name != slowest.name]
    faster = [stage_cost(slowest, rf, None, folding.lut_per_multiplier) for rf in reuse_factors(slowest)
              if rf < slowest.reuse_factor]
    assert faster
    for c in faster:
        assert (sum(o.multipliers for o in others) + c.multipliers > folding.multipliers
                or sum(o.lut for o in others) + c.lut > folding.lut), c


def test_an_explicit_budget_overrides_the_boards(dcgan28):
    model = quantize(load_preset("dcgan28"), QuantConfig(multipliers=400))
    assert model.info["multipliers_budget"] == 400
    assert sum(lr.multipliers for lr in model.layers) <= 400 < sum(lr.multipliers for lr in dcgan28.layers)
    with pytest.raises(ValueError, match="multipliers: a positive integer budget up to 1,000,000, got 0"):
        quantize(load_preset("dcgan28"), QuantConfig(multipliers=0))


def test_kernel_uses_of_a_transposed_convolution_are_its_useful_taps(dcgan28):
    lr = copy.deepcopy(dcgan28.layer("conv_transpose2d_5"))
    assert kernel_dims(lr) == (128, 64)
    assert kernel_uses(lr) == transposed_taps(5, 2, 2, (14, 14), (7, 7))[1] == 32 * 32
    choose_reuse_factors([lr], 128)  # 128 x 64 weights per tap on 128 multipliers
    assert lr.reuse_factor == 64 and lr.multipliers == 128


def _generator_with(module: nn.Module) -> Generator:
    """An untrained generator ``Linear(4, 72) -> view(2, 6, 6) -> module -> Tanh``: a model of the user's own, no
    preset, no checkpoint."""
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Linear(4, 72), Reshape(2, 6, 6), copy.deepcopy(module), nn.Tanh()).eval()
    image_shape = tuple(seq(torch.zeros(1, 4)).shape[1:])
    return Generator(GeneratorSpec("transposed_test", 4, image_shape, (-1.0, 1.0)), seq)


@pytest.mark.parametrize("module,message", [
    (nn.ConvTranspose2d(2, 1, 3, stride=3), r"stride 3 \(supported: 1, 2\)"),
    (nn.ConvTranspose2d(2, 1, 6), r"kernel 6 \(supported: 2, 3, 4, 5, square\)"),
    (nn.ConvTranspose2d(2, 1, 3, padding=3), r"padding 3 \(supported: 0 to kernel - 1 = 2\)"),
    (nn.ConvTranspose2d(2, 1, (3, 5)), r"kernel_size \(3, 5\) differs between the axes"),
    (nn.ConvTranspose2d(2, 1, 3, stride=(1, 2)), r"stride \(1, 2\) differs between the axes"),
    (nn.ConvTranspose2d(2, 1, 3, dilation=2, output_padding=1),
     r"dilation \(2, 2\) .*output_padding 1 \(supported: padding - kernel \+ 1 = -2 to stride - 1 = 0\)"),
    (nn.ConvTranspose2d(2, 2, 3, groups=2), r"groups 2 \(supported: 1\)"),
])
def test_unsupported_transposed_convolutions_are_refused_naming_the_layer(module, message):
    with pytest.raises(LoweringError, match=r"1 unsupported node\(s\)\n  _2 \(call_module 2: ConvTranspose2d\): .*"
                                            + message + r"(.|\n)*conv_transpose2d: ConvTranspose2d \(stride 1 or 2"):
        quantize(_generator_with(module), QuantConfig(calibration_latents=16))


def test_supported_transposed_convolution_of_a_small_generator():
    generator = _generator_with(nn.ConvTranspose2d(2, 1, 4, stride=2, padding=1, bias=True))
    model = quantize(generator, QuantConfig(calibration_latents=64, data_width=14, weight_width=12))
    lr = model.layer("conv_transpose2d_2")
    assert lr.out_shape == (1, 12, 12) and (lr.stride, lr.padding, lr.output_padding) == (2, 1, 0)
    z = latents(32, 4, seed=5)
    assert psnr_db(generator.generate(z), golden.generate(model, z), 2.0) > 50


def test_random_transposed_stacks_cover_every_geometry_and_validate():
    seen = set()
    for seed in range(len(TRANSPOSED_GEOMETRIES)):
        model = random_transposed_model(seed)
        model.validate()
        layers = [lr for lr in model.layers if lr.kind == "conv_transpose2d"]
        assert 1 <= len(layers) <= 2
        for lr in layers:
            seen.add((lr.stride, lr.weight.shape[-1], lr.padding, lr.output_padding))
            assert lr.reuse_factor in reuse_factors(lr)
            assert max(lr.out_shape[1:]) <= 16
        out = golden.generate(model, latents(3, model.latent_dim, seed=seed))
        assert out.shape == (3, *model.image_shape)
    assert seen == set(TRANSPOSED_GEOMETRIES)
    assert {s for s, *_ in seen} == {1, 2} and {k for _, k, *_ in seen} == {2, 3, 4, 5}


def test_random_transposed_stacks_are_seeded():
    a, b, c = random_transposed_model(7), random_transposed_model(7), random_transposed_model(8)
    assert [lr.to_json() for lr in a.layers] == [lr.to_json() for lr in b.layers]
    assert all(np.array_equal(x.weight, y.weight) for x, y in zip(a.layers, b.layers, strict=True)
               if x.weight is not None)
    assert [lr.to_json() for lr in a.layers] != [lr.to_json() for lr in c.layers]


def test_dcgan28_table_lists_the_transposed_layers(dcgan28):
    """What ``fpgagen quantize dcgan28`` prints first (the command then measures fixed vs float on 1,000 latents,
    ~40 s, so it is run by hand rather than here)."""
    lines = dcgan28.summary().splitlines()
    header = lines[1]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert list(rows) == [lr.name for lr in dcgan28.layers]
    for lr in dcgan28.layers:
        assert rows[lr.name].index(str(lr.out_shape)) == header.index("out shape")  # columns line up
        if lr.kind == "conv_transpose2d":
            assert rows[lr.name].split()[-3:] == [str(lr.reuse_factor), str(lr.multipliers), lr.placement]
