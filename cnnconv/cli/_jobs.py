"""Jobs for ``filter`` and ``pool``: inputs expanded, outputs named, checked before any work.

A job is one input (a path, or ``-`` with the stdin bytes) and its output paths. Usage
mistakes in naming raise ``click.UsageError`` (exit 2); an input that names nothing, or
whose output would overwrite an input, becomes a failed input that the batch reports.
Only click and the standard library are imported at module level.
"""

from __future__ import annotations

import glob
import os
import re
import string
import sys
from dataclasses import dataclass
from pathlib import Path

import click



@dataclass(frozen=True)
class Job:
    """One input and its output paths: ``input`` is a path or ``-``, whose bytes are in ``data``."""

    input: str
    outputs: tuple[str, ...]
    data: bytes | None = None


_GLOB_CHARS = re.compile(r"[*?\[]")
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")
TEMPLATE_FIELDS = ("stem", "ext", "name", "parent", "kernel", "op", "size", "index")


@dataclass(frozen=True)
class Inputs:
    """What the input arguments name: the paths in order, arguments naming nothing, notes.

    ``subfolders`` maps a path found by ``--recursive`` in a sub-folder of a directory
    argument to that sub-folder (relative to the argument), which ``--out-dir`` mirrors.
    """

    paths: list[str]
    problems: list[tuple[str, str]]
    notes: list[str]
    subfolders: dict[str, str]


def expand_inputs(arguments: tuple[str, ...], *, recursive: bool = False, exclude: str | None = None) -> Inputs:
    """The paths to process, in order, and (argument, reason) for arguments that name nothing.

    ``-`` stays as is (stdin); a directory gives the files whose suffix cnnconv reads
    (:func:`cnnconv.io.formats.input_files`: sorted, not hidden; its sub-folders too with
    ``recursive``), and one note counts the files it skipped; ``exclude`` (the output
    folder) is never walked into, so a rerun does not read its own outputs. A pattern the
    shell did not expand is globbed here.
    """
    from cnnconv.io.formats import describe_suffixes, input_files  # the registry of input kinds

    paths: list[str] = []
    problems: list[tuple[str, str]] = []
    notes: list[str] = []
    subfolders: dict[str, str] = {}
    skip = Path(exclude).resolve() if exclude else None
    for argument in arguments:
        if argument == "-":
            paths.append(argument)
        elif os.path.isdir(argument):
            root = Path(argument)
            within = lambda p: skip is not None and (p.resolve() == skip or skip in p.resolve().parents)  # noqa: E731
            found = [p for p in input_files(root, recursive=recursive) if not within(p)]
            others = sum(1 for p in (root.rglob("*") if recursive else root.iterdir())
                         if p.is_file() and not within(p)
                         and not any(part.startswith(".") for part in p.relative_to(root).parts)) - len(found)
            if others:
                notes.append(f"{argument}: skipped {others} file{'s' * (others != 1)} whose suffix is not an image or "
                             f"array cnnconv reads ({describe_suffixes()})")
            if not found:
                problems.append((argument, f"no images or arrays in this directory ({describe_suffixes()})"))
            for p in found:
                if p.parent != root:
                    subfolders[str(p)] = str(p.parent.relative_to(root))
            paths.extend(str(p) for p in found)
        elif _GLOB_CHARS.search(argument) and not os.path.exists(argument):
            found = sorted(p for p in glob.glob(argument) if os.path.isfile(p))
            if not found:
                problems.append((argument, "no file matches this pattern"))
            paths.extend(found)
        else:
            paths.append(argument)
    seen: set[str] = set()
    unique = [p for p in paths if not (p in seen or seen.add(p))]
    return Inputs(unique, problems, notes, subfolders)


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
    template: str, fields: dict[str, str], subfolders: dict[str, str] | None = None,
) -> list[list[str]]:
    """For each input, one output path per label (one label unless several kernels).

    ``subfolders`` (input -> relative folder, from ``--recursive``) puts an output in that
    folder under ``out_dir``, created as needed.

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
        folder = os.path.join(out_dir, (subfolders or {}).get(source, ""))
        if folder != os.path.join(out_dir, ""):
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise click.UsageError(f"--out-dir {folder}: cannot create it: {exc.strerror or exc}") from None
        names.append([os.path.join(folder, template.format(**dict(values, kernel=safe_label(label))))
                      for label in labels])
    flat = [n for group in names for n in group]
    duplicates = sorted({n for n in flat if flat.count(n) > 1})
    if duplicates:
        raise click.UsageError(
            f"two outputs would both be {duplicates[0]}; add {{index}} or {{parent}} to --name"
        )
    return names


def prepare_jobs(options: dict, labels: list[str], fields: dict[str, str]) -> tuple[list[Job], list[tuple[str, str]]]:
    """Jobs (input, stdin data, outputs) from the common options, and inputs failed already.

    Usage mistakes (output naming, unknown output suffix) raise ``click.UsageError``; an
    argument naming nothing, an output that is an input, or empty stdin is a failed input.
    """
    from cnnconv.io.atomic import InputFiles

    found = expand_inputs(options["inputs"], recursive=options.get("recursive", False), exclude=options["out_dir"])
    inputs, failures = found.paths, found.problems
    if not options.get("quiet"):
        from cnnconv.cli._common import notice

        for note in found.notes:
            click.echo(notice("note", note), err=True)
    if not inputs:
        return [], failures
    outputs = output_paths(inputs, labels, output=options["output"], out_dir=options["out_dir"],
                           template=options["name_template"], fields=fields, subfolders=found.subfolders)
    from cnnconv.io.formats import describe_suffixes, input_kind

    for path in (p for group in outputs for p in group if p != "-"):
        if input_kind(path) is None:
            raise click.UsageError(
                f"output {path}: unknown suffix {Path(path).suffix or '(none)'!r}; "
                f"use one of {describe_suffixes()}"
            )
    guard = InputFiles(inputs)
    jobs = []
    for source, paths in zip(inputs, outputs):
        clash = next(((path, named) for path in paths if (named := guard.find(path)) is not None), None)
        if clash is not None:
            path, named = clash
            which = "this input file" if named == source else f"the input file {named}"
            failures.append((source, f"the output {path} is {which}; choose another output name so the input "
                                     "is not destroyed"))
            continue
        data = None
        if source == "-":
            data = sys.stdin.buffer.read()
            if not data:
                failures.append(("<stdin>", "no data on stdin; pipe an image or array into cnnconv"))
                continue
        jobs.append(Job(source, tuple(paths), data))
    return jobs, failures
