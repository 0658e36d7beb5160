"""Batch machinery shared by ``filter`` and ``pool``: inputs, output names, parallel runs, reports.

A command turns its arguments into a list of jobs (one per input file, each with its
output paths), then :func:`run_batch` runs a worker on every job, in parallel processes
with ``--jobs N``, shows a progress bar on a terminal, prints one JSON line per file with
``--json``, goes on past a bad file and ends with every failure listed and exit status 1.
Only click and the standard library are imported at module level.
"""

from __future__ import annotations

import glob
import json
import os
import re
import string
import sys
from collections.abc import Callable
from pathlib import Path

import click

from cnnconv.cli._common import EXIT_FAILED

_GLOB_CHARS = re.compile(r"[*?\[]")
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")
TEMPLATE_FIELDS = ("stem", "ext", "name", "parent", "kernel", "op", "size", "index")


def readable_suffixes() -> set[str]:
    """File suffixes taken from a directory or a glob: images and arrays."""
    from cnnconv.io.arrays import ARRAY_SUFFIXES
    from cnnconv.io.images import IMAGE_FORMATS

    return set(IMAGE_FORMATS) | set(ARRAY_SUFFIXES)


def expand_inputs(arguments: tuple[str, ...]) -> tuple[list[str], list[tuple[str, str]]]:
    """Paths to process, in order, and (argument, reason) for arguments that name nothing.

    ``-`` stays as is (stdin); a directory gives its image and array files (sorted, not
    hidden, not recursive); a pattern the shell did not expand is globbed here.
    """
    suffixes = readable_suffixes()
    paths: list[str] = []
    problems: list[tuple[str, str]] = []
    for argument in arguments:
        if argument == "-":
            paths.append(argument)
        elif os.path.isdir(argument):
            found = sorted(
                str(p) for p in Path(argument).iterdir()
                if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes
            )
            if not found:
                problems.append((argument, f"no images or arrays in this directory ({', '.join(sorted(suffixes))})"))
            paths.extend(found)
        elif _GLOB_CHARS.search(argument) and not os.path.exists(argument):
            found = sorted(p for p in glob.glob(argument) if os.path.isfile(p))
            if not found:
                problems.append((argument, "no file matches this pattern"))
            paths.extend(found)
        else:
            paths.append(argument)
    seen: set[str] = set()
    unique = [p for p in paths if not (p in seen or seen.add(p))]
    return unique, problems


def check_template(template: str) -> None:
    """Raise ``click.BadParameter`` for a name template with unknown fields."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise click.BadParameter(f"{template!r}: {exc}", param_hint="--name") from None
    unknown = [f for f in fields if f not in TEMPLATE_FIELDS]
    if unknown:
        raise click.BadParameter(
            f"{template!r}: unknown field {{{unknown[0]}}}; use {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}",
            param_hint="--name",
        )
    if "/" in template or os.sep in template:
        raise click.BadParameter(f"{template!r}: a name, not a path; use --out-dir for the directory",
                                 param_hint="--name")


def safe_label(label: str) -> str:
    """A kernel or operation label made safe for a file name.

    >>> safe_label("gaussian:sigma=2"), safe_label("kernels/my edge.txt")
    ('gaussian-sigma=2', 'kernels-my-edge.txt')
    """
    return _UNSAFE.sub("-", label).strip("-.") or "out"


def output_paths(
    inputs: list[str], labels: list[str], *, output: str | None, out_dir: str | None,
    template: str, fields: dict[str, str],
) -> list[list[str]]:
    """For each input, one output path per label (one label unless several kernels).

    Raises ``click.UsageError`` (exit 2) when the outputs cannot be named unambiguously.
    """
    if output and out_dir:
        raise click.UsageError("give either -o/--output or --out-dir, not both")
    if output:
        if len(inputs) != 1:
            raise click.UsageError(f"-o names one output but there are {len(inputs)} inputs; use --out-dir DIR")
        if len(labels) == 1:
            return [[output]]
        if output == "-":
            raise click.UsageError("several kernels give several outputs: '-o -' takes one; add --combine")
        base = Path(output)
        return [[str(base.with_name(f"{base.stem}-{safe_label(label)}{base.suffix}")) for label in labels]]
    if out_dir is None:
        if inputs == ["-"] and len(labels) == 1:
            return [["-"]]
        raise click.UsageError("say where the output goes: -o FILE for one input, or --out-dir DIR")
    check_template(template)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise click.UsageError(f"--out-dir {out_dir}: cannot create it: {exc.strerror or exc}") from None
    names: list[list[str]] = []
    for index, source in enumerate(inputs, start=1):
        path = Path("stdin.png" if source == "-" else source)
        values = dict(fields, stem=path.stem, ext=path.suffix, name=path.name,
                      parent=path.resolve().parent.name, index=str(index))
        names.append([os.path.join(out_dir, template.format(**dict(values, kernel=safe_label(label))))
                      for label in labels])
    flat = [n for group in names for n in group]
    duplicates = sorted({n for n in flat if flat.count(n) > 1})
    if duplicates:
        raise click.UsageError(
            f"two outputs would both be {duplicates[0]}; add {{index}} or {{parent}} to --name"
        )
    return names


def run_batch(
    jobs: list[dict], worker: Callable[[dict, dict], dict], params: dict, *,
    n_jobs: int, json_lines: bool, verbose: bool, quiet: bool,
    failures: list[tuple[str, str]] = (),
) -> None:
    """Run ``worker(job, params)`` for every job and report; exit 1 if any file failed.

    ``worker`` must be a module-level function (it may run in another process) returning
    a JSON-ready record with ``input``, ``ok`` and either ``outputs`` or ``error``; bytes
    for stdout travel in ``record["stdout"]``.
    """
    show_bar = len(jobs) > 1 and not quiet and sys.stderr.isatty()
    if show_bar:  # rich only for the bar (and the notes printed above it): a plain run never imports it
        from cnnconv.cli._common import stderr_console

        console = stderr_console()
    else:
        console = None
    to_stdout = any(o == "-" for job in jobs for o in job["outputs"])
    failed = [{"input": name, "ok": False, "error": f"{name}: {reason}"} for name, reason in failures]
    for record in failed:
        _report(record, console, json_lines, verbose, quiet, to_stdout)
    for record in _results(jobs, worker, params, n_jobs, show_bar, console):
        if "stdout" in record:
            _to_stdout(record)
        _report(record, console, json_lines, verbose, quiet, to_stdout)
        if not record["ok"]:
            failed.append(record)
    if failed:
        for record in failed:
            click.echo(f"cnnconv: error: {record['error']}", err=True)
        total = len(jobs) + len(failures)
        if total > 1:
            click.echo(f"cnnconv: {len(failed)} of {total} inputs failed", err=True)
        click.get_current_context().exit(EXIT_FAILED)


def _to_stdout(record: dict) -> None:
    data = record.pop("stdout")
    binary = record["outputs"][0]["format"] not in ("csv", "txt")
    if binary and sys.stdout.isatty():
        record.update(ok=False, error=f"{_shown(record['input'])}: refusing to write image data to a terminal; "
                                      "redirect stdout (> out.png) or use -o FILE")
        return
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _shown(name: str) -> str:
    return "<stdin>" if name == "-" else name


def _results(jobs, worker, params, n_jobs, show_bar, console):
    progress = None
    if show_bar:
        from rich.progress import Progress

        progress = Progress(console=console, transient=True)
        task = progress.add_task("working", total=len(jobs))
        progress.start()
    try:
        if n_jobs > 1 and len(jobs) > 1:
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(max_workers=min(n_jobs, len(jobs))) as pool:
                futures = [pool.submit(safe_call, worker, job, params) for job in jobs]
                try:
                    for future in as_completed(futures):
                        if progress:
                            progress.advance(task)
                        yield future.result()
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
        else:
            for job in jobs:
                record = safe_call(worker, job, params)
                if progress:
                    progress.advance(task)
                yield record
    finally:
        if progress:
            progress.stop()


def safe_call(worker, job: dict, params: dict) -> dict:
    """``worker(job, params)``, with any exception turned into a failure record (a batch goes on)."""
    from cnnconv.errors import CnnconvError

    name = job["input"]
    try:
        return worker(job, params)
    except CnnconvError as exc:
        message = str(exc)
    except MemoryError:
        message = "not enough memory for this image; try --gray, a smaller image, or fewer --jobs"
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop a batch
        message = f"internal error: {type(exc).__name__}: {exc} (please report it)"
    shown = _shown(name)
    if not message.startswith(f"{shown}:"):
        message = f"{shown}: {message}"
    return {"input": name, "ok": False, "error": message}


def _report(record: dict, console, json_lines: bool, verbose: bool, quiet: bool, to_stdout: bool) -> None:
    if json_lines:
        click.echo(json.dumps(record, default=str), err=to_stdout)
        return
    if not record["ok"]:
        return  # listed together at the end
    name = _shown(record["input"])
    lines = [] if quiet else [f"cnnconv: note: {name}: {note}" for note in record.get("notes", [])]
    for out in record.get("outputs", []):
        target = "<stdout>" if out["output"] == "-" else out["output"]
        if not quiet:
            lines += [f"cnnconv: note: {target}: {note}" for note in out.get("notes", [])]
        if verbose:
            line = f"{name} -> {target}: {'x'.join(map(str, out['shape']))} {out['dtype']}"
            if out.get("min") is not None:
                line += f", values {out['min']:.6g}..{out['max']:.6g} before the cast"
                line += f", {out['clipped']} clipped" if out.get("clipped") is not None else ""
            lines.append(line)
    for line in lines:  # through the console when a progress bar runs, so it stays below the text
        if console is None:
            click.echo(line, err=True)
        else:
            console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)


def prepare_jobs(options: dict, labels: list[str], fields: dict[str, str]) -> tuple[list[dict], list[tuple[str, str]]]:
    """Jobs (input, stdin data, outputs) from the common options, and inputs failed already.

    Usage mistakes (output naming, unknown output suffix) raise ``click.UsageError``; an
    argument naming nothing, an output that is an input, or empty stdin is a failed input.
    """
    from cnnconv.errors import CnnconvError
    from cnnconv.io.atomic import refuse_overwriting_inputs

    inputs, failures = expand_inputs(options["inputs"])
    if not inputs:
        return [], failures
    outputs = output_paths(inputs, labels, output=options["output"], out_dir=options["out_dir"],
                           template=options["name_template"], fields=fields)
    suffixes = readable_suffixes()
    for path in (p for group in outputs for p in group if p != "-"):
        if Path(path).suffix.lower() not in suffixes:
            raise click.UsageError(
                f"output {path}: unknown suffix {Path(path).suffix or '(none)'!r}; "
                f"use one of {', '.join(sorted(suffixes))}"
            )
    jobs = []
    for source, paths in zip(inputs, outputs):
        job = {"input": source, "outputs": paths}
        try:
            for path in paths:
                refuse_overwriting_inputs(path, inputs)
        except CnnconvError as exc:
            failures.append((source, str(exc)[len(source) + 2:]))
            continue
        if source == "-":
            job["data"] = sys.stdin.buffer.read()
            if not job["data"]:
                failures.append(("<stdin>", "no data on stdin; pipe an image or array into cnnconv"))
                continue
        jobs.append(job)
    return jobs, failures


def common_params(options: dict) -> dict:
    """The per-file settings every worker reads."""
    return {k: options[k] for k in ("max_pixels", "gray", "range_mode")}
