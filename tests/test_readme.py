"""The README's Python example runs as printed, and the README keeps the two commands CI and newcomers use."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), re.S | re.M)


def test_python_example_runs(tmp_path, monkeypatch, capsys):
    (block,) = python_blocks()
    monkeypatch.chdir(tmp_path)
    exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    assert "max |fixed - float|" in capsys.readouterr().out
    assert (tmp_path / "digits8-fixed.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_two_commands():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
