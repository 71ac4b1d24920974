"""The ONNX front end: the presets exported by torch import to the float and quantized models of the torch front end,
channels-last graphs import with their layout, the canonical PyTorch DCGAN imports, everything unsupported is refused
in one error, and the module reads ONNX files without torch."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from fpgagen.core.errors import LoweringError
from fpgagen.core.float_model import FloatLayer, FloatModel
from fpgagen.core.latents import latents
from fpgagen.core.quantize import QuantConfig, calibrate, quantize_float
from fpgagen.models.lower import lower_module
from fpgagen.models.onnx_import import OPSETS, read_onnx, vocabulary
from fpgagen.models.presets import load_preset
from fpgagen.models.quantize import quantize

CONFIG = QuantConfig(calibration_latents=512)  # both front ends quantize with it: fewer latents, same rules


def _export(module: nn.Module, z: torch.Tensor, path, **kw):
    torch.onnx.export(module.eval(), (z,), str(path), dynamo=False, input_names=["z"], output_names=["image"],
                      dynamic_axes={"z": {0: "n"}, "image": {0: "n"}}, **kw)
    return path


def _span(output_range) -> float:
    return float(output_range[1] - output_range[0])


def _same_quantized(a, b) -> None:
    assert [(lr.name, lr.kind) for lr in a.layers] == [(lr.name, lr.kind) for lr in b.layers]
    assert a.input_t == b.input_t
    for x, y in zip(a.layers, b.layers, strict=True):
        for key in ("result_t", "weight_t", "bias_t", "accum_t", "table_t", "reuse_factor"):
            assert getattr(x, key) == getattr(y, key), (x.name, key)
        for key in ("weight", "bias"):
            if getattr(y, key) is not None:
                np.testing.assert_array_equal(getattr(x, key), getattr(y, key), err_msg=f"{x.name}.{key}")


def test_presets_import_to_the_torch_front_ends_float_and_quantized_models(preset_name, tmp_path):
    generator = load_preset(preset_name)
    spec = generator.spec
    path = _export(generator.module, torch.zeros(2, spec.latent_dim), tmp_path / f"{preset_name}.onnx")
    source = read_onnx(path, preset_name)
    float_model, torch_float = source.float_model, generator.float_model()
    float_model.output_range = spec.output_range  # the caller sets it (provisional in the import)
    assert [lr.kind for lr in float_model.layers] == [lr.kind for lr in torch_float.layers]
    assert float_model.image_shape == spec.image_shape and source.file == path
    assert source.framework == f"onnxruntime {ort.__version__} (onnx opset 20)"

    z = latents(64, spec.latent_dim, 5)
    images = float_model.run(z)
    float_err = float(np.abs(images - torch_float.run(z)).max())
    ort_err = float(np.abs(source.run(z) - generator.generate(z)).max())
    print(f"\n{preset_name}: |onnx FloatModel - torch FloatModel| {float_err:.2e}, |onnxruntime - torch| {ort_err:.2e}")
    assert float_err <= 1e-5 * _span(spec.output_range)
    assert ort_err <= 1e-5 * _span(spec.output_range)

    widths, _ = spec.default_widths
    budget = generator.board().board.folding_budget()
    calibration = calibrate(float_model, CONFIG.calibration_latents, spec.latents)
    imported = quantize_float(float_model, calibration, CONFIG, widths=widths, budget=budget, info={})
    _same_quantized(imported, quantize(generator, CONFIG))


def test_batchnorm_nodes_fold_as_the_torch_front_end_folds(tmp_path):
    """Exported without torch's Conv+BatchNorm fusion, every BatchNormalization reaches the import: folded in float64
    like lower.py folds, the float model is the torch front end's, weight for weight."""
    generator = load_preset("digits8")
    path = _export(generator.module, torch.zeros(2, 16), tmp_path / "digits8.onnx",
                   training=torch.onnx.TrainingMode.PRESERVE)
    assert [n.op_type for n in onnx.load(str(path)).graph.node].count("BatchNormalization") == 2
    float_model = read_onnx(path, "digits8").float_model
    float_model.output_range = generator.spec.output_range
    assert float_model.digest() == generator.float_model().digest()


# ============================================================================================== graphs built by hand
def _model(nodes, inputs, outputs, initializers=(), opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, [numpy_helper.from_array(np.asarray(v), k)
                                                            for k, v in dict(initializers).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _value(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _save(model: onnx.ModelProto, path):
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _ort(path, z: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: z})[0]


def _channels_last_graph(rng, batch="n") -> tuple[onnx.ModelProto, dict]:
    """Latent 6 -> MatMul + Add -> Reshape to NHWC (4, 3, 5) -> Transpose to NCHW -> ConvTranspose (stride 2) ->
    Relu -> Transpose to NHWC -> Tanh: an (N, 8, 6, 2) channels-last output, H != W and no axis of equal size."""
    weights = {"w": rng.standard_normal((6, 60)).astype(np.float32), "b": rng.standard_normal(60).astype(np.float32),
               "shape": np.array([-1, 4, 3, 5], np.int64),
               "k": (0.3 * rng.standard_normal((5, 2, 3, 3))).astype(np.float32),
               "kb": rng.standard_normal(2).astype(np.float32)}
    nodes = [helper.make_node("MatMul", ["z", "w"], ["m"], name="dense"),
             helper.make_node("Add", ["m", "b"], ["a"], name="bias"),
             helper.make_node("Reshape", ["a", "shape"], ["nhwc"], name="to_nhwc"),
             helper.make_node("Transpose", ["nhwc"], ["nchw"], perm=[0, 3, 1, 2], name="to_nchw"),
             helper.make_node("ConvTranspose", ["nchw", "k", "kb"], ["up"], strides=[2, 2], pads=[1, 1, 1, 1],
                              output_padding=[1, 1], name="up"),
             helper.make_node("Relu", ["up"], ["r"], name="relu"),
             helper.make_node("Transpose", ["r"], ["out_nhwc"], perm=[0, 2, 3, 1], name="back_to_nhwc"),
             helper.make_node("Tanh", ["out_nhwc"], ["image"], name="tanh")]
    return _model(nodes, [_value("z", [batch, 6])], [_value("image", [batch, 8, 6, 2])], weights), weights


@pytest.mark.parametrize("batch", ["n", 1, 3], ids=["symbolic batch", "batch 1", "batch 3"])
def test_a_channels_last_graph_imports_with_its_layout(batch, tmp_path):
    path = _save(_channels_last_graph(np.random.default_rng(0), batch)[0], tmp_path / "nhwc.onnx")
    source = read_onnx(path, "nhwc")
    model = source.float_model
    assert [lr.kind for lr in model.layers] == ["dense", "reshape", "conv_transpose2d", "relu", "tanh"]
    assert model.image_shape == (2, 8, 6)
    z = latents(32, 6, 1)
    reference = _save(_channels_last_graph(np.random.default_rng(0))[0], tmp_path / "reference.onnx")
    runtime = _ort(reference, z)  # the same graph with a symbolic batch (run feeds a fixed one in chunks)
    assert runtime.shape == (32, 8, 6, 2)
    np.testing.assert_allclose(source.run(z), runtime.transpose(0, 3, 1, 2), atol=1e-6)  # delivered NCHW
    err = float(np.abs(model.run(z) - source.run(z)).max())
    print(f"\nchannels-last graph: |FloatModel - onnxruntime| {err:.2e}")
    assert err <= 1e-5


def test_the_layout_matters_a_reshape_read_channels_first_would_differ(tmp_path):
    """What the test above guards against: the same weights with the vector viewed as (C, H, W) directly."""
    model, weights = _channels_last_graph(np.random.default_rng(0))
    path = _save(model, tmp_path / "nhwc.onnx")
    z = latents(32, 6, 1)
    wrong = FloatModel([FloatLayer("dense_0", "dense", weights["w"].T, weights["b"]),
                        FloatLayer("reshape_1", "reshape", out_shape=(5, 4, 3)),
                        FloatLayer("conv_transpose2d_2", "conv_transpose2d", weights["k"], weights["kb"], padding=1,
                                   stride=2, output_padding=1),
                        FloatLayer("relu_3", "relu"), FloatLayer("tanh_4", "tanh")], "wrong", 6, (2, 8, 6))
    right = read_onnx(path, "nhwc").run(z)
    assert np.abs(wrong.run(z) - right).max() > 0.1
    assert np.abs(wrong.run(z).transpose(0, 1, 3, 2).reshape(right.shape) - right).max() > 0.1


class _DCGAN(nn.Module):
    """The canonical PyTorch DCGAN generator (RGB 32x32, small channel counts), the latent viewed as (nz, 1, 1)."""

    def __init__(self, nz: int = 12, ngf: int = 8):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())
        g = torch.Generator().manual_seed(3)
        for m in self.main:
            if isinstance(m, nn.BatchNorm2d):
                m.weight.data = torch.rand(m.num_features, generator=g) + 0.5
                m.bias.data = 0.1 * torch.randn(m.num_features, generator=g)
                m.running_mean = 0.2 * torch.randn(m.num_features, generator=g)
                m.running_var = torch.rand(m.num_features, generator=g) + 0.5

    def forward(self, z):
        return self.main(z.view(z.size(0), -1, 1, 1))


@pytest.mark.parametrize("latent_input", ["vector", "1x1 map"])
def test_the_canonical_pytorch_dcgan_imports(latent_input, tmp_path):
    torch.manual_seed(0)
    dcgan = _DCGAN().eval()
    module, z0 = (dcgan, torch.zeros(2, 12)) if latent_input == "vector" else (dcgan.main, torch.zeros(2, 12, 1, 1))
    source = read_onnx(_export(module, z0, tmp_path / "dcgan.onnx"), "dcgan")
    model = source.float_model
    assert [lr.kind for lr in model.layers] == ["dense", "relu", "reshape", "conv_transpose2d", "relu",
                                                "conv_transpose2d", "relu", "conv_transpose2d", "tanh"]
    assert model.image_shape == (3, 32, 32)
    z = latents(32, 12, 2)
    with torch.no_grad():
        expected = dcgan(torch.from_numpy(z)).numpy()
    lowered = lower_module(dcgan, "dcgan", 12, (3, 32, 32))
    errors = (np.abs(model.run(z) - expected).max(), np.abs(source.run(z) - expected).max(),
              np.abs(model.run(z) - lowered.run(z)).max())
    print(f"\nDCGAN ({latent_input}): |FloatModel - torch| {errors[0]:.2e}, |onnxruntime - torch| {errors[1]:.2e}, "
          f"|FloatModel - torch front end| {errors[2]:.2e}")
    assert max(errors) <= 2e-5  # 1e-5 of the output range (-1, 1)


@pytest.mark.parametrize(("mode", "coordinates", "nearest", "accepted"), [
    ("nearest", "asymmetric", "floor", True),
    ("nearest", "half_pixel", "round_prefer_floor", True),
    ("nearest", "pytorch_half_pixel", "round_prefer_ceil", True),
    ("nearest", "align_corners", "round_prefer_floor", True),  # k and 2k+1 -> k, as it turns out, for any size
    ("nearest", "align_corners", "floor", False),
    ("nearest", "asymmetric", "ceil", False),
    ("nearest", "tf_crop_and_resize", "floor", False),
    ("linear", "asymmetric", "floor", False),
])
def test_resize_is_nearest_x2_replication_only(mode, coordinates, nearest, accepted, tmp_path):
    rng = np.random.default_rng(1)
    nodes = [helper.make_node("Gemm", ["z", "w", "b"], ["g"], transB=1, alpha=0.5, beta=2.0, name="gemm"),
             helper.make_node("Reshape", ["g", "shape"], ["r"], name="view"),
             helper.make_node("Resize", ["r", "", "scales"], ["up"], mode=mode, name="resize",
                              coordinate_transformation_mode=coordinates, nearest_mode=nearest),
             helper.make_node("Sigmoid", ["up"], ["image"], name="sigmoid")]
    weights = {"w": rng.standard_normal((24, 4)).astype(np.float32), "b": rng.standard_normal(24).astype(np.float32),
               "shape": np.array([0, 2, 3, 4], np.int64), "scales": np.array([1, 1, 2, 2], np.float32)}
    path = _save(_model(nodes, [_value("z", ["n", 4])], [_value("image", ["n", 2, 6, 8])], weights),
                 tmp_path / "resize.onnx")
    if not accepted:
        with pytest.raises(LoweringError, match=r"resize \(Resize\)"):
            read_onnx(path, "resize")
        return
    source = read_onnx(path, "resize")
    z = latents(16, 4, 3)
    assert np.abs(source.float_model.run(z) - _ort(path, z)).max() <= 1e-5


# ============================================================================================== refusals
def test_everything_unsupported_is_named_in_one_error(tmp_path):
    rng = np.random.default_rng(2)
    weights = {"w": rng.standard_normal((8, 64)).astype(np.float32), "shape": np.array([-1, 4, 4, 4], np.int64),
               "k1": rng.standard_normal((4, 4, 3, 3)).astype(np.float32),
               "k2": rng.standard_normal((4, 2, 3, 3)).astype(np.float32)}
    nodes = [helper.make_node("MatMul", ["z", "w"], ["m"], name="dense"),
             helper.make_node("Reshape", ["m", "shape"], ["r"], name="view"),
             helper.make_node("Conv", ["r", "k1"], ["c1"], dilations=[2, 2], pads=[2, 2, 2, 2], name="dilated"),
             helper.make_node("Conv", ["c1", "k2"], ["c2"], group=2, pads=[1, 1, 1, 1], name="grouped"),
             helper.make_node("Relu", ["c2"], ["a"], name="forked"),
             helper.make_node("Sigmoid", ["a"], ["s1"], name="left"),
             helper.make_node("Tanh", ["a"], ["s2"], name="right"),
             helper.make_node("Add", ["s1", "s2"], ["sum"], name="merge"),
             helper.make_node("Softmax", ["sum"], ["image"], axis=1, name="softmax")]
    model = _model(nodes, [_value("z", ["n", 8]), _value("y", ["n", 3])], [_value("image", ["n", 4, 4, 4])],
                   weights)
    path = _save(model, tmp_path / "bad.onnx")
    with pytest.raises(LoweringError) as info:
        read_onnx(path, "bad")
    text = str(info.value)
    print("\n" + text)
    assert "bad.onnx): 6 unsupported node(s)" in text  # each named once, nothing else
    for expected in ["input 'y': a second graph input",
                     "dilated (Conv): dilations [2, 2] (supported: [1, 1])",
                     "grouped (Conv): group 2 (supported: 1)",
                     "forked (Relu): its output 'a' feeds 2 nodes (left (Sigmoid), right (Tanh)): a branch",
                     "merge (Add): merges 2 computed tensors (s1, s2)",
                     "softmax (Softmax): this op is not in fpgagen's vocabulary"]:
        assert expected in text
    assert vocabulary() in text and "ConvTranspose" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]  # nothing written


def test_an_opset_outside_the_range_is_refused(tmp_path):
    nodes = [helper.make_node("MatMul", ["z", "w"], ["m"]), helper.make_node("Reshape", ["m", "shape"], ["image"])]
    weights = {"w": np.ones((2, 4), np.float32), "shape": np.array([-1, 1, 2, 2], np.int64)}
    path = _save(_model(nodes, [_value("z", ["n", 2])], [_value("image", ["n", 1, 2, 2])], weights, opset=8),
                 tmp_path / "old.onnx")
    with pytest.raises(LoweringError, match=rf"opset 8 of the default domain \(supported: {OPSETS[0]} to 28\)"):
        read_onnx(path, "old")


def test_a_latent_size_the_graph_contradicts_is_refused(tmp_path):
    generator = load_preset("digits8")
    path = _export(generator.module, torch.zeros(2, 16), tmp_path / "digits8.onnx")
    with pytest.raises(LoweringError, match="input 'z': takes latents of 16, but latent_dim 10 was given"):
        read_onnx(path, "digits8", latent_dim=10)
    assert read_onnx(path, "digits8", latent_dim=16).float_model.latent_dim == 16


def test_a_symbolic_latent_size_needs_latent_dim(tmp_path):
    nodes = [helper.make_node("MatMul", ["z", "w"], ["m"]), helper.make_node("Reshape", ["m", "shape"], ["image"])]
    weights = {"w": np.ones((3, 4), np.float32), "shape": np.array([-1, 1, 2, 2], np.int64)}
    path = _save(_model(nodes, [_value("z", ["n", "k"])], [_value("image", ["n", 1, 2, 2])], weights),
                 tmp_path / "symbolic.onnx")
    with pytest.raises(LoweringError, match="its latent size is symbolic: give latent_dim"):
        read_onnx(path, "symbolic")
    assert read_onnx(path, "symbolic", latent_dim=3).float_model.latent_dim == 3


def test_missing_corrupt_and_invalid_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.onnx"):
        read_onnx(tmp_path / "nothing.onnx", "x")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07this is not a protobuf\xff\xff\xff")
    with pytest.raises(ValueError, match="corrupt.onnx"):
        read_onnx(corrupt, "x")
    invalid = tmp_path / "invalid.onnx"
    model = _model([helper.make_node("Relu", ["nowhere"], ["image"])], [_value("z", ["n", 2])],
                   [_value("image", ["n", 2])])
    onnx.save(model, str(invalid))
    with pytest.raises(ValueError, match=r"invalid.onnx fails onnx.checker"):
        read_onnx(invalid, "x")


def test_the_onnx_front_end_reads_and_runs_without_torch(without, tmp_path):
    path = _save(_channels_last_graph(np.random.default_rng(0))[0], tmp_path / "nhwc.onnx")
    proc = without(["torch"], """
        import numpy as np
        from fpgagen.models.onnx_import import read_onnx

        source = read_onnx(sys.argv[1], "nhwc")
        z = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
        assert np.abs(source.float_model.run(z) - source.run(z)).max() <= 1e-5
        print("LOADED", sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED))
    """, str(path), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LOADED []" in proc.stdout


def _spellings_graph(opset: int, rng) -> onnx.ModelProto:
    """Latent 5 -> MatMul + Add + BatchNormalization -> Identity, Dropout -> Unsqueeze, Unsqueeze, Squeeze, Flatten,
    Reshape (a run of shape-only nodes) -> Gemm (transB 0, alpha, beta) -> LeakyRelu -> Reshape to (3, 2, 4) ->
    nearest x2 (Upsample at opset 9, Resize by sizes after) -> Conv SAME_UPPER -> Sigmoid."""
    unsqueeze = {"axes": [2]} if opset < 13 else {}  # an attribute before opset 13, an input after
    axes = ["axes"] if opset >= 13 else []
    if opset < 10:
        upsample = helper.make_node("Upsample", ["r", "scales"], ["up"], mode="nearest", name="upsample")
    else:
        upsample = helper.make_node("Resize", ["r", "", "", "sizes"], ["up"], mode="nearest", name="upsample",
                                    coordinate_transformation_mode="half_pixel")
    nodes = [helper.make_node("MatMul", ["z", "w"], ["m"]), helper.make_node("Add", ["bias", "m"], ["a"]),
             helper.make_node("BatchNormalization", ["a", "gamma", "beta", "mean", "var"], ["bn"], epsilon=1e-3),
             helper.make_node("Identity", ["bn"], ["i"]), helper.make_node("Dropout", ["i"], ["d"]),
             helper.make_node("Unsqueeze", ["d", *axes], ["u"], **unsqueeze),
             helper.make_node("Unsqueeze", ["u", *axes], ["q"], **unsqueeze),
             helper.make_node("Squeeze", ["q", *axes], ["s"], **unsqueeze), helper.make_node("Flatten", ["s"], ["f"]),
             helper.make_node("Reshape", ["f", "flat"], ["v"]),
             helper.make_node("Gemm", ["v", "w2", "c2"], ["g"], alpha=0.7, beta=1.5),
             helper.make_node("LeakyRelu", ["g"], ["l"], alpha=0.1),
             helper.make_node("Reshape", ["l", "chw"], ["r"]), upsample,
             helper.make_node("Conv", ["up", "k", "kb"], ["c"], auto_pad="SAME_UPPER"),
             helper.make_node("Sigmoid", ["c"], ["image"])]
    weights = {"w": rng.standard_normal((5, 12)), "bias": rng.standard_normal(12),
               "gamma": rng.random(12) + 0.5, "beta": rng.standard_normal(12), "mean": rng.standard_normal(12),
               "var": rng.random(12) + 0.5, "axes": np.array([2], np.int64), "flat": np.array([0, -1], np.int64),
               "w2": rng.standard_normal((12, 24)), "c2": rng.standard_normal((1, 24)),
               "chw": np.array([-1, 3, 2, 4], np.int64), "scales": np.array([1, 1, 2, 2], np.float32),
               "sizes": np.array([7, 3, 4, 8], np.int64),
               "k": 0.3 * rng.standard_normal((2, 3, 3, 3)), "kb": rng.standard_normal(2)}
    weights = {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in weights.items()}
    return _model(nodes, [_value("z", [7, 5])], [_value("image", [7, 2, 4, 8])], weights, opset=opset)


@pytest.mark.parametrize("opset", [OPSETS[0], 13, 20, OPSETS[1]])
def test_other_spellings_import_and_run_as_onnxruntime_does(opset, tmp_path):
    path = _save(_spellings_graph(opset, np.random.default_rng(4)), tmp_path / "spellings.onnx")
    source = read_onnx(path, "spellings")
    assert [lr.kind for lr in source.float_model.layers] == ["dense", "dense", "leaky_relu", "reshape", "upsample",
                                                             "conv2d", "sigmoid"]
    z = latents(20, 5, 6)  # 20 latents through a graph of batch 7: three runs, the last padded
    assert np.abs(source.float_model.run(z) - source.run(z)).max() <= 1e-5


def test_a_batchnorm_after_an_activation_and_a_vector_output_are_refused(tmp_path):
    nodes = [helper.make_node("MatMul", ["z", "w"], ["m"], name="dense"),
             helper.make_node("Relu", ["m"], ["r"], name="relu"),
             helper.make_node("BatchNormalization", ["r", "one", "zero", "zero", "one"], ["image"], name="bn")]
    weights = {"w": np.ones((2, 8), np.float32), "one": np.ones(8, np.float32), "zero": np.zeros(8, np.float32)}
    path = _save(_model(nodes, [_value("z", ["n", 2])], [_value("image", ["n", 8])], weights), tmp_path / "v.onnx")
    with pytest.raises(LoweringError) as info:
        read_onnx(path, "v")
    assert "bn (BatchNormalization): not directly after a Gemm, MatMul, Conv or ConvTranspose" in str(info.value)
    assert ("graph output 'image': returns a flat (N, 8); a generator returns images (N, C, H, W): pass "
            "--image-shape C,H,W with C*H*W = 8") in str(info.value)


def test_a_flat_decoder_imports_with_an_image_shape_viewed_in_c_order(tmp_path):
    """A VAE decoder exported by torch (Gemm, Relu, Gemm, Sigmoid: an (N, 48) output) imports with image shape
    (3, 4, 4): a reshape appended, onnxruntime's output viewed in C order (channel-major, as torch's view)."""
    from fpgagen.models.load import load_model

    torch.manual_seed(7)
    decoder = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 48), nn.Sigmoid())
    path = _export(decoder, torch.zeros(2, 8), tmp_path / "vae.onnx")
    with pytest.raises(LoweringError, match=r"graph output 'image': returns a flat \(N, 48\); .* pass --image-shape "
                                            r"C,H,W with C\*H\*W = 48"):
        read_onnx(path, "vae")
    source = read_onnx(path, "vae", image_shape=(3, 4, 4))
    fm = source.float_model
    assert [lr.kind for lr in fm.layers] == ["dense", "relu", "dense", "sigmoid", "reshape"]
    assert fm.image_shape == (3, 4, 4)
    z = latents(32, 8, 2)
    want = _ort(path, z).reshape(-1, 3, 4, 4)
    np.testing.assert_array_equal(source.run(z), want)
    assert np.abs(fm.run(z) - want).max() <= 1e-6
    assert np.abs(fm.run(z) - want.reshape(-1, 4, 4, 3).transpose(0, 3, 1, 2)).max() > 0.1  # not channels-last
    generator = load_model(str(path), image_shape=(3, 4, 4))
    assert (generator.spec.image_shape, generator.spec.output_range) == ((3, 4, 4), (0.0, 1.0))
    with pytest.raises(LoweringError, match=r"returns a flat \(N, 48\), but --image-shape 1,8,8 holds 64 values"):
        read_onnx(path, "vae", image_shape=(1, 8, 8))
