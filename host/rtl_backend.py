"""The ``rtlsim`` kernel backend: the Verilator build of the RTL twin behind the virtual board's DMA.

Workstation-side (it needs Verilator, g++, make and perl; the board never imports it). No cocotb: the generated
top (:func:`fpgagen.rtl.generate.generate_rtl`) is verilated together with a small C++ harness
(``rtl/harness/fg_sim_harness.cpp``) into a shared library with a C API, loaded with ctypes:

- ``fg_create`` / ``fg_destroy``: one simulated kernel (its own ``VerilatedContext``).
- ``fg_reset(h, cycles)``: ``aresetn`` low for ``cycles`` clocks.
- ``fg_run(h, in beats, out buffer, ...)``: clocks the model, driving ``s_axis_t*`` from the input beats while
  honouring ``s_axis_tready`` and holding ``m_axis_tready`` high while the output buffer has room, until the
  input is taken and enough output came out, the buffer is full, or no handshake happened for a long time.

**Build and cache.** :func:`build` hashes everything that shapes the library (the model's
:func:`~fpgagen.rtl.generate.model_hash` and its quantized content, the ``rtl/sv`` library, the harness, the
Verilator version, the flags) and builds into ``<repo>/build/rtlsim/<hash>/`` once: ``rtl/`` (generated top and
memory files, referenced by absolute path), ``obj/`` (Verilator's C++ and objects; ccache when installed),
``libfgsim.so``, ``build.log``. A later build of the same content -- another executor, another process --
finds ``libfgsim.so`` and loads it; within a process loaded libraries are kept in :data:`_LIBS`.

**Timing.** Between DMA calls the simulated clock stands still (the model does not run while the DMA is not
pumping): ``cycles`` counts the clocks the kernel was actually run, i.e. busy time, not wall time of the
driver. Output beats the kernel makes while it is fed go into an output buffer (``out_buffer`` beats, default
4096, like a FIFO in front of S2MM); when it is full the kernel stops until ``produce`` drains it. ``produce``
clocks the model without input only when the last ``consume`` took everything offered (the DMA has nothing more
to send now), to flush the images still in flight.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fpgagen.core.quantized_model import QuantizedModel
from fpgagen.host.virtual_board import Beats, KernelBackend, VirtualBoardError, register_backend

REPO = Path(__file__).resolve().parents[1]
BUILD_ROOT = REPO / "build" / "rtlsim"
HARNESS = REPO / "rtl" / "harness" / "fg_sim_harness.cpp"
LIB_NAME = "libfgsim.so"
ABI_VERSION = 1
RESET_CYCLES = 4
DEFAULT_OUT_BUFFER = 4096
# default Verilator optimisation of the model; the harness itself is tiny
VERILATOR_FLAGS = ["--cc", "--exe", "--build", "--prefix", "Vtop", "-Wno-fatal", "-Werror-USERFATAL", "-Wno-lint",
                   "-Wno-style", "--x-assign", "fast", "--x-initial", "fast", "-CFLAGS", "-fPIC", "-LDFLAGS", "-shared"]

_LIBS: dict[str, ctypes.CDLL] = {}
_LOCK = threading.Lock()


class RtlBuildError(RuntimeError):
    """The Verilator build of the RTL twin failed (the message ends with the build log's tail)."""


# ------------------------------------------------------------------------------------------------ tools
def missing_tools() -> list[str]:
    """What a build needs and this machine lacks (verilator, g++, make, perl, python); [] when all is there."""
    from fpgagen.rtl.tools import missing_build_tools

    return missing_build_tools()


def _verilator() -> Path:
    from fpgagen.rtl.tools import verilator_bin_dir

    return verilator_bin_dir() / "verilator"


def _verilator_version() -> str:
    try:
        return subprocess.run([str(_verilator()), "--version"], capture_output=True, text=True,
                              timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ------------------------------------------------------------------------------------------------ build
@dataclass
class RtlBuild:
    """A built simulator: ``library`` in ``folder``; ``built`` is False when it came from the cache."""

    key: str
    folder: Path
    library: Path
    top: str
    bound_cycles: int
    built: bool


def content_hash(model: QuantizedModel) -> str:
    """Digest of everything the library depends on: model, RTL library, harness, Verilator, flags."""
    from fpgagen.rtl import sv_sources
    from fpgagen.rtl.generate import model_hash

    h = hashlib.sha256()
    h.update(json.dumps({"abi": ABI_VERSION, "flags": VERILATOR_FLAGS, "preset": model.preset,
                         "input_t": str(model.input_t), "output_range": list(model.output_range),
                         "model": model_hash(model), "latent_dim": model.latent_dim,
                         "image_shape": list(model.image_shape), "verilator": _verilator_version()}).encode())
    for lr in model.layers:  # model_hash covers weights and biases; tables etc. travel in to_json
        h.update(json.dumps(lr.to_json(), sort_keys=True, default=str).encode())
    for path in [*sv_sources(), HARNESS]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def build(model: QuantizedModel, root: Path | None = None, jobs: int | None = None) -> RtlBuild:
    """The simulator library of ``model``, built into ``<root>/<hash>/`` unless already there.

    Raises:
        RtlBuildError: missing tools, or Verilator/g++ failed (with the tail of ``build.log``).
    """
    missing = missing_tools()
    if missing:
        raise RtlBuildError(f"the rtlsim backend needs {', '.join(missing)}")
    key = content_hash(model)
    folder = (root or BUILD_ROOT) / key
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:  # one build per folder, also across processes (pytest-xdist)
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_locked(model, key, folder, jobs)


def _build_locked(model: QuantizedModel, key: str, folder: Path, jobs: int | None) -> RtlBuild:
    from fpgagen.rtl.generate import generate_rtl

    library = folder / LIB_NAME
    meta_file = folder / "build.json"
    if library.is_file() and meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        return RtlBuild(key, folder, library, meta["top"], meta["bound_cycles"], built=False)

    design = generate_rtl(model, folder / "rtl")
    obj = folder / "obj"
    if obj.exists():
        shutil.rmtree(obj)
    log = folder / "build.log"
    from fpgagen.rtl.tools import PCH_MAKEFLAGS

    env = dict(os.environ)
    env["MAKEFLAGS"] = " ".join(filter(None, [env.get("MAKEFLAGS"), PCH_MAKEFLAGS]))  # OBJCACHE: setup_path
    cmd = [str(_verilator()), *VERILATOR_FLAGS, "-j", str(jobs or os.cpu_count() or 1), "--Mdir", str(obj),
           "--top-module", design.top, "-o", str(folder / (LIB_NAME + ".tmp")),
           *map(str, design.sources), str(HARNESS)]
    with open(log, "w") as f:
        f.write(" ".join(cmd) + "\n\n")
        f.flush()
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=folder)
    if proc.returncode != 0 or not (folder / (LIB_NAME + ".tmp")).is_file():
        tail = log.read_text(errors="replace")[-4000:]
        raise RtlBuildError(f"Verilator build of {design.top} failed (exit {proc.returncode}, {log}):\n{tail}")
    os.replace(folder / (LIB_NAME + ".tmp"), library)
    meta_file.write_text(json.dumps({"top": design.top, "bound_cycles": design.bound_cycles,
                                     "preset": model.preset, "latent_dim": model.latent_dim,
                                     "image_shape": list(model.image_shape)}, indent=1))
    return RtlBuild(key, folder, library, design.top, design.bound_cycles, built=True)


def load_library(path: Path) -> ctypes.CDLL:
    """ctypes handle of a built ``libfgsim.so`` (loaded once per path and process)."""
    with _LOCK:
        key = str(path)
        if key not in _LIBS:
            lib = ctypes.CDLL(key)
            P, I64, U64 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint64
            lib.fg_abi_version.restype = ctypes.c_int
            lib.fg_create.restype = P
            lib.fg_create.argtypes = []
            lib.fg_destroy.argtypes = [P]
            lib.fg_cycles.restype = U64
            lib.fg_cycles.argtypes = [P]
            lib.fg_reset.argtypes = [P, ctypes.c_int]
            lib.fg_run.restype = ctypes.c_int
            lib.fg_run.argtypes = [P, P, P, I64, P, P, I64, I64, ctypes.c_int, U64, U64,
                                   ctypes.POINTER(I64)]
            if lib.fg_abi_version() != ABI_VERSION:
                raise RtlBuildError(f"{path}: harness ABI {lib.fg_abi_version()}, expected {ABI_VERSION}")
            _LIBS[key] = lib
        return _LIBS[key]


# ------------------------------------------------------------------------------------------------ backend
class RtlBackend(KernelBackend):
    """The AXI-Stream kernel as the cycle-accurate Verilator model of the RTL twin.

    Args:
        model: the QuantizedModel the overlay was built from.
        out_buffer: beats of output the kernel may make ahead of ``produce`` (backpressure beyond that).
        build_root: where builds live (default ``<repo>/build/rtlsim``).
    """

    name = "rtlsim"

    def __init__(self, model: QuantizedModel, out_buffer: int = DEFAULT_OUT_BUFFER, build_root: Path | None = None):
        self.model = model
        self.latent_dim = int(model.latent_dim)
        self.beats_out = int(np.prod(model.image_shape))
        self.build = build(model, build_root)
        self.lib = load_library(self.build.library)
        self.out_buffer = max(int(out_buffer), 1)
        # a stage never needs more than a few images' worth of cycles to move a beat (latency ~2 images)
        self.idle_limit = 8 * self.build.bound_cycles + 100_000
        self._handle = self.lib.fg_create()
        self._result = (ctypes.c_int64 * 3)()
        self._obuf_data = np.zeros(self.out_buffer, np.uint32)
        self._obuf_last = np.zeros(self.out_buffer, np.uint8)
        self.reset()

    def reset(self) -> None:
        self.lib.fg_reset(self._handle, RESET_CYCLES)
        self._queue_data: list[np.ndarray] = []
        self._queue_last: list[np.ndarray] = []
        self._queued = 0
        self.beats_in = 0  # since reset
        self.beats_out_total = 0  # taken from the model since reset
        self._starved = True  # the last consume took every beat offered (the DMA has nothing more right now)

    @property
    def cycles(self) -> int:
        return int(self.lib.fg_cycles(self._handle))

    def close(self) -> None:
        if getattr(self, "_handle", None):
            self.lib.fg_destroy(self._handle)
            self._handle = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    @property
    def pending_out(self) -> int:
        """Output beats of fully received latents not yet out of the model."""
        return self.beats_in // self.latent_dim * self.beats_out - self.beats_out_total

    def _run(self, data: np.ndarray, last: np.ndarray, want_out: int, stop_at_last: bool) -> int:
        room = self.out_buffer - self._queued
        if room <= 0:
            return 0
        data = np.ascontiguousarray(data, np.uint32)
        last = np.ascontiguousarray(last, np.uint8)
        max_cycles = (self.build.bound_cycles * (len(data) // self.latent_dim + self.pending_out // self.beats_out
                                                 + 4) + 4 * len(data) + 1_000_000)
        rc = self.lib.fg_run(self._handle, data.ctypes.data, last.ctypes.data, len(data),
                             self._obuf_data.ctypes.data, self._obuf_last.ctypes.data, room, want_out,
                             int(stop_at_last), self.idle_limit, max_cycles, self._result)
        consumed, produced, _ = (int(v) for v in self._result)
        if produced:
            self._queue_data.append(self._obuf_data[:produced].copy())
            self._queue_last.append(self._obuf_last[:produced].astype(bool))
            self._queued += produced
            self.beats_out_total += produced
        self.beats_in += consumed
        if rc and (consumed < len(data) or (want_out and produced < want_out)):
            what = f"no handshake for {self.idle_limit} cycles" if rc == 1 else f"cycle limit {max_cycles}"
            raise VirtualBoardError(f"rtlsim kernel {self.build.top} hung ({what}; {consumed}/{len(data)} beats "
                                    f"taken, {produced} produced, {self.pending_out} owed)")
        return consumed

    def consume(self, beats: Beats) -> int:
        if not len(beats):
            return 0
        taken = self._run(beats.data, beats.last, 0, False)
        self._starved = taken == len(beats)
        return taken

    def produce(self, max_beats: int) -> Beats:
        if max_beats <= 0:
            return Beats.empty()
        # clock the model without input only once the DMA has no more input to offer; while it has (the output
        # buffer filled up during consume), draining the buffer lets the next consume run with input and output
        # moving together, as they do on the board
        if self._starved and self._queued < max_beats and self.pending_out > 0:
            have_last = any(q.any() for q in self._queue_last)
            if not have_last:
                want = min(self.pending_out, max_beats - self._queued)
                self._run(np.zeros(0, np.uint32), np.zeros(0, np.uint8), want, True)
        if not self._queued:
            return Beats.empty()
        data = np.concatenate(self._queue_data)
        last = np.concatenate(self._queue_last)
        take = min(max_beats, len(data))
        ends = np.flatnonzero(last[:take])
        if len(ends):
            take = int(ends[0]) + 1
        head = Beats(data[:take], last[:take])
        rest_d, rest_l = data[take:], last[take:]
        self._queue_data = [rest_d] if len(rest_d) else []
        self._queue_last = [rest_l] if len(rest_l) else []
        self._queued = len(rest_d)
        return head


def _factory(model: QuantizedModel, overlay_dir, options: dict | None) -> RtlBackend:
    options = dict(options or {})
    return RtlBackend(model, out_buffer=int(options.get("out_buffer", DEFAULT_OUT_BUFFER)),
                      build_root=Path(options["build_root"]) if options.get("build_root") else None)


register_backend("rtlsim", _factory)

__all__ = ["RtlBackend", "RtlBuild", "RtlBuildError", "build", "content_hash", "load_library", "missing_tools"]
