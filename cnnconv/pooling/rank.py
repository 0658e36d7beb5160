"""Rank filters: median (and max, min, mean) over every window, at any stride, with a border rule.

``pool --op median`` and ``pool --mode same`` (stride 1, same-size output: a median filter,
an erosion, a dilation, a box mean) run here. A window is gathered as a strided view of the
padded image and reduced along its taps, a block of output rows at a time so that the
gathered taps (``k_h * k_w`` values per output) stay near a cache's size whatever the image.

The border: with ``boundary=None`` padding never counts (pooling's rule: a border window
holds fewer values, and a ceil-mode overhang holds none of its own); a boundary rule of
:func:`cnnconv.conv.correlate` (``zero``, ``constant``, ``edge``, ``reflect``, ``mirror``,
``wrap``) fills the padding with its values, which then count like any other.

The median of an even number of values is the upper of the two middle ones (rank
``n // 2`` of the sorted values, as ``scipy.ndimage.median_filter`` takes it), so it is
always one of the input values: an 8-bit image stays exactly 8-bit. Same-size windows
follow :func:`cnnconv.conv.correlate`'s ``mode="same"``: an even window has one more tap
after its centre than before (ImageMagick's centre; scipy's is one tap earlier, its
``origin=-1``).
"""

from __future__ import annotations

import numpy as np

from cnnconv.conv.padding import as_float, check_boundary, mode_padding, pad_array, per_axis
from cnnconv.errors import CnnconvError
from cnnconv.numerics import quiet_floats
from cnnconv.shape.arithmetic import pool_out_size

#: What :func:`window_filter` reduces a window to.
RANK_OPS = ("median", "max", "min", "avg")
#: Bytes of gathered window taps per block of output rows.
BLOCK_BYTES = 32 * 1024 * 1024


@quiet_floats
def window_filter(x, size, op: str = "median", *, stride=1, padding="same", ceil_mode: bool = False,
                  boundary: str | None = None, cval: float = 0.0) -> np.ndarray:
    """Reduce every window of ``x`` to its median, max, min or mean, each channel on its own.

    Parameters
    ----------
    x : array_like
        (n,), (H, W) or (H, W, C).
    size : int or (int, int)
        Window height and width (a 1-D signal: its length).
    op : {"median", "max", "min", "avg"}
    stride : int or (int, int)
    padding : "same" or int or (int, int)
        ``"same"``: the padding of :func:`cnnconv.conv.correlate`'s same mode (with stride 1,
        the output has the input's size); a number: that many on both sides, at most half
        the window.
    ceil_mode : bool
        Round the output size up (PyTorch's rule); the overhang never counts.
    boundary : None or str
        None: padding never counts. Otherwise the padding holds that rule's values.
    cval : float
        The value of ``boundary="constant"``.

    Returns
    -------
    ndarray
        float32 for float32 input, float64 otherwise.

    Shape
    -----
    (H, W, C) -> (Ho, Wo, C), ``Ho = pool_out_size(H, kh, sh, ph, 1, ceil_mode)``; with
    ``padding="same"`` and stride 1, ``Ho = H``.

    Examples
    --------
    >>> x = np.array([[1, 9, 2], [8, 3, 7], [4, 6, 5]])
    >>> window_filter(x, 3)[1, 1], window_filter(x, 3, boundary="reflect")[0].tolist()
    (np.float64(5.0), [3.0, 3.0, 3.0])
    >>> window_filter([5, 1, 4, 2], 2, stride=2, padding=0).tolist()  # median pooling: the upper middle
    [5.0, 4.0]
    """
    if op not in RANK_OPS:
        raise CnnconvError(f"unknown window op {op!r}; choose one of {', '.join(RANK_OPS)}")
    x = as_float(x)
    if x.ndim not in (1, 2, 3):
        raise CnnconvError(f"a window filter takes a signal (n,), an image (H, W) or (H, W, C), got shape {x.shape}")
    if boundary is not None:
        cval = check_boundary(boundary, cval)
    shape = x.shape
    img = x.reshape(1, -1, 1) if x.ndim == 1 else x if x.ndim == 3 else x[:, :, None]
    k = per_axis(size, 1, "size") if x.ndim == 1 else per_axis(size, 2, "size")
    s = per_axis(stride, 1, "stride") if x.ndim == 1 else per_axis(stride, 2, "stride")
    if x.ndim == 1:
        k, s = (1, *k), (1, *s)
    pads, out = [], []
    for axis in range(2):
        n = img.shape[axis]
        if isinstance(padding, str):
            if padding != "same":
                raise CnnconvError(f"padding must be 'same' or a number, got {padding!r}")
            before, after = mode_padding("same", n, k[axis], 1, 1)
        else:
            p = per_axis(padding, 1, "padding", minimum=0)[0] if x.ndim == 1 or isinstance(padding, int) \
                else per_axis(padding, 2, "padding", minimum=0)[axis]
            p = 0 if x.ndim == 1 and axis == 0 else p
            if p > k[axis] // 2:
                raise CnnconvError(f"padding {p} is more than half the window {k[axis]}; lower the padding")
            before = after = p
        if isinstance(padding, str):
            count = (n + before + after - k[axis]) // s[axis] + 1
        else:
            count = pool_out_size(n, k[axis], s[axis], before, 1, ceil_mode)
        if count < 1:
            raise CnnconvError(f"the window of {k[axis]} is larger than the padded input of {n + before + after}")
        overhang = max(0, (count - 1) * s[axis] + k[axis] - (n + before + after))
        pads.append((before, after, overhang))
        out.append(count)
    canvas = _canvas(img, pads, boundary, cval)
    taps = k[0] * k[1]
    y = np.empty((out[0], out[1], img.shape[2]), img.dtype)
    holes = boundary is None and any(b or a or o for b, a, o in pads) or bool(np.isnan(img).any())
    block = max(1, BLOCK_BYTES // max(1, out[1] * img.shape[2] * taps * img.itemsize))
    view = np.lib.stride_tricks.sliding_window_view(canvas, (k[0], k[1]), axis=(0, 1))
    for r0 in range(0, out[0], block):
        rows = min(block, out[0] - r0)
        windows = view[r0 * s[0]:(r0 + rows - 1) * s[0] + 1:s[0], : (out[1] - 1) * s[1] + 1:s[1]]
        y[r0:r0 + rows] = _reduce(windows.reshape(rows, out[1], img.shape[2], taps), op, holes)
    return y.reshape(-1) if x.ndim == 1 else y if x.ndim == 3 else y[:, :, 0]


def _canvas(img: np.ndarray, pads, boundary, cval) -> np.ndarray:
    """The image padded by the rule (or with NaN, which never counts), and NaN over a ceil overhang."""
    rule = ((pads[0][0], pads[0][1]), (pads[1][0], pads[1][1]))
    if boundary is None:
        canvas = np.pad(img, rule + ((0, 0),), constant_values=np.nan)
    else:
        canvas = pad_array(img, rule, boundary, cval)
    if pads[0][2] or pads[1][2]:
        canvas = np.pad(canvas, ((0, pads[0][2]), (0, pads[1][2]), (0, 0)), constant_values=np.nan)
    return canvas


def _reduce(windows: np.ndarray, op: str, holes: bool) -> np.ndarray:
    """Each window's median (upper middle), max, min or mean; NaN (padding) left out when ``holes``."""
    n = windows.shape[-1]
    if op == "median":
        if not holes:
            return np.partition(windows, n // 2, axis=-1)[..., n // 2]
        ordered = np.sort(windows, axis=-1)  # NaN sorts last
        count = np.count_nonzero(~np.isnan(ordered), axis=-1)
        return np.take_along_axis(ordered, (count // 2)[..., None], axis=-1)[..., 0]
    if not holes:
        return {"max": np.max, "min": np.min, "avg": np.mean}[op](windows, axis=-1)
    return {"max": np.nanmax, "min": np.nanmin, "avg": np.nanmean}[op](windows, axis=-1)
