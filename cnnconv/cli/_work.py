"""The per-file work of ``filter`` and ``pool``: read, split alpha, compute, cast, write.

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


def target_dtype(src, fmt: str):
    """The sample type an output of format ``fmt`` gets (None: raw floats)."""
    import numpy as np

    if fmt in ("npy", "csv", "txt"):
        return None
    if src.kind == "image":
        return src.values.dtype
    return np.dtype(np.float32) if fmt == "TIFF" else np.dtype(np.uint8)


def to_samples(values, dtype, range_mode: str):
    """Round float results to integer samples by ``--range``; return them and a report.

    ``dtype`` None or float keeps the numbers; the report gives the range before the cast
    (in the shortest form of the computing dtype) and how many values were clipped.

    Examples
    --------
    >>> import numpy as np
    >>> samples, report = to_samples(np.array([-20.0, 100.4, 300.0]), np.dtype(np.uint8), "clip")
    >>> samples.tolist(), report["clipped"], report["below"], report["above"]
    ([0, 100, 255], 2, 1, 1)
    >>> to_samples(np.array([-20.0, 100.4, 300.0]), np.dtype(np.uint8), "rescale")[0].tolist()
    [0, 96, 255]
    """
    import numpy as np

    # str() of a NumPy scalar is its shortest round-trip form: 2.3333333, not 2.3333332538604736
    report = {"min": float(str(values.min())), "max": float(str(values.max())), "range": range_mode}
    if dtype is None or dtype.kind == "f":
        report["clipped"] = None
        return values if dtype is None else values.astype(dtype), report
    top = float(np.iinfo(dtype).max)
    low, high = report["min"], report["max"]
    if range_mode == "rescale":
        span = high - low
        v = (values - low) * (top / span) if span > 0 else np.zeros_like(values)
        report["rescaled_from"] = [low, high]
        low, high = -np.inf, np.inf  # rounding may step just outside 0..top: count
    elif range_mode == "abs":
        v = np.abs(values)
        low, high = 0.0, max(-low, high)
    else:
        v = values.copy()
    np.rint(v, out=v)  # one working array, rounded, clipped and cast in place: no more copies
    # rint is monotone, so the extremes already say when nothing can lie outside (no pass
    # then); a NaN extreme says nothing, so it counts
    below = 0 if low >= 0 else int(np.count_nonzero(v < 0))
    above = 0 if high <= top else int(np.count_nonzero(v > top))
    report.update(clipped=below + above, below=below, above=above)
    return np.clip(v, 0, top, out=v).astype(dtype), report


def output_format(src, path: str) -> str:
    """Pillow format name or ``npy``/``csv``/``txt`` for an output path (``-``: the input's)."""
    from cnnconv.io.images import format_for

    if path == "-":
        return src.info.format
    suffix = Path(path).suffix.lower().lstrip(".")
    return suffix if suffix in ("npy", "csv", "txt") else format_for(path)


def finish(src, job: dict, params: dict, results: list) -> dict:
    """Cast, encode and write every (output path, colour values, alpha or None); the record."""
    import numpy as np

    from cnnconv.errors import CnnconvError
    from cnnconv.io.arrays import encode_array
    from cnnconv.io.atomic import write_bytes_atomic
    from cnnconv.io.images import encode_image

    encoded, outputs, stdout = [], [], None
    for path, y, alpha in results:
        fmt = output_format(src, path)
        dtype = target_dtype(src, fmt)
        if y.size == 0:
            raise CnnconvError(f"the output would be empty (shape {y.shape}); use --mode same or a smaller window")
        samples, report = to_samples(y, dtype, params["range_mode"])
        if alpha is not None:
            if dtype is None:  # raw numbers: alpha in the input's sample units, like the colour
                a = alpha * float(np.iinfo(src.values.dtype).max)
            else:
                a = np.rint(alpha * float(np.iinfo(dtype).max)).astype(dtype)
            samples = np.dstack([samples.reshape(samples.shape[:2] + (-1,)), a])
        notes = []
        if fmt in ("npy", "csv", "txt"):
            layout = src.info.layout if src.kind == "array" else "table"
            data = encode_array(samples, fmt, layout=layout)
        else:
            if samples.ndim == 1:
                samples = samples[None, :]
            colour = src.info.colour if src.kind == "image" else "gray"
            data, more = encode_image(samples, fmt, colour=colour)
            notes += list(more)
        if report.get("clipped"):
            notes.append(_clip_note(report, dtype))
        encoded.append((path, data))
        outputs.append({"output": path, "format": fmt, "shape": list(samples.shape),
                        "dtype": str(samples.dtype), **report, "notes": notes})
    for path, data in encoded:
        if path == "-":
            stdout = data
        else:
            write_bytes_atomic(path, data)
    record = {"input": job["input"], "ok": True, "kind": src.kind, "input_shape": list(src.values.shape),
              "outputs": outputs, "notes": list(src.info.notes) if src.kind == "image" else []}
    if src.kind == "image":
        record.update(format=src.info.format, mode=src.info.mode, bit_depth=src.info.bit_depth)
    if stdout is not None:
        record["stdout"] = stdout
    return record


def _clip_note(report: dict, dtype) -> str:
    import numpy as np

    top = int(np.iinfo(dtype).max)
    return (
        f"{report['clipped']} values fell outside 0..{top} and were clipped ({report['below']} below, "
        f"{report['above']} above; results ranged {report['min']:.6g}..{report['max']:.6g}); "
        "see --range abs|rescale, --scale, --offset"
    )


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
    return finish(src, job, params, results)


def pool_file(job: dict, params: dict) -> dict:
    """Pool one input by ``params``; avg pooling weights colour by alpha, max/min pool alpha too."""
    from cnnconv.pool import pool

    src = load(job, params)
    weighted_avg = params["op"] == "avg"
    x, alpha = split(src, "premultiply" if weighted_avg else "channel")
    opts = {k: params[k] for k in ("stride", "padding", "op", "ceil_mode", "count_include_pad")}
    size = params["size"]
    run = lambda v: pool(v, size, **opts)  # noqa: E731
    y, coverage = weighted(run, run, x, alpha)
    return finish(src, job, params, [(job["outputs"][0], y, coverage)])

