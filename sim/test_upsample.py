"""fg_upsample against fpgagen.core.golden.upsample_nearest: factors 2 and 3, several image shapes and
channels, frames back to back, random idle and backpressure, one output beat per cycle."""

from __future__ import annotations

import cocotb
import numpy as np
import pytest

from fpgagen.core import golden
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

CASES = [  # id, H, W, C, lane width, factor
    ("x2", 3, 4, 2, 6, 2), ("x3_row", 1, 5, 1, 5, 3)]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_upsample(case):
    name, h, w, c, x_w, factor = case
    params = {"H": h, "W": w, "C": c, "X_W": x_w, "FACTOR": factor}
    build = runner.build_dir(f"upsample-{name}", "fg_upsample", params)
    env = write_case(build, **{k.lower(): v for k, v in params.items()})
    runner.run("fg_upsample", "fpgagen.sim.test_upsample", params, build=build, extra_env=env)


@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def upsample_stream(dut, idle, backpressure):
    """Batches of 1, 2 and 3 frames; output pixels equal golden.upsample_nearest, TLAST at each batch end."""
    s, _ = read_case()
    h, w, c, x_w, f = s["h"], s["w"], s["c"], s["x_w"], s["factor"]
    t = FixedType(x_w, x_w, True)
    tb = StreamTB(dut, seed=scenario_seed(idle, backpressure))
    tb.set_pauses(idle, backpressure)
    await tb.reset()
    rng = np.random.default_rng(scenario_seed(idle, backpressure))
    xs = [random_codes(rng, t, (n, c, h, w)) for n in (1, 2, 3)]
    frames_in = [[pack_lanes(px, x_w) for px in x.transpose(0, 2, 3, 1).reshape(-1, c)] for x in xs]
    frames, elapsed = await run_frames(tb, frames_in)
    for x, frame in zip(xs, frames, strict=True):
        want = golden.upsample_nearest(x, f).transpose(0, 2, 3, 1).reshape(-1, c)
        got = np.array([unpack_lanes(beat, x_w, c, True) for beat in frame])
        np.testing.assert_array_equal(got, want)
    if not idle and not backpressure:
        ideal = 6 * h * w * f * f
        assert ideal <= elapsed <= ideal + 4, f"{elapsed} cycles, ideal {ideal}"
