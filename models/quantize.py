"""From a trained preset to a QuantizedModel: fold BatchNorm, calibrate ranges, choose every fixed-point type.

The rules, and why:

- **BatchNorm** is folded into the Linear/Conv2d/ConvTranspose2d before it, once, in float64 (hls4ml only fuses
  BatchNorm when the preceding layer's type is 'auto', which fpgagen never leaves). A layer without a bias gets
  a zero one.
- **Transposed convolutions** (ConvTranspose2d) become ``conv_transpose2d`` layers when fpgagen implements them
  (:func:`fpgagen.core.quantized_model.transposed_support`: stride 1 or 2, square kernel 2-5, padding 0..K-1,
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
factors spend the multiplier budget of the board the preset goes to (``fpgagen.overlays.boards``: 200 on the PYNQ-Z2,
2,000 for dcgan28 on the ZCU102) unless the config sets ``multipliers``. Width defaults per preset are the
narrowest measured to keep the Frechet distance within 5% of the float model's and PSNR >= 35 dB
(see ``bench/quantization_tradeoff.py``). A JSON config file can set them and override any type or reuse factor
of any layer::

    {"data_width": 10, "weight_width": 8, "table_size": 1024, "multipliers": 200,
     "layers": {"conv2d_4": {"weight_t": "ap_fixed<10,1>", "result_t": "ap_fixed<12,4,AP_RND,AP_SAT>",
                             "reuse_factor": 64}}}
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fpgagen.core.fixed import FixedType
from fpgagen.core.golden import TABLE_SPAN
from fpgagen.core.quantized_model import (
    ARITHMETIC,
    TRANSPOSED_SUPPORTED,
    Layer,
    QuantizedModel,
    QuantizedModelError,
    accumulator_bound,
    transposed_module_problems,
    transposed_out_size,
    transposed_taps,
)
from fpgagen.models.checkpoint import default_checkpoint
from fpgagen.models.presets import DEFAULT_WIDTHS, FALLBACK_WIDTHS, Preset, Reshape, board_for_preset
from fpgagen.models.sampling import latents, load_generator

CALIBRATION_SEED = 7_000_000  # apart from the evaluation seeds (0, 1, ...)
CALIBRATION_LATENTS = 2048
OVERRIDABLE = ("result_t", "weight_t", "bias_t", "accum_t", "param_t", "table_t", "table_size", "reuse_factor")

# The measured width sweep (bench/quantization_tradeoff.py writes it).
TRADEOFF_FILE = Path(__file__).with_name("quantization_tradeoff.json")



@dataclass
class QuantConfig:
    """Knobs of :func:`quantize`; ``layers`` maps a layer name to overrides of the fields in OVERRIDABLE.

    ``None`` means the preset's default: ``DEFAULT_WIDTHS`` for the widths, the multiplier budget of the board the
    preset goes to (:func:`fpgagen.overlays.boards.board_for_preset`) for ``multipliers``.
    """

    data_width: int | None = None
    weight_width: int | None = None
    table_size: int = 1024
    multipliers: int | None = None
    calibration_latents: int = CALIBRATION_LATENTS
    layers: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path) -> QuantConfig:
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"quantization config {path} does not exist") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e
        known = {"data_width", "weight_width", "table_size", "multipliers", "calibration_latents", "layers"}
        if not isinstance(doc, dict) or set(doc) - known:
            raise ValueError(f"{path}: unknown keys {sorted(set(doc) - known)}; known: {sorted(known)}")
        for name, over in doc.get("layers", {}).items():
            bad = set(over) - set(OVERRIDABLE)
            if bad:
                raise ValueError(f"{path}: layer {name}: cannot override {sorted(bad)}; can: {', '.join(OVERRIDABLE)}")
        return cls(**doc)


@torch.no_grad()
def fold_batchnorm(seq: nn.Sequential) -> nn.Sequential:
    """A copy of ``seq`` with every BatchNorm (running statistics) folded into the Linear/Conv2d/ConvTranspose2d
    before it.

    ``gamma (W x + b - mean) / sqrt(var + eps) + beta = (s W) x + s (b - mean) + beta``, ``s = gamma / sqrt(var +
    eps)``, computed in float64. ``s`` scales the weights of each output channel: rows of a Linear/Conv2d weight
    (O, ...), the second axis of a ConvTranspose2d weight (C, O, K, K).
    """
    out: list[nn.Module] = []
    for i, m in enumerate(copy.deepcopy(seq)):
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            prev = out[-1] if out else None
            if not isinstance(prev, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
                raise ValueError(f"module {i} ({m}): BatchNorm after {type(prev).__name__} cannot be folded (only "
                                 "after Linear, Conv2d or ConvTranspose2d)")
            if isinstance(prev, nn.ConvTranspose2d) and prev.groups != 1:
                raise ValueError(f"module {i} ({m}): BatchNorm after {prev} cannot be folded (grouped transposed "
                                 "convolution; supported: groups 1)")
            s = m.weight.double() / torch.sqrt(m.running_var.double() + m.eps)
            transposed = isinstance(prev, nn.ConvTranspose2d)  # weight (C, O, K, K)
            per_output = (1, -1, 1, 1) if transposed else (-1, *[1] * (prev.weight.dim() - 1))
            w = prev.weight.double() * s.view(per_output)
            b = prev.bias.double() if prev.bias is not None else torch.zeros_like(s)
            prev.weight.data = w.float()
            prev.bias = nn.Parameter((s * (b - m.running_mean.double()) + m.bias.double()).float())
            continue
        out.append(m)
    return nn.Sequential(*out).eval()


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


def valid_reuse_factor(n_in: int, n_out: int, rf: int) -> bool:
    """hls4ml's Resource-strategy rule for a dense kernel of n_in x n_out weights (checked before it adjusts)."""
    mult_limit = math.ceil(n_in * n_out / min(n_in, rf))
    return ((mult_limit % n_out == 0) or rf >= n_in) and (rf % n_in == 0 or rf < n_in) and (n_in * n_out) % rf == 0


def kernel_dims(layer: Layer) -> tuple[int, int]:
    """(n_in, n_out) of the dense kernel hls4ml instantiates for the layer: dense (I, O); conv2d (C*K*K, O);
    conv_transpose2d (C, O), one kernel tap's product (the reuse factor applies to it)."""
    w = layer.weight
    if layer.kind == "dense":
        return w.shape[1], w.shape[0]
    if layer.kind == "conv_transpose2d":
        return w.shape[0], w.shape[1]
    return w[0].size, w.shape[0]


def kernel_uses(layer: Layer) -> int:
    """How often the layer's dense kernel runs per image, each time for ``reuse_factor`` cycles: dense once;
    conv2d once per output pixel; conv_transpose2d once per useful (output pixel, tap) pair of one channel pair
    (:func:`fpgagen.core.quantized_model.transposed_taps`)."""
    if layer.kind == "dense":
        return 1
    if layer.kind == "conv_transpose2d":
        k = layer.weight.shape[-1]
        return transposed_taps(k, layer.stride, layer.padding, layer.out_shape[1:], layer.in_shape[1:])[1]
    return layer.out_shape[1] * layer.out_shape[2]


def choose_reuse_factors(layers: list[Layer], multipliers: int, keep: frozenset[str] = frozenset()) -> None:
    """Balance the streaming pipeline: the fewest cycles per image whose multipliers fit the budget.

    A layer's dense kernel of n_in x n_out weights (:func:`kernel_dims`) at reuse factor R has n_in x n_out / R
    multipliers and takes R cycles each time it runs (:func:`kernel_uses`: once per output position, for a
    transposed convolution once per useful tap); so cycles = R x uses. For a target of T cycles each layer takes
    the largest valid R <= T / uses; T grows until the multipliers fit. Layers named in ``keep`` keep their reuse
    factor (and their multipliers count against the budget).
    """
    arith = [lr for lr in layers if lr.kind in ARITHMETIC and lr.name not in keep]
    if not arith:
        return
    multipliers -= sum(lr.multipliers for lr in layers if lr.name in keep)
    sizes = [math.prod(kernel_dims(lr)) for lr in arith]

    def plan(target: int) -> list[int]:
        rfs = []
        for lr, size in zip(arith, sizes, strict=True):
            n_in, n_out = kernel_dims(lr)
            rf = max(1, min(size, target // kernel_uses(lr)))
            while rf > 1 and not valid_reuse_factor(n_in, n_out, rf):
                rf -= 1
            rfs.append(rf)
        return rfs

    target = 1
    while True:
        rfs = plan(target)
        if sum(size // rf for size, rf in zip(sizes, rfs, strict=True)) <= multipliers or rfs == sizes:
            break
        target = math.ceil(target * 1.05) + 1
    for lr, rf in zip(arith, rfs, strict=True):
        lr.reuse_factor = rf


@functools.lru_cache(maxsize=8)
@torch.no_grad()
def calibrate(preset: str, checkpoint: str | None, n: int) -> tuple[Preset, nn.Sequential, float, tuple[float, ...]]:
    """The preset, its folded float model, the largest |latent| and the largest |output| of every folded module
    on ``n`` calibration latents (cached: a sweep over widths calibrates once)."""
    spec, generator = load_generator(preset, checkpoint)
    folded = fold_batchnorm(generator)
    z = latents(n, spec.latent_dim, CALIBRATION_SEED)
    x = torch.from_numpy(z)
    peaks = []
    for m in folded:
        x = m(x)
        peaks.append(float(x.abs().max()))
    return spec, folded, float(np.abs(z).max()), tuple(peaks)


def quantize(preset: str, checkpoint: Path | None = None, config: QuantConfig | None = None) -> QuantizedModel:
    """Quantize preset ``preset`` (its shipped checkpoint unless ``checkpoint``) by the rules of this module."""
    config = config or QuantConfig()
    data_w, weight_w = DEFAULT_WIDTHS.get(preset, FALLBACK_WIDTHS)
    data_w = config.data_width or data_w
    weight_w = config.weight_width or weight_w
    spec, folded, z_peak, peaks = calibrate(preset, None if checkpoint is None else str(checkpoint),
                                            config.calibration_latents)
    overrides = dict(config.layers)

    input_t = data_type(data_w, z_peak)
    layers: list[Layer] = []
    x_t, shape = input_t, (spec.latent_dim,)
    for i, (m, peak) in enumerate(zip(folded, peaks, strict=True)):
        following = folded[i + 1] if i + 1 < len(folded) else None
        if isinstance(following, nn.Tanh | nn.Sigmoid):
            # the table saturates beyond its span: range bits past it would only cost precision
            half_span = TABLE_SPAN["tanh" if isinstance(following, nn.Tanh) else "sigmoid"] / 2
            peak = min(peak, float(np.nextafter(half_span, 0)))
        lr = _layer(i, m, shape, x_t, peak, data_w, weight_w, config.table_size)
        _apply_overrides(lr, overrides.pop(lr.name, {}), x_t)
        layers.append(lr)
        x_t, shape = lr.result_t, lr.out_shape
    if overrides:
        raise ValueError(f"config overrides name unknown layers {sorted(overrides)}; layers: "
                         f"{', '.join(lr.name for lr in layers)}")
    keep = frozenset(name for name, over in config.layers.items() if "reuse_factor" in over)
    multipliers = config.multipliers
    if multipliers is None:
        multipliers = board_for_preset(preset).board.multiplier_budget
    elif not isinstance(multipliers, int) or multipliers < 1:
        raise ValueError(f"multipliers must be a positive integer (the budget for the reuse factors), got "
                         f"{multipliers!r}")
    choose_reuse_factors(layers, multipliers, keep)
    path = default_checkpoint(preset) if checkpoint is None else Path(checkpoint)
    info = {
        "checkpoint": path.name,
        "checkpoint_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "data_width": data_w,
        "weight_width": weight_w,
        "table_size": config.table_size,
        "multipliers_budget": multipliers,
        "calibration": {"latents": config.calibration_latents, "seed": CALIBRATION_SEED,
                        "peaks": {lr.name: round(p, 6) for lr, p in zip(layers, peaks, strict=True)}},
    }
    model = QuantizedModel(preset, input_t, layers, spec.output_range, info)
    model.validate()
    return model


def _layer(i: int, m: nn.Module, shape, x_t: FixedType, peak: float, data_w: int, weight_w: int,
           table_size: int) -> Layer:
    """The Layer for module ``i`` of the folded model, with the default types."""
    if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
        kind = {nn.Linear: "dense", nn.Conv2d: "conv2d", nn.ConvTranspose2d: "conv_transpose2d"}[type(m)]
        w = m.weight.detach().double().numpy()
        n_out = m.out_channels if kind == "conv_transpose2d" else w.shape[0]
        b = m.bias.detach().double().numpy() if m.bias is not None else np.zeros(n_out)
        weight_t = FixedType(weight_w, integer_bits(float(np.abs(w).max())), True, "RND_CONV", "SAT")
        frac = x_t.frac + weight_t.frac
        bias_t = FixedType(max(1, integer_bits(float(np.abs(b).max())) + frac), integer_bits(float(np.abs(b).max())),
                           True, "RND_CONV", "SAT")
        stride = output_padding = 0
        if kind == "dense":
            out_shape = (m.out_features,)
            padding = 0
        elif kind == "conv_transpose2d":
            k, stride, padding, output_padding = _transposed_geometry(i, m)
            out_shape = (m.out_channels, *(transposed_out_size(n, k, stride, padding, output_padding)
                                           for n in shape[1:]))
        else:
            if m.stride != (1, 1) or m.dilation != (1, 1) or m.groups != 1 or m.kernel_size[0] != m.kernel_size[1]:
                raise ValueError(f"layer {i} ({m}): only square stride-1 convolutions are supported")
            if not isinstance(m.padding, tuple) or m.padding[0] != m.padding[1]:
                raise ValueError(f"layer {i} ({m}): padding must be one integer for both axes")
            padding = m.padding[0]
            c, h, wd = shape
            k = m.kernel_size[0]
            out_shape = (m.out_channels, h + 2 * padding - k + 1, wd + 2 * padding - k + 1)
        lr = Layer(f"{kind}_{i}", kind, shape, out_shape, data_type(data_w, peak), weight=round_codes(w, weight_t),
                   bias=round_codes(b, bias_t), weight_t=weight_t, bias_t=bias_t, padding=padding)
        if kind == "conv_transpose2d":
            lr.stride, lr.output_padding = stride, output_padding
        lr.accum_t = exact_accumulator(lr, x_t)
        return lr
    if isinstance(m, nn.ReLU):
        return Layer(f"relu_{i}", "relu", shape, shape, x_t)
    if isinstance(m, nn.LeakyReLU):
        param_t = FixedType(weight_w, integer_bits(m.negative_slope), True, "RND_CONV", "SAT")
        return Layer(f"leaky_relu_{i}", "leaky_relu", shape, shape, x_t, param_t=param_t,
                     alpha=int(round_codes(np.array([m.negative_slope]), param_t)[0]))
    if isinstance(m, nn.Tanh):
        t = FixedType(data_w, 1, True, "RND", "SAT")
        return Layer(f"tanh_{i}", "tanh", shape, shape, t, table_size=table_size, table_t=t)
    if isinstance(m, nn.Sigmoid):
        t = FixedType(data_w, 0, False, "RND", "SAT")
        return Layer(f"sigmoid_{i}", "sigmoid", shape, shape, t, table_size=table_size, table_t=t)
    if isinstance(m, Reshape):
        return Layer(f"reshape_{i}", "reshape", shape, m.shape, x_t)
    if isinstance(m, nn.Upsample):
        if m.mode != "nearest" or float(m.scale_factor) not in (2.0,):
            raise ValueError(f"layer {i} ({m}): only nearest x2 upsampling is supported")
        c, h, wd = shape
        return Layer(f"upsample_{i}", "upsample", shape, (c, 2 * h, 2 * wd), x_t, factor=2)
    raise ValueError(f"layer {i}: {type(m).__name__} is not supported by the QuantizedModel")


def _transposed_geometry(i: int, m: nn.ConvTranspose2d) -> tuple[int, int, int, int]:
    """(kernel, stride, padding, output_padding) of a ConvTranspose2d fpgagen implements; a ValueError naming the
    layer and what is supported otherwise."""
    problems = transposed_module_problems(m)
    if problems:
        raise ValueError(f"layer {i} ({m}): unsupported transposed convolution: {'; '.join(problems)}. fpgagen "
                         f"implements ConvTranspose2d with {TRANSPOSED_SUPPORTED}")
    return tuple(int(getattr(m, name)[0]) for name in ("kernel_size", "stride", "padding", "output_padding"))


def exact_accumulator(lr: Layer, x_t: FixedType) -> FixedType:
    """The narrowest accumulator that can neither round nor overflow for inputs of type ``x_t``."""
    frac = max(x_t.frac + lr.weight_t.frac, lr.bias_t.frac)
    width = accumulator_bound(lr, x_t, frac).bit_length() + 1
    return FixedType(width, width - frac, True, "TRN", "WRAP")


def _apply_overrides(lr: Layer, over: dict, x_t: FixedType) -> None:
    """Apply a layer's config overrides; weights and biases are re-rounded to an overridden type."""
    for key, value in over.items():
        if key in ("table_size", "reuse_factor"):
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
