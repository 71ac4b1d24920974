"""The RTL kernel's board project: the generated SystemVerilog top in the block design in place of hls4ml's kernel.

:func:`write_rtl_project` writes, under ``out_dir``: ``rtl/`` (the library modules, the generated top
``fg_top_*.sv`` with its ``$readmemh`` files beside it, named relatively, and the wrapper ``fg_kernel_wrapper.v``),
``build.tcl`` (a Vivado project for the board's part and board files, every source added, the block design, the
bitstream, copied to ``fg_kernel.bit`` / ``fg_kernel.hwh``), ``quantized/``, ``manifest.json`` and, where layers are
loaded or streamed, ``weights.bin``. The folder is self-contained: move it anywhere (to the machine with Vivado)
and run ``fpgagen build --kernel rtl`` (:func:`build_rtl_overlay`, Vivado only) or ``vivado -mode batch -source
build.tcl`` in it.

The block design is the one hls4ml's kernel sits in (:mod:`fpgagen.overlays.block_design`: the same PS, data DMA
``hier_0/axi_dma_0`` and weight DMAs ``hier_0/axi_dma_w<k>`` at the same addresses, the same clock), with the cell
``hier_0/fg_kernel_0`` where hls4ml's ``myproject_axi_0`` was; the manifest is the hls project's board and stream
contract (:func:`fpgagen.overlays.project.project_manifest`) and the weights file the same bytes. So the PYNQ
driver, the virtual board and ``install_overlay`` treat both kernels alike, and the board runs what Verilator
simulated: the generated top itself, the RTL twin of :mod:`fpgagen.rtl.generate`.

Why a module reference through a Verilog wrapper, not an IP packaged with IP-XACT: the sources stay plain files
that Vivado, Verilator and yosys read as they are, the whole project is one Tcl script that runs in a fresh Vivado
(no ``ipx::package_project`` step, no ``component.xml`` to keep in step with a regenerated top, no IP repository or
version to bump), and every part of it can be checked here without Vivado. Vivado's module reference takes only a
Verilog or VHDL top, so ``fg_kernel_wrapper.v`` is a thin Verilog-2001 shell around the SystemVerilog top (the
modules below it may be SystemVerilog); its ``X_INTERFACE_INFO`` / ``X_INTERFACE_PARAMETER`` attributes give IP
integrator what an IP's ``component.xml`` would: the AXI-Stream interfaces ``s_axis``, ``m_axis`` and
``s_axis_w<k>``, the clock ``aclk`` (``ASSOCIATED_BUSIF`` every stream, ``ASSOCIATED_RESET aresetn``, ``FREQ_HZ``
of the board's fabric clock) and the active-low reset. The top's ``w_wait`` (a status for the simulation harness)
is left unconnected.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fpgagen.core.errors import BuildError
from fpgagen.core.quantized_model import QuantizedModel
from fpgagen.overlays import project
from fpgagen.overlays.block_design import CLOCK_PINS, HIERARCHY, PS_CELL, Kernel, block_design_tcl, clock_source
from fpgagen.overlays.block_design import weight_ports_tcl as add_weight_dmas
from fpgagen.overlays.boards import Board, get_board
from fpgagen.rtl.generate import GeneratedDesign, generate_rtl, model_hash

MANIFEST_FORMAT = "fpgagen-rtl-kernel-1"
RTL_DIR = "rtl"  # the project's HDL and memory files
WRAPPER = "fg_kernel_wrapper"
KERNEL_CELL = "fg_kernel_0"
BUILD_SCRIPT = "build.tcl"
VIVADO_DIR = "vivado"  # the Vivado project build.tcl creates
BITSTREAM, HARDWARE_HANDOFF = "fg_kernel.bit", "fg_kernel.hwh"  # where build.tcl copies Vivado's
BUILD_TOOLS = ("vivado",)
STREAM_BITS = 32  # one float32 per beat, as hls4ml's kernel


def wrapper_verilog(design: GeneratedDesign, board: Board) -> str:
    """``fg_kernel_wrapper.v``: the Verilog-2001 shell Vivado's module reference takes, around ``design.top``.

    Ports: ``aclk``, ``aresetn``, the AXI-Stream interfaces ``s_axis`` (latents), ``m_axis`` (images; ``TKEEP``
    all ones, as the DMA's S2MM expects whole beats) and ``s_axis_w<k>`` (weights, the board's HP port width), each
    signal tagged with the interface IP integrator infers."""
    streams = ["s_axis", "m_axis"] + [f"s_axis_w{ws.port}" for ws in design.weight_streams]
    freq_hz = round(board.fabric_clock_mhz * 1e6)
    ports = [
        (("xilinx.com:signal:clock:1.0 aclk CLK",
          f"ASSOCIATED_BUSIF {':'.join(streams)}, ASSOCIATED_RESET aresetn, FREQ_HZ {freq_hz}"), "input", 1, "aclk"),
        (("xilinx.com:signal:reset:1.0 aresetn RST", "POLARITY ACTIVE_LOW"), "input", 1, "aresetn"),
    ]

    def stream(name: str, slave: bool, bits: int, keep: bool = False) -> None:
        into, out = ("input", "output") if slave else ("output", "input")
        signals = [("tdata", into, bits), ("tlast", into, 1), ("tvalid", into, 1), ("tready", out, 1)]
        if keep:
            signals.insert(1, ("tkeep", into, bits // 8))
        for sig, direction, width in signals:
            ports.append(((f"xilinx.com:interface:axis:1.0 {name} {sig.upper()}", None), direction, width,
                          f"{name}_{sig}"))

    stream("s_axis", True, STREAM_BITS)
    stream("m_axis", False, STREAM_BITS, keep=True)
    for ws in design.weight_streams:
        stream(f"s_axis_w{ws.port}", True, design.weight_beat_bits)

    lines = [
        "// Generated by fpgagen.rtl.board_project: do not edit.",
        "// The block design's RTL kernel: a Verilog-2001 shell (Vivado's module reference takes a Verilog top) around",
        f"// the SystemVerilog top {design.top}; the attributes make IP integrator infer its AXI-Stream",
        "// interfaces, clock and reset.",
        "",
        "`default_nettype none",
        "",
        f"module {WRAPPER} (",
    ]
    for i, ((info, parameter), direction, width, name) in enumerate(ports):
        lines.append(f'  (* X_INTERFACE_INFO = "{info}" *)')
        if parameter:
            lines.append(f'  (* X_INTERFACE_PARAMETER = "{parameter}" *)')
        vector = f"[{width - 1}:0] " if width > 1 else ""
        lines.append(f"  {direction:6s} wire {vector}{name}" + ("," if i < len(ports) - 1 else ""))
    connections = [f".{name}({name})" for *_, name in ports if not name.endswith("_tkeep")]
    if design.weight_streams:
        connections.append(".w_wait()")
    lines += [
        ");",
        "",
        f"  assign m_axis_tkeep = {{{STREAM_BITS // 8}{{1'b1}}}};",
        "",
        f"  {design.top} u_top (",
        *(f"    {c}" + ("," if i < len(connections) - 1 else "") for i, c in enumerate(connections)),
        "  );",
        "",
        "endmodule",
        "",
        "`default_nettype wire",
        "",
    ]
    return "\n".join(lines)


def rtl_kernel(board: Board, sources: list[str], memory_files: list[str]) -> Kernel:
    """The RTL kernel in the block design of :mod:`fpgagen.overlays.block_design`: ``sources`` and ``memory_files``
    (paths relative to the project) added to a Vivado project in :data:`VIVADO_DIR`, the wrapper as a module
    reference :data:`KERNEL_CELL` (its clock's ``FREQ_HZ`` taken from the PS clock it runs on: the achieved rate,
    99.999 MHz on Zynq UltraScale+), the bitstream and hardware handoff copied to fixed names at the end."""
    ps_clock = f"{PS_CELL[board.ps]}/{CLOCK_PINS[board.ps]}"
    add = "".join(f"    {path} \\\n" for path in sources)
    mems = "".join(f"    {path} \\\n" for path in memory_files)
    sources_tcl = (
        "# fpgagen: the RTL kernel's sources (the wrapper, the generated top, the library) and its $readmemh files,\n"
        "# named relatively: Vivado's synthesis finds a memory file by name among the project's files.\n"
        f"add_files -norecurse [list \\\n{add}]\n")
    if memory_files:
        sources_tcl += (f"set fg_mems [add_files -norecurse [list \\\n{mems}]]\n"
                        "set_property file_type {Memory Initialization Files} $fg_mems\n")
    sources_tcl += "update_compile_order -fileset sources_1\n"
    hwh = f"./{VIVADO_DIR}/project_1.*/sources_1/bd/design_1/hw_handoff/design_1.hwh"
    finish = f"""
# fpgagen: the bitstream and hardware handoff at fixed names, for `fpgagen build --kernel rtl` to install.
set fg_bits [glob -nocomplain ./{VIVADO_DIR}/project_1.runs/impl_1/*.bit]
set fg_hwhs [glob -nocomplain {hwh}]
if {{[llength $fg_bits] != 1 || [llength $fg_hwhs] != 1}} {{
    error "fpgagen: expected one bitstream and one hardware handoff, found '$fg_bits' and '$fg_hwhs'"
}}
file copy -force [lindex $fg_bits 0] {BITSTREAM}
file copy -force [lindex $fg_hwhs 0] {HARDWARE_HANDOFF}
"""
    return Kernel(
        writer="fpgagen.rtl.board_project",
        kernel_doc=f"hier_0/{KERNEL_CELL}   fpgagen's RTL kernel (module reference {WRAPPER}), s_axis <- MM2S, "
                   "m_axis -> S2MM",
        run_doc=f"Run from anywhere (it works in its own folder): vivado -mode batch -source {BUILD_SCRIPT}",
        preamble="cd [file dirname [file normalize [info script]]]\n",
        project_dir=VIVADO_DIR,
        sources=sources_tcl,
        catalog="",
        in_bits=str(STREAM_BITS),
        out_bits=str(STREAM_BITS),
        create_kernel=(f"create_bd_cell -type module -reference {WRAPPER} {KERNEL_CELL}\n"
                       f"set_property CONFIG.FREQ_HZ [get_property CONFIG.FREQ_HZ [get_bd_pins {ps_clock}]] "
                       f"[get_bd_pins {KERNEL_CELL}/aclk]\n"),
        kernel=KERNEL_CELL,
        stream_in="s_axis",
        stream_out="m_axis",
        clock_pin="aclk",
        weight_pin=f"{KERNEL_CELL}/s_axis_w{{port}}",
        top_wrapper=("add_files -norecurse [make_wrapper -files [get_files design_1.bd] -top]\n"
                     "set_property top design_1_wrapper [current_fileset]\nupdate_compile_order -fileset sources_1\n"),
        finish=finish,
    )


def write_rtl_project(model: QuantizedModel, out_dir: Path, board: str = "pynq-z2", force: bool = False) -> Path:
    """Write the RTL kernel's board project of ``model`` for ``board`` under ``out_dir``; return ``out_dir``.

    As :func:`fpgagen.hls.accelerator.write_accelerator_project`, the model is checked against the board first
    (:func:`fpgagen.overlays.project.check_board_fit`; refused unless ``force``) and ``manifest.json`` records the
    fit. The kernel is :func:`fpgagen.rtl.generate.generate_rtl`'s top for ``model`` as folded and placed.
    """
    spec = get_board(board)
    fit = project.check_board_fit(model, board, force)
    out_dir = Path(out_dir)
    rtl_dir = out_dir / RTL_DIR
    shutil.rmtree(rtl_dir, ignore_errors=True)
    rtl_dir.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="fgrtl") as tmp:
        design = generate_rtl(model, tmp)
        library = [source for source in design.sources if source != design.top_file]
        for source in library:  # the top is rewritten below
            shutil.copyfile(source, rtl_dir / source.name)
        for mem in design.mem_files:
            shutil.copyfile(mem, rtl_dir / mem.name)
        top = design.top_file.read_text()
        for mem in design.mem_files:
            top = top.replace(f'"{mem}"', f'"{mem.name}"')
        if str(Path(tmp).resolve()) in top:
            raise BuildError(f"{design.top_file.name}: a path into the generated folder is left after naming the "
                             "memory files relatively")
        (rtl_dir / design.top_file.name).write_text(top)
        generated_weights = design.weights_file.read_bytes() if design.weights_file else None
    weights = project.project_weights(model, spec)
    if (weights[0] if weights else None) != generated_weights:
        raise BuildError(f"{model.name}: the RTL's weights file and the weights file of the board project differ")
    (rtl_dir / f"{WRAPPER}.v").write_text(wrapper_verilog(design, spec))

    sources = [f"{RTL_DIR}/{WRAPPER}.v", f"{RTL_DIR}/{design.top_file.name}",
               *(f"{RTL_DIR}/{s.name}" for s in library)]
    memory_files = [f"{RTL_DIR}/{m.name}" for m in design.mem_files]
    kernel = rtl_kernel(spec, sources, memory_files)
    script = block_design_tcl(spec, kernel)
    if design.weight_streams:
        script = add_weight_dmas(spec, script, design.weight_streams, kernel.weight_pin)
    (out_dir / BUILD_SCRIPT).write_text(script)

    manifest = project.project_manifest(
        model, spec, format=MANIFEST_FORMAT, model_hash=model_hash(model),
        block_design=f"fpgagen board_designs/{spec.ps}.tcl",
        clock={"mhz": spec.fabric_clock_mhz, "source": clock_source(spec, BUILD_SCRIPT)},
        kernel={"top": design.top, "wrapper": WRAPPER, "block_design_cell": f"{HIERARCHY}/{KERNEL_CELL}",
                "bound_cycles": design.bound_cycles, "multipliers": design.multipliers,
                "dsp_slices": design.dsps, "lut_multipliers": sum(st.lut_multipliers for st in design.stages)},
        files={"rtl": RTL_DIR, "top": f"{RTL_DIR}/{design.top_file.name}", "wrapper": f"{RTL_DIR}/{WRAPPER}.v",
               "sources": sources, "memory_files": memory_files, "block_design": BUILD_SCRIPT,
               "build_script": BUILD_SCRIPT})
    project.write_manifest(out_dir, model, manifest, fit, weights)
    return out_dir


def build_rtl_overlay(project_dir: Path, board: str = "pynq-z2", overlays_dir: Path | None = None,
                      force: bool = False) -> dict[str, Path]:
    """Build the bitstream of the project :func:`write_rtl_project` wrote and install the overlay.

    Runs ``vivado -mode batch -source build.tcl`` in ``project_dir`` (project, block design, synthesis,
    implementation, bitstream), then installs ``fg_kernel.bit`` / ``.hwh`` with the manifest, QuantizedModel and
    weights file into ``<overlays_dir or ./overlays>/<board>/`` (:func:`fpgagen.overlays.project.install_overlay`,
    as the hls kernel's build). Raises ToolNotFoundError naming Vivado before doing anything where it is missing
    (the RTL kernel needs no HLS tool)."""
    project_dir = Path(project_dir)
    manifest = project.check_build(project_dir, board, force, BUILD_TOOLS,
                           "Vivado (vivado: the RTL kernel's project, block design and bitstream)")
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{project_dir} is not an RTL kernel's project (its manifest is {manifest.get('format')!r}): "
                         "write it with `fpgagen convert --kernel rtl`")
    project.run_build_step(["vivado", "-mode", "batch", "-source", BUILD_SCRIPT], project_dir)
    bit, hwh = project_dir / BITSTREAM, project_dir / HARDWARE_HANDOFF
    if not (bit.is_file() and hwh.is_file()):
        raise BuildError(f"Vivado finished without {BITSTREAM} and {HARDWARE_HANDOFF} in {project_dir}")
    return project.install_overlay(project_dir, bit, hwh, Path(overlays_dir or "overlays") / board)
