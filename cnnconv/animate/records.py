"""The records a trace is made of, and how their numbers are written.

A :class:`Trace` holds what stays the same over an animation (input, padding, kernel,
output, the output-size formula) and one frame per step. Indices are tuples with one entry
per spatial axis (one for a signal, two for an image). ``cell`` indices are positions in the
drawn canvas: the padded input for a correlation or pooling (``padding`` before the input
on each axis), the uncropped output for a transposed convolution. ``input_index`` is the
position in the input itself, or None where the padding holds a constant.

:meth:`Trace.as_dict` is the plain data (strict JSON: no NaN or infinity) that
``cnnconv animate --json`` prints and every picture is drawn from.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass


def format_number(value: float | None, digits: int = 6) -> str:
    """A number as short as it can be written: at most ``digits`` significant digits.

    Examples
    --------
    >>> format_number(91.0), format_number(1.8110000000000002), format_number(-0.5), format_number(None)
    ('91', '1.811', '-0.5', 'pad')
    """
    if value is None:
        return "pad"
    if value == 0:
        return "0"  # no "-0"
    text = f"{value:.{digits}g}"
    if "e" in text:
        return text
    return text


def factor(value: float) -> str:
    """A number as a factor of a product: negative ones in parentheses.

    >>> factor(3.0), factor(-1.0)
    ('3', '(-1)')
    """
    text = format_number(value)
    return f"({text})" if text.startswith("-") else text


def sum_expression(products: list[tuple[float, float]], result: float) -> str:
    """``a·b + c·d + … = result`` for (value, weight) pairs.

    >>> sum_expression([(2.0, 3.0), (3.0, 4.0)], 18.0)
    '2·3 + 3·4 = 18'
    >>> sum_expression([(1.0, -1.0)], -1.0)
    '1·(-1) = -1'
    """
    terms = " + ".join(f"{factor(v)}·{factor(w)}" for v, w in products)
    return f"{terms} = {format_number(result)}"


@dataclass(frozen=True)
class Tap:
    """One kernel tap (or pooling window position) of one frame.

    Attributes
    ----------
    tap : tuple of int
        Position in the kernel as it lies over the cells (flipped for ``convolve``).
    kernel_index : tuple of int
        The same tap in the kernel as given (differs from ``tap`` only when flipped).
    cell : tuple of int
        Canvas position read (the padded input).
    input_index : tuple of int or None
        Input cell whose value was read: the cell itself, or for ``edge``, ``reflect``,
        ``mirror`` and ``wrap`` padding the cell the boundary rule copies; None for a
        constant padding (``zero``, ``constant``) and for pooling's padding.
    padding : bool
        The cell lies in the padding.
    outside : bool
        Pooling in ceil mode: the cell lies past the padded input (a partial window).
    value : float or None
        Value read; None where pooling's padding or overhang is (it never wins).
    weight : float or None
        Kernel weight (None for pooling).
    product : float or None
        ``value * weight`` (None for pooling).
    """

    tap: tuple
    kernel_index: tuple
    cell: tuple
    input_index: tuple | None
    padding: bool
    value: float | None
    weight: float | None = None
    product: float | None = None
    outside: bool = False


@dataclass(frozen=True)
class WindowFrame:
    """One output cell of a correlation or convolution: the window, its products and sum.

    ``window`` is the canvas cell under the kernel's first tap, ``anchor`` the cell under the
    kernel's origin (input pixel ``output_index * stride``, see ``ConvPlan.origin``).
    ``total`` is the sum of the products, ``value`` the core's output at ``output_index``.
    """

    kind: str
    output_index: tuple
    window: tuple
    anchor: tuple
    taps: tuple
    total: float
    value: float
    expression: str


@dataclass(frozen=True)
class PoolFrame:
    """One pooling window: the cells it covers, the winner (max/min), the count (avg).

    ``winner`` is the canvas cell of the first extreme value in row-major order (where the
    gradient goes); None for ``avg``. ``count`` is what ``avg`` divides by, ``total`` the sum
    of the real values. ``value`` is the core's output.
    """

    kind: str
    output_index: tuple
    window: tuple
    taps: tuple
    winner: tuple | None
    count: int
    total: float
    value: float
    expression: str


@dataclass(frozen=True)
class StampFrame:
    """One input cell of a transposed convolution: ``value * kernel`` added at ``offset``.

    ``stamp`` holds one :class:`Tap` per kernel weight (its ``cell`` in the uncropped
    output, ``product`` what it adds); ``partial`` is the uncropped output after the addition.
    """

    kind: str
    input_index: tuple
    value: float
    offset: tuple
    stamp: tuple
    partial: tuple
    expression: str


@dataclass(frozen=True)
class CropFrame:
    """The last frame of a transposed convolution: ``crop`` cells are cut off each side.

    ``crop`` is ((before, after), ...) per axis (the padding); ``extra`` the output padding's
    rows/columns added at the end; ``value`` the core's output.
    """

    kind: str
    crop: tuple
    extra: tuple
    value: tuple
    expression: str


@dataclass(frozen=True)
class Trace:
    """Everything an animation of one operation shows.

    Attributes
    ----------
    operation : "correlate", "convolve", "pool" or "transpose"
    ndim : 1 or 2
    input : nested tuples of float
    kernel : the kernel as given (pooling: None)
    applied_kernel : the kernel as it lies over the cells (flipped for ``convolve``)
    canvas : the padded input (pooling: None in the padding; transposed: the uncropped output, zeros)
    canvas_source : per canvas cell the input index it holds, or None
    padding : ((before, after), ...) per axis
    boundary, cval : the boundary rule of the padding and its constant
    stride, dilation : per axis
    origin : per axis, the kernel tap (in the kernel as given) over input pixel ``i*stride``
    origin_tap : the same point in the applied kernel
    unread : per axis, canvas rows/cols at the end that no window reaches
    op, size, ceil_mode, count_include_pad : pooling settings (else "", (), False, False)
    output_padding : transposed convolution's (else zeros)
    output : nested tuples, the core's result
    formula : one line per axis, the output-size formula with the numbers filled in
    frames : tuple of frames
    """

    operation: str
    ndim: int
    input: tuple
    kernel: tuple | None
    applied_kernel: tuple | None
    canvas: tuple
    canvas_source: tuple
    padding: tuple
    boundary: str
    cval: float
    stride: tuple
    dilation: tuple
    origin: tuple
    origin_tap: tuple
    unread: tuple
    output: tuple
    formula: tuple
    frames: tuple
    op: str = ""
    size: tuple = ()
    ceil_mode: bool = False
    count_include_pad: bool = False
    output_padding: tuple = ()

    def as_dict(self) -> dict:
        """The trace as plain data: dicts, lists, numbers, strings, None (strict JSON).

        Examples
        --------
        >>> import json
        >>> from cnnconv.animate import trace_correlate
        >>> d = trace_correlate([1.0, 2.0], [1.0], mode="same").as_dict()
        >>> d["frames"][1]["taps"][0]["cell"], json.loads(json.dumps(d)) == d
        ([1], True)
        """
        return _plain(dataclasses.asdict(self))


def _plain(value):
    """Tuples as lists, every float finite (a non-finite float is a bug: refuse loudly)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"a trace holds a non-finite number {value!r}")
    return value


def nested(array) -> tuple:
    """A NumPy array as nested tuples of Python floats (None stays None).

    >>> import numpy as np
    >>> nested(np.array([[1, 2]]))
    ((1.0, 2.0),)
    """
    if getattr(array, "ndim", 0) == 0 and not isinstance(array, (list, tuple)):
        return float(array)
    return tuple(nested(a) if getattr(a, "ndim", 0) or isinstance(a, (list, tuple)) else _num(a) for a in array)


def _num(a):
    return None if a is None else float(a)
