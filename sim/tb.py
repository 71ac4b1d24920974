"""Pieces shared by the cocotb testbenches: a TB base with clock, reset and AXI-Stream source/sink, lane
packing, idle/backpressure generators, and the case files a pytest function hands to its simulation."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fpgagen.core import golden
from fpgagen.core.cache import write_atomic
from fpgagen.core.fixed import FixedType
from fpgagen.core.transposed import conv_transpose_cycles, transposed_out_size

CASE_ENV = "FPGAGEN_SIM_CASE"
CLOCK_NS = 10


# --------------------------------------------------------------------------------------------------------------
# Lanes


def pack_lanes(codes, width: int) -> int:
    """Codes (lane 0 first) as one beat: lane i in bits [i*width, (i+1)*width)."""
    mask = (1 << width) - 1
    beat = 0
    for lane, code in enumerate(np.asarray(codes, np.int64).ravel().tolist()):
        beat |= (int(code) & mask) << (lane * width)
    return beat


def unpack_lanes(beat: int, width: int, lanes: int, signed: bool) -> np.ndarray:
    """Inverse of :func:`pack_lanes`."""
    mask = (1 << width) - 1
    out = [(int(beat) >> (lane * width)) & mask for lane in range(lanes)]
    if signed:
        out = [v - (1 << width) if v >> (width - 1) else v for v in out]
    return np.array(out, np.int64)


def random_codes(rng: np.random.Generator, t, shape) -> np.ndarray:
    """Uniform random codes of fixed type ``t`` (every code, extremes included)."""
    return rng.integers(t.min_code, t.max_code, size=shape, endpoint=True, dtype=np.int64)


# --------------------------------------------------------------------------------------------------------------
# Case files: the pytest side writes parameters, types and arrays next to the build; the simulation reads them


def write_case(build: Path, **values) -> dict[str, str]:
    """Write ``case.json`` (scalars, strings, FixedType as text) and ``case.npz`` (arrays) into ``build``;
    returns the simulation environment that points at them. Both are renamed into place: a simulation of the same
    case in another process never reads them half written."""
    arrays = {k: v for k, v in values.items() if isinstance(v, np.ndarray)}
    scalars = {k: (str(v) if not isinstance(v, (int, float, str, bool, list)) else v)
               for k, v in values.items() if k not in arrays}
    write_atomic(build / "case.json", json.dumps(scalars, indent=1))
    tmp = build / f".case.{os.getpid()}.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, build / "case.npz")
    return {CASE_ENV: str(build)}


def read_case() -> tuple[dict, dict[str, np.ndarray]]:
    """Inside the simulation: the scalars and arrays of :func:`write_case`."""
    folder = Path(os.environ[CASE_ENV])
    scalars = json.loads((folder / "case.json").read_text())
    with np.load(folder / "case.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return scalars, arrays


# --------------------------------------------------------------------------------------------------------------
# Stream testbench


def pause_generator(rng: random.Random, probability: float) -> Iterator[bool]:
    """Endless random pauses: True (insert an idle / withhold ready) with ``probability`` per cycle."""
    while True:
        yield rng.random() < probability


class StreamTB:
    """Clock on ``clk_i``, active-low ``rst_ni``, an ``AxiStreamSource`` on ``s_axis_*`` and an
    ``AxiStreamSink`` on ``m_axis_*`` whose beats are whole tdata words (``byte_lanes=1``)."""

    def __init__(self, dut, *, seed: int = 0):
        import cocotb
        from cocotb.clock import Clock
        from cocotbext.axi import AxiStreamBus, AxiStreamSink, AxiStreamSource

        self.dut = dut
        self.rng = random.Random(seed)
        cocotb.start_soon(Clock(dut.clk_i, CLOCK_NS, unit="ns").start())
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk_i, dut.rst_ni,
                                      reset_active_level=False, byte_lanes=1)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk_i, dut.rst_ni,
                                  reset_active_level=False, byte_lanes=1)
        for bus in (self.source, self.sink):
            bus.log.setLevel("WARNING")

    def set_pauses(self, idle: bool, backpressure: bool, probability: float = 0.4) -> None:
        """Random idle cycles on the input and/or random backpressure on the output."""
        self.source.set_pause_generator(pause_generator(self.rng, probability) if idle else None)
        self.sink.set_pause_generator(pause_generator(self.rng, probability) if backpressure else None)

    async def reset(self, cycles: int = 4) -> None:
        from cocotb.triggers import ClockCycles, RisingEdge

        self.dut.rst_ni.value = 0
        await ClockCycles(self.dut.clk_i, cycles)
        self.dut.rst_ni.value = 1
        await RisingEdge(self.dut.clk_i)

    async def send_frames(self, frames: list[list[int]]) -> None:
        """Queue frames of beats (TLAST on each frame's last beat)."""
        from cocotbext.axi import AxiStreamFrame

        for beats in frames:
            await self.source.send(AxiStreamFrame(tdata=list(beats)))

    async def recv_frames(self, count: int, timeout_cycles: int) -> list[list[int]]:
        """Receive ``count`` frames (split at TLAST); fail after ``timeout_cycles`` clock cycles."""
        from cocotb.triggers import with_timeout

        frames = []
        for _ in range(count):
            frame = await with_timeout(self.sink.recv(compact=False), timeout_cycles * CLOCK_NS, "ns")
            frames.append([int(v) for v in frame.tdata])
        return frames

    def cycles(self) -> int:
        from cocotb.simtime import get_sim_time

        return int(get_sim_time("ns")) // CLOCK_NS


# --------------------------------------------------------------------------------------------------------------
# Golden helpers


async def run_frames(tb: StreamTB, frames_in: list[list[int]], n_out_frames: int | None = None,
                     timeout_cycles: int | None = None) -> tuple[list[list[int]], int]:
    """Send ``frames_in``, receive as many frames (or ``n_out_frames``); returns them and the cycles taken."""
    beats = sum(len(f) for f in frames_in)
    start = tb.cycles()
    await tb.send_frames(frames_in)
    frames = await tb.recv_frames(len(frames_in) if n_out_frames is None else n_out_frames,
                                  timeout_cycles or 50 * beats + 1000)
    return frames, tb.cycles() - start


def scenario_seed(idle: bool, backpressure: bool) -> int:
    return 2 * int(idle) + int(backpressure)


class ConvTransposeTB(StreamTB):
    """StreamTB of a transposed-convolution stage (``fg_conv_transpose2d``, ``fg_conv_transpose2d_ws``): the
    case's geometry, types, weights and biases as the pytest function wrote them (``h``, ``w_``, ``c_in``,
    ``c_out``, ``k``, ``stride``, ``pad``, ``opad``, ``pi``, ``po``, the five types, arrays ``w`` and ``b``),
    golden's frames, frames as pixel beats, and the stage's cycles per frame by :attr:`cycle_model`."""

    cycle_model = staticmethod(conv_transpose_cycles)  # the stage's analytical cycles per frame

    def __init__(self, dut, seed):
        super().__init__(dut, seed=seed)
        s, arrays = read_case()
        self.h, self.w, self.c_in, self.c_out = s["h"], s["w_"], s["c_in"], s["c_out"]
        self.k, self.stride, self.pad, self.opad = s["k"], s["stride"], s["pad"], s["opad"]
        self.pi, self.po = s["pi"], s["po"]
        self.types = {k: FixedType.parse(s[k]) for k in ("x_t", "w_t", "b_t", "acc_t", "res_t")}
        self.weights, self.bias = arrays["w"], arrays["b"]
        self.oh, self.ow = (transposed_out_size(n, self.k, self.stride, self.pad, self.opad) for n in (self.h, self.w))

    def expected(self, x):
        t = self.types
        return golden.conv_transpose2d(x, t["x_t"], self.weights, self.bias, t["w_t"], t["b_t"], t["acc_t"],
                                       t["res_t"], self.stride, self.pad, self.opad)

    def pixels(self, x) -> list[int]:
        """NCHW frames as pixel beats, raster order, channels in lanes."""
        return [pack_lanes(px, self.types["x_t"].width) for px in x.transpose(0, 2, 3, 1).reshape(-1, self.c_in)]

    def cycles_per_frame(self) -> int:
        return self.cycle_model((self.h, self.w), (self.oh, self.ow), self.c_in, self.c_out, self.k, self.stride,
                                self.pad, self.pi, self.po)
