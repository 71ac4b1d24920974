"""Where fpgagen keeps its build caches, and when a cache entry is trusted (standard library only).

Nothing is written inside the installed package: every build cache -- the Verilator builds of the RTL twin
(``rtlsim/``), hls4ml's compiled C simulations (``csim/``), the cocotb testbench builds (``sim_build/``) -- lives
under one root, :func:`cache_root`: ``$FPGAGEN_CACHE`` when set, else ``$XDG_CACHE_HOME/fpgagen``, else
``~/.cache/fpgagen``. Entries are keyed by a hash of their content, so several checkouts and processes share them.

A :class:`CacheEntry` is a folder ``<kind>/<key>/`` plus a completion record (a JSON file in it) written last,
under a temporary name and renamed into place, that lists the sha256 of the files the entry is used through. An
entry is used only when its record parses, names its key and every file still has its recorded hash; otherwise it
is cleared and built again (a truncated shared library is caught before it is loaded). Builds hold the entry's lock
(``<key>.lock`` beside the folder, ``fcntl``), so one process builds while the others wait and then reuse it.

Entries are built in place rather than in a temporary folder renamed at the end: the libraries in them name files
of their own folder by absolute path (the ``$readmemh`` files of the RTL twin, hls4ml's weight files), which a
rename would break. The record, written last, is what makes an entry complete.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "FPGAGEN_CACHE"


def cache_root() -> Path:
    """The root of all build caches: ``$FPGAGEN_CACHE``, else ``$XDG_CACHE_HOME/fpgagen``, else
    ``~/.cache/fpgagen`` (read on every call, not created)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "fpgagen"


def cache_dir(kind: str) -> Path:
    """``<cache root>/<kind>``, the folder of one kind of entry (``rtlsim``, ``csim``, ``sim_build``); not created."""
    return cache_root() / kind


def file_digest(path: Path) -> str:
    """sha256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``path`` (created, with its folder), across threads and processes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def check_output_path(path: Path, folder: bool = False, option: str = "--out") -> Path:
    """``path`` when an output can be written there, checked before any work by doing it: not a file where a folder
    goes or the reverse, no parent that is a file, and the folder (created for the check where missing) takes a new
    file; ValueError or PermissionError naming ``option`` and the user's path otherwise. What the check created is
    removed again. Outputs are then written whole or not at all (:func:`replacing`)."""
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file; a folder is written there")
    if not folder and path.is_dir():
        raise ValueError(f"{option} {path} is a folder; a file is written there")
    target = path if folder else path.parent
    existing = next(p for p in (target, *target.parents) if p.exists() or p == Path(p.anchor))
    if existing.exists() and not existing.is_dir():
        raise ValueError(f"{option} {path}: {existing} is a file, not a folder")
    created = []
    try:
        for folder_ in reversed([target, *target.parents][: len(target.parts) - len(existing.parts)]):
            folder_.mkdir()
            created.append(folder_)
        fd, probe = tempfile.mkstemp(prefix=".fpgagen-probe.", dir=target)
        os.close(fd)
        os.unlink(probe)
    except PermissionError as e:
        raise PermissionError(f"{option} {path}: {existing} is not writable by this user ({e.strerror})") from None
    except OSError as e:
        raise ValueError(f"{option} {path}: cannot write there ({e.strerror})") from None
    finally:
        for folder_ in reversed(created):
            with suppress(OSError):
                folder_.rmdir()
    return path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary file path beside ``path`` (same suffix, so writers that go by it keep working) for the block to
    write; on success it is flushed to disk and renamed to ``path``, on any error removed. A run killed mid-write
    leaves the old file or none, never half of one. The parent folder is created."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as e:  # named by the path asked for, not the temporary file
        raise type(e)(e.errno, f"cannot write {path}: {e.strerror}") from None
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the output is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`replacing`."""
    with replacing(path) as tmp:
        tmp.write_text(text)


class CacheEntry:
    """A cache folder that is trusted only when its completion record checks out.

    Typical use, by a builder::

        entry = CacheEntry(cache_dir("rtlsim") / key, "build.json")
        with entry.lock():
            record = entry.check(key, {"top": str})
            if record is None:
                entry.clear()
                ...  # build into entry.folder
                record = entry.commit(key, ["libfgsim.so"], top=top)

    Args:
        folder: the entry's folder (its name is usually the key).
        record: file name of the completion record inside ``folder``.
    """

    def __init__(self, folder: Path, record: str):
        self.folder = Path(folder)
        self.record_path = self.folder / record

    def lock(self):
        """Context manager: the entry's lock (``<folder>.lock`` beside it), held while checking and building."""
        return locked(self.folder.with_name(self.folder.name + ".lock"))

    def check(self, key: str, fields: Mapping[str, type | tuple[type, ...]] | None = None) -> dict | None:
        """The completion record if the entry is complete, else None.

        Complete: the record is a JSON object whose ``key`` is ``key``, which has every field of ``fields`` with a
        value of the given type, and whose ``files`` (path relative to the folder -> sha256) is non-empty and
        matches every file's bytes now.
        """
        try:
            record = json.loads(self.record_path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("key") != key:
            return None
        for name, kind in (fields or {}).items():
            if not isinstance(record.get(name), kind):
                return None
        files = record.get("files")
        if not isinstance(files, dict) or not files:
            return None
        for rel, digest in files.items():
            path = self.folder / rel
            try:
                if not path.is_file() or file_digest(path) != digest:
                    return None
            except OSError:
                return None
        return record

    def clear(self) -> None:
        """Remove whatever the folder holds (an incomplete or damaged entry) and create it empty."""
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)

    def commit(self, key: str, files: Iterable[str | Path], **fields) -> dict:
        """Record the entry as complete: hash ``files`` (relative to the folder), write the record with ``key``
        and ``fields`` atomically (:func:`write_atomic`); returns the record."""
        digests = {Path(rel).as_posix(): file_digest(self.folder / rel) for rel in files}
        if not digests:
            raise ValueError("a cache entry records at least one file")
        record = {"key": key, **fields, "files": digests}
        write_atomic(self.record_path, json.dumps(record, indent=1) + "\n")
        return record


# ------------------------------------------------------------------------------------------- seeing and clearing
KINDS = {"csim": "hls4ml C simulations (compiled kernels)", "rtlsim": "Verilator builds of RTL twins",
         "sim_build": "Verilator builds of the cocotb tests' modules", "synth": "yosys syntheses, stage by stage",
         "widths": "width-rule choices of imported models"}


@dataclass(frozen=True)
class CacheItem:
    """One entry of the cache: its kind, path, bytes, last change (seconds since the epoch) and what it is."""

    kind: str
    path: Path
    nbytes: int
    mtime: float
    what: str


def _size(path: Path) -> tuple[int, float]:
    """Bytes under ``path`` and the newest change in it."""
    if path.is_file():
        st = path.stat()
        return st.st_size, st.st_mtime
    total, newest = 0, path.stat().st_mtime
    for p in path.rglob("*"):
        with suppress(OSError):  # a file a builder removes meanwhile
            st = p.lstat()
            total += st.st_size if p.is_file() else 0
            newest = max(newest, st.st_mtime)
    return total, newest


def _what(path: Path) -> str:
    """What an entry holds, from its completion record where it has one."""
    records = [path] if path.is_file() else sorted(path.glob("*.json"))
    for record in records:
        try:
            doc = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict):
            name = doc.get("preset") or doc.get("top") or doc.get("stage") or doc.get("module")
            if name:
                return str(name)
            if "source" in doc:
                return str(doc["source"])[:80]
    return path.name


def cache_items(kinds: Iterable[str] | None = None) -> list[CacheItem]:
    """Every entry under :func:`cache_root` of ``kinds`` (default: all of :data:`KINDS`), largest first. Lock files
    are not entries."""
    items = []
    for kind in kinds or KINDS:
        folder = cache_dir(kind)
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.suffix == ".lock":
                continue
            with suppress(OSError):
                nbytes, mtime = _size(path)
                items.append(CacheItem(kind, path, nbytes, mtime, _what(path)))
    return sorted(items, key=lambda i: -i.nbytes)


def remove_item(item: CacheItem) -> bool:
    """Remove ``item`` unless another process holds its lock (it is being built or read): True if removed. The lock
    is taken without waiting and held while the entry goes, so a builder never sees half an entry."""
    lock = item.path.with_name(item.path.name + ".lock")
    with open(lock, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        try:
            if item.path.is_dir():
                shutil.rmtree(item.path)
            else:
                item.path.unlink(missing_ok=True)
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    return True
