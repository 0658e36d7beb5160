"""Gradients of pooling: window pooling and global pooling, batched NHWC.

``avg`` spreads each output gradient evenly over its window; ``max``/``min`` route it to
the first extreme value of each window in row-major order (PyTorch's choice; a NaN takes
it, the first one). Re-exported by :mod:`cnnconv.pooling.forward`, which holds the forward passes.
"""

from __future__ import annotations

import numpy as np

from cnnconv.conv.padding import as_float
from cnnconv.pooling.geometry import FILL, Geometry, check_batch, check_op, covered
from cnnconv.errors import CnnconvError


def pool2d_backward(
    dy, x, y, kernel_size, *, stride=None, padding=0, op="max", ceil_mode=False, count_include_pad=False, dilation=1
) -> np.ndarray:
    """Gradient of :func:`pool2d_forward` with respect to its input.

    ``avg`` spreads each output gradient evenly over its window (divided by the same
    count as the forward pass); ``max``/``min`` route it to the first extreme value
    of each window in row-major order, so ties never double a gradient. Padding
    receives nothing.

    Parameters
    ----------
    dy : ndarray
        Gradient of the loss with respect to ``y``.
    x, y : ndarray
        The forward pass's input and output.
    kernel_size, stride, padding, op, ceil_mode, count_include_pad, dilation
        As given to :func:`pool2d_forward`.

    Returns
    -------
    ndarray
        ``dx``, shaped like ``x``, dtype of ``dy``.

    Shape
    -----
    dy, y (N, Ho, Wo, C); x (N, H, W, C) -> dx (N, H, W, C).

    Examples
    --------
    >>> from cnnconv.pooling.forward import pool2d_forward
    >>> x = np.array([[1.0, 3.0], [3.0, 0.0]]).reshape(1, 2, 2, 1)
    >>> y = pool2d_forward(x, 2)
    >>> pool2d_backward(np.ones_like(y), x, y, 2)[0, :, :, 0].tolist()   # tie: the first 3 wins
    [[0.0, 1.0], [0.0, 0.0]]
    """
    x, dy = as_float(x), as_float(dy, "dy")
    check_batch(x)
    op = check_op(op)
    g = Geometry(x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    expected = (x.shape[0], *g.out, x.shape[3])
    if dy.shape != expected:
        raise CnnconvError(f"dy must have the pooled shape {expected}, got {dy.shape}")
    dxp = np.zeros((x.shape[0], *g.canvas, x.shape[3]) if g.padded else x.shape, dtype=dy.dtype)
    if op == "avg":
        dy = dy / g.divisor(count_include_pad, dy.dtype)
        spread = np.zeros((*dy.shape[:2], g.canvas[1], dy.shape[3]), dtype=dy.dtype)
        for cols in g.taps(1):  # the adjoint of rows-then-columns: columns, then rows
            spread[:, :, cols] += dy[:, :, : covered(cols)]
        for rows in g.taps(0):
            dxp[:, rows] += spread[:, : covered(rows)]
    else:
        _route_to_first_extreme(dxp, g.canvas_of(x, FILL[op]), as_float(y, "y"), dy, g)
    return g.uncanvas(dxp) if g.padded else dxp


def _route_to_first_extreme(dxp, xp, y, dy, g: Geometry) -> None:
    if y.shape != dy.shape:
        raise CnnconvError(f"y must have the pooled shape {dy.shape}, got {y.shape}")
    has_nan = bool(np.isnan(y).any())
    inside = [g.inside(a) for a in (0, 1)]
    # windows that do not overlap each write their own cells: assign instead of add
    disjoint = all(g.s[a] >= g.d[a] * (g.k[a] - 1) + 1 for a in (0, 1))
    taken = np.zeros(y.shape, dtype=bool)
    match = np.empty(y.shape, dtype=bool)
    share = np.empty(y.shape, dtype=dy.dtype)
    taps = [(ti, rows, tj, cols) for ti, rows in enumerate(g.taps(0)) for tj, cols in enumerate(g.taps(1))]
    for number, (ti, rows, tj, cols) in enumerate(taps):
        # the leading windows this tap reaches (the others read only padding here)
        head = (slice(None), slice(covered(rows)), slice(covered(cols)))
        tap, m, seen, into = xp[:, rows, cols], match[head], taken[head], dy[head]
        np.equal(tap, y[head], out=m)
        if has_nan:
            m |= np.isnan(tap)
        in_rows, in_cols = inside[0][ti][: m.shape[1]], inside[1][tj][: m.shape[2]]
        if not (in_rows.all() and in_cols.all()):
            # a real -inf/+inf must win over the padding that equals it
            m &= np.logical_and.outer(in_rows, in_cols)[:, :, None]
        if number:
            np.greater(m, seen, out=m)  # matches not claimed by an earlier tap
        if number < len(taps) - 1:
            seen |= m
        if disjoint:
            np.multiply(into, m, out=dxp[:, rows, cols])
        else:
            np.multiply(into, m, out=share[head])
            dxp[:, rows, cols] += share[head]


def global_pool_backward(dy, x, op: str = "avg") -> np.ndarray:
    """Gradient of :func:`global_pool_forward`: even spread (avg) or the first extreme (max/min).

    Shape
    -----
    dy (N, C), x (N, H, W, C) -> dx (N, H, W, C).

    Examples
    --------
    >>> x = np.array([1.0, 4.0, 4.0, 2.0]).reshape(1, 2, 2, 1)
    >>> global_pool_backward(np.ones((1, 1)), x, "max")[0, :, :, 0].tolist()
    [[0.0, 1.0], [0.0, 0.0]]
    """
    x, dy = as_float(x), as_float(dy, "dy")
    check_batch(x)
    op = check_op(op)
    n, h, w, c = x.shape
    if dy.shape != (n, c):
        raise CnnconvError(f"dy must have shape {(n, c)}, got {dy.shape}")
    if op == "avg":
        return np.broadcast_to(dy[:, None, None, :] / (h * w), x.shape).astype(dy.dtype)
    flat = x.reshape(n, h * w, c)
    # argmax/argmin return the first occurrence (and the first NaN), row-major
    first = (flat.argmax if op == "max" else flat.argmin)(axis=1)
    dx = np.zeros((n, h * w, c), dtype=dy.dtype)
    np.put_along_axis(dx, first[:, None, :], dy[:, None, :], axis=1)
    return dx.reshape(x.shape)
