"""The board registry, the preset-to-board rule, and the accelerator projects written for the Zynq UltraScale+
boards: zcu102 with hls4ml's own block design, zcu104 and kv260 with fpgagen's."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import hls4ml
import pytest

from fpgagen.core.errors import ToolNotFoundError
from fpgagen.hls.accelerator import block_design_tcl, build_overlay, write_accelerator_project
from fpgagen.models.cost import parameter_count
from fpgagen.models.generator import FALLBACK_WIDTHS
from fpgagen.models.presets import PRESETS, get_preset, load_preset
from fpgagen.models.quantize import quantize
from fpgagen.overlays import boards
from fpgagen.overlays.boards import BOARDS, Board, get_board

UPLUS = ("zcu102", "zcu104", "kv260")
RETARGETED = ("zcu104", "kv260")  # hls4ml's zcu102 project with fpgagen's block design and the board's part

# ------------------------------------------------------------------------------------------------- the registry

# Data sheets: DS190 (XC7Z020), DS891 (XCZU7EV, XCZU9EG), DS987 (XCK26).
DATASHEET = {
    "pynq-z2": ("xc7z020clg400-1", 220, 140, 0, 53_200, 106_400),
    "zcu102": ("xczu9eg-ffvb1156-2-e", 2_520, 912, 0, 274_080, 548_160),
    "zcu104": ("xczu7ev-ffvc1156-2-e", 1_728, 312, 96, 230_400, 460_800),
    "kv260": ("xck26-sfvc784-2LV-c", 1_248, 144, 64, 117_120, 234_240),
}


@pytest.mark.parametrize("name", list(DATASHEET))
def test_budgets_are_the_data_sheets(name):
    b = get_board(name)
    assert (b.part, b.dsp, b.bram36, b.uram, b.lut, b.ff) == DATASHEET[name]
    assert b.budget == {b.dsp_primitive: b.dsp, "BRAM36": b.bram36, "URAM288": b.uram, "LUT": b.lut, "FF": b.ff}


def test_registry_invariants():
    assert list(BOARDS) == ["pynq-z2", "zcu104", "kv260", "zcu102"]
    for b in BOARDS.values():
        assert (b.yosys_family, b.ps, b.dsp_primitive, b.arch) in (
            ("xc7", "processing_system7", "DSP48E1", "armv7l"), ("xcup", "zynq_ultra_ps_e", "DSP48E2", "aarch64"))
        assert b.multiplier_budget == b.dsp  # every DSP slice; the LUT and BRAM estimates keep the headroom
        fb = b.folding_budget()
        assert (fb.multipliers, fb.bram36, fb.lut) == (b.dsp, 0.8 * b.bram36, int(0.8 * b.lut))
        assert fb.lut_per_multiplier == {"xc7": 25.0, "xcup": 100.0}[b.yosys_family]
        assert b.on_chip_memory_bits == b.bram36 * 36 * 1024 + b.uram * 288 * 1024
        assert b.rom_bits == b.bram_bits  # UltraRAM cannot hold bitstream-initialised weights
        assert b.ddr_window[0] < b.ddr_window[1] and b.dma_range == 0x10000
        assert b.fabric_clock_mhz == 100
        assert b.hls4ml_board in ("pynq-z2", "zcu102")
    assert get_board("pynq-z2").bram_bits // 8 // 1024 == 630  # "630 KB of BRAM"
    assert (get_board("pynq-z2").dma_base, get_board("zcu104").dma_base) == (0x40400000, 0xA0000000)
    zcu102 = get_board("zcu102")
    # hls4ml's own zcu102 design: its part, board part and the start of M_AXI_HPM0_FPD's window for the DMA.
    assert (zcu102.hls4ml_board, zcu102.board_part, zcu102.dma_base) == ("zcu102", "xilinx.com:zcu102:part0:3.3",
                                                                         0xA0000000)
    assert round(zcu102.bram_bits / 2**20, 1) == 32.1  # DS891's "32.1 Mb" of block RAM (binary megabits)


def test_part_fields_as_a_hardware_handoff_writes_them():
    assert get_board("pynq-z2").part_fields == ("7z020", "clg400", "-1")
    assert get_board("zcu104").part_fields == ("xczu7ev", "ffvc1156", "-2")
    assert get_board("kv260").part_fields == ("xck26", "sfvc784", "-2LV")
    assert get_board("zcu102").part_fields == ("xczu9eg", "ffvb1156", "-2")


def test_bad_boards_are_refused():
    with pytest.raises(ValueError, match="board 'zcu106' is not supported; supported: pynq-z2, zcu104, kv260, zcu102"):
        get_board("zcu106")
    fields = {f: getattr(get_board("zcu104"), f) for f in Board.__dataclass_fields__}
    with pytest.raises(ValueError, match="yosys_family"):
        Board(**{**fields, "yosys_family": "xcu"})
    with pytest.raises(ValueError, match="multiplier_budget 2000 outside 1..1728"):
        Board(**{**fields, "multiplier_budget": 2000})
    with pytest.raises(ValueError, match="ps must be one of"):
        Board(**{**fields, "ps": "versal_cips"})
    with pytest.raises(ValueError, match="already registered"):
        boards.register_board(get_board("kv260"))


# ------------------------------------------------------------------------------------------------- preset -> board


def test_preset_boards_are_smallest_first():
    order = [get_board(name) for name in boards.PRESET_BOARD_ORDER]
    assert [b.name for b in order] == ["pynq-z2", "zcu104", "zcu102"]
    for small, big in zip(order, order[1:], strict=False):
        assert small.rom_bits < big.rom_bits and small.dsp < big.dsp and small.lut < big.lut


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_generators_board(preset):
    choice = load_preset(preset).board()
    params = parameter_count(get_preset(preset).make_generator())
    widths = get_preset(preset).spec.widths
    width = (widths or FALLBACK_WIDTHS)[1]
    assert (choice.parameters, choice.weight_width, choice.weight_bits) == (params, width, params * width)
    assert ("measured widths" in choice.width_source) == (widths is not None)
    # The first board of the order whose block RAM -- not UltraRAM -- holds the weights.
    fits = [name for name in boards.PRESET_BOARD_ORDER if params * width <= get_board(name).rom_bits]
    assert choice.board.name == fits[0]
    assert [name for name, _ in choice.rejected] == list(boards.PRESET_BOARD_ORDER[: boards.PRESET_BOARD_ORDER.index(
        fits[0])])
    assert choice.board.name == ("zcu102" if preset == "dcgan28" else "pynq-z2")
    assert f"{params:,} parameters x {width} bits" in choice.reason
    assert f"the weights fill {choice.weight_bits / choice.board.rom_bits:.0%} of its block RAM" in choice.reason


def test_dcgan28_goes_to_the_zcu102_and_the_reason_says_why_not_the_zcu104():
    choice = load_preset("dcgan28").board()
    zcu104 = get_board("zcu104")
    # The ZCU104's on-chip memory would hold the weights; its block RAM does not, and its UltraRAM cannot.
    assert zcu104.rom_bits < choice.weight_bits <= zcu104.on_chip_memory_bits
    assert [name for name, _ in choice.rejected] == ["pynq-z2", "zcu104"]
    mbit = f"{choice.weight_bits / 1e6:.2f} Mbit"
    assert f"Not pynq-z2: {mbit} of weights > its 5.16 Mbit of block RAM." in choice.reason
    assert (f"Not zcu104: {mbit} of weights > its 11.50 Mbit of block RAM; its 96 URAM288 (28.31 Mbit) hold weights "
            "only loaded at run time (UltraRAM has no bitstream initialisation, UG901): ask for it with --board.") \
        in choice.reason
    assert "zcu102: 33.62 Mbit of block RAM (912 BRAM36), 2,520 DSP48E2" in choice.reason
    assert "(dcgan28's measured widths)" in choice.reason


def test_a_preset_no_board_holds(monkeypatch):
    monkeypatch.setattr(boards, "PRESET_BOARD_ORDER", ("pynq-z2", "kv260"))
    with pytest.raises(ValueError, match=r"no board in pynq-z2, kv260 holds the [\d.]+ Mbit of weights of dcgan28 in "
                                         r"block RAM \(2,305,472 weights at 6 bits, dcgan28's measured widths; pynq-z2 "
                                         r"5.16 Mbit, kv260 5.31 Mbit\): at 2 bits or fewer per weight they would fit "
                                         r"kv260 \(a quantization config's weight_width\), or register a larger board"):
        load_preset("dcgan28").board()


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        load_preset("nope")


# ------------------------------------------------------------------------------------------------- projects


@pytest.fixture(scope="module")
def digits8():
    return quantize(load_preset("digits8"))


@pytest.fixture(scope="module")
def projects(digits8, tmp_path_factory):
    """digits8's accelerator project for each Zynq UltraScale+ board: (manifest, hls4ml project folder)."""
    out = {}
    for name in UPLUS:
        folder = tmp_path_factory.mktemp(name)
        out[name] = (write_accelerator_project(digits8, folder, name), folder / "hls4ml_prj")
    return out


@pytest.mark.parametrize("name", RETARGETED)
def test_project_for_a_board_hls4ml_does_not_know(projects, name):
    board = get_board(name)
    manifest, prj = projects[name]
    assert json.loads((prj.parent / "manifest.json").read_text()) == manifest
    assert (manifest["board"], manifest["part"], manifest["ps"], manifest["dma_base"]) == (
        name, board.part, "zynq_ultra_ps_e", "0xA0000000")
    assert manifest["clock"] == {"hls_period_ns": 10.0, "mhz": 100.0,
                                 "source": "design.tcl: zynq_ultra_ps_e pl_clk0, 100 MHz"}
    assert "hls4ml project written for zcu102" in manifest["block_design"]
    # The part reaches Vivado HLS (project.tcl, read by build_prj.tcl) and hls4ml's saved configuration.
    assert f'set part "{board.part}"' in (prj / "project.tcl").read_text()
    assert f"\nPart: {board.part}\n" in (prj / "hls4ml_config.yml").read_text()
    assert "set_part $part" in (prj / "build_prj.tcl").read_text()
    # The kernel is hls4ml's as for any board.
    assert "myproject_axi" in (prj / "firmware" / "myproject_axi.cpp").read_text()
    for path in prj.rglob("*"):
        if path.is_file() and path.suffix in (".tcl", ".yml"):
            assert "xczu9eg" not in path.read_text(), path


@pytest.mark.parametrize("name", RETARGETED)
def test_block_design_has_the_ps_dma_and_clock(projects, name):
    board = get_board(name)
    design = (projects[name][1] / "design.tcl").read_text()
    assert design == block_design_tcl(board) and "{{" not in design
    assert f"set fg_part {board.part}\n" in design and f"set fg_board_part {board.board_part}\n" in design
    assert "create_project project_1 ${project_name}_vivado_accelerator -part $fg_part -force" in design
    assert "xilinx.com:ip:zynq_ultra_ps_e:3.* zynq_ultra_ps_e_0" in design and 'apply_board_preset "1"' in design
    assert "CONFIG.PSU__USE__S_AXI_GP2 {1}" in design  # S_AXI_HP0_FPD
    assert "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $fg_clock_mhz" in design and "set fg_clock_mhz 100\n" in design
    assert "xilinx.com:ip:axi_dma:7.* axi_dma_0" in design and "CONFIG.c_include_sg {0}" in design
    assert "Master {/zynq_ultra_ps_e_0/M_AXI_HPM0_FPD} Slave {/axi_dma_0/S_AXI_LITE}" in design
    assert design.count("Slave {/zynq_ultra_ps_e_0/S_AXI_HP0_FPD}") == 2  # MM2S and S2MM
    assert "set fg_dma_base 0xA0000000\n" in design and "set fg_dma_range 64K\n" in design
    assert "xilinx.com:bd_rule:clkrst" in design
    assert "group_bd_cells hier_0 [get_bd_cells axi_dma_0] [get_bd_cells ${project_name}_axi_0]" in design


HLS4ML_ZCU102_DESIGN = (Path(hls4ml.__file__).parent / "templates" / "vivado_accelerator" / "zcu102" / "tcl_scripts"
                        / "axi_stream_design.tcl")


def test_zcu102_keeps_hls4mls_block_design_which_has_what_fpgagen_needs(projects):
    board = get_board("zcu102")
    manifest, prj = projects["zcu102"]
    design = (prj / "design.tcl").read_text()
    assert design == HLS4ML_ZCU102_DESIGN.read_text()
    assert (manifest["board"], manifest["part"], manifest["ps"], manifest["dma_base"]) == (
        "zcu102", "xczu9eg-ffvb1156-2-e", "zynq_ultra_ps_e", "0xA0000000")
    assert manifest["block_design"] == "hls4ml VivadoAccelerator template"
    assert manifest["clock"] == {"hls_period_ns": 10.0, "mhz": 100.0, "source": "design.tcl: zynq_ultra_ps_e pl_clk0, "
                                 "100 MHz (the zcu102 board preset's; hls4ml's design does not set it)"}
    assert f'set part "{board.part}"' in (prj / "project.tcl").read_text()
    assert f"\nPart: {board.part}\n" in (prj / "hls4ml_config.yml").read_text()
    # What fpgagen relies on: the board's part and board files, the DMA in simple mode (pynq's DMA driver) with its
    # registers on M_AXI_HPM0_FPD, the kernel clocked by pl_clk0 at 100 MHz, hls4ml's hierarchy names.
    assert f"-part {board.part} -force" in design and f"set_property board_part {board.board_part} " in design
    assert "CONFIG.c_include_sg {0} CONFIG.c_sg_length_width {26}" in design
    assert "Master {/zynq_ultra_ps_e_0/M_AXI_HPM0_FPD} Slave {/axi_dma_0/S_AXI_LITE}" in design
    assert design.count("Slave {/zynq_ultra_ps_e_0/S_AXI_HPC0_FPD}") == 2  # MM2S and S2MM
    assert "Clk {/zynq_ultra_ps_e_0/pl_clk0 (99 MHz)} Freq {100}" in design
    assert "group_bd_cells hier_0 [get_bd_cells axi_dma_0] [get_bd_cells ${project_name}_axi_0]" in design
    assert "offset" not in design  # the DMA's address is Vivado's automatic one
    with pytest.raises(ValueError, match="board zcu102: no fpgagen block design for zynq_ultra_ps_e"):
        block_design_tcl(board)


def test_pynq_z2_keeps_hls4mls_block_design(digits8, tmp_path):
    manifest = write_accelerator_project(digits8, tmp_path, "pynq-z2")
    design = (tmp_path / "hls4ml_prj" / "design.tcl").read_text()
    assert "processing_system7" in design and "-part xc7z020clg400-1" in design
    assert manifest["block_design"] == "hls4ml VivadoAccelerator template" and manifest["ps"] == "processing_system7"
    with pytest.raises(ValueError, match="no fpgagen block design for processing_system7"):
        block_design_tcl(get_board("pynq-z2"))


VIVADO_STUBS = """
# Every Vivado command design.tcl calls, recording its words: this checks the script's Tcl and the commands it
# issues, not what Vivado would make of them.
set calls {}
proc record {args} { global calls; lappend calls $args; return "" }
foreach cmd {startgroup endgroup create_project set_property update_ip_catalog create_bd_design create_bd_cell
             apply_bd_automation connect_bd_intf_net group_bd_cells validate_bd_design save_bd_design make_wrapper
             add_files reset_run launch_runs wait_on_run open_run report_utilization get_bd_cells get_bd_intf_pins
             get_bd_pins get_files get_bd_addr_spaces} {
    proc $cmd {args} "record $cmd {*}\\$args"
}
proc get_board_parts {args} { return {xilinx.com:BOARD:part0:1.0 xilinx.com:BOARD:part0:1.10} }
proc get_property {args} { return 99.999001 }
proc current_project {args} { return project_1 }
proc get_bd_addr_segs {args} { return SEG_axi_dma_0_Reg }
source design.tcl
foreach c $calls { puts $c }
"""


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed")
@pytest.mark.parametrize("name", RETARGETED)
def test_block_design_runs_in_tcl_with_vivado_stubbed(projects, name):
    board = get_board(name)
    prj = projects[name][1]
    stubs = VIVADO_STUBS.replace("BOARD", board.board_part.split(":")[1])
    done = subprocess.run(["tclsh"], input=stubs, cwd=prj, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    calls = done.stdout.splitlines()
    assert calls[0] == f"create_project project_1 myproject_vivado_accelerator -part {board.part} -force"
    prefix = ":".join(board.board_part.split(":")[:3])
    assert f"set_property board_part {prefix}:1.10 project_1" in calls  # the newest installed version
    assert "set_property offset 0xA0000000 SEG_axi_dma_0_Reg" in calls
    assert "set_property range 64K SEG_axi_dma_0_Reg" in calls
    clkrst = [c for c in calls if "bd_rule:clkrst" in c]
    assert len(clkrst) == 1 and "pl_clk0 (99 MHz)" in clkrst[0] and "Freq 100" in clkrst[0]
    assert calls.index("validate_bd_design") < calls.index("launch_runs impl_1 -to_step write_bitstream -jobs 6")


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed")
def test_hls4mls_zcu102_design_runs_in_tcl_with_vivado_stubbed(projects):
    done = subprocess.run(["tclsh"], input=VIVADO_STUBS, cwd=projects["zcu102"][1], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    calls = done.stdout.splitlines()
    assert calls[0] == "create_project project_1 myproject_vivado_accelerator -part xczu9eg-ffvb1156-2-e -force"
    assert "set_property board_part xilinx.com:zcu102:part0:3.3 project_1" in calls
    # 32-bit streams from project.tcl reach the DMA; the kernel's clock is pl_clk0 at 100 MHz.
    dma = [c for c in calls if "CONFIG.c_include_sg 0 CONFIG.c_sg_length_width 26" in c]
    assert len(dma) == 1
    assert "CONFIG.c_m_axis_mm2s_tdata_width 32" in dma[0] and "CONFIG.c_s_axis_s2mm_tdata_width 32" in dma[0]
    clkrst = [c for c in calls if "bd_rule:clkrst" in c]
    assert len(clkrst) == 1 and "pl_clk0 (99 MHz)" in clkrst[0] and "Freq {100}" in clkrst[0]
    assert calls[-4:-2] == ["launch_runs impl_1 -to_step write_bitstream -jobs 6", "wait_on_run -timeout 360 impl_1"]


@pytest.mark.parametrize("name", UPLUS)
def test_build_without_vivado_names_the_missing_tools(projects, name, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolNotFoundError, match=f"vivado_hls and vivado not found on PATH: building the {name} "):
        build_overlay(projects[name][1].parent, name)


def test_build_refuses_an_unknown_board(tmp_path):
    with pytest.raises(ValueError, match="board 'zcu106' is not supported"):
        build_overlay(tmp_path, "zcu106")


def test_manifest_board_must_match_the_build(projects, tmp_path, monkeypatch):
    for tool in ("vivado_hls", "vivado"):  # present on PATH, never run: the board check comes first
        (tmp_path / tool).write_text("#!/bin/sh\nexit 1\n")
        (tmp_path / tool).chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ValueError, match=re.escape("was written for board 'zcu104', not 'kv260'")):
        build_overlay(projects["zcu104"][1].parent, "kv260")


# ------------------------------------------------------------------------------------------ fitting the board
@pytest.fixture(scope="module")
def dcgan28_for():
    """dcgan28 quantized for a board (its multiplier budget), as `fpgagen convert --board` does."""
    from fpgagen.models.quantize import quantize

    generator, made = load_preset("dcgan28"), {}

    def get(board: str):
        if board not in made:
            made[board] = quantize(generator, board=board)
        return made[board]

    return get


@pytest.mark.parametrize("board", ["zcu104", "kv260"])
def test_a_model_that_does_not_fit_is_refused_before_anything_is_written(dcgan28_for, tmp_path, board):
    """dcgan28 folded for the ZCU102 keeps every weight in ROM: 13.80 Mbit, more block RAM than these boards have."""
    from fpgagen.overlays.project import BoardFitError

    rom = f"{get_board(board).rom_bits / 1e6:.2f}"
    with pytest.raises(BoardFitError, match=rf"dcgan28 does not fit {board}: block RAM: its weights need 13.80 Mbit, "
                                            rf"{board} has {rom} Mbit .*\)\. It fits zcu102 "
                                            r"\(--force writes the project anyway\)"):
        write_accelerator_project(dcgan28_for("zcu102"), tmp_path / "prj", board)
    assert not (tmp_path / "prj").exists()


def test_a_refusal_says_whether_weights_off_the_roms_would_help(dcgan28_for):
    """Folded for the ZCU102, dcgan28 does not fit the PYNQ-Z2, but folded for it (two layers streamed) it would:
    the refusal says so. With too little block RAM for any placement it gives the numbers of the best one."""
    import dataclasses

    from fpgagen.overlays import boards
    from fpgagen.overlays.boards import board_fit

    fit = board_fit(dcgan28_for("zcu102"), "pynq-z2")
    assert fit.problems[0].startswith("block RAM: its weights need 13.80 Mbit")
    assert fit.problems[-1] == ("folded for pynq-z2, its weights would leave the ROMs where block RAM runs short (at "
                               "the slowest folding: dense_0 streamed, conv_transpose2d_3 streamed, conv_transpose2d_5 "
                               "streamed): quantize it for this board (--board pynq-z2)")
    tiny = dataclasses.replace(get_board("pynq-z2"), name="tiny-z2", bram36=14)
    boards.register_board(tiny)
    try:
        fit = board_fit(dcgan28_for("zcu102"), "tiny-z2")
    finally:
        boards.BOARDS.pop("tiny-z2")
    assert re.fullmatch(r"no placement of its weights fits either: the one needing the least block RAM \(.*streamed"
                        r".*, at its slowest folding\) still needs [\d,]+ BRAM36 of the 11 the folding may use, and "
                        r"streams [\d.]+ MB per image: at most [\d,]+ images/s over 1,575 MB/s of DDR",
                        fit.problems[-1])


@pytest.mark.parametrize("board", ["pynq-z2", "zcu104", "kv260"])
def test_folded_for_a_smaller_board_dcgan28_fits_by_its_placements(dcgan28_for, board):
    """Its largest layers leave the ROMs: loaded into UltraRAM where there is some, else streamed from DDR; what
    stays in ROM fits the block RAM, and nothing is over the board."""
    from fpgagen.overlays.boards import board_fit

    model = dcgan28_for(board)
    fit = board_fit(model, board)
    assert fit.problems == () and board in fit.fits_on
    placed = {lr.name: lr.placement for lr in model.layers if lr.weight is not None}
    assert placed["dense_0"] == ("streamed" if board == "pynq-z2" else "loaded")
    assert fit.placed_bits["rom"] <= 0.8 * get_board(board).rom_bits
    assert fit.weight_bits == model.weight_bits and 13.7e6 < fit.weight_bits < 13.9e6


@pytest.mark.slow(45)
def test_the_cli_converts_dcgan28_for_the_pynq_z2_streaming_two_layers(capsys, tmp_path):
    """The board project of layers off the ROMs: the placements and their bandwidth printed, the weights file
    written beside the project, a weight port on the kernel and an MM2S DMA on an HP port of its own for each, and
    its C simulation bit-exact with golden."""
    import numpy as np

    from fpgagen.cli import main
    from fpgagen.core import golden
    from fpgagen.core.quantized_model import QuantizedModel
    from fpgagen.hls.csim import CSimExecutor

    assert main(["convert", "dcgan28", "--board", "pynq-z2", "--out", str(tmp_path / "prj")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"dense_0 +streamed +7\.53 Mbit +DDR, a 64-bit HP port: 1\.00 MB per image", out)
    assert re.search(r"conv_transpose2d_3 +streamed +4\.92 Mbit +DDR, a 64-bit HP port", out)
    assert re.search(r"weights.bin: 1,627,520 bytes of weights for 2 weight port\(s\), 64-bit beats, .*"
                     r"\(axi_dma_w0: dense_0 streamed, axi_dma_w1: conv_transpose2d_3 streamed\)", out)
    manifest = json.loads((tmp_path / "prj" / "manifest.json").read_text())
    assert [(p["dma"], p["layer"], p["placement"]) for p in manifest["weights"]["ports"]] == [
        ("axi_dma_w0", "dense_0", "streamed"), ("axi_dma_w1", "conv_transpose2d_3", "streamed")]
    assert (tmp_path / "prj" / "weights.bin").stat().st_size == manifest["weights"]["nbytes"] == 1_627_520
    design = (tmp_path / "prj" / "hls4ml_prj" / "design.tcl").read_text()
    for k, hp in ((0, "S_AXI_HP1"), (1, "S_AXI_HP2")):
        assert f"Master {{/axi_dma_w{k}/M_AXI_MM2S}} Slave {{/processing_system7_0/{hp}}}" in design
    axi = (tmp_path / "prj" / "hls4ml_prj" / "firmware" / "myproject_axi.cpp").read_text()
    assert "myproject(in_local, out_local, s_axis_w0, s_axis_w1);" in axi
    # the project's C simulation, through the AXI wrapper, fed from weights.bin: bit-exact with golden
    model = QuantizedModel.load(tmp_path / "prj" / "quantized")
    z = np.random.default_rng(3).standard_normal((8, model.latent_dim)).astype(np.float32)
    got = CSimExecutor.from_project(model, tmp_path / "prj" / "hls4ml_prj",
                                    weights=(tmp_path / "prj" / "weights.bin").read_bytes()).run(z)
    want = golden.generate(model, z)
    assert len(np.unique(want)) > 32 and np.array_equal(got, want), f"{np.count_nonzero(got != want)} differ"


def test_the_zcu102_holds_dcgan28_its_dsps_past_ug949s_guideline(dcgan28_for):
    """The folding spends the DSP slices the pipeline's balance needs (86% of them), so the fit warns but holds."""
    from fpgagen.overlays.boards import board_fit

    model = dcgan28_for("zcu102")
    fit = board_fit(model, "zcu102")
    assert fit.problems == () and fit.fits_on == ("zcu102",)
    assert len(fit.warnings) == 1 and fit.warnings[0].startswith("DSP: its multipliers take 2,162 DSP48E2")
    assert 13.7e6 < model.weight_bits < 13.9e6 and 0.8 * 2520 < model.multipliers <= 2520


def test_little_margin_is_a_warning_not_a_refusal():
    from fpgagen.overlays.boards import fit_figures

    board = get_board("pynq-z2")
    fit = fit_figures({"rom": int(0.85 * board.rom_bits)}, 0, 190, "pynq-z2")
    assert fit.problems == ()
    assert [w.split(":")[0] for w in fit.warnings] == ["block RAM", "DSP"]
    assert all("over UG949's 80% guideline" in w for w in fit.warnings) and "86%" in fit.warnings[1]
    assert "placement and timing may not close" in fit.warnings[0]  # block RAM near full is the risk
    assert "by design: the folding spends every DSP" in fit.warnings[1] and "headroom" in fit.warnings[1]


@pytest.mark.slow(30)
def test_force_writes_the_project_and_records_why_and_build_refuses_without_it(dcgan28_for, tmp_path):
    from fpgagen.overlays.project import BoardFitError

    manifest = write_accelerator_project(dcgan28_for("zcu102"), tmp_path, "zcu104", force=True)
    fit = json.loads((tmp_path / "manifest.json").read_text())["fit"]
    assert fit == manifest["fit"] and fit["forced"] and fit["problems"][0].startswith("block RAM: its weights need")
    with pytest.raises(BoardFitError, match="does not fit zcu104"):
        build_overlay(tmp_path, "zcu104")
    if shutil.which("vivado_hls") is None:  # forced, it goes on to look for Vivado
        with pytest.raises(ToolNotFoundError):
            build_overlay(tmp_path, "zcu104", force=True)
