"""Jobs for ``filter`` and ``pool``: inputs expanded, outputs named, checked before any work.

A job is one input (a path, or ``-`` with the stdin bytes) and its output paths. Usage
mistakes in naming raise ``click.UsageError`` (exit 2); an input that names nothing, or
whose output would overwrite an input, becomes a failed input that the batch reports.
Only click and the standard library are imported at module level.
"""

from __future__ import annotations

import errno
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
TEMPLATE_FIELDS = ("stem", "ext", "name", "parent", "kernel", "op", "size", "index", "kernel_index")
#: Fields that are numbers (so ``{index:03d}`` gives ``007``); the others are text.
NUMBER_FIELDS = ("index", "kernel_index")
#: The longest name one path component may have on common file systems (bytes).
NAME_MAX = 255


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
    from cnnconv.io.formats import DIRECTORY_SUFFIXES, describe_suffixes, input_files  # the registry of input kinds
    from cnnconv.io.oserrors import describe

    paths: list[str] = []
    problems: list[tuple[str, str]] = []
    notes: list[str] = []
    subfolders: dict[str, str] = {}
    skip = Path(os.path.realpath(exclude)) if exclude else None
    for argument in arguments:
        if argument == "-":
            paths.append(argument)
        elif os.path.isdir(argument) and Path(argument).suffix.lower() not in DIRECTORY_SUFFIXES:
            root = Path(argument)
            within = lambda p: skip is not None and (_real(p) == skip or skip in _real(p).parents)  # noqa: E731
            unreadable: list = []
            try:
                found = [p for p in input_files(root, recursive=recursive, unreadable=unreadable) if not within(p)]
            except OSError as exc:  # a folder that cannot be read is this argument's failure, not the batch's
                problems.append((argument, describe(exc)))
                continue
            problems.extend((str(folder), describe(exc)) for folder, exc in unreadable)
            others = sum(1 for p in (root.rglob("*") if recursive else root.iterdir())
                         if p.is_file() and not within(p)
                         and not any(part.startswith(".") or Path(part).suffix.lower() in DIRECTORY_SUFFIXES
                                     for part in p.relative_to(root).parts))
            others -= sum(1 for p in found if p.suffix.lower() not in DIRECTORY_SUFFIXES)
            if others:
                notes.append(f"{argument}: skipped {others} file{'s' * (others != 1)} whose suffix is not an image or "
                             f"array cnnconv reads ({describe_suffixes()})")
            if not found and not unreadable:
                problems.append((argument, f"no images or arrays in this directory ({describe_suffixes()})"))
            for p in found:
                if p.parent != root:
                    subfolders[str(p)] = str(p.parent.relative_to(root))
            paths.extend(str(p) for p in found)
        elif _GLOB_CHARS.search(argument) and not os.path.exists(argument):
            found = sorted(p for p in glob.glob(argument)
                           if os.path.isfile(p) or (Path(p).suffix.lower() in DIRECTORY_SUFFIXES and os.path.isdir(p)))
            if not found:
                problems.append((argument, "no file matches this pattern"))
            paths.extend(found)
        else:
            paths.append(argument)
    seen: set[str] = set()
    unique = [p for p in paths if not (p in seen or seen.add(p))]
    return Inputs(unique, problems, notes, subfolders)


def check_template(template: str) -> None:
    """Raise ``click.BadParameter`` for a name template that cannot name files.

    Unknown fields, a bad conversion (``{stem!x}``) or format spec (``{stem:q}``,
    ``{index:s}``), and a path instead of a name are all usage errors: the template is
    tried on sample values before anything is read.

    >>> check_template("{stem}-{kernel_index:02d}{ext}")
    >>> check_template("{stem!x}.png")
    Traceback (most recent call last):
    ...
    click.exceptions.BadParameter: '{stem!x}.png': Unknown conversion specifier x ({index} and {kernel_index} are numbers, e.g. {index:03d}; the other fields are text)
    """
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
    sample = {f: (1 if f in NUMBER_FIELDS else "x") for f in TEMPLATE_FIELDS}
    try:
        shortest = template.format(**sample)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise click.BadParameter(f"{template!r}: {exc} ({{index}} and {{kernel_index}} are numbers, "
                                 "e.g. {index:03d}; the other fields are text)", param_hint="--name") from None
    if len(os.fsencode(shortest)) > NAME_MAX:
        raise click.BadParameter(f"{template!r} gives names of at least {len(os.fsencode(shortest))} bytes "
                                 f"(file systems allow {NAME_MAX}); use a shorter template", param_hint="--name")
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

    The one planner of output names for ``-o`` and ``--out-dir`` alike: it raises
    ``click.UsageError`` (exit 2) when two outputs would be the same file (the same
    path after ``.``, ``..`` and links are folded), before anything is read or written.
    ``subfolders`` (input -> relative folder, from ``--recursive``) puts an output in that
    folder under ``out_dir``, created as needed.

    Examples
    --------
    >>> output_paths(["a.png"], ["sobel-x", "sobel-y"], output="e.png", out_dir=None, template="", fields={})
    [['e-sobel-x.png', 'e-sobel-y.png']]
    >>> output_paths(["a.png"], ["sobel-x", "sobel-x"], output="e.png", out_dir=None, template="", fields={})
    Traceback (most recent call last):
    ...
    click.exceptions.UsageError: two outputs would both be e-sobel-x.png (kernels 1 and 2 have the same label sobel-x); use --out-dir DIR --name '{stem}-{kernel_index}-{kernel}{ext}' to number them
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
        names = [[str(base.with_name(f"{base.stem}-{safe_label(label)}{base.suffix}")) for label in labels]]
        _refuse_collisions(names, inputs, labels, hint="use --out-dir DIR --name '{stem}-{kernel_index}-{kernel}{ext}'"
                                                       " to number them")
        return names
    if out_dir is None:
        if inputs == ["-"] and len(labels) == 1:
            return [["-"]]
        raise click.UsageError("say where the output goes: -o FILE for one input, or --out-dir DIR")
    check_template(template)
    _make_folder(out_dir)
    names: list[list[str]] = []
    for index, source in enumerate(inputs, start=1):
        path = Path("stdin.png" if source == "-" else source)
        values = dict(fields, stem=path.stem, ext=path.suffix, name=path.name,
                      parent=_real(path).parent.name, index=index)
        folder = os.path.join(out_dir, (subfolders or {}).get(source, ""))
        if folder != os.path.join(out_dir, ""):
            _make_folder(folder)
        names.append([os.path.join(folder, template.format(**dict(values, kernel=safe_label(label),
                                                                  kernel_index=kernel_index)))
                      for kernel_index, label in enumerate(labels, start=1)])
    more = " or {kernel_index}" if len(labels) > 1 else ""
    _refuse_collisions(names, inputs, labels, hint=f"add {{index}}{more} or {{parent}} to --name")
    return names


def _real(path) -> Path:
    # os.path.realpath, not Path.resolve: a symbolic link loop is no RuntimeError here (the
    # read that follows reports it as one line).
    return Path(os.path.realpath(path))


def _make_folder(folder: str) -> None:
    """Create an output folder, or ``click.UsageError`` saying why it cannot be (a loop is no "File exists")."""
    from cnnconv.io.oserrors import describe, shown

    try:
        os.makedirs(folder, exist_ok=True)
    except (OSError, ValueError) as exc:
        why = describe(exc)
        if getattr(exc, "errno", None) == errno.EEXIST:  # something is there, but no folder: say what
            try:
                os.stat(folder)
                if not os.path.isdir(folder):
                    why = "it is a file, not a directory"
            except OSError as real:  # a symbolic link loop or a dangling link
                why = describe(real) if real.errno != errno.ENOENT else "a symbolic link to nothing; fix or remove it"
        raise click.UsageError(f"--out-dir {shown(folder)}: cannot create it: {why}") from None


def _refuse_collisions(names: list[list[str]], inputs: list[str], labels: list[str], *, hint: str) -> None:
    """``click.UsageError`` naming the first two planned outputs that are one file."""
    seen: dict[str, tuple[int, int]] = {}
    for i, group in enumerate(names):
        for k, name in enumerate(group):
            key = os.path.normcase(os.path.realpath(name))
            if key not in seen:
                seen[key] = (i, k)
                continue
            (i0, k0) = seen[key]
            if i0 == i:
                why = f"kernels {k0 + 1} and {k + 1} have the same label {safe_label(labels[k])}"
            else:
                why = f"from {inputs[i0]} and {inputs[i]}"
            raise click.UsageError(f"two outputs would both be {name} ({why}); {hint}")


def prepare_jobs(
    options: dict, labels: list[str], fields: dict[str, str], *, also_read: tuple[tuple[str, str], ...] = (),
) -> tuple[list[Job], list[tuple[str, str]]]:
    """Jobs (input, stdin data, outputs) from the common options, and inputs failed already.

    ``also_read`` are the other files the command reads, as (path, what it is), e.g.
    ``("k.txt", "the kernel file")``: an output naming one of them is a usage error,
    as is any other mistake in naming the outputs (a collision, an unknown suffix the
    options chose). An input that names nothing or cannot be looked at, an output that is
    an input or takes an unknown suffix or too long a name from its input's name, and
    empty or closed stdin are failed inputs: the batch does the others and reports these.
    """
    from cnnconv.io.atomic import InputFiles
    from cnnconv.io.formats import describe_suffixes, input_kind
    from cnnconv.io.oserrors import describe

    found = expand_inputs(options["inputs"], recursive=options.get("recursive", False), exclude=options["out_dir"])
    arguments, failures = found.paths, found.problems
    if not options.get("quiet"):
        from cnnconv.cli._common import notice

        for note in found.notes:
            click.echo(notice("note", note), err=True)
    if not arguments:
        return [], failures
    planned = output_paths(arguments, labels, output=options["output"], out_dir=options["out_dir"],
                           template=options["name_template"], fields=fields, subfolders=found.subfolders)
    inputs, outputs = [], []
    for source, paths in zip(arguments, planned):
        if source != "-":
            try:
                os.stat(source)
            except (OSError, ValueError) as exc:  # a missing input is this input's failure; the others go on
                failures.append((source, describe(exc)))
                continue
        inputs.append(source)
        outputs.append(paths)
    settings_files = InputFiles(path for path, _ in also_read)
    what = dict(also_read)
    for path in (p for group in outputs for p in group):
        named = settings_files.find(path)
        if named is not None:
            raise click.UsageError(f"the output {path} is {what.get(named, 'an input')} {named}; choose another "
                                   "output name so it is not destroyed")
    guard = InputFiles(inputs)
    jobs = []
    for source, paths in zip(inputs, outputs):
        long = next((p for p in paths if len(os.fsencode(os.path.basename(p))) > NAME_MAX), None)
        if long is not None:  # the input's own name made it long: this input fails, the others go on
            failures.append((source, f"its output name would be {len(os.fsencode(os.path.basename(long)))} bytes "
                                     f"long (file systems allow {NAME_MAX}); "
                                     + ("give -o a shorter name" if options["output"] else "give --name a shorter template")))
            continue
        bad = next((p for p in paths if p != "-" and input_kind(p) is None), None)
        if bad is not None:
            suffix = Path(bad).suffix
            if options["output"] or suffix.lower() != Path(source).suffix.lower():
                raise click.UsageError(f"output {bad}: unknown suffix {suffix or '(none)'!r}; "
                                       f"use one of {describe_suffixes()}")
            failures.append((source, f"the output {bad} takes its suffix {suffix or '(none)'!r} from this input, "
                                     f"and cnnconv writes only {describe_suffixes()}; give --name a suffix, e.g. "
                                     "--name '{stem}-{kernel}.png'"))
            continue
        clash = next(((path, named) for path in paths if (named := guard.find(path)) is not None), None)
        if clash is not None:
            path, named = clash
            which = "this input file" if named == source else f"the input file {named}"
            failures.append((source, f"the output {path} is {which}; choose another output name so the input "
                                     "is not destroyed"))
            continue
        data = None
        if source == "-":
            if sys.stdin is None:
                failures.append(("<stdin>", "standard input is closed; pipe an image or array into cnnconv"))
                continue
            try:
                data = sys.stdin.buffer.read()
            except OSError as exc:
                failures.append(("<stdin>", describe(exc)))
                continue
            if not data:
                failures.append(("<stdin>", "no data on stdin; pipe an image or array into cnnconv"))
                continue
        jobs.append(Job(source, tuple(paths), data))
    return jobs, failures
