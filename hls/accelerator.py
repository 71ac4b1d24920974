"""The board project: hls4ml's VivadoAccelerator backend (AXI-Stream kernel + Zynq block design) and its build.

:func:`write_accelerator_project` writes, under ``out_dir``: ``quantized/`` (the QuantizedModel), ``hls4ml_prj/``
(the HLS project, the AXI-Stream wrapper ``firmware/myproject_axi.cpp``, the block design ``design.tcl``: Zynq PS
+ AXI DMA + kernel, hls4ml's PYNQ driver) and ``manifest.json`` (types, reuse factors, stream contract, board,
part, clock). :func:`build_overlay` runs Vivado HLS and Vivado on it where they are installed, and copies the
bitstream and hardware handoff to ``<repo>/overlays/<board>/<preset>.bit`` / ``.hwh``.

Boards come from :mod:`fpgagen.overlays.boards`. hls4ml 1.3.0's VivadoAccelerator knows two Zynq boards (its
``supported_boards.json``: pynq-z2, zcu102) and refuses others. For a board it knows (pynq-z2, zcu102) the project
is hls4ml's as written, block design included: hls4ml's zcu102 design has what fpgagen needs (pl_clk0 at the board
preset's 100 MHz, the AXI DMA in simple mode as ``hier_0/axi_dma_0``, the kernel ``hier_0/myproject_axi_0``). For
another board, hls4ml writes the project of ``Board.hls4ml_board`` -- a board with the same processing system
(zcu102 for zcu104 and kv260) -- and fpgagen then replaces what is board-specific: ``design.tcl`` (fpgagen's
template ``board_designs/<ps>.tcl`` filled from the Board), the part in ``project.tcl`` (which ``build_prj.tcl``
gives to Vivado HLS) and in ``hls4ml_config.yml``. The kernel C++ does not depend on the board. hls4ml's files stay
untouched; nothing is registered inside hls4ml.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import hls4ml
import numpy as np

from fpgagen.core.cache import write_atomic
from fpgagen.core.errors import BuildError, ToolNotFoundError
from fpgagen.core.fixed import FixedType
from fpgagen.core.layers import ARITHMETIC
from fpgagen.core.manifest import WeightsFile, weight_dma_name
from fpgagen.core.quantized_model import QuantizedModel
from fpgagen.core.weights_file import weight_image
from fpgagen.hls.hls4ml_flow import FLOW_VERSION, IO_TYPE, STRATEGY, convert, hls_layer_names, model_hash
from fpgagen.hls.hls4ml_weight_ports import (
    BEAT_TYPE,
    PORT_NAME,
    SEND_PASS_CPP,
    WeightPortError,
    add_weight_ports,
    weight_port_passes,
)
from fpgagen.overlays.boards import Board, BoardFit, board_fit, get_board

MANIFEST_FORMAT = "fpgagen-accelerator-1"
FLOAT_REFERENCE = "float_reference.npz"  # the FloatModel, written into the project by `fpgagen convert`
HLS_DIR = "hls4ml_prj"
BOARD_DESIGNS = Path(__file__).resolve().parents[1] / "overlays" / "board_designs"
# Boards whose block design hls4ml 1.3.0 writes itself (its supported_boards.json, Zynq only).
HLS4ML_BOARDS = ("pynq-z2", "zcu102")
BUILD_TOOLS = ("vivado_hls", "vivado")  # hls4ml's VivadoAccelerator build drives vivado_hls, then vivado


def clock_period_ns(board: Board) -> float | int:
    """The HLS clock target: the period of the board's fabric clock (hls4ml's own default is 5 ns)."""
    period = 1000.0 / board.fabric_clock_mhz
    return int(period) if period.is_integer() else period


def block_design_tcl(board: Board) -> str:
    """fpgagen's ``design.tcl`` for ``board``: its processing system's template filled from the registry.

    Raises ValueError for a board whose block design hls4ml writes (there is no fpgagen template for it).
    """
    template = BOARD_DESIGNS / f"{board.ps}.tcl"
    if board.name in HLS4ML_BOARDS or not template.is_file():
        raise ValueError(f"board {board.name}: no fpgagen block design for {board.ps} (hls4ml writes it)")
    fields = {"title": board.title, "part": board.part, "board_part": board.board_part,
              "fabric_clock_mhz": f"{board.fabric_clock_mhz:g}", "dma_base": f"0x{board.dma_base:08X}",
              "dma_range": f"{board.dma_range // 1024}K"}
    text = template.read_text()
    for key, value in fields.items():
        text = text.replace("{{" + key + "}}", value)
    left = sorted(set(re.findall(r"{{(\w+)}}", text)))
    if left:
        raise ValueError(f"{template}: placeholders without a value: {', '.join(left)}")
    return text


def _retarget(hls_dir: Path, board: Board) -> None:
    """Make the project hls4ml wrote for ``board.hls4ml_board`` one for ``board``: design.tcl and the part."""
    (hls_dir / "design.tcl").write_text(block_design_tcl(board))
    for name, pattern, line in (("project.tcl", r'^set part ".*"$', f'set part "{board.part}"'),
                                ("hls4ml_config.yml", r"^Part: .*$", f"Part: {board.part}")):
        path = hls_dir / name
        text, n = re.subn(pattern, line, path.read_text(), flags=re.MULTILINE)
        if n != 1:
            raise BuildError(f"{path}: expected one line matching {pattern!r} to set the part, found {n} "
                             f"(hls4ml {hls4ml.__version__} writes its project differently)")
        path.write_text(text)


class BoardFitError(ValueError):
    """The model does not fit the board (block RAM for its weights, DSP slices for its multipliers)."""


# ------------------------------------------------------------------------------------------- weight ports
WEIGHTS_FILE = "weights.bin"  # in the project; installed beside the .bit as <preset>.weights.bin
# The PS slave ports a weight DMA can take to DDR, in the order streamed ports take them (one each; the data DMA's is
# left out). Zynq-7000: the four 64-bit HP ports (UG585); Zynq UltraScale+: the 128-bit HP0-3 and HPC0 FPD ports.
PS_CELL = {"processing_system7": "processing_system7_0", "zynq_ultra_ps_e": "zynq_ultra_ps_e_0"}
PS_SLAVES = {"processing_system7": ("S_AXI_HP0", "S_AXI_HP1", "S_AXI_HP2", "S_AXI_HP3"),
             "zynq_ultra_ps_e": ("S_AXI_HP0_FPD", "S_AXI_HP1_FPD", "S_AXI_HP2_FPD", "S_AXI_HP3_FPD", "S_AXI_HPC0_FPD")}
PS_REGISTER_MASTER = {"processing_system7": "M_AXI_GP0", "zynq_ultra_ps_e": "M_AXI_HPM0_FPD"}
PSU_SLAVE_GP = {"S_AXI_HPC0_FPD": 0, "S_AXI_HPC1_FPD": 1, "S_AXI_HP0_FPD": 2, "S_AXI_HP1_FPD": 3, "S_AXI_HP2_FPD": 4,
                "S_AXI_HP3_FPD": 5}  # Zynq UltraScale+ PS configuration names its slaves S_AXI_GP<n>


def _enable_slave(board: Board, slave: str) -> str:
    """The PS configuration that turns ``slave`` on at the weight ports' width."""
    if board.ps == "processing_system7":
        n = slave.removeprefix("S_AXI_HP")
        return f"CONFIG.PCW_USE_S_AXI_HP{n} {{1}} CONFIG.PCW_S_AXI_HP{n}_DATA_WIDTH {{{board.hp_port_bits}}}"
    gp = PSU_SLAVE_GP[slave]
    return f"CONFIG.PSU__USE__S_AXI_GP{gp} {{1}} CONFIG.PSU__SAXIGP{gp}__DATA_WIDTH {{{board.hp_port_bits}}}"


def weight_ports_tcl(board: Board, design: str, passes) -> str:
    """``design`` (a block design script of this module's boards) with an MM2S-only AXI DMA per weight port.

    DMA ``hier_0/axi_dma_w<k>`` (:func:`weight_dma_name`; simple mode, 26-bit length, ``hp_port_bits``-bit memory
    side and stream) reads its pass from DDR and feeds the kernel's ``s_axis_w<k>``; its registers sit at the
    virtual board's address, the windows after the data DMA's. A streamed port's DMA gets a PS slave port of its own
    (:data:`PS_SLAVES`, the data DMA's left out): the bandwidth the folding planned for it. A loaded port's DMA
    reads its pass once, when the overlay is loaded, and shares the data DMA's interconnect. Raises ValueError when
    the design does not wire the data DMA as this module expects, or when streamed ports outnumber the free slaves.
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
    lines.insert(0, "# fpgagen: weight ports (fpgagen.hls.accelerator.weight_ports_tcl), an MM2S-only AXI DMA each")
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
            f"[get_bd_intf_pins ${{project_name}}_axi_0/{PORT_NAME.format(port=wp.port)}]",
            f"set fg_seg [get_bd_addr_segs -of_objects [get_bd_addr_spaces {ps}/Data] -filter {{NAME =~ \"*{dma}*\"}}]",
            f"set_property range {board.dma_range // 1024}K $fg_seg",
            f"set_property offset 0x{base:08X} $fg_seg",
        ]
    cells = " ".join(f"[get_bd_cells {weight_dma_name(wp.port)}]" for wp in passes)
    return (design[:group.start()] + "\n".join(lines) + "\n" + group.group(0) + " " + cells
            + design[group.end():])


def add_axi_weight_ports(hls_dir: Path, project: str, passes, weights: bytes) -> None:
    """Give the board project's AXI wrapper ``<project>_axi`` the kernel's weight ports, and its testbench the
    weights file: after :func:`fpgagen.hls.hls4ml_weight_ports.add_weight_ports` gave them to ``<project>``.

    The wrapper passes each ``s_axis_w<k>`` (an AXI4-Stream of ``ap_uint<B>`` beats, no TLAST: the DMA's is left
    unconnected) straight to the kernel. The testbench (``<project>_test.cpp``, Vivado HLS's C simulation and
    co-simulation) reads ``tb_data/weights.bin`` and feeds every loaded pass before its first call and every
    streamed pass before each call, as the board's DMAs do."""
    hls_dir = Path(hls_dir)
    names = [PORT_NAME.format(port=wp.port) for wp in passes]
    params = "".join(f", hls::stream<{BEAT_TYPE}> &{n}" for n in names)
    args = "".join(f", {n}" for n in names)
    edits = [
        (hls_dir / "firmware" / f"{project}_axi.h", rf"(void {project}_axi\([^)]*)\);", rf"\1{params});"),
        (hls_dir / "firmware" / f"{project}_axi.cpp", rf"(void {project}_axi\([^)]*)\)", rf"\1{params})"),
        (hls_dir / "firmware" / f"{project}_axi.cpp", r"(\n([ \t]*)#pragma HLS INTERFACE axis port=out\n)",
         lambda m: m.group(1) + "".join(f"{m.group(2)}#pragma HLS INTERFACE axis port={n}\n" for n in names)),
        (hls_dir / "firmware" / f"{project}_axi.cpp", rf"(\n[ \t]*{project}\(in_local, out_local)\);", rf"\1{args});"),
    ]
    for path, pattern, repl in edits:
        text = path.read_text()
        new, n = re.subn(pattern, repl, text, count=1)
        if n != 1:
            raise WeightPortError(f"{path}: hls4ml's AXI wrapper does not have the text fpgagen adds weight ports to "
                                  f"({pattern!r}); this hls4ml ({hls4ml.__version__}) is not the one fpgagen knows")
        path.write_text(new)

    (hls_dir / "tb_data").mkdir(exist_ok=True)
    (hls_dir / "tb_data" / WEIGHTS_FILE).write_bytes(weights)
    beat_bytes = passes[0].beat_bits // 8
    feed = "".join(
        ("    if (first) " if wp.placement == "loaded" else "    ")
        + f"fpgagen_send_pass<{BEAT_TYPE}, {beat_bytes}>({n}, {wp.offset}UL, {wp.beats}UL);  // {wp.layer}, "
        f"{wp.placement}\n" for wp, n in zip(passes, names, strict=True))
    helper = f"""
// fpgagen: the weights file of the kernel's weight ports, fed as the board's DMAs feed them: each loaded pass
// before the first call, each streamed pass before every call.
{SEND_PASS_CPP}static void fpgagen_tb_feed({params.removeprefix(", ")}) {{
    static bool first = true;
    if (fpgagen_weights.empty()) {{
        std::ifstream f("tb_data/{WEIGHTS_FILE}", std::ios::binary);
        fpgagen_weights.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
        if (fpgagen_weights.size() != {len(weights)}UL) {{
            std::cerr << "ERROR: tb_data/{WEIGHTS_FILE} has " << fpgagen_weights.size() << " bytes, the weight "
                      << "ports take {len(weights)}" << std::endl;
            exit(2);
        }}
    }}
{feed}    first = false;
}}
"""
    test = hls_dir / f"{project}_test.cpp"
    text = test.read_text()
    text, n = re.subn(r"(\nint main\()", lambda m: helper + m.group(1), text, count=1)
    declare = "".join(f'hls::stream<{BEAT_TYPE}> {n}("{n}"); ' for n in names)
    text, calls = re.subn(rf"(\n[ \t]*)({project}_axi\(inputs,\s*outputs)\);",
                          lambda m: f"{m.group(1)}{declare}{m.group(1)}fpgagen_tb_feed({args.removeprefix(', ')});"
                                    f"{m.group(1)}{m.group(2)}{args});", text)
    if n != 1 or calls != 2:
        raise WeightPortError(f"{test}: hls4ml's testbench does not have the main() and the two calls of "
                              f"{project}_axi fpgagen feeds weights around; this hls4ml ({hls4ml.__version__}) is not "
                              "the one fpgagen knows")
    test.write_text(text)


def check_board_fit(model: QuantizedModel, board: str, force: bool = False) -> BoardFit:
    """The model against the board before anything is written: BoardFitError with the figures and the boards where
    it fits, unless ``force`` (then the fit, problems included, goes into the manifest)."""
    fit = board_fit(model, board)
    if fit.problems and not force:
        raise BoardFitError(fit.refusal(model.name))
    return fit


def write_accelerator_project(model: QuantizedModel, out_dir: Path, board: str = "pynq-z2",
                              force: bool = False) -> dict:
    """Write the VivadoAccelerator project of ``model`` for ``board`` under ``out_dir``; return the manifest.

    First the model is checked against the board (:func:`check_board_fit`): one that does not fit is refused before
    anything is written, unless ``force``; the manifest's ``fit`` records the figures, any problem and the warnings
    of a fit with little margin (over UG949's 80%).

    The AXI-Stream ports carry one float32 per beat (``input_type``/``output_type`` 'float', what hls4ml's PYNQ
    driver allocates): the wrapper casts each float to the input type exactly as C simulation does, and every
    output type of at most 24 bits converts to float32 exactly. A fixed-point AXI type is avoided because
    hls4ml 1.3.0 writes its typedef as ``fixed<16,6,TRN,WRAP,0>``, which is not a C++ type (the wrapper does not
    compile; docs/hls4ml-notes.md, section 4).

    ``board`` is a name in :data:`fpgagen.overlays.boards.BOARDS`; for a board hls4ml does not know, the project is
    hls4ml's for ``Board.hls4ml_board`` with fpgagen's block design and part (module docstring).
    """
    spec = get_board(board)
    fit = check_board_fit(model, board, force)
    out_dir = Path(out_dir)
    hls_dir = out_dir / HLS_DIR
    hm = convert(model, hls_dir, backend="VivadoAccelerator", board=spec.hls4ml_board, part=spec.part,
                 interface="axi_stream", driver="python", input_type="float", output_type="float",
                 clock_period=clock_period_ns(spec))
    with contextlib.redirect_stdout(io.StringIO()):  # hls4ml warns that the part is not its board's: expected
        hm.write()
    if spec.hls4ml_board != spec.name:
        _retarget(hls_dir, spec)
    weights = _add_weight_ports(model, hm, hls_dir, spec)
    model.save(out_dir / "quantized")
    manifest = _manifest(model, hm, spec)
    if weights is not None:
        (out_dir / WEIGHTS_FILE).write_bytes(weights[0])
        manifest["weights"] = weights[1].to_json()
        manifest["files"]["weights"] = WEIGHTS_FILE
    manifest["fit"] = {**fit.as_dict(), "forced": bool(fit.problems)}
    write_atomic(out_dir / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return manifest


def _add_weight_ports(model: QuantizedModel, hm, hls_dir: Path, board: Board):
    """The weight ports of a model with loaded or streamed layers, through the written project: the kernel's and
    the C bridge's (:func:`fpgagen.hls.hls4ml_weight_ports.add_weight_ports`), the AXI wrapper's and the
    testbench's (:func:`add_axi_weight_ports`) and a DMA each in the block design (:func:`weight_ports_tcl`).
    Returns (the weights file, its manifest entry), or None when every weight is a ROM."""
    passes = weight_port_passes(model)
    if not passes:
        return None
    data, stream = weight_image(model)
    if [(p.layer, p.offset, p.nbytes) for p in passes] != [(s.layer, s.offset, s.nbytes) for s in stream]:
        raise WeightPortError(f"{model.name}: hls4ml's weight ports and the weights file disagree on the passes")
    project = hm.config.get_project_name()
    add_weight_ports(hls_dir, project, passes, bridge_top=f"{project}_axi")
    blob = data.tobytes()
    add_axi_weight_ports(hls_dir, project, passes, blob)
    design = hls_dir / "design.tcl"
    design.write_text(weight_ports_tcl(board, design.read_text(), passes))
    return blob, WeightsFile.describe(WEIGHTS_FILE, blob, board.hp_port_bits, stream)


def _manifest(model: QuantizedModel, hm, board: Board) -> dict:
    names = hls_layer_names(model)
    project = hm.config.get_project_name()
    period = float(hm.config.get_config_value("ClockPeriod"))
    layers = []
    for lr in model.layers:
        d = {k: v for k, v in lr.to_json().items() if k not in ("in_shape",)}
        d["hls4ml_name"] = names[lr.name]
        if lr.kind in ARITHMETIC:
            d["multipliers"] = lr.multipliers
        layers.append(d)
    mapped = set(names.values()) | {"input_1"}
    inserted = []
    for layer in hm.get_layers():
        if layer.name in mapped:  # what is left: ZeroPadding2D before padded convs, the Repack replacing a view
            continue
        types = {k: str(FixedType.parse(str(v.precision))) for k, v in layer.attributes.items()
                 if k.endswith("_t") and hasattr(v, "precision") and "fixed" in str(v.precision)}
        inserted.append({"hls4ml_name": layer.name, "class": layer.class_name, "types": types})
    c, h, w = model.image_shape
    out_bits = model.output_t.width
    return {
        "format": MANIFEST_FORMAT,
        "preset": model.name,
        "model_hash": model_hash(model),
        "board": board.name,
        "part": board.part,
        "ps": board.ps,
        "dma_base": f"0x{board.dma_base:08X}",
        "block_design": ("hls4ml VivadoAccelerator template" if board.hls4ml_board == board.name else
                         f"fpgagen board_designs/{board.ps}.tcl (hls4ml project written for {board.hls4ml_board})"),
        "clock": {"hls_period_ns": period, "mhz": round(1000.0 / period, 3), "source": _clock_source(board)},
        "hls4ml": hls4ml.__version__,
        "flow_version": FLOW_VERSION,
        "backend": "VivadoAccelerator",
        "io_type": IO_TYPE,
        "strategy": STRATEGY,
        "kernel": {"project": project, "top": f"{project}_axi", "block_design_cell": f"hier_0/{project}_axi_0",
                   "dma": "hier_0/axi_dma_0"},
        "files": {"quantized_model": "quantized", "hls_project": HLS_DIR,
                  "axi_wrapper": f"{HLS_DIR}/firmware/{project}_axi.cpp",
                  "block_design": f"{HLS_DIR}/design.tcl", "hls_build_script": f"{HLS_DIR}/build_prj.tcl",
                  "pynq_driver": f"{HLS_DIR}/axi_stream_driver.py"},
        "input_t": str(model.input_t),
        "output_t": str(model.output_t),
        "stream": {
            "protocol": "AXI4-Stream, one value per beat, ap_ctrl_none (free running), one latent per invocation",
            "beat_bits": 32,
            "element": "float32",
            "beats_per_latent": model.latent_dim,
            "beats_per_image": int(np.prod(model.image_shape)),
            "input": f"latent[i] on beat i, cast to {model.input_t} (its rounding; saturates beyond its range)",
            "output": f"channels-last: pixel (c, y, x) on beat (y * {w} + x) * {c} + c, of an image ({c}, {h}, {w})",
            "output_exact_in_float32": out_bits <= 24,
            "tlast": "output TLAST only on the last beat of an image, and only if some input beat of that latent "
                     "carried TLAST (is_last |= in.last); send a batch as one DMA transfer (TLAST on its final "
                     "beat) and TLAST falls on the last beat of the last image",
        },
        "layers": layers,
        "inserted_layers": inserted,
    }


CLOCK_PINS = {"processing_system7": "FCLK_CLK0", "zynq_ultra_ps_e": "pl_clk0"}


def _clock_source(board: Board) -> str:
    """Where the kernel's clock comes from: the PS clock of ``design.tcl``, and who sets its rate."""
    source = f"design.tcl: {board.ps} {CLOCK_PINS[board.ps]}, {board.fabric_clock_mhz:g} MHz"
    if board.hls4ml_board == board.name:
        source += f" (the {board.name} board preset's; hls4ml's design does not set it)"
    return source


def build_overlay(project_dir: Path, board: str = "pynq-z2", overlays_dir: Path | None = None,
                  force: bool = False) -> dict[str, Path]:
    """Synthesize the project written by :func:`write_accelerator_project` and build the bitstream.

    Runs ``vivado_hls -f build_prj.tcl`` (C synthesis, IP export) and ``vivado -mode batch -source design.tcl``
    (block design, implementation, bitstream), then copies ``.bit`` and ``.hwh`` to
    ``<overlays_dir or ./overlays>/<board>/<preset>.bit`` / ``.hwh``. Raises ToolNotFoundError naming any
    missing tool before doing anything (hls4ml's VivadoAccelerator flow needs Vivado HLS; Vitis HLS does not run
    its scripts). ``board`` is any board of :data:`fpgagen.overlays.boards.BOARDS`; the project must have been written
    for it. The Zynq UltraScale+ designs take the newest installed Vivado board files of the board (the KV260's come
    from Xilinx's board store, not with Vivado).
    """
    get_board(board)
    project_dir = Path(project_dir)
    quantized = project_dir / "quantized"
    if (quantized / "model.json").is_file():  # the fit first: hours of Vivado are not spent on what cannot fit
        check_board_fit(QuantizedModel.load(quantized), board, force)
    missing = [tool for tool in BUILD_TOOLS if shutil.which(tool) is None]
    if missing:
        raise ToolNotFoundError(
            f"{' and '.join(missing)} not found on PATH: building the {board} overlay needs Vivado HLS (vivado_hls: "
            f"C synthesis and IP export) and Vivado (vivado: block design and bitstream); run `fpgagen build` where "
            f"Vivado is installed, on the project `fpgagen convert` writes ({project_dir})")
    manifest_path = project_dir / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} does not exist; write the project with `fpgagen convert`")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("board") != board:
        raise ValueError(f"{project_dir} was written for board {manifest.get('board')!r}, not {board!r}")
    hls_dir = project_dir / HLS_DIR
    args = "reset=1 csim=0 synth=1 cosim=0 validation=0 export=1 vsynth=0 fifo_opt=0"
    for cmd in (["vivado_hls", "-f", "build_prj.tcl", args], ["vivado", "-mode", "batch", "-source", "design.tcl"]):
        done = subprocess.run(cmd, cwd=hls_dir, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
            raise BuildError(f"{' '.join(cmd[:3])} failed in {hls_dir}:\n{tail}")
    vivado_prj = hls_dir / f"{manifest['kernel']['project']}_vivado_accelerator"
    bits = sorted(vivado_prj.glob("project_1.runs/impl_1/*.bit"))
    hwhs = sorted(vivado_prj.glob("project_1.*/sources_1/bd/design_1/hw_handoff/design_1.hwh"))
    if not bits or not hwhs:
        raise BuildError(f"Vivado finished without a bitstream and hardware handoff under {vivado_prj}")
    return install_overlay(project_dir, bits[0], hwhs[0], Path(overlays_dir or "overlays") / board)


def install_overlay(project_dir: Path, bit: Path, hwh: Path, target: Path) -> dict[str, Path]:
    """Put everything the board needs for the overlay of ``project_dir`` into ``target``: ``<preset>.bit`` and
    ``.hwh`` (Vivado's), the stream manifest ``<preset>.json`` the driver reads, the QuantizedModel as
    ``<preset>.quantized/``, the weights file of loaded and streamed layers as ``<preset>.weights.bin`` (checked
    against the project's manifest first, hashed in the stream manifest) and, where `fpgagen convert` exported it,
    the numpy float reference as ``<preset>.float.npz`` (the board-side comparison's reference). Returns the paths
    by kind."""
    from fpgagen.core.manifest import OverlayManifest

    project_dir, target = Path(project_dir), Path(target)
    manifest = json.loads((project_dir / "manifest.json").read_text())
    model = QuantizedModel.load(project_dir / manifest["files"]["quantized_model"])
    preset = manifest["preset"]
    if "weights" in manifest:  # checked against the project's manifest before anything is installed
        weights_spec = WeightsFile.from_json(manifest["weights"], str(project_dir / "manifest.json"))
        weights_blob = weights_spec.read(project_dir)
    target.mkdir(parents=True, exist_ok=True)
    out = {"bit": target / f"{preset}.bit", "hwh": target / f"{preset}.hwh", "manifest": target / f"{preset}.json",
           "quantized": target / f"{preset}.quantized"}
    shutil.copyfile(bit, out["bit"])
    shutil.copyfile(hwh, out["hwh"])
    cells = {key: manifest["kernel"][key].split("/") for key in ("dma", "block_design_cell")}
    weights = None
    if "weights" in manifest:  # the weights file beside the .bit, named after it
        out["weights"] = target / f"{preset}.weights.bin"
        weights = replace(weights_spec, file=out["weights"].name)  # the same bytes, named after the .bit
        out["weights"].write_bytes(weights_blob)
    OverlayManifest(preset=preset, latent_dim=model.latent_dim, image_shape=tuple(model.image_shape),
                    hierarchy=cells["dma"][0], dma=cells["dma"][1], kernel=cells["block_design_cell"][1],
                    board=manifest["board"], weights=weights).save(out["manifest"])
    shutil.rmtree(out["quantized"], ignore_errors=True)
    model.save(out["quantized"])
    if (project_dir / FLOAT_REFERENCE).is_file():
        out["float_reference"] = target / f"{preset}.float.npz"
        shutil.copyfile(project_dir / FLOAT_REFERENCE, out["float_reference"])
    return out
