"""The ``rtlsim`` kernel backend: the Verilator build of the RTL twin (:mod:`fpgagen.rtl.rtlsim`) behind the virtual
board's DMA.

Workstation-side (the build needs Verilator, g++, make and perl; the board never imports it): the registry
(:mod:`fpgagen.host.virtual_board.registry`) imports this module the first time a virtual bitstream names
``rtlsim``. :class:`RtlBackend` builds (or finds in the cache) the library of its model and drives one simulated
kernel through its C API.

**Timing.** Between DMA calls the simulated clock stands still (the model does not run while the DMA is not
pumping): ``cycles`` counts the clocks the kernel was actually run, i.e. busy time, not wall time of the
driver. Output beats the kernel makes while it is fed go into an output buffer (``out_buffer`` beats, default
4096, like a FIFO in front of S2MM); when it is full the kernel stops until ``produce`` drains it. ``produce``
clocks the model without input only when the last ``consume`` took everything offered (the DMA has nothing more
to send now), to flush the images still in flight.

**Weights.** A design with ``loaded`` or ``streamed`` layers has a weight port per such layer
(:attr:`RtlBackend.weight_streams`). :meth:`RtlBackend.send_weights` queues bytes on a port, as a DMA transfer
from DDR would: a ``loaded`` layer takes one pass after reset, a ``streamed`` one a pass per image. The harness
feeds them through its DMA and DDR model (:mod:`fpgagen.rtl.rtlsim`: one beat per port per cycle, all ports
together at most the board's derated DDR bandwidth, ``model.weight_ports``), so a kernel short of weights stalls
as it would on the board, and one that never gets them hangs (a :class:`VirtualBoardError` after ``idle_limit``
cycles without a handshake).
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fpgagen.core.quantized_model import QuantizedModel
from fpgagen.host.virtual_board.kernel import Beats, KernelBackend, VirtualBoardError
from fpgagen.rtl import rtlsim

RESET_CYCLES = 4
WEIGHTS_STARVED = 3  # fg_run's return code: a weight port wants a beat its queue does not hold
WEIGHT_IDLE = 64  # cycles without a handshake after which advance() stops: the kernel takes no more weights now
DEFAULT_OUT_BUFFER = 4096


class RtlBackend(KernelBackend):
    """The AXI-Stream kernel as the cycle-accurate Verilator model of the RTL twin.

    Args:
        model: the QuantizedModel the overlay was built from.
        out_buffer: beats of output the kernel may make ahead of ``produce`` (backpressure beyond that).
        build_root: where builds live (default :func:`fpgagen.rtl.rtlsim.build_root`, under the cache root).
        idle, backpressure: chance per cycle (0 to 1) that the input stream idles (TVALID low) and that the output
            stream holds TREADY low: random stalls around the kernel, as a busy interconnect gives.
        seed: of those stalls (reproducible).
    """

    name = "rtlsim"

    def __init__(self, model: QuantizedModel, out_buffer: int = DEFAULT_OUT_BUFFER, build_root: Path | None = None,
                 idle: float = 0.0, backpressure: float = 0.0, seed: int = 1):
        for name, chance in (("idle", idle), ("backpressure", backpressure)):
            if not 0 <= chance < 1:
                raise ValueError(f"rtlsim {name}: a chance per cycle in [0, 1), got {chance!r}")
        self.stalls = (round(idle * 1000), round(backpressure * 1000), int(seed))
        self.model = model
        self.latent_dim = int(model.latent_dim)
        self.beats_out = int(np.prod(model.image_shape))
        self.build = rtlsim.build(model, build_root)
        self.lib = rtlsim.load_library(self.build.library)
        self.out_buffer = max(int(out_buffer), 1)
        # a stage never needs more than a few images' worth of cycles to move a beat (latency ~2 images)
        self.idle_limit = 8 * self.build.bound_cycles + 100_000
        self._handle = self.lib.fg_create()
        self._result = (ctypes.c_int64 * 3)()
        self._obuf_data = np.zeros(self.out_buffer, np.uint32)
        self._obuf_last = np.zeros(self.out_buffer, np.uint8)
        self.lib.fg_set_stalls(self._handle, *self.stalls)
        self.weight_streams = self.build.weight_streams
        self.weight_beat_bytes = int(self.lib.fg_weight_bytes(self._handle))
        if self.lib.fg_weight_ports(self._handle) != len(self.weight_streams):
            raise VirtualBoardError(f"rtlsim kernel {self.build.top}: {self.lib.fg_weight_ports(self._handle)} "
                                    f"weight ports, its build record names {len(self.weight_streams)}")
        ddr = model.weight_ports.ddr_bits_per_cycle / 8 if model.weight_ports is not None else 0.0
        self.lib.fg_set_ddr(self._handle, ddr, rtlsim.DMA_FIFO_BEATS)
        self.reset()

    def reset(self) -> None:
        self.lib.fg_reset(self._handle, RESET_CYCLES)
        self._queue_data: list[np.ndarray] = []
        self._queue_last: list[np.ndarray] = []
        self._queued = 0
        self.beats_in = 0  # since reset
        self.beats_out_total = 0  # taken from the model since reset
        self._input_drained = True  # the last consume took every beat offered (the DMA has nothing more now)
        self.weights_starved = False  # the last run stopped for want of weights (a streamed port ran dry)
        # per weight port: the bytes queued and not taken yet (handed to the harness before every run)
        self._weights = [np.zeros(0, np.uint8) for _ in self.weight_streams]
        self.weight_beats_taken = [0 for _ in self.weight_streams]  # per port, since reset

    def send_weights(self, port: int, data: np.ndarray) -> None:
        """Queue ``data`` (bytes, whole beats of the port) on weight port ``port``: the kernel takes them from the
        next clocked cycle on, after what is queued already."""
        if not 0 <= port < len(self.weight_streams):
            raise VirtualBoardError(f"rtlsim kernel {self.build.top} has {len(self.weight_streams)} weight ports, "
                                    f"no port {port}")
        data = np.ascontiguousarray(data, np.uint8).ravel()
        if len(data) % self.weight_beat_bytes:
            raise VirtualBoardError(f"weight port {port}: {len(data)} bytes is not a whole number of "
                                    f"{self.weight_beat_bytes}-byte beats")
        self._weights[port] = np.concatenate([self._weights[port], data])

    def weights_pending(self, port: int) -> int:
        """Bytes queued on weight port ``port`` the kernel has not taken yet."""
        return len(self._weights[port])

    def set_weight_ports(self, ports: list[tuple[str, int]], beat_bytes: int) -> None:
        """Check the overlay's weight ports (its manifest) against the design's: same placements, passes, beats."""
        mine = [(ws["placement"], ws["nbytes"]) for ws in self.weight_streams]
        if [tuple(p) for p in ports] != mine or (ports and beat_bytes != self.weight_beat_bytes):
            raise VirtualBoardError(f"rtlsim kernel {self.build.top}: weight ports {mine} of {self.weight_beat_bytes}"
                                    f"-byte beats, the overlay's manifest says {ports} of {beat_bytes}-byte beats")

    def advance(self) -> None:
        """Clock the model while weights it can take are queued and no latent comes (a loaded layer's pass after
        the overlay is programmed); stops when they are in, or the kernel takes none for a while. While the latents'
        DMA still has beats to offer (the last ``consume`` took fewer than offered) its pump clocks the model, with
        those beats: clocking here would starve the input stream for nothing."""
        beats = sum(len(w) for w in self._weights) // max(self.weight_beat_bytes, 1)
        if beats and self._input_drained:
            self._run(np.zeros(0, np.uint32), np.zeros(0, np.uint8), 0, False, min_cycles=beats + WEIGHT_IDLE,
                      idle_limit=WEIGHT_IDLE)

    def send_weight_passes(self, images: int) -> None:
        """Queue what a driver sends after reset for ``images`` images: one pass of every ``loaded`` port, and
        ``images`` passes of every ``streamed`` port (from the build's weights file)."""
        for ws in self.weight_streams:
            data = self.build.weight_pass(ws["port"])
            self.send_weights(ws["port"], np.tile(data, 1 if ws["placement"] == "loaded" else images))

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

    def _run(self, data: np.ndarray, last: np.ndarray, want_out: int, stop_at_last: bool, min_cycles: int = 0,
             idle_limit: int | None = None) -> int:
        """Clock the model (``fg_run``) on ``data`` and the queued weights; returns the input beats taken. A stop
        for want of weights (a streamed port's queue used up) is no error: the DMA hands more later. With
        ``idle_limit`` given, running out of handshakes is no error either (advance)."""
        room = self.out_buffer - self._queued
        if room <= 0:
            return 0
        data = np.ascontiguousarray(data, np.uint32)
        last = np.ascontiguousarray(last, np.uint8)
        max_cycles = (self.build.bound_cycles * (len(data) // self.latent_dim + self.pending_out // self.beats_out
                                                 + 4) + 4 * len(data) + 1_000_000
                      + sum(len(w) for w in self._weights) // max(self.weight_beat_bytes, 1))
        for port, queued in enumerate(self._weights):
            self.lib.fg_set_weights(self._handle, port, queued.ctypes.data, len(queued) // self.weight_beat_bytes)
        rc = self.lib.fg_run(self._handle, data.ctypes.data, last.ctypes.data, len(data),
                             self._obuf_data.ctypes.data, self._obuf_last.ctypes.data, room, want_out,
                             int(stop_at_last), idle_limit or self.idle_limit, max_cycles, min_cycles, self._result)
        consumed, produced, _ = (int(v) for v in self._result)
        for port, queued in enumerate(self._weights):
            taken = int(self.lib.fg_weights_taken(self._handle, port))
            self._weights[port] = queued[taken * self.weight_beat_bytes:]
            self.weight_beats_taken[port] += taken
        if produced:
            self._queue_data.append(self._obuf_data[:produced].copy())
            self._queue_last.append(self._obuf_last[:produced].astype(bool))
            self._queued += produced
            self.beats_out_total += produced
        self.beats_in += consumed
        self.weights_starved = rc == WEIGHTS_STARVED
        if (rc and rc != WEIGHTS_STARVED and not (rc == 1 and idle_limit)
                and (consumed < len(data) or (want_out and produced < want_out))):
            what = f"no handshake for {self.idle_limit} cycles" if rc == 1 else f"cycle limit {max_cycles}"
            short = [f"weight port {p} ({ws['layer']}, {ws['placement']}) has nothing queued"
                     for p, ws in enumerate(self.weight_streams) if not len(self._weights[p])
                     and (ws["placement"] == "streamed" or self.weight_beats_taken[p] < ws["beats"])]
            raise VirtualBoardError(f"rtlsim kernel {self.build.top} hung ({what}; {consumed}/{len(data)} beats "
                                    f"taken, {produced} produced, {self.pending_out} owed"
                                    + "".join(f"; {s}" for s in short) + ")")
        return consumed

    def consume(self, beats: Beats) -> int:
        if not len(beats):
            return 0
        taken = self._run(beats.data, beats.last, 0, False)
        self._input_drained = taken == len(beats)
        return taken

    def produce(self, max_beats: int) -> Beats:
        if max_beats <= 0:
            return Beats.empty()
        # clock the model without input only once the DMA has no more input to offer; while it has (the output
        # buffer filled up during consume), draining the buffer lets the next consume run with input and output
        # moving together, as they do on the board
        if self._input_drained and self._queued < max_beats and self.pending_out > 0:
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


@dataclass(frozen=True)
class SteadyState:
    """What :func:`steady_state` measured: cycles per image back to back, the latency of one image, and the
    cycles and wall seconds simulated in all."""

    cycles_per_image: float
    latency_cycles: int
    total_cycles: int
    wall_s: float
    images: int


def _run_back_to_back(backend: RtlBackend, z: np.ndarray) -> tuple[int, np.ndarray]:
    """Reset, feed the latents ``z`` back to back, clock until the last image is out: (cycles, images as beats)."""
    n, latent_dim = z.shape
    backend.reset()
    backend.send_weight_passes(n)
    c0 = backend.cycles
    last = np.zeros(z.size, bool)
    last[latent_dim - 1::latent_dim] = True
    taken = backend.consume(Beats.from_floats(z.reshape(-1), last))
    if taken != z.size:
        raise VirtualBoardError(f"rtlsim kernel {backend.build.top} took {taken} of {z.size} input beats")
    out, images = [], 0
    while images < n:
        beats = backend.produce(backend.out_buffer)
        if not len(beats):
            raise VirtualBoardError(f"rtlsim kernel {backend.build.top} stopped after {images} of {n} images")
        out.append(beats.data)
        images += int(beats.last.sum())
    return backend.cycles - c0, np.concatenate(out).reshape(n, -1)


def steady_state(model: QuantizedModel, images: int = 8, seed: int = 1234) -> SteadyState:
    """The RTL twin's steady-state cycles per image: ``images`` latents back to back, then (after a reset) one; the
    difference over ``images - 1``. Every image is checked bit for bit against the golden model (a VirtualBoardError
    otherwise)."""
    from fpgagen.core import golden
    from fpgagen.core.latents import latents

    if images < 2:
        raise ValueError(f"a steady state needs at least 2 images back to back, got {images}")
    backend = RtlBackend(model, out_buffer=images * int(np.prod(model.image_shape)))
    try:
        z = latents(images, model.latent_dim, seed)
        want = np.ascontiguousarray(golden.generate(model, z.astype(np.float64)).transpose(0, 2, 3, 1))
        want = want.reshape(images, -1).view(np.uint32)
        start = time.perf_counter()
        cycles_batch, got = _run_back_to_back(backend, z)
        cycles_one, got_one = _run_back_to_back(backend, z[:1])
        wall = time.perf_counter() - start
    finally:
        backend.close()
    if not (np.array_equal(got, want) and np.array_equal(got_one, want[:1])):
        raise VirtualBoardError(f"{model.name}: the RTL twin's images differ from golden")
    return SteadyState((cycles_batch - cycles_one) / (images - 1), cycles_one, cycles_batch + cycles_one, wall,
                       images + 1)


def factory(model: QuantizedModel, overlay_dir: Path, options: dict | None) -> RtlBackend:
    """The ``rtlsim`` backend of a virtual bitstream; options: ``out_buffer`` (beats), ``build_root`` (folder),
    ``idle`` and ``backpressure`` (chances per cycle of random stalls on the input and output streams), ``seed``."""
    options = dict(options or {})
    return RtlBackend(model, out_buffer=int(options.get("out_buffer", DEFAULT_OUT_BUFFER)),
                      build_root=Path(options["build_root"]) if options.get("build_root") else None,
                      idle=float(options.get("idle", 0.0)), backpressure=float(options.get("backpressure", 0.0)),
                      seed=int(options.get("seed", 1)))

