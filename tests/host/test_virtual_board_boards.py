"""The virtual board standing in for each registered board: .hwh, memory map, DDR window, clocks, end to end."""

import numpy as np
import pynq
import pytest

from fpgagen.core import golden
from fpgagen.host import driver  # noqa: F401 -- defines GeneratorDriver, which pynq binds to hier_0
from fpgagen.host import virtual_board as vb
from fpgagen.overlays.boards import BOARDS, get_board

PS_CELL = {"processing_system7": "processing_system7_0", "zynq_ultra_ps_e": "zynq_ultra_ps_e_0"}


def latents(n, dim, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


@pytest.mark.parametrize("name", list(BOARDS))
def test_overlay_for_each_board_runs_end_to_end(board, overlay_files, models, name):
    """digits8 written for the board: pynq parses its .hwh, the board becomes that board, the driver runs."""
    spec = get_board(name)
    ol = pynq.Overlay(str(overlay_files("digits8", board=name)))
    assert (board.board, board.name, board.arch) == (spec, vb.PYNQ_BOARD_NAMES[name], spec.arch)
    assert set(ol.ip_dict) == {"hier_0/axi_dma_0", PS_CELL[spec.ps]}
    assert ol.ip_dict[PS_CELL[spec.ps]]["type"].startswith(f"xilinx.com:ip:{spec.ps}:")
    assert ol.ip_dict["hier_0/axi_dma_0"]["phys_addr"] == spec.dma_base
    assert ol.clock_dict[0]["enable"] == 1 and round(pynq.Clocks.fclk0_mhz) == spec.fabric_clock_mhz
    z = latents(7, 16, seed=3)
    np.testing.assert_array_equal(ol.hier_0.generate(z), golden.generate(models("digits8"), z))
    buf = pynq.allocate((16,), np.float32)
    assert spec.ddr_window[0] <= buf.physical_address < spec.ddr_window[1]


@pytest.mark.parametrize("name", ["zcu102", "zcu104"])
def test_zynq_ultrascale_clock_registers(board, overlay_files, name):
    pynq.Overlay(str(overlay_files("digits8", board=name)))
    assert pynq.Clocks.fclk0_mhz == 99.999  # IOPLL 1499.985 MHz / 15, what a ZCU102 / ZCU104 reports
    assert pynq.Clocks.cpu_mhz == pytest.approx(1200, abs=0.1)
    pl0 = board.read_registers(0xFF5E00C0, 4)
    assert int.from_bytes(pl0, "little") >> 24 & 1 == 1  # CLKACT set by pynq's Clocks
    with pytest.raises(vb.VirtualBoardError, match="hits no slave"):
        board.read_registers(vb.SLCR_BASE, 4)  # no Zynq-7000 SLCR on a Zynq UltraScale+


def test_pynq_z2_dma_address_is_not_mapped_on_zcu104(board, overlay_files):
    pynq.Overlay(str(overlay_files("digits8", board="zcu104")))
    with pytest.raises(vb.VirtualBoardError, match="0x40400000 hits no slave"):
        board.read_registers(0x40400000, 4)


def test_board_follows_the_hwh_part(board, overlay_files):
    bit = overlay_files("digits8", board="kv260")
    assert vb.hwh_board(bit.with_suffix(".hwh")).name == "kv260"
    hwh = bit.with_suffix(".hwh").read_text()
    assert 'DEVICE="xck26"' in hwh and 'BOARD="xilinx.com:kv260_som:part0:1.3"' in hwh
    assert 'MODTYPE="zynq_ultra_ps_e"' in hwh and "M_AXI_HPM0_FPD" in hwh and "S_AXI_HP0_FPD" in hwh


def test_zcu102_hwh_is_hls4mls_zcu102_design(board, overlay_files):
    """hls4ml's zcu102 design: DMA to DDR through S_AXI_HPC0_FPD, registers on HPM0_FPD (and HPM1_FPD)."""
    bit = overlay_files("digits8", board="zcu102")
    hwh = bit.with_suffix(".hwh").read_text()
    assert 'DEVICE="xczu9eg"' in hwh and 'BOARD="xilinx.com:zcu102:part0:3.3"' in hwh
    assert hwh.count('SLAVEBUSINTERFACE="S_AXI_HPC0_FPD"') == 2 and 'ADDRESSBLOCK="HPC0_DDR_LOW"' in hwh
    assert "S_AXI_HP0_FPD" not in hwh and 'NAME="M_AXI_HPM1_FPD"' in hwh
    assert '<PARAMETER NAME="PSU__USE__S_AXI_GP0" VALUE="1"' in hwh and "PSU__USE__S_AXI_GP2" not in hwh
    assert 'BASEVALUE="0xA0000000" HIGHNAME="C_HIGHADDR" HIGHVALUE="0xA000FFFF"' in hwh
    ol = pynq.Overlay(str(bit))
    assert (board.board.name, board.name) == ("zcu102", "ZCU102")
    assert ol.ip_dict["hier_0/axi_dma_0"]["phys_addr"] == 0xA0000000
    assert int.from_bytes(board.read_registers(0xA0000004, 4), "little") == 1  # MM2S_DMASR after reset: Halted
    with pytest.raises(ValueError, match="no zynq_ultra_ps_e block design with the DMA on 'S_AXI_ACP_FPD'"):
        vb.zu_ps_parameters(100, "S_AXI_ACP_FPD")


def test_manifest_and_hwh_must_agree(board, overlay_files):
    bit = overlay_files("digits8", board="zcu104")
    bit.with_suffix(".hwh").write_text(vb.hwh_text(board="kv260"))
    with pytest.raises(vb.VirtualBoardError, match="part xck26-sfvc784-2LV-c is kv260's, but the overlay's manifest "
                                                   "says board 'zcu104'"):
        pynq.Overlay(str(bit))


def test_unknown_part_is_refused(board, overlay_files):
    bit = overlay_files("digits8")
    hwh = bit.with_suffix(".hwh")
    hwh.write_text(hwh.read_text().replace('DEVICE="7z020"', 'DEVICE="7z010"'))
    with pytest.raises(vb.VirtualBoardError, match=r"part \('7z010', 'clg400', '-1'\) is not the part of a registered"):
        pynq.Overlay(str(bit))


def test_a_programmed_board_does_not_change_board(board, overlay_files):
    pynq.Overlay(str(overlay_files("digits8")))
    with pytest.raises(vb.VirtualBoardError, match=r"is a pynq-z2 with an overlay or buffers in use; an overlay for "
                                                   r"zcu104 needs a board of its own"):
        pynq.Overlay(str(overlay_files("vae28", board="zcu104")))


def test_board_can_be_chosen_up_front(models, tmp_path):
    kv = vb.activate(vb.VirtualBoard(board="kv260"))
    try:
        assert (kv.name, kv.arch, kv.tag) == ("KV260", "aarch64", "virtual-kv260")
        assert pynq.allocate((4,), np.uint8).physical_address == get_board("kv260").ddr_window[0]
    finally:
        vb.activate(vb.VirtualBoard())


def test_unknown_board_for_an_overlay(models, tmp_path):
    with pytest.raises(ValueError, match="board 'zcu106' is not supported"):
        vb.write_virtual_overlay(models("digits8"), tmp_path, board="zcu106")
