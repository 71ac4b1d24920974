"""The geometry of transposed convolutions (torch's ConvTranspose2d semantics) as fpgagen implements them.

fpgagen computes a transposed convolution in sub-pixel form: each output pixel from its phase's kernel taps whose
input pixel exists (:func:`transposed_phases`), so the multiplications executed are exactly the useful ones. The
golden model, the numpy float kernel, quantization, hls4ml's extension layer and the RTL stage all read these
rules from here.
"""

from __future__ import annotations

import numpy as np

# Transposed convolutions fpgagen implements (torch semantics, square kernels, dilation 1, groups 1).
TRANSPOSED_STRIDES = (1, 2)
TRANSPOSED_KERNELS = (2, 3, 4, 5)


def transposed_out_size(n: int, k: int, stride: int, padding: int, output_padding: int) -> int:
    """torch's ConvTranspose2d output size: (n - 1) * stride - 2 * padding + k + output_padding.

    The output is rows ``padding .. padding + out - 1`` of the full transposed convolution (``(n - 1) * stride + k``
    rows): ``padding`` cropped at the start and ``padding - output_padding`` at the end. A negative
    ``output_padding`` (which torch's modules refuse) crops more at the end than at the start: Keras's 'same'
    Conv2DTranspose of stride 2 and kernel 5 is padding 1, output_padding -1 (17 full rows, 1 and 2 cropped).
    """
    return (n - 1) * stride - 2 * padding + k + output_padding


def transposed_support(k: int, stride: int, padding: int, output_padding: int) -> list[str]:
    """What is unsupported about a transposed convolution ([] when fpgagen implements it)."""
    p = []
    if stride not in TRANSPOSED_STRIDES:
        p.append(f"stride {stride} (supported: {', '.join(map(str, TRANSPOSED_STRIDES))})")
    if k not in TRANSPOSED_KERNELS:
        p.append(f"kernel {k} (supported: {', '.join(map(str, TRANSPOSED_KERNELS))}, square)")
    if not 0 <= padding <= k - 1:
        p.append(f"padding {padding} (supported: 0 to kernel - 1 = {k - 1})")
    # output_padding < stride: no output row beyond the full map but the bias-only ones torch allows; an end crop
    # padding - output_padding <= k - 1: the last output row still reads the last input row, so every streaming
    # kernel (hls4ml's, the RTL stage) consumes each frame's every row before its last output
    if not padding - (k - 1) <= output_padding < stride:
        p.append(f"output_padding {output_padding} (supported: padding - kernel + 1 = {padding - k + 1} to stride - 1 "
                 f"= {stride - 1})")
    return p


# What fpgagen implements of torch's ConvTranspose2d, in words (the tail of every refusal).
TRANSPOSED_SUPPORTED = (f"stride {' or '.join(map(str, TRANSPOSED_STRIDES))}, a square kernel of "
                        f"{', '.join(map(str, TRANSPOSED_KERNELS))}, padding 0 to kernel - 1, output_padding below "
                        "the stride and at least padding - kernel + 1 (negative: an end crop, as Keras's 'same'), "
                        "dilation 1, groups 1, zero padding mode, each the same on both axes")


def transposed_module_problems(module) -> list[str]:
    """What about a torch ``ConvTranspose2d`` fpgagen does not implement ([] when it does). Reads the module's
    attributes only, so this module needs no torch; quantization and the hls4ml handler both refuse by it."""
    problems = []

    def single(name: str) -> int:
        value = getattr(module, name)
        values = tuple(value) if isinstance(value, tuple | list) else (value,)
        if len(set(values)) != 1:
            problems.append(f"{name} {values} differs between the axes (supported: the same on both)")
        return int(values[0])

    k, stride, padding, output_padding, dilation = (
        single(name) for name in ("kernel_size", "stride", "padding", "output_padding", "dilation"))
    if dilation != 1:
        problems.append(f"dilation {tuple(module.dilation)} (supported: 1)")
    if module.groups != 1:
        problems.append(f"groups {module.groups} (supported: 1)")
    if module.padding_mode != "zeros":
        problems.append(f"padding_mode {module.padding_mode!r} (supported: 'zeros')")
    return problems + transposed_support(k, stride, padding, output_padding)


def transposed_phases(k: int, stride: int) -> list[np.ndarray]:
    """The kernel taps of each phase of a transposed convolution, along one axis.

    Output index ``y`` receives ``x[i] * w[t]`` exactly where ``y + padding = i * stride + t``, so it uses the
    taps ``t`` of phase ``r = (y + padding) % stride`` -- ``r, r + stride, ...`` -- with inputs
    ``i = (y + padding - t) // stride``. fpgagen computes each output from its phase's taps alone (the sub-pixel
    decomposition) and, at the borders, only from the taps whose ``i`` lies inside the input: it multiplies no
    inserted zero and no padding, so the multiplications executed are exactly the useful ones.
    """
    return [np.arange(r, k, stride) for r in range(stride)]


def transposed_taps(k: int, stride: int, padding: int, out_hw, in_hw) -> tuple[int, int]:
    """(phase, useful) (output pixel, kernel tap) pairs of one channel pair over a whole feature map: every tap
    of each output's phase (what a per-phase convolution over a zero-padded input would multiply), and the useful
    ones whose input pixel lies inside the input (what fpgagen executes)."""
    executed = useful = 1
    for n_out, n_in in zip(out_hw, in_hw, strict=True):
        y = np.arange(n_out)[:, None] + padding
        taps = np.arange(k)[None, :]
        in_phase = (y - taps) % stride == 0
        i = (y - taps) // stride
        executed *= int(in_phase.sum())
        useful *= int((in_phase & (i >= 0) & (i < n_in)).sum())
    return executed, useful
