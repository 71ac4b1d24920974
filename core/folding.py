"""Folding: how many multipliers each arithmetic layer gets, as hls4ml's reuse factor, and what that costs.

A layer's dense kernel of n_in x n_out weights (:func:`fpgagen.core.layers.kernel_dims`) at reuse factor R runs
:func:`fpgagen.core.layers.kernel_uses` times per image. What a reuse factor builds (:func:`stage_cost`), the same
in hls4ml and in the RTL twin up to the MAC array's split rule:

- dense and conv2d: hls4ml instantiates n_in x n_out / R multipliers (its Resource strategy accepts the R of
  :func:`valid_reuse_factor`); the RTL's MAC array takes the smallest count it can split (:func:`dense_split`) at
  or above that, so it is never slower than hls4ml's;
- conv_transpose2d (fpgagen's own kernel in both): PI x PO multipliers of
  :func:`fpgagen.core.transposed.tap_split`, R cycles per useful tap, PO need not divide the output channels.

:func:`choose_reuse_factors` balances the streaming pipeline: the fewest cycles per image of its slowest stage
whose multipliers (DSP slices), weight ROMs (BRAM36) and multiply-add logic (LUT) fit a :class:`Budget` (the
board's, :meth:`fpgagen.overlays.boards.Board.folding_budget`, unless the quantization config sets the
multipliers). The same rule serves every front end: it reads QuantizedModel layers only.

Where weights live (:data:`PLACEMENTS`), chosen with the reuse factors:

- ``rom``: block RAM (or LUT) ROMs the bitstream initialises, hls4ml's and the RTL's default;
- ``loaded``: an on-chip RAM written once from the weight stream after the overlay is loaded: UltraRAM where the
  board has it (UltraRAM has no bitstream initialisation, UG573), else block RAM. After loading it runs as a ROM;
- ``streamed``: read from DDR over a weight port (an HP port, :class:`WeightPorts`) while the kernel runs, the
  whole weight pass once per image: the stage's cycles per image are at least the pass's beats on its port, and
  all streamed layers together at least their bits over the DDR's bits per cycle. dense and conv_transpose2d can
  be streamed (a weight-stationary transposed convolution reads each weight once per image); a conv2d re-reads
  its weights at every output pixel, so it is ``rom`` or ``loaded``.

:func:`choose_reuse_factors` keeps every layer in ROM when some folding fits the budget that way; otherwise it
takes the layers with the most weight bits off the ROMs, one more at a time, each ``loaded`` (where the board has
UltraRAM) or ``streamed`` (while a weight port is free) in every combination (:func:`placement_plans`), and the
fastest pipeline of the fewest off-ROM layers wins.

The budget's placement policy (:data:`PLACEMENT_POLICIES`, :attr:`Budget.placement`; a quantization config's
``placement``) narrows where a layer may go when it leaves the ROMs: ``auto`` anywhere the budget has room (the rule
above), ``rom`` nowhere (every layer in ROM, as on a board with no UltraRAM and no weight ports), ``loaded`` only to
UltraRAM, ``streamed`` only over weight ports. Every policy still keeps every layer in ROM when that fits; a policy
whose memory the budget lacks (``loaded`` without UltraRAM, ``streamed`` without weight ports) is refused.

Two kernels (:data:`KERNELS`, :attr:`Budget.kernel`). ``hls``: the reuse factors above, one multiplier per DSP
slice, the RTL twin following hls4ml's split. ``rtl``: the RTL kernel's own folding (:func:`choose_mac_arrays`),
recorded per layer as a :class:`MacArray`: any split PI x PO of the dense kernel (not only hls4ml's), two products
per DSP slice where the operands fit its ports (outputs paired on one activation,
:func:`fpgagen.core.multipliers.can_pack`), and multipliers built in LUTs (whole output columns) where the DSP slices
run out, at LUT costs per operand width measured with yosys (:mod:`fpgagen.core.multipliers`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from fpgagen.core import multipliers as mults
from fpgagen.core.layers import ACTIVATIONS, ARITHMETIC, kernel_dims, kernel_uses
from fpgagen.core.transposed import conv_transpose_cycles, conv_transpose_ws_cycles, tap_reuse_factors, tap_split
from fpgagen.core.weight_stream import pass_beats

# BRAM36 shapes (depth x width); a RAMB18 is half of one at half the depth
BRAM36_SHAPES = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72))
# ROMs this shallow are LUT logic, not block RAM (yosys put 100-word ROMs in LUTs, 400-word ones in BRAM)
LUT_ROM_DEPTH = 128
URAM288_SHAPE = (4096, 72)  # an UltraRAM's only aspect ratio (UG573)

PLACEMENTS = ("rom", "loaded", "streamed")
PLACEMENT_POLICIES = ("auto", "rom", "loaded", "streamed")  # where the planner may put weights (Budget.placement)
STREAMABLE = ("dense", "conv_transpose2d")  # kinds that read each weight once per image when streamed
KERNELS = ("hls", "rtl")  # hls4ml's kernel (its folding), the RTL kernel (its own: MacArray per layer)


@dataclass(frozen=True)
class MacArray:
    """The RTL kernel's MAC array of one arithmetic layer (``fg_mac_array``): ``pi`` inputs x ``po`` outputs per
    cycle; the last ``lut_outputs`` outputs multiply in LUTs, the others on DSP slices, two outputs per slice when
    ``pack`` (an odd one left over takes a slice of its own)."""

    pi: int
    po: int
    pack: bool = False
    lut_outputs: int = 0

    def __post_init__(self):
        if self.pi < 1 or self.po < 1 or not 0 <= self.lut_outputs <= self.po:
            raise ValueError(f"a MAC array needs PI, PO >= 1 and 0 <= LUT outputs <= PO, got PI {self.pi}, PO "
                             f"{self.po}, {self.lut_outputs} LUT outputs")

    @property
    def multipliers(self) -> int:
        return self.pi * self.po

    @property
    def dsps(self) -> int:
        """DSP slices: one per input lane and output (pair, when packed) on DSPs."""
        on_dsp = self.po - self.lut_outputs
        return self.pi * (-(-on_dsp // 2) if self.pack else on_dsp)

    @property
    def packed_pairs(self) -> int:
        """DSP slices holding two products."""
        return self.pi * ((self.po - self.lut_outputs) // 2) if self.pack else 0

    @property
    def lut_multipliers(self) -> int:
        return self.pi * self.lut_outputs

    def to_json(self) -> dict:
        return {"pi": self.pi, "po": self.po, "pack": self.pack, "lut_outputs": self.lut_outputs}

    @classmethod
    def from_json(cls, d: dict) -> MacArray:
        if not isinstance(d, dict) or set(d) != {"pi", "po", "pack", "lut_outputs"}:
            raise ValueError(f"a MAC array is an object of pi, po, pack, lut_outputs, got {d!r}")
        return cls(int(d["pi"]), int(d["po"]), bool(d["pack"]), int(d["lut_outputs"]))


@dataclass(frozen=True)
class WeightPorts:
    """How streamed weights reach the kernel: ``count`` ports (AXI HP ports, one streamed layer each) of ``bits``
    per kernel clock, together at most ``ddr_bits_per_cycle`` (the DDR's derated bandwidth at the kernel clock)."""

    bits: int
    count: int
    ddr_bits_per_cycle: float

    def __post_init__(self):
        if self.bits < 8 or self.bits % 8 or self.count < 0 or self.ddr_bits_per_cycle <= 0:
            raise ValueError(f"weight ports need whole bytes per beat, a count >= 0 and DDR bandwidth > 0, got "
                             f"{self.bits} bits x {self.count} at {self.ddr_bits_per_cycle} bits per cycle")

    def to_json(self) -> dict:
        return {"bits": self.bits, "count": self.count, "ddr_bits_per_cycle": self.ddr_bits_per_cycle}

    @classmethod
    def from_json(cls, d: dict) -> WeightPorts:
        return cls(int(d["bits"]), int(d["count"]), float(d["ddr_bits_per_cycle"]))


@dataclass(frozen=True)
class Budget:
    """What the folding may spend: multipliers (one DSP slice each), BRAM36 for the weight ROMs and LUTs for the
    multiply-add logic, estimated at ``lut_per_multiplier`` (None: that resource is not checked); UltraRAM and
    weight ports for weights off the ROMs, and the placement policy that says which of them the folding may use
    (:data:`PLACEMENT_POLICIES`, the module docstring). A policy whose memory the budget lacks is a ValueError."""

    multipliers: int
    bram36: float | None = None
    lut: int | None = None
    lut_per_multiplier: float = 0.0
    uram: float | None = None  # URAM288 for ``loaded`` weights (None: the board has none, loaded is block RAM)
    ports: WeightPorts | None = None  # for ``streamed`` weights (None: none are streamed)
    placement: str = "auto"  # a policy of PLACEMENT_POLICIES
    kernel: str = "hls"  # of KERNELS: ``multipliers`` counts DSP slices (rtl: two products may share one)
    family: str | None = None  # yosys family (``xc7``, ``xcup``): the RTL kernel's DSP ports and LUT costs

    def __post_init__(self):
        if self.multipliers < 1:
            raise ValueError(f"a multiplier budget must be >= 1, got {self.multipliers}")
        if self.kernel not in KERNELS:
            raise ValueError(f"kernel {self.kernel!r} is not one of {', '.join(KERNELS)}")
        if self.kernel == "rtl" and (self.family is None or self.lut is None):
            raise ValueError("the RTL kernel's folding needs the board's family (DSP ports, LUT multiplier costs) "
                             "and a LUT budget")
        if self.placement not in self.policies:
            why = (f"not one of {', '.join(PLACEMENT_POLICIES)}" if self.placement not in PLACEMENT_POLICIES else
                   "loaded weights go to UltraRAM (written from the weight stream after the overlay loads; without "
                   "UltraRAM they would take the block RAM the ROMs need), and there is none here"
                   if self.placement == "loaded" else
                   "streamed weights are read from DDR over weight ports (HP ports), and there are none here")
            raise ValueError(f"placement {self.placement!r}: {why}; placements here: {', '.join(self.policies)}")

    @property
    def policies(self) -> tuple[str, ...]:
        """The placement policies this budget can take: ``auto`` and ``rom`` always, ``loaded`` with UltraRAM,
        ``streamed`` with weight ports."""
        return ("auto", "rom", *(("loaded",) if self.uram is not None else ()),
                *(("streamed",) if self.ports is not None and self.ports.count > 0 else ()))

    @property
    def loads(self) -> bool:
        """Whether the folding may load weights into UltraRAM (the budget has some and the policy allows it)."""
        return self.uram is not None and self.placement in ("auto", "loaded")

    @property
    def streams(self) -> int:
        """How many layers the folding may stream (the free weight ports, where the policy allows streaming)."""
        if self.ports is None or self.placement not in ("auto", "streamed"):
            return 0
        return self.ports.count

    @property
    def off_rom(self) -> bool:
        """Whether weights can live anywhere but ROMs here (block RAM is a budget, and a loaded or streamed layer
        has somewhere to go that the placement policy allows)."""
        return self.bram36 is not None and (self.loads or self.streams > 0)


@dataclass(frozen=True)
class StageCost:
    """One reuse factor of one arithmetic layer: its multipliers, cycles per image and resources."""

    reuse_factor: int
    multipliers: int      # what the RTL twin instantiates (= hls4ml's, or the next count its MAC array splits)
    hls_multipliers: int  # n_in x n_out / R (transposed: PI x PO)
    cycles: int           # per image, never starved or blocked: the RTL twin's
    hls_cycles: int       # per image of hls4ml's kernel: reuse factor x uses (never below the twin's)
    bram36: float         # weight and bias ROMs (and a streamed stage's frame buffers)
    lut: float            # multiply-add logic, at the budget's LUTs per multiplier
    placement: str = "rom"
    uram: float = 0.0     # URAM288 of loaded weights
    stream_bits: int = 0  # bits read from DDR per image (streamed weights, whole beats)
    mac: MacArray | None = None  # the RTL kernel's MAC array (None: hls4ml's folding, a DSP per multiplier)

    @property
    def dsps(self) -> int:
        """DSP slices: one per multiplier, unless the RTL kernel's MAC array packs or builds some in LUTs."""
        return self.multipliers if self.mac is None else self.mac.dsps


def valid_reuse_factor(n_in: int, n_out: int, rf: int) -> bool:
    """hls4ml's Resource-strategy rule for a dense kernel of n_in x n_out weights (checked before it adjusts)."""
    mult_limit = math.ceil(n_in * n_out / min(n_in, rf))
    return ((mult_limit % n_out == 0) or rf >= n_in) and (rf % n_in == 0 or rf < n_in) and (n_in * n_out) % rf == 0


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small) | {n // d for d in small})


def reuse_factors(lr) -> list[int]:
    """Every reuse factor an arithmetic layer can have, ascending: hls4ml's rule for dense and conv2d, the tap
    rule of :func:`fpgagen.core.transposed.tap_reuse_factors` for conv_transpose2d."""
    n_in, n_out = kernel_dims(lr)
    if lr.kind == "conv_transpose2d":
        return tap_reuse_factors(n_in, n_out)
    return [rf for rf in _divisors(n_in * n_out) if valid_reuse_factor(n_in, n_out, rf)]


def streamed_reshape(layers: list, i: int) -> int | None:
    """Index of the reshape the dense ``layers[i]`` streams its result into as pixel beats (the first layer after
    it and its element-wise activations, when that is a reshape), else None."""
    if layers[i].kind != "dense":
        return None
    j = i + 1
    while j < len(layers) and layers[j].kind in ACTIVATIONS:
        j += 1
    return j if j < len(layers) and layers[j].kind == "reshape" else None


def streamed_lanes(layers: list) -> dict[str, int]:
    """Output lanes per beat of each dense that streams its result as the pixels of a (C, H, W) reshape
    (:func:`streamed_reshape`): the reshape's channels. Other layers leave one whole vector or pixel per beat."""
    lanes = {}
    for i, lr in enumerate(layers):
        j = streamed_reshape(layers, i)
        if j is not None and len(layers[j].out_shape) == 3:
            lanes[lr.name] = layers[j].out_shape[0]
    return lanes


def mac_parallelism(n_in: int, n_out: int, hls_multipliers: int, out_lanes: int | None = None) -> int:
    """The RTL MAC array's multipliers for hls4ml's ``hls_multipliers``: the smallest count it splits
    (:func:`legal_parallelism`) at or above them, else the largest (the output beats bound the stage already)."""
    legal = legal_parallelism(n_in, n_out, out_lanes)
    faster = [p for p in legal if p >= hls_multipliers]
    return faster[0] if faster else legal[-1]


def rom_bram36(depth: int, width: int) -> float:
    """BRAM36 a ROM of ``depth`` words of ``width`` bits takes (RAMB18 halves counted as 0.5; 0 when it is shallow
    enough for LUTs): the cheapest of the block RAM's aspect ratios."""
    if depth <= LUT_ROM_DEPTH or width < 1:
        return 0.0
    best = math.inf
    for d, w in BRAM36_SHAPES:
        best = min(best, math.ceil(depth / d) * math.ceil(width / w))
        if d > 1 and depth <= d // 2:
            best = min(best, 0.5 * math.ceil(width / w))
    return float(best)


def uram288(depth: int, width: int) -> float:
    """URAM288 a RAM of ``depth`` words of ``width`` bits takes (4K x 72 each, cascaded; 0 when it is shallow
    enough for LUTs)."""
    if depth <= LUT_ROM_DEPTH or width < 1:
        return 0.0
    d, w = URAM288_SHAPE
    return float(math.ceil(depth / d) * math.ceil(width / w))


def stage_cost(lr, reuse_factor: int, out_lanes: int | None = None, lut_per_multiplier: float = 0.0,
               placement: str = "rom", ports: WeightPorts | None = None, uram: bool = False,
               x_bits: int = 16, mac: MacArray | None = None, family: str | None = None,
               x_signed: bool = True) -> StageCost:
    """What ``lr`` builds at ``reuse_factor`` with its weights at ``placement`` (see the module's docstring);
    ``out_lanes`` as :func:`streamed_lanes`; ``ports`` carry streamed weights; ``uram``: loaded weights go to
    UltraRAM (else block RAM); ``x_bits``: the input's width (a streamed transposed convolution's frame buffer, and
    the LUT multipliers' operand). ``mac``: the RTL kernel's MAC array, whose split replaces the reuse factor's
    (``reuse_factor`` is then :func:`mac_reuse_factor`'s), its LUT multipliers and packed slices costed for the
    yosys ``family`` (``x_signed``: whether the input is signed; a ValueError for widths
    :mod:`fpgagen.core.multipliers` has no figure for)."""
    if mac is not None:
        reuse_factor = mac_reuse_factor(lr, mac)
    if placement not in PLACEMENTS:
        raise ValueError(f"layer {lr.name}: placement {placement!r} is not one of {', '.join(PLACEMENTS)}")
    if placement == "streamed" and (lr.kind not in STREAMABLE or ports is None):
        raise ValueError(f"layer {lr.name} ({lr.kind}) cannot be streamed"
                         + ("" if lr.kind in STREAMABLE else f": only {', '.join(STREAMABLE)} layers read each "
                            "weight once per image") + (" (no weight ports)" if ports is None else ""))
    n_in, n_out = kernel_dims(lr)
    w_bits, b_bits = lr.weight_t.width, lr.bias_t.width
    buffers = 0.0
    if lr.kind == "conv_transpose2d":
        pi, po = (mac.pi, mac.po) if mac is not None else tap_split(n_in, n_out, reuse_factor)
        p = p_hls = pi * po
        groups = -(-n_out // po)
        c_in, h, w = lr.in_shape
        _, oh, ow = lr.out_shape
        k = lr.weight.shape[-1]
        cycles = conv_transpose_cycles((h, w), (oh, ow), c_in, n_out, k, lr.stride, lr.padding, pi, po)
        words, bias_words = groups * k * k * (n_in // pi), groups
        if placement == "streamed":  # weight-stationary (fg_conv_transpose2d_ws): two input frames and two banks of
            # the accumulators of every output
            cycles = conv_transpose_ws_cycles((h, w), (oh, ow), c_in, n_out, k, lr.stride, lr.padding, pi, po)
            buffers = 2 * rom_bram36(h * w, c_in * x_bits) + 2 * rom_bram36(oh * ow * groups, po * lr.accum_t.width)
    else:
        p_hls = n_in * n_out // reuse_factor
        if mac is not None:
            p, po = mac.multipliers, mac.po
        else:
            p = mac_parallelism(n_in, n_out, p_hls, out_lanes)
            _, po = dense_split(n_in, n_out, p, out_lanes)
        per_use = n_in * n_out // p
        if lr.kind == "conv2d":
            _, h, w = lr.in_shape
            pad = lr.padding
            cycles = max((h + 2 * pad) * (w + 2 * pad), kernel_uses(lr) * per_use)
        else:
            cycles = per_use * kernel_uses(lr)
        words, bias_words = per_use, n_out // po
    bias_rom = rom_bram36(bias_words, po * b_bits)
    weight_mem, uram_used, stream_bits = rom_bram36(words, p * w_bits), 0.0, 0
    if placement == "loaded" and uram:
        weight_mem, uram_used = 0.0, uram288(words, p * w_bits)
    elif placement == "streamed":
        beats = pass_beats(words, p, w_bits, ports.bits)
        weight_mem, stream_bits = 0.0, beats * ports.bits
        cycles = max(cycles, beats)
    lut = lut_per_multiplier * p
    if mac is not None and family is not None:  # without a family: no LUT estimate (as lut_per_multiplier 0)
        w = lr.weight_t.width
        lut += mac.po * mults.OUTPUT_COLUMN_LUTS.get(family, 0.0)  # each output column's accumulator and cast
        if mac.lut_multipliers:
            lut += mac.lut_multipliers * mults.lut_multiplier_luts(family, x_bits, w, x_signed)
        if mac.packed_pairs:
            lut += mac.packed_pairs * mults.packed_pair_extra_luts(family, x_bits, w, x_signed)
    hls_cycles = cycles if mac is not None else max(cycles, reuse_factor * kernel_uses(lr))
    return StageCost(reuse_factor, p, p_hls, cycles, hls_cycles, weight_mem + bias_rom + buffers, lut, placement,
                     uram_used, stream_bits, mac)


def mac_reuse_factor(lr, mac: MacArray) -> int:
    """The reuse factor a MAC array makes of ``lr``: its dense kernel's weights over PI x PO (dense, conv2d), or
    cycles per useful tap ``C / PI * ceil(O / PO)`` (conv_transpose2d). Raises ValueError for a split the layer's
    stage cannot take (PI must divide the inputs; PO the outputs of a dense or conv2d)."""
    n_in, n_out = kernel_dims(lr)
    if n_in % mac.pi or (lr.kind != "conv_transpose2d" and n_out % mac.po) or mac.po > n_out:
        raise ValueError(f"layer {lr.name}: a MAC array of PI {mac.pi} x PO {mac.po} does not split its {n_in} inputs "
                         f"x {n_out} outputs (PI must divide the inputs"
                         + ("" if lr.kind == "conv_transpose2d" else ", PO the outputs") + ")")
    if lr.kind == "conv_transpose2d":
        return n_in // mac.pi * -(-n_out // mac.po)
    return n_in * n_out // mac.multipliers


def input_bits(layers: list) -> dict[str, int]:
    """Each layer's input width (the result type of the layer before it; 16 for the first)."""
    widths, prev = {}, 16
    for lr in layers:
        widths[lr.name] = prev
        prev = lr.result_t.width
    return widths


def pipeline_costs(model) -> dict[str, StageCost]:
    """Each arithmetic layer's :class:`StageCost` in a QuantizedModel as folded and placed (its reuse factors,
    placements and weight ports): cycles, multipliers and bits streamed; memory as if loaded weights were UltraRAM
    (the model does not say which board it is for)."""
    lanes, x_bits = streamed_lanes(model.layers), input_bits(model.layers)
    return {lr.name: stage_cost(lr, lr.reuse_factor, lanes.get(lr.name), placement=lr.placement,
                                ports=model.weight_ports, uram=True, x_bits=x_bits[lr.name], mac=lr.mac)
            for lr in model.layers if lr.kind in ARITHMETIC}


def placement_plans(layers: list, budget: Budget) -> list[list[dict[str, str]]]:
    """The placements :func:`choose_reuse_factors` tries, in groups: first every arithmetic layer in ROM; then,
    for k = 1, 2, ..., the k layers with the most weight bits off the ROMs, each ``loaded`` (where the budget has
    UltraRAM) or ``streamed`` (a dense or transposed convolution, while a weight port is free) in every
    combination, the fewest streamed first; only where the budget's placement policy allows. A layer that can be
    neither stays in ROM."""
    arith = [lr for lr in layers if lr.kind in ARITHMETIC]
    rom = {lr.name: "rom" for lr in arith}
    if not budget.off_rom:
        return [[rom]]
    ports = budget.streams
    where = {lr.name: (["loaded"] if budget.loads else [])
             + (["streamed"] if lr.kind in STREAMABLE and ports > 0 else []) for lr in arith}
    movable = [lr.name for lr in sorted(arith, key=lambda lr: -lr.weight.size * lr.weight_t.width) if where[lr.name]]
    groups = [[rom]]
    for k in range(1, len(movable) + 1):
        combos = sorted((combo for combo in itertools.product(*(where[name] for name in movable[:k]))
                         if combo.count("streamed") <= ports), key=lambda combo: combo.count("streamed"))
        groups.append([rom | dict(zip(movable[:k], combo, strict=True)) for combo in combos])
    return groups


def choose_reuse_factors(layers: list, budget: Budget | int, keep: frozenset[str] = frozenset(),
                         input_t=None) -> None:
    """Balance the streaming pipeline: the fewest cycles per image of its slowest arithmetic stage whose
    multipliers, ROMs, LUTs, UltraRAM and DDR bandwidth fit ``budget`` (an int: a multiplier budget alone), and
    where each layer's weights live (``lr.placement``).

    For a target of T cycles each layer may take any reuse factor whose stage runs in at most T cycles in the RTL
    twin and in hls4ml alike; the smallest T for which some combination fits is chosen (an exact search), and of
    its combinations the first in order of fewest multipliers, then ROM, layer by layer. The placements are
    :func:`placement_plans`' groups in order: in the first group where some folding fits, the plan with the
    smallest T (the fewest streamed layers on a tie) wins, so every layer stays in ROM when that fits.
    Layers named in ``keep`` keep their reuse factor (their cost counts against the budget). When no placement
    fits, every layer stays in ROM and a BRAM or LUT estimate that even the slowest folding exceeds is dropped
    (the board fit and yosys judge those); when the multipliers cannot fit, every layer takes its largest reuse
    factor (the caller reports the budget as too small).
    """
    if not isinstance(budget, Budget):
        budget = Budget(int(budget))
    if budget.kernel == "rtl":
        if keep:
            raise ValueError(f"the RTL kernel folds every layer itself; reuse factors cannot be fixed ({sorted(keep)})")
        choose_mac_arrays(layers, budget, input_t)
        return
    arith = [lr for lr in layers if lr.kind in ARITHMETIC]
    if not arith:
        return
    lanes, x_bits = streamed_lanes(layers), input_bits(layers)
    cost_cache: dict[tuple[str, str], list[StageCost]] = {}  # a layer's options per placement, shared by the plans

    def options(plan: dict[str, str]) -> dict[str, list[StageCost]]:
        for lr in arith:
            if (lr.name, plan[lr.name]) not in cost_cache:
                cost_cache[lr.name, plan[lr.name]] = [
                    stage_cost(lr, rf, lanes.get(lr.name), budget.lut_per_multiplier, plan[lr.name], budget.ports,
                               budget.uram is not None, x_bits[lr.name])
                    for rf in ([lr.reuse_factor] if lr.name in keep else reuse_factors(lr))]
        return {lr.name: cost_cache[lr.name, plan[lr.name]] for lr in arith}

    groups = placement_plans(layers, budget)
    rom = options(groups[0][0])
    chosen = None
    if len(groups) > 1:  # a board with somewhere else for weights: the block RAM estimate is a wall
        for plans in groups:
            found = [f for f in (_fold(arith, options(plan), budget, relax_bram=False) for plan in plans) if f]
            if found:
                chosen = min(found, key=lambda f: f[0])[1]  # min keeps the first of equal targets
                break
    if chosen is None:
        found = _fold(arith, rom, budget, relax_bram=True)
        chosen = found[1] if found else [max(rom[lr.name], key=lambda c: c.reuse_factor) for lr in arith]
    for lr, c in zip(arith, chosen, strict=True):
        lr.reuse_factor = c.reuse_factor
        lr.placement = c.placement
        lr.mac = None


def mac_splits(lr, out_lanes: int | None = None) -> list[tuple[int, int]]:
    """Every (PI, PO) the RTL kernel's stage of ``lr`` takes: PI dividing its inputs and PO its outputs (a dense
    streaming pixel beats: its ``out_lanes``) for dense and conv2d; for conv_transpose2d the split of each of its
    reuse factors (:func:`fpgagen.core.transposed.tap_split`: the fewest multipliers for those cycles)."""
    n_in, n_out = kernel_dims(lr)
    if lr.kind == "conv_transpose2d":
        return [tap_split(n_in, n_out, rf) for rf in tap_reuse_factors(n_in, n_out)]
    return [(pi, po) for pi in _divisors(n_in) for po in _divisors(out_lanes or n_out)]


def choose_mac_arrays(layers: list, budget: Budget, input_t=None) -> None:
    """The RTL kernel's folding (``budget.kernel == "rtl"``): each arithmetic layer's :class:`MacArray`, reuse factor
    and placement, the fewest cycles per image of the slowest stage that fit ``budget``.

    For a target of T cycles, in :func:`placement_plans`' order as :func:`choose_reuse_factors`: each layer takes the
    split (:func:`mac_splits`) with the fewest multipliers that runs in T cycles (of equal ones, the fewest DSP
    slices -- a split with output pairs packs -- then the fewest LUTs: each output column costs its accumulator and
    cast, :data:`fpgagen.core.multipliers.OUTPUT_COLUMN_LUTS`); its DSP outputs pack two per slice where the
    operands fit the family's DSP (:func:`fpgagen.core.multipliers.can_pack`). Block RAM, UltraRAM and the DDR
    must fit as they are;
    while the DSP slices exceed ``budget.multipliers``, the output columns whose move to LUT multipliers costs the
    fewest LUTs per slice saved move (greedy, not exact; only at widths whose LUT costs yosys measured,
    :mod:`fpgagen.core.multipliers`); the LUT estimate (the multiply-add logic at
    ``lut_per_multiplier``, plus the LUT multipliers and packed slices at :mod:`fpgagen.core.multipliers`' costs)
    must then fit ``budget.lut``. The smallest such T wins. When nothing fits, every layer takes its slowest split
    on DSP slices, as :func:`choose_reuse_factors` leaves it for the caller to report.
    """
    arith = [lr for lr in layers if lr.kind in ARITHMETIC]
    if not arith:
        return
    lanes, x_bits = streamed_lanes(layers), input_bits(layers)
    x_types, prev = {}, input_t
    for lr in layers:
        x_types[lr.name] = prev
        prev = lr.result_t
    if input_t is not None:
        x_bits[layers[0].name] = input_t.width

    def signed(lr) -> bool:
        return x_types[lr.name] is None or x_types[lr.name].signed

    def packs(lr) -> bool:  # both products fit one DSP slice, and yosys measured what packing them costs
        x_w, w_w = x_bits[lr.name], lr.weight_t.width
        if not mults.can_pack(budget.family, x_w, signed(lr), w_w):
            return False
        try:
            mults.packed_pair_extra_luts(budget.family, x_w, w_w, signed(lr))
        except ValueError:
            return False
        return True

    def cost(lr, placement: str, mac: MacArray) -> StageCost:
        return stage_cost(lr, 0, lanes.get(lr.name), budget.lut_per_multiplier, placement, budget.ports,
                          budget.uram is not None, x_bits[lr.name], mac, budget.family, signed(lr))

    cache: dict[tuple[str, str], list[StageCost]] = {}

    def options(lr, placement: str) -> list[StageCost]:
        if (lr.name, placement) not in cache:
            pack = packs(lr)
            cache[lr.name, placement] = sorted(
                (cost(lr, placement, MacArray(pi, po, pack and po > 1))
                 for pi, po in mac_splits(lr, lanes.get(lr.name))),
                key=lambda c: (c.cycles, c.multipliers, c.dsps, c.bram36))
        return cache[lr.name, placement]

    def at_target(plan: dict[str, str], target: int, walls: bool) -> list[StageCost] | None:
        chosen = []
        for lr in arith:
            fast = [c for c in options(lr, plan[lr.name]) if c.cycles <= target]
            if not fast:
                return None
            chosen.append(min(fast, key=lambda c: (c.multipliers, c.dsps, c.lut, c.bram36, c.uram)))
        ddr = budget.ports.ddr_bits_per_cycle if budget.ports is not None else math.inf
        if (sum(c.stream_bits for c in chosen) > target * ddr or sum(c.uram for c in chosen) > (budget.uram or 0.0)
                or (walls and budget.bram36 is not None and sum(c.bram36 for c in chosen) > budget.bram36)):
            return None
        chosen = _dsps_to_luts(arith, chosen, plan, budget, cost)
        if chosen is None or (walls and budget.lut is not None and sum(c.lut for c in chosen) > budget.lut):
            return None
        return chosen

    def fastest(plan: dict[str, str], walls: bool) -> tuple[int, list[StageCost]] | None:
        targets = sorted({c.cycles for lr in arith for c in options(lr, plan[lr.name])})
        for target in targets:
            found = at_target(plan, target, walls)
            if found is not None:
                return target, found
        return None

    chosen = None
    groups = placement_plans(layers, budget)
    for plans in groups:
        found = [f for f in (fastest(plan, walls=True) for plan in plans) if f]
        if found:
            chosen = min(found, key=lambda f: f[0])[1]
            break
    if chosen is None:  # no placement fits the estimates: in ROM, the estimates dropped (yosys judges them)
        found = fastest(groups[0][0], walls=False)
        chosen = found[1] if found else [max(options(lr, "rom"), key=lambda c: c.cycles) for lr in arith]
    for lr, c in zip(arith, chosen, strict=True):
        lr.reuse_factor, lr.placement, lr.mac = c.reuse_factor, c.placement, c.mac


def _dsps_to_luts(arith: list, chosen: list[StageCost], plan: dict[str, str], budget: Budget,
                  cost) -> list[StageCost] | None:
    """``chosen`` with output columns moved to LUT multipliers until the DSP slices fit ``budget.multipliers``:
    each step moves the column (or packed pair) that costs the fewest LUTs per slice saved; None when even every
    column in LUTs does not fit."""
    chosen = list(chosen)
    while sum(c.dsps for c in chosen) > budget.multipliers:
        best = None
        for i, (lr, c) in enumerate(zip(arith, chosen, strict=True)):
            mac = c.mac
            for step in (1, 2):
                if mac.lut_outputs + step > mac.po:
                    break
                try:
                    moved = cost(lr, plan[lr.name], MacArray(mac.pi, mac.po, mac.pack, mac.lut_outputs + step))
                except ValueError:  # no measured LUT cost at these widths: the layer stays on DSP slices
                    break
                saved = c.dsps - moved.dsps
                if saved > 0:
                    rate = (moved.lut - c.lut) / saved
                    if best is None or rate < best[0]:
                        best = (rate, i, moved)
                    break
        if best is None:
            return None
        chosen[best[1]] = best[2]
    return chosen


def least_block_ram(layers: list, budget: Budget) -> tuple[dict[str, str], float, int] | None:
    """Of every placement :func:`placement_plans` offers, the one whose slowest folding (every layer at its largest
    reuse factor: the fewest multipliers, its weights in the deepest memories) needs the least block RAM:
    (plan, its BRAM36, the bits it streams per image); None on a board where weights cannot leave the ROMs. A
    streamed transposed convolution's frame buffers count, so streaming is not always less. What a refusal quotes
    when no placement fits."""
    if not budget.off_rom:
        return None
    arith = [lr for lr in layers if lr.kind in ARITHMETIC]
    lanes, x_bits = streamed_lanes(layers), input_bits(layers)
    best = None
    for plans in placement_plans(layers, budget):
        for plan in plans:
            cheapest = [stage_cost(lr, max(reuse_factors(lr)), lanes.get(lr.name), budget.lut_per_multiplier,
                                   plan[lr.name], budget.ports, budget.uram is not None, x_bits[lr.name])
                        for lr in arith]
            bram = sum(c.bram36 for c in cheapest)
            if best is None or bram < best[1]:
                best = (plan, bram, sum(c.stream_bits for c in cheapest))
    return best


def _fold(arith: list, costs: dict[str, list[StageCost]], budget: Budget,
          relax_bram: bool) -> tuple[int, list[StageCost]] | None:
    """The smallest target whose stages fit ``budget`` and those stages (see :func:`choose_reuse_factors`), or
    None."""

    def need(c: StageCost) -> tuple[float, ...]:
        return (c.multipliers, c.bram36, c.lut, c.uram, c.stream_bits)

    ddr = budget.ports.ddr_bits_per_cycle if budget.ports is not None else math.inf
    totals = [budget.multipliers, math.inf if budget.bram36 is None else budget.bram36,
              math.inf if budget.lut is None else budget.lut, budget.uram or 0.0, math.inf]
    for k in ((1, 2) if relax_bram else (2,)):  # an estimate no folding can meet is an estimate, not a wall
        if sum(min(need(c)[k] for c in costs[lr.name]) for lr in arith) > totals[k]:
            totals[k] = math.inf

    def pick(target: int) -> list[StageCost] | None:
        """The cheapest stages that all run in ``target`` cycles and fit together, or None: a depth-first search
        over each layer's options that no other option beats on every resource, pruned by what the remaining
        layers need at least."""
        limits = (*totals[:4], target * ddr)
        fronts = []
        for lr in arith:
            fast = sorted((c for c in costs[lr.name] if c.hls_cycles <= target),
                          key=lambda c: (c.multipliers, c.bram36, c.lut, c.uram, c.stream_bits, -c.reuse_factor))
            front = [c for i, c in enumerate(fast)
                     if not any(all(x <= y for x, y in zip(need(o), need(c), strict=True)) for o in fast[:i])]
            if not front:
                return None
            fronts.append(front)
        n = len(limits)
        floor = [tuple(min(need(c)[k] for c in front) for k in range(n)) for front in fronts]
        rest = [tuple(sum(f[k] for f in floor[i:]) for k in range(n)) for i in range(len(fronts) + 1)]

        def search(i: int, used: tuple[float, ...]) -> list[StageCost] | None:
            if i == len(fronts):
                return []
            for c in fronts[i]:
                now = tuple(u + x for u, x in zip(used, need(c), strict=True))
                if all(m + r <= t for m, r, t in zip(now, rest[i + 1], limits, strict=True)):
                    tail = search(i + 1, now)
                    if tail is not None:
                        return [c, *tail]
            return None

        return search(0, (0,) * n)

    for target in sorted({c.hls_cycles for options in costs.values() for c in options}):
        best = pick(target)
        if best is not None:
            return target, best
    return None


def dense_split(n_in: int, n_out: int, p: int, out_lanes: int | None = None) -> tuple[int, int]:
    """How a MAC array (the RTL's ``fg_mac_array``, in ``fg_dense`` and ``fg_conv2d``) spreads ``p`` multipliers:
    ``(PI, PO)`` = inputs per output and outputs per cycle.

    ``PI = min(p, n_in)`` and ``PO = p // PI``; legal when ``PI`` divides ``n_in`` and ``PO`` divides ``n_out``
    and, when the result leaves in beats of ``out_lanes`` lanes (``OUT_LANES``, default ``n_out``), ``PO``
    divides ``out_lanes`` (and ``out_lanes`` divides ``n_out``). One vector then takes ``n_in * n_out / p``
    cycles (hls4ml's reuse factor).
    """
    if p < 1:
        raise ValueError(f"parallelism must be >= 1, got {p}")
    out_lanes = n_out if out_lanes is None else out_lanes
    if out_lanes < 1 or n_out % out_lanes:
        raise ValueError(f"{out_lanes} output lanes per beat do not divide {n_out} outputs")
    pi = min(p, n_in)
    po = p // pi
    if pi * po != p or n_in % pi or out_lanes % po:
        raise ValueError(
            f"{p} multipliers do not split {n_in} inputs x {n_out} outputs in beats of {out_lanes}: need p | n_in, "
            f"or n_in | p and (p / n_in) | {out_lanes}")
    return pi, po


def legal_parallelism(n_in: int, n_out: int, out_lanes: int | None = None) -> list[int]:
    """Every multiplier count the RTL's ``fg_dense`` accepts for an ``n_in`` x ``n_out`` layer (output beats of
    ``out_lanes`` lanes, default ``n_out``), ascending: by :func:`dense_split`'s rule, the divisors of ``n_in``
    and ``n_in`` times the divisors of ``out_lanes`` (none when ``out_lanes`` does not divide ``n_out``)."""
    out_lanes = n_out if out_lanes is None else out_lanes
    if out_lanes < 1 or n_out % out_lanes:
        return []
    return sorted({q for q in range(1, n_in + 1) if n_in % q == 0}
                  | {n_in * d for d in range(1, out_lanes + 1) if out_lanes % d == 0})
