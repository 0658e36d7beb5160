"""``cnnconv kernels``: list the named kernels, or print one kernel's matrix."""

from __future__ import annotations

import json
import sys

import click


@click.command("kernels")
@click.argument("spec", required=False, metavar="[KERNEL]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with the weights) instead of text.")
@click.option("--digits", type=click.IntRange(1, 17), default=None, metavar="N",
              help="Round the printed weights to N significant digits (default: exact, so the output "
                   "can be saved and read back as the same kernel).")
def kernels_cmd(spec: str | None, as_json: bool, digits: int | None) -> None:
    """List the bundled kernels, or print the matrix of one KERNEL.

    KERNEL is anything --kernel of 'cnnconv filter' takes: a bundled name, a file
    (.txt, .csv, .mat, .npy), an inline matrix, a parametric kernel or an ImageMagick
    kernel string (a list, like 'Sobel:>', prints each kernel in turn). The matrix is
    printed in the text kernel format, so the output can be saved and used as a file.
    Weights are shown as correlation applies them (row 0 at the top, column 0 at the left).

    \b
    Examples:
      cnnconv kernels
      cnnconv kernels sobel-x
      cnnconv kernels gaussian:sigma=1.5 > blur.txt
      cnnconv kernels log:sigma=1 --digits 3
      cnnconv kernels "1,2,1; 0,0,0; -1,-2,-1" --json
      cnnconv kernels "3x3+0+0: 1,2,1 2,4,2 1,2,1"
      cnnconv kernels Sobel:@
    """
    from cnnconv.errors import CnnconvError
    from cnnconv.io.kernels import list_bundled, load_kernels
    from cnnconv.kernels import kernel_info

    if spec is None:
        infos = [kernel_info(k) for k in list_bundled()]
        if as_json:
            kernels = {k.name: k for k in list_bundled()}
            objects = [_dumps({**i, "weights": kernels[i["name"]].weights.tolist()}) for i in infos]
            click.echo("[\n" + ",\n".join(objects) + "\n]")
        elif sys.stdout.isatty():
            _rich_list(infos)
        else:
            _plain_list(infos)
        return
    try:
        kernels = load_kernels(spec)
    except CnnconvError as exc:
        raise click.BadParameter(str(exc), param_hint="KERNEL") from None
    infos = [kernel_info(kernel) for kernel in kernels]
    if as_json:
        objects = [{**info, "weights": kernel.weights.tolist()} for kernel, info in zip(kernels, infos)]
        click.echo(_dumps(objects[0] if len(objects) == 1 else objects))
    else:  # a list (ImageMagick's ';' or rotation flags): one kernel after another, a blank line between
        click.echo("\n".join(kernel_text(kernel, info, digits) for kernel, info in zip(kernels, infos)), nl=False)


def _fmt_sum(value: float) -> str:
    return f"{value:.6g}"


def _separable(info: dict) -> str:
    return {True: "yes", False: "no", None: "-"}[info["separable"]]


def _forms() -> list[str]:
    from cnnconv.kernels.parametric import PARAMETRIC_FORMS

    return [
        "parametric: " + ", ".join(PARAMETRIC_FORMS),
        "also: a file (.txt .csv .mat .npy) or an inline matrix like '1,2,1; 0,0,0; -1,-2,-1'",
        "'cnnconv kernels NAME' prints a matrix",
    ]


def _plain_list(infos: list[dict]) -> None:
    rows = [("name", "size", "sum", "separable", "description")]
    rows += [(i["name"], i["size"], _fmt_sum(i["sum"]), _separable(i), i["description"]) for i in infos]
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])
    click.echo("")
    for line in _forms():
        click.echo(line)


def _rich_list(infos: list[dict]) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in ("name", "size", "sum", "separable", "description"):
        table.add_column(name, justify="right" if name in ("size", "sum") else "left",
                         no_wrap=name != "description")
    for i in infos:
        table.add_row(*(escape(s) for s in (i["name"], i["size"], _fmt_sum(i["sum"]), _separable(i), i["description"])))
    console = Console(highlight=False)
    console.print(table)
    for line in _forms():
        console.print(escape(line))


def _number(value: float, digits: int | None = None) -> str:
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value)) if digits is None else f"{value:.{digits}g}"


def _scale_text(scale: float) -> str:
    inverse = 1 / scale
    if abs(scale) < 1 and abs(inverse - round(inverse)) < 1e-9 * abs(inverse):
        return f"1/{round(inverse)}"
    return _number(scale)


def kernel_text(kernel, info: dict, digits: int | None = None) -> str:
    """The kernel in the text kernel format, with its facts as comments after the description."""
    if info["separable"] is None:
        separable = f"{kernel.shape[2]} channels"
    else:
        separable = f"{'separable' if info['separable'] else 'not separable'} (rank {info['rank']})"
    lines = [f"# {kernel.description or kernel.name}",
             f"# {kernel.name}: {info['size']}, sum {_fmt_sum(info['sum'])}, {separable}"]
    weights = kernel.weights if kernel.weights.ndim == 3 else kernel.weights[:, :, None]
    for c in range(weights.shape[2]):
        if c:
            lines.append("---")
        cells = [[_number(v, digits) for v in row] for row in weights[:, :, c]]
        width = max(len(cell) for row in cells for cell in row)
        lines += [" ".join(cell.rjust(width) for cell in row) for row in cells]
    if kernel.scale != 1:
        lines.append(f"scale {_scale_text(kernel.scale)}")
    if kernel.offset:
        lines.append(f"offset {_number(kernel.offset)}")
    if kernel.origin is not None:
        lines.append(f"origin {kernel.origin[0]} {kernel.origin[1]}")
    return "\n".join(lines) + "\n"


def _dumps(value) -> str:
    """Strict JSON (:func:`cnnconv.io.numbers.dumps`: a NaN is null and a field says why)."""
    from cnnconv.io.numbers import dumps

    return dumps(value)
