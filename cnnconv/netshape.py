"""Per-layer analysis of a network spec: shapes, parameters, MACs, memory, receptive field.

Everything is integer arithmetic on the :class:`~cnnconv.layerspec.Layer` list: no
array is built, so a 10**9-pixel input costs what a 28×28 one does. Conventions:

- shapes are (H, W, C); a flat vector of N features is (1, 1, N) with ``flat=True``;
- parameters are counted the standard (PyTorch/Keras) way, weights and biases apart;
  ``course_params`` applies the simplifications of the course table (seed 003): one
  k×k kernel per filter shared by all input channels, and one bias per fc layer;
- MACs are the multiply-accumulates of conv, tconv and fc weights for one sample; bias
  adds, activations, pooling and normalisation are not counted;
- memory is the float32 size of a layer's output for one sample, in bytes;
- receptive fields follow :func:`cnnconv.shapes.receptive_field_step`; after a
  transposed convolution they are upper bounds (``rf_bound``); after fc/gap/gmp every
  output sees the whole input (``rf_global``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from cnnconv.errors import CnnconvError
from cnnconv.layerspec import Layer, LayerSpecError, parse_layers
from cnnconv.shapes import (
    conv_out_size,
    conv_transpose_out_size,
    pool_out_size,
    read_fraction,
    receptive_field_step,
    same_padding,
    transposed_receptive_field_step,
    unread_tail,
)

_SPATIAL = ("conv", "tconv", "maxpool", "avgpool", "gap", "gmp", "lcn")
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
        statistics); the count under the course's simplifications (seed 003).
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
            "input_bytes": _count(self.input) * _FLOAT32,
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


def summarize_network(input_shape: Sequence[int], layers: str | Sequence[Layer]) -> NetSummary:
    """Analyse a layer stack for an input of shape (H, W, C), (H, W) or (N,) (flat).

    Raises :class:`~cnnconv.layerspec.LayerSpecError` naming the layer when a layer
    cannot take its input (the stack shrinks to nothing, a convolution after fc, groups
    that do not divide the channels, ...).

    Examples
    --------
    >>> net = summarize_network((32, 32, 3), "conv5x8,pool2,conv5x16,pool2,fc120,fc84,fc10")
    >>> [r.output for r in net.rows][:4]
    [(28, 28, 8), (14, 14, 8), (10, 10, 16), (5, 5, 16)]
    >>> t = net.totals()
    >>> t["params"], t["macs"], t["rf"], t["jump"]
    (62958, 849320, (16, 16), (4, 4))
    """
    state = _State.start(input_shape)
    stack = parse_layers(layers) if isinstance(layers, str) else list(layers)
    rows = tuple(_analyse(i, layer, state) for i, layer in enumerate(stack, 1))
    h, w, c = input_shape_3(input_shape)
    return NetSummary((h, w, c), len(tuple(input_shape)) == 1, rows)


def input_shape_3(shape: Sequence[int]) -> tuple[int, int, int]:
    """(H, W, C) of an input given as (H, W, C), (H, W) or (N,)."""
    dims = tuple(int(d) for d in shape)
    if not 1 <= len(dims) <= 3 or min(dims) < 1:
        raise CnnconvError(f"input shape must be (H, W, C), (H, W) or (N,) of sizes >= 1, got {tuple(shape)!r}")
    return {1: (1, 1, *dims), 2: (*dims, 1), 3: dims}[len(dims)]


def _count(shape: Sequence[int]) -> int:
    h, w, c = shape
    return h * w * c


def _dims(shape: tuple[int, int, int], flat: bool) -> str:
    return str(shape[2]) if flat else "×".join(map(str, shape))


class _State:
    """The running shape and receptive field between layers."""

    def __init__(self, shape, flat, origin) -> None:
        self.shape, self.flat, self.origin = shape, flat, origin
        self.rf, self.jump, self.start_at = [1, 1], [1, 1], [0, 0]
        self.bound = self.glob = False

    @classmethod
    def start(cls, input_shape: Sequence[int]) -> _State:
        return cls(input_shape_3(input_shape), len(tuple(input_shape)) == 1, input_shape_3(input_shape))


def _analyse(index: int, layer: Layer, state: _State) -> LayerRow:
    h, w, c = state.shape
    if layer.kind in _SPATIAL and state.flat:
        raise LayerSpecError(
            layer.text, layer.pos,
            f"needs an H×W×C input but gets a flat vector of {c}; put spatial layers before fc/flatten",
        )
    handler = {"conv": _conv, "tconv": _tconv, "maxpool": _pool, "avgpool": _pool, "lcn": _lcn,
               "gap": _global, "gmp": _global, "fc": _fc, "flatten": _flatten, "bn": _bn}
    info = handler.get(layer.kind, _pointwise)(layer, state)
    weights, biases = info.get("weights", 0), info.get("biases", 0)
    out = state.shape
    return LayerRow(
        index=index, text=layer.text, kind=layer.kind, pos=layer.pos, input=(h, w, c), output=out,
        flat=state.flat, activations=_count(out), memory_bytes=_count(out) * _FLOAT32,
        weights=weights, biases=biases, params=weights + biases, buffers=info.get("buffers", 0),
        course_params=info.get("course", weights + biases), macs=info.get("macs", 0),
        rf=tuple(state.rf) if not state.glob else state.origin[:2],
        jump=None if state.glob else tuple(state.jump), start=None if state.glob else tuple(state.start_at),
        rf_bound=state.bound, rf_global=state.glob, padding=info.get("padding", (0, 0, 0, 0)),
        params_formula=info.get("pf", ""), macs_formula=info.get("mf", ""),
        notes=tuple(info.get("notes", ())), warnings=tuple(info.get("warnings", ())),
    )


def _fail(layer: Layer, reason: str) -> LayerSpecError:
    return LayerSpecError(layer.text, layer.pos, reason)


def _empty(layer: Layer, out: tuple[int, int], h: int, w: int, c: int, detail: str) -> LayerSpecError:
    return _fail(layer, f"output would be {out[0]}×{out[1]} from a {h}×{w}×{c} input ({detail}): "
                        "the stack shrinks to nothing here; use a larger input, padding or fewer layers")


def _axes(values) -> str:
    return "×".join(map(str, values)) if values[0] != values[1] else str(values[0])


def _per_axis(messages: list, out: list) -> None:
    """Append one message per axis, or one for both axes when they agree.

    ``messages`` holds (noun, plural, text) per axis, text with a ``{what}`` placeholder.
    """
    (n0, plural, m0), (n1, _, m1) = messages
    s = "s" if plural else ""
    if m0 and m0 == m1:
        out.append(m0.format(what=f"{n0}{s} and {n1}{s}"))
    else:
        out.extend(m.format(what=n + ("s" if p else "")) for n, p, m in messages if m)


def _windowed(layer: Layer, state: _State, pads, out, notes, warnings) -> None:
    """RF update and the 'never read' warnings shared by convolution and pooling."""
    h, w, _ = state.shape
    unread, unused, skips, holes = [], [], [], []
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
        state.rf[axis], state.jump[axis], state.start_at[axis] = receptive_field_step(
            state.rf[axis], state.jump[axis], state.start_at[axis], k, s, before, d)
    _per_axis(unread, warnings)
    _per_axis(unused, notes)
    _per_axis(skips, warnings)
    _per_axis(holes, warnings)


def _conv(layer: Layer, state: _State) -> dict:
    h, w, c = state.shape
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
        raise _empty(layer, out, h, w, c, f"kernel span {spans}, {pads}")
    notes, warnings = [], []
    if layer.padding == "same" and (pt != pb or pl != pr):
        notes.append(f"same: pads {pt} top, {pb} bottom, {pl} left, {pr} right (smaller half first)")
    if layer.groups == 0 or groups > 1:
        notes.append(f"{'depthwise: ' if layer.groups == 0 else ''}{groups} groups of {c // groups} "
                     f"channel{'s' if c // groups > 1 else ''}")
    _windowed(layer, state, (pt, pb, pl, pr), out, notes, warnings)
    cin = c // groups
    state.shape = (out[0], out[1], layer.out)
    per = f"{kh}·{kw}·{c}" if groups == 1 else f"{kh}·{kw}·({c}/{groups})"
    return {"weights": kh * kw * cin * layer.out, "biases": layer.out, "padding": (pt, pb, pl, pr),
            "course": kh * kw * layer.out + layer.out, "macs": out[0] * out[1] * layer.out * kh * kw * cin,
            "pf": f"{per}·{layer.out} + {layer.out}", "mf": f"{out[0]}·{out[1]}·{layer.out} · {per}",
            "notes": notes, "warnings": warnings}


def _tconv(layer: Layer, state: _State) -> dict:
    h, w, c = state.shape
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
        raise _empty(layer, out, h, w, c, f"padding {_axes(layer.padding)} crops more than the output")
    warnings = [f"kernel {k} not divisible by stride {s}: uneven overlap (checkerboard artefacts)"
                for k, s in sorted({(layer.kernel[a], layer.stride[a]) for a in (0, 1)}) if s > 1 and k % s]
    notes = ["receptive field from here on is an upper bound"]
    if max(layer.padding):
        notes.append(f"padding {_axes(layer.padding)} crops the output on each side")
    for a in (0, 1):
        state.rf[a], state.jump[a], state.start_at[a] = transposed_receptive_field_step(
            state.rf[a], state.jump[a], state.start_at[a], layer.kernel[a], layer.stride[a],
            layer.padding[a], layer.dilation[a])
    state.bound = True
    state.shape = (out[0], out[1], layer.out)
    cout = layer.out // groups
    per = f"{c}·{cout}" if groups == 1 else f"{c}·({layer.out}/{groups})"
    (ph, pw) = layer.padding
    return {"weights": c * cout * kh * kw, "biases": layer.out, "padding": (ph, ph, pw, pw),
            "macs": h * w * kh * kw * c * cout, "pf": f"{per}·{kh}·{kw} + {layer.out}",
            "mf": f"{h}·{w} · {kh}·{kw}·{per}", "notes": notes, "warnings": warnings}


def _pool(layer: Layer, state: _State) -> dict:
    h, w, c = state.shape
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
        raise _empty(layer, out, h, w, c, f"window {_axes(layer.kernel)}, padding {_axes(layer.padding)}")
    notes, warnings = [], []
    if out != floor:
        notes.append(f"ceil mode: a last partial window gives {_dims((*out, c), False)} "
                     f"instead of {_dims((*floor, c), False)}")
    _windowed(layer, state, (ph, ph, pw, pw), out, notes, warnings)
    state.shape = (out[0], out[1], c)
    return {"padding": (ph, ph, pw, pw), "notes": notes, "warnings": warnings}


def _lcn(layer: Layer, state: _State) -> dict:
    pads = [same_padding(n, k) for n, k in zip(state.shape[:2], layer.kernel)]
    for a in (0, 1):
        state.rf[a], state.jump[a], state.start_at[a] = receptive_field_step(
            state.rf[a], state.jump[a], state.start_at[a], layer.kernel[a], 1, pads[a][0])
    return {"notes": [f"normalises over {_axes(layer.kernel)} neighbourhoods; shape kept"]}


def _global(layer: Layer, state: _State) -> dict:
    h, w, c = state.shape
    state.shape, state.glob = (1, 1, c), True
    what = "average" if layer.kind == "gap" else "maximum"
    return {"notes": [f"{what} of each {h}×{w} map"]}


def _fc(layer: Layer, state: _State) -> dict:
    n_in = _count(state.shape)
    notes = [] if state.flat else [f"flattens {_dims(state.shape, False)} → {n_in} first"]
    state.shape, state.flat, state.glob = (1, 1, layer.out), True, True
    return {"weights": n_in * layer.out, "biases": layer.out, "course": n_in * layer.out + 1,
            "macs": n_in * layer.out, "pf": f"{n_in}·{layer.out} + {layer.out}",
            "mf": f"{n_in}·{layer.out}", "notes": notes}


def _flatten(layer: Layer, state: _State) -> dict:
    before = _dims(state.shape, state.flat)
    state.shape, state.flat = (1, 1, _count(state.shape)), True
    return {"notes": [f"{before} → {state.shape[2]}"]}


def _bn(layer: Layer, state: _State) -> dict:
    c = state.shape[2]
    return {"weights": c, "biases": c, "buffers": 2 * c, "pf": f"{c} (γ) + {c} (β)",
            "notes": [f"+{2 * c} running mean/variance: buffers, not parameters"]}


def _pointwise(layer: Layer, state: _State) -> dict:
    if layer.kind == "dropout":
        return {"notes": [f"zeroes {layer.rate * 100:g}% of activations in training; identity at inference"]}
    if layer.kind == "softmax" and not state.flat:
        return {"notes": ["over the channels of each pixel"]}
    return {}
