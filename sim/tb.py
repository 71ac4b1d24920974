"""Pieces shared by the cocotb testbenches: a TB base with clock, reset and AXI-Stream source/sink, lane
packing, idle/backpressure generators, handshake monitors and the weight stream of a stage whose weights are not a
ROM, the convolution stages' TBs, the case files a pytest function hands to its simulation, and the pytest side of a
stage by weight source (:func:`run_weight_source`, :func:`assert_loaded_timing_is_roms`)."""

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
from fpgagen.core.weights_file import conv_transpose_words
from fpgagen.sim import runner

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
# Case files: the pytest side writes parameters, types and arrays next to the build; the simulation reads them (and
# writes cycle counts back)


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


TIMING_FILE = "timing.json"


def write_timing(**values) -> None:
    """Inside the simulation: cycle counts for the pytest side (``timing.json`` next to the case)."""
    write_atomic(Path(os.environ[CASE_ENV]) / TIMING_FILE, json.dumps(values, indent=1))


def take_timing(build: Path) -> dict:
    """The pytest side: the :func:`write_timing` values of the simulation just run in ``build`` (the file is removed,
    so a later run cannot pass on a stale one)."""
    path = build / TIMING_FILE
    assert path.is_file(), f"the simulation in {build} wrote no {TIMING_FILE}"
    values = json.loads(path.read_text())
    path.unlink()
    return values


def run_weight_source(toplevel: str, test_module: str, params: dict, *, build: Path, env: dict[str, str],
                      source: str, tests: dict[str, str]) -> Path:
    """The pytest side of a stage whose weights are at ``source`` ("rom", "loaded" or "streamed"): its build in
    ``build`` with BIAS_FILE ``b.hex`` and, ROM only, WEIGHTS_FILE ``w.hex`` there, running the cocotb tests
    ``tests[source]`` (names joined by ``|``) with the case environment ``env``. A timing file an earlier run left
    is removed first. Returns ``build``."""
    files = {"BIAS_FILE": str(build / "b.hex")} | ({"WEIGHTS_FILE": str(build / "w.hex")} if source == "rom" else {})
    (build / TIMING_FILE).unlink(missing_ok=True)
    runner.run(toplevel, test_module, params | files, build=build, extra_env=env,
               test_filter=rf"\.({tests[source]})\b")
    return build


def assert_loaded_timing_is_roms(run, case) -> None:
    """LOADED weights: no WEIGHTS_FILE, the ROM file's words on s_axis_w after reset. Once loaded, the frames take
    exactly the cycles of the same case with a ROM: ``run(source, case)`` builds and simulates ``case`` with its
    weights at ``source`` and returns the build, whose stream test without pauses wrote the gaps between output
    beats (:func:`write_timing`); they must be the same for "loaded" as for "rom"."""
    rom = take_timing(run("rom", case))
    loaded = take_timing(run("loaded", case))
    assert loaded == rom, f"LOADED {loaded}, ROM {rom}"


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


class Handshakes:
    """The cycles (:meth:`StreamTB.cycles`) of the handshakes on the stream ``prefix`` of ``tb``'s DUT: tvalid and
    tready high at a rising clock edge, out of reset. ``cycles.clear()`` starts counting again."""

    def __init__(self, tb: StreamTB, prefix: str):
        import cocotb

        self.tb = tb
        self.valid, self.ready = (getattr(tb.dut, f"{prefix}_{name}") for name in ("tvalid", "tready"))
        self.cycles: list[int] = []
        cocotb.start_soon(self._watch())

    async def _watch(self) -> None:
        from cocotb.triggers import RisingEdge

        dut = self.tb.dut
        while True:
            await RisingEdge(dut.clk_i)
            if dut.rst_ni.value and self.valid.value and self.ready.value:
                self.cycles.append(self.tb.cycles())

    @property
    def count(self) -> int:
        return len(self.cycles)

    def count_until(self, cycle: int) -> int:
        """Handshakes in cycle ``cycle`` or before."""
        return sum(c <= cycle for c in self.cycles)


class WeightStream:
    """``s_axis_w`` of a stage whose weights are not a ROM (``WEIGHT_SOURCE`` LOADED or STREAMED): an
    ``AxiStreamSource`` of whole weight words (one word a beat, TLAST unused) and the :class:`Handshakes` that
    took them (``taken``)."""

    def __init__(self, tb: StreamTB):
        from cocotbext.axi import AxiStreamBus, AxiStreamSource

        dut = tb.dut
        self.rng = tb.rng
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_w"), dut.clk_i, dut.rst_ni,
                                      reset_active_level=False, byte_lanes=1)
        self.source.log.setLevel("WARNING")
        self.taken = Handshakes(tb, "s_axis_w")

    def set_pause(self, probability: float) -> None:
        """Random idle cycles (tvalid low) with ``probability`` per cycle (0: never idle)."""
        self.source.set_pause_generator(pause_generator(self.rng, probability) if probability else None)

    async def send(self, words: list[int]) -> None:
        """Queue ``words`` (packed weight words), in order."""
        from cocotbext.axi import AxiStreamFrame

        await self.source.send(AxiStreamFrame(tdata=list(words)))

    def clear(self) -> None:
        """Drop the words not taken yet (before a reset)."""
        self.source.clear()


class ConvStageTB(StreamTB):
    """StreamTB of a convolution stage: NCHW frames in as pixel beats (raster order, channels in lanes), out as pixel
    beats of ``c_out`` lanes, each checked against golden's (:meth:`expected`). The case as the pytest function
    wrote it: ``h``, ``w_``, ``c_in``, ``c_out``, ``k``, ``pad``, the five types, arrays ``w`` and ``b``, and
    ``weight_source`` ("rom", the default, or "loaded"). LOADED: the words of :meth:`weight_words` (the ROM file's
    rows, in its order) go into the weight RAM on ``s_axis_w`` after reset (:meth:`load_weights`)."""

    def __init__(self, dut, seed):
        super().__init__(dut, seed=seed)
        s, arrays = read_case()
        self.case = s
        self.h, self.w, self.c_in, self.c_out, self.k, self.pad = (s[k] for k in ("h", "w_", "c_in", "c_out", "k",
                                                                                "pad"))
        self.types = {k: FixedType.parse(s[k]) for k in ("x_t", "w_t", "b_t", "acc_t", "res_t")}
        self.weights, self.bias = arrays["w"], arrays["b"]
        self.weight_source = s.get("weight_source", "rom")
        self.w_stream = WeightStream(self) if self.weight_source == "loaded" else None
        self.pixels_in, self.beats_out = Handshakes(self, "s_axis"), Handshakes(self, "m_axis")

    # -- the stage ---------------------------------------------------------------------------------------------
    def expected(self, x) -> np.ndarray:
        """Golden output frames (N, C_OUT, OH, OW) of input frames ``x`` (N, C_IN, H, W)."""
        raise NotImplementedError

    def weight_words(self) -> np.ndarray:
        """The weight memory's words, (NWords, lanes) codes in ROM order (fpgagen.rtl.memfiles)."""
        raise NotImplementedError

    def first_output_pixels(self) -> int:
        """Input pixels (raster order) that must be in before the first output pixel can be computed."""
        raise NotImplementedError

    # -- frames ------------------------------------------------------------------------------------------------
    def pixels(self, x) -> list[int]:
        """NCHW frames as pixel beats, raster order, channels in lanes."""
        return [pack_lanes(px, self.types["x_t"].width) for px in x.transpose(0, 2, 3, 1).reshape(-1, self.c_in)]

    def random_frames(self, rng: np.random.Generator, sizes: list[int]) -> list[np.ndarray]:
        """Batches of ``sizes`` random input frames."""
        return [random_codes(rng, self.types["x_t"], (n, self.c_in, self.h, self.w)) for n in sizes]

    def check_frames(self, xs: list[np.ndarray], frames: list[list[int]]) -> None:
        """Output ``frames`` (one per batch, split at TLAST) against golden's, every pixel bit-exact."""
        res_t = self.types["res_t"]
        for x, frame in zip(xs, frames, strict=True):
            want = self.expected(x).transpose(0, 2, 3, 1).reshape(-1, self.c_out)
            assert len(frame) == len(want), f"{len(frame)} beats for {len(x)} frames, {len(want)} expected"
            got = np.array([unpack_lanes(beat, res_t.width, self.c_out, res_t.signed) for beat in frame])
            np.testing.assert_array_equal(got, want)

    # -- LOADED weights ----------------------------------------------------------------------------------------
    def weight_beats(self) -> list[int]:
        """:meth:`weight_words` as ``s_axis_w`` beats."""
        return [pack_lanes(word, self.types["w_t"].width) for word in self.weight_words()]

    async def load_weights(self, pause: float = 0.0, wait: bool = True, hold_for: int = 0) -> None:
        """LOADED: queue the NWords weight words (random idle cycles with ``pause`` per cycle), then as many again,
        which must never be taken; the second half of the words only once ``hold_for`` input pixels are in and 8
        cycles have passed (time for an issue, were it allowed, to read words not yet written); with ``wait``,
        return once the last word is in. ROM: nothing."""
        from cocotb.triggers import ClockCycles

        if self.w_stream is None:
            return
        beats = self.weight_beats()
        self.w_stream.set_pause(pause)
        half = len(beats) // 2
        if half:
            await self.w_stream.send(beats[:half])
        if hold_for:
            await self.clock_until(lambda: self.pixels_in.count >= hold_for)
            await ClockCycles(self.dut.clk_i, 8)
        await self.w_stream.send(beats[half:] + beats[::-1])  # s_axis_w_tready stays low once loaded: never taken
        if wait:
            await self.clock_until(lambda: self.w_stream.taken.count >= len(beats))

    async def clock_until(self, condition) -> None:
        """Wait for rising clock edges until ``condition()`` holds."""
        from cocotb.triggers import RisingEdge

        while not condition():
            await RisingEdge(self.dut.clk_i)

    def check_loaded(self) -> int:
        """LOADED: exactly NWords words were taken and s_axis_w_tready stays low; returns the cycle of the last."""
        taken, n_words = self.w_stream.taken, len(self.weight_words())
        assert taken.count == n_words, f"{taken.count} weight words taken, {n_words} expected"
        assert not self.dut.s_axis_w_tready.value, "s_axis_w_tready high after the load"
        return taken.cycles[-1]

    async def check_load_overlap(self, rng: np.random.Generator, sizes: list[int], backpressure: bool) -> None:
        """LOADED, pixels sent while the weights load: batches of ``sizes`` frames queued at once after reset, new
        weight words with random gaps, half of them held back until the first output pixel's inputs are in, random
        backpressure if ``backpressure``. Every output bit-exact; exactly NWords words taken; the first
        output pixel's inputs were in before the load finished, and yet the first output beat comes at least
        three cycles (issue, execute, output register) after the last word: nothing issued before."""
        self.set_pauses(False, backpressure)
        await self.reset()
        # new weights: an early issue would read the words an earlier test left in the RAM (a reset keeps them)
        self.weights = random_codes(rng, self.types["w_t"], self.weights.shape)
        xs = self.random_frames(rng, sizes)
        await self.send_frames([self.pixels(x) for x in xs])
        await self.load_weights(pause=0.5, hold_for=self.first_output_pixels())
        frames = await self.recv_frames(len(xs), timeout_cycles=50 * sum(sizes) * self.h * self.w + 1000)
        self.check_frames(xs, frames)
        last_word = self.check_loaded()
        before, first_beat = self.pixels_in.count_until(last_word), self.beats_out.cycles[0]
        assert before >= self.first_output_pixels(), \
            f"only {before} pixels in before the load finished: the test would not see an early issue"
        assert first_beat >= last_word + 3, \
            f"first output beat in cycle {first_beat}, the last weight word in {last_word}"
        self.dut._log.info("%d pixels in before the last weight word (cycle %d), first output beat in cycle %d",
                           before, last_word, first_beat)


class ConvTransposeTB(ConvStageTB):
    """ConvStageTB of a transposed-convolution stage (``fg_conv_transpose2d``, ``fg_conv_transpose2d_ws``): the
    case's ``stride``, ``opad``, ``pi`` and ``po`` too, golden's conv_transpose2d, the ROM words of
    memfiles.conv_transpose_words, and the stage's cycles per frame by :attr:`cycle_model`."""

    cycle_model = staticmethod(conv_transpose_cycles)  # the stage's analytical cycles per frame

    def __init__(self, dut, seed):
        super().__init__(dut, seed=seed)
        s = self.case
        self.stride, self.opad, self.pi, self.po = s["stride"], s["opad"], s["pi"], s["po"]
        self.oh, self.ow = (transposed_out_size(n, self.k, self.stride, self.pad, self.opad) for n in (self.h, self.w))

    def expected(self, x):
        t = self.types
        return golden.conv_transpose2d(x, t["x_t"], self.weights, self.bias, t["w_t"], t["b_t"], t["acc_t"],
                                       t["res_t"], self.stride, self.pad, self.opad)

    def weight_words(self) -> np.ndarray:
        return conv_transpose_words(self.weights, self.pi, self.po)

    def first_output_pixels(self) -> int:
        """The input rows of the first output row: floor(PAD / STRIDE) + 1 (at most H)."""
        return (min(self.pad // self.stride, self.h - 1) + 1) * self.w

    def cycles_per_frame(self) -> int:
        return self.cycle_model((self.h, self.w), (self.oh, self.ow), self.c_in, self.c_out, self.k, self.stride,
                                self.pad, self.pi, self.po)
