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
    "inputs", "crops",
)


@click.command("shape")
@click.option("-i", "--input", "input_text", metavar="HxWxC",
              help="Input shape: HxWxC, HxW (one channel) or N (a flat vector), e.g. 32x32x3. "
                   "Optional for a zoo network (its own input size is the default).")
@click.option("-l", "--layers", "spec", metavar="SPEC",
              help="Comma-separated layers, e.g. conv5x8,pool2,conv5x16,pool2,fc120,fc84,fc10, or a zoo "
                   "network's name (see --list), e.g. resnet50.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="A table for people, JSON or CSV for scripts.")
@click.option("--explain", is_flag=True,
              help="Split weights from biases, show padding, start and memory per layer, and the "
                   "formula behind every count (with the course's simplified parameter counts).")
@click.option("--list", "list_zoo", is_flag=True,
              help="List the zoo networks: name, input size, parameters, MACs and what each is.")
@click.option("--print-spec", is_flag=True,
              help="Print the one-line spec of --layers (for a zoo name, the layers it stands for) "
                   "and nothing else, to copy and change.")
def shape_cmd(input_text: str | None, spec: str | None, fmt: str, explain: bool, list_zoo: bool,
              print_spec: bool) -> None:
    """Print each layer's output shape, parameters, MACs and receptive field.

    Nothing is built or allocated: the shapes come from integer arithmetic, so a
    10**9-pixel input answers as fast as a 28×28 one. Notes flag rows and columns a
    stride never reads, strides that skip pixels, dilation holes and checkerboard-prone
    transposed convolutions. Rows are in execution order; for a network with branches
    the 'from' column names the rows a layer reads when it is not the row above
    (in = the network's input), so every add and cat shows what it joins.

    \b
    Layers (options after colons; K, S, P, D may be AxB for height x width):
      conv{K}x{F}   :s{S} :p{P} | :same :valid :full  :d{D} :g{G} | :dw  :k{KH}x{KW}  :nobias
      tconv{K}x{F}  :s{S} :p{P} :op{P} :d{D} :g{G} :nobias  (transposed convolution)
      pool{K} = maxpool{K}, avgpool{K}   :s{S} (default K) :p{P} (<= K/2) | :same  :ceil
      gap  gmp  fc{N} = dense{N} (:nobias)  flatten  relu  relu6  sigmoid  tanh  softplus
      abs  softmax  lcn{K} (default 9)  bn  dropout{P} = dropout:{P} (default 0.5)
      up{F} = upsample{F}  :nearest (default) | :bilinear
      (group)*N and layer*N repeat: (conv3x64:p1,relu)*2,pool2
    A non-square kernel keeps its height in the name: conv3x16:k3x5 is 3x5, 16 filters.

    \b
    Branches and skips:
      add(A|B)      sum of the branches; an empty branch is the block's input:
                    add(conv3x64:p1,bn,relu,conv3x64:p1,bn|),relu   (a ResNet block)
      cat(A|B|...)  concatenation along channels: cat(|bn,relu,conv3x32:p1)  (DenseNet)
      @name         labels a point; cat(@name|) joins it later, centre-cropped if larger (U-Net)

    \b
    Examples:
      cnnconv shape -i 32x32x3 -l conv5x8,pool2,conv5x16,pool2,fc120,fc84,fc10
      cnnconv shape -i 32x32x3 -l conv5x8,pool2,conv5x16,pool2,fc120,fc84,fc10 --explain
      cnnconv shape -i 224x224x3 -l "(conv3x64:p1,relu)*2,pool2,(conv3x128:p1,relu)*2,pool2"
      cnnconv shape -i 28x28 -l conv3x16:same,pool2:ceil,tconv2x8:s2 --format json
      cnnconv shape --list
      cnnconv shape -l resnet50                  (its own 224x224x3 input)
      cnnconv shape -l resnet18 -i 160x160x3 --format csv
      cnnconv shape -l densenet121 --print-spec
    """
    from cnnconv.errors import CnnconvError
    from cnnconv.shape.grammar import LayerSpecError, parse_input_shape
    from cnnconv.shape.summary import summarize_network
    from cnnconv.shape.zoo import find_zoo

    if list_zoo:
        if spec is not None or print_spec or explain:
            raise click.UsageError("--list takes no --layers, --print-spec or --explain")
        _print_zoo(fmt)
        return
    if spec is None:
        raise click.UsageError("give the layers with -l SPEC (or a zoo network's name: see --list)")
    zoo = find_zoo(spec)
    if print_spec:
        from cnnconv.shape.grammar import parse_network

        try:
            click.echo(parse_network(spec).spec.strip())
        except LayerSpecError as exc:
            raise LayerSpecUsageError(str(exc), spec, exc.pos, exc.length) from None
        return
    if input_text is None:
        if zoo is None:
            raise click.UsageError("give the input shape with -i HxWxC, e.g. -i 32x32x3 (only a zoo network "
                                   "has its own input size: see --list)")
        input_shape = zoo.input_shape
    else:
        try:
            input_shape = parse_input_shape(input_text)
        except CnnconvError as exc:
            raise click.BadParameter(str(exc), param_hint="'-i' / '--input'") from None
    try:
        summary = summarize_network(input_shape, spec)
    except LayerSpecError as exc:
        shown = zoo.spec if zoo is not None else spec  # positions are offsets into the zoo spec
        hint = f" (the zoo network {zoo.name} at {_dims(input_shape)})" if zoo is not None else ""
        raise LayerSpecUsageError(str(exc) + hint, shown, exc.pos, exc.length) from None
    if fmt == "json":
        click.echo(_json(summary))
    elif fmt == "csv":
        click.echo(_csv(summary), nl=False)
    else:
        print_shape_table(summary, explain)


def _dims(shape) -> str:
    return "x".join(map(str, shape))


def zoo_rows() -> list[dict]:
    """One record per zoo network: name, input, output, params, MACs, description, spec."""
    from cnnconv.shape.summary import summarize_network
    from cnnconv.shape.zoo import ZOO

    rows = []
    for zoo in ZOO.values():
        t = summarize_network(zoo.input_shape, zoo.spec).totals()
        rows.append({"name": zoo.name, "input": list(zoo.input_shape), "output": list(t["output"]),
                     "params": t["params"], "macs": t["macs"], "layers": t["layers"],
                     "description": zoo.description, "spec": zoo.spec})
    return rows


def _print_zoo(fmt: str) -> None:
    rows = zoo_rows()
    if fmt == "json":
        import json

        click.echo(json.dumps({"networks": rows}, ensure_ascii=False, indent=2))
        return
    if fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        fields = ("name", "input", "output", "params", "macs", "layers", "description", "spec")
        writer.writerow(fields)
        for r in rows:
            writer.writerow([_dims(r[f]) if f in ("input", "output") else r[f] for f in fields])
        click.echo(buffer.getvalue(), nl=False)
        return
    columns = ("name", "input", "output", "params", "MACs", "description")
    cells = [{"name": r["name"], "input": "×".join(map(str, r["input"])), "output": "×".join(map(str, r["output"])),
              "params": f"{r['params']:,}", "MACs": f"{r['macs']:,}", "description": r["description"]}
             for r in rows]
    for line in _table_lines(columns, cells, None, numeric={"params", "MACs"}):
        click.echo(line)
    click.echo("")
    click.echo("Use a name wherever a spec goes: cnnconv shape -l resnet50 (its own input size; -i overrides), "
               "cnnconv train DATA --layers NAME; cnnconv shape -l NAME --print-spec prints its layers.")


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
            " ".join(map(str, r.inputs)), " ".join(",".join(map(str, c)) for c in r.crops),
        ])
    t = summary.totals()
    rf, jump, start = t["rf"] or ("", ""), t["jump"] or ("", ""), t["start"] or ("", "")
    writer.writerow([
        "", "TOTAL", "", "x".join(map(str, summary.input)), "x".join(map(str, t["output"])),
        t["activations"], t["activation_bytes"], t["weights"], t["biases"], t["params"], t["buffers"],
        t["course_params"], t["macs"], *rf, *jump, *start, int(t["rf_bound"]), "", "", "", "", "", "",
        f"{t['warnings']} warning(s)", "", "",
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
    """The table of ``cnnconv shape`` (and of ``cnnconv train`` before it trains) on stdout.

    Plain text laid out here rather than by rich: a DenseNet-121 has 426 rows, which rich
    takes about a second to measure and wrap, and ``shape`` answers in a fraction of that.
    """
    from cnnconv.shape.layer_kinds import count

    t = summary.totals()
    chain = all(r.inputs in ((), (r.index - 1,)) for r in summary.rows)
    columns = ["#", "layer"] + ([] if chain else ["from"]) + ["output", "activations"]
    columns += ["weights", "biases", "params", "course"] if explain else ["params"]
    columns += ["MACs", "RF", "jump"] + (["start", "padding", "memory"] if explain else []) + ["notes"]
    footer = {"layer": "total", "activations": f"{t['activations']:,}", "weights": f"{t['weights']:,}",
              "biases": f"{t['biases']:,}", "params": f"{t['params']:,}", "course": f"{t['course_params']:,}",
              "MACs": f"{t['macs']:,}", "memory": format_bytes(t["activation_bytes"])}
    colour = _colour()
    rows = [{
        "#": str(r.index), "layer": r.text, "from": _from(r), "output": _shape(r.output, r.flat),
        "activations": f"{r.activations:,}", "weights": f"{r.weights:,}", "biases": f"{r.biases:,}",
        "params": f"{r.params:,}", "course": f"{r.course_params:,}", "MACs": f"{r.macs:,}",
        "RF": "all" if r.rf_global else _pair(r.rf, r.rf_bound), "jump": _pair(r.jump),
        "start": _pair(r.start), "padding": _padding(r.padding, r.kind), "memory": format_bytes(r.memory_bytes),
        "notes": [*r.notes, *(f"⚠ {w}" for w in r.warnings)],
    } for r in summary.rows]
    numeric = {"#", "activations", "weights", "biases", "params", "course", "MACs", "RF", "jump", "memory"}
    click.echo(f"input {_shape(summary.input, summary.input_flat)} ({count(summary.input):,} values); "
               "MACs = multiply-accumulates per sample, bias adds not counted; RF in input pixels")
    click.echo("")
    for line in _table_lines(columns, rows, footer, numeric, colour=colour):
        click.echo(line)
    click.echo("")
    for line in [*_footer(summary, t, colour), *(_explain(summary, t) if explain else [])]:
        click.echo(line)


def _from(row) -> str:
    """The rows a layer reads, when not just the row above (``in``: the network's input)."""
    if row.inputs in ((), (row.index - 1,)):
        return ""
    return ", ".join("in" if k == 0 else str(k) for k in row.inputs)


def _colour() -> bool:
    """Warnings in yellow on a terminal (never in a pipe or file, nor under NO_COLOR)."""
    import sys

    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _width() -> int:
    """The terminal's width; 160 for a pipe or file unless COLUMNS says otherwise (do not squeeze to 80)."""
    import shutil
    import sys

    if "COLUMNS" in os.environ or sys.stdout.isatty():
        return shutil.get_terminal_size((160, 24)).columns
    return 160


def _table_lines(columns, rows, footer, numeric, colour: bool = False) -> list[str]:
    """Aligned text lines: header, a rule, the rows, then ``footer`` (a dict, or None) after a blank line.

    Cells are strings, except ``notes`` (a list of strings, wrapped to the room left by the
    other columns, at least 24 wide; a line starting with ⚠ is a warning). Numbers are
    never cut: a table wider than the terminal wraps on the terminal instead.
    """
    import textwrap

    last = columns[-1]
    wraps = last == "notes"
    widths = {name: max(len(name), len((footer or {}).get(name, "")),
                        *(len(row[name]) for row in rows if name != "notes")) for name in columns}
    if wraps:
        fixed = sum(widths[name] + 3 for name in columns if name != last)
        longest = max((len(note) for row in rows for note in row[last]), default=0)
        widths[last] = max(len(last), min(longest, max(24, _width() - fixed - 2)))

    def line(cells: dict) -> str:
        parts = [cells.get(name, "").rjust(widths[name]) if name in numeric else cells.get(name, "").ljust(widths[name])
                 for name in columns]
        return "  " + "   ".join(parts)

    out = [line({name: name for name in columns}).rstrip(), " " + "─" * (sum(widths.values()) + 3 * len(columns) - 1)]
    indent = " " * (2 + sum(widths[name] + 3 for name in columns[:-1]))
    for row in rows:
        if not wraps:
            out.append(line(row).rstrip())
            continue
        pieces = [(piece, note.startswith("⚠")) for note in row[last]
                  for piece in textwrap.wrap(note, widths[last], break_on_hyphens=False) or [""]]
        head = line({**row, last: ""})[: len(indent)]
        out.append((head + _paint(pieces[0], colour)) if pieces else head.rstrip())
        out.extend(indent + _paint(piece, colour) for piece in pieces[1:])
    if footer is not None:
        out += ["", line(footer).rstrip()]
    return out


def _paint(piece, colour: bool) -> str:
    text, warn = piece
    return click.style(text, fg="yellow") if warn and colour else text


def _footer(summary, t, colour: bool) -> list[str]:
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
                     f"{_pair(t['start'])} (after layer {row.index}, {row.text}){bound}")
    merges = [r for r in summary.rows if r.kind in ("add", "cat")]
    if merges:
        adds = sum(r.kind == "add" for r in merges)
        lines.append(f"branches: {adds} add and {len(merges) - adds} cat merge(s); "
                     "'from' names the rows each reads (in = the input)")
    if t["warnings"]:
        lines.append(_paint((f"{t['warnings']} warning(s): see the notes column", True), colour))
    return lines


def _explain(summary, t) -> list[str]:
    lines = ["", "how each count is made (weights + biases; MACs = output positions · weights per position):"]
    for r in summary.rows:
        if r.params_formula or r.macs_formula:
            macs = f"; MACs {r.macs_formula} = {r.macs:,}" if r.macs_formula else ""
            course = f"; course {r.course_params:,}" if r.course_params != r.params else ""
            lines.append(f"  {r.index} {r.text}: {r.params_formula} = {r.params:,}{macs}{course}")
    lines.append(f"course total {t['course_params']:,} vs standard {t['params']:,}: {_COURSE_NOTE}")
    lines.append("RF = receptive field in input pixels; jump = input pixels between neighbouring outputs; "
                 "start = first input pixel the first output sees (negative: in the padding)")
    return lines
