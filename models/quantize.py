"""The torch front end's quantization: a trained :class:`~fpgagen.models.generator.Generator` -> QuantizedModel.

The generator is lowered to the layer vocabulary with BatchNorm folded (:func:`fpgagen.models.lower.lower`); the
rest is torch-free and serves every front end: the FloatModel is calibrated (:func:`fpgagen.core.quantize.calibrate`)
and quantized by :func:`fpgagen.core.quantize.quantize_float`, which states the rules. The defaults come from the
generator: its measured widths (else the width rule's choice, said in the model's ``info``) and the multiplier budget
of the board its weights fit (:meth:`~fpgagen.models.generator.Generator.board`).
"""

from __future__ import annotations

from pathlib import Path

from fpgagen.core.quantize import QuantConfig, calibrate, quantize_float
from fpgagen.core.quantized_model import QuantizedModel

# The measured width sweep behind the presets' widths (bench/quantization_tradeoff.py writes it).
TRADEOFF_FILE = Path(__file__).with_name("quantization_tradeoff.json")
_SWEPT: dict[str, tuple[tuple[int, int], str]] = {}


def swept_widths(generator) -> tuple[tuple[int, int], str]:
    """The width rule's (data_width, weight_width) for ``generator``, and that sentence for ``info``; kept per float
    model content, like its calibration."""
    from fpgagen.models import widths

    key = generator.float_model().digest()
    if key not in _SWEPT:
        result = widths.sweep(generator, lambda d, w: quantize(generator, QuantConfig(data_width=d, weight_width=w)))
        chosen = (result["chosen"]["data_width"], result["chosen"]["weight_width"])
        row = next(r for r in reversed(result["rows"]) if (r["data_width"], r["weight_width"]) == chosen)
        judged = "PSNR" + (" and Frechet distance" if "frechet" in row else "")
        _SWEPT[key] = chosen, (f"{generator.name} has no measured widths: the width rule chose data {chosen[0]}, "
                               f"weight {chosen[1]} bits at quantize time ({len(result['rows'])} points; {judged} "
                               f"against float: PSNR {row['psnr_db']:.1f} dB)")
    return _SWEPT[key]


def quantize(generator, config: QuantConfig | None = None) -> QuantizedModel:
    """The QuantizedModel of ``generator`` (a trained :class:`~fpgagen.models.generator.Generator`).

    A generator without measured widths whose config does not set both gets them from the width rule
    (:func:`fpgagen.models.widths.sweep`: some 20 quantizations, kept per float model content); ``info["width_source"]``
    says where the widths came from.
    """
    config = config or QuantConfig()
    if config.data_width and config.weight_width:
        widths, width_source = (config.data_width, config.weight_width), "set by the quantization config"
    elif generator.spec.widths is None:
        widths, width_source = swept_widths(generator)
    else:
        widths, width_source = generator.spec.default_widths
    multipliers = None
    if config.multipliers is None:
        multipliers = generator.board().board.multiplier_budget
    info = {"width_source": width_source}
    if generator.checkpoint is not None:
        info.update(checkpoint=Path(generator.checkpoint).name, checkpoint_sha256=generator.checkpoint_sha256)
    float_model = generator.float_model()
    calibration = calibrate(float_model, config.calibration_latents, generator.spec.latents)
    return quantize_float(float_model, calibration, config, widths=widths, multipliers=multipliers, info=info)
