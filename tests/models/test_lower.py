"""Lowering any torch generator by tracing it: each accepted pattern runs as torch does, the canonical PyTorch DCGAN
runs bit-exact on golden, hls4ml's C simulation and the RTL twin, everything unsupported is refused in one error,
and the presets lower exactly as they did."""


import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fpgagen.core.errors import LoweringError
from fpgagen.core.latents import latents
from fpgagen.core.quantize import QuantConfig
from fpgagen.models.generator import Generator, GeneratorSpec
from fpgagen.models.lower import Reshape, lower, lower_module
from fpgagen.models.presets import load_preset
from fpgagen.models.quantize import quantize
from fpgagen.models.torch_dcgan import DCGAN, with_batchnorm_statistics


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _bn(cls, channels: int, g: torch.Generator) -> nn.Module:
    """A BatchNorm with affine parameters and running statistics away from their defaults."""
    bn = cls(channels)
    bn.weight.data = torch.rand(channels, generator=g) + 0.5
    bn.bias.data = 0.1 * torch.randn(channels, generator=g)
    bn.running_mean = 0.2 * torch.randn(channels, generator=g)
    bn.running_var = torch.rand(channels, generator=g) + 0.5
    return bn


def assert_runs_as_torch(module: nn.Module, latent_dim: int, image_shape, kinds=None):
    model = lower_module(module, "t", latent_dim, image_shape)
    if kinds is not None:
        assert [lr.kind for lr in model.layers] == kinds
    assert [lr.name for lr in model.layers] == [f"{lr.kind}_{i}" for i, lr in enumerate(model.layers)]
    z = latents(6, latent_dim, seed=3)
    with torch.no_grad():
        want = module.eval()(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(model.run(z), want, rtol=0, atol=1e-5)
    return model


# --------------------------------------------------------------------------------------------- accepted patterns


class NestedSequential(nn.Module):
    """A Sequential inside a custom module, a custom forward, a view sized by a shape query, BatchNorm1d/2d."""

    def __init__(self):
        super().__init__()
        g = _seeded(1)
        self.head = nn.Sequential(nn.Linear(6, 8 * 3 * 3, bias=False), _bn(nn.BatchNorm1d, 72, g))
        self.body = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(8, 4, 3, padding=1),
                                  _bn(nn.BatchNorm2d, 4, g), nn.LeakyReLU(0.1), nn.Conv2d(4, 2, 3, padding=1))

    def forward(self, z):
        x = F.leaky_relu(self.head(z), negative_slope=0.3)
        return torch.tanh(self.body(x.view(z.size(0), 8, 3, 3)))


class ModuleListLoop(nn.Module):
    """Convolutions held in a ModuleList, applied in a loop with functional activations and interpolate."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 4 * 2 * 2)
        self.convs = nn.ModuleList(nn.Conv2d(4, 4, 3, padding=1) for _ in range(2))
        self.out = nn.Conv2d(4, 1, 1)

    def forward(self, z):
        x = self.fc(z).relu().view(-1, 4, 2, 2)
        for conv in self.convs:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = torch.relu(conv(x))
        return self.out(x).sigmoid()


class ShapeOps(nn.Module):
    """Every shape-only spelling; a run of them is one reshape, and a round trip is none."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2 * 4 * 4)
        self.flat, self.unflat = nn.Flatten(), nn.Unflatten(1, (3, 4, 4))
        self.view = Reshape(2, 4, 4)
        self.conv = nn.Conv2d(2, 3, 3, padding=1)

    def forward(self, z):
        x = torch.unsqueeze(self.fc(z), -1).unsqueeze(-1)  # (32, 1, 1)
        x = torch.flatten(x, 1).reshape(z.shape[0], 2, 16)
        x = F.sigmoid(x)  # element-wise between shape calls: the reshape lands after it
        x = torch.unflatten(x, 2, (4, 4)).contiguous()  # (2, 4, 4)
        x = self.conv(x)
        x = self.unflat(self.flat(x).view(-1, 48).squeeze())  # a round trip: (3, 4, 4) again, no layer
        x = torch.squeeze(x.unsqueeze(1), 1)
        return torch.reshape(x, (-1, 3, 4, 4)).tanh_()


class FunctionalActivations(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 12)
        self.view = Reshape(3, 2, 2)

    def forward(self, z):
        x = torch.relu_(F.relu(self.fc(z)))
        x = F.leaky_relu(x, 0.25).tanh()
        return self.view(torch.sigmoid(F.tanh(x)))


@pytest.mark.parametrize("build, latent_dim, image_shape, kinds", [
    (NestedSequential, 6, (2, 6, 6),
     ["dense", "leaky_relu", "reshape", "upsample", "conv2d", "leaky_relu", "conv2d", "tanh"]),
    (ModuleListLoop, 5, (1, 8, 8),
     ["dense", "relu", "reshape", "upsample", "conv2d", "relu", "upsample", "conv2d", "relu", "conv2d", "sigmoid"]),
    (ShapeOps, 4, (3, 4, 4), ["dense", "sigmoid", "reshape", "conv2d", "tanh"]),
    (FunctionalActivations, 3, (3, 2, 2), ["dense", "relu", "relu", "leaky_relu", "tanh", "tanh", "sigmoid",
                                           "reshape"]),
], ids=["nested-sequential", "modulelist-loop", "shape-ops", "functional-activations"])
def test_a_pattern_lowers_and_runs_as_torch(build, latent_dim, image_shape, kinds):
    torch.manual_seed(0)
    assert_runs_as_torch(build(), latent_dim, image_shape, kinds)


def test_leaky_relu_keeps_its_slope_in_every_spelling():
    seq = nn.Sequential(nn.Linear(2, 4), nn.LeakyReLU(0.3), Reshape(1, 2, 2))

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 4)

        def forward(self, z):
            return F.leaky_relu(F.leaky_relu(self.fc(z)), 0.2).view(-1, 1, 2, 2)

    assert [lr.alpha for lr in lower_module(seq, "t", 2, (1, 2, 2)).layers if lr.kind == "leaky_relu"] == [0.3]
    model = assert_runs_as_torch(Functional(), 2, (1, 2, 2))
    assert [lr.alpha for lr in model.layers if lr.kind == "leaky_relu"] == [0.01, 0.2]


@pytest.mark.parametrize("upsample", [
    nn.Upsample(scale_factor=2), nn.Upsample(scale_factor=(2.0, 2.0), mode="nearest"),
    nn.UpsamplingNearest2d(scale_factor=2),
    lambda x: F.interpolate(x, size=(6, 6)),
], ids=["Upsample", "Upsample-tuple", "UpsamplingNearest2d", "interpolate-size"])
def test_nearest_x2_upsampling_in_every_spelling(upsample):
    class Up(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.up = nn.Linear(3, 18), upsample

        def forward(self, z):
            return self.up(self.fc(z).view(-1, 2, 3, 3))

    model = assert_runs_as_torch(Up(), 3, (2, 6, 6))
    assert [lr.kind for lr in model.layers] == ["dense", "reshape", "upsample"]


@pytest.mark.parametrize("kernel, stride, padding, output_padding, bias, batchnorm", [
    (4, 1, 0, 0, False, True),  # the canonical DCGAN's first layer
    (3, 1, 1, 0, True, False),
    (4, 2, 1, 1, True, True),  # output_padding: a row and a column of bias only
    (5, 3, 2, 2, False, False),
    ((3, 5), (1, 2), (0, 1), (0, 1), True, True),  # non-square: still a dense
    (7, 1, 0, 0, True, False),  # beyond the conv_transpose2d kind's kernels: a dense has no limit
])
def test_a_transposed_convolution_on_a_1x1_input_lowers_to_dense_and_reshape(kernel, stride, padding,
                                                                            output_padding, bias, batchnorm):
    g = _seeded(5)
    convt = nn.ConvTranspose2d(6, 3, kernel, stride, padding, output_padding, bias=bias)
    layers = [nn.Unflatten(1, (6, 1, 1)), convt] + ([_bn(nn.BatchNorm2d, 3, g)] if batchnorm else []) + [nn.Tanh()]
    seq = nn.Sequential(*layers)
    with torch.no_grad():
        image_shape = tuple(seq(torch.zeros(1, 6)).shape[1:])
    model = assert_runs_as_torch(seq, 6, image_shape, ["dense", "tanh", "reshape"])
    assert model.layers[0].weight.shape == (int(np.prod(image_shape)), 6)


# --------------------------------------------------------------------------------------------- the canonical DCGAN


@pytest.fixture(scope="module")
def dcgan() -> Generator:
    """Random weights; BatchNorm statistics of its own activations (:func:`with_batchnorm_statistics`)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        module = with_batchnorm_statistics(DCGAN(nz=16, ngf=16), 16)
    return Generator(GeneratorSpec("dcgan32", 16, (3, 32, 32), (-1.0, 1.0)), module)


@pytest.fixture(scope="module")
def dcgan_quantized(dcgan):
    return quantize(dcgan, QuantConfig(data_width=12, weight_width=10))


def dcgan_latents():
    z = latents(8, 16, seed=11)
    z[0] *= 5.0  # beyond the input type's range: saturating casts
    return z


def test_the_canonical_dcgan_lowers_to_dense_reshape_and_transposed_convolutions(dcgan):
    model = assert_runs_as_torch(dcgan.module, 16, (3, 32, 32))
    assert [(lr.kind, lr.out_shape) for lr in model.layers[:4]] == [
        ("dense", (1024,)), ("relu", (1024,)), ("reshape", (64, 4, 4)), ("conv_transpose2d", (32, 8, 8))]
    assert [lr.kind for lr in model.layers[4:]] == ["relu", "conv_transpose2d", "relu", "conv_transpose2d", "tanh"]


@pytest.mark.parametrize("target", ["csim", "rtlsim"])
def test_the_canonical_dcgan_is_bit_exact_on(target, dcgan_quantized, equals_golden):
    equals_golden(target, dcgan_quantized, dcgan_latents())


# --------------------------------------------------------------------------------------------- refusals


class Unsupported(nn.Module):
    """Two branches merged by torch.cat, a dilated and a grouped convolution, a bilinear interpolate, an unknown
    module, BatchNorm after an activation."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4 * 4 * 4), nn.Linear(4, 4 * 4 * 4)
        self.dilated = nn.Conv2d(8, 8, 3, padding=2, dilation=2)
        self.grouped = nn.Conv2d(8, 4, 3, padding=1, groups=2)
        self.act, self.bn = nn.GELU(), nn.BatchNorm2d(4)

    def forward(self, z):
        x = torch.cat([self.a(z), self.b(z)], dim=1).view(-1, 8, 4, 4)
        x = F.interpolate(self.dilated(x), scale_factor=2, mode="bilinear")
        return self.bn(torch.relu(self.grouped(self.act(x))))


def test_everything_unsupported_is_refused_in_one_error_before_any_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FPGAGEN_CACHE", str(tmp_path / "cache"))
    generator = Generator(GeneratorSpec("mixed", 4, (4, 8, 8), (-1.0, 1.0)), Unsupported())
    with pytest.raises(LoweringError) as info:
        quantize(generator, QuantConfig(data_width=8, weight_width=8))
    text = str(info.value)
    for line in [
        "z (an input): feeds 2 calls (a, b)",
        "cat (call_function torch.cat): takes 2 tensors (a, b)",
        "this function is not in fpgagen's vocabulary",
        "dilated (call_module dilated: Conv2d): dilation (2, 2)",
        "interpolate (call_function torch.nn.functional.interpolate): mode 'bilinear' (supported: 'nearest')",
        "act (call_module act: GELU): this module is not in fpgagen's vocabulary",
        "grouped (call_module grouped: Conv2d): groups 2 (supported: 1)",
        "bn (call_module bn: BatchNorm2d): BatchNorm not directly after a Linear, Conv2d or ConvTranspose2d",
    ]:
        assert line in text
    assert text.startswith("fpgagen cannot lower mixed (Unsupported): 7 unsupported node(s)")
    assert "upsample: Upsample, UpsamplingNearest2d, F.interpolate (mode 'nearest', scale factor 2" in text
    assert list(tmp_path.iterdir()) == []  # nothing written, no cache made


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, z, label):
        return self.fc(z).view(-1, 1, 2, 2) + label


class Flattens(nn.Module):
    """A Linear on a flattened feature map."""

    def __init__(self):
        super().__init__()
        self.fc, self.conv, self.fc2 = nn.Linear(4, 16), nn.Conv2d(1, 1, 3, padding=1), nn.Linear(16, 16)

    def forward(self, z):
        return self.fc2(self.conv(self.fc(z).view(-1, 1, 4, 4)).flatten(1)).view(-1, 1, 4, 4)


class Rearranges(nn.Module):
    """A feature map viewed as another."""

    def __init__(self):
        super().__init__()
        self.fc, self.conv, self.conv2 = nn.Linear(4, 16), nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 1)

    def forward(self, z):
        return self.conv2(self.conv(self.fc(z).view(-1, 1, 4, 4)).view(-1, 1, 2, 8))


@pytest.mark.parametrize("module, image_shape, messages", [
    (TwoInputs(), (1, 2, 2), ["TwoInputs.forward(z, label): takes 2 inputs; a generator takes one batch of latents",
                              "add (call_function operator.add): takes 2 tensors (view, label)"]),
    (nn.Sequential(nn.Linear(4, 4), nn.Flatten(0)), (1, 2, 2),
     ["_1 (call_module 1: Flatten): gives shape (8,) for 2 latents: it merges or moves the batch axis"]),
    (nn.Sequential(nn.Linear(4, 16), Reshape(1, 4, 4), nn.ConvTranspose2d(1, 1, 3, stride=3, dilation=2)), (1, 14, 14),
     ["_2 (call_module 2: ConvTranspose2d): dilation (2, 2) (supported: 1); stride 3 (supported: 1, 2)"]),
    (nn.Sequential(nn.Linear(4, 16), Reshape(1, 4, 4), nn.Upsample(scale_factor=3)), (1, 12, 12),
     ["_2 (call_module 2: Upsample): scale_factor 3.0 (supported: 2)"]),
    (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.BatchNorm1d(4), Reshape(1, 2, 2)), (1, 2, 2),
     ["_2 (call_module 2: BatchNorm1d): BatchNorm not directly after"]),
    (Flattens(), (1, 4, 4), ["fc2 (call_module fc2: Linear): takes the (1, 4, 4) feature map as a vector"]),
    (Rearranges(), (1, 2, 8), ["view_1 (call_method Tensor.view): reshapes (1, 4, 4) to (1, 2, 8); fpgagen's "
                               "reshape views a vector as (C, H, W) only"]),
    (nn.Sequential(nn.Linear(4, 4), Reshape(1, 2, 2)), (1, 4, 1),
     ["Sequential.forward's return value: has shape (1, 2, 2) per latent, the image shape is (1, 4, 1)"]),
], ids=["two-inputs", "batch-merged", "transposed", "upsample-x3", "batchnorm-after-relu", "flattened-map",
        "rearranged-map", "output-shape"])
def test_a_refusal_names_the_node_and_the_attribute(module, image_shape, messages):
    with pytest.raises(LoweringError) as info:
        lower_module(module, "t", 4, image_shape)
    for message in messages:
        assert message in str(info.value)


def test_a_forward_torch_fx_cannot_trace_is_refused_naming_it():
    class Branchy(nn.Module):
        def forward(self, z):
            return z.view(-1, 1, 2, 2) if z.sum() > 0 else -z.view(-1, 1, 2, 2)

    with pytest.raises(LoweringError, match="torch.fx cannot trace Branchy: TraceError: .*no Python control flow"):
        lower_module(Branchy(), "t", 4, (1, 2, 2))


# --------------------------------------------------------------------------------------------- the presets

# FloatModel.digest() of each preset (layer JSON and every weight) as the nn.Sequential lowering gave them before
# lowering went through torch.fx, for the shipped checkpoints (sha256 prefix); quantization is a function of it.
PRESET_DIGESTS = {
    "digits8": ("5193b920dae7", "0f341b72bb5f6c78dc2e88de82221fdd486109ee1a9d91729690e3f79d79ccab"),
    "mnist28": ("327795ed6b0b", "acb63b4acb21d3abade108da4399be4d83637e4a54a28aa6ba9ec9464f9dd345"),
    "vae28": ("843b12515f47", "379bb15fdfc04dd119a1d61a6e435972696ee170e49aeae061f027911cdf87bd"),
    "dcgan28": ("7c216336f98a", "d97d22c2f7e034366c6655ed8f8549651a1e78182458b699c0dda8ce1d014fb3"),
}


@pytest.mark.parametrize("preset", sorted(PRESET_DIGESTS))
def test_the_presets_lower_exactly_as_before(preset):
    generator = load_preset(preset)
    checkpoint, digest = PRESET_DIGESTS[preset]
    if not generator.checkpoint_sha256.startswith(checkpoint):
        pytest.skip(f"{preset}'s checkpoint changed since the digest was recorded")
    assert lower(generator).digest() == digest
