"""Reading one token of a layer spec (``conv5x8:s2``) into a :class:`~cnnconv.shape.layer.Layer`.

The grammar is documented in :mod:`cnnconv.shape.grammar`, which handles sequences, groups
and repeats; this module reads what stands between two commas: a head, its sizes and options.
"""

from __future__ import annotations

import difflib
import re

from cnnconv.shape.layer import MAX_SIZE, Layer, LayerSpecError

_SIZED = ("conv", "tconv", "maxpool", "avgpool", "pool", "fc", "dense", "upsample", "up")
_PLAIN = ("gap", "gmp", "flatten", "relu6", "relu", "sigmoid", "tanh", "softplus", "abs", "softmax", "bn")
_KNOWN = (*_SIZED, "lcn", "dropout", *_PLAIN)
_OPTIONS = {
    "conv": ("k", "s", "p", "d", "g", "dw", "same", "valid", "full", "nobias"),
    "tconv": ("k", "s", "p", "d", "g", "op", "nobias"),
    "maxpool": ("k", "s", "p", "same", "ceil"),
    "avgpool": ("k", "s", "p", "same", "ceil"),
    "fc": ("nobias",),
    "upsample": ("nearest", "bilinear"),
}
#: Options that are a word (no value), and the Layer fields each sets.
_FLAGS = {"same": {"padding": "same"}, "valid": {"padding": (0, 0)}, "full": {"padding": "full"},
          "ceil": {"ceil_mode": True}, "dw": {"groups": 0}, "nobias": {"bias": False},
          "nearest": {"op": "nearest"}, "bilinear": {"op": "bilinear"}}
#: ASCII digits only (``\d`` would accept other scripts' digits).
NUM = re.compile(r"[0-9]+")
_DIMS = re.compile(r"([0-9]+)(?:x([0-9]+))?\Z")
_RATE = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)\Z")


def number(digits: str, token: str, pos: int, what: str, minimum: int = 1) -> int:
    """The whole number ``digits``, refused (naming ``token``) below ``minimum`` or above MAX_SIZE."""
    if len(digits) > 10 or int(digits) > MAX_SIZE:
        shown = digits if len(digits) <= 40 else f"of {len(digits)} digits"
        raise LayerSpecError(token, pos, f"{what} {shown} is too large (at most {MAX_SIZE})")
    value = int(digits)
    if value < minimum:
        raise LayerSpecError(token, pos, f"{what} must be >= {minimum}, got {value}")
    return value


def parse_token(raw: str, pos: int) -> Layer:
    """Parse one token (surrounding spaces allowed) found at offset ``pos`` of the spec."""
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
    kind = {"pool": "maxpool", "dense": "fc", "up": "upsample"}.get(name, name)
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
        size = number(rest, text, pos, "lcn window") if NUM.fullmatch(rest) else None
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
    what = {"fc": "unit count", "upsample": "scale factor"}.get(kind, "kernel size" if "conv" in kind else "window size")
    match = NUM.match(rest)
    if not match:
        got = f", got '{head}'" if rest else ""
        raise LayerSpecError(text, pos, f"expected a {what} after '{name}' (e.g. {example}){got}")
    size = number(match.group(), text, pos, what)
    tail = rest[match.end():]
    if kind in ("conv", "tconv"):
        prefix = head[: len(name) + match.end()]
        if not tail.startswith("x"):
            raise LayerSpecError(text, pos, f"expected 'x' and a filter count after '{prefix}' (e.g. {prefix}x16)")
        three = re.fullmatch(r"x([0-9]+)x([0-9]+)", tail)
        if three:  # conv3x5x16: the kernel's width or a second size? say how to write it
            kw, filters = three.groups()
            raise LayerSpecError(text, pos, f"a non-square kernel is written {name}{size}x{filters}:k{size}x{kw} "
                                            f"({size}×{kw} kernel, {filters} filters)")
        if not NUM.fullmatch(tail[1:]):
            got = f", got '{head[len(prefix) + 1:]}'" if tail[1:] else ""
            raise LayerSpecError(text, pos, f"expected a filter count after '{prefix}x' (e.g. {prefix}x16){got}")
        fields["out"] = number(tail[1:], text, pos, "filter count")
        fields["kernel"] = (size, size)
    elif tail:
        raise LayerSpecError(text, pos, f"unexpected '{head[len(head) - len(tail):]}' after '{name}{size}'")
    elif kind == "fc":
        fields["out"] = size
    elif kind == "upsample":
        fields.update(factor=(size, size), op="nearest")
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
        key = next((k for k in (*_FLAGS, "op") if opt.startswith(k)), opt[:1])
        if key not in allowed:
            takes = f"takes only :{', :'.join(allowed)}" if allowed else "takes no options"
            raise LayerSpecError(text, pos, f"unknown option ':{raw.strip()}' for {kind}; {kind} {takes}")
        group = {"same": "p", "valid": "p", "full": "p", "dw": "g", "nearest": "mode", "bilinear": "mode"}.get(key, key)
        if group in seen:
            raise LayerSpecError(text, pos, f"option ':{raw.strip()}' sets {_NAMES[group]} a second time")
        seen.add(group)
        value = opt[len(key):]
        if key in _FLAGS:
            if value:
                raise LayerSpecError(text, pos, f"option ':{key}' takes no value, got ':{raw.strip()}'")
            fields.update(_FLAGS[key])
        elif key == "g":
            if not NUM.fullmatch(value):
                raise LayerSpecError(text, pos, f"expected a group count after ':g' (e.g. :g2), got ':{raw.strip()}'")
            fields["groups"] = number(value, text, pos, "groups")
        else:
            fields[_NAMES[key]] = _dims(key, value, raw.strip(), text, pos)
    return _finish(fields, seen, text, pos)


_NAMES = {"k": "kernel", "s": "stride", "p": "padding", "d": "dilation", "op": "output_padding",
          "g": "groups", "ceil": "ceil_mode", "nobias": "the bias", "mode": "the upsampling mode"}


def _dims(key: str, value: str, raw: str, text: str, pos: int) -> tuple[int, int]:
    match = _DIMS.match(value)
    if not match:
        raise LayerSpecError(text, pos, f"expected :{key}N or :{key}HxW (e.g. :{key}2 or :{key}1x2) for {_NAMES[key]}, got ':{raw}'")
    minimum = 0 if key in ("p", "op") else 1
    h = number(match.group(1), text, pos, _NAMES[key], minimum)
    w = h if match.group(2) is None else number(match.group(2), text, pos, _NAMES[key], minimum)
    return h, w


def _finish(fields: dict, seen: set[str], text: str, pos: int) -> Layer:
    kind = fields["kind"]
    if "k" in seen:
        name_size = int(NUM.search(text).group())
        if name_size != fields["kernel"][0]:
            kh, kw = fields["kernel"]
            raise LayerSpecError(
                text, pos,
                f"the size in the name ({name_size}) must be the kernel height given by :k{kh}x{kw}; "
                f"write {text.split(':')[0].lower().replace(str(name_size), str(kh), 1)}:k{kh}x{kw}",
            )
    if kind in ("maxpool", "avgpool") and "s" not in seen:
        fields["stride"] = fields["kernel"]
    if kind in ("maxpool", "avgpool") and fields.get("padding") == "same" and fields.get("ceil_mode"):
        raise LayerSpecError(text, pos, "pooling takes :same or :ceil, not both (:same already sizes the output ⌈n/s⌉)")
    if fields.get("padding") == "full":
        (kh, kw), (dh, dw) = fields["kernel"], fields.get("dilation", (1, 1))
        fields["padding"] = (dh * (kh - 1), dw * (kw - 1))
    return Layer(**fields)
