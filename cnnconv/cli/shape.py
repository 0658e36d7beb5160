"""``cnnconv shape``: a network's shapes, parameters, MACs and receptive fields from one line."""

from __future__ import annotations

import os

import click

from cnnconv.cli._common import EXIT_USAGE, CliError

_MACS_NOTE = "multiply-accumulates per sample of conv/tconv/fc weights; bias adds, pooling and activations not counted"
_COURSE_NOTE = (
    "course convention (the lecture notes' CNN Example table): a conv filter is one k×k kernel shared by all input channels "
    "(k·k·filters + filters), an fc layer has a single bias (n_in·n_out + 1)"
)
_CSV_FIELDS = (
    "index", "layer", "kind", "input", "output", "activations", "memory_bytes", "weights", "biases",
    "params", "buffers", "course_params", "macs", "rf_h", "rf_w", "jump_h", "jump_w", "start_h",
    "start_w", "rf_bound", "rf_global", "pad_top", "pad_bottom", "pad_left", "pad_right", "notes", "warnings",
)


@click.command("shape")
@click.option("-i", "--input", "input_text", required=True, metavar="HxWxC",
              help="Input shape: HxWxC, HxW (one channel) or N (a flat vector), e.g. 32x32x3.")
@click.option("-l", "--layers", "spec", required=True, metavar="SPEC",
              help="Comma-separated layers, e.g. conv5x8,pool2,conv5x16,pool2,fc120,fc84,fc10.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="A table for people, JSON or CSV for scripts.")
@click.option("--explain", is_flag=True,
              help="Split weights from biases, show padding, start and memory per layer, and the "
                   "formula behind every count (with the course's simplified parameter counts).")
def shape_cmd(input_text: str, spec: str, fmt: str, explain: bool) -> None:
    """Print each layer's output shape, parameters, MACs and receptive field.

    Nothing is built or allocated: the shapes come from integer arithmetic, so a
    10**9-pixel input answers as fast as a 28×28 one. Notes flag rows and columns a
    stride never reads, strides that skip pixels, dilation holes and checkerboard-prone
    transposed convolutions.

    \b
    Layers (options after colons; K, S, P, D may be AxB for height x width):
      conv{K}x{F}   :s{S} :p{P} | :same :valid :full  :d{D} :g{G} | :dw  :k{KH}x{KW}
      tconv{K}x{F}  :s{S} :p{P} :op{P} :d{D} :g{G}     (transposed convolution)
      pool{K} = maxpool{K}, avgpool{K}   :s{S} (default K) :p{P} (<= K/2) :ceil
      gap  gmp  fc{N} = dense{N}  flatten  relu  sigmoid  tanh  softplus  abs
      softmax  lcn{K} (default 9)  bn  dropout{P} = dropout:{P} (default 0.5)
      (group)*N and layer*N repeat: (conv3x64:p1,relu)*2,pool2
    A non-square kernel keeps its height in the name: conv3x16:k3x5 is 3x5, 16 filters.

    \b
    Examples:
      cnnconv shape -i 32x32x3 -l conv5x8,pool2,conv5x16,pool2,fc120,fc84,fc10
      cnnconv shape -i 32x32x3 -l conv5x8,pool2,conv5x16,pool2,fc120,fc84,fc10 --explain
      cnnconv shape -i 224x224x3 -l "(conv3x64:p1,relu)*2,pool2,(conv3x128:p1,relu)*2,pool2"
      cnnconv shape -i 28x28 -l conv3x16:same,pool2:ceil,tconv2x8:s2 --format json
    """
    from cnnconv.errors import CnnconvError
    from cnnconv.shape.grammar import LayerSpecError, parse_input_shape
    from cnnconv.shape.summary import summarize_network

    try:
        input_shape = parse_input_shape(input_text)
    except CnnconvError as exc:
        raise click.BadParameter(str(exc), param_hint="'-i' / '--input'") from None
    try:
        summary = summarize_network(input_shape, spec)
    except LayerSpecError as exc:
        raise LayerSpecUsageError(str(exc), spec, exc.pos, exc.length) from None
    if fmt == "json":
        click.echo(_json(summary))
    elif fmt == "csv":
        click.echo(_csv(summary), nl=False)
    else:
        print_shape_table(summary, explain)


class LayerSpecUsageError(CliError):
    """A bad layer spec: the error line, then the spec with a caret under the bad part (exit 2).

    The one display of a layer-spec error, for ``shape --layers`` and ``train --layers``.
    """

    exit_code = EXIT_USAGE

    def __init__(self, message: str, spec: str | None = None, pos: int = 0, length: int = 1):
        super().__init__(message)
        self.spec, self.pos, self.length = spec, pos, length

    def show(self, file=None) -> None:
        super().show(file)
        for line in caret_lines(self.spec, self.pos, self.length) if self.spec is not None else []:
            click.echo(line, err=True)


def caret_lines(spec: str, pos: int, length: int, width: int = 72) -> list[str]:
    """The spec (a window of it when long) and a line underlining ``length`` chars at ``pos``."""
    start = max(0, min(pos - width // 3, len(spec) - width))
    end = min(len(spec), start + width)
    left = "…" if start else ""
    right = "…" if end < len(spec) else ""
    shown = spec[start:end].replace("\t", " ").replace("\n", " ")
    under = min(length, end - pos) if pos < end else 1
    return [f"  {left}{shown}{right}", "  " + " " * (len(left) + pos - start) + "^" + "~" * max(under - 1, 0)]


def _json(summary) -> str:
    import json

    data = summary.as_dict()
    data["units"] = {"memory": "bytes per sample, float32", "macs": _MACS_NOTE, "course_params": _COURSE_NOTE}
    return json.dumps(data, ensure_ascii=False, indent=2)


def _csv(summary) -> str:
    import csv
    import io

    def pair(value, i):
        return "" if value is None else value[i]

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_CSV_FIELDS)
    for r in summary.rows:
        writer.writerow([
            r.index, r.text, r.kind, "x".join(map(str, r.input)), "x".join(map(str, r.output)),
            r.activations, r.memory_bytes, r.weights, r.biases, r.params, r.buffers, r.course_params,
            r.macs, *r.rf, pair(r.jump, 0), pair(r.jump, 1), pair(r.start, 0), pair(r.start, 1),
            int(r.rf_bound), int(r.rf_global), *r.padding, "; ".join(r.notes), "; ".join(r.warnings),
        ])
    t = summary.totals()
    rf, jump, start = t["rf"] or ("", ""), t["jump"] or ("", ""), t["start"] or ("", "")
    writer.writerow([
        "", "TOTAL", "", "x".join(map(str, summary.input)), "x".join(map(str, t["output"])),
        t["activations"], t["activation_bytes"], t["weights"], t["biases"], t["params"], t["buffers"],
        t["course_params"], t["macs"], *rf, *jump, *start, int(t["rf_bound"]), "", "", "", "", "", "",
        f"{t['warnings']} warning(s)",
    ])
    return buffer.getvalue()


def _pair(value, bound: bool = False) -> str:
    if value is None:
        return "—"
    text = str(value[0]) if value[0] == value[1] else f"{value[0]}×{value[1]}"
    return ("≤" if bound else "") + text


def _shape(dims, flat: bool) -> str:
    return f"{dims[2]:,}" if flat else "×".join(map(str, dims))


def format_bytes(n: int) -> str:
    value, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if value < 1024 or unit == "EiB":
            break
        value /= 1024
    return f"{n:,} B" if unit == "B" else f"{value:,.1f} {unit}"


def _padding(pads, kind: str) -> str:
    if not any(pads):
        return ""
    text = str(pads[0]) if len(set(pads)) == 1 else "{},{} {},{}".format(*pads)
    return f"crop {text}" if kind == "tconv" else text


def print_shape_table(summary, explain: bool) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    t = summary.totals()
    columns = ["#", "layer", "output", "activations"]
    columns += ["weights", "biases", "params", "course"] if explain else ["params"]
    columns += ["MACs", "RF", "jump"] + (["start", "padding", "memory"] if explain else []) + ["notes"]
    footer = {"layer": "total", "activations": f"{t['activations']:,}", "weights": f"{t['weights']:,}",
              "biases": f"{t['biases']:,}", "params": f"{t['params']:,}", "course": f"{t['course_params']:,}",
              "MACs": f"{t['macs']:,}", "memory": format_bytes(t["activation_bytes"])}
    rows = [{
        "#": str(r.index), "layer": r.text, "output": _shape(r.output, r.flat),
        "activations": f"{r.activations:,}", "weights": f"{r.weights:,}", "biases": f"{r.biases:,}",
        "params": f"{r.params:,}", "course": f"{r.course_params:,}", "MACs": f"{r.macs:,}",
        "RF": "all" if r.rf_global else _pair(r.rf, r.rf_bound), "jump": _pair(r.jump),
        "start": _pair(r.start), "padding": _padding(r.padding, r.kind), "memory": format_bytes(r.memory_bytes),
        "notes": "\n".join([*map(_escape, r.notes), *(f"[yellow]⚠ {_escape(w)}[/]" for w in r.warnings)]),
    } for r in summary.rows]
    widths = {name: max(len(name), len(footer.get(name, "")), *(len(row[name]) for row in rows))
              for name in columns}
    widths["notes"] = 24
    table = Table(box=box.SIMPLE_HEAD, show_footer=True, footer_style="bold")
    for name in columns:
        numeric = name in ("#", "activations", "weights", "biases", "params", "course", "MACs", "RF", "jump", "memory")
        table.add_column(name, footer.get(name, ""), justify="right" if numeric else "left",
                         min_width=widths[name], overflow="fold")
    for row in rows:
        table.add_row(*(row[name] if name == "notes" else _escape(row[name]) for name in columns))
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=160)  # a pipe or file: do not squeeze to 80
    needed = sum(widths.values()) + 3 * len(columns)
    if needed > console.width:  # never crush a number: let a narrow terminal wrap the lines
        console = Console(highlight=False, width=needed)
    from cnnconv.shape.layer_kinds import count

    console.print(f"input {_shape(summary.input, summary.input_flat)} ({count(summary.input):,} values); "
                  "MACs = multiply-accumulates per sample, bias adds not counted; RF in input pixels")
    console.print(table)
    for line in [*_footer(summary, t), *(_explain(summary, t) if explain else [])]:
        console.print(line)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _footer(summary, t) -> list[str]:
    lines = [
        f"parameters: {t['params']:,} ({t['weights']:,} weights + {t['biases']:,} biases) = "
        f"{format_bytes(t['param_bytes'])} as float32" + (f"; plus {t['buffers']:,} non-trainable buffers" if t["buffers"] else ""),
        f"MACs: {t['macs']:,} per sample (conv/tconv/fc weights; bias adds, pooling and activations not counted)",
        f"activations: {t['activations']:,} values per sample = {format_bytes(t['activation_bytes'])} as float32 "
        f"(all layer outputs; the input adds {format_bytes(t['input_bytes'])})",
    ]
    if t["rf"] is not None:
        row = summary.rows[t["rf_layer"] - 1]
        bound = " (an upper bound: a transposed convolution comes before)" if t["rf_bound"] else ""
        lines.append(f"receptive field: {_pair(t['rf'])} pixels, jump {_pair(t['jump'])}, first output starts at "
                     f"{_pair(t['start'])} (after layer {row.index}, {_escape(row.text)}){bound}")
    if t["warnings"]:
        lines.append(f"[yellow]{t['warnings']} warning(s): see the notes column[/]")
    return lines


def _explain(summary, t) -> list[str]:
    lines = ["", "how each count is made (weights + biases; MACs = output positions · weights per position):"]
    for r in summary.rows:
        if r.params_formula or r.macs_formula:
            macs = f"; MACs {r.macs_formula} = {r.macs:,}" if r.macs_formula else ""
            course = f"; course {r.course_params:,}" if r.course_params != r.params else ""
            lines.append(f"  {r.index} {_escape(r.text)}: {r.params_formula} = {r.params:,}{macs}{course}")
    lines.append(f"course total {t['course_params']:,} vs standard {t['params']:,}: {_COURSE_NOTE}")
    lines.append("RF = receptive field in input pixels; jump = input pixels between neighbouring outputs; "
                 "start = first input pixel the first output sees (negative: in the padding)")
    return lines
