"""The layer grammar that ``cnnconv shape`` and ``cnnconv train`` share.

A spec such as ``conv5x8:p2,relu,pool2,conv5x16,relu,pool2,fc120,fc84,fc10`` is parsed
once, here, into a list of :class:`Layer` records; shape arithmetic and the network
builder both consume that list.

Grammar (case-insensitive; spaces around commas, brackets and ``*`` are ignored)::

    spec   := item ("," item)*
    item   := (token | "(" spec ")") ["*" N]          repeats are expanded here
    token  := head (":" option)*

Heads: ``conv{K}x{F}``, ``tconv{K}x{F}``, ``pool{K}`` = ``maxpool{K}``, ``avgpool{K}``,
``gap``, ``gmp``, ``fc{N}`` = ``dense{N}``, ``flatten``, ``relu``, ``sigmoid``, ``tanh``,
``softplus``, ``abs``, ``softmax``, ``lcn`` / ``lcn{K}`` (window, default 9), ``bn``,
``dropout`` / ``dropout{P}`` / ``dropout:{P}`` (default 0.5). Options: ``:k{KH}x{KW}``
(non-square size; the size in the name must be KH: ``conv3x16:k3x5``), ``:s{S}``, ``:p{P}``,
``:d{D}`` (each also ``AxB`` for height x width), ``:same|valid|full``, ``:g{G}``, ``:dw``,
``:op{P}``, ``:ceil``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from cnnconv.errors import CnnconvError

#: Largest number accepted anywhere in a spec (int32, as the frameworks use).
MAX_SIZE = 2**31 - 1
#: Most layers a spec may expand to, repeats included.
MAX_LAYERS = 10_000
#: Deepest nesting of parenthesised groups.
MAX_DEPTH = 20

_SIZED = ("conv", "tconv", "maxpool", "avgpool", "pool", "fc", "dense")
_PLAIN = ("gap", "gmp", "flatten", "relu", "sigmoid", "tanh", "softplus", "abs", "softmax", "bn")
_KNOWN = (*_SIZED, "lcn", "dropout", *_PLAIN)
_OPTIONS = {
    "conv": ("k", "s", "p", "d", "g", "dw", "same", "valid", "full"),
    "tconv": ("k", "s", "p", "d", "g", "op"),
    "maxpool": ("k", "s", "p", "ceil"),
    "avgpool": ("k", "s", "p", "ceil"),
}
_NUM = re.compile(r"[0-9]+")
_DIMS = re.compile(r"([0-9]+)(?:x([0-9]+))?\Z")
_RATE = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)\Z")


@dataclass(frozen=True)
class Layer:
    """One layer of a spec, as written.

    Attributes
    ----------
    kind : str
        One of ``conv``, ``tconv``, ``maxpool``, ``avgpool``, ``gap``, ``gmp``, ``fc``,
        ``flatten``, ``relu``, ``sigmoid``, ``tanh``, ``softplus``, ``abs``,
        ``softmax``, ``lcn``, ``bn``, ``dropout``.
    out : int or None
        Filters of ``conv``/``tconv``, units of ``fc``; None for the others.
    kernel : (int, int)
        Kernel (or pooling / ``lcn`` window) height and width; (1, 1) where it does not apply.
    stride : (int, int)
        Stride per axis (pooling: the window size unless ``:s`` is given).
    padding : str or (int, int)
        ``"same"`` (resolved per input size), or explicit symmetric (ph, pw); ``valid`` and
        ``full`` are resolved at parse time to (0, 0) and (d(kh-1), d(kw-1)).
    dilation : (int, int)
    groups : int
        Convolution groups; 0 means depthwise (groups = input channels).
    output_padding : (int, int)
        Transposed convolution only.
    ceil_mode : bool
        Pooling only: PyTorch's ceil mode.
    rate : float or None
        Dropout probability.
    text : str
        The token as the user wrote it (for messages and tables).
    pos : int
        Character offset of the token in the spec (for error carets).
    op : str
        ``"max"`` or ``"avg"`` for ``maxpool``/``gmp`` and ``avgpool``/``gap``; else ``""``.
    """

    kind: str
    out: int | None = None
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: str | tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    output_padding: tuple[int, int] = (0, 0)
    ceil_mode: bool = False
    rate: float | None = None
    text: str = ""
    pos: int = 0
    op: str = ""


class LayerSpecError(CnnconvError):
    """A bad layer spec: the message names the token and its position.

    ``pos`` and ``length`` locate the offending text in the spec, so a caller holding
    the spec can underline it.

    Examples
    --------
    >>> try:
    ...     parse_layers("conv5x8,conv5x:s2")
    ... except LayerSpecError as exc:
    ...     print(exc, exc.pos, exc.length)
    layer spec: conv5x:s2 (at 8): expected a filter count after 'conv5x' (e.g. conv5x16) 8 9
    """

    def __init__(self, token: str, pos: int, reason: str, length: int | None = None) -> None:
        super().__init__(f"layer spec: {token} (at {pos}): {reason}")
        self.token, self.pos, self.reason = token, pos, reason
        self.length = max(1, len(token) if length is None else length)


def parse_layers(spec: str) -> list[Layer]:
    """Parse a comma-separated layer spec into :class:`Layer` records, repeats expanded.

    Raises :class:`LayerSpecError` (a ``CnnconvError``) naming the token and its position.

    Examples
    --------
    >>> [l.text for l in parse_layers("(conv3x64:p1,relu)*2,pool2")]
    ['conv3x64:p1', 'relu', 'conv3x64:p1', 'relu', 'pool2']
    >>> parse_layers("pool2")[0].stride
    (2, 2)
    >>> parse_layers("conv3x16:k3x5:s2:same")[0].kernel
    (3, 5)
    """
    if not isinstance(spec, str):
        raise CnnconvError(f"layer spec must be text, got {type(spec).__name__}")
    if not spec.strip():
        raise LayerSpecError("''", 0, "the layer spec is empty; e.g. conv5x8,pool2,fc10")
    layers, end = _Parser(spec).sequence(0, 0)
    if end < len(spec):  # only a stray ')' stops a top-level sequence early
        raise LayerSpecError(")", end, "')' without a matching '('")
    return layers


class _Parser:
    """Recursive descent over the spec text; positions are offsets into it."""

    def __init__(self, spec: str) -> None:
        self.spec = spec

    def _skip(self, i: int) -> int:
        while i < len(self.spec) and self.spec[i].isspace():
            i += 1
        return i

    def sequence(self, i: int, depth: int) -> tuple[list[Layer], int]:
        layers: list[Layer] = []
        while True:
            i = self._skip(i)
            start = i
            if i < len(self.spec) and self.spec[i] == "(":
                if depth >= MAX_DEPTH:
                    raise LayerSpecError("(", i, f"groups nested more than {MAX_DEPTH} deep")
                items, i = self.sequence(i + 1, depth + 1)
                if i >= len(self.spec) or self.spec[i] != ")":
                    raise LayerSpecError("(", start, "'(' is never closed; add ')'")
                i += 1
            else:
                while i < len(self.spec) and self.spec[i] not in ",()*":
                    i += 1
                items = [_parse_token(self.spec[start:i], start)]
            items, i = self._repeat(items, i, start)
            if len(layers) + len(items) > MAX_LAYERS:
                raise LayerSpecError(
                    self.spec[start:i].strip() or "?", start,
                    f"the spec expands to more than {MAX_LAYERS} layers; shorten it or lower a repeat count",
                )
            layers += items
            i = self._skip(i)
            if i < len(self.spec) and self.spec[i] == ",":
                i += 1
                continue
            if i < len(self.spec) and self.spec[i] == "*":
                raise LayerSpecError("*", i, "a second repeat needs brackets, e.g. (relu*2)*3")
            if i < len(self.spec) and self.spec[i] == "(":
                raise LayerSpecError("(", i, "expected ',' before '('")
            return layers, i

    def _repeat(self, items: list[Layer], i: int, start: int) -> tuple[list[Layer], int]:
        i = self._skip(i)
        if i >= len(self.spec) or self.spec[i] != "*":
            return items, i
        star = i
        i = self._skip(i + 1)
        match = _NUM.match(self.spec, i)
        fragment = self.spec[start:match.end() if match else i + 1].strip()
        if not match:
            raise LayerSpecError(fragment, start, "expected a repeat count after '*' (e.g. *3)")
        count = _number(match.group(), fragment, start, "repeat count")
        if count * len(items) > MAX_LAYERS:
            raise LayerSpecError(
                fragment, start,
                f"repeating {len(items)} layer(s) {count} times gives more than {MAX_LAYERS} layers "
                f"(the limit); lower the count after '*' at {star}",
            )
        return items * count, match.end()


def _number(digits: str, token: str, pos: int, what: str, minimum: int = 1) -> int:
    if len(digits) > 10 or int(digits) > MAX_SIZE:
        raise LayerSpecError(token, pos, f"{what} {digits[:12]} is too large (at most {MAX_SIZE})")
    value = int(digits)
    if value < minimum:
        raise LayerSpecError(token, pos, f"{what} must be >= {minimum}, got {value}")
    return value


def _parse_token(raw: str, pos: int) -> Layer:
    text = raw.strip()
    pos += len(raw) - len(raw.lstrip())
    if not text:
        raise LayerSpecError("''", pos, "empty layer (two commas in a row, or a comma at an end?)")
    head, *options = text.split(":")
    low = head.lower()
    name = next((k for k in sorted(_KNOWN, key=len, reverse=True) if low.startswith(k)), None)
    if name is None:
        close = difflib.get_close_matches(re.sub(r"[0-9x.]+$", "", low), _KNOWN, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise LayerSpecError(text, pos, f"unknown layer '{head}'; {hint}known: {', '.join(_KNOWN)}")
    rest = low[len(name):]
    kind = {"pool": "maxpool", "dense": "fc"}.get(name, name)
    fields: dict = {"kind": kind, "text": text, "pos": pos}
    if name in _PLAIN:
        if rest:
            raise LayerSpecError(text, pos, f"'{name}' takes no size, got '{head}'")
        fields["op"] = {"gap": "avg", "gmp": "max"}.get(name, "")
    elif name == "dropout":
        fields["rate"] = _rate(rest, text, pos) if rest else 0.5
        if rest:
            return _apply_options(fields, options, text, pos, {"rate"})
    elif name == "lcn":
        size = _number(rest, text, pos, "lcn window") if _NUM.fullmatch(rest) else None
        if rest and size is None:
            raise LayerSpecError(text, pos, f"expected a window size after 'lcn' (e.g. lcn9), got '{head}'")
        if size is not None and size % 2 == 0:
            raise LayerSpecError(text, pos, f"the lcn window must be odd (centred on each pixel), got {size}")
        fields["kernel"] = (size or 9, size or 9)
    else:
        _sized_head(name, kind, rest, head, text, pos, fields)
    return _apply_options(fields, options, text, pos)


def _sized_head(name: str, kind: str, rest: str, head: str, text: str, pos: int, fields: dict) -> None:
    example = {"conv": "conv3x16", "tconv": "tconv2x16", "fc": "fc10"}.get(kind, f"{name}2")
    what = {"fc": "unit count"}.get(kind, "kernel size" if "conv" in kind else "window size")
    match = _NUM.match(rest)
    if not match:
        got = f", got '{head}'" if rest else ""
        raise LayerSpecError(text, pos, f"expected a {what} after '{name}' (e.g. {example}){got}")
    size = _number(match.group(), text, pos, what)
    tail = rest[match.end():]
    if kind in ("conv", "tconv"):
        prefix = head[: len(name) + match.end()]
        if not tail.startswith("x"):
            raise LayerSpecError(text, pos, f"expected 'x' and a filter count after '{prefix}' (e.g. {prefix}x16)")
        if not _NUM.fullmatch(tail[1:]):
            got = f", got '{head[len(prefix) + 1:]}'" if tail[1:] else ""
            raise LayerSpecError(text, pos, f"expected a filter count after '{prefix}x' (e.g. {prefix}x16){got}")
        fields["out"] = _number(tail[1:], text, pos, "filter count")
        fields["kernel"] = (size, size)
    elif tail:
        raise LayerSpecError(text, pos, f"unexpected '{head[len(head) - len(tail):]}' after '{name}{size}'")
    elif kind == "fc":
        fields["out"] = size
    else:
        fields.update(kernel=(size, size), op=kind[:3])


def _rate(text_rate: str, token: str, pos: int) -> float:
    if not _RATE.match(text_rate) or len(text_rate) > 20:
        raise LayerSpecError(token, pos, f"dropout rate must be a number in [0, 1), e.g. dropout0.5, got '{text_rate}'")
    rate = float(text_rate)
    if not 0.0 <= rate < 1.0:
        raise LayerSpecError(token, pos, f"dropout rate must be in [0, 1), got {text_rate}")
    return rate


def _apply_options(fields: dict, options: list[str], text: str, pos: int, seen: set[str] | None = None) -> Layer:
    kind = fields["kind"]
    allowed = _OPTIONS.get(kind, ())
    seen = set() if seen is None else seen
    for raw in options:
        opt = raw.strip().lower()
        if not opt:
            raise LayerSpecError(text, pos, "empty option after ':'")
        if kind == "dropout":
            if "rate" in seen:
                raise LayerSpecError(text, pos, "dropout rate given twice")
            seen.add("rate")
            fields["rate"] = _rate(opt[1:] if opt.startswith("p") else opt, text, pos)
            continue
        key = next((k for k in ("same", "valid", "full", "ceil", "dw", "op") if opt.startswith(k)), opt[:1])
        if key not in allowed:
            takes = f"takes only :{', :'.join(allowed)}" if allowed else "takes no options"
            raise LayerSpecError(text, pos, f"unknown option ':{raw.strip()}' for {kind}; {kind} {takes}")
        group = "p" if key in ("same", "valid", "full") else "g" if key == "dw" else key
        if group in seen:
            raise LayerSpecError(text, pos, f"option ':{raw.strip()}' sets {_NAMES[group]} a second time")
        seen.add(group)
        value = opt[len(key):]
        if key in ("same", "valid", "full", "ceil", "dw"):
            if value:
                raise LayerSpecError(text, pos, f"option ':{key}' takes no value, got ':{raw.strip()}'")
            fields.update({"same": {"padding": "same"}, "valid": {"padding": (0, 0)},
                           "full": {"padding": "full"}, "ceil": {"ceil_mode": True},
                           "dw": {"groups": 0}}[key])
        elif key == "g":
            if not _NUM.fullmatch(value):
                raise LayerSpecError(text, pos, f"expected a group count after ':g' (e.g. :g2), got ':{raw.strip()}'")
            fields["groups"] = _number(value, text, pos, "groups")
        else:
            fields[_NAMES[key]] = _dims(key, value, raw.strip(), text, pos)
    return _finish(fields, seen, text, pos)


_NAMES = {"k": "kernel", "s": "stride", "p": "padding", "d": "dilation", "op": "output_padding",
          "g": "groups", "ceil": "ceil_mode"}


def _dims(key: str, value: str, raw: str, text: str, pos: int) -> tuple[int, int]:
    match = _DIMS.match(value)
    if not match:
        raise LayerSpecError(text, pos, f"expected :{key}N or :{key}HxW (e.g. :{key}2 or :{key}1x2) for {_NAMES[key]}, got ':{raw}'")
    minimum = 0 if key in ("p", "op") else 1
    h = _number(match.group(1), text, pos, _NAMES[key], minimum)
    w = h if match.group(2) is None else _number(match.group(2), text, pos, _NAMES[key], minimum)
    return h, w


def _finish(fields: dict, seen: set[str], text: str, pos: int) -> Layer:
    kind = fields["kind"]
    if "k" in seen:
        name_size = int(_NUM.search(text).group())
        if name_size != fields["kernel"][0]:
            kh, kw = fields["kernel"]
            raise LayerSpecError(
                text, pos,
                f"the size in the name ({name_size}) must be the kernel height given by :k{kh}x{kw}; "
                f"write {text.split(':')[0].lower().replace(str(name_size), str(kh), 1)}:k{kh}x{kw}",
            )
    if kind in ("maxpool", "avgpool") and "s" not in seen:
        fields["stride"] = fields["kernel"]
    if fields.get("padding") == "full":
        (kh, kw), (dh, dw) = fields["kernel"], fields.get("dilation", (1, 1))
        fields["padding"] = (dh * (kh - 1), dw * (kw - 1))
    return Layer(**fields)


def parse_input_shape(text: str) -> tuple[int, ...]:
    """Parse ``HxWxC``, ``HxW`` (one channel) or ``N`` (a flat vector of N features).

    Examples
    --------
    >>> parse_input_shape("32x32x3"), parse_input_shape("28x28"), parse_input_shape("784")
    ((32, 32, 3), (28, 28, 1), (784,))
    """
    parts = re.split(r"\s*[x×X,]\s*", str(text).strip())
    if not 1 <= len(parts) <= 3 or not all(_NUM.fullmatch(p) for p in parts):
        raise CnnconvError(f"input shape must be HxWxC, HxW or N (e.g. 32x32x3, 28x28), got {text!r}")
    values = []
    for p in parts:
        if len(p) > 10 or int(p) > MAX_SIZE or int(p) < 1:
            raise CnnconvError(f"input shape sizes must be between 1 and {MAX_SIZE}, got {text!r}")
        values.append(int(p))
    return tuple(values) if len(values) != 2 else (*values, 1)
