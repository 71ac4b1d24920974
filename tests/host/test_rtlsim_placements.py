"""Weights off the ROMs in the RTL twin: random models whose layers are loaded or streamed through weight ports,
built with Verilator and fed through the harness's DMA and DDR model, equal to golden bit for bit; the DDR's
bandwidth shows in the cycles; a kernel starved of weights is caught, not waited on forever."""

import copy

import numpy as np
import pytest

from fpgagen.core.folding import WeightPorts
from fpgagen.core.latents import latents
from fpgagen.core.random_model import random_model, random_transposed_model, randomly_placed
from fpgagen.host.virtual_board.kernel import Beats, VirtualBoardError
from fpgagen.host.virtual_board.rtlsim_backend import RtlBackend, steady_state
from fpgagen.rtl import rtlsim
from fpgagen.rtl.generate import generate_rtl

_missing = rtlsim.missing_tools()
pytestmark = pytest.mark.skipif(bool(_missing), reason=f"rtlsim backend needs {', '.join(_missing)}")


# placements drawn by the seed: every kind loaded, dense and transposed convolutions streamed, 64- and 128-bit ports
CASES = [(random_transposed_model, 1), (random_transposed_model, 4), (random_model, 0), (random_model, 4)]


@pytest.mark.parametrize(("family", "seed"), CASES, ids=[f"{f.__name__}{s}" for f, s in CASES])
def test_placed_models_bit_exact(family, seed, tmp_path):
    model = randomly_placed(family(seed), seed)
    placements = {lr.placement for lr in model.layers if lr.weight is not None}
    assert placements - {"rom"}, "the case must take weights off the ROMs"
    design = generate_rtl(model, tmp_path)
    assert [ws.layer for ws in design.weight_streams] == [lr.name for lr in model.layers
                                                          if lr.weight is not None and lr.placement != "rom"]
    result = steady_state(model, images=4, seed=seed)  # checks every image against golden
    assert result.cycles_per_image >= 0.9 * design.bound_cycles


def _streamed_dense(beat_bits: int, ddr_bits_per_cycle: float):
    """random_transposed_model(2) with its dense streamed (its other layers in ROM) behind the given ports."""
    model = copy.deepcopy(random_transposed_model(2))
    model.layers[0].placement = "streamed"
    model.weight_ports = WeightPorts(beat_bits, 1, ddr_bits_per_cycle)
    model.name = f"streamed_dense_{beat_bits}_{ddr_bits_per_cycle:g}"
    model.validate()
    return model


def test_ddr_bandwidth_stalls_a_streamed_layer(tmp_path):
    """The same streamed dense at the port's full rate and with a DDR giving a twentieth of a beat per cycle: the
    second runs at the DDR's bound (its stall cycles counted), both bit-exact."""
    fast = _streamed_dense(64, 64.0)
    slow = _streamed_dense(64, 64 / 20)
    fast_design, slow_design = generate_rtl(fast, tmp_path / "fast"), generate_rtl(slow, tmp_path / "slow")
    assert fast_design.ddr_cycles < fast_design.bound_cycles < slow_design.ddr_cycles == slow_design.bound_cycles
    fast_run, slow_run = steady_state(fast, images=6), steady_state(slow, images=6)
    assert fast_run.cycles_per_image == pytest.approx(fast_design.bound_cycles, rel=0.05)
    assert slow_design.ddr_cycles <= slow_run.cycles_per_image <= 1.05 * slow_design.ddr_cycles + 8


def _backend(model) -> RtlBackend:
    backend = RtlBackend(model, out_buffer=1 << 16)
    backend.reset()
    return backend


def drain(backend: RtlBackend, calls: int = 10) -> Beats:
    """What the kernel hands over in ``calls`` produce calls (a starved kernel stops each run after 64 idle cycles:
    the stages behind the starved one finish over several calls, as over several polls of the DMA)."""
    parts = [backend.produce(1 << 16) for _ in range(calls)]
    return Beats(np.concatenate([p.data for p in parts]), np.concatenate([p.last for p in parts]))


def test_a_kernel_short_of_streamed_weights_waits_for_them(tmp_path):
    """Two latents and one pass of the streamed dense: the first image comes out, the second waits (the run stops,
    the clock stands still) until the second pass arrives, then comes out equal to golden."""
    from fpgagen.core import golden

    model = _streamed_dense(64, 64.0)
    backend = _backend(model)
    try:
        z = latents(2, model.latent_dim, 3)
        last = np.zeros(z.size, bool)
        last[model.latent_dim - 1::model.latent_dim] = True
        one_pass = backend.build.weight_pass(0)
        backend.send_weights(0, one_pass)
        backend.consume(Beats.from_floats(z.reshape(-1), last))
        first = drain(backend)
        assert first.last.sum() == 1 and first.last[-1]
        assert backend.weights_starved and backend.weights_pending(0) == 0
        stalled_at = backend.cycles
        assert not len(drain(backend))
        assert backend.cycles - stalled_at <= 10 * 64  # a few starved runs of 64 idle cycles, not an image's worth
        backend.send_weights(0, one_pass)
        backend.consume(Beats.from_floats(z.reshape(-1)[backend.beats_in:], last[backend.beats_in:]))
        second = drain(backend)
        assert second.last.sum() == 1
        want = np.ascontiguousarray(golden.generate(model, z.astype(np.float64)).transpose(0, 2, 3, 1))
        got = np.concatenate([first.data, second.data])
        assert np.array_equal(got, want.reshape(-1).view(np.uint32))
    finally:
        backend.close()


def test_weight_transfers_are_checked(tmp_path):
    backend = _backend(_streamed_dense(128, 128.0))
    try:
        with pytest.raises(VirtualBoardError, match="has 1 weight ports, no port 1"):
            backend.send_weights(1, np.zeros(16, np.uint8))
        with pytest.raises(VirtualBoardError, match="24 bytes is not a whole number of 16-byte beats"):
            backend.send_weights(0, np.zeros(24, np.uint8))
        assert backend.weights_pending(0) == 0
    finally:
        backend.close()
