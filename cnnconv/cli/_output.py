"""The end of the per-file work: output samples encoded, written, reported.

The samples come cast already (:mod:`cnnconv.image`); this module picks each output's
format and sample type from its name, encodes, writes atomically and builds the file's
record. NumPy and the io layer are imported inside the functions.
"""

from __future__ import annotations

import io
from pathlib import Path

from cnnconv.io.formats import ARRAY_FORMATS

#: Image formats that hold float samples.
FLOAT_FORMATS = ("TIFF", "PFM")


def target_dtype(src, fmt: str, depth: str | None = None):
    """The sample type an output of format ``fmt`` gets (None: raw floats), by :mod:`cnnconv.image.depth`'s rule.

    With no ``depth``: arrays in ``.npy``/``.csv``/``.txt`` keep the computed numbers; an
    integer image keeps its sample type; float samples (a ``.npy``, a float TIFF) written
    as an image stay float32 in TIFF and PFM and become 8-bit elsewhere, by the one rule
    for floats to integers (the numbers as they are, cast by ``--range``). ``depth`` "8"/"16" gives those integers, "float" the computed
    numbers (float32 in an image).
    """
    import numpy as np

    from cnnconv.image.depth import sample_type

    if fmt in ARRAY_FORMATS:
        return None if depth is None else sample_type(src.values.dtype, depth, float_type=None)
    if depth is not None:
        return sample_type(src.values.dtype, depth)
    if src.values.dtype.kind == "f":  # a float TIFF as a .npy: floats where the format holds them, else 8-bit
        return np.dtype(np.float32) if fmt in FLOAT_FORMATS else np.dtype(np.uint8)
    return src.values.dtype


def output_format(src, path: str) -> str:
    """Pillow format name or ``npy``/``zarr``/``csv``/``txt`` for an output path (``-``: the input's)."""
    from cnnconv.io.images import format_for

    if path == "-":
        return src.info.format
    suffix = Path(path).suffix.lower().lstrip(".")
    return suffix if suffix in ARRAY_FORMATS else format_for(path)


def write_outputs(src, job, outputs: list, writing=None) -> dict:
    """Encode and write every (path, format, :class:`cnnconv.image.ImageOutput`); the file's record.

    ``writing`` (:class:`cnnconv.cli._work.Writing`): ``strip`` drops the input's metadata,
    ``quality`` goes to JPEG and WebP.
    """
    from cnnconv.errors import CnnconvError
    from cnnconv.io.arrays import encode_array
    from cnnconv.io.atomic import write_atomic, write_bytes_atomic
    from cnnconv.io.images import image_writer
    from cnnconv.io.zarr_store import write_store

    encoded, records, stdout = [], [], None
    for path, fmt, out in outputs:
        samples, notes = out.samples, []
        if fmt == "zarr":
            if path == "-":
                raise CnnconvError("a Zarr store is a directory and cannot be written to stdout; "
                                   "give -o NAME.zarr, or -o - with a .npy input")
            data = samples  # written as a store below, not encoded
        elif fmt in ARRAY_FORMATS:
            layout = src.info.layout if src.kind == "array" else "table"
            data = encode_array(samples, fmt, layout=layout)
        else:
            if samples.ndim == 1:
                samples = samples[None, :]
            colour = src.info.colour if src.kind == "image" else "gray"
            strip = writing is not None and writing.strip
            metadata = src.info.metadata if src.kind == "image" and not strip else None
            data, more = image_writer(samples, fmt, colour=colour, metadata=metadata,
                                      quality=None if writing is None else writing.quality)
            if path == "-":  # stdout gets the bytes; a file has the picture written into it from the samples
                buffer = io.BytesIO()
                data(buffer)
                data = buffer.getvalue()
            notes += list(more)
        notes += list(out.report.notes)
        encoded.append((path, fmt, data))
        records.append({"output": path, "format": fmt, "shape": list(samples.shape),
                        "dtype": str(samples.dtype), **out.report.as_record(), "notes": notes})
    for path, fmt, data in encoded:
        if path == "-":
            stdout = data
        elif fmt == "zarr":
            write_store(path, data.shape, data.dtype, [data])
        elif callable(data):
            write_atomic(path, data)
        else:
            write_bytes_atomic(path, data)
    record = {"input": job.input, "ok": True, "kind": src.kind, "input_shape": list(src.values.shape),
              "outputs": records, "notes": list(src.info.notes) if src.kind == "image" else []}
    if src.kind == "image":
        record.update(format=src.info.format, mode=src.info.mode, bit_depth=src.info.bit_depth)
    if stdout is not None:
        record["stdout"] = stdout
    return record
