"""Signals, worker deaths and stale temporaries in real processes (cnnconv.cli._workers, _signals).

Every test starts ``python -m cnnconv filter`` on a folder of pictures big enough that the
batch is still running when the signal comes, sends a real signal (to the parent, or to
the whole process group as ``timeout`` and systemd do) or SIGKILLs one real worker, and
then checks what the promise says: the exit code, no worker left alive, no temporary file
left, every output present either whole or absent, and the files a dead worker did not
hold finished. Waits are bounded (a stuck process fails the test, it does not hang it).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ENV = dict(os.environ, PYTHONIOENCODING="utf-8", COLUMNS="120")
KERNEL = "gaussian:sigma=6"  # slow enough per file that a batch of 24 runs for seconds
N_FILES = 24


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pictures")
    values = np.random.default_rng(0).integers(0, 256, (700, 700), dtype=np.uint8)
    for i in range(N_FILES):
        Image.fromarray(np.roll(values, i, axis=1)).save(folder / f"in{i:02d}.png")
    return folder


def start(pictures: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cnnconv", "filter", str(pictures), "-k", KERNEL, "--out-dir", str(out), *extra],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def wait_for(predicate, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return status != "Z"


def computing(pid: int) -> bool:
    """Whether one of the process's threads is running (a worker computing, not waiting for a job)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            if (task / "stat").read_text().rsplit(")", 1)[1].split()[0] == "R":
                return True
        except (OSError, IndexError):
            continue
    return False


def outputs_whole(out: Path) -> list[str]:
    """The output names; every one must open as a whole PNG and no temporary may be left."""
    names = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert not [n for n in names if n.startswith(".") or n.endswith(".part")], names
    for name in names:
        with Image.open(out / name) as im:
            im.load()
    return names


def finish(proc: subprocess.Popen, seconds: float = 60.0) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the command did not end after the signal")
    return proc.returncode, err


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.mark.parametrize(("signum", "code", "line"), [
    (signal.SIGTERM, 143, "cnnconv: stopped by SIGTERM"),
    (signal.SIGHUP, 129, "cnnconv: stopped by SIGHUP"),
    (signal.SIGINT, 130, "cnnconv: interrupted"),
])
@pytest.mark.parametrize("group", [False, True], ids=["parent", "group"])
def test_a_stop_signal_ends_the_batch_cleanly(pictures, tmp_path, signum, code, line, group):
    out = tmp_path / "out"
    proc = start(pictures, out, "--jobs", "2")
    wait_for(lambda: len(children(proc.pid)) == 2 and out.exists() and any(out.iterdir()))
    workers = children(proc.pid)
    (os.killpg if group else os.kill)(proc.pid, signum)
    returncode, err = finish(proc)
    assert returncode == code, err
    assert err.splitlines()[-1] == line, err
    assert "Traceback" not in err
    wait_for(lambda: not any(alive(w) for w in workers), 10)
    assert len(outputs_whole(out)) < N_FILES


@pytest.mark.parametrize("group", [False, True], ids=["parent", "group"])
def test_workers_die_with_a_parent_killed_by_sigkill(pictures, tmp_path, group):
    out = tmp_path / "out"
    proc = start(pictures, out, "--jobs", "2")
    wait_for(lambda: len(children(proc.pid)) == 2 and out.exists() and any(out.iterdir()))
    workers = children(proc.pid)
    (os.killpg if group else os.kill)(proc.pid, signal.SIGKILL)
    finish(proc)
    wait_for(lambda: not any(alive(w) for w in workers), 10)  # the pdeath signal reached them
    time.sleep(0.5)
    names = sorted(p.name for p in out.iterdir())
    temporaries = [n for n in names if n.endswith(".part")]
    if not group:
        assert temporaries == [], names  # the workers got SIGTERM and removed what they were writing
    # A later run into the same folder removes what a SIGKILLed process group left, and says so.
    again = subprocess.run([sys.executable, "-m", "cnnconv", "filter", str(pictures / "in00.png"), "-k", "box3",
                            "--out-dir", str(out), "--name", "again.png"], env=ENV, capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0, again.stderr
    if temporaries:
        assert re.search(rf"removed {len(temporaries)} temporary file", again.stderr), again.stderr
    outputs_whole(out)


def test_a_killed_worker_fails_only_its_file(pictures, tmp_path):
    """SIGKILL one of two workers mid-batch: exactly its file fails, every other output is whole.

    A worker killed just after it reported its file (as it finished it) holds no file, and the
    batch rightly ends with none failed: such a run shows nothing and is run again, up to
    three times, until the kill lands inside a file.
    """
    for attempt in range(3):
        out = tmp_path / f"out{attempt}"
        proc = start(pictures, out, "--jobs", "2", "--json")
        wait_for(lambda: len(children(proc.pid)) == 2 and out.exists() and any(out.iterdir()))
        victim = children(proc.pid)[0]
        wait_for(lambda: computing(victim))  # killed idle, between two files, it would hold no file to fail
        os.kill(victim, signal.SIGKILL)
        proc_out, err = proc.communicate(timeout=120)
        failed = [line for line in err.splitlines() if line.startswith("cnnconv: error: ")]
        if proc.returncode == 0 and not failed:  # the kill came as the file was done: every output whole
            assert len(outputs_whole(out)) == N_FILES
            continue
        assert proc.returncode == 1, err
        assert len(failed) == 1 and "killed by SIGKILL (the out-of-memory killer" in failed[0], err
        assert f"cnnconv: 1 of {N_FILES} inputs failed" in err
        assert len(outputs_whole(out)) == N_FILES - 1
        assert sum('"ok": false' in line for line in proc_out.splitlines()) == 1
        return
    pytest.fail("three kills in a row landed between files")


def test_a_stop_signal_in_a_serial_batch(pictures, tmp_path):
    out = tmp_path / "out"
    proc = start(pictures, out)
    # a whole output, not the temporary the first one is encoded into
    wait_for(lambda: out.exists() and any(not p.name.startswith(".") for p in out.iterdir()))
    proc.send_signal(signal.SIGTERM)
    returncode, err = finish(proc)
    assert returncode == 143 and err.splitlines()[-1] == "cnnconv: stopped by SIGTERM", err
    assert 0 < len(outputs_whole(out)) < N_FILES


class _Job:
    def __init__(self, folder: Path, name: str, die: bool):
        self.input, self.outputs, self.die = name, [str(folder / name)], die


def _write_then_maybe_die(job: _Job) -> dict:
    from cnnconv.io.atomic import write_bytes_atomic

    write_bytes_atomic(job.outputs[0], b"whole")
    if job.die:  # killed after the output is whole, before the report reaches the parent
        os.kill(os.getpid(), signal.SIGKILL)
    return {"input": job.input, "ok": True}


def test_a_worker_killed_after_writing_leaves_no_output_for_a_file_reported_not_done(tmp_path):
    """The race behind a flaky killed-worker test, made certain: the parent renames a worker's outputs."""
    from cnnconv.cli._workers import WorkerPool

    jobs = [_Job(tmp_path, f"{i}.out", die=i == 1) for i in range(4)]
    records = sorted(WorkerPool(2).results(_write_then_maybe_die, jobs), key=lambda r: r["input"])
    assert [r["ok"] for r in records] == [True, False, True, True]
    assert "killed by SIGKILL" in records[1]["error"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.out", "2.out", "3.out"]  # no 1.out, no temporary


def _parent_killed_with_the_report_unread(folder: Path, told) -> None:
    """A batch parent that gets SIGKILLed after its worker's report is in the pipe, unread."""
    import multiprocessing

    from cnnconv.cli._workers import _Worker

    worker = _Worker(multiprocessing.get_context("fork"), _write_then_maybe_die, os.getpid())
    worker.conn.send((0, _Job(folder, "0.out", die=False)))
    told.send(worker.process.pid if worker.conn.poll(60) else None)  # a pipe write is done when send returns
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_parent_killed_before_reading_a_report_leaves_no_temporary(tmp_path):
    """The other side of that race: the report is sent, the parent dies before renaming its outputs."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    heard, told = context.Pipe(duplex=False)
    parent = context.Process(target=_parent_killed_with_the_report_unread, args=(tmp_path, told))
    parent.start()
    assert heard.poll(60)
    worker = heard.recv()
    parent.join(60)
    assert worker is not None and parent.exitcode == -signal.SIGKILL
    wait_for(lambda: not alive(worker), 10)  # the pdeath signal reached the idle worker
    assert list(tmp_path.iterdir()) == []  # its temporary is gone; nobody was left to rename it


@pytest.mark.parametrize("signum, code, line", [(signal.SIGINT, 130, "cnnconv: interrupted"),
                                                (signal.SIGTERM, 143, "cnnconv: stopped by SIGTERM"),
                                                (signal.SIGHUP, 129, "cnnconv: stopped by SIGHUP")])
def test_a_stop_signal_while_the_command_line_is_imported_ends_it_with_one_line(signum, code, line):
    """The signal lands in the import of the command line (made to send it): no traceback of that import."""
    script = (
        "import os, sys, types\n"
        "import cnnconv.__main__ as entry\n"
        "class Importing(types.ModuleType):\n"
        "    def __getattr__(self, name):\n"
        f"        os.kill(os.getpid(), {int(signum)})\n"
        "        for _ in range(1000):\n"
        "            sum(range(1000))  # the handler runs between two bytecodes\n"
        "        raise AttributeError(name)\n"
        "sys.modules['cnnconv.cli'] = Importing('cnnconv.cli')\n"
        "entry.run()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (code, line + "\n")


def test_the_entry_point_knows_the_stop_signals_the_commands_end_with():
    """cnnconv/__main__.py keeps its own table (importing the command line's would cost the guard)."""
    from cnnconv.__main__ import _STOPS
    from cnnconv.cli._signals import STOP_SIGNALS

    assert _STOPS == STOP_SIGNALS

