"""Weights off the ROMs through the PYNQ driver on the virtual board: the overlay's weights file and its weight
DMAs, loaded passes sent when the driver binds, streamed passes fed transfer after transfer while the kernel works,
a wrong or truncated weights file refused at load, a stalled weight transfer caught and recovered from. The user's
code is the same ``generate(z)``."""

import json

import numpy as np
import pytest

from fpgagen.core import golden
from fpgagen.core.manifest import OverlayError, OverlayManifest
from fpgagen.core.random_model import random_model, random_transposed_model, randomly_placed
from fpgagen.host import driver as driver_module
from fpgagen.host import virtual_board as vb
from fpgagen.host.driver import DmaTimeoutError, GeneratorOverlay, OverlayFaultError
from fpgagen.rtl import rtlsim

_missing = rtlsim.missing_tools()
needs_rtlsim = pytest.mark.skipif(bool(_missing), reason=f"rtlsim backend needs {', '.join(_missing)}")

# every placement: (random_transposed_model, 1) loads its dense and first transposed conv and streams the second;
# (random_model, 4) streams its dense and loads both conv2d
CASES = [(random_transposed_model, 1), (random_model, 4)]


def placed(family, seed):
    return randomly_placed(family(seed), seed)


def check_images(overlay, model, n, seed):
    z = np.random.default_rng(seed).standard_normal((n, model.latent_dim)).astype(np.float32)
    images = overlay.generate(z)
    want = golden.generate(model, z.astype(np.float64))
    assert np.array_equal(images.view(np.uint32), want.view(np.uint32)), f"{model.name}: images differ from golden"


@pytest.mark.parametrize("backend", ["golden", pytest.param("rtlsim", marks=needs_rtlsim)])
@pytest.mark.parametrize(("family", "seed"), CASES, ids=[f"{f.__name__}{s}" for f, s in CASES])
def test_placed_models_through_the_driver(board, tmp_path, monkeypatch, backend, family, seed):
    """Two passes per weight transfer and five images per call: the driver re-arms each streamed port's DMA
    while the kernel works, and every image equals golden."""
    model = placed(family, seed)
    streamed = [lr for lr in model.layers if getattr(lr, "placement", "rom") == "streamed"]
    bit = vb.write_virtual_overlay(model, tmp_path, backend=backend)
    manifest = OverlayManifest.beside(bit)
    assert [(p.layer, p.placement) for p in manifest.weights.ports] == [
        (lr.name, lr.placement) for lr in model.layers if getattr(lr, "placement", "rom") != "rom"]
    smallest = min(p.nbytes for p in manifest.weights.ports if p.placement == "streamed")
    monkeypatch.setattr(driver_module, "WEIGHT_BUFFER_BYTES", 2 * smallest)
    overlay = GeneratorOverlay(str(bit), max_batch=5)
    assert len(board.weight_dmas) == len(manifest.weights.ports)
    check_images(overlay, model, 12, seed)
    timing = overlay.generator.last_timing
    assert timing.transfers > 3 * (1 + len(streamed)) - 1, "streamed passes came in more than one transfer a call"
    check_images(overlay, model, 3, seed + 1)  # the loaded weights stay; a second call needs none of them again


def test_the_weights_file_is_checked_when_the_driver_binds(board, tmp_path):
    model = placed(random_transposed_model, 1)
    bit = vb.write_virtual_overlay(model, tmp_path)
    weights = bit.with_suffix(".weights.bin")
    good = weights.read_bytes()

    weights.write_bytes(good[:-16])
    with pytest.raises(OverlayError, match=rf"{weights.name}: {len(good) - 16} bytes, the manifest says {len(good)}"):
        GeneratorOverlay(str(bit))
    weights.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(OverlayError, match=rf"{weights.name}: sha256 .* the manifest says"):
        GeneratorOverlay(str(bit))
    weights.unlink()
    with pytest.raises(FileNotFoundError, match=rf"{weights.name} does not exist"):
        GeneratorOverlay(str(bit))
    weights.write_bytes(good)
    check_images(GeneratorOverlay(str(bit)), model, 2, 0)


def test_the_manifest_must_match_the_models_placements(board, tmp_path):
    model = placed(random_transposed_model, 1)
    bit = vb.write_virtual_overlay(model, tmp_path)
    manifest = bit.with_suffix(".json")
    doc = json.loads(manifest.read_text())
    doc["weights"]["ports"][0]["placement"] = "streamed"
    manifest.write_text(json.dumps(doc))
    with pytest.raises(OverlayError, match="weights off the ROMs .*the manifest's weight ports"):
        GeneratorOverlay(str(bit))


def test_an_overlay_with_loaded_weights_must_be_downloaded(board, tmp_path):
    bit = vb.write_virtual_overlay(placed(random_transposed_model, 1), tmp_path)
    with pytest.raises(OverlayError, match="must be downloaded by the process that drives it"):
        GeneratorOverlay(str(bit), download=False)


@pytest.mark.parametrize("backend", ["golden", pytest.param("rtlsim", marks=needs_rtlsim)])
def test_a_stalled_weight_transfer_times_out_and_reset_recovers(board, tmp_path, backend):
    """The weight ports stop taking bytes part way through the first call's streamed passes: the driver names the
    weight port, refuses the next call, and after reset() (the PL programmed again, the loaded weights sent
    again) the images are right."""
    model = placed(random_model, 4)  # its dense is streamed
    bit = vb.write_virtual_overlay(model, tmp_path, backend=backend)
    manifest = OverlayManifest.beside(bit)
    loaded = sum(p.nbytes for p in manifest.weights.ports if p.placement == "loaded")
    stream = next(p for p in manifest.weights.ports if p.placement == "streamed")
    overlay = GeneratorOverlay(str(bit), timeout=1.0)
    board.faults = f"stall_weights_after={loaded + stream.nbytes}"  # counted from now: one streamed pass
    z = np.random.default_rng(0).standard_normal((3, model.latent_dim)).astype(np.float32)
    with pytest.raises(DmaTimeoutError, match=rf"weight port \d \({stream.dma}: {stream.layer}, streamed\) did not "
                                              r"complete .* the kernel is not taking its weights"):
        overlay.generate(z)
    with pytest.raises(OverlayFaultError):
        overlay.generate(z)
    board.faults = None
    overlay.reset()
    check_images(overlay, model, 3, 1)
