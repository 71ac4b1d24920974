"""fpgagen.core: the torch-free bottom layer every front end and back end builds on (numpy only).

- ``fixed``: ap_fixed arithmetic on integer codes.
- ``quantized_model``: the QuantizedModel contract (layers, codes, every type) and its files.
- ``golden``: the numpy integer executor, bit-exact with hls4ml's C simulation and the RTL twin.
- ``latents``: the one check of latents every target makes.
- ``manifest``: the stream manifest beside an overlay's ``.bit``.
- ``random_model``: random small QuantizedModels for agreement tests.
- ``errors``: errors shared by the layers above (a missing tool, a failed build).
- ``cache``: the one root of all build caches (``$FPGAGEN_CACHE``) and the completion check of a cache entry.

Nothing here imports torch, hls4ml, cocotb or pynq, nor any other fpgagen package: the board's Python runs it.
"""
