"""docs/results.md, section by section: each bench writes the section of what it has just measured.

A section is the text between ``<!-- begin: NAME -->`` and ``<!-- end: NAME -->`` in docs/results.md. A bench
replaces its own sections and nothing else, so the page's hand-written intro and the other benches' sections
stay as they are. :func:`write_section` heads each section with the command that reproduces it and the date and
machine it was measured on; the tables under it are rendered (:func:`markdown_table`) from the bench's own results,
never typed. A section not in the page yet goes after the last section of the same bench (``NAME`` up to its first
``/``), else at the end.

A bench writes a section only for a measurement that succeeded: one that fails leaves its section as it was
(with the date it was last measured) and the bench exits non-zero.

Usage in a bench::

    from results_doc import command, machine, markdown_table, write_section

    measured = machine()                                   # at the start: date, cores, load
    ...
    write_section("golden_vs_csim", "Golden model against hls4ml's C simulation", command(), measured,
                  markdown_table(["preset", "csim s", "golden s"], rows, align="lrr"))
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS_MD = REPO / "docs" / "results.md"


def exit_status(failed: dict[str, str], note: str = " (nothing written for it)") -> int:
    """Print every failed measurement and why (standard error); the bench's exit status: 1 when any failed."""
    for what, why in failed.items():
        print(f"FAILED {what}: {why}{note}", file=sys.stderr)
    return 1 if failed else 0


def machine() -> dict:
    """Where and when a measurement runs: UTC date, CPU cores, architecture, CPU model, 1-minute load average."""
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"date": datetime.datetime.now(datetime.timezone.utc).date().isoformat(), "cores": os.cpu_count(),
            "machine": platform.machine(), "cpu": model, "load_average": None if load is None else round(load, 1)}


def describe(measured: dict) -> str:
    """``measured`` (:func:`machine`) in words."""
    cpu = f", {measured['cpu']}" if measured.get("cpu") else ""
    load = (f", load average {measured['load_average']:g} at the start" if measured.get("load_average") is not None
            else "")
    return f"{measured['date']} on {measured['cores']} CPU cores ({measured['machine']}{cpu}{load})"


def command(argv: list[str] | None = None) -> str:
    """The command line that ran this bench, as a user types it from the repository root."""
    argv = sys.argv if argv is None else argv
    script = Path(argv[0]).resolve()
    try:
        script = script.relative_to(REPO)
    except ValueError:
        pass
    return shlex.join([".venv/bin/python", str(script), *argv[1:]])


def _cell(value) -> str:
    return str(value).replace("|", "\\|")


def markdown_table(header: list[str], rows: list[list], align: str | None = None) -> str:
    """A markdown table; ``align`` has one letter per column, ``l`` or ``r`` (default: first left, rest right)."""
    align = align or "l" + "r" * (len(header) - 1)
    if len(align) != len(header) or any(len(row) != len(header) for row in rows):
        raise ValueError(f"a table of {len(header)} columns got align {align!r} and rows of "
                         f"{sorted({len(row) for row in rows})} cells")
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = [header, rule, *rows]
    return "\n".join("| " + " | ".join(_cell(c) for c in line) + " |" for line in lines)


def _markers(name: str) -> tuple[str, str]:
    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)*", name):
        raise ValueError(f"section names are words, dots, dashes and slashes: {name!r}")
    return f"<!-- begin: {name} -->", f"<!-- end: {name} -->"


def render_section(name: str, title: str, reproduce: str, measured: dict | str, body: str) -> str:
    """The section's text, markers included: a heading, the command and where it was measured, the body."""
    begin, end = _markers(name)
    when = measured if isinstance(measured, str) else f"Measured {describe(measured)}."
    return f"{begin}\n### {title}\n\n`{reproduce}`\n\n{when}\n\n{body.strip()}\n{end}"


def replace_section(text: str, name: str, section: str) -> str:
    """``text`` with section ``name`` replaced by ``section`` (inserted as the module docstring says if absent)."""
    begin, end = _markers(name)
    found = re.search(re.escape(begin) + r".*?" + re.escape(end), text, re.S)
    if found:
        return text[:found.start()] + section + text[found.end():]
    bench = name.split("/")[0]
    ends = [m.end() for m in re.finditer(r"<!-- end: " + re.escape(bench) + r"(/[\w./-]+)? -->", text)]
    if ends:
        return text[:ends[-1]] + "\n\n" + section + text[ends[-1]:]
    return text.rstrip("\n") + "\n\n" + section + "\n"


def write_section(name: str, title: str, reproduce: str, measured: dict | str, body: str,
                  path: Path | None = None) -> Path:
    """Replace section ``name`` of ``path`` (docs/results.md) with ``title``, the command ``reproduce``, where it was
    ``measured`` (:func:`machine`, or a sentence) and ``body``. Written under a temporary name, then renamed."""
    path = RESULTS_MD if path is None else Path(path)
    text = path.read_text() if path.exists() else "# Measured results\n"
    new = replace_section(text, name, render_section(name, title, reproduce, measured, body))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new)
    tmp.replace(path)
    print(f"wrote section {name} of {path}", flush=True)
    return path
