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


def test_the_guide_documents_every_config_key_and_its_example_loads(tmp_path):
    """docs/guide.md's `--config` table names every QuantConfig field and every per-layer override, and its
    example is a config QuantConfig.from_file accepts."""
    import dataclasses
    import json

    from fpgagen.core.quantize import OVERRIDABLE, QuantConfig

    guide = (README.parent / "docs" / "guide.md").read_text()
    section = guide[guide.index("### The `--config` file"):guide.index("### Exploring precision")]
    keys = set(re.findall(r"^\| `(\w+)` \|", section, re.M))
    assert keys == {f.name for f in dataclasses.fields(QuantConfig)}
    assert all(f"`{name}`" in section for name in OVERRIDABLE)
    (example,) = re.findall(r"^```json\n(.*?)^```", section, re.S | re.M)
    (tmp_path / "c.json").write_text(example)
    assert QuantConfig.from_file(tmp_path / "c.json") == QuantConfig(**json.loads(example))
