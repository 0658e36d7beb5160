"""Transposed correlation, the adjoint of :func:`cnnconv.conv.correlation.correlate` (exported from there).

:func:`correlate_transpose` checks its arguments and normalises the arrays (two spatial
axes, 1-D signals as one row, float dtype, a ``layout`` naming how channels combine),
then either scatters each tap into strided slices of the output or, for large kernels at
stride 1, runs a full correlation with the flipped kernel through ``cnnconv.conv.dispatch``.
"""

from __future__ import annotations

import numpy as np

from cnnconv.conv import dispatch as methods
from cnnconv.conv.padding import (
    as_real_array,
    check_bias,
    compute_dtype,
    finite_kernel,
    per_axis,
    resolve_padding,
)
from cnnconv.errors import CnnconvError
from cnnconv.shape.arithmetic import conv_transpose_out_size
from cnnconv.numerics import quiet_floats

# Bank contributions are computed for several taps in one matmul; cap that buffer.
_CHUNK_BYTES = 1 << 25


def transpose_sizes(y_spatial, k_spatial, stride, pads, output_padding, dilation) -> tuple[int, ...]:
    """Output size per axis, ``(n-1)*s - before - after + d*(k-1) + output_padding + 1``.

    Examples
    --------
    >>> transpose_sizes((2, 2), (2, 2), (2, 2), ((0, 0), (0, 1)), (0, 0), (1, 1))
    (4, 3)
    """
    sizes = []
    for n, k, s, (b, a), op, d in zip(y_spatial, k_spatial, stride, pads, output_padding, dilation):
        size = conv_transpose_out_size(n, k, s, 0, op, d) - b - a
        if size < 1:
            raise CnnconvError(
                f"padding ({b}, {a}) removes the whole transposed output of length "
                f"{size + b + a} (input {n}, kernel {k}, stride {s}, dilation {d}); use less padding"
            )
        sizes.append(size)
    return tuple(sizes)


def _tap_contributions(y, w, layout):
    """Yield ``(a, b, array)``: what tap (a, b) adds, before shifting, for every input pixel."""
    kh, kw = w.shape[:2]
    if layout != "bank":
        for a in range(kh):
            for b in range(kw):
                yield a, b, (y[..., None] * w[a, b] if layout == "summed" else y * w[a, b])
        return
    h, wd, n = y.shape
    c = w.shape[2]
    rows = y.reshape(h * wd, n)
    # tap-major weights (T, N, C): one matmul gives every tap's (H*W, C) contribution
    taps = np.ascontiguousarray(w.reshape(kh * kw, c, n).transpose(0, 2, 1))
    chunk = max(1, _CHUNK_BYTES // max(1, h * wd * c * y.itemsize))
    for start in range(0, kh * kw, chunk):
        block = np.matmul(rows, taps[start : start + chunk])
        for t, contribution in enumerate(block, start):
            yield t // kw, t % kw, contribution.reshape(h, wd, c)


def transpose_scatter(y, w, layout, stride, pads, output_padding, dilation, sizes):
    """Scatter-add each tap's contribution into strided slices of the output, then crop.

    Shape
    -----
    ``y`` (H, W[, C|N]) -> ``sizes + channels``.

    Examples
    --------
    >>> y, w = np.array([[1.0, 2.0]]), np.array([[1.0, 10.0]])
    >>> transpose_scatter(y, w, "2-D", (1, 2), ((0, 0), (0, 0)), (0, 0), (1, 1), (1, 4)).tolist()
    [[1.0, 10.0, 2.0, 20.0]]
    """
    (sh, sw), (dh, dw) = stride, dilation
    h, wd = y.shape[:2]
    kh, kw = w.shape[:2]
    full = (
        (h - 1) * sh + dh * (kh - 1) + 1 + output_padding[0],
        (wd - 1) * sw + dw * (kw - 1) + 1 + output_padding[1],
    )
    channels = {"per-channel": y.shape[2:], "summed": w.shape[2:], "bank": w.shape[2:3]}.get(layout, ())
    buf = np.zeros(full + channels, dtype=y.dtype)
    for a, b, contribution in _tap_contributions(y, w, layout):
        r, c = a * dh, b * dw
        buf[r : r + (h - 1) * sh + 1 : sh, c : c + (wd - 1) * sw + 1 : sw] += contribution
    (top, _), (left, _) = pads
    return np.ascontiguousarray(buf[top : top + sizes[0], left : left + sizes[1]])


def _pad_or_crop(z, amounts):
    """Pad axis i of ``z`` with zeros by ``amounts[i]`` (before, after); negative amounts crop."""
    width = tuple((max(b, 0), max(a, 0)) for b, a in amounts) + ((0, 0),) * (z.ndim - len(amounts))
    z = np.pad(z, width)
    return z[tuple(slice(max(-b, 0), z.shape[i] - max(-a, 0)) for i, (b, a) in enumerate(amounts))]


def transpose_by_correlation(y, w, layout, stride, pads, output_padding, dilation, method):
    """The transposed correlation as a valid correlation with the flipped kernel.

    The input is zero-stuffed by the stride and padded by ``span - 1`` (less the
    requested cropping), then correlated with the kernel flipped in space and with its
    channel axes swapped, by ``cnnconv.conv.dispatch.correlate_valid(..., method)``.

    Examples
    --------
    >>> y, w = np.array([[1.0, 2.0]]), np.array([[1.0, 10.0]])
    >>> transpose_by_correlation(y, w, "2-D", (1, 2), ((0, 0), (0, 0)), (0, 0), (1, 1), "auto").tolist()
    [[1.0, 10.0, 2.0, 20.0]]
    """
    kernel = w[::-1, ::-1]
    if layout == "summed":
        y, kernel = y[..., None], kernel[:, :, None, :]
    elif layout == "bank":
        kernel = kernel.transpose(0, 1, 3, 2)
    (sh, sw), (dh, dw) = stride, dilation
    if (sh, sw) != (1, 1):
        h, wd = y.shape[:2]
        stuffed = np.zeros(((h - 1) * sh + 1, (wd - 1) * sw + 1) + y.shape[2:], dtype=y.dtype)
        stuffed[::sh, ::sw] = y
        y = stuffed
    spans = (dh * (w.shape[0] - 1) + 1, dw * (w.shape[1] - 1) + 1)
    amounts = [(e - 1 - b, e - 1 + op - a) for e, (b, a), op in zip(spans, pads, output_padding)]
    yp = _pad_or_crop(y, amounts)
    return methods.correlate_valid(yp, np.ascontiguousarray(kernel), (1, 1), dilation, method)


@quiet_floats
def correlate_transpose(
    y, w, *, stride=1, padding=0, output_padding=0, dilation=1, bias=None, method="auto"
):
    """Transposed correlation: the adjoint (input gradient) of :func:`correlate`.

    Each input value scatters ``value * w`` into the output, ``stride`` apart, and
    ``padding`` rows/columns are then cut from each side:
    ``<correlate(x, w, padding=p, stride=s, dilation=d), y> ==
    <x, correlate_transpose(y, w, padding=p, stride=s, dilation=d, output_padding=o)>``
    where ``o`` picks which of the input sizes that ``correlate`` maps to ``y``'s is meant.

    Parameters
    ----------
    y : array_like, real
    w : array_like, real, finite
        Same kernel layouts as :func:`correlate` (see Shape).
    stride, dilation : int or one int per axis, >= 1
    padding : int, per-axis ints or per side (as :func:`correlate`), >= 0
    output_padding : int or one per axis, ``0 <= output_padding < max(stride, dilation)``
    bias : float, or (C,) when the output has channels
    method : "auto", "scatter" or a name in ``cnnconv.conv.dispatch.METHODS``
        "scatter" adds each tap's contribution into strided slices of the output;
        a METHODS name computes a full correlation with the flipped kernel (of the
        zero-stuffed input when stride > 1); "auto" scatters unless stride is 1 and
        the kernel has more than 49 taps.

    Shape
    -----
    Per axis ``out = (n - 1)*stride - before - after + dilation*(k - 1) + output_padding + 1``.

    - (n,) with (k,) -> (out,);  (H, W) with (kh, kw) -> (Ho, Wo)
    - (H, W, C) with (kh, kw) -> (Ho, Wo, C), each channel on its own
    - (H, W) with (kh, kw, C) -> (Ho, Wo, C), the adjoint of the summed layout
    - (H, W, N) with a bank (kh, kw, C, N) -> (Ho, Wo, C)

    Examples
    --------
    >>> correlate_transpose([[0, 1], [2, 3]], [[0, 1], [2, 3]]).tolist()
    [[0.0, 0.0, 1.0], [0.0, 4.0, 6.0], [4.0, 12.0, 9.0]]
    >>> correlate_transpose([1, 1], [1, 2, 3], stride=2).tolist()
    [1.0, 2.0, 4.0, 2.0, 3.0]
    """
    y, w = as_real_array(y, "input"), finite_kernel(w)
    dims = (y.ndim, w.ndim)
    layouts = {(1, 1): "1-D", (2, 2): "2-D", (3, 2): "per-channel", (2, 3): "summed", (3, 4): "bank"}
    if dims not in layouts or 0 in y.shape or 0 in w.shape:
        raise CnnconvError(
            f"cannot transpose-correlate input {y.shape} with kernel {w.shape}; accepted (non-empty): "
            "y (n,) with w (k,); y (H, W) with w (kh, kw) or (kh, kw, C); "
            "y (H, W, C) with w (kh, kw); y (H, W, N) with w (kh, kw, C, N)"
        )
    layout = layouts[dims]
    if layout == "bank" and w.shape[3] != y.shape[2]:
        raise CnnconvError(
            f"kernel bank {w.shape} has {w.shape[3]} filters but the input {y.shape} has {y.shape[2]} "
            "channels; they must be equal"
        )
    if method not in methods.METHODS and method != "scatter":
        choices = ", ".join(methods.METHODS)
        raise CnnconvError(f"unknown method {method!r}; choose scatter or one of {choices}")
    dt = compute_dtype(y.dtype)
    y, w = y.astype(dt, copy=False), w.astype(dt, copy=False)
    nd = 1 if layout == "1-D" else 2
    stride, dilation = per_axis(stride, nd, "stride"), per_axis(dilation, nd, "dilation")
    _, pads = resolve_padding(None, padding, y.shape[:nd], w.shape[:nd], stride, dilation, False)
    if layout == "1-D":
        y, w = y[None, :], w[None, :]
    output_padding = per_axis(output_padding, nd, "output_padding", minimum=0)
    if nd == 1:
        stride, dilation, output_padding = (1, *stride), (1, *dilation), (0, *output_padding)
        pads = ((0, 0), *pads)
    sizes = transpose_sizes(y.shape[:2], w.shape[:2], stride, pads, output_padding, dilation)
    channels = {"per-channel": y.shape[2:], "summed": w.shape[2:], "bank": w.shape[2:3]}.get(layout, ())
    b = check_bias(bias, channels[0] if channels else 0, dt)
    if method == "auto":
        # measured: scattering k*k shifted adds keeps up with the engines up to about 7x7;
        # beyond, a full correlation (FFT for large kernels) wins by up to ~6x at 31x31
        big = w.shape[0] * w.shape[1] > 49 and stride == (1, 1)
        method = "auto" if big else "scatter"
    if method == "scatter":
        out = transpose_scatter(y, w, layout, stride, pads, output_padding, dilation, sizes)
    else:
        out = transpose_by_correlation(y, w, layout, stride, pads, output_padding, dilation, method)
    out = out[0] if layout == "1-D" else out
    if b is not None:
        out = out + b
    return out.astype(dt, copy=False)
