"""Exact correlation and convolution of 1-D signals, 2-D arrays and multi-channel images.

``correlate`` is the operation CNNs call convolution::

    out[i] = sum_a x[i*stride + a*dilation - pad_before] * w[a]  (+ bias)

``convolve`` flips the kernel on every spatial axis (and mirrors ``same`` padding), and
``correlate_transpose`` is the adjoint of ``correlate``. All three plan the work with
:func:`conv_plan` (what ``cnnconv filter --explain`` prints) and hand the padding and the
valid correlation to :func:`cnnconv.conv.dispatch.correlate_padded`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnconv.conv import dispatch as methods
from cnnconv.conv.padding import (
    as_real_array,
    check_bias,
    check_boundary,
    compute_dtype,
    finite_kernel,
    per_axis,
    resolve_padding,
)
from cnnconv.conv.transpose import correlate_transpose
from cnnconv.errors import CnnconvError
from cnnconv.numerics import quiet_floats

__all__ = ["ConvPlan", "conv_plan", "correlate", "convolve", "correlate_transpose"]

ACCEPTED = (
    "x (n,) with w (k,); x (H, W) with w (kh, kw); "
    "x (H, W, C) with w (kh, kw), (kh, kw, C) or (kh, kw, C, N)"
)
# (input ndim, kernel ndim) -> how channels combine
_LAYOUTS = {(1, 1): "1-D", (2, 2): "2-D", (3, 2): "per-channel", (3, 3): "summed", (3, 4): "bank"}


@dataclass(frozen=True)
class ConvPlan:
    """What a correlation or convolution will do, computed from shapes alone.

    Attributes
    ----------
    operation : "correlate" or "convolve"
    layout : "1-D", "2-D", "per-channel" (2-D kernel on each channel), "summed"
        (kh×kw×C kernel summed over channels) or "bank" (kh×kw×C×N kernels)
    input_shape, kernel_shape, output_shape : tuple of int
    mode : "valid", "same", "full" or "explicit" (padding given)
    padding : ((before, after), ...) per spatial axis
    padded_shape : spatial shape after padding
    stride, dilation : one int per spatial axis
    boundary : boundary rule of the padded area; cval its value for "constant"
    dtype : "float32" or "float64", the computation and output dtype
    method : the engine that runs (``cnnconv.conv.dispatch.explain_method`` picks it for "auto")
    method_reason : one line saying why that engine (or why an explicit one fell back)
    origin : per axis, the position in the (dilated) kernel footprint, in the kernel's
        own coordinates, that lies over input pixel ``i*stride`` for output ``i``; the
        tap index when dilation is 1 (0 in valid mode, the centre for odd kernels in same)
    unread : per axis, rows/columns at the end of the padded input that no window
        reaches, ``(padded - span) % stride`` (stride leaves them out)
    """

    operation: str
    layout: str
    input_shape: tuple
    kernel_shape: tuple
    output_shape: tuple
    mode: str
    padding: tuple
    padded_shape: tuple
    stride: tuple
    dilation: tuple
    boundary: str
    cval: float
    dtype: str
    method: str
    origin: tuple
    unread: tuple
    method_reason: str = ""


def _layout(x_shape, w_shape) -> str:
    dims = (len(x_shape), len(w_shape))
    if dims not in _LAYOUTS:
        raise CnnconvError(
            f"cannot apply a kernel of shape {w_shape} to an input of shape {x_shape}; "
            f"accepted: {ACCEPTED}"
        )
    layout = _LAYOUTS[dims]
    if layout in ("summed", "bank") and w_shape[2] != x_shape[2]:
        raise CnnconvError(
            f"kernel shape {w_shape} has {w_shape[2]} input channels but the input {x_shape} has "
            f"{x_shape[2]}; the kernel's third axis must equal the input's channel count"
        )
    for which, shape in (("input", x_shape), ("kernel", w_shape)):
        if 0 in shape:
            raise CnnconvError(f"empty {which}: shape {shape} has a zero-length axis")
    return layout


def conv_plan(
    x_shape,
    w_shape,
    *,
    mode=None,
    padding=None,
    stride=1,
    dilation=1,
    boundary="zero",
    cval=0.0,
    flip=False,
    dtype=None,
    method="auto",
    kernel=None,
    origin=None,
) -> ConvPlan:
    """Plan ``correlate`` (or ``convolve`` with ``flip=True``) from the shapes alone.

    Parameters are those of :func:`correlate`; ``dtype`` is the input's dtype
    (float32 stays float32, anything else computes in float64). ``kernel``, the
    weights themselves, is optional: with it a separable (rank-1) kernel is
    recognised and the two-pass engine chosen. ``origin`` (one tap index per spatial
    axis, or one for all) is the kernel tap that lies over each output's pixel, in the
    kernel's own coordinates, for both operations; it implies ``same`` output size and
    replaces the centre that ``same`` mode picks (``(k-1)//2``).

    Returns
    -------
    ConvPlan
        Shapes, padding, stride, dilation, method, kernel origin and unread rows.

    Raises
    ------
    CnnconvError
        For shapes that do not go together, empty arrays, a bad mode, padding,
        stride, dilation, boundary or method, or a kernel larger than the padded input.

    Examples
    --------
    >>> p = conv_plan((224, 224, 3), (7, 7, 3, 64), mode="same", stride=2)
    >>> p.output_shape, p.padding, p.origin, p.unread
    ((112, 112, 64), ((2, 3), (2, 3)), (2, 2), (0, 0))
    >>> conv_plan((224, 224), (11, 11), stride=4, padding=2).unread   # AlexNet conv1
    (1, 1)
    >>> conv_plan((8, 8), (3, 3), stride=2).unread
    (1, 1)
    >>> conv_plan((5,), (2,), mode="same", flip=True).padding   # convolve mirrors same padding
    ((1, 0),)
    >>> p = conv_plan((8, 8), (3, 3), origin=(0, 0))   # ImageMagick's "3x3+0+0:"
    >>> p.padding, p.origin, p.output_shape
    (((0, 2), (0, 2)), (0, 0), (8, 8))
    """
    x_shape, w_shape = tuple(int(n) for n in x_shape), tuple(int(n) for n in w_shape)
    layout = _layout(x_shape, w_shape)
    nd = 1 if layout == "1-D" else 2
    stride, dilation = per_axis(stride, nd, "stride"), per_axis(dilation, nd, "dilation")
    cval = check_boundary(boundary, cval)
    if method not in methods.METHODS:
        raise CnnconvError(f"unknown method {method!r}; choose one of {', '.join(methods.METHODS)}")
    spatial_in, spatial_k = x_shape[:nd], w_shape[:nd]
    mode, pads = resolve_padding(mode, padding, spatial_in, spatial_k, stride, dilation, bool(flip), origin)
    padded = tuple(n + b + a for n, (b, a) in zip(spatial_in, pads))
    spans = tuple(d * (k - 1) + 1 for k, d in zip(spatial_k, dilation))
    if any(p < e for p, e in zip(padded, spans)):
        raise CnnconvError(
            f"the output would be empty: kernel {w_shape} spans {spans} (with dilation {dilation}) but the "
            f"padded input is only "
            f"{padded}; use a smaller kernel, more padding, or mode='same'"
        )
    out = tuple((p - e) // s + 1 for p, e, s in zip(padded, spans, stride))
    channels = {"per-channel": x_shape[2:], "bank": w_shape[3:]}.get(layout, ())
    dt = compute_dtype(dtype)
    xp_shape = (1,) + padded if nd == 1 else padded + x_shape[2:]
    k_shape = (1,) + w_shape if nd == 1 else w_shape
    step, dil = ((1,) + stride, (1,) + dilation) if nd == 1 else (stride, dilation)
    if kernel is not None:
        kernel = np.reshape(kernel, k_shape)
    method, reason = methods.explain_method(xp_shape, k_shape, dt, step, dil, method, kernel)
    origin = tuple(e - 1 - b if flip else b for e, (b, _) in zip(spans, pads))
    unread = tuple((p - e) % s for p, e, s in zip(padded, spans, stride))
    return ConvPlan(
        operation="convolve" if flip else "correlate",
        layout=layout,
        input_shape=x_shape,
        kernel_shape=w_shape,
        output_shape=out + channels,
        mode=mode,
        padding=pads,
        padded_shape=padded,
        stride=stride,
        dilation=dilation,
        boundary=boundary,
        cval=cval,
        dtype=dt.name,
        method=method,
        origin=origin,
        unread=unread,
        method_reason=reason,
    )


def _run(x, w, flip, bias, mode, padding, stride, dilation, boundary, cval, method, origin=None):
    x, w = as_real_array(x, "input"), finite_kernel(w)
    plan = conv_plan(
        x.shape, w.shape, mode=mode, padding=padding, stride=stride, dilation=dilation,
        boundary=boundary, cval=cval, flip=flip, dtype=x.dtype, method=method, kernel=w, origin=origin,
    )  # fmt: skip
    dt = np.dtype(plan.dtype)
    b = check_bias(bias, plan.output_shape[2] if len(plan.output_shape) == 3 else 0, dt)
    x, w = x.astype(dt, copy=False), w.astype(dt, copy=False)
    nd = len(plan.stride)
    if flip:
        w = w[::-1] if nd == 1 else w[::-1, ::-1]
    if nd == 1:
        x, w = x[None, :], w[None, :]
        pads, stride, dilation = ((0, 0), *plan.padding), (1, *plan.stride), (1, *plan.dilation)
    else:
        pads, stride, dilation = plan.padding, plan.stride, plan.dilation
    w = np.ascontiguousarray(w)
    out = methods.correlate_padded(x, pads, plan.boundary, plan.cval, w, stride, dilation, plan.method,
                                   resolved=True)
    out = out[0] if nd == 1 else out
    if b is not None:
        out = out + b
    return out.astype(dt, copy=False)


@quiet_floats
def correlate(
    x, w, *, mode=None, padding=None, stride=1, dilation=1,
    boundary="zero", cval=0.0, bias=None, method="auto", origin=None,
):  # fmt: skip
    """Cross-correlate ``x`` with ``w``: the operation CNN layers compute.

    ``out[i, j] = sum_{a,b} xp[i*sh + a*dh, j*sw + b*dw] * w[a, b] (+ bias)``, where
    ``xp`` is ``x`` padded by the boundary rule.

    Parameters
    ----------
    x : array_like, real
        Signal (n,), image (H, W) or multi-channel image (H, W, C).
    w : array_like, real, finite
        Kernel (k,), (kh, kw), (kh, kw, C) or a bank (kh, kw, C, N).
    mode : {"valid", "same", "full"}, optional
        Output size; None means "valid" unless ``padding`` is given (not both).
        "same" gives ``ceil(n / stride)`` with the smaller half of the padding before.
    padding : int, (ph, pw), ((top, bottom), (left, right)) or (before, after) for 1-D
    stride, dilation : int or one int per axis, >= 1
    boundary : {"zero", "constant", "edge", "reflect", "mirror", "wrap"}
        Values of the padded area (see docs/boundaries.md); ``cval`` for "constant".
    bias : float or array (N,) for a bank, (C,) for per-channel, optional
    method : one of ``cnnconv.conv.dispatch.METHODS``
    origin : int or one int per spatial axis, optional
        The kernel tap over each output's pixel (``same`` size; default its centre
        ``(k-1)//2``): ``out[i] = sum_a x[i*s + (a - origin)*d] * w[a]``.

    Returns
    -------
    numpy.ndarray
        float32 for float32 ``x``, float64 otherwise (integers are never wrapped).

    Shape
    -----
    Per spatial axis ``out = (n + before + after - dilation*(k-1) - 1) // stride + 1``.

    - (n,) with (k,) -> (out,)
    - (H, W) with (kh, kw) -> (Ho, Wo)
    - (H, W, C) with (kh, kw) -> (Ho, Wo, C): each channel filtered on its own
    - (H, W, C) with (kh, kw, C) -> (Ho, Wo): summed over channels
    - (H, W, C) with (kh, kw, C, N) -> (Ho, Wo, N): one map per filter, plus ``bias[n]``

    Examples
    --------
    >>> correlate([1, 2, 3, 4], [1, 10]).tolist()
    [21.0, 32.0, 43.0]
    >>> correlate([1, 2, 3, 4], [1, 10], mode="same").tolist()   # extra zero goes after
    [21.0, 32.0, 43.0, 4.0]
    >>> correlate(np.arange(16).reshape(4, 4), np.ones((2, 2)), stride=2).tolist()
    [[10.0, 18.0], [42.0, 50.0]]
    """
    return _run(x, w, False, bias, mode, padding, stride, dilation, boundary, cval, method, origin)


@quiet_floats
def convolve(
    x, w, *, mode=None, padding=None, stride=1, dilation=1,
    boundary="zero", cval=0.0, bias=None, method="auto", origin=None,
):  # fmt: skip
    """Convolve ``x`` with ``w``: correlate with the kernel flipped on every spatial axis.

    In ``same`` mode the padding is mirrored too (the larger half goes before), so
    that even kernels give the same result as ``scipy.signal.convolve2d(mode="same")``
    and, for stride 1, ``convolve`` is the adjoint of ``correlate``; explicit
    ``padding`` is used as given. Parameters, dtypes and shapes are those of
    :func:`correlate`; channel axes are not flipped.

    Shape
    -----
    As :func:`correlate`.

    Examples
    --------
    >>> convolve([0, 1, 0, 0], [1, 2, 3], mode="full").tolist()   # an impulse returns the kernel
    [0.0, 1.0, 2.0, 3.0, 0.0, 0.0]
    >>> convolve([1, 2, 3, 4], [1, 10], mode="same").tolist()
    [1.0, 12.0, 23.0, 34.0]
    >>> convolve([0, 0, 1, 0, 0], [1, 2, 3], origin=0).tolist()   # tap 0 over the pixel: the impulse's echo starts there
    [0.0, 0.0, 1.0, 2.0, 3.0]
    """
    return _run(x, w, True, bias, mode, padding, stride, dilation, boundary, cval, method, origin)
