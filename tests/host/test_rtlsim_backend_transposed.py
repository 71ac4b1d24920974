"""Transposed convolutions end to end in the RTL twin: random conv_transpose2d stacks and dcgan28, generated as
RTL, built with Verilator, driven through the PYNQ driver on the virtual board, equal to golden bit for bit."""

import numpy as np
import pytest

from fpgagen.core import golden
from fpgagen.core.random_model import TRANSPOSED_GEOMETRIES, random_transposed_model
from fpgagen.host import virtual_board as vb
from fpgagen.host.driver import GeneratorOverlay
from fpgagen.rtl import rtlsim

_missing = rtlsim.missing_tools()
pytestmark = pytest.mark.skipif(bool(_missing), reason=f"rtlsim backend needs {', '.join(_missing)}")


def run_exact(board, model, folder, n, seed):
    """n latents (the first ones beyond the input range) through the RTL; returns simulated cycles per image."""
    overlay = GeneratorOverlay(str(vb.write_virtual_overlay(model, folder, backend="rtlsim")))
    z = np.random.default_rng(seed).standard_normal((n, model.latent_dim)).astype(np.float32)
    z[:1] *= 5.0
    before = board.kernel_cycles or 0
    images = overlay.generate(z)
    want = golden.generate(model, z.astype(np.float64))
    assert images.shape == want.shape
    assert np.array_equal(images.view(np.uint32), want.view(np.uint32)), f"{model.name}: images differ"
    return ((board.kernel_cycles or 0) - before) / n


# stride 2 (k 3, 4, 5 with output padding) and stride 1, each with a second transposed layer behind it or not
SEEDS = [s for s in range(len(TRANSPOSED_GEOMETRIES))
         if TRANSPOSED_GEOMETRIES[s] in {(2, 3, 1, 1), (2, 4, 1, 0), (2, 5, 2, 1), (1, 3, 1, 0)}]


@pytest.mark.parametrize("seed", SEEDS)
def test_random_transposed_stacks_bit_exact(board, tmp_path, seed):
    model = random_transposed_model(seed)
    run_exact(board, model, tmp_path / model.name, 12, seed)


@pytest.mark.slow(30)
def test_dcgan28_bit_exact(board, models, tmp_path):
    model = models("dcgan28")
    cycles = run_exact(board, model, tmp_path / "dcgan28", 6, 11)
    bound = board.kernel.build.bound_cycles
    assert bound <= cycles < 3 * bound  # ~27k cycles per image plus the pipeline's latency over 6 images
