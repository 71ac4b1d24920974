"""QuantizedModel -> hls4ml: golden == C simulation bit for bit (presets and random stacks), every type explicit,
the view fix, the compiled-project cache, the accelerator project and the build's missing-tool error.

Compiled projects are cached under <cache root>/csim/ ($FPGAGEN_CACHE, else ~/.cache/fpgagen): the first run compiles
each model once (~7 s each), later runs reuse them.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from fpgagen.cli import main
from fpgagen.core import golden
from fpgagen.core.errors import ToolNotFoundError
from fpgagen.core.fixed import FixedType
from fpgagen.core.folding import valid_reuse_factor
from fpgagen.core.quantized_model import QuantizedModel
from fpgagen.core.random_model import random_model
from fpgagen.hls.accelerator import BUILD_TOOLS, build_overlay, write_accelerator_project
from fpgagen.hls.csim import CSimExecutor, cache_key
from fpgagen.hls.hls4ml_flow import (
    HLSConversionError,
    assert_no_auto,
    convert,
    hls_config,
    hls_layer_names,
    model_hash,
    to_torch,
)
from fpgagen.models.presets import load_preset
from fpgagen.models.quantize import quantize

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ (hls4ml's C simulation compiles with it)")
needs_vivado = pytest.mark.skipif(any(shutil.which(t) is None for t in BUILD_TOOLS),
                                  reason="needs Vivado (vivado_hls and vivado on PATH)")
PRESETS = ("digits8", "mnist28", "vae28")
SECONDS = {"digits8": 8, "mnist28": 25, "vae28": 25}  # conversion, compilation and 256 latents
RANDOM_SEEDS = range(8)
N = 256


def latents(n: int, dim: int, seed: int, scale: float = 1.5) -> np.ndarray:
    z = np.random.default_rng(seed).standard_normal((n, dim)) * scale
    z[:4] = [[8.0], [-8.0], [0.0], [1e-3]]  # saturating, zero and tiny inputs
    return z


@pytest.fixture(scope="module")
def models():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = random_model(int(name[6:])) if name.startswith("random") else quantize(load_preset(name))
        return cache[name]

    return get


@pytest.fixture(scope="module")
def csim(models):
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = CSimExecutor(models(name)).prepare()
        return cache[name]

    return get


def assert_bit_exact(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype == np.float32
    bad = np.argwhere(got != want)
    assert len(bad) == 0, f"{len(bad)} of {want.size} outputs differ, first at {tuple(bad[0])}: " \
                          f"csim {got[tuple(bad[0])]} golden {want[tuple(bad[0])]}"


# --------------------------------------------------------------------------------------------- bit-exactness


@needs_gxx
@pytest.mark.parametrize("preset", [pytest.param(p, marks=pytest.mark.slow(SECONDS[p])) for p in PRESETS])
def test_preset_csim_equals_golden(preset, models, csim):
    model = models(preset)
    z = latents(N, model.latent_dim, seed=1)
    assert_bit_exact(csim(preset).run(z), golden.generate(model, z))


@needs_gxx
@pytest.mark.slow(30)
def test_dcgan28_csim_equals_golden(models, csim):
    """The seed's DCGAN (three ConvTranspose2d through fpgagen's hls4ml extension): 16 latents, since the C simulation
    takes ~1.5 s per image (36 M useful multiplications)."""
    model = models("dcgan28")
    z = latents(16, model.latent_dim, seed=5)
    want = golden.generate(model, z)
    assert len(np.unique(want)) > 32
    assert_bit_exact(csim("dcgan28").run(z), want)


@needs_gxx
@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_random_stack_csim_equals_golden(seed, models, csim):
    model = models(f"random{seed}")
    z = latents(N, model.latent_dim, seed=seed, scale=3.0)
    assert_bit_exact(csim(f"random{seed}").run(z), golden.generate(model, z))


def test_random_models_cover_the_modes():
    types = [t for s in RANDOM_SEEDS for lr in random_model(s).layers
             for t in (lr.result_t, lr.weight_t, lr.accum_t, lr.table_t, lr.param_t) if t is not None]
    assert {t.rounding for t in types} >= {"TRN", "RND", "RND_CONV", "TRN_ZERO"}
    assert {t.overflow for t in types} >= {"WRAP", "SAT", "SAT_SYM", "SAT_ZERO"}
    kinds = {lr.kind for s in RANDOM_SEEDS for lr in random_model(s).layers}
    assert kinds == {"dense", "conv2d", "relu", "leaky_relu", "tanh", "sigmoid", "reshape", "upsample"}


# --------------------------------------------------------------------------------------------- config, conversion


def test_config_states_every_type(models, tmp_path):
    model = models("mnist28")
    cfg = hls_config(model)
    names = hls_layer_names(model)
    assert "auto" not in json.dumps(cfg["LayerName"]).lower()
    assert cfg["LayerName"]["input_1"]["Precision"]["result"] == str(model.input_t)
    for lr in model.layers:
        entry = cfg["LayerName"][names[lr.name]]
        assert entry["Precision"]["result"] == str(lr.result_t)
        if lr.kind in ("dense", "conv2d"):
            assert entry["ReuseFactor"] == lr.reuse_factor and entry["Strategy"] == "Resource"
        if lr.kind == "tanh":
            assert entry["table_t"] == str(lr.table_t) and entry["TableSize"] == lr.table_size
    assert names["reshape_2"] == "view" and names["dense_0"] == "_0"
    hm = convert(model, tmp_path / "prj")  # checks every type, reuse factor and the view fix
    assert_no_auto(hm)
    layers = {layer.name: layer for layer in hm.get_layers()}
    hls_type = {name: FixedType.parse(str(layers[name].get_attr("result_t").precision)) for name in layers}
    assert hls_type["zp2d__4"] == model.layer("upsample_3").result_t  # inserted padding: its input's type
    assert hls_type["repack_view"] == model.layer("reshape_2").result_t
    assert list(layers["repack_view"].get_attr("target_shape")) == [7, 7, 64]


def test_to_torch_holds_the_exact_codes(models):
    model = models("digits8")
    seq = to_torch(model)
    for lr, m in zip(model.layers, seq, strict=True):
        if lr.kind in ("dense", "conv2d"):
            assert np.array_equal(m.weight.detach().double().numpy(), lr.weight_t.to_float(lr.weight))
            assert np.array_equal(m.bias.detach().double().numpy(), lr.bias_t.to_float(lr.bias))
    import torch

    assert seq(torch.zeros(2, model.latent_dim)).shape == (2, *model.image_shape)


def test_reuse_factor_hls4ml_would_change_is_an_error(tmp_path):
    model = random_model(0)
    dense = model.layers[0]
    n_out, n_in = dense.weight.shape
    bad = [rf for rf in range(1, dense.weight.size + 1) if dense.weight.size % rf == 0
           and not valid_reuse_factor(n_in, n_out, rf)]
    if not bad:
        pytest.skip(f"every divisor of {dense.weight.size} is a valid reuse factor for {n_in}x{n_out}")
    dense.reuse_factor = bad[0]
    with pytest.raises(HLSConversionError, match="ReuseFactor"):
        convert(model, tmp_path / "prj")


def test_code_a_sat_sym_cast_cannot_give_is_an_error(tmp_path):
    model = random_model(1)
    lr = model.layers[0]
    lr.weight_t = FixedType(lr.weight_t.width, lr.weight_t.integer, True, "TRN", "SAT_SYM")
    lr.weight[0, 0] = lr.weight_t.min_code
    with pytest.raises(HLSConversionError, match="weight code"):
        convert(model, tmp_path / "prj")


@needs_gxx
@pytest.mark.parametrize("name", ["digits8", "random4"])
def test_view_fix_is_needed(name, models, csim, tmp_path):
    """Without fpgagen:view_fix hls4ml's io_stream model does not compile (digits8: the Repack makes 4-wide beats
    for a 16-channel map) or, where the widths happen to agree (random4: view to (4, 4, 4)), computes wrong images.
    With it (the csim fixture) both are bit-exact."""
    model = models(name)
    c, h, w = next(lr for lr in model.layers if lr.kind == "reshape").out_shape
    hm = convert(model, tmp_path / "unfixed", view_fix=False)
    assert list(next(lr for lr in hm.get_layers() if lr.name == "repack_view").get_attr("target_shape")) == [c, h, w]
    hm.write()
    z = latents(64, model.latent_dim, seed=2)
    want = golden.generate(model, z)
    if c == w:
        unfixed = CSimExecutor.from_project(model, tmp_path / "unfixed").run(z)
        assert np.count_nonzero(unfixed != want) > want.size // 10
    else:
        with pytest.raises(HLSConversionError, match="no matching function for call to .resize_nearest"):
            CSimExecutor.from_project(model, tmp_path / "unfixed")
    assert_bit_exact(csim(name).run(z), want)


# --------------------------------------------------------------------------------------------- executor, cache


@needs_gxx
def test_second_prepare_reuses_the_compiled_project(models, csim):
    first = csim("digits8")
    lib = next((first.project_dir / "prj" / "firmware").glob("*.so"))
    mtime = lib.stat().st_mtime_ns
    second = CSimExecutor(models("digits8")).prepare()
    assert second.compiled is False and second.project_dir == first.project_dir
    assert second.prepare_seconds < 2.0
    assert lib.stat().st_mtime_ns == mtime
    z = latents(8, 16, seed=3)
    assert np.array_equal(second.run(z), first.run(z))


def test_cache_key_follows_the_content(models):
    a, b = random_model(3), random_model(3)
    assert cache_key(a) == cache_key(b) and model_hash(a) == model_hash(b)
    b.info["note"] = "provenance does not change the hardware"
    assert cache_key(a) == cache_key(b)
    b.layers[0].bias[0] ^= 1
    assert cache_key(a) != cache_key(b)


@needs_gxx
def test_run_checks_latents(models, csim):
    ex = csim("digits8")
    with pytest.raises(ValueError, match=r"shape \(N, 16\)"):
        ex.run(np.zeros((3, 15)))
    with pytest.raises(ValueError, match="NaN"):
        ex.run(np.full((1, 16), np.nan))
    with pytest.raises(RuntimeError, match="prepare"):
        CSimExecutor(models("digits8")).run(np.zeros((1, 16)))


# --------------------------------------------------------------------------------------------- accelerator, build


@needs_gxx
def test_accelerator_project(models, tmp_path):
    model = models("digits8")
    manifest = write_accelerator_project(model, tmp_path, "pynq-z2")
    prj = tmp_path / "hls4ml_prj"
    for f in ("firmware/myproject_axi.cpp", "firmware/myproject_axi.h", "design.tcl", "build_prj.tcl",
              "axi_stream_driver.py", "firmware/myproject.cpp"):
        assert (prj / f).is_file(), f
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    assert (tmp_path / "quantized" / "model.json").is_file()
    assert "typedef float T_in;" in (prj / "firmware" / "myproject_axi.h").read_text()
    assert manifest["preset"] == "digits8" and manifest["model_hash"] == model_hash(model)
    assert (manifest["board"], manifest["part"], manifest["clock"]["hls_period_ns"]) == (
        "pynq-z2", "xc7z020clg400-1", 10.0)
    assert "set clock_period 10" in (prj / "project.tcl").read_text()
    stream = manifest["stream"]
    assert (stream["beats_per_latent"], stream["beats_per_image"], stream["beat_bits"]) == (16, 64, 32)
    assert {d["name"]: d.get("reuse_factor") for d in manifest["layers"]} == {
        lr.name: (lr.reuse_factor if lr.kind in ("dense", "conv2d") else None) for lr in model.layers}
    assert {d["hls4ml_name"] for d in manifest["inserted_layers"]} == {"repack_view", "zp2d__4", "zp2d__6"}
    z = latents(N, model.latent_dim, seed=4)
    assert_bit_exact(CSimExecutor.from_project(model, prj).run(z), golden.generate(model, z))


def test_build_without_vivado_names_the_missing_tools(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolNotFoundError, match="vivado_hls and vivado not found on PATH"):
        build_overlay(tmp_path, "pynq-z2")
    assert main(["build", "digits8", "--project", str(tmp_path)]) == 2
    assert "fpgagen build: error: vivado_hls and vivado not found on PATH" in capsys.readouterr().err


def test_cli_convert_writes_the_project(tmp_path, capsys):
    assert main(["convert", "digits8", "--board", "pynq-z2", "--out", str(tmp_path / "d8")]) == 0
    out = capsys.readouterr().out
    assert "16 per latent in, 64 per image out" in out and str(tmp_path / "d8") in out
    manifest = json.loads((tmp_path / "d8" / "manifest.json").read_text())
    assert manifest["preset"] == "digits8" and (tmp_path / "d8" / "hls4ml_prj" / "design.tcl").is_file()
    assert (tmp_path / "d8" / "float_reference.npz").is_file()


def test_installed_overlay_holds_what_the_board_reads(tmp_path, capsys):
    """`fpgagen build`'s last step on a project `fpgagen convert` wrote: with a virtual bitstream and .hwh standing
    in for Vivado's, the installed folder is an overlay the driver loads and runs (stream manifest, QuantizedModel,
    float reference beside it)."""
    from pynq.pl_server.device import Device

    from fpgagen.core.float_model import FloatModel
    from fpgagen.hls.accelerator import install_overlay
    from fpgagen.host import virtual_board as vb
    from fpgagen.host.driver import GeneratorOverlay

    assert main(["convert", "digits8", "--board", "zcu102", "--out", str(tmp_path / "prj")]) == 0
    model = QuantizedModel.load(tmp_path / "prj" / "quantized")
    assert model.info["multipliers_budget"] == 2520  # the zcu102's budget, not the preset's pynq-z2 one
    stand_in = vb.write_virtual_overlay(model, tmp_path / "vivado", board="zcu102")
    out = install_overlay(tmp_path / "prj", stand_in, stand_in.with_suffix(".hwh"), tmp_path / "overlays" / "zcu102")
    assert sorted(p.name for p in out.values()) == ["digits8.bit", "digits8.float.npz", "digits8.hwh",
                                                     "digits8.json", "digits8.quantized"]
    previous = getattr(Device, "_active_device", None)
    vb.activate(vb.VirtualBoard())
    try:
        overlay = GeneratorOverlay(str(out["bit"]))
        z = np.random.default_rng(3).standard_normal((5, 16)).astype(np.float32)
        assert np.array_equal(overlay.generate(z), golden.generate(model, z))
        assert overlay.generator.manifest.board == "zcu102"
    finally:
        if previous is None:
            del Device._active_device
        else:
            Device.active_device = previous
    reference = FloatModel.load(out["float_reference"])
    assert reference.run(z).shape == (5, 1, 8, 8)


@pytest.mark.vivado
@needs_vivado
def test_build_overlay_with_vivado(tmp_path):
    model = quantize(load_preset("digits8"))
    write_accelerator_project(model, tmp_path / "prj", "pynq-z2")
    out = build_overlay(tmp_path / "prj", "pynq-z2", overlays_dir=tmp_path / "overlays")
    assert out["bit"].stat().st_size > 0 and out["hwh"].stat().st_size > 0
    assert os.path.basename(out["bit"]) == "digits8.bit" and out["manifest"].is_file()
