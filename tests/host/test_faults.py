"""Faults on the virtual board, and what the driver does about them: no stale image ever comes back after a fault,
the overlay refuses work until reset(), and one overlay shared by threads gives every caller its own images."""

import threading
import time

import numpy as np
import pytest

from fpgagen.core import golden
from fpgagen.host import virtual_board as vb
from fpgagen.host.driver import DmaError, DmaTimeoutError, GeneratorOverlay, OverlayError, OverlayFaultError


def latents(n, seed):
    return np.random.default_rng(seed).standard_normal((n, 16)).astype(np.float32)


def test_a_late_kernel_never_hands_its_images_to_the_next_call(board, overlay_files, models):
    model = models("digits8")
    ol = GeneratorOverlay(str(overlay_files("digits8")), timeout=0.2)
    board.faults = "slow=0.4"  # each image leaves the kernel 0.4 s after its latent: later than the timeout
    first, second = latents(2, 1), latents(2, 2)
    with pytest.raises(DmaTimeoutError, match="S2MM"):
        ol.generate(first)
    time.sleep(0.5)  # the late images of the failed call are now ready in the kernel
    with pytest.raises(OverlayFaultError, match="call reset"):
        ol.generate(second)
    # What the refusal prevents: a driver that only restarted the DMA (as fpgagen's did) and accepted the call would
    # return the failed call's images as these latents' ones.
    ol.generator.fault = None
    ol.generator.dma.sendchannel.start()
    ol.generator.dma.recvchannel.start()
    board.faults = None
    stale = ol.generate(second)
    np.testing.assert_array_equal(stale, golden.generate(model, first))
    ol.reset()  # the PL programmed again: an empty kernel
    np.testing.assert_array_equal(ol.generate(second), golden.generate(model, second))


@pytest.mark.parametrize("faults, batch, error, match", [
    ("stall_input_after=20", 2, DmaTimeoutError, "MM2S"),
    ("stall_output_after=100", 2, DmaTimeoutError, "S2MM"),  # 64 beats per digits8 image
    ("drop_tlast=1", 1, DmaError, "DMAIntErr"),  # the packet runs past the buffer
    ("extra_tlast=1", 1, DmaError, "received 4 bytes"),  # the packet ends after one beat
    ("dma_error=mm2s:decode", 1, DmaError, "MM2S failed .* DMADecErr"),
    ("dma_error=s2mm:internal", 1, DmaError, "S2MM failed .* DMAIntErr"),
])
def test_each_fault_is_reported_refused_and_recovered_from(board, overlay_files, models, faults, batch, error,
                                                           match):
    model = models("digits8")
    ol = GeneratorOverlay(str(overlay_files("digits8")), timeout=0.2)
    board.faults = faults
    with pytest.raises(error, match=match):
        ol.generate(latents(batch, 3))
    with pytest.raises(OverlayFaultError):
        ol.generate(latents(batch, 4))
    board.faults = None
    ol.reset()
    z = latents(5, 5)
    np.testing.assert_array_equal(ol.generate(z), golden.generate(model, z))


def test_faults_from_the_overlay_and_the_environment_are_armed_at_every_download(board, overlay_files, models,
                                                                                  monkeypatch):
    model = models("digits8")
    bit = overlay_files("digits8", faults={"dma_error": "s2mm:slave", "error_on_transfer": 2})
    ol = GeneratorOverlay(str(bit))
    z = latents(3, 6)
    np.testing.assert_array_equal(ol.generate(z), golden.generate(model, z))  # transfer 1
    with pytest.raises(DmaError, match="DMASlvErr"):
        ol.generate(z)  # transfer 2
    ol.reset()  # a flaky design stays flaky: armed again, counted from the download
    np.testing.assert_array_equal(ol.generate(z), golden.generate(model, z))
    with pytest.raises(DmaError, match="DMASlvErr"):
        ol.generate(z)
    monkeypatch.setenv(vb.FAULTS_ENV, "stall_output_after=64,error_on_transfer=5")  # set on top of the overlay's
    ol.reset()
    assert board.faults == vb.Faults(stall_output_after=64, dma_error="s2mm:slave", error_on_transfer=5)
    ol.generate(z[:1])
    with pytest.raises(DmaTimeoutError):
        ol.generate(z[:1])


def from_threads(run, model, threads: int = 4, calls: int = 30) -> tuple[int, list, list]:
    """``run(z)`` called from ``threads`` threads at once, ``calls`` each: (calls made, wrong images, errors)."""
    made, wrong, errors = [], [], []

    def work(thread: int) -> None:
        for call in range(calls):
            z = latents(1 + (thread + call) % 5, seed=1000 * thread + call)
            try:
                if not np.array_equal(run(z), golden.generate(model, z)):
                    wrong.append((thread, call))
            except Exception as e:  # noqa: BLE001 -- counted: the test fails on any
                errors.append(f"{type(e).__name__}: {e}")
            made.append(1)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return len(made), wrong, errors


def test_one_overlay_shared_by_threads(board, overlay_files, models):
    model = models("digits8")
    overlay = GeneratorOverlay(str(overlay_files("digits8")))
    assert from_threads(overlay.generate, model) == (120, [], [])


@pytest.mark.parametrize("target", ["virtual-golden", "golden"])
def test_one_executor_shared_by_threads(models, target):
    from fpgagen.host.executors import get_executor

    model = models("digits8")
    executor = get_executor(target, model).prepare()
    try:
        assert from_threads(executor.run, model, calls=20) == (80, [], [])
    finally:
        executor.close()


@pytest.mark.parametrize("text, message", [
    ("stall_output=5", "is not KEY=VALUE with KEY one of"),
    ("slow=-1", r"slow: seconds in \[0, 3600\)"),
    ("dma_error=s2mm", "dma_error: CHANNEL:KIND"),
    ("drop_tlast=x", "drop_tlast='x' is not a number"),
    ("error_on_transfer=0", "error_on_transfer: a transfer number >= 1"),
])
def test_bad_faults_are_named(text, message):
    with pytest.raises(ValueError, match=message):
        vb.Faults.parse(text)


def test_bad_faults_in_the_environment_name_the_variable(board, overlay_files, monkeypatch):
    monkeypatch.setenv(vb.FAULTS_ENV, "slow=fast")
    with pytest.raises(OverlayError, match=r"\$FPGAGEN_VIRTUAL_FAULTS: .*slow='fast' is not a number"):
        GeneratorOverlay(str(overlay_files("digits8")))
