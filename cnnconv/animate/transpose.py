"""The trace of a transposed correlation: each input cell stamps ``value * kernel`` into the output.

The stamps are added into the uncropped output (``(n-1)*s + d*(k-1) + 1 + output_padding``
per axis), ``stride`` apart, as :func:`cnnconv.conv.transpose.transpose_scatter` does; a last
frame cuts ``padding`` off each side. The output shown there is the core's
:func:`cnnconv.conv.correlate_transpose` result.
"""

from __future__ import annotations

import numpy as np

from cnnconv.animate.records import CropFrame, StampFrame, Tap, Trace, factor, nested
from cnnconv.animate.windows import as_2d, finite_input, finite_result, index, window_cells
from cnnconv.conv.padding import explicit_padding, finite_kernel, per_axis
from cnnconv.conv.transpose import correlate_transpose
from cnnconv.errors import CnnconvError
from cnnconv.shape.arithmetic import conv_transpose_out_size


def trace_transpose(y, w, *, stride=1, padding=0, output_padding=0, dilation=1) -> Trace:
    """Trace :func:`~cnnconv.conv.correlate_transpose` on a signal or a one-channel image.

    Parameters are those of :func:`~cnnconv.conv.correlate_transpose`.

    Returns
    -------
    Trace
        One :class:`~cnnconv.animate.records.StampFrame` per input cell (row-major), then a
        :class:`~cnnconv.animate.records.CropFrame` when padding or output padding changes
        the uncropped output. ``canvas`` is the uncropped output before any stamp (zeros).

    Shape
    -----
    Per axis ``out = (n - 1)*s - before - after + d*(k - 1) + output_padding + 1``.

    Examples
    --------
    >>> t = trace_transpose([[0, 1], [2, 3]], [[0, 1], [2, 3]])
    >>> t.frames[3].expression, t.output
    ('3·kernel at (1, 1)', ((0.0, 0.0, 1.0), (0.0, 4.0, 6.0), (4.0, 12.0, 9.0)))
    >>> [f.kind for f in trace_transpose([1, 1], [1, 2], padding=1).frames]
    ['stamp', 'stamp', 'crop']
    """
    y, w = finite_input(y), finite_kernel(w).astype(np.float64)
    if w.ndim != y.ndim:
        raise CnnconvError(f"a {y.ndim}-D input needs a {y.ndim}-D kernel, got kernel shape {w.shape}")
    with np.errstate(over="ignore"):  # an overflow is refused below, not warned about
        out = correlate_transpose(y, w, stride=stride, padding=padding, output_padding=output_padding,
                                  dilation=dilation)  # fmt: skip
        finite_result(out, "the transposed convolution")
        finite_result(np.abs(y).max() * np.abs(w).sum(), "a sum of the stamps")
    nd = y.ndim
    s, d = per_axis(stride, nd, "stride"), per_axis(dilation, nd, "dilation")
    op = per_axis(output_padding, nd, "output_padding", minimum=0)
    pads = explicit_padding(padding, nd)
    y2, w2 = as_2d(y), as_2d(w)
    (sh, sw), (dh, dw) = (1,) * (2 - nd) + s, (1,) * (2 - nd) + d
    oph, opw = (0,) * (2 - nd) + op
    h, wd = y2.shape
    kh, kw = w2.shape
    buf = np.zeros(((h - 1) * sh + dh * (kh - 1) + 1 + oph, (wd - 1) * sw + dw * (kw - 1) + 1 + opw))
    canvas = nested(buf[0] if nd == 1 else buf)
    frames = []
    for i, j, cells in window_cells((h, wd), (kh, kw), (sh, sw), (dh, dw)):
        v = float(y2[i, j])
        stamp = []
        for a, b, r, c in cells:
            product = v * float(w2[a, b])
            buf[r, c] += product
            stamp.append(Tap(tap=index(nd, a, b), kernel_index=index(nd, a, b), cell=index(nd, r, c),
                             input_index=index(nd, i, j), padding=False, value=v, weight=float(w2[a, b]),
                             product=product))  # fmt: skip
        at = index(nd, i * sh, j * sw)
        where = at[0] if nd == 1 else at
        frames.append(StampFrame(
            kind="stamp", input_index=index(nd, i, j), value=v, offset=at, stamp=tuple(stamp),
            partial=nested(buf[0] if nd == 1 else buf), expression=f"{factor(v)}·kernel at {where}",
        ))  # fmt: skip
    if any(b or a for b, a in pads) or any(op):
        names = ("",) if nd == 1 else ("rows ", "cols ")
        cut = "; ".join(f"{name}{b} before, {a} after" for name, (b, a) in zip(names, pads))
        extra = f" (output padding {', '.join(map(str, op))} was added at the end)" if any(op) else ""
        frames.append(CropFrame(kind="crop", crop=pads, extra=op, value=nested(out),
                                expression=f"padding crops {cut}{extra}"))  # fmt: skip
    names = ("length",) if nd == 1 else ("rows", "cols")
    formula = tuple(
        f"{name}: out = (n-1)·s - p1 - p2 + d·(k-1) + output_padding + 1 "
        f"= ({n}-1)·{st} - {b} - {a} + {di}·({k}-1) + {o} + 1 = {conv_transpose_out_size(n, k, st, 0, o, di) - b - a}"
        for name, n, k, st, (b, a), o, di in zip(names, y.shape, w.shape, s, pads, op, d)
    )
    empty = tuple(None for _ in range(buf.shape[1]))
    return Trace(
        operation="transpose", ndim=nd, input=nested(y), kernel=nested(w), applied_kernel=nested(w), canvas=canvas,
        canvas_source=empty if nd == 1 else tuple(empty for _ in range(buf.shape[0])), padding=pads,
        boundary="crop", cval=0.0, stride=s, dilation=d, origin=(0,) * nd, origin_tap=(0,) * nd, unread=(0,) * nd,
        output=nested(out), formula=formula, frames=tuple(frames), output_padding=op,
    )  # fmt: skip
