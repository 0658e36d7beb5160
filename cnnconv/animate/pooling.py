"""The trace of max, average or min pooling: one frame per window.

Window placement is :class:`cnnconv.pooling.geometry.Geometry`'s (PyTorch's sizes and ceil
rule; tap ``t`` of window ``i`` reads input ``i*s - p + t*d``), each frame's value is the
core's :func:`cnnconv.pooling.pool` result, and the winner of a max/min window is the first
extreme value in row-major order, where :func:`cnnconv.pooling.pool2d_backward` sends the
gradient.
"""

from __future__ import annotations

import numpy as np

from cnnconv.animate.records import PoolFrame, Tap, Trace, format_number, nested
from cnnconv.animate.windows import as_2d, exact_sum, finite_input, finite_result, index, window_cells
from cnnconv.pooling.forward import pool
from cnnconv.pooling.geometry import Geometry, signal_settings


def _settings(nd, kernel_size, stride, padding, dilation):
    """pool()'s own reading of the settings: a signal is a height-1 image."""
    if nd == 2:
        return kernel_size, stride, padding, dilation
    return signal_settings(kernel_size, stride, padding, dilation)


def trace_pool(
    x, kernel_size, *, stride=None, padding=0, op="max", ceil_mode=False, count_include_pad=False, dilation=1
) -> Trace:
    """Trace :func:`~cnnconv.pooling.pool` on a signal or a one-channel image.

    Parameters are those of :func:`~cnnconv.pooling.pool`. The canvas is the input with
    ``padding`` on both sides (None in the padding: it never wins a max or min); a
    ceil-mode window may reach past it (those taps are ``outside``).

    Returns
    -------
    Trace
        One :class:`~cnnconv.animate.records.PoolFrame` per output cell, row-major.

    Shape
    -----
    Frames: ``prod(output_shape)``, ``out = pool_out_size(n, k, s, p, d, ceil_mode)`` per axis.

    Examples
    --------
    >>> t = trace_pool([1, 5, 2, 0, 3], 2, ceil_mode=True)
    >>> [f.expression for f in t.frames]
    ['max(1, 5) = 5', 'max(2, 0) = 2', 'max(3) = 3']
    >>> t.frames[2].taps[1].outside, t.frames[1].winner
    (True, (2,))
    """
    x = finite_input(x)
    nd = x.ndim
    with np.errstate(over="ignore"):  # an overflow is refused below, not warned about
        out = pool(x, kernel_size, stride=stride, padding=padding, op=op, ceil_mode=ceil_mode,
                   count_include_pad=count_include_pad, dilation=dilation)  # fmt: skip
        finite_result(out, "the pooling")
    k2, s2, p2, d2 = _settings(nd, kernel_size, stride, padding, dilation)
    x2 = as_2d(x)
    h, wd = x2.shape
    g = Geometry((1, h, wd, 1), k2, s2, p2, d2, ceil_mode)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = g.k, g.s, g.p, g.d
    divisor = g.divisor(count_include_pad, np.float64)[:, :, 0]
    out2 = as_2d(out)
    frames = []
    for i, j, cells in window_cells(out2.shape, (kh, kw), (sh, sw), (dh, dw)):
        taps, real = [], []
        for a, b, r, c in cells:
            q, u = r - ph, c - pw  # input coordinates
            on = 0 <= q < h and 0 <= u < wd
            outside = q >= h + ph or u >= wd + pw
            value = float(x2[q, u]) if on else None
            taps.append(Tap(tap=index(nd, a, b), kernel_index=index(nd, a, b), cell=index(nd, r, c),
                            input_index=index(nd, q, u) if on else None, padding=not on and not outside,
                            value=value, outside=outside))  # fmt: skip
            if on:
                real.append((value, index(nd, r, c)))
            elif not outside and count_include_pad and op == "avg":
                real.append((0.0, None))
        value = float(out2[i, j])
        values = [v for v, _ in real]
        winner = None
        if op != "avg":
            best = (max if op == "max" else min)(values)
            winner = next(cell for v, cell in real if v == best)
            expression = f"{op}({', '.join(map(format_number, values))}) = {format_number(value)}"
        else:
            count = int(divisor[i, j])
            expression = f"({' + '.join(map(format_number, values))}) / {count} = {format_number(value)}"
        frames.append(PoolFrame(
            kind="pool", output_index=index(nd, i, j), window=index(nd, i * sh, j * sw), taps=tuple(taps),
            winner=winner, count=int(divisor[i, j]), total=exact_sum(values, "a window's sum"), value=value,
            expression=expression,
        ))  # fmt: skip
    canvas = np.full((h + 2 * ph, wd + 2 * pw), None, dtype=object)
    canvas[ph : ph + h, pw : pw + wd] = x2
    source = [[index(nd, r - ph, c - pw) if ph <= r < ph + h and pw <= c < pw + wd else None
               for c in range(canvas.shape[1])] for r in range(canvas.shape[0])]  # fmt: skip
    axes = ((0, "rows"), (1, "cols")) if nd == 2 else ((1, "length"),)
    n2 = (h, wd)
    span = [g.d[a] * (g.k[a] - 1) + 1 for a in (0, 1)]
    unread = tuple(max(0, n2[a] + 2 * g.p[a] - ((g.out[a] - 1) * g.s[a] + span[a])) for a, _ in axes)
    formula = tuple(_axis_formula(name, n2[a], g.k[a], g.s[a], g.p[a], g.d[a], ceil_mode, g.out[a]) for a, name in axes)
    pick = (lambda t: t) if nd == 2 else (lambda t: t[1:])
    return Trace(
        operation="pool", ndim=nd, input=nested(x), kernel=None, applied_kernel=None,
        canvas=tuple(tuple(None if v is None else float(v) for v in row) for row in canvas)[0 if nd == 1 else slice(None)],
        canvas_source=tuple(tuple(row) for row in source)[0 if nd == 1 else slice(None)],
        padding=tuple((p, p) for p in pick(g.p)), boundary="ignored", cval=0.0, stride=pick(g.s), dilation=pick(g.d),
        origin=(0,) * nd, origin_tap=(0,) * nd, unread=unread, output=nested(out), formula=formula,
        frames=tuple(frames), op=op, size=pick(g.k), ceil_mode=bool(ceil_mode),
        count_include_pad=bool(count_include_pad),
    )  # fmt: skip


def _axis_formula(name, n, k, s, p, d, ceil_mode, out) -> str:
    rounding = "ceil" if ceil_mode else "floor"
    text = (f"{name}: out = {rounding}((n + 2·p - d·(k-1) - 1) / s) + 1 "
            f"= {rounding}(({n} + 2·{p} - {d}·({k}-1) - 1) / {s}) + 1")
    plain = (n + 2 * p - d * (k - 1) - 1) // s + 1 if not ceil_mode else -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1
    if plain != out:  # ceil mode: a last window that would start in the right padding is dropped
        return f"{text} = {plain}, less the window starting in the padding = {out}"
    return f"{text} = {out}"
