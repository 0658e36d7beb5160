"""The trace of a correlation or convolution: one frame per output cell.

The geometry is :func:`cnnconv.conv.conv_plan`'s (padding, stride, dilation, origin,
unread rows), the padded values are :func:`cnnconv.conv.padding.pad_array`'s (the boundary
rule the core pads with), and each frame's output value is taken from the core's result.
"""

from __future__ import annotations

import math

import numpy as np

from cnnconv.animate.records import Tap, Trace, WindowFrame, nested, sum_expression
from cnnconv.conv.correlation import conv_plan, convolve, correlate
from cnnconv.conv.padding import as_real_array, finite_kernel, pad_array
from cnnconv.errors import CnnconvError
from cnnconv.shape.arithmetic import conv_out_size


def finite_input(x, ndims=(1, 2)) -> np.ndarray:
    """The input as float64, refused unless finite and 1-D or 2-D (one channel).

    >>> finite_input([1, 2]).dtype
    dtype('float64')
    """
    x = as_real_array(x, "input")
    if x.ndim not in ndims:
        raise CnnconvError(
            f"an animation takes a signal (n,) or a one-channel image (H, W), got shape {x.shape}; "
            "pick one channel or convert to gray"
        )
    if x.size == 0:
        raise CnnconvError(f"empty input: shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise CnnconvError("the input holds NaN or infinity; an animation needs finite numbers")
    return x.astype(np.float64)


def finite_result(values, operation: str) -> None:
    """Refuse a result that overflowed float64 (every number a trace holds is finite).

    >>> finite_result(np.array([np.inf]), "the correlation")
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: the correlation overflows float64 (beyond +-1.8e308) on this input; scale the input or kernel down
    """
    if not np.all(np.isfinite(values)):
        raise CnnconvError(f"{operation} overflows float64 (beyond +-1.8e308) on this input; "
                           "scale the input or kernel down")  # fmt: skip


def as_2d(a: np.ndarray) -> np.ndarray:
    """A signal as one row, an image as it is."""
    return a[None, :] if a.ndim == 1 else a


def index(ndim: int, r: int, c: int) -> tuple:
    """A 2-D position as the caller's index: (c,) for a signal, (r, c) for an image."""
    return (int(c),) if ndim == 1 else (int(r), int(c))


def window_cells(grid_shape, kernel_shape, stride, dilation):
    """Each cell ``(i, j)`` of a grid, row-major, with its taps ``(a, b)`` and the canvas cell
    ``(r, c) = (i*sh + a*dh, j*sw + b*dw)`` each one meets.

    For a correlation or a pooling the grid is the output and the canvas the padded input (the
    cells a window reads); for a transposed correlation the grid is the input and the canvas
    the output before the crop (the cells an input's stamp adds to). Arguments are pairs.

    >>> [(i, j, cells) for i, j, cells in window_cells((1, 2), (1, 2), (1, 2), (1, 1))]
    [(0, 0, [(0, 0, 0, 0), (0, 1, 0, 1)]), (0, 1, [(0, 0, 0, 2), (0, 1, 0, 3)])]
    """
    (sh, sw), (dh, dw), (kh, kw) = stride, dilation, kernel_shape
    for i in range(grid_shape[0]):
        for j in range(grid_shape[1]):
            yield i, j, [(a, b, i * sh + a * dh, j * sw + b * dw) for a in range(kh) for b in range(kw)]


def sources(shape: tuple, pads, boundary: str) -> np.ndarray:
    """Per padded cell, the flat input index it holds (-1 for a constant padding).

    Made by padding the input's own indices with the same rule the values are padded
    with, so a cell's source is whatever :func:`pad_array` copied there.

    >>> sources((3,), ((2, 1),), "reflect").tolist()
    [1, 0, 0, 1, 2, 2]
    """
    ids = np.arange(math.prod(shape)).reshape(shape)
    if boundary in ("zero", "constant"):
        return np.pad(ids, pads, constant_values=-1)
    return pad_array(ids, pads, boundary)


def _axis_formula(name: str, n: int, k: int, s: int, d: int, before: int, after: int) -> str:
    out = conv_out_size(n, k, s, (before, after), d)
    return (f"{name}: out = floor((n + p1 + p2 - d·(k-1) - 1) / s) + 1 "
            f"= floor(({n} + {before} + {after} - {d}·({k}-1) - 1) / {s}) + 1 = {out}")


def trace_correlate(
    x, w, *, flip=False, mode=None, padding=None, stride=1, dilation=1, boundary="zero", cval=0.0
) -> Trace:
    """Trace :func:`~cnnconv.conv.correlate` (or :func:`~cnnconv.conv.convolve` with ``flip``).

    Parameters
    ----------
    x : array_like, (n,) or (H, W), finite
    w : array_like, (k,) or (kh, kw), finite
    flip, mode, padding, stride, dilation, boundary, cval
        As for :func:`~cnnconv.conv.correlate` and :func:`~cnnconv.conv.conv_plan`.

    Returns
    -------
    Trace
        One :class:`~cnnconv.animate.records.WindowFrame` per output cell, in row-major order.

    Shape
    -----
    Frames: ``prod(output_shape)``, ``out = (n + before + after - d·(k-1) - 1) // s + 1`` per axis.

    Examples
    --------
    >>> x = [[2, 3, 7, 4], [6, 6, 9, 8], [3, 4, 8, 3]]
    >>> t = trace_correlate(x, [[3, 4], [1, 0]], stride=2)
    >>> t.output, t.frames[0].expression
    (((24.0, 46.0),), '2·3 + 3·4 + 6·1 + 6·0 = 24')
    >>> trace_correlate([1, 2, 3], [1, 2], flip=True, mode="same").frames[0].taps[0].input_index is None
    True
    """
    x, w = finite_input(x), finite_kernel(w).astype(np.float64)
    if w.ndim != x.ndim:
        raise CnnconvError(f"a {x.ndim}-D input needs a {x.ndim}-D kernel, got kernel shape {w.shape}")
    geometry = dict(mode=mode, padding=padding, stride=stride, dilation=dilation, boundary=boundary, cval=cval)
    plan = conv_plan(x.shape, w.shape, flip=flip, dtype=x.dtype, kernel=w, **geometry)
    with np.errstate(over="ignore"):  # an overflow is refused below, not warned about
        out = (convolve if flip else correlate)(x, w, **geometry)
        finite_result(out, f"the {plan.operation.replace('correlate', 'correlation').replace('convolve', 'convolution')}")
        finite_result(np.abs(x).max() * np.abs(w).max(), "a product of the window")
    nd = x.ndim
    xp = as_2d(pad_array(x, plan.padding, plan.boundary, plan.cval))
    src = as_2d(sources(x.shape, plan.padding, plan.boundary))
    applied = w[::-1] if flip and nd == 1 else w[::-1, ::-1] if flip else w
    w2, out2 = as_2d(applied), as_2d(out)
    pads = ((0, 0),) * (2 - nd) + plan.padding
    (sh, sw), (dh, dw) = (1,) * (2 - nd) + plan.stride, (1,) * (2 - nd) + plan.dilation
    kh, kw = w2.shape
    h, wd = as_2d(x).shape
    frames = []
    for i, j, cells in window_cells(out2.shape, w2.shape, (sh, sw), (dh, dw)):
        taps, pairs = [], []
        for a, b, r, c in cells:
            value, weight = float(xp[r, c]), float(w2[a, b])
            flat = int(src[r, c])
            inside = pads[0][0] <= r < pads[0][0] + h and pads[1][0] <= c < pads[1][0] + wd
            taps.append(Tap(
                tap=index(nd, a, b),
                kernel_index=index(nd, kh - 1 - a, kw - 1 - b) if flip else index(nd, a, b),
                cell=index(nd, r, c),
                input_index=None if flat < 0 else index(nd, *divmod(flat, wd)),
                padding=not inside, value=value, weight=weight, product=value * weight,
            ))  # fmt: skip
            pairs.append((value, weight))
        value = float(out2[i, j])
        frames.append(WindowFrame(
            kind="window", output_index=index(nd, i, j), window=index(nd, i * sh, j * sw),
            anchor=index(nd, i * sh + pads[0][0], j * sw + pads[1][0]), taps=tuple(taps),
            total=exact_sum((v * wt for v, wt in pairs), "a window's sum of products"), value=value,
            expression=sum_expression(pairs, value),
        ))  # fmt: skip
    names = ("length",) if nd == 1 else ("rows", "cols")
    formula = tuple(
        _axis_formula(name, n, k, s, d, b, a)
        for name, n, k, s, d, (b, a) in zip(names, x.shape, w.shape, plan.stride, plan.dilation, plan.padding)
    )
    return Trace(
        operation=plan.operation, ndim=nd, input=nested(x), kernel=nested(w), applied_kernel=nested(applied),
        canvas=nested(xp[0] if nd == 1 else xp),
        canvas_source=tuple(_source_rows(src, wd, nd)),
        padding=plan.padding, boundary=plan.boundary, cval=plan.cval, stride=plan.stride, dilation=plan.dilation,
        origin=plan.origin, origin_tap=tuple(b for b, _ in plan.padding), unread=plan.unread,
        output=nested(out), formula=formula, frames=tuple(frames),
    )  # fmt: skip


def exact_sum(terms, what: str) -> float:
    """The exact sum of ``terms`` (:func:`math.fsum`), refused when it is beyond float64.

    >>> exact_sum([0.1] * 10, "a window's sum")
    1.0
    >>> exact_sum([1e308, 1e308], "a window's sum")
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: a window's sum overflows float64 (beyond +-1.8e308) on this input; scale the input or kernel down
    """
    try:
        return math.fsum(terms)
    except OverflowError:
        finite_result(np.array([np.inf]), what)
        raise


def _source_rows(src: np.ndarray, width: int, nd: int):
    rows = [tuple(None if f < 0 else index(nd, *divmod(int(f), width)) for f in row) for row in src]
    return rows[0] if nd == 1 else rows
