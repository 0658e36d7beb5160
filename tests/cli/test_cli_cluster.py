"""``--scheduler``: batches on a real Dask cluster on the loopback address, the same as ``--jobs 1``.

A scheduler and two worker processes are started with ``dask scheduler`` / ``dask worker``
(bounded in time); one worker is made to die (SIGKILL) as it starts its third task, in the
middle of the batch. Its tasks go to the other worker, and every output equals ``--jobs 1``'s
byte for byte, with a corrupt file among the inputs reported as it is without a cluster.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cnnconv.cli import cli

distributed = pytest.importorskip("distributed")

DASK = str(Path(sys.executable).with_name("dask"))
#: Every wait on the cluster is bounded: a broken start fails the test instead of hanging the suite.
START_TIMEOUT = 60
RUN_TIMEOUT = 120
KILL_ON_THIRD_TASK = Path(__file__).with_name("dask_kill_on_third_task.py")


def make_inputs(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    rng = np.random.default_rng(17)
    paths = []
    for i in range(count):
        shape = (48, 40, 3) if i % 3 == 0 else (40, 48)
        path = folder / f"img{i:02d}.png"
        Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8)).save(path)
        paths.append(path)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    return paths


def cnnconv(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnconv", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT)


def same_files(a: Path, b: Path) -> None:
    assert sorted(os.listdir(a)) == sorted(os.listdir(b))
    for name in os.listdir(a):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def wait_for(predicate, what: str, procs=()) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not predicate():
        for proc in procs:
            if proc.poll() is not None:
                pytest.fail(f"{what}: a cluster process ended early:\n{proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not ready after {START_TIMEOUT} s")
        time.sleep(0.1)


def catches_sigterm(pid: int) -> bool:
    """Whether the process has its own SIGTERM handler (Python starts without one)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
    return bool(caught >> (signal.SIGTERM - 1) & 1)


def scheduler_address(info: Path) -> str | None:
    """The address the scheduler wrote, once its file is there whole."""
    try:
        return json.loads(info.read_text())["address"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture
def cluster(tmp_path, request):
    """A scheduler and two single-thread workers on 127.0.0.1; the first dies on its third task.

    ``request.param`` (indirect), if given, is the scheduler's ``allowed-failures``: how many
    workers may die running one task before the scheduler gives up on it (Dask's default: 3).
    """
    info = tmp_path / "scheduler.json"
    logs = tmp_path / "logs"
    logs.mkdir()
    env = dict(os.environ)
    if getattr(request, "param", None) is not None:
        env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = str(request.param)
    procs = []

    def start(name, *args):
        log = open(logs / f"{name}.log", "w")
        procs.append(subprocess.Popen([DASK, *args], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
                                      start_new_session=True))
        return procs[-1]

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
              "--scheduler-file", str(info))
        wait_for(lambda: scheduler_address(info), "scheduler", procs)
        address = scheduler_address(info)
        common = ("worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                  "--death-timeout", str(START_TIMEOUT))
        doomed = start("doomed", *common, "--preload", str(KILL_ON_THIRD_TASK), "--name", "doomed")
        start("steady", *common, "--name", "steady")
        with distributed.Client(address, timeout=START_TIMEOUT) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT)
        yield address, doomed
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=START_TIMEOUT)


def test_a_batch_on_a_cluster_with_a_worker_killed_equals_jobs_1(tmp_path, cluster):
    address, doomed = cluster
    inputs = make_inputs(tmp_path / "in", 24)
    alone = cnnconv("filter", "in", "-k", "gaussian:sigma=1.5", "-k", "sobel-x", "--out-dir", "alone", "--json",
                    cwd=tmp_path)
    assert alone.returncode == 1, alone.stderr
    on_cluster = cnnconv("filter", "in", "-k", "gaussian:sigma=1.5", "-k", "sobel-x", "--out-dir", "spread",
                         "--json", "--scheduler", address, cwd=tmp_path)
    assert on_cluster.returncode == 1, on_cluster.stderr
    assert doomed.wait(timeout=RUN_TIMEOUT) == -signal.SIGKILL  # it died inside the batch, on its third task
    same_files(tmp_path / "alone", tmp_path / "spread")
    assert len(os.listdir(tmp_path / "spread")) == 2 * len(inputs)
    # The same records (one per input, the corrupt one with the same message), output folders aside.
    records = sorted(on_cluster.stdout.replace("spread/", "alone/").splitlines())
    assert records == sorted(alone.stdout.splitlines())
    assert len(records) == len(inputs) + 1
    assert on_cluster.stderr == alone.stderr
    assert "in/broken.png: " in on_cluster.stderr and "1 of 25 inputs failed" in on_cluster.stderr


@pytest.mark.parametrize("cluster", [0], indirect=True)
def test_a_task_the_scheduler_gives_up_on_is_that_files_failure(tmp_path, cluster):
    """With no retry allowed, the killed worker's tasks come back as failures, each named; none is lost."""
    address, doomed = cluster
    inputs = make_inputs(tmp_path / "in", 12)
    result = cnnconv("pool", "in", "--size", "2", "--out-dir", "out", "--json", "--scheduler", address, cwd=tmp_path)
    assert result.returncode == 1
    assert doomed.wait(timeout=RUN_TIMEOUT) == -signal.SIGKILL
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["input"] for r in records) == sorted(f"in/{p.name}" for p in inputs + [tmp_path / "broken.png"])
    killed = [r for r in records if not r["ok"] and "every worker that ran it died" in r["error"]]
    assert killed and all(r["error"].startswith(f"{r['input']}: ") for r in killed)
    done = {Path(r["outputs"][0]["output"]).name for r in records if r["ok"]}
    assert len(done) == len(inputs) - len(killed)
    # A task may have written its output whole just before its worker died, unreported: never a partial one.
    written = set(os.listdir(tmp_path / "out"))
    assert done <= written <= {f"{p.stem}-max2.png" for p in inputs}
    assert f"{len(killed) + 1} of 13 inputs failed" in result.stderr


def test_a_streamed_picture_runs_a_task_per_band_and_survives_a_worker_killed(tmp_path, cluster):
    """Over --max-memory, one picture's bands spread over the cluster's workers; the result is --jobs 1's."""
    tifffile = pytest.importorskip("tifffile")
    address, doomed = cluster
    rng = np.random.default_rng(5)
    tifffile.imwrite(tmp_path / "big.tif", rng.integers(0, 256, (1100, 300, 3), dtype=np.uint8), tile=(64, 64))
    args = ("filter", "big.tif", "-k", "gaussian:sigma=2", "-k", "sobel-x", "--max-memory", "1MB", "--json")
    alone = cnnconv(*args, "--out-dir", "alone", cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    spread = cnnconv(*args, "--out-dir", "spread", "--scheduler", address, cwd=tmp_path)
    assert spread.returncode == 0, spread.stderr
    assert doomed.wait(timeout=RUN_TIMEOUT) == -signal.SIGKILL  # it died on its third task, a band or the file
    same_files(tmp_path / "alone", tmp_path / "spread")
    record = json.loads(spread.stdout)
    assert record["streamed"]["parts"] == 2 * 5  # two outputs of 1100 rows: 5 bands of 256 each
    assert record["streamed"]["cluster_tasks"] == record["streamed"]["parts"]
    assert "each a task of the cluster" in record["notes"][0]
    assert "cluster_tasks" not in json.loads(alone.stdout)["streamed"]


def test_a_rescaled_streamed_pooling_on_a_local_cluster_equals_jobs_1(tmp_path):
    """--range rescale computes every band twice (the range, then the cast): both passes on the cluster."""
    tifffile = pytest.importorskip("tifffile")
    rng = np.random.default_rng(6)
    tifffile.imwrite(tmp_path / "big.tif", rng.integers(0, 65536, (700, 260), dtype=np.uint16), rowsperstrip=32)
    args = ("pool", "big.tif", "--size", "3", "--op", "median", "--mode", "same", "--range", "rescale",
            "--max-memory", "500KB", "--json")
    alone = cnnconv(*args, "-o", "alone.tif", cwd=tmp_path)
    local = cnnconv(*args, "-o", "local.tif", "--scheduler", "local", "--jobs", "2", cwd=tmp_path)
    assert alone.returncode == local.returncode == 0, local.stderr
    assert (tmp_path / "alone.tif").read_bytes() == (tmp_path / "local.tif").read_bytes()
    streamed = json.loads(local.stdout)["streamed"]
    assert streamed["cluster_tasks"] == 2 * streamed["parts"] == 2 * 3


def test_pool_on_a_local_cluster_equals_jobs_1(tmp_path):
    make_inputs(tmp_path / "in", 6)
    alone = cnnconv("pool", "in", "--size", "3", "--stride", "2", "--op", "avg", "--out-dir", "alone", cwd=tmp_path)
    local = cnnconv("pool", "in", "--size", "3", "--stride", "2", "--op", "avg", "--out-dir", "local",
                    "--scheduler", "local", "--jobs", "2", cwd=tmp_path)
    assert alone.returncode == local.returncode == 1, local.stderr
    assert local.stderr == alone.stderr and "in/broken.png" in local.stderr
    same_files(tmp_path / "alone", tmp_path / "local")


def test_an_output_that_is_an_input_is_refused_before_the_cluster(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(src)
    before = src.read_bytes()
    result = CliRunner().invoke(cli, ["pool", str(src), "--size", "2", "-o", str(src), "--scheduler", "local"])
    assert result.exit_code == 1 and "is this input file" in result.stderr
    assert src.read_bytes() == before


def test_without_the_extra_scheduler_names_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    src = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(src)
    result = CliRunner().invoke(cli, ["pool", str(src), "--size", "2", "-o", str(tmp_path / "o.png"),
                                      "--scheduler", "local"])
    assert result.exit_code == 2
    assert "pip install 'cnnconv[dask]'" in result.stderr
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("args, message", [
    (["--scheduler", "nowhere"], "give 'local' or the scheduler's address"),
    (["--scheduler", "tcp://127.0.0.1:8786", "--jobs", "2"], "has the workers it was started with"),
])
def test_scheduler_usage_errors(tmp_path, args, message):
    src = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(src)
    result = CliRunner().invoke(cli, ["filter", str(src), "-k", "box3", "-o", str(tmp_path / "o.png"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_a_scheduler_that_does_not_answer_is_one_line(tmp_path, monkeypatch):
    import cnnconv.cli._cluster as cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", 1)
    src = tmp_path / "a.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(src)
    result = CliRunner().invoke(cli, ["filter", str(src), "-k", "box3", "-o", str(tmp_path / "o.png"),
                                      "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 1
    assert result.stderr.startswith("cnnconv: error: --scheduler tcp://127.0.0.1:9: no Dask scheduler answers")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("when", ["starting", "mid-batch"])
def test_ctrl_c_on_a_local_cluster_ends_cleanly(tmp_path, when):
    """Ctrl-C while the local cluster starts or once outputs appear: exit 130, one line, whole files only."""
    inputs = make_inputs(tmp_path / "in", 600)  # enough that the workers are not done before the stop
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "cnnconv", "filter", "in", "-k", "gaussian:sigma=3", "--out-dir",
                             "out", "--scheduler", "local", "--jobs", "2"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        if when == "starting":
            # Once the command's handlers are in (before that, Python itself is starting: its
            # site imports, which no program can guard), distributed is importing or the
            # workers starting for a second or more.
            wait_for(lambda: catches_sigterm(proc.pid), "the command's signal handlers", [proc])
            time.sleep(0.2)
        else:
            wait_for(lambda: out.is_dir() and any(out.iterdir()), "first output", [proc])
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err == "cnnconv: interrupted\n"
    assert not out.is_dir() or len(os.listdir(out)) < len(inputs)  # it was stopped, not finished
    for path in (out.iterdir() if out.is_dir() else ()):
        assert not path.name.startswith("."), path  # no temporary file left behind
        Image.open(path).load()  # every output there is whole
