"""What every kernel's board project shares beyond the block design: the fit check, the manifest's board and stream
contract, the weights file, the build's checks and the installed overlay.

A board project (``fpgagen convert``) is a folder holding ``quantized/`` (the QuantizedModel the kernel runs),
``manifest.json`` (:func:`project_manifest` plus the kernel's own entries, written by :func:`write_manifest`), the
kernel's sources and block design, and ``weights.bin`` where layers are loaded or streamed. ``fpgagen build`` checks
it (:func:`check_build`), runs the kernel's tools and installs the overlay (:func:`install_overlay`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np

from fpgagen.core.cache import write_atomic
from fpgagen.core.errors import BuildError, ToolNotFoundError
from fpgagen.core.layers import ARITHMETIC
from fpgagen.core.manifest import OverlayManifest, WeightsFile
from fpgagen.core.quantized_model import QuantizedModel
from fpgagen.core.weights_file import weight_image
from fpgagen.overlays.block_design import DATA_DMA, HIERARCHY
from fpgagen.overlays.boards import Board, BoardFit, board_fit, get_board

FLOAT_REFERENCE = "float_reference.npz"  # the FloatModel, written into the project by `fpgagen convert`
WEIGHTS_FILE = "weights.bin"  # in the project; installed beside the .bit as <preset>.weights.bin
QUANTIZED_DIR = "quantized"


class BoardFitError(ValueError):
    """The model does not fit the board (block RAM for its weights, DSP slices for its multipliers)."""


def check_board_fit(model: QuantizedModel, board: str, force: bool = False) -> BoardFit:
    """The model against the board before anything is written: BoardFitError with the figures and the boards where
    it fits, unless ``force`` (then the fit, problems included, goes into the manifest)."""
    fit = board_fit(model, board)
    if fit.problems and not force:
        raise BoardFitError(fit.refusal(model.name))
    return fit


def project_weights(model: QuantizedModel, board: Board) -> tuple[bytes, WeightsFile] | None:
    """The weights file of ``model``'s loaded and streamed layers and its manifest entry (:data:`WEIGHTS_FILE`, the
    board's HP port beats), or None when every weight is a ROM."""
    data, stream = weight_image(model)
    if not stream:
        return None
    blob = data.tobytes()
    return blob, WeightsFile.describe(WEIGHTS_FILE, blob, board.hp_port_bits, stream)


def project_manifest(model: QuantizedModel, board: Board, *, format: str, model_hash: str, block_design: str,
                     clock: dict, kernel: dict, files: dict) -> dict:
    """The manifest entries every kernel's project has: the board, the kernel's cells (``kernel``: at least
    ``block_design_cell`` and ``dma``, paths in the block design), the files (``quantized_model`` added), the
    fixed-point types, the AXI-Stream contract and the layers (types, reuse factors, placements, multipliers)."""
    layers = []
    for lr in model.layers:
        d = {k: v for k, v in lr.to_json().items() if k not in ("in_shape",)}
        if lr.kind in ARITHMETIC:
            d["multipliers"] = lr.multipliers
        layers.append(d)
    c, h, w = model.image_shape
    return {
        "format": format,
        "preset": model.name,
        "model_hash": model_hash,
        "board": board.name,
        "part": board.part,
        "ps": board.ps,
        "dma_base": f"0x{board.dma_base:08X}",
        "block_design": block_design,
        "clock": clock,
        "kernel": {**kernel, "dma": f"{HIERARCHY}/{DATA_DMA}"},
        "files": {"quantized_model": QUANTIZED_DIR, **files},
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
            "output_exact_in_float32": model.output_t.width <= 24,
            "tlast": "output TLAST only on the last beat of an image, and only if some input beat of that latent "
                     "carried TLAST (is_last |= in.last); send a batch as one DMA transfer (TLAST on its final "
                     "beat) and TLAST falls on the last beat of the last image",
        },
        "layers": layers,
    }


def write_manifest(out_dir: Path, model: QuantizedModel, manifest: dict, fit: BoardFit,
                   weights: tuple[bytes, WeightsFile] | None) -> dict:
    """Finish a project under ``out_dir``: the QuantizedModel (``quantized/``), the weights file (``weights``, from
    :func:`project_weights`) named and hashed in ``manifest``, the fit (``forced`` when it has problems) and
    ``manifest.json``, written last. Returns the manifest."""
    out_dir = Path(out_dir)
    model.save(out_dir / QUANTIZED_DIR)
    if weights is not None:
        (out_dir / WEIGHTS_FILE).write_bytes(weights[0])
        manifest["weights"] = weights[1].to_json()
        manifest["files"]["weights"] = WEIGHTS_FILE
    manifest["fit"] = {**fit.as_dict(), "forced": bool(fit.problems)}
    write_atomic(out_dir / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return manifest


def check_build(project_dir: Path, board: str, force: bool, tools: tuple[str, ...], needs: str) -> dict:
    """What ``fpgagen build`` checks before any tool runs; returns the project's manifest.

    The model against the board (hours of Vivado are not spent on what cannot fit: BoardFitError unless ``force``),
    then ``tools`` on PATH (ToolNotFoundError naming the missing ones and what they are for, ``needs``), then the
    manifest, written for ``board``."""
    get_board(board)
    project_dir = Path(project_dir)
    quantized = project_dir / QUANTIZED_DIR
    if (quantized / "model.json").is_file():
        check_board_fit(QuantizedModel.load(quantized), board, force)
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise ToolNotFoundError(
            f"{' and '.join(missing)} not found on PATH: building the {board} overlay needs {needs}; run `fpgagen "
            f"build` where Vivado is installed, on the project `fpgagen convert` writes ({project_dir})")
    manifest_path = project_dir / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} does not exist; write the project with `fpgagen convert`")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("board") != board:
        raise ValueError(f"{project_dir} was written for board {manifest.get('board')!r}, not {board!r}")
    return manifest


def run_build_step(cmd: list[str], cwd: Path) -> None:
    """Run one tool of the build in ``cwd``; BuildError with the last lines of its output when it fails."""
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise BuildError(f"{' '.join(cmd[:3])} failed in {cwd}:\n{tail}")


def install_overlay(project_dir: Path, bit: Path, hwh: Path, target: Path) -> dict[str, Path]:
    """Put everything the board needs for the overlay of ``project_dir`` into ``target``: ``<preset>.bit`` and
    ``.hwh`` (Vivado's), the stream manifest ``<preset>.json`` the driver reads, the QuantizedModel as
    ``<preset>.quantized/``, the weights file of loaded and streamed layers as ``<preset>.weights.bin`` (checked
    against the project's manifest first, hashed in the stream manifest) and, where `fpgagen convert` exported it,
    the numpy float reference as ``<preset>.float.npz`` (the board-side comparison's reference). Returns the paths
    by kind."""
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
