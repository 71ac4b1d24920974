"""Whole generators: the top that :func:`fpgagen.rtl.generate.generate_rtl` writes for digits8 and mnist28
(``quantize(load_preset(preset))`` defaults), against :func:`fpgagen.core.golden.generate` bit for bit (float32 beats).

Each design is built once (one pytest case = one Verilator build) and every scenario runs in that simulation:

- ``exact_random_pauses``: latents in batches of 1, 3, 12 and 48 (mnist28: 1, 3 and 12; one AXI-Stream frame per
  batch, TLAST at its end; a few latents scaled x5 so the input cast saturates), random idle on the input and
  backpressure on the output; every output beat equal to golden, TLAST exactly on the last beat of each batch.
- ``back_to_back``: latents one frame each, no pauses: exact, and the steady-state cycles per image within
  10% of the analytical bound of the slowest stage (>= 90% efficiency). Writes ``perf.json`` (cycles per
  image, simulation speed) into the build folder; ``bench/rtl_performance.py`` reads it.
- ``reset_mid_frame``: ``aresetn`` low while three images are in flight (input half sent, output half
  received), then four images exact again.
- ``tlast_rules``: a raw driver sets TLAST per beat: early (mid-latent), missing (two latents without it),
  repeated, and a trailing latent with none; the output TLAST falls exactly on the images whose input carried
  one, every image comes out (no hang), nothing else comes out.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import numpy as np
import pytest

from fpgagen.sim import runner
from fpgagen.sim.tb import CLOCK_NS, pause_generator, read_case, write_case

# latents per frame of exact_random_pauses; mnist28 (2.5 ms of simulation per image here) skips the 48-latent frame
MAIN_BATCHES = {"digits8": (1, 3, 12, 48), "mnist28": (1, 3, 12)}
B2B_IMAGES = {"digits8": 12, "mnist28": 5}
B2B_WARMUP = {"digits8": 4, "mnist28": 2}
RESET_IMAGES, TLAST_IMAGES = 7, 6
EFFICIENCY_TARGET = 0.9

DESIGNS = ["digits8", "mnist28"]
SECONDS = {"digits8": 25, "mnist28": 100}  # build and simulation, for the order of a parallel run


def make_design(preset: str, build_name: str | None = None):
    """Quantize ``preset`` (defaults), generate its RTL into its build folder; returns (model, design, build)."""
    from fpgagen.models.presets import load_preset
    from fpgagen.models.quantize import quantize
    from fpgagen.rtl.generate import generate_rtl, model_hash

    model = quantize(load_preset(preset))
    top = f"fg_top_{preset}_{model_hash(model)}"
    build = runner.build_dir(build_name or f"generator-{preset}", top, {})
    design = generate_rtl(model, build / "rtl")
    return model, design, build


def float_bits(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) or (N, D) float32 images as (N, beats) uint32 beats, channels last."""
    x = np.asarray(images, np.float32)
    if x.ndim == 4:
        x = x.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x.reshape(len(x), -1)).view(np.uint32)


def write_generator_case(preset: str, model, design, build: Path) -> dict[str, str]:
    from fpgagen.core import golden
    from fpgagen.core.latents import latents

    n_main = sum(MAIN_BATCHES[preset])
    n = n_main + B2B_IMAGES[preset] + RESET_IMAGES + TLAST_IMAGES
    z = latents(n, model.latent_dim, seed=1234).astype(np.float64)
    z[:4] *= 5.0  # beyond the input type's range: saturating casts
    z = z.astype(np.float32)  # the stream carries float32
    want = float_bits(golden.generate(model, z.astype(np.float64)))
    return write_case(build, preset=preset, latent_dim=model.latent_dim, beats=int(want.shape[1]),
                      bound=design.bound_cycles, n_main=n_main, batches=list(MAIN_BATCHES[preset]),
                      n_b2b=B2B_IMAGES[preset],
                      warmup=B2B_WARMUP[preset], z=z.view(np.uint32), want=want)


@pytest.mark.parametrize("preset", [pytest.param(p, marks=pytest.mark.slow(SECONDS[p])) for p in DESIGNS])
def test_generator(preset):
    runner.require_tools()
    model, design, build = make_design(preset)
    env = write_generator_case(preset, model, design, build)
    runner.run(design.top, "fpgagen.sim.test_generator", {}, build=build, sources=design.sources, extra_env=env,
               optimize=True)


# ------------------------------------------------------------------------------------------------------------
# cocotb side

try:
    import cocotb
    from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
except ImportError:  # pytest collection without cocotb: the pytest function skips
    cocotb = None


class GenTB:
    """Clock on ``aclk``, ``aresetn``, cocotbext-axi source and sink of float32 beats."""

    def __init__(self, dut, seed: int, axi: bool = True):
        from cocotb.clock import Clock

        self.dut = dut
        self.rng = random.Random(seed)
        self.case, arrays = read_case()
        self.z, self.want = arrays["z"], arrays["want"]
        self.beats = self.case["beats"]
        cocotb.start_soon(Clock(dut.aclk, CLOCK_NS, unit="ns").start())
        if axi:
            from cocotbext.axi import AxiStreamBus, AxiStreamSink, AxiStreamSource

            self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.aclk, dut.aresetn,
                                          reset_active_level=False, byte_lanes=1)
            self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.aclk, dut.aresetn,
                                      reset_active_level=False, byte_lanes=1)
            for bus in (self.source, self.sink):
                bus.log.setLevel("WARNING")

    def set_pauses(self, probability: float) -> None:
        self.source.set_pause_generator(pause_generator(self.rng, probability) if probability else None)
        self.sink.set_pause_generator(pause_generator(self.rng, probability) if probability else None)

    async def reset(self, cycles: int = 4) -> None:
        self.dut.aresetn.value = 0
        await ClockCycles(self.dut.aclk, cycles)
        self.dut.aresetn.value = 1
        await RisingEdge(self.dut.aclk)

    def cycles(self) -> int:
        from cocotb.simtime import get_sim_time

        return int(get_sim_time("ns")) // CLOCK_NS

    async def send(self, rows: range) -> None:
        from cocotbext.axi import AxiStreamFrame

        await self.source.send(AxiStreamFrame(tdata=[int(v) for v in self.z[rows].ravel()]))

    async def recv(self, timeout_cycles: int) -> list[int]:
        frame = await with_timeout(self.sink.recv(compact=False), timeout_cycles * CLOCK_NS, "ns")
        return [int(v) for v in frame.tdata]

    def check(self, got: list[int], rows: range, what: str) -> None:
        want = self.want[rows].ravel()
        got = np.array(got, np.uint64)
        assert got.shape == want.shape, f"{what}: {got.size} beats, expected {want.size}"
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, (f"{what}: {bad.size} beats differ, first at beat {bad[0]} (image {bad[0] // self.beats}"
                               f" of rows {rows}): got {int(got[bad[0]]):#010x}, want {int(want[bad[0]]):#010x}")

    def timeout(self, images: int, slack: float = 3.0) -> int:
        return int(slack * images * self.case["bound"]) + 20 * self.beats + 5000


if cocotb is not None:

    @cocotb.test()
    async def exact_random_pauses(dut):
        """Latents in frames of 1, 3, 12 (and 48), random idle and backpressure: every beat golden, TLAST per frame."""
        tb = GenTB(dut, seed=1)
        tb.set_pauses(0.3)
        await tb.reset()
        start, rows = 0, []
        for size in tb.case["batches"]:
            rows.append(range(start, start + size))
            start += size
        for r in rows:
            await tb.send(r)
        for r in rows:
            got = await tb.recv(tb.timeout(len(r)))
            tb.check(got, r, f"batch of {len(r)}")

    @cocotb.test()
    async def back_to_back(dut):
        """One latent per frame, no pauses: exact, steady-state cycles/image >= 90% of the bound's throughput."""
        tb = GenTB(dut, seed=2)
        await tb.reset()
        n, warm, first = tb.case["n_b2b"], tb.case["warmup"], tb.case["n_main"]
        wall = time.perf_counter()
        c0 = tb.cycles()
        for i in range(first, first + n):
            await tb.send(range(i, i + 1))
        done = []
        for i in range(first, first + n):
            got = await tb.recv(tb.timeout(2))
            done.append(tb.cycles())
            tb.check(got, range(i, i + 1), f"image {i - first}")
        wall = time.perf_counter() - wall
        total = tb.cycles() - c0
        per_image = (done[-1] - done[warm - 1]) / (n - warm)
        bound = tb.case["bound"]
        perf = {"preset": tb.case["preset"], "images": n, "warmup": warm, "bound_cycles": bound,
                "cycles_per_image": per_image, "efficiency": bound / per_image, "latency_cycles": done[0] - c0,
                "total_cycles": total, "wall_s": wall, "cycles_per_s": total / wall, "images_per_s": n / wall}
        Path(os.environ["FPGAGEN_SIM_CASE"], "perf.json").write_text(json.dumps(perf, indent=1))
        dut._log.info("steady state %.1f cycles/image, bound %d (%.1f%%), %.0f cycles/s", per_image, bound,
                      100 * bound / per_image, total / wall)
        assert per_image <= bound / EFFICIENCY_TARGET, f"{per_image} cycles/image, bound {bound}"

    @cocotb.test()
    async def reset_mid_frame(dut):
        """aresetn low with images in flight, then exact frames again."""
        tb = GenTB(dut, seed=3)
        tb.set_pauses(0.2)
        await tb.reset()
        first = tb.case["n_main"] + tb.case["n_b2b"]
        await tb.send(range(first, first + 3))
        # into the second image's computation: input of the third latent partly sent or queued
        await ClockCycles(dut.aclk, int(1.5 * tb.case["bound"]))
        tb.source.clear()
        await tb.reset(3)
        tb.sink.clear()
        rows = range(first + 3, first + RESET_IMAGES)
        await tb.send(rows)
        got = await tb.recv(tb.timeout(len(rows)))
        tb.check(got, rows, "after reset")
        assert tb.sink.empty()

    @cocotb.test()
    async def tlast_rules(dut):
        """TLAST early / missing / repeated / trailing-missing: output TLAST exactly where the wrapper puts it."""
        tb = GenTB(dut, seed=4, axi=False)
        dim, beats = tb.case["latent_dim"], tb.beats
        first = tb.case["n_main"] + tb.case["n_b2b"] + RESET_IMAGES
        rows = range(first, first + TLAST_IMAGES)
        lasts = np.zeros((TLAST_IMAGES, dim), bool)
        lasts[0, 2] = True                 # early, mid-latent
        # latents 1 and 2: missing
        lasts[3, -1] = True                # on the last beat (the usual batch end)
        lasts[4, [0, dim // 2, -1]] = True  # several
        # latent 5: none, and nothing follows it
        want_last = lasts.any(axis=1)
        data = tb.z[rows].ravel()
        dut.s_axis_tvalid.value = 0
        dut.s_axis_tlast.value = 0
        dut.s_axis_tdata.value = 0
        dut.m_axis_tready.value = 0
        await tb.reset()
        got: list[tuple[int, int]] = []

        async def drive():
            idx, valid = 0, False
            while True:
                await RisingEdge(dut.aclk)
                if valid and int(dut.s_axis_tready.value):
                    idx, valid = idx + 1, False
                if not valid:
                    if idx >= data.size:
                        dut.s_axis_tvalid.value = 0
                        return
                    if tb.rng.random() < 0.3:
                        dut.s_axis_tvalid.value = 0
                        continue
                    dut.s_axis_tdata.value = int(data[idx])
                    dut.s_axis_tlast.value = int(lasts.ravel()[idx])
                    dut.s_axis_tvalid.value = 1
                    valid = True

        async def monitor():
            while True:
                await RisingEdge(dut.aclk)
                if int(dut.m_axis_tvalid.value) and int(dut.m_axis_tready.value):
                    got.append((int(dut.m_axis_tdata.value), int(dut.m_axis_tlast.value)))
                dut.m_axis_tready.value = int(tb.rng.random() >= 0.3)

        cocotb.start_soon(drive())
        cocotb.start_soon(monitor())
        limit = tb.cycles() + tb.timeout(TLAST_IMAGES)
        while len(got) < TLAST_IMAGES * beats:
            assert tb.cycles() < limit, f"hang: {len(got)} of {TLAST_IMAGES * beats} beats after the timeout"
            await ClockCycles(dut.aclk, 200)
        await ClockCycles(dut.aclk, 2000)
        assert len(got) == TLAST_IMAGES * beats, f"{len(got) - TLAST_IMAGES * beats} extra output beats"
        tb.check([d for d, _ in got], rows, "TLAST scenario")
        flags = np.array([last for _, last in got], bool).reshape(TLAST_IMAGES, beats)
        want_flags = np.zeros_like(flags)
        want_flags[:, -1] = want_last
        assert (flags == want_flags).all(), (f"output TLAST per image {flags.any(axis=1).tolist()}, "
                                             f"expected {want_last.tolist()} (on the last beat only)")
