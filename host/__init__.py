"""fpgagen.host: run a generator overlay from Python, on the board or on the virtual board.

- ``driver``: :class:`~fpgagen.host.driver.GeneratorDriver`, the PYNQ driver of the overlay's DMA + kernel
  hierarchy (``generate(z) -> images``, ``benchmark``), and :class:`~fpgagen.host.driver.GeneratorOverlay`.
  It imports nothing but numpy and pynq, so it runs on the board's own Python.
- ``virtual_board`` (a package): :class:`~fpgagen.host.virtual_board.VirtualBoard`, a ``pynq.Device`` that stands
  in for a Zynq board where there is none: it serves a generated ``.hwh``, emulates the AXI DMA registers and
  streams through a pluggable kernel backend (the golden model, or the Verilator build of the RTL twin). Code
  written for the board (``pynq.Overlay``, ``pynq.allocate``, ``pynq.lib.dma.DMA``) runs on it unchanged.

The overlay files the driver reads, beside each other: ``<name>.bit``, ``<name>.hwh`` and the stream manifest
``<name>.json`` (see :class:`~fpgagen.host.driver.OverlayManifest`).
"""
