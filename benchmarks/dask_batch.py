"""A batch on a Dask cluster against ``--jobs 2``: what the cluster costs on one machine.

200 colour photos of 512x512 (JPEG, the astronaut sample shifted and with noise of its own
in each) through ``cnnconv filter -k gaussian:sigma=2``, every command a whole process,
interleaved (see ``_timing.interleaved_medians``):

- ``--jobs 2``: the process pool, the baseline;
- ``--scheduler tcp://...``: a running cluster of 2 single-thread workers (``dask scheduler``
  and ``dask worker --nworkers 2 --nthreads 1``, started once, as a cluster is), with and
  without Dask's default ``MALLOC_TRIM_THRESHOLD_`` in its workers;
- ``--scheduler local --jobs 2``: a local cluster started and stopped by the command itself.

The overhead is ``median / median(--jobs 2) - 1`` (goal: at most 20 % for the running
cluster). Every output is checked equal to ``--jobs 2``'s byte for byte. The result goes to
BENCHMARKS.md between ``<!-- dask_batch:begin -->`` and ``<!-- dask_batch:end -->``.

Run: ``python benchmarks/dask_batch.py [--count N] [--repeats R] [--no-write]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine, run_times, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CNNCONV = str(Path(PY).with_name("cnnconv"))
DASK = str(Path(PY).with_name("dask"))
KERNEL = "gaussian:sigma=2"
#: Dask's nannies set MALLOC_TRIM_THRESHOLD_ in their workers; this config file leaves it unset.
NO_TRIM = "distributed:\n  nanny:\n    pre-spawn-environ:\n      MALLOC_TRIM_THRESHOLD_: null\n"


def make_photos(folder: Path, count: int) -> None:
    base = np.asarray(Image.open(ROOT / "sample_images" / "astronaut.png").convert("RGB"), dtype=np.float64)
    base = np.asarray(Image.fromarray(base.astype(np.uint8)).resize((512, 512)), dtype=np.float64)
    for i in range(count):
        rng = np.random.default_rng(i)
        photo = np.roll(base, (i * 7) % 512, axis=1) + rng.normal(0, 6, base.shape)
        Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(folder / f"photo{i:03d}.jpg", quality=90)


class Cluster:
    """``dask scheduler`` and ``dask worker --nworkers 2 --nthreads 1`` on 127.0.0.1, stopped on exit."""

    def __init__(self, work: Path, name: str, config: str | None):
        self.work, self.name, self.env = work, name, dict(os.environ)
        if config is not None:
            folder = work / f"{name}-config"
            folder.mkdir()
            (folder / "cnnconv.yaml").write_text(config)
            self.env["DASK_CONFIG"] = str(folder)
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> str:
        info = self.work / f"{self.name}-scheduler.json"
        self._start("scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", ":0",
                    "--scheduler-file", str(info))
        deadline = time.monotonic() + 60
        while True:
            try:
                address = json.loads(info.read_text())["address"]
                break
            except (OSError, ValueError, KeyError):
                if time.monotonic() > deadline:
                    raise SystemExit("the scheduler did not start in 60 s") from None
                time.sleep(0.1)
        self._start("worker", address, "--nworkers", "2", "--nthreads", "1", "--host", "127.0.0.1",
                    "--dashboard-address", ":0")
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        return address

    def _start(self, *args):
        log = open(self.work / f"{self.name}-{args[0]}.log", "w")
        self.procs.append(subprocess.Popen([DASK, *args], stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                           start_new_session=True))

    def __exit__(self, *exc):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def same_outputs(a: Path, b: Path) -> bool:
    names = sorted(os.listdir(a))
    return names == sorted(os.listdir(b)) and all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print the section, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    started = datetime.now(timezone.utc)
    facts = machine()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        photos = work / "photos"
        photos.mkdir()
        make_photos(photos, args.count)

        def cmd(out, *extra):
            return [CNNCONV, "filter", str(photos), "-k", KERNEL, "-q", "--out-dir", str(work / out), *extra]

        with Cluster(work, "default", None) as default, Cluster(work, "notrim", NO_TRIM) as notrim:
            commands = {
                "--jobs 2": cmd("jobs2", "--jobs", "2"),
                "--scheduler tcp://… (running cluster, Dask's MALLOC_TRIM_THRESHOLD_ unset)": cmd("notrim", "--scheduler", notrim),
                "--scheduler tcp://… (running cluster, Dask's default MALLOC_TRIM_THRESHOLD_=65536)": cmd("default", "--scheduler", default),
                "--scheduler local --jobs 2 (cluster started and stopped by the command)": cmd("local", "--scheduler", "local", "--jobs", "2"),
            }
            med, spread = run_times(commands, repeats=args.repeats, warmup=1)
        equal = all(same_outputs(work / "jobs2", work / out) for out in ("notrim", "default", "local"))
    base = med["--jobs 2"]
    rows = ["| command | median (s) | max/min | overhead against --jobs 2 |", "| --- | --- | --- | --- |"]
    for name, t in med.items():
        over = "—" if name == "--jobs 2" else f"{(t / base - 1) * 100:+.0f} %"
        rows.append(f"| `cnnconv filter {args.count} photos -k {KERNEL} {name}` | {t:.2f} | {spread[name]:.2f} | {over} |")
    running = med["--scheduler tcp://… (running cluster, Dask's MALLOC_TRIM_THRESHOLD_ unset)"] / base - 1
    text = (f"Run {started:%Y-%m-%d %H:%M} UTC: `python benchmarks/dask_batch.py --count {args.count} "
            f"--repeats {args.repeats}`\n\nMachine: {facts}.\n\n"
            f"{args.count} colour JPEG photos of 512×512, each command a whole process, {args.repeats} interleaved "
            f"runs after one warm-up; the running clusters are a `dask scheduler` and `dask worker --nworkers 2 "
            f"--nthreads 1` on 127.0.0.1, started before the timing.\n\n" + "\n".join(rows)
            + f"\n\nOutputs equal to `--jobs 2`'s byte for byte: {'yes' if equal else 'NO'}. "
            f"Overhead of the running cluster {running * 100:+.0f} % (goal ≤ 20 %): "
            f"{'met' if running <= 0.20 else 'not met'}.")
    print(text)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "dask_batch", text)


if __name__ == "__main__":
    main()
