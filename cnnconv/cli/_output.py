"""The end of the per-file work: results cast to samples by ``--range``, encoded, written.

Float results become the output's sample type (the input image's, uint8 for arrays
written as images, raw floats for ``.npy``/``.csv``/``.txt``); what the cast clipped is
reported in the file's record. NumPy and the io layer are imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path


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
