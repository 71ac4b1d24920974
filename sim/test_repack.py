"""fg_repack: split (flat Dense output -> pixel beats of C lanes, channels last) and gather (N beats -> one
vector); lanes and TLAST placed exactly, random idle and backpressure. (N_IN = N_OUT is fg_axis_reg, tested
in test_axis_fifo.)"""

from __future__ import annotations

import cocotb
import numpy as np
import pytest

from fpgagen.core.fixed import FixedType
from fpgagen.sim import runner
from fpgagen.sim.tb import (
    StreamTB,
    pack_lanes,
    random_codes,
    read_case,
    run_frames,
    scenario_seed,
    unpack_lanes,
    write_case,
)

CASES = [  # id, lane width, N_IN, N_OUT
    ("split_hwc", 5, 12, 3), ("gather", 7, 1, 4)]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_repack(case):
    name, lane_w, n_in, n_out = case
    params = {"LANE_W": lane_w, "N_IN": n_in, "N_OUT": n_out}
    build = runner.build_dir(f"repack-{name}", "fg_repack", params)
    env = write_case(build, **{k.lower(): v for k, v in params.items()})
    runner.run("fg_repack", "fpgagen.sim.test_repack", params, build=build, extra_env=env)


@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def repack_stream(dut, idle, backpressure):
    """Batches of vectors: the output lanes are the input lanes, reflowed; one TLAST per batch at its end."""
    s, _ = read_case()
    lane_w, n_in, n_out = s["lane_w"], s["n_in"], s["n_out"]
    t = FixedType(lane_w, lane_w, True)
    tb = StreamTB(dut, seed=scenario_seed(idle, backpressure))
    tb.set_pauses(idle, backpressure)
    await tb.reset()
    rng = np.random.default_rng(scenario_seed(idle, backpressure))
    unit = max(n_in, n_out)  # lanes in a batch must fill whole input and output beats
    batches = [random_codes(rng, t, unit * n) for n in (1, 4, 9)]
    frames_in = [[pack_lanes(beat, lane_w) for beat in lanes.reshape(-1, n_in)] for lanes in batches]
    frames, _ = await run_frames(tb, frames_in)
    for lanes, frame in zip(batches, frames, strict=True):
        got = np.concatenate([unpack_lanes(beat, lane_w, n_out, True) for beat in frame])
        np.testing.assert_array_equal(got, lanes)
