"""Numbers as text for JSON and CSV: strict JSON, and no more digits than the data has.

Two rules every command's machine-readable output follows:

* **Strict JSON.** ``NaN`` and ``Infinity`` are not JSON; :func:`dumps` writes ``null`` in
  their place and adds a field ``"null_because"`` to the object holding them that maps
  each such key (or ``key[i]`` for a list element) to ``"nan"``, ``"inf"`` or ``"-inf"``,
  so a strict parser reads every line and a reader still learns what was there.
* **The precision the data has.** A float32 value is written as the shortest decimal
  that reads back to the same float32 (``3``, not ``2.9999999999999996``; ``0.1``, not
  ``0.10000000149011612``), and a value known only to within a tolerance (the rounding
  error of the sum that made it) as the shortest decimal within it (``126444``, not
  ``126444.00000000001``). :func:`shortest` does both.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

_REASONS = {"nan": "nan", "inf": "inf", "-inf": "-inf"}


def shortest(value: float, dtype=None, tolerance: float = 0.0) -> str:
    """The shortest decimal text of ``value`` at its precision.

    Parameters
    ----------
    value : float
        A finite number (NaN and infinity are written ``nan``, ``inf``, ``-inf``).
    dtype : numpy dtype, optional
        The sample type the value comes from: float32 (and float16) values are written
        with the digits their own type needs, not those of float64.
    tolerance : float
        How far from ``value`` the written number may be (the rounding error of the
        computation that made it); 0 writes the exact shortest form.

    Returns
    -------
    str
        An integer without a decimal point when the value is one (below 2**53), else the
        shortest ``repr``-like form.

    Examples
    --------
    >>> shortest(2.9999999999999996, np.float32), shortest(0.10000000149011612, np.float32)
    ('3', '0.1')
    >>> shortest(126444.00000000001, tolerance=1e-9), shortest(126444.00000000001)
    ('126444', '126444.00000000001')
    >>> shortest(1.9000000000000001, tolerance=4e-15), shortest(-0.0), shortest(float("nan"))
    ('1.9', '0', 'nan')
    """
    if dtype is None and isinstance(value, np.floating):
        dtype = value.dtype
    value = float(value)
    if not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if dtype is not None and np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize < 8:
        narrow = np.dtype(dtype).type(value)
        if np.isfinite(narrow):
            text = np.format_float_positional(narrow, unique=True, trim="-") if abs(value) < 1e16 else str(narrow)
            return _integral(float(text), text)
    if tolerance > 0 and value != 0:
        # fewest significant digits within the tolerance; the loop is short (at most 17)
        start = max(1, int(math.floor(math.log10(abs(value)) - math.log10(tolerance))) - 1)
        for digits in range(min(start, 17), 18):
            text = f"{value:.{digits}g}"
            if abs(float(text) - value) <= tolerance:
                return _integral(float(text), _plain(text))
    return _integral(value, repr(value))


def _plain(text: str) -> str:
    """``%g`` output as Python's ``repr`` would spell that number (no ``1.5e+02``)."""
    number = float(text)
    return repr(number)


def _integral(number: float, text: str) -> str:
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return text


def number(value: float, dtype=None, tolerance: float = 0.0) -> float | int | None:
    """``value`` as the JSON number :func:`shortest` writes (None for NaN and infinity).

    >>> number(np.float32(0.1)), number(2.9999999999999996, np.float32), number(float("inf"))
    (0.1, 3, None)
    """
    text = shortest(value, dtype, tolerance)
    if text in _REASONS:
        return None
    return int(text) if text.lstrip("-").isdigit() else float(text)


def strict(value: Any) -> Any:
    """``value`` made strict-JSON-ready: NumPy scalars and arrays as plain numbers (at their
    dtype's precision), non-finite floats as None with ``null_because`` beside them.

    >>> strict({"min": float("nan"), "top": [1.0, float("-inf")], "w": np.float32(0.1)})
    {'min': None, 'top': [1.0, None], 'w': 0.1, 'null_because': {'min': 'nan', 'top[1]': '-inf'}}
    """
    if isinstance(value, dict):
        out, why = {}, {}
        for key, item in value.items():
            if key == "null_because":
                continue
            out[str(key)] = _strict_item(item, str(key), why)
        if isinstance(value.get("null_because"), dict):
            why = {**value["null_because"], **why}
        if why:
            out["null_because"] = why
        return out
    if isinstance(value, (list, tuple, np.ndarray)):
        return _strict_list(value, "", {})
    return _strict_item(value, "", {})


def _strict_list(values, key: str, why: dict) -> list:
    if isinstance(values, np.ndarray):
        dtype = values.dtype
        values = values.tolist()
        if dtype.kind == "f" and dtype.itemsize < 8:
            return _narrow(values, dtype, key, why)
    return [_strict_item(v, f"{key}[{i}]", why) for i, v in enumerate(values)]


def _narrow(values, dtype, key, why):
    if isinstance(values, list):
        return [_narrow(v, dtype, f"{key}[{i}]", why) for i, v in enumerate(values)]
    return _strict_item(number(values, dtype) if math.isfinite(values) else values, key, why)


def _strict_item(item: Any, key: str, why: dict) -> Any:
    if isinstance(item, dict):
        return strict(item)
    if isinstance(item, (list, tuple, np.ndarray)):
        return _strict_list(item, key, why)
    if isinstance(item, np.generic):
        if isinstance(item, np.floating):
            if not np.isfinite(item):
                why[key] = shortest(float(item))
                return None
            return number(item, item.dtype)
        item = item.item()
    if isinstance(item, float) and not math.isfinite(item):
        why[key] = shortest(item)
        return None
    return item


def dumps(value: Any, **kwargs) -> str:
    """Strict JSON text of ``value`` (see :func:`strict`); never ``NaN`` or ``Infinity``.

    >>> dumps({"loss": float("nan"), "acc": 0.5})
    '{"loss": null, "acc": 0.5, "null_because": {"loss": "nan"}}'
    """
    return json.dumps(strict(value), allow_nan=False, default=str, **kwargs)
