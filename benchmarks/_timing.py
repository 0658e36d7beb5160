"""Timing helpers shared by the benchmarks: interleaved medians and machine facts."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time


def interleaved_medians(funcs, repeats=5, warmup=1):
    """Median seconds of each callable in ``funcs`` (a dict), the calls interleaved round-robin.

    Interleaving spreads the noise from other processes over all contenders alike, so their
    ratios stay meaningful on a shared machine; the spread (max/min) is returned too.
    """
    for _ in range(warmup):
        for f in funcs.values():
            f()
    times = {name: [] for name in funcs}
    for _ in range(repeats):
        for name, f in funcs.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    return {n: statistics.median(t) for n, t in times.items()}, {n: max(t) / min(t) for n, t in times.items()}


def machine():
    """One line: CPU model, nproc, load average, python and library versions."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, nproc={os.cpu_count()}, load average at start {os.getloadavg()[0]:.1f}, Python {platform.python_version()}"


def versions():
    import numpy

    parts = [f"numpy {numpy.__version__}"]
    for mod in ("scipy", "cv2", "PIL"):
        try:
            m = __import__(mod)
            parts.append(f"{mod} {m.__version__}")
        except ImportError:
            parts.append(f"{mod} missing")
    return ", ".join(parts)


def nproc():
    return subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()


def write_section(path, name, text):
    """Replace the text between ``<!-- name:begin -->`` and ``<!-- name:end -->`` in ``path``
    (appending the marked block if absent); everything else in the file stays as it is."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    try:
        with open(path, encoding="utf-8") as fh:
            doc = fh.read()
    except FileNotFoundError:
        doc = ""
    if begin in doc and end in doc:
        doc = doc[: doc.index(begin)] + block + doc[doc.index(end) + len(end) :]
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(doc)


def run_times(commands, repeats=5, warmup=1):
    """Median wall seconds of each subprocess command (a dict name -> argv), interleaved."""
    def call(argv):
        return lambda: subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return interleaved_medians({n: call(a) for n, a in commands.items()}, repeats=repeats, warmup=warmup)
