"""The two ways :func:`cnnconv.conv.correlate_transpose` computes a transposed correlation.

Arrays arrive normalised: two spatial axes (1-D signals as one row), float dtype, and a
``layout`` naming how channels combine ("2-D", "1-D", "per-channel", "summed", "bank").
"""

from __future__ import annotations

import numpy as np

from cnnconv import methods
from cnnconv.errors import CnnconvError
from cnnconv.shapes import conv_transpose_out_size

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
    full = ((h - 1) * sh + dh * (kh - 1) + 1 + output_padding[0], (wd - 1) * sw + dw * (kw - 1) + 1 + output_padding[1])
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
    channel axes swapped, by ``cnnconv.methods.correlate_valid(..., method)``.

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
