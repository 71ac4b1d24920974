"""Kernel backends by name: what a virtual bitstream's ``"backend"`` (or ``VirtualBoard(backend=...)``) refers to.

``golden`` (:class:`~fpgagen.host.virtual_board.kernel.GoldenBackend`) is registered here; ``rtlsim`` (the Verilator
build of the RTL twin, :mod:`fpgagen.host.virtual_board.rtlsim_backend`) is imported and registered the first time
it is asked for, so that the board-side virtual board never loads the workstation's RTL tooling. The backends'
modules import only :mod:`~fpgagen.host.virtual_board.kernel`, never this module: the registry imports them, not
the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fpgagen.core.quantized_model import QuantizedModel
from fpgagen.host.virtual_board.kernel import GoldenBackend, KernelBackend

BackendFactory = Callable[[QuantizedModel, Path, dict], KernelBackend]
BACKENDS: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make ``factory(model: QuantizedModel, overlay_dir: Path, options: dict) -> KernelBackend`` available to
    virtual bitstreams under ``name``."""
    BACKENDS[name] = factory


def _register_rtlsim() -> None:
    from fpgagen.host.virtual_board.rtlsim_backend import factory

    register_backend("rtlsim", factory)


# backends whose modules have heavier imports: registered when first asked for
LAZY_BACKENDS: dict[str, Callable[[], None]] = {"rtlsim": _register_rtlsim}


def backend_factory(name: str) -> BackendFactory | None:
    """The factory registered as ``name`` (registering a lazy backend first), or None."""
    if name not in BACKENDS and name in LAZY_BACKENDS:
        LAZY_BACKENDS[name]()
    return BACKENDS.get(name)


register_backend("golden", lambda model, overlay_dir, options: GoldenBackend(model))
