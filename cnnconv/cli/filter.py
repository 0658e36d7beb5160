"""``cnnconv filter``: correlate (or convolve) images and arrays with kernels, exactly."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cnnconv.cli._options import BoundaryType, FiniteFloat, PaddingType, PairType, io_options

_EXAMPLES = """\b
Examples:
  cnnconv filter sample_images/camera.png --kernel sobel-x -o edges.png
  cnnconv filter camera.png -k sobel-x -k sobel-y --combine magnitude -o grad.png
  cnnconv filter photos/ -k gaussian:sigma=2 --out-dir blurred --jobs 2
  cnnconv filter scan.tif -k laplacian --range abs --verbose -o lap.tif
  cnnconv filter positions.csv -k "0.5,0.3,0.2" --convolve --mode valid -o smooth.csv
  cnnconv filter img.png -k box:5 --explain -o box.png
  cat img.png | cnnconv filter - -k sharpen -o - > sharp.png
"""


@click.command("filter", epilog=_EXAMPLES)
@click.option("-k", "--kernel", "kernel_specs", multiple=True, required=True, metavar="SPEC",
              help="A name (sobel-x; see 'cnnconv kernels'), gaussian:sigma=2, box:7, a file, or "
                   "\"1,2,1; 0,0,0; -1,-2,-1\". Repeat for several outputs.")
@click.option("--mode", type=click.Choice(["valid", "same", "full"]), default=None,
              help="Output size: same (default) keeps the input size, valid only where the kernel fits, "
                   "full wherever it overlaps.")
@click.option("--padding", type=PaddingType(), default=None,
              help="Explicit padding instead of --mode: P, PH,PW or TOP,BOTTOM,LEFT,RIGHT.")
@click.option("--stride", type=PairType(), default=1, show_default=True, help="Step between outputs: S or SH,SW.")
@click.option("--dilation", type=PairType(), default=1, show_default=True, help="Step between kernel taps.")
@click.option("--boundary", type=BoundaryType(), default="zero", show_default=True,
              help="Values beyond the border: zero, constant:V, edge, reflect (abc|cba), mirror (abc|cb), wrap.")
@click.option("--convolve", "flip", is_flag=True,
              help="Flip the kernel (true convolution). Default: correlation, what CNN layers compute.")
@click.option("--combine", type=click.Choice(["magnitude", "max", "sum"]), default=None,
              help="Merge the results of several kernels into one output (magnitude: sqrt of the sum of squares).")
@click.option("--normalize", is_flag=True, help="Divide each kernel by the sum of its weights.")
@click.option("--scale", type=FiniteFloat(), default=1.0, show_default=True, help="Multiply the result.")
@click.option("--offset", type=FiniteFloat(), default=0.0, show_default=True, help="Then add this.")
@click.option("--alpha", type=click.Choice(["premultiply", "keep", "channel"]), default="premultiply",
              show_default=True, help="Alpha: weight colour by it (no bleed from transparent pixels) and "
                                      "output the filtered coverage; keep the input alpha; or filter it as a channel.")
@click.option("--explain", is_flag=True, help="Show the effective kernel, origin, padding, output size and method first.")
@io_options("{stem}-{kernel}{ext}")
def filter_cmd(**options) -> None:
    """Filter images or arrays with one or more kernels.

    Computes the cross-correlation out[i,j] = sum x[i+a, j+b] * w[a,b] (the operation CNN
    layers call convolution) in floating point, then stores the result in the input's
    sample type: 8-bit stays 8-bit, 16-bit stays 16-bit, .npy and float TIFF keep the raw
    numbers. Values outside the integer range are clipped (or --range abs|rescale) and
    every clip is reported. Colour channels are filtered each on its own.
    """
    from cnnconv.cli._batch import run_batch
    from cnnconv.cli._cluster import batch_workers
    from cnnconv.cli._jobs import prepare_jobs
    from cnnconv.cli._work import Task, filter_file

    settings = _settings(options)
    labels = list(settings.labels())
    if len(labels) > 1 and options["output"] == "-":
        raise click.UsageError("several kernels give several outputs: '-o -' takes one; add --combine")
    task = Task(reading(options), settings, writing(options))
    scheduler, n_jobs = batch_workers(options)  # exit 2 before stdin is read
    kernel_files = tuple((spec, "the kernel file") for spec in options["kernel_specs"] if os.path.isfile(spec))
    jobs, failures = prepare_jobs(options, labels, {"op": "filter", "size": ""}, also_read=kernel_files)
    check_range_for_outputs(options, jobs)
    if options["explain"] and jobs:
        _explain(jobs[0], task)
    run_batch(jobs, filter_file, task, n_jobs=n_jobs, json_lines=options["json_lines"],
              verbose=options["verbose"], quiet=options["quiet"], failures=failures, scheduler=scheduler)


def _settings(options: dict):
    """The command's options as :class:`cnnconv.image.FilterSettings`; any kernel problem is exit 2."""
    from cnnconv.errors import CnnconvError
    from cnnconv.image import FilterSettings, Geometry, effective_kernels
    from cnnconv.io.kernels import load_kernels

    kernels = []
    for spec in options["kernel_specs"]:  # an ImageMagick list (Sobel:>) gives several
        try:
            kernels.extend(load_kernels(spec))
        except CnnconvError as exc:
            raise click.BadParameter(str(exc), param_hint="--kernel") from None
    mode, padding = options["mode"], options["padding"]
    if mode is not None and padding is not None:
        raise click.UsageError("--mode and --padding both set the padding; give one of them")
    boundary, cval = options["boundary"]
    geometry = Geometry(mode=None if padding is not None else mode or "same", padding=padding,
                        stride=options["stride"], dilation=options["dilation"], boundary=boundary, cval=cval)
    settings = FilterSettings(tuple(kernels), geometry=geometry, convolve=options["flip"],
                              normalize=options["normalize"], combine=options["combine"], scale=options["scale"],
                              offset=options["offset"], alpha=options["alpha"], range=options["range_mode"],
                              precision=options["precision"])
    try:
        effective_kernels(settings)  # --normalize on a kernel summing to 0: a usage error, before any file
    except CnnconvError as exc:
        raise click.BadParameter(str(exc), param_hint="--kernel") from None
    return settings


def reading(options: dict):
    """How ``filter`` and ``pool`` read their inputs (``--max-pixels``, ``--gray``)."""
    from cnnconv.cli._work import Reading

    return Reading(max_pixels=options["max_pixels"], gray=options["gray"],
                   max_memory=options["max_memory"] if options["max_memory"] is not None else "default")


def writing(options: dict):
    """How ``filter`` and ``pool`` write their outputs (``--depth``, ``--strip``, ``--quality``).

    ``--range rescale`` with ``--depth float`` is a usage error: floats have no sample
    range to map onto.
    """
    from cnnconv.cli._work import Writing

    if options["depth"] == "float" and options["range_mode"] == "rescale":
        raise click.UsageError("--range rescale maps values onto an integer sample range, and --depth float keeps "
                               "the computed values; use --depth 8 or --depth 16, or drop one of them")
    return Writing(depth=options["depth"], strip=options["strip"], quality=options["quality"])


def check_range_for_outputs(options: dict, jobs) -> None:
    """``--range rescale`` to a ``.npy``/CSV output without ``--depth 8|16`` is a usage error (never ignored)."""
    from cnnconv.cli._output import ARRAY_FORMATS

    if options["range_mode"] != "rescale" or options["depth"] is not None:
        return
    for path in (p for job in jobs for p in job.outputs):
        if Path(path).suffix.lower().lstrip(".") in ARRAY_FORMATS:
            raise click.UsageError(
                f"--range rescale maps values onto an integer sample range, and {path} keeps the computed values "
                "(float); add --depth 8 or --depth 16 for integer samples, or drop --range rescale")


def _explain(job, task) -> None:
    """A rich table on stderr: what the first input will go through, kernel by kernel."""
    import numpy as np
    from rich.table import Table

    from cnnconv.cli._common import stderr_console
    from cnnconv.cli._work import load
    from cnnconv.conv import conv_plan
    from cnnconv.errors import CnnconvError
    from cnnconv.image import effective_kernels, kernel_for, split_alpha
    from cnnconv.image.filtering import placed

    console = stderr_console()
    settings = task.settings
    try:
        src = load(job, task.reading)
        x, _ = split_alpha(src.values, src.has_alpha, settings.alpha)
    except CnnconvError:
        return  # the batch reports it
    for kernel, (label, weights, offset) in zip(settings.kernels, effective_kernels(settings)):
        w = kernel_for(x, weights) if x.ndim == 1 and weights.ndim == 2 and 1 in weights.shape else weights
        flip = settings.convolve
        shown = w[::-1, ::-1] if flip and w.ndim >= 2 else w[::-1] if flip else w
        geometry = placed(settings.geometry.as_keywords(), kernel.origin, x.ndim, weights.shape)
        try:
            plan = conv_plan(x.shape, w.shape, flip=flip, dtype=x.dtype, kernel=w, **geometry)
        except CnnconvError as exc:
            console.print(f"{label}: {exc}", markup=False)
            continue
        name = "<stdin>" if job.input == "-" else Path(job.input).name
        table = Table(title=f"{label} on {name} ({'x'.join(map(str, x.shape))})", show_header=False)
        table.add_column(style="bold")
        table.add_column()
        table.add_row("effective kernel", _matrix(np.asarray(shown), max(40, console.width - 30)))
        table.add_row("kernel sum", f"{float(np.sum(w)):.6g}")
        table.add_row("operation", f"{plan.operation} ({plan.layout})")
        table.add_row("origin (row, col)", str(plan.origin))
        table.add_row("padding (before, after)", str(plan.padding) + f" {plan.boundary}"
                      + (f" {plan.cval:g}" if plan.boundary == "constant" else ""))
        table.add_row("stride, dilation", f"{plan.stride}, {plan.dilation}")
        table.add_row("output size", "x".join(map(str, plan.output_shape)))
        table.add_row("unread rows, cols", str(plan.unread))
        table.add_row("method, dtype", f"{plan.method}, {plan.dtype}")
        table.add_row("why this method", plan.method_reason)
        if offset or settings.scale != 1 or settings.offset:
            table.add_row("then", f"+ {offset:g} (kernel offset), x {settings.scale:g}, + {settings.offset:g}")
        console.print(table)


def _matrix(w, width: int = 48) -> str:
    """The kernel as aligned rows, in fewer digits when wide; a summary when still too wide."""
    if w.ndim == 3:
        return "\n---\n".join(_matrix(w[:, :, c], width) for c in range(w.shape[2]))
    rows = w.reshape(1, -1) if w.ndim == 1 else w
    for form in (".6g", ".4f", ".2f"):
        cells = [[f"{v:{form}}" for v in row] for row in rows.tolist()]
        size = max(len(c) for row in cells for c in row)
        if (size + 1) * rows.shape[1] <= width:
            return "\n".join(" ".join(c.rjust(size) for c in row) for row in cells)
    return (f"{'x'.join(map(str, w.shape))}, too wide to show (sum {w.sum():.6g}, "
            f"min {w.min():.6g}, max {w.max():.6g})")
