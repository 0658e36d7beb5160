"""Slow, obviously correct oracles for convolution tests (plain Python loops, float64).

Nothing here uses numpy.pad or cnnconv: the boundary rules are written out as index
maps, the sums as loops over output pixels and taps. Other test files may import these.
"""

from __future__ import annotations

import math

import numpy as np


def source_index(i: int, n: int, boundary: str) -> int | None:
    """Index into a length-``n`` axis that position ``i`` (possibly outside) reads; None = fill.

    zero/constant: outside reads the fill value; edge: aaa|abcd|ddd;
    reflect (half-sample): dcba|abcd|dcba, period 2n; mirror (whole-sample):
    dcb|abcd|cba, period 2n-2; wrap: abcd|abcd|abcd, period n.
    """
    if 0 <= i < n:
        return i
    if boundary in ("zero", "constant"):
        return None
    if boundary == "edge":
        return min(max(i, 0), n - 1)
    if boundary == "wrap":
        return i % n
    if boundary == "reflect":
        m = i % (2 * n)
        return m if m < n else 2 * n - 1 - m
    if boundary == "mirror":
        if n == 1:
            return 0
        m = i % (2 * n - 2)
        return m if m < n else 2 * n - 2 - m
    raise ValueError(boundary)


def pad_reference(x, pads, boundary="zero", cval=0.0) -> np.ndarray:
    """Pad the first one or two axes of ``x`` by ``pads`` ((before, after), ...) with loops."""
    x = np.asarray(x, dtype=np.float64)
    if len(pads) == 1:
        return pad_reference(x[None], ((0, 0),) + tuple(pads), boundary, cval)[0]
    (t, b), (lft, r) = pads
    h, w = x.shape[:2]
    out = np.empty((h + t + b, w + lft + r) + x.shape[2:])
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            si, sj = source_index(i - t, h, boundary), source_index(j - lft, w, boundary)
            fill = 0.0 if boundary == "zero" else cval
            out[i, j] = fill if si is None or sj is None else x[si, sj]
    return out


def mode_pads(mode, spatial_in, spatial_k, stride, dilation, mirror=False):
    """(before, after) per axis for valid/same/full, from the definitions of the 'What is mode?' notes."""
    pads = []
    for n, k, s, d in zip(spatial_in, spatial_k, stride, dilation):
        if mode == "valid":
            pads.append((0, 0))
        elif mode == "full":
            pads.append((d * (k - 1), d * (k - 1)))
        else:
            out = math.ceil(n / s)
            total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
            before, after = total // 2, total - total // 2
            pads.append((after, before) if mirror else (before, after))
    return tuple(pads)


def correlate_reference(x, w, pads, stride=None, dilation=None, boundary="zero", cval=0.0, bias=None):
    """``out[i,j] = sum_{a,b} xp[i*s + a*d, j*t + b*e] * w[a,b]`` by loops, every layout.

    Layouts: (n,)&(k,), (H,W)&(kh,kw), (H,W,C)&(kh,kw) per channel, (H,W,C)&(kh,kw,C)
    summed, (H,W,C)&(kh,kw,C,N) bank. ``stride``/``dilation`` are tuples per axis.
    """
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    if x.ndim == 1:
        s, d = (1,) + tuple(stride or (1,)), (1,) + tuple(dilation or (1,))
        out = correlate_reference(x[None], w[None], ((0, 0),) + tuple(pads), s, d, boundary, cval, bias)
        return out[0]
    (sh, sw), (dh, dw) = stride or (1, 1), dilation or (1, 1)
    xp = pad_reference(x, pads, boundary, cval)
    kh, kw = w.shape[:2]
    ho = (xp.shape[0] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[1] - dw * (kw - 1) - 1) // sw + 1
    out = None
    for i in range(ho):
        for j in range(wo):
            total = 0.0
            for a in range(kh):
                for b in range(kw):
                    v = xp[i * sh + a * dh, j * sw + b * dw]
                    if w.ndim == 2:
                        total = total + v * w[a, b]  # scalar, or per channel
                    elif w.ndim == 3:
                        total = total + float(np.dot(v, w[a, b]))
                    else:
                        total = total + v @ w[a, b]
            if out is None:
                out = np.zeros((ho, wo) + np.shape(total))
            out[i, j] = total
    return out if bias is None else out + np.asarray(bias, dtype=np.float64)


def convolve_reference(x, w, pads, stride=None, dilation=None, boundary="zero", cval=0.0):
    """``correlate_reference`` with the kernel flipped on its spatial axes."""
    w = np.asarray(w, dtype=np.float64)
    flipped = w[::-1] if w.ndim == 1 else w[::-1, ::-1]
    return correlate_reference(x, flipped, pads, stride, dilation, boundary, cval)


def transpose_reference(y, w, pads, stride=None, dilation=None, output_padding=None):
    """Transposed correlation by scatter: each y pixel adds ``y * w`` at ``i*s + a*d``, then crop.

    Layouts: (n,)&(k,), (H,W)&(kh,kw), (H,W,C)&(kh,kw), (H,W)&(kh,kw,C) -> (H',W',C),
    (H,W,N)&(kh,kw,C,N) -> (H',W',C).
    """
    y, w = np.asarray(y, dtype=np.float64), np.asarray(w, dtype=np.float64)
    if y.ndim == 1:
        s, d = (1,) + tuple(stride or (1,)), (1,) + tuple(dilation or (1,))
        op = (0,) + tuple(output_padding or (0,))
        return transpose_reference(y[None], w[None], ((0, 0),) + tuple(pads), s, d, op)[0]
    (sh, sw), (dh, dw) = stride or (1, 1), dilation or (1, 1)
    oph, opw = output_padding or (0, 0)
    h, wd = y.shape[:2]
    kh, kw = w.shape[:2]
    channels = y.shape[2:] if w.ndim == 2 else w.shape[2:3]
    full = np.zeros(((h - 1) * sh + dh * (kh - 1) + 1 + oph, (wd - 1) * sw + dw * (kw - 1) + 1 + opw) + channels)
    for i in range(h):
        for j in range(wd):
            for a in range(kh):
                for b in range(kw):
                    if w.ndim == 4:
                        value = w[a, b] @ y[i, j]  # (C, N) @ (N,) -> (C,)
                    else:
                        value = y[i, j] * w[a, b]
                    full[i * sh + a * dh, j * sw + b * dw] += value
    (t, bt), (lft, r) = pads
    return full[t : full.shape[0] - bt, lft : full.shape[1] - r]
