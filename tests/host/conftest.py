import pytest
from pynq.pl_server.device import Device

from fpgagen.host import virtual_board as vb
from fpgagen.models.presets import load_preset
from fpgagen.models.quantize import quantize

_MODELS = {}


@pytest.fixture(scope="session")
def models():
    """QuantizedModels by preset, quantized once per session (mnist28 takes seconds)."""

    def get(preset):
        if preset not in _MODELS:
            _MODELS[preset] = quantize(load_preset(preset))
        return _MODELS[preset]

    return get


@pytest.fixture
def board():
    """A fresh VirtualBoard as pynq's active device (the previous one restored afterwards)."""
    previous = getattr(Device, "_active_device", None)
    yield vb.activate(vb.VirtualBoard())
    if previous is None:
        del Device._active_device
    else:
        Device.active_device = previous


@pytest.fixture
def overlay_files(models, tmp_path):
    """write(preset, **kw) -> path of a virtual overlay's .bit under tmp_path."""

    def write(preset="digits8", **kw):
        return vb.write_virtual_overlay(models(preset), tmp_path / preset, **kw)

    return write
