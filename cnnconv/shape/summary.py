"""Per-layer analysis of a network spec: shapes, parameters, MACs, memory, receptive field.

Everything is integer arithmetic on the :class:`~cnnconv.shape.grammar.Layer` list: no
array is built, so a 10**9-pixel input costs what a 28×28 one does. Conventions:

- shapes are (H, W, C); a flat vector of N features is (1, 1, N) with ``flat=True``;
- parameters are counted the standard (PyTorch/Keras) way, weights and biases apart;
  ``course_params`` applies the simplifications of the course table (the CNN Example table of the Computer Vision notes): one
  k×k kernel per filter shared by all input channels, and one bias per fc layer;
- MACs are the multiply-accumulates of conv, tconv and fc weights for one sample; bias
  adds, activations, pooling and normalisation are not counted;
- memory is the float32 size of a layer's output for one sample, in bytes;
- receptive fields follow :func:`cnnconv.shape.receptive.receptive_field_step`; after a
  transposed convolution they are upper bounds (``rf_bound``); after fc/gap/gmp every
  output sees the whole input (``rf_global``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from cnnconv.shape.grammar import parse_network
from cnnconv.shape.layer import Layer, LayerGraph, Node
from cnnconv.shape.layer_kinds import (
    MERGE_KINDS,
    Activation,
    LayerEffect,
    analyse_layer,
    analyse_merge,
    count,
    network_input,
)
_FLOAT32 = 4


@dataclass(frozen=True)
class LayerRow:
    """What one layer does to one sample.

    Attributes
    ----------
    index, text, kind, pos : int, str, str, int
        1-based row number, the token as written, its kind and offset in the spec.
    input, output : (int, int, int)
        (H, W, C) before and after; a flat vector of n is (1, 1, n) with ``flat`` true.
    activations, memory_bytes : int
        Values in the output, and their float32 size in bytes.
    weights, biases, params, buffers, course_params : int
        Trainable counts (params = weights + biases); non-trainable buffers (bn's running
        statistics); the count under the course's simplifications (the Computer Vision notes' CNN Example table).
    macs : int
        Multiply-accumulates of the layer's weights (bias adds not counted).
    rf, jump, start : (int, int), (int, int) or None, (int, int) or None
        Receptive field size, effective stride and first input pixel, per axis. For
        ``rf_global`` rows (from fc/gap/gmp on) ``rf`` is the input size and jump/start None.
    rf_bound : bool
        True after a transposed convolution: ``rf`` is an upper bound.
    padding : (int, int, int, int)
        Padding applied (top, bottom, left, right); for ``tconv`` what is cropped.
    params_formula, macs_formula : str
        How the counts are made, e.g. ``"5·5·3·8 + 8"``.
    notes, warnings : tuple of str
    inputs : tuple of int
        The rows this one reads (0: the network input); a chain's row k reads (k - 1,).
        ``input`` is the shape of the first of them.
    crops : tuple of (int, int, int, int)
        Merges only (``add``/``cat``), per input: the (top, bottom, left, right) rows and
        columns centre-cropped off a tapped branch before the merge; () for other rows.
    """

    index: int
    text: str
    kind: str
    pos: int
    input: tuple[int, int, int]
    output: tuple[int, int, int]
    flat: bool
    activations: int
    memory_bytes: int
    weights: int
    biases: int
    params: int
    buffers: int
    course_params: int
    macs: int
    rf: tuple[int, int]
    jump: tuple[int, int] | None
    start: tuple[int, int] | None
    rf_bound: bool
    rf_global: bool
    padding: tuple[int, int, int, int]
    params_formula: str
    macs_formula: str
    notes: tuple[str, ...]
    warnings: tuple[str, ...]
    inputs: tuple[int, ...] = ()
    crops: tuple[tuple[int, int, int, int], ...] = ()


@dataclass(frozen=True)
class NetSummary:
    """The rows of :func:`summarize_network` and their totals (one sample, float32)."""

    input: tuple[int, int, int]
    input_flat: bool
    rows: tuple[LayerRow, ...]

    def totals(self) -> dict:
        """Sums over the rows, the output shape and the network's receptive field.

        The receptive field is that of the last layer whose outputs still see part of the
        input (before fc/gap/gmp), or None when there is none.
        """
        rows = self.rows
        spatial = [r for r in rows if not r.rf_global]
        last = spatial[-1] if spatial else None
        weights, biases = sum(r.weights for r in rows), sum(r.biases for r in rows)
        return {
            "layers": len(rows),
            "output": rows[-1].output if rows else self.input,
            "weights": weights,
            "biases": biases,
            "params": weights + biases,
            "param_bytes": (weights + biases) * _FLOAT32,
            "buffers": sum(r.buffers for r in rows),
            "course_params": sum(r.course_params for r in rows),
            "macs": sum(r.macs for r in rows),
            "activations": sum(r.activations for r in rows),
            "activation_bytes": sum(r.memory_bytes for r in rows),
            "input_bytes": count(self.input) * _FLOAT32,
            "rf": last.rf if last else None,
            "jump": last.jump if last else None,
            "start": last.start if last else None,
            "rf_layer": last.index if last else None,
            "rf_bound": bool(last and last.rf_bound),
            "warnings": sum(len(r.warnings) for r in rows),
        }

    def as_dict(self) -> dict:
        """Plain data (lists, ints, strings) for JSON."""
        return {"input": list(self.input), "input_flat": self.input_flat,
                "layers": [asdict(r) for r in self.rows], "totals": self.totals()}


def summarize_network(input_shape: Sequence[int], layers: str | Sequence[Layer] | LayerGraph) -> NetSummary:
    """Analyse a network for an input of shape (H, W, C), (H, W) or (N,) (flat).

    ``layers`` is a spec (a chain, a graph with ``add``/``cat``/taps, or a zoo name), a
    :class:`~cnnconv.shape.layer.LayerGraph`, or a list of :class:`Layer` (a chain). One row
    per node, in execution order; ``row.inputs`` names the rows it reads (0: the input).

    Raises :class:`~cnnconv.shape.layer.LayerSpecError` naming the layer when a layer
    cannot take its input (the stack shrinks to nothing, a convolution after fc, groups
    that do not divide the channels, branches whose shapes cannot be added, ...).

    Examples
    --------
    >>> net = summarize_network((32, 32, 3), "conv5x8,pool2,conv5x16,pool2,fc120,fc84,fc10")
    >>> [r.output for r in net.rows][:4]
    [(28, 28, 8), (14, 14, 8), (10, 10, 16), (5, 5, 16)]
    >>> t = net.totals()
    >>> t["params"], t["macs"], t["rf"], t["jump"]
    (62958, 849320, (16, 16), (4, 4))
    >>> res = summarize_network((8, 8, 4), "add(conv3x4:p1,relu,conv3x4:p1|)")
    >>> [(r.text, r.inputs, r.rf) for r in res.rows]
    [('conv3x4:p1', (0,), (3, 3)), ('relu', (1,), (3, 3)), ('conv3x4:p1', (2,), (5, 5)), ('add', (3, 0), (5, 5))]
    """
    start = network_input(input_shape)
    if isinstance(layers, LayerGraph):
        graph = layers
    elif isinstance(layers, str):
        graph = parse_network(layers)
    else:
        stack = list(layers)
        graph = LayerGraph("", tuple(Node(layer, (k,)) for k, layer in enumerate(stack)))
    outputs, rows = [start], []
    for index, node in enumerate(graph.nodes, 1):
        incoming = [outputs[k] for k in node.inputs]
        if node.layer.kind in MERGE_KINDS:
            effect, crops = analyse_merge(node, incoming, node.inputs)
        else:
            effect, crops = analyse_layer(node.layer, incoming[0]), ()
        rows.append(_row(index, node, incoming[0], effect, crops, start.shape))
        outputs.append(effect.output)
    return NetSummary(start.shape, start.flat, tuple(rows))


def _row(index: int, node: Node, incoming: Activation, effect: LayerEffect, crops: tuple,
         input_shape: tuple[int, int, int]) -> LayerRow:
    layer, out, field = node.layer, effect.output, effect.output.field
    params = effect.weights + effect.biases
    labels = tuple(f"labelled @{name}" for name in node.labels)
    return LayerRow(
        index=index, text=layer.text, kind=layer.kind, pos=layer.pos, input=incoming.shape, output=out.shape,
        flat=out.flat, activations=count(out.shape), memory_bytes=count(out.shape) * _FLOAT32,
        weights=effect.weights, biases=effect.biases, params=params, buffers=effect.buffers,
        course_params=params if effect.course_params is None else effect.course_params, macs=effect.macs,
        rf=input_shape[:2] if field.whole else field.size,
        jump=None if field.whole else field.jump, start=None if field.whole else field.start,
        rf_bound=field.bound, rf_global=field.whole, padding=effect.padding,
        params_formula=effect.params_formula, macs_formula=effect.macs_formula,
        notes=(*effect.notes, *labels), warnings=effect.warnings, inputs=node.inputs, crops=crops,
    )
