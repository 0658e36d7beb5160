"""Direct correlation: accumulate one shifted, strided slice per kernel tap, strip by strip.

Summing k² shifted slices over the whole image would stream it through memory k² times;
working on row strips keeps them in cache: 38 ms for 3x3 at 4096x4096 with 1 MiB strips
against 57 ms with 256 KiB strips, and 44 ms against 102 ms for the whole image in one strip
(BENCHMARKS.md, "Engine tuning", direct strip size). Strips are 1 MiB, half the 2 MiB L2 of
the project's 2-core Intel Xeon (4096² 3x3, one band / two bands in
threads, ``cnnconv.conv.engines._split``): 512 KiB 61 / 63 ms, 1 MiB 62 / 45, 2 MiB 77 / 44,
4 MiB 103 / 54. (An AMD EPYC with 1 MiB of L2 preferred 4 MiB with two
bands.) Loops run over strips and taps, never over pixels.
"""

from __future__ import annotations

import numpy as np

from cnnconv.conv.engines._layout import STRIP_BYTES, out_shape, strip_rows, tap_view


def _taps(w):
    """(a, b, weight) for every tap; zero taps of a 2-D kernel are skipped (Sobel has three)."""
    kh, kw = w.shape[:2]
    taps = [(a, b, w[a, b]) for a in range(kh) for b in range(kw)]
    if w.ndim == 2:
        taps = [t for t in taps if t[2] != 0]
    return taps


def correlate_direct(xp, w, stride=(1, 1), dilation=(1, 1), out=None, budget=4 * STRIP_BYTES):
    """Valid correlation by tap accumulation over cache-sized row strips.

    Shape
    -----
    Any case of the ``cnnconv.conv.dispatch.correlate_valid`` contract: ``xp`` (H, W[, C]) and
    ``w`` (kh, kw), (kh, kw, C) or (kh, kw, C, N) -> ``out_shape(...)``.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(4, 4)
    >>> correlate_direct(x, np.array([[0.0, 1.0], [1.0, 0.0]]), stride=(2, 1)).tolist()
    [[5.0, 7.0, 9.0], [21.0, 23.0, 25.0]]
    """
    shape = out_shape(xp.shape, w.shape, stride, dilation)
    if out is None:
        out = np.empty(shape, dtype=xp.dtype)
    taps = _taps(w)
    if not taps:
        out[...] = 0
        return out
    ho, wo = shape[:2]
    row_elems = int(np.prod(shape[1:]))
    in_row = int(np.prod(xp.shape[1:]))
    rows = strip_rows((2 * row_elems + in_row) * xp.itemsize, budget)
    scratch = np.empty((min(rows, ho),) + shape[1:], dtype=xp.dtype)
    # 2-D kernels scale whole slices; 3-D/4-D kernels contract the channel axis per tap.
    product = np.multiply if w.ndim == 2 else np.matmul
    for r0 in range(0, ho, rows):
        r1 = min(ho, r0 + rows)
        acc, tmp = out[r0:r1], scratch[: r1 - r0]
        a, b, wt = taps[0]
        product(tap_view(xp, r0, r1, a, b, wo, stride, dilation), wt, out=acc)
        for a, b, wt in taps[1:]:
            view = tap_view(xp, r0, r1, a, b, wo, stride, dilation)
            if w.ndim == 2 and wt in (1, -1):
                # Weights of +-1 (Sobel, Prewitt, Laplacian) need one pass, not two.
                (np.add if wt == 1 else np.subtract)(acc, view, out=acc)
                continue
            product(view, wt, out=tmp)
            np.add(acc, tmp, out=acc)
    return out
