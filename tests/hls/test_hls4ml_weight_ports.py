"""hls4ml's kernel with weight ports: a loaded or streamed dense, a loaded conv2d and a loaded or streamed transposed
convolution read their weights from the RTL's weights file (``rtl.generate.weight_image``) through ``s_axis_w<k>``,
and the C simulation equals golden bit for bit.

Each model compiles once (~8 s for a dense alone, ~15 s with convolutions, ~35 s for dcgan28 with its run) into the
C-simulation cache (<cache root>/csim/).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

from fpgagen.core import golden
from fpgagen.core.folding import PLACEMENTS, STREAMABLE, WeightPorts
from fpgagen.core.layers import ARITHMETIC, UnsupportedLayerError, require
from fpgagen.core.manifest import OverlayError
from fpgagen.core.random_model import random_model, random_transposed_model
from fpgagen.hls import hls4ml_flow
from fpgagen.hls.accelerator import install_overlay, write_accelerator_project
from fpgagen.hls.csim import CSimExecutor
from fpgagen.hls.hls4ml_flow import convert, hls_layer_names
from fpgagen.hls.hls4ml_weight_ports import WeightPortConv2D, WeightPortError, drop_port_weights, weight_port_passes
from fpgagen.models.presets import load_preset
from fpgagen.models.quantize import quantize
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


# (family, seed, beat bits, placements): every off-ROM placement of every kind, two or three ports of different
# kinds per model; words of several per beat with bits left over (K > 1), wider than a beat (R > 1), and ragged last
# output groups of transposed convolutions (PO not dividing O)
CONV_CASES = [
    # dense 4-bit words (198: 16 per beat, the last beat part full); conv2d_3 8-bit; conv2d_5 one 1,296-bit word (21
    # beats: wider than ap_uint's default 1,024 bits, as dcgan28's 3,840-bit words on the KV260)
    (random_model, 18, 64, {"dense_0": "streamed", "conv2d_3": "loaded", "conv2d_5": "loaded"}),
    # conv_transpose2d_3: 3 outputs in groups of 2, 12-bit words (5 per beat); conv_transpose2d_5 5-bit words
    (random_transposed_model, 6, 64, {"dense_0": "loaded", "conv_transpose2d_3": "streamed",
                                      "conv_transpose2d_5": "loaded"}),
    # 32-bit beats: conv_transpose2d_3 8-bit words (4 per beat), conv_transpose2d_5 40-bit (two beats each)
    (random_transposed_model, 29, 32, {"dense_0": "streamed", "conv_transpose2d_3": "streamed",
                                       "conv_transpose2d_5": "loaded"}),
    # 128-bit beats: conv_transpose2d_3 36-bit words (3 per beat), conv_transpose2d_5 ragged (3 outputs in groups of
    # 2), 60-bit words (2 per beat)
    (random_transposed_model, 33, 128, {"conv_transpose2d_3": "streamed", "conv_transpose2d_5": "loaded"}),
]


def placed_as(family, seed: int, beat_bits: int, placements: dict[str, str]):
    model = copy.deepcopy(family(seed))
    for name, placement in placements.items():
        model.layer(name).placement = placement
    model.weight_ports = WeightPorts(beat_bits, len(placements), float(beat_bits))
    model.name = f"{model.name}_ports{len(placements)}"
    model.validate()
    return model


@needs_gxx
@pytest.mark.slow(20)
@pytest.mark.parametrize(("family", "seed", "beat_bits", "placements"), CONV_CASES,
                         ids=[f"{f.__name__}{s}" for f, s, _, _ in CONV_CASES])
def test_convolutions_on_weight_ports_csim_equals_golden(family, seed, beat_bits, placements):
    """The weights file the C simulation reads is the RTL's, laid out as the ports expect; the outputs are golden's;
    a streamed layer reads its port at every call: the same kernel given other streamed weights (the loaded ones
    kept: they were written once) computes the model with those."""
    model = placed_as(family, seed, beat_bits, placements)
    data, streams = weight_image(model)
    ports = weight_port_passes(model)
    assert [(wp.layer, wp.placement, wp.words, wp.beats, wp.offset, wp.nbytes) for wp in ports] == \
           [(ws.layer, ws.placement, ws.words, ws.beats, ws.offset, ws.nbytes) for ws in streams]
    assert {wp.layer: wp.placement for wp in ports} == placements
    assert sum(wp.nbytes for wp in ports) == len(data)
    ex = CSimExecutor(model, weights=data).prepare()
    cpp = (ex.project_dir / "prj" / "firmware" / "myproject.cpp").read_text()
    assert cpp.count("// weight port") == len(placements)
    weights_dir = ex.project_dir / "prj" / "firmware" / "weights"
    compiled_in = {p.name for p in weights_dir.glob("w*.txt")}
    rom = [lr for lr in model.layers if lr.kind in ARITHMETIC and lr.placement == "rom"]
    assert len(compiled_in) == len(rom)  # only the ROM layers' weights are compiled in
    z = latents(48, model.latent_dim, seed)
    want = golden.generate(model, z)
    assert len(np.unique(want)) > 8, "degenerate test: the outputs hardly vary"
    got = ex.run(z)  # loaded layers read their passes on the first call, then their RAMs
    assert np.array_equal(got, want), f"{np.count_nonzero(got != want)} of {want.size} outputs differ"
    assert np.array_equal(ex.run(z[:4]), want[:4])  # the RAMs hold

    other = copy.deepcopy(model)
    rng = np.random.default_rng(seed + 1)
    for name in (name for name, placement in placements.items() if placement == "streamed"):
        lr = other.layer(name)
        lr.weight = rng.integers(-lr.weight_t.max_code, lr.weight_t.max_code + 1, lr.weight.shape)
    other_want = golden.generate(other, z)
    assert not np.array_equal(other_want, want), "the case must stream a layer"
    again = CSimExecutor(model, weights=weight_image(other)[0]).prepare()
    assert not again.compiled and np.array_equal(again.run(z), other_want)


@needs_gxx
@pytest.mark.slow(40)
@pytest.mark.parametrize("board", ["kv260"])
def test_dcgan28_placed_for_a_board_csim_equals_golden(board):
    """dcgan28 folded for a board whose block RAM cannot hold it, with the folding's own placements (kv260: dense_0
    loaded, conv_transpose2d_3 streamed in 3,840-bit words over a 128-bit port), through the C simulation: bit-exact
    with golden. The PYNQ-Z2's (dense_0 and conv_transpose2d_3 streamed over 64-bit ports) runs through its board
    project: tests/overlays/test_boards.py."""
    model = quantize(load_preset("dcgan28"), board=board)
    off_rom = {lr.kind for lr in model.layers if lr.kind in ARITHMETIC and lr.placement != "rom"}
    assert off_rom == {"dense", "conv_transpose2d"}, "the case must take a transposed convolution off the ROMs"
    z = latents(8, model.latent_dim, seed=3)
    want = golden.generate(model, z)
    assert len(np.unique(want)) > 32
    got = CSimExecutor(model, weights=weight_image(model)[0]).prepare().run(z)
    assert np.array_equal(got, want), f"{np.count_nonzero(got != want)} of {want.size} outputs differ"


def test_a_conv2d_laid_out_otherwise_than_its_ram_is_refused(tmp_path, monkeypatch):
    """A loaded conv2d's kernel writes its RAM at the addresses of hls4ml's own weight array, (O, KH, KW, C): before
    dropping the weights, drop_port_weights checks that hls4ml laid them out so (here, as it does: the weights go),
    and refuses a layout that differs (here, KH and KW swapped behind its back) rather than compute with it."""
    model = placed_as(random_model, 4, 64, {"conv2d_3": "loaded"})
    graphs = []
    monkeypatch.setattr(hls4ml_flow, "drop_port_weights", graphs.append)
    for name in ("kept", "swapped"):
        convert(model, tmp_path / name)
    kept, swapped = ({layer.name: layer for layer in hm.get_layers()}[hls_layer_names(model)["conv2d_3"]]
                     for hm in graphs)
    assert isinstance(kept, WeightPortConv2D) and kept.get_attr("placement") == "loaded"
    drop_port_weights(graphs[0])
    assert "weight" not in kept.weights and "bias" in kept.weights
    var = swapped.get_weights("weight")
    var.data = var.data.transpose(0, 2, 1, 3)
    with pytest.raises(WeightPortError, match=r"laid out its conv2d weights as \(1, 3, 3, 4\), not the \(O, KH, KW, "
                                              r"C\) = \(1, 3, 3, 4\) the kernel writes its RAM in"):
        drop_port_weights(graphs[1])


def test_hls4ml_realises_every_placement_the_folding_makes():
    """Every (kind, placement) a valid model can have reaches hls4ml's C simulation; a streamed conv2d (which
    validation refuses: it would read its weights once per output pixel) is refused by name."""
    for kind in ARITHMETIC:
        for placement in PLACEMENTS:
            if placement != "streamed" or kind in STREAMABLE:
                require("hls4ml", [SimpleNamespace(name=f"{kind}_0", kind=kind, placement=placement)])
    with pytest.raises(UnsupportedLayerError, match=r"realises loaded conv2d, loaded conv_transpose2d, streamed "
                                                     r"conv_transpose2d, loaded dense, streamed dense\); it cannot "
                                                     r"place conv2d_1 \(conv2d, streamed\)"):
        require("hls4ml", [SimpleNamespace(name="conv2d_1", kind="conv2d", placement="streamed")])


# --------------------------------------------------------------------------------------------- the board project
# hls4ml's board project of a model off the ROMs, compiled as the board would run it: the C bridge through
# myproject_axi (CSimExecutor.from_project) and Vivado HLS's testbench myproject_test.cpp with g++, which reads the
# weights file from tb_data/ as the DMAs feed it. The block design needs Vivado; its weight DMAs are checked as text.


def run_testbench(prj, z: np.ndarray) -> np.ndarray:
    """Vivado HLS's testbench of the project compiled with g++ and run on ``z``: its outputs, channels last, as it
    prints them (``std::ostream``'s six significant digits)."""
    tb = prj / "tb_data"
    np.savetxt(tb / "tb_input_features.dat", z.astype(np.float32), fmt="%.9g")
    np.savetxt(tb / "tb_output_predictions.dat", np.zeros((len(z), 1)), fmt="%g")  # printed, not compared
    subprocess.run(["g++", "-O1", "-std=c++0x", "-I", "firmware", "-I", "firmware/ap_types",  # build_prj.tcl's flags
                    '-DWEIGHTS_DIR="firmware/weights"', "myproject_test.cpp",
                    "firmware/myproject_axi.cpp", "firmware/myproject.cpp", "-o", "tb"], cwd=prj, check=True,
                   capture_output=True)
    done = subprocess.run(["./tb"], cwd=prj, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    beats = re.findall(r"{ data: (\S+), last: ([01]) }", (tb / "csim_results.log").read_text())
    values = np.array([float(v) for v, _ in beats]).reshape(len(z), -1)
    last = np.array([int(t) for _, t in beats]).reshape(len(z), -1)
    assert (last[:, -1] == 1).all() and not last[:, :-1].any()  # TLAST on each image's last beat
    return values


@needs_gxx
@pytest.mark.parametrize(("seed", "placement", "board"), [(2, "streamed", "pynq-z2"), (3, "loaded", "zcu104")])
def test_board_project_takes_its_weights_from_the_weights_file(seed, placement, board, tmp_path):
    model = placed(seed, placement, 64 if board == "pynq-z2" else 128)
    manifest = write_accelerator_project(model, tmp_path, board)
    prj = tmp_path / "hls4ml_prj"
    data = (tmp_path / "weights.bin").read_bytes()
    assert data == weight_image(model)[0].tobytes() == (prj / "tb_data" / "weights.bin").read_bytes()
    port = manifest["weights"]["ports"][0]
    assert (port["dma"], port["placement"], manifest["weights"]["nbytes"]) == ("axi_dma_w0", placement, len(data))
    assert json.loads((tmp_path / "manifest.json").read_text())["weights"] == manifest["weights"]

    axi = (prj / "firmware" / "myproject_axi.cpp").read_text()
    assert "#pragma HLS INTERFACE axis port=s_axis_w0" in axi and "myproject(in_local, out_local, s_axis_w0);" in axi
    design = (prj / "design.tcl").read_text()
    assert re.search(r"^group_bd_cells hier_0 .*\[get_bd_cells axi_dma_w0\]$", design, re.M)
    assert "[get_bd_intf_pins axi_dma_w0/M_AXIS_MM2S] [get_bd_intf_pins ${project_name}_axi_0/s_axis_w0]" in design
    width = 64 if board == "pynq-z2" else 128
    assert f"CONFIG.c_m_axis_mm2s_tdata_width {{{width}}}" in design and "CONFIG.c_include_s2mm {0}" in design
    own_port = {"pynq-z2": "S_AXI_HP1", "zcu104": "S_AXI_HP1_FPD"}[board]
    # a streamed pass gets a PS slave port of its own; a loaded one shares the data DMA's, read once
    assert (f"Slave {{/{'processing_system7_0' if board == 'pynq-z2' else 'zynq_ultra_ps_e_0'}/{own_port}}}"
            in design) == (placement == "streamed")

    z = latents(24, model.latent_dim, seed)
    want = golden.generate(model, z)
    got = CSimExecutor.from_project(model, prj, weights=data).run(z)
    assert np.array_equal(got, want), f"{np.count_nonzero(got != want)} of {want.size} outputs differ"
    bench = run_testbench(prj, z)
    printed = [float(f"{v:.6g}") for v in want.transpose(0, 2, 3, 1).ravel()]  # the stream is channels last
    assert np.array_equal(bench.ravel(), printed)


@needs_gxx
def test_the_testbench_refuses_a_short_weights_file(tmp_path):
    model = placed(2, "streamed", 64)
    write_accelerator_project(model, tmp_path, "pynq-z2")
    prj = tmp_path / "hls4ml_prj"
    (prj / "tb_data" / "weights.bin").write_bytes(b"\0" * 8)
    with pytest.raises(AssertionError, match="tb_data/weights.bin has 8 bytes, the weight ports take 288"):
        run_testbench(prj, latents(4, model.latent_dim, 0))


def test_installed_overlay_carries_the_weights_file(tmp_path):
    """`fpgagen build`'s last step: the weights file goes beside the .bit, named after it and hashed in the stream
    manifest; a damaged one in the project is refused before anything is installed."""
    from pynq.pl_server.device import Device

    from fpgagen.core.manifest import OverlayManifest
    from fpgagen.host import virtual_board as vb
    from fpgagen.host.driver import GeneratorOverlay

    model = placed(2, "streamed", 64)
    write_accelerator_project(model, tmp_path / "prj", "pynq-z2")
    stand_in = vb.write_virtual_overlay(model, tmp_path / "vivado", board="pynq-z2")
    out = install_overlay(tmp_path / "prj", stand_in, stand_in.with_suffix(".hwh"), tmp_path / "overlays")
    installed = OverlayManifest.beside(out["bit"])
    assert installed.weights.file == out["weights"].name == f"{model.name}.weights.bin"
    assert installed.weights.read(out["bit"].parent) == weight_image(model)[0].tobytes()
    assert installed.mismatches(model) == []
    previous = getattr(Device, "_active_device", None)
    vb.activate(vb.VirtualBoard())
    try:  # the driver binds the weight DMA and streams the installed file: the user's code unchanged
        z = latents(8, model.latent_dim, 5)
        assert np.array_equal(GeneratorOverlay(str(out["bit"])).generate(z), golden.generate(model, z))
    finally:
        if previous is None:
            del Device._active_device
        else:
            Device.active_device = previous

    damaged = bytearray((tmp_path / "prj" / "weights.bin").read_bytes())
    damaged[5] ^= 1
    (tmp_path / "prj" / "weights.bin").write_bytes(bytes(damaged))
    with pytest.raises(OverlayError, match=r"weights.bin: sha256 .* the manifest says"):
        install_overlay(tmp_path / "prj", stand_in, stand_in.with_suffix(".hwh"), tmp_path / "again")
    assert not (tmp_path / "again").exists()
