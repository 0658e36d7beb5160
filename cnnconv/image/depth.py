"""Output sample depth: which sample type an output gets, and how values move between depths.

The rule, one for every source (PNG, TIFF, PPM, ``.npy``, CSV):

- by default an output keeps the input's sample type: 8-bit stays 8-bit, 16-bit stays
  16-bit, float stays float (an array written to ``.npy``/CSV keeps the computed numbers);
- ``depth="8"`` or ``"16"`` asks for integer samples. Between integer depths the sample
  range maps onto the sample range: 16 -> 8 rounds ``v / 257``, 8 -> 16 multiplies by 257
  (so 255 becomes 65535 and back);
- float samples have no sample range: going to integers they are taken as the numbers
  they are, rounded to the nearest integer and cast by the range rule (``clip``, ``abs``
  or ``rescale``), whatever the source (a float TIFF, a ``.npy``, a CSV). Float pictures
  holding 0..1 intensities therefore want ``--scale 255`` (or ``--range rescale``);
- ``depth="float"`` keeps the computed values, in the input's units (an 8-bit image gives
  0..255 floats), for the outputs that hold floats (TIFF, ``.npy``, CSV, PFM).

Examples
--------
>>> import numpy as np
>>> sample_type(np.dtype(np.uint16), "8"), sample_type(np.dtype(np.uint8), None)
(dtype('uint8'), dtype('uint8'))
>>> depth_factor(np.dtype(np.uint16), np.dtype(np.uint8)), depth_factor(np.dtype(np.uint8), np.dtype(np.uint16))
(0.0038910505836575876, 257.0)
"""

from __future__ import annotations

import numpy as np

from cnnconv.errors import CnnconvError

#: The depths an output may be asked for (``--depth``).
DEPTHS = ("8", "16", "float")
_INTEGER = {"8": np.dtype(np.uint8), "16": np.dtype(np.uint16)}


def check_depth(depth) -> None:
    """Raise :class:`CnnconvError` unless ``depth`` is None or one of :data:`DEPTHS`.

    >>> check_depth("12")
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: depth must be one of 8, 16, float, got '12'
    """
    if depth is not None and depth not in DEPTHS:
        raise CnnconvError(f"depth must be one of {', '.join(DEPTHS)}, got {depth!r}")


def sample_type(source_dtype, depth=None, *, float_type=np.dtype(np.float32)):
    """The sample type of an output: the source's (``depth`` None), 8- or 16-bit, or ``float_type``.

    Parameters
    ----------
    source_dtype : numpy dtype
        The input's sample type.
    depth : {None, "8", "16", "float"}
    float_type : numpy dtype or None
        What ``"float"`` gives: float32 for images (TIFF, PFM), None (the computed values
        as they are) for arrays.

    Returns
    -------
    numpy dtype or None

    Examples
    --------
    >>> sample_type(np.dtype(np.uint8), "float"), sample_type(np.dtype(np.uint8), "float", float_type=None)
    (dtype('float32'), None)
    """
    check_depth(depth)
    if depth is None:
        return np.dtype(source_dtype)
    if depth == "float":
        return float_type
    return _INTEGER[depth]


def is_integer_type(dtype) -> bool:
    """Whether samples of ``dtype`` are integers (None, the raw computed values, are not).

    >>> is_integer_type(np.dtype(np.uint16)), is_integer_type(None), is_integer_type(np.dtype(np.float32))
    (True, False, False)
    """
    return dtype is not None and np.dtype(dtype).kind in "ui"


def depth_factor(source_dtype, target_dtype) -> float:
    """What computed values (in the source's units) are multiplied by for ``target_dtype``'s samples.

    Integer to integer maps the whole sample range onto the whole sample range
    (``top_target / top_source``: 1/257 for 16 -> 8, 257 for 8 -> 16). Anything from or to
    floats is 1: float samples are the numbers they are.

    >>> depth_factor(np.dtype(np.float32), np.dtype(np.uint8)), depth_factor(np.dtype(np.uint8), None)
    (1.0, 1.0)
    """
    if not (is_integer_type(source_dtype) and is_integer_type(target_dtype)):
        return 1.0
    return float(np.iinfo(target_dtype).max) / float(np.iinfo(source_dtype).max)


def alpha_in(coverage: np.ndarray, source_dtype, target_dtype) -> np.ndarray:
    """Alpha in 0..1 as samples of ``target_dtype``: the integer top for integers, else the source's units.

    Float outputs keep the source's units for alpha as for colour (0..255 from an 8-bit
    image, 0..1 from a float one), so colour and alpha stay comparable.

    >>> alpha_in(np.array([0.0, 0.5, 1.0]), np.dtype(np.uint8), np.dtype(np.uint16)).tolist()
    [0, 32768, 65535]
    >>> alpha_in(np.array([0.0, 1.0]), np.dtype(np.uint8), np.dtype(np.float32)).tolist()
    [0.0, 255.0]
    """
    if is_integer_type(target_dtype):
        return np.rint(coverage * float(np.iinfo(target_dtype).max)).astype(target_dtype)
    top = float(np.iinfo(source_dtype).max) if is_integer_type(source_dtype) else 1.0
    a = coverage * top
    return a if target_dtype is None else a.astype(target_dtype)
