"""Registering an fpgagen layer with hls4ml 1.3.0 through its extension API, the way hls4ml's own
``test/pytest/test_extensions.py`` adds one: a PyTorch converter handler, an IR layer, Vivado templates and a C++
kernel copied into every project. Used by :mod:`fpgagen.hls.hls4ml_conv_transpose` and
:mod:`fpgagen.hls.hls4ml_weight_ports`."""

from __future__ import annotations

from pathlib import Path

import hls4ml
from hls4ml.converters.pytorch_to_hls import get_supported_pytorch_layers, register_pytorch_layer_handler
from hls4ml.model.layers import layer_map, register_layer
from hls4ml.model.optimizer import get_optimizer

BACKENDS = ("Vivado", "VivadoAccelerator")  # VivadoAccelerator runs Vivado's flows (templates) but writes its own
#                                             project, so it needs the source registered too


def _registered(name: str) -> bool:
    try:
        get_optimizer(name)
    except Exception:  # hls4ml raises a bare Exception for unknown passes
        return False
    return True


def register_extension(torch_class: str, handler, layer_name: str, layer_class, templates,
                       headers: Path | tuple[Path, ...]) -> None:
    """Register ``handler`` for torch modules of ``torch_class``, ``layer_class`` as hls4ml layer ``layer_name``,
    the Vivado ``templates`` and the kernel sources ``headers`` (one path or several) for :data:`BACKENDS`
    (idempotent)."""
    if torch_class not in get_supported_pytorch_layers():
        register_pytorch_layer_handler(torch_class, handler)
    if layer_map.get(layer_name) is not layer_class:
        register_layer(layer_name, layer_class)
    vivado = hls4ml.backends.get_backend("Vivado")
    for template in templates:
        if not _registered(f"vivado:{template().get_name()}"):
            vivado.register_template(template)
    for backend in BACKENDS:
        for header in (headers,) if isinstance(headers, Path) else headers:
            hls4ml.backends.get_backend(backend).register_source(header)
