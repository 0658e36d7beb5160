"""``--scheduler``: a batch on a Dask cluster, one task per file, reported as ``--jobs`` reports it.

:class:`DaskCluster` is the :class:`cnnconv.cli._batch.Executor` that submits the
batch's call (:func:`cnnconv.cli._batch.safe_call` bound to the worker and the task) of every job to a ``dask.distributed`` scheduler
(``tcp://host:8786``) or to a cluster of local processes it starts (``local``), and yields
each file's record as it finishes; :func:`cnnconv.cli._batch.run_batch` does the rest
(progress bar, JSON lines, the failure list, the exit status), the same code as for
``--jobs``.

Workers read and write the paths they are given, so they need the same files at the same
place (a shared file system). Relative paths are made absolute against this process's
working directory before a task leaves, and the record that comes back says them as the
user wrote them, so messages and JSON lines are those ``--jobs`` prints.

A worker that dies mid-task: the scheduler gives its tasks to another worker (outputs are
written whole or not at all, so a rerun writes the same bytes). A task whose workers died
``allowed-failures`` times (Dask's setting, 3 by default) comes back as that file's
failure, as does a task the cluster lost: no file goes missing from the report.

``distributed`` is imported only when a batch runs on a cluster (the ``dask`` extra).
"""

from __future__ import annotations

import logging
import os
import signal
import time
import warnings
from dataclasses import dataclass

from cnnconv.cli._common import EXIT_USAGE, CliError
from cnnconv.cli._signals import stop_requests

#: The extra that installs the cluster scheduler, named in the message when it is missing.
EXTRA = "dask"
#: Seconds to wait for a scheduler to answer before saying it cannot be reached.
CONNECT_TIMEOUT = 10


class MissingDask(CliError):
    """``--scheduler`` without ``distributed`` installed: a setup to fix, exit 2."""

    exit_code = EXIT_USAGE


def require_distributed() -> None:
    """Raise :class:`MissingDask` (naming the extra) unless ``distributed`` can be imported."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise MissingDask(
            f"--scheduler runs the batch on a Dask cluster, which needs the '{EXTRA}' extra: "
            f"pip install 'cnnconv[{EXTRA}]' (or leave out --scheduler to use --jobs on this machine)"
        ) from None


def check_address(value: str) -> str:
    """``local`` or a scheduler address (``tcp://host:8786``, ``host:8786``); else ``CliError`` exit 2.

    >>> check_address("local"), check_address("tcp://10.0.0.5:8786"), check_address("node7:8786")
    ('local', 'tcp://10.0.0.5:8786', 'node7:8786')
    """
    text = value.strip()
    if text.lower() == "local":
        return "local"
    _, _, rest = text.rpartition("://")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        error = CliError(f"--scheduler {value!r}: give 'local' or the scheduler's address, "
                         "e.g. tcp://host:8786 (as 'dask scheduler' prints it)")
        error.exit_code = EXIT_USAGE
        raise error
    return text


def batch_workers(options: dict) -> tuple[str | None, int]:
    """``--scheduler`` checked, and the workers ``--jobs`` asks for (a local cluster: the CPUs by default).

    With a scheduler's address the cluster has the workers it was started with, so an explicit
    ``--jobs`` there is a usage error rather than silently ignored.
    """
    import click

    scheduler, jobs = options.get("scheduler"), options["jobs"]
    if scheduler is None:
        return None, jobs
    scheduler = check_address(scheduler)
    require_distributed()
    explicit = click.get_current_context().get_parameter_source("jobs") == click.core.ParameterSource.COMMANDLINE
    if scheduler != "local":
        if explicit:
            raise click.UsageError(f"--jobs sets this machine's processes; the cluster at {scheduler} has the "
                                   "workers it was started with: leave out --jobs (or use --scheduler local --jobs N)")
        return scheduler, 1
    return scheduler, jobs if explicit else max(1, os.cpu_count() or 1)


def _shown(name: str) -> str:
    return "<stdin>" if name == "-" else name


def absolute_job(job, base: str):
    """``job`` with its relative paths joined to ``base``, and (absolute, as given) pairs to undo it.

    >>> from cnnconv.cli._jobs import Job
    >>> job, undo = absolute_job(Job("a.png", ("out/a.png", "-")), "/data")
    >>> job.input, job.outputs, undo
    ('/data/a.png', ('/data/out/a.png', '-'), [('/data/out/a.png', 'out/a.png'), ('/data/a.png', 'a.png')])
    """
    from dataclasses import replace

    def place(path: str) -> str:
        return path if path == "-" or os.path.isabs(path) else os.path.join(base, path)

    placed = replace(job, input=place(job.input), outputs=tuple(place(p) for p in job.outputs))
    pairs = {place(p): p for p in (job.input, *job.outputs) if place(p) != p}
    return placed, sorted(pairs.items(), key=lambda pair: -len(pair[0]))


def as_given(value, undo: list[tuple[str, str]]):
    """``value`` (a record) with every absolute path of ``undo`` said as the user gave it.

    >>> as_given({"input": "/d/a.png", "error": "/d/a.png: corrupt", "n": [1, "/d/a.png"]}, [("/d/a.png", "a.png")])
    {'input': 'a.png', 'error': 'a.png: corrupt', 'n': [1, 'a.png']}
    """
    if isinstance(value, str):
        for absolute, given in undo:
            value = value.replace(absolute, given)
        return value
    if isinstance(value, dict):
        return {key: as_given(item, undo) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(as_given(item, undo) for item in value)
    return value


def run_on_worker(job, *, call, base: str) -> dict:
    """The task a cluster worker runs: ``call`` of the job placed at ``base``, its record said as given."""
    placed, undo = absolute_job(job, base)
    return as_given(call(placed), undo)


def lost(job, future) -> dict:
    """The failure record of a file whose task the cluster did not finish."""
    from distributed.scheduler import KilledWorker

    name = _shown(job.input)
    exc = None if future.status == "cancelled" else future.exception()
    if isinstance(exc, KilledWorker):
        why = ("every worker that ran it died (the scheduler gave up on it); it may need more memory "
               "than a worker has: try --gray, a smaller image, or workers with more memory")
    elif exc is None:
        why = "the cluster lost its task (a scheduler restart or a lost connection); run it again"
    else:
        why = f"the cluster could not run it: {type(exc).__name__}: {exc}"
    return {"input": job.input, "ok": False, "error": f"{name}: {why}"}


def map_bands_on_cluster(work, bands):
    """Yield ``work(band)`` for every band, in order, each computed as a task of this worker's cluster.

    Runs inside a file's task (the worker writing the output): it leaves the worker's thread
    pool while it waits (``worker_client``), so that worker computes bands too. At most two
    bands per worker are in flight, so the bands waiting to be written stay few. A band
    whose worker dies is computed again by the scheduler; one that fails ends the file.
    """
    from collections import deque

    from distributed import worker_client

    with worker_client() as client:
        window = 2 * max(1, len(client.scheduler_info().get("workers", ())))
        pending: deque = deque()
        try:
            for band in bands:
                pending.append(client.submit(work, band, pure=False))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def quiet_logs() -> None:
    """Silence Dask's loggers in this process: their lines would be stray text on stderr.

    ``distributed`` gives some of its loggers levels of their own (``distributed.client``
    warns as it reschedules a lost worker's keys), so each is set, not only the parent.
    What the user needs to know comes back in the files' records.
    """
    names = [name for name in logging.root.manager.loggerDict if name.split(".")[0] in ("distributed", "tornado")]
    for name in ("distributed", "tornado", *names):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


@dataclass(frozen=True)
class DaskCluster:
    """Run every job as one task on a Dask cluster (see the module's text).

    ``address`` is ``local`` (a cluster of ``workers`` local processes on the loopback
    address, started for this batch and stopped after it) or a running scheduler's address.
    """

    address: str
    workers: int = 1

    def results(self, call, jobs):
        if not jobs:
            return
        from distributed import as_completed

        client, cluster = self._connect()
        futures = {}
        try:
            # One map, not a submit per file: the scheduler gets the batch in one message.
            prefix = f"cnnconv-{os.getpid()}-{time.time_ns():x}"
            mapped = client.map(run_on_worker, jobs, call=call, base=os.getcwd(), pure=False,
                                key=[f"{prefix}-{index}" for index in range(len(jobs))])
            futures = dict(zip(mapped, jobs))
            for future in as_completed(mapped):
                # A task can finish on a worker that dies before its record is fetched: the
                # future is then 'lost' and the scheduler runs it again, so result() waits for
                # that run. Only a task that errs (KilledWorker) or is cancelled is a failure.
                try:
                    record = future.result()
                except Exception:
                    record = lost(futures[future], future)
                yield record
        finally:
            for future in futures:  # an interrupted batch leaves nothing queued on the cluster
                future.cancel()
            client.close()
            if cluster is not None:
                cluster.close()
            from cnnconv.io.atomic import remove_abandoned_temporaries

            # a worker killed as it wrote leaves its temporary (the file ran again elsewhere); no task runs now
            remove_abandoned_temporaries(o for job in jobs for o in job.outputs if o != "-")

    def _connect(self):
        """A client of the scheduler (and the local cluster it runs on, or None)."""
        from distributed import Client, LocalCluster

        quiet_logs()
        if self.address == "local":
            import dask

            # Dask's nannies set MALLOC_TRIM_THRESHOLD_ in their workers, which turns off glibc's
            # adaptive mmap threshold: every image-sized array is then a fresh mmap and its page
            # faults (NumPy allocation loops ran ~10x slower in a worker here). cnnconv's tasks
            # allocate and free image-sized arrays all the time, so the local workers go without.
            # A signal while the cluster starts waits until it is up (interrupted half-way, Dask's
            # exit handler fails on it with a traceback); then the cluster is closed and the
            # signal delivered again, to do what it does anywhere else in the command.
            with stop_requests() as stop, warnings.catch_warnings(), dask.config.set(
                    {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                # e.g. "Port 8787 is already in use": not the user's concern
                warnings.simplefilter("ignore")
                # The dashboard on a free port: even "disabled", the scheduler would try 8787 and warn.
                cluster = LocalCluster(n_workers=max(1, self.workers), threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=":0", silence_logs=logging.CRITICAL)
                if stop.requested:
                    cluster.close()
            if stop.requested:
                signal.raise_signal(stop.signum)
                import click  # the signal's handler did not end the command: end it here

                click.echo(f"cnnconv: {stop.what}", err=True)
                raise click.exceptions.Exit(stop.exit_code)
            return Client(cluster), cluster
        try:
            return Client(self.address, timeout=CONNECT_TIMEOUT), None
        except (OSError, TimeoutError) as exc:
            raise CliError(f"--scheduler {self.address}: no Dask scheduler answers there ({exc}); start one with "
                           "'dask scheduler' and workers with 'dask worker ADDRESS', or use --scheduler local") from None
