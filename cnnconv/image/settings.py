"""The settings of :func:`cnnconv.image.filter_image` and :func:`cnnconv.image.pool_image`.

Frozen dataclasses of plain values (and the kernels' arrays), so they pickle for
``--jobs N`` and a script can build, compare and reuse them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cnnconv.errors import CnnconvError
from cnnconv.kernels.record import Kernel

#: The six settings that place a kernel on the image, in :func:`cnnconv.conv.correlate`'s names.
GEOMETRY_FIELDS = ("mode", "padding", "stride", "dilation", "boundary", "cval")

ALPHA_POLICIES = ("premultiply", "keep", "channel")
RANGE_POLICIES = ("clip", "abs", "rescale")
COMBINE_RULES = ("magnitude", "max", "sum")


def _choice(value, allowed, what):
    if value not in allowed:
        raise CnnconvError(f"{what} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


@dataclass(frozen=True)
class Geometry:
    """Where a kernel reads: output size (``mode`` or explicit ``padding``), steps and border.

    The fields are :func:`cnnconv.conv.correlate`'s keywords of the same names;
    :meth:`as_keywords` gives them as such.

    Examples
    --------
    >>> g = Geometry(boundary="edge")
    >>> g.as_keywords()
    {'mode': 'same', 'padding': None, 'stride': 1, 'dilation': 1, 'boundary': 'edge', 'cval': 0.0}
    >>> Geometry(padding=1).mode is None
    True
    """

    mode: str | None = "same"
    padding: object = None
    stride: object = 1
    dilation: object = 1
    boundary: str = "zero"
    cval: float = 0.0

    def __post_init__(self):
        if self.padding is not None and self.mode == "same":  # explicit padding replaces the default mode
            object.__setattr__(self, "mode", None)
        if self.mode is not None and self.padding is not None:
            raise CnnconvError("give either a mode or an explicit padding, not both")

    def as_keywords(self) -> dict:
        """The six fields as keywords for :func:`cnnconv.conv.correlate`."""
        return {name: getattr(self, name) for name in GEOMETRY_FIELDS}


@dataclass(frozen=True)
class FilterSettings:
    """What :func:`cnnconv.image.filter_image` does to a picture.

    Parameters
    ----------
    kernels : tuple of Kernel
        One output per kernel, or one in all with ``combine``. Each applies
        ``weights * scale`` and adds its ``offset``.
    geometry : Geometry
    convolve : bool
        Flip the kernels (true convolution); default correlation.
    normalize : bool
        Divide each kernel by the sum of its weights (refused for a kernel summing to 0).
    combine : {None, "magnitude", "max", "sum"}
        Merge the kernels' results into one (magnitude: square root of the sum of squares).
    scale, offset : float
        The result times ``scale`` plus ``offset``, before the cast.
    alpha : {"premultiply", "keep", "channel"}
        Weight colour by alpha and output the filtered coverage; keep the input alpha;
        or filter alpha as an ordinary channel.
    range : {"clip", "abs", "rescale"}
        How results become integer samples: rounded then clipped, ``|v|`` then clipped,
        or min..max mapped onto the sample range.
    max_pixels : int or None
        Refuse a padded input or an output of more pixels than this (or four times the
        input, whichever is larger); None for no limit.
    precision : {"auto", "float32", "float64"}
        The float type integer samples are computed in (:mod:`cnnconv.image.precision`:
        ``auto`` takes float32 where it is exact or its error is below an eighth of a level).

    Examples
    --------
    >>> from cnnconv.kernels import Kernel
    >>> s = FilterSettings((Kernel("d", [[1, -1]]),), geometry=Geometry(mode="valid"))
    >>> s.labels()
    ('d',)
    >>> FilterSettings((Kernel("a", [[1]]), Kernel("b", [[2]])), combine="sum").labels()
    ('a+b-sum',)
    """

    kernels: tuple[Kernel, ...]
    geometry: Geometry = field(default_factory=Geometry)
    convolve: bool = False
    normalize: bool = False
    combine: str | None = None
    scale: float = 1.0
    offset: float = 0.0
    alpha: str = "premultiply"
    range: str = "clip"
    max_pixels: int | None = None
    precision: str = "auto"

    def __post_init__(self):
        from cnnconv.image.precision import check_precision

        check_precision(self.precision)
        object.__setattr__(self, "kernels", tuple(self.kernels))
        if not self.kernels or not all(isinstance(k, Kernel) for k in self.kernels):
            raise CnnconvError("filter settings need at least one kernel (cnnconv.kernels.Kernel records)")
        if self.combine is not None:
            _choice(self.combine, COMBINE_RULES, "combine")
        _choice(self.alpha, ALPHA_POLICIES, "alpha")
        _choice(self.range, RANGE_POLICIES, "range")

    def labels(self) -> tuple[str, ...]:
        """The name of each output, in order: the kernels' names, or one for ``combine``."""
        names = tuple(k.name for k in self.kernels)
        return ("+".join(names) + "-" + self.combine,) if self.combine else names


@dataclass(frozen=True)
class PoolSettings:
    """What :func:`cnnconv.image.pool_image` does: :func:`cnnconv.pooling.pool`'s options and a range policy.

    ``op="median"`` and ``mode="same"`` go through :func:`cnnconv.pooling.window_filter`:
    ``mode="same"`` is stride 1 and same-size padding (a median filter, an erosion with
    ``min``, a dilation with ``max``, a box mean with ``avg``), its padding filled by
    ``boundary`` (None: padding never counts, pooling's rule).

    Examples
    --------
    >>> PoolSettings(size=2).label()
    'max2'
    >>> PoolSettings(size=(2, 3), op="avg").label()
    'avg2x3'
    >>> PoolSettings(size=3, op="median", mode="same", boundary="reflect").label()
    'median3'
    """

    size: object
    stride: object = None
    padding: object = 0
    op: str = "max"
    ceil_mode: bool = False
    count_include_pad: bool = False
    range: str = "clip"
    mode: str | None = None
    boundary: str | None = None
    cval: float = 0.0
    precision: str = "auto"

    def __post_init__(self):
        from cnnconv.image.precision import check_precision

        check_precision(self.precision)
        _choice(self.op, ("max", "avg", "min", "median"), "op")
        _choice(self.range, RANGE_POLICIES, "range")
        if self.mode is not None:
            _choice(self.mode, ("same",), "mode")
            if self.stride not in (None, 1, (1, 1)) or self.padding not in (0, (0, 0)) or self.ceil_mode:
                raise CnnconvError("mode 'same' is stride 1 with same-size padding: give no stride, padding or "
                                   "ceil mode with it")
        elif self.boundary is not None:
            raise CnnconvError("a boundary fills the padding of mode 'same'; pooling's own padding never counts")
        if self.count_include_pad and (self.mode is not None or self.op != "avg"):
            raise CnnconvError("count_include_pad is for average pooling without mode 'same'")

    def label(self) -> str:
        """``op`` and the window size, as output names use it."""
        size = self.size if isinstance(self.size, int) else "x".join(map(str, self.size))
        return f"{self.op}{size}"

    def uses_windows(self) -> bool:
        """Whether :func:`cnnconv.pooling.window_filter` runs (median, same mode), not :func:`cnnconv.pooling.pool`."""
        return self.op == "median" or self.mode is not None

    def window_keywords(self) -> dict:
        """The options as keywords for :func:`cnnconv.pooling.window_filter`."""
        if self.mode == "same":
            return {"op": self.op, "boundary": self.boundary, "cval": self.cval}
        return {"op": self.op, "stride": self.size if self.stride is None else self.stride,
                "padding": self.padding, "ceil_mode": self.ceil_mode}

    def pool_keywords(self) -> dict:
        """The options as keywords for :func:`cnnconv.pooling.pool`."""
        return {"stride": self.stride, "padding": self.padding, "op": self.op,
                "ceil_mode": self.ceil_mode, "count_include_pad": self.count_include_pad}
