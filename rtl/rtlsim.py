"""The Verilator build of the RTL twin as a shared library with a C API: built once per content, cached, loaded with
ctypes.

Workstation-side (it needs Verilator, g++, make and perl). No cocotb: the generated top
(:func:`fpgagen.rtl.generate.generate_rtl`) is verilated together with a small C++ harness
(``rtl/harness/fg_sim_harness.cpp``) into ``libfgsim.so``, whose C API :func:`load_library` declares:

- ``fg_create`` / ``fg_destroy``: one simulated kernel (its own ``VerilatedContext``).
- ``fg_reset(h, cycles)``: ``aresetn`` low for ``cycles`` clocks.
- ``fg_set_stalls(h, idle, backpressure, seed)``: random stalls of the streams from then on -- each cycle the
  input idles (TVALID low) with ``idle`` / 1000 chance and the output holds TREADY low with ``backpressure`` / 1000
  chance, drawn from ``seed`` (0, 0: none).
- ``fg_run(h, in beats, out buffer, ...)``: clocks the model, driving ``s_axis_t*`` from the input beats while
  honouring ``s_axis_tready`` and holding ``m_axis_tready`` high while the output buffer has room, until the
  input is taken, enough output came out and at least ``min_cycles`` were clocked, the buffer is full, or no
  handshake happened for ``idle_limit`` cycles.
- Weight ports (``s_axis_w<k>``, one per ``loaded`` or ``streamed`` layer: a ``WeightPass`` of
  :mod:`fpgagen.core.weights_file`):
  ``fg_weight_ports(h)``, ``fg_weight_bytes(h)`` (bytes per beat); ``fg_set_ddr(h, bytes per cycle, fifo beats)``,
  the DDR behind them; ``fg_set_weights(h, port, buffer, beats)`` hands a port the beats it sends from the next
  ``fg_run`` on (starting with those not taken yet), ``fg_weights_taken(h, port)`` says how many the kernel took.
  The harness models the DMA and the DDR: each port fetches at most one beat per cycle into a FIFO, all of them
  together at most the DDR's bytes per cycle (round robin), so the cycles include every stall on weights.

The virtual board drives it as its ``rtlsim`` kernel backend (:mod:`fpgagen.host.virtual_board.rtlsim_backend`);
the benches drive the same backend.

**Build and cache.** :func:`build` hashes everything that shapes the library (the model's
:func:`~fpgagen.rtl.generate.model_hash` and its quantized content, the ``rtl/sv`` library, the harness, the
Verilator version, the flags) and builds into ``<cache>/rtlsim/<hash>/`` once (``<cache>`` is
:func:`fpgagen.core.cache.cache_root`): ``rtl/`` (generated top and memory files, referenced by absolute path, so
the entry is built in place), ``obj/`` (Verilator's C++ and objects; ccache when installed), ``libfgsim.so``,
``build.log`` and, written last, ``build.json`` with the top, its cycle bound and the sha256 of the library and of
every ``rtl/`` file (:class:`fpgagen.core.cache.CacheEntry`). A later build of the same content -- another executor,
another process -- uses the entry only if that record checks out, hashes included, *before* the library is loaded
(a truncated library would kill the interpreter with SIGBUS); otherwise it builds the entry again. Within a process
loaded libraries are kept in :data:`_LIBS`.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import subprocess
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fpgagen.core.cache import CacheEntry, cache_dir
from fpgagen.core.quantized_model import QuantizedModel

HARNESS = Path(__file__).resolve().parent / "harness" / "fg_sim_harness.cpp"
LIB_NAME = "libfgsim.so"
RECORD = "build.json"
ABI_VERSION = 3
WEIGHT_PORT_DRIVER = "fg_weight_ports.cpp"  # generated beside the top: the harness's view of the weight ports
DMA_FIFO_BEATS = 64  # beats of FIFO per weight port in the DMA model (AXI DMA MM2S: a few bursts)
# default Verilator optimisation of the model; the harness itself is tiny
VERILATOR_FLAGS = ["--cc", "--exe", "--build", "--prefix", "Vtop", "-Wno-fatal", "-Werror-USERFATAL", "-Wno-lint",
                   "-Wno-style", "--x-assign", "fast", "--x-initial", "fast", "-CFLAGS", "-fPIC", "-LDFLAGS", "-shared"]

_LIBS: dict[str, ctypes.CDLL] = {}
_LOCK = threading.Lock()


class RtlBuildError(RuntimeError):
    """The Verilator build of the RTL twin failed (the message ends with the build log's tail)."""


def build_root() -> Path:
    """Where builds live by default: ``<cache root>/rtlsim`` (:func:`fpgagen.core.cache.cache_root`)."""
    return cache_dir("rtlsim")


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
    weight_streams: tuple[dict, ...] = ()  # WeightStream fields per port (fpgagen.rtl.generate)
    weights_file: Path | None = None      # every port's pass, concatenated

    def weight_pass(self, port: int) -> np.ndarray:
        """The bytes of one pass of weight port ``port`` (uint8), from the build's weights file."""
        ws = self.weight_streams[port]
        return np.fromfile(self.weights_file, np.uint8, count=ws["nbytes"], offset=ws["offset"])


def content_hash(model: QuantizedModel) -> str:
    """Digest of everything the library depends on: model, RTL library, harness, Verilator, flags."""
    from fpgagen.rtl import sv_sources
    from fpgagen.rtl.generate import model_hash

    h = hashlib.sha256()
    h.update(json.dumps({"abi": ABI_VERSION, "flags": VERILATOR_FLAGS, "preset": model.name,
                         "weight_ports": model.weight_ports.to_json() if model.weight_ports else None,
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
    """The simulator library of ``model``, built into ``<root>/<hash>/`` unless a complete build is there.

    Args:
        model: the QuantizedModel.
        root: the folder of the builds, default :func:`build_root`.
        jobs: parallel C++ compiles, default one per CPU.

    Raises:
        RtlBuildError: missing tools, or Verilator/g++ failed (with the tail of ``build.log``).
    """
    missing = missing_tools()
    if missing:
        raise RtlBuildError(f"the rtlsim backend needs {', '.join(missing)}")
    key = content_hash(model)
    entry = CacheEntry(Path(root or build_root()) / key, RECORD)
    with entry.lock():  # one build per entry, also across processes (pytest-xdist)
        record = entry.check(key, {"top": str, "bound_cycles": int, "weight_streams": list})
        if record is not None and LIB_NAME in record["files"]:
            return _from_record(entry.folder, key, record, built=False)
        return _build_locked(model, key, entry, jobs)


def _from_record(folder: Path, key: str, record: dict, built: bool) -> RtlBuild:
    weights = record.get("weights_file")
    return RtlBuild(key, folder, folder / LIB_NAME, record["top"], record["bound_cycles"], built,
                    tuple(record["weight_streams"]), folder / weights if weights else None)


def weight_port_driver(design) -> str:
    """C++ of the harness's view of ``design``'s weight ports (:data:`WEIGHT_PORT_DRIVER`): how many, the bytes of
    a beat, driving TVALID/TDATA and reading TREADY of port k (a beat's bytes little-endian, as the DMA reads
    memory)."""
    nbytes = design.weight_beat_bits // 8
    drive, ready = [], []
    for ws in design.weight_streams:
        port = f"t->s_axis_w{ws.port}"
        if nbytes <= 8:  # Verilator keeps up to 64 bits in an integer
            load = f"uint64_t v = 0; std::memcpy(&v, beat, {nbytes}); {port}_tdata = v;"
        else:  # a VlWide of 32-bit words, least significant first
            load = (f"for (int i = 0; i < {nbytes // 4}; ++i) {{ uint32_t v; std::memcpy(&v, beat + 4 * i, 4); "
                    f"{port}_tdata[i] = v; }}")
        drive.append(f"    case {ws.port}:\n        {port}_tvalid = valid;\n        {port}_tlast = 0;\n"
                     f"        if (valid) {{ {load} }}\n        break;")
        ready.append(f"    case {ws.port}: return {port}_tready;")
    waits = (f"    return port >= 0 && port < {len(design.weight_streams)} && ((t->w_wait >> port) & 1);"
             if design.weight_streams else "    (void)t; (void)port;\n    return false;")
    return "\n".join([
        f"// Generated by fpgagen.rtl.rtlsim for {design.top}: its {len(design.weight_streams)} weight ports.",
        "#include <cstdint>", "#include <cstring>", "", '#include "Vtop.h"', "",
        f"int fg_weight_port_count() {{ return {len(design.weight_streams)}; }}",
        f"int fg_weight_beat_bytes() {{ return {max(nbytes, 1)}; }}",
        "void fg_weight_drive(Vtop* t, int port, const uint8_t* beat, bool valid) {",
        "    (void)t; (void)beat; (void)valid;", "    switch (port) {", *drive, "    default: break;", "    }", "}",
        "bool fg_weight_ready(Vtop* t, int port) {", "    (void)t;", "    switch (port) {", *ready,
        "    default: return false;", "    }", "}",
        "bool fg_weight_waits(Vtop* t, int port) {", waits, "}", ""])


def _build_locked(model: QuantizedModel, key: str, entry: CacheEntry, jobs: int | None) -> RtlBuild:
    from fpgagen.rtl.generate import generate_rtl
    from fpgagen.rtl.tools import PCH_MAKEFLAGS

    entry.clear()
    folder = entry.folder
    design = generate_rtl(model, folder / "rtl")
    driver = folder / "rtl" / WEIGHT_PORT_DRIVER
    driver.write_text(weight_port_driver(design))
    log = folder / "build.log"
    env = dict(os.environ)
    env["MAKEFLAGS"] = " ".join(filter(None, [env.get("MAKEFLAGS"), PCH_MAKEFLAGS]))  # OBJCACHE: setup_path
    partial = folder / (LIB_NAME + ".tmp")
    cmd = [str(_verilator()), *VERILATOR_FLAGS, "-j", str(jobs or os.cpu_count() or 1), "--Mdir", str(folder / "obj"),
           "--top-module", design.top, "-o", str(partial), *map(str, design.sources), str(HARNESS), str(driver)]
    with open(log, "w") as f:
        f.write(" ".join(cmd) + "\n\n")
        f.flush()
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=folder)
    if proc.returncode != 0 or not partial.is_file():
        tail = log.read_text(errors="replace")[-4000:]
        raise RtlBuildError(f"Verilator build of {design.top} failed (exit {proc.returncode}, {log}):\n{tail}")
    os.replace(partial, folder / LIB_NAME)
    rtl_files = sorted(p.relative_to(folder) for p in (folder / "rtl").rglob("*") if p.is_file())
    weights = str(design.weights_file.relative_to(folder)) if design.weights_file else None
    record = {"top": design.top, "bound_cycles": design.bound_cycles,
              "weight_streams": [asdict(ws) for ws in design.weight_streams], "weights_file": weights}
    entry.commit(key, [LIB_NAME, *rtl_files], **record, preset=model.name, latent_dim=model.latent_dim,
                 image_shape=list(model.image_shape))
    return _from_record(folder, key, record, built=True)


def load_library(path: Path) -> ctypes.CDLL:
    """ctypes handle of a built ``libfgsim.so`` (loaded once per path and process); load only what :func:`build`
    returned, whose hash it checked."""
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
            lib.fg_set_stalls.argtypes = [P, ctypes.c_uint32, ctypes.c_uint32, U64]
            lib.fg_run.restype = ctypes.c_int
            lib.fg_run.argtypes = [P, P, P, I64, P, P, I64, I64, ctypes.c_int, U64, U64, U64,
                                   ctypes.POINTER(I64)]
            lib.fg_weight_ports.restype = ctypes.c_int
            lib.fg_weight_ports.argtypes = [P]
            lib.fg_weight_bytes.restype = ctypes.c_int
            lib.fg_weight_bytes.argtypes = [P]
            lib.fg_set_ddr.argtypes = [P, ctypes.c_double, I64]
            lib.fg_set_weights.restype = ctypes.c_int
            lib.fg_set_weights.argtypes = [P, ctypes.c_int, P, I64]
            lib.fg_weights_taken.restype = I64
            lib.fg_weights_taken.argtypes = [P, ctypes.c_int]
            if lib.fg_abi_version() != ABI_VERSION:
                raise RtlBuildError(f"{path}: harness ABI {lib.fg_abi_version()}, expected {ABI_VERSION}")
            _LIBS[key] = lib
        return _LIBS[key]
