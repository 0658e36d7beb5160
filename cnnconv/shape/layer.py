"""The records of the layer grammar: :class:`Layer`, :class:`Node`, :class:`LayerGraph`,
:class:`LayerSpecError` and the limits.

They live apart from the parser (:mod:`cnnconv.shape.grammar`) and the token reader
(:mod:`cnnconv.shape.tokens`) so that both can use them without importing each other.

A parsed spec is a :class:`LayerGraph`: its nodes in execution order, each naming the nodes
it reads. A chain is the special case where node ``k`` reads node ``k - 1``; its
``layers()`` are the :class:`Layer` list that :func:`~cnnconv.shape.grammar.parse_layers`
returns. A network builder walks ``graph.nodes`` in order, keeping each node's output:

>>> from cnnconv.shape.grammar import parse_network
>>> graph = parse_network("conv3x8:p1,add(conv3x8:p1,relu|),gap,fc10")
>>> [(k, n.layer.kind, n.inputs) for k, n in enumerate(graph.nodes, 1)]
[(1, 'conv', (0,)), (2, 'conv', (1,)), (3, 'relu', (2,)), (4, 'add', (3, 1)), (5, 'gap', (4,)), (6, 'fc', (5,))]
>>> graph.is_chain()
False
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnconv.errors import CnnconvError

#: Largest number accepted anywhere in a spec (int32, as the frameworks use).
MAX_SIZE = 2**31 - 1
#: Most layers a spec may expand to, repeats included.
MAX_LAYERS = 10_000
#: Deepest nesting of parenthesised groups.
MAX_DEPTH = 20


@dataclass(frozen=True)
class Layer:
    """One layer of a spec, as written.

    Attributes
    ----------
    kind : str
        One of ``conv``, ``tconv``, ``maxpool``, ``avgpool``, ``gap``, ``gmp``, ``fc``,
        ``flatten``, ``relu``, ``sigmoid``, ``tanh``, ``softplus``, ``abs``,
        ``softmax``, ``lcn``, ``bn``, ``dropout``, ``relu6``, ``upsample``; and the merges
        ``add`` and ``cat`` (only as the layer of a :class:`Node` that reads two or more nodes).
    out : int or None
        Filters of ``conv``/``tconv``, units of ``fc``; None for the others.
    kernel : (int, int)
        Kernel (or pooling / ``lcn`` window) height and width; (1, 1) where it does not apply.
    stride : (int, int)
        Stride per axis (pooling: the window size unless ``:s`` is given).
    padding : str or (int, int)
        ``"same"`` (resolved per input size: conv and pooling), or explicit symmetric (ph, pw);
        ``valid`` and ``full`` are resolved at parse time to (0, 0) and (d(kh-1), d(kw-1)).
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
        ``"max"`` or ``"avg"`` for ``maxpool``/``gmp`` and ``avgpool``/``gap``; ``"nearest"``
        or ``"bilinear"`` for ``upsample``; else ``""``.
    bias : bool
        False for ``conv``/``tconv``/``fc`` written with ``:nobias`` (no bias parameters).
    factor : (int, int)
        ``upsample`` only: the integer scale factor per axis (output = input · factor).
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
    bias: bool = True
    factor: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class Node:
    """One step of a :class:`LayerGraph`: a layer and the nodes whose outputs it reads.

    Attributes
    ----------
    layer : Layer
        What the node computes. For a merge its kind is ``"add"`` (element-wise sum of the
        inputs) or ``"cat"`` (concatenation along channels, in the order of ``inputs``).
    inputs : tuple of int
        Node numbers read: 0 is the network input, ``k >= 1`` is ``graph.nodes[k - 1]``, always
        an earlier node. A layer reads one node; a merge reads one per branch, in branch order.
    taps : tuple of (str or None)
        Merges only, one per input: the tap (``@name``) the branch started from, or None when
        it started from the block's input. A tapped branch whose output is larger than the
        others is centre-cropped to their size before the merge (the 2015 U-Net's skips);
        :class:`~cnnconv.shape.summary.LayerRow` ``crops`` gives the rows/columns cut.
    labels : tuple of str
        The tap names written right after this node (``conv3x64,@skip1``).
    end : int
        Offset in the spec just past the node's text: for a merge, past its closing bracket
        (``layer.pos`` to ``end`` is the whole block, for error carets).
    """

    layer: Layer
    inputs: tuple[int, ...]
    taps: tuple[str | None, ...] = ()
    labels: tuple[str, ...] = ()
    end: int = 0


@dataclass(frozen=True)
class LayerGraph:
    """A parsed layer spec: nodes in execution order (every node reads only earlier nodes).

    Attributes
    ----------
    spec : str
        The text parsed (for a zoo name, the spec the name stands for); positions in the
        layers and in errors are offsets into it.
    nodes : tuple of Node
        Node ``k`` (1-based, as in ``Node.inputs``) is ``nodes[k - 1]``; the last node is
        the network's output.
    """

    spec: str
    nodes: tuple[Node, ...]

    def is_chain(self) -> bool:
        """True when every node reads the one before it (no branches, no merges)."""
        return all(node.inputs == (k,) for k, node in enumerate(self.nodes))

    def layers(self) -> list[Layer]:
        """The layers in execution order (for a chain, the whole network)."""
        return [node.layer for node in self.nodes]


class LayerSpecError(CnnconvError):
    """A bad layer spec: the message names the token and its position.

    ``pos`` and ``length`` locate the offending text in the spec, so a caller holding
    the spec can underline it.

    Examples
    --------
    >>> from cnnconv.shape.grammar import parse_layers
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
