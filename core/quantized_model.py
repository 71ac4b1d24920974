"""The QuantizedModel: the one contract every executor after training reads.

A QuantizedModel is a generator after BatchNorm folding and quantization: an ordered list of :class:`Layer` s
with their shapes, integer weight and bias codes and every fixed-point type (input, weights, biases,
accumulators, results, activation tables) with its rounding and overflow modes, plus the reuse factor
(parallelism) of each arithmetic layer. The golden model, hls4ml's C simulation and the RTL twin all read it
and must agree with it bit for bit.

On disk it is a folder with ``model.json`` (everything but the arrays) and ``weights.npz`` (the codes).
:meth:`QuantizedModel.load` checks the two against each other and against the arithmetic contract, and names
whatever is inconsistent.

Shapes are per sample in torch layout: (D,) for vectors, (C, H, W) for feature maps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fpgagen.core.fixed import FixedType

FORMAT = "fpgagen-quantized-model-1"
ARITHMETIC = ("dense", "conv2d", "conv_transpose2d")
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid")
KINDS = ARITHMETIC + ACTIVATIONS + ("reshape", "upsample")
TYPE_FIELDS = ("result_t", "weight_t", "bias_t", "accum_t", "param_t", "table_t")


# Transposed convolutions fpgagen implements (torch semantics, square kernels, dilation 1, groups 1).
TRANSPOSED_STRIDES = (1, 2)
TRANSPOSED_KERNELS = (2, 3, 4, 5)


def transposed_out_size(n: int, k: int, stride: int, padding: int, output_padding: int) -> int:
    """torch's ConvTranspose2d output size: (n - 1) * stride - 2 * padding + k + output_padding."""
    return (n - 1) * stride - 2 * padding + k + output_padding


def transposed_support(k: int, stride: int, padding: int, output_padding: int) -> list[str]:
    """What is unsupported about a transposed convolution ([] when fpgagen implements it)."""
    p = []
    if stride not in TRANSPOSED_STRIDES:
        p.append(f"stride {stride} (supported: {', '.join(map(str, TRANSPOSED_STRIDES))})")
    if k not in TRANSPOSED_KERNELS:
        p.append(f"kernel {k} (supported: {', '.join(map(str, TRANSPOSED_KERNELS))}, square)")
    if not 0 <= padding <= k - 1:
        p.append(f"padding {padding} (supported: 0 to kernel - 1 = {k - 1})")
    if not 0 <= output_padding < stride:
        p.append(f"output_padding {output_padding} (supported: 0 to stride - 1 = {stride - 1})")
    return p


# What fpgagen implements of torch's ConvTranspose2d, in words (the tail of every refusal).
TRANSPOSED_SUPPORTED = (f"stride {' or '.join(map(str, TRANSPOSED_STRIDES))}, a square kernel of "
                        f"{', '.join(map(str, TRANSPOSED_KERNELS))}, padding 0 to kernel - 1, output_padding below "
                        "the stride, dilation 1, groups 1, zero padding mode, each the same on both axes")


def transposed_module_problems(module) -> list[str]:
    """What about a torch ``ConvTranspose2d`` fpgagen does not implement ([] when it does). Reads the module's
    attributes only, so this module needs no torch; quantization and the hls4ml handler both refuse by it."""
    problems = []

    def single(name: str) -> int:
        value = getattr(module, name)
        values = tuple(value) if isinstance(value, tuple | list) else (value,)
        if len(set(values)) != 1:
            problems.append(f"{name} {values} differs between the axes (supported: the same on both)")
        return int(values[0])

    k, stride, padding, output_padding, dilation = (
        single(name) for name in ("kernel_size", "stride", "padding", "output_padding", "dilation"))
    if dilation != 1:
        problems.append(f"dilation {tuple(module.dilation)} (supported: 1)")
    if module.groups != 1:
        problems.append(f"groups {module.groups} (supported: 1)")
    if module.padding_mode != "zeros":
        problems.append(f"padding_mode {module.padding_mode!r} (supported: 'zeros')")
    return problems + transposed_support(k, stride, padding, output_padding)


def transposed_phases(k: int, stride: int) -> list[np.ndarray]:
    """The kernel taps of each phase of a transposed convolution, along one axis.

    Output index ``y`` receives ``x[i] * w[t]`` exactly where ``y + padding = i * stride + t``, so it uses the
    taps ``t`` of phase ``r = (y + padding) % stride`` -- ``r, r + stride, ...`` -- with inputs
    ``i = (y + padding - t) // stride``. fpgagen computes each output from its phase's taps alone (the sub-pixel
    decomposition) and, at the borders, only from the taps whose ``i`` lies inside the input: it multiplies no
    inserted zero and no padding, so the multiplications executed are exactly the useful ones.
    """
    return [np.arange(r, k, stride) for r in range(stride)]


def transposed_taps(k: int, stride: int, padding: int, out_hw, in_hw) -> tuple[int, int]:
    """(phase, useful) (output pixel, kernel tap) pairs of one channel pair over a whole feature map: every tap
    of each output's phase (what a per-phase convolution over a zero-padded input would multiply), and the useful
    ones whose input pixel lies inside the input (what fpgagen executes)."""
    executed = useful = 1
    for n_out, n_in in zip(out_hw, in_hw, strict=True):
        y = np.arange(n_out)[:, None] + padding
        taps = np.arange(k)[None, :]
        in_phase = (y - taps) % stride == 0
        i = (y - taps) // stride
        executed *= int(in_phase.sum())
        useful *= int((in_phase & (i >= 0) & (i < n_in)).sum())
    return executed, useful


def weight_rows(lr: Layer) -> np.ndarray:
    """The weights summed into one accumulator, one row per distinct sum (for accumulator bounds):
    dense (O, I); conv2d (O, C*K*K); conv_transpose2d (O * stride**2, C * taps): one row per output channel and
    phase, holding that phase's taps."""
    w = lr.weight
    if lr.kind == "conv_transpose2d":
        phases = transposed_phases(w.shape[2], lr.stride)
        rows = []
        for ry in phases:
            for rx in phases:
                sub = w[:, :, ry][:, :, :, rx]  # C, O, taps_y, taps_x
                rows.append(sub.transpose(1, 0, 2, 3).reshape(w.shape[1], -1))
        width = max(r.shape[1] for r in rows)
        return np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]))) for r in rows])
    return w.reshape(w.shape[0], -1)


class QuantizedModelError(ValueError):
    """A QuantizedModel (or its files) that is inconsistent."""


@dataclass
class Layer:
    """One layer of a QuantizedModel.

    Attributes:
        name: unique, e.g. ``dense_0``, ``conv2d_3``.
        kind: one of ``dense, conv2d, conv_transpose2d, relu, leaky_relu, tanh, sigmoid, reshape, upsample``.
        in_shape, out_shape: per-sample shapes, torch layout.
        result_t: type of the layer's output.
        weight, bias: integer codes of ``weight_t`` / ``bias_t``, torch layouts: dense (out, in); conv2d
            (O, C, K, K); conv_transpose2d (C, O, K, K).
        accum_t: the exact accumulator of an arithmetic layer.
        padding: conv2d zero padding (stride is 1); conv_transpose2d padding as torch defines it.
        stride, output_padding: conv_transpose2d only, as torch defines them (see :func:`transposed_phases`).
        alpha: leaky_relu slope as a code of ``param_t``.
        table_size, table_t: tanh / sigmoid lookup table.
        factor: upsample factor (nearest).
        reuse_factor: multiplications per multiplier per output (hls4ml's ReuseFactor; RTL parallelism). For
            conv_transpose2d it applies to one kernel tap's C x O product: C * O / reuse_factor multipliers, an
            output pixel takes reuse_factor cycles per useful tap (its phase's taps whose input exists).
    """

    name: str
    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    result_t: FixedType
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    weight_t: FixedType | None = None
    bias_t: FixedType | None = None
    accum_t: FixedType | None = None
    padding: int = 0
    alpha: int | None = None
    param_t: FixedType | None = None
    table_size: int | None = None
    table_t: FixedType | None = None
    factor: int | None = None
    reuse_factor: int = 1
    stride: int = 1
    output_padding: int = 0

    @property
    def multiplications(self) -> int:
        """Multiplications per sample (dense, conv2d), 0 otherwise."""
        if self.kind == "dense":
            return int(self.weight.size)
        if self.kind == "conv2d":
            return int(self.weight.size) * self.out_shape[1] * self.out_shape[2]
        if self.kind == "conv_transpose2d":  # the useful ones: border and inserted zeros are skipped
            c, o, k, _ = self.weight.shape
            return c * o * transposed_taps(k, self.stride, self.padding, self.out_shape[1:], self.in_shape[1:])[1]
        return 0

    @property
    def multipliers(self) -> int:
        """Multipliers the layer instantiates at its reuse factor (weights per output position / reuse; for
        conv_transpose2d, weights per kernel tap / reuse)."""
        if self.kind == "conv_transpose2d":
            return int(self.weight[:, :, 0, 0].size) // self.reuse_factor
        return int(self.weight.size) // self.reuse_factor if self.kind in ARITHMETIC else 0

    def to_json(self) -> dict:
        d = {"name": self.name, "kind": self.kind, "in_shape": list(self.in_shape), "out_shape": list(self.out_shape)}
        for key in TYPE_FIELDS:
            if getattr(self, key) is not None:
                d[key] = str(getattr(self, key))
        for key in ("alpha", "table_size", "factor"):
            if getattr(self, key) is not None:
                d[key] = int(getattr(self, key))
        if self.kind in ("conv2d", "conv_transpose2d"):
            d["padding"] = self.padding
        if self.kind == "conv_transpose2d":
            d["stride"], d["output_padding"] = self.stride, self.output_padding
        if self.kind in ARITHMETIC:
            d["reuse_factor"] = self.reuse_factor
        return d

    @classmethod
    def from_json(cls, d: dict, arrays: dict[str, np.ndarray]) -> Layer:
        kw = {k: d[k] for k in ("name", "kind", "alpha", "table_size", "factor", "padding", "reuse_factor", "stride",
                                 "output_padding") if k in d}
        for key in TYPE_FIELDS:
            if key in d:
                kw[key] = FixedType.parse(d[key])
        for key in ("weight", "bias"):
            if f"{d['name']}.{key}" in arrays:
                kw[key] = arrays[f"{d['name']}.{key}"].astype(np.int64)
        return cls(in_shape=tuple(d["in_shape"]), out_shape=tuple(d["out_shape"]), **kw)


@dataclass
class QuantizedModel:
    """A quantized generator: latents (N, latent_dim) float -> images (N, *image_shape).

    Attributes:
        preset: the preset it was made from.
        input_t: type the float latents are cast to (its rounding and overflow modes decide what happens to
            values beyond its range: with AP_SAT they saturate).
        layers: in order.
        output_range: (low, high) of the generator's output activation.
        info: provenance and calibration (free-form, JSON-serializable).
    """

    preset: str
    input_t: FixedType
    layers: list[Layer]
    output_range: tuple[float, float]
    info: dict = field(default_factory=dict)

    @property
    def latent_dim(self) -> int:
        return self.layers[0].in_shape[0]

    @property
    def image_shape(self) -> tuple[int, ...]:
        return self.layers[-1].out_shape

    @property
    def output_t(self) -> FixedType:
        return self.layers[-1].result_t

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer {name!r} in {self.preset}; layers: {', '.join(lr.name for lr in self.layers)}")

    def summary(self) -> str:
        """A table of the layers with their types, reuse factors and multipliers."""
        name_w = max([14] + [len(lr.name) for lr in self.layers])
        rows = [f"{self.preset}: input {self.input_t}, {len(self.layers)} layers",
                f"  {'layer':{name_w}s} {'out shape':13s} {'result':28s} {'weight':28s} {'accumulator':28s} "
                f"{'reuse':>6s} {'mult':>5s}"]
        for lr in self.layers:
            other = str(lr.table_t) + f" x{lr.table_size}" if lr.table_t else str(lr.param_t or "")
            rows.append(f"  {lr.name:{name_w}s} {str(lr.out_shape):13s} {str(lr.result_t):28s} "
                        f"{str(lr.weight_t or other):28s} {str(lr.accum_t or ''):28s} "
                        f"{lr.reuse_factor if lr.kind in ARITHMETIC else '':>6} {lr.multipliers or '':>5}")
        return "\n".join(rows)

    # ------------------------------------------------------------------------------------------ persistence
    def save(self, folder: Path) -> Path:
        """Write ``model.json`` and ``weights.npz`` into ``folder`` (created)."""
        self.validate()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {f"{lr.name}.{k}": getattr(lr, k) for lr in self.layers for k in ("weight", "bias")
                  if getattr(lr, k) is not None}
        np.savez_compressed(folder / "weights.npz", **arrays)
        doc = {
            "format": FORMAT,
            "preset": self.preset,
            "input_t": str(self.input_t),
            "output_range": list(self.output_range),
            "layers": [lr.to_json() for lr in self.layers],
            "info": self.info,
        }
        (folder / "model.json").write_text(json.dumps(doc, indent=1) + "\n")
        return folder

    @classmethod
    def load(cls, folder: Path) -> QuantizedModel:
        """Read a QuantizedModel folder and validate it; QuantizedModelError names what is wrong."""
        folder = Path(folder)
        for name in ("model.json", "weights.npz"):
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder / name} does not exist (a QuantizedModel folder holds model.json "
                                        "and weights.npz; write one with `fpgagen quantize`)")
        try:
            doc = json.loads((folder / "model.json").read_text())
        except json.JSONDecodeError as e:
            raise QuantizedModelError(f"{folder / 'model.json'}: not valid JSON ({e})") from e
        if doc.get("format") != FORMAT:
            raise QuantizedModelError(f"{folder / 'model.json'}: format {doc.get('format')!r}, expected {FORMAT!r}")
        try:
            with np.load(folder / "weights.npz") as npz:
                arrays = dict(npz)
        except Exception as e:  # zipfile / pickle errors of a damaged file
            raise QuantizedModelError(f"{folder / 'weights.npz'}: unreadable ({e})") from e
        try:
            layers = [Layer.from_json(d, arrays) for d in doc["layers"]]
            model = cls(doc["preset"], FixedType.parse(doc["input_t"]), layers, tuple(doc["output_range"]),
                        doc.get("info", {}))
        except (KeyError, TypeError, ValueError) as e:
            raise QuantizedModelError(f"{folder / 'model.json'}: malformed ({type(e).__name__}: {e})") from e
        expected = {f"{lr.name}.{k}" for lr in layers if lr.kind in ARITHMETIC for k in ("weight", "bias")}
        if set(arrays) != expected:
            raise QuantizedModelError(
                f"{folder}: weights.npz does not match model.json: missing {sorted(expected - set(arrays))}, "
                f"unexpected {sorted(set(arrays) - expected)}")
        model.validate()
        return model

    # ------------------------------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Check shapes chain, types fit, codes lie in their types and every accumulator is exact.

        Raises QuantizedModelError listing every problem.
        """
        problems = []
        names = [lr.name for lr in self.layers]
        if len(set(names)) != len(names):
            problems.append(f"duplicate layer names: {sorted({n for n in names if names.count(n) > 1})}")
        if not self.layers:
            problems.append("no layers")
        prev_shape, prev_t = None, self.input_t
        for lr in self.layers:
            where = f"layer {lr.name} ({lr.kind})"
            if lr.kind not in KINDS:
                problems.append(f"{where}: unknown kind; known: {', '.join(KINDS)}")
                continue
            if prev_shape is not None and tuple(lr.in_shape) != tuple(prev_shape):
                problems.append(f"{where}: in_shape {tuple(lr.in_shape)} but the previous layer gives "
                                f"{tuple(prev_shape)}")
            problems += [f"{where}: {p}" for p in _check_layer(lr, prev_t)]
            prev_shape, prev_t = lr.out_shape, lr.result_t
        if self.layers and len(self.layers[0].in_shape) != 1:
            problems.append(f"the first layer must take a latent vector, got in_shape {self.layers[0].in_shape}")
        if problems:
            raise QuantizedModelError(f"QuantizedModel {self.preset!r} is inconsistent:\n  " + "\n  ".join(problems))


def _codes_fit(codes: np.ndarray, t: FixedType) -> bool:
    """Codes lie in ``t``'s range; under AP_SAT_SYM the most negative code is excluded (a cast makes it -max)."""
    lo = -t.max_code if t.signed and t.overflow == "SAT_SYM" else t.min_code
    return codes.size == 0 or (codes.min() >= lo and codes.max() <= t.max_code)


def accumulator_bound(lr: Layer, x_t: FixedType, frac: int) -> int:
    """Largest |accumulator code| of arithmetic layer ``lr`` at ``frac`` fraction bits, over every input of type
    ``x_t``."""
    rows = weight_rows(lr)
    w = np.abs(rows).sum(axis=1)
    bias = np.tile(lr.bias, rows.shape[0] // lr.bias.size)
    x_max = max(abs(x_t.min_code), abs(x_t.max_code))
    sums = w * x_max * (1 << (frac - x_t.frac - lr.weight_t.frac)) + np.abs(bias) * (1 << (frac - lr.bias_t.frac))
    return int(sums.max(initial=0))


def _check_layer(lr: Layer, x_t: FixedType) -> list[str]:
    p = []
    if lr.kind in ARITHMETIC:
        for key in ("weight_t", "bias_t", "accum_t"):
            if getattr(lr, key) is None:
                p.append(f"{key} missing")
        if lr.weight is None or lr.bias is None or p:
            return p + (["weight or bias codes missing"] if lr.weight is None or lr.bias is None else [])
        if lr.kind == "dense":
            want_w = (lr.out_shape[0], lr.in_shape[0])
        elif lr.kind == "conv_transpose2d":
            c, h, w = lr.in_shape
            o, oh, ow = lr.out_shape
            k = lr.weight.shape[-1] if lr.weight.ndim == 4 else -1
            want_w = (c, o, k, k)
            p += [f"unsupported {u}" for u in transposed_support(k, lr.stride, lr.padding, lr.output_padding)]
            size = [transposed_out_size(n, k, lr.stride, lr.padding, lr.output_padding) for n in (h, w)]
            if (oh, ow) != tuple(size):
                p.append(f"out_shape {lr.out_shape} does not follow from in_shape {lr.in_shape}, kernel {k}, "
                         f"stride {lr.stride}, padding {lr.padding}, output_padding {lr.output_padding}")
        else:
            c, h, w = lr.in_shape
            o, oh, ow = lr.out_shape
            k = lr.weight.shape[-1] if lr.weight.ndim == 4 else -1
            want_w = (o, c, k, k)
            if (oh, ow) != (h + 2 * lr.padding - k + 1, w + 2 * lr.padding - k + 1):
                p.append(f"out_shape {lr.out_shape} does not follow from in_shape {lr.in_shape}, kernel {k}, "
                         f"padding {lr.padding}")
        if tuple(lr.weight.shape) != want_w:
            p.append(f"weight shape {tuple(lr.weight.shape)}, expected {want_w}")
        n_out = want_w[1] if lr.kind == "conv_transpose2d" else want_w[0]
        if tuple(lr.bias.shape) != (n_out,):
            p.append(f"bias shape {tuple(lr.bias.shape)}, expected {(n_out,)}")
        if not _codes_fit(lr.weight, lr.weight_t):
            p.append(f"weight codes outside {lr.weight_t}")
        if not _codes_fit(lr.bias, lr.bias_t):
            p.append(f"bias codes outside {lr.bias_t}")
        acc = lr.accum_t
        if acc.frac < x_t.frac + lr.weight_t.frac or acc.frac < lr.bias_t.frac:
            p.append(f"accumulator {acc} has {acc.frac} fraction bits; exact accumulation needs "
                     f"{max(x_t.frac + lr.weight_t.frac, lr.bias_t.frac)} (input {x_t}, weight {lr.weight_t}, "
                     f"bias {lr.bias_t})")
        elif not p:
            bound = accumulator_bound(lr, x_t, acc.frac)
            if bound > acc.max_code:
                width = int(bound).bit_length() + 1
                p.append(f"accumulator {acc} can overflow: sums reach {bound} codes, it holds {acc.max_code} "
                         f"(needs at least ap_fixed<{width},{width - acc.frac}>)")
        per_output = lr.weight[:, :, 0, 0].size if lr.kind == "conv_transpose2d" else lr.weight.size
        if lr.reuse_factor < 1 or per_output % lr.reuse_factor:
            what = "weights of one kernel tap" if lr.kind == "conv_transpose2d" else "weights"
            p.append(f"reuse factor {lr.reuse_factor} does not divide the {per_output} {what}")
    elif lr.kind == "leaky_relu":
        if lr.alpha is None or lr.param_t is None:
            p.append("alpha or param_t missing")
        elif not _codes_fit(np.array([lr.alpha]), lr.param_t):
            p.append(f"alpha code {lr.alpha} outside {lr.param_t}")
    elif lr.kind in ("tanh", "sigmoid"):
        if lr.table_t is None or lr.table_size is None:
            p.append("table_t or table_size missing")
        elif lr.table_size < 2 or lr.table_size & (lr.table_size - 1):
            p.append(f"table_size must be a power of two >= 2, got {lr.table_size}")
    elif lr.kind == "reshape":
        if int(np.prod(lr.in_shape)) != int(np.prod(lr.out_shape)):
            p.append(f"cannot reshape {lr.in_shape} to {lr.out_shape}")
        if lr.result_t != x_t:
            p.append(f"result_t {lr.result_t} must equal its input type {x_t} (a reshape copies)")
    elif lr.kind == "upsample":
        c, h, w = lr.in_shape
        f = lr.factor or 0
        if tuple(lr.out_shape) != (c, h * f, w * f):
            p.append(f"out_shape {lr.out_shape} is not in_shape {lr.in_shape} upsampled by {f}")
        if lr.result_t != x_t:
            p.append(f"result_t {lr.result_t} must equal its input type {x_t} (nearest upsampling copies)")
    if lr.kind in ACTIVATIONS and tuple(lr.in_shape) != tuple(lr.out_shape):
        p.append(f"an activation keeps its shape: {lr.in_shape} -> {lr.out_shape}")
    return p
