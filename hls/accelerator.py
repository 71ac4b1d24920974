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
from pathlib import Path

import hls4ml
import numpy as np

from fpgagen.core.cache import write_atomic
from fpgagen.core.errors import BuildError, ToolNotFoundError
from fpgagen.core.fixed import FixedType
from fpgagen.core.layers import ARITHMETIC, UnsupportedLayerError
from fpgagen.core.quantized_model import QuantizedModel
from fpgagen.hls.hls4ml_flow import FLOW_VERSION, IO_TYPE, STRATEGY, convert, hls_layer_names, model_hash
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
    off_rom = [f"{lr.name} ({lr.kind}, {lr.placement})" for lr in model.layers
               if lr.kind in ARITHMETIC and lr.placement != "rom"]
    if off_rom:  # the C simulation has weight ports (hls4ml_weight_ports); the AXI wrapper, block design and driver
        # do not yet
        raise UnsupportedLayerError(
            f"the hls4ml back end's board project keeps weights in bitstream ROMs only; it cannot place "
            f"{', '.join(off_rom)} (its C simulation realises loaded and streamed dense layers, but the AXI wrapper, "
            "block design and driver have no weight ports yet): quantize for a board whose block RAM holds these "
            "weights (--board), or build the RTL overlay")
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
    model.save(out_dir / "quantized")
    manifest = _manifest(model, hm, spec)
    manifest["fit"] = {**fit.as_dict(), "forced": bool(fit.problems)}
    write_atomic(out_dir / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return manifest


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
    ``<preset>.quantized/`` and, where `fpgagen convert` exported it, the numpy float reference as
    ``<preset>.float.npz`` (the board-side comparison's reference). Returns the paths by kind."""
    from fpgagen.core.manifest import OverlayManifest

    project_dir, target = Path(project_dir), Path(target)
    manifest = json.loads((project_dir / "manifest.json").read_text())
    model = QuantizedModel.load(project_dir / manifest["files"]["quantized_model"])
    preset = manifest["preset"]
    target.mkdir(parents=True, exist_ok=True)
    out = {"bit": target / f"{preset}.bit", "hwh": target / f"{preset}.hwh", "manifest": target / f"{preset}.json",
           "quantized": target / f"{preset}.quantized"}
    shutil.copyfile(bit, out["bit"])
    shutil.copyfile(hwh, out["hwh"])
    cells = {key: manifest["kernel"][key].split("/") for key in ("dma", "block_design_cell")}
    OverlayManifest(preset=preset, latent_dim=model.latent_dim, image_shape=tuple(model.image_shape),
                    hierarchy=cells["dma"][0], dma=cells["dma"][1], kernel=cells["block_design_cell"][1],
                    board=manifest["board"]).save(out["manifest"])
    shutil.rmtree(out["quantized"], ignore_errors=True)
    model.save(out["quantized"])
    if (project_dir / FLOAT_REFERENCE).is_file():
        out["float_reference"] = target / f"{preset}.float.npz"
        shutil.copyfile(project_dir / FLOAT_REFERENCE, out["float_reference"])
    return out
