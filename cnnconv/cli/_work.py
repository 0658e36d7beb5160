"""The per-file work of ``filter`` and ``pool``: read, split alpha, compute.

Casting the results to samples, encoding and writing them is :mod:`cnnconv.cli._output`'s.

The workers are module-level functions of plain data (a job and a params dict) so that
``--jobs N`` can run them in other processes. NumPy and the core are imported inside the
functions: this module is part of the command line, which starts without them.

Alpha: colour is weighted by alpha before filtering and divided afterwards by the
*coverage*, the alpha filtered with ``|w| / sum|w|``; so a transparent pixel adds no
colour (no bleed), a blur gives the usual premultiplied result, and an edge kernel on an
opaque image gives exactly what it gives without alpha. The output alpha is the coverage
(``--alpha premultiply``), the input alpha (``--alpha keep``) or alpha is an ordinary
channel (``--alpha channel``).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

_TRANSPARENT = 1e-5  # coverage below this is "no colour here": fall back to the plain filter


def load(job: dict, params: dict) -> SimpleNamespace:
    """Read one input (path, or stdin bytes in ``job["data"]``) as an image or an array."""
    from cnnconv.errors import CnnconvError
    from cnnconv.io import arrays, images

    source, data = job["input"], job.get("data")
    limit = params.get("max_pixels")
    max_pixels = images.DEFAULT_MAX_PIXELS if limit is None else (limit or None)  # 0: no limit
    read_image = lambda s, **kw: images.read_image(s, max_pixels=max_pixels, gray=params["gray"], **kw)  # noqa: E731
    if source == "-":
        if arrays.is_npy(data):
            values, info = arrays.read_array(data)
            return SimpleNamespace(kind="array", values=values, info=info, name="<stdin>")
        try:
            values, info = read_image(data)
        except CnnconvError as image_error:
            try:
                values, info = arrays.read_array(data, fmt="txt")
            except CnnconvError:
                raise image_error from None
            return SimpleNamespace(kind="array", values=values, info=info, name="<stdin>")
        return SimpleNamespace(kind="image", values=values, info=info, name="<stdin>")
    if Path(source).suffix.lower() in arrays.ARRAY_SUFFIXES:
        values, info = arrays.read_array(source)
        return SimpleNamespace(kind="array", values=values, info=info, name=source)
    values, info = read_image(source)
    return SimpleNamespace(kind="image", values=values, info=info, name=source)


def split(src: SimpleNamespace, alpha_mode: str):
    """Float values to compute on and the alpha in [0, 1] (None when not weighted)."""
    import numpy as np

    values = src.values
    dtype = np.float32 if values.dtype == np.uint8 else np.float64
    x = values.astype(dtype)
    if src.kind == "image" and src.info.has_alpha and alpha_mode != "channel":
        top = np.iinfo(values.dtype).max
        alpha = x[..., -1] / dtype(top)
        x = x[..., :-1]
        return (x[..., 0] if x.shape[2] == 1 else x), alpha
    return x, None


def weighted(apply, apply_coverage, x, alpha):
    """``apply(x)`` with colour weighted by alpha; returns the result and the coverage.

    ``apply_coverage`` is the same operation with non-negative weights summing to one
    (``|w| / sum|w|`` for a kernel, the window average for pooling).
    """
    import numpy as np

    if alpha is None:
        return apply(x), None
    coverage = apply_coverage(alpha)
    numerator = apply(x * (alpha[..., None] if x.ndim == 3 else alpha))
    seen = coverage > _TRANSPARENT
    share = np.where(seen, coverage, 1).astype(coverage.dtype)
    y = numerator / (share[..., None] if numerator.ndim == 3 else share)
    if not seen.all():
        plain = apply(x)
        y = np.where(seen[..., None] if y.ndim == 3 else seen, y, plain)
    return y, np.clip(coverage, 0, 1)


def _conv_options(params: dict) -> dict:
    return {k: params[k] for k in ("mode", "padding", "stride", "dilation", "boundary", "cval")}


def kernel_for(x, w):
    """The kernel as the input needs it: a 1-D signal takes a one-row or one-column kernel flat."""
    from cnnconv.errors import CnnconvError

    if x.ndim != 1:
        return w
    if w.ndim == 2 and 1 in w.shape:
        return w.reshape(-1)
    raise CnnconvError(f"a 1-D signal needs a 1-D kernel (one row of weights), got shape {w.shape}")


def _check_size(x_shape, w_shape, opts: dict, max_pixels) -> None:
    """Refuse padding, dilation or an output so large that the arrays would not fit in memory.

    The padded input and the output are held to the image pixel limit (``--max-pixels``;
    ``none`` lifts it to what an array can index) or to four times the input, whichever is
    larger, so that an image just under the limit still gets its border; checked from the
    shapes before any array is made.
    """
    import math
    import sys

    from cnnconv.conv import conv_plan
    from cnnconv.errors import CnnconvError
    from cnnconv.io.images import DEFAULT_MAX_PIXELS

    plan = conv_plan(x_shape, w_shape, **opts)
    padded = tuple(n + before + after for n, (before, after) in zip(x_shape, plan.padding))
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels or sys.maxsize // 64
    limit = max(limit, 4 * math.prod(x_shape[:len(padded)]))
    for what, dims in (("padded input", padded), ("output", plan.output_shape[:len(padded)])):
        if math.prod(dims) > limit:
            raise CnnconvError(
                f"the {what} would be {'x'.join(map(str, dims))} = {math.prod(dims)} pixels, over the limit of "
                f"{limit}; lower --padding or --dilation (or raise --max-pixels if you mean it)"
            )


def filter_file(job: dict, params: dict) -> dict:
    """Filter one input with every kernel in ``params["kernels"]``; write its outputs."""
    import numpy as np

    from cnnconv.conv import convolve, correlate
    from cnnconv.errors import CnnconvError

    src = load(job, params)
    x, alpha = split(src, params["alpha"])
    fn = convolve if params["flip"] else correlate
    opts = _conv_options(params)
    cov_opts = dict(opts, cval=1.0) if opts["boundary"] == "constant" else opts  # padding is opaque
    ys, coverage = [], None
    for label, w, offset in params["kernels"]:
        w = kernel_for(x, w).astype(x.dtype)
        _check_size(x.shape, w.shape, opts, params.get("max_pixels"))
        w_abs = np.abs(w).sum(axis=2) if w.ndim == 3 else np.abs(w)
        w_abs = w_abs / w_abs.sum()
        y, cov = weighted(lambda v: fn(v, w, **opts), lambda a: fn(a, w_abs, **cov_opts), x, alpha)
        coverage = cov if coverage is None else coverage
        ys.append((label, y + offset if offset else y))
    if params["combine"]:
        shapes = {y.shape for _, y in ys}
        if len(shapes) > 1:
            raise CnnconvError(f"--combine needs outputs of one size, got {sorted(shapes)}; use kernels of one size")
        stack = [y for _, y in ys]
        y = {"magnitude": lambda: np.sqrt(sum(v * v for v in stack)), "max": lambda: np.maximum.reduce(stack),
             "sum": lambda: sum(stack)}[params["combine"]]()
        ys = [(params["combine"], y)]
    if alpha is not None and params["alpha"] == "keep":
        if coverage.shape != alpha.shape:
            raise CnnconvError(
                f"--alpha keep needs an output the size of the input, got {coverage.shape} from {alpha.shape}; "
                "use --mode same and stride 1, or --alpha premultiply"
            )
        coverage = alpha
    scale, offset = params["scale"], params["offset"]
    results = [(path, y * scale + offset if (scale != 1 or offset) else y, coverage)
               for path, (_, y) in zip(job["outputs"], ys)]
    from cnnconv.cli._output import finish

    return finish(src, job, params, results)


def pool_file(job: dict, params: dict) -> dict:
    """Pool one input by ``params``; avg pooling weights colour by alpha, max/min pool alpha too."""
    from cnnconv.pooling import pool

    src = load(job, params)
    weighted_avg = params["op"] == "avg"
    x, alpha = split(src, "premultiply" if weighted_avg else "channel")
    opts = {k: params[k] for k in ("stride", "padding", "op", "ceil_mode", "count_include_pad")}
    size = params["size"]
    run = lambda v: pool(v, size, **opts)  # noqa: E731
    y, coverage = weighted(run, run, x, alpha)
    from cnnconv.cli._output import finish

    return finish(src, job, params, [(job["outputs"][0], y, coverage)])

