"""The Zynq block design every kernel's board project shares: the processing system, the AXI DMA, interconnect,
clock, reset and register addresses, and an MM2S-only AXI DMA per weight port.

Both kernels -- hls4ml's (:mod:`fpgagen.hls.accelerator`) and the RTL twin's (:mod:`fpgagen.rtl.board_project`) --
sit in the same design: the data DMA ``hier_0/axi_dma_0`` at :attr:`Board.dma_base`, its MM2S stream into the kernel
and the kernel's stream into its S2MM, the weight DMAs ``hier_0/axi_dma_w<k>`` at :meth:`Board.weight_dma_base`, all
clocked by the PS's fabric clock. So the PYNQ driver and the virtual board's ``.hwh`` see one design whichever
kernel is inside.

The templates ``board_designs/<ps>.tcl`` hold the board's side (PS, data DMA, interconnect), ``project.tcl`` the
Vivado project they start with (the part, the newest installed board files), ``kernel.tcl`` what follows on every
board (the kernel cell, its streams and clock, the DMA's address,
the hierarchy, the HDL wrapper, the bitstream); both are filled from the registry and a :class:`Kernel`.

Adding a kernel
---------------
Describe its cell with a :class:`Kernel`: the Tcl before the project exists (``preamble``), the Vivado project's
folder, how its sources reach the project (``sources``, ``catalog``), the Tcl creating its cell, the cell's name and
its stream and clock pins (the DMA's widths too), and anything to do after the bitstream (``finish``). Then
:func:`block_design_tcl` writes the whole script and :func:`weight_ports_tcl` adds the weight DMAs.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from fpgagen.core.manifest import weight_dma_name
from fpgagen.overlays.boards import Board

BOARD_DESIGNS = Path(__file__).resolve().parent / "board_designs"
# The PS slave ports a weight DMA can take to DDR, in the order streamed ports take them (one each; the data DMA's is
# left out). Zynq-7000: the four 64-bit HP ports (UG585); Zynq UltraScale+: the 128-bit HP0-3 and HPC0 FPD ports.
PS_CELL = {"processing_system7": "processing_system7_0", "zynq_ultra_ps_e": "zynq_ultra_ps_e_0"}
PS_SLAVES = {"processing_system7": ("S_AXI_HP0", "S_AXI_HP1", "S_AXI_HP2", "S_AXI_HP3"),
             "zynq_ultra_ps_e": ("S_AXI_HP0_FPD", "S_AXI_HP1_FPD", "S_AXI_HP2_FPD", "S_AXI_HP3_FPD", "S_AXI_HPC0_FPD")}
PS_REGISTER_MASTER = {"processing_system7": "M_AXI_GP0", "zynq_ultra_ps_e": "M_AXI_HPM0_FPD"}
PSU_SLAVE_GP = {"S_AXI_HPC0_FPD": 0, "S_AXI_HPC1_FPD": 1, "S_AXI_HP0_FPD": 2, "S_AXI_HP1_FPD": 3, "S_AXI_HP2_FPD": 4,
                "S_AXI_HP3_FPD": 5}  # Zynq UltraScale+ PS configuration names its slaves S_AXI_GP<n>
CLOCK_PINS = {"processing_system7": "FCLK_CLK0", "zynq_ultra_ps_e": "pl_clk0"}
HIERARCHY = "hier_0"  # the block-design hierarchy of the data DMA, the weight DMAs and the kernel
DATA_DMA = "axi_dma_0"


@dataclass(frozen=True)
class Kernel:
    """What a board's block-design template leaves to the kernel (each field a piece of Tcl or a Tcl word).

    Attributes:
        writer: the module writing the script (named in its header).
        kernel_doc: one comment line: the kernel cell and its streams.
        run_doc: one comment line: how the script is run.
        preamble: Tcl before anything else (variables the other fields use).
        project_dir: the Vivado project's folder, relative to where the script runs.
        sources: Tcl after the board part is set: the kernel's sources or IP repository.
        catalog: Tcl right after the block design is created.
        in_bits, out_bits: the data DMA's stream widths (MM2S into the kernel, S2MM out of it).
        create_kernel: Tcl creating the kernel's cell.
        kernel: the cell's name (inside :data:`HIERARCHY` once grouped).
        stream_in, stream_out, clock_pin: the cell's input and output AXI-Stream interfaces and its clock pin.
        weight_pin: the cell's weight-port interface, with ``{port}`` for the port's number.
        top_wrapper: Tcl after the block design is saved: its HDL wrapper made, added and the project's top.
        finish: Tcl after the bitstream (e.g. copying it to a fixed name).
    """

    writer: str
    kernel_doc: str
    run_doc: str
    preamble: str
    project_dir: str
    sources: str
    catalog: str
    in_bits: str
    out_bits: str
    create_kernel: str
    kernel: str
    stream_in: str
    stream_out: str
    clock_pin: str
    weight_pin: str
    top_wrapper: str
    finish: str = ""


def block_design_tcl(board: Board, kernel: Kernel) -> str:
    """The block design script for ``board`` with ``kernel`` inside: ``board_designs/<ps>.tcl`` (with
    ``project.tcl`` in its ``{{project}}``) and ``kernel.tcl`` filled from the registry and the kernel. Raises
    ValueError for a processing system without a template."""
    template = BOARD_DESIGNS / f"{board.ps}.tcl"
    if not template.is_file():
        raise ValueError(f"board {board.name}: no fpgagen block design for {board.ps} ({template} is missing)")
    fields = {"title": board.title, "part": board.part, "board_part": board.board_part,
              "fabric_clock_mhz": f"{board.fabric_clock_mhz:g}", "dma_base": f"0x{board.dma_base:08X}",
              "dma_range": f"{board.dma_range // 1024}K", "ps_cell": PS_CELL[board.ps], **asdict(kernel)}
    text = (template.read_text().replace("{{project}}", (BOARD_DESIGNS / "project.tcl").read_text())
            + (BOARD_DESIGNS / "kernel.tcl").read_text())
    left = sorted(set(re.findall(r"{{(\w+)}}", text)) - set(fields))
    if left:
        raise ValueError(f"{template}: placeholders without a value: {', '.join(left)}")
    return re.sub(r"{{(\w+)}}", lambda m: fields[m.group(1)], text)


def clock_source(board: Board, design: str) -> str:
    """Where the kernel's clock comes from: the PS clock pin of ``design`` (the script's name), and its rate."""
    return f"{design}: {board.ps} {CLOCK_PINS[board.ps]}, {board.fabric_clock_mhz:g} MHz"


def _enable_slave(board: Board, slave: str) -> str:
    """The PS configuration that turns ``slave`` on at the weight ports' width."""
    if board.ps == "processing_system7":
        n = slave.removeprefix("S_AXI_HP")
        return f"CONFIG.PCW_USE_S_AXI_HP{n} {{1}} CONFIG.PCW_S_AXI_HP{n}_DATA_WIDTH {{{board.hp_port_bits}}}"
    gp = PSU_SLAVE_GP[slave]
    return f"CONFIG.PSU__USE__S_AXI_GP{gp} {{1}} CONFIG.PSU__SAXIGP{gp}__DATA_WIDTH {{{board.hp_port_bits}}}"


def weight_ports_tcl(board: Board, design: str, passes, weight_pin: str) -> str:
    """``design`` (a block design script of :func:`block_design_tcl`, or hls4ml's for its boards) with an MM2S-only
    AXI DMA per weight port.

    DMA ``hier_0/axi_dma_w<k>`` (:func:`weight_dma_name`; simple mode, 26-bit length, ``hp_port_bits``-bit memory
    side and stream) reads its pass from DDR and feeds the kernel's interface ``weight_pin`` (``{port}`` replaced by
    k); its registers sit at the virtual board's address, the windows after the data DMA's. A streamed port's DMA
    gets a PS slave port of its own (:data:`PS_SLAVES`, the data DMA's left out): the bandwidth the folding planned
    for it. A loaded port's DMA reads its pass once, when the overlay is loaded, and shares the data DMA's
    interconnect. Raises ValueError when the design does not wire the data DMA as this module expects, or when
    streamed ports outnumber the free slaves.
    """
    ps = PS_CELL[board.ps]
    data = re.search(rf"Master {{/axi_dma_0/M_AXI_MM2S}} Slave {{/{ps}/(\w+)}}", design)
    shared = re.search(r"Master {/axi_dma_0/M_AXI_S2MM} Slave {[^}]*}[\s\\]*ddr_seg {Auto}[\s\\]*intc_ip {(/\w+)}",
                       design)
    group = re.search(r"^group_bd_cells hier_0 .*$", design, re.M)
    if not (data and shared and group):
        raise ValueError(f"{board.name}: the block design does not wire axi_dma_0 as fpgagen expects (its MM2S "
                         "master, its S2MM interconnect, the hier_0 group): cannot add weight ports")
    free = [s for s in PS_SLAVES[board.ps] if s != data.group(1)]
    streamed = [wp for wp in passes if wp.placement == "streamed"]
    if len(streamed) > len(free):
        raise ValueError(f"{board.name}: {len(streamed)} streamed weight ports need a PS slave port each; "
                         f"{', '.join(free)} are free")
    own = dict(zip((wp.port for wp in streamed), free, strict=False))
    if board.ps == "processing_system7":
        clk = f"/{ps}/FCLK_CLK0 ({board.fabric_clock_mhz:g} MHz)"
        lines = [f'set fg_wclk "{clk}"']
    else:  # the automation names a clock by its achieved rate, truncated to MHz
        rate = f"[get_property CONFIG.PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ [get_bd_cells {ps}]]"
        lines = [f'set fg_wclk "/{ps}/pl_clk0 ([expr {{int({rate})}}] MHz)"']
    lines.insert(0, "# fpgagen: weight ports (fpgagen.overlays.block_design.weight_ports_tcl), an MM2S-only AXI DMA "
                    "each")
    if own:
        lines.append(f"set_property -dict [list {' '.join(_enable_slave(board, s) for s in own.values())}] "
                     f"[get_bd_cells {ps}]")
    for wp in passes:
        dma, bits = weight_dma_name(wp.port), board.hp_port_bits
        slave = own.get(wp.port, data.group(1))
        intc = "{New AXI SmartConnect}" if wp.port in own else f"{{{shared.group(1)}}}"
        base = board.weight_dma_base(wp.port)
        lines += [
            f"# weight port {wp.port}: {wp.layer}, {wp.placement}, {wp.nbytes:,} bytes a pass, via {slave}",
            f"create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma:7.1 {dma}",
            f"set_property -dict [list CONFIG.c_include_sg {{0}} CONFIG.c_sg_length_width {{26}} "
            f"CONFIG.c_include_s2mm {{0}} CONFIG.c_m_axi_mm2s_data_width {{{bits}}} "
            f"CONFIG.c_m_axis_mm2s_tdata_width {{{bits}}} CONFIG.c_mm2s_burst_size {{256}}] [get_bd_cells {dma}]",
            f"apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master {{Auto}} Clk_slave $fg_wclk "
            f"Clk_xbar $fg_wclk Master {{/{ps}/{PS_REGISTER_MASTER[board.ps]}}} Slave {{/{dma}/S_AXI_LITE}} "
            f"ddr_seg {{Auto}} intc_ip {{Auto}} master_apm {{0}}] [get_bd_intf_pins {dma}/S_AXI_LITE]",
            f"apply_bd_automation -rule xilinx.com:bd_rule:axi4 -config [list Clk_master {{Auto}} Clk_slave $fg_wclk "
            f"Clk_xbar $fg_wclk Master {{/{dma}/M_AXI_MM2S}} Slave {{/{ps}/{slave}}} ddr_seg {{Auto}} "
            f"intc_ip {intc} master_apm {{0}}] [get_bd_intf_pins {dma}/M_AXI_MM2S]",
            f"connect_bd_intf_net [get_bd_intf_pins {dma}/M_AXIS_MM2S] "
            f"[get_bd_intf_pins {weight_pin.replace('{port}', str(wp.port))}]",
            f"set fg_seg [get_bd_addr_segs -of_objects [get_bd_addr_spaces {ps}/Data] -filter {{NAME =~ \"*{dma}*\"}}]",
            f"set_property range {board.dma_range // 1024}K $fg_seg",
            f"set_property offset 0x{base:08X} $fg_seg",
        ]
    cells = " ".join(f"[get_bd_cells {weight_dma_name(wp.port)}]" for wp in passes)
    return (design[:group.start()] + "\n".join(lines) + "\n" + group.group(0) + " " + cells
            + design[group.end():])
