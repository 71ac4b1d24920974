"""The boards fpgagen deploys to: one registry, read by the accelerator project, the virtual board and the benches.

A :class:`Board` holds what each stage needs to know about a Zynq board: the FPGA part and its yosys family, the
fabric's budgets (from the Xilinx data sheets), the fabric clock, the processing system, where the AXI DMA's
registers sit and which DDR window the host's buffers come from, and how many multipliers fpgagen's reuse-factor
chooser may spend on it.

Adding a board
--------------
Append a ``Board`` to :data:`BOARDS` (via :func:`register_board`). Its ``hls4ml_board`` picks the block design: a
board hls4ml 1.3.0's VivadoAccelerator knows (pynq-z2, zcu102) uses hls4ml's own template; any other board names
the hls4ml board with the same processing system (zcu102 for ``zynq_ultra_ps_e``) and gets fpgagen's template
``board_designs/<ps>.tcl`` filled from the Board (see :mod:`fpgagen.overlays.block_design`; the RTL kernel
(:mod:`fpgagen.rtl.board_project`) takes fpgagen's template on every board). The virtual board stands in
for any registered board.

On-chip memory and weights
--------------------------
Every board is a memory hierarchy for weights (:mod:`fpgagen.core.folding`): ``rom`` (block RAM the bitstream
initialises: hls4ml's constant arrays, the RTL's ``$readmemh``), ``loaded`` (on-chip RAM written once after the
overlay loads: the only way UltraRAM holds weights, as it has no bitstream initialisation -- UG573, UG901: "the
UltraRAM powers up in a 0 condition") and ``streamed`` (read from DDR over an HP port for every image:
:attr:`Board.ports`, the port width and the DDR's derated bandwidth). :meth:`Board.folding_budget` hands all of it
to the folding, which keeps every layer in ROM when that fits and otherwise moves the largest layers off.
:func:`board_fit` checks a quantized model's placements against a board.

A preset's default board (:func:`board_for_weights`) is still the first whose block RAM holds all its weights as
ROMs, the placement every back end realises; ``--board`` asks for another, where the folding places weights off
the ROMs as it needs (dcgan28 on the PYNQ-Z2 streams its two largest layers).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from fpgagen.core.folding import Budget, WeightPorts, least_block_ram, pipeline_costs
from fpgagen.core.quantized_model import QuantizedModel

BRAM36_BITS = 36 * 1024  # a RAMB36 (E1 on 7-series, E2 on UltraScale+): 32 Kb data + 4 Kb parity
# LUTs yosys spends per multiplier on the multiply-add logic around it (adder trees, accumulators, casts), as
# measured stage by stage (bench/rtl_performance.py, docs/results.md): 7-series 23 (mnist28's conv2d_4, 192
# multipliers, 4,501 LUT), UltraScale+ 95 to 98 (dcgan28's transposed convolutions: yosys' xcup mapping builds the
# 256-product sums as carry-save logic). Rounded up: an estimate for the chooser, which yosys then checks.
LUT_PER_MULTIPLIER = {"xc7": 25.0, "xcup": 100.0}
# UG949: above ~80% of DSP, block RAM or LUTs, placement and timing closure get hard. It is also the share of the
# BRAM36 and LUTs the folding plans for: the rest is for the line buffers, FIFOs, activations, float conversions and
# the DMA.
UG949_GUIDELINE = 0.8
# The RTL kernel spends LUTs on multipliers, so its folding plans the multiply-add logic within less where the estimate
# leaves the rest of the design out: on xc7, UG949's 80% less the rest (line buffers, activations, FIFOs, float
# conversions), which yosys measured at 19% of the PYNQ-Z2's LUTs in mnist28's RTL kernel (bench/kernels.py: 10,176
# of 53,200 outside its three MAC stages); on xcup the estimate's 100 LUTs per multiplier already cover it (dcgan28's
# RTL kernel planned to 80% of the ZCU102's LUTs measured 77.6% in all).
RTL_MAC_LUT_SHARE = {"xc7": 0.6, "xcup": UG949_GUIDELINE}
URAM288_BITS = 288 * 1024  # an URAM288: 4K x 72
# The share of the DDR's peak bandwidth a stream of reads gets: UG585 (Zynq-7000 TRM, the DDR controller's
# efficiency) puts it near 75%; the same derating serves the UltraScale+ PS DDR controller.
DDR_EFFICIENCY = 0.75


@dataclass(frozen=True)
class Board:
    """A Zynq board fpgagen can deploy to.

    Attributes:
        name: registry key, e.g. ``"zcu104"``.
        title: the board's product name.
        part: FPGA part (Vivado's name) of the kernel's C synthesis and of the block design.
        board_part: Vivado board part (``vendor:board:part0:version``; fpgagen's template takes the newest
            installed version of ``vendor:board:part0``).
        yosys_family: ``synth_xilinx -family`` of the part: ``"xc7"`` or ``"xcup"``.
        ps: processing-system IP of the block design: ``"processing_system7"`` or ``"zynq_ultra_ps_e"``.
        dsp: DSP slices (DSP48E1 on 7-series, DSP48E2 on UltraScale+).
        bram36: 36 Kb block RAMs.
        uram: 288 Kb UltraRAMs (0 where the part has none).
        lut: 6-input LUTs.
        ff: flip-flops.
        fabric_clock_mhz: the kernel's clock (FCLK_CLK0 / pl_clk0) and the HLS target.
        dma_base: physical address of the AXI DMA's registers (``hier_0/axi_dma_0``).
        dma_range: size of the DMA's register window.
        ddr_window: (start, end) physical addresses the host's DMA buffers come from (the Linux CMA area PYNQ
            allocates from lies there).
        multiplier_budget: multipliers the reuse-factor chooser may spend (at most ``dsp``; the registered boards
            give it every DSP slice, the LUT and BRAM estimates of :meth:`folding_budget` keep the headroom).
        hls4ml_board: the hls4ml VivadoAccelerator board whose project fpgagen writes (the same board, or one with
            the same processing system whose block design fpgagen then replaces).
        hp_port_bits: data width of an AXI HP port into the PS DDR (64 on Zynq-7000, UG585; 128 on UltraScale+).
        weight_ports: HP ports free for weight streams, one streamed layer each (the latent/image DMA keeps one).
        ddr_peak_mb_s: the PS DDR's peak bandwidth (bus width x transfer rate), before :data:`DDR_EFFICIENCY`.
    """

    name: str
    title: str
    part: str
    board_part: str
    yosys_family: str
    ps: str
    dsp: int
    bram36: int
    uram: int
    lut: int
    ff: int
    fabric_clock_mhz: float
    dma_base: int
    dma_range: int
    ddr_window: tuple[int, int]
    multiplier_budget: int
    hls4ml_board: str
    hp_port_bits: int
    weight_ports: int
    ddr_peak_mb_s: float

    def __post_init__(self):
        if self.yosys_family not in ("xc7", "xcup"):
            raise ValueError(f"board {self.name}: yosys_family must be 'xc7' or 'xcup', got {self.yosys_family!r}")
        if self.ps not in PS_ARCH:
            raise ValueError(f"board {self.name}: ps must be one of {', '.join(PS_ARCH)}, got {self.ps!r}")
        if not 0 < self.multiplier_budget <= self.dsp:
            raise ValueError(f"board {self.name}: multiplier_budget {self.multiplier_budget} outside 1..{self.dsp}")
        start, end = self.ddr_window
        if not 0 <= start < end or start % 4096 or end % 4096:
            raise ValueError(f"board {self.name}: ddr_window must be page aligned start < end, got {self.ddr_window}")
        _ = self.ports  # WeightPorts checks the port width, count and bandwidth

    @property
    def ddr_mb_s(self) -> float:
        """The DDR bandwidth a stream of reads gets: the peak derated by :data:`DDR_EFFICIENCY`."""
        return self.ddr_peak_mb_s * DDR_EFFICIENCY

    @property
    def ports(self) -> WeightPorts:
        """The weight ports at the fabric clock: :attr:`weight_ports` HP ports of :attr:`hp_port_bits` per cycle,
        together at most :attr:`ddr_mb_s` in bits per fabric clock."""
        return WeightPorts(self.hp_port_bits, self.weight_ports, self.ddr_mb_s * 8 / self.fabric_clock_mhz)

    @property
    def dsp_primitive(self) -> str:
        """``"DSP48E1"`` (7-series) or ``"DSP48E2"`` (UltraScale+)."""
        return "DSP48E1" if self.yosys_family == "xc7" else "DSP48E2"

    @property
    def arch(self) -> str:
        """The CPU architecture of the board's processing system, as pynq names it (``armv7l`` / ``aarch64``)."""
        return PS_ARCH[self.ps]

    @property
    def bram_bits(self) -> int:
        """Bits of block RAM (parity bits included, as hls4ml's ROMs can use them)."""
        return self.bram36 * BRAM36_BITS

    @property
    def uram_bits(self) -> int:
        """Bits of UltraRAM."""
        return self.uram * URAM288_BITS

    @property
    def on_chip_memory_bits(self) -> int:
        """Block RAM and UltraRAM bits together."""
        return self.bram_bits + self.uram_bits

    @property
    def rom_bits(self) -> int:
        """Bits that can hold bitstream-initialised constants such as hls4ml's weights: the block RAM."""
        return self.bram_bits

    def weight_dma_base(self, port: int) -> int:
        """Register address of the AXI DMA feeding weight port ``port``: the windows after the data DMA's (the block
        design's and the virtual board's)."""
        return self.dma_base + (port + 1) * self.dma_range

    def folding_budget(self, placement: str = "auto", kernel: str = "hls") -> Budget:
        """What the reuse-factor chooser may spend here (:class:`fpgagen.core.folding.Budget`): the multiplier
        budget, :data:`UG949_GUIDELINE` of the BRAM36 for the weight ROMs, of the UltraRAM for loaded weights and
        of the LUTs for the multiply-add logic at :data:`LUT_PER_MULTIPLIER` of this family, and the weight ports
        for streamed weights, used as the placement policy ``placement`` allows
        (:data:`fpgagen.core.folding.PLACEMENT_POLICIES`), for ``kernel`` (:data:`fpgagen.core.folding.KERNELS`;
        ``rtl``: the multiplier budget counts DSP slices, two products to one where they fit this family's DSP, and
        LUT multipliers come out of the LUT budget, :data:`RTL_MAC_LUT_SHARE` of the LUTs). A policy this board cannot
        take (``loaded`` without UltraRAM) is a ValueError naming the board."""
        share = UG949_GUIDELINE
        try:
            lut_share = RTL_MAC_LUT_SHARE[self.yosys_family] if kernel == "rtl" else share
            return Budget(self.multiplier_budget, bram36=self.bram36 * share, lut=int(self.lut * lut_share),
                          lut_per_multiplier=LUT_PER_MULTIPLIER[self.yosys_family],
                          uram=self.uram * share if self.uram else None, ports=self.ports, placement=placement,
                          kernel=kernel, family=self.yosys_family)
        except ValueError as e:
            raise ValueError(f"{self.name}: {e}") from None

    @property
    def placement_policies(self) -> tuple[str, ...]:
        """The placement policies this board can take (:attr:`fpgagen.core.folding.Budget.policies`)."""
        return self.folding_budget().policies

    @property
    def budget(self) -> dict[str, int]:
        """The fabric's resources by the names yosys' ``stat`` and the benches use."""
        return {self.dsp_primitive: self.dsp, "BRAM36": self.bram36, "URAM288": self.uram, "LUT": self.lut,
                "FF": self.ff}

    @property
    def part_fields(self) -> tuple[str, str, str]:
        """(device, package, speed grade) of ``part`` as a hardware handoff's SYSTEMINFO writes them:
        ``xc7z020clg400-1`` -> ``("7z020", "clg400", "-1")``, ``xczu7ev-ffvc1156-2-e`` ->
        ``("xczu7ev", "ffvc1156", "-2")``."""
        if self.part.startswith("xc7z"):
            device_package, speed = self.part.split("-")[:2]
            device = device_package[2:7]
            return device, device_package[7:], f"-{speed}"
        device, package, speed = self.part.split("-")[:3]
        return device, package, f"-{speed}"


PS_ARCH = {"processing_system7": "armv7l", "zynq_ultra_ps_e": "aarch64"}

BOARDS: dict[str, Board] = {}


def register_board(board: Board) -> Board:
    """Add ``board`` to :data:`BOARDS` (its name must be new)."""
    if board.name in BOARDS:
        raise ValueError(f"board {board.name!r} is already registered")
    BOARDS[board.name] = board
    return board


def get_board(name: str) -> Board:
    """The board called ``name``; a ValueError lists the registered boards otherwise."""
    if name not in BOARDS:
        raise ValueError(f"board {name!r} is not supported; supported: {', '.join(BOARDS)}")
    return BOARDS[name]


# Budgets: Zynq-7000 SoC data sheet DS190 (XC7Z020), Zynq UltraScale+ MPSoC product table DS891 (XCZU7EV, XCZU9EG),
# Kria K26 SOM data sheet DS987 (XCK26).
register_board(Board(
    name="pynq-z2", title="TUL PYNQ-Z2 (Zynq-7000 XC7Z020)", part="xc7z020clg400-1",
    board_part="tul.com.tw:pynq-z2:part0:1.0", yosys_family="xc7", ps="processing_system7",
    dsp=220, bram36=140, uram=0, lut=53_200, ff=106_400, fabric_clock_mhz=100,
    dma_base=0x40400000, dma_range=0x10000,
    ddr_window=(0x16000000, 0x20000000),  # in the 512 MB DDR3; PYNQ's CMA area
    multiplier_budget=220, hls4ml_board="pynq-z2",
    hp_port_bits=64, weight_ports=3, ddr_peak_mb_s=2_100))  # 16-bit DDR3 at 1,050 MT/s; HP1-HP3 for weights
register_board(Board(
    name="zcu104", title="Xilinx ZCU104 (Zynq UltraScale+ XCZU7EV)", part="xczu7ev-ffvc1156-2-e",
    board_part="xilinx.com:zcu104:part0:1.1", yosys_family="xcup", ps="zynq_ultra_ps_e",
    dsp=1_728, bram36=312, uram=96, lut=230_400, ff=460_800, fabric_clock_mhz=100,
    dma_base=0xA0000000, dma_range=0x10000,  # the first slave on M_AXI_HPM0_FPD
    ddr_window=(0x60000000, 0x80000000),  # top of the 2 GB PS DDR4 (DDR_LOW); arm64 Linux keeps CMA below 4 GB
    multiplier_budget=1_728, hls4ml_board="zcu102",
    hp_port_bits=128, weight_ports=4, ddr_peak_mb_s=19_200))  # 64-bit DDR4 at 2,400 MT/s; S_AXI_HP0-3_FPD
register_board(Board(
    name="kv260", title="AMD Kria KV260 (K26 SOM, XCK26)", part="xck26-sfvc784-2LV-c",
    board_part="xilinx.com:kv260_som:part0:1.3", yosys_family="xcup", ps="zynq_ultra_ps_e",
    dsp=1_248, bram36=144, uram=64, lut=117_120, ff=234_240, fabric_clock_mhz=100,
    dma_base=0xA0000000, dma_range=0x10000,
    ddr_window=(0x60000000, 0x80000000),  # in DDR_LOW of the SOM's 4 GB DDR4, below 4 GB like CMA
    multiplier_budget=1_248, hls4ml_board="zcu102",
    hp_port_bits=128, weight_ports=4, ddr_peak_mb_s=19_200))
# The ZCU102's block design is hls4ml's own (templates/vivado_accelerator/zcu102): the board preset's pl_clk0
# (99.999 MHz), the DMA in simple mode with its registers on M_AXI_HPM0_FPD (and HPM1_FPD) and its memory traffic on
# S_AXI_HPC0_FPD. hls4ml's design.tcl leaves the DMA's address to Vivado's automation, which gives the first slave
# of M_AXI_HPM0_FPD the start of that port's window, 0xA0000000 (the driver reads it from the .hwh either way).
# Multiplier budget: every DSP48E2, as on every board (Board.folding_budget; a warning names UG949's 80% guideline).
register_board(Board(
    name="zcu102", title="Xilinx ZCU102 (Zynq UltraScale+ XCZU9EG)", part="xczu9eg-ffvb1156-2-e",
    board_part="xilinx.com:zcu102:part0:3.3", yosys_family="xcup", ps="zynq_ultra_ps_e",
    dsp=2_520, bram36=912, uram=0, lut=274_080, ff=548_160, fabric_clock_mhz=100,
    dma_base=0xA0000000, dma_range=0x10000,
    ddr_window=(0x60000000, 0x80000000),  # top of DDR_LOW (the first 2 GB of the 4 GB PS DDR4), below 4 GB like CMA
    multiplier_budget=2_520, hls4ml_board="zcu102",
    hp_port_bits=128, weight_ports=4, ddr_peak_mb_s=19_200))

DEFAULT_BOARD = "pynq-z2"
# The boards a preset is placed on, smallest first: each has more block RAM, DSPs and LUTs than the one before
# (5.16, 11.50 and 33.62 Mbit of block RAM). kv260 is a target one asks for by name: its 5.31 Mbit of block RAM is
# 3% more than the PYNQ-Z2's, so it would win only for weights that fill 97-100% of its block RAM, which would not
# place and route.
PRESET_BOARD_ORDER = ("pynq-z2", "zcu104", "zcu102")


@dataclass(frozen=True)
class BoardChoice:
    """Where a generator runs, and why.

    Attributes:
        subject: the generator's name (a preset or an imported model).
        board: the chosen :class:`Board`: the first of :data:`PRESET_BOARD_ORDER` whose block RAM holds the weights.
        parameters: the generator's parameter count (weights and biases, before BatchNorm folding).
        weight_bits: ``parameters`` x ``weight_width``: what its ROMs hold.
        weight_width: the weight width in bits.
        width_source: where ``weight_width`` comes from, in words (e.g. "the preset's tuned widths").
        rejected: the boards tried before, each with the reason it was passed over.
    """

    subject: str
    board: Board
    parameters: int
    weight_bits: int
    weight_width: int
    width_source: str
    rejected: tuple[tuple[str, str], ...]

    @property
    def reason(self) -> str:
        """One paragraph: weight bits against each board's block RAM bits, and why UltraRAM does not count."""
        b = self.board
        mbit = 1e6
        text = [f"{self.subject}: {self.parameters:,} parameters x {self.weight_width} bits ({self.width_source}) = "
                f"{self.weight_bits / mbit:.2f} Mbit of weights, held as bitstream-initialised ROMs, so only block "
                "RAM counts."]
        text += [f"Not {name}: {why}." for name, why in self.rejected]
        text.append(f"{b.name}: {b.rom_bits / mbit:.2f} Mbit of block RAM ({b.bram36} BRAM36), {b.dsp:,} "
                    f"{b.dsp_primitive}; the weights fill {self.weight_bits / b.rom_bits:.0%} of its block RAM.")
        return " ".join(text)


def _too_small(board: Board, bits: int) -> str:
    """Why ``board``'s block RAM does not hold ``bits`` of weights, naming its UltraRAM where it has some."""
    why = f"{bits / 1e6:.2f} Mbit of weights > its {board.rom_bits / 1e6:.2f} Mbit of block RAM"
    if board.uram:
        why += (f"; its {board.uram} URAM288 ({board.uram_bits / 1e6:.2f} Mbit) hold weights only loaded at run time "
                "(UltraRAM has no bitstream initialisation, UG901): ask for it with --board")
    return why


def board_for_weights(subject: str, parameters: int, weight_width: int, width_source: str) -> BoardChoice:
    """The first board of :data:`PRESET_BOARD_ORDER` whose block RAM holds ``parameters`` weights of
    ``weight_width`` bits.

    Only block RAM counts: this is the board where every weight is a bitstream-initialised ROM, which UltraRAM
    cannot be (``--board`` plans loaded and streamed weights elsewhere). dcgan28 (2.3 M parameters at 6 bits)
    lands on zcu102, every other shipped preset on pynq-z2.
    Raises ValueError when no listed board holds the weights.
    """
    bits = parameters * weight_width
    rejected = []
    for board_name in PRESET_BOARD_ORDER:
        board = BOARDS[board_name]
        if bits <= board.rom_bits:
            return BoardChoice(subject, board, parameters, bits, weight_width, width_source, tuple(rejected))
        rejected.append((board_name, _too_small(board, bits)))
    tried = [BOARDS[name] for name in PRESET_BOARD_ORDER]
    largest = max(tried, key=lambda b: b.rom_bits)
    fits_at = largest.rom_bits // parameters if parameters else 0
    narrower = (f"at {fits_at} bits or fewer per weight they would fit {largest.name}" if fits_at >= 2 else
                "no narrower weights make them fit")
    raise ValueError(f"no board in {', '.join(PRESET_BOARD_ORDER)} holds the {bits / 1e6:.2f} Mbit of weights of "
                     f"{subject} in block RAM ({parameters:,} weights at {weight_width} bits, {width_source}; "
                     + ", ".join(f"{b.name} {b.rom_bits / 1e6:.2f} Mbit" for b in tried)
                     + f"): {narrower} (a quantization config's weight_width), or register a larger board")


@dataclass(frozen=True)
class BoardFit:
    """Whether a quantized model fits a board, checked before a project is written for it.

    Attributes:
        board: the board.
        weight_bits: bits of the model's weights and biases (each at its own type's width), wherever they live.
        multipliers: DSP slices its multipliers take (one each: fpgagen's widths fit a DSP's multiplier; the RTL
            kernel's MAC arrays may pack two products to a slice or build multipliers in LUTs).
        placed_bits: those bits by placement (``rom``, ``loaded``, ``streamed``).
        streams: its streamed layers, one weight port each.
        problems: what does not fit, each with needed, available and the resource (empty: it fits).
        warnings: what fits with little margin (over UG949's 80% guideline).
        fits_on: the registered boards where it would fit, with the same placements.
    """

    board: Board
    weight_bits: int
    multipliers: int
    placed_bits: dict
    streams: int
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    fits_on: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"board": self.board.name, "weight_bits": self.weight_bits, "multipliers": self.multipliers,
                "placed_bits": dict(self.placed_bits), "streams": self.streams, "problems": list(self.problems),
                "warnings": list(self.warnings), "fits_on": list(self.fits_on)}

    def refusal(self, subject: str) -> str:
        """The refusal message: each problem and where it would fit."""
        where = (f"it fits {', '.join(self.fits_on)}" if self.fits_on else
                 "no registered board holds it: fewer weight bits (a quantization config's weight_width) or a larger "
                 "board")
        return (f"{subject} does not fit {self.board.name}: {'; '.join(self.problems)}. {where[0].upper()}{where[1:]}"
                " (--force writes the project anyway)")


def _fit_problems(board: Board, placed: dict, streams: int, multipliers: int, share: float) -> list[str]:
    found = []
    block = placed["rom"] + (0 if board.uram else placed["loaded"])
    if block > share * board.rom_bits:
        found.append(f"block RAM: its {'on-chip ' if not board.uram and placed['loaded'] else ''}weights need "
                     f"{block / 1e6:.2f} Mbit, {board.name} has {board.rom_bits / 1e6:.2f} Mbit "
                     f"({block / board.rom_bits:.0%}; {board.bram36} BRAM36)")
    if board.uram and placed["loaded"] > share * board.uram_bits:
        found.append(f"UltraRAM: its loaded weights need {placed['loaded'] / 1e6:.2f} Mbit, {board.name} has "
                     f"{board.uram_bits / 1e6:.2f} Mbit ({placed['loaded'] / board.uram_bits:.0%}; {board.uram} "
                     "URAM288)")
    if share == 1.0 and streams > board.weight_ports:
        found.append(f"weight ports: {streams} streamed layers need a port each, {board.name} has "
                     f"{board.weight_ports}")
    if multipliers > share * board.dsp:
        found.append(f"DSP: its multipliers take {multipliers:,} {board.dsp_primitive}, {board.name} has "
                     f"{board.dsp:,} ({multipliers / board.dsp:.0%})")
    return found


def board_fit(model: QuantizedModel, board: str) -> BoardFit:
    """Check ``model`` against ``board``: its ROM weights (and loaded ones, on a board without UltraRAM) against
    block RAM, loaded weights against UltraRAM, streamed layers against the weight ports, multipliers against DSP
    slices: problems beyond 100%, warnings beyond :data:`UG949_GUIDELINE`, and the boards where it fits."""
    fit = fit_figures(model.placed_bits(), sum(lr.placement == "streamed" for lr in model.layers),
                      model.dsps, board)
    if any(p.startswith("block RAM") for p in fit.problems):
        fit = dataclasses.replace(fit, problems=(*fit.problems, *_no_placement_helps(model, get_board(board))))
    return fit


def _no_placement_helps(model: QuantizedModel, board: Board) -> list[str]:
    """Why weights leaving the ROMs would not help either, with the numbers of the placement that keeps the least in
    block RAM (:func:`fpgagen.core.folding.least_block_ram`); [] on a board where they cannot leave them."""
    budget = board.folding_budget()
    found = least_block_ram(model.layers, budget)
    if found is None:
        return []
    plan, bram, stream_bits = found
    off = [f"{name} {where}" for name, where in plan.items() if where != "rom"]
    if bram <= budget.bram36:
        return [f"folded for {board.name}, its weights would leave the ROMs where block RAM runs short (at the "
                f"slowest folding: {', '.join(off)}): quantize it for this board (--board {board.name})"]
    text = (f"no placement of its weights fits either: the one needing the least block RAM "
            f"({', '.join(off) or 'all in ROM'}, at its slowest folding) still needs {bram:,.0f} BRAM36 of the "
            f"{budget.bram36:,.0f} the folding may use")
    if stream_bits:
        per_s = budget.ports.ddr_bits_per_cycle * board.fabric_clock_mhz * 1e6 / stream_bits
        text += (f", and streams {stream_bits / 8e6:.2f} MB per image: at most {per_s:,.0f} images/s over "
                 f"{board.ddr_mb_s:,.0f} MB/s of DDR")
    return [text]


def _guideline_warning(found: str) -> str:
    """What a resource over UG949's guideline means. The folding spends every DSP slice on purpose (a dataflow
    kernel's speed is its multipliers: published Zynq DCGAN accelerators run at ~96% DSP), and a DSP column at 100%
    is routine where its neighbours (block RAM, LUTs, the folding keeps them at 80%) leave routing room; block RAM and
    LUTs near full are what makes placement and timing hard."""
    if found.startswith("DSP"):
        return (f"{found} is over UG949's {UG949_GUIDELINE:.0%} guideline, by design: the folding spends every DSP "
                "on the multiply-adds (DSP-bound dataflow kernels run at 90-100% DSP); timing closure rests on the "
                f"block RAM and LUTs it keeps within {UG949_GUIDELINE:.0%} -- a --config file with a smaller "
                "multipliers budget leaves headroom")
    return f"{found} is over UG949's {UG949_GUIDELINE:.0%} guideline: placement and timing may not close"


def fit_figures(placed: dict, streams: int, multipliers: int, board: str) -> BoardFit:
    """:func:`board_fit` of the figures alone: bits by placement, streamed layers and multipliers."""
    spec = get_board(board)
    placed = {key: placed.get(key, 0) for key in ("rom", "loaded", "streamed")}
    problems = _fit_problems(spec, placed, streams, multipliers, 1.0)
    warnings = [] if problems else [_guideline_warning(w) for w in _fit_problems(spec, placed, streams, multipliers,
                                                                                UG949_GUIDELINE)]
    fits_on = tuple(b.name for b in BOARDS.values() if not _fit_problems(b, placed, streams, multipliers, 1.0))
    return BoardFit(spec, sum(placed.values()), multipliers, placed, streams, tuple(problems), tuple(warnings),
                    fits_on)


def placement_table(model: QuantizedModel, board: str) -> str:
    """Where each arithmetic layer's weights live on ``board``, their bits, and for a streamed layer the DDR
    bandwidth it needs at the pipeline's bound (:func:`fpgagen.core.folding.pipeline_costs`), one line each."""
    spec = get_board(board)
    costs = pipeline_costs(model)
    bound = max(c.hls_cycles for c in costs.values())
    per_s = spec.fabric_clock_mhz * 1e6 / bound
    home = {"rom": "block RAM ROM", "loaded": f"{'UltraRAM' if spec.uram else 'block RAM'}, loaded at start"}
    name_w = max(len(name) for name in costs)
    rows = [f"weights on {board}: bound {bound:,} cycles/image = {per_s:,.0f} images/s at "
            f"{spec.fabric_clock_mhz:g} MHz"]
    for lr in model.layers:
        if lr.name not in costs:
            continue
        c = costs[lr.name]
        bits = lr.weight.size * lr.weight_t.width
        line = f"  {lr.name:{name_w}s} {lr.placement:8s} {bits / 1e6:6.2f} Mbit  "
        if lr.placement == "streamed":  # a streamed layer's model names its ports (QuantizedModel.validate)
            port = model.weight_ports.bits
            line += (f"DDR, a {port}-bit HP port: {c.stream_bits / 8e6:.2f} MB per image, "
                     f"{c.stream_bits / 8e6 * per_s:,.0f} MB/s ({c.stream_bits / bound / port:.0%} of its port)")
        else:
            line += home[lr.placement]
        rows.append(line)
    streamed = sum(c.stream_bits for c in costs.values())
    if streamed:
        rows.append(f"  DDR: {streamed / 8e6 * per_s:,.0f} MB/s of {spec.ddr_mb_s:,.0f} MB/s "
                    f"({spec.ddr_peak_mb_s:,.0f} MB/s peak x {DDR_EFFICIENCY:.0%})")
    return "\n".join(rows)
