"""fpgagen.notebooks: the Jupyter notebooks for the PYNQ board, found by ``pynq get-notebooks``.

The package is registered in the entry-point group ``pynq.notebooks`` (``fpgagen = "fpgagen.notebooks"``), so
``pynq get-notebooks fpgagen`` copies this folder (all but this file) to ``pynq-notebooks/fpgagen/``.

- ``generator_overlay.ipynb``: load a generator overlay (a PYNQ board, or the virtual board where there is none),
  sample a grid of digits, interpolate between two latents, and time the overlay against the float32 generator
  on the board's CPU.

Notebooks are committed with their outputs cleared.
"""
