"""The Verilator build cache of the RTL twin (rtl/rtlsim): builds go under the cache root, and an entry is used only
when its record and hashes check out -- a truncated library or a damaged build.json is built again, the library
being checked before ctypes loads it. A small random model keeps each build at a few seconds (less with ccache)."""

import json
import shutil

import numpy as np
import pytest

from fpgagen.core import golden
from fpgagen.core.cache import file_digest
from fpgagen.core.random_model import random_model
from fpgagen.host.virtual_board import Beats
from fpgagen.host.virtual_board.rtlsim_backend import RtlBackend
from fpgagen.rtl import rtlsim

_missing = rtlsim.missing_tools()
pytestmark = pytest.mark.skipif(bool(_missing), reason=f"rtlsim build needs {', '.join(_missing)}")


@pytest.fixture(scope="module")
def model():
    return random_model(0)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """FPGAGEN_CACHE pointing at a fresh folder."""
    monkeypatch.setenv("FPGAGEN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def built_cache(model, tmp_path_factory):
    """A cache root holding ``model``'s build, made once for the module: a case copies it rather than building."""
    root = tmp_path_factory.mktemp("built") / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FPGAGEN_CACHE", str(root))
        assert rtlsim.build(model).built
    return root


def assert_runs_bit_exact(model, n=3):
    """The library of the cache entry, loaded and driven: n images equal golden."""
    backend = RtlBackend(model)
    try:
        z = np.random.default_rng(1).standard_normal((n, model.latent_dim)).astype(np.float32)
        last = np.zeros(z.size, bool)
        last[model.latent_dim - 1 :: model.latent_dim] = True
        assert backend.consume(Beats.from_floats(z.reshape(-1), last)) == z.size
        out = [backend.produce(backend.out_buffer) for _ in range(n)]  # one image each: produce stops at TLAST
        want = golden.generate(model, z.astype(np.float64)).transpose(0, 2, 3, 1).reshape(-1)
        assert np.array_equal(np.concatenate([beats.data for beats in out]), want.view(np.uint32))
    finally:
        backend.close()


def test_builds_go_under_fpgagen_cache(model, cache):
    first = rtlsim.build(model)
    assert first.built and first.folder == cache / "rtlsim" / first.key == rtlsim.build_root() / first.key
    record = json.loads((first.folder / "build.json").read_text())
    assert record["key"] == first.key and record["top"] == first.top
    assert record["files"]["libfgsim.so"] == file_digest(first.library)
    assert any(name.startswith("rtl/") for name in record["files"])  # the $readmemh files the library reads
    again = rtlsim.build(model)
    assert not again.built and again.library == first.library and again.bound_cycles == first.bound_cycles


def test_truncated_library_is_rebuilt(model, cache):
    library = rtlsim.build(model).library
    whole = library.read_bytes()
    library.write_bytes(whole[: len(whole) // 2])  # an interrupted copy; loading it could SIGBUS the interpreter
    rebuilt = rtlsim.build(model)
    assert rebuilt.built and rebuilt.library == library and library.stat().st_size > len(whole) // 2
    assert json.loads((library.parent / "build.json").read_text())["files"]["libfgsim.so"] == file_digest(library)
    assert_runs_bit_exact(model)


@pytest.mark.parametrize("damage", ["truncated", "empty object", "no top", "library hash", "missing"])
def test_damaged_build_json_is_rebuilt(model, cache, built_cache, damage):
    shutil.copytree(built_cache, cache)  # a good entry (one build for every case), then damaged
    first = rtlsim.build(model)
    assert not first.built
    record_path = first.folder / "build.json"
    record = json.loads(record_path.read_text())
    if damage == "truncated":
        record_path.write_text(record_path.read_text()[:30])  # today: "KeyError: 'top'" or a JSONDecodeError
    elif damage == "empty object":
        record_path.write_text("{}")
    elif damage == "no top":
        record_path.write_text(json.dumps({k: v for k, v in record.items() if k != "top"}))
    elif damage == "library hash":
        record_path.write_text(json.dumps({**record, "files": {**record["files"], "libfgsim.so": "0" * 64}}))
    elif damage == "missing":  # the build was killed before its record was written
        record_path.unlink()
    rebuilt = rtlsim.build(model)
    assert rebuilt.built and rebuilt.top == first.top and rebuilt.bound_cycles == first.bound_cycles
    assert json.loads(record_path.read_text()) == {**record, "files": json.loads(record_path.read_text())["files"]}
    assert not rtlsim.build(model).built
    assert_runs_bit_exact(model)
