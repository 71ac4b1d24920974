"""Fixtures shared by tests/, and two settings for parallel runs (``make test`` runs one pytest-xdist worker per
core; the hooks here see the items under sim/ too):

- compute threads: each worker gets ``cores // workers`` torch and BLAS threads. OpenMP threads beyond the free
  cores spin against each other: the GAN training smoke test took 44 s with two torch threads beside other work,
  9 s with one.
- longest first: items marked ``slow(seconds)`` move to the front, longest first, the rest keep their order. With
  ``--dist loadgroup --no-loadscope-reorder`` (the Makefile's) xdist hands the items out in this order, so the
  long ones start early and the workers finish together. The members of an ``xdist_group`` run on one worker
  and move as one item, with their seconds added up.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from fpgagen.models.checkpoint import default_checkpoint
from fpgagen.models.presets import PRESETS


def pytest_configure(config):
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        threads = max(1, cores // workers)
        import torch

        torch.set_num_threads(threads)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return
        threadpool_limits(threads, user_api="blas")


def _seconds(item) -> float:
    mark = item.get_closest_marker("slow")
    return float(mark.args[0]) if mark is not None else 0.0


def _unit(item) -> str:
    mark = item.get_closest_marker("xdist_group")
    return f"@{mark.args[0]}" if mark is not None else item.nodeid


def pytest_collection_modifyitems(config, items):
    units: dict[str, list] = {}
    for item in items:
        units.setdefault(_unit(item), []).append(item)
    ordered = sorted(units.values(), key=lambda unit: -sum(map(_seconds, unit)))  # stable: ties keep their order
    items[:] = [item for unit in ordered for item in unit]


def shipped(name: str) -> bool:
    return default_checkpoint(name).is_file()


@pytest.fixture(params=sorted(PRESETS))
def preset_name(request):
    return request.param


_BLOCKER = textwrap.dedent('''
    import sys

    BLOCKED = set(sys.argv[1].split(","))


    class NotInstalled:
        """A meta-path finder that makes the blocked packages fail to import, as where they are not installed."""

        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked: not installed here)", name=name)
            return None


    loaded = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
    assert not loaded, f"already imported before the block: {loaded}"
    sys.meta_path.insert(0, NotInstalled())
    del sys.argv[1]
''')


@pytest.fixture
def without():
    """``run(blocked, code, *argv, **kw)``: ``code`` in a fresh Python in which the packages ``blocked`` cannot be
    imported (``BLOCKED`` holds their names, ``sys.argv[1:]`` is ``argv``); the CompletedProcess, output captured."""

    def run(blocked, code: str, *argv, **kw):
        return subprocess.run([sys.executable, "-c", _BLOCKER + textwrap.dedent(code), ",".join(blocked), *argv],
                              capture_output=True, text=True, **kw)

    return run


@pytest.fixture
def equals_golden():
    """check(target, model, z): ``target`` ("csim" or "rtlsim") gives the golden model's images for latents ``z``, bit
    for bit (skipped where its tools are missing); the message names how many outputs differ and the first."""
    import shutil

    import numpy as np

    from fpgagen.core import golden
    from fpgagen.host.executors import get_executor

    def check(target: str, model, z) -> None:
        if target == "csim" and shutil.which("g++") is None:
            pytest.skip("csim needs g++ (hls4ml's C simulation compiles with it)")
        if target == "rtlsim":
            from fpgagen.rtl import rtlsim

            missing = rtlsim.missing_tools()
            if missing:
                pytest.skip(f"rtlsim needs {', '.join(missing)}")
        want = golden.generate(model, z)
        assert len(np.unique(want)) > 100, "degenerate test: the outputs hardly vary"
        executor = get_executor(target, model).prepare()
        try:
            got = executor.run(z)
        finally:
            executor.close()
        assert got.shape == want.shape and got.dtype == want.dtype == np.float32
        bad = np.argwhere(got != want)
        assert len(bad) == 0, f"{target}: {len(bad)} of {want.size} outputs differ from golden, first {tuple(bad[0])}"

    return check
