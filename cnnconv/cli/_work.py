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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cnnconv.cli._jobs import Job


#: Who hears of a streamed picture's progress, as ``report(bands_done, bands_in_all)``; None: nobody.
_parts_listener: list[Callable[[int, int], None] | None] = [None]


@contextmanager
def reporting_parts(report: Callable[[int, int], None] | None) -> Iterator[None]:
    """While on, a picture streamed in this process calls ``report(done, total)`` after each band."""
    previous, _parts_listener[0] = _parts_listener[0], report
    try:
        yield
    finally:
        _parts_listener[0] = previous


@dataclass(frozen=True)
class Reading:
    """How inputs are read: the pixel limit (None: the default, 0: none), ``--gray``, ``--max-memory``.

    ``max_memory`` is bytes, None for no limit, or "default" for half the machine's memory.
    """

    max_pixels: int | None = None
    gray: bool = False
    max_memory: object = None

    def memory_budget(self) -> int | None:
        """The working set above which a picture is streamed (None: never)."""
        from cnnconv.io.parts import default_budget

        return default_budget() if self.max_memory == "default" else self.max_memory

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

    settings = replace(task.settings, max_pixels=task.reading.pixel_limit())
    header = _too_large(job, task)
    if header is not None:
        return _filter_in_parts(job, task, settings, header)
    src = load(job, task.reading)
    formats = [output_format(src, path) for path in job.outputs]
    depth = task.writing.depth
    results, dtypes = {}, {target_dtype(src, fmt, depth) for fmt in formats}  # one sample type in practice
    for dtype in dtypes:  # the input's samples are not needed after the last: its output may go over them
        results[dtype] = filter_image(src.values, settings, has_alpha=src.has_alpha, dtype=dtype,
                                      overwrite_input=len(dtypes) == 1)
    outputs = [(path, fmt, results[target_dtype(src, fmt, depth)][i])
               for i, (path, fmt) in enumerate(zip(job.outputs, formats))]
    return write_outputs(src, job, outputs, task.writing)


def pool_file(job: Job, task: Task) -> dict:
    """Pool one input by ``task.settings``; write its output; the record."""
    from cnnconv.cli._output import output_format, target_dtype, write_outputs
    from cnnconv.image import pool_image

    header = _too_large(job, task)
    if header is not None:
        return _pool_in_parts(job, task, header)
    src = load(job, task.reading)
    path = job.outputs[0]
    fmt = output_format(src, path)
    out = pool_image(src.values, task.settings, has_alpha=src.has_alpha,
                     dtype=target_dtype(src, fmt, task.writing.depth), overwrite_input=True)
    return write_outputs(src, job, [(path, fmt, out)], task.writing)


def _too_large(job: Job, task: Task):
    """The input's header when its working set passes ``--max-memory`` (it is then streamed), else None.

    Raises :class:`CnnconvError` for such a picture in a format that cannot be read in
    parts, or with an output that cannot be written in parts, before anything is decoded.
    """
    import numpy as np

    from cnnconv.errors import CnnconvError
    from cnnconv.io import parts

    budget = task.reading.memory_budget()
    if job.input == "-" or budget is None or task.reading.gray:
        return None
    header = parts.read_header(job.input)
    if header is None:
        return None
    need = parts.working_set(header, None if Path(job.input).suffix.lower() in parts.ARRAY_PARTS else header.dtype,
                             len(job.outputs))
    if need <= budget:
        return None
    if Path(job.input).suffix.lower() not in parts.IN_PARTS:
        raise parts.refuse_whole(job.input, need, budget)
    for path in job.outputs:
        if path == "-" or Path(path).suffix.lower() not in parts.OUT_PARTS:
            raise CnnconvError(
                f"{job.input}: streamed (its working set of about {need / 2**20:.0f} MB passes --max-memory "
                f"{budget / 2**20:.0f} MB), so its output must be .npy, .zarr or .tif, written as computed; "
                f"got {path}")
    limit = task.reading.pixel_limit()
    h, w = header.shape[:2]
    if limit is not None and h * w > limit:
        raise CnnconvError(f"{job.input}: {h}x{w} (HxW) = {h * w} pixels, over the limit of {limit}; "
                           "raise --max-pixels (or give none) if you mean it")
    if Path(job.input).suffix.lower() in parts.ARRAY_PARTS:
        # an array read whole is float64 (cnnconv.io.arrays): its parts are computed so too, for the same numbers
        return parts.Header(header.shape, np.dtype(np.float64))
    return header


def _filter_in_parts(job: Job, task: Task, settings, header) -> dict:
    """Filter a picture larger than ``--max-memory`` band by band, from its file into its outputs."""
    from dataclasses import replace

    from cnnconv.image.filtering import plan_filter

    per_output = [settings] if settings.combine else [replace(settings, kernels=(k,)) for k in settings.kernels]
    return _in_parts(job, task, header, [
        lambda target, has_alpha, one=one: plan_filter(header.shape, header.dtype, one, has_alpha=has_alpha,
                                                       dtype=target)
        for one in per_output])


def _pool_in_parts(job: Job, task: Task, header) -> dict:
    """Pool a picture larger than ``--max-memory`` band by band, from its file into its output."""
    from cnnconv.errors import CnnconvError
    from cnnconv.image.pooling import PoolPlan, WindowPlan

    settings = task.settings
    if settings.uses_windows():
        return _in_parts(job, task, header, [
            lambda target, has_alpha: WindowPlan.of(header.shape, header.dtype, settings, has_alpha, target)])
    window = (settings.size,) * 2 if isinstance(settings.size, int) else tuple(settings.size)
    if any(k > n for k, n in zip(window, header.shape[:2])):
        raise CnnconvError(f"{job.input}: over --max-memory, and a window larger than the image is pooled "
                           "whole; raise --max-memory, or give none")
    return _in_parts(job, task, header, [
        lambda target, has_alpha: PoolPlan.of(header.shape, header.dtype, settings, has_alpha, target)])


def _in_parts(job: Job, task: Task, header, plans) -> dict:
    """Stream ``job.input`` band by band into its outputs, one per plan; the record.

    ``plans[i](target, has_alpha)`` is the banded plan (:mod:`cnnconv.image.pipeline`) of
    output ``i`` for its sample type ``target``.
    """
    import resource

    import numpy as np

    from cnnconv.image.depth import sample_type
    from cnnconv.io import parts

    is_array = Path(job.input).suffix.lower() in parts.ARRAY_PARTS
    # arrays are computed as read whole (float64: see _too_large); opened here first, so a damaged file
    # fails before an output is begun, and again wherever a band is computed
    src = parts.OpenedLazily(job.input, header, header.dtype if is_array else None)
    src[:1]
    on_cluster, cluster_tasks = bands_on_cluster(), [0]

    def map_bands(work, bands):
        for result in on_cluster(work, bands):
            cluster_tasks[0] += 1
            yield result

    has_alpha = not is_array and len(header.shape) == 3 and header.shape[2] in (2, 4)
    depth = task.writing.depth
    planned = []
    for path, plan_of in zip(job.outputs, plans):
        to_array = Path(path).suffix.lower() in parts.ARRAY_PARTS
        if depth is not None:
            target = sample_type(header.dtype, depth, float_type=None if to_array else np.dtype(np.float32))
        elif to_array:  # arrays keep the computed numbers, as the in-memory path writes them
            target = None
        else:
            target = header.dtype if header.dtype.kind in "ui" else np.dtype(np.float32)
        planned.append((path, to_array, target, plan_of(target, has_alpha)))
    bands = sum(len(plan.bands) for *_, plan in planned)
    listener = _parts_listener[0]
    records, done = [], 0
    for path, to_array, target, plan in planned:
        shape = plan.output_shape
        if plan.weighting:
            shape = shape[:2] + ((shape[2] if len(shape) == 3 else 1) + 1,)
        out_dtype = plan.compute_type if target is None else np.dtype(target)
        final = {}

        def samples():
            nonlocal done
            for result, reports in plan.iterate(src, map_bands=map_bands if on_cluster else None):
                if reports is not None:
                    final["report"] = reports[0]
                done += 1
                if listener is not None:  # before the band goes: a writer takes no more than it needs
                    listener(done, bands)
                yield result.samples[0]

        parts.write_in_parts(path, shape, out_dtype, samples())
        report = final["report"]
        records.append({"output": path, "format": Path(path).suffix.lower().lstrip(".") if to_array else "TIFF",
                        "shape": list(shape), "dtype": str(out_dtype),
                        **report.as_record(), "notes": list(report.notes)})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    heights = [plan.bands[0].stop - plan.bands[0].start for *_, plan in planned]  # per output (the last band fewer)
    note = f"streamed in {bands} part{'s' * (bands != 1)} of {'/'.join(map(str, sorted(set(heights))))} rows"
    streamed = {"parts": bands, "band_rows": heights, "peak_memory": peak}
    if on_cluster is not None:
        note += ", each a task of the cluster (peak memory of the worker writing it"
        streamed["cluster_tasks"] = cluster_tasks[0]
    else:
        note += " (peak memory"
    note += f" {peak / 2**20:.0f} MB)"
    return {"input": job.input, "ok": True, "kind": "array" if is_array else "image",
            "input_shape": list(header.shape), "outputs": records, "notes": [note], "streamed": streamed}


def bands_on_cluster():
    """Where a streamed picture's bands run: as tasks of the Dask cluster this code runs on, else None.

    Inside a task of ``--scheduler``'s cluster the picture's bands are spread over all its
    workers (:func:`cnnconv.cli._cluster.map_bands_on_cluster`); anywhere else they run on
    this process's threads. ``distributed`` is looked for only if it is loaded already: a
    plain run never imports it.
    """
    import sys

    if "distributed" not in sys.modules:
        return None
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:  # not in a worker
        return None
    from cnnconv.cli._cluster import map_bands_on_cluster

    return map_bands_on_cluster
