"""``cnnconv animate``: watch a convolution, a pooling or a transposed convolution happen, step by step."""

from __future__ import annotations

import re

import click

from cnnconv.cli._options import BoundaryType, PaddingType, PairType, PathArg

#: Largest input drawn: the numbers must stay legible and the frames few enough to follow.
MAX_ROWS, MAX_COLS, MAX_LENGTH = 16, 16, 40
#: Largest kernel side, padded input side and frame count drawn (a 16x16 input in full mode
#: with a 16x16 kernel is 961 frames of 256 taps: minutes of drawing nobody can follow).
MAX_KERNEL, MAX_CANVAS, MAX_FRAMES = 11, 32, 400

_EXAMPLES = """\b
Examples:
  cnnconv animate --input "1,1.1,1.2,1.4,1.7,1.8,1.9,2.1,2.2,2.4,2.5,2.7" -k "0.01,0.01,0.02,0.02,0.04,0.4,0.5"
  cnnconv animate --input 7x7 -k 3x3 --stride 2 -o stride.gif
  cnnconv animate --input grid.csv -k sobel-x --mode same --boundary reflect -o sobel.png
  cnnconv animate --input camera.png --crop 100:108,120:128 -k laplacian --mode same -o lap.apng
  cnnconv animate --input "1,3,2,2,5; 5,6,7,8,1; 3,2,1,0,7; 1,2,3,4,9; 1,1,2,9,4" --pool max --size 3 --stride 1
  cnnconv animate --input "0,1; 2,3" -k "0,1; 2,3" --transpose --stride 2 -o tconv.gif
  cnnconv animate --input 6x6 --layer maxpool3:s2:ceil --json
"""

_SIZE = re.compile(r"\s*([0-9]+)\s*(?:[x×]\s*([0-9]+))?\s*\Z")
_NUMBERS = re.compile(r"(?=.*[0-9])[\s0-9.,;eE+\-\u2212]+")
_CROP = re.compile(r"\s*([0-9]*)\s*:\s*([0-9]*)\s*\Z")


@click.command("animate", epilog=_EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--input", "input_spec", required=True, metavar="SPEC",
              help="Numbers inline (\"1,2,3\" a signal; \"1,2; 3,4\" rows), a .npy/.csv/.txt file, an image "
                   "(drawn in gray), or a size (12 or 5x5: the geometry alone, computed on ones).")
@click.option("--crop", metavar="R0:R1,C0:C1",
              help="Animate only this part of the input (NumPy slices: rows R0..R1-1, cols C0..C1-1; A:B for a signal).")
@click.option("-k", "--kernel", "kernel_spec", metavar="SPEC",
              help="As for filter: a name (sobel-x), gaussian:sigma=1, box:3, a file, \"1,0,-1; 2,0,-2; 1,0,-1\"; "
                   "or a size (3x3) for the geometry alone.")
@click.option("--convolve", "flip", is_flag=True, help="Flip the kernel (true convolution). Default: correlation.")
@click.option("--mode", type=click.Choice(["valid", "same", "full"]), default=None,
              help="Output size (default valid: only where the kernel fits).")
@click.option("--padding", type=PaddingType(), default=None,
              help="Explicit padding: P, PH,PW or TOP,BOTTOM,LEFT,RIGHT (pooling: P or PH,PW on both sides).")
@click.option("--stride", type=PairType(), default=None, help="Step between outputs: S or SH,SW (pooling: the window).")
@click.option("--dilation", type=PairType(), default=1, show_default=True, help="Step between kernel taps.")
@click.option("--boundary", type=BoundaryType(), default="zero", show_default=True,
              help="Values of the padding: zero, constant:V, edge, reflect, mirror, wrap (drawn on the padding).")
@click.option("--pool", "pool_op", type=click.Choice(["max", "avg", "min"]), default=None,
              help="Animate pooling instead (with --size).")
@click.option("--size", type=PairType(), default=None, help="Pooling window: K or KH,KW.")
@click.option("--ceil", "ceil_mode", is_flag=True, help="Pooling: round the output size up (a last partial window).")
@click.option("--count-pad", "count_include_pad", is_flag=True, help="Average pooling: count the padding too.")
@click.option("--transpose", is_flag=True, help="Animate the transposed convolution of the input with -k.")
@click.option("--output-padding", type=PairType(minimum=0), default=0, show_default=True,
              help="Transposed convolution: extra rows/cols at the end (less than the stride).")
@click.option("--layer", "layer_token", metavar="TOKEN",
              help="One layer of the 'cnnconv shape' grammar instead: conv3:s2:p1, maxpool3:s2:ceil, avgpool2, tconv2:s2.")
@click.option("-o", "--output", type=PathArg(dir_okay=False), metavar="FILE",
              help="Write the animation: .gif, .apng, or .png (a sheet of every frame). Default: show it here.")
@click.option("--frame-ms", type=click.IntRange(20, 60000), default=900, show_default=True,
              help="Time each frame stays on screen (GIF, APNG).")
@click.option("--pause-ms", type=click.IntRange(0, 600000), default=2000, show_default=True,
              help="Extra time on the last frame before the animation starts again.")
@click.option("--frames", "frame_list", metavar="LIST",
              help="Draw only these steps (from 1): 1,2,9 or 1-3,last. --json still prints every frame.")
@click.option("--json", "as_json", is_flag=True, help="Print the frames as data (strict JSON) on stdout.")
def animate_cmd(input_spec, crop, kernel_spec, flip, mode, padding, stride, dilation, boundary, pool_op, size,
                ceil_mode, count_include_pad, transpose, output_padding, layer_token, output, frame_ms, pause_ms,
                frame_list, as_json):
    """Draw, frame by frame, what one convolution, pooling or transposed convolution computes.

    Each frame shows the input with its padding (and the values the boundary rule puts
    there), the kernel over the cells it reads, the products and their sum, and the
    output filled in so far; pooling marks the winner, a transposed convolution shows each
    input value stamping a scaled kernel into the output. The numbers are the library's own.
    Without -o the frames are shown in the terminal (a key advances them).
    """
    import json

    from cnnconv.errors import CnnconvError

    settings = dict(mode=mode, padding=padding, stride=stride, dilation=dilation, boundary=boundary,
                    pool_op=pool_op, size=size, ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                    transpose=transpose, output_padding=output_padding, flip=flip)  # fmt: skip
    if layer_token:
        settings = _from_layer(layer_token, settings)
    operation = "transpose" if settings["transpose"] else "pool" if settings["pool_op"] else "conv"
    _check_combinations(operation, settings, kernel_spec)
    x, geometry_only, source = _load_input(input_spec, crop)
    if operation == "pool":
        w = None
    else:
        w, kernel_geometry = _load_kernel(kernel_spec, x.ndim, settings.get("layer_kernel"))
        geometry_only = geometry_only or kernel_geometry
    _check_kernel(w)
    try:
        trace = _trace(operation, x, w, settings)
    except CnnconvError as exc:
        raise click.UsageError(str(exc)) from None
    _check_trace(trace)
    data = trace.as_dict()
    data["geometry_only"] = geometry_only
    numbers = _frame_numbers(frame_list, len(data["frames"]))
    written = None
    if output:
        written = _write(data, output, source, frame_ms, pause_ms, numbers)
    if as_json:
        record = {"ok": True, "trace": data}
        if written is not None:
            record["picture"] = dict(written, path=output)
        click.echo(json.dumps(record, allow_nan=False))
    elif not output:
        from cnnconv.cli._animate_terminal import show

        show(data, numbers)


def _check_combinations(operation: str, s: dict, kernel_spec) -> None:
    if s["mode"] is not None and s["padding"] is not None:
        raise click.UsageError("--mode and --padding both set the padding; give one of them")
    if s["pool_op"] and s["transpose"]:
        raise click.UsageError("--pool and --transpose are two operations; give one of them")
    if operation == "pool":
        if s["size"] is None:
            raise click.UsageError("--pool needs a window: add --size K (or KH,KW)")
        for name, given in (("--kernel", kernel_spec), ("--mode", s["mode"]), ("--convolve", s["flip"]),
                            ("--boundary", s["boundary"] != ("zero", 0.0))):  # fmt: skip
            if given:
                raise click.UsageError(f"{name} does not apply to pooling (padding never wins a window)")
        if isinstance(s["padding"], tuple) and isinstance(s["padding"][0], tuple):
            raise click.BadParameter("pooling pads both sides alike: give P or PH,PW", param_hint="--padding")
        return
    if s["size"] is not None or s["ceil_mode"] or s["count_include_pad"]:
        raise click.UsageError("--size, --ceil and --count-pad are pooling options: add --pool max|avg|min")
    if kernel_spec is None and s.get("layer_kernel") is None:
        raise click.UsageError("give a kernel with -k (a name, numbers, or a size such as 3x3), or --pool")
    if operation == "transpose":
        for name, given in (("--mode", s["mode"]), ("--convolve", s["flip"]),
                            ("--boundary", s["boundary"] != ("zero", 0.0))):  # fmt: skip
            if given:
                raise click.UsageError(f"{name} does not apply to --transpose (its padding crops the output)")
    elif s["output_padding"] not in (0, (0, 0)):
        raise click.UsageError("--output-padding applies to --transpose only")


def _from_layer(token: str, s: dict) -> dict:
    """The settings one layer of the shape grammar gives (explicit options may not also be given)."""
    from cnnconv.errors import CnnconvError
    from cnnconv.shape.grammar import parse_layers

    text = re.sub(r"\A(\s*t?conv[0-9]+)(?=:|\s*\Z)", r"\1x1", token)  # the filter count does not matter here
    try:
        layers = parse_layers(text)
    except CnnconvError as exc:
        raise click.BadParameter(str(exc), param_hint="--layer") from None
    if len(layers) != 1 or layers[0].kind not in ("conv", "tconv", "maxpool", "avgpool"):
        raise click.BadParameter(f"{token!r}: give one conv, tconv, maxpool or avgpool layer", param_hint="--layer")
    layer = layers[0]
    clash = [name for name, value in (("--mode", s["mode"]), ("--padding", s["padding"]), ("--stride", s["stride"]),
                                      ("--pool", s["pool_op"]), ("--size", s["size"]), ("--transpose", s["transpose"]))
             if value]  # fmt: skip
    if clash:
        raise click.UsageError(f"--layer sets the geometry; drop {', '.join(clash)}")
    s = dict(s, stride=layer.stride, dilation=layer.dilation, layer_kernel=layer.kernel)
    pad = layer.padding
    if layer.kind in ("maxpool", "avgpool"):
        return dict(s, pool_op=layer.op, size=layer.kernel, padding=pad, ceil_mode=layer.ceil_mode, layer_kernel=None)
    if layer.kind == "tconv":
        return dict(s, transpose=True, padding=pad, output_padding=layer.output_padding)
    if isinstance(pad, str):
        return dict(s, mode=pad)
    return dict(s, padding=pad)


def _parse_inline(spec: str):
    import numpy as np

    from cnnconv.errors import CnnconvError
    from cnnconv.io.arrays import read_array

    text = spec.replace(";", "\n")
    try:
        x, _ = read_array(text.encode(), name="--input", fmt="txt")
    except CnnconvError as exc:
        raise click.BadParameter(str(exc), param_hint="--input") from None
    return np.asarray(x, dtype=np.float64)


def _load_input(spec: str, crop):
    """(array, geometry_only, path read or None) for --input and --crop."""
    from pathlib import Path

    import numpy as np

    from cnnconv.errors import CnnconvError

    path = Path(spec)
    try:
        exists = path.exists()
    except (OSError, ValueError):
        exists = False
    size = _SIZE.match(spec)
    source, geometry_only = None, False
    if size and not exists:
        dims = tuple(int(g) for g in size.groups() if g is not None)
        if min(dims) < 1:
            raise click.BadParameter(f"{spec!r}: a size needs every side >= 1", param_hint="--input")
        if max(dims) > 4096:
            raise click.BadParameter(f"{spec!r} is too large to animate", param_hint="--input")
        x, geometry_only = np.ones(dims), True
    elif exists:
        x, source = _read_file(path), path
    elif "," in spec or ";" in spec or " " in spec.strip():
        x = _parse_inline(spec)
    else:
        raise click.BadParameter(
            f"{spec!r} is not an existing file, numbers like \"1,2,3\" or \"1,2; 3,4\", or a size like 5x5",
            param_hint="--input")
    if crop:
        x = _crop(x, crop)
    _check_size(x, crop)
    try:
        from cnnconv.animate.windows import finite_input

        return finite_input(x), geometry_only, source
    except CnnconvError as exc:
        raise click.BadParameter(str(exc), param_hint="--input") from None


def _read_file(path):
    import numpy as np

    from cnnconv.errors import CnnconvError
    from cnnconv.io import arrays, images

    try:
        if path.suffix.lower() in arrays.ARRAY_SUFFIXES:
            x, _ = arrays.read_array(path)
        else:
            x, info = images.read_image(path, gray=True)
            if x.ndim == 3:  # gray with alpha: the gray channel
                x = x[..., 0]
    except CnnconvError as exc:
        raise click.BadParameter(str(exc), param_hint="--input") from None
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[..., 0]
    if x.ndim not in (1, 2):
        raise click.BadParameter(f"{path}: an animation takes a signal or a one-channel image, got shape "
                                 f"{x.shape}; save one channel", param_hint="--input")  # fmt: skip
    return x.astype(np.float64)


def _crop(x, crop: str):
    parts = crop.split(",")
    if len(parts) != x.ndim or not all(_CROP.match(p) for p in parts):
        want = "A:B" if x.ndim == 1 else "R0:R1,C0:C1"
        raise click.BadParameter(f"{crop!r} is not a crop of a {x.ndim}-D input; use {want}", param_hint="--crop")
    slices = []
    for p, n in zip(parts, x.shape):
        a, b = _CROP.match(p).groups()
        start, stop = int(a or 0), int(b) if b else n
        if not 0 <= start < stop <= n:
            raise click.BadParameter(f"{crop!r}: {p.strip()} does not lie inside 0:{n} (the input is "
                                     f"{'x'.join(map(str, x.shape))})", param_hint="--crop")  # fmt: skip
        slices.append(slice(start, stop))
    return x[tuple(slices)]


def _check_size(x, crop) -> None:
    """Refuse inputs too large to draw legibly, naming the --crop that would fit."""
    limits = (MAX_LENGTH,) if x.ndim == 1 else (MAX_ROWS, MAX_COLS)
    if all(n <= m for n, m in zip(x.shape, limits)):
        return
    shape = "x".join(map(str, x.shape))
    most = "x".join(map(str, limits))
    fit = ",".join(f"0:{min(n, m)}" for n, m in zip(x.shape, limits))
    what = "the cropped input" if crop else "the input"
    raise click.BadParameter(f"{what} is {shape}, more than animate draws legibly (at most {most}); "
                             f"animate a part of it, e.g. --crop {fit}", param_hint="--input")  # fmt: skip


def _check_kernel(w) -> None:
    if w is None:
        return
    longest = MAX_LENGTH if w.ndim == 1 else MAX_KERNEL
    if max(w.shape) > longest:
        shape = "x".join(map(str, w.shape))
        raise click.BadParameter(f"the kernel is {shape}, more than animate draws legibly (at most {longest} "
                                 "per side); animate a smaller kernel", param_hint="--kernel")  # fmt: skip


def _check_trace(trace) -> None:
    """Refuse geometries whose frames are too many or too large to draw and follow."""
    frames = len(trace.frames)
    shape = lambda g: "x".join(map(str, (len(g),) if trace.ndim == 1 else (len(g), len(g[0]))))  # noqa: E731
    if frames > MAX_FRAMES:
        raise click.UsageError(f"{frames} frames (output {shape(trace.output)}) are more than animate draws "
                               f"(at most {MAX_FRAMES}); use a smaller --crop, a larger --stride or less padding")
    sides = (len(trace.canvas),) if trace.ndim == 1 else (len(trace.canvas), len(trace.canvas[0]))
    limit = 2 * MAX_LENGTH if trace.ndim == 1 else MAX_CANVAS
    if max(sides) > limit:
        what = "the output before the crop" if trace.operation == "transpose" else "the padded input"
        raise click.UsageError(f"{what} is {shape(trace.canvas)}, more than animate draws legibly (at most "
                               f"{limit} per side); use a smaller --crop, kernel, padding or stride")


def _load_kernel(spec, ndim: int, layer_kernel):
    """(weights, geometry_only) for -k (or the layer's kernel size, as ones)."""
    from pathlib import Path

    import numpy as np

    from cnnconv.errors import CnnconvError

    size = _SIZE.match(spec) if spec is not None else None
    if spec is None or size:
        dims = layer_kernel if spec is None else tuple(int(g) for g in size.groups() if g is not None)
        if ndim == 1:
            if len(dims) == 2 and dims[0] != 1 and spec is not None:
                raise click.BadParameter(f"a signal needs a one-row kernel, got {spec!r}; give K", param_hint="--kernel")
            dims = (dims[-1],)
        elif len(dims) == 1:
            dims = (dims[0], dims[0])
        if min(dims) < 1 or max(dims) > 64:
            raise click.BadParameter(f"{spec!r}: a kernel size is 1 to 64 per side", param_hint="--kernel")
        return np.ones(dims), True
    try:
        if _NUMBERS.fullmatch(spec) and not Path(spec).exists():
            # plain numbers are what load_kernel would parse last; parsing them here spares the
            # start-up the name, ImageMagick and parametric kernel machinery
            from cnnconv.kernels.parsers import parse_inline

            w = parse_inline(spec).effective()
        else:
            from cnnconv.io.kernels import load_kernel

            w = load_kernel(spec).effective()
    except CnnconvError as exc:
        raise click.BadParameter(str(exc), param_hint="--kernel") from None
    if ndim == 1:
        if w.ndim == 2 and 1 in w.shape:
            w = w.reshape(-1)
        else:
            raise click.BadParameter(f"a signal needs a one-row kernel, got shape {w.shape}", param_hint="--kernel")
    elif w.ndim != 2:
        raise click.BadParameter(f"animate draws one-channel kernels, got shape {w.shape}", param_hint="--kernel")
    return np.asarray(w, dtype=np.float64), False


def _one_axis(value, ndim: int, name: str):
    """A pair option for a signal: one number (N, or 1,N)."""
    if ndim == 2 or value is None or isinstance(value, int):
        return value
    if len(value) == 2 and value[0] in (0, 1) and name != "--padding":
        return value[1]
    raise click.BadParameter(f"a signal has one axis: give one number, got {','.join(map(str, value))}",
                             param_hint=name)


def _trace(operation: str, x, w, s: dict):
    nd = x.ndim
    stride = _one_axis(s["stride"], nd, "--stride")
    dilation = _one_axis(s["dilation"], nd, "--dilation")
    padding = s["padding"]
    if operation == "pool":
        from cnnconv.animate.pooling import trace_pool  # only the operation's own modules: start-up

        size = _one_axis(s["size"], nd, "--size")
        return trace_pool(x, size, stride=stride, padding=padding or 0, op=s["pool_op"], ceil_mode=s["ceil_mode"],
                          count_include_pad=s["count_include_pad"], dilation=dilation)  # fmt: skip
    if operation == "transpose":
        from cnnconv.animate.transpose import trace_transpose

        return trace_transpose(x, w, stride=stride or 1, padding=padding or 0, dilation=dilation,
                               output_padding=_one_axis(s["output_padding"], nd, "--output-padding"))  # fmt: skip
    from cnnconv.animate.windows import trace_correlate

    boundary, cval = s["boundary"]
    return trace_correlate(x, w, flip=s["flip"], mode=s["mode"], padding=padding, stride=stride or 1,
                           dilation=dilation, boundary=boundary, cval=cval)  # fmt: skip


def _frame_numbers(text, count: int):
    """--frames as 0-based frame numbers in the order given (None: all)."""
    if text is None:
        return None
    numbers = []
    for part in text.split(","):
        part = part.strip().lower()
        ends = part.split("-", 1)
        try:
            a, b = (count if e.strip() == "last" else int(e) for e in (ends * 2)[:2])
        except ValueError:
            raise click.BadParameter(f"{part!r} is not a step: give numbers from 1, ranges A-B or 'last', "
                                     "e.g. 1,2,9 or 1-3,last", param_hint="--frames") from None  # fmt: skip
        if not 1 <= a <= b <= count:
            raise click.BadParameter(f"{part!r}: the steps are 1 to {count}", param_hint="--frames")
        numbers += range(a - 1, b)
    return numbers


def _write(data: dict, output: str, source, frame_ms: int, pause_ms: int, numbers=None) -> dict:
    from pathlib import Path

    from cnnconv.cli._common import CliError
    from cnnconv.errors import CnnconvError
    from cnnconv.io.animation import FORMATS, save_animation
    from cnnconv.io.atomic import same_file

    if Path(output).suffix.lower() not in FORMATS:
        raise click.BadParameter(f"{output!r}: the suffix picks the picture: .gif, .apng or .png (a sheet of "
                                 "every frame); leave -o out to see it in the terminal", param_hint="-o")  # fmt: skip
    if source is not None and same_file(output, source):
        raise click.BadParameter(f"{output} is the input; choose another output name", param_hint="-o")
    try:
        return save_animation(data, output, frame_ms=frame_ms, pause_ms=pause_ms, numbers=numbers)
    except CnnconvError as exc:
        raise CliError(str(exc)) from None
