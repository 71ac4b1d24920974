"""From a float model and its calibration to a QuantizedModel: every fixed-point type, every reuse factor.

Front ends lower a trained generator to a :class:`~fpgagen.core.float_model.FloatModel` (BatchNorm folded) and
measure its calibration peaks (:class:`Calibration`); :func:`quantize_float` does the rest, torch-free, by the
``quantize`` rule each layer kind registers here (:mod:`fpgagen.core.layers`). The torch front end's entry is
:func:`fpgagen.models.quantize.quantize`.

The rules, and why:

- **BatchNorm** is folded by the front end into the Linear/Conv2d/ConvTranspose2d before it, once, in float64
  (hls4ml only fuses BatchNorm when the preceding layer's type is 'auto', which fpgagen never leaves). A layer
  without a bias gets a zero one.
- **Transposed convolutions** (ConvTranspose2d) become ``conv_transpose2d`` layers when fpgagen implements them
  (:func:`fpgagen.core.transposed.transposed_support`: stride 1 or 2, square kernel 2-5, padding 0..K-1,
  output_padding < stride, dilation 1, groups 1); anything else is refused with the layer named.
- **Integer bits** of every value come from calibration: the float (folded) model runs on calibration latents
  drawn apart from any evaluation seed, and each layer output gets the fewest integer bits that hold its largest
  magnitude. Weights get theirs per layer from their own largest magnitude.
- **Results** round to nearest and saturate (``AP_RND, AP_SAT``): hls4ml's default truncate/wrap turns a rare
  out-of-range value into a sign flip and biases every value down by half an LSB; at 8 bits that ruins images.
- **Accumulators are exact**: fraction bits = input's + weight's, integer bits from the worst-case sum. Nothing
  rounds or overflows before the single cast to the result type, so the order of accumulation is free (adder
  trees in RTL, any reuse factor in HLS) and numpy, hls4ml and RTL agree by construction. Biases are stored at
  the accumulator's fraction bits (exact alignment).
- **Weights** are rounded to nearest (ties to even) by fpgagen itself; hls4ml then receives exactly
  representable values, so its own decimal formatting of weights cannot round them again.
- **Tables**: 1024 entries by default; tanh results ``ap_fixed<W, 1>``, sigmoid ``ap_ufixed<W, 0>``. The layer
  feeding a table gets integer bits for the table's span only (tanh [-4, 4), sigmoid [-8, 8)): larger values
  saturate to the table's end entries anyway, so more range would only cost fraction bits.
- **Inputs** beyond the input type's range saturate (the input type is ``AP_RND, AP_SAT``).

Two widths steer everything: ``data_width`` (every activation and result) and ``weight_width``. The reuse
factors (:mod:`fpgagen.core.folding`) balance the pipeline within the folding budget of the board the preset goes to
(``fpgagen.overlays.boards``: every DSP slice -- 220 on the PYNQ-Z2, 2,520 for dcgan28 on the ZCU102 -- and 80% of
its BRAM and LUTs by estimate) unless the config sets ``multipliers``. Width defaults per preset are the
narrowest measured to keep the Frechet distance within 5% of the float model's and PSNR >= 35 dB
(see ``bench/quantization_tradeoff.py``). A JSON config file can set them, the placement policy (where the folding
may put weights that leave the ROMs: ``auto``, ``rom``, ``loaded`` or ``streamed``,
:data:`fpgagen.core.folding.PLACEMENT_POLICIES`), the kernel it is folded for (``kernel``: ``hls`` or ``rtl``,
:data:`fpgagen.core.folding.KERNELS`) and override any type or reuse factor of any layer::

    {"data_width": 10, "weight_width": 8, "table_size": 1024, "multipliers": 200, "placement": "streamed",
     "layers": {"conv2d_4": {"weight_t": "ap_fixed<10,1>", "result_t": "ap_fixed<12,4,AP_RND,AP_SAT>",
                             "reuse_factor": 64}}}

A config is independent of the board: the budget it is folded in (``quantize``, ``convert`` and ``generate`` take
``--board``) decides the reuse factors and placements, so an explored point (``fpgagen explore``'s chosen.json) is
reproduced on the board it was explored for.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from fpgagen.core.fixed import FixedType
from fpgagen.core.float_model import FloatModel
from fpgagen.core.folding import KERNELS, PLACEMENT_POLICIES, Budget, choose_reuse_factors, reuse_factors
from fpgagen.core.golden import TABLE_SPAN
from fpgagen.core.latents import latents
from fpgagen.core.layers import ARITHMETIC, accumulator_bound, implementation, implements, kernel_dims, require
from fpgagen.core.quantized_model import Layer, QuantizedModel, QuantizedModelError

CALIBRATION_SEED = 7_000_000  # apart from the evaluation seeds (0, 1, ...)
CALIBRATION_LATENTS = 2048
_CALIBRATIONS: dict[tuple[str, int], Calibration] = {}
OVERRIDABLE = ("result_t", "weight_t", "bias_t", "accum_t", "param_t", "table_t", "table_size", "reuse_factor")


WIDTHS = range(2, 33)  # data and weight widths a config may ask for (ap_fixed, and the RTL's arithmetic)
TABLE_SIZES = tuple(2**k for k in range(4, 17))  # 16 .. 65,536 entries
MAX_MULTIPLIERS = 1_000_000


@dataclass
class QuantConfig:
    """Knobs of :func:`quantize`; ``layers`` maps a layer name to overrides of the fields in OVERRIDABLE.

    ``None`` means the generator's default: its measured widths (else the width rule's), the multiplier budget of
    the board its weights fit, and the budget's placement policy (``auto``, weights wherever the board has room,
    unless the caller's budget says otherwise; :data:`fpgagen.core.folding.PLACEMENT_POLICIES`). Every value is
    checked on construction (ValueError naming the key and what is allowed): widths 2-32 bits, table sizes a power
    of two 16-65,536, budgets 1-1,000,000 multipliers, calibration latents 16-100,000, a placement policy by name,
    reuse factors positive integers (whether hls4ml accepts one for its layer is checked at quantization, where the
    layer's size is known, and whether the board has the memory a placement policy needs, where the board is
    known). ``chosen_for`` (explore's ``chosen.json``) names the model, by content digest, and the board the settings
    were chosen for: another model is refused, and the board is the default one.
    """

    data_width: int | None = None
    weight_width: int | None = None
    table_size: int = 1024
    multipliers: int | None = None
    calibration_latents: int = CALIBRATION_LATENTS
    layers: dict[str, dict] = field(default_factory=dict)
    placement: str | None = None
    kernel: str | None = None  # of KERNELS; None: the caller's (hls4ml's folding unless told)
    chosen_for: dict | None = None  # {"model", "digest", "board"}: what explore chose it for (chosen.json)

    def __post_init__(self) -> None:
        def integer(key: str, value, allowed, what: str, optional: bool = False) -> None:
            if optional and value is None:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
                raise ValueError(f"{key}: {what}, got {value!r}")

        integer("data_width", self.data_width, WIDTHS, "an integer number of bits, 2 to 32", optional=True)
        integer("weight_width", self.weight_width, WIDTHS, "an integer number of bits, 2 to 32", optional=True)
        integer("table_size", self.table_size, TABLE_SIZES, "a power of two, 16 to 65,536 entries")
        integer("multipliers", self.multipliers, range(1, MAX_MULTIPLIERS + 1),
                f"a positive integer budget up to {MAX_MULTIPLIERS:,}", optional=True)
        integer("calibration_latents", self.calibration_latents, range(16, 100_001), "an integer, 16 to 100,000")
        if self.placement is not None and (not isinstance(self.placement, str)
                                           or self.placement not in PLACEMENT_POLICIES):
            raise ValueError(f"placement: one of {', '.join(PLACEMENT_POLICIES)}, got {self.placement!r}")
        if self.kernel is not None and (not isinstance(self.kernel, str) or self.kernel not in KERNELS):
            raise ValueError(f"kernel: one of {', '.join(KERNELS)}, got {self.kernel!r}")
        if self.chosen_for is not None and (not isinstance(self.chosen_for, dict) or set(self.chosen_for) != {
                "model", "digest", "board"} or not all(isinstance(v, str) for v in self.chosen_for.values())):
            raise ValueError(f"chosen_for: an object of model, digest and board (strings), got {self.chosen_for!r}")
        if not isinstance(self.layers, dict):
            raise ValueError(f"layers: an object of layer name -> overrides, got {type(self.layers).__name__}")
        for name, over in self.layers.items():
            if not isinstance(over, dict):
                raise ValueError(f"layers.{name}: an object of overrides, got {type(over).__name__}")
            bad = set(over) - set(OVERRIDABLE)
            if bad:
                raise ValueError(f"layers.{name}: cannot override {sorted(bad)}; can: {', '.join(OVERRIDABLE)}")
            for key, value in over.items():
                where = f"layers.{name}.{key}"
                if key == "reuse_factor":
                    integer(where, value, range(1, 1 << 31), "a positive integer")
                elif key == "table_size":
                    integer(where, value, TABLE_SIZES, "a power of two, 16 to 65,536 entries")
                else:
                    try:
                        FixedType.parse(value)
                    except (TypeError, ValueError) as e:
                        raise ValueError(f"{where}: {e}") from None

    @classmethod
    def from_file(cls, path: Path) -> QuantConfig:
        """The config of a JSON file; FileNotFoundError or ValueError name the file, the key and what is allowed."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"quantization config {path} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: a JSON object of settings expected, got {type(doc).__name__}")
        known = {"data_width", "weight_width", "table_size", "multipliers", "calibration_latents", "layers",
                 "placement", "kernel", "chosen_for"}
        if set(doc) - known:
            raise ValueError(f"{path}: unknown keys {sorted(set(doc) - known)}; known: {sorted(known)}")
        try:
            return cls(**doc)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None


@dataclass(frozen=True)
class Calibration:
    """What the float model did on calibration latents: the largest |latent| and each layer's largest |output|.

    Attributes:
        latents: how many calibration latents.
        seed: their seed (:data:`CALIBRATION_SEED`, apart from every evaluation seed).
        latent_peak: the largest |latent|.
        peaks: the largest |output| of each layer, in order.
    """

    latents: int
    seed: int
    latent_peak: float
    peaks: tuple[float, ...]


def calibrate(model: FloatModel, n: int = CALIBRATION_LATENTS, distribution: str = "normal") -> Calibration:
    """The float model on ``n`` calibration latents of :data:`CALIBRATION_SEED`: the largest |latent| and each
    layer's largest |output| (numpy float32, :meth:`~fpgagen.core.float_model.FloatModel.peaks`). Kept per model
    content and ``n``, so a sweep over widths calibrates once."""
    key = (model.digest(), n, distribution)
    if key not in _CALIBRATIONS:
        z = latents(n, model.latent_dim, CALIBRATION_SEED, distribution)
        _CALIBRATIONS[key] = Calibration(n, CALIBRATION_SEED, float(np.abs(z).max()), tuple(model.peaks(z)))
    return _CALIBRATIONS[key]


def integer_bits(max_abs: float, signed: bool = True) -> int:
    """Fewest integer bits (sign included when signed) whose range holds ``max_abs``."""
    if max_abs <= 0:
        return 1 if signed else 0
    return max(math.floor(math.log2(max_abs)) + 1, -8) + (1 if signed else 0)


def round_codes(values: np.ndarray, t: FixedType) -> np.ndarray:
    """Round float values to the nearest codes of ``t`` (ties to even), clipped to its range."""
    codes = np.rint(np.ldexp(np.asarray(values, np.float64), t.frac))
    lo = -t.max_code if t.signed and t.overflow == "SAT_SYM" else t.min_code
    return np.clip(codes, lo, t.max_code).astype(np.int64)


def data_type(width: int, max_abs: float) -> FixedType:
    return FixedType(width, integer_bits(max_abs), True, "RND", "SAT")


# ------------------------------------------------------------------------------------ the kinds' type rules
@implements("quantize", "dense", "conv2d", "conv_transpose2d")
def _arithmetic(fl, x_t: FixedType, peak: float, data_w: int, weight_w: int, table_size: int) -> Layer:
    w, b = fl.weight.astype(np.float64), fl.bias.astype(np.float64)
    weight_t = FixedType(weight_w, integer_bits(float(np.abs(w).max())), True, "RND_CONV", "SAT")
    frac = x_t.frac + weight_t.frac
    bias_t = FixedType(max(1, integer_bits(float(np.abs(b).max())) + frac), integer_bits(float(np.abs(b).max())),
                       True, "RND_CONV", "SAT")
    lr = Layer(fl.name, fl.kind, fl.in_shape, fl.out_shape, data_type(data_w, peak), weight=round_codes(w, weight_t),
               bias=round_codes(b, bias_t), weight_t=weight_t, bias_t=bias_t, padding=fl.padding, stride=fl.stride,
               output_padding=fl.output_padding)
    lr.accum_t = exact_accumulator(lr, x_t)
    return lr


@implements("quantize", "relu", "reshape")
def _same_type(fl, x_t: FixedType, peak: float, data_w: int, weight_w: int, table_size: int) -> Layer:
    return Layer(fl.name, fl.kind, fl.in_shape, fl.out_shape, x_t)


@implements("quantize", "upsample")
def _upsample(fl, x_t: FixedType, peak: float, data_w: int, weight_w: int, table_size: int) -> Layer:
    return Layer(fl.name, fl.kind, fl.in_shape, fl.out_shape, x_t, factor=fl.factor)


@implements("quantize", "leaky_relu")
def _leaky_relu(fl, x_t: FixedType, peak: float, data_w: int, weight_w: int, table_size: int) -> Layer:
    param_t = FixedType(weight_w, integer_bits(fl.alpha), True, "RND_CONV", "SAT")
    return Layer(fl.name, fl.kind, fl.in_shape, fl.out_shape, x_t, param_t=param_t,
                 alpha=int(round_codes(np.array([fl.alpha]), param_t)[0]))


@implements("quantize", "tanh", "sigmoid")
def _table(fl, x_t: FixedType, peak: float, data_w: int, weight_w: int, table_size: int) -> Layer:
    t = FixedType(data_w, 1, True, "RND", "SAT") if fl.kind == "tanh" else FixedType(data_w, 0, False, "RND", "SAT")
    return Layer(fl.name, fl.kind, fl.in_shape, fl.out_shape, t, table_size=table_size, table_t=t)


def quantize_float(model: FloatModel, calibration: Calibration, config: QuantConfig | None = None, *,
                   widths: tuple[int, int], budget: Budget | int, info: dict | None = None) -> QuantizedModel:
    """The QuantizedModel of ``model`` by the rules of this module.

    Args:
        model: the float model (BatchNorm folded).
        calibration: its peaks on calibration latents (one per layer).
        config: knobs; its widths, multiplier budget and placement policy override ``widths``,
            ``budget.multipliers`` and ``budget.placement`` (a policy the budget has no memory for is a ValueError).
        widths: the default (data_width, weight_width).
        budget: what the folding may spend (the board's :class:`fpgagen.core.folding.Budget`; an int: multipliers
            alone).
        info: provenance recorded in the model (the calibration and widths are added).
    """
    config = config or QuantConfig()
    if config.chosen_for is not None and config.chosen_for["digest"] != model.digest():
        chosen = config.chosen_for
        raise ValueError(f"this config was chosen by `fpgagen explore` for {chosen['model']} (content digest "
                         f"{chosen['digest'][:12]}) on {chosen['board']}; {model.name} is another model (digest "
                         f"{model.digest()[:12]}): explore it, or drop chosen_for from the file to take the settings "
                         "anyway")
    require("quantize", model.layers)
    if len(calibration.peaks) != len(model.layers):
        raise ValueError(f"{model.name}: {len(calibration.peaks)} calibration peaks for {len(model.layers)} layers")
    data_w = config.data_width or widths[0]
    weight_w = config.weight_width or widths[1]
    overrides = dict(config.layers)
    input_t = data_type(data_w, calibration.latent_peak)
    layers: list[Layer] = []
    x_t = input_t
    for i, (fl, peak) in enumerate(zip(model.layers, calibration.peaks, strict=True)):
        following = model.layers[i + 1].kind if i + 1 < len(model.layers) else None
        if following in TABLE_SPAN:
            # the table saturates beyond its span: range bits past it would only cost precision
            peak = min(peak, float(np.nextafter(TABLE_SPAN[following] / 2, 0)))
        lr = implementation("quantize", fl)(fl, x_t, peak, data_w, weight_w, config.table_size)
        _apply_overrides(lr, overrides.pop(lr.name, {}), x_t)
        layers.append(lr)
        x_t = lr.result_t
    if overrides:
        raise ValueError(f"config overrides name unknown layers {sorted(overrides)}; layers: "
                         f"{', '.join(lr.name for lr in layers)}")
    keep = frozenset(name for name, over in config.layers.items() if "reuse_factor" in over)
    if not isinstance(budget, Budget):
        budget = Budget(int(budget))
    if config.multipliers is not None:
        budget = replace(budget, multipliers=config.multipliers)
    if config.kernel is not None and config.kernel != budget.kernel:
        budget = replace(budget, kernel=config.kernel)
    if config.placement is not None and config.placement != budget.placement:
        try:
            budget = replace(budget, placement=config.placement)
        except ValueError as e:
            raise ValueError(f"{model.name}: {e}") from None
    multipliers = budget.multipliers
    choose_reuse_factors(layers, budget, keep, input_t)
    used = sum(lr.multipliers if lr.mac is None else lr.mac.dsps for lr in layers)
    if used > multipliers:
        raise ValueError(f"{model.name}: a budget of {multipliers:,} multipliers is below what its layers need at "
                         f"their largest reuse factors ({used:,}: at least one each"
                         + (", plus the fixed reuse factors of " + ", ".join(sorted(keep)) if keep else "")
                         + "); raise multipliers")
    info = {
        **(info or {}),
        "data_width": data_w,
        "weight_width": weight_w,
        "table_size": config.table_size,
        "multipliers_budget": multipliers,
        "placement": budget.placement,
        **({"kernel": budget.kernel} if budget.kernel != "hls" else {}),
        "calibration": {"latents": calibration.latents, "seed": calibration.seed,
                        "peaks": {lr.name: round(p, 6) for lr, p in zip(layers, calibration.peaks, strict=True)}},
    }
    off_rom = any(lr.placement != "rom" for lr in layers)  # the ports load or stream those weights
    quantized = QuantizedModel(model.name, input_t, layers, model.output_range, info,
                               budget.ports if off_rom else None)
    quantized.validate()
    return quantized


def exact_accumulator(lr: Layer, x_t: FixedType) -> FixedType:
    """The narrowest accumulator that can neither round nor overflow for inputs of type ``x_t``."""
    frac = max(x_t.frac + lr.weight_t.frac, lr.bias_t.frac)
    width = accumulator_bound(lr, x_t, frac).bit_length() + 1
    return FixedType(width, width - frac, True, "TRN", "WRAP")


def _apply_overrides(lr: Layer, over: dict, x_t: FixedType) -> None:
    """Apply a layer's config overrides; weights and biases are re-rounded to an overridden type."""
    for key, value in over.items():
        if key == "reuse_factor":
            if lr.kind not in ARITHMETIC:
                raise QuantizedModelError(f"layer {lr.name} ({lr.kind}) has no reuse factor to override")
            n_in, n_out = kernel_dims(lr)
            accepted = reuse_factors(lr)
            if value not in accepted:
                near = sorted(sorted(accepted, key=lambda rf: abs(rf - value))[:6])
                rule = ("a transposed convolution's tap split" if lr.kind == "conv_transpose2d"
                        else "the Resource strategy's rule")
                raise ValueError(f"layer {lr.name}: reuse factor {value} is not one hls4ml accepts for its "
                                 f"{n_in} x {n_out} kernel ({rule}); the nearest it accepts: "
                                 f"{', '.join(map(str, near))}")
            lr.reuse_factor = value
            continue
        if key == "table_size":
            setattr(lr, key, int(value))
            continue
        if getattr(lr, key) is None:
            raise QuantizedModelError(f"layer {lr.name} ({lr.kind}) has no {key} to override")
        t = FixedType.parse(value)
        if key in ("weight_t", "bias_t"):
            old_t, codes = getattr(lr, key), getattr(lr, key[:-2])
            setattr(lr, key[:-2], round_codes(old_t.to_float(codes), t))
        if key == "param_t":
            lr.alpha = int(round_codes(np.array([lr.param_t.to_float(lr.alpha)]), t)[0])
        setattr(lr, key, t)
    if lr.kind in ARITHMETIC and "accum_t" not in over:
        if lr.bias_t.frac < x_t.frac + lr.weight_t.frac:
            frac = x_t.frac + lr.weight_t.frac
            lr.bias = lr.bias << (frac - lr.bias_t.frac)
            lr.bias_t = FixedType(lr.bias_t.integer + frac, lr.bias_t.integer, True, "RND_CONV", "SAT")
        lr.accum_t = exact_accumulator(lr, x_t)
