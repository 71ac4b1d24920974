"""The geometry of transposed convolutions (torch's ConvTranspose2d semantics) as fpgagen implements them.

fpgagen computes a transposed convolution in sub-pixel form: each output pixel from its phase's kernel taps whose
input pixel exists (:func:`transposed_phases`), so the multiplications executed are exactly the useful ones. The
golden model, the numpy float kernel, quantization, hls4ml's extension layer and the RTL stage all read these
rules from here.
"""

from __future__ import annotations

import functools

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


# ============================================================================== parallelism of one kernel tap
# A transposed convolution multiplies, per useful kernel tap, one input pixel (C channels) by the tap's C x O
# weights. fpgagen's two implementations of it (the hls4ml extension's kernel and the RTL stage) spread that
# product the same way: PI input channels (PI divides C) times PO output channels per cycle, PI * PO multipliers;
# the NIB = C / PI input blocks and NOG = ceil(O / PO) output groups take NIB * NOG cycles per tap, the layer's
# reuse factor. PO need not divide O: the last group is partly idle (its ROM lanes hold zeros). That ragged last
# group is what lets a layer with power-of-two channels take parallelism between the powers of two (dcgan28's
# 256 x 128 tap: 1,536 multipliers at 22 cycles per tap, where dividing splits jump from 1,024 to 2,048).


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@functools.lru_cache(maxsize=256)
def _tap_splits(c_in: int, c_out: int) -> dict[int, tuple[int, int]]:
    """Every reuse factor one tap's C x O product can have -> its (PI, PO) with the fewest multipliers (ties: the
    larger PI, the split the RTL stage has always used)."""
    best: dict[int, tuple[int, int]] = {}
    for nib in _divisors(c_in):
        pi = c_in // nib
        for nog in range(1, c_out + 1):
            po = -(-c_out // nog)
            if -(-c_out // po) != nog:  # this many groups need no more lanes than fewer groups do
                continue
            rf = nib * nog
            cur = best.get(rf)
            if cur is None or (pi * po, -pi) < (cur[0] * cur[1], -cur[0]):
                best[rf] = (pi, po)
    return best


def tap_reuse_factors(c_in: int, c_out: int) -> list[int]:
    """The reuse factors (cycles per useful tap) a transposed convolution of ``c_in`` x ``c_out`` channels can
    have, ascending: ``C / PI * ceil(O / PO)`` for every PI dividing C and PO up to O."""
    return sorted(_tap_splits(c_in, c_out))


def tap_split(c_in: int, c_out: int, reuse_factor: int) -> tuple[int, int]:
    """``(PI, PO)`` of a transposed convolution at ``reuse_factor`` cycles per useful tap: PI input channels times
    PO output channels per cycle, the fewest multipliers that take exactly that many cycles. Raises ValueError
    naming the nearest reuse factors when there is none."""
    splits = _tap_splits(c_in, c_out)
    if isinstance(reuse_factor, bool) or not isinstance(reuse_factor, int):
        raise ValueError(f"reuse factor {reuse_factor!r} is not an integer")
    if reuse_factor not in splits:
        legal = sorted(splits)
        below = [r for r in legal if r < reuse_factor][-2:]
        above = [r for r in legal if r > reuse_factor][:2]
        raise ValueError(f"reuse factor {reuse_factor} is not one of a {c_in} x {c_out} (input x output channels) "
                         f"kernel tap's: C / PI * ceil(O / PO) with PI dividing {c_in}; nearest "
                         f"{', '.join(map(str, below + above))}")
    return splits[reuse_factor]


def pad_output_groups(values: np.ndarray, po: int, axis: int) -> np.ndarray:
    """``values`` with its output-channel ``axis`` padded with zeros to whole groups of ``po`` (``ceil(O / po) *
    po`` channels): the lanes of a ragged last group, which multiply and add nothing."""
    values = np.asarray(values)
    pad = [(0, 0)] * values.ndim
    pad[axis] = (0, -values.shape[axis] % po)
    return np.pad(values, pad)


def tap_multipliers(c_in: int, c_out: int, reuse_factor: int) -> int:
    """Multipliers of a transposed convolution at ``reuse_factor``: PI * PO of :func:`tap_split`."""
    pi, po = tap_split(c_in, c_out, reuse_factor)
    return pi * po


def conv_transpose_tap_counts(k: int, stride: int, padding: int, n_out: int, n_in: int) -> list[int]:
    """Useful taps of each output index along one axis of a transposed convolution: the taps of its phase
    whose input index lies inside ``0 .. n_in - 1`` (:func:`transposed_phases`)."""
    counts = []
    for y in range(n_out):
        q, r = divmod(y + padding, stride)
        taps = -(-(k - r) // stride)
        counts.append(max(0, min(taps - 1, q) - max(0, q - (n_in - 1)) + 1))
    return counts


def conv_transpose_cycles(in_hw: tuple[int, int], out_hw: tuple[int, int], c_in: int, c_out: int, k: int,
                          stride: int, padding: int, pi: int, po: int) -> int:
    """Cycles per image of a transposed convolution split as ``pi`` x ``po`` (:func:`tap_split`) when it is never
    starved or blocked (the RTL stage ``fg_conv_transpose2d``, and the hls4ml extension's kernel loop).

    Each output pixel takes ``C / PI * ceil(O / PO)`` cycles (the reuse factor) per useful tap, or one cycle per
    output group when it has no useful tap (bias only); the input takes one pixel per cycle, so the stage is
    never faster than ``H * W`` cycles.
    """
    groups = -(-c_out // po)
    ty = conv_transpose_tap_counts(k, stride, padding, out_hw[0], in_hw[0])
    tx = conv_transpose_tap_counts(k, stride, padding, out_hw[1], in_hw[1])
    useful = sum(ty) * sum(tx)
    bias_only = out_hw[0] * out_hw[1] - sum(map(bool, ty)) * sum(map(bool, tx))
    compute = c_in // pi * groups * useful + groups * bias_only
    return max(in_hw[0] * in_hw[1], compute)


def conv_transpose_ws_tap_counts(k: int, stride: int, padding: int, n_out: int, n_in: int) -> list[int]:
    """Inputs of each kernel tap along one axis of a transposed convolution: for tap ``t``, the input indices
    ``i`` in ``0 .. n_in - 1`` whose output ``i * stride - padding + t`` lies in ``0 .. n_out - 1`` (what a
    weight-stationary kernel walks for one weight)."""
    counts = []
    for t in range(k):
        lo = max(0, -(-(padding - t) // stride))
        hi = n_out - 1 + padding - t
        hi = min(n_in - 1, hi // stride) if hi >= 0 else -1
        counts.append(max(0, hi - lo + 1))
    return counts


def conv_transpose_ws_cycles(in_hw: tuple[int, int], out_hw: tuple[int, int], c_in: int, c_out: int, k: int,
                             stride: int, padding: int, pi: int, po: int) -> int:
    """Cycles per frame of the weight-stationary transposed convolution ``fg_conv_transpose2d_ws`` (weights
    streamed, each word once per frame) split as ``pi`` x ``po``, in steady state: weights and pixels always
    valid, the output never blocked, frames back to back.

    Compute takes, per weight word (``ceil(O / PO) * K * K * C / PI`` of them), one cycle per input pixel whose
    output lies inside the output (``ny(ty) * nx(tx)``, :func:`conv_transpose_ws_tap_counts`), one cycle for a
    word without any; the drain of the accumulators takes one cycle per output pixel and output group. The two
    overlap (two accumulator banks), as does loading the next input frame (two input banks, ``H * W`` cycles,
    never the longest: every input pixel has an output), so a frame takes the longest of the three. Compute is
    the MAC bound, useful MACs / (PI * PO), but for a ragged last output group's idle lanes and the empty words.
    """
    groups = -(-c_out // po)
    ny = conv_transpose_ws_tap_counts(k, stride, padding, out_hw[0], in_hw[0])
    nx = conv_transpose_ws_tap_counts(k, stride, padding, out_hw[1], in_hw[1])
    compute = groups * (c_in // pi) * sum(max(1, a * b) for a in ny for b in nx)
    drain = out_hw[0] * out_hw[1] * groups
    return max(in_hw[0] * in_hw[1], compute, drain)
