"""Option types and the options shared by ``filter`` and ``pool``.

Every parser raises ``click.BadParameter`` (exit status 2) with the value received and
what is allowed. Only click and the standard library are imported here.
"""

from __future__ import annotations

import math
import re

import click

from cnnconv.io.formats import DEFAULT_MAX_PIXELS

_SPLIT = re.compile(r"\s*[,x×]\s*")
#: 8-bit images are filtered in float32: a --scale, --offset or constant beyond this overflows.
FLOAT32_MAX = 3.4028234663852886e38


def PathArg(**kwargs) -> click.Path:
    """``click.Path`` without its ``os.access`` checks: the read or the write itself says what is wrong.

    Click's "is not readable" is exit 2 for the whole command and never seen as root; a file
    that cannot be read is the failure of that file (exit 1, the batch goes on), in the words
    of :mod:`cnnconv.io.oserrors`.

    >>> PathArg(dir_okay=False).readable
    False
    """
    return click.Path(readable=False, **kwargs)


def _ints(value: str, counts: tuple[int, ...], minimum: int, param, ctx, what: str) -> tuple[int, ...]:
    parts = [p for p in _SPLIT.split(str(value).strip())]
    try:
        numbers = tuple(int(p) for p in parts)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not {what}", ctx=ctx, param=param) from None
    if len(numbers) not in counts or min(numbers) < minimum:
        raise click.BadParameter(f"{value!r} is not {what}", ctx=ctx, param=param)
    return numbers


class PairType(click.ParamType):
    """``N`` or ``NxM``/``N,M`` (rows, columns), every number >= ``minimum``.

    >>> PairType().convert("2", None, None), PairType().convert("2,3", None, None)
    (2, (2, 3))
    """

    name = "N[,M]"

    def __init__(self, minimum: int = 1):
        self.minimum = minimum

    def convert(self, value, param, ctx):
        if isinstance(value, (int, tuple)):
            return value
        what = f"an integer >= {self.minimum} or two (rows,cols) like 2,3"
        numbers = _ints(value, (1, 2), self.minimum, param, ctx, what)
        return numbers[0] if len(numbers) == 1 else numbers


class PaddingType(click.ParamType):
    """``P`` (every side), ``PH,PW`` or ``TOP,BOTTOM,LEFT,RIGHT``; integers >= 0.

    >>> PaddingType().convert("0,1,2,3", None, None)
    ((0, 1), (2, 3))
    """

    name = "P[,P...]"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, tuple)):
            return value
        what = "padding: P, PH,PW or TOP,BOTTOM,LEFT,RIGHT with integers >= 0"
        numbers = _ints(value, (1, 2, 4), 0, param, ctx, what)
        if len(numbers) == 4:
            return (numbers[0], numbers[1]), (numbers[2], numbers[3])
        return numbers[0] if len(numbers) == 1 else numbers


class BoundaryType(click.ParamType):
    """``zero``, ``constant:V``, ``edge``, ``reflect``, ``mirror`` or ``wrap`` -> (name, cval).

    >>> BoundaryType().convert("constant:128", None, None)
    ('constant', 128.0)
    """

    name = "RULE"
    RULES = ("zero", "constant:V", "edge", "reflect", "mirror", "wrap")

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        name, _, number = str(value).strip().lower().partition(":")
        allowed = f"choose one of {', '.join(self.RULES)}"
        if name == "constant":
            try:
                cval = float(number)
            except ValueError:
                cval = math.nan
            if not math.isfinite(cval):
                self.fail(f"{value!r}: constant needs a finite value, e.g. constant:128", param, ctx)
            if abs(cval) > FLOAT32_MAX:
                self.fail(f"{value!r}: the constant is beyond what float32 holds (+-3.4e38), which 8-bit "
                          "images are filtered in", param, ctx)
            return "constant", cval
        if name not in ("zero", "edge", "reflect", "mirror", "wrap") or number:
            self.fail(f"{value!r} is not a boundary rule; {allowed}", param, ctx)
        return name, 0.0


class FiniteFloat(click.ParamType):
    """A finite number (``--scale``, ``--offset``) of at most ``limit`` in magnitude.

    >>> FiniteFloat().convert("1e38", None, None)
    1e+38
    """

    name = "NUMBER"

    def __init__(self, limit: float = FLOAT32_MAX, why: str = "what float32 holds, which 8-bit images are filtered in"):
        self.limit, self.why = limit, why

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if abs(number) > self.limit:
            self.fail(f"{value!r} is beyond {self.why} (+-{self.limit:.3g})", param, ctx)
        return number


class MaxPixelsType(click.ParamType):
    """A positive pixel count, or ``none`` for no limit (returned as 0)."""

    name = "N|none"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        if str(value).strip().lower() in ("none", "unlimited"):
            return 0  # no limit
        try:
            number = int(float(str(value).replace("_", "")))
        except (ValueError, OverflowError):  # OverflowError: "inf", "1e999"
            number = -1
        if number < 1:
            self.fail(f"{value!r} is not a pixel count (a positive integer, or none)", param, ctx)
        return number


class MemoryType(click.ParamType):
    """``8GB``, ``512M``, ``1.5GiB`` (K, M, G, T are powers of 1024) or ``none``."""

    name = "SIZE"
    _UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int):
            return value
        text = str(value).strip()
        if text.lower() == "none":
            return None
        match = re.fullmatch(r"(\d+(?:\.\d*)?)\s*([kmgt]?)(?:i?b)?", text, re.IGNORECASE)
        if not match or float(match[1]) <= 0:
            self.fail(f"{value!r} is not a memory size; give e.g. 8GB, 512MB or none (no limit)", param, ctx)
        return int(float(match[1]) * self._UNITS[match[2].upper()])


def io_options(default_name: str):
    """Decorator adding the inputs and the output, batch and reporting options to a command."""

    def decorate(f):
        options = [
            click.argument("inputs", nargs=-1, required=True, metavar="INPUT..."),
            click.option("-o", "--output", metavar="FILE", help="Output file for one input ('-' = stdout)."),
            click.option("--out-dir", metavar="DIR", help="Directory for the outputs of many inputs (created if needed)."),
            click.option(
                "--name", "name_template", default=default_name, show_default=True, metavar="TEMPLATE",
                help="Output names in --out-dir: {stem} {ext} {name} {parent} {kernel} {op} {size} {index}.",
            ),
            click.option("-r", "--recursive", is_flag=True,
                         help="Walk the sub-folders of a directory input too; --out-dir mirrors the tree."),
            click.option("-j", "--jobs", type=click.IntRange(1, 256), default=1, show_default=True,
                         help="Files processed in parallel (processes; with --scheduler local, its workers)."),
            click.option("--scheduler", metavar="ADDRESS|local", default=None,
                         help="Run the batch on a Dask cluster, one task per file: a scheduler's address "
                              "(tcp://host:8786; workers need the same files) or 'local' (needs the dask extra)."),
            click.option("--max-pixels", type=MaxPixelsType(), default=None,
                         help=f"Allow images with up to N pixels (default {DEFAULT_MAX_PIXELS}; 'none' = no limit)."),
            click.option("--gray", is_flag=True, help="Convert colour images to gray first."),
            click.option("--max-memory", type=MemoryType(), default=None, metavar="SIZE",
                         help="Stream a picture whose working set would pass SIZE (default: half the machine's "
                              "memory; 'none' = never): TIFF and .npy are read in parts and written as computed "
                              "(.npy or tiled BigTIFF outputs)."),
            click.option("--range", "range_mode", type=click.Choice(["clip", "abs", "rescale"]), default="clip",
                         show_default=True, help="Integer outputs: round to nearest, then clip, take |v| (abs) or map min..max onto the range (rescale)."),
            click.option("--depth", type=click.Choice(["8", "16", "float"]), default=None,
                         help="Output samples: 8- or 16-bit (16->8 rounds v/257, 8->16 multiplies by 257) or float "
                              "(the computed values: TIFF, .npy, CSV, PFM). Default: the input's type."),
            click.option("--precision", type=click.Choice(["auto", "float32", "float64"]), default="auto",
                         show_default=True,
                         help="The float type integer samples are computed in: auto takes float32 where it is exact "
                              "(integer kernels whose sums stay below 2^24) or off by under 1/8 of a level, else float64."),
            click.option("--strip", is_flag=True,
                         help="Drop the ICC profile, resolution and EXIF (kept by default where the output holds them)."),
            click.option("--quality", type=click.IntRange(1, 100), default=None, metavar="1..100",
                         help="JPEG and WebP quality (default: JPEG 95, WebP lossless)."),
            click.option("--json", "json_lines", is_flag=True, help="One JSON line per file on stdout."),
            click.option("-v", "--verbose", is_flag=True, help="Per-file report: shapes, value range, clipping."),
            click.option("-q", "--quiet", is_flag=True, help="No notes on stderr (errors are still reported)."),
        ]
        for option in reversed(options):
            f = option(f)
        return f

    return decorate
