"""The layer vocabulary: every kind declared once, which back ends implement it, and refusal before any work."""

import dataclasses

import numpy as np
import pytest

import fpgagen.core.float_model  # noqa: F401  (each back-end module registers its implementations on import)
import fpgagen.core.golden  # noqa: F401
import fpgagen.core.quantize  # noqa: F401
import fpgagen.hls.hls4ml_flow  # noqa: F401
import fpgagen.models.keras_import  # noqa: F401
import fpgagen.models.lower  # noqa: F401
import fpgagen.models.onnx_import  # noqa: F401
import fpgagen.rtl.generate  # noqa: F401
from fpgagen.core import golden, layers
from fpgagen.core.fixed import FixedType
from fpgagen.core.float_model import FloatLayer, FloatModel
from fpgagen.core.layers import BACKENDS, KINDS, LayerKind, UnsupportedLayerError, implemented
from fpgagen.core.quantized_model import Layer, QuantizedModel
from fpgagen.hls.hls4ml_flow import to_torch
from fpgagen.rtl.generate import generate_rtl

X_T = FixedType(8, 3, True, "RND", "SAT")


def coverage() -> dict[str, list[str]]:
    return {kind: [backend for backend in BACKENDS if kind in implemented(backend)] for kind in KINDS}


def test_every_kind_is_implemented_by_every_back_end():
    table = coverage()
    width = max(map(len, KINDS))
    print("\n" + f"{'kind':{width}s}  " + "  ".join(BACKENDS))
    for kind, backends in table.items():
        print(f"{kind:{width}s}  " + "  ".join(f"{'x' if b in backends else '-':^{len(b)}s}" for b in BACKENDS))
    assert {kind: backends for kind, backends in table.items() if backends != list(BACKENDS)} == {}


def test_kinds_are_declared_once_with_a_role_and_a_shape_rule():
    assert list(KINDS) == ["dense", "conv2d", "conv_transpose2d", "relu", "leaky_relu", "tanh", "sigmoid", "reshape",
                           "upsample"]
    assert layers.ARITHMETIC == ("dense", "conv2d", "conv_transpose2d")
    assert layers.ACTIVATIONS == ("relu", "leaky_relu", "tanh", "sigmoid")
    with pytest.raises(ValueError, match="already declared"):
        layers.register_kind(KINDS["relu"])
    with pytest.raises(ValueError, match="unknown back end"):
        layers.implements("vhdl", "relu")


@pytest.fixture
def gelu(monkeypatch):
    """A kind declared but implemented by no back end (removed again after the test)."""
    monkeypatch.setitem(KINDS, "gelu", LayerKind("gelu", "activation", (), "x * Phi(x)", lambda lr: tuple(lr.in_shape)))
    return "gelu"


def _quantized_with(kind: str) -> QuantizedModel:
    w_t, acc_t = FixedType(8, 1), FixedType(24, 12)
    dense = Layer("dense_0", "dense", (4,), (8,), X_T, weight=np.ones((8, 4), np.int64), bias=np.zeros(8, np.int64),
                  weight_t=w_t, bias_t=FixedType(13, 4), accum_t=acc_t)
    return QuantizedModel("t", X_T, [dense, Layer(f"{kind}_1", kind, (8,), (8,), X_T)], (-1.0, 1.0))


@pytest.mark.parametrize("run", [
    lambda m, tmp: golden.generate(m, np.zeros((1, 4), np.float32)),
    lambda m, tmp: to_torch(m),
    lambda m, tmp: generate_rtl(m, tmp),
], ids=["golden", "hls4ml", "rtl"])
def test_an_unimplemented_kind_is_refused_before_any_work_naming_the_layer(gelu, run, tmp_path):
    model = _quantized_with(gelu)
    model.validate()  # the contract knows the kind
    with pytest.raises(UnsupportedLayerError, match=r"does not implement gelu_1 \(gelu\)"):
        run(model, tmp_path / "rtl")
    assert not (tmp_path / "rtl").exists()  # refused before writing anything


def test_an_unimplemented_kind_is_refused_by_the_float_model_and_quantization(gelu):
    from fpgagen.core.quantize import Calibration, quantize_float

    float_model = FloatModel([FloatLayer("dense_0", "dense", np.ones((8, 4), np.float32), np.zeros(8, np.float32)),
                              FloatLayer("gelu_1", gelu)], "t", 4, (8,))
    with pytest.raises(UnsupportedLayerError, match=r"float back end does not implement gelu_1 \(gelu\)"):
        float_model.run(np.zeros((1, 4), np.float32))
    with pytest.raises(UnsupportedLayerError, match=r"quantize back end does not implement gelu_1 \(gelu\)"):
        quantize_float(float_model, Calibration(1, 0, 1.0, (1.0, 1.0)), widths=(8, 8), budget=10)


def test_shape_rules_serve_float_and_quantized_layers():
    fl = FloatLayer("conv2d_0", "conv2d", np.zeros((3, 2, 3, 3), np.float32), np.zeros(3, np.float32), padding=1,
                    in_shape=(2, 5, 6))
    assert KINDS["conv2d"].out_shape(fl) == (3, 5, 6)
    lr = dataclasses.replace(_quantized_with("relu").layers[0])
    assert KINDS["dense"].out_shape(lr) == (8,)
    with pytest.raises(layers.LayerError, match=r"dense_0 \(dense\): weight \(8, 4\) \(out, in\) does not take \(5,\)"):
        KINDS["dense"].out_shape(dataclasses.replace(lr, in_shape=(5,)))
