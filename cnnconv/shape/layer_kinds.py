"""The per-kind arithmetic behind :func:`cnnconv.shape.summary.summarize_network`.

Each handler takes a :class:`~cnnconv.shape.grammar.Layer` and the running :class:`State`,
updates the state (shape, receptive field) in place and returns the row's counts, notes
and warnings as a dict. Integer arithmetic only.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnnconv.errors import CnnconvError
from cnnconv.shape.grammar import Layer, LayerSpecError
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


def count(shape: Sequence[int]) -> int:
    """Number of values in an (H, W, C) shape."""
    h, w, c = shape
    return h * w * c


def _dims(shape: tuple[int, int, int], flat: bool) -> str:
    return str(shape[2]) if flat else "×".join(map(str, shape))


class State:
    """The running shape and receptive field between layers (``origin``: the input shape)."""

    def __init__(self, shape, flat, origin) -> None:
        self.shape, self.flat, self.origin = shape, flat, origin
        self.rf, self.jump, self.start_at = [1, 1], [1, 1], [0, 0]
        self.bound = self.glob = False


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


def _windowed(layer: Layer, state: State, pads, out, notes, warnings) -> None:
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


def _conv(layer: Layer, state: State) -> dict:
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


def _tconv(layer: Layer, state: State) -> dict:
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


def _pool(layer: Layer, state: State) -> dict:
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


def _lcn(layer: Layer, state: State) -> dict:
    pads = [same_padding(n, k) for n, k in zip(state.shape[:2], layer.kernel)]
    for a in (0, 1):
        state.rf[a], state.jump[a], state.start_at[a] = receptive_field_step(
            state.rf[a], state.jump[a], state.start_at[a], layer.kernel[a], 1, pads[a][0])
    return {"notes": [f"normalises over {_axes(layer.kernel)} neighbourhoods; shape kept"]}


def _global(layer: Layer, state: State) -> dict:
    h, w, c = state.shape
    state.shape, state.glob = (1, 1, c), True
    what = "average" if layer.kind == "gap" else "maximum"
    return {"notes": [f"{what} of each {h}×{w} map"]}


def _fc(layer: Layer, state: State) -> dict:
    n_in = count(state.shape)
    notes = [] if state.flat else [f"flattens {_dims(state.shape, False)} → {n_in} first"]
    state.shape, state.flat, state.glob = (1, 1, layer.out), True, True
    return {"weights": n_in * layer.out, "biases": layer.out, "course": n_in * layer.out + 1,
            "macs": n_in * layer.out, "pf": f"{n_in}·{layer.out} + {layer.out}",
            "mf": f"{n_in}·{layer.out}", "notes": notes}


def _flatten(layer: Layer, state: State) -> dict:
    before = _dims(state.shape, state.flat)
    state.shape, state.flat = (1, 1, count(state.shape)), True
    return {"notes": [f"{before} → {state.shape[2]}"]}


def _bn(layer: Layer, state: State) -> dict:
    c = state.shape[2]
    return {"weights": c, "biases": c, "buffers": 2 * c, "pf": f"{c} (γ) + {c} (β)",
            "notes": [f"+{2 * c} running mean/variance: buffers, not parameters"]}


def pointwise(layer: Layer, state: State) -> dict:
    """Shape-preserving layers without parameters (activations, softmax, dropout)."""
    if layer.kind == "dropout":
        return {"notes": [f"zeroes {layer.rate * 100:g}% of activations in training; identity at inference"]}
    if layer.kind == "softmax" and not state.flat:
        return {"notes": ["over the channels of each pixel"]}
    return {}


HANDLERS = {"conv": _conv, "tconv": _tconv, "maxpool": _pool, "avgpool": _pool, "lcn": _lcn,
            "gap": _global, "gmp": _global, "fc": _fc, "flatten": _flatten, "bn": _bn}
