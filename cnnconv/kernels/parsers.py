"""Kernels as data: parsers for kernel text, and what a kernel is.

The ``Kernel`` record itself is :mod:`cnnconv.kernels.record`'s (re-exported here).
Pure functions over strings and arrays: reading files and finding the bundled kernels
is :mod:`cnnconv.io.kernels`' job; the parametric kernels (gaussian, box, log, dog)
live in :mod:`cnnconv.kernels.parametric`.

Text matrix format (``.txt``/``.csv``, documented in ``kernels/README.md``)::

    # Gaussian blur 3x3          <- a first comment line is the description
    1 2 1
    2 4 2                        <- spaces, tabs or commas between values
    1 2 1
    scale 1/16                   <- optional: weights are multiplied by it
    offset 0                     <- optional: added to every output value
    origin 1 1                   <- optional: the tap (row, column) over the output pixel

A line ``---`` separates the slices of a 3-D kernel (kh x kw x C: one filter across
channels).
"""

from __future__ import annotations

import re

import numpy as np

from cnnconv.kernels.record import Kernel
from cnnconv.errors import CnnconvError

__all__ = ["Kernel", "closest_name", "kernel_info", "parse_inline", "parse_kernel_text", "parse_vips_mat"]

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_FRACTION = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*/\s*((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_SETTING = re.compile(r"(scale|offset|origin)\b\s*[:=]?\s*(.*)", re.IGNORECASE)
_SEPARATORS = re.compile(r"\s*,\s*|\s+")


def _number(token: str, where: str) -> float:
    token = token.replace("\u2212", "-")  # a minus sign copied from a slide or a PDF
    if not _NUMBER.fullmatch(token):
        if token.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise CnnconvError(f"{where}: {token!r} is not a finite number")
        raise CnnconvError(f"{where}: {token!r} is not a number")
    value = float(token)
    if not np.isfinite(value):
        raise CnnconvError(f"{where}: {token!r} is too large")
    return value


def _setting_value(text: str, where: str) -> float:
    text = text.strip().replace("\u2212", "-")
    fraction = _FRACTION.fullmatch(text)
    if fraction:
        top, bottom = (_number(t, where) for t in fraction.groups())
        if bottom == 0:
            raise CnnconvError(f"{where}: division by zero in {text!r}")
        return top / bottom
    return _number(text, where)


def _row(line: str, where: str) -> list[float]:
    tokens = _SEPARATORS.split(line.strip().strip(","))
    if any(t == "" for t in tokens):
        raise CnnconvError(f"{where}: empty value between commas")
    return [_number(t, where) for t in tokens]


def parse_kernel_text(text: str, source: str = "kernel", name: str | None = None) -> Kernel:
    """Parse the text matrix format (see the module docstring).

    Parameters
    ----------
    text : str
        File contents; a byte-order mark and Windows or old Mac line endings are accepted.
    source : str
        What to call the text in error messages (a file name).
    name : str, optional
        Kernel name (default: ``source``).

    Returns
    -------
    Kernel

    Shape
    -----
    weights (kh, kw), or (kh, kw, C) for C slices separated by ``---``.

    Examples
    --------
    >>> k = parse_kernel_text("# blur\\n1 2 1\\n2 4 2\\n1 2 1\\nscale 1/16\\n", "g.txt")
    >>> k.shape, k.scale, k.description
    ((3, 3), 0.0625, 'blur')
    >>> parse_kernel_text("1 2\\n3\\n", "k.txt")
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: k.txt line 2: row has 1 value, expected 2
    """
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    description, slices, rows, settings = "", [], [], {}
    width = None
    for number, raw in enumerate(lines, 1):
        where = f"{source} line {number}"
        line, _, comment = raw.partition("#")
        line = line.strip()
        if not line:
            if comment.strip() and not description and not slices and not rows:
                description = comment.strip()
            continue
        if len(line) >= 3 and set(line) == {"-"}:
            if not rows:
                raise CnnconvError(f"{where}: '---' must follow the rows of a slice")
            slices.append(rows)
            rows = []
            continue
        setting = _SETTING.fullmatch(line)
        if setting:
            key = setting.group(1).lower()
            if key in settings:
                raise CnnconvError(f"{where}: a second {key} line")
            if not setting.group(2).strip():
                example = {"scale": "scale 1/16", "offset": "offset 128", "origin": "origin 0 0"}[key]
                raise CnnconvError(f"{where}: {key} needs a value, like '{example}'")
            if key == "origin":
                origin = _row(setting.group(2), where)
                if len(origin) != 2 or any(v != int(v) or v < 0 for v in origin):
                    raise CnnconvError(f"{where}: origin is a row and a column, whole numbers >= 0, like 'origin 0 0'")
                settings[key] = (int(origin[0]), int(origin[1]))
                continue
            settings[key] = _setting_value(setting.group(2), where)
            continue
        values = _row(line, where)
        if width is None:
            width = len(values)
        elif len(values) != width:
            plural = "value" if len(values) == 1 else "values"
            raise CnnconvError(f"{where}: row has {len(values)} {plural}, expected {width}")
        rows.append(values)
    if rows:
        slices.append(rows)
    elif slices:
        raise CnnconvError(f"{source}: nothing after the last '---'")
    if not slices:
        raise CnnconvError(f"{source}: no kernel values found (expected rows of numbers)")
    if any(len(s) != len(slices[0]) for s in slices):
        heights = ", ".join(str(len(s)) for s in slices)
        raise CnnconvError(f"{source}: slices separated by '---' must have the same number of rows, got {heights}")
    weights = np.array(slices[0] if len(slices) == 1 else np.stack(slices, axis=-1), dtype=np.float64)
    if settings.get("scale") == 0:
        raise CnnconvError(f"{source}: scale must not be 0 (it would zero every output)")
    if "origin" in settings and (weights.ndim != 2 or not all(o < n for o, n in zip(settings["origin"], weights.shape))):
        raise CnnconvError(f"{source}: origin {settings['origin']} must lie inside the {weights.shape} kernel (row, column from 0)")
    return Kernel(name or source, weights, settings.get("scale", 1.0), settings.get("offset", 0.0), description,
                  settings.get("origin"))


def parse_vips_mat(text: str, source: str = "kernel.mat", name: str | None = None) -> Kernel:
    """Parse a libvips matrix file: a header ``W H [scale [offset]]``, then H rows of W numbers.

    libvips divides by ``scale`` (``out = sum / scale + offset``); the returned kernel's
    scale is therefore ``1 / scale``.

    Examples
    --------
    >>> k = parse_vips_mat("3 1 4\\n1 2 1\\n", "blur.mat")
    >>> k.weights.tolist(), k.scale
    ([[1.0, 2.0, 1.0]], 0.25)
    >>> parse_vips_mat("2 2\\n1 2\\n", "k.mat")
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: k.mat: the header says 2 rows (W H = 2 2), found 1
    """
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    numbered = [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip()]
    if not numbered:
        raise CnnconvError(f"{source}: empty file (expected a header 'W H [scale [offset]]')")
    number, header = numbered[0]
    values = _row(header, f"{source} line {number}")
    if not 2 <= len(values) <= 4 or any(v != int(v) or v < 1 for v in values[:2]):
        raise CnnconvError(f"{source} line {number}: header must be 'W H [scale [offset]]' with W, H whole numbers >= 1, got {header!r}")
    w, h = int(values[0]), int(values[1])
    scale, offset = (values[2:] + [1.0, 0.0][len(values) - 2 :])[:2]
    if scale == 0:
        raise CnnconvError(f"{source} line {number}: scale must not be 0 (libvips divides by it)")
    rows = []
    for number, line in numbered[1:]:
        row = _row(line, f"{source} line {number}")
        if len(row) != w:
            raise CnnconvError(f"{source} line {number}: row has {len(row)} values, the header says W = {w}")
        rows.append(row)
    if len(rows) != h:
        raise CnnconvError(f"{source}: the header says {h} rows (W H = {w} {h}), found {len(rows)}")
    return Kernel(name or source, np.array(rows), 1.0 / scale, offset, "")


def parse_inline(text: str, name: str | None = None) -> Kernel:
    """Parse a kernel written on the command line: rows separated by ``;``, values by ``,`` or spaces.

    Examples
    --------
    >>> parse_inline("1,2,1; 0,0,0; -1,-2,-1").weights.tolist()
    [[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]]
    >>> parse_inline("1,2;3")
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: inline kernel '1,2;3': row 2 has 1 value, expected 2
    """
    source = f"inline kernel {text!r}"
    parts = [p for p in text.strip().strip(";").split(";")]
    rows = []
    for number, part in enumerate(parts, 1):
        if not part.strip():
            raise CnnconvError(f"{source}: row {number} is empty")
        row = _row(part, f"{source} row {number}")
        if rows and len(row) != len(rows[0]):
            plural = "value" if len(row) == 1 else "values"
            raise CnnconvError(f"{source}: row {number} has {len(row)} {plural}, expected {len(rows[0])}")
        rows.append(row)
    return Kernel(name or text.strip(), np.array(rows), 1.0, 0.0, "inline")


def kernel_info(kernel: Kernel) -> dict:
    """What a kernel is: size, sum, rank and whether it separates into a column times a row.

    A 2-D kernel is separable when its rank is 1 (one singular value above
    ``1e-9`` of the largest): then two 1-D passes give the same result. The sum
    is of the effective weights (``weights * scale``).

    Examples
    --------
    >>> info = kernel_info(Kernel("g", [[1, 2, 1], [2, 4, 2], [1, 2, 1]], scale=1 / 16))
    >>> info["size"], info["sum"], info["separable"], info["rank"]
    ('3x3', 1.0, True, 1)
    """
    w = kernel.effective()
    rank = separable = None
    if w.ndim == 2:
        singular = np.linalg.svd(w, compute_uv=False)
        rank = int(np.sum(singular > singular[0] * 1e-9)) if singular[0] > 0 else 0
        separable = rank <= 1
    total = float(w.sum())
    return {
        "name": kernel.name,
        "size": "x".join(str(n) for n in w.shape),
        "shape": list(w.shape),
        "sum": 0.0 if abs(total) < 1e-12 * max(float(np.abs(w).sum()), 1e-300) else total,
        "separable": separable,
        "rank": rank,
        "scale": kernel.scale,
        "offset": kernel.offset,
        "origin": None if kernel.origin is None else list(kernel.origin),
        "description": kernel.description,
    }


def closest_name(name: str, choices) -> str | None:
    """The choice most like ``name`` (for "did you mean"), or None.

    Examples
    --------
    >>> closest_name("sobelx", ["sobel-x", "sobel-y", "box3"])
    'sobel-x'
    """
    import difflib  # only when a name is unknown: a known kernel never pays for it

    matches = difflib.get_close_matches(name.lower(), list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None
