"""The C-simulation executor: a QuantizedModel run as hls4ml's compiled C++ (io_stream, Vivado backend).

``CSimExecutor(model).prepare()`` converts, writes and compiles the hls4ml project once; ``run(z)`` feeds float64
latents through hls4ml's C bridge (``<project>_double``: the input is cast to the input type exactly as the
kernel's AXI wrapper does, and fixed-point outputs convert to double exactly) and returns NCHW float32 images,
bit for bit what :func:`fpgagen.core.golden.generate` returns.

Compiled projects are cached by content: ``<root>/csim/<key>/`` with ``key`` a hash of the QuantizedModel's
arithmetic (:func:`~fpgagen.hls.hls4ml_flow.model_hash`), the hls4ml version, fpgagen's flow version, (models with
a transposed convolution) the hash of fpgagen's ConvTranspose2d kernel header and (models with weight ports) the
ports' layout and the hash of the weight-port kernels (:func:`fpgagen.hls.hls4ml_weight_ports.header_digest`);
``<root>`` is the cache root, :func:`fpgagen.core.cache.cache_root` (``$FPGAGEN_CACHE``, else the user's cache
folder). The project is written and compiled in place (its library reads ``firmware/weights/`` by absolute path)
under a lock, and ``csim.json`` is written last, atomically, with the sha256 of the library and the weight files
(:class:`fpgagen.core.cache.CacheEntry`).
A folder whose ``csim.json`` names its key and whose files still have their hashes is reused: the library hls4ml's
``build_lib.sh`` built is loaded with ctypes, nothing is rewritten or recompiled. Any other folder is built again.
"""

from __future__ import annotations

import ctypes
import hashlib
import re
import shutil
import subprocess
import time
from pathlib import Path

import hls4ml
import numpy as np
import numpy.ctypeslib as npc

from fpgagen.core.cache import CacheEntry, cache_root
from fpgagen.core.errors import ToolNotFoundError
from fpgagen.core.golden import check_latents
from fpgagen.core.quantized_model import QuantizedModel
from fpgagen.hls.hls4ml_conv_transpose import header_digest
from fpgagen.hls.hls4ml_flow import FLOW_VERSION, HLSConversionError, convert, model_hash
from fpgagen.hls.hls4ml_weight_ports import WeightPortError, add_weight_ports, weight_port_passes
from fpgagen.hls.hls4ml_weight_ports import header_digest as weight_port_digest

STAMP_FILE = "csim.json"


def cache_key(model: QuantizedModel, backend: str = "Vivado") -> str:
    """Cache key of the compiled C simulation: QuantizedModel content, hls4ml version, flow version, backend, for
    models with a transposed convolution the extension's C++ kernel, and for models with weight ports their layout
    and the weight-port kernels (keys of other models stay as they were)."""
    text = f"{model_hash(model)}|hls4ml {hls4ml.__version__}|flow {FLOW_VERSION}|{backend}"
    if any(lr.kind == "conv_transpose2d" for lr in model.layers):
        text += f"|conv_transpose {header_digest()}"
    ports = weight_port_passes(model)
    if ports:  # the ports' layout (placements, beat width, splits) and the weight-port kernel
        text += f"|weight ports {ports} {weight_port_digest()}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def compile_project(project_dir: Path) -> Path:
    """Run an hls4ml project's ``build_lib.sh`` (g++) and return the shared library it built."""
    project_dir = Path(project_dir)
    if shutil.which("g++") is None:
        raise ToolNotFoundError("g++ is not on PATH: hls4ml's C simulation compiles the project with g++")
    stamp = re.search(r"^LIB_STAMP=(\S+)$", (project_dir / "build_lib.sh").read_text(), re.M).group(1)
    project = _project_name(project_dir)
    done = subprocess.run(["bash", "build_lib.sh"], cwd=project_dir, capture_output=True, text=True)
    lib = project_dir / "firmware" / f"{project}-{stamp}.so"
    if done.returncode != 0 or not lib.is_file():
        lines = (done.stdout + done.stderr).strip().splitlines()
        errors = [line for line in lines if " error: " in line][:5] or lines[-15:]
        raise HLSConversionError(f"g++ failed to compile the hls4ml project {project_dir}:\n" + "\n".join(errors))
    return lib


class CSimExecutor:
    """hls4ml C simulation of a QuantizedModel: ``prepare()`` once, then ``run(z)`` many times.

    Args:
        model: the QuantizedModel.
        workdir: cache root instead of :func:`fpgagen.core.cache.cache_root`; the project goes to
            ``<workdir>/csim/<key>/``.
        weights: the weights file of a model with loaded or streamed layers (bytes or a uint8 array: every weight
            port's pass, the RTL's ``weight_image`` and the overlay's ``.weights.bin``), fed into the kernel's weight
            ports as the board's DMAs do (:mod:`fpgagen.hls.hls4ml_weight_ports`); None for a model whose weights
            are all ROMs.

    Attributes:
        project_dir: the cached project folder (``prj/`` holds hls4ml's output).
        compiled: after ``prepare()``, True if it compiled, False if it reused the cache.
        prepare_seconds: how long ``prepare()`` took.
    """

    name = "csim"

    def __init__(self, model: QuantizedModel, workdir: Path | str | None = None, weights=None):
        self.model = model
        self.weight_ports = weight_port_passes(model)
        self.weights = None
        if weights is not None:  # bytes as read from the file, or a uint8 array as weight_image gives it
            raw = bytes(weights) if isinstance(weights, (bytes, bytearray, memoryview)) else \
                np.asarray(weights, np.uint8).tobytes()
            self.weights = np.frombuffer(raw, np.uint8)
        nbytes = self.weight_ports[-1].offset + self.weight_ports[-1].nbytes if self.weight_ports else 0
        if self.weight_ports and self.weights is None:
            raise WeightPortError(f"{model.name!r}: layers {', '.join(wp.layer for wp in self.weight_ports)} take "
                                  "their weights from weight ports: pass the weights file (weights=, e.g. "
                                  "fpgagen.core.weights_file.weight_image(model)[0])")
        if self.weights is not None and len(self.weights) != nbytes:
            raise WeightPortError(f"{model.name!r}: the weights file has {len(self.weights)} bytes, its weight "
                                  f"ports take {nbytes}")
        self.key = cache_key(model)
        self.project_dir = Path(workdir or cache_root()) / "csim" / self.key
        self.compiled: bool | None = None
        self.prepare_seconds: float | None = None
        self._top = None

    @classmethod
    def from_project(cls, model: QuantizedModel, hls_dir: Path, weights=None) -> CSimExecutor:
        """A prepared executor on an hls4ml project already written (e.g. the accelerator project's); compiles it.
        ``weights``: the weights file, as for the constructor."""
        ex = cls(model, weights=weights)
        ex.project_dir = Path(hls_dir)
        t0 = time.perf_counter()
        ex._load(compile_project(ex.project_dir), _project_name(ex.project_dir))
        ex.compiled, ex.prepare_seconds = True, time.perf_counter() - t0
        return ex

    def prepare(self) -> CSimExecutor:
        """Load the cached library of this model, or convert, write and compile it (under a file lock)."""
        t0 = time.perf_counter()
        with self._entry().lock():
            stamp = self._cached()
            self.compiled = stamp is None
            if stamp is None:
                stamp = self._build()
        self._load(self.project_dir / stamp["library"], stamp["project"])
        self.prepare_seconds = time.perf_counter() - t0
        return self

    def _entry(self) -> CacheEntry:
        return CacheEntry(self.project_dir, STAMP_FILE)

    def _cached(self) -> dict | None:
        """The completion record of a complete, intact project in the cache, else None."""
        stamp = self._entry().check(self.key, {"library": str, "project": str})
        return stamp if stamp is not None and stamp["library"] in stamp["files"] else None

    def _build(self) -> dict:
        entry = self._entry()
        entry.clear()
        hm = convert(self.model, self.project_dir / "prj")
        hm.write()
        add_weight_ports(self.project_dir / "prj", hm.config.get_project_name(), self.weight_ports)
        t0 = time.perf_counter()
        lib = compile_project(self.project_dir / "prj")
        weights = sorted(p.relative_to(self.project_dir) for p in (self.project_dir / "prj" / "firmware" /
                                                                    "weights").glob("*") if p.is_file())
        return entry.commit(self.key, [lib.relative_to(self.project_dir), *weights], preset=self.model.name,
                            model_hash=model_hash(self.model), hls4ml=hls4ml.__version__, flow_version=FLOW_VERSION,
                            library=lib.relative_to(self.project_dir).as_posix(),
                            project=hm.config.get_project_name(), compile_seconds=round(time.perf_counter() - t0, 2))

    def _load(self, lib: Path, project: str) -> None:
        library = ctypes.cdll.LoadLibrary(str(lib))
        top = getattr(library, f"{project}_double")
        top.restype = None
        top.argtypes = [npc.ndpointer(ctypes.c_double, flags="C_CONTIGUOUS")] * 2
        self._top = top
        self._port_errors = None
        if self.weight_ports:
            library.fpgagen_set_weights.restype = ctypes.c_int
            library.fpgagen_set_weights.argtypes = [ctypes.c_char_p, ctypes.c_ulong]
            library.fpgagen_weight_port_errors.restype = ctypes.c_long
            refused = library.fpgagen_set_weights(self.weights.tobytes(), len(self.weights))
            if refused:
                raise WeightPortError(f"{lib}: the kernel refused the weights file of {len(self.weights)} bytes: "
                                      + ("its loaded weights, written once, differ (this process loaded the library "
                                         "with other weights)" if refused == -2 else "not its length"))
            self._port_errors = library.fpgagen_weight_port_errors

    def run(self, z) -> np.ndarray:
        """Images (N, C, H, W) float32 for latents ``z`` (N, latent_dim), one C-simulation call per latent."""
        if self._top is None:
            raise RuntimeError("CSimExecutor.run() before prepare()")
        z = np.ascontiguousarray(check_latents(z, self.model.latent_dim))
        c, h, w = self.model.image_shape
        out = np.zeros((len(z), h * w * c), np.float64)
        for i in range(len(z)):
            self._top(z[i], out[i])
        if self._port_errors is not None and self._port_errors():
            raise WeightPortError(f"{self.model.name!r}: {self._port_errors()} C-simulation call(s) left weight-port "
                                  "beats unread or ran without weights")
        return out.reshape(len(z), h, w, c).transpose(0, 3, 1, 2).astype(np.float32)


def _project_name(hls_dir: Path) -> str:
    return re.search(r"^PROJECT=(\S+)$", (Path(hls_dir) / "build_lib.sh").read_text(), re.M).group(1)
