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

import re

from cnnconv.errors import CnnconvError
from cnnconv.shape import tokens
from cnnconv.shape.layer import MAX_DEPTH, MAX_LAYERS, MAX_SIZE, Layer, LayerSpecError  # noqa: F401  (re-exported)

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
        self.spec, self.tokens = spec, tokens

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
                items = [self.tokens.parse_token(self.spec[start:i], start)]
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
        match = self.tokens.NUM.match(self.spec, i)
        fragment = self.spec[start:match.end() if match else i + 1].strip()
        if not match:
            raise LayerSpecError(fragment, start, "expected a repeat count after '*' (e.g. *3)")
        end = match.end()
        while end < len(self.spec) and (self.spec[end].isalnum() or self.spec[end] in "._"):
            end += 1  # "*1e3" or "*2.5": the whole count is named, not a stray ')' later on
        if end > match.end():
            raise LayerSpecError(self.spec[start:end].strip(), start,
                                 f"repeat count {self.spec[i:end]!r} is not a whole number (e.g. *1000)")
        count = self.tokens.number(match.group(), fragment, start, "repeat count")
        if count * len(items) > MAX_LAYERS:
            raise LayerSpecError(
                fragment, start,
                f"repeating {len(items)} layer(s) {count} times gives more than {MAX_LAYERS} layers "
                f"(the limit); lower the count after '*' at {star}",
            )
        return items * count, match.end()


def parse_input_shape(text: str) -> tuple[int, ...]:
    """Parse ``HxWxC``, ``HxW`` (one channel) or ``N`` (a flat vector of N features).

    Examples
    --------
    >>> parse_input_shape("32x32x3"), parse_input_shape("28x28"), parse_input_shape("784")
    ((32, 32, 3), (28, 28, 1), (784,))
    """
    parts = re.split(r"\s*[x×X,]\s*", str(text).strip())
    if not 1 <= len(parts) <= 3 or not all(re.fullmatch(r"[0-9]+", p) for p in parts):
        raise CnnconvError(f"input shape must be HxWxC, HxW or N (e.g. 32x32x3, 28x28), got {text!r}")
    values = []
    for p in parts:
        if len(p) > 10 or int(p) > MAX_SIZE or int(p) < 1:
            raise CnnconvError(f"input shape sizes must be between 1 and {MAX_SIZE}, got {text!r}")
        values.append(int(p))
    return tuple(values) if len(values) != 2 else (*values, 1)
