"""How fast `cnnconv animate` answers: the 7x7 stride-2 example of the lecture notes to a GIF,
and the terminal step view's first frame.

Measured end to end as a user runs it (a fresh `python -m cnnconv` process each time, so Python
start-up and imports are included), interleaved, medians of --repeats runs:

- ``gif``: ``cnnconv animate --input <7x7> -k <3x3> --stride 2 -o stride.gif`` until it exits;
- ``terminal``: the same command without ``-o`` on a pseudo-terminal, until the first frame and
  the key line are on the screen (then ``q`` ends it);
- ``print``: the same command with standard output a pipe (every frame printed), until it exits.

In-process, the parts of the GIF run (trace, drawing the frames, encoding) are timed once
more so a regression can be placed. Goals: GIF under 1 s, terminal view under 0.3 s.

    python benchmarks/animate_speed.py [--repeats 9] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import machine, write_section  # noqa: E402

X7 = "2,3,7,4,6,2,9; 6,6,9,8,7,4,3; 3,4,8,3,8,9,7; 7,8,3,6,6,3,4; 4,2,1,8,3,4,6; 3,2,4,1,9,8,3; 0,1,3,9,2,1,4"
K7 = "3,4,4; 1,0,2; -1,0,3"
BASE = [sys.executable, "-m", "cnnconv", "animate", "--input", X7, "-k", K7, "--stride", "2"]


def time_gif(folder: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([*BASE, "-o", str(folder / "stride.gif")], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def time_print() -> float:
    t0 = time.perf_counter()
    subprocess.run(BASE, check=True, stdout=subprocess.PIPE)
    return time.perf_counter() - t0


def time_terminal() -> float:
    """Seconds from spawning the command on a pseudo-terminal to its first frame and key line."""
    import pty

    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.executable, BASE)
    seen = b""
    try:
        while b"space/enter: next" not in seen:
            ready, _, _ = select.select([fd], [], [], 30)
            if not ready:
                raise RuntimeError(f"no first frame after 30 s: {seen[-200:]!r}")
            seen += os.read(fd, 65536)
        elapsed = time.perf_counter() - t0
        os.write(fd, b"q")
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"the step view ended with status {status}")
    finally:
        os.close(fd)
    return elapsed


def parts() -> dict:
    """In-process seconds of the GIF run's parts (imports already done)."""
    from cnnconv.animate import trace_correlate
    from cnnconv.io import animation

    x = [[float(v) for v in row.split(",")] for row in X7.split(";")]
    w = [[float(v) for v in row.split(",")] for row in K7.split(";")]
    t0 = time.perf_counter()
    data = trace_correlate(x, w, stride=2).as_dict()
    t1 = time.perf_counter()
    frames = animation.draw_frames(data)
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        frames[0].save(Path(tmp) / "a.gif", save_all=True, append_images=frames[1:], duration=900, loop=0)
    t3 = time.perf_counter()
    return {"trace": t1 - t0, "draw 9 frames": t2 - t1, "encode GIF": t3 - t2}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--write", metavar="FILE", help="put the results in FILE's 'animate' section")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = {"gif": lambda: time_gif(folder), "terminal": time_terminal, "print": time_print}
        for f in runs.values():  # warm-up: page cache, .pyc files
            f()
        times = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, f in runs.items():
                times[name].append(f())
    goals = {"gif": 1.0, "terminal": 0.3, "print": None}
    lines = [
        f"Machine: {machine()}. Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Command: `python benchmarks/animate_speed.py --repeats {args.repeats}`; a fresh process per run "
        "(start-up and imports included), interleaved.",
        "",
        "| run | median s | min s | max s | goal |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, values in times.items():
        goal = goals[name]
        verdict = "" if goal is None else f"< {goal} s: {'met' if statistics.median(values) < goal else 'NOT met'}"
        lines.append(f"| {name} | {statistics.median(values):.3f} | {min(values):.3f} | {max(values):.3f} | {verdict} |")
    lines += ["", "In-process parts of the GIF run: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in parts().items())]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(args.write, "animate", "## `cnnconv animate` speed (`benchmarks/animate_speed.py`)\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
