"""Pooling: max, average and min over windows, for one image and for NHWC batches.

Output sizes follow PyTorch exactly (:func:`cnnconv.shape.arithmetic.pool_out_size`, with its
ceil-mode rule). Max and min never see the padding (it is -inf / +inf); average
divides by the number of real values in the window, or, with ``count_include_pad``,
by the window clipped to the padded input (a ceil-mode window hanging past the
padding never counts the overhang), as ``torch.nn.AvgPool2d`` does.

Every reduction is separable, so a kh x kw window costs kh + kw strided-slice
passes (rows first, then columns) and no Python loop over pixels. float32 stays
float32 and float64 stays float64; other dtypes are computed in float64.

Gradients of max and min go, within each window, to the first extreme value in
row-major order (PyTorch's choice); a NaN in a window takes the gradient (the
first NaN, where PyTorch picks the last one). The backward passes live in
:mod:`cnnconv.pooling.backward` and are re-exported here.
"""

from __future__ import annotations

import numpy as np

from cnnconv.pooling.backward import global_pool_backward, pool2d_backward
from cnnconv.conv.padding import as_float
from cnnconv.pooling.geometry import FILL, POOL_OPS, Geometry, check_batch, check_op, covered, signal_settings
from cnnconv.errors import CnnconvError
from cnnconv.numerics import quiet_floats

__all__ = ["POOL_OPS", "global_pool_backward", "global_pool_forward", "pool", "pool2d_backward", "pool2d_forward"]

#: Bytes of input rows one block of the forward pass reads (about an L2 cache).
BLOCK_BYTES = 256 * 1024

_REDUCE = {"max": np.maximum, "min": np.minimum, "avg": np.add}


def _forward(x: np.ndarray, g: Geometry, op: str, count_include_pad: bool) -> np.ndarray:
    n, _, _, c = x.shape
    (ho, wo), s, d, k = g.out, g.s[0], g.d[0], g.k[0]
    span = d * (k - 1) + 1
    # Large inputs go in blocks of output rows whose input rows fit in cache: the
    # intermediates then never travel to memory (measured 1.7x on 4096x4096x3 float32).
    block = ho
    if x.nbytes > 8 * BLOCK_BYTES:
        row_bytes = n * g.canvas[1] * c * x.itemsize
        block = max(1, (BLOCK_BYTES // row_bytes - span) // s + 1)
    reduce, y = _REDUCE[op], np.empty((n, ho, wo, c), dtype=x.dtype)
    for r0 in range(0, ho, block):
        rows = min(block, ho - r0)
        part = g.canvas_rows(x, r0 * s, (r0 + rows - 1) * s + span, FILL[op])
        partial = part[:, 0 : (rows - 1) * s + 1 : s].copy()
        # rows first: the column pass then runs on the pooled rows only. The part ends with
        # the canvas, so a tap reaches only the leading windows (the rest read padding).
        for t in range(1, min(k, (part.shape[1] - 1) // d + 1)):
            tap = part[:, t * d : t * d + (rows - 1) * s + 1 : s]
            head = partial[:, : tap.shape[1]]
            reduce(head, tap, out=head)
        out = y[:, r0 : r0 + rows]
        for j, cols in enumerate(g.taps(1)):
            if j == 0:
                np.copyto(out, partial[:, :, cols])
            else:
                head = out[:, :, : covered(cols)]
                reduce(head, partial[:, :, cols], out=head)
    if op == "avg":
        y /= g.divisor(count_include_pad, y.dtype)
    return y


def pool2d_forward(
    x, kernel_size, *, stride=None, padding=0, op="max", ceil_mode=False, count_include_pad=False, dilation=1
) -> np.ndarray:
    """Pool a batch of images, each channel on its own.

    Parameters
    ----------
    x : ndarray
        Batch, channels last.
    kernel_size, stride, padding, dilation : int or (int, int)
        Window size, step (default: ``kernel_size``), padding on each side (at most
        ``kernel_size // 2``, and at most the input size, where PyTorch allows more to
        no purpose: every window would hold the whole input) and spacing of the window
        taps, per axis.
    op : {"max", "avg", "min"}
    ceil_mode : bool
        Round the output size up (PyTorch's rule: a window starting in the right padding is dropped).
    count_include_pad : bool
        For ``avg``: divide by the window size including padding (not the overhang of ceil mode).

    Returns
    -------
    ndarray
        The pooled batch, dtype of ``x`` (float32 or float64).

    Shape
    -----
    (N, H, W, C) -> (N, Ho, Wo, C) with ``Ho = pool_out_size(H, kh, sh, ph, dh, ceil_mode)``.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> pool2d_forward(x, 2)[0, :, :, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    >>> pool2d_forward(x, 3, stride=2, padding=1, op="avg")[0, :, :, 0].tolist()
    [[2.5, 4.0], [8.5, 10.0]]
    """
    x = as_float(x)
    check_batch(x)
    g = Geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    return _forward(x, g, check_op(op), count_include_pad)


def global_pool_forward(x, op: str = "avg") -> np.ndarray:
    """Global pooling: one value per image and channel.

    Shape
    -----
    (N, H, W, C) -> (N, C).

    Examples
    --------
    >>> x = np.arange(8.0).reshape(1, 2, 2, 2)
    >>> global_pool_forward(x, "avg").tolist(), global_pool_forward(x, "max").tolist()
    ([[3.0, 4.0]], [[6.0, 7.0]])
    """
    x = as_float(x)
    check_batch(x)
    op = check_op(op)
    if x.shape[1] * x.shape[2] == 0:
        raise CnnconvError(f"global pooling needs at least one pixel, got shape {x.shape}")
    if op == "avg":
        return x.mean(axis=(1, 2))
    return x.max(axis=(1, 2)) if op == "max" else x.min(axis=(1, 2))


@quiet_floats
def pool(
    x, kernel_size, *, stride=None, padding=0, op="max", ceil_mode=False, count_include_pad=False, dilation=1
) -> np.ndarray:
    """Pool one signal or image, each channel on its own.

    Parameters
    ----------
    x : array_like
        A 1-D signal (n,), a gray image (H, W) or an image with channels (H, W, C).
    kernel_size, stride, padding, dilation : int or tuple of int
        One value for every spatial axis or one per axis; ``stride`` defaults to
        ``kernel_size``; ``padding`` is added on both sides, at most ``kernel_size // 2``.
    op : {"max", "avg", "min"}
    ceil_mode, count_include_pad : bool
        As in :func:`pool2d_forward`.

    Returns
    -------
    ndarray
        Pooled array with the same number of dimensions; float32 stays float32, other
        dtypes give float64.

    Shape
    -----
    (n,) -> (no,); (H, W) -> (Ho, Wo); (H, W, C) -> (Ho, Wo, C), with
    ``Ho = pool_out_size(H, kh, sh, ph, dh, ceil_mode)``.

    Examples
    --------
    >>> pool([1, 5, 2, 0, 3], 2).tolist()
    [5.0, 2.0]
    >>> pool([1, 5, 2, 0, 3], 2, ceil_mode=True, op="avg").tolist()
    [3.0, 1.0, 3.0]
    >>> pool(np.arange(16).reshape(4, 4), (2, 4), op="min").tolist()
    [[0.0], [8.0]]
    """
    x = as_float(x)
    if x.ndim == 1:  # a height-1 image: one window row, the signal's settings along the width
        kernel_size, stride, padding, dilation = signal_settings(kernel_size, stride, padding, dilation)
    elif x.ndim not in (2, 3):
        raise CnnconvError(f"pool takes a signal (n,), an image (H, W) or (H, W, C), got shape {x.shape}")
    batch = x.reshape(1, *((1, x.size) if x.ndim == 1 else x.shape[:2]), x.shape[2] if x.ndim == 3 else 1)
    y = pool2d_forward(
        batch, kernel_size, stride=stride, padding=padding, op=op, ceil_mode=ceil_mode,
        count_include_pad=count_include_pad, dilation=dilation,
    )
    return y.reshape(-1) if x.ndim == 1 else y[0] if x.ndim == 3 else y[0, :, :, 0]
