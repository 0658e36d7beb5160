"""Convolution layers as pure functions over NHWC batches (plain, grouped, depthwise).

Every ``*_forward`` returns ``(y, cache)`` and every ``*_backward`` takes the upstream
gradient and that cache and returns the gradients; nothing here keeps state or
updates a weight. Batches are ``(N, H, W, C)``, convolution weights ``(kh, kw, C_in,
C_out)`` (HWIO), dense weights ``(n_in, n_out)``, biases ``(C_out,)``. The dtype of the
input is kept (float32 for training, float64 for gradient checks).

Dense, flatten and dropout live in :mod:`cnnconv.nn.dense`, activations in
:mod:`cnnconv.nn.activations`, local contrast normalisation in
:mod:`cnnconv.nn.lcn`; pooling is :mod:`cnnconv.pooling.forward`'s.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnnconv.conv.padding import resolve_padding
from cnnconv.errors import CnnconvError
from cnnconv.shape.arithmetic import conv_out_size


def layer_padding(
    padding: str | int | tuple[int, int],
    size: tuple[int, int],
    kernel_size: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding ``((top, bottom), (left, right))`` for a layer's ``padding`` field, by
    :func:`cnnconv.conv.padding.resolve_padding` (the same rule as ``correlate``'s).

    A string is an output-size mode: ``"valid"`` is none, ``"same"`` gives ``ceil(n / stride)``
    outputs (the smaller half before), ``"full"`` is ``dilation*(k - 1)`` each side; an int or
    ``(ph, pw)`` is symmetric.

    Examples
    --------
    >>> layer_padding("same", (28, 28), (5, 5))
    ((2, 2), (2, 2))
    >>> layer_padding((1, 0), (8, 8), (3, 3))
    ((1, 1), (0, 0))
    """
    mode, explicit = (padding, None) if isinstance(padding, str) else (None, padding)
    return resolve_padding(mode, explicit, size, kernel_size, stride, dilation, mirror_same=False)[1]


def column_sums(a: np.ndarray) -> np.ndarray:
    """Sum over the rows of a C-ordered (M, K) matrix, as one matrix-vector product.

    ``a.sum(axis=0)`` on a tall matrix with few columns runs ~20x slower than BLAS
    (measured: 0.6 ms against 0.03 ms for 50176 x 8 float32); this is the bias gradient.

    Examples
    --------
    >>> column_sums(np.arange(6.0).reshape(3, 2)).tolist()
    [6.0, 9.0]
    """
    return np.ones(a.shape[0], dtype=a.dtype) @ a


def conv2d_out_shape(x_shape, w_shape, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1)):
    """``(N, Ho, Wo, C_out)`` of :func:`conv2d_forward`; raises if the kernel does not fit.

    Examples
    --------
    >>> conv2d_out_shape((2, 28, 28, 1), (5, 5, 1, 8), padding=((2, 2), (2, 2)))
    (2, 28, 28, 8)
    """
    n, h, w, _ = x_shape
    kh, kw, _, c_out = w_shape
    ho = conv_out_size(h, kh, stride[0], padding[0], dilation[0])
    wo = conv_out_size(w, kw, stride[1], padding[1], dilation[1])
    if ho < 1 or wo < 1:
        raise CnnconvError(
            f"a {kh}x{kw} kernel (dilation {dilation}) does not fit a {h}x{w} input padded by "
            f"{padding}: output would be {ho}x{wo}"
        )
    return n, ho, wo, c_out


def _pad(x: np.ndarray, padding) -> np.ndarray:
    (t, b), (l, r) = padding
    if t == b == l == r == 0:
        return x
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)))


def conv2d_forward(x, w, b, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1)):
    """Batched multi-channel correlation ``Y_i = B_i + sum_j K_ij * Y_j`` (Mendez-Vazquez's Convolutional Networks, eq. 10).

    The input is padded, every (dilated, strided) window is gathered once through
    ``sliding_window_view`` into an im2col matrix ``(N*Ho*Wo, kh*kw*C_in + 1)`` in the
    weights' own (kh, kw, C_in) order plus a column of ones for the bias, and one
    matrix product gives all outputs. With one input channel the matrix is built
    tap-major instead (``kh*kw`` slice copies).

    Parameters
    ----------
    x : ndarray (N, H, W, C_in)
    w : ndarray (kh, kw, C_in, C_out)
    b : ndarray (C_out,) or None
        None for a convolution without bias (``:nobias``): no column of ones.
    stride, dilation : (int, int)
    padding : ((top, bottom), (left, right))
        Zeros added, as returned by :func:`layer_padding`.

    Returns
    -------
    y : ndarray (N, Ho, Wo, C_out)
    cache : tuple
        What :func:`conv2d_backward` needs (the im2col matrix among it).

    Shape
    -----
    ``Ho = (H + top + bottom - dilation*(kh - 1) - 1) // stride + 1``, likewise ``Wo``.

    Examples
    --------
    The vertical edge detector of the Computer Vision notes on its 6x6 example image:

    >>> img = np.array([[3, 0, 1, 2, 7, 4], [1, 5, 8, 9, 3, 1], [2, 7, 2, 5, 1, 3],
    ...                 [0, 1, 3, 1, 7, 8], [4, 2, 1, 6, 2, 8], [2, 4, 5, 2, 3, 9]], float)
    >>> k = np.array([[1, 0, -1]] * 3, float)
    >>> y, _ = conv2d_forward(img[None, :, :, None], k[:, :, None, None], np.zeros(1))
    >>> y[0, :, :, 0].astype(int).tolist()[0]
    [-5, -4, 0, 8]
    """
    kh, kw, c_in, c_out = w.shape
    if x.ndim != 4 or x.shape[3] != c_in:
        raise CnnconvError(f"conv2d expects an (N, H, W, {c_in}) batch, got shape {x.shape}")
    n, ho, wo, _ = conv2d_out_shape(x.shape, w.shape, stride, padding, dilation)
    xp = _pad(x, padding)
    sh, sw = stride
    dh, dw = dilation
    taps = kh * kw
    # the bias is folded into the product: the im2col matrix gets a row (column) of
    # ones and the weights a row holding the bias, so neither pass touches y twice
    ones = int(b is not None)
    w_aug = w.reshape(taps * c_in, c_out)
    if ones:
        w_aug = np.concatenate([w_aug, b.reshape(1, c_out).astype(w.dtype)])
    if c_in == 1:
        # one channel: a tap-major (kh*kw + 1, N*Ho*Wo) matrix, each row one strided
        # slice copy, is ~3x cheaper to build than gathering windows of single floats
        cols = np.empty((taps + ones, n, ho, wo), dtype=x.dtype)
        if ones:
            cols[taps] = 1
        for t in range(taps):
            i, j = divmod(t, kw)
            cols[t] = xp[:, i * dh : i * dh + (ho - 1) * sh + 1 : sh, j * dw : j * dw + (wo - 1) * sw + 1 : sw, 0]
        cols = cols.reshape(taps + ones, n * ho * wo)
        y = cols.T @ w_aug
    elif kh == kw == 1 and padding == ((0, 0), (0, 0)) and not ones:
        # a 1x1 convolution without bias is a plain product over the (strided) pixels
        cols = np.ascontiguousarray(x[:, ::sh, ::sw, :]).reshape(n * ho * wo, c_in)
        y = cols @ w_aug
    else:
        windows = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(1, 2))
        windows = windows[:, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw, :, ::dh, ::dw]
        k = taps * c_in
        cols = np.empty((n * ho * wo, k + ones), dtype=x.dtype)
        if ones:
            cols[:, k] = 1
        # (N, Ho, Wo, kh, kw, C) matches the HWIO weights; each (kw, C) run is contiguous in xp
        np.copyto(cols[:, :k].reshape(n, ho, wo, kh, kw, c_in), windows.transpose(0, 1, 2, 4, 5, 3))
        y = cols @ w_aug
    return y.reshape(n, ho, wo, c_out), (x.shape, xp.shape, cols, w, stride, padding, dilation, bool(ones))


def conv2d_backward(dy, cache, *, need_dx=True):
    """Gradients of :func:`conv2d_forward`: ``(dx, dw, db)``.

    ``dw`` is one product of the cached im2col matrix with ``dy``. With stride 1 (and no more
    padding than ``dilation*(k - 1)`` a side) ``dx`` is the full correlation of ``dy`` with the
    flipped, channel-swapped kernel, computed by :func:`conv2d_forward`. Otherwise ``dx`` never
    scatters with ``np.add.at``: one batched matrix product fills a tap-major buffer
    ``(kh*kw, N*Ho*Wo, C_in)`` and each tap's slab is added to its shifted, strided
    slice of the padded input gradient (``kh*kw`` slice adds), then the padding is cut.

    Parameters
    ----------
    dy : ndarray (N, Ho, Wo, C_out)
    cache : tuple from :func:`conv2d_forward`
    need_dx : bool
        False skips the input gradient (the first layer needs none); ``dx`` is then None.

    Returns
    -------
    dx : ndarray (N, H, W, C_in) or None
    dw : ndarray (kh, kw, C_in, C_out)
    db : ndarray (C_out,), or None for a convolution without bias

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> y, cache = conv2d_forward(x, np.ones((3, 3, 1, 1)), np.zeros(1))
    >>> dx, dw, db = conv2d_backward(np.ones_like(y), cache)
    >>> dx[0, :, :, 0].astype(int).tolist()[0], db.tolist()
    ([1, 2, 2, 1], [4.0])
    """
    x_shape, xp_shape, cols, w, stride, padding, dilation, has_bias = cache
    kh, kw, c_in, c_out = w.shape
    n, ho, wo, _ = dy.shape
    dy2 = dy.reshape(n * ho * wo, c_out)
    # cols is (kh*kw + 1, N*Ho*Wo) for one input channel, (N*Ho*Wo, kh*kw*C_in + 1)
    # otherwise; its ones row (column) makes the last row of the product the bias gradient
    g = cols @ dy2 if c_in == 1 else cols.T @ dy2
    if has_bias:
        dw, db = g[:-1].reshape(kh, kw, c_in, c_out), g[-1].copy()
    else:
        dw, db = g.reshape(kh, kw, c_in, c_out), None
    if not need_dx:
        return None, dw, db
    if kh == kw == 1 and padding == ((0, 0), (0, 0)):
        dxs = dy2 @ w.reshape(c_in, c_out).T
        if stride == (1, 1):
            return dxs.reshape(x_shape), dw, db
        dx = np.zeros(x_shape, dtype=dy.dtype)
        dx[:, : (ho - 1) * stride[0] + 1 : stride[0], : (wo - 1) * stride[1] + 1 : stride[1], :] = dxs.reshape(
            n, ho, wo, c_in)
        return dx, dw, db
    (top, bottom), (left, right) = padding
    dh, dw_ = dilation
    back = ((dh * (kh - 1) - top, dh * (kh - 1) - bottom), (dw_ * (kw - 1) - left, dw_ * (kw - 1) - right))
    if stride == (1, 1) and min(back[0] + back[1]) >= 0:
        # stride 1: dx is the 'full' correlation of dy with the kernel flipped and its channels
        # swapped, i.e. this module's forward (one im2col copy and one GEMM of K = kh*kw*C_out);
        # the kh*kw slice adds below stream the whole input gradient kh*kw times and cost more
        dx, _ = conv2d_forward(dy, w[::-1, ::-1].transpose(0, 1, 3, 2), None, (1, 1), back, dilation)
        return dx, dw, db
    # (kh, kw, C_out, C_in): dy2 @ w_taps[i, j] is tap (i, j)'s contribution to every input pixel
    w_taps = w.transpose(0, 1, 3, 2)
    dxp = np.zeros(xp_shape, dtype=dy.dtype)
    sh, sw = stride
    for i in range(kh):
        # one kernel row's taps at a time: a (kw, N*Ho*Wo, C_in) buffer that stays in cache
        taps = np.matmul(dy2, w_taps[i])
        for j in range(kw):
            r0, c0 = i * dh, j * dw_
            dxp[:, r0 : r0 + (ho - 1) * sh + 1 : sh, c0 : c0 + (wo - 1) * sw + 1 : sw, :] += taps[j].reshape(
                n, ho, wo, c_in
            )
    dx = dxp[:, top : top + x_shape[1], left : left + x_shape[2], :]
    return dx, dw, db


def conv2d_grouped_forward(x, w, b, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """:func:`conv2d_forward` with ``groups`` (``w`` is ``(kh, kw, C_in/groups, C_out)``).

    Input channels and filters are split into ``groups`` equal blocks; block ``g`` of
    the filters sees only block ``g`` of the channels (``groups = C_in`` is depthwise).

    Examples
    --------
    >>> x = np.ones((1, 3, 3, 2))
    >>> y, _ = conv2d_grouped_forward(x, np.ones((3, 3, 1, 2)), np.zeros(2), groups=2)
    >>> y.shape, y.ravel().tolist()
    ((1, 1, 1, 2), [9.0, 9.0])
    """
    if groups == 1:
        return conv2d_forward(x, w, b, stride, padding, dilation)
    c_in, c_out = x.shape[3], w.shape[3]
    if c_in % groups or c_out % groups or w.shape[2] * groups != c_in:
        raise CnnconvError(
            f"groups={groups} must divide the {c_in} input channels and the {c_out} filters"
        )
    ci, co = c_in // groups, c_out // groups
    outs, caches = [], []
    for g in range(groups):
        y, cache = conv2d_forward(
            x[..., g * ci : (g + 1) * ci], w[..., g * co : (g + 1) * co],
            None if b is None else b[g * co : (g + 1) * co], stride, padding, dilation,
        )
        outs.append(y)
        caches.append(cache)
    return np.concatenate(outs, axis=3), (caches, x.shape)


def conv2d_grouped_backward(dy, cache, *, need_dx=True, groups=1):
    """Gradients ``(dx, dw, db)`` of :func:`conv2d_grouped_forward`."""
    if groups == 1:
        return conv2d_backward(dy, cache, need_dx=need_dx)
    caches, x_shape = cache
    co = dy.shape[3] // groups
    parts = [
        conv2d_backward(np.ascontiguousarray(dy[..., g * co : (g + 1) * co]), c, need_dx=need_dx)
        for g, c in enumerate(caches)
    ]
    dx = np.concatenate([p[0] for p in parts], axis=3) if need_dx else None
    db = None if parts[0][2] is None else np.concatenate([p[2] for p in parts])
    return dx, np.concatenate([p[1] for p in parts], axis=3), db



def conv_transpose2d_forward(x, w, b, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1)):
    """Transposed convolution (PyTorch's ``ConvTranspose2d``): the adjoint of
    :func:`conv2d_forward` with respect to its input, plus a bias.

    Every input pixel ``(i, j)`` adds ``x[n, i, j] @ w[a, b]`` at output
    ``(i*sh + a*dh - ph, j*sw + b*dw - pw)``: one matrix product per kernel row, each tap's
    slab added to its strided slice of the uncropped output, then ``padding`` is cut off each
    side (``output_padding`` more rows and columns are kept at the bottom and right).

    Parameters
    ----------
    x : ndarray (N, H, W, C_in)
    w : ndarray (kh, kw, C_in, C_out)
        PyTorch's ``(C_in, C_out, kh, kw)`` weight as ``w.transpose(2, 3, 0, 1)``.
    b : ndarray (C_out,) or None
    stride, padding, output_padding, dilation : (int, int)

    Shape
    -----
    ``Ho = (H - 1)*sh - 2*ph + dh*(kh - 1) + oph + 1``, likewise ``Wo``.

    Examples
    --------
    >>> y, _ = conv_transpose2d_forward(np.ones((1, 2, 2, 1)), np.ones((2, 2, 1, 1)), None, stride=(1, 1))
    >>> y[0, :, :, 0].tolist()
    [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    kh, kw, c_in, c_out = w.shape
    if x.ndim != 4 or x.shape[3] != c_in:
        raise CnnconvError(f"conv_transpose2d expects an (N, H, W, {c_in}) batch, got shape {x.shape}")
    n, h, wd, _ = x.shape
    (sh, sw), (ph, pw), (oh, ow), (dh, dw) = stride, padding, output_padding, dilation
    full = ((h - 1) * sh + dh * (kh - 1) + 1 + oh, (wd - 1) * sw + dw * (kw - 1) + 1 + ow)
    ho, wo = full[0] - 2 * ph, full[1] - 2 * pw
    if ho < 1 or wo < 1:
        raise CnnconvError(f"padding {padding} crops the whole {full[0]}x{full[1]} transposed output")
    x2 = x.reshape(n * h * wd, c_in)
    yp = np.zeros((n, *full, c_out), dtype=x.dtype)
    for a in range(kh):
        taps = np.matmul(x2, w[a])  # (kw, N*H*W, C_out)
        for c in range(kw):
            yp[:, a * dh : a * dh + (h - 1) * sh + 1 : sh, c * dw : c * dw + (wd - 1) * sw + 1 : sw, :] += \
                taps[c].reshape(n, h, wd, c_out)
    y = yp[:, ph : ph + ho, pw : pw + wo, :]
    if b is not None:
        y = y + b.astype(y.dtype)
    return y, (x2, x.shape, w, stride, padding, dilation, full, b is not None)


def conv_transpose2d_backward(dy, cache, *, need_dx=True):
    """Gradients ``(dx, dw, db)`` of :func:`conv_transpose2d_forward`.

    ``dx`` is the strided correlation of ``dy`` (padded back to the uncropped frame) with the
    kernel, channels swapped: :func:`conv2d_forward`; its im2col matrix also gives ``dw``.
    """
    x2, x_shape, w, stride, (ph, pw), dilation, full, has_bias = cache
    kh, kw, c_in, c_out = w.shape
    n, h, wd, _ = x_shape
    dyp = np.zeros((n, *full, c_out), dtype=dy.dtype)
    dyp[:, ph : ph + dy.shape[1], pw : pw + dy.shape[2], :] = dy
    z, (_, _, cols, *_rest) = conv2d_forward(dyp, w.transpose(0, 1, 3, 2), None, stride, ((0, 0), (0, 0)), dilation)
    zh, zw = z.shape[1:3]  # output_padding can add one more row or column than the input had
    if (zh, zw) != (h, wd):
        z = z[:, :h, :wd, :]
        cols = cols.reshape(n, zh, zw, -1)[:, :h, :wd, :].reshape(n * h * wd, -1) if c_out > 1 else \
            cols.reshape(-1, n, zh, zw)[:, :, :h, :wd].reshape(cols.shape[0], -1)
    # cols: (N*H*W, kh*kw*C_out), or tap-major (kh*kw, N*H*W) for one channel
    g = (cols.T @ x2) if c_out > 1 else (cols @ x2)
    dw = g.reshape(kh, kw, c_out, c_in).transpose(0, 1, 3, 2).copy()
    db = dy.reshape(-1, c_out).sum(axis=0) if has_bias else None
    return (np.ascontiguousarray(z) if need_dx else None), dw, db
