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

from fpgagen.core.cache import replacing, write_atomic
from fpgagen.core.fixed import FixedType
from fpgagen.core.folding import PLACEMENTS, STREAMABLE, MacArray, WeightPorts, mac_reuse_factor, streamed_lanes
from fpgagen.core.layers import ARITHMETIC, check_layer, get_kind, kernel_dims, kernel_uses
from fpgagen.core.transposed import tap_multipliers

FORMAT = "fpgagen-quantized-model-2"
FORMATS_READ = ("fpgagen-quantized-model-1", FORMAT)  # 1 named the generator "preset"
TYPE_FIELDS = ("result_t", "weight_t", "bias_t", "accum_t", "param_t", "table_t")


class QuantizedModelError(ValueError):
    """A QuantizedModel (or its files) that is inconsistent."""


@dataclass
class Layer:
    """One layer of a QuantizedModel.

    Attributes:
        name: unique, e.g. ``dense_0``, ``conv2d_3``.
        kind: one of :data:`fpgagen.core.layers.KINDS` (dense, conv2d, conv_transpose2d, relu, ...).
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
            conv_transpose2d it is the cycles per useful kernel tap (its phase's taps whose input exists) of one
            tap's C x O product, split as PI input x PO output channels (:func:`fpgagen.core.transposed.tap_split`;
            PO need not divide O).
        placement: where an arithmetic layer's weights live (:data:`fpgagen.core.folding.PLACEMENTS`): ``rom``
            (bitstream-initialised), ``loaded`` (on-chip RAM written once after the overlay is loaded) or
            ``streamed`` (read from DDR for every image). The arithmetic is the same for all three.
        mac: the RTL kernel's MAC array of an arithmetic layer (:class:`fpgagen.core.folding.MacArray`: its split,
            packed DSP slices and LUT multipliers), set by that kernel's folding; None for hls4ml's folding, which
            the reuse factor alone describes. A model with one is for the RTL kernel only (:attr:`QuantizedModel.
            kernel`).
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
    placement: str = "rom"
    mac: MacArray | None = None

    @property
    def multiplications(self) -> int:
        """Multiplications per sample of an arithmetic layer (the useful ones: a transposed convolution skips the
        border and the inserted zeros), 0 otherwise."""
        if self.kind not in ARITHMETIC:
            return 0
        n_in, n_out = kernel_dims(self)
        return n_in * n_out * kernel_uses(self)

    @property
    def multipliers(self) -> int:
        """Multipliers the layer instantiates at its reuse factor: the weights of its dense kernel (per output
        position) over the reuse factor; for conv_transpose2d PI * PO of one kernel tap's split
        (:func:`fpgagen.core.transposed.tap_split`)."""
        if self.kind not in ARITHMETIC:
            return 0
        n_in, n_out = kernel_dims(self)
        if self.mac is not None:
            return self.mac.multipliers
        if self.kind == "conv_transpose2d":
            return tap_multipliers(n_in, n_out, self.reuse_factor)
        return n_in * n_out // self.reuse_factor

    def to_json(self) -> dict:
        d = {"name": self.name, "kind": self.kind, "in_shape": list(self.in_shape), "out_shape": list(self.out_shape)}
        for key in TYPE_FIELDS:
            if getattr(self, key) is not None:
                d[key] = str(getattr(self, key))
        for key in get_kind(self.kind).attributes:
            if getattr(self, key) is not None:
                d[key] = int(getattr(self, key))
        if self.kind in ARITHMETIC:
            d["reuse_factor"] = self.reuse_factor
        if self.placement != "rom":  # absent: rom, so models (and their digests) from before placements are unchanged
            d["placement"] = self.placement
        if self.mac is not None:  # absent: hls4ml's folding (models from before the RTL kernel are unchanged)
            d["mac"] = self.mac.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict, arrays: dict[str, np.ndarray]) -> Layer:
        kw = {k: d[k] for k in ("name", "kind", "alpha", "table_size", "factor", "padding", "reuse_factor", "stride",
                                 "output_padding", "placement") if k in d}
        for key in TYPE_FIELDS:
            if key in d:
                kw[key] = FixedType.parse(d[key])
        for key in ("weight", "bias"):
            if f"{d['name']}.{key}" in arrays:
                kw[key] = arrays[f"{d['name']}.{key}"].astype(np.int64)
        if "mac" in d:
            kw["mac"] = MacArray.from_json(d["mac"])
        return cls(in_shape=tuple(d["in_shape"]), out_shape=tuple(d["out_shape"]), **kw)


def _mac_text(mac: MacArray | None) -> str:
    """The RTL kernel's MAC array in a summary row ('' without one)."""
    if mac is None:
        return ""
    return (f"  {mac.pi}x{mac.po}{' packed' if mac.pack else ''}: {mac.dsps} DSP"
            + (f", {mac.lut_multipliers} LUT multipliers" if mac.lut_multipliers else ""))


@dataclass
class QuantizedModel:
    """A quantized generator: latents (N, latent_dim) float -> images (N, *image_shape).

    Attributes:
        name: the generator's name (a preset's or an imported model's).
        input_t: type the float latents are cast to (its rounding and overflow modes decide what happens to
            values beyond its range: with AP_SAT they saturate).
        layers: in order.
        output_range: (low, high) of the generator's output activation.
        info: provenance and calibration (free-form, JSON-serializable).
        weight_ports: the board's ports that carry the weights of its ``loaded`` layers (once, after reset) and its
            ``streamed`` layers (every image): their beat width sets the ``.weights`` layout (None when every
            layer is in ROM).
    """

    name: str
    input_t: FixedType
    layers: list[Layer]
    output_range: tuple[float, float]
    info: dict = field(default_factory=dict)
    weight_ports: WeightPorts | None = None

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
        raise KeyError(f"no layer {name!r} in {self.name}; layers: {', '.join(lr.name for lr in self.layers)}")

    @property
    def weight_bits(self) -> int:
        """Bits of the weights and biases, wherever they live: every code at its type's width."""
        return sum(self.placed_bits().values())

    def placed_bits(self) -> dict[str, int]:
        """Weight and bias bits by placement (``rom``, ``loaded``, ``streamed``; biases always stay in ROM)."""
        bits = dict.fromkeys(PLACEMENTS, 0)
        for lr in self.layers:
            if lr.weight is not None:
                bits[lr.placement] += lr.weight.size * lr.weight_t.width
            if lr.bias is not None:
                bits["rom"] += lr.bias.size * lr.bias_t.width
        return bits

    @property
    def multipliers(self) -> int:
        """Multipliers the reuse factors instantiate, all layers together."""
        return sum(lr.multipliers for lr in self.layers)

    @property
    def dsps(self) -> int:
        """DSP slices of those multipliers: one each, unless the RTL kernel's MAC arrays pack two products to a slice
        or build some in LUTs."""
        return sum(lr.mac.dsps if lr.mac is not None else lr.multipliers for lr in self.layers)

    def summary(self) -> str:
        """A table of the layers with their types, reuse factors and multipliers."""
        name_w = max([14] + [len(lr.name) for lr in self.layers])
        rows = [f"{self.name}: input {self.input_t}, {len(self.layers)} layers",
                f"  {'layer':{name_w}s} {'out shape':13s} {'result':28s} {'weight':28s} {'accumulator':28s} "
                f"{'reuse':>6s} {'mult':>5s} weights"]
        for lr in self.layers:
            other = str(lr.table_t) + f" x{lr.table_size}" if lr.table_t else str(lr.param_t or "")
            rows.append(f"  {lr.name:{name_w}s} {str(lr.out_shape):13s} {str(lr.result_t):28s} "
                        f"{str(lr.weight_t or other):28s} {str(lr.accum_t or ''):28s} "
                        f"{lr.reuse_factor if lr.kind in ARITHMETIC else '':>6} {lr.multipliers or '':>5} "
                        f"{lr.placement if lr.kind in ARITHMETIC else ''}{_mac_text(lr.mac)}".rstrip())
        return "\n".join(rows)

    # ------------------------------------------------------------------------------------------ persistence
    def save(self, folder: Path) -> Path:
        """Write ``model.json`` and ``weights.npz`` into ``folder`` (created), each whole or not at all."""
        self.validate()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {f"{lr.name}.{k}": getattr(lr, k) for lr in self.layers for k in ("weight", "bias")
                  if getattr(lr, k) is not None}
        with replacing(folder / "weights.npz") as tmp:
            np.savez_compressed(tmp, **arrays)
        doc = {
            "format": FORMAT,
            "name": self.name,
            "input_t": str(self.input_t),
            "output_range": list(self.output_range),
            "layers": [lr.to_json() for lr in self.layers],
            "info": self.info,
            **({"weight_ports": self.weight_ports.to_json()} if self.weight_ports is not None else {}),
        }
        write_atomic(folder / "model.json", json.dumps(doc, indent=1) + "\n")
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
        if not isinstance(doc, dict):
            raise QuantizedModelError(f"{folder / 'model.json'}: a JSON object expected, got {type(doc).__name__}")
        if doc.get("format") not in FORMATS_READ:
            raise QuantizedModelError(f"{folder / 'model.json'}: format {doc.get('format')!r}, expected {FORMAT!r}")
        try:
            with np.load(folder / "weights.npz") as npz:
                arrays = dict(npz)
        except Exception as e:  # zipfile / pickle errors of a damaged file
            raise QuantizedModelError(f"{folder / 'weights.npz'}: unreadable ({e})") from e
        not_codes = [f"{key} ({value.dtype})" for key, value in arrays.items() if value.dtype.kind not in "iu"]
        if not_codes:
            raise QuantizedModelError(f"{folder / 'weights.npz'}: weights and biases are integer codes; "
                                      f"{', '.join(not_codes)} hold other values (nothing is rounded on reading)")
        try:
            layers = [Layer.from_json(d, arrays) for d in doc["layers"]]
            name = doc["name" if doc["format"] == FORMAT else "preset"]
            ports = WeightPorts.from_json(doc["weight_ports"]) if "weight_ports" in doc else None
            model = cls(name, FixedType.parse(doc["input_t"]), layers, tuple(doc["output_range"]), doc.get("info", {}),
                        ports)
        except (KeyError, TypeError, ValueError) as e:
            raise QuantizedModelError(f"{folder / 'model.json'}: malformed ({type(e).__name__}: {e})") from e
        expected = {f"{lr.name}.{k}" for lr in layers if lr.kind in ARITHMETIC for k in ("weight", "bias")}
        if set(arrays) != expected:
            raise QuantizedModelError(
                f"{folder}: weights.npz does not match model.json: missing {sorted(expected - set(arrays))}, "
                f"unexpected {sorted(set(arrays) - expected)}")
        model.validate()
        return model

    @property
    def kernel(self) -> str:
        """The kernel the model is folded for (:data:`fpgagen.core.folding.KERNELS`): ``rtl`` when its layers carry
        the RTL kernel's MAC arrays, else ``hls`` (hls4ml's folding, which the RTL twin follows)."""
        return "rtl" if any(lr.mac is not None for lr in self.layers) else "hls"

    # ------------------------------------------------------------------------------------------ validation
    def _mac_problems(self, lr: Layer) -> list[str]:
        """What is wrong with an arithmetic layer's MAC array (a split its stage cannot take, a reuse factor that
        disagrees with it, a MAC array on hls4ml's folding's neighbours)."""
        if lr.kind not in ARITHMETIC:
            return ["has a MAC array but no weights"]
        if any(other.mac is None for other in self.layers if other.kind in ARITHMETIC):
            return ["has a MAC array (the RTL kernel's folding) while other arithmetic layers have none"]
        try:
            rf = mac_reuse_factor(lr, lr.mac)
        except ValueError as e:
            return [str(e)]
        lanes = streamed_lanes(self.layers).get(lr.name)
        if lanes is not None and lanes % lr.mac.po:
            return [f"MAC array PO {lr.mac.po} does not divide the {lanes} lanes of its output beats"]
        if rf != lr.reuse_factor:
            return [f"reuse factor {lr.reuse_factor}, but its MAC array (PI {lr.mac.pi} x PO {lr.mac.po}) makes it "
                    f"{rf}"]
        return []

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
            if prev_shape is not None and tuple(lr.in_shape) != tuple(prev_shape):
                problems.append(f"{where}: in_shape {tuple(lr.in_shape)} but the previous layer gives "
                                f"{tuple(prev_shape)}")
            problems += [f"{where}: {p}" for p in check_layer(lr, prev_t)]
            if lr.placement not in PLACEMENTS:
                problems.append(f"{where}: placement {lr.placement!r} is not one of {', '.join(PLACEMENTS)}")
            elif lr.placement != "rom" and lr.kind not in ARITHMETIC:
                problems.append(f"{where}: has no weights to place {lr.placement}")
            elif lr.placement == "streamed" and lr.kind not in STREAMABLE:
                problems.append(f"{where}: cannot be streamed (only {', '.join(STREAMABLE)} layers read each weight "
                                "once per image)")
            elif lr.placement != "rom" and self.weight_ports is None:
                problems.append(f"{where}: {lr.placement}, but the model names no weight ports to carry its weights")
            if lr.mac is not None:
                problems += [f"{where}: {p}" for p in self._mac_problems(lr)]
            prev_shape, prev_t = lr.out_shape, lr.result_t
        if self.layers and len(self.layers[0].in_shape) != 1:
            problems.append(f"the first layer must take a latent vector, got in_shape {self.layers[0].in_shape}")
        lo_hi = self.output_range
        if not (isinstance(lo_hi, tuple | list) and len(lo_hi) == 2
                and all(isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in lo_hi)
                and lo_hi[0] < lo_hi[1]):
            problems.append(f"output_range must be two finite numbers, low < high, got {lo_hi!r}")
        if problems:
            raise QuantizedModelError(f"QuantizedModel {self.name!r} is inconsistent:\n  " + "\n  ".join(problems))
