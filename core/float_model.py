"""The float generator as a list of layers of the one vocabulary, run in numpy float32.

A :class:`FloatModel` is what every front end lowers a trained generator to (BatchNorm folded): ordered
:class:`FloatLayer` s of the kinds in :data:`fpgagen.core.layers.KINDS` with float32 weights. It is

- the input of quantization (:func:`fpgagen.core.quantize.quantize_float` chooses every fixed-point type from it
  and its calibration peaks), and
- the board CPU's baseline: a PYNQ board's Python has numpy but no torch, and :meth:`FloatModel.run` computes the
  generator there in float32 from one small ``.npz`` file (``<name>.float.npz`` beside the overlay's ``.bit``).

The file holds ``model.json`` (a JSON document stored as uint8 bytes, so loading needs no pickle) with ``format``,
``preset`` (the generator's name), ``latent_dim``, ``image_shape``, ``output_range``, ``latents`` (the latent
distribution, written only when it is not ``"normal"``) and the ordered ``layers``, each a dict with ``name``,
``kind`` and the kind's attributes (a reshape's target as ``shape``); and
``<layer name>.weight`` / ``<layer name>.bias`` float32 arrays of the arithmetic layers.

Feature maps run channels-last inside (a convolution is then a single matrix product over contiguous windows) and
come out NCHW, like the torch generator's. Each kind's kernel is registered as the ``float`` back end of
:mod:`fpgagen.core.layers`; shapes follow the kinds' shape rules. numpy only: the board imports this module.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fpgagen.core.cache import replacing
from fpgagen.core.latents import DISTRIBUTIONS, check_latents
from fpgagen.core.layers import ARITHMETIC, LayerError, get_kind, implementation, implements, kernel_dims, require

FORMAT = "fpgagen-float-reference-1"
CHUNK_BYTES = 32 << 20  # largest im2col matrix built at once (the PYNQ-Z2 has 512 MB in all)


class FloatModelError(ValueError):
    """A float model file or layer list that is damaged or not what the generator needs."""


@dataclass
class FloatLayer:
    """One layer of a FloatModel.

    Attributes:
        name: unique, e.g. ``dense_0``.
        kind: a kind of :data:`fpgagen.core.layers.KINDS`.
        weight, bias: float32 arrays of an arithmetic layer, torch layouts: dense (out, in); conv2d (O, C, K, K);
            conv_transpose2d (C, O, K, K).
        padding, stride, output_padding: convolution geometry as torch defines it; a negative output_padding
            crops the end (Keras's 'same': :func:`fpgagen.core.transposed.transposed_out_size`).
        alpha: leaky_relu slope.
        factor: upsample factor.
        in_shape, out_shape: per-sample shapes; the FloatModel fills them from its layers' shape rules (give a
            reshape's target as ``out_shape``).
    """

    name: str
    kind: str
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    padding: int = 0
    stride: int = 1
    output_padding: int = 0
    alpha: float | None = None
    factor: int | None = None
    table_size: int | None = None
    in_shape: tuple[int, ...] = ()
    out_shape: tuple[int, ...] = ()

    def to_json(self) -> dict:
        """The layer's dict in the file: name, kind and the kind's attributes (a reshape's target as ``shape``)."""
        d = {"name": self.name, "kind": self.kind}
        for key in get_kind(self.kind).attributes:
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.kind == "reshape":
            d["shape"] = list(self.out_shape)
        return d

    @classmethod
    def from_json(cls, d: dict, params: dict[str, np.ndarray]) -> FloatLayer:
        if not isinstance(d, dict) or not isinstance(d.get("name"), str) or not d.get("name"):
            raise FloatModelError(f"a layer without a name: {d!r}")
        if "kind" not in d:
            raise FloatModelError(f"layer {d['name']}: no kind")
        try:
            attributes = get_kind(d["kind"]).attributes
        except LayerError as e:
            raise FloatModelError(f"layer {d['name']}: {e}") from None
        kw = {key: d[key] for key in attributes if key in d}
        if d["kind"] == "reshape":
            kw["out_shape"] = tuple(d.get("shape", ()))
        return cls(d["name"], d["kind"], params.get("weight"), params.get("bias"), **kw)


@dataclass
class CpuBenchmark:
    """What :meth:`FloatModel.benchmark` measured; the CPU's counterpart of the driver's BenchmarkResult.

    Attributes:
        images: images generated in all.
        batch: latents per ``run`` call.
        latency_s: median wall time of one call of ``batch`` latents.
        images_per_s: images over the total wall time.
    """

    images: int
    batch: int
    latency_s: float
    images_per_s: float

    def as_dict(self) -> dict:
        return asdict(self)


# ============================================================================================== layers
@implements("float", "dense")
def _dense(x, layer):
    y = x @ layer.weight.T
    y += layer.bias
    return y


@implements("float", "relu")
def _relu(x, layer):
    return np.maximum(x, 0, out=x)


@implements("float", "leaky_relu")
def _leaky_relu(x, layer):
    return np.where(x >= 0, x, x * np.float32(layer.alpha))


@implements("float", "reshape")
def _reshape(x, layer):
    c, h, w = layer.out_shape
    return np.ascontiguousarray(x.reshape(-1, c, h, w).transpose(0, 2, 3, 1))


@implements("float", "upsample")
def _upsample(x, layer):
    n, h, w, c = x.shape
    f = layer.factor
    return np.broadcast_to(x[:, :, None, :, None, :], (n, h, f, w, f, c)).reshape(n, h * f, w * f, c)


@implements("float", "conv2d")
def _conv2d(x, layer):
    weight, bias, pad = layer.weight, layer.bias, layer.padding
    c_out, c_in, k, _ = weight.shape
    n, h, w, _ = x.shape
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    h_out, w_out = x.shape[1] - k + 1, x.shape[2] - k + 1
    kernel = weight.transpose(2, 3, 1, 0).reshape(k * k * c_in, c_out)  # rows ordered (dy, dx, c) like windows
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))  # (n, h', w', c, k, k)
    windows = windows.transpose(0, 1, 2, 4, 5, 3)  # (n, h', w', dy, dx, c)
    out = np.empty((n, h_out, w_out, c_out), np.float32)
    per_image = h_out * w_out * k * k * c_in * 4
    step = max(1, CHUNK_BYTES // per_image)
    for lo in range(0, n, step):
        cols = windows[lo : lo + step].reshape(-1, k * k * c_in)
        np.matmul(cols, kernel, out=out[lo : lo + step].reshape(-1, c_out))
    out += bias
    return out


@implements("float", "conv_transpose2d")
def _conv_transpose2d(x, layer):
    weight, bias = layer.weight, layer.bias
    s, pad, out_pad = layer.stride, layer.padding, layer.output_padding
    c_in, c_out, k, _ = weight.shape
    n, h, w, _ = x.shape
    h_out, w_out = (h - 1) * s - 2 * pad + k + out_pad, (w - 1) * s - 2 * pad + k + out_pad
    full = np.zeros((n, max((h - 1) * s + k, pad + h_out), max((w - 1) * s + k, pad + w_out), c_out), np.float32)
    pixels = x.reshape(-1, c_in)
    taps = np.ascontiguousarray(weight.transpose(2, 3, 0, 1))  # (k, k, in, out): one GEMM per tap
    for i in range(k):
        for j in range(k):
            full[:, i : i + (h - 1) * s + 1 : s, j : j + (w - 1) * s + 1 : s] += (pixels @ taps[i, j]).reshape(
                n, h, w, c_out)
    out = full[:, pad : pad + h_out, pad : pad + w_out]
    out += bias
    return out


@implements("float", "tanh")
def _tanh(x, layer):
    return np.tanh(x, out=x)


@implements("float", "sigmoid")
def _sigmoid(x, layer):
    np.negative(x, out=x)
    with np.errstate(over="ignore", under="ignore"):  # exp(-x) = Inf for x < -88: 1 / Inf = 0, as it should
        np.exp(x, out=x)
    x += np.float32(1)
    return np.reciprocal(x, out=x)


# ============================================================================================== the model
class FloatModel:
    """The BN-folded float generator in numpy float32: ``run(z) -> images``.

    Args:
        layers: ordered :class:`FloatLayer` s; their shapes are filled in here from ``latent_dim`` on.
        name: the generator's name (a preset or an imported model).
        latent_dim: length of a latent vector.
        image_shape: (C, H, W) of one image; checked against what the layers produce.
        output_range: (low, high) of the output activation.

    Raises:
        FloatModelError: layers that do not chain from ``latent_dim`` to ``image_shape``, unknown kinds,
            missing, mis-shaped or non-finite parameters.
    """

    def __init__(self, layers: list[FloatLayer], name: str, latent_dim: int, image_shape: tuple[int, int, int],
                 output_range: tuple[float, float] = (-1.0, 1.0), latents: str = "normal"):
        if latents not in DISTRIBUTIONS:
            raise FloatModelError(f"latent distribution {latents!r} (supported: {', '.join(DISTRIBUTIONS)})")
        self.latents = latents
        self.name = name
        self.latent_dim = int(latent_dim)
        self.image_shape = tuple(int(v) for v in image_shape)
        self.output_range = (float(output_range[0]), float(output_range[1]))
        self.layers = list(layers)
        self._validate()

    def _validate(self) -> None:
        if not self.layers:
            raise FloatModelError("the layer list is empty")
        shape: tuple = (self.latent_dim,)
        names = set()
        for layer in self.layers:
            if layer.name in names:
                raise FloatModelError(f"layer name {layer.name!r} is used twice")
            names.add(layer.name)
            try:
                kind = get_kind(layer.kind)
            except LayerError as e:
                raise FloatModelError(f"layer {layer.name}: {e}") from None
            if kind.role == "arithmetic":
                missing = [k for k in ("weight", "bias") if getattr(layer, k) is None]
                if missing:
                    raise FloatModelError(f"layer {layer.name}: missing {' and '.join(missing)}")
                layer.weight = np.ascontiguousarray(layer.weight, np.float32)
                layer.bias = np.ascontiguousarray(layer.bias, np.float32)
                outputs = (kernel_dims(layer)[1],) if layer.weight.ndim in (2, 4) else None
                if layer.bias.shape != outputs:
                    raise FloatModelError(f"layer {layer.name}: bias {layer.bias.shape} does not match weight "
                                          f"{layer.weight.shape}")
                for key in ("weight", "bias"):
                    if not np.isfinite(getattr(layer, key)).all():
                        raise FloatModelError(f"layer {layer.name}: {key} holds NaN or Inf")
            elif layer.weight is not None or layer.bias is not None:
                raise FloatModelError(f"layer {layer.name}: a {layer.kind} has no weights")
            if layer.kind == "leaky_relu" and not isinstance(layer.alpha, int | float):
                raise FloatModelError(f"layer {layer.name}: leaky_relu needs a numeric alpha, got {layer.alpha!r}")
            layer.in_shape = shape
            try:
                shape = layer.out_shape = tuple(int(v) for v in kind.out_shape(layer))
            except (LayerError, TypeError, ValueError) as e:
                raise FloatModelError(str(e)) from None
        if shape != self.image_shape:
            raise FloatModelError(f"the layers produce {shape}, the image shape is {self.image_shape}")

    # ------------------------------------------------------------------------------------------ running
    def run(self, z) -> np.ndarray:
        """Images (N, C, H, W) float32 in ``output_range`` for latents ``z`` (N, latent_dim), floating point.

        Raises ValueError for a wrong shape or dtype, or NaN/Inf in ``z``.
        """
        return np.ascontiguousarray(self._forward(z).transpose(0, 3, 1, 2))

    generate = run  # the driver's name for the same call

    def peaks(self, z) -> list[float]:
        """The largest |output| of every layer for latents ``z``: what calibration measures."""
        peaks: list[float] = []
        self._forward(z, lambda x: peaks.append(float(np.abs(x).max())))
        return peaks

    def _forward(self, z, each=None) -> np.ndarray:
        require("float", self.layers)
        x = check_latents(z, self.latent_dim).copy()
        for layer in self.layers:
            x = implementation("float", layer)(x, layer)
            if each is not None:
                each(x)
        return x

    def benchmark(self, n: int = 1024, batch: int = 64, seed: int = 0) -> CpuBenchmark:
        """Generate ``n`` images in calls of ``batch`` standard-normal latents and time them (like the driver)."""
        if n < 1 or batch < 1:
            raise ValueError(f"n and batch must be positive, got n={n}, batch={batch}")
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)
        self.run(z[:batch])  # warm-up
        latencies = []
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            t = time.perf_counter()
            self.run(z[i : i + batch])
            latencies.append(time.perf_counter() - t)
        wall = time.perf_counter() - t0
        return CpuBenchmark(images=n, batch=batch, latency_s=float(np.median(latencies)), images_per_s=n / wall)

    # ------------------------------------------------------------------------------------------ files
    def digest(self) -> str:
        """sha256 of everything that decides the model's outputs: its JSON document and every weight."""
        h = hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode())
        for lr in self.layers:
            for array in (lr.weight, lr.bias):
                if array is not None:
                    h.update(array.tobytes())
        return h.hexdigest()

    def to_json(self) -> dict:
        extra = {} if self.latents == "normal" else {"latents": self.latents}  # normal: the format as it always was
        return {"format": FORMAT, "preset": self.name, "latent_dim": self.latent_dim, **extra,
                "image_shape": list(self.image_shape), "output_range": list(self.output_range),
                "layers": [layer.to_json() for layer in self.layers]}

    def save(self, path: str | Path) -> Path:
        """Write the ``.npz`` file (see the module docstring); parent folders are created."""
        path = Path(path)
        if path.suffix != ".npz":
            raise ValueError(f"a float model is written as .npz, got {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"{lr.name}.{k}": getattr(lr, k) for lr in self.layers if lr.kind in ARITHMETIC
                  for k in ("weight", "bias")}
        doc = np.frombuffer(json.dumps(self.to_json()).encode(), np.uint8)
        with replacing(path) as tmp:
            np.savez(tmp, **{"model.json": doc}, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> FloatModel:
        """Read a file written by :meth:`save`; FileNotFoundError or FloatModelError say what is wrong."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: write it on a workstation with `fpgagen convert` (or "
                                    "FloatModel.save)")
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as e:
            raise FloatModelError(f"{path}: not a readable .npz ({type(e).__name__}: {e})") from e
        if "model.json" not in arrays:
            raise FloatModelError(f"{path}: no 'model.json' entry; not a float model file")
        try:
            doc = json.loads(arrays.pop("model.json").tobytes().decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise FloatModelError(f"{path}: model.json is not valid JSON ({e})") from e
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
            raise FloatModelError(f"{path}: format {found!r}, expected {FORMAT!r}")
        missing = [k for k in ("preset", "latent_dim", "image_shape", "output_range", "layers") if k not in doc]
        if missing:
            raise FloatModelError(f"{path}: model.json lacks {', '.join(missing)}")
        try:
            return cls.from_parts(doc["layers"], arrays, doc["preset"], doc["latent_dim"], doc["image_shape"],
                                  doc["output_range"], doc.get("latents", "normal"))
        except FloatModelError as e:
            raise FloatModelError(f"{path}: {e}") from None

    @classmethod
    def from_parts(cls, layers: list[dict], arrays: dict[str, np.ndarray], name: str, latent_dim: int,
                   image_shape, output_range, latents: str = "normal") -> FloatModel:
        """The model of layer dicts (:meth:`FloatLayer.to_json`) and ``<layer name>.weight`` / ``.bias`` float
        arrays, as its files hold them; FloatModelError names what does not fit."""
        if not isinstance(layers, list):
            raise FloatModelError(f"'layers' must be a list, got {type(layers).__name__}")
        params: dict[str, dict[str, np.ndarray]] = {}
        for key, value in arrays.items():
            layer, _, part = key.rpartition(".")
            if part not in ("weight", "bias") or value.dtype.kind != "f":
                raise FloatModelError(f"unexpected entry {key!r} ({value.dtype}, {value.shape})")
            params.setdefault(layer, {})[part] = value
        built = [FloatLayer.from_json(d, params.get(d.get("name") if isinstance(d, dict) else None, {}))
                 for d in layers]
        extra = set(params) - {lr.name for lr in built if lr.kind in ARITHMETIC}
        if extra:
            raise FloatModelError(f"parameters for no dense or convolution layer: {sorted(extra)}")
        return cls(built, name, latent_dim, image_shape, output_range, latents)

    def __repr__(self) -> str:
        kinds = " -> ".join(lr.kind for lr in self.layers)
        return f"<FloatModel {self.name}: ({self.latent_dim},) -> {self.image_shape}: {kinds}>"
