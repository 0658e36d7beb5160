"""The per-kind arithmetic behind :func:`cnnconv.shape.summary.summarize_network`.

Each handler takes a :class:`~cnnconv.shape.layer.Layer` and the :class:`Activation` it
reads, and returns a :class:`LayerEffect`: the activation it produces and the layer's counts,
padding, notes and warnings. Nothing is mutated, so a graph can hand one activation to
several layers. Integer arithmetic only.

>>> from cnnconv.shape.grammar import parse_layers
>>> effect = analyse_layer(parse_layers("conv5x8")[0], network_input((32, 32, 3)))
>>> effect.output.shape, effect.weights, effect.biases, effect.macs, effect.output.field.size
((28, 28, 8), 600, 8, 470400, (5, 5))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import functools
from dataclasses import dataclass, replace

from cnnconv.errors import CnnconvError
from cnnconv.shape.layer import Layer, LayerSpecError, Node
from cnnconv.shape.arithmetic import (
    conv_out_size,
    conv_transpose_out_size,
    pool_out_size,
    same_padding,
)
from cnnconv.shape.receptive import (
    read_fraction,
    receptive_field_step,
    transposed_receptive_field_step,
    unread_tail,
)

#: Kinds of the nodes that join branches (:func:`analyse_merge`).
MERGE_KINDS = ("add", "cat")
#: Kinds that need an H×W×C input (not a flat vector).
SPATIAL_KINDS = ("conv", "tconv", "maxpool", "avgpool", "gap", "gmp", "lcn", "upsample")


def count(shape: Sequence[int]) -> int:
    """Number of values in an (H, W, C) shape.

    >>> count((5, 5, 16))
    400
    """
    h, w, c = shape
    return h * w * c


@dataclass(frozen=True)
class ReceptiveField:
    """The input pixels one output of an activation sees, per axis (height, width).

    Attributes
    ----------
    size : (int, int)
        Receptive field size in input pixels.
    jump : (int, int)
        Input pixels between neighbouring outputs (the effective stride).
    start : (int, int)
        Input coordinate of the first pixel the first output sees (negative: in the padding).
    bound : bool
        True after a transposed convolution: ``size`` is an upper bound.
    whole : bool
        True from fc/gap/gmp on: every output sees the whole input.
    """

    size: tuple[int, int] = (1, 1)
    jump: tuple[int, int] = (1, 1)
    start: tuple[int, int] = (0, 0)
    bound: bool = False
    whole: bool = False


@dataclass(frozen=True)
class Activation:
    """What flows from one layer to the next, for one sample.

    ``shape`` is (H, W, C); a flat vector of n features is (1, 1, n) with ``flat`` true.
    """

    shape: tuple[int, int, int]
    flat: bool = False
    field: ReceptiveField = ReceptiveField()


@dataclass(frozen=True)
class LayerEffect:
    """What one layer does: the activation it produces, its counts and what to tell the user.

    Attributes
    ----------
    output : Activation
    weights, biases, buffers : int
        Trainable weights and biases; non-trainable buffers (bn's running statistics).
    course_params : int or None
        The count under the course's simplifications; None when it equals weights + biases.
    macs : int
        Multiply-accumulates of the layer's weights for one sample.
    padding : (int, int, int, int)
        Padding applied (top, bottom, left, right); for ``tconv`` what is cropped.
    params_formula, macs_formula : str
        How the counts are made, e.g. ``"5·5·3·8 + 8"``.
    notes, warnings : tuple of str
    """

    output: Activation
    weights: int = 0
    biases: int = 0
    buffers: int = 0
    course_params: int | None = None
    macs: int = 0
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    params_formula: str = ""
    macs_formula: str = ""
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def network_input(shape: Sequence[int]) -> Activation:
    """The activation a network starts from: (H, W, C), (H, W) (one channel) or (N,) (flat).

    >>> network_input((784,))
    Activation(shape=(1, 1, 784), flat=True, field=ReceptiveField(size=(1, 1), jump=(1, 1), start=(0, 0), bound=False, whole=False))
    """
    dims = tuple(int(d) for d in shape)
    if not 1 <= len(dims) <= 3 or min(dims) < 1:
        raise CnnconvError(f"input shape must be (H, W, C), (H, W) or (N,) of sizes >= 1, got {tuple(shape)!r}")
    return Activation({1: (1, 1, *dims), 2: (*dims, 1), 3: dims}[len(dims)], len(dims) == 1)


def analyse_layer(layer: Layer, incoming: Activation) -> LayerEffect:
    """The effect of ``layer`` on ``incoming``; a :class:`LayerSpecError` names the layer when it cannot take it."""
    if layer.kind in SPATIAL_KINDS and incoming.flat:
        raise _fail(layer, f"needs an H×W×C input but gets a flat vector of {incoming.shape[2]}; "
                           "put spatial layers before fc/flatten")
    return HANDLERS.get(layer.kind, _pointwise)(layer, incoming)


def _dims(shape: tuple[int, int, int], flat: bool) -> str:
    return str(shape[2]) if flat else "×".join(map(str, shape))


def _fail(layer: Layer, reason: str) -> LayerSpecError:
    return LayerSpecError(layer.text, layer.pos, reason)


def _empty(layer: Layer, out: tuple[int, int], incoming: Activation, detail: str) -> LayerSpecError:
    h, w, c = incoming.shape
    return _fail(layer, f"output would be {out[0]}×{out[1]} from a {h}×{w}×{c} input ({detail}): "
                        "the stack shrinks to nothing here; use a larger input, padding or fewer layers")


def _plus(biases: int) -> str:
    return f" + {biases}" if biases else " (no bias)"


def _axes(values) -> str:
    return "×".join(map(str, values)) if values[0] != values[1] else str(values[0])


def _per_axis(messages: list) -> list[str]:
    """One message per axis, or one for both axes when they agree.

    ``messages`` holds (noun, plural, text) per axis, text with a ``{what}`` placeholder.
    """
    (n0, plural, m0), (n1, _, m1) = messages
    s = "s" if plural else ""
    if m0 and m0 == m1:
        return [m0.format(what=f"{n0}{s} and {n1}{s}")]
    return [m.format(what=n + ("s" if p else "")) for n, p, m in messages if m]


def _windowed(layer: Layer, incoming: Activation, pads, out) -> tuple[ReceptiveField, list[str], list[str]]:
    """The receptive field after a sliding window, and its 'never read' notes and warnings.

    Shared by convolution and pooling; returns (field, notes, warnings).
    """
    h, w, _ = incoming.shape
    field = incoming.field
    unread, unused, skips, holes, steps = [], [], [], [], []
    for axis, (n, noun) in enumerate(((h, "row"), (w, "column"))):
        k, s, d = layer.kernel[axis], layer.stride[axis], layer.dilation[axis]
        before, after = pads[2 * axis], pads[2 * axis + 1]
        real, padded = unread_tail(n, out[axis], k, s, (before, after), d)
        unread.append((noun, real > 1, real and f"last {real} {{what}} of {n} never read ({n} + {before + after} − "
                       f"{d * (k - 1)} − 1 = {n + before + after - d * (k - 1) - 1} is not divisible by stride {s})"))
        unused.append((noun, padded > 1, padded and f"last {padded} padding {{what}} unused"))
        read = read_fraction(k, s, d)[0]
        why = f"stride {s} > kernel {k}" if read == k else f"stride {s} and dilation {d} share a factor"
        skips.append((noun, True, read < s and f"only {read} of every {s} {{what}} read by any window ({why})"))
        holes.append((noun, True, k > 1 and d > 1 and f"dilation {d}: each output reads {k} of the "
                      f"{d * (k - 1) + 1} {{what}} its window spans (holes)"))
        steps.append(receptive_field_step(field.size[axis], field.jump[axis], field.start[axis], k, s, before, d))
    field = replace(field, size=(steps[0][0], steps[1][0]), jump=(steps[0][1], steps[1][1]),
                    start=(steps[0][2], steps[1][2]))
    warnings = _per_axis(unread) + _per_axis(skips) + _per_axis(holes)
    return field, _per_axis(unused), warnings


def _conv(layer: Layer, incoming: Activation) -> LayerEffect:
    h, w, c = incoming.shape
    kh, kw = layer.kernel
    groups = c if layer.groups == 0 else layer.groups
    if layer.groups == 0 and layer.out % c:
        raise _fail(layer, f"depthwise (:dw) needs a filter count that is a multiple of the {c} input channels, got {layer.out}")
    if c % groups or layer.out % groups:
        raise _fail(layer, f"groups {groups} must divide both the {c} input channels and the {layer.out} filters")
    if layer.padding == "same":
        (pt, pb), (pl, pr) = (same_padding(n, k, s, d) for n, k, s, d in
                              zip((h, w), layer.kernel, layer.stride, layer.dilation))
    else:
        (pt, pl), (pb, pr) = layer.padding, layer.padding
    out = tuple(conv_out_size(n, k, s, p, d) for n, k, s, p, d in
                zip((h, w), layer.kernel, layer.stride, ((pt, pb), (pl, pr)), layer.dilation))
    if min(out) < 1:
        spans = _axes([d * (k - 1) + 1 for k, d in zip(layer.kernel, layer.dilation)])
        pads = f"padding {pt}+{pb} rows, {pl}+{pr} columns" if pt + pb + pl + pr else "no padding"
        raise _empty(layer, out, incoming, f"kernel span {spans}, {pads}")
    notes = []
    if layer.padding == "same" and (pt != pb or pl != pr):
        notes.append(f"same: pads {pt} top, {pb} bottom, {pl} left, {pr} right (smaller half first)")
    if layer.groups == 0 or groups > 1:
        notes.append(f"{'depthwise: ' if layer.groups == 0 else ''}{groups} groups of {c // groups} "
                     f"channel{'s' if c // groups > 1 else ''}")
    field, window_notes, warnings = _windowed(layer, incoming, (pt, pb, pl, pr), out)
    cin = c // groups
    per = f"{kh}·{kw}·{c}" if groups == 1 else f"{kh}·{kw}·({c}/{groups})"
    biases = layer.out if layer.bias else 0
    return LayerEffect(
        Activation((out[0], out[1], layer.out), False, field),
        weights=kh * kw * cin * layer.out, biases=biases, course_params=kh * kw * layer.out + biases,
        macs=out[0] * out[1] * layer.out * kh * kw * cin, padding=(pt, pb, pl, pr),
        params_formula=f"{per}·{layer.out}{_plus(biases)}", macs_formula=f"{out[0]}·{out[1]}·{layer.out} · {per}",
        notes=(*notes, *window_notes), warnings=tuple(warnings),
    )


def _tconv(layer: Layer, incoming: Activation) -> LayerEffect:
    h, w, c = incoming.shape
    kh, kw = layer.kernel
    groups = c if layer.groups == 0 else layer.groups
    if c % groups or layer.out % groups:
        raise _fail(layer, f"groups {groups} must divide both the {c} input channels and the {layer.out} filters")
    try:
        out = tuple(conv_transpose_out_size(n, k, s, p, op, d) for n, k, s, p, op, d in zip(
            (h, w), layer.kernel, layer.stride, layer.padding, layer.output_padding, layer.dilation))
    except CnnconvError as exc:
        raise _fail(layer, str(exc)) from None
    if min(out) < 1:
        raise _empty(layer, out, incoming, f"padding {_axes(layer.padding)} crops more than the output")
    warnings = [f"kernel {k} not divisible by stride {s}: uneven overlap (checkerboard artefacts)"
                for k, s in sorted({(layer.kernel[a], layer.stride[a]) for a in (0, 1)}) if s > 1 and k % s]
    notes = ["receptive field from here on is an upper bound"]
    if max(layer.padding):
        notes.append(f"padding {_axes(layer.padding)} crops the output on each side")
    field = incoming.field
    steps = [transposed_receptive_field_step(field.size[a], field.jump[a], field.start[a], layer.kernel[a],
                                             layer.stride[a], layer.padding[a], layer.dilation[a]) for a in (0, 1)]
    field = replace(field, size=(steps[0][0], steps[1][0]), jump=(steps[0][1], steps[1][1]),
                    start=(steps[0][2], steps[1][2]), bound=True)
    cout = layer.out // groups
    per = f"{c}·{cout}" if groups == 1 else f"{c}·({layer.out}/{groups})"
    ph, pw = layer.padding
    biases = layer.out if layer.bias else 0
    return LayerEffect(
        Activation((out[0], out[1], layer.out), False, field),
        weights=c * cout * kh * kw, biases=biases, macs=h * w * kh * kw * c * cout, padding=(ph, ph, pw, pw),
        params_formula=f"{per}·{kh}·{kw}{_plus(biases)}", macs_formula=f"{h}·{w} · {kh}·{kw}·{per}",
        notes=tuple(notes), warnings=tuple(warnings),
    )


def _pool(layer: Layer, incoming: Activation) -> LayerEffect:
    if layer.padding == "same":
        return _pool_same(layer, incoming)
    h, w, c = incoming.shape
    try:
        out = tuple(pool_out_size(n, k, s, p, 1, layer.ceil_mode) for n, k, s, p in
                    zip((h, w), layer.kernel, layer.stride, layer.padding))
        floor = tuple(pool_out_size(n, k, s, p) for n, k, s, p in
                      zip((h, w), layer.kernel, layer.stride, layer.padding))
    except CnnconvError as exc:
        raise _fail(layer, str(exc)) from None
    ph, pw = layer.padding
    for p, n, axis in ((ph, h, "height"), (pw, w, "width")):
        if p > n:  # the core's pool refuses it too: every window would hold the whole input
            raise _fail(layer, f"pooling padding {p} is larger than the input {axis} {n}; use at most the input size (or gap/gmp)")
    if min(out) < 1:
        raise _empty(layer, out, incoming, f"window {_axes(layer.kernel)}, padding {_axes(layer.padding)}")
    notes = []
    if out != floor:
        notes.append(f"ceil mode: a last partial window gives {_dims((*out, c), False)} "
                     f"instead of {_dims((*floor, c), False)}")
    field, window_notes, warnings = _windowed(layer, incoming, (ph, ph, pw, pw), out)
    return LayerEffect(Activation((out[0], out[1], c), False, field), padding=(ph, ph, pw, pw),
                       notes=(*notes, *window_notes), warnings=tuple(warnings))


def _pool_same(layer: Layer, incoming: Activation) -> LayerEffect:
    """Pooling with ``:same`` (TensorFlow's rule): output ⌈n/s⌉, padding split smaller half first.

    Padded positions are left out of a window (not zeros): a max ignores them, an average
    divides by the input values the window holds.
    """
    h, w, c = incoming.shape
    (pt, pb), (pl, pr) = (same_padding(n, k, s) for n, k, s in zip((h, w), layer.kernel, layer.stride))
    out = (-(-h // layer.stride[0]), -(-w // layer.stride[1]))
    notes = [f"same: output ⌈n/s⌉; pads {pt} top, {pb} bottom, {pl} left, {pr} right, "
             "left out of each window (not zeros)"] if pt + pb + pl + pr else []
    field, window_notes, warnings = _windowed(layer, incoming, (pt, pb, pl, pr), out)
    return LayerEffect(Activation((out[0], out[1], c), False, field), padding=(pt, pb, pl, pr),
                       notes=(*notes, *window_notes), warnings=tuple(warnings))


def _upsample(layer: Layer, incoming: Activation) -> LayerEffect:
    """Nearest or bilinear upsampling by an integer factor: (H·f, W·f, C), no parameters.

    An output reads one input pixel per axis (nearest) or two neighbours (bilinear, pixel
    centres aligned as PyTorch's ``align_corners=False``), so the receptive field grows by a
    jump for bilinear; neighbouring outputs are at most a jump apart, so, as after a transposed
    convolution, the jump is kept and later sizes are upper bounds.
    """
    h, w, c = incoming.shape
    fh, fw = layer.factor
    field = incoming.field
    if layer.op == "bilinear":
        field = replace(field, size=(field.size[0] + field.jump[0], field.size[1] + field.jump[1]),
                        start=(field.start[0] - field.jump[0], field.start[1] - field.jump[1]))
    field = replace(field, bound=field.bound or fh > 1 or fw > 1)
    notes = (f"{layer.op} ×{_axes(layer.factor)}", "receptive field from here on is an upper bound")
    return LayerEffect(Activation((h * fh, w * fw, c), False, field), notes=notes if field.bound else notes[:1])


def _lcn(layer: Layer, incoming: Activation) -> LayerEffect:
    field = incoming.field
    steps = [receptive_field_step(field.size[a], field.jump[a], field.start[a], layer.kernel[a], 1,
                                  same_padding(incoming.shape[a], layer.kernel[a])[0]) for a in (0, 1)]
    field = replace(field, size=(steps[0][0], steps[1][0]), start=(steps[0][2], steps[1][2]))
    return LayerEffect(replace(incoming, field=field),
                       notes=(f"normalises over {_axes(layer.kernel)} neighbourhoods; shape kept",))


def _global(layer: Layer, incoming: Activation) -> LayerEffect:
    h, w, c = incoming.shape
    what = "average" if layer.kind == "gap" else "maximum"
    return LayerEffect(Activation((1, 1, c), False, replace(incoming.field, whole=True)),
                       notes=(f"{what} of each {h}×{w} map",))


def _fc(layer: Layer, incoming: Activation) -> LayerEffect:
    n_in = count(incoming.shape)
    notes = () if incoming.flat else (f"flattens {_dims(incoming.shape, False)} → {n_in} first",)
    biases = layer.out if layer.bias else 0
    return LayerEffect(
        Activation((1, 1, layer.out), True, replace(incoming.field, whole=True)),
        weights=n_in * layer.out, biases=biases, course_params=n_in * layer.out + int(layer.bias),
        macs=n_in * layer.out, params_formula=f"{n_in}·{layer.out}{_plus(biases)}", macs_formula=f"{n_in}·{layer.out}", notes=notes,
    )


def _flatten(layer: Layer, incoming: Activation) -> LayerEffect:
    n = count(incoming.shape)
    return LayerEffect(replace(incoming, shape=(1, 1, n), flat=True),
                       notes=(f"{_dims(incoming.shape, incoming.flat)} → {n}",))


def _bn(layer: Layer, incoming: Activation) -> LayerEffect:
    c = incoming.shape[2]
    return LayerEffect(incoming, weights=c, biases=c, buffers=2 * c, params_formula=f"{c} (γ) + {c} (β)",
                       notes=(f"+{2 * c} running mean/variance: buffers, not parameters",))


def _pointwise(layer: Layer, incoming: Activation) -> LayerEffect:
    """Shape-preserving layers without parameters (activations, softmax, dropout)."""
    if layer.kind == "dropout":
        return LayerEffect(incoming, notes=(f"zeroes {layer.rate * 100:g}% of activations in training; "
                                            "identity at inference",))
    if layer.kind == "softmax" and not incoming.flat:
        return LayerEffect(incoming, notes=("over the channels of each pixel",))
    return LayerEffect(incoming)


#: kind -> handler; kinds not listed keep their input's shape and have no parameters.
HANDLERS: dict[str, Callable[[Layer, Activation], LayerEffect]] = {
    "conv": _conv, "tconv": _tconv, "maxpool": _pool, "avgpool": _pool, "lcn": _lcn,
    "gap": _global, "gmp": _global, "fc": _fc, "flatten": _flatten, "bn": _bn, "upsample": _upsample,
}


def analyse_merge(node: Node, incoming: Sequence[Activation], rows: Sequence[int]) -> tuple[LayerEffect, tuple]:
    """The effect of an ``add`` or ``cat`` node on its inputs, and the crop of each input.

    ``rows`` are the node numbers of the inputs (for messages). Branches that start from a
    tap (``node.taps``) and come out larger than the others are centre-cropped to their size
    (``(size - target) // 2`` rows/columns off the top/left, the rest off the bottom/right);
    all other branches must agree exactly. ``add`` needs equal channels, ``cat`` sums them.
    The receptive field is the largest over the inputs (smallest start), so over all paths.

    Returns
    -------
    (LayerEffect, tuple of (int, int, int, int))
        The effect, and per input the (top, bottom, left, right) rows/columns cropped.

    Examples
    --------
    >>> from cnnconv.shape.layer import Layer, Node
    >>> node = Node(Layer("cat", text="cat"), (1, 2), ("skip", None))
    >>> effect, crops = analyse_merge(node, [Activation((64, 64, 8)), Activation((56, 56, 8))], (1, 2))
    >>> effect.output.shape, crops
    ((56, 56, 16), ((4, 4, 4, 4), (0, 0, 0, 0)))
    """
    layer, taps = node.layer, node.taps or (None,) * len(incoming)
    described = [f"{_dims(a.shape, a.flat)} ({_source(r, t)})" for a, r, t in zip(incoming, rows, taps)]
    fail = functools.partial(LayerSpecError, layer.text, layer.pos, length=max(node.end - layer.pos, 1))
    if len({a.flat for a in incoming}) > 1:
        raise fail(f"cannot {_VERB[layer.kind]} a flat vector and an H×W×C map: {' and '.join(described)}")
    untapped = [a.shape[:2] for a, t in zip(incoming, taps) if t is None]
    target = untapped[0] if untapped else min(a.shape[:2] for a in incoming)
    crops, cropped, notes = [], [], []
    for a, tap, text in zip(incoming, taps, described):
        (h, w, c), (th, tw) = a.shape, target
        if (h, w) != target and (tap is None or h < th or w < tw):
            other = described[[t is None for t in taps].index(True)] if untapped else described[0]
            why = "a tap smaller than the point it joins" if tap is not None else "branches of different sizes"
            raise fail(f"cannot {_VERB[layer.kind]} {text} and {other}: {why}; heights and widths must agree")
        crop = ((h - th) // 2, h - th - (h - th) // 2, (w - tw) // 2, w - tw - (w - tw) // 2)
        if any(crop):
            notes.append(f"crops @{tap} from {h}×{w}×{c} to {th}×{tw}×{c} (centre: {_crop_text(crop)})")
        crops.append(crop)
        start = (a.field.start[0] + crop[0] * a.field.jump[0], a.field.start[1] + crop[2] * a.field.jump[1])
        cropped.append(replace(a, shape=(th, tw, c), field=replace(a.field, start=start)))
    channels = [a.shape[2] for a in cropped]
    if layer.kind == "add" and len(set(channels)) > 1:
        raise fail(f"cannot add {' and '.join(described)}: the channels differ; give the shortcut a projection, "
                   f"e.g. add(...|conv1x{max(channels)}:nobias,bn)")
    fields = [a.field for a in cropped]
    field = ReceptiveField(
        size=tuple(max(f.size[a] for f in fields) for a in (0, 1)),
        jump=tuple(max(f.jump[a] for f in fields) for a in (0, 1)),
        start=tuple(min(f.start[a] for f in fields) for a in (0, 1)),
        bound=any(f.bound for f in fields), whole=any(f.whole for f in fields))
    c_out = channels[0] if layer.kind == "add" else sum(channels)
    what = (f"sum of {len(incoming)} inputs" if layer.kind == "add"
            else "channels " + " + ".join(map(str, channels)) + f" = {c_out}")
    return (LayerEffect(Activation((*target, c_out), cropped[0].flat, field), notes=(what, *notes)), tuple(crops))


_VERB = {"add": "add", "cat": "concatenate"}


def _source(row: int, tap: str | None) -> str:
    place = "the input" if row == 0 else f"row {row}"
    return f"@{tap}, {place}" if tap else place


def _crop_text(crop: tuple[int, int, int, int]) -> str:
    return f"{crop[0]} each side" if len(set(crop)) == 1 else "{} top, {} bottom, {} left, {} right".format(*crop)
