import pytest

from fpgagen.models.checkpoint import default_checkpoint
from fpgagen.models.presets import PRESETS


def shipped(name: str) -> bool:
    return default_checkpoint(name).is_file()


@pytest.fixture(params=sorted(PRESETS))
def preset_name(request):
    return request.param
