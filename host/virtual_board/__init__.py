"""The virtual board: a ``pynq.Device`` that stands in for a Zynq board (PYNQ-Z2, ZCU102, ZCU104, KV260) where there
is none.

Code written for the board -- ``pynq.Overlay(path)``, ``pynq.allocate``, ``pynq.lib.dma.DMA``, hls4ml's
``axi_stream_driver.py``, :class:`fpgagen.host.driver.GeneratorDriver` -- runs on it unchanged:

- **Registration.** :class:`VirtualBoard` subclasses ``pynq.Device`` with ``_probe_priority_`` 300 (after the
  embedded, remote and XRT devices), and its ``_probe_`` offers one VirtualBoard when pynq finds no board
  (``/proc/device-tree/chosen/pynq_board`` absent) or ``FPGAGEN_VIRTUAL_BOARD=1`` is set. Importing this package
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

The package, one module per part:

- :mod:`~fpgagen.host.virtual_board.kernel`: :class:`KernelBackend` (and how to write one), :class:`Beats`,
  :class:`GoldenBackend`, :class:`StalledBackend`, :class:`VirtualBoardError`.
- :mod:`~fpgagen.host.virtual_board.faults`: :class:`Faults` (stalls, a slow kernel, DMA error bits, dropped or
  extra TLAST) from the overlay, ``$FPGAGEN_VIRTUAL_FAULTS`` or ``board.faults``, and :class:`FaultyKernel`, which
  applies them to a kernel's streams; what the driver does about each.
- :mod:`~fpgagen.host.virtual_board.registry`: kernel backends by name (:func:`register_backend`); ``rtlsim`` is
  imported when first named.
- :mod:`~fpgagen.host.virtual_board.rtlsim_backend`: the ``rtlsim`` backend, the Verilator build of the RTL twin
  (:mod:`fpgagen.rtl.rtlsim`) as the kernel; workstation only, never imported here.
- :mod:`~fpgagen.host.virtual_board.memory`: :class:`HostMemory`.
- :mod:`~fpgagen.host.virtual_board.axi_dma`: :class:`AxiDmaModel`.
- :mod:`~fpgagen.host.virtual_board.hwh`: the overlay files (:func:`write_virtual_overlay`, :func:`hwh_text`,
  :func:`read_virtual_bitstream`, :func:`manifest_for`) and the PS views (:func:`ps_view`).
- :mod:`~fpgagen.host.virtual_board.device`: :class:`VirtualBoard` and :func:`activate`.

Everything public is importable from the package: ``from fpgagen.host import virtual_board as vb;
vb.activate(vb.VirtualBoard())``.
"""

from fpgagen.host.virtual_board.axi_dma import AxiDmaModel
from fpgagen.host.virtual_board.device import PYNQ_BOARD_NAMES, VirtualBoard, activate
from fpgagen.host.virtual_board.faults import FAULTS_ENV, Faults, FaultyKernel
from fpgagen.host.virtual_board.hwh import (
    DMA_CONFIG,
    DMA_REGISTERS,
    PS_PARAMETERS,
    PS_VIEWS,
    SLCR_BASE,
    SLCR_RANGE,
    VIRTUAL_BITSTREAM_FORMAT,
    ZU_PORT_PARAMETERS,
    PsView,
    hwh_board,
    hwh_text,
    manifest_for,
    ps_view,
    read_virtual_bitstream,
    write_virtual_overlay,
    zu_ps_parameters,
)
from fpgagen.host.virtual_board.kernel import Beats, GoldenBackend, KernelBackend, StalledBackend, VirtualBoardError
from fpgagen.host.virtual_board.memory import HostMemory
from fpgagen.host.virtual_board.registry import BACKENDS, backend_factory, register_backend

__all__ = [
    "BACKENDS", "DMA_CONFIG", "DMA_REGISTERS", "FAULTS_ENV", "PS_PARAMETERS", "PS_VIEWS", "PYNQ_BOARD_NAMES",
    "SLCR_BASE", "SLCR_RANGE", "VIRTUAL_BITSTREAM_FORMAT", "ZU_PORT_PARAMETERS", "AxiDmaModel", "Beats", "Faults",
    "FaultyKernel", "GoldenBackend", "HostMemory", "KernelBackend", "PsView", "StalledBackend", "VirtualBoard",
    "VirtualBoardError", "activate", "backend_factory", "hwh_board", "hwh_text", "manifest_for", "ps_view",
    "read_virtual_bitstream", "register_backend", "write_virtual_overlay", "zu_ps_parameters",
]
