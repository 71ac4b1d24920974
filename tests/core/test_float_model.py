"""FloatModel: the BN-folded float generator in numpy float32 (the board's CPU baseline), as the torch front end
lowers it."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from fpgagen.core import float_model as fm
from fpgagen.core.float_model import FloatModel, FloatModelError
from fpgagen.core.latents import latents
from fpgagen.models.lower import Reshape, lower_module
from fpgagen.models.presets import load_preset

PRESETS = ["digits8", "mnist28", "vae28", "dcgan28"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """export(preset) -> path of its float reference file, written once per module."""
    folder = tmp_path_factory.mktemp("float-references")
    paths = {}

    def export(preset):
        if preset not in paths:
            paths[preset] = load_preset(preset).float_model().save(folder / f"{preset}.float.npz")
        return paths[preset]

    return export


@pytest.mark.parametrize("preset", PRESETS)
def test_matches_torch_generator(preset, exported):
    generator = load_preset(preset)
    spec = generator.spec
    ref = FloatModel.load(exported(preset))
    z = latents(512, spec.latent_dim, seed=11)
    images = ref.run(z)
    expected = generator.generate(z)
    assert images.dtype == np.float32 and images.shape == expected.shape == (512, *spec.image_shape)
    assert images.flags.c_contiguous
    np.testing.assert_allclose(images, expected, rtol=0, atol=1e-5)
    assert (ref.name, ref.latent_dim, ref.image_shape, ref.output_range) == (
        spec.name, spec.latent_dim, spec.image_shape, spec.output_range)


@pytest.mark.parametrize("preset", PRESETS)
def test_file_round_trip_is_exact(preset, exported, tmp_path):
    path = exported(preset)
    direct = load_preset(preset).float_model()
    loaded = FloatModel.load(path)
    z = latents(16, direct.latent_dim, seed=3)
    np.testing.assert_array_equal(loaded.run(z), direct.run(z))
    np.testing.assert_array_equal(loaded.generate(z), direct.run(z))
    assert [lr.to_json() for lr in loaded.layers] == [lr.to_json() for lr in direct.layers]
    again = FloatModel.load(loaded.save(tmp_path / "again.npz"))
    np.testing.assert_array_equal(again.run(z), direct.run(z))
    n_params = sum(lr.weight.size + lr.bias.size for lr in direct.layers if lr.weight is not None)
    assert path.stat().st_size < 4 * n_params + 8_000  # float32 weights and a small JSON layer list


def test_batchnorm_is_folded(exported):
    ref = FloatModel.load(exported("mnist28"))
    kinds = [lr.kind for lr in ref.layers]
    assert kinds == ["dense", "leaky_relu", "reshape", "upsample", "conv2d", "leaky_relu", "upsample", "conv2d",
                     "tanh"]
    assert ref.layers[1].alpha == pytest.approx(0.2)


def random_generator(latent_dim, start, convs, act, out_act, seed=0):
    """A random BatchNorm-free Sequential over the reference's vocabulary: convs = [(c_out, k, padding, up)]."""
    torch.manual_seed(seed)
    c, h, w = start
    layers = [nn.Linear(latent_dim, c * h * w), act, Reshape(c, h, w)]
    for c_out, k, pad, up in convs:
        if up:
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            h, w = 2 * h, 2 * w
        layers += [nn.Conv2d(c, c_out, k, padding=pad, bias=k != 1), act]
        c, h, w = c_out, h + 2 * pad - k + 1, w + 2 * pad - k + 1
    layers[-1] = out_act
    return nn.Sequential(*layers).eval(), (c, h, w)


@pytest.mark.parametrize("convs, act, out_act", [
    ([(8, 3, 1, True), (3, 3, 1, False)], nn.ReLU(), nn.Tanh()),
    ([(6, 5, 2, True), (4, 3, 0, True), (2, 1, 0, False)], nn.LeakyReLU(0.1), nn.Sigmoid()),
    ([(5, 3, 0, False), (1, 5, 3, True)], nn.LeakyReLU(0.3), nn.Tanh()),
])
@pytest.mark.parametrize("chunk_bytes", [fm.CHUNK_BYTES, 1])
def test_random_layers_match_torch(convs, act, out_act, chunk_bytes, monkeypatch):
    monkeypatch.setattr(fm, "CHUNK_BYTES", chunk_bytes)  # 1: one image per im2col GEMM
    seq, shape = random_generator(12, (4, 5, 6), convs, act, out_act)
    ref = lower_module(seq, "random", 12, shape, (-1, 1))
    z = np.random.default_rng(0).standard_normal((7, 12)).astype(np.float32)
    with torch.no_grad():
        expected = seq(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(ref.run(z), expected, rtol=0, atol=1e-5)


def test_sigmoid_saturates_without_warnings():
    seq = nn.Sequential(nn.Linear(2, 4), Reshape(1, 2, 2), nn.Sigmoid())
    with torch.no_grad():
        seq[0].weight.fill_(100.0)
    ref = lower_module(seq, "s", 2, (1, 2, 2), (0, 1))
    with np.errstate(all="raise"):
        out = ref.run(np.array([[-5.0, -5.0], [5.0, 5.0]], np.float32))
    np.testing.assert_array_equal(out[0], 0.0)
    np.testing.assert_array_equal(out[1], 1.0)


def test_input_is_not_modified(exported):
    ref = FloatModel.load(exported("digits8"))
    z = latents(4, 16, seed=0)
    before = z.copy()
    ref.run(z)
    np.testing.assert_array_equal(z, before)


@pytest.mark.parametrize("z, message", [
    (np.zeros(16, np.float32), r"shape \(N, 16\)"),
    (np.zeros((2, 15), np.float32), r"shape \(N, 16\) with N >= 1, got \(2, 15\)"),
    (np.zeros((0, 16), np.float32), r"N >= 1, got \(0, 16\)"),
    (np.zeros((2, 16, 1), np.float32), r"shape \(N, 16\)"),
    (np.zeros((2, 16), np.int64), "floating point, got dtype int64"),
    (np.zeros((2, 16), bool), "floating point, got dtype bool"),
    ([["a"] * 16], "floating point"),
    (np.where(np.eye(3, 16, 4) > 0, np.nan, 0.0), "NaN or Inf .*row 0, column 4"),
    (np.full((1, 16), np.inf), "NaN or Inf"),
    (np.full((1, 16), 1e300), "NaN or Inf"),  # overflows float32
])
def test_bad_latents(z, message, exported):
    ref = FloatModel.load(exported("digits8"))
    with pytest.raises(ValueError, match=message):
        ref.run(z)


def test_float64_and_float16_latents_accepted(exported):
    ref = FloatModel.load(exported("digits8"))
    z = latents(3, 16, seed=1)
    np.testing.assert_array_equal(ref.run(z.astype(np.float64)), ref.run(z))
    assert ref.run(z.astype(np.float16)).dtype == np.float32


def rewrite(path, tmp_path, doc_edit=None, arrays_edit=None):
    """A copy of a float reference file with its JSON and/or arrays edited."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    doc = json.loads(arrays.pop("model.json").tobytes())
    if doc_edit:
        doc_edit(doc)
    if arrays_edit:
        arrays_edit(arrays)
    out = tmp_path / "edited.npz"
    np.savez(out, **{"model.json": np.frombuffer(json.dumps(doc).encode(), np.uint8)}, **arrays)
    return out


def _set(key, value):
    return lambda d: d.__setitem__(key, value)


@pytest.mark.parametrize("doc_edit, arrays_edit, message", [
    (_set("format", "something-else"), None, "format 'something-else', expected 'fpgagen-float-reference-1'"),
    (lambda d: d.pop("layers"), None, "lacks layers"),
    (_set("latent_dim", 17), None, r"dense_0 \(dense\): weight \(256, 16\) \(out, in\) does not take \(17,\)"),
    (_set("image_shape", [1, 7, 7]), None, r"produce \(1, 8, 8\), the image shape is \(1, 7, 7\)"),
    (lambda d: d["layers"][2].__setitem__("shape", [16, 4, 5]), None, r"cannot reshape \(256,\) to \(16, 4, 5\)"),
    (lambda d: d["layers"][1].__setitem__("kind", "gelu"), None, "unknown kind 'gelu'"),
    (lambda d: d["layers"][3].__setitem__("factor", 3), None, "only nearest x2"),
    (lambda d: d["layers"][4].__setitem__("padding", -1), None, "padding must be a non-negative integer"),
    (lambda d: d["layers"][1].__setitem__("name", "dense_0"), None, "used twice"),
    (None, lambda a: a.pop("conv2d_6.bias"), "layer conv2d_6: missing bias"),
    (None, lambda a: a.__setitem__("conv2d_6.weight", a["conv2d_6.weight"][:, :8]), "does not take 16 input channels"),
    (None, lambda a: a["dense_0.weight"].__setitem__((0, 0), np.nan), "layer dense_0: weight holds NaN"),
    (None, lambda a: a.__setitem__("stray.weight", np.zeros(3, np.float32)),
     "parameters for no dense or convolution layer"),
    (None, lambda a: a.__setitem__("extra", np.zeros(3)), "unexpected entry 'extra'"),
])
def test_bad_files(doc_edit, arrays_edit, message, exported, tmp_path):
    path = rewrite(exported("digits8"), tmp_path, doc_edit, arrays_edit)
    with pytest.raises(FloatModelError, match=message) as info:
        FloatModel.load(path)
    assert str(path) in str(info.value)


def test_missing_and_damaged_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="fpgagen convert"):
        FloatModel.load(tmp_path / "absent.float.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(FloatModelError, match="not a readable .npz"):
        FloatModel.load(junk)
    np.savez(tmp_path / "plain.npz", w=np.zeros(3))
    with pytest.raises(FloatModelError, match="no 'model.json' entry"):
        FloatModel.load(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="written as .npz"):
        load_preset("digits8").float_model().save(tmp_path / "ref.json")


@pytest.mark.parametrize("stride,k,padding,output_padding", [(1, 2, 0, 0), (1, 5, 2, 0), (2, 3, 1, 1), (2, 4, 1, 0),
                                                             (2, 5, 2, 1), (2, 2, 0, 1)])
def test_conv_transpose2d_matches_torch(stride, k, padding, output_padding):
    torch.manual_seed(k + stride)
    seq = nn.Sequential(nn.Linear(6, 3 * 4 * 5), Reshape(3, 4, 5),
                        nn.ConvTranspose2d(3, 2, k, stride=stride, padding=padding, output_padding=output_padding))
    with torch.no_grad():
        out = seq(torch.randn(1, 6))
    ref = lower_module(seq, "t", 6, tuple(out.shape[1:]), (-1.0, 1.0))
    z = latents(7, 6, seed=1)
    with torch.no_grad():
        np.testing.assert_allclose(ref.run(z), seq(torch.from_numpy(z)).numpy(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("stride,k,padding,output_padding", [(2, 5, 1, -1), (2, 3, 1, -1), (2, 3, 0, -1),
                                                             (1, 4, 1, -1), (2, 5, 0, -4)])
def test_conv_transpose2d_end_crop_matches_the_cropped_full_convolution(stride, k, padding, output_padding):
    """A negative output_padding (Keras's 'same'): torch's full transposed convolution (padding 0) cropped to rows
    and columns padding .. padding + out - 1, computed independently of the float kernel."""
    rng = np.random.default_rng(k * 10 + padding)
    w, b = rng.standard_normal((3, 2, k, k)).astype(np.float32), rng.standard_normal(2).astype(np.float32)
    dense_w, dense_b = rng.standard_normal((3 * 7 * 6, 5)).astype(np.float32), np.zeros(3 * 7 * 6, np.float32)
    oh, ow = ((n - 1) * stride - 2 * padding + k + output_padding for n in (7, 6))
    layers = [fm.FloatLayer("dense_0", "dense", dense_w, dense_b),
              fm.FloatLayer("reshape_1", "reshape", out_shape=(3, 7, 6)),
              fm.FloatLayer("conv_transpose2d_2", "conv_transpose2d", w, b, padding=padding, stride=stride,
                            output_padding=output_padding)]
    model = FloatModel(layers, "t", 5, (2, oh, ow))
    z = latents(4, 5, seed=2)
    x = torch.from_numpy((z @ dense_w.T).reshape(-1, 3, 7, 6)).double()
    full = torch.nn.functional.conv_transpose2d(x, torch.from_numpy(w).double(), stride=stride).numpy()
    want = full[:, :, padding : padding + oh, padding : padding + ow] + b[None, :, None, None]
    np.testing.assert_allclose(model.run(z), want, rtol=0, atol=1e-4)


def test_benchmark(exported):
    ref = FloatModel.load(exported("digits8"))
    result = ref.benchmark(n=40, batch=16)
    assert result.images == 40 and result.batch == 16
    assert result.images_per_s > 0 and result.latency_s > 0
    with pytest.raises(ValueError, match="positive"):
        ref.benchmark(n=0)


def test_board_side_imports_only_numpy():
    code = ("import sys; import fpgagen.core.float_model; "
            "bad = sorted(m for m in ('torch', 'pynq', 'fpgagen.models', 'fpgagen.hls') if m in sys.modules); "
            "print(bad); sys.exit(bool(bad))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
