"""The files of a virtual overlay: the hardware handoff pynq parses (:func:`hwh_text`), the stream manifest
(:func:`manifest_for`) and the *virtual* bitstream (:func:`write_virtual_overlay`, :func:`read_virtual_bitstream`),
with the processing systems as their block designs wire them (:class:`PsView`, :func:`ps_view`).

:func:`write_virtual_overlay` writes ``<name>.hwh`` (:func:`hwh_text`: the Zynq PS with its clocks, the hierarchy
``hier_0`` holding ``axi_dma_0`` -- simple mode, its register map and parameters such as ``c_sg_length_width`` --
and the kernel cell ``myproject_axi_0``, wired as hls4ml's VivadoAccelerator block design wires them),
``<name>.json`` (the stream manifest) and ``<name>.bit``, a small JSON naming the kernel backend and the
QuantizedModel it runs. pynq parses the .hwh with pynqmetadata, as on the board; :func:`hwh_board` finds the
registered board whose part it names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from xml.etree import ElementTree as ET

from fpgagen.core.manifest import OverlayManifest, WeightsFile
from fpgagen.core.quantized_model import QuantizedModel
from fpgagen.core.weights_file import weight_image
from fpgagen.host.virtual_board.faults import Faults
from fpgagen.host.virtual_board.kernel import VirtualBoardError
from fpgagen.host.virtual_board.registry import BACKENDS, backend_factory
from fpgagen.overlays.boards import BOARDS, DEFAULT_BOARD, Board, get_board

VIRTUAL_BITSTREAM_FORMAT = "fpgagen-virtual-bitstream-1"
SLCR_BASE = 0xF8000000
SLCR_RANGE = 0x1000


# Zynq-7000 (processing_system7) parameters of the PYNQ-Z2 design: FCLK0 at 100 MHz from the IO PLL.
PS_PARAMETERS = {
    "PCW_FPGA_FCLK0_ENABLE": "1", "PCW_FPGA_FCLK1_ENABLE": "0", "PCW_FPGA_FCLK2_ENABLE": "0",
    "PCW_FPGA_FCLK3_ENABLE": "0",
    "PCW_FPGA0_PERIPHERAL_FREQMHZ": "100", "PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ": "100.000000",
    # pynqmetadata 4.0's ZynqProcSysCore reads the achieved FCLK rate from the Zynq UltraScale+ parameter name
    # (it lacks a Zynq-7000 override); without it pynq's Overlay.download passes clk_mhz=None to Clocks.
    "PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ": "100.000000",
    "PCW_USE_S_AXI_HP0": "1", "PCW_USE_M_AXI_GP0": "1", "PCW_UIPARAM_DDR_PARTNO": "MT41K256M16 RE-125",
}
for _i in range(4):
    PS_PARAMETERS[f"PCW_FCLK{_i}_PERIPHERAL_CLKSRC"] = "IO PLL"
    PS_PARAMETERS[f"PCW_FCLK{_i}_PERIPHERAL_DIVISOR0"] = "4" if _i == 0 else "1"
    PS_PARAMETERS[f"PCW_FCLK{_i}_PERIPHERAL_DIVISOR1"] = "4" if _i == 0 else "1"

# Zynq UltraScale+ (zynq_ultra_ps_e): pl_clk0 = IOPLL (33.333 MHz x 90 / 2 = 1499.985 MHz) / 15, the rate the
# board presets reach for 100 MHz.
ZU_IOPLL_MHZ = 33.333 * 90 / 2


# The zynq_ultra_ps_e ports each block design enables, by the slave port the DMA's memory traffic goes through.
# fpgagen's template (hls/board_designs/zynq_ultra_ps_e.tcl): M_AXI_HPM0_FPD only, S_AXI_HP0_FPD, both 32-bit.
# hls4ml's zcu102 design: S_AXI_HPC0_FPD (GP0, 32-bit), the DMA's registers on M_AXI_HPM0_FPD and M_AXI_HPM1_FPD
# (GP0, GP1: the board preset enables them, at the preset's widths).
ZU_PORT_PARAMETERS = {
    "S_AXI_HP0_FPD": {"PSU__USE__M_AXI_GP0": "1", "PSU__USE__M_AXI_GP1": "0", "PSU__USE__M_AXI_GP2": "0",
                      "PSU__USE__S_AXI_GP2": "1", "PSU__MAXIGP0__DATA_WIDTH": "32", "PSU__SAXIGP2__DATA_WIDTH": "32"},
    "S_AXI_HPC0_FPD": {"PSU__USE__M_AXI_GP0": "1", "PSU__USE__M_AXI_GP1": "1", "PSU__USE__M_AXI_GP2": "0",
                       "PSU__USE__S_AXI_GP0": "1", "PSU__SAXIGP0__DATA_WIDTH": "32"},
}


def zu_ps_parameters(fabric_clock_mhz: float, slave: str = "S_AXI_HP0_FPD") -> dict[str, str]:
    """The zynq_ultra_ps_e parameters pynqmetadata reads: PL clock enables, sources, divisors, rates, and the ports
    of the block design whose DMA writes to DDR through ``slave`` (:data:`ZU_PORT_PARAMETERS`)."""
    if slave not in ZU_PORT_PARAMETERS:
        raise ValueError(f"no zynq_ultra_ps_e block design with the DMA on {slave!r}; known: "
                         f"{', '.join(ZU_PORT_PARAMETERS)}")
    divisor = max(1, round(ZU_IOPLL_MHZ / fabric_clock_mhz))
    params = dict(ZU_PORT_PARAMETERS[slave])
    for i in range(4):
        params[f"PSU__FPGA_PL{i}_ENABLE"] = "1" if i == 0 else "0"
        params[f"PSU__CRL_APB__PL{i}_REF_CTRL__SRCSEL"] = "IOPLL"
        params[f"PSU__CRL_APB__PL{i}_REF_CTRL__DIVISOR0"] = str(divisor if i == 0 else 4)
        params[f"PSU__CRL_APB__PL{i}_REF_CTRL__DIVISOR1"] = "1"
    params["PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"] = f"{fabric_clock_mhz:g}"
    params["PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ"] = f"{ZU_IOPLL_MHZ / divisor:.6f}"
    return params


@dataclass(frozen=True)
class PsView:
    """How a processing system appears in a hardware handoff, and the clock registers pynq's ``Clocks`` reads.

    Attributes:
        vlnv, modtype, instance: the PS cell.
        hwh_arch: SYSTEMINFO ARCH (``zynq`` / ``zynquplus``), also the DMA's C_FAMILY.
        clock_pin: the PL clock the DMA and the kernel run on.
        master, slave: the PS's AXI master to the DMA's registers and slave for the DMA's memory traffic.
        other_masters: further PS masters the block design wires to the DMA's registers (listed as bus interfaces;
            the DMA's address is the one through ``master``).
        ddr_block, ddr_high: the DDR address block the DMA reaches through ``slave`` and its last address.
        clock_registers: base address -> (window, {offset: reset value}) of the clock control registers.
    """

    vlnv: str
    modtype: str
    instance: str
    hwh_arch: str
    clock_pin: str
    master: str
    slave: str
    ddr_block: str
    ddr_high: int
    clock_registers: dict
    other_masters: tuple[str, ...] = ()


PS_VIEWS = {
    "processing_system7": PsView(
        vlnv="xilinx.com:ip:processing_system7:5.5", modtype="processing_system7", instance="processing_system7_0",
        hwh_arch="zynq", clock_pin="FCLK_CLK0", master="M_AXI_GP0", slave="S_AXI_HP0", ddr_block="HP0_DDR_LOWOCM",
        ddr_high=0x1FFFFFFF,
        clock_registers={SLCR_BASE: (SLCR_RANGE, {  # ARM/DDR/IO PLL, ARM_CLK, FPGA0..3_CLK_CTRL
            0x100: 26 << 12, 0x104: 21 << 12, 0x108: 32 << 12, 0x120: 2 << 8, 0x170: (4 << 16) | (4 << 8),
            0x180: (1 << 16) | (1 << 8), 0x190: (1 << 16) | (1 << 8), 0x1A0: (1 << 16) | (1 << 8)})}),
    "zynq_ultra_ps_e": PsView(
        vlnv="xilinx.com:ip:zynq_ultra_ps_e:3.3", modtype="zynq_ultra_ps_e", instance="zynq_ultra_ps_e_0",
        hwh_arch="zynquplus", clock_pin="pl_clk0", master="M_AXI_HPM0_FPD", slave="S_AXI_HP0_FPD",
        ddr_block="HP0_DDR_LOW", ddr_high=0x7FFFFFFF,
        clock_registers={
            0xFF5E0000: (0x1000, {  # CRL_APB: IOPLL, RPLL (FBDIV, DIV2), PL0..3_REF_CTRL (CLKACT, DIVISOR1/0)
                0x20: (1 << 16) | (90 << 8), 0x30: (1 << 16) | (72 << 8),
                0xC0: (1 << 24) | (1 << 16) | (15 << 8), 0xC4: (1 << 16) | (4 << 8), 0xC8: (1 << 16) | (4 << 8),
                0xCC: (1 << 16) | (4 << 8)}),
            0xFD1A0000: (0x1000, {  # CRF_APB: APLL, DPLL, VPLL, ACPU_CTRL (the A53s at 1200 MHz)
                0x20: (1 << 16) | (72 << 8), 0x2C: (1 << 16) | (64 << 8), 0x38: (1 << 16) | (90 << 8),
                0x60: 1 << 8})}),
}


def ps_view(board: Board) -> PsView:
    """The board's PS as its block design wires it: :data:`PS_VIEWS` of its PS, except for a Zynq UltraScale+ board
    whose design is hls4ml's own (zcu102), which takes the DMA's memory traffic on S_AXI_HPC0_FPD and wires
    M_AXI_HPM1_FPD to the DMA's registers as well as M_AXI_HPM0_FPD (hls4ml's zcu102 axi_stream_design.tcl)."""
    view = PS_VIEWS[board.ps]
    if board.ps == "zynq_ultra_ps_e" and board.hls4ml_board == board.name:
        return replace(view, slave="S_AXI_HPC0_FPD", ddr_block="HPC0_DDR_LOW", other_masters=("M_AXI_HPM1_FPD",))
    return view


_DMACR = [("RS", 0, 1), ("Reset", 2, 1), ("IOC_IrqEn", 12, 1), ("Err_IrqEn", 14, 1)]
_DMASR = [("Halted", 0, 1), ("Idle", 1, 1), ("DMAIntErr", 4, 1), ("DMASlvErr", 5, 1), ("DMADecErr", 6, 1),
          ("IOC_Irq", 12, 1), ("Err_Irq", 14, 1)]
# name, offset, fields (name, bit, width): each channel's registers, S2MM's 0x30 above MM2S's (PG021)
DMA_REGISTERS = [
    (f"{channel}_{name}", base + offset, fields)
    for channel, base, address in (("MM2S", 0x00, ("SA", "Source_Address")),
                                   ("S2MM", 0x30, ("DA", "Destination_Address")))
    for name, offset, fields in (("DMACR", 0x00, _DMACR), ("DMASR", 0x04, _DMASR),
                                 (address[0], 0x18, [(address[1], 0, 32)]),
                                 (f"{address[0]}_MSB", 0x1C, [(address[1], 0, 32)]),
                                 ("LENGTH", 0x28, [("Length", 0, 26)]))
]

# The AXI DMA's configuration in hls4ml's design.tcl (pynq-z2): direct register mode, 32-bit streams and memory
# interfaces, bursts of 256; c_sg_length_width is set per overlay. A .hwh lists these in lower case (IP
# configuration, what pynq's DMA driver reads) and in upper case (HDL generics).
DMA_CONFIG = {"c_include_sg": 0, "c_sg_include_stscntrl_strm": 0, "c_micro_dma": 0, "c_include_mm2s": 1,
              "c_include_s2mm": 1, "c_m_axi_mm2s_data_width": 32, "c_m_axis_mm2s_tdata_width": 32,
              "c_m_axi_s2mm_data_width": 32, "c_s_axis_s2mm_tdata_width": 32, "c_include_mm2s_dre": 0,
              "c_include_s2mm_dre": 0, "c_mm2s_burst_size": 256, "c_s2mm_burst_size": 256, "c_addr_width": 32}

AXIMM = "xilinx.com:interface:aximm:1.0"
AXIS = "xilinx.com:interface:axis:1.0"


def _module(parent, fullname: str, vlnv: str, modtype: str, params: dict, **attrs):
    instance = fullname.strip("/").replace("/", "_")
    m = ET.SubElement(parent, "MODULE", FULLNAME=fullname, INSTANCE=instance, IPTYPE="PERIPHERAL", IS_ENABLE="1",
                      MODTYPE=modtype, VLNV=vlnv, HWVERSION=vlnv.rsplit(":", 1)[1], **attrs)
    p = ET.SubElement(m, "PARAMETERS")
    for k, v in params.items():
        ET.SubElement(p, "PARAMETER", NAME=k, VALUE=str(v))
    return m, instance


def _ports(module, ports, clock_hz: int = 100_000_000):
    """ports: (name, dir, width, sigis, [(instance, port), ...])."""
    el = ET.SubElement(module, "PORTS")
    for name, direction, width, sigis, conns in ports:
        attrs = {"DIR": direction, "NAME": name, "SIGIS": sigis}
        if width > 1:
            attrs.update(LEFT=str(width - 1), RIGHT="0")
        if sigis == "clk":
            attrs["CLKFREQUENCY"] = str(clock_hz)
        p = ET.SubElement(el, "PORT", **attrs)
        c = ET.SubElement(p, "CONNECTIONS")
        for inst, port in conns:
            ET.SubElement(c, "CONNECTION", INSTANCE=inst, PORT=port)


def _bus(parent, name: str, vlnv: str, kind: str, portmap: dict[str, str] = None):
    b = ET.SubElement(parent, "BUSINTERFACE", BUSNAME=name, NAME=name, TYPE=kind, VLNV=vlnv)
    if portmap:
        pm = ET.SubElement(b, "PORTMAPS")
        for logical, physical in portmap.items():
            ET.SubElement(pm, "PORTMAP", LOGICAL=logical, PHYSICAL=physical)
    return b


def _axis_ports(prefix: str, master: bool, peer: tuple[str, str], bits: int = 32):
    out, inn = ("O", "I") if master else ("I", "O")
    return [(f"{prefix}_tdata", out, bits, "undef", [(peer[0], f"{peer[1]}_TDATA")]),
            (f"{prefix}_tvalid", out, 1, "undef", [(peer[0], f"{peer[1]}_TVALID")]),
            (f"{prefix}_tready", inn, 1, "undef", [(peer[0], f"{peer[1]}_TREADY")]),
            (f"{prefix}_tlast", out, 1, "undef", [(peer[0], f"{peer[1]}_TLAST")])]


def _dma_module(modules, design: str, full: str, base: int, size: int, config: dict, view: PsView, ps_inst: str,
                clock_hz: int, streams: list[tuple[str, bool, tuple[str, str], int]]) -> None:
    """An AXI DMA cell (xilinx.com:ip:axi_dma:7.1, its register map at ``base``) with ``streams``: (port prefix,
    master, (peer instance, peer port), bits) of its M_AXIS_MM2S and, where it has one, S_AXIS_S2MM."""
    name = full.rsplit("/", 1)[1]
    params = {**{k.upper(): v for k, v in config.items()}, **config, "C_FAMILY": view.hwh_arch,
              "Component_Name": f"{design}_{name}_0", "C_BASEADDR": f"0x{base:08X}",
              "C_HIGHADDR": f"0x{base + size - 1:08X}"}
    dm, _ = _module(modules, full, "xilinx.com:ip:axi_dma:7.1", "axi_dma", params, MODCLASS="PERIPHERAL")
    blocks = ET.SubElement(ET.SubElement(dm, "ADDRESSBLOCKS"), "ADDRESSBLOCK", ACCESS="read-write",
                           INTERFACE="S_AXI_LITE", NAME="Reg", RANGE="4096", USAGE="register")
    regs = ET.SubElement(blocks, "REGISTERS")
    for reg, offset, fields in DMA_REGISTERS:
        r = ET.SubElement(regs, "REGISTER", NAME=reg)
        for k, v in (("ADDRESS_OFFSET", f"0x{offset:x}"), ("SIZE", "32"), ("ACCESS", "read-write"),
                     ("IS_ENABLED", "true")):
            ET.SubElement(r, "PROPERTY", NAME=k, VALUE=v)
        fs = ET.SubElement(r, "FIELDS")
        for fname, bit, width in fields:
            width = config["c_sg_length_width"] if fname == "Length" else width
            f = ET.SubElement(fs, "FIELD", NAME=fname)
            for k, v in (("BIT_OFFSET", str(bit)), ("BIT_WIDTH", str(width)), ("ACCESS", "read-write")):
                ET.SubElement(f, "PROPERTY", NAME=k, VALUE=v)
    _ports(dm, [("s_axi_lite_aclk", "I", 1, "clk", [(ps_inst, view.clock_pin)]),
                *(p for prefix, master, peer, bits in streams for p in _axis_ports(prefix, master, peer, bits))],
           clock_hz)
    buses = ET.SubElement(dm, "BUSINTERFACES")
    _bus(buses, "S_AXI_LITE", AXIMM, "SLAVE")
    masters = ["M_AXI_MM2S"] + (["M_AXI_S2MM"] if len(streams) > 1 else [])
    for master in masters:
        _bus(buses, master, AXIMM, "MASTER")
    for prefix, master, _, _ in streams:
        _bus(buses, prefix.upper(), AXIS, "MASTER" if master else "SLAVE",
             {s: f"{prefix}_{s.lower()}" for s in ("TDATA", "TVALID", "TREADY", "TLAST")})
    ddr = ET.SubElement(dm, "MEMORYMAP")
    for master in masters:
        ET.SubElement(ddr, "MEMRANGE", ADDRESSBLOCK=view.ddr_block, BASENAME="C_BASEADDR", BASEVALUE="0x00000000",
                      HIGHNAME="C_HIGHADDR", HIGHVALUE=f"0x{view.ddr_high:08X}", INSTANCE=ps_inst, IS_DATA="TRUE",
                      IS_INSTRUCTION="TRUE", MASTERBUSINTERFACE=master, MEMTYPE="MEMORY",
                      SLAVEBUSINTERFACE=view.slave)


def hwh_text(design: str = "design_1", hierarchy: str = "hier_0", dma: str = "axi_dma_0",
             kernel: str = "myproject_axi_0", length_width: int = 26, board: str = DEFAULT_BOARD,
             weight_dmas: tuple[tuple[str, int], ...] = ()) -> str:
    """The hardware handoff of the accelerator's block design on ``board``, as far as pynq reads it.

    SYSTEMINFO names the board's part. Modules: the PS (pynq-z2: ``processing_system7_0``, FCLK_CLK0, M_AXI_GP0
    mapping the DMA's registers at 0x40400000, S_AXI_HP0 to DDR; Zynq UltraScale+: ``zynq_ultra_ps_e_0``,
    pl_clk0, M_AXI_HPM0_FPD mapping them at 0xA0000000, S_AXI_HP0_FPD to DDR -- on zcu102, hls4ml's design,
    S_AXI_HPC0_FPD, with M_AXI_HPM1_FPD also wired: :func:`ps_view`), ``<hierarchy>/<dma>``
    (xilinx.com:ip:axi_dma:7.1, direct register mode, 32-bit streams, ``c_sg_length_width`` = ``length_width``,
    its register map; masters M_AXI_MM2S / M_AXI_S2MM mapping DDR) and ``<hierarchy>/<kernel>``
    (xilinx.com:hls:myproject_axi:1.0, ports in_r / out_r, ap_ctrl_none: no registers), the DMA's M_AXIS_MM2S wired
    to in_r and out_r to S_AXIS_S2MM -- hls4ml's VivadoAccelerator design and fpgagen's Zynq UltraScale+ design
    name them alike. ``weight_dmas``: (name, bits) of an MM2S-only AXI DMA per weight port k of the kernel
    (``w<k>``, ``bits`` wide: the HP port's width), registers at :meth:`Board.weight_dma_base`, in the same hierarchy.
    """
    spec = get_board(board)
    view = ps_view(spec)
    dma_base = spec.dma_base
    if spec.ps == "processing_system7":
        ps_params, clock_hz = PS_PARAMETERS, int(spec.fabric_clock_mhz * 1e6)
    else:
        ps_params = zu_ps_parameters(spec.fabric_clock_mhz, view.slave)
        clock_hz = round(float(ps_params["PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ"]) * 1e6)
    root = ET.Element("EDKSYSTEM", EDWVERSION="1.2", TIMESTAMP="virtual", VIVADOVERSION="2019.2")
    device, package, speed = spec.part_fields
    ET.SubElement(root, "SYSTEMINFO", ARCH=view.hwh_arch, BOARD=spec.board_part, DEVICE=device, NAME=design,
                  PACKAGE=package, SPEEDGRADE=speed)
    ET.SubElement(root, "EXTERNALPORTS")
    ET.SubElement(root, "EXTERNALINTERFACES")
    modules = ET.SubElement(root, "MODULES")
    dma_full, kern_full = f"/{hierarchy}/{dma}", f"/{hierarchy}/{kernel}"
    dma_inst, kern_inst = dma_full.strip("/").replace("/", "_"), kern_full.strip("/").replace("/", "_")
    kern_vlnv = f"xilinx.com:hls:{kernel.rsplit('_', 1)[0]}:1.0"

    ps, ps_inst = _module(modules, f"/{view.instance}", view.vlnv, view.modtype, ps_params, IS_PL="FALSE")
    _ports(ps, [(view.clock_pin, "O", 1, "clk", [(dma_inst, "s_axi_lite_aclk"), (kern_inst, "ap_clk")])], clock_hz)
    buses = ET.SubElement(ps, "BUSINTERFACES")
    for master in (view.master, *view.other_masters):
        _bus(buses, master, AXIMM, "MASTER")
    _bus(buses, view.slave, AXIMM, "SLAVE")
    psmap = ET.SubElement(ps, "MEMORYMAP")
    windows = [(dma_inst, dma_base)] + [(f"{hierarchy}_{name}", spec.weight_dma_base(k))
                                        for k, (name, _) in enumerate(weight_dmas)]
    for inst, base in windows:
        ET.SubElement(psmap, "MEMRANGE", ADDRESSBLOCK="Reg", BASENAME="C_BASEADDR", BASEVALUE=f"0x{base:08X}",
                      HIGHNAME="C_HIGHADDR", HIGHVALUE=f"0x{base + spec.dma_range - 1:08X}", INSTANCE=inst,
                      IS_DATA="TRUE", IS_INSTRUCTION="TRUE", MASTERBUSINTERFACE=view.master, MEMTYPE="REGISTER",
                      SLAVEBUSINTERFACE="S_AXI_LITE")

    config = {**DMA_CONFIG, "c_sg_length_width": length_width}
    _dma_module(modules, design, dma_full, dma_base, spec.dma_range, config, view, ps_inst, clock_hz,
                [("m_axis_mm2s", True, (kern_inst, "in_r"), 32), ("s_axis_s2mm", False, (kern_inst, "out_r"), 32)])
    for k, (name, bits) in enumerate(weight_dmas):
        wconfig = {**config, "c_include_s2mm": 0, "c_m_axi_mm2s_data_width": bits, "c_m_axis_mm2s_tdata_width": bits}
        _dma_module(modules, design, f"/{hierarchy}/{name}", spec.weight_dma_base(k), spec.dma_range, wconfig,
                    view, ps_inst, clock_hz, [("m_axis_mm2s", True, (kern_inst, f"w{k}"), bits)])

    km, _ = _module(modules, kern_full, kern_vlnv, kernel.rsplit("_", 1)[0], {"Component_Name": f"{design}_{kernel}"},
                    MODCLASS="PERIPHERAL")
    kernel_ports = [("ap_clk", "I", 1, "clk", [(ps_inst, view.clock_pin)])]
    kernel_streams = [("in_r", "I", dma_inst, "m_axis_mm2s", 32), ("out_r", "O", dma_inst, "s_axis_s2mm", 32)]
    kernel_streams += [(f"w{k}", "I", f"{hierarchy}_{name}", "m_axis_mm2s", bits)
                       for k, (name, bits) in enumerate(weight_dmas)]
    for prefix, forward, peer_inst, peer, bits in kernel_streams:
        backward = "O" if forward == "I" else "I"
        for sig in ("TDATA", "TVALID", "TREADY", "TLAST"):
            kernel_ports.append((f"{prefix}_{sig}", backward if sig == "TREADY" else forward,
                                 bits if sig == "TDATA" else 1, "undef", [(peer_inst, f"{peer}_{sig.lower()}")]))
    _ports(km, kernel_ports, clock_hz)
    buses = ET.SubElement(km, "BUSINTERFACES")
    for prefix, forward, *_ in kernel_streams:
        _bus(buses, prefix, AXIS, "SLAVE" if forward == "I" else "MASTER",
             {s: f"{prefix}_{s}" for s in ("TDATA", "TVALID", "TREADY", "TLAST")})

    ET.indent(root, "  ")
    return '<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def manifest_for(model: QuantizedModel, **fields) -> OverlayManifest:
    """The stream manifest of an overlay built from ``model`` (fields override the hls4ml defaults)."""
    return OverlayManifest(preset=model.name, latent_dim=model.latent_dim,
                           image_shape=tuple(int(v) for v in model.image_shape), **fields)


def write_virtual_overlay(model: QuantizedModel, folder: Path, name: str | None = None, backend: str = "golden",
                          length_width: int = 26, options: dict | None = None, board: str = DEFAULT_BOARD,
                          faults=None) -> Path:
    """Write a virtual-board overlay of ``model`` into ``folder``; return the path of its ``.bit``.

    Files: ``<name>.bit`` (a virtual bitstream: JSON naming ``backend`` and the QuantizedModel), ``<name>.hwh``
    (:func:`hwh_text`), ``<name>.json`` (the stream manifest) and ``<name>.quantized/`` (the QuantizedModel). A
    model with ``loaded`` or ``streamed`` layers also gets ``<name>.weights.bin`` (every weight port's pass,
    :func:`fpgagen.core.weights_file.weight_image`), named and hashed in the manifest, and an MM2S-only AXI DMA per
    weight port (``axi_dma_w<k>``) in the .hwh.

    Args:
        model: the quantized generator.
        folder: created if missing.
        name: file stem, the preset by default.
        backend: a name registered with :func:`register_backend`.
        length_width: the DMA's ``c_sg_length_width`` (hls4ml's design uses 26; small values force the driver
            to split batches).
        options: passed to the backend factory.
        board: a board of :data:`fpgagen.overlays.boards.BOARDS`: the part, PS and addresses of the ``.hwh``, and the
            manifest's ``board``.
        faults: what the overlay does wrong, armed at every download
            (:class:`~fpgagen.host.virtual_board.faults.Faults`, a dict or a ``"key=value,..."`` string).
    """
    faults = Faults.of(faults)
    get_board(board)
    if backend_factory(backend) is None:
        raise ValueError(f"unknown kernel backend {backend!r}; registered: {', '.join(sorted(BACKENDS))}")
    if not 8 <= length_width <= 26:
        raise ValueError(f"c_sg_length_width must be within 8..26 (PG021), got {length_width}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = name or model.name
    weights = write_weights_file(model, folder / f"{name}.weights.bin")
    manifest = manifest_for(model, board=board, weights=weights)
    model.save(folder / f"{name}.quantized")
    manifest.save(folder / f"{name}.json")
    weight_dmas = tuple((p.dma, weights.beat_bits) for p in weights.ports) if weights else ()
    (folder / f"{name}.hwh").write_text(hwh_text(hierarchy=manifest.hierarchy, dma=manifest.dma,
                                                 kernel=manifest.kernel, length_width=length_width, board=board,
                                                 weight_dmas=weight_dmas))
    bit = folder / f"{name}.bit"
    bit.write_text(json.dumps({"format": VIRTUAL_BITSTREAM_FORMAT, "backend": backend,
                               "quantized_model": f"{name}.quantized", "options": options or {},
                               "faults": faults.as_dict()}, indent=1) + "\n")
    return bit


def write_weights_file(model: QuantizedModel, path: Path) -> WeightsFile | None:
    """Write the weights of ``model``'s loaded and streamed layers to ``path`` and return the manifest's entry for
    it (one DMA ``axi_dma_w<k>`` per weight port); None, and no file, when every weight is in the bitstream."""
    if all(getattr(lr, "placement", "rom") == "rom" for lr in model.layers):
        return None
    data, streams = weight_image(model)
    blob = data.tobytes()
    Path(path).write_bytes(blob)
    return WeightsFile.describe(Path(path).name, blob, model.weight_ports.bits, streams)


def read_virtual_bitstream(path: Path) -> dict:
    """The JSON of a virtual bitstream; VirtualBoardError for a real or damaged one."""
    path = Path(path)
    data = path.read_bytes()
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != VIRTUAL_BITSTREAM_FORMAT:
        raise VirtualBoardError(f"{path} is not a virtual bitstream (format {VIRTUAL_BITSTREAM_FORMAT!r}); a real "
                                "bitstream needs the board -- write a virtual overlay with write_virtual_overlay()")
    return doc


def hwh_board(hwh: Path) -> Board:
    """The registered board whose part the hardware handoff's SYSTEMINFO names (device, package, speed grade)."""
    info = next(ET.parse(hwh).getroot().iter("SYSTEMINFO"), None)
    found = None if info is None else (info.get("DEVICE"), info.get("PACKAGE"), info.get("SPEEDGRADE"))
    for board in BOARDS.values():
        if board.part_fields == found:
            return board
    raise VirtualBoardError(f"{hwh}: part {found} is not the part of a registered board "
                            f"({', '.join(f'{b.name}: {b.part}' for b in BOARDS.values())})")
