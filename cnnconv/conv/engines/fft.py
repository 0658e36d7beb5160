"""FFT correlation: real 2-D FFTs of fast sizes, tile by tile for large images.

A valid correlation of an input tile of L rows with a kernel of extent eh needs an FFT of
only L points (the circular wrap-around lands in the eh-1 outputs that are discarded), so each
tile's transform size is the next 2^a 3^b 5^c 7^d >= L. Large images are cut into output
tiles that overlap by the kernel extent on input (overlap-save, the valid-output form of
overlap-add): the kernel spectrum is computed once, memory stays a few tiles, and the cost
grows with the image instead of with the next fast size of the whole image.
"""

from __future__ import annotations

import numpy as np

from cnnconv.conv.engines._layout import out_shape

#: Transform edge of one tile on large images: 512-point tiles ran 2.3x faster than
#: 1000-output tiles (1024-point) at 4096x4096 with 15x15 and 31x31 kernels
#: (BENCHMARKS.md, "Engine tuning", FFT tile size).
FFT_SIZE = 512


def next_fast_len(n):
    """Smallest 2^a 3^b 5^c 7^d that is >= n (sizes pocketfft transforms quickly).

    >>> next_fast_len(513), next_fast_len(1000), next_fast_len(1031)
    (525, 1000, 1050)
    """
    best = 1 << max(0, (n - 1).bit_length())
    p7 = 1
    while p7 < best:
        p5 = p7
        while p5 < best:
            p3 = p5
            while p3 < best:
                m = p3
                while m < n:
                    m *= 2
                best = min(best, m)
                p3 *= 3
            p5 *= 5
        p7 *= 7
    return best


def _spectrum_product(xf, kf, kernel_ndim):
    """Combine input and kernel spectra along channels as the contract's kernel shape says."""
    if kernel_ndim == 2:
        return xf * (kf if xf.ndim == 2 else kf[:, :, None])
    if kernel_ndim == 3:
        return np.einsum("ijc,ijc->ij", xf, kf)
    return np.einsum("ijc,ijcn->ijn", xf, kf)


def _tiles(n_out, step, extent, size):
    """Output rows (or columns) per tile along one axis, and the FFT length of a full tile."""
    if (n_out - 1) * step + extent <= size:
        return n_out, next_fast_len((n_out - 1) * step + extent)
    size = max(size, 1 << (2 * extent - 1).bit_length())
    return (size - extent) // step + 1, size


def correlate_fft(xp, w, stride=(1, 1), dilation=(1, 1), fft_size=FFT_SIZE, out=None):
    """Valid correlation by real FFT, tiled (overlap-save) when the input exceeds ``fft_size``.

    Shape
    -----
    Any case of the ``cnnconv.conv.dispatch.correlate_valid`` contract -> ``out_shape(...)``.
    Strided outputs are sampled from each tile's full-resolution result; ``out``, an array
    of that shape and ``xp.dtype``, receives the result if given.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(4, 4)
    >>> np.round(correlate_fft(x, np.array([[1.0, 2.0]]), stride=(2, 1)), 6).tolist()
    [[2.0, 5.0, 8.0], [26.0, 29.0, 32.0]]
    """
    (sh, sw), (dh, dw) = stride, dilation
    shape = out_shape(xp.shape, w.shape, stride, dilation)
    ho, wo = shape[:2]
    kh, kw = w.shape[:2]
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    # Correlation is convolution with the flipped (and dilated) kernel.
    flipped = np.zeros((eh, ew) + w.shape[2:], dtype=w.dtype)
    flipped[::dh, ::dw] = w
    flipped = flipped[::-1, ::-1]
    th, fh = _tiles(ho, sh, eh, fft_size)
    tw, fw = _tiles(wo, sw, ew, fft_size)
    if out is None:
        out = np.empty(shape, dtype=xp.dtype)
    spectra = {}
    for i0 in range(0, ho, th):
        i1 = min(ho, i0 + th)
        for j0 in range(0, wo, tw):
            j1 = min(wo, j0 + tw)
            rows_in = (i1 - i0 - 1) * sh + eh
            cols_in = (j1 - j0 - 1) * sw + ew
            size = (fh if i1 - i0 == th else next_fast_len(rows_in),
                    fw if j1 - j0 == tw else next_fast_len(cols_in))
            if size not in spectra:
                spectra[size] = np.fft.rfft2(flipped, s=size, axes=(0, 1))
            tile_in = xp[i0 * sh : i0 * sh + rows_in, j0 * sw : j0 * sw + cols_in]
            xf = np.fft.rfft2(tile_in, s=size, axes=(0, 1))
            full = np.fft.irfft2(_spectrum_product(xf, spectra[size], w.ndim), s=size, axes=(0, 1))
            out[i0:i1, j0:j1] = full[eh - 1 : rows_in : sh, ew - 1 : cols_in : sw]
    return out
