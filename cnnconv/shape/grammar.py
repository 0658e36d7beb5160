"""The layer grammar that ``cnnconv shape`` and ``cnnconv train`` share.

A spec such as ``conv5x8:p2,relu,pool2,conv5x16,relu,pool2,fc120,fc84,fc10`` is parsed
once, here, into a :class:`~cnnconv.shape.layer.LayerGraph` (:func:`parse_network`) whose
nodes each name the nodes they read; for a chain, :func:`parse_layers` gives the plain list
of :class:`Layer` records. Shape arithmetic and the network builder both consume these.

Grammar (case-insensitive; spaces around commas, brackets, ``|`` and ``*`` are ignored)::

    spec     := zoo-name | sequence
    sequence := item ("," item)*
    item     := (token | "(" sequence ")" | merge | "@" name) ["*" N]    repeats expanded
    merge    := ("add" | "cat") "(" branch ("|" branch)+ ")"
    branch   := empty | ["@" name ","] sequence | "@" name
    token    := head (":" option)*

- ``add(A|B|...)`` sums the outputs of its branches element-wise (shapes must agree);
  ``cat(A|B|...)`` concatenates them along channels (heights and widths must agree). Every
  branch starts from the block's input; an empty branch *is* the block's input, so
  ``add(conv3x64:p1,bn,relu,conv3x64:p1,bn|)`` is a residual block and
  ``add(body|conv1x128:s2:nobias,bn)`` one with a projection shortcut.
- ``@name`` labels the point where it stands (a tap). A branch that starts with ``@name``
  starts from that point instead of the block's input: ``cat(@skip1|)`` concatenates the
  tap with the current output. A tapped branch larger than the others is centre-cropped to
  their size (the 2015 U-Net); a smaller one is an error. A name labelled again (inside a
  repeat) means the latest point so labelled.
- A zoo name (:mod:`cnnconv.shape.zoo`, e.g. ``resnet50``) stands for its whole spec; it
  is never read as a token (``densenet121`` is not ``dense121``).

Heads: ``conv{K}x{F}``, ``tconv{K}x{F}``, ``pool{K}`` = ``maxpool{K}``, ``avgpool{K}``,
``gap``, ``gmp``, ``fc{N}`` = ``dense{N}``, ``flatten``, ``relu``, ``relu6``, ``sigmoid``,
``tanh``, ``softplus``, ``abs``, ``softmax``, ``lcn`` / ``lcn{K}`` (window, default 9),
``bn``, ``dropout`` / ``dropout{P}`` / ``dropout:{P}`` (default 0.5), ``up{F}`` =
``upsample{F}`` (integer factor). Options: ``:k{KH}x{KW}`` (non-square size; the size in
the name must be KH: ``conv3x16:k3x5``), ``:s{S}``, ``:p{P}``, ``:d{D}`` (each also ``AxB``
for height x width), ``:same|valid|full`` (pooling: ``:same``), ``:g{G}``, ``:dw``,
``:op{P}``, ``:ceil``, ``:nobias`` (conv, tconv, fc), ``:nearest|bilinear`` (upsampling).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from cnnconv.errors import CnnconvError
from cnnconv.shape import tokens
from cnnconv.shape.layer import (  # noqa: F401  (re-exported)
    MAX_DEPTH,
    MAX_LAYERS,
    MAX_SIZE,
    Layer,
    LayerGraph,
    LayerSpecError,
    Node,
)
from cnnconv.shape.zoo import ZOO

_MERGES = ("add", "cat")
_TAP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_network(spec: str) -> LayerGraph:
    """Parse a layer spec (or a zoo name) into a :class:`LayerGraph`, repeats expanded.

    Raises :class:`LayerSpecError` (a ``CnnconvError``) naming the token and its position.

    Examples
    --------
    >>> graph = parse_network("conv3x16:p1,@a,pool2,conv3x16:p1,up2,cat(@a|)")
    >>> [(n.layer.text, n.inputs) for n in graph.nodes]
    [('conv3x16:p1', (0,)), ('pool2', (1,)), ('conv3x16:p1', (2,)), ('up2', (3,)), ('cat', (1, 4))]
    >>> graph.nodes[0].labels, graph.nodes[-1].taps
    (('a',), ('a', None))
    >>> len(parse_network("resnet18").nodes)
    68
    """
    if not isinstance(spec, str):
        raise CnnconvError(f"layer spec must be text, got {type(spec).__name__}")
    if not spec.strip():
        raise LayerSpecError("''", 0, "the layer spec is empty; e.g. conv5x8,pool2,fc10")
    zoo = ZOO.get(spec.strip().lower())
    text = zoo.spec if zoo is not None else spec
    items, end = _Parser(text).sequence(0, 0)
    if end < len(text):  # only a stray ')' or '|' stops a top-level sequence early
        if text[end] == "|":
            raise LayerSpecError("|", end, "'|' separates branches only inside add(...) or cat(...)")
        raise LayerSpecError(")", end, "')' without a matching '('")
    return _Lowering(text).graph(items)


def parse_layers(spec: str) -> list[Layer]:
    """Parse a chain of layers (a spec without ``add``/``cat``) into :class:`Layer` records.

    Raises :class:`LayerSpecError` naming the token and its position; a spec with branches
    is refused at its first merge (use :func:`parse_network` for those).

    Examples
    --------
    >>> [l.text for l in parse_layers("(conv3x64:p1,relu)*2,pool2")]
    ['conv3x64:p1', 'relu', 'conv3x64:p1', 'relu', 'pool2']
    >>> parse_layers("pool2")[0].stride
    (2, 2)
    >>> parse_layers("conv3x16:k3x5:s2:same")[0].kernel
    (3, 5)
    """
    graph = parse_network(spec)
    for k, node in enumerate(graph.nodes):
        if node.inputs != (k,):
            merge = next(n for n in graph.nodes[k:] if n.layer.kind in _MERGES)
            raise LayerSpecError(
                merge.layer.text, merge.layer.pos,
                f"'{merge.layer.text}(...)' joins branches: a chain of layers is needed here", 
                merge.end - merge.layer.pos)
    return graph.layers()


@dataclass
class _Item:
    """One item of a parsed sequence, before repeats are expanded into nodes."""

    kind: str  # "layer", "group", "merge" or "tap"
    start: int
    end: int = 0
    layer: Layer | None = None
    items: list = field(default_factory=list)  # group: its items
    branches: list = field(default_factory=list)  # merge: (tap name or None, tap pos, items)
    name: str = ""  # tap: its name; merge: "add" or "cat"
    count: int = 1

    @property
    def size(self) -> int:
        """Nodes the item expands to."""
        if self.kind == "layer":
            return self.count
        if self.kind == "tap":
            return 0
        if self.kind == "group":
            return self.count * sum(item.size for item in self.items)
        return self.count * (1 + sum(item.size for _, _, items in self.branches for item in items))


class _Parser:
    """Recursive descent over the spec text; positions are offsets into it."""

    def __init__(self, spec: str) -> None:
        self.spec = spec

    def _skip(self, i: int) -> int:
        while i < len(self.spec) and self.spec[i].isspace():
            i += 1
        return i

    def _at(self, i: int, chars: str) -> bool:
        return i < len(self.spec) and self.spec[i] in chars

    def sequence(self, i: int, depth: int) -> tuple[list[_Item], int]:
        items: list[_Item] = []
        total = 0
        while True:
            i = self._skip(i)
            start = i
            if self._at(i, "("):
                item, i = self._group(i, depth)
            elif self._at(i, "@"):
                item, i = self._tap(i)
            else:
                while i < len(self.spec) and self.spec[i] not in ",()*|@":
                    i += 1
                word = self.spec[start:i].strip()
                after = self._skip(i)
                if word.lower() in _MERGES and self._at(after, "("):
                    item, i = self._merge(word, start, after, depth)
                else:
                    item = _Item("layer", start, i, layer=self._token(self.spec[start:i], start))
            item, i = self._repeat(item, i, start)
            total += item.size
            if total > MAX_LAYERS:
                raise LayerSpecError(
                    self.spec[start:i].strip() or "?", start,
                    f"the spec expands to more than {MAX_LAYERS} layers; shorten it or lower a repeat count",
                )
            items.append(item)
            i = self._skip(i)
            if self._at(i, ","):
                i += 1
                continue
            if self._at(i, "*"):
                raise LayerSpecError("*", i, "a second repeat needs brackets, e.g. (relu*2)*3")
            if self._at(i, "("):
                raise LayerSpecError("(", i, "expected ',' before '('")
            if self._at(i, "@"):
                raise LayerSpecError("@", i, "expected ',' before '@'")
            return items, i

    def _token(self, raw: str, pos: int) -> Layer:
        word = raw.strip().split(":")[0].lower()
        if word in ZOO:  # checked first: a zoo name is never read as a token
            raise LayerSpecError(
                raw.strip(), pos + len(raw) - len(raw.lstrip()),
                f"'{word}' is a zoo network: it stands alone as the whole spec; to extend it, "
                f"write out its layers (cnnconv shape -l {word} --print-spec prints them)")
        try:
            return tokens.parse_token(raw, pos)
        except LayerSpecError as exc:
            close = difflib.get_close_matches(word, list(ZOO), n=1, cutoff=0.8)
            if close:
                raise LayerSpecError(exc.token, exc.pos, f"{exc.reason}; or did you mean the zoo network "
                                                         f"'{close[0]}'?", exc.length) from None
            raise

    def _group(self, i: int, depth: int) -> tuple[_Item, int]:
        start = i
        if depth >= MAX_DEPTH:
            raise LayerSpecError("(", i, f"groups nested more than {MAX_DEPTH} deep")
        items, i = self.sequence(i + 1, depth + 1)
        if self._at(i, "|"):
            raise LayerSpecError("|", i, "'|' separates branches only inside add(...) or cat(...)")
        if not self._at(i, ")"):
            raise LayerSpecError("(", start, "'(' is never closed; add ')'")
        return _Item("group", start, i + 1, items=items), i + 1

    def _tap(self, i: int) -> tuple[_Item, int]:
        match = _TAP_NAME.match(self.spec, i + 1)
        if not match:
            j = i + 1
            while j < len(self.spec) and self.spec[j] not in ",()*|":
                j += 1
            raise LayerSpecError(self.spec[i:j].strip() or "@", i,
                                 "expected a name after '@' (letters, digits and _, e.g. @skip1)")
        return _Item("tap", i, match.end(), name=match.group().lower()), match.end()

    def _merge(self, word: str, start: int, bracket: int, depth: int) -> tuple[_Item, int]:
        if depth >= MAX_DEPTH:
            raise LayerSpecError(word, start, f"groups nested more than {MAX_DEPTH} deep")
        branches = []
        i = bracket
        while True:  # i is at '(' or '|'
            i = self._skip(i + 1)
            tap, tap_pos = None, i
            if self._at(i, "@"):
                ref, i = self._tap(i)
                tap = ref.name
                i = self._skip(i)
                if self._at(i, ","):
                    i += 1
                elif not self._at(i, "|)"):
                    raise LayerSpecError(self.spec[tap_pos:i].strip(), tap_pos,
                                         f"expected ',', '|' or ')' after @{tap}")
            if self._at(self._skip(i), "|)"):
                items, i = [], self._skip(i)
                if tap is not None and self.spec[tap_pos:i].rstrip().endswith(","):
                    raise LayerSpecError("''", i, "empty layer (a comma before '|' or ')'?)")
            else:
                items, i = self.sequence(i, depth + 1)
            branches.append((tap, tap_pos, items))
            if self._at(i, "|"):
                continue
            if not self._at(i, ")"):
                raise LayerSpecError(word, start, f"'{word}(' is never closed; add ')'", bracket + 1 - start)
            break
        end = i + 1
        if len(branches) < 2:
            raise LayerSpecError(
                word, start, f"{word.lower()} needs two or more branches separated by '|'; an empty branch "
                             f"is the block's input, e.g. {word.lower()}(conv3x64:p1,bn|)", end - start)
        return _Item("merge", start, end, name=word.lower(), branches=branches,
                     layer=Layer(word.lower(), text=word.lower(), pos=start)), end

    def _repeat(self, item: _Item, i: int, start: int) -> tuple[_Item, int]:
        i = self._skip(i)
        if not self._at(i, "*"):
            return item, i
        star = i
        i = self._skip(i + 1)
        match = tokens.NUM.match(self.spec, i)
        fragment = self.spec[start:match.end() if match else i + 1].strip()
        if not match:
            raise LayerSpecError(fragment, start, "expected a repeat count after '*' (e.g. *3)")
        end = match.end()
        while end < len(self.spec) and (self.spec[end].isalnum() or self.spec[end] in "._"):
            end += 1  # "*1e3" or "*2.5": the whole count is named, not a stray ')' later on
        if end > match.end():
            raise LayerSpecError(self.spec[start:end].strip(), start,
                                 f"repeat count {self.spec[i:end]!r} is not a whole number (e.g. *1000)")
        count = tokens.number(match.group(), fragment, start, "repeat count")
        if count * item.size > MAX_LAYERS:
            raise LayerSpecError(
                fragment, start,
                f"repeating {item.size} layer(s) {count} times gives more than {MAX_LAYERS} layers "
                f"(the limit); lower the count after '*' at {star}",
            )
        item.count = count
        return item, match.end()


class _Lowering:
    """Expands parsed items into graph nodes, resolving taps as it goes."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.nodes: list[list] = []  # [layer, inputs, taps, labels, end]
        self.taps: dict[str, int] = {}

    def graph(self, items: list[_Item]) -> LayerGraph:
        self._sequence(items, 0)
        return LayerGraph(self.spec, tuple(Node(layer, inputs, taps, tuple(labels), end)
                                           for layer, inputs, taps, labels, end in self.nodes))

    def _sequence(self, items: list[_Item], current: int) -> int:
        for item in items:
            for _ in range(item.count):
                current = self._item(item, current)
        return current

    def _item(self, item: _Item, current: int) -> int:
        if item.kind == "layer":
            self.nodes.append([item.layer, (current,), (), [], item.end])
            return len(self.nodes)
        if item.kind == "group":
            return self._sequence(item.items, current)
        if item.kind == "tap":
            self.taps[item.name] = current
            if current:
                self.nodes[current - 1][3].append(item.name)
            return current
        outputs, taps = [], []
        for tap, tap_pos, items in item.branches:
            begin = current
            if tap is not None:
                if tap not in self.taps:
                    raise LayerSpecError(f"@{tap}", tap_pos, f"no point is labelled @{tap} before this "
                                                             f"{item.name}; write @{tap} after the layer to join")
                begin = self.taps[tap]
            outputs.append(self._sequence(items, begin))
            taps.append(tap)
        self.nodes.append([item.layer, tuple(outputs), tuple(taps), [], item.end])
        return len(self.nodes)


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
