"""fpgagen.hls: fixed point, the QuantizedModel, the bit-exact golden model and the hls4ml flow.

- ``fixed``: ap_fixed arithmetic on integer codes.
- ``quantized_model``: the QuantizedModel contract (layers, codes, every type) and its files.
- ``quantize``: BatchNorm folding, calibration and type choice from a trained preset.
- ``golden``: numpy integer executor, bit-exact with hls4ml's C simulation and the RTL twin.
- ``hls4ml_flow``: QuantizedModel -> torch -> hls4ml config (every type explicit) and model, the view-fix flow.
- ``csim``: the C-simulation executor (hls4ml compile + predict), cached by content.
- ``accelerator``: the VivadoAccelerator board project (AXI-Stream kernel, block design, manifest) and its build.
- ``random_model``: random small QuantizedModels for agreement tests.
"""
