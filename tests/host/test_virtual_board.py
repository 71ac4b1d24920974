"""The virtual board as pynq sees it: device registration, .hwh, DMA registers, kernel backends, hls4ml's driver."""

import importlib.util
from pathlib import Path

import numpy as np
import pynq
import pytest
from pynq.lib.dma import DMA

from fpgagen.core import golden
from fpgagen.host import virtual_board as vb
from fpgagen.overlays.boards import get_board


def latents(n, dim, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def channels_last(images):
    return images.transpose(0, 2, 3, 1).reshape(len(images), -1)


def test_probed_when_no_board_is_present():
    assert not pynq.ps.ON_TARGET
    (board,) = vb.VirtualBoard._probe_()
    assert isinstance(board, vb.VirtualBoard) and board.name == "Pynq-Z2"


def test_active_device_serves_allocate(board):
    assert pynq.Device.active_device is board and board in pynq.Device.devices
    buf = pynq.allocate(shape=(5, 16), dtype=np.float32)
    assert isinstance(buf, pynq.buffer.PynqBuffer) and buf.device is board
    low, high = get_board("pynq-z2").ddr_window
    assert low <= buf.physical_address < high and buf.physical_address % 4096 == 0
    buf[:] = 3.0
    raw = board.memory.resolve(buf.physical_address, buf.nbytes)
    np.testing.assert_array_equal(raw.view(np.float32), 3.0)
    buf.flush()
    buf.invalidate()


def test_freed_buffers_release_their_addresses(board):
    a = pynq.allocate(shape=(1024,), dtype=np.uint32)
    address = a.physical_address
    del a
    assert board.memory.resolve(address, 4) is None
    assert pynq.allocate(shape=(8,), dtype=np.uint32).physical_address == address


def test_hwh_holds_the_hls4ml_block_design(board, overlay_files):
    ol = pynq.Overlay(str(overlay_files("digits8", length_width=14)))
    assert set(ol.ip_dict) == {"hier_0/axi_dma_0", "processing_system7_0"}
    dma = ol.ip_dict["hier_0/axi_dma_0"]
    assert dma["type"] == "xilinx.com:ip:axi_dma:7.1" and dma["phys_addr"] == 0x40400000
    assert dma["parameters"]["c_include_sg"] == "0" and dma["parameters"]["c_sg_length_width"] == "14"
    assert dma["registers"]["S2MM_LENGTH"]["address_offset"] == 0x58
    assert dma["registers"]["S2MM_LENGTH"]["fields"]["Length"]["bit_width"] == 14
    assert list(ol.hierarchy_dict["hier_0"]["ip"]) == ["axi_dma_0"]
    kernel = ol.systemgraph.blocks["hier_0_myproject_axi_0"]
    assert kernel.vlnv.str == "xilinx.com:hls:myproject_axi:1.0" and set(kernel.ports) >= {"in_r", "out_r"}
    assert ol.hier_0.axi_dma_0.buffer_max_size == 2**14 - 1
    assert ol.clock_dict[0]["enable"] == 1 and pynq.Clocks.fclk0_mhz == 100.0


def test_register_map_reads_the_emulated_dma(board, overlay_files):
    ol = pynq.Overlay(str(overlay_files("digits8")))
    dma = ol.hier_0.axi_dma_0
    assert isinstance(dma, DMA)
    assert dma.register_map.MM2S_DMACR.RS == 1 and dma.register_map.MM2S_DMASR.Halted == 0


def test_pynq_dma_transfers_through_the_golden_kernel(board, overlay_files, models):
    """pynq's DMA driver used directly. MM2S ends each transfer with TLAST, so the kernel ends each image's packet:
    one S2MM transfer with room for two images closes after the first (LENGTH reads the bytes received)."""
    ol = pynq.Overlay(str(overlay_files("digits8")))
    dma = ol.hier_0.axi_dma_0
    z = latents(2, 16)
    expected = channels_last(golden.generate(models("digits8"), z))
    send = [pynq.allocate((1, 16), np.float32) for _ in range(2)]
    recv = pynq.allocate((2, 64), np.float32)
    for buf, row in zip(send, z, strict=True):
        buf[:] = row
        dma.sendchannel.transfer(buf)
        dma.sendchannel.wait()
    for image in range(2):
        dma.recvchannel.transfer(recv)
        dma.recvchannel.wait()
        assert dma.recvchannel.transferred == 64 * 4
        np.testing.assert_array_equal(recv[0], expected[image])


def test_s2mm_buffer_shorter_than_the_packet_is_an_internal_error(board, overlay_files):
    ol = pynq.Overlay(str(overlay_files("digits8")))
    dma = ol.hier_0.axi_dma_0
    inp, out = pynq.allocate((2, 16), np.float32), pynq.allocate((1, 64), np.float32)
    dma.recvchannel.transfer(out)
    dma.sendchannel.transfer(inp)
    assert dma.recvchannel.error and dma.mmio.read(0x34) & 0x10  # DMAIntErr, channel halted
    assert not dma.recvchannel.running


def test_unmapped_address_is_a_decode_error(board, overlay_files):
    ol = pynq.Overlay(str(overlay_files("digits8")))
    dma = ol.hier_0.axi_dma_0
    dma.mmio.write(0x18, 0x1000)  # MM2S_SA: no buffer there
    dma.mmio.write(0x28, 64)
    assert dma.mmio.read(0x04) & 0x40 and dma.sendchannel.error
    with pytest.raises(RuntimeError, match="not started"):  # pynq's wait() on the halted channel
        dma.sendchannel.wait()


def test_unprogrammed_and_unmapped_accesses_are_clear(board):
    with pytest.raises(vb.VirtualBoardError, match="not programmed"):
        pynq.MMIO(0x40400000, 0x100).read(0)
    with pytest.raises(vb.VirtualBoardError, match="hits no slave"):
        pynq.MMIO(0x43C00000, 0x100).read(0)


def test_golden_backend_tlast_rule(models):
    kernel = vb.GoldenBackend(models("digits8"))
    z = latents(3, 16)
    last = np.zeros(48, bool)
    last[20] = True  # a beat of the second latent
    assert kernel.consume(vb.Beats.from_floats(z.reshape(-1)[:40], last[:40])) == 40  # 2.5 latents
    assert kernel.consume(vb.Beats.from_floats(z.reshape(-1)[40:], last[40:])) == 8
    first = kernel.produce(10_000)  # stops at the first TLAST: end of image 2
    assert len(first) == 128 and list(np.flatnonzero(first.last)) == [127]
    rest = kernel.produce(10_000)
    assert len(rest) == 64 and not rest.last.any()
    expected = channels_last(golden.generate(models("digits8"), z)).reshape(-1)
    np.testing.assert_array_equal(np.concatenate([first.floats, rest.floats]), expected)


def test_golden_backend_casts_like_the_wrapper(models):
    """Out-of-range floats saturate in the input type, as input_t(in.data) does."""
    model = models("digits8")
    kernel = vb.GoldenBackend(model)
    z = np.full((1, 16), 1e6, np.float32)
    kernel.consume(vb.Beats.from_floats(z.reshape(-1), np.ones(16, bool)))
    out = kernel.produce(64)
    np.testing.assert_array_equal(out.floats, channels_last(golden.generate(model, z)).reshape(-1))
    assert out.last[-1] and kernel.cycles is None


def _hls4ml_driver():
    hls4ml = pytest.importorskip("hls4ml")
    path = Path(hls4ml.__file__).parent / "templates/vivado_accelerator/pynq-z2/python_drivers/axi_stream_driver.py"
    spec = importlib.util.spec_from_file_location("axi_stream_driver", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("with_manifest", [True, False])
def test_hls4ml_axi_stream_driver_runs_unmodified(board, overlay_files, models, with_manifest):
    driver = _hls4ml_driver()
    bit = overlay_files("digits8")
    if not with_manifest:  # hls4ml's overlay has no fpgagen manifest: hier_0 stays a DefaultHierarchy
        bit.with_suffix(".json").unlink()
    z = latents(6, 16, seed=2)
    nn = driver.NeuralNetworkOverlay(str(bit), x_shape=(6, 16), y_shape=(6, 64))
    y, seconds, rate = nn.predict(z, profile=True)
    np.testing.assert_array_equal(y, channels_last(golden.generate(models("digits8"), z)))
    assert seconds > 0 and rate > 0
