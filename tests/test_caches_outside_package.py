"""Nothing is written inside the installed package: with FPGAGEN_CACHE set, an rtlsim build, a C-simulation build
and a testbench build folder all land under it, and the package's files are exactly as before.

The model is a small random one with biases drawn afresh on every run, so both builds really happen (a cache an
earlier run left inside the package would otherwise hide the write)."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import fpgagen
from fpgagen.core import golden
from fpgagen.core.random_model import random_model
from fpgagen.rtl import rtlsim

PACKAGE = Path(fpgagen.__file__).resolve().parent
NOT_OURS = {".venv", ".git", ".pytest_cache", ".ruff_cache", "__pycache__"}  # tools' and Python's own files


def listing(root: Path) -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime) of every file under ``root``, outside NOT_OURS."""
    files = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in NOT_OURS and not d.endswith(".egg-info")]
        for name in names:
            st = os.stat(os.path.join(folder, name))
            files[os.path.relpath(os.path.join(folder, name), root)] = (st.st_size, st.st_mtime_ns)
    return files


def fresh_model():
    model = random_model(2)
    layer = next(lr for lr in model.layers if lr.bias is not None)
    rng = np.random.default_rng()
    layer.bias = rng.integers(layer.bias_t.min_code, layer.bias_t.max_code + 1, size=layer.bias.shape)
    model.validate()
    return model


@pytest.mark.skipif(bool(rtlsim.missing_tools()) or shutil.which("g++") is None,
                    reason="needs the Verilator build tools and g++")
@pytest.mark.slow(11)
def test_builds_write_nothing_inside_the_package(tmp_path, monkeypatch):
    from fpgagen.hls.csim import CSimExecutor
    from fpgagen.host.virtual_board.rtlsim_backend import RtlBackend
    from fpgagen.sim import runner

    cache = tmp_path / "cache"
    monkeypatch.setenv("FPGAGEN_CACHE", str(cache))
    model = fresh_model()
    z = np.random.default_rng(0).standard_normal((2, model.latent_dim))
    before = listing(PACKAGE)

    backend = RtlBackend(model)
    backend.close()
    csim = CSimExecutor(model).prepare()
    assert np.array_equal(csim.run(z), golden.generate(model, z))
    case = runner.build_dir("case", "fg_dense", {"N_IN": 4})

    after = listing(PACKAGE)
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    assert not changed, f"written inside the package {PACKAGE}: {changed[:10]}"
    assert backend.build.built and backend.build.folder.is_relative_to(cache / "rtlsim")
    assert csim.compiled and csim.project_dir.is_relative_to(cache / "csim")
    assert case.is_relative_to(cache / "sim_build")
