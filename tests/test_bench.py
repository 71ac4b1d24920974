"""The benches' docs/results.md writer, and benches failing loudly: a failed measurement writes nothing and the
bench exits non-zero."""

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))  # the benches are scripts that import results_doc from their own folder

import results_doc  # noqa: E402

DOC = """# Measured results

## A bench

<!-- begin: a -->
old a
<!-- end: a -->

## B bench

<!-- begin: b/one -->
old b/one
<!-- end: b/one -->

## Last
"""
MEASURED = {"date": "2026-11-29", "cores": 2, "machine": "x86_64", "cpu": "", "load_average": 1.5}


def test_replace_section_keeps_everything_else():
    new = results_doc.replace_section(DOC, "a", "<!-- begin: a -->\nnew a\n<!-- end: a -->")
    assert new == DOC.replace("old a", "new a")


def test_new_section_goes_after_its_bench_else_at_the_end():
    section = results_doc.render_section("b/two", "Two", "cmd", MEASURED, "body")
    new = results_doc.replace_section(DOC, "b/two", section)
    assert new.index("<!-- end: b/one -->") < new.index("<!-- begin: b/two -->") < new.index("## Last")
    new = results_doc.replace_section(DOC, "c", results_doc.render_section("c", "C", "cmd", MEASURED, "body"))
    assert new.rstrip().endswith("<!-- end: c -->")


def test_section_heads_with_command_and_machine(tmp_path):
    path = tmp_path / "results.md"
    path.write_text(DOC)
    results_doc.write_section("a", "Title", ".venv/bin/python bench/x.py --n 3", MEASURED, "the table", path=path)
    text = path.read_text()
    assert "### Title\n\n`.venv/bin/python bench/x.py --n 3`\n\nMeasured 2026-11-29 on 2 CPU cores" in text
    assert "load average 1.5" in text and "old a" not in text and "old b/one" in text
    assert not list(tmp_path.glob("*.tmp"))


def test_markdown_table():
    assert results_doc.markdown_table(["a", "b"], [["x|y", 1]]) == "| a | b |\n| --- | ---: |\n| x\\|y | 1 |"
    with pytest.raises(ValueError):
        results_doc.markdown_table(["a", "b"], [["x"]])


def test_command_is_relative_to_the_repository():
    assert results_doc.command([str(BENCH / "x.py"), "--n", "3"]) == ".venv/bin/python bench/x.py --n 3"


def test_bad_section_name():
    with pytest.raises(ValueError):
        results_doc.render_section("a b", "t", "c", MEASURED, "")


@pytest.fixture
def doc(tmp_path, monkeypatch):
    """docs/results.md redirected to a copy, to see what a bench writes."""
    path = tmp_path / "results.md"
    path.write_text(DOC)
    monkeypatch.setattr(results_doc, "RESULTS_MD", path)
    return path


def test_golden_vs_csim_fails_loudly(doc, tmp_path, monkeypatch):
    import golden_vs_csim

    monkeypatch.setattr(golden_vs_csim, "RESULTS", tmp_path / "golden_vs_csim.json")
    assert golden_vs_csim.main(["no-such-preset"]) == 1
    assert doc.read_text() == DOC and not (tmp_path / "golden_vs_csim.json").exists()


def test_compare_targets_fails_when_a_required_target_does_not_run(doc, tmp_path, monkeypatch, capsys):
    import compare_targets

    monkeypatch.setattr(compare_targets, "OUT", tmp_path / "compare")
    small = ["--batches", "1", "--repeats", "1", "--n-quality", "8"]
    assert compare_targets.main(["digits8", "--targets", "numpy", "golden", "board", "--may-skip", *small]) == 1
    assert "board did not run" in capsys.readouterr().err
    assert doc.read_text() == DOC and not (tmp_path / "compare").exists()

    assert compare_targets.main(["digits8", "--targets", "numpy", "golden", "board", *small]) == 0
    text = doc.read_text()
    assert "<!-- begin: compare_targets/digits8 -->\n### digits8 on the CPU" in text
    assert "`.venv/bin/python bench/compare_targets.py digits8 --batches 1 --repeats 1 --targets numpy golden " \
           "board --n-quality 8`" in text
    assert "| golden | CPU fixed point |" in text and "- board: no PYNQ board found" in text
    data = json.loads((tmp_path / "compare" / "digits8" / "compare.json").read_text())
    assert data["schema"] == "fpgagen.compare/2" and list(data["targets"]) == ["torch", "numpy", "golden", "board"]


def test_multiplier_costs_differences_and_fails_loudly(doc, tmp_path, monkeypatch):
    """bench/multiplier_costs: per multiplier, (LUT-multiplier stage - all-DSP stage) / 8 and per packed DSP
    (packed stage - all-DSP stage) / 4; a stage with the wrong DSP count writes neither the table nor the section."""
    import multiplier_costs

    def fake_stage(module, params, family, resynth=False):
        dsps = 0 if params.get("LUT_OUTS") else 4 if params.get("PACK") else 8
        luts = 100 + 80 * params["W_W"] * bool(params.get("LUT_OUTS")) + 12 * bool(params.get("PACK"))
        return {"LUT": luts, "DSP48E1": dsps, "DSP48E2": dsps, "unmapped": 0}

    out = tmp_path / "costs.json"
    monkeypatch.setattr(multiplier_costs, "COSTS_FILE", out)
    monkeypatch.setattr(multiplier_costs, "native_yosys", lambda: "yosys")
    monkeypatch.setattr(multiplier_costs, "synthesize_stage", lambda *a, **k: {**fake_stage(*a, **k), "DSP48E1": 8})
    grid = ["--families", "xc7", "--x-widths", "9", "12", "--w-widths", "4", "7"]
    assert multiplier_costs.main(grid) == 1
    assert doc.read_text() == DOC and not out.exists()

    monkeypatch.setattr(multiplier_costs, "synthesize_stage", fake_stage)
    assert multiplier_costs.main(grid) == 0
    entry = json.loads(out.read_text())["families"]["xc7"]
    assert entry["lut_multiplier_luts"] == [[40.0, 70.0], [40.0, 70.0]]
    assert entry["packed_pair_extra_luts"] == [[3.0, 3.0], [3.0, None]]  # 12 + 2 * 7 + 1 = 27 bits > 25
    assert "<!-- begin: multiplier_costs -->" in doc.read_text()
