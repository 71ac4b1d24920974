"""The pins that pip cannot check in one resolve (scripts/install.sh installs the onnx extra in a second step): the
versions installed are the pinned ones, and what pynq, onnx, onnxruntime and Keras need of protobuf and numpy works
together in this environment."""

import importlib.metadata as metadata
import re
import subprocess
import sys

import pytest


def pinned(extra: str) -> dict[str, str]:
    """package -> version of the ``==`` pins of fpgagen's ``extra`` (as installed: the package's metadata)."""
    pins = {}
    for req in metadata.requires("fpgagen") or []:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^;\s]+)\s*;\s*extra\s*==\s*[\"']([^\"']+)[\"']", req.strip())
        if m and m.group(3) == extra:
            pins[m.group(1)] = m.group(2)
    return pins


@pytest.mark.parametrize("extra", ["onnx", "frontends", "explore"])
def test_the_installed_versions_are_the_pinned_ones(extra):
    pins = pinned(extra)
    assert pins, f"no pins found for the {extra} extra in fpgagen's metadata (pip install -e '.[{extra}]')"
    for package, version in pins.items():
        installed = metadata.version(package)
        assert installed == version, f"{package}: pinned {version}, installed {installed}"


def test_pynq_onnx_onnxruntime_and_keras_load_together():
    """In one fresh interpreter: pynq's protobuf-generated modules (built for protobuf 5) beside onnx (which needs
    protobuf >= 6.31), onnxruntime running a model, Keras on its torch backend, and numpy below 2 (pynq's pin)."""
    code = """
import os
os.environ["KERAS_BACKEND"] = "torch"
import numpy, onnx, onnxruntime, google.protobuf
import pynq.remote.remote_device_pb2, pynq.remote.buffer_pb2
from onnx import TensorProto, helper
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
onnx.checker.check_model(model)
session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
out = session.run(None, {"x": numpy.array([[-1.0, 2.0]], numpy.float32)})[0]
assert out.tolist() == [[0.0, 2.0]], out
import keras
assert keras.backend.backend() == "torch"
assert int(numpy.__version__.split(".")[0]) < 2, numpy.__version__
print("protobuf", google.protobuf.__version__)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"protobuf {pinned('onnx')['protobuf']}" in result.stdout


def test_the_dev_extra_names_only_extras_that_exist():
    """``dev`` is what `make test` installs: an extra it names but that is not declared is silently skipped by pip
    (a warning in the install log), and the tests needing it would skip instead of running."""
    provided = set(metadata.metadata("fpgagen").get_all("Provides-Extra") or [])
    named = set()
    for req in metadata.requires("fpgagen") or []:
        m = re.match(r"fpgagen\[([^\]]+)\]\s*;\s*extra\s*==\s*[\"']dev[\"']", req.strip())
        if m:
            named |= {e.strip() for e in m.group(1).split(",")}
    assert named, "dev names no extras"
    assert named <= provided, f"dev names undeclared extras: {sorted(named - provided)}"
    assert {"train", "convert", "frontends", "explore", "sim", "board", "notebook"} <= named
