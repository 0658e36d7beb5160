"""Batch machinery shared by ``filter`` and ``pool``: parallel runs and reports.

A command turns its arguments into a list of jobs (one per input file, each with its
output paths: :mod:`cnnconv.cli._jobs`), then :func:`run_batch` runs a worker on every job
through an :class:`Executor` (this process, ``--jobs N`` local processes, or a Dask cluster
with ``--scheduler``), shows a progress bar on a terminal, prints one JSON line per file with
``--json``, goes on past a bad file and ends with every failure listed and exit status 1.
Only click and the standard library are imported at module level.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import Protocol

import click

from cnnconv.cli._common import EXIT_FAILED, error_line, notice, print_line

def run_batch(
    jobs: list, worker: Callable[[object, object], dict], task: object, *,
    n_jobs: int, json_lines: bool, verbose: bool, quiet: bool,
    failures: list[tuple[str, str]] = (), scheduler: str | None = None,
) -> None:
    """Run ``worker(job, task)`` for every job and report; exit 1 if any file failed.

    ``jobs`` are :class:`cnnconv.cli._jobs.Job` records and ``task`` the frozen settings
    every file gets (both picklable); ``worker`` must be a module-level function (it may run in another process) returning
    a JSON-ready record with ``input``, ``ok`` and either ``outputs`` or ``error``; bytes
    for stdout travel in ``record["stdout"]``. The files run where :func:`executor_for` says:
    here, in ``n_jobs`` processes, or on the Dask cluster ``scheduler`` names.
    """
    on_terminal = not quiet and sys.stderr.isatty()
    show_bar = len(jobs) > 1 and on_terminal
    if show_bar:  # rich only for the bar (and the notes printed above it): a plain run never imports it
        from cnnconv.cli._common import stderr_console

        console = stderr_console()
    else:
        console = None
    to_stdout = any(o == "-" for job in jobs for o in job.outputs)
    failed = [{"input": name, "ok": False, "error": f"{name}: {reason}"} for name, reason in failures]
    for record in failed:
        _report(record, console, json_lines, verbose, quiet, to_stdout)
    if not quiet:
        for line in _stale_temporaries(jobs):
            click.echo(line, err=True)
    executor = executor_for(n_jobs, len(jobs), scheduler)
    from cnnconv.cli._signals import stop_raising
    from cnnconv.cli._work import reporting_parts

    # one picture alone: a streamed one shows its bands done instead (the bar appears with the first band)
    parts_bar = _PartsBar(jobs[0].input) if on_terminal and len(jobs) == 1 else None
    try:
        with stop_raising(), reporting_parts(parts_bar):  # SIGTERM, SIGHUP end the batch as Ctrl-C (143, 129, 130)
            for record in _results(jobs, worker, task, executor, show_bar, console):
                if parts_bar is not None:
                    parts_bar.stop()
                if "stdout" in record:
                    _to_stdout(record)
                _report(record, console, json_lines, verbose, quiet, to_stdout)
                if not record["ok"]:
                    failed.append(record)
    except KeyboardInterrupt:  # the signal may have landed inside mkstemp: sweep this process's temporaries
        import os

        from cnnconv.io.atomic import remove_own_temporaries

        remove_own_temporaries(os.path.dirname(o) for job in jobs for o in job.outputs if o != "-")
        raise
    finally:
        if parts_bar is not None:
            parts_bar.stop()
    if failed:
        for record in failed:
            click.echo(error_line(record["error"]), err=True)
        total = len(jobs) + len(failures)
        if total > 1:
            click.echo(f"cnnconv: {len(failed)} of {total} inputs failed", err=True)
        click.get_current_context().exit(EXIT_FAILED)


class _PartsBar:
    """A progress bar over the bands of one streamed picture, started by its first report."""

    def __init__(self, name: str) -> None:
        self.name, self._progress = name, None

    def __call__(self, done: int, total: int) -> None:
        if self._progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            from cnnconv.cli._common import stderr_console

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("bands"), TimeRemainingColumn(), console=stderr_console(),
                                      transient=True)
            self._task = self._progress.add_task(f"{_shown(self.name)}: streamed", total=total)
            self._progress.start()
        self._progress.update(self._task, completed=done, total=total, refresh=True)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _stale_temporaries(jobs: list) -> list[str]:
    """Remove what killed runs left in the output folders; a note line per folder that had some."""
    import os

    from cnnconv.io.atomic import remove_stale_temporaries

    folders = sorted({os.path.dirname(o) or "." for job in jobs for o in job.outputs if o != "-"})
    lines = []
    for folder in folders:
        removed = remove_stale_temporaries(folder)
        if removed:
            lines.append(notice("note", f"{folder}: removed {len(removed)} temporary file{'s' * (len(removed) != 1)} "
                                        "left by a cnnconv run that was killed before it could clean up"))
    return lines


def _to_stdout(record: dict) -> None:
    from cnnconv.io.formats import TEXT_ARRAY_FORMATS

    data = record.pop("stdout")
    binary = record["outputs"][0]["format"] not in TEXT_ARRAY_FORMATS
    if binary and sys.stdout.isatty():
        record.update(ok=False, error=f"{_shown(record['input'])}: refusing to write image data to a terminal; "
                                      "redirect stdout (> out.png) or use -o FILE")
        return
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _shown(name: str) -> str:
    return "<stdin>" if name == "-" else name


class Executor(Protocol):
    """Where a batch's files run: ``call(job)`` once per job, the records as they finish.

    ``call`` is picklable (:func:`safe_call` bound to the worker and the task) and never
    raises for one file's failure (that is the record's ``error``). :meth:`results` yields
    one record per job, in the order the jobs finish, and stops the work it
    started when the consumer stops early (an interrupt). Three implementations: in this
    process (:class:`InProcess`), a pool of local processes (:class:`ProcessPool`,
    ``--jobs N``) and a Dask cluster (:class:`cnnconv.cli._cluster.DaskCluster`,
    ``--scheduler``).
    """

    def results(self, call: Callable[[object], dict], jobs: list) -> Iterator[dict]:
        ...


class InProcess:
    """Every job in this process, one after the other (``--jobs 1``)."""

    def results(self, call, jobs):
        for job in jobs:
            yield call(job)


def ProcessPool(workers: int):  # noqa: N802 - the name the Executor protocol's docs and callers use
    """The jobs spread over ``workers`` processes of this machine (``--jobs N``).

    A :class:`cnnconv.cli._workers.WorkerPool`: workers that die with their parent, stop
    cleanly on a signal, and whose death fails only the file they held.
    """
    from cnnconv.cli._workers import WorkerPool

    return WorkerPool(workers)


def executor_for(n_jobs: int, n_inputs: int, scheduler: str | None = None) -> Executor:
    """The executor ``--jobs`` and ``--scheduler`` ask for (the cluster is connected when it runs).

    >>> type(executor_for(1, 10)).__name__, type(executor_for(4, 10)).__name__, type(executor_for(4, 1)).__name__
    ('InProcess', 'WorkerPool', 'InProcess')
    """
    if scheduler is not None:
        from cnnconv.cli._cluster import DaskCluster

        return DaskCluster(scheduler, workers=n_jobs)
    if n_jobs > 1 and n_inputs > 1:
        return ProcessPool(n_jobs)
    return InProcess()


def _results(jobs, worker, task, executor, show_bar, console):
    progress = None
    if show_bar:
        from rich.progress import Progress

        progress = Progress(console=console, transient=True)
        bar = progress.add_task("working", total=len(jobs))
        progress.start()
    from functools import partial

    records = executor.results(partial(safe_call, worker, task=task), jobs)
    # records come as files finish; they are reported in input order, as with one job
    order = {job.input: i for i, job in enumerate(jobs)}
    waiting: dict[int, dict] = {}
    following = 0
    try:
        for record in records:
            if progress:
                progress.advance(bar)
            key = order.get(record["input"])
            waiting[len(jobs) + len(waiting) if key is None else key] = record
            while following in waiting:
                yield waiting.pop(following)
                following += 1
        yield from (waiting[i] for i in sorted(waiting))  # any a cluster named otherwise
    finally:
        records.close()  # stops what the executor started, before the bar goes
        if progress:
            progress.stop()


def safe_call(worker, job, task) -> dict:
    """``worker(job, task)``, with any exception turned into a failure record (a batch goes on)."""
    from cnnconv.errors import CnnconvError

    name = job.input
    try:
        return worker(job, task)
    except CnnconvError as exc:
        message = str(exc)
    except (OSError, RuntimeError) as exc:  # a read the io layer did not wrap: ELOOP, EACCES, EIO...
        from cnnconv.io.oserrors import describe, file_error

        if isinstance(exc, RuntimeError) and describe(exc) == str(exc):
            message = f"internal error: {type(exc).__name__}: {exc} (please report it)"
        else:
            message = file_error(exc, name)
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
        from cnnconv.io import numbers  # strict JSON: a NaN is null and a field says why

        click.echo(numbers.dumps(record), err=to_stdout)
        return
    if not record["ok"]:
        return  # listed together at the end
    name = _shown(record["input"])
    lines = [] if quiet else [notice("note", f"{name}: {note}") for note in record.get("notes", [])]
    for out in record.get("outputs", []):
        target = "<stdout>" if out["output"] == "-" else out["output"]
        if not quiet:
            lines += [notice("note", f"{target}: {note}") for note in out.get("notes", [])]
        if verbose:
            line = f"{name} -> {target}: {'x'.join(map(str, out['shape']))} {out['dtype']}"
            if out.get("min") is not None:
                line += f", values {out['min']:.6g}..{out['max']:.6g} before the cast"
                line += f", {out['clipped']} clipped" if out.get("clipped") is not None else ""
            lines.append(line)
    for line in lines:  # through the console when a progress bar runs, so it stays below the text
        print_line(console, line)
