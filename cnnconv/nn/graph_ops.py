"""The graph operations as pure functions: add, concatenate, centre-crop, upsample, and
pooling with ``:same`` padding.

Same conventions as :mod:`cnnconv.nn.functional`: every ``*_forward`` returns ``(y, cache)``
and every ``*_backward`` takes the upstream gradient and that cache; nothing here keeps
state. Batches are ``(N, H, W, C)`` (``add`` also takes flat ``(N, n)`` vectors).

Upsampling follows PyTorch's ``nn.Upsample``: ``nearest`` repeats each pixel ``f`` times per
axis; ``bilinear`` places the output pixel centres as ``align_corners=False`` does (output
``o`` reads input coordinate ``(o + 0.5) / f - 0.5``, clamped at 0, between its two nearest
input pixels; the last pixel is repeated past the edge).
"""

from __future__ import annotations

import numpy as np

from cnnconv import pooling as pool
from cnnconv.errors import CnnconvError


def add_forward(xs):
    """Element-wise sum of two or more arrays of one shape (a residual join).

    Examples
    --------
    >>> y, _ = add_forward([np.ones((1, 2, 2, 1)), np.full((1, 2, 2, 1), 2.0)])
    >>> y.ravel().tolist()
    [3.0, 3.0, 3.0, 3.0]
    """
    if len({x.shape for x in xs}) != 1:
        raise CnnconvError(f"add needs inputs of one shape, got {', '.join(str(x.shape) for x in xs)}")
    y = xs[0] + xs[1]
    for x in xs[2:]:
        y += x
    return y, len(xs)


def add_backward(dy, cache):
    """Every input receives the whole upstream gradient: a tuple of ``cache`` references to ``dy``."""
    return (dy,) * cache


def concat_forward(xs):
    """Concatenation along the channels (the last axis), in the order given.

    Shape
    -----
    ``(N, H, W, C_1), ..., (N, H, W, C_k) -> (N, H, W, C_1 + ... + C_k)``

    Examples
    --------
    >>> y, widths = concat_forward([np.zeros((1, 2, 2, 3)), np.ones((1, 2, 2, 1))])
    >>> y.shape, widths
    ((1, 2, 2, 4), (3, 1))
    """
    if len({x.shape[:-1] for x in xs}) != 1:
        raise CnnconvError(f"concatenation needs inputs that differ only in channels, got "
                           f"{', '.join(str(x.shape) for x in xs)}")
    return np.concatenate(xs, axis=-1), tuple(x.shape[-1] for x in xs)


def concat_backward(dy, cache):
    """The upstream gradient split back along the channels, one part per input (views of ``dy``)."""
    bounds = np.cumsum((0,) + tuple(cache))
    return tuple(dy[..., a:b] for a, b in zip(bounds[:-1], bounds[1:]))


def crop_forward(x, crop):
    """Cut ``crop = (top, bottom, left, right)`` rows and columns off every map (a view).

    The centre crop of a U-Net skip: ``(H, W, C) -> (H - top - bottom, W - left - right, C)``.

    Examples
    --------
    >>> y, _ = crop_forward(np.arange(16.0).reshape(1, 4, 4, 1), (1, 1, 1, 1))
    >>> y[0, :, :, 0].tolist()
    [[5.0, 6.0], [9.0, 10.0]]
    """
    top, bottom, left, right = crop
    h, w = x.shape[1:3]
    if top + bottom >= h or left + right >= w or min(crop) < 0:
        raise CnnconvError(f"cannot crop {crop} (top, bottom, left, right) off a {h}x{w} map")
    return x[:, top : h - bottom, left : w - right, :], (x.shape, crop)


def crop_backward(dy, cache):
    """The gradient placed back in the uncropped frame, zeros where the crop cut."""
    shape, (top, bottom, left, right) = cache
    dx = np.zeros(shape, dtype=dy.dtype)
    dx[:, top : shape[1] - bottom, left : shape[2] - right, :] = dy
    return dx


def upsample_nearest_forward(x, factor):
    """Repeat every pixel ``factor = (fh, fw)`` times down and across.

    Shape
    -----
    ``(N, H, W, C) -> (N, H*fh, W*fw, C)``

    Examples
    --------
    >>> y, _ = upsample_nearest_forward(np.array([[1.0, 2.0]]).reshape(1, 1, 2, 1), (2, 2))
    >>> y[0, :, :, 0].tolist()
    [[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]
    """
    fh, fw = factor
    n, h, w, c = x.shape
    y = np.broadcast_to(x[:, :, None, :, None, :], (n, h, fh, w, fw, c)).reshape(n, h * fh, w * fw, c)
    return y, factor


def upsample_nearest_backward(dy, cache):
    """Each input pixel gets the sum of the gradients of its ``fh*fw`` copies."""
    fh, fw = cache
    n, ho, wo, c = dy.shape
    return dy.reshape(n, ho // fh, fh, wo // fw, fw, c).sum(axis=(2, 4))


def _bilinear_taps(size: int, factor: int, dtype):
    """For one axis: the lower input index, the upper one, and the upper weight of every output."""
    o = np.arange(size * factor)
    src = np.maximum((o + 0.5) / factor - 0.5, 0.0)
    low = np.minimum(np.floor(src).astype(np.int64), size - 1)
    high = np.minimum(low + 1, size - 1)
    return low, high, (src - low).astype(dtype)


def _interpolate(x, axis, low, high, weight):
    shape = [1] * x.ndim
    shape[axis] = -1
    weight = weight.reshape(shape)
    lower = np.take(x, low, axis=axis)
    return lower + (np.take(x, high, axis=axis) - lower) * weight


def _interpolate_backward(dy, axis, low, high, weight, size):
    shape = [1] * dy.ndim
    shape[axis] = -1
    weight = weight.reshape(shape)
    out_shape = list(dy.shape)
    out_shape[axis] = size
    dx = np.zeros(out_shape, dtype=dy.dtype)
    # each output reads two inputs: its gradient goes to both, weighted. The index arrays are
    # sorted with repeats, so add the contributions per input index with bincount-like sums
    moved = np.moveaxis(dx, axis, 0)
    hi = np.moveaxis(dy * weight, axis, 0)
    lo = np.moveaxis(dy, axis, 0) - hi
    np.add.at(moved, low, lo)
    np.add.at(moved, high, hi)
    return dx


def upsample_bilinear_forward(x, factor):
    """Bilinear upsampling by ``factor = (fh, fw)`` (PyTorch's ``align_corners=False``).

    Separable: one linear interpolation down the rows, then one across the columns.

    Shape
    -----
    ``(N, H, W, C) -> (N, H*fh, W*fw, C)``

    Examples
    --------
    >>> y, _ = upsample_bilinear_forward(np.array([0.0, 4.0]).reshape(1, 1, 2, 1), (1, 2))
    >>> y[0, 0, :, 0].tolist()
    [0.0, 1.0, 3.0, 4.0]
    """
    n, h, w, c = x.shape
    rows = _bilinear_taps(h, factor[0], x.dtype)
    cols = _bilinear_taps(w, factor[1], x.dtype)
    y = _interpolate(_interpolate(x, 1, *rows), 2, *cols)
    return y, (rows, cols, (h, w))


def upsample_bilinear_backward(dy, cache):
    """The adjoint of :func:`upsample_bilinear_forward`: each output's gradient shared by the
    input pixels it was interpolated from, with the same weights."""
    rows, cols, (h, w) = cache
    return _interpolate_backward(_interpolate_backward(dy, 2, *cols, w), 1, *rows, h)


def pool_same_forward(x, kernel, stride, padding, op):
    """Max or average pooling with ``:same`` padding (TensorFlow's rule), padded positions left
    out of every window: a max ignores them, an average divides by the inputs the window holds.

    ``padding`` is ``((top, bottom), (left, right))``, each smaller than the window, so every
    window holds at least one input.

    Shape
    -----
    ``(N, H, W, C) -> (N, ceil(H/sh), ceil(W/sw), C)``

    Examples
    --------
    >>> x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    >>> y, _ = pool_same_forward(x, (2, 2), (2, 2), ((0, 1), (0, 1)), "avg")
    >>> y[0, :, :, 0].tolist()
    [[3.0, 4.5], [7.5, 9.0]]
    """
    (t, b), (l, r) = padding
    fill = np.finfo(x.dtype).min if op == "max" else 0
    xp = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=fill)
    y = pool.pool2d_forward(xp, kernel, stride=stride, op=op)
    if op == "max":
        return y, (xp, y, None, kernel, stride, padding, op)
    ones = np.pad(np.ones(x.shape[1:3], dtype=x.dtype), ((t, b), (l, r)))
    inside = pool.pool2d_forward(ones[None, :, :, None], kernel, stride=stride, op="avg")[0, :, :, 0]
    scale = (1.0 / inside)[None, :, :, None].astype(x.dtype)  # window size / inputs in the window
    return y * scale, (xp, y, scale, kernel, stride, padding, op)


def pool_same_backward(dy, cache):
    """Gradient of :func:`pool_same_forward`; the padding receives nothing."""
    xp, y, scale, kernel, stride, ((t, b), (l, r)), op = cache
    dz = dy if scale is None else dy * scale
    dxp = pool.pool2d_backward(dz, xp, y, kernel, stride=stride, op=op)
    return dxp[:, t : xp.shape[1] - b, l : xp.shape[2] - r, :]
