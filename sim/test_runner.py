"""The build step itself: parameters a module refuses with an elaboration-time ``$fatal`` stop the build (Verilator
turns ``$fatal`` into a warning, and the runner's ``-Wno-fatal`` would otherwise let the design simulate)."""

import pytest

from fpgagen.sim import runner

pytestmark = pytest.mark.skipif(bool(runner.missing_tools()), reason=f"needs {', '.join(runner.missing_tools())}")


def test_illegal_parameters_stop_the_build(tmp_path):
    params = {"N_IN": 4, "N_OUT": 4, "P": 3}  # 3 multipliers cannot split a 4 x 4 product
    with pytest.raises(RuntimeError, match="(?s)Verilator build of fg_dense failed.*P=3 multipliers do not split"):
        runner.run("fg_dense", "fpgagen.sim.test_dense", params, build=tmp_path)
