"""core/cache: the cache root's precedence and when a cache entry counts as complete."""

import json
from pathlib import Path

import pytest

from fpgagen.core.cache import CacheEntry, cache_dir, cache_root, file_digest, write_atomic


def test_cache_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FPGAGEN_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_root() == tmp_path / "home" / ".cache" / "fpgagen"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "fpgagen"
    monkeypatch.setenv("FPGAGEN_CACHE", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    assert cache_dir("csim") == tmp_path / "mine" / "csim"
    assert not (tmp_path / "mine").exists()  # asking creates nothing


def make_entry(tmp_path: Path) -> CacheEntry:
    entry = CacheEntry(tmp_path / "kind" / "k1", "record.json")
    with entry.lock():
        entry.clear()
        (entry.folder / "lib.so").write_bytes(b"\x7fELF" + bytes(100))
        (entry.folder / "sub").mkdir()
        (entry.folder / "sub" / "w.mem").write_text("01\n02\n")
        entry.commit("k1", ["lib.so", Path("sub") / "w.mem"], top="top_a", cycles=7)
    return entry


def test_commit_then_check(tmp_path):
    entry = make_entry(tmp_path)
    record = entry.check("k1", {"top": str, "cycles": int})
    assert record["top"] == "top_a" and record["files"]["sub/w.mem"] == file_digest(entry.folder / "sub" / "w.mem")
    assert (tmp_path / "kind" / "k1.lock").is_file()  # the lock lives beside the folder, so clear() may remove it
    assert sorted(p.name for p in entry.folder.iterdir()) == ["lib.so", "record.json", "sub"]  # no temporary left


@pytest.mark.parametrize("damage", ["truncated library", "changed memory file", "missing file", "record not JSON",
                                    "record empty", "record a list", "other key", "field missing", "field type",
                                    "no files"])
def test_damaged_entry_fails_its_check(tmp_path, damage):
    entry = make_entry(tmp_path)
    record = json.loads(entry.record_path.read_text())
    lib = entry.folder / "lib.so"
    if damage == "truncated library":
        lib.write_bytes(lib.read_bytes()[:50])
    elif damage == "changed memory file":
        (entry.folder / "sub" / "w.mem").write_text("01\n03\n")
    elif damage == "missing file":
        lib.unlink()
    elif damage == "record not JSON":
        entry.record_path.write_text(entry.record_path.read_text()[:40])
    elif damage == "record empty":
        entry.record_path.write_text("")
    elif damage == "record a list":
        entry.record_path.write_text("[]")
    elif damage == "other key":
        entry.record_path.write_text(json.dumps({**record, "key": "k2"}))
    elif damage == "field missing":
        entry.record_path.write_text(json.dumps({k: v for k, v in record.items() if k != "top"}))
    elif damage == "field type":
        entry.record_path.write_text(json.dumps({**record, "cycles": "7"}))
    elif damage == "no files":
        entry.record_path.write_text(json.dumps({**record, "files": {}}))
    assert entry.check("k1", {"top": str, "cycles": int}) is None


def test_clear_empties_the_folder(tmp_path):
    entry = make_entry(tmp_path)
    entry.clear()
    assert entry.folder.is_dir() and not any(entry.folder.iterdir())
    assert entry.check("k1") is None


def test_write_atomic_replaces_whole_files(tmp_path):
    path = tmp_path / "a.json"
    write_atomic(path, "first")
    write_atomic(path, "second")
    assert path.read_text() == "second" and [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_replacing_leaves_the_old_file_or_the_new_one_never_half(tmp_path):
    from fpgagen.core.cache import replacing

    target = tmp_path / "out" / "images.npy"
    with replacing(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".npy" and tmp != target
        tmp.write_bytes(b"old")
    assert target.read_bytes() == b"old"
    with pytest.raises(RuntimeError, match="killed"), replacing(target) as tmp:
        tmp.write_bytes(b"half of the new")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old" and sorted(p.name for p in target.parent.iterdir()) == ["images.npy"]
