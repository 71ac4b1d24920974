"""What a comparison or a CLI command runs: a generator's contract and the model each target takes.

A :class:`Subject` is built once, at the edge, from a trained Generator (:meth:`Subject.of`) or from a preset name
and an overlay's files (:func:`resolve_subject`, the board path without torch); :meth:`Subject.model_for` hands each
target its model (:mod:`fpgagen.host.executors`), deriving the float model and the QuantizedModel once.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(eq=False)
class Subject:
    """What is compared: a generator's contract and the models its targets run.

    Attributes:
        name: the generator's name.
        latent_dim, image_shape, output_range: its contract.
        dataset: the digit dataset the quality metrics judge against (None: no quality metrics).
        latents: the latent distribution (:data:`fpgagen.core.latents.DISTRIBUTIONS`) every target's latents are
            drawn from.
        generator: the trained torch Generator (None on the board: no torch).
        float_model: the FloatModel ``numpy`` runs (None: the generator's lowering).
        quantized: the QuantizedModel of the fixed-point targets (None: quantize the generator with
            ``quant_config``).
        quant_config: a :class:`fpgagen.core.quantize.QuantConfig` for that quantization.
        bitfile: the overlay for ``board`` (None: the executor's default ``overlays/<board>/<name>.bit``).
        board: the board the overlay is for (its manifest), else the generator's: its fabric clock and DSP count
            set the projections and the DSP ceiling.
        fold_board: the board the QuantizedModel is folded and placed for when one was named (``--board``: its
            DSP, block RAM, UltraRAM and DDR; weights off the ROMs where it needs them); None: the default
            quantization.
        kernel: the kernel the QuantizedModel is folded for (:data:`fpgagen.core.folding.KERNELS`): ``hls``
            (hls4ml's folding, which the RTL twin follows) or ``rtl`` (the RTL kernel's own: packed DSP slices, LUT
            multipliers; hls4ml's targets refuse it); None: the quantization config's, else ``hls``.
    """

    name: str
    latent_dim: int
    image_shape: tuple[int, ...]
    output_range: tuple[float, float]
    dataset: str | None = None
    latents: str = "normal"
    generator: object | None = None
    float_model: object | None = None
    quantized: object | None = None
    quant_config: object | None = None
    bitfile: Path | None = None
    board: str = "pynq-z2"
    fold_board: str | None = None
    kernel: str | None = None

    @classmethod
    def of(cls, generator, quant_config=None, **files) -> Subject:
        """The subject of a torch :class:`~fpgagen.models.generator.Generator`; ``files`` may set float_model,
        quantized, bitfile and board (default: the board the generator's weights fit)."""
        spec = generator.spec
        files.setdefault("board", generator.board().board.name)
        return cls(spec.name, spec.latent_dim, tuple(spec.image_shape), tuple(spec.output_range), spec.dataset,
                   spec.latents, generator, quant_config=quant_config, **files)

    def model_for(self, target: str):
        """The model ``target`` runs (see :mod:`fpgagen.host.executors`), computed once where it is derived."""
        if target in ("torch", "cuda"):
            if self.generator is None:
                raise RuntimeError(f"{target} needs the torch generator")
            return self.generator
        if target == "numpy":
            if self.float_model is None:
                self.float_model = self.generator.float_model()
            return self.float_model
        if self.quantized is None:
            from fpgagen.models.quantize import quantize

            self.quantized = quantize(self.generator, self.quant_config, board=self.fold_board, kernel=self.kernel)
        return self.quantized

    @property
    def clock_hz(self) -> float:
        from fpgagen.overlays.boards import get_board

        return get_board(self.board).fabric_clock_mhz * 1e6

    @property
    def dsps(self) -> int:
        from fpgagen.overlays.boards import get_board

        return get_board(self.board).dsp


@functools.cache
def import_error(module: str) -> str | None:
    """Why ``module`` cannot be imported here, or None when it can."""
    try:
        importlib.import_module(module)
    except ImportError as e:
        return f"{type(e).__name__}: {e}"
    return None


def resolve_subject(model: str, overlay: Path | None = None, weights: Path | None = None, quant_config=None,
                    board: str | None = None, kernel: str | None = None, **import_options) -> Subject:
    """The :class:`Subject` of MODEL ``model`` (a preset, an importable file or a model folder:
    :func:`fpgagen.models.load.load_model`, which takes ``weights`` and ``import_options``) where torch imports, else
    the float model beside ``overlay`` (the board, where ``model`` is the overlay's model name); the float model and
    QuantizedModel beside ``overlay``, where present, are what ``numpy`` and the fixed-point targets run. ``board``:
    fold and place the QuantizedModel for that board (an overlay's must be for it too); ``kernel``: for that kernel
    (an overlay's QuantizedModel must be folded for it). Raises FileNotFoundError,
    ValueError or RuntimeError saying what is missing."""
    torch_missing = import_error("torch")
    generator = None
    if torch_missing is None:
        from fpgagen.models.load import load_model

        generator = load_model(model, weights, **{k: v for k, v in import_options.items() if v is not None})
    name = generator.name if generator is not None else model
    files: dict = {}
    if overlay is not None:
        from fpgagen.core.float_model import FloatModel
        from fpgagen.core.quantized_model import QuantizedModel

        bitfile = Path(overlay)
        if bitfile.suffix != ".bit":
            raise ValueError(f"--overlay takes the overlay's .bit file, got {bitfile}")
        if not bitfile.is_file():
            raise FileNotFoundError(f"overlay {bitfile} does not exist")
        files["bitfile"] = bitfile
        stem = bitfile.with_suffix("")
        float_file, quantized_dir = stem.with_name(stem.name + ".float.npz"), stem.with_name(stem.name + ".quantized")
        if float_file.is_file():
            files["float_model"] = FloatModel.load(float_file)
        if (quantized_dir / "model.json").is_file():
            files["quantized"] = QuantizedModel.load(quantized_dir)
        if "quantized" in files and kernel is not None and files["quantized"].kernel != kernel:
            raise ValueError(f"{bitfile}: the QuantizedModel beside it is folded for the {files['quantized'].kernel} "
                             f"kernel, not --kernel {kernel}")
        for what in ("float_model", "quantized"):
            if what in files and files[what].name != name:
                raise ValueError(f"{bitfile}: the {what.replace('_', ' ')} beside it is {files[what].name!r}, not "
                                 f"{name!r}")
        overlay_board = _overlay_board(bitfile)
        if overlay_board and board and overlay_board != board:
            raise ValueError(f"{bitfile} is an overlay for {overlay_board}, not --board {board}")
        if overlay_board:
            files["board"] = overlay_board
    if board is not None:
        files.update(board=board, fold_board=board)
    files["kernel"] = kernel
    if generator is not None:
        return Subject.of(generator, quant_config, **files)
    if "float_model" not in files:
        raise RuntimeError(f"torch is not importable here ({torch_missing}), so {name}'s shape and output range "
                           f"come from its float model: pass --overlay DIR/{name}.bit with {name}.float.npz beside "
                           "it (written on a workstation by `fpgagen convert`)")
    reference = files["float_model"]
    return Subject(name, reference.latent_dim, tuple(reference.image_shape), tuple(reference.output_range),
                   latents=reference.latents, **files)


def _overlay_board(bitfile: Path | None) -> str | None:
    """The board named by the stream manifest beside ``bitfile`` (None without one)."""
    from fpgagen.core.manifest import OverlayManifest

    if bitfile is None or not bitfile.with_suffix(".json").is_file():
        return None
    return OverlayManifest.beside(bitfile).board
