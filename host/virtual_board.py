"""The virtual board: a ``pynq.Device`` that stands in for a Zynq board (PYNQ-Z2, ZCU102, ZCU104, KV260) where there
is none.

Code written for the board -- ``pynq.Overlay(path)``, ``pynq.allocate``, ``pynq.lib.dma.DMA``, hls4ml's
``axi_stream_driver.py``, :class:`fpgagen.host.driver.GeneratorDriver` -- runs on it unchanged:

- **Registration.** :class:`VirtualBoard` subclasses ``pynq.Device`` with ``_probe_priority_`` 300 (after the
  embedded, remote and XRT devices), and its ``_probe_`` offers one VirtualBoard when pynq finds no board
  (``/proc/device-tree/chosen/pynq_board`` absent) or ``FPGAGEN_VIRTUAL_BOARD=1`` is set. Importing this module
  registers it; :func:`activate` also makes a given VirtualBoard ``Device.active_device`` when pynq has already
  probed.
- **Boards.** Every board of :data:`fpgagen.overlays.boards.BOARDS`: its part, processing system (``processing_system7``
  / ``zynq_ultra_ps_e``, with the clock registers pynq's ``Clocks`` reads: SLCR, or CRL_APB + CRF_APB) and the PS
  ports its block design wires (:func:`ps_view`), the DMA's register address and the DDR window buffers come
  from. A VirtualBoard starts as ``board`` (pynq-z2 by default) and takes the board of the first overlay it parses
  -- the part in the ``.hwh``, checked against the board its manifest names -- while nothing is programmed and no
  buffer is live.
- **Metadata.** :func:`write_virtual_overlay` writes ``<name>.hwh`` (:func:`hwh_text`: the Zynq PS with its
  clocks, the hierarchy ``hier_0`` holding ``axi_dma_0`` -- simple mode, its register map and parameters such as
  ``c_sg_length_width`` -- and the kernel cell ``myproject_axi_0``, wired as hls4ml's VivadoAccelerator block
  design wires them), ``<name>.json`` (the stream manifest) and ``<name>.bit``, a *virtual* bitstream: a small
  JSON naming the kernel backend and the QuantizedModel it runs. pynq parses the .hwh with pynqmetadata, as on
  the board.
- **Registers.** The device has pynq's ``REGISTER_RW`` capability: every MMIO access reaches
  :meth:`VirtualBoard.read_registers` / :meth:`~VirtualBoard.write_registers`, which decode the address to the
  emulated AXI DMA (:class:`AxiDmaModel`, PG021 simple mode) or the PS's clock registers (SLCR).
- **Memory.** ``allocate`` returns ``pynq.buffer.PynqBuffer`` s backed by host memory at physical addresses in
  the board's DDR window (:class:`HostMemory`); the DMA resolves addresses there, and an address that maps to no live
  buffer is a decode error (DMADecErr), as on the board.

Writing a kernel backend
------------------------
Behind the DMA sits a :class:`KernelBackend`: the AXI-Stream kernel. Subclass it and implement

- ``consume(beats) -> int``: take input beats (:class:`Beats`: 32-bit TDATA words + TLAST flags, in order) and
  return how many were accepted; fewer than offered is backpressure (TREADY low) and the DMA offers the rest
  again later.
- ``produce(max_beats) -> Beats``: hand over at most ``max_beats`` output beats available now, never past the
  first beat with TLAST (a packet end closes the S2MM transfer).
- optionally ``reset()`` (the PL is programmed again) and ``cycles`` (simulated clock cycles so far, or None).

The DMA calls ``consume`` when MM2S has data and ``produce`` when S2MM has room, repeating while either makes
progress, on every register access. A cycle-accurate backend (the Verilator RTL twin) advances its clock inside
these calls until it blocks; the golden backend computes whole images at once. Register it by name with
:func:`register_backend` so a virtual bitstream can name it.
"""

from __future__ import annotations

import bisect
import importlib
import itertools
import json
import os
import weakref
from dataclasses import dataclass, replace
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pynq
from pynq.buffer import PynqBuffer
from pynq.pl_server.device import Device

from fpgagen.core import golden
from fpgagen.core.quantized_model import QuantizedModel
from fpgagen.host.driver import OverlayError, OverlayManifest
from fpgagen.overlays.boards import BOARDS, DEFAULT_BOARD, Board, get_board

VIRTUAL_BITSTREAM_FORMAT = "fpgagen-virtual-bitstream-1"
# The names PYNQ's images give the boards (/proc/device-tree/chosen/pynq_board), i.e. pynq.Device.name.
PYNQ_BOARD_NAMES = {"pynq-z2": "Pynq-Z2", "zcu102": "ZCU102", "zcu104": "ZCU104", "kv260": "KV260"}
SLCR_BASE = 0xF8000000
SLCR_RANGE = 0x1000


class VirtualBoardError(RuntimeError):
    """The virtual board was asked to do something the real board could not do either (or would hang on)."""


# ============================================================================================== kernel backends
@dataclass
class Beats:
    """A run of AXI-Stream beats.

    Attributes:
        data: (n,) uint32 TDATA words (a float32 beat is its bit pattern).
        last: (n,) bool TLAST flags.
    """

    data: np.ndarray
    last: np.ndarray

    def __len__(self) -> int:
        return len(self.data)

    @property
    def floats(self) -> np.ndarray:
        """The words as float32 values."""
        return self.data.view(np.float32)

    @classmethod
    def empty(cls) -> Beats:
        return cls(np.zeros(0, np.uint32), np.zeros(0, bool))

    @classmethod
    def from_floats(cls, values: np.ndarray, last: np.ndarray) -> Beats:
        return cls(np.ascontiguousarray(values, np.float32).view(np.uint32), np.asarray(last, bool))


class KernelBackend:
    """The AXI-Stream kernel behind the virtual DMA (see the module docstring for how to write one)."""

    name = "abstract"

    def consume(self, beats: Beats) -> int:
        """Accept input beats (in order); return how many were taken."""
        raise NotImplementedError

    def produce(self, max_beats: int) -> Beats:
        """At most ``max_beats`` output beats ready now, stopping at the first TLAST."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget all state (the PL was programmed again)."""

    @property
    def cycles(self) -> int | None:
        """Simulated clock cycles so far, or None for a backend without a clock."""
        return None


class GoldenBackend(KernelBackend):
    """The golden-model kernel: **fpgagen.core.golden, not RTL** -- bit-exact results, no timing.

    Reproduces hls4ml's VivadoAccelerator wrapper ``myproject_axi``: reads ``latent_dim`` beats per image
    regardless of TLAST, casts each float32 beat to the input type (``input_t::value_type(in[i].data)``, via
    double, with the type's rounding and saturation), runs the network, and writes ``C*H*W`` beats per image in
    channels-last order with TLAST on the image's last beat iff a beat of its latent carried TLAST.
    Output is unbounded (never applies backpressure).

    Args:
        model: the QuantizedModel the overlay was built from.
    """

    name = "golden"

    def __init__(self, model: QuantizedModel):
        self.model = model
        self.latent_dim = model.latent_dim
        self.reset()

    def reset(self) -> None:
        self._pending = Beats.empty()
        self._out_data: list[np.ndarray] = []
        self._out_last: list[np.ndarray] = []
        self._out = Beats.empty()

    def consume(self, beats: Beats) -> int:
        pending = Beats(np.concatenate([self._pending.data, beats.data]),
                        np.concatenate([self._pending.last, beats.last]))
        whole = len(pending) // self.latent_dim * self.latent_dim
        if whole:
            self._run(Beats(pending.data[:whole], pending.last[:whole]))
        self._pending = Beats(pending.data[whole:], pending.last[whole:])
        return len(beats)

    def _run(self, beats: Beats) -> None:
        z = beats.floats.reshape(-1, self.latent_dim).astype(np.float64)
        if not np.isfinite(z).all():
            raise VirtualBoardError("golden backend: a latent beat is NaN or Inf; what the HLS cast does with "
                                    "non-finite floats is not modelled (the driver rejects them)")
        images = golden.generate(self.model, z)  # (n, C, H, W) float32
        n = len(images)
        out = np.ascontiguousarray(images.transpose(0, 2, 3, 1)).reshape(n, -1)
        last = np.zeros(out.shape, bool)
        last[:, -1] = beats.last.reshape(n, self.latent_dim).any(axis=1)
        self._out = Beats(np.concatenate([self._out.data, out.reshape(-1).view(np.uint32)]),
                          np.concatenate([self._out.last, last.reshape(-1)]))

    def produce(self, max_beats: int) -> Beats:
        take = min(max_beats, len(self._out))
        ends = np.flatnonzero(self._out.last[:take])
        if len(ends):
            take = int(ends[0]) + 1
        head = Beats(self._out.data[:take], self._out.last[:take])
        self._out = Beats(self._out.data[take:], self._out.last[take:])
        return head


class StalledBackend(KernelBackend):
    """Fault injection: a kernel that never consumes its input, or consumes it and never produces.

    Args:
        stall: ``"input"`` (TREADY stays low: MM2S never finishes) or ``"output"`` (TVALID stays low: MM2S
            finishes, S2MM never does).
    """

    name = "stalled"

    def __init__(self, stall: str = "output"):
        if stall not in ("input", "output"):
            raise ValueError(f"stall must be 'input' or 'output', got {stall!r}")
        self.stall = stall

    def consume(self, beats: Beats) -> int:
        return 0 if self.stall == "input" else len(beats)

    def produce(self, max_beats: int) -> Beats:
        return Beats.empty()


BACKENDS: dict[str, type] = {}
# Backends living in modules with heavier imports register themselves when first asked for.
BACKEND_MODULES = {"rtlsim": "fpgagen.host.rtl_backend"}


def backend_factory(name: str):
    """The factory registered as ``name``, importing its module first where it lives elsewhere."""
    if name not in BACKENDS and name in BACKEND_MODULES:
        importlib.import_module(BACKEND_MODULES[name])
    return BACKENDS.get(name)


def register_backend(name: str, factory) -> None:
    """Make ``factory(model: QuantizedModel, overlay_dir: Path, options: dict) -> KernelBackend`` available to
    virtual bitstreams under ``name``."""
    BACKENDS[name] = factory


register_backend("golden", lambda model, overlay_dir, options: GoldenBackend(model))


# ============================================================================================== host memory
class HostMemory:
    """Host memory with physical addresses: what ``allocate`` hands out and the DMA reads and writes.

    Buffers are placed first-fit, page aligned, in ``window`` (part of the board's DDR); a region is free again
    once its buffer (and every view of it) is garbage.
    """

    PAGE = 4096

    def __init__(self, window: tuple[int, int]):
        self.window = window
        self._starts: list[int] = []
        self._regions: dict[int, tuple[int, weakref.ref]] = {}

    @property
    def live_buffers(self) -> int:
        """How many allocated regions are still in use."""
        self._purge()
        return len(self._regions)

    def _purge(self) -> None:
        for start in [s for s, (_, ref) in self._regions.items() if ref() is None]:
            del self._regions[start]
            self._starts.remove(start)

    def allocate(self, nbytes: int) -> tuple[int, np.ndarray]:
        """(physical address, zeroed uint8 backing array) of a new region of ``nbytes``."""
        self._purge()
        size = max(self.PAGE, -(-nbytes // self.PAGE) * self.PAGE)
        addr = self.window[0]
        for start in self._starts:
            if start - addr >= size:
                break
            addr = max(addr, start + self._regions[start][0])
        if addr + size > self.window[1]:
            raise MemoryError(f"virtual board: no {size} contiguous bytes left in DDR window "
                              f"0x{self.window[0]:08x}-0x{self.window[1]:08x} (free buffers you no longer need)")
        raw = np.zeros(size, np.uint8)
        bisect.insort(self._starts, addr)
        self._regions[addr] = (size, weakref.ref(raw))
        return addr, raw

    def resolve(self, addr: int, nbytes: int) -> np.ndarray | None:
        """The live bytes at physical ``addr`` .. ``addr + nbytes``, or None where no buffer lies."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i < 0:
            return None
        start = self._starts[i]
        size, ref = self._regions[start]
        raw = ref()
        if raw is None or addr + nbytes > start + size:
            return None
        return raw[addr - start : addr - start + nbytes]


# ============================================================================================== AXI DMA
class _Channel:
    """State of one AXI DMA channel in direct register mode."""

    CR_RESET = 0x00010002
    SR_RESET = 0x00000001

    def __init__(self, name: str, offset: int):
        self.name, self.offset = name, offset
        self.reset()

    def reset(self) -> None:
        self.cr, self.sr = self.CR_RESET, self.SR_RESET
        self.addr = self.addr_msb = self.length = 0
        self.busy = False
        self.memory: np.ndarray | None = None  # uint32 view of the transfer's buffer
        self.done_beats = 0
        self.total_bytes = 0

    @property
    def running(self) -> bool:
        return not self.sr & 0x1

    def complete(self) -> None:
        self.busy = False
        self.memory = None
        self.sr |= 0x2 | 0x1000  # Idle, IOC_Irq

    def fail(self, bit: int) -> None:
        """Error: set the bit and Err_Irq, halt (RS cleared), abandon the transfer."""
        self.busy = False
        self.memory = None
        self.sr = (self.sr | bit | 0x4000 | 0x1) & ~0x2
        self.cr &= ~0x1


class AxiDmaModel:
    """The AXI DMA's register interface in direct register (simple) mode, after Xilinx PG021.

    Registers (byte offsets): MM2S_DMACR 0x00, MM2S_DMASR 0x04, MM2S_SA 0x18, MM2S_SA_MSB 0x1C, MM2S_LENGTH 0x28;
    S2MM_DMACR 0x30, S2MM_DMASR 0x34, S2MM_DA 0x48, S2MM_DA_MSB 0x4C, S2MM_LENGTH 0x58. DMACR: RS (bit 0),
    Reset (bit 2, resets both channels). DMASR: Halted (0), Idle (1), DMAIntErr (4), DMASlvErr (5), DMADecErr
    (6), IOC_Irq (12), Err_Irq (14); the IRQ bits clear on writing 1. Writing LENGTH of a running channel starts a
    transfer. MM2S sends TLAST on the last beat of each transfer. S2MM ends a transfer at TLAST (LENGTH then reads
    the bytes received); a buffer that fills before TLAST is DMAIntErr (a packet longer than LENGTH). A
    zero LENGTH is DMAIntErr, an address outside any buffer DMADecErr; errors halt the channel.

    Args:
        memory: the board's :class:`HostMemory`.
        kernel: the stream kernel between MM2S and S2MM.
        length_width: ``c_sg_length_width``, bits of the LENGTH registers.
    """

    def __init__(self, memory: HostMemory, kernel: KernelBackend, length_width: int = 26):
        self.memory = memory
        self.kernel = kernel
        self.length_mask = (1 << length_width) - 1
        self.mm2s = _Channel("MM2S", 0x00)
        self.s2mm = _Channel("S2MM", 0x30)
        self.injected: dict[str, int] = {}

    def _channel(self, offset: int) -> tuple[_Channel, int]:
        return (self.mm2s, offset) if offset < 0x30 else (self.s2mm, offset - 0x30)

    def read(self, offset: int) -> int:
        self.pump()
        ch, reg = self._channel(offset)
        return {0x00: ch.cr, 0x04: ch.sr, 0x18: ch.addr, 0x1C: ch.addr_msb, 0x28: ch.length}.get(reg, 0)

    def write(self, offset: int, value: int) -> None:
        ch, reg = self._channel(offset)
        if reg == 0x00:
            self._write_cr(ch, value)
        elif reg == 0x04:
            ch.sr &= ~(value & 0x7000)
        elif reg == 0x18:
            ch.addr = value
        elif reg == 0x1C:
            ch.addr_msb = value
        elif reg == 0x28:
            ch.length = value & self.length_mask
            if ch.running:
                self._start(ch)
        self.pump()

    def _write_cr(self, ch: _Channel, value: int) -> None:
        if value & 0x4:
            self.mm2s.reset()
            self.s2mm.reset()
            return
        ch.cr = (value & ~0x4) | 0x2
        if value & 0x1 and not ch.running and not ch.sr & 0x70:
            ch.sr &= ~0x3  # running, not idle until a transfer completes (as the hardware after RS)
        elif not value & 0x1 and ch.running:
            ch.busy = False
            ch.memory = None
            ch.sr = (ch.sr | 0x1) & ~0x2

    def _start(self, ch: _Channel) -> None:
        ch.sr &= ~0x2
        ch.done_beats = 0
        ch.total_bytes = ch.length
        injected = self.injected.pop(ch.name, None)
        if injected:
            ch.fail(injected)
            return
        if ch.length == 0:
            ch.fail(0x10)
            return
        address = (ch.addr_msb << 32) | ch.addr
        span = self.memory.resolve(address, ch.length)
        if span is None:
            ch.fail(0x40)
            return
        words = -(-ch.length // 4)
        padded = np.zeros(words * 4, np.uint8)
        if ch is self.mm2s:
            padded[: ch.length] = span
            ch.memory = padded.view(np.uint32)
        else:
            ch.memory = span
        ch.busy = True

    def pump(self) -> None:
        """Move beats MM2S -> kernel -> S2MM while anything moves."""
        progress = True
        while progress:
            progress = False
            ch = self.mm2s
            if ch.busy:
                n = len(ch.memory)
                last = np.zeros(n - ch.done_beats, bool)
                last[-1] = True
                taken = self.kernel.consume(Beats(ch.memory[ch.done_beats :], last))
                if taken:
                    ch.done_beats += taken
                    progress = True
                if ch.done_beats >= n:
                    ch.complete()
            ch = self.s2mm
            if ch.busy:
                room = ch.total_bytes // 4 - ch.done_beats
                beats = self.kernel.produce(room)
                if len(beats):
                    start = ch.done_beats * 4
                    ch.memory[start : start + 4 * len(beats)] = beats.data.astype("<u4").view(np.uint8)
                    ch.done_beats += len(beats)
                    progress = True
                    if beats.last[-1]:
                        ch.length = ch.done_beats * 4
                        ch.complete()
                    elif ch.done_beats * 4 >= ch.total_bytes:
                        ch.length = ch.done_beats * 4
                        ch.fail(0x10)


# ============================================================================================== metadata
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


DMA_REGISTERS = [  # name, offset, fields (name, bit, width)
    ("MM2S_DMACR", 0x00, [("RS", 0, 1), ("Reset", 2, 1), ("IOC_IrqEn", 12, 1), ("Err_IrqEn", 14, 1)]),
    ("MM2S_DMASR", 0x04, [("Halted", 0, 1), ("Idle", 1, 1), ("DMAIntErr", 4, 1), ("DMASlvErr", 5, 1),
                          ("DMADecErr", 6, 1), ("IOC_Irq", 12, 1), ("Err_Irq", 14, 1)]),
    ("MM2S_SA", 0x18, [("Source_Address", 0, 32)]),
    ("MM2S_SA_MSB", 0x1C, [("Source_Address", 0, 32)]),
    ("MM2S_LENGTH", 0x28, [("Length", 0, 26)]),
    ("S2MM_DMACR", 0x30, [("RS", 0, 1), ("Reset", 2, 1), ("IOC_IrqEn", 12, 1), ("Err_IrqEn", 14, 1)]),
    ("S2MM_DMASR", 0x34, [("Halted", 0, 1), ("Idle", 1, 1), ("DMAIntErr", 4, 1), ("DMASlvErr", 5, 1),
                          ("DMADecErr", 6, 1), ("IOC_Irq", 12, 1), ("Err_Irq", 14, 1)]),
    ("S2MM_DA", 0x48, [("Destination_Address", 0, 32)]),
    ("S2MM_DA_MSB", 0x4C, [("Destination_Address", 0, 32)]),
    ("S2MM_LENGTH", 0x58, [("Length", 0, 26)]),
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


def _axis_ports(prefix: str, master: bool, peer: tuple[str, str]):
    out, inn = ("O", "I") if master else ("I", "O")
    return [(f"{prefix}_tdata", out, 32, "undef", [(peer[0], f"{peer[1]}_TDATA")]),
            (f"{prefix}_tvalid", out, 1, "undef", [(peer[0], f"{peer[1]}_TVALID")]),
            (f"{prefix}_tready", inn, 1, "undef", [(peer[0], f"{peer[1]}_TREADY")]),
            (f"{prefix}_tlast", out, 1, "undef", [(peer[0], f"{peer[1]}_TLAST")])]


def hwh_text(design: str = "design_1", hierarchy: str = "hier_0", dma: str = "axi_dma_0",
             kernel: str = "myproject_axi_0", length_width: int = 26, board: str = DEFAULT_BOARD) -> str:
    """The hardware handoff of the accelerator's block design on ``board``, as far as pynq reads it.

    SYSTEMINFO names the board's part. Modules: the PS (pynq-z2: ``processing_system7_0``, FCLK_CLK0, M_AXI_GP0
    mapping the DMA's registers at 0x40400000, S_AXI_HP0 to DDR; Zynq UltraScale+: ``zynq_ultra_ps_e_0``,
    pl_clk0, M_AXI_HPM0_FPD mapping them at 0xA0000000, S_AXI_HP0_FPD to DDR -- on zcu102, hls4ml's design,
    S_AXI_HPC0_FPD, with M_AXI_HPM1_FPD also wired: :func:`ps_view`), ``<hierarchy>/<dma>``
    (xilinx.com:ip:axi_dma:7.1, direct register mode, 32-bit streams, ``c_sg_length_width`` = ``length_width``,
    its register map; masters M_AXI_MM2S / M_AXI_S2MM mapping DDR) and ``<hierarchy>/<kernel>``
    (xilinx.com:hls:myproject_axi:1.0, ports in_r / out_r, ap_ctrl_none: no registers), the DMA's M_AXIS_MM2S wired
    to in_r and out_r to S_AXIS_S2MM -- hls4ml's VivadoAccelerator design and fpgagen's Zynq UltraScale+ design
    name them alike.
    """
    spec = get_board(board)
    view = ps_view(spec)
    dma_base, dma_high = spec.dma_base, spec.dma_base + spec.dma_range - 1
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
    ET.SubElement(ET.SubElement(ps, "MEMORYMAP"), "MEMRANGE", ADDRESSBLOCK="Reg", BASENAME="C_BASEADDR",
                  BASEVALUE=f"0x{dma_base:08X}", HIGHNAME="C_HIGHADDR", HIGHVALUE=f"0x{dma_high:08X}",
                  INSTANCE=dma_inst, IS_DATA="TRUE", IS_INSTRUCTION="TRUE", MASTERBUSINTERFACE=view.master,
                  MEMTYPE="REGISTER", SLAVEBUSINTERFACE="S_AXI_LITE")

    config = {**DMA_CONFIG, "c_sg_length_width": length_width}
    dma_params = {**{k.upper(): v for k, v in config.items()}, **config, "C_FAMILY": view.hwh_arch,
                  "Component_Name": f"{design}_{dma}_0", "C_BASEADDR": f"0x{dma_base:08X}",
                  "C_HIGHADDR": f"0x{dma_high:08X}"}
    dm, _ = _module(modules, dma_full, "xilinx.com:ip:axi_dma:7.1", "axi_dma", dma_params, MODCLASS="PERIPHERAL")
    blocks = ET.SubElement(ET.SubElement(dm, "ADDRESSBLOCKS"), "ADDRESSBLOCK", ACCESS="read-write",
                           INTERFACE="S_AXI_LITE", NAME="Reg", RANGE="4096", USAGE="register")
    regs = ET.SubElement(blocks, "REGISTERS")
    for name, offset, fields in DMA_REGISTERS:
        r = ET.SubElement(regs, "REGISTER", NAME=name)
        for k, v in (("ADDRESS_OFFSET", f"0x{offset:x}"), ("SIZE", "32"), ("ACCESS", "read-write"),
                     ("IS_ENABLED", "true")):
            ET.SubElement(r, "PROPERTY", NAME=k, VALUE=v)
        fs = ET.SubElement(r, "FIELDS")
        for fname, bit, width in fields:
            width = length_width if fname == "Length" else width
            f = ET.SubElement(fs, "FIELD", NAME=fname)
            for k, v in (("BIT_OFFSET", str(bit)), ("BIT_WIDTH", str(width)), ("ACCESS", "read-write")):
                ET.SubElement(f, "PROPERTY", NAME=k, VALUE=v)
    _ports(dm, [("s_axi_lite_aclk", "I", 1, "clk", [(ps_inst, view.clock_pin)]),
                *_axis_ports("m_axis_mm2s", True, (kern_inst, "in_r")),
                *_axis_ports("s_axis_s2mm", False, (kern_inst, "out_r"))], clock_hz)
    buses = ET.SubElement(dm, "BUSINTERFACES")
    _bus(buses, "S_AXI_LITE", AXIMM, "SLAVE")
    _bus(buses, "M_AXI_MM2S", AXIMM, "MASTER")
    _bus(buses, "M_AXI_S2MM", AXIMM, "MASTER")
    _bus(buses, "M_AXIS_MM2S", AXIS, "MASTER", {s: f"m_axis_mm2s_{s.lower()}" for s in
                                                ("TDATA", "TVALID", "TREADY", "TLAST")})
    _bus(buses, "S_AXIS_S2MM", AXIS, "SLAVE", {s: f"s_axis_s2mm_{s.lower()}" for s in
                                               ("TDATA", "TVALID", "TREADY", "TLAST")})
    ddr = ET.SubElement(dm, "MEMORYMAP")
    for master in ("M_AXI_MM2S", "M_AXI_S2MM"):
        ET.SubElement(ddr, "MEMRANGE", ADDRESSBLOCK=view.ddr_block, BASENAME="C_BASEADDR", BASEVALUE="0x00000000",
                      HIGHNAME="C_HIGHADDR", HIGHVALUE=f"0x{view.ddr_high:08X}", INSTANCE=ps_inst, IS_DATA="TRUE",
                      IS_INSTRUCTION="TRUE", MASTERBUSINTERFACE=master, MEMTYPE="MEMORY",
                      SLAVEBUSINTERFACE=view.slave)

    km, _ = _module(modules, kern_full, kern_vlnv, kernel.rsplit("_", 1)[0], {"Component_Name": f"{design}_{kernel}"},
                    MODCLASS="PERIPHERAL")
    kernel_ports = [("ap_clk", "I", 1, "clk", [(ps_inst, view.clock_pin)])]
    for prefix, forward, peer in (("in_r", "I", "m_axis_mm2s"), ("out_r", "O", "s_axis_s2mm")):
        backward = "O" if forward == "I" else "I"
        for sig in ("TDATA", "TVALID", "TREADY", "TLAST"):
            kernel_ports.append((f"{prefix}_{sig}", backward if sig == "TREADY" else forward,
                                 32 if sig == "TDATA" else 1, "undef", [(dma_inst, f"{peer}_{sig.lower()}")]))
    _ports(km, kernel_ports, clock_hz)
    buses = ET.SubElement(km, "BUSINTERFACES")
    _bus(buses, "in_r", AXIS, "SLAVE", {s: f"in_r_{s}" for s in ("TDATA", "TVALID", "TREADY", "TLAST")})
    _bus(buses, "out_r", AXIS, "MASTER", {s: f"out_r_{s}" for s in ("TDATA", "TVALID", "TREADY", "TLAST")})

    ET.indent(root, "  ")
    return '<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def manifest_for(model: QuantizedModel, **fields) -> OverlayManifest:
    """The stream manifest of an overlay built from ``model`` (fields override the hls4ml defaults)."""
    return OverlayManifest(preset=model.preset, latent_dim=model.latent_dim,
                           image_shape=tuple(int(v) for v in model.image_shape), **fields)


def write_virtual_overlay(model: QuantizedModel, folder: Path, name: str | None = None, backend: str = "golden",
                          length_width: int = 26, options: dict | None = None, board: str = DEFAULT_BOARD) -> Path:
    """Write a virtual-board overlay of ``model`` into ``folder``; return the path of its ``.bit``.

    Files: ``<name>.bit`` (a virtual bitstream: JSON naming ``backend`` and the QuantizedModel), ``<name>.hwh``
    (:func:`hwh_text`), ``<name>.json`` (the stream manifest) and ``<name>.quantized/`` (the QuantizedModel).

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
    """
    get_board(board)
    if backend_factory(backend) is None:
        raise ValueError(f"unknown kernel backend {backend!r}; registered: {', '.join(sorted(BACKENDS))}")
    if not 8 <= length_width <= 26:
        raise ValueError(f"c_sg_length_width must be within 8..26 (PG021), got {length_width}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = name or model.preset
    manifest = manifest_for(model, board=board)
    model.save(folder / f"{name}.quantized")
    manifest.save(folder / f"{name}.json")
    (folder / f"{name}.hwh").write_text(hwh_text(hierarchy=manifest.hierarchy, dma=manifest.dma,
                                                 kernel=manifest.kernel, length_width=length_width, board=board))
    bit = folder / f"{name}.bit"
    bit.write_text(json.dumps({"format": VIRTUAL_BITSTREAM_FORMAT, "backend": backend,
                               "quantized_model": f"{name}.quantized", "options": options or {}}, indent=1) + "\n")
    return bit


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


# ============================================================================================== the device
def hwh_board(hwh: Path) -> Board:
    """The registered board whose part the hardware handoff's SYSTEMINFO names (device, package, speed grade)."""
    info = next(ET.parse(hwh).getroot().iter("SYSTEMINFO"), None)
    found = None if info is None else (info.get("DEVICE"), info.get("PACKAGE"), info.get("SPEEDGRADE"))
    for board in BOARDS.values():
        if board.part_fields == found:
            return board
    raise VirtualBoardError(f"{hwh}: part {found} is not the part of a registered board "
                            f"({', '.join(f'{b.name}: {b.part}' for b in BOARDS.values())})")


def _forget_pynq_clocks() -> None:
    """Make pynq's ``Clocks`` read the current device's registers again.

    ``pynq.Clocks`` builds its implementation (Zynq-7000 SLCR or Zynq UltraScale+ CRL/CRF) once per process, for the
    first device it sees, and ``Clocks.set_device`` does not drop it; a real board never changes, a virtual one
    does. Dropping the cached instance (pynq's ``_real_instance``) makes the next access build it for
    ``Clocks.device``, which ``pynq.Overlay`` sets before it programs the clocks.
    """
    if "_real_instance" in vars(pynq.Clocks):
        del pynq.Clocks._real_instance


class VirtualBoard(Device):
    """A Zynq board without the board: ``pynq.Device`` over an emulated AXI DMA and a kernel backend.

    Args:
        tag: pynq's device tag (``virtual-<board>`` by default).
        backend: overrides the backend a virtual bitstream names: a KernelBackend instance, or a name
            registered with :func:`register_backend`.
        board: the board it starts as (:data:`fpgagen.overlays.boards.BOARDS`); it takes the board of the first
            overlay it parses while nothing is programmed and no buffer is live.

    Attributes:
        board: the :class:`fpgagen.overlays.boards.Board` it stands in for.
        kernel: the kernel backend of the programmed overlay (None before a download).
        dma: the :class:`AxiDmaModel` of the programmed overlay.
        memory: the :class:`HostMemory` buffers are allocated from.
        register_log: when a list, every register access is appended as (op, address, value).
    """

    _probe_priority_ = 300

    @classmethod
    def _probe_(cls):
        forced = os.environ.get("FPGAGEN_VIRTUAL_BOARD", "") not in ("", "0")
        return [cls()] if forced or not pynq.ps.ON_TARGET else []

    def __init__(self, tag: str | None = None, backend: KernelBackend | str | None = None,
                 board: str = DEFAULT_BOARD):
        super().__init__(tag or f"virtual-{board}")
        self.capabilities = {"REGISTER_RW": True, "MEMORY_MAPPED": False}
        self.backend_override = backend
        self.kernel: KernelBackend | None = None
        self.dma: AxiDmaModel | None = None
        self._dma_window: tuple[int, int] | None = None
        self._become(get_board(board))
        self._ids = itertools.count(1)
        self.bitfile_name = None
        self.timestamp = ""
        self.register_log: list | None = None
        self.clear_dict()

    def __repr__(self) -> str:
        kernel = self.kernel.name if self.kernel else "not programmed"
        return f"<VirtualBoard {self.tag} ({self.board.name}): {kernel}>"

    def _become(self, board: Board) -> None:
        """Stand in for ``board``: its name and CPU architecture, DDR window and PS clock registers."""
        self.board = board
        self.name = PYNQ_BOARD_NAMES.get(board.name, board.name)
        self.arch = board.arch  # what pynq's Clocks and PS code key on
        self.memory = HostMemory(board.ddr_window)
        self._ps_registers = {base: (size, dict(values))
                              for base, (size, values) in PS_VIEWS[board.ps].clock_registers.items()}
        _forget_pynq_clocks()

    def _adopt_board_of(self, hwh: Path) -> None:
        """Become the board the overlay was built for: the part of its .hwh, checked against its manifest."""
        board = hwh_board(hwh)
        try:
            named = OverlayManifest.load(hwh.with_suffix(".json")).board
        except (FileNotFoundError, OverlayError):
            named = None  # no stream manifest: the driver says so when it binds
        if named is not None and named != board.name:
            raise VirtualBoardError(f"{hwh}: the hardware handoff's part {board.part} is {board.name}'s, but the "
                                    f"overlay's manifest says board {named!r}")
        if board == self.board:
            return
        if self.dma is not None or self.memory.live_buffers:
            raise VirtualBoardError(f"this virtual board is a {self.board.name} with an overlay or buffers in use; an "
                                    f"overlay for {board.name} needs a board of its own: "
                                    f"activate(VirtualBoard(board={board.name!r}))")
        self._become(board)

    # ------------------------------------------------------------------------------------------ pynq.Device
    def get_bitfile_metadata(self, bitfile_name: str, partial: bool = False):
        """Parse ``<bitfile>.hwh`` with pynqmetadata, as pynq does on the board."""
        from pynqmetadata.frontends import Metadata
        from pynqmetadata.views.runtime import RuntimeMetadataParser

        hwh = Path(bitfile_name).with_suffix(".hwh")
        if not hwh.is_file():
            raise FileNotFoundError(f"{hwh} does not exist: pynq needs the hardware handoff beside the bitstream")
        try:
            parser = RuntimeMetadataParser(Metadata(input=str(hwh)))
        except Exception as e:  # ElementTree / pynqmetadata errors
            raise VirtualBoardError(f"{hwh}: not a hardware handoff pynq can read ({type(e).__name__}: {e})") from e
        self._adopt_board_of(hwh)
        return parser

    def download(self, bitstream, parser=None):
        """'Program the PL': read the virtual bitstream, build the kernel backend and the DMA model."""
        doc = read_virtual_bitstream(bitstream.bitfile_name)
        parser = parser or self.get_bitfile_metadata(bitstream.bitfile_name)
        dmas = {k: v for k, v in parser.ip_dict.items() if str(v.get("type", "")).startswith("xilinx.com:ip:axi_dma:")}
        if len(dmas) != 1:
            raise VirtualBoardError(f"{bitstream.bitfile_name}: the virtual board emulates exactly one AXI DMA, the "
                                    f"hardware handoff has {len(dmas)} ({', '.join(dmas) or 'none'})")
        (_, desc), = dmas.items()
        self.kernel = self._make_kernel(doc, Path(bitstream.bitfile_name).parent)
        self.dma = AxiDmaModel(self.memory, self.kernel, int(desc["parameters"].get("c_sg_length_width", 26)))
        self._dma_window = (int(desc["phys_addr"]), int(desc["addr_range"]))
        super().post_download(bitstream, parser, self.name)

    def _make_kernel(self, doc: dict, folder: Path) -> KernelBackend:
        override = self.backend_override
        if isinstance(override, KernelBackend):
            override.reset()
            return override
        name = override or doc.get("backend", "golden")
        if backend_factory(name) is None:
            raise VirtualBoardError(f"kernel backend {name!r} is not registered ({', '.join(sorted(BACKENDS))})")
        model = QuantizedModel.load(folder / doc["quantized_model"])
        return BACKENDS[name](model, folder, doc.get("options", {}))

    def gen_cache(self, bitstream, parser=None):
        """No metadata cache: the virtual board keeps nothing between processes."""

    def allocate(self, shape, dtype, cacheable=0, **kwargs):
        """A PynqBuffer in host memory at a physical address the emulated DMA resolves."""
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        address, raw = self.memory.allocate(nbytes)
        return PynqBuffer(shape, dtype, buffer=raw, device=self, device_address=address,
                          bo=next(self._ids), coherent=not cacheable)

    def flush(self, bo, offset, ptr, size):
        """Cache flush before the DMA reads: host memory is coherent here."""

    def invalidate(self, bo, offset, ptr, size):
        """Cache invalidate after the DMA writes: host memory is coherent here."""

    # ------------------------------------------------------------------------------------------ registers
    def _decode(self, address: int, op: str):
        if self._dma_window and self._dma_window[0] <= address < sum(self._dma_window):
            return "dma", address - self._dma_window[0]
        for base, (size, _) in self._ps_registers.items():
            if base <= address < base + size:
                return base, address - base
        if self.dma is None and self.board.dma_base <= address < self.board.dma_base + self.board.dma_range:
            raise VirtualBoardError("virtual board: the PL is not programmed (load the overlay with download=True)")
        raise VirtualBoardError(f"virtual board: {op} at 0x{address:08x} hits no slave (the real board would "
                                "hang or raise a bus error)")

    def read_registers(self, address: int, length: int) -> bytes:
        """pynq's REGISTER_RW read hook: ``length`` bytes at physical ``address``."""
        words = []
        for a in range(address, address + length, 4):
            target, offset = self._decode(a, "read")
            value = self.dma.read(offset) if target == "dma" else self._ps_registers[target][1].get(offset, 0)
            words.append(value & 0xFFFFFFFF)
            if self.register_log is not None:
                self.register_log.append(("read", a, value))
        return np.array(words, "<u4").tobytes()[:length]

    def write_registers(self, address: int, data: bytes) -> None:
        """pynq's REGISTER_RW write hook."""
        values = np.frombuffer(bytes(data).ljust(-(-len(data) // 4) * 4, b"\0"), "<u4")
        for i, value in enumerate(values):
            a = address + 4 * i
            target, offset = self._decode(a, "write")
            if self.register_log is not None:
                self.register_log.append(("write", a, int(value)))
            if target == "dma":
                self.dma.write(offset, int(value))
            else:
                self._ps_registers[target][1][offset] = int(value)

    # ------------------------------------------------------------------------------------------ test hooks
    def replace_kernel(self, backend: KernelBackend) -> None:
        """Put ``backend`` behind the DMA of the programmed overlay (e.g. a :class:`StalledBackend`)."""
        if self.dma is None:
            raise VirtualBoardError("virtual board: no overlay programmed yet")
        self.kernel = self.dma.kernel = backend

    def inject_dma_error(self, channel: str, error: str = "slave") -> None:
        """Make the next transfer on ``channel`` (``"mm2s"`` / ``"s2mm"``) fail with ``error``: ``"internal"``
        (DMAIntErr), ``"slave"`` (DMASlvErr) or ``"decode"`` (DMADecErr)."""
        bits = {"internal": 0x10, "slave": 0x20, "decode": 0x40}
        if channel.upper() not in ("MM2S", "S2MM") or error not in bits:
            raise ValueError(f"channel must be mm2s/s2mm and error one of {', '.join(bits)}")
        if self.dma is None:
            raise VirtualBoardError("virtual board: no overlay programmed yet")
        self.dma.injected[channel.upper()] = bits[error]

    @property
    def kernel_cycles(self) -> int | None:
        """Simulated kernel cycles so far (None for the golden backend)."""
        return self.kernel.cycles if self.kernel else None


def activate(board: VirtualBoard | None = None) -> VirtualBoard:
    """Make ``board`` (a new VirtualBoard by default) pynq's active device and list it in ``Device.devices``.

    Needed only when pynq probed devices before this module was imported, or to start from a fresh board.
    """
    board = board or VirtualBoard()
    _forget_pynq_clocks()
    Device._devices = [d for d in Device.devices if not isinstance(d, VirtualBoard)] + [board]
    Device.active_device = board
    return board

