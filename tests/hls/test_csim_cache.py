"""The compiled C-simulation cache (hls/csim): projects go under the cache root, and a project is used only when
its csim.json and the hashes of its library and weight files check out; anything else is built again. A small
random model and one cache folder for the module keep it to one compile per test (~10 s each); the ways a record
can be damaged are covered in tests/core/test_cache.py."""

import json
import os
import shutil

import numpy as np
import pytest

from fpgagen.core import golden
from fpgagen.core.cache import file_digest
from fpgagen.core.random_model import random_model
from fpgagen.hls.csim import STAMP_FILE, CSimExecutor

# one worker runs the module in order, on the module's cache folder: one compile per test (6 s each)
pytestmark = [pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ (hls4ml's C simulation)"),
              pytest.mark.xdist_group("csim_cache"), pytest.mark.slow(6)]


@pytest.fixture(scope="module")
def model():
    return random_model(1)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """FPGAGEN_CACHE pointing at a folder of this module's: each test leaves a complete project for the next."""
    root = tmp_path_factory.mktemp("csim") / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FPGAGEN_CACHE", str(root))
        yield root


def assert_bit_exact(ex, model):
    z = np.random.default_rng(2).standard_normal((5, model.latent_dim)) * 2
    assert np.array_equal(ex.run(z), golden.generate(model, z))


def test_projects_go_under_fpgagen_cache(model, cache):
    first = CSimExecutor(model).prepare()
    assert first.compiled and first.project_dir == cache / "csim" / first.key
    stamp = json.loads((first.project_dir / STAMP_FILE).read_text())
    assert stamp["key"] == first.key and stamp["files"][stamp["library"]] == file_digest(first.project_dir /
                                                                                          stamp["library"])
    assert any("/weights/" in name for name in stamp["files"])  # the library reads them at run time
    second = CSimExecutor(model).prepare()
    assert second.compiled is False
    assert_bit_exact(second, model)


@pytest.mark.parametrize("damage", ["truncated library", "weights changed", "stamp truncated"])
def test_damaged_project_is_rebuilt(model, cache, damage):
    first = CSimExecutor(model).prepare()  # the previous test left it complete
    stamp_path = first.project_dir / STAMP_FILE
    stamp = json.loads(stamp_path.read_text())
    if damage == "truncated library":
        # a new, shorter file: this process has the library mapped, and cutting that file in place would SIGBUS it
        lib = first.project_dir / stamp["library"]
        cut = lib.with_name(lib.name + ".cut")
        cut.write_bytes(lib.read_bytes()[:1000])
        os.replace(cut, lib)
    elif damage == "weights changed":
        weights = first.project_dir / next(name for name in stamp["files"] if "/weights/" in name)
        weights.write_text(weights.read_text()[:-3])
    elif damage == "stamp truncated":
        stamp_path.write_text(stamp_path.read_text()[:25])
    again = CSimExecutor(model).prepare()
    assert again.compiled is True and again.project_dir == first.project_dir
    assert CSimExecutor(model).prepare().compiled is False
    assert_bit_exact(again, model)
