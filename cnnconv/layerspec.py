"""The layer grammar that ``cnnconv shape`` and ``cnnconv train`` share.

A spec such as ``conv5x8:p2,relu,pool2,conv5x16,relu,pool2,fc120,fc84,fc10`` is parsed
once, here, into a list of :class:`Layer` records; shape arithmetic and the network
builder both consume that list.
"""

from __future__ import annotations

from dataclasses import dataclass


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
        Kernel (or pooling window) height and width; (1, 1) where it does not apply.
    stride : (int, int)
        Stride per axis (pooling defaults to the window size).
    padding : str or (int, int)
        ``"valid"``, ``"same"``, ``"full"``, or explicit symmetric (ph, pw).
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
