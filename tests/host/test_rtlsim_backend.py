"""The ``rtlsim`` kernel backend: the Verilator build of the RTL twin behind the virtual board's DMA, driven by
the PYNQ driver, equals the golden model bit for bit; the build is made once per model and reused."""

import time

import numpy as np
import pytest

from fpgagen.core import golden
from fpgagen.host.driver import GeneratorOverlay
from fpgagen.host.virtual_board.rtlsim_backend import RtlBackend
from fpgagen.rtl import rtlsim

_missing = rtlsim.missing_tools()
pytestmark = pytest.mark.skipif(bool(_missing), reason=f"rtlsim backend needs {', '.join(_missing)}")


def latents(n, dim, seed=0):
    z = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    z[:1] *= 5.0  # beyond the input type's range: saturating casts
    return z


def run(board, overlay, model, n, seed):
    z = latents(n, model.latent_dim, seed)
    before = board.kernel_cycles
    images = overlay.generate(z)
    want = golden.generate(model, z.astype(np.float64))
    assert images.shape == want.shape
    assert np.array_equal(images.view(np.uint32), want.view(np.uint32)), f"{model.name}: {n} images differ"
    return (board.kernel_cycles - before) / n


def test_digits8_bit_exact_in_batches(board, models, overlay_files):
    model = models("digits8")
    # length_width=10: a transfer holds at most 1023 bytes = 3 images of 64 beats, so the driver splits
    overlay = GeneratorOverlay(str(overlay_files("digits8", backend="rtlsim", length_width=10)))
    kernel = board.kernel
    assert isinstance(kernel, RtlBackend) and kernel.build.folder.parent == rtlsim.build_root()
    for n, seed in ((1, 1), (13, 2), (40, 3)):
        cycles = run(board, overlay, model, n, seed)
        assert cycles >= kernel.build.bound_cycles * 0.9
    assert overlay.generator.last_timing.transfers == 14  # 40 images, 3 per transfer
    assert kernel.cycles > 0 and not kernel._queued and kernel.pending_out == 0


def test_digits8_small_output_buffer_backpressure(board, models, overlay_files):
    """An output buffer smaller than an image: the kernel is stalled by m_axis_tready, still exact."""
    model = models("digits8")
    overlay = GeneratorOverlay(str(overlay_files("digits8", backend="rtlsim", options={"out_buffer": 7})))
    run(board, overlay, model, 9, 5)


def test_random_idle_and_backpressure_around_the_kernel(board, models, overlay_files):
    """TVALID idle on the input and TREADY low on the output at random: still exact; held on 97% of cycles, the
    output (64 beats per digits8 image) needs ~2,100 cycles per image, more than the kernel's own ~1,060."""
    model = models("digits8")
    steady = GeneratorOverlay(str(overlay_files("digits8", backend="rtlsim")))
    plain = run(board, steady, model, 12, 8)
    stalled = GeneratorOverlay(str(overlay_files("digits8", backend="rtlsim",
                                                 options={"idle": 0.5, "backpressure": 0.97, "seed": 3})))
    assert board.kernel.stalls == (500, 970, 3)
    assert run(board, stalled, model, 12, 8) > 1.5 * plain
    with pytest.raises(ValueError, match=r"rtlsim idle: a chance per cycle in \[0, 1\), got 1.5"):
        RtlBackend(model, idle=1.5)


@pytest.mark.slow(15)
def test_mnist28_bit_exact(board, models, overlay_files):
    model = models("mnist28")
    overlay = GeneratorOverlay(str(overlay_files("mnist28", backend="rtlsim")))
    cycles = run(board, overlay, model, 3, 7)
    bound = board.kernel.build.bound_cycles
    assert bound <= cycles < 3 * bound  # ~28k cycles per image plus the pipeline's latency over 3 images


def test_executor_reuses_the_build(models):
    from fpgagen.host.executors import EXECUTORS, get_executor

    assert EXECUTORS["rtlsim"].description == ("PYNQ driver on the virtual board, kernel = Verilator build of the "
                                               "RTL twin")
    z = latents(5, 16, seed=9)
    first = get_executor("rtlsim", models("digits8")).prepare()
    try:
        lib = first.board.kernel.build.library
        out = first.run(z)
        assert np.array_equal(out, golden.generate(models("digits8"), z.astype(np.float64)))
        assert first.last_info["cycles_per_image"] >= first.board.kernel.build.bound_cycles * 0.9
    finally:
        first.close()
    mtime = lib.stat().st_mtime_ns
    log_mtime = (lib.parent / "build.log").stat().st_mtime_ns
    t = time.perf_counter()
    second = get_executor("rtlsim", models("digits8")).prepare()
    try:
        elapsed = time.perf_counter() - t
        assert second.board.kernel.build.built is False and second.board.kernel.build.library == lib
        assert lib.stat().st_mtime_ns == mtime and (lib.parent / "build.log").stat().st_mtime_ns == log_mtime
        assert elapsed < 5.0, f"second prepare took {elapsed:.1f} s: rebuilt?"
        assert np.array_equal(second.run(z), out)
    finally:
        second.close()


def test_content_hash_follows_the_model(models):
    a = models("digits8")
    assert rtlsim.content_hash(a) == rtlsim.content_hash(a)
    assert rtlsim.content_hash(a) != rtlsim.content_hash(models("mnist28"))
