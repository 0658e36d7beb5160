"""``cnnconv pool``: max, average or min pooling of images and arrays, channel by channel."""

from __future__ import annotations

import click

from cnnconv.cli._options import BoundaryType, PaddingType, PairType, io_options

_EXAMPLES = """\b
Examples:
  cnnconv pool sample_images/camera.png --size 2 -o small.png
  cnnconv pool camera.png --size 3 --stride 2 --padding 1 --op avg -o avg.png
  cnnconv pool photos/ --size 2 --out-dir pooled --jobs 2 --json
  cnnconv pool feature.npy --size 2 --ceil -o pooled.npy
  cnnconv pool noisy.png --op median --size 3 --mode same --boundary reflect -o clean.png
  cnnconv pool mask.png --op min --size 5 --mode same --boundary edge -o eroded.png
"""


@click.command("pool", epilog=_EXAMPLES)
@click.option("--size", type=PairType(), required=True, help="Window: K or KH,KW.")
@click.option("--stride", type=PairType(), default=None, help="Step between windows (default: the window size).")
@click.option("--padding", type=PaddingType(), default=0, show_default=True,
              help="P or PH,PW on both sides, at most half the window; padding never wins a max or min.")
@click.option("--op", type=click.Choice(["max", "avg", "min", "median"]), default="max", show_default=True,
              help="What a window gives; median: the middle value (the upper one of an even count).")
@click.option("--mode", type=click.Choice(["same"]), default=None,
              help="same: stride 1 and same-size padding, a rank filter (median filter, erosion with min, "
                   "dilation with max, box mean with avg).")
@click.option("--boundary", type=BoundaryType(), default=None,
              help="With --mode same: the values beyond the border, as filter has (zero, constant:V, edge, "
                   "reflect, mirror, wrap). Default: the border never counts (a border window holds fewer values).")
@click.option("--ceil", "ceil_mode", is_flag=True, help="Round the output size up (PyTorch's ceil_mode).")
@click.option("--count-pad", "count_include_pad", is_flag=True, help="Average over padding too (avg only).")
@io_options("{stem}-{op}{size}{ext}")
def pool_cmd(**options) -> None:
    """Pool images or arrays, each channel on its own.

    The output size follows PyTorch: floor((n + 2p - k) / s) + 1, or ceil with --ceil
    (a last window starting in the right padding is dropped). --mode same (stride 1, same-size
    padding filled by --boundary) makes it a rank filter: --op median is a median filter
    (scipy.ndimage.median_filter's), min an erosion, max a dilation. Max, min and median keep the input's
    values exactly; avg is rounded to the nearest integer for 8- and 16-bit images, and
    weights colour by alpha so transparent pixels add no colour.
    """
    from cnnconv.cli._batch import run_batch
    from cnnconv.cli._cluster import batch_workers
    from cnnconv.cli._jobs import prepare_jobs
    from cnnconv.cli._work import Task, pool_file
    from cnnconv.cli.filter import check_range_for_outputs, reading, writing
    from cnnconv.image import PoolSettings

    if isinstance(options["padding"], tuple) and isinstance(options["padding"][0], tuple):
        raise click.BadParameter("pooling pads both sides alike: give P or PH,PW", param_hint="--padding")
    _check_padding(options["padding"], options["size"])
    _check_same_mode(options)
    boundary, cval = options["boundary"] or (None, 0.0)
    settings = PoolSettings(size=options["size"], stride=options["stride"], padding=options["padding"],
                            op=options["op"], ceil_mode=options["ceil_mode"],
                            count_include_pad=options["count_include_pad"], range=options["range_mode"],
                            mode=options["mode"], boundary=boundary, cval=cval, precision=options["precision"])
    size_label = settings.label()[len(settings.op):]
    task = Task(reading(options), settings, writing(options))
    scheduler, n_jobs = batch_workers(options)  # exit 2 before stdin is read
    jobs, failures = prepare_jobs(options, [settings.label()], {"op": settings.op, "size": size_label})
    check_range_for_outputs(options, jobs)
    run_batch(jobs, pool_file, task, n_jobs=n_jobs,
              json_lines=options["json_lines"], verbose=options["verbose"], quiet=options["quiet"],
              failures=failures, scheduler=scheduler)


def _check_same_mode(options: dict) -> None:
    """--mode same fixes stride and padding; --boundary needs it; --count-pad is for avg pooling: exit 2."""
    if options["mode"] == "same":
        given = [flag for flag, set_ in (("--stride", options["stride"] not in (None, 1, (1, 1))),
                                         ("--padding", options["padding"] not in (0, (0, 0))),
                                         ("--ceil", options["ceil_mode"]), ("--count-pad", options["count_include_pad"]))
                 if set_]
        if given:
            raise click.UsageError(f"--mode same is stride 1 with same-size padding; drop {', '.join(given)} "
                                   "(the border is --boundary's)")
    elif options["boundary"] is not None:
        raise click.UsageError("--boundary fills the padding of --mode same; add --mode same (pooling's own "
                               "--padding never counts)")
    if options["count_include_pad"] and options["op"] != "avg":
        raise click.UsageError("--count-pad is for --op avg")


def _check_padding(padding, size) -> None:
    """Padding of more than half the window is a usage error (exit 2), named before any file is read."""
    pads = (padding, padding) if isinstance(padding, int) else tuple(padding)
    sizes = (size, size) if isinstance(size, int) else tuple(size)
    for pad, window in zip(pads, sizes):
        if pad > window // 2:
            raise click.BadParameter(
                f"{pad} is more than half the window of {window} (at most {window // 2}): a window could then "
                "hold padding alone, which has no value to pool; lower --padding or enlarge --size",
                param_hint="--padding")
