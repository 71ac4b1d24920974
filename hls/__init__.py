"""fpgagen.hls: fixed point, the QuantizedModel, the bit-exact golden model and the hls4ml flow.

- ``fixed``: ap_fixed arithmetic on integer codes.
- ``quantized_model``: the QuantizedModel contract (layers, codes, every type) and its files.
- ``quantize``: BatchNorm folding, calibration and type choice from a trained preset.
- ``golden``: numpy integer executor, bit-exact with hls4ml's C simulation and the RTL twin.
"""
