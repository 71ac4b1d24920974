"""Executors: one call shape for every target, so the CLI, the comparison and the notebook switch with one word.

An executor runs one preset on one target: ``prepare()`` once (load, quantize, compile, program the overlay),
then ``run(z)`` many times -- latents (N, latent_dim) float in, images (N, C, H, W) float32 out, in the preset's
output range. After ``run``, ``last_info`` may hold what the target measured (simulated cycles, DMA time).

=================  =====================================================================================
target             what runs
=================  =====================================================================================
``torch``          the float PyTorch generator on the CPU
``numpy``          the same float generator in numpy float32 (what the board's CPU runs: it has no torch)
``golden``         the QuantizedModel in numpy integer arithmetic (bit-exact with everything below)
``csim``           hls4ml's C simulation of the HLS kernel (compiled once, cached by content)
``virtual-golden`` the PYNQ driver on the virtual board, its kernel backed by the golden model (fast; checks
                   the driver, DMA and stream contract, not the RTL)
``rtlsim``         the PYNQ driver on the virtual board, its kernel the Verilator build of the RTL twin
                   (cycle-accurate; reports simulated cycles)
``board``          the PYNQ driver on a real PYNQ board with the overlay from ``overlays/<board>/`` (or, with
                   ``FPGAGEN_VIRTUAL_BOARD=1`` and a virtual overlay, on the virtual board -- labelled virtual)
=================  =====================================================================================

Board side (numpy + pynq, no torch): ``numpy`` reads the float reference file and the fixed-point targets read a
saved QuantizedModel when given one (``float_reference=`` / ``quantized=``); without them they build both from
the checkpoint, which needs torch.

To add a target, subclass :class:`Executor`, implement ``_prepare`` and ``_run``, and decorate the class with
:func:`register_executor`. Imports of heavy packages stay inside the methods, so listing targets is cheap.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np

EXECUTORS: dict[str, type[Executor]] = {}
OVERLAY_DIR = Path(__file__).resolve().parent.parent / "overlays"
PYNQ_IMAGE_MARKER = Path("/proc/device-tree/chosen/pynq_board")  # what pynq itself takes for a PYNQ image


def on_pynq_image() -> bool:
    """Whether this is a PYNQ board's image (a real board, not the virtual one)."""
    return PYNQ_IMAGE_MARKER.exists()


def register_executor(cls: type[Executor]) -> type[Executor]:
    EXECUTORS[cls.target] = cls
    return cls


def get_executor(target: str, preset: str, **options) -> Executor:
    """An executor of ``preset`` on ``target``; a ValueError lists the known targets otherwise."""
    if target not in EXECUTORS:
        raise ValueError(f"unknown target {target!r}; known targets: {', '.join(EXECUTORS)}")
    return EXECUTORS[target](preset, **options)


class Executor:
    """Base class: ``prepare()`` once, ``run(z)`` many.

    Args:
        preset: preset name.
        checkpoint: trained checkpoint (default: the shipped one).
        quant_config: a :class:`fpgagen.models.quantize.QuantConfig` for the fixed-point targets.
        quantized: a saved QuantizedModel folder (``model.json`` + ``weights.npz``) the fixed-point targets run
            instead of quantizing the checkpoint (no torch needed).
    """

    target = ""
    description = ""

    def __init__(self, preset: str, checkpoint: Path | None = None, quant_config=None, quantized: Path | None = None):
        self.preset = preset
        self.checkpoint = checkpoint
        self.quant_config = quant_config
        self.quantized = None if quantized is None else Path(quantized)
        self.prepared = False
        self.last_info: dict = {}

    def prepare(self) -> Executor:
        if not self.prepared:
            self._prepare()
            self.prepared = True
        return self

    def run(self, z) -> np.ndarray:
        self.prepare()
        return self._run(z)

    def close(self) -> None:
        """Release what ``prepare`` acquired (buffers, simulators)."""

    def _prepare(self) -> None:
        raise NotImplementedError

    def _run(self, z) -> np.ndarray:
        raise NotImplementedError

    def quantized_model(self):
        """The saved QuantizedModel ``quantized`` if given (numpy only), else the quantized checkpoint (torch)."""
        if self.quantized is not None:
            from fpgagen.core.quantized_model import QuantizedModel

            model = QuantizedModel.load(self.quantized)
            if model.preset != self.preset:
                raise ValueError(f"{self.quantized} holds preset {model.preset!r}, not {self.preset!r}")
            return model
        from fpgagen.models.quantize import quantize

        return quantize(self.preset, self.checkpoint, self.quant_config)


@register_executor
class TorchExecutor(Executor):
    target = "torch"
    description = "float PyTorch on the CPU"

    def _prepare(self) -> None:
        from fpgagen.models.sampling import load_generator

        self.spec, self.generator = load_generator(self.preset, self.checkpoint)

    def _run(self, z) -> np.ndarray:
        from fpgagen.core.latents import check_latents
        from fpgagen.models.sampling import generate

        return generate(self.generator, check_latents(z, self.spec.latent_dim))


@register_executor
class NumpyExecutor(Executor):
    """Args beyond :class:`Executor`'s: ``float_reference``, a file written by
    :func:`~fpgagen.host.numpy_reference.export_float_reference` (numpy only); the checkpoint (torch) otherwise."""

    target = "numpy"
    description = "float generator in numpy float32 (the board's CPU baseline)"

    def __init__(self, preset: str, float_reference: Path | None = None, **options):
        super().__init__(preset, **options)
        self.float_reference = None if float_reference is None else Path(float_reference)

    def _prepare(self) -> None:
        from fpgagen.host.numpy_reference import FloatReference

        if self.float_reference is None:
            self.reference = FloatReference.from_preset(self.preset, self.checkpoint)
            return
        self.reference = FloatReference.load(self.float_reference)
        if self.reference.preset != self.preset:
            raise ValueError(f"{self.float_reference} holds preset {self.reference.preset!r}, not {self.preset!r}")

    def _run(self, z) -> np.ndarray:
        return self.reference.run(z)


@register_executor
class GoldenExecutor(Executor):
    target = "golden"
    description = "fixed point, numpy integer arithmetic"

    def _prepare(self) -> None:
        self.model = self.quantized_model()

    def _run(self, z) -> np.ndarray:
        from fpgagen.core import golden

        return golden.generate(self.model, z)


@register_executor
class CSimExecutorTarget(Executor):
    target = "csim"
    description = "hls4ml C simulation of the HLS kernel"

    def _prepare(self) -> None:
        from fpgagen.hls.csim import CSimExecutor

        self.csim = CSimExecutor(self.quantized_model())
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

    def _prepare(self) -> None:
        from fpgagen.host.driver import GeneratorOverlay
        from fpgagen.host.virtual_board import activate, write_virtual_overlay

        activate()
        self._dir = tempfile.TemporaryDirectory(prefix=f"fpgagen-{self.target}-")
        self.model = self.quantized_model()
        bit = write_virtual_overlay(self.model, Path(self._dir.name), backend=self.backend)
        self.overlay = GeneratorOverlay(str(bit))


@register_executor
class RtlSimExecutor(VirtualGoldenExecutor):
    """The virtual board with the Verilator build of the RTL twin as its kernel (``fpgagen.host.rtl_backend``:
    built once per model content into ``build/rtlsim/<hash>/``, reused afterwards). ``last_info`` adds
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
    """Args beyond :class:`Executor`'s: ``board`` (the overlay folder ``overlays/<board>/``; default the preset's
    board, :func:`fpgagen.overlays.boards.board_for_preset`, or pynq-z2 where torch is absent) and ``bitfile`` (the
    overlay's ``.bit``, default ``overlays/<board>/<preset>.bit``).

    Without a PYNQ board it runs only when ``FPGAGEN_VIRTUAL_BOARD=1`` is set and ``bitfile`` is a virtual
    overlay (:func:`fpgagen.host.virtual_board.write_virtual_overlay`); ``virtual`` is then True and the
    description says so. This is how the board-only path is exercised without a board.
    """

    target = "board"
    description = "PYNQ driver on a real PYNQ board"

    def __init__(self, preset: str, board: str | None = None, bitfile: Path | None = None, **options):
        super().__init__(preset, **options)
        if board is None:
            try:
                from fpgagen.models.presets import board_for_preset

                board = board_for_preset(preset).board.name
            except ImportError:  # on the board: no torch to size the preset with
                from fpgagen.overlays.boards import DEFAULT_BOARD as board
        self.board = board
        self.bitfile = Path(bitfile) if bitfile is not None else OVERLAY_DIR / board / f"{preset}.bit"
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
            raise FileNotFoundError(f"overlay {bit} does not exist; build it with: fpgagen convert {self.preset} "
                                    f"--board {self.board} && fpgagen build {self.preset} --board {self.board}")
        if not on_board:
            from fpgagen.host.virtual_board import activate, read_virtual_bitstream

            backend = read_virtual_bitstream(bit)["backend"]  # a real bitstream needs the board: VirtualBoardError
            activate()
            self.virtual = True
            self.description = f"PYNQ driver on the VIRTUAL board ({backend} kernel backend), not hardware"
        from fpgagen.host.driver import GeneratorOverlay

        self.overlay = GeneratorOverlay(str(bit))
