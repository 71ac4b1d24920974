"""GeneratorDriver on the virtual board (golden backend): bit-exact images, batching, timeouts, errors."""

import json
import time

import numpy as np
import pytest

from fpgagen.core import golden
from fpgagen.host import virtual_board as vb
from fpgagen.host.driver import (
    DmaError,
    DmaTimeoutError,
    GeneratorDriver,
    GeneratorOverlay,
    OverlayError,
    OverlayFaultError,
    OverlayManifest,
)


def latents(n, dim, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


@pytest.mark.parametrize("preset, n", [("digits8", 1), ("digits8", 7), ("digits8", 300), ("mnist28", 1),
                                       ("mnist28", 5)])
def test_generate_equals_golden(board, overlay_files, models, preset, n):
    ol = GeneratorOverlay(str(overlay_files(preset)))
    model = models(preset)
    z = latents(n, model.latent_dim, seed=n)
    images = ol.generate(z)
    assert images.shape == (n, *model.image_shape) and images.dtype == np.float32
    np.testing.assert_array_equal(images, golden.generate(model, z))


def test_plain_pynq_overlay_binds_the_driver(board, overlay_files, models):
    import pynq

    ol = pynq.Overlay(str(overlay_files("digits8")))
    assert isinstance(ol.hier_0, GeneratorDriver)
    z = latents(3, 16)
    np.testing.assert_array_equal(ol.hier_0.generate(z), golden.generate(models("digits8"), z))


def test_batches_split_to_the_dma_max_transfer(board, overlay_files, models):
    # c_sg_length_width 10: at most 1023 bytes per transfer = 3 digits8 images of 256 bytes
    ol = GeneratorOverlay(str(overlay_files("digits8", length_width=10)))
    assert ol.generator.max_transfer_bytes == 1023 and ol.generator.images_per_transfer == 3
    board.register_log = []
    z = latents(11, 16, seed=3)
    np.testing.assert_array_equal(ol.generate(z), golden.generate(models("digits8"), z))
    assert ol.generator.last_timing.transfers == 4
    lengths = [v for op, a, v in board.register_log if op == "write" and a in (0x40400028, 0x40400058)]
    assert len(lengths) == 8 and max(lengths) <= 1023


def test_max_batch_splits_and_buffers_are_reused(board, overlay_files, models):
    ol = GeneratorOverlay(str(overlay_files("digits8")), max_batch=4)
    z = latents(10, 16, seed=4)
    first = ol.generate(z)
    addresses = [b.physical_address for pair in ol.generator._buffers for b in pair]
    second = ol.generate(z[:9])
    assert [b.physical_address for pair in ol.generator._buffers for b in pair] == addresses
    np.testing.assert_array_equal(first[:9], second)
    assert ol.generator.last_timing.transfers == 3


def test_float64_latents_travel_as_float32(board, overlay_files, models):
    ol = GeneratorOverlay(str(overlay_files("digits8")))
    z = np.random.default_rng(5).standard_normal((4, 16))
    np.testing.assert_array_equal(ol.generate(z), golden.generate(models("digits8"), z.astype(np.float32)))


@pytest.mark.parametrize("z, message", [
    (np.zeros((2, 15), np.float32), r"shape \(N, 16\)"),
    (np.zeros((16,), np.float32), r"shape \(N, 16\)"),
    (np.zeros((0, 16), np.float32), r"N >= 1"),
    (np.zeros((2, 16), np.int32), "floating point"),
    (np.array([[0.0] * 15 + [np.nan]]), "NaN or Inf.*row 0, column 15"),
    (np.array([[1e300] + [0.0] * 15]), "NaN or Inf"),
])
def test_bad_latents_are_rejected(board, overlay_files, z, message):
    ol = GeneratorOverlay(str(overlay_files("digits8")))
    with pytest.raises(ValueError, match=message):
        ol.generate(z)


@pytest.mark.parametrize("stall, channel", [("output", "S2MM"), ("input", "MM2S")])
def test_stalled_kernel_times_out(board, overlay_files, models, stall, channel):
    ol = GeneratorOverlay(str(overlay_files("digits8")), timeout=0.2)
    board.replace_kernel(vb.StalledBackend(stall))
    t = time.monotonic()
    with pytest.raises(DmaTimeoutError, match=rf"hier_0/axi_dma_0 {channel} .* within 0.2 s"):
        ol.generate(latents(5, 16))
    assert time.monotonic() - t < 1.0
    with pytest.raises(OverlayFaultError, match=r"refused, an earlier call failed \(DmaTimeoutError: .*call reset\(\)"):
        ol.generate(latents(2, 16))
    ol.reset()  # programs the PL again: the overlay's own (golden) kernel, empty
    z = latents(2, 16, seed=9)
    np.testing.assert_array_equal(ol.generate(z), golden.generate(models("digits8"), z))


@pytest.mark.parametrize("channel, error, bit", [("s2mm", "slave", "DMASlvErr"), ("mm2s", "decode", "DMADecErr"),
                                                 ("s2mm", "internal", "DMAIntErr")])
def test_dma_error_bits_are_surfaced(board, overlay_files, channel, error, bit):
    ol = GeneratorOverlay(str(overlay_files("digits8")))
    board.inject_dma_error(channel, error)
    with pytest.raises(DmaError, match=rf"hier_0/axi_dma_0 {channel.upper()} failed on latents 0..2: {bit}"):
        ol.generate(latents(3, 16))
    with pytest.raises(OverlayFaultError, match=rf"DmaError: .*{bit}"):
        ol.generate(latents(3, 16))
    ol.reset()
    assert ol.generate(latents(3, 16)).shape == (3, 1, 8, 8)


def test_wrong_image_size_in_manifest_is_caught(board, overlay_files):
    """Without a QuantizedModel beside the .bit (hls4ml's own overlays) the mismatch shows on the stream."""
    bit = overlay_files("digits8")
    bit.with_name("digits8.quantized").rename(bit.with_name("kernel.quantized"))  # the virtual kernel's, not beside
    virtual = json.loads(bit.read_text())
    bit.write_text(json.dumps({**virtual, "quantized_model": "kernel.quantized"}))
    doc = json.loads(bit.with_suffix(".json").read_text())
    doc["image_shape"] = [1, 4, 4]  # the kernel sends 64 beats per image, the manifest says 16
    bit.with_suffix(".json").write_text(json.dumps(doc))
    ol = GeneratorOverlay(str(bit))
    with pytest.raises(DmaError, match="DMAIntErr"):
        ol.generate(latents(2, 16))


@pytest.mark.parametrize("edit, message", [
    ("swap", r"has model 'mnist28' \(the manifest says 'digits8'\); latent_dim 64 \(the manifest says 16\)"),
    ("reshape", r"image_shape \(1, 8, 8\) \(the manifest says \(1, 4, 16\)\)"),  # the same 64 beats per image
])
def test_an_overlay_whose_files_do_not_belong_together_is_refused_at_load(board, overlay_files, models, edit,
                                                                          message):
    import shutil

    bit = overlay_files("digits8")
    if edit == "swap":  # another model's QuantizedModel behind a digits8 manifest: it would time out at generate
        shutil.rmtree(bit.with_name("digits8.quantized"))
        models("mnist28").save(bit.with_name("digits8.quantized"))
    else:  # a manifest with the kernel's beat count but another shape: it would reshape images silently
        doc = json.loads(bit.with_suffix(".json").read_text())
        doc["image_shape"] = [1, 4, 16]
        bit.with_suffix(".json").write_text(json.dumps(doc))
    t = time.monotonic()
    with pytest.raises(OverlayError, match=message):
        GeneratorOverlay(str(bit))
    assert time.monotonic() - t < 2.0


def test_benchmark(board, overlay_files):
    ol = GeneratorOverlay(str(overlay_files("digits8")))
    result = ol.benchmark(n=64, batch=16)
    assert result.images == 64 and result.transfers == 4
    assert result.images_per_s > 0 and result.latency_s > 0
    assert 0 < result.pack_s_per_image < result.dma_s_per_image
    assert set(result.as_dict()) >= {"latency_s", "images_per_s", "pack_s_per_image", "unpack_s_per_image"}


# ---------------------------------------------------------------------------------------------- overlay files
@pytest.mark.parametrize("missing", [".json", ".hwh", ".bit"])
def test_missing_overlay_file(board, overlay_files, missing):
    bit = overlay_files("digits8")
    bit.with_suffix(missing).unlink()
    with pytest.raises(FileNotFoundError, match=rf"missing digits8\{missing}"):
        GeneratorOverlay(str(bit))


def test_corrupt_hwh(board, overlay_files):
    bit = overlay_files("digits8")
    bit.with_suffix(".hwh").write_text("<EDKSYSTEM><MODULES>")
    with pytest.raises(OverlayError, match="digits8.hwh: not a hardware handoff"):
        GeneratorOverlay(str(bit))


def test_hwh_without_the_hierarchy(board, overlay_files):
    bit = overlay_files("digits8")
    bit.with_suffix(".hwh").write_text(vb.hwh_text(hierarchy="accel"))
    with pytest.raises(OverlayError, match="no hierarchy 'hier_0' holding an AXI DMA.*hierarchies: accel"):
        GeneratorOverlay(str(bit))


def test_hierarchy_with_scatter_gather_dma_is_not_bound(board, overlay_files):
    bit = overlay_files("digits8")
    hwh = bit.with_suffix(".hwh")
    hwh.write_text(hwh.read_text().replace('"c_include_sg" VALUE="0"', '"c_include_sg" VALUE="1"'))
    with pytest.raises(OverlayError, match="'hier_0' is not a DMA \\+ kernel hierarchy"):
        GeneratorOverlay(str(bit))


@pytest.mark.parametrize("text, message", [
    ("{", "not valid JSON"), ('{"format": "x"}', "format 'x'"), ({"beat": "int16"}, "beat format 'int16'"),
    ({"latent_dim": True}, "latent_dim must be a positive integer, got True"),
    ({"dma": 5}, "dma must be a non-empty string, got 5"), ("[]", "format 'list'"),
])
def test_bad_manifest(board, overlay_files, text, message):
    bit = overlay_files("digits8")
    manifest = bit.with_suffix(".json")
    if isinstance(text, dict):
        text = json.dumps({**json.loads(manifest.read_text()), **text})
    manifest.write_text(text)
    with pytest.raises(OverlayError, match=message):
        GeneratorOverlay(str(bit))


def test_real_bitstream_is_refused(board, overlay_files):
    bit = overlay_files("digits8")
    bit.write_bytes(b"\x00\x09\x0f\xf0\x0f\xf0\x0f\xf0\x0f\xf0\x00\x00\x01a")
    with pytest.raises(OverlayError, match="not a virtual bitstream"):
        GeneratorOverlay(str(bit))


def test_manifest_round_trip(models, tmp_path):
    m = vb.manifest_for(models("digits8"))
    assert OverlayManifest.load(m.save(tmp_path / "x.json")) == m
    assert m.beats_per_image == 64 and m.to_json()["format"] == "fpgagen-overlay-1"
