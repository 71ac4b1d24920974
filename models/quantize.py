"""The torch front end's quantization: a trained :class:`~fpgagen.models.generator.Generator` -> QuantizedModel.

The generator is lowered to the layer vocabulary with BatchNorm folded (:func:`fpgagen.models.lower.lower`); the
rest is torch-free and serves every front end: the FloatModel is calibrated (:func:`fpgagen.core.quantize.calibrate`)
and quantized by :func:`fpgagen.core.quantize.quantize_float`, which states the rules. The defaults come from the
generator: its measured widths (else the width rule's choice, said in the model's ``info``) and the folding budget
(multipliers, BRAM, LUTs) of the board its weights fit (:meth:`~fpgagen.models.generator.Generator.board`), or of
the board named.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from fpgagen.core.cache import cache_dir, write_atomic
from fpgagen.core.quantize import QuantConfig, calibrate, quantize_float
from fpgagen.core.quantized_model import QuantizedModel

# The measured width sweep behind the presets' widths (bench/quantization_tradeoff.py writes it).
TRADEOFF_FILE = Path(__file__).with_name("quantization_tradeoff.json")
_SWEPT: dict[str, tuple[tuple[int, int], str]] = {}


def swept_widths(generator) -> tuple[tuple[int, int], str]:
    """The width rule's (data_width, weight_width) for ``generator``, and that sentence for ``info``; kept per float
    model content, latent distribution, dataset and rule, in this process and in the cache root (``widths/``), so a
    model is swept once on a machine (a sweep of a dcgan28-sized model takes minutes)."""
    from fpgagen.models import widths

    spec = generator.spec
    key = hashlib.sha256(json.dumps([generator.float_model().digest(), spec.latents, spec.dataset, widths.RULE])
                         .encode()).hexdigest()[:32]
    if key not in _SWEPT:
        _SWEPT[key] = _cached_sweep(key) or _store_sweep(key, *_sweep(generator))
    return _SWEPT[key]


def generator_widths(generator) -> tuple[tuple[int, int], str]:
    """(data_width, weight_width) ``generator`` quantizes at without a config that sets them, and where they come
    from: its measured widths, else the width rule's choice (:func:`swept_widths`)."""
    if generator.spec.widths is None:
        return swept_widths(generator)
    return generator.spec.default_widths


def _sweep(generator) -> tuple[tuple[int, int], str]:
    from fpgagen.models import widths

    result = widths.sweep(generator, lambda d, w: quantize(generator, QuantConfig(data_width=d, weight_width=w)))
    chosen = (result["chosen"]["data_width"], result["chosen"]["weight_width"])
    row = next(r for r in reversed(result["rows"]) if (r["data_width"], r["weight_width"]) == chosen)
    judged = "PSNR" + (" and Frechet distance" if "frechet" in row else "")
    return chosen, (f"{generator.name} has no measured widths: the width rule chose data {chosen[0]}, weight "
                    f"{chosen[1]} bits ({len(result['rows'])} points; {judged} against float: PSNR "
                    f"{row['psnr_db']:.1f} dB)")


def _cached_sweep(key: str) -> tuple[tuple[int, int], str] | None:
    try:
        doc = json.loads((cache_dir("widths") / f"{key}.json").read_text())
        (d, w), source = doc["chosen"], doc["source"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and 1 < v <= 32 for v in (d, w)) \
            or not isinstance(source, str):
        return None
    return (d, w), source


def _store_sweep(key: str, chosen: tuple[int, int], source: str) -> tuple[tuple[int, int], str]:
    folder = cache_dir("widths")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / f"{key}.json", json.dumps({"chosen": list(chosen), "source": source}) + "\n")
    except OSError:  # a read-only cache costs a sweep next time, nothing else
        pass
    return chosen, source


def resolve_kernel(config: QuantConfig, kernel: str | None) -> str:
    """The kernel a model is folded for: ``kernel`` (``--kernel``), else the config's, else ``hls``; a config for the
    other kernel than the one asked for is a ValueError."""
    if kernel is not None and config.kernel is not None and kernel != config.kernel:
        raise ValueError(f"this config is for the {config.kernel} kernel (its `kernel`), not --kernel {kernel}: "
                         f"pass --kernel {config.kernel}, or drop kernel from the file")
    return kernel or config.kernel or "hls"


def quantize(generator, config: QuantConfig | None = None, board: str | None = None,
             kernel: str | None = None) -> QuantizedModel:
    """The QuantizedModel of ``generator`` (a trained :class:`~fpgagen.models.generator.Generator`), folded for
    ``board`` (default: the board its weights fit) within the config's placement policy (a policy the board has no
    memory for -- ``loaded`` without UltraRAM -- is a ValueError naming the board), for ``kernel``
    (:data:`fpgagen.core.folding.KERNELS`: ``hls``, hls4ml's folding; ``rtl``, the RTL kernel's own, with packed DSP
    slices and LUT multipliers; default: the config's, else ``hls``; a config for the other kernel is a ValueError).

    A generator without measured widths whose config does not set both gets them from the width rule
    (:func:`fpgagen.models.widths.sweep`: some 20 quantizations, kept per float model content); ``info["width_source"]``
    says where the widths came from.
    """
    config = config or QuantConfig()
    if config.chosen_for is not None:  # explore's choice: for its board (the model is checked by quantize_float)
        if board is not None and board != config.chosen_for["board"]:
            raise ValueError(f"this config was chosen by `fpgagen explore` for {config.chosen_for['board']}, not "
                             f"{board}: explore {generator.name} on {board}, or drop --board")
        board = config.chosen_for["board"]
    board_choice = None  # the board whose budget is spent: where the weights fit at the default widths ...
    if config.data_width and config.weight_width:
        widths, width_source = (config.data_width, config.weight_width), "set by the quantization config"
    else:
        widths, width_source = generator_widths(generator)
        if generator.spec.widths is None:
            board_choice = generator.board(widths[1], width_source)  # ... or at the widths the rule chose
    kernel = resolve_kernel(config, kernel)
    placement = config.placement or "auto"  # a policy the board cannot take is refused naming the board
    if board is not None:
        from fpgagen.overlays.boards import get_board

        budget = get_board(board).folding_budget(placement, kernel)
    else:
        budget = (board_choice or generator.board()).board.folding_budget(placement, kernel)
    info = {"width_source": width_source}
    if generator.checkpoint is not None:
        info.update(checkpoint=Path(generator.checkpoint).name, checkpoint_sha256=generator.checkpoint_sha256)
    float_model = generator.float_model()
    calibration = calibrate(float_model, config.calibration_latents, generator.spec.latents)
    return quantize_float(float_model, calibration, config, widths=widths, budget=budget, info=info)
