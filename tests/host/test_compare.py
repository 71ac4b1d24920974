"""The CPU-vs-FPGA comparison: its JSON schema, bit-exact fixed-point targets, projected time and skipped rows."""

import json

import pytest

from fpgagen.cli import main
from fpgagen.host.compare import CLOCK_HZ, SCHEMA, compare, format_table, projected

TARGETS = ["torch", "numpy", "golden", "csim", "rtlsim", "board"]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    return compare("digits8", targets=TARGETS, batches=(1, 4), repeats=1, n_quality=24, progress=False, out=out), out


def test_json_schema(result):
    r, out = result
    data = json.loads((out / "compare.json").read_text())
    assert data["schema"] == SCHEMA
    for key in ("preset", "dataset", "output_range", "latent_dim", "seed", "environment", "settings", "targets",
                "files"):
        assert key in data, key
    assert data["environment"]["torch_threads"] >= 1
    assert list(data["targets"]) == TARGETS
    for name in ("torch", "numpy", "golden", "csim"):
        row = data["targets"][name]
        assert {"description", "prepare_s", "latency", "throughput", "quality"} <= set(row), name
        assert [e["batch"] for e in row["throughput"]] == [1, 4]
        assert {"recognizability", "coverage", "frechet"} <= set(row["quality"])
        assert name == "torch" or {"max_abs_error", "mean_abs_error", "psnr_db"} <= set(row["accuracy"])
    for name in data["files"].values():
        assert (out / name).is_file(), name
    assert "golden" in format_table(r)


def test_skipped_board_says_why(result):
    assert "no PYNQ board found" in result[0]["targets"]["board"]["skipped"]


def test_fixed_point_targets_give_identical_images(result):
    r, _ = result
    ran = [t for t in ("csim", "rtlsim") if "skipped" not in r["targets"][t]]
    assert "csim" in ran
    for t in ran:
        acc = r["targets"][t]["accuracy"]
        assert acc["bit_exact_with_golden"] and acc["max_abs_diff_to_golden"] == 0.0, t
        assert acc["max_abs_error"] == r["targets"]["golden"]["accuracy"]["max_abs_error"]


def test_rtlsim_projected_time_is_cycles_at_100_mhz(result):
    row = result[0]["targets"]["rtlsim"]
    if "skipped" in row:
        pytest.skip(row["skipped"])
    assert row["limits"]["reason"]
    for e in row["throughput"]:
        p = e["projected"]
        assert p["cycles_per_image"] > 0 and p["clock_hz"] == CLOCK_HZ == 100e6
        assert p["s_per_image"] == p["cycles_per_image"] / 100e6


def test_projected():
    assert projected(1000)["s_per_image"] == 1000 / 100e6 and projected(1000)["images_per_s"] == pytest.approx(1e5)


def test_cuda_row_is_skipped_without_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    r = compare("digits8", targets=["cuda"], batches=(1,), repeats=1, n_quality=4, progress=False)
    assert "torch.cuda.is_available() is False" in r["targets"]["cuda"]["skipped"]


def test_cli_compare(capsys, tmp_path):
    argv = ["compare", "digits8", "--targets", "numpy", "golden", "--batches", "1", "2", "--repeats", "1",
            "--n-quality", "8", "--out", str(tmp_path)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "golden" in printed and "compare.json" in printed
    assert json.loads((tmp_path / "compare.json").read_text())["targets"]["golden"]["accuracy"]["n"] == 8


def test_torch_threads_are_set_stated_and_restored():
    import torch

    before = torch.get_num_threads()
    r = compare("digits8", targets=["torch"], batches=(1,), repeats=1, n_quality=4, progress=False, torch_threads=1)
    assert r["environment"]["torch_threads"] == 1 and torch.get_num_threads() == before


def test_slow_target_quality_is_skipped_with_the_reason():
    r = compare("digits8", targets=["golden"], batches=(1,), repeats=1, n_quality=40, progress=False,
                quality_budget_s=1e-9)
    row = r["targets"]["golden"]
    assert "would take" in row["quality"]["skipped"] and "budget" in row["quality"]["skipped"]
    assert row["accuracy"]["n"] == 40  # min(n_quality, 64): all 40 latents still checked against float
