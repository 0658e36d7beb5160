"""The records of the layer grammar: :class:`Layer`, :class:`LayerSpecError` and the limits.

They live apart from the parser (:mod:`cnnconv.shape.grammar`) and the token reader
(:mod:`cnnconv.shape.tokens`) so that both can use them without importing each other.
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
