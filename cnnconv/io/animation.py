"""Pictures of a trace: frames drawn with Pillow, saved as GIF, APNG or a PNG sheet.

Everything drawn comes from the plain data of :meth:`cnnconv.animate.Trace.as_dict` (what
``cnnconv animate --json`` prints), so a picture shows only numbers the core computed.

The colours are the Okabe-Ito palette, told apart by viewers with any common colour
vision deficiency; each also differs in lightness, and every mark has a second cue (a
thick outline, a label). Text is drawn without anti-aliasing, so a frame holds only the
palette's colours: a GIF stores them exactly, and :data:`HIGHLIGHT` marks the cell being
computed and nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from cnnconv.errors import CnnconvError

# Okabe & Ito (2008), "Color Universal Design", and light tints of it.
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
HIGHLIGHT = (230, 159, 0)  # orange: the output cell being computed (transposed: the input cell stamped)
WINDOW = (86, 180, 233)  # sky blue: the taps of the window
WINDOW_EDGE = (0, 114, 178)  # blue: outline of the window and the weights
DONE = (0, 158, 115)  # bluish green: earlier outputs (as a tint)
WINNER = (213, 94, 0)  # vermillion: the winning cell of a max/min window
UNREAD = (204, 121, 167)  # reddish purple: rows/cols stride never reads, cropped cells
PADDING = (221, 221, 221)
GRID = (110, 110, 110)
MUTED = (85, 85, 85)


def _tint(colour, amount):
    return tuple(round(255 - (255 - c) * amount) for c in colour)


WINDOW_TINT, DONE_TINT, UNREAD_TINT = _tint(WINDOW, 0.35), _tint(DONE, 0.3), _tint(UNREAD, 0.35)
PALETTE = (WHITE, BLACK, HIGHLIGHT, WINDOW, WINDOW_EDGE, DONE, WINNER, UNREAD, PADDING, GRID, MUTED,
           WINDOW_TINT, DONE_TINT, UNREAD_TINT)  # fmt: skip
#: Output suffixes and what they make.
FORMATS = {".gif": "GIF", ".apng": "APNG", ".png": "sheet"}
#: Frame time and last-frame pause (milliseconds) unless told otherwise.
FRAME_MS, PAUSE_MS = 900, 2000
MARGIN, GAP, TITLE = 14, 28, 22


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


@dataclass
class Panel:
    """A grid drawn at (x, y) with cells ``cw`` x ``ch`` pixels; ``rows`` x ``cols`` cells."""

    name: str
    title: str
    x: int
    y: int
    rows: int
    cols: int
    cw: int
    ch: int

    def box(self, r: int, c: int) -> tuple[int, int, int, int]:
        """Pixel box (left, top, right, bottom) of cell (r, c), both ends inside the cell."""
        left, top = self.x + c * self.cw, self.y + r * self.ch
        return left, top, left + self.cw - 1, top + self.ch - 1

    @property
    def bottom(self) -> int:
        return self.y + self.rows * self.ch

    @property
    def right(self) -> int:
        return self.x + self.cols * self.cw


@dataclass
class Layout:
    """Where everything goes: the panels by name, the text lines' top, the image size."""

    panels: dict = field(default_factory=dict)
    text_top: int = 0
    width: int = 0
    height: int = 0


def _shape(grid) -> tuple[int, int]:
    """(rows, cols) of a 1-D or 2-D nested list."""
    if not grid or not isinstance(grid[0], list):
        return 1, len(grid)
    return len(grid), len(grid[0])


def _rows(grid) -> list[list]:
    return [grid] if not grid or not isinstance(grid[0], list) else grid


def _rc(index) -> tuple[int, int]:
    return (0, index[0]) if len(index) == 1 else (index[0], index[1])


def _numbers(data: dict) -> list[str]:
    from cnnconv.animate.records import format_number

    values = [v for row in _rows(data["canvas"]) for v in row]
    values += [v for row in _rows(data["output"]) for v in row]
    if data["kernel"] is not None:
        values += [v for row in _rows(data["kernel"]) for v in row]
    for frame in data["frames"]:
        if frame["kind"] == "stamp":
            values += [v for row in _rows(frame["partial"]) for v in row]
            values += [t["product"] for t in frame["stamp"]]
    return [format_number(v, 4) for v in values if v is not None]


class Style:
    """Fonts and the cell size that fits the widest number of the trace."""

    def __init__(self, data: dict):
        self.font, self.small, self.text = _font(15), _font(11), _font(13)
        self.one_d = data["ndim"] == 1
        self.wrapped: dict[str, list[str]] = {}
        widest = max((self.font.getlength(s) for s in _numbers(data)), default=10)
        self.cw = max(34, math.ceil(widest) + 12)
        self.ch = 34
        self.geometry_only = bool(data.get("geometry_only"))


def _after(panel: Panel, style: Style) -> int:
    """Left edge of the panel to the right of ``panel``: past its cells and its title."""
    if style.one_d:  # titles stand at the left margin, panels one above the other
        return panel.right + GAP
    return max(panel.right, panel.x + math.ceil(style.text.getlength(panel.title))) + GAP


def _kernel_panels(data: dict, style: Style, x: int, y: int) -> list[Panel]:
    kh, kw = _shape(data["applied_kernel"])
    if data["operation"] == "convolve":
        given = Panel("kernel_given", "kernel as given", x, y, kh, kw, style.cw, style.ch)
        return [given, Panel("kernel", "flipped (convolve)", _after(given, style), y, kh, kw, style.cw, style.ch)]
    return [Panel("kernel", "kernel", x, y, kh, kw, style.cw, style.ch)]


def _extent(data: dict) -> tuple[int, int]:
    """Canvas rows/cols, grown to hold a ceil-mode window that reaches past the padding."""
    rows, cols = _shape(data["canvas"])
    for frame in data["frames"]:
        for tap in frame.get("taps", ()):
            r, c = _rc(tap["cell"])
            rows, cols = max(rows, r + 1), max(cols, c + 1)
    return rows, cols


def _stack(panels: list[Panel], style: Style, top: int) -> None:
    """Tapes one above the other, their titles in a column at the left margin."""
    left = MARGIN + max(90, max(math.ceil(style.text.getlength(p.title)) for p in panels) + 14)
    y = top
    for p in panels:
        p.x, p.y = left, y
        y = p.bottom + 26


def layout(data: dict) -> Layout:
    """The layout of every frame of a trace (the same for all of its frames).

    Examples
    --------
    >>> from cnnconv.animate import trace_correlate
    >>> lay = layout(trace_correlate([[1, 2], [3, 4]], [[1]]).as_dict())
    >>> sorted(lay.panels), lay.panels["output"].rows
    (['input', 'kernel', 'output'], 2)
    """
    style = Style(data)
    lay = Layout()
    top = MARGIN + TITLE + 18
    op = data["operation"]
    one_d = data["ndim"] == 1
    if op == "transpose":
        h, w = _shape(data["input"])
        kh, kw = _shape(data["kernel"])
        oh, ow = _shape(data["canvas"])
        panels = [Panel("input", "input", MARGIN, top, h, w, style.cw, style.ch)]
        panels.append(Panel("kernel", "kernel", _after(panels[-1], style), top, kh, kw, style.cw, style.ch))
        panels.append(Panel("stamp", "value · kernel", _after(panels[-1], style), top, kh, kw, style.cw, style.ch))
        panels.append(Panel("canvas", "output before the crop", _after(panels[-1], style), top, oh, ow, style.cw, style.ch))
        fh, fw = _shape(data["output"])
        panels.append(Panel("output", "output", _after(panels[-1], style), top, fh, fw, style.cw, style.ch))
        if one_d:  # tapes one above the other
            _stack(panels, style, top)
    else:
        rows, cols = _extent(data)
        panels = [Panel("input", "input", MARGIN, top, rows, cols, style.cw, style.ch)]
        if op != "pool":
            panels += _kernel_panels(data, style, _after(panels[-1], style), top)
            if one_d:  # the kernel tape slides under the input tape, as in the lecture notes
                sliding = next(p for p in panels if p.name == "kernel")
                sliding.cols, sliding.title = cols, "kernel" if op == "correlate" else "flipped"
                panels.remove(sliding)
                panels.insert(1, sliding)
        oh, ow = _shape(data["output"])
        panels.append(Panel("output", "output", _after(panels[-1], style), top, oh, ow, style.cw, style.ch))
        if one_d:
            _stack(panels, style, top)
    lay.panels = {p.name: p for p in panels}
    lay.text_top = max(p.bottom for p in panels) + 16
    lines = len(data["formula"]) + 4
    header = style.font.getlength(_header(data) + "   [step 99/99]")
    lay.width = max(max(p.right for p in panels) + MARGIN, 560, math.ceil(header) + 2 * MARGIN)
    lay.height = lay.text_top + lines * 18 + MARGIN
    return lay


class _Canvas:
    def __init__(self, lay: Layout, style: Style):
        self.image = Image.new("P", (lay.width, lay.height), 0)
        self.image.putpalette([v for colour in PALETTE for v in colour])
        self.draw = ImageDraw.Draw(self.image)
        self.draw.fontmode = "1"  # no anti-aliasing: only palette colours, kept exactly by GIF
        self.style = style

    def ink(self, colour) -> int:
        return PALETTE.index(colour)

    def cell(self, panel: Panel, r, c, fill, text="", colour=BLACK, outline=GRID, width=1, note="", note_colour=None):
        box = panel.box(r, c)
        self.draw.rectangle(box, fill=self.ink(fill), outline=self.ink(outline), width=width)
        if text and not self.style.geometry_only:
            cx, cy = (box[0] + box[2] + 1) / 2, (box[1] + box[3] + 1) / 2
            self.draw.text((cx, cy + (3 if note else 0)), text, fill=self.ink(colour), font=self.style.font, anchor="mm")
        if note and not self.style.geometry_only:
            self.draw.text((box[0] + 3, box[1] + 1), note, fill=self.ink(note_colour or WINDOW_EDGE),
                           font=self.style.small, anchor="la")

    def outline(self, panel: Panel, r0, c0, r1, c1, colour, width=3):
        left, top, _, _ = panel.box(r0, c0)
        _, _, right, bottom = panel.box(r1, c1)
        self.draw.rectangle((left, top, right, bottom), outline=self.ink(colour), width=width)

    def text(self, xy, text, colour=BLACK, font=None, anchor="la"):
        self.draw.text(xy, text, fill=self.ink(colour), font=font or self.style.text, anchor=anchor)

    def title(self, panel: Panel, one_d: bool):
        if one_d:
            self.text((MARGIN, panel.y + panel.ch / 2), panel.title, anchor="lm")
        else:
            self.text((panel.x, panel.y - 4), panel.title, anchor="ld")


def _fmt(value) -> str:
    from cnnconv.animate.records import format_number

    return format_number(value, 4)


def _header(data: dict) -> str:
    shape = lambda g: "x".join(map(str, _shape(g) if data["ndim"] == 2 else _shape(g)[1:]))  # noqa: E731
    op = data["operation"]
    s, d = ",".join(map(str, data["stride"])), ",".join(map(str, data["dilation"]))
    if op == "pool":
        size = "x".join(map(str, data["size"]))
        text = f"{data['op']} pooling {size} of a {shape(data['input'])} input, stride {s}"
        if any(b for b, _ in data["padding"]):
            text += f", padding {','.join(str(b) for b, _ in data['padding'])}"
        return text + (", ceil mode" if data["ceil_mode"] else "")
    if op == "transpose":
        text = (f"transposed convolution of a {shape(data['input'])} input with a {shape(data['kernel'])} kernel, "
                f"stride {s}")  # fmt: skip
        if any(b or a for b, a in data["padding"]):
            text += f", padding (cropped) {padding_words(data['padding'])}"
        if any(data["output_padding"]):
            text += f", output padding {','.join(map(str, data['output_padding']))}"
        return text + (f", dilation {d}" if d.strip("1,") else "")
    text = f"{op} {shape(data['input'])} with {shape(data['kernel'])}: "
    if any(b or a for b, a in data["padding"]):
        rule = f"constant {_fmt(data['cval'])}" if data["boundary"] == "constant" else data["boundary"]
        text += f"padding {padding_words(data['padding'])} ({rule}), "
    else:
        text += "no padding, "
    return text + f"stride {s}" + (f", dilation {d}" if d.strip("1,") else "")


def padding_words(padding) -> str:
    """Padding per side in words: ``top 1 bottom 0 left 2 right 1`` (a signal: ``2 before 1 after``).

    >>> padding_words([[1, 0], [2, 1]]), padding_words([[2, 1]])
    ('top 1 bottom 0 left 2 right 1', '2 before 1 after')
    """
    if len(padding) == 1:
        return f"{padding[0][0]} before {padding[0][1]} after"
    (t, b), (left, right) = padding
    return f"top {t} bottom {b} left {left} right {right}"


def origin_shown(data: dict) -> bool:
    """Whether the kernel's origin is ringed: where it is not simply the first tap of a
    valid correlation (padding, an even side, or a flipped kernel move it).

    >>> from cnnconv.animate import trace_correlate
    >>> origin_shown(trace_correlate([1, 2, 3], [1, 1]).as_dict()), origin_shown(trace_correlate([1, 2, 3], [1, 1], mode="same").as_dict())
    (False, True)
    """
    if data["operation"] not in ("correlate", "convolve"):
        return False
    return data["operation"] == "convolve" or any(b or a for b, a in data["padding"])


def origin_tap(position, dilation, sides) -> tuple | None:
    """The kernel tap at a footprint ``position`` (dilated units), or None between taps or outside.

    >>> origin_tap((2, 1), (2, 1), (3, 3)), origin_tap((1, 1), (2, 1), (3, 3)), origin_tap((5,), (1,), (3,))
    ((1, 1), None, None)
    """
    if any(p % d or not 0 <= p // d < k for p, d, k in zip(position, dilation, sides)):
        return None
    return tuple(p // d for p, d in zip(position, dilation))


def _axes_word(data: dict) -> str:
    return "sample(s)" if data["ndim"] == 1 else "row(s)/col(s)"


def _notes(data: dict) -> list[str]:
    notes = []
    one = (lambda t: str(t[0])) if data["ndim"] == 1 else (lambda t: str(tuple(t)))  # noqa: E731
    if data["operation"] in ("correlate", "convolve"):
        if origin_shown(data):
            tap = origin_tap(data["origin"], data["dilation"], _shape(data["kernel"])[2 - data["ndim"] :])
            where = f"tap {one(tap)} of the kernel as given" if tap is not None else \
                f"position {one(data['origin'])} of the dilated kernel, not a tap"  # fmt: skip
            notes.append(f"origin (ringed): {where}; it lies over input pixel output·stride")
        if any(data["unread"]):
            notes.append(f"stride leaves {one(data['unread'])} {_axes_word(data)} at the end unread (purple)")
        if any(d > 1 for d in data["dilation"]):
            notes.append("dilation: the taps skip the cells between them (holes inside the blue outline)")
    elif data["operation"] == "pool":
        if data["ceil_mode"]:
            notes.append("ceil mode: a last window may reach past the input (dashed cells count as nothing)")
        if any(data["unread"]):
            notes.append(f"stride leaves {one(data['unread'])} {_axes_word(data)} at the end unread (purple)")
    return notes


def _wrap(text: str, font, width: float) -> list[str]:
    if font.getlength(text) <= width:  # most lines fit: one measure, not one per word
        return [text]
    words, lines, line = text.split(" "), [], ""
    for word in words:
        trial = f"{line} {word}" if line else word
        if font.getlength(trial) > width and line:
            lines.append(line)
            line = "    " + word
        else:
            line = trial
    return lines + [line]


def _input_panel(cv: _Canvas, data: dict, frame: dict, panel: Panel) -> None:
    canvas = _rows(data["canvas"])
    sources = _rows(data["canvas_source"]) if data["ndim"] == 2 else [data["canvas_source"]]
    (pb, _), (qb, _) = ((0, 0),) * (2 - data["ndim"]) + tuple(tuple(p) for p in data["padding"])
    height, width = _shape(data["input"])
    rows, cols = _shape(data["canvas"])
    ur, uc = (0,) * (2 - data["ndim"]) + tuple(data["unread"])
    taps = {_rc(t["cell"]): t for t in frame["taps"]}
    for r in range(panel.rows):
        for c in range(panel.cols):
            if r >= rows or c >= cols:  # past the canvas: a ceil-mode window's overhang
                if (r, c) in taps:
                    _dashed(cv, panel.box(r, c))
                continue
            value = canvas[r][c]
            real = sources[r][c] is not None and pb <= r < pb + height and qb <= c < qb + width
            fill, colour = (WHITE, BLACK) if real else (PADDING, MUTED)
            if (ur and r >= rows - ur) or (uc and c >= cols - uc):
                fill = UNREAD_TINT
            tap = taps.get((r, c))
            note = ""
            if tap is not None:
                fill = WINDOW_TINT
                if tap.get("weight") is not None:
                    note = "·" + _fmt(tap["weight"])
            text = "pad" if value is None else _fmt(value)
            cv.cell(panel, r, c, fill, text, colour, note=note)
    cv.outline(panel, pb, qb, pb + height - 1, qb + width - 1, BLACK, width=2)  # the real cells
    if taps:
        cells = list(taps)
        rs, cs = [r for r, _ in cells], [c for _, c in cells]
        cv.outline(panel, min(rs), min(cs), max(rs), max(cs), WINDOW_EDGE, width=3)
    if frame.get("winner") is not None:
        r, c = _rc(frame["winner"])
        cv.outline(panel, r, c, r, c, WINNER, width=4)
    if frame.get("anchor") is not None and origin_shown(data):
        r, c = _rc(frame["anchor"])
        left, top, right, _ = panel.box(r, c)
        cv.draw.ellipse((right - 10, top + 3, right - 3, top + 10), outline=cv.ink(BLACK), width=2)


def _dashed(cv: _Canvas, box) -> None:
    left, top, right, bottom = box
    for x in range(left, right, 6):
        cv.draw.line((x, top, min(x + 3, right), top), fill=cv.ink(WINDOW_EDGE))
        cv.draw.line((x, bottom, min(x + 3, right), bottom), fill=cv.ink(WINDOW_EDGE))
    for y in range(top, bottom, 6):
        cv.draw.line((left, y, left, min(y + 3, bottom)), fill=cv.ink(WINDOW_EDGE))
        cv.draw.line((right, y, right, min(y + 3, bottom)), fill=cv.ink(WINDOW_EDGE))


def _kernel(cv: _Canvas, data: dict, panel: Panel, grid, origin=None) -> None:
    for r, row in enumerate(_rows(grid)):
        for c, v in enumerate(row):
            cv.cell(panel, r, c, WINDOW_TINT, _fmt(v), BLACK)
    if origin is not None:
        r, c = _rc(origin)
        left, top, right, _ = panel.box(r, c)
        cv.draw.ellipse((right - 10, top + 3, right - 3, top + 10), outline=cv.ink(BLACK), width=2)


def _sliding_kernel(cv: _Canvas, data: dict, frame: dict, panel: Panel) -> None:
    """A signal's kernel tape under the cells its taps read in this frame."""
    origin = data["origin_tap"][0] if origin_shown(data) else None
    start = frame["window"][0]
    for tap in frame["taps"]:
        c = tap["cell"][0]
        cv.cell(panel, 0, c, WINDOW_TINT, _fmt(tap["weight"]))
        if origin is not None and c - start == origin:
            left, top, right, _ = panel.box(0, c)
            cv.draw.ellipse((right - 10, top + 3, right - 3, top + 10), outline=cv.ink(BLACK), width=2)


def _output(cv: _Canvas, data: dict, panel: Panel, current: int, order: list) -> None:
    """Outputs before ``current`` filled in, ``current`` highlighted, the rest empty."""
    values = _rows(data["output"])
    for r in range(panel.rows):
        for c in range(panel.cols):
            cv.cell(panel, r, c, WHITE)
    for k, (r, c) in enumerate(order[: current + 1]):
        cv.cell(panel, r, c, HIGHLIGHT if k == current else DONE_TINT, _fmt(values[r][c]), BLACK,
                outline=BLACK if k == current else GRID, width=2 if k == current else 1)


def draw_frame(data: dict, number: int, lay: Layout | None = None, style: Style | None = None) -> Image.Image:
    """Frame ``number`` of a trace's data as a palette image.

    Examples
    --------
    >>> from cnnconv.animate import trace_pool
    >>> data = trace_pool([[1, 2], [3, 4]], 2).as_dict()
    >>> draw_frame(data, 0).size == (layout(data).width, layout(data).height)
    True
    """
    style = style or Style(data)
    lay = lay or layout(data)
    cv = _Canvas(lay, style)
    frame = data["frames"][number]
    one_d = data["ndim"] == 1
    p = lay.panels
    total = len(data["frames"])
    cv.text((MARGIN, MARGIN), f"{_header(data)}   [step {number + 1}/{total}]", font=style.font)
    for panel in p.values():
        cv.title(panel, one_d)
    lines: list[str] = []
    if data["operation"] == "transpose":
        _transpose_frame(cv, data, frame, number, p)
    else:
        _input_panel(cv, data, frame, p["input"])
        if "kernel" in p and one_d:
            _sliding_kernel(cv, data, frame, p["kernel"])
        elif "kernel" in p:
            sides = _shape(data["kernel"])[2 - data["ndim"] :]
            applied = origin_tap(data["origin_tap"], data["dilation"], sides) if origin_shown(data) else None
            _kernel(cv, data, p["kernel"], data["applied_kernel"], applied)
        if "kernel_given" in p:
            given = origin_tap(data["origin"], data["dilation"], _shape(data["kernel"])[2 - data["ndim"] :])
            _kernel(cv, data, p["kernel_given"], data["kernel"], given)
        order = [_rc(f["output_index"]) for f in data["frames"]]
        _output(cv, data, p["output"], number, order)
        where = frame["output_index"][0] if one_d else tuple(frame["output_index"])
        if not style.geometry_only:
            lines.append(f"output {where}: {frame['expression']}")
        else:
            lines.append(f"output {where}: {len(frame['taps'])} taps")
    lines += [*_notes(data), *data["formula"]]
    if data["operation"] == "transpose" and not style.geometry_only:
        lines.insert(0, frame["expression"])
    y = lay.text_top
    for line in lines:
        if line not in style.wrapped:  # the notes and formulas are the same on every frame
            style.wrapped[line] = _wrap(line, style.text, lay.width - 2 * MARGIN)
        for part in style.wrapped[line]:
            if y + 16 > lay.height:
                break
            cv.text((MARGIN, y), part)
            y += 18
    return cv.image


def _transpose_frame(cv: _Canvas, data: dict, frame: dict, number: int, p: dict) -> None:
    stamps = [f for f in data["frames"] if f["kind"] == "stamp"]
    done = number if frame["kind"] == "stamp" else len(stamps)
    inputs = _rows(data["input"])
    order = [_rc(f["input_index"]) for f in stamps]
    for r, row in enumerate(inputs):
        for c, v in enumerate(row):
            k = order.index((r, c))
            fill = HIGHLIGHT if k == number else DONE_TINT if k < done else WHITE
            cv.cell(p["input"], r, c, fill, _fmt(v), outline=BLACK if k == number else GRID, width=2 if k == number else 1)
    _kernel(cv, data, p["kernel"], data["kernel"])
    partial = _rows(stamps[done - 1]["partial"] if frame["kind"] == "crop" else frame["partial"])
    stamped = {_rc(t["cell"]): t for t in frame.get("stamp", ())}
    for t in frame.get("stamp", ()):
        r, c = _rc(t["tap"])
        cv.cell(p["stamp"], r, c, WINDOW_TINT, _fmt(t["product"]))
    if frame["kind"] == "crop":
        for r in range(p["stamp"].rows):
            for c in range(p["stamp"].cols):
                cv.cell(p["stamp"], r, c, WHITE)
    (tb, ta), (lb, la) = ((0, 0),) * (2 - data["ndim"]) + tuple(tuple(x) for x in data["padding"])
    canvas = p["canvas"]
    for r in range(canvas.rows):
        for c in range(canvas.cols):
            cut = r < tb or r >= canvas.rows - ta or c < lb or c >= canvas.cols - la
            fill = WINDOW_TINT if (r, c) in stamped else UNREAD_TINT if cut and frame["kind"] == "crop" else WHITE
            note = "+" + _fmt(stamped[(r, c)]["product"]) if (r, c) in stamped else ""
            cv.cell(canvas, r, c, fill, _fmt(partial[r][c]), note=note)
    if stamped:
        cells = list(stamped)
        cv.outline(canvas, min(r for r, _ in cells), min(c for _, c in cells),
                   max(r for r, _ in cells), max(c for _, c in cells), WINDOW_EDGE, width=3)  # fmt: skip
    if tb or ta or lb or la:
        cv.outline(canvas, tb, lb, canvas.rows - ta - 1, canvas.cols - la - 1, BLACK, width=2)
    out = p["output"]
    final = _rows(data["output"])
    for r in range(out.rows):
        for c in range(out.cols):
            shown = frame["kind"] == "crop" or (not (tb or ta or lb or la or any(data["output_padding"]))
                                                 and done == len(stamps) - 1)  # fmt: skip
            cv.cell(out, r, c, DONE_TINT if shown else WHITE, _fmt(final[r][c]) if shown else "")


def draw_frames(data: dict, numbers=None) -> list[Image.Image]:
    """The frames ``numbers`` (0-based; default every one) of a trace's data, one palette image each (all of one size)."""
    if not data["frames"]:
        raise CnnconvError("nothing to draw: the trace has no frames")
    numbers = range(len(data["frames"])) if numbers is None else numbers
    style, lay = Style(data), layout(data)
    return [draw_frame(data, i, lay, style) for i in numbers]


def sheet(frames: list[Image.Image], columns: int | None = None) -> Image.Image:
    """All frames tiled left to right, top to bottom, on one image.

    Shape
    -----
    ``cols·w + (cols+1)·8`` by ``rows·h + (rows+1)·8`` pixels for frames of w x h,
    ``cols = columns or min(n, 3)`` (2 for four frames).

    Examples
    --------
    >>> sheet([Image.new("P", (10, 5))] * 4, columns=2).size
    (44, 34)
    """
    w, h = frames[0].size
    cols = columns or (2 if len(frames) == 4 else min(len(frames), 3))
    rows = math.ceil(len(frames) / cols)
    out = Image.new("P", (cols * w + (cols + 1) * 8, rows * h + (rows + 1) * 8), PALETTE.index(GRID))
    out.putpalette([v for colour in PALETTE for v in colour])
    for i, frame in enumerate(frames):
        r, c = divmod(i, cols)
        out.paste(frame, (8 + c * (w + 8), 8 + r * (h + 8)))
    return out


def save_animation(
    data: dict, path: str | Path, *, frame_ms: int = FRAME_MS, pause_ms: int = PAUSE_MS, numbers=None
) -> dict:
    """Draw a trace's data and write it by the suffix of ``path``: .gif, .apng or .png (a sheet).

    ``numbers`` picks the frames drawn (0-based, in order; default all). The last frame
    stays ``frame_ms + pause_ms`` on screen; the animation loops. Written
    atomically. Returns what was written: format, frame count, size in pixels.
    """
    from cnnconv.io.atomic import write_atomic

    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise CnnconvError(f"{path}: unknown picture type {path.suffix!r}; use .gif, .apng or .png (a sheet of all frames)")
    frames = draw_frames(data, numbers)
    durations = [frame_ms] * (len(frames) - 1) + [frame_ms + pause_ms]
    if kind == "sheet":
        picture = sheet(frames)
        write_atomic(path, lambda f: picture.save(f, format="PNG", optimize=True))
        size = picture.size
    else:
        fmt = "GIF" if kind == "GIF" else "PNG"
        write_atomic(path, lambda f: frames[0].save(
            f, format=fmt, save_all=True, append_images=frames[1:], duration=durations, loop=0,
            **({"optimize": False} if fmt == "GIF" else {}),
        ))  # fmt: skip
        size = frames[0].size
    return {"format": kind, "frames": len(frames), "width": size[0], "height": size[1]}
