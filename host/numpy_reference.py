"""The board's CPU baseline: the float generator (BatchNorm folded) in numpy float32.

A PYNQ board's Python has numpy but no torch. :class:`FloatReference` runs the trained generator there, in
float32, from one small ``.npz`` file that :func:`export_float_reference` writes on a workstation. It is what
the overlay is timed against in the board notebook, and a float yardstick for the fixed-point images.

The file (``<preset>.float.npz`` by convention, beside the overlay's ``.bit``) holds:

- ``model.json``: a JSON document (stored as uint8 bytes, so loading needs no pickle) with ``format``,
  ``preset``, ``latent_dim``, ``image_shape``, ``output_range`` and the ordered ``layers``, each a dict with
  ``name`` and ``kind`` plus the kind's fields;
- ``<layer name>.weight`` / ``<layer name>.bias``: float32 arrays of the dense and (transposed) convolution layers.

Layer kinds (the vocabulary of the deployable presets, as torch runs them):

=============  ===========================================  =================================================
kind           fields                                       computes
=============  ===========================================  =================================================
``dense``      weight (out, in), bias (out,)                ``x @ weight.T + bias``
``relu``                                                    ``max(x, 0)``
``leaky_relu`` ``alpha``                                    ``x if x >= 0 else alpha * x``
``reshape``    ``shape`` [C, H, W]                          torch's ``view(-1, C, H, W)`` of a flat vector
``upsample``   ``factor`` (2)                               nearest-neighbour upsampling
``conv2d``     weight (out, in, k, k), bias (out,),         stride-1 convolution (cross-correlation) with
               ``padding``                                  zero padding, as one im2col GEMM per chunk
``conv_trans`` weight (in, out, k, k), bias (out,),         torch's ConvTranspose2d: each kernel tap's GEMM
``pose2d``     ``stride``, ``padding``, ``output_padding``  scattered to ``y = i * stride + t - padding``
``tanh``                                                    ``tanh(x)``
``sigmoid``                                                 ``1 / (1 + exp(-x))``
=============  ===========================================  =================================================

Feature maps run channels-last inside (a convolution is then a single matrix product over contiguous
windows) and come out NCHW, like the torch generator's.

To support a new layer kind, add its forward function to ``_FORWARD`` and its shape rule to ``_out_shape``, and
teach :func:`layers_from_sequential` which torch module it comes from.

Only numpy is imported at module level; :func:`export_float_reference` and :meth:`FloatReference.from_preset`
import torch and :mod:`fpgagen.models.quantize` lazily (workstation side).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fpgagen.core.latents import check_latents

FORMAT = "fpgagen-float-reference-1"
KINDS = ("dense", "relu", "leaky_relu", "reshape", "upsample", "conv2d", "conv_transpose2d", "tanh", "sigmoid")
HAS_PARAMETERS = ("dense", "conv2d", "conv_transpose2d")
CHUNK_BYTES = 32 << 20  # largest im2col matrix built at once (the PYNQ-Z2 has 512 MB in all)


class FloatReferenceError(ValueError):
    """A float reference file or layer list that is damaged or not what the generator needs."""


@dataclass
class CpuBenchmark:
    """What :meth:`FloatReference.benchmark` measured; the CPU's counterpart of the driver's BenchmarkResult.

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
def _dense(x, layer, p):
    y = x @ p["weight"].T
    y += p["bias"]
    return y


def _relu(x, layer, p):
    return np.maximum(x, 0, out=x)


def _leaky_relu(x, layer, p):
    return np.where(x >= 0, x, x * np.float32(layer["alpha"]))


def _reshape(x, layer, p):
    c, h, w = layer["shape"]
    return np.ascontiguousarray(x.reshape(-1, c, h, w).transpose(0, 2, 3, 1))


def _upsample(x, layer, p):
    n, h, w, c = x.shape
    f = layer["factor"]
    return np.broadcast_to(x[:, :, None, :, None, :], (n, h, f, w, f, c)).reshape(n, h * f, w * f, c)


def _conv2d(x, layer, p):
    weight, bias, pad = p["weight"], p["bias"], layer["padding"]
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


def _conv_transpose2d(x, layer, p):
    weight, bias = p["weight"], p["bias"]
    s, pad, out_pad = layer["stride"], layer["padding"], layer["output_padding"]
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


def _tanh(x, layer, p):
    return np.tanh(x, out=x)


def _sigmoid(x, layer, p):
    np.negative(x, out=x)
    with np.errstate(over="ignore", under="ignore"):  # exp(-x) = Inf for x < -88: 1 / Inf = 0, as it should
        np.exp(x, out=x)
    x += np.float32(1)
    return np.reciprocal(x, out=x)


_FORWARD = {"dense": _dense, "relu": _relu, "leaky_relu": _leaky_relu, "reshape": _reshape,
            "upsample": _upsample, "conv2d": _conv2d, "conv_transpose2d": _conv_transpose2d, "tanh": _tanh,
            "sigmoid": _sigmoid}


def _out_shape(layer: dict, shape: tuple, params: dict) -> tuple:
    """Shape of one sample after ``layer``; FloatReferenceError where the layer does not fit ``shape``."""
    kind, name = layer["kind"], layer["name"]
    if kind == "dense":
        w = params["weight"]
        if shape != (w.shape[1],):
            raise FloatReferenceError(f"layer {name}: dense weight {w.shape} takes ({w.shape[1]},), input is {shape}")
        return (w.shape[0],)
    if kind == "reshape":
        target = tuple(layer["shape"])
        if len(shape) != 1 or len(target) != 3 or int(np.prod(target)) != shape[0]:
            raise FloatReferenceError(f"layer {name}: cannot view {shape} as (C, H, W) = {target}")
        return target
    if kind in ("upsample", "conv2d", "conv_transpose2d") and len(shape) != 3:
        raise FloatReferenceError(f"layer {name}: {kind} needs a (C, H, W) input, got {shape}")
    if kind == "upsample":
        if layer.get("factor") != 2:
            raise FloatReferenceError(f"layer {name}: only nearest x2 upsampling is supported, got {layer}")
        c, h, w = shape
        return (c, 2 * h, 2 * w)
    if kind == "conv2d":
        wt = params["weight"]
        c, h, w = shape
        pad = layer.get("padding")
        if wt.ndim != 4 or wt.shape[1] != c or wt.shape[2] != wt.shape[3]:
            raise FloatReferenceError(f"layer {name}: conv2d weight {wt.shape} does not take {c} channels "
                                      "with a square kernel")
        if not isinstance(pad, int) or pad < 0:
            raise FloatReferenceError(f"layer {name}: padding must be a non-negative integer, got {pad!r}")
        k = wt.shape[2]
        if h + 2 * pad < k or w + 2 * pad < k:
            raise FloatReferenceError(f"layer {name}: kernel {k}x{k} larger than the padded input {shape}")
        return (wt.shape[0], h + 2 * pad - k + 1, w + 2 * pad - k + 1)
    if kind == "conv_transpose2d":
        wt = params["weight"]
        c, h, w = shape
        if wt.ndim != 4 or wt.shape[0] != c or wt.shape[2] != wt.shape[3]:
            raise FloatReferenceError(f"layer {name}: conv_transpose2d weight {wt.shape} (in, out, k, k) does not "
                                      f"take {c} channels with a square kernel")
        fields = [layer.get(key) for key in ("stride", "padding", "output_padding")]
        if not all(isinstance(v, int) for v in fields) or fields[0] < 1 or not 0 <= fields[2] < fields[0] \
                or fields[1] < 0:
            raise FloatReferenceError(f"layer {name}: stride >= 1, padding >= 0 and 0 <= output_padding < stride "
                                      f"needed, got {fields}")
        s, pad, out_pad = fields
        k = wt.shape[2]
        size = [(n - 1) * s - 2 * pad + k + out_pad for n in (h, w)]
        if min(size) < 1:
            raise FloatReferenceError(f"layer {name}: output size {size} from input {shape}")
        return (wt.shape[1], *size)
    if kind == "leaky_relu" and not isinstance(layer.get("alpha"), int | float):
        raise FloatReferenceError(f"layer {name}: leaky_relu needs a numeric alpha, got {layer.get('alpha')!r}")
    return shape


# ============================================================================================== the model
class FloatReference:
    """The BN-folded float generator in numpy float32: ``run(z) -> images``.

    Args:
        layers: ordered layer dicts (``name``, ``kind`` and the kind's fields; see the module docstring).
        params: ``{layer name: {"weight": array, "bias": array}}`` for the dense and conv2d layers.
        preset: the preset the generator was trained as (informative).
        latent_dim: length of a latent vector.
        image_shape: (C, H, W) of one image; checked against what the layers produce.
        output_range: (low, high) of the output activation.

    Raises:
        FloatReferenceError: layers that do not chain from ``latent_dim`` to ``image_shape``, unknown kinds,
            missing, mis-shaped or non-finite parameters.
    """

    def __init__(self, layers: list[dict], params: dict[str, dict[str, np.ndarray]], preset: str, latent_dim: int,
                 image_shape: tuple[int, int, int], output_range: tuple[float, float] = (-1.0, 1.0)):
        self.preset = preset
        self.latent_dim = int(latent_dim)
        self.image_shape = tuple(int(v) for v in image_shape)
        self.output_range = (float(output_range[0]), float(output_range[1]))
        self.layers = [dict(layer) for layer in layers]
        self.params = {name: {k: np.ascontiguousarray(v, np.float32) for k, v in p.items()}
                       for name, p in params.items()}
        self._validate()

    def _validate(self) -> None:
        if not self.layers:
            raise FloatReferenceError("the layer list is empty")
        shape: tuple = (self.latent_dim,)
        names = set()
        for i, layer in enumerate(self.layers):
            name, kind = layer.get("name"), layer.get("kind")
            if not isinstance(name, str) or not name:
                raise FloatReferenceError(f"layer {i} has no name: {layer}")
            if name in names:
                raise FloatReferenceError(f"layer name {name!r} is used twice")
            names.add(name)
            if kind not in KINDS:
                raise FloatReferenceError(f"layer {name}: unknown kind {kind!r}; known: {', '.join(KINDS)}")
            params = self.params.get(name, {})
            if kind in HAS_PARAMETERS:
                missing = [k for k in ("weight", "bias") if k not in params]
                if missing:
                    raise FloatReferenceError(f"layer {name}: missing {' and '.join(missing)}")
                outputs = params["weight"].shape[1:2] if kind == "conv_transpose2d" else params["weight"].shape[:1]
                if params["bias"].shape != outputs:
                    raise FloatReferenceError(f"layer {name}: bias {params['bias'].shape} does not match weight "
                                              f"{params['weight'].shape}")
                for k, v in params.items():
                    if not np.isfinite(v).all():
                        raise FloatReferenceError(f"layer {name}: {k} holds NaN or Inf")
            shape = _out_shape(layer, shape, params)
        if shape != self.image_shape:
            raise FloatReferenceError(f"the layers produce {shape}, the image shape is {self.image_shape}")
        extra = set(self.params) - {lr["name"] for lr in self.layers if lr["kind"] in HAS_PARAMETERS}
        if extra:
            raise FloatReferenceError(f"parameters for no dense or convolution layer: {sorted(extra)}")

    # ------------------------------------------------------------------------------------------ running
    def run(self, z) -> np.ndarray:
        """Images (N, C, H, W) float32 in ``output_range`` for latents ``z`` (N, latent_dim), floating point.

        Raises ValueError for a wrong shape or dtype, or NaN/Inf in ``z``.
        """
        x = check_latents(z, self.latent_dim).copy()
        for layer in self.layers:
            x = _FORWARD[layer["kind"]](x, layer, self.params.get(layer["name"]))
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    generate = run  # the driver's name for the same call

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
    def to_json(self) -> dict:
        return {"format": FORMAT, "preset": self.preset, "latent_dim": self.latent_dim,
                "image_shape": list(self.image_shape), "output_range": list(self.output_range),
                "layers": self.layers}

    def save(self, path: str | Path) -> Path:
        """Write the ``.npz`` file (see the module docstring); parent folders are created."""
        path = Path(path)
        if path.suffix != ".npz":
            raise ValueError(f"a float reference is written as .npz, got {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"{name}.{k}": v for name, p in self.params.items() for k, v in p.items()}
        doc = np.frombuffer(json.dumps(self.to_json()).encode(), np.uint8)
        np.savez(path, **{"model.json": doc}, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> FloatReference:
        """Read a file written by :meth:`save`; FileNotFoundError or FloatReferenceError say what is wrong."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: write it on a workstation with "
                                    "fpgagen.host.numpy_reference.export_float_reference(preset, path)")
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as e:
            raise FloatReferenceError(f"{path}: not a readable .npz ({type(e).__name__}: {e})") from e
        if "model.json" not in arrays:
            raise FloatReferenceError(f"{path}: no 'model.json' entry; not a float reference file")
        try:
            doc = json.loads(arrays.pop("model.json").tobytes().decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise FloatReferenceError(f"{path}: model.json is not valid JSON ({e})") from e
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
            raise FloatReferenceError(f"{path}: format {found!r}, expected {FORMAT!r}")
        missing = [k for k in ("preset", "latent_dim", "image_shape", "output_range", "layers") if k not in doc]
        if missing:
            raise FloatReferenceError(f"{path}: model.json lacks {', '.join(missing)}")
        params: dict[str, dict[str, np.ndarray]] = {}
        for key, value in arrays.items():
            name, _, part = key.rpartition(".")
            if part not in ("weight", "bias") or value.dtype.kind != "f":
                raise FloatReferenceError(f"{path}: unexpected entry {key!r} ({value.dtype}, {value.shape})")
            params.setdefault(name, {})[part] = value
        try:
            return cls(doc["layers"], params, doc["preset"], doc["latent_dim"], doc["image_shape"],
                       doc["output_range"])
        except FloatReferenceError as e:
            raise FloatReferenceError(f"{path}: {e}") from None

    # ------------------------------------------------------------------------------------------ from torch
    @classmethod
    def from_preset(cls, preset: str, checkpoint: str | Path | None = None) -> FloatReference:
        """The trained generator of ``preset`` (its shipped checkpoint unless ``checkpoint``), BN folded.

        Workstation side: imports torch and :mod:`fpgagen.models.quantize`.
        """
        from fpgagen.models.quantize import fold_batchnorm
        from fpgagen.models.sampling import load_generator

        spec, generator = load_generator(preset, None if checkpoint is None else Path(checkpoint))
        layers, params = layers_from_sequential(fold_batchnorm(generator))
        return cls(layers, params, spec.name, spec.latent_dim, spec.image_shape, spec.output_range)

    def __repr__(self) -> str:
        kinds = " -> ".join(lr["kind"] for lr in self.layers)
        return f"<FloatReference {self.preset}: ({self.latent_dim},) -> {self.image_shape}: {kinds}>"


def layers_from_sequential(seq) -> tuple[list[dict], dict[str, dict[str, np.ndarray]]]:
    """Layer dicts and float32 parameters of a BatchNorm-free ``nn.Sequential`` (imports torch)."""
    from torch import nn

    from fpgagen.models.presets import Reshape

    layers: list[dict] = []
    params: dict[str, dict[str, np.ndarray]] = {}
    for i, m in enumerate(seq):
        if isinstance(m, nn.Linear | nn.Conv2d):
            kind = "dense" if isinstance(m, nn.Linear) else "conv2d"
            layer = {"name": f"{kind}_{i}", "kind": kind}
            weight = m.weight.detach().float().numpy()
            bias = (m.bias.detach().float().numpy() if m.bias is not None
                    else np.zeros(weight.shape[0], np.float32))
            if kind == "conv2d":
                if (m.stride != (1, 1) or m.dilation != (1, 1) or m.groups != 1
                        or m.kernel_size[0] != m.kernel_size[1] or m.padding_mode != "zeros"
                        or not isinstance(m.padding, tuple) or m.padding[0] != m.padding[1]):
                    raise FloatReferenceError(f"layer {i} ({m}): only square stride-1 convolutions with equal "
                                              "zero padding are supported")
                layer["padding"] = int(m.padding[0])
            params[layer["name"]] = {"weight": weight.copy(), "bias": bias.copy()}
        elif isinstance(m, nn.ConvTranspose2d):
            if (len(set(m.kernel_size)) != 1 or len(set(m.stride)) != 1 or len(set(m.padding)) != 1
                    or len(set(m.output_padding)) != 1 or m.dilation != (1, 1) or m.groups != 1
                    or m.padding_mode != "zeros"):
                raise FloatReferenceError(f"layer {i} ({m}): only square transposed convolutions with equal stride, "
                                          "padding and output padding on both axes are supported")
            layer = {"name": f"conv_transpose2d_{i}", "kind": "conv_transpose2d", "stride": int(m.stride[0]),
                     "padding": int(m.padding[0]), "output_padding": int(m.output_padding[0])}
            weight = m.weight.detach().float().numpy()
            bias = (m.bias.detach().float().numpy() if m.bias is not None
                    else np.zeros(weight.shape[1], np.float32))
            params[layer["name"]] = {"weight": weight.copy(), "bias": bias.copy()}
        elif isinstance(m, nn.ReLU):
            layer = {"name": f"relu_{i}", "kind": "relu"}
        elif isinstance(m, nn.LeakyReLU):
            layer = {"name": f"leaky_relu_{i}", "kind": "leaky_relu", "alpha": float(m.negative_slope)}
        elif isinstance(m, Reshape):
            layer = {"name": f"reshape_{i}", "kind": "reshape", "shape": list(m.shape)}
        elif isinstance(m, nn.Upsample):
            if m.mode != "nearest" or m.scale_factor is None or float(m.scale_factor) != 2.0:
                raise FloatReferenceError(f"layer {i} ({m}): only nearest x2 upsampling is supported")
            layer = {"name": f"upsample_{i}", "kind": "upsample", "factor": 2}
        elif isinstance(m, nn.Tanh):
            layer = {"name": f"tanh_{i}", "kind": "tanh"}
        elif isinstance(m, nn.Sigmoid):
            layer = {"name": f"sigmoid_{i}", "kind": "sigmoid"}
        else:
            raise FloatReferenceError(f"layer {i}: {type(m).__name__} has no numpy float reference "
                                      "(fold BatchNorm first)")
        layers.append(layer)
    return layers, params


def export_float_reference(preset: str, path: str | Path, checkpoint: str | Path | None = None) -> Path:
    """Write the float reference of ``preset`` (BN folded, float32) to ``path`` (``.npz``); return ``path``.

    Workstation side (imports torch). Copy the file to the board beside the overlay, conventionally as
    ``overlays/<board>/<preset>.float.npz``.
    """
    return FloatReference.from_preset(preset, checkpoint).save(path)
