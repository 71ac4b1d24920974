"""docs/guide.md's "Your own generator" commands run as written, in an empty folder, on the example generators that
`fpgagen examples` (its first line) writes: the guide cannot name a file nobody can make, or a command that fails."""

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from fpgagen.cli import main
from fpgagen.models.examples import FILES

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"


def section(title: str) -> str:
    text = GUIDE.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def commands(text: str) -> list[str]:
    """The command lines of the ```sh blocks of ``text``, comments stripped (shlex keeps a quoted #)."""
    lines = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                lines.append(shlex.join(words))
    return lines


def test_the_section_starts_with_the_examples_and_imports_only_what_they_write():
    lines = commands(section("Your own generator"))
    assert lines[0] == "fpgagen examples --out ."
    assert all(line.startswith("fpgagen ") for line in lines)
    named = set(re.findall(r"[\w.-]+\.(?:py|onnx|keras|safetensors|pt)\b", " ".join(lines)))
    assert named and named <= set(FILES)


@pytest.mark.slow(80)  # 64 s and 92 s cold on a shared 2-core machine
def test_your_own_generator_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for line in commands(section("Your own generator")):
        status = main(shlex.split(line)[1:])
        assert status == 0, f"{line}\n{capsys.readouterr().err}"
    for name in FILES:
        assert (tmp_path / name).stat().st_size > 0
    for folder in ("my_gan", "gen", "seed_dcgan", "vae"):
        assert (tmp_path / folder / "model.json").is_file()
    assert (tmp_path / "build" / "my_gan" / "quantized" / "model.json").is_file()
    assert np.load(tmp_path / "images.npy").shape == (64, 1, 32, 32)
    assert (tmp_path / "build" / "seed_dcgan" / "zcu102" / "manifest.json").is_file()


def test_the_figures_of_the_explore_and_rtl_twin_commands_are_counted():
    """The point count beside `fpgagen explore mnist28` is points()' and the test count beside `pytest sim/` is
    what pytest collects there."""
    import subprocess
    import sys

    from fpgagen.host.explore import points
    from fpgagen.models.presets import load_preset
    from fpgagen.models.quantize import generator_widths

    text = GUIDE.read_text()
    stated = re.search(r"explore mnist28 --board pynq-z2 +# (\d+) points \((\d+) --quick\)", text)
    full, quick = map(int, stated.groups())
    widths, _ = generator_widths(load_preset("mnist28"))
    assert (full, quick) == (len(points(widths, "pynq-z2")), len(points(widths, "pynq-z2", quick=True)))

    stated = int(re.search(r"pytest sim/ .*\((\d+) tests\)", text).group(1))
    sim = GUIDE.parents[1] / "sim"
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(sim)],
                          capture_output=True, text=True, cwd=GUIDE.parents[1])
    assert re.search(rf"^{stated} tests collected", done.stdout, re.M), done.stdout[-500:]


@pytest.mark.slow(10)
def test_the_dcgan28_plan_on_the_pynq_z2_is_the_one_convert_prints():
    from fpgagen.models.presets import load_preset
    from fpgagen.models.quantize import quantize
    from fpgagen.overlays.boards import placement_table

    stated = re.search(r"dcgan28 --board pynq-z2` prints\s+the plan \((.*?) streamed, ([\d,]+) MB/s of the PYNQ-Z2's "
                       r"([\d,]+); the rest in ROM; ([\d,]+)\s+cycles/image, ([\d,]+) images/s", GUIDE.read_text())
    layers, mb_s, ddr, cycles, rate = stated.groups()
    table = placement_table(quantize(load_preset("dcgan28"), board="pynq-z2"), "pynq-z2")
    assert f"DDR: {mb_s} MB/s of {ddr} MB/s" in table
    assert f"bound {cycles} cycles/image = {rate} images/s" in table
    streamed = re.findall(r"^  (\w+) +streamed", table, re.M)
    assert " and ".join(streamed) == layers


def test_examples_refuse_to_overwrite_a_file_of_theirs_unless_forced(tmp_path, capsys):
    (tmp_path / "my_gan.py").write_text("# mine\n")
    assert main(["examples", "--out", str(tmp_path)]) == 2
    assert "already holds my_gan.py" in capsys.readouterr().err
    assert (tmp_path / "my_gan.py").read_text() == "# mine\n" and not (tmp_path / "generator.onnx").exists()


def test_every_command_of_the_guide_parses_and_names_what_exists():
    """Every command line of every ```sh block of the guide, as written: an `fpgagen` command parses with the CLI's
    own parser (flags, choices, values), a bench script exists, a `python -c` snippet compiles and every name it
    imports exists, a `pytest` path exists. What needs Vivado, a board or hours is checked this far; the section
    "Your own generator" also runs (above)."""
    import ast
    import importlib

    from fpgagen.cli import build_parser

    root = GUIDE.parents[1]
    text = GUIDE.read_text()
    checked = 0
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # FPGAGEN_VIRTUAL_BOARD=1 ...
                words = words[1:]
            if not words:
                continue
            tool = Path(words[0]).name
            if tool == "fpgagen":
                try:
                    build_parser().parse_args(words[1:])
                except SystemExit:
                    pytest.fail(f"docs/guide.md: `{line.strip()}` does not parse")
            elif tool == "python" and words[1] == "-c":
                tree = ast.parse(words[2])
                for node in ast.walk(tree):
                    if isinstance(node, ast.ImportFrom):
                        module = importlib.import_module(node.module)
                        missing = [a.name for a in node.names if not hasattr(module, a.name)]
                        assert not missing, f"docs/guide.md: {node.module} has no {missing}"
            elif tool == "python":
                assert (root / words[1]).is_file(), f"docs/guide.md: {words[1]} does not exist"
            elif tool == "pytest":
                assert all((root / w).exists() for w in words[1:] if not w.startswith("-")), line
            checked += 1
    assert checked >= 30  # 39 lines when written: the blocks were found
