"""The end of the per-file work: output samples encoded, written, reported.

The samples come cast already (:mod:`cnnconv.image`); this module picks each output's
format and sample type from its name, encodes, writes atomically and builds the file's
record. NumPy and the io layer are imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path

from cnnconv.io.formats import ARRAY_FORMATS


def target_dtype(src, fmt: str):
    """The sample type an output of format ``fmt`` gets (None: raw floats).

    Arrays in ``.npy``/``.csv``/``.txt`` keep the computed numbers; an image keeps its
    sample type; an array written as an image becomes float32 in TIFF, 8-bit elsewhere.
    """
    import numpy as np

    if fmt in ARRAY_FORMATS:
        return None
    if src.kind == "image":
        return src.values.dtype
    return np.dtype(np.float32) if fmt == "TIFF" else np.dtype(np.uint8)


def output_format(src, path: str) -> str:
    """Pillow format name or ``npy``/``csv``/``txt`` for an output path (``-``: the input's)."""
    from cnnconv.io.images import format_for

    if path == "-":
        return src.info.format
    suffix = Path(path).suffix.lower().lstrip(".")
    return suffix if suffix in ARRAY_FORMATS else format_for(path)


def write_outputs(src, job, outputs: list) -> dict:
    """Encode and write every (path, format, :class:`cnnconv.image.ImageOutput`); the file's record."""
    from cnnconv.io.arrays import encode_array
    from cnnconv.io.atomic import write_bytes_atomic
    from cnnconv.io.images import encode_image

    encoded, records, stdout = [], [], None
    for path, fmt, out in outputs:
        samples, notes = out.samples, []
        if fmt in ARRAY_FORMATS:
            layout = src.info.layout if src.kind == "array" else "table"
            data = encode_array(samples, fmt, layout=layout)
        else:
            if samples.ndim == 1:
                samples = samples[None, :]
            colour = src.info.colour if src.kind == "image" else "gray"
            data, more = encode_image(samples, fmt, colour=colour)
            notes += list(more)
        notes += list(out.report.notes)
        encoded.append((path, data))
        records.append({"output": path, "format": fmt, "shape": list(samples.shape),
                        "dtype": str(samples.dtype), **out.report.as_record(), "notes": notes})
    for path, data in encoded:
        if path == "-":
            stdout = data
        else:
            write_bytes_atomic(path, data)
    record = {"input": job.input, "ok": True, "kind": src.kind, "input_shape": list(src.values.shape),
              "outputs": records, "notes": list(src.info.notes) if src.kind == "image" else []}
    if src.kind == "image":
        record.update(format=src.info.format, mode=src.info.mode, bit_depth=src.info.bit_depth)
    if stdout is not None:
        record["stdout"] = stdout
    return record
