"""fg_axis_fifo (several depths) and fg_axis_reg: every beat and TLAST delivered once, in order, under random
idle and backpressure; one beat per cycle when nothing pauses (DEPTH >= 2 and the register slice)."""

from __future__ import annotations

import cocotb
import numpy as np
import pytest

from fpgagen.sim import runner
from fpgagen.sim.tb import StreamTB, read_case, run_frames, scenario_seed, write_case

CASES = [("fifo_d1", "fg_axis_fifo", 1), ("fifo_d3", "fg_axis_fifo", 3), ("reg", "fg_axis_reg", 0)]
DATA_W = 13


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_axis_fifo(case):
    name, top, depth = case
    params = {"DATA_W": DATA_W} | ({"DEPTH": depth} if top == "fg_axis_fifo" else {})
    build = runner.build_dir(f"axis-{name}", top, params)
    env = write_case(build, depth=depth)
    runner.run(top, "fpgagen.sim.test_axis_fifo", params, build=build, extra_env=env)


@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def fifo_stream(dut, idle, backpressure):
    """Frames of 1..60 random beats come out unchanged; full rate without pauses unless DEPTH = 1."""
    scalars, _ = read_case()
    tb = StreamTB(dut, seed=scenario_seed(idle, backpressure))
    tb.set_pauses(idle, backpressure, probability=0.5)
    await tb.reset()
    rng = np.random.default_rng(scenario_seed(idle, backpressure))
    frames_in = [rng.integers(0, 1 << DATA_W, n).tolist() for n in (1, 2, 17, 60, 5)]
    frames, elapsed = await run_frames(tb, frames_in)
    assert frames == frames_in
    beats = sum(map(len, frames_in))
    if not idle and not backpressure:
        ideal = beats * (2 if scalars["depth"] == 1 else 1)
        assert ideal <= elapsed <= ideal + 4, f"{elapsed} cycles for {beats} beats"
