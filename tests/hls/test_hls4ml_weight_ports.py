"""hls4ml's kernel with weight ports: a loaded or streamed dense reads its weights from the RTL's weights file
(``rtl.generate.weight_image``) through ``s_axis_w<k>``, and its C simulation equals golden bit for bit.

Each model compiles once (~8 s) into the C-simulation cache (<cache root>/csim/).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from fpgagen.core import golden
from fpgagen.core.folding import WeightPorts
from fpgagen.core.layers import UnsupportedLayerError
from fpgagen.core.random_model import random_model
from fpgagen.hls.accelerator import write_accelerator_project
from fpgagen.hls.csim import CSimExecutor
from fpgagen.hls.hls4ml_flow import convert
from fpgagen.hls.hls4ml_weight_ports import WeightPortError, weight_port_passes
from fpgagen.rtl.generate import weight_image

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ (hls4ml's C simulation compiles with it)")
# (seed, placement): splits of one to eleven lanes per word, 4- to 10-bit weights, a dense before a view (2, 3, 4, 7)
CASES = [(2, "streamed"), (6, "streamed"), (3, "loaded"), (7, "loaded")]


def placed(seed: int, placement: str, beat_bits: int = 64):
    """random_model(seed) with its first dense placed ``placement`` on ``beat_bits``-bit weight ports."""
    model = random_model(seed)
    next(lr for lr in model.layers if lr.kind == "dense").placement = placement
    model.weight_ports = WeightPorts(beat_bits, 1, float(beat_bits))
    model.validate()
    return model


def latents(n: int, dim: int, seed: int) -> np.ndarray:
    z = np.random.default_rng(seed).standard_normal((n, dim)) * 3.0
    z[:3] = [[8.0], [-8.0], [0.0]]
    return z


@needs_gxx
@pytest.mark.parametrize(("seed", "placement"), CASES)
def test_dense_on_a_weight_port_csim_equals_golden(seed, placement):
    model = placed(seed, placement)
    data, streams = weight_image(model)
    ports = weight_port_passes(model)
    assert [(wp.layer, wp.placement, wp.words, wp.beats, wp.offset, wp.nbytes) for wp in ports] == \
           [(ws.layer, ws.placement, ws.words, ws.beats, ws.offset, ws.nbytes) for ws in streams]
    ex = CSimExecutor(model, weights=data).prepare()
    weights_dir = ex.project_dir / "prj" / "firmware" / "weights"
    assert not (weights_dir / "w2.txt").exists() and (weights_dir / "b2.txt").exists()  # not compiled in
    z = latents(64, model.latent_dim, seed)
    want = golden.generate(model, z)
    got = ex.run(z)  # a loaded layer reads its pass on the first call, then its RAM
    assert np.array_equal(got, want), f"{np.count_nonzero(got != want)} of {want.size} outputs differ"


@needs_gxx
def test_streamed_weights_come_from_the_port():
    """The same compiled kernel given another model's weights file computes that model: nothing was compiled in."""
    model = placed(6, "streamed")
    other = placed(6, "streamed")
    dense = next(lr for lr in other.layers if lr.kind == "dense")
    dense.weight = np.random.default_rng(1).integers(dense.weight_t.min_code, dense.weight_t.max_code + 1,
                                                     dense.weight.shape)
    z = latents(32, model.latent_dim, 6)
    assert not np.array_equal(golden.generate(other, z), golden.generate(model, z))
    ex = CSimExecutor(model, weights=weight_image(other)[0]).prepare()
    assert np.array_equal(ex.run(z), golden.generate(other, z))


def test_a_weights_file_is_needed_and_checked():
    model = placed(2, "streamed")
    with pytest.raises(WeightPortError, match="take their weights from weight ports: pass the weights file"):
        CSimExecutor(model)
    with pytest.raises(WeightPortError, match="the weights file has 8 bytes, its weight ports take"):
        CSimExecutor(model, weights=np.zeros(8, np.uint8))


def test_what_the_hls4ml_back_end_cannot_place_is_refused(tmp_path):
    """A loaded conv2d has no weight port in hls4ml's kernel yet, and the board project has none at all."""
    model = random_model(2)
    next(lr for lr in model.layers if lr.kind == "conv2d").placement = "loaded"
    model.weight_ports = WeightPorts(64, 1, 64.0)
    model.validate()
    with pytest.raises(UnsupportedLayerError, match=r"realises loaded dense, streamed dense\); it cannot place "
                                                     r"conv2d_\d+ \(conv2d, loaded\)"):
        convert(model, tmp_path / "prj")
    with pytest.raises(UnsupportedLayerError, match=r"board project keeps weights in bitstream ROMs only; it cannot "
                                                     r"place dense_0 \(dense, streamed\)"):
        write_accelerator_project(placed(2, "streamed"), tmp_path / "acc")
    assert not (tmp_path / "acc").exists()
