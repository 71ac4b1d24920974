"""Executors: one call shape for every target, so the CLI, the comparison and the notebook switch with one word.

An executor runs one model on one target: ``prepare()`` once (compile, build, program the overlay), then
``run(z)`` many times -- latents (N, latent_dim) float in, images (N, C, H, W) float32 out, in the model's output
range. After ``run``, ``last_info`` may hold what the target measured (simulated cycles, DMA time).

Each target takes the model it runs, never a name (names are resolved once, at the edge: the CLI, the
comparison's subject):

=================  ======================  ==============================================================
target             model                   what runs
=================  ======================  ==============================================================
``torch``          Generator               the float PyTorch generator on the CPU
``numpy``          FloatModel              the same float generator in numpy float32 (what the board's CPU
                                           runs: it has no torch)
``golden``         QuantizedModel          numpy integer arithmetic (bit-exact with everything below)
``csim``           QuantizedModel          hls4ml's C simulation of the HLS kernel (compiled once, cached)
``virtual-golden`` QuantizedModel          the PYNQ driver on the virtual board, its kernel backed by the
                                           golden model (fast; checks the driver, DMA and stream contract)
``rtlsim``         QuantizedModel          the PYNQ driver on the virtual board, its kernel the Verilator
                                           build of the RTL twin (cycle-accurate; reports simulated cycles)
``board``          QuantizedModel          the PYNQ driver on a real PYNQ board with the overlay
                                           ``overlays/<board>/<name>.bit`` (or, with
                                           ``FPGAGEN_VIRTUAL_BOARD=1`` and a virtual overlay, on the virtual
                                           board -- labelled virtual)
=================  ======================  ==============================================================

A :class:`~fpgagen.models.generator.Generator` comes from the torch front end
(:func:`fpgagen.models.presets.load_preset`); a :class:`~fpgagen.core.float_model.FloatModel` from
``generator.float_model()`` or a ``.float.npz`` file; a QuantizedModel from
:func:`fpgagen.models.quantize.quantize` or a saved folder. Board side (numpy + pynq, no torch) every target but
``torch`` runs from the files.

To add a target, subclass :class:`Executor`, implement ``_prepare`` and ``_run``, and decorate the class with
:func:`register_executor`. Imports of heavy packages stay inside the methods, so listing targets is cheap.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

EXECUTORS: dict[str, type[Executor]] = {}
OVERLAY_DIR = Path("overlays")  # built overlays: the user's, relative to the current folder
PYNQ_IMAGE_MARKER = Path("/proc/device-tree/chosen/pynq_board")  # what pynq itself takes for a PYNQ image


def on_pynq_image() -> bool:
    """Whether this is a PYNQ board's image (a real board, not the virtual one)."""
    return PYNQ_IMAGE_MARKER.exists()


def register_executor(cls: type[Executor]) -> type[Executor]:
    EXECUTORS[cls.target] = cls
    return cls


def get_executor(target: str, model, **options) -> Executor:
    """An executor of ``model`` (the kind the target takes, see the module docstring) on ``target``; a ValueError
    lists the known targets otherwise."""
    if target not in EXECUTORS:
        raise ValueError(f"unknown target {target!r}; known targets: {', '.join(EXECUTORS)}")
    cls = EXECUTORS[target]
    if not any(c.__name__ == cls.takes for c in type(model).__mro__):
        raise TypeError(f"target {target!r} runs a {cls.takes}, got a {type(model).__name__}"
                        + (f" ({model.name})" if isinstance(getattr(model, "name", None), str) else "")
                        + f": {HOW_TO_GET[cls.takes]}")
    return cls(model, **options)


HOW_TO_GET = {"QuantizedModel": "quantize it first (fpgagen.models.quantize.quantize(generator)) or load a saved one "
                                "(QuantizedModel.load)",
              "FloatModel": "take generator.float_model(), or FloatModel.load a .float.npz",
              "Generator": "load_preset(name) or fpgagen.models.load.load_model(...)"}


class Executor:
    """Base class: ``prepare()`` once, ``run(z)`` many. Thread-safe: one executor shared by threads runs one call
    at a time (simulators, DMA buffers and ``last_info`` are per executor).

    Args:
        model: what the target runs (see the module docstring).
    """

    target = ""
    description = ""
    takes = "QuantizedModel"  # the class of model the target runs (the module docstring's table)

    def __init__(self, model):
        self.model = model
        self.prepared = False
        self.last_info: dict = {}
        self._lock = threading.RLock()

    @property
    def name(self) -> str:
        """The model's name (a preset's or an imported model's)."""
        return self.model.name

    def prepare(self) -> Executor:
        with self._lock:
            if not self.prepared:
                self._prepare()
                self.prepared = True
        return self

    def run(self, z) -> np.ndarray:
        with self._lock:
            self.prepare()
            return self._run(z)

    def close(self) -> None:
        """Release what ``prepare`` acquired (buffers, simulators)."""

    def _prepare(self) -> None:
        pass

    def _run(self, z) -> np.ndarray:
        raise NotImplementedError


@register_executor
class TorchExecutor(Executor):
    target = "torch"
    takes = "Generator"
    description = "float PyTorch on the CPU"

    def _run(self, z) -> np.ndarray:
        return self.model.generate(z)


@register_executor
class NumpyExecutor(Executor):
    target = "numpy"
    takes = "FloatModel"
    description = "float generator in numpy float32 (the board's CPU baseline)"

    def _run(self, z) -> np.ndarray:
        return self.model.run(z)


@register_executor
class GoldenExecutor(Executor):
    target = "golden"
    description = "fixed point, numpy integer arithmetic"

    def _run(self, z) -> np.ndarray:
        from fpgagen.core import golden

        return golden.generate(self.model, z)


@register_executor
class CSimExecutorTarget(Executor):
    target = "csim"
    description = "hls4ml C simulation of the HLS kernel"

    def _prepare(self) -> None:
        from fpgagen.hls.csim import CSimExecutor

        weights = None
        if any(lr.weight is not None and lr.placement != "rom" for lr in self.model.layers):
            from fpgagen.core.weights_file import weight_image  # the weights file the board's DMAs send, for its ports

            weights = weight_image(self.model)[0]
        self.csim = CSimExecutor(self.model, weights=weights)
        self.csim.prepare()

    def _run(self, z) -> np.ndarray:
        return self.csim.run(z)


class _DriverExecutor(Executor):
    """Runs the board-side driver (``GeneratorOverlay``) on an overlay; subclasses say which."""

    def _run(self, z) -> np.ndarray:
        images = self.overlay.generate(z)
        timing = self.overlay.generator.last_timing
        self.last_info = dataclasses.asdict(timing) if timing else {}
        return images

    def close(self) -> None:
        if getattr(self, "overlay", None) is not None:
            self.overlay.generator.close()


@register_executor
class VirtualGoldenExecutor(_DriverExecutor):
    target = "virtual-golden"
    description = "PYNQ driver on the virtual board, kernel backed by the golden model"
    backend = "golden"

    def __init__(self, model, board: str | None = None):
        """``board``: the virtual board to stand in for (default :data:`fpgagen.overlays.boards.DEFAULT_BOARD`)."""
        super().__init__(model)
        if board is None:
            from fpgagen.overlays.boards import DEFAULT_BOARD as board
        self.board_name = board

    def _prepare(self) -> None:
        from fpgagen.host.driver import GeneratorOverlay
        from fpgagen.host.virtual_board import VirtualBoard, activate, write_virtual_overlay

        activate(VirtualBoard(board=self.board_name))
        self._dir = tempfile.TemporaryDirectory(prefix=f"fpgagen-{self.target}-")
        bit = write_virtual_overlay(self.model, Path(self._dir.name), backend=self.backend, board=self.board_name)
        self.overlay = GeneratorOverlay(str(bit))


@register_executor
class RtlSimExecutor(VirtualGoldenExecutor):
    """The virtual board with the Verilator build of the RTL twin as its kernel (:mod:`fpgagen.rtl.rtlsim`: built
    once per model content into ``<cache>/rtlsim/<hash>/``, reused afterwards). ``last_info`` adds
    ``cycles`` (simulated kernel clocks of the run) and ``cycles_per_image``."""

    target = "rtlsim"
    description = "PYNQ driver on the virtual board, kernel = Verilator build of the RTL twin"
    backend = "rtlsim"

    def _prepare(self) -> None:
        from pynq.pl_server.device import Device

        super()._prepare()
        self.board = Device.active_device

    @property
    def bound_cycles(self) -> int:
        """The pipeline's analytical cycles per image (its slowest stage), from the Verilator build."""
        return self.board.kernel.build.bound_cycles

    def _run(self, z) -> np.ndarray:
        before = self.board.kernel_cycles or 0
        images = super()._run(z)
        cycles = (self.board.kernel_cycles or 0) - before
        self.last_info.update(cycles=cycles, cycles_per_image=cycles / max(len(images), 1))
        return images


@register_executor
class BoardExecutor(_DriverExecutor):
    """Args beyond :class:`Executor`'s: ``board`` (the overlay folder ``overlays/<board>/`` under the current
    folder; default :data:`fpgagen.overlays.boards.DEFAULT_BOARD`) and ``bitfile`` (the overlay's ``.bit``,
    default ``overlays/<board>/<name>.bit``).

    Without a PYNQ board it runs only when ``FPGAGEN_VIRTUAL_BOARD=1`` is set and ``bitfile`` is a virtual
    overlay (:func:`fpgagen.host.virtual_board.write_virtual_overlay`); ``virtual`` is then True and the
    description says so. This is how the board-only path is exercised without a board.
    """

    target = "board"
    description = "PYNQ driver on a real PYNQ board"

    def __init__(self, model, board: str | None = None, bitfile: Path | None = None):
        super().__init__(model)
        if board is None:
            from fpgagen.overlays.boards import DEFAULT_BOARD as board
        self.board = board
        self.bitfile = Path(bitfile) if bitfile is not None else OVERLAY_DIR / board / f"{self.name}.bit"
        self.virtual = False

    def _prepare(self) -> None:
        on_board = on_pynq_image()
        forced_virtual = os.environ.get("FPGAGEN_VIRTUAL_BOARD", "") not in ("", "0")
        if not on_board and not forced_virtual:
            raise RuntimeError("no PYNQ board found (this is not a PYNQ image): use --target virtual-golden or "
                               "--target rtlsim for the virtual board, or set FPGAGEN_VIRTUAL_BOARD=1 to serve a "
                               "virtual overlay to this target")
        bit = self.bitfile
        if not bit.is_file():
            raise FileNotFoundError(f"overlay {bit} does not exist; build it with: fpgagen convert {self.name} "
                                    f"--board {self.board} && fpgagen build {self.name} --board {self.board}")
        if not on_board:
            from fpgagen.host.virtual_board import activate, read_virtual_bitstream

            backend = read_virtual_bitstream(bit)["backend"]  # a real bitstream needs the board: VirtualBoardError
            activate()
            self.virtual = True
            self.description = f"PYNQ driver on the VIRTUAL board ({backend} kernel backend), not hardware"
        from fpgagen.host.driver import GeneratorOverlay

        self.overlay = GeneratorOverlay(str(bit))
