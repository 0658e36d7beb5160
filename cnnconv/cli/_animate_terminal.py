"""The terminal view of ``cnnconv animate``: the frames of a trace's data drawn with rich.

On a terminal the user steps through the frames with a key; when standard output is not a
terminal every frame is printed, one after the other. The colours are those of the pictures
(Okabe-Ito): orange the output being computed, sky blue the window, green earlier outputs,
grey the padding, vermillion a pooling winner, purple unread or cropped cells.
"""

from __future__ import annotations

import sys

import click

_STYLE = {
    "current": "bold black on #E69F00",
    "window": "black on #56B4E9",
    "done": "black on #9ED9C6",
    "padding": "#555555 on #DDDDDD",
    "winner": "bold white on #D55E00",
    "unread": "black on #E9BCD5",
    "plain": "",
}
_MARKS = {"current": "<>", "window": "[]", "winner": "()", "unread": "..", "padding": "  "}
_KEYS = "space/enter: next  b: back  q: quit"


def _rows(grid):
    return [grid] if not grid or not isinstance(grid[0], list) else grid


def _rc(index):
    return (0, index[0]) if len(index) == 1 else (index[0], index[1])


def _fmt(value) -> str:
    from cnnconv.animate.records import format_number

    return format_number(value, 4)


def _grid(title: str, grid, styles: dict, width: int, hide: bool):
    """A titled grid as rich Text: one line per row, each cell padded to ``width``."""
    from rich.text import Text

    text = Text(title + "\n", style="bold")
    for r, row in enumerate(_rows(grid)):
        for c, value in enumerate(row):
            shown = "" if value is None and styles.get((r, c)) == "blank" else _fmt(value)
            if hide and value is not None:
                shown = "·"
            kind = styles.get((r, c), "plain")
            left, right = _MARKS.get(kind, "  ")  # the same marks without colour (a pipe, a file)
            text.append(f"{left}{shown:>{width}}{right}", style=_STYLE.get(kind, ""))
            text.append(" ")
        text.append("\n")
    return text


def render(data: dict, number: int):
    """Frame ``number`` of the data as a list of rich renderables."""
    from rich.text import Text

    frame = data["frames"][number]
    hide = bool(data.get("geometry_only"))
    numbers = [_fmt(v) for g in (data["canvas"], data["output"]) for row in _rows(g) for v in row if v is not None]
    width = max(3, *(len(n) for n in numbers))
    out = [Text(f"{data['operation']}  step {number + 1}/{len(data['frames'])}", style="bold")]
    if data["operation"] == "transpose":
        stamps = [f for f in data["frames"] if f["kind"] == "stamp"]
        done = number if frame["kind"] == "stamp" else len(stamps)
        order = [_rc(f["input_index"]) for f in stamps]
        styles = {rc: "current" if k == number else "done" if k < done else "plain" for k, rc in enumerate(order)}
        out.append(_grid("input", data["input"], styles, width, hide))
        out.append(_grid("kernel", data["kernel"], {}, width, hide))
        partial = stamps[done - 1]["partial"] if frame["kind"] == "crop" else frame["partial"]
        cells = {_rc(t["cell"]): "window" for t in frame.get("stamp", ())}
        if frame["kind"] == "crop":
            (tb, ta), (lb, la) = ((0, 0),) * (2 - data["ndim"]) + tuple(tuple(p) for p in data["padding"])
            rows = _rows(partial)
            for r in range(len(rows)):
                for c in range(len(rows[0])):
                    if r < tb or r >= len(rows) - ta or c < lb or c >= len(rows[0]) - la:
                        cells[(r, c)] = "unread"
        out.append(_grid("output before the crop", partial, cells, width, hide))
        if frame["kind"] == "crop":
            out.append(_grid("output", data["output"], {}, width, hide))
    else:
        taps = {_rc(t["cell"]): t for t in frame["taps"]}
        sources = data["canvas_source"] if data["ndim"] == 2 else [data["canvas_source"]]
        styles = {}
        canvas = _rows(data["canvas"])
        ur, uc = (0,) * (2 - data["ndim"]) + tuple(data["unread"])
        for r, row in enumerate(canvas):
            for c, _ in enumerate(row):
                padded = _is_padding(data, r, c, sources)
                styles[(r, c)] = "padding" if padded else "plain"
                if (ur and r >= len(canvas) - ur) or (uc and c >= len(row) - uc):
                    styles[(r, c)] = "unread"
                if (r, c) in taps:
                    styles[(r, c)] = "window"
        if frame.get("winner") is not None:
            styles[_rc(frame["winner"])] = "winner"
        out.append(_grid("input (padding in grey)", data["canvas"], styles, width, hide))
        if data["applied_kernel"] is not None and data["ndim"] == 1:  # the kernel tape under the taps
            row = [None] * len(canvas[0])
            for t in frame["taps"]:
                row[t["cell"][0]] = t["weight"]
            blank = {(0, c): "blank" for c, v in enumerate(row) if v is None}
            out.append(_grid("kernel (under the cells it reads)", row, blank, width, False))
        elif data["applied_kernel"] is not None:
            title = "kernel, flipped (convolve)" if data["operation"] == "convolve" else "kernel"
            out.append(_grid(title, data["applied_kernel"], {}, width, hide))
        order = [_rc(f["output_index"]) for f in data["frames"]]
        values = _rows(data["output"])
        shown = [[None] * len(values[0]) for _ in values]
        marks = {}
        for k, (r, c) in enumerate(order[: number + 1]):
            shown[r][c] = values[r][c]
            marks[(r, c)] = "current" if k == number else "done"
        blanks = {(r, c): "blank" for r in range(len(values)) for c in range(len(values[0])) if (r, c) not in marks}
        out.append(_grid("output", shown if data["ndim"] == 2 else shown[0], {**blanks, **marks}, width, hide))
    if not hide:
        out.append(Text(frame["expression"]))
    for line in data["formula"]:
        out.append(Text(line, style="dim"))
    return out


def _is_padding(data: dict, r: int, c: int, sources) -> bool:
    (pb, _), (qb, _) = ((0, 0),) * (2 - data["ndim"]) + tuple(tuple(p) for p in data["padding"])
    rows = _rows(data["input"])
    return not (pb <= r < pb + len(rows) and qb <= c < qb + len(rows[0]))


def show(data: dict, numbers=None) -> None:
    """Print the frames (``numbers``, 0-based, default all): step by step with a key on a terminal, all otherwise."""
    from rich.console import Console

    order = list(range(len(data["frames"]))) if numbers is None else list(numbers)
    frames = len(order)
    interactive = sys.stdout.isatty() and sys.stdin.isatty()
    # not a terminal: no wrapping at rich's default 80 columns (a row of a grid stays one line)
    console = Console(highlight=False, soft_wrap=not interactive)
    if not interactive:
        for i in order:
            for part in render(data, i):
                console.print(part)
            console.print()
        return
    with _keys() as getkey:
        i = 0
        while True:
            console.clear()
            for part in render(data, order[i]):
                console.print(part)
            console.print(_KEYS, style="dim")
            key = getkey()
            if key in ("q", "Q", "\x1b", "\x03", ""):
                return
            if key in ("b", "B", "\x1b[D", "p"):
                i = max(0, i - 1)
            elif i == frames - 1:
                return
            else:
                i += 1


class _keys:
    """Single key presses for the step view, the terminal in cbreak mode throughout.

    Held in cbreak mode (no echo, no line buffering) for the whole view rather than per key,
    so a key pressed while a frame is drawn is neither echoed over it nor lost; Ctrl-C still
    interrupts. The terminal's settings come back on the way out, however the view ends.
    Without termios (Windows) each key is read with ``click.getchar``.
    """

    def __enter__(self):
        self.saved = None
        try:
            import termios
            import tty

            self.fd = sys.stdin.fileno()
            self.saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        except (ImportError, OSError, ValueError):
            return click.getchar
        return self.read

    def read(self) -> str:
        import os
        import select

        key = os.read(self.fd, 1)
        if key == b"\x1b":  # an arrow key is ESC [ X: take the rest if it is already there
            while select.select([self.fd], [], [], 0.05)[0] and len(key) < 3:
                key += os.read(self.fd, 1)
        return key.decode("utf-8", "replace")

    def __exit__(self, *exc):
        if self.saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
        return False
