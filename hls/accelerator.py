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
import re
from pathlib import Path

import hls4ml

from fpgagen.core.errors import BuildError
from fpgagen.core.fixed import FixedType
from fpgagen.core.quantized_model import QuantizedModel
from fpgagen.hls.hls4ml_flow import FLOW_VERSION, IO_TYPE, STRATEGY, convert, hls_layer_names, model_hash
from fpgagen.hls.hls4ml_weight_ports import (
    BEAT_TYPE,
    PORT_NAME,
    SEND_PASS_CPP,
    WeightPortError,
    add_weight_ports,
    weight_port_passes,
)
from fpgagen.overlays.block_design import HIERARCHY, Kernel, clock_source, weight_ports_tcl
from fpgagen.overlays.block_design import block_design_tcl as board_design
from fpgagen.overlays.boards import Board, get_board
from fpgagen.overlays.project import (
    WEIGHTS_FILE,
    check_board_fit,
    check_build,
    install_overlay,
    project_manifest,
    project_weights,
    run_build_step,
    write_manifest,
)

MANIFEST_FORMAT = "fpgagen-accelerator-1"
HLS_DIR = "hls4ml_prj"
# Boards whose block design hls4ml 1.3.0 writes itself (its supported_boards.json, Zynq only).
HLS4ML_BOARDS = ("pynq-z2", "zcu102")
BUILD_TOOLS = ("vivado_hls", "vivado")  # hls4ml's VivadoAccelerator build drives vivado_hls, then vivado
# hls4ml's kernel in fpgagen's block design: the IP vivado_hls exports (ap_ctrl_none, streams in_r / out_r), the
# project and stream widths from hls4ml's project.tcl, the design run from the hls4ml project as hls4ml's is.
HLS_KERNEL = Kernel(
    writer="fpgagen.hls.accelerator",
    kernel_doc="hier_0/${project_name}_axi_0   the hls4ml kernel (ap_ctrl_none), in_r <- MM2S, out_r -> S2MM",
    run_doc="Run from the hls4ml project after vivado_hls exported the kernel: vivado -mode batch -source design.tcl",
    preamble="set tcldir [file dirname [info script]]\nsource [file join $tcldir project.tcl]\n",
    project_dir="${project_name}_vivado_accelerator",
    sources="set_property ip_repo_paths ${project_name}_prj [current_project]\nupdate_ip_catalog\n",
    catalog="set_property ip_repo_paths ${project_name}_prj/solution1/impl/ip [current_project]\nupdate_ip_catalog\n",
    in_bits="${bit_width_hls_input}",
    out_bits="${bit_width_hls_output}",
    create_kernel="create_bd_cell -type ip -vlnv xilinx.com:hls:${project_name}_axi:1.0 ${project_name}_axi_0\n",
    kernel="${project_name}_axi_0",
    stream_in="in_r",
    stream_out="out_r",
    clock_pin="ap_clk",
    weight_pin="${project_name}_axi_0/" + PORT_NAME,
    top_wrapper="make_wrapper -files [get_files ./${project_name}_vivado_accelerator/project_1.srcs/sources_1/bd/"
                "design_1/design_1.bd] -top\nadd_files -norecurse ./${project_name}_vivado_accelerator/project_1.srcs/"
                "sources_1/bd/design_1/hdl/design_1_wrapper.v\n",
)


def clock_period_ns(board: Board) -> float | int:
    """The HLS clock target: the period of the board's fabric clock (hls4ml's own default is 5 ns)."""
    period = 1000.0 / board.fabric_clock_mhz
    return int(period) if period.is_integer() else period


def block_design_tcl(board: Board) -> str:
    """fpgagen's ``design.tcl`` for ``board``: its processing system's template filled from the registry, hls4ml's
    kernel inside (:data:`HLS_KERNEL`).

    Raises ValueError for a board whose block design hls4ml writes (fpgagen does not replace it).
    """
    if board.name in HLS4ML_BOARDS:
        raise ValueError(f"board {board.name}: no fpgagen block design for {board.ps} (hls4ml writes it)")
    return board_design(board, HLS_KERNEL)


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


# ------------------------------------------------------------------------------------------- weight ports
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
    return write_manifest(out_dir, model, _manifest(model, hm, spec), fit, weights)


def _add_weight_ports(model: QuantizedModel, hm, hls_dir: Path, board: Board):
    """The weight ports of a model with loaded or streamed layers, through the written project: the kernel's and
    the C bridge's (:func:`fpgagen.hls.hls4ml_weight_ports.add_weight_ports`), the AXI wrapper's and the
    testbench's (:func:`add_axi_weight_ports`) and a DMA each in the block design (:func:`weight_ports_tcl`).
    Returns (the weights file, its manifest entry), or None when every weight is a ROM."""
    passes = weight_port_passes(model)
    weights = project_weights(model, board)
    if not passes:
        return weights
    stream = weights[1].ports if weights else []
    if [(p.layer, p.offset, p.nbytes) for p in passes] != [(s.layer, s.offset, s.nbytes) for s in stream]:
        raise WeightPortError(f"{model.name}: hls4ml's weight ports and the weights file disagree on the passes")
    project = hm.config.get_project_name()
    add_weight_ports(hls_dir, project, passes, bridge_top=f"{project}_axi")
    add_axi_weight_ports(hls_dir, project, passes, weights[0])
    design = hls_dir / "design.tcl"
    design.write_text(weight_ports_tcl(board, design.read_text(), passes, HLS_KERNEL.weight_pin))
    return weights


def _manifest(model: QuantizedModel, hm, board: Board) -> dict:
    names = hls_layer_names(model)
    project = hm.config.get_project_name()
    period = float(hm.config.get_config_value("ClockPeriod"))
    mapped = set(names.values()) | {"input_1"}
    inserted = []
    for layer in hm.get_layers():
        if layer.name in mapped:  # what is left: ZeroPadding2D before padded convs, the Repack replacing a view
            continue
        types = {k: str(FixedType.parse(str(v.precision))) for k, v in layer.attributes.items()
                 if k.endswith("_t") and hasattr(v, "precision") and "fixed" in str(v.precision)}
        inserted.append({"hls4ml_name": layer.name, "class": layer.class_name, "types": types})
    source = clock_source(board, "design.tcl")
    if board.hls4ml_board == board.name:
        source += f" (the {board.name} board preset's; hls4ml's design does not set it)"
    manifest = project_manifest(
        model, board, format=MANIFEST_FORMAT, model_hash=model_hash(model),
        block_design=("hls4ml VivadoAccelerator template" if board.hls4ml_board == board.name else
                      f"fpgagen board_designs/{board.ps}.tcl (hls4ml project written for {board.hls4ml_board})"),
        clock={"hls_period_ns": period, "mhz": round(1000.0 / period, 3), "source": source},
        kernel={"project": project, "top": f"{project}_axi", "block_design_cell": f"{HIERARCHY}/{project}_axi_0"},
        files={"hls_project": HLS_DIR, "axi_wrapper": f"{HLS_DIR}/firmware/{project}_axi.cpp",
               "block_design": f"{HLS_DIR}/design.tcl", "hls_build_script": f"{HLS_DIR}/build_prj.tcl",
               "pynq_driver": f"{HLS_DIR}/axi_stream_driver.py"})
    for entry in manifest["layers"]:
        entry["hls4ml_name"] = names[entry["name"]]
    return {**manifest, "hls4ml": hls4ml.__version__, "flow_version": FLOW_VERSION, "backend": "VivadoAccelerator",
            "io_type": IO_TYPE, "strategy": STRATEGY, "inserted_layers": inserted}


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
    project_dir = Path(project_dir)
    manifest = check_build(project_dir, board, force, BUILD_TOOLS,
                           "Vivado HLS (vivado_hls: C synthesis and IP export) and Vivado (vivado: block design and "
                           "bitstream)")
    hls_dir = project_dir / HLS_DIR
    args = "reset=1 csim=0 synth=1 cosim=0 validation=0 export=1 vsynth=0 fifo_opt=0"
    for cmd in (["vivado_hls", "-f", "build_prj.tcl", args], ["vivado", "-mode", "batch", "-source", "design.tcl"]):
        run_build_step(cmd, hls_dir)
    vivado_prj = hls_dir / f"{manifest['kernel']['project']}_vivado_accelerator"
    bits = sorted(vivado_prj.glob("project_1.runs/impl_1/*.bit"))
    hwhs = sorted(vivado_prj.glob("project_1.*/sources_1/bd/design_1/hw_handoff/design_1.hwh"))
    if not bits or not hwhs:
        raise BuildError(f"Vivado finished without a bitstream and hardware handoff under {vivado_prj}")
    return install_overlay(project_dir, bits[0], hwhs[0], Path(overlays_dir or "overlays") / board)
