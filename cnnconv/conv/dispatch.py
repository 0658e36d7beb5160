"""The engines behind ``correlate``: valid correlation of an already padded array.

``cnnconv.conv.correlation`` does padding, boundaries, flips, dtypes and validation, then calls
:func:`correlate_valid` here. This module only picks an engine (``cnnconv.conv.engines``) and
calls it; :func:`explain_method` says which one runs and why (for ``--explain``).
"""

from __future__ import annotations

import numpy as np

from cnnconv.conv.engines.banded import can_run as can_band
from cnnconv.errors import CnnconvError

#: Method names accepted by ``method=``; "auto" picks one (see :func:`explain_method`).
METHODS = ("auto", "direct", "banded", "toeplitz", "im2col", "separable", "fft")

# Thresholds for "auto", measured with `python benchmarks/crossover.py` and by hand on the
# project's 2-core machine (Intel Xeon with AVX-512 and 2 MiB L2 per core;
# BENCHMARKS.md "Crossovers behind auto" has the run). Medians in ms, float32 unless said.
# From ~180² up the banded engine wins for general 2-D kernels (also on each channel of RGB)
# until the FFT takes over: 192² 5x5 banded 0.16 / Toeplitz 0.28, 3x3 0.10 / direct 0.12;
# 512² 3x3 0.54 / direct 0.74, 7x7 1.29 / Toeplitz 2.02, 11x11 1.96 / FFT 2.69, 15x15
# 2.95 / FFT 2.80, 19x19 4.2 / FFT 3.7; float64 512² 11x11 4.0 / FFT 4.5, 15x15 6.4 / 3.8
# (256²: 1.70 / 1.64); 512²x3 per channel 11x11 7.0 / FFT 11.4, 15x15 10.8 / 10.6. FFT times
# move by up to 2x with the transform sizes, so the FFT thresholds sit where both are close.
# Below ~180² a call is mostly fixed cost and the rules measured on an AMD EPYC hold as
# well: 128² 3x3 direct 0.07 / banded 0.12, 7x7 Toeplitz 0.21 / banded 0.22, 11x11 FFT
# 0.27 / Toeplitz 0.32; they are also the only rules for horizontal strides and for
# channel-summing kernels and banks. Gaussian (rank 1) 512² 3x3: separable 0.7 vs banded 0.9.
BANDED_MIN_PIXELS = 1 << 15  # H*W of the padded input, per channel
BANDED_FFT_MIN_K = {"float32": 17, "float64": 15}  # 2-D kernels, from BANDED_MIN_PIXELS up
DIRECT_MAX_K = {"float32": 3, "float64": 5}
FFT_MIN_K = 11  # small images and strides; only without stride (FFT computes every pixel)
PER_CHANNEL_DIRECT_MAX_K = 7  # a 2-D kernel on each of C > 1 channels
PER_CHANNEL_FFT_MIN_K = 15
SEPARABLE_MIN_K = 2  # any rank-1 kernel of at least 2x2 taps (1xk is already one pass)
IM2COL_MIN_BANK = 16  # banks of at least this many filters


def explain_method(x_shape, w_shape, dtype, stride=(1, 1), dilation=(1, 1), method="auto",
                   kernel=None):
    """The engine that ``correlate_valid`` runs for these operands, and a one-line reason.

    ``kernel`` (the weights) lets the separability test run; without it a kernel is assumed
    not separable. An explicit ``method`` that cannot handle the case falls back to the
    choice of "auto", and the reason says so.

    Examples
    --------
    >>> explain_method((512, 512), (7, 7), np.float32)
    ('banded', '7x7 kernel: banded GEMM down each row strip, its columns summed by shifted adds')
    >>> explain_method((64, 64), (7, 7), np.float32)
    ('toeplitz', 'general 7x7 kernel: banded-Toeplitz GEMM per row block')
    >>> explain_method((64, 64), (5, 5, 3), np.float32, method="separable")[1]
    'separable needs a rank-1 2-D kernel; 5x5x3 kernel: falls back to toeplitz'
    """
    if method not in METHODS:
        raise CnnconvError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    kh, kw = w_shape[:2]
    size = "x".join(str(n) for n in w_shape)
    # The SVD only runs when its answer matters (auto or separable, a 2-D kernel).
    separable = (method in ("auto", "separable") and kernel is not None and len(w_shape) == 2
                 and _rank1(kernel) is not None)
    if method == "separable" and not separable:
        fallback, _ = explain_method(x_shape, w_shape, dtype, stride, dilation, "auto")
        return fallback, f"separable needs a rank-1 2-D kernel; {size} kernel: falls back to {fallback}"
    if method == "banded" and not can_band(w_shape, stride):
        fallback, _ = explain_method(x_shape, w_shape, dtype, stride, dilation, "auto")
        return fallback, (f"banded needs a 2-D kernel and no horizontal stride; {size} kernel, stride "
                          f"{tuple(stride)}: falls back to {fallback}")
    if method != "auto":
        return method, f"{method} requested"
    if separable and min(kh, kw) >= SEPARABLE_MIN_K:
        return "separable", f"rank-1 {size} kernel: two 1-D passes ({kh}+{kw} taps instead of {kh * kw})"
    if len(w_shape) == 4 and w_shape[3] >= IM2COL_MIN_BANK:
        return "im2col", f"bank of {w_shape[3]} filters: one wide im2col GEMM per row strip"
    per_channel = len(w_shape) == 2 and len(x_shape) == 3 and x_shape[2] > 1
    dt = np.dtype(dtype).name
    unstrided = tuple(stride) == (1, 1)
    fft = f"large {size} kernel: real FFT (tiled overlap-save on big images)"
    if can_band(w_shape, stride) and x_shape[0] * x_shape[1] >= BANDED_MIN_PIXELS:
        fft_k = PER_CHANNEL_FFT_MIN_K if per_channel else BANDED_FFT_MIN_K.get(dt, FFT_MIN_K)
        if unstrided and min(kh, kw) >= fft_k:
            return "fft", fft
        on = f" on each of {x_shape[2]} channels" if per_channel else ""
        return "banded", f"{size} kernel{on}: banded GEMM down each row strip, its columns summed by shifted adds"
    small = min(kh, kw) < (PER_CHANNEL_FFT_MIN_K if per_channel else FFT_MIN_K) or not unstrided
    if max(kh, kw) <= DIRECT_MAX_K.get(dt, 3):
        return "direct", f"small {size} kernel: tap accumulation in cache-sized row strips"
    if per_channel and max(kh, kw) <= PER_CHANNEL_DIRECT_MAX_K:
        return "direct", f"{size} kernel on each of {x_shape[2]} channels: tap accumulation in strips"
    if not small:
        return "fft", fft
    return "toeplitz", f"general {size} kernel: banded-Toeplitz GEMM per row block"


def choose_method(x_shape, w_shape, dtype, stride=(1, 1), dilation=(1, 1), kernel=None) -> str:
    """The method ``method="auto"`` uses for these shapes (reported by ``--explain``).

    Pass ``kernel`` (the weights) so a separable kernel is recognised.

    Examples
    --------
    >>> choose_method((512, 512), (3, 3), np.float32), choose_method((64, 64), (3, 3), np.float32)
    ('banded', 'direct')
    >>> choose_method((512, 512), (5, 5), np.float32, kernel=np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]))
    'separable'
    """
    return explain_method(x_shape, w_shape, dtype, stride, dilation, "auto", kernel)[0]


def _rank1(w):
    """rank1_factors of a kernel given as any real array (integers are taken as float64)."""
    from cnnconv.conv.engines.separable import rank1_factors

    w = np.asarray(w)
    return rank1_factors(w if w.dtype.kind == "f" else w.astype(np.float64))


def correlate_valid(xp, w, stride=(1, 1), dilation=(1, 1), method="auto"):
    """Valid cross-correlation of a padded 2-D array, optionally with channels.

    Shape
    -----
    - ``xp`` (H, W) with ``w`` (kh, kw) -> (Ho, Wo)
    - ``xp`` (H, W, C) with ``w`` (kh, kw) -> (Ho, Wo, C): each channel on its own
    - ``xp`` (H, W, C) with ``w`` (kh, kw, C) -> (Ho, Wo): summed over channels
    - ``xp`` (H, W, C) with ``w`` (kh, kw, C, N) -> (Ho, Wo, N): a bank of N filters

    where ``Ho = (H - dh*(kh-1) - 1) // sh + 1`` (the caller guarantees Ho, Wo >= 1)
    and the result has ``xp.dtype`` (float32 or float64; ``w`` has the same dtype).

    Examples
    --------
    >>> x = np.arange(16.0).reshape(4, 4)
    >>> correlate_valid(x, np.ones((2, 2)), stride=(2, 2)).tolist()
    [[10.0, 18.0], [42.0, 50.0]]
    >>> correlate_valid(x, np.ones((2, 2)), stride=(2, 2), method="fft").round(6).tolist()
    [[10.0, 18.0], [42.0, 50.0]]
    """
    return _correlate_in_bands(xp, w, stride, dilation, method)


def correlate_padded(x, pads, boundary, cval, w, stride=(1, 1), dilation=(1, 1), method="auto", resolved=False):
    """``correlate_valid(pad_array(x, pads, boundary, cval), w, ...)``, padding as it reads.

    The banded and (without horizontal stride) separable engines pad each group of row strips
    as they read it, so no padded copy of the image is made (see ``cnnconv.conv.engines._rows``);
    the other engines get the padded array.

    ``resolved`` says ``method`` is already the engine :func:`explain_method` picks for
    these operands (what :func:`cnnconv.conv.correlation.conv_plan` reports).

    Shape
    -----
    As :func:`correlate_valid` on the padded shape; ``pads`` is ((top, bottom), (left, right)).

    Examples
    --------
    >>> x = np.arange(9.0).reshape(3, 3)
    >>> correlate_padded(x, ((1, 1), (1, 1)), "edge", 0.0, np.ones((3, 3)) / 9).round(3).tolist()[0]
    [1.333, 2.0, 2.667]
    """
    from cnnconv.conv.padding import pad_array
    from cnnconv.conv.engines._rows import PaddedRows

    name = method
    if not resolved:  # conv.correlate passes the engine its plan already chose
        padded = tuple(n + b + a for n, (b, a) in zip(x.shape, pads)) + x.shape[2:]
        name, _ = explain_method(padded, w.shape, x.dtype, stride, dilation, method, kernel=w)
    if name == "banded" or (name == "separable" and stride[1] == 1):
        xp = PaddedRows(x, pads, boundary, cval)
    else:
        xp = pad_array(x, pads, boundary, cval)
    return _correlate_in_bands(xp, w, stride, dilation, name, resolved=True)


def _correlate_in_bands(xp, w, stride, dilation, method, min_outputs=None, resolved=False):
    """correlate_valid, on row bands in parallel once the result has ``min_outputs`` values
    (default: the engine's ``SPLIT_MIN_OUTPUTS``; tests force 1 or infinity to compare).
    ``resolved`` says ``method`` is already the engine ``explain_method`` picked."""
    from cnnconv.conv import engines
    from cnnconv.conv.engines._layout import out_shape
    from cnnconv.conv.engines._split import SPLIT_MIN_OUTPUTS, band_count, run_in_bands

    stride, dilation = tuple(stride), tuple(dilation)
    name = method
    if not resolved:
        name, _ = explain_method(xp.shape, w.shape, xp.dtype, stride, dilation, method, kernel=w)
    if name == "separable":
        u, v = _rank1(w)
        engine, args = engines.correlate_separable, (u, v, stride, dilation)
    else:
        engine, args = getattr(engines, f"correlate_{name}"), (w, stride, dilation)
    shape = out_shape(xp.shape, w.shape, stride, dilation)
    if min_outputs is None:
        min_outputs = SPLIT_MIN_OUTPUTS.get(name, float("inf"))
    bands = band_count(shape[0], int(np.prod(shape)), min_outputs)
    if bands == 1:
        return engine(xp, *args)
    out = np.empty(shape, dtype=xp.dtype)
    extent_h = dilation[0] * (w.shape[0] - 1) + 1
    return run_in_bands(lambda xr, orows: engine(xr, *args, out=orows), xp, out, stride[0], extent_h, bands)
