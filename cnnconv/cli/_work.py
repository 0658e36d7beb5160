"""The per-file work of ``filter`` and ``pool``: read, call :mod:`cnnconv.image`, write.

What happens to the samples (alpha, kernels, combine, scale, the range cast) is
:func:`cnnconv.image.filter_image`'s and :func:`cnnconv.image.pool_image`'s; encoding
and writing the results is :mod:`cnnconv.cli._output`'s.

The workers are module-level functions of frozen records (a :class:`~cnnconv.cli._jobs.Job`
and a :class:`Task`) so that ``--jobs N`` can run them in other processes. NumPy and the
core are imported inside the functions: this module is part of the command line, which
starts without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnnconv.cli._jobs import Job


@dataclass(frozen=True)
class Reading:
    """How inputs are read: the pixel limit (None: the default, 0: none) and ``--gray``."""

    max_pixels: int | None = None
    gray: bool = False

    def pixel_limit(self) -> int | None:
        """The limit as the readers and the core take it (None: no limit)."""
        from cnnconv.io.formats import DEFAULT_MAX_PIXELS

        return DEFAULT_MAX_PIXELS if self.max_pixels is None else (self.max_pixels or None)


@dataclass(frozen=True)
class Writing:
    """How outputs are written: ``--depth`` (None: the input's type), ``--strip``, ``--quality``."""

    depth: str | None = None
    strip: bool = False
    quality: int | None = None


@dataclass(frozen=True)
class Task:
    """What a worker does to every file: how to read it, the command's settings, how to write.

    ``settings`` is a :class:`cnnconv.image.FilterSettings` or :class:`cnnconv.image.PoolSettings`.
    """

    reading: Reading
    settings: object
    writing: Writing = Writing()


@dataclass(frozen=True, eq=False)
class Source:
    """One input as read: ``kind`` ``"image"`` or ``"array"``, its samples, what the reader said, its name."""

    kind: str
    values: object
    info: object
    name: str

    @property
    def has_alpha(self) -> bool:
        return self.kind == "image" and self.info.has_alpha


def load(job: Job, reading: Reading) -> Source:
    """Read one input (path, or the stdin bytes in ``job.data``) as an image or an array."""
    from cnnconv.errors import CnnconvError
    from cnnconv.io import arrays, images

    source, data = job.input, job.data
    read_image = lambda s, **kw: images.read_image(  # noqa: E731
        s, max_pixels=reading.pixel_limit(), gray=reading.gray, **kw)
    if source == "-":
        if arrays.is_npy(data):
            values, info = arrays.read_array(data)
            return Source("array", values, info, "<stdin>")
        try:
            values, info = read_image(data)
        except CnnconvError as image_error:
            try:
                values, info = arrays.read_array(data, fmt="txt")
            except CnnconvError:
                raise image_error from None
            return Source("array", values, info, "<stdin>")
        return Source("image", values, info, "<stdin>")
    if Path(source).suffix.lower() in arrays.ARRAY_SUFFIXES:
        values, info = arrays.read_array(source)
        return Source("array", values, info, source)
    values, info = read_image(source)
    return Source("image", values, info, source)


def filter_file(job: Job, task: Task) -> dict:
    """Filter one input with every kernel of ``task.settings``; write its outputs; the record."""
    from dataclasses import replace

    from cnnconv.cli._output import output_format, target_dtype, write_outputs
    from cnnconv.image import filter_image

    src = load(job, task.reading)
    settings = replace(task.settings, max_pixels=task.reading.pixel_limit())
    formats = [output_format(src, path) for path in job.outputs]
    depth = task.writing.depth
    results = {}
    for dtype in {target_dtype(src, fmt, depth) for fmt in formats}:  # one sample type per job in practice
        results[dtype] = filter_image(src.values, settings, has_alpha=src.has_alpha, dtype=dtype)
    outputs = [(path, fmt, results[target_dtype(src, fmt, depth)][i])
               for i, (path, fmt) in enumerate(zip(job.outputs, formats))]
    return write_outputs(src, job, outputs, task.writing)


def pool_file(job: Job, task: Task) -> dict:
    """Pool one input by ``task.settings``; write its output; the record."""
    from cnnconv.cli._output import output_format, target_dtype, write_outputs
    from cnnconv.image import pool_image

    src = load(job, task.reading)
    path = job.outputs[0]
    fmt = output_format(src, path)
    out = pool_image(src.values, task.settings, has_alpha=src.has_alpha,
                     dtype=target_dtype(src, fmt, task.writing.depth))
    return write_outputs(src, job, [(path, fmt, out)], task.writing)
