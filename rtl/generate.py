"""The generator of the RTL twin: a QuantizedModel -> a top module over the ``rtl/sv`` library + memory files.

:func:`generate_rtl` writes ``<top>.sv`` and the ``$readmemh`` files of every weight, bias and table into a
folder and returns a :class:`GeneratedDesign` (files, top name, per-stage parallelism and cycle estimates).

The top mirrors hls4ml's io_stream dataflow behind its VivadoAccelerator wrapper (docs/hls4ml-notes.md §4):

``fg_axis_f32_in`` (latent_dim float32 beats -> one vector) -> one streaming stage per layer -> ``fg_axis_f32_out``
(each pixel -> C float32 beats, channels last), with an ``fg_axis_fifo`` between every two stages. Top ports::

    aclk, aresetn,
    s_axis_tdata[31:0], s_axis_tlast, s_axis_tvalid, s_axis_tready,   // latents, one float32 per beat
    m_axis_tdata[31:0], m_axis_tlast, m_axis_tvalid, m_axis_tready    // images, one float32 per beat
    s_axis_w<k>_tdata[B-1:0], _tlast, _tvalid, _tready                // weights of the k-th loaded/streamed layer
    w_wait[K-1:0]                     // bit k: stage k waits for a weight word (for the simulation harness)

Weights (``Layer.placement``, planned by :mod:`fpgagen.core.folding`): a ``rom`` layer's weights are ``$readmemh``
files; every ``loaded`` or ``streamed`` layer gets a weight port ``s_axis_w<k>`` (k in stream order) of the board's
HP port width B (``model.weight_ports.bits``), an ``fg_weight_gearbox`` turning its beats into the stage's weight
words, and a pass in ``<top>.weights.bin`` (:mod:`fpgagen.core.weights_file`, whose ``WeightPass`` gives offset,
bytes and beats of each). A loaded layer (``WEIGHT_SOURCE`` 1: a RAM, block RAM or UltraRAM) takes its
pass once after reset, a streamed one a pass per image (a dense: ``fg_dense`` ``WEIGHT_SOURCE`` 2; a transposed
convolution: ``fg_conv_transpose2d_ws``, weight-stationary). Streamed passes share the DDR: :attr:`GeneratedDesign.
ddr_cycles` is their bound at the board's derated bandwidth, part of :attr:`GeneratedDesign.bound_cycles`.

Stages per layer kind: dense -> ``fg_dense``; conv2d -> ``fg_conv2d``; conv_transpose2d -> ``fg_conv_transpose2d``
(streamed: ``fg_conv_transpose2d_ws``); relu / leaky_relu / tanh / sigmoid -> ``fg_relu`` / ``fg_leaky_relu`` /
``fg_lut_act``; upsample -> ``fg_upsample``. A reshape (vector -> C x H x W)
has no stage of its own: the dense before it streams its result as H*W pixel beats of C lanes
(``OUT_LANES = C``), with its output rows permuted (the "view fix"): RTL output ``(y*W + x)*C + c`` is torch
output ``c*H*W + y*W + x``, so the flat vector is already channels-last and beat ``y*W + x`` is pixel (y, x).
Element-wise activations between the dense and the reshape commute with that permutation and run behind the
dense on the pixel stream (C lanes instead of H*W*C; same values). Nothing in the top is ever H*W*C lanes wide.

Parallelism and cycles come from the folding's stage model (:func:`fpgagen.core.folding.stage_cost`): a dense or
conv2d stage gets ``P = weights / reuse_factor`` multipliers (the multipliers hls4ml instantiates); where
``fg_dense`` cannot split that P over its inputs and outputs (:func:`fpgagen.core.folding.dense_split`) the
smallest legal P above it is used, so the stage is never slower than hls4ml's; :attr:`Stage.hls_multipliers` keeps
the original. A transposed convolution gets the PI x PO split of :func:`fpgagen.core.transposed.tap_split`, the
same as hls4ml's kernel.

TLAST (the hls4ml wrapper's rule, ``is_last |= in[i].last``): the input side counts ``latent_dim`` beats per
image regardless of TLAST; an image whose input beats carried a TLAST anywhere (early, on the last beat, or on
several) gets TLAST on its last output beat, every other output beat has TLAST low. A batch sent without TLAST
is computed normally and its images simply have no TLAST. Nothing waits for a TLAST, so a missing or early one
never hangs the stream; a partial latent stays in the input gatherer until its remaining beats arrive (or
``aresetn``). ``aresetn`` low clears every stage and FIFO (frames in flight are dropped).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fpgagen.core import golden
from fpgagen.core.folding import WeightPorts, input_bits, stage_cost, streamed_reshape
from fpgagen.core.layers import ACTIVATIONS, implementation, implements, realises, require
from fpgagen.core.quantized_model import Layer, QuantizedModel
from fpgagen.core.transposed import tap_split
from fpgagen.core.weights_file import WeightPass, memory_words, weight_image
from fpgagen.rtl import sv_sources
from fpgagen.rtl.memfiles import write_memh, write_table
from fpgagen.rtl.params import type_params

ELEMENTWISE = ACTIVATIONS  # stages that keep the stream's shape


@dataclass
class Stage:
    """One streaming stage of the generated top.

    Attributes:
        name: instance name (``u_<layer>`` or ``u_axis_in`` / ``u_axis_out``).
        layer: the QuantizedModel layer it implements ('' for the stream adapters).
        module: library module.
        lanes_in, lanes_out: lanes per input / output beat.
        beats_in, beats_out: beats per image on its input / output.
        multipliers: P of an arithmetic stage (0 otherwise).
        hls_multipliers: weights / reuse_factor, what hls4ml instantiates (0 otherwise).
        cycles_per_image: analytical cycles per image when it is never starved or blocked.
        fifo_depth: depth of the fg_axis_fifo behind the stage (0: the last stage).
        placement: where an arithmetic stage's weights live (``rom``, ``loaded``, ``streamed``).
        dsps: DSP slices of an arithmetic stage (= multipliers, unless the RTL kernel's MAC array packs two products
            per slice or builds some in LUTs).
        lut_multipliers: multipliers built in LUTs (the RTL kernel's MAC array; 0 otherwise).
    """

    name: str
    layer: str
    module: str
    lanes_in: int
    lanes_out: int
    beats_in: int
    beats_out: int
    multipliers: int = 0
    hls_multipliers: int = 0
    cycles_per_image: int = 0
    fifo_depth: int = 0
    params: dict = field(default_factory=dict)
    placement: str = "rom"
    dsps: int = 0
    lut_multipliers: int = 0




@dataclass
class GeneratedDesign:
    """What :func:`generate_rtl` wrote.

    Attributes:
        top: top module name (``fg_top_<preset>_<hash>``).
        top_file: the generated SystemVerilog.
        mem_files: the ``$readmemh`` files it reads.
        sources: every HDL file to compile (library modules, then the top).
        stages: in stream order.
        latent_dim, image_shape: the stream contract (beats in = latent_dim, beats out = prod(image_shape)).
        weight_streams: the weight ports, in port order (none when every weight is a ROM).
        weight_beat_bits: bits of a weight port's beat (the board's HP port; 0 without weight ports).
        weights_file: every weight port's pass, concatenated (None without weight ports).
        ddr_cycles: cycles per image the DDR needs for every streamed pass at the weight ports' derated bandwidth
            (0 when nothing is streamed): a bound of the pipeline beside its slowest stage.
    """

    top: str
    top_file: Path
    mem_files: list[Path]
    sources: list[Path]
    stages: list[Stage]
    latent_dim: int
    image_shape: tuple[int, ...]
    weight_streams: list[WeightPass] = field(default_factory=list)
    weight_beat_bits: int = 0
    weights_file: Path | None = None
    ddr_cycles: int = 0

    @property
    def bound_cycles(self) -> int:
        """Cycles per image of the slowest stage, or of the DDR streaming the weights when that is slower: the
        steady-state bound of the pipeline."""
        return max(self.ddr_cycles, *(s.cycles_per_image for s in self.stages))

    @property
    def bottleneck(self) -> Stage:
        return max(self.stages, key=lambda s: s.cycles_per_image)

    @property
    def multipliers(self) -> int:
        return sum(s.multipliers for s in self.stages)

    @property
    def dsps(self) -> int:
        return sum(s.dsps for s in self.stages)

    def summary(self) -> str:
        slowest = "the DDR" if self.ddr_cycles > self.bottleneck.cycles_per_image else self.bottleneck.name
        rows = [f"{self.top}: bound {self.bound_cycles} cycles/image ({slowest}), {self.multipliers} multipliers "
                f"({self.dsps} DSP slices)",
                f"  {'stage':18s} {'module':14s} {'lanes':>11s} {'beats':>9s} {'P':>5s} {'P hls4ml':>8s} {'DSP':>5s} "
                f"{'LUT x':>5s} {'cycles':>7s} {'fifo':>5s}"]
        for s in self.stages:
            rows.append(f"  {s.name:18s} {s.module:14s} {f'{s.lanes_in}->{s.lanes_out}':>11s} "
                        f"{f'{s.beats_in}->{s.beats_out}':>9s} "
                        f"{s.multipliers or '':>5} {s.hls_multipliers or '':>8} {s.dsps or '':>5} "
                        f"{s.lut_multipliers or '':>5} {s.cycles_per_image:>7d} {s.fifo_depth or '':>5}")
        return "\n".join(rows)

    def to_json(self) -> dict:
        d = asdict(self)
        d["weights_file"] = str(self.weights_file) if self.weights_file else None
        d["top_file"] = str(self.top_file)
        d["mem_files"] = [str(p) for p in self.mem_files]
        d["sources"] = [str(p) for p in self.sources]
        d["bound_cycles"] = self.bound_cycles
        return d


def rtl_parallelism(layer: Layer, out_lanes: int | None = None) -> tuple[int, int]:
    """``(P, P_hls)``: the multipliers of the RTL stage and of hls4ml at the layer's reuse factor
    (:func:`fpgagen.core.folding.stage_cost`); ``out_lanes``: lanes per output beat of a dense that streams its
    result in pixel beats (default: the whole vector)."""
    cost = stage_cost(layer, layer.reuse_factor, out_lanes, mac=layer.mac)
    return cost.multipliers, cost.hls_multipliers


def model_hash(model: QuantizedModel) -> str:
    """A short digest of everything that shapes the hardware (types, shapes, codes, reuse factors, placements and
    weight ports)."""
    h = hashlib.sha1()
    h.update(str(model.input_t).encode())
    if model.weight_ports is not None:  # the weight ports' width (a model all in ROM keeps its old hash)
        h.update(json.dumps(model.weight_ports.to_json(), sort_keys=True).encode())
    for lr in model.layers:
        h.update(json.dumps(lr.to_json(), sort_keys=True).encode())
        for arr in (lr.weight, lr.bias):
            if arr is not None:
                h.update(np.ascontiguousarray(arr, np.int64).tobytes())
    return h.hexdigest()[:8]




def _plan(model: QuantizedModel) -> list[tuple[Layer, Layer | None]]:
    """Layers that get a stage, in stream order; a dense followed (after element-wise activations) by a reshape
    comes with that reshape (it then streams pixel beats and the reshape gets no stage), others with None."""
    layers = list(model.layers)
    out: list[tuple[Layer, Layer | None]] = []
    i = 0
    while i < len(layers):
        lr = layers[i]
        if lr.kind == "dense":
            j = streamed_reshape(layers, i)
            if j is not None:
                reshape = layers[j]
                if len(reshape.out_shape) != 3:
                    raise NotImplementedError(f"{reshape.name}: only vector -> (C, H, W) reshapes are supported")
                out.append((lr, reshape))
                out += [(a, None) for a in layers[i + 1 : j]]
                i = j + 1
                continue
        elif lr.kind == "reshape":
            raise NotImplementedError(f"{lr.name}: a reshape must directly follow a dense (and its activations)")
        out.append((lr, None))
        i += 1
    return out


def fifo_depth(image_shape: tuple[int, ...]) -> int:
    """Depth of the FIFO on a stream: two image rows of pixels (slack for a convolution's frame edges),
    at least 4; two beats for whole-vector streams."""
    if len(image_shape) == 3:
        return max(4, 2 * image_shape[2])
    return 2


def generate_rtl(model: QuantizedModel, out_dir: str | Path) -> GeneratedDesign:
    """Write the RTL twin of ``model`` into ``out_dir`` (created): ``<top>.sv`` and its memory files.

    Args:
        model: a validated QuantizedModel.
        out_dir: folder for the generated files; memory files are referenced by absolute path.

    Returns:
        The :class:`GeneratedDesign` (files, top name, stages with parallelism and cycles per image).
    """
    require("rtl", model.layers)
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    top = f"fg_top_{re.sub(r'[^A-Za-z0-9_]', '_', model.name)}_{model_hash(model)}"  # a SystemVerilog name
    mem_files: list[Path] = []
    stages: list[Stage] = []

    x_t = model.input_t
    shape: tuple[int, ...] = (model.latent_dim,)
    stages.append(Stage("u_axis_in", "", "fg_axis_f32_in", 1, model.latent_dim, model.latent_dim, 1,
                        cycles_per_image=model.latent_dim,
                        fifo_depth=fifo_depth(shape),
                        params={"LANES": model.latent_dim, **type_params(x_t, "OUT", cast=True)}))

    def lanes_beats(s: tuple[int, ...]) -> tuple[int, int]:
        return (s[0], s[1] * s[2]) if len(s) == 3 else (s[0], 1)

    x_bits = input_bits(model.layers)
    for lr, reshape in _plan(model):
        lanes_in, beats_in = lanes_beats(shape)
        context = StageContext(out_dir, reshape, model.weight_ports, x_bits[lr.name])
        stage, files = implementation("rtl", lr)(lr, x_t, lanes_in, beats_in, context)
        mem_files += files
        stages.append(stage)
        x_t = lr.result_t
        if reshape is not None:
            shape = reshape.out_shape
        elif lr.kind not in ELEMENTWISE:
            shape = lr.out_shape
        stages[-1].fifo_depth = fifo_depth(shape)

    lanes, beats = lanes_beats(shape)
    if x_t.width > 24:
        raise NotImplementedError(f"output type {x_t} is wider than 24 bits: not exact in float32")
    stages.append(Stage("u_axis_out", "", "fg_axis_f32_out", lanes, 1, beats, lanes * beats,
                        cycles_per_image=lanes * beats, params={"LANES": lanes, **type_params(x_t, "IN")}))

    data, streams = weight_image(model)
    weights_file = None
    if streams:
        weights_file = out_dir / f"{top}.weights.bin"
        weights_file.write_bytes(data.tobytes())
    widths = _stream_widths(model, stages)
    top_file = out_dir / f"{top}.sv"
    top_file.write_text(_top_sv(top, model, stages, widths, streams))
    beat_bits = model.weight_ports.bits if streams else 0
    streamed_bits = sum(ws.beats * beat_bits for ws in streams if ws.placement == "streamed")
    ddr_cycles = math.ceil(streamed_bits / model.weight_ports.ddr_bits_per_cycle) if streamed_bits else 0
    return GeneratedDesign(top, top_file, mem_files, [*sv_sources(), top_file], stages, model.latent_dim,
                           tuple(model.image_shape), streams, beat_bits, weights_file, ddr_cycles)




# ------------------------------------------------------------------------------------- the kinds' stages
@dataclass(frozen=True)
class StageContext:
    """What a stage builder needs beyond its layer: the folder for memory files, the reshape a dense streams
    into (or None), the model's weight ports (None when every weight is a ROM) and the stage's input width."""

    out_dir: Path
    reshape: Layer | None
    ports: WeightPorts | None
    x_bits: int


# Each builder: (layer, input type, lanes and beats per image in, StageContext) -> (Stage, memory files written).
WEIGHT_PORT_MODULES = ("fg_dense", "fg_conv2d", "fg_conv_transpose2d", "fg_conv_transpose2d_ws")
WEIGHT_SOURCE = {"rom": 0, "loaded": 1, "streamed": 2}  # fg_dense's (fg_conv2d and fg_conv_transpose2d: 0 and 1)
realises("rtl", "loaded", "dense", "conv2d", "conv_transpose2d")
realises("rtl", "streamed", "dense", "conv_transpose2d")  # a streamed transposed conv is fg_conv_transpose2d_ws




@implements("rtl", "dense", "conv2d", "conv_transpose2d")
def _arithmetic_stage(lr: Layer, x_t, lanes_in: int, beats_in: int, ctx: StageContext):
    reshape = ctx.reshape
    out_lanes = reshape.out_shape[0] if reshape is not None else None
    # multipliers and cycles: the folding's own model
    cost = stage_cost(lr, lr.reuse_factor, out_lanes, placement=lr.placement, ports=ctx.ports, x_bits=ctx.x_bits,
                      mac=lr.mac)
    p = cost.multipliers
    words, biases = memory_words(lr, reshape)
    types = {**type_params(x_t, "X"), **type_params(lr.weight_t, "W", signed=False),
             **type_params(lr.bias_t, "B", signed=False), **type_params(lr.accum_t, "ACC", signed=False),
             **type_params(lr.result_t, "OUT", cast=True)}
    module = {"dense": "fg_dense", "conv2d": "fg_conv2d", "conv_transpose2d": "fg_conv_transpose2d"}[lr.kind]
    if lr.kind == "dense":
        n_out, n_in = lr.weight.shape
        params = {"N_IN": n_in, "N_OUT": n_out, "P": p}
        lanes_out, beats_out = n_out, 1
        if reshape is not None:
            lanes_out, beats_out = out_lanes, n_out // out_lanes
            params["OUT_LANES"] = out_lanes
    elif lr.kind == "conv_transpose2d":
        c_in, h, wd = lr.in_shape
        c_out, oh, ow = lr.out_shape
        k = lr.weight.shape[-1]
        pi, po = (lr.mac.pi, lr.mac.po) if lr.mac is not None else tap_split(c_in, c_out, lr.reuse_factor)
        params = {"H": h, "W": wd, "C_IN": c_in, "C_OUT": c_out, "K": k, "STRIDE": lr.stride,
                  "PAD": lr.padding, "OUT_PAD": lr.output_padding, "PI": pi, "PO": po}
        lanes_out, beats_out = c_out, oh * ow
        if lr.placement == "streamed":
            module = "fg_conv_transpose2d_ws"
    else:
        c_in, h, wd = lr.in_shape
        c_out, oh, ow = lr.out_shape
        k = lr.weight.shape[-1]
        params = {"H": h, "W": wd, "C_IN": c_in, "C_OUT": c_out, "K": k, "PAD": lr.padding, "P": p}
        lanes_out, beats_out = c_out, oh * ow
    if lr.mac is not None:  # the RTL kernel's MAC array: its split, packed DSP slices and LUT multipliers
        if lr.kind != "conv_transpose2d":
            params["PI"] = lr.mac.pi
        params |= {"PACK": lr.mac.pack, "LUT_OUTS": lr.mac.lut_outputs}
    files = [write_memh(ctx.out_dir / f"{lr.name}_b.mem", biases, lr.bias_t.width)]
    params |= types
    if lr.placement == "rom":
        files.insert(0, write_memh(ctx.out_dir / f"{lr.name}_w.mem", words, lr.weight_t.width))
        params["WEIGHTS_FILE"] = str(files[0])
    elif module != "fg_conv_transpose2d_ws":  # the weight-stationary module has only a weight stream
        params["WEIGHT_SOURCE"] = WEIGHT_SOURCE[lr.placement]
    params["BIAS_FILE"] = str(files[-1])
    return Stage(f"u_{lr.name}", lr.name, module, lanes_in, lanes_out, beats_in, beats_out, p,
                 cost.hls_multipliers, cost.cycles, params=params, placement=lr.placement, dsps=cost.dsps,
                 lut_multipliers=lr.mac.lut_multipliers if lr.mac is not None else 0), files


@implements("rtl", "relu", "leaky_relu", "tanh", "sigmoid")
def _elementwise_stage(lr: Layer, x_t, lanes_in: int, beats_in: int, ctx: StageContext):
    io = {"LANES": lanes_in, **type_params(x_t, "IN"), **type_params(lr.result_t, "OUT", cast=True)}
    files = []
    if lr.kind == "relu":
        module, params = "fg_relu", io
    elif lr.kind == "leaky_relu":
        module = "fg_leaky_relu"
        params = {**io, **type_params(lr.param_t, "PARAM", signed=False), "ALPHA": int(lr.alpha)}
    else:
        module = "fg_lut_act"
        table = golden.activation_table(lr.kind, lr.table_size, lr.table_t)
        files.append(write_table(ctx.out_dir / f"{lr.name}_table.mem", table, lr.table_t.width))
        params = {**io, "TABLE_SIZE": lr.table_size, "SPAN": golden.TABLE_SPAN[lr.kind],
                  **type_params(lr.table_t, "TABLE"), "TABLE_FILE": str(files[0])}
    return Stage(f"u_{lr.name}", lr.name, module, lanes_in, lanes_in, beats_in, beats_in, cycles_per_image=beats_in,
                 params=params), files


@implements("rtl", "upsample")
def _upsample_stage(lr: Layer, x_t, lanes_in: int, beats_in: int, ctx: StageContext):
    c, h, wd = lr.in_shape
    params = {"H": h, "W": wd, "C": c, "X_W": x_t.width, "FACTOR": lr.factor}
    beats_out = h * wd * lr.factor**2
    return Stage(f"u_{lr.name}", lr.name, "fg_upsample", c, c, beats_in, beats_out, cycles_per_image=beats_out,
                 params=params), []


@implements("rtl", "reshape")
def _reshape_stage(lr: Layer, x_t, lanes_in: int, beats_in: int, ctx: StageContext):
    """A reshape has no stage: the dense before it streams pixel beats (see :func:`_plan`); one anywhere else is
    refused there."""
    raise NotImplementedError(f"{lr.name}: a reshape must directly follow a dense (and its activations)")


def _stream_widths(model: QuantizedModel, stages: list[Stage]) -> list[tuple[int, int]]:
    """(input, output) tdata widths of every stage."""
    widths = []
    x_t = model.input_t
    for s in stages:
        if s.module == "fg_axis_f32_in":
            widths.append((32, s.lanes_out * x_t.width))
            continue
        if s.module == "fg_axis_f32_out":
            widths.append((s.lanes_in * x_t.width, 32))
            continue
        lr = model.layer(s.layer)
        out_t = lr.result_t
        widths.append((s.lanes_in * x_t.width, s.lanes_out * out_t.width))
        x_t = out_t
    return widths


def _fmt(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return str(int(value))
    return str(int(value))


def _instance(module: str, name: str, params: dict, ports: dict[str, str]) -> str:
    width = max(map(len, params), default=1)
    plines = ",\n".join(f"    .{k:<{width}}({_fmt(v)})" for k, v in params.items())
    pwidth = max(map(len, ports))
    conns = ",\n".join(f"    .{k:<{pwidth}}({v})" for k, v in ports.items())
    head = f"  {module} #(\n{plines}\n  ) {name} (\n" if params else f"  {module} {name} (\n"
    return head + conns + "\n  );\n"


def _stream_ports(s_net: str, m_net: str) -> dict[str, str]:
    ports = {"clk_i": "aclk", "rst_ni": "aresetn"}
    for side, net in (("s", s_net), ("m", m_net)):
        for sig in ("tdata", "tlast", "tvalid", "tready"):
            ports[f"{side}_axis_{sig}"] = f"{side}_axis_{sig}" if net == side else f"{net}_{sig}"
    return ports


def _top_sv(top: str, model: QuantizedModel, stages: list[Stage], widths: list[tuple[int, int]],
            streams: list[WeightPass]) -> str:
    lines = [
        f"// Generated by fpgagen.rtl.generate for preset {model.name}: do not edit.",
        f"// RTL twin of the hls4ml VivadoAccelerator kernel: {model.latent_dim} float32 beats in per latent,",
        f"// {int(np.prod(model.image_shape))} float32 beats out per image {tuple(model.image_shape)}, channels last.",
        "// TLAST: latent_dim input beats make an image whatever TLAST says; an image gets TLAST on its last",
        "// output beat iff one of its input beats carried TLAST (hls4ml: is_last |= in.last).",
        "// Stages (layer: module, multipliers, analytical cycles per image):",
    ]
    for s in stages:
        lines.append(f"//   {s.name}: {s.module}, P={s.multipliers}, {s.cycles_per_image} cycles"
                     + (f", weights {s.placement}" if s.layer and s.placement != "rom" else ""))
    beat_w = model.weight_ports.bits if streams else 0
    for ws in streams:
        lines.append(f"// s_axis_w{ws.port}: {ws.layer}'s weights ({ws.placement}), {ws.beats} beats of {beat_w} "
                     f"bits per pass " + ("once after reset" if ws.placement == "loaded" else "per image")
                     + " (fpgagen.core.weight_stream layout)")
    weight_ports = [line for ws in streams for line in (
        "",
        f"  input  wire [{beat_w - 1}:0] s_axis_w{ws.port}_tdata,",
        f"  input  wire        s_axis_w{ws.port}_tlast,",
        f"  input  wire        s_axis_w{ws.port}_tvalid,",
        f"  output wire        s_axis_w{ws.port}_tready,")]
    if weight_ports:  # and a status for the simulation harness (left unconnected in a block design)
        weight_ports += ["", f"  output wire [{len(streams) - 1}:0] w_wait  // bit k: stage k waits for a weight word"]
    lines += [
        "",
        "`default_nettype none",
        "",
        f"module {top} (",
        "  input  wire        aclk,",
        "  input  wire        aresetn,",
        "",
        "  input  wire [31:0] s_axis_tdata,",
        "  input  wire        s_axis_tlast,",
        "  input  wire        s_axis_tvalid,",
        "  output wire        s_axis_tready,",
        "",
        "  output wire [31:0] m_axis_tdata,",
        "  output wire        m_axis_tlast,",
        "  output wire        m_axis_tvalid,",
        "  input  wire        m_axis_tready" + ("," if streams else ""),
        *weight_ports,
        ");",
        "",
    ]
    port_of = {ws.layer: ws for ws in streams}
    body = []
    n = len(stages)
    for i, (s, (_, out_w)) in enumerate(zip(stages, widths, strict=True)):
        s_net = "s" if i == 0 else f"q{i - 1}"
        if i == n - 1:
            m_net = "m"
        else:
            m_net = f"d{i}"
            lines += [f"  logic [{out_w - 1}:0] d{i}_tdata, q{i}_tdata;",
                      f"  logic d{i}_tlast, d{i}_tvalid, d{i}_tready, q{i}_tlast, q{i}_tvalid, q{i}_tready;"]
        ports = _stream_ports(s_net, m_net)
        if s.layer in port_of:  # weights from a top-level port through a gearbox (DMA beats -> weight words)
            ws = port_of[s.layer]
            k = ws.port
            lines += [f"  logic [{ws.word_bits - 1}:0] w{k}_tdata;", f"  logic w{k}_tvalid, w{k}_tready;"]
            body.append(_instance("fg_weight_gearbox", f"u_wgear{k}",
                                  {"IN_W": beat_w, "WORD_W": ws.word_bits, "N_WORDS": ws.words},
                                  {"clk_i": "aclk", "rst_ni": "aresetn", "s_axis_tdata": f"s_axis_w{k}_tdata",
                                   "s_axis_tlast": f"s_axis_w{k}_tlast", "s_axis_tvalid": f"s_axis_w{k}_tvalid",
                                   "s_axis_tready": f"s_axis_w{k}_tready", "m_axis_tdata": f"w{k}_tdata",
                                   "m_axis_tvalid": f"w{k}_tvalid", "m_axis_tready": f"w{k}_tready"}))
            ports.update(s_axis_w_tdata=f"w{k}_tdata", s_axis_w_tvalid=f"w{k}_tvalid",
                         s_axis_w_tready=f"w{k}_tready")
            body.append(f"  assign w_wait[{k}] = w{k}_tready & ~w{k}_tvalid;\n")
        elif s.module in WEIGHT_PORT_MODULES:  # its weights in ROM: the weight stream input unused
            ports.update(s_axis_w_tdata="'0", s_axis_w_tvalid="1'b0", s_axis_w_tready="")
        body.append(_instance(s.module, s.name, s.params, ports))
        if i < n - 1:
            body.append(_instance("fg_axis_fifo", f"u_fifo{i}", {"DATA_W": out_w, "DEPTH": s.fifo_depth},
                                  _stream_ports(f"d{i}", f"q{i}")))
    lines.append("")
    lines += body
    lines += ["endmodule", "", "`default_nettype wire", ""]
    return "\n".join(lines)


def total_macs(model: QuantizedModel) -> int:
    """Multiply-accumulates per image (every dense and conv2d)."""
    return sum(lr.multiplications for lr in model.layers)


def projected_images_per_s(bound_cycles: int, clock_hz: float = 100e6) -> float:
    return clock_hz / bound_cycles


def dsp_limit_images_per_s(model: QuantizedModel, dsps: int = 220, clock_hz: float = 100e6) -> float:
    """Images/s at one MAC per DSP per cycle on every DSP: the part's ceiling."""
    return dsps * clock_hz / total_macs(model)


__all__ = ["GeneratedDesign", "Stage", "dsp_limit_images_per_s", "generate_rtl", "model_hash", "projected_images_per_s",
           "rtl_parallelism", "total_macs"]
