"""fpgagen.rtl: the SystemVerilog twin of hls4ml's io_stream dataflow.

``rtl/sv/`` holds one synthesizable module per file (``fg_*.sv``): the stream stages (dense, conv2d with line
buffer, nearest upsample, repack, activations, float32 adapters), the fixed-point cast they share
(``fg_requant``) and the stream plumbing (``fg_axis_fifo``, ``fg_axis_reg``). Every stage is bit-exact with
:mod:`fpgagen.core.golden`. Python helpers:

- :mod:`fpgagen.rtl.params`: fixed-point types as HDL parameters (rounding/overflow codes), stage parallelism.
- :mod:`fpgagen.rtl.memfiles`: the ``$readmemh`` files of weights, biases and activation tables.
- :mod:`fpgagen.rtl.board_project`: the generated top as the board's kernel (``convert/build --kernel rtl``), a
  Vivado project over the block design :mod:`fpgagen.overlays.block_design` shares with hls4ml's kernel.
- :mod:`fpgagen.rtl.rtlsim`: the Verilator build of a generated top as a shared library with a C API, cached
  under the cache root; the virtual board's ``rtlsim`` kernel backend drives it.

Stream conventions inside the datapath: AXI-Stream valid/ready (``s_axis_t*`` in, ``m_axis_t*`` out, ``clk_i`` /
``rst_ni``); a beat is one pixel (all channels) or one vector; lanes of ``W`` bits, lane 0 in the LSBs; pixels
in raster order, channels last (hls4ml io_stream). ``tlast`` marks the last beat of a frame that ends a batch and
each stage carries it to the last beat of the matching output frame. Every ``m_axis_tvalid`` comes from a
register, so no stage's valid depends on its ready and chains have no combinational loops.
"""

from pathlib import Path

SV_DIR = Path(__file__).resolve().parent / "sv"


def sv_sources() -> list[Path]:
    """All library modules, sorted by name."""
    return sorted(SV_DIR.glob("*.sv"))


def sv_source(module: str) -> Path:
    """The file of one module (``fg_dense`` -> ``rtl/sv/fg_dense.sv``)."""
    path = SV_DIR / f"{module}.sv"
    if not path.is_file():
        raise FileNotFoundError(f"no RTL module {module!r} in {SV_DIR}")
    return path
