"""The names of the shipped presets and classifiers, torch-free, so that the CLI parses its arguments and prints
``--help`` without importing torch (seconds at start-up, and a PYNQ board has none).

:func:`fpgagen.models.presets.register_preset` refuses a preset missing here, and tests/test_presets.py checks both
lists against the registries, so the names cannot drift from what is defined.
"""

from __future__ import annotations

PRESET_NAMES = ("dcgan28", "digits8", "mnist28", "vae28")
CLASSIFIER_NAMES = ("classifier8", "classifier28")
