"""ImageMagick's kernel strings, read as ImageMagick reads them (``-morphology``, ``-convolve``).

Three forms, as ImageMagick's morphology documentation gives them; ``;`` separates the
kernels of a list:

- ``WxH[+X+Y][@><]: v v v ...`` — W columns by H rows (``3:`` is 3x3), values row by row
  separated by spaces or commas; ``+X+Y`` is the origin (column X, row Y; ``+0+0`` is the
  top left), by default the centre, or just above / left of it for even sizes. ``nan`` or
  ``-`` marks an element outside the neighbourhood: convolution skips it, so it is 0 here.
- ``v,v,v,...`` — the old list of ``n*n`` values for an n x n kernel (9 for 3x3).
- ``Name[:args][@><]`` — a named kernel (case is ignored), with ImageMagick's geometry
  arguments ``RxS+A``, or the same numbers separated by commas (``DoG:0,1,2``):

  ====================  ==========================================================
  Unity[:S]             1x1 kernel of value S (default 1)
  Gaussian:RxS          2-D sampled Gaussian, normalised to sum 1
  LoG:R,S               Laplacian of Gaussian, *positive* centre ("Mexican hat"),
                        positive weights scaled to sum 1 and negative to sum -1
  DoG:R,S1,S2           Gaussian(S1) - Gaussian(S2), normalised as LoG
  Blur:RxS[+A]          1-D Gaussian (a row; A=90 makes it a column), sum 1
  Comet:WxS[+A]         half a 1-D Gaussian, W wide, origin at its first element
  Binomial[:R]          Pascal's triangle, outer product, not normalised (sum 4^R)
  Laplacian[:N]         N = 0 (default), 1, 2, 3, 5, 7, 15 or 19
  Sobel / Prewitt / Roberts / Compass / Kirsch [:A]   3x3 edge kernels, rotated A degrees
  FreiChen[:N[,A]]      N = 0, 1, 2, 10 (the list of 11..19) or 11 ... 19; N > 30 is an angle
  Square[:R[,S]] Diamond[:R[,S]] Disk[:R[,S]] Octagon Plus Cross Rectangle:WxH[+X+Y]
                        flat shapes of value S (default 1); outside the shape is 0
  ====================  ==========================================================

  R is a radius: the kernel is ``2*floor(R)+1`` wide; ``R = 0`` lets ImageMagick pick the
  width for S as ImageMagick's ``GetOptimalKernelWidth`` does (for a Q16 build: the edge
  value falls below 1/65535 of the total). An S of 0 gives the unit impulse.

Rotation flags expand one kernel into a list: ``@`` rotates a 3x3 kernel by 45 degrees
until it comes back (up to 8 kernels), ``>`` by 90 degrees (up to 4), ``<`` gives the
kernel, its 180-degree rotation and then the 90-degree ones (ImageMagick's mirror order).
Angles turn clockwise and are rounded to a multiple of 45 degrees as ImageMagick does.

The values and sizes were checked against ImageMagick 6.9.11 (``-define
morphology:showKernel=1``) by ``benchmarks/compat.py``; where ImageMagick 6.9.11 fills a
kernel with garbage (a fractional radius: ``Gaussian:1.5x1``, ``Disk:1.5``) this follows
the width ImageMagick documents, ``2*floor(R)+1``.
"""

from __future__ import annotations

import math
import re

import numpy as np

from cnnconv.errors import CnnconvError
from cnnconv.kernels.record import Kernel

__all__ = ["IM_KERNEL_NAMES", "is_imagemagick", "parse_imagemagick"]

#: ImageMagick's double ``MagickEpsilon`` and a Q16 build's ``QuantumScale``.
_EPSILON = 1e-12
_QUANTUM_SCALE = 1.0 / 65535.0

_LAPLACIANS = {
    0: "-1,-1,-1 -1,8,-1 -1,-1,-1",
    1: "0,-1,0 -1,4,-1 0,-1,0",
    2: "-2,1,-2 1,4,1 -2,1,-2",
    3: "1,-2,1 -2,4,-2 1,-2,1",
    5: "-4,-1,0,-1,-4 -1,2,3,2,-1 0,3,4,3,0 -1,2,3,2,-1 -4,-1,0,-1,-4",
    7: "-10,-5,-2,-1,-2,-5,-10 -5,0,3,4,3,0,-5 -2,3,6,7,6,3,-2 -1,4,7,8,7,4,-1 "
       "-2,3,6,7,6,3,-2 -5,0,3,4,3,0,-5 -10,-5,-2,-1,-2,-5,-10",
    15: "0,0,-1,0,0 0,-1,-2,-1,0 -1,-2,16,-2,-1 0,-1,-2,-1,0 0,0,-1,0,0",
    19: "0,-1,-1,-2,-2,-2,-1,-1,0 -1,-2,-4,-5,-5,-5,-4,-2,-1 -1,-4,-5,-3,0,-3,-5,-4,-1 "
        "-2,-5,-3,12,24,12,-3,-5,-2 -2,-5,0,24,40,24,0,-5,-2 -2,-5,-3,12,24,12,-3,-5,-2 "
        "-1,-4,-5,-3,0,-3,-5,-4,-1 -1,-2,-4,-5,-5,-5,-4,-2,-1 0,-1,-1,-2,-2,-2,-1,-1,0",
}  # fmt: skip

_EDGES = {  # the unrotated 3x3 kernels, as ImageMagick defines them (positive on the left)
    "sobel": [[1, 0, -1], [2, 0, -2], [1, 0, -1]],
    "roberts": [[0, 0, 0], [1, -1, 0], [0, 0, 0]],
    "prewitt": [[1, 0, -1], [1, 0, -1], [1, 0, -1]],
    "compass": [[1, 1, -1], [1, -2, -1], [1, 1, -1]],
    "kirsch": [[5, -3, -3], [5, 0, -3], [5, -3, -3]],
}

_R2 = math.sqrt(2.0)
_FREICHEN = {  # type -> (weights, scale); ImageMagick scales types 1, 2, 11-14 by sqrt(2)/2
    0: ([[1, 0, -1], [_R2, 0, -_R2], [1, 0, -1]], 1.0),
    1: ([[1, 0, -1], [_R2, 0, -_R2], [1, 0, -1]], _R2 / 2),
    2: ([[1, _R2, 0], [_R2, 0, -_R2], [0, -_R2, -1]], _R2 / 2),
    11: ([[1, 0, -1], [_R2, 0, -_R2], [1, 0, -1]], _R2 / 2),
    12: ([[1, _R2, 1], [0, 0, 0], [1, _R2, 1]], _R2 / 2),
    13: ([[_R2, -1, 0], [-1, 0, 1], [0, 1, -_R2]], _R2 / 2),
    14: ([[0, 1, -_R2], [-1, 0, 1], [_R2, -1, 0]], _R2 / 2),
    15: ([[0, -1, 0], [1, 0, 1], [0, -1, 0]], 0.5),
    16: ([[1, 0, -1], [0, 0, 0], [-1, 0, 1]], 0.5),
    17: ([[1, -2, 1], [-2, 4, -2], [-1, -2, 1]], 1 / 6),  # the -1 at the bottom left is ImageMagick's
    18: ([[-2, 1, -2], [1, 4, 1], [-2, 1, -2]], 1 / 6),
    19: ([[1, 1, 1], [1, 1, 1], [1, 1, 1]], 1 / 3),
}

#: The named kernels understood, lower case -> how ImageMagick spells it.
IM_KERNEL_NAMES = {
    name.lower(): name
    for name in ("Unity", "Gaussian", "LoG", "DoG", "Blur", "Comet", "Binomial", "Laplacian", "Sobel",
                 "Roberts", "Prewitt", "Compass", "Kirsch", "FreiChen", "Square", "Diamond", "Disk",
                 "Octagon", "Plus", "Cross", "Rectangle")
}
_NO_ROTATION = {"gaussian", "log", "dog", "disk", "laplacian", "square", "diamond", "plus", "cross", "octagon"}

_NUM = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_GEOMETRY = re.compile(rf"(?P<w>\d+)?(?:x(?P<h>\d+))?(?:(?P<x>[+-]\d+)(?P<y>[+-]\d+))?")
_ARGS = re.compile(rf"(?P<rho>{_NUM})?(?:x(?P<sigma>{_NUM})?)?(?P<xi>[+-]{_NUM})?(?P<psi>[+-]{_NUM})?")
_USER_DEFINED = re.compile(r"\s*\d*(?:x\d+)?(?:[+-]\d+[+-]\d+)?\s*[@<>]?\s*:")


def is_imagemagick(spec: str) -> bool:
    """Whether ``spec`` can only be an ImageMagick kernel string.

    True for an ``im:`` prefix, a ``WxH[+X+Y]:`` array and a name only ImageMagick has
    (``Sobel``, ``Unity``, ``Laplacian:1``, ...). cnnconv's own ``gaussian``, ``log`` and
    ``dog`` and the bundled names are not claimed here: see :func:`cnnconv.io.kernels.load_kernels`.

    Examples
    --------
    >>> [is_imagemagick(s) for s in ("im:Gaussian:2", "3x3: 1,2,1 2,4,2 1,2,1", "Sobel:90", "gaussian:sigma=2")]
    [True, True, True, False]
    """
    text = spec.strip()
    if text[:3].lower() == "im:" or _USER_DEFINED.match(text):
        return True
    name = re.match(r"[A-Za-z]+", text)
    if not name:
        return False
    head, rest = name.group(0).lower(), text[name.end():].lstrip()
    if head in ("gaussian", "log", "dog"):
        return False
    if head == "laplacian":  # the bundled "laplacian" is cnnconv's; with arguments it is ImageMagick's
        return rest[:1] in (":", "@", ">", "<")
    return head in IM_KERNEL_NAMES and (not rest or rest[:1] in (":", ",", "@", ">", "<", ";"))


def _values(text: str, where: str) -> list[float]:
    tokens = [t for t in re.split(r"[\s,]+", text.strip()) if t]
    values = []
    for token in tokens:
        if token.lower() in ("nan", "-"):
            values.append(math.nan)
            continue
        try:
            value = float(token.replace("\u2212", "-"))
        except ValueError:
            raise CnnconvError(f"{where}: {token!r} is not a number") from None
        if not math.isfinite(value):
            raise CnnconvError(f"{where}: {token!r} is not a finite number")
        values.append(value)
    return values


def _flags(text: str, where: str) -> tuple[str, str]:
    """The rotation flag (``@``, ``>``, ``<`` or ``""``) and the text without it."""
    for bad in "!%^":
        if bad in text:
            raise CnnconvError(
                f"{where}: the {bad!r} flag scales kernels in ImageMagick; cnnconv takes --normalize and --scale instead"
            )
    found = {f for f in "@<>" if f in text}
    if len(found) > 1:
        raise CnnconvError(f"{where}: give one rotation flag (@ 45 degrees, > 90 degrees, < mirrored), not {''.join(sorted(found))}")
    flag = found.pop() if found else ""
    return flag, text.replace(flag, "") if flag else text


def _user_defined(text: str, where: str) -> tuple[Kernel, str]:
    head, colon, body = text.partition(":")
    if colon:
        flag, geometry = _flags(head, where)
        m = _GEOMETRY.fullmatch(geometry.strip())
        if not m or not geometry.strip():
            raise CnnconvError(f"{where}: {head.strip()!r} is not a kernel size; write WxH[+X+Y], e.g. 3x3 or 3x3+0+0")
        w = int(m["w"]) if m["w"] else int(m["h"])
        h = int(m["h"]) if m["h"] else w
        if w < 1 or h < 1:
            raise CnnconvError(f"{where}: the size must be at least 1x1, got {w}x{h}")
        if m["x"] is not None:
            x, y = int(m["x"]), int(m["y"])
            if not (0 <= x < w and 0 <= y < h):
                raise CnnconvError(f"{where}: origin +{x}+{y} must lie inside the {w}x{h} kernel (+0+0 to +{w - 1}+{h - 1})")
        else:
            x, y = (w - 1) // 2, (h - 1) // 2
        values = _values(body, where)
        if len(values) != w * h:
            raise CnnconvError(f"{where}: a {w}x{h} kernel needs {w * h} values (W columns x H rows), got {len(values)}")
    else:
        flag, body = _flags(text, where)
        values = _values(body, where)
        n = math.isqrt(len(values))
        if n * n != len(values) or not values:
            near = ", ".join(str(k * k) for k in (n, n + 1) if k)
            raise CnnconvError(
                f"{where}: a list of values without a size is an n x n kernel, so it needs a square count "
                f"({near}), got {len(values)}; or give the size: 'WxH: values'"
            )
        w = h = n
        x = y = (n - 1) // 2
    weights = np.array(values, dtype=np.float64).reshape(h, w)
    if np.isnan(weights).all():
        raise CnnconvError(f"{where}: every value is nan; a kernel needs at least one number")
    name = "im:" + text.strip()
    return _make(name, np.nan_to_num(weights, nan=0.0), (y, x), "ImageMagick user-defined kernel"), flag


def _make(name, weights, origin, description) -> Kernel:
    return Kernel(name, weights, description=description, origin=tuple(int(o) for o in origin))


def _parse_args(text: str, where: str) -> dict:
    """ImageMagick geometry arguments -> {"rho", "sigma", "xi", "psi"} for those given."""
    text = text.strip()
    if not text:
        return {}
    keys = ("rho", "sigma", "xi", "psi")
    if "," in text:
        parts = [p.strip() for p in text.split(",")]
        if len(parts) > 4:
            raise CnnconvError(f"{where}: at most 4 arguments, got {len(parts)}")
        args = {}
        for key, part in zip(keys, parts):
            if part:
                try:
                    args[key] = float(part)
                except ValueError:
                    raise CnnconvError(f"{where}: {part!r} is not a number") from None
        return args
    single = re.fullmatch(rf"[+-]?{_NUM}", text)
    if single:  # one signed number is the first argument (Sobel:-90)
        return {"rho": float(text)}
    m = _ARGS.fullmatch(text)
    if not m:
        raise CnnconvError(f"{where}: {text!r} is not ImageMagick's argument form RxS+A (or R,S,A)")
    return {key: float(m[key]) for key in keys if m[key] is not None}


def _optimal_width(radius: float, sigma: float, dims: int) -> int:
    """ImageMagick's GetOptimalKernelWidth1D/2D for a Q16 build."""
    if radius > _EPSILON:
        return _side(2 * math.ceil(radius) + 1 if math.isfinite(radius) else radius)
    gamma = abs(sigma)
    if gamma <= _EPSILON:
        return 3
    alpha = 1.0 / (2.0 * gamma * gamma)
    beta = 1.0 / (math.sqrt(2 * math.pi) * gamma) if dims == 1 else 1.0 / (2 * math.pi * gamma * gamma)
    width = 5
    while True:
        j = (width - 1) // 2
        u = np.arange(-j, j + 1, dtype=np.float64)
        line = np.exp(-(u * u) * alpha) * beta
        normalize = line.sum() if dims == 1 else float(np.exp(-(u[:, None] ** 2 + u[None, :] ** 2) * alpha).sum() * beta)
        value = math.exp(-(j * j) * alpha) * beta / normalize
        if value < _QUANTUM_SCALE or value < _EPSILON:
            return width - 2
        width += 2
        if width > 2001:
            raise CnnconvError(f"sigma {sigma:g} needs a kernel wider than 2001; give a radius")


#: Largest side of a kernel built from arguments (as for cnnconv's parametric kernels).
MAX_SIDE = 1001


def _side(n: float) -> int:
    if not math.isfinite(n) or n > MAX_SIDE:
        raise CnnconvError(f"a kernel side of {n:g} is larger than {MAX_SIDE}; give a smaller radius or size")
    return int(n)


def _radius_width(radius: float) -> int:
    return _side(math.floor(abs(radius)) * 2 + 1 if math.isfinite(radius) else radius)


def _correlate_normalize(w: np.ndarray) -> np.ndarray:
    """ImageMagick's CorrelateNormalize: positive weights sum to 1, negative ones to -1."""
    pos, neg = w[w > 0].sum(), -w[w < 0].sum()
    pos, neg = (pos if abs(pos) >= _EPSILON else 1.0), (neg if abs(neg) >= _EPSILON else 1.0)
    return np.where(w >= 0, w / pos, w / neg)


def _grid(width: int) -> np.ndarray:
    r = (width - 1) // 2
    u = np.arange(-r, r + 1, dtype=np.float64)
    return u[:, None] ** 2 + u[None, :] ** 2


def _impulse(width: int, height: int = None) -> np.ndarray:
    height = width if height is None else height
    w = np.zeros((height, width))
    w[(height - 1) // 2, (width - 1) // 2] = 1.0
    return w


def _round_angle(angle: float) -> int:
    """Clockwise eighths of a turn, rounded as ImageMagick rounds: (22.5, 67.5] -> 1."""
    a = math.fmod(angle, 360.0)
    a = a + 360.0 if a < 0 else a
    return math.ceil((a - 22.5) / 45.0) % 8


def _rotate(weights: np.ndarray, origin: tuple, eighths: int, where: str):
    """Rotate clockwise by ``eighths`` of a turn; the origin turns with the values."""
    w, (r, c) = weights, origin
    if eighths % 2:
        if w.shape != (3, 3):
            raise CnnconvError(f"{where}: only a 3x3 kernel turns by 45 degrees (ImageMagick's rule); use multiples of 90")
        ring = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]
        turned = w.copy()
        for (i, j), (pi, pj) in zip(ring, ring[-1:] + ring[:-1]):
            turned[i, j] = w[pi, pj]  # each value moves one step clockwise round the ring
        if (r, c) != (1, 1):
            at = ring.index((r, c)) if (r, c) in ring else None
            r, c = ring[(at + 1) % 8] if at is not None else (r, c)
        w = turned
    quarters = eighths // 2
    if quarters % 2 and w.shape[0] != w.shape[1] and 1 not in w.shape:
        raise CnnconvError(f"{where}: ImageMagick turns only square or 1-D kernels by 90 degrees, this one is {w.shape[1]}x{w.shape[0]}")
    for _ in range(quarters):
        h = w.shape[0]
        w, (r, c) = np.rot90(w, -1), (c, h - 1 - r)
    return np.ascontiguousarray(w), (r, c)


def _named(text: str, where: str) -> tuple[list, str]:
    m = re.match(r"[A-Za-z]+", text)
    kind = m.group(0).lower()
    if kind not in IM_KERNEL_NAMES:
        from cnnconv.kernels.parsers import closest_name

        guess = closest_name(kind, IM_KERNEL_NAMES)
        hint = f"; did you mean {IM_KERNEL_NAMES[guess]!r}?" if guess else f"; known: {', '.join(IM_KERNEL_NAMES.values())}"
        raise CnnconvError(f"{where}: {m.group(0)!r} is not an ImageMagick convolution kernel{hint}")
    rest = text[m.end():].lstrip().lstrip(":,").strip()
    flag, rest = _flags(rest, where)
    a = _parse_args(rest, where)
    rho, sigma, xi = a.get("rho", 0.0), a.get("sigma"), a.get("xi", 0.0)
    label = IM_KERNEL_NAMES[kind]
    angle = 0.0
    origin = None
    if kind == "unity":
        w = np.array([[a.get("rho", 1.0)]])
    elif kind in ("gaussian", "log", "dog"):
        s1, s2 = abs(sigma or 0.0), abs(xi)
        width = _radius_width(rho) if rho >= 1 else _optimal_width(rho, max(s1, s2) if kind == "dog" else s1, 2)
        q = _grid(width)
        if kind == "log":
            w = (1 - q / (2 * s1 * s1)) * np.exp(-q / (2 * s1 * s1)) / (math.pi * s1**4) if s1 > _EPSILON else _impulse(width)
        else:
            gauss = lambda s: np.exp(-q / (2 * s * s)) / (2 * math.pi * s * s) if s > _EPSILON else _impulse(width)  # noqa: E731
            w = gauss(s1) - (gauss(s2) if kind == "dog" else 0)
        w = _correlate_normalize(w)
    elif kind == "blur":
        s = abs(sigma or 0.0)
        width = _radius_width(rho) if rho >= 1 else _optimal_width(rho, s, 1)
        w = np.zeros(width)
        if s > _EPSILON:  # ImageMagick samples a curve three times finer and adds the thirds
            v, s3 = (width * 3 - 1) // 2, s * 3
            u = np.arange(-v, v + 1)
            np.add.at(w, (u + v) // 3, np.exp(-(u * u) / (2 * s3 * s3)) / (math.sqrt(2 * math.pi) * s3))
        else:
            w[(width - 1) // 2] = 1.0
        w, angle = _correlate_normalize(w[None, :]), xi
    elif kind == "comet":
        s = abs(sigma or 0.0)
        width = (_optimal_width(rho, s, 1) - 1) // 2 + 1 if rho < 1 else _side(rho)
        w = np.zeros(width)
        if s > _EPSILON:
            s3, u = s * 3, np.arange(width * 3)
            np.add.at(w, u // 3, np.exp(-(u * u) / (2 * s3 * s3)))
        else:
            w[0] = 1.0
        w, angle, origin = (w / w.sum())[None, :], xi, (0, 0)
    elif kind == "binomial":
        n = 3 if rho < 1 else _radius_width(rho)
        row = np.array([math.comb(n - 1, k) for k in range(n)], dtype=np.float64)
        w = np.outer(row, row)
    elif kind == "laplacian":
        if int(rho) not in _LAPLACIANS or rho != int(rho):
            raise CnnconvError(
                f"{where}: Laplacian types are {', '.join(map(str, _LAPLACIANS))} "
                f"(ImageMagick reads any other as 0: write Laplacian:0)"
            )
        values = _values(_LAPLACIANS[int(rho)], where)
        w = np.array(values).reshape(-1, math.isqrt(len(values)))
    elif kind in _EDGES:
        w, angle = np.array(_EDGES[kind], dtype=np.float64), rho
    elif kind == "freichen":
        kind_type = int(rho) if rho == int(rho) else None
        if abs(rho) > 30:
            kind_type, angle = 0, rho
        elif kind_type not in _FREICHEN and kind_type != 10:
            raise CnnconvError(f"{where}: FreiChen types are 0, 1, 2, 10 and 11 to 19 (a number above 30 is an angle)")
        if abs(sigma or 0.0) >= _EPSILON:
            angle = sigma
        if kind_type == 10:
            kernels = [_make(f"im:FreiChen:{t}", np.array(_FREICHEN[t][0]) * _FREICHEN[t][1], (1, 1),
                             f"ImageMagick FreiChen type {t}") for t in range(11, 20)]
            if angle:
                kernels = [_turned(k, _round_angle(angle), where) for k in kernels]
            return kernels, flag
        w = np.array(_FREICHEN[kind_type][0], dtype=np.float64) * _FREICHEN[kind_type][1]
    else:  # flat shapes of value S
        scale = 1.0 if sigma is None else sigma
        if kind == "rectangle":
            if "rho" not in a:
                raise CnnconvError(f"{where}: Rectangle needs a size: Rectangle:WxH[+X+Y]")
            width, height = _side(rho), _side(sigma if sigma is not None else rho)
            if width < 1 or height < 1:
                raise CnnconvError(f"{where}: Rectangle needs a size of at least 1x1")
            x = int(a["xi"]) if "xi" in a else (width - 1) // 2
            y = int(a["psi"]) if "psi" in a else (height - 1) // 2
            if not (0 <= x < width and 0 <= y < height):
                raise CnnconvError(f"{where}: origin +{x}+{y} must lie inside the {width}x{height} rectangle")
            w, origin = np.ones((height, width)), (y, x)
        elif kind == "square":
            width = 3 if rho < 1 else _side(2 * rho + 1)
            w = np.full((width, width), scale)
        else:
            if kind == "disk":
                width, limit = (9, 18) if rho < 0.4 else (_radius_width(abs(rho)), int(rho * rho))
            else:
                default = {"diamond": 3, "octagon": 5, "plus": 5, "cross": 5}[kind]
                width = default if rho < 1 else _radius_width(rho)
            r = (width - 1) // 2
            u = np.arange(-r, r + 1)
            du, dv = np.abs(u)[None, :], np.abs(u)[:, None]
            inside = {
                "disk": lambda: du**2 + dv**2 <= limit,
                "diamond": lambda: du + dv <= r,
                "octagon": lambda: du + dv <= r + r // 2,
                "plus": lambda: (du == 0) | (dv == 0),
                "cross": lambda: du == dv,
            }[kind]()
            w = np.where(inside, scale, 0.0)
    w = np.asarray(w, dtype=np.float64)
    if w.ndim == 1:
        w = w[None, :]
    if origin is None:
        origin = ((w.shape[0] - 1) // 2, (w.shape[1] - 1) // 2)
    kernel = _make("im:" + text.strip(), w, origin, f"ImageMagick {label} kernel")
    eighths = _round_angle(angle) if angle and kind not in _NO_ROTATION else 0
    if eighths:
        kernel = _turned(kernel, eighths, where)
    return [kernel], flag


def _turned(kernel: Kernel, eighths: int, where: str, name: str | None = None) -> Kernel:
    origin = kernel.origin or tuple((n - 1) // 2 for n in kernel.shape)
    w, origin = _rotate(kernel.weights, origin, eighths, where)
    return Kernel(name or kernel.name, w, kernel.scale, kernel.offset, kernel.description, origin)


def _same(a: Kernel, b: Kernel) -> bool:
    return a.shape == b.shape and a.origin == b.origin and bool(np.array_equal(a.weights, b.weights))


def _expand(kernel: Kernel, flag: str, where: str) -> list[Kernel]:
    """ImageMagick's ExpandRotateKernelInfo (``@``, ``>``) and ExpandMirrorKernelInfo (``<``)."""
    base = re.sub(r"[@<>]", "", kernel.name).rstrip(": ")
    if flag == "<":
        steps = (4, 2, 4)  # 180, then 90, then 180 again, each from the last: 0, 180, 270, 90 degrees
        kernels, angle = [kernel], 0
        for step in steps:
            angle = (angle + step * 45) % 360
            kernels.append(_turned(kernels[-1], step, where, f"{base}@{angle}"))
        return kernels
    step = 1 if flag == "@" else 2
    if step == 1 and kernel.shape != (3, 3):
        raise CnnconvError(f"{where}: '@' turns 3x3 kernels by 45 degrees, this one is {kernel.shape[1]}x{kernel.shape[0]}; use '>' for 90")
    kernels = [kernel]
    for n in range(1, 8 // step):
        turned = _turned(kernels[-1], step, where, f"{base}@{n * step * 45}")
        if _same(turned, kernel):
            break
        kernels.append(turned)
    return kernels


def parse_imagemagick(spec: str) -> list[Kernel]:
    """The kernels an ImageMagick kernel string describes (see the module docstring).

    ``;`` separates kernels and the rotation flags expand one into several, so the
    result is a list. Each kernel's ``origin`` is ImageMagick's ``+X+Y`` as (row, column)
    (None for the centre).

    Examples
    --------
    >>> k, = parse_imagemagick("3x3+0+0: 1,2,1 2,4,2 1,2,1")
    >>> k.weights.tolist(), k.origin
    ([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]], (0, 0))
    >>> [k.name for k in parse_imagemagick("Sobel:>")]
    ['im:Sobel:>', 'im:Sobel@90', 'im:Sobel@180', 'im:Sobel@270']
    >>> [k.weights[0].tolist() for k in parse_imagemagick("Sobel:>")]
    [[1.0, 0.0, -1.0], [1.0, 2.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, -2.0, -1.0]]
    >>> parse_imagemagick("im:Comet:3x1")[0].origin
    (0, 0)
    >>> parse_imagemagick("Gaussian:0x1")[0].shape
    (9, 9)
    """
    text = spec.strip()
    if text[:3].lower() == "im:":
        text = text[3:]
    kernels = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        where = f"ImageMagick kernel {part!r}"
        if part[0].isalpha() and part[:3].lower() != "nan":
            found, flag = _named(part, where)
        else:
            one, flag = _user_defined(part, where)
            found = [one]
        if flag and len(found) == 1:
            found = _expand(found[0], flag, where)
        kernels.extend(found)
    if not kernels:
        raise CnnconvError(f"ImageMagick kernel {spec!r} is empty; write e.g. '3x3: 1,2,1 2,4,2 1,2,1' or 'Gaussian:0x2'")
    return kernels
