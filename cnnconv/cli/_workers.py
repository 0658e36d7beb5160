"""Worker processes for ``--jobs N``: they die with their parent, and one dying fails only its file.

``concurrent.futures.ProcessPoolExecutor`` does neither: its workers outlive a parent
killed by SIGTERM or SIGKILL (they sit on the call queue, holding the parent's pipes open,
and whatever they were writing stays half-written), and one worker killed by the kernel's
out-of-memory killer breaks the pool, so every file not yet done is lost. This pool is
small and does exactly what a batch needs:

* each worker holds one job at a time, so when a worker dies the parent knows which file
  it held, reports that file as failed with the likely cause (SIGKILL: the out-of-memory
  killer), starts a new worker and finishes the rest. A worker leaves its outputs as
  temporaries and the parent renames them when the worker's report arrives, so a file
  reported as not done never has a new output, however late the worker died;
* a worker asks the kernel for SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``
  on Linux, called through ctypes in the worker's first lines). That is immediate and
  holds even when the parent is killed by SIGKILL, which no handler in the parent can
  see. Where prctl does not exist (macOS, the BSDs) a watchdog thread polls the parent's
  id once a second and does the same when it changes;
* SIGTERM, SIGHUP or SIGINT in a worker (sent by the parent when the batch stops, by
  ``kill`` to the process group, or by the pdeath signal) stops the file it is on at
  once: the exception unwinds through the atomic writer, which removes its temporary
  file, and the worker exits. An idle worker exits too, first removing the temporaries of
  its last file if the parent can no longer rename them: the report never left, or the
  parent is gone (it may die with the report unread in the pipe). It keeps their names
  until the parent sends the next job, which the parent does only after renaming them;
* when the batch ends early (a signal in the parent, an error), the parent sends SIGTERM
  to every worker, waits a few seconds, then SIGKILLs what is left.

Workers are forked where the platform can (Linux): the job function and its settings are
inherited rather than pickled and a worker starts in milliseconds.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator

#: The signals that stop a worker (and the batch).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
#: How long the parent waits for stopped workers before it SIGKILLs them (seconds).
GRACE = 5.0
PR_SET_PDEATHSIG = 1


class _Stop(BaseException):
    """Raised in a worker by a stop signal while it works on a file (unwinds its writes)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def die_with_parent(parent: int) -> str:
    """Arrange for this process to get SIGTERM when ``parent`` (its parent) ends; say how.

    Returns ``"prctl"`` (Linux: the kernel sends it) or ``"watchdog"`` (a thread polls
    ``os.getppid()``). If the parent is already gone, SIGTERM comes at once.

    Examples
    --------
    >>> die_with_parent(os.getppid()) in ("prctl", "watchdog")
    True
    """
    how = "watchdog"
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0:
                how = "prctl"
        except (OSError, AttributeError):
            pass
    if how == "watchdog":
        def watch() -> None:
            import time

            while os.getppid() == parent:
                time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="cnnconv-parent-watchdog", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the request was in place
        os.kill(os.getpid(), signal.SIGTERM)
    return how


def _worker_main(conn, call: Callable[[object], dict], parent: int) -> None:
    from cnnconv.io.atomic import deferring_renames, remove_temporary

    busy = [False]
    folders: list[str] = []
    uncommitted: list[str] = []  # the last file's temporaries, until the parent has renamed them
    reported = [False]

    def abandon_uncommitted() -> None:
        # A parent that is alive renames them when it reads the report, or removes them itself
        # when it stops; after the pdeath signal getppid() already names the new parent.
        if not reported[0] or os.getppid() != parent:
            for path in uncommitted:
                remove_temporary(path)

    def stop(signum, frame):
        if busy[0]:
            # A signal sent to the process group reaches this worker twice (from the sender
            # and from the parent passing it on): a second _Stop raised while the first one
            # unwinds would escape the handler below as a traceback, so later ones are ignored.
            # (A no-op handler, not SIG_IGN: a signal already pending when the handler becomes
            # SIG_IGN makes CPython raise "ignored due to race condition".)
            busy[0] = False
            for other in STOP_SIGNALS:
                signal.signal(other, lambda *_: None)
            raise _Stop(signum)
        abandon_uncommitted()
        os._exit(128 + signum)

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    die_with_parent(parent)
    try:
        while True:
            try:
                item = conn.recv()
            except (EOFError, OSError):  # the parent closed its end: it stopped or died
                abandon_uncommitted()
                os._exit(0)
            uncommitted.clear()  # the parent sends again only once the last report is committed
            if item is None:
                os._exit(0)
            index, job = item
            folders[:] = [os.path.dirname(o) for o in getattr(job, "outputs", ()) if o != "-"]
            busy[0] = True
            with deferring_renames() as written:  # the parent renames them once it has the report
                record = call(job)
            uncommitted[:] = [temporary for temporary, _ in written]
            reported[0] = False
            busy[0] = False
            conn.send((index, record, written))
            reported[0] = True
    except _Stop as exc:
        _sweep(folders)
        os._exit(128 + exc.signum)


def _sweep(folders) -> None:
    """Remove this process's temporaries (a signal may have landed inside ``mkstemp``)."""
    from cnnconv.io.atomic import remove_own_temporaries

    remove_own_temporaries(folders)


def death_cause(exitcode: int | None) -> str:
    """Why a worker ended without a result, in words for the failed file's line.

    >>> death_cause(-9)
    'its worker process was killed by SIGKILL (the out-of-memory killer does this when memory runs out; try fewer --jobs or a smaller image)'
    >>> death_cause(3)
    'its worker process exited with status 3'
    """
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        text = f"its worker process was killed by {name}"
        if -exitcode == signal.SIGKILL:
            text += " (the out-of-memory killer does this when memory runs out; try fewer --jobs or a smaller image)"
        return text
    return f"its worker process exited with status {exitcode}"


class _Worker:
    def __init__(self, context, call, parent: int) -> None:
        import warnings

        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, call, parent), daemon=True)
        with warnings.catch_warnings():  # Python 3.12+ warns about fork with threads (the progress bar's)
            warnings.simplefilter("ignore", DeprecationWarning)
            self.process.start()
        child.close()
        self.current: tuple[int, object] | None = None


class WorkerPool:
    """Jobs spread over ``workers`` processes of this machine (``--jobs N``).

    The :class:`cnnconv.cli._batch.Executor` of local processes: :meth:`results` yields
    one record per job as the jobs finish.

    Examples
    --------
    >>> from cnnconv.cli._workers import WorkerPool
    >>> sorted(WorkerPool(2).results(abs, [-3, 1, -2]))
    [1, 2, 3]
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def results(self, call: Callable[[object], dict], jobs: list) -> Iterator[dict]:
        import multiprocessing
        from multiprocessing.connection import wait

        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        parent = os.getpid()
        pending = deque(enumerate(jobs))
        workers: list[_Worker] = []
        finished = False
        try:
            for _ in range(min(self.workers, len(jobs))):
                workers.append(_Worker(context, call, parent))
            while pending or any(w.current is not None for w in workers):
                for w in workers:
                    if w.current is None and pending:
                        w.current = pending.popleft()
                        w.conn.send(w.current)
                busy = [w for w in workers if w.current is not None]
                ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
                for w in busy:
                    record = None
                    if w.conn in ready or w.process.sentinel in ready:
                        try:
                            if w.conn.poll():
                                _, record, written = w.conn.recv()
                        except (EOFError, OSError):
                            record = None
                        if record is not None:
                            # renamed first, then forgotten: a stop landing in between still finds
                            # the job held, and _stop removes what was not renamed yet
                            record = _committed(record, written)
                            w.current = None
                            yield record
                        elif w.process.sentinel in ready or not w.process.is_alive():
                            w.process.join()
                            _, job = w.current
                            from cnnconv.io.atomic import remove_own_temporaries

                            # what the dead worker was writing: it could not remove it itself
                            remove_own_temporaries([os.path.dirname(o) for o in getattr(job, "outputs", ()) if o != "-"],
                                                   pid=w.process.pid)
                            workers.remove(w)
                            w.conn.close()
                            if pending:
                                workers.append(_Worker(context, call, parent))
                            yield _failed(job, death_cause(w.process.exitcode))
            finished = True
        finally:
            _stop(workers, gently=finished)


def _committed(record: dict, written: list[tuple[str, str]]) -> dict:
    """The worker's outputs renamed into place, now that its report is here; the report."""
    from cnnconv.io.atomic import commit
    from cnnconv.io.oserrors import describe

    try:
        commit(written)
    except OSError as exc:
        return {"input": record.get("input"), "ok": False, "error": f"{record.get('input')}: cannot write: {describe(exc)}"}
    return record


def _failed(job, cause: str) -> dict:
    name = "<stdin>" if job.input == "-" else job.input
    return {"input": job.input, "ok": False, "error": f"{name}: not done: {cause}"}


def _stop(workers: list[_Worker], *, gently: bool) -> None:
    """End every worker: a None job when the batch is done, SIGTERM then SIGKILL when it was stopped."""
    import time

    for w in workers:
        try:
            if gently:
                w.conn.send(None)
            elif w.process.is_alive():
                os.kill(w.process.pid, signal.SIGTERM)
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + GRACE
    for w in workers:
        w.process.join(max(0.0, deadline - time.monotonic()))
        if w.process.is_alive():
            w.process.kill()
            w.process.join()
        w.conn.close()
        if w.current is not None:  # a job whose report never came: what it wrote is never renamed
            from cnnconv.io.atomic import remove_own_temporaries

            job = w.current[1]
            remove_own_temporaries([os.path.dirname(o) for o in getattr(job, "outputs", ()) if o != "-"],
                                   pid=w.process.pid)
