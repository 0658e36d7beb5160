"""Measure every engine across kernel sizes to place the thresholds of ``method="auto"``.

Run: ``python benchmarks/crossover.py [--quick]``; prints a Markdown table of medians (ms) per
(image, dtype, kernel) and the fastest engine, and writes it into BENCHMARKS.md ("Crossovers
behind auto"); the thresholds in ``cnnconv/methods.py`` cite that table.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import numpy as np

from _timing import interleaved_medians, machine, versions, write_section
from cnnconv.conv import dispatch as methods, engines

# Engines that would take seconds per call on big images are left out where they cannot win.
LIMITS = {"direct": 11, "banded": 31, "im2col": 7, "toeplitz": 99, "fft": 99}


def gaussian(k):
    sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8
    t = np.exp(-0.5 * ((np.arange(k) - (k - 1) / 2) / sigma) ** 2)
    return np.outer(t, t) / t.sum() ** 2


def row(lines, label, xp, w, repeats, kernel_label, stride=(1, 1)):
    names = [m for m in methods.METHODS[1:] if m != "separable" and max(w.shape[:2]) <= LIMITS[m]]
    if engines.rank1_factors(w) is not None:
        names.append("separable")
    funcs = {m: (lambda m=m: methods.correlate_valid(xp, w, stride, (1, 1), method=m)) for m in names}
    med, _ = interleaved_medians(funcs, repeats=repeats)
    best = min(med, key=med.get)
    auto = methods.choose_method(xp.shape, w.shape, xp.dtype, stride, kernel=w)
    cells = " | ".join(f"{m} {med[m] * 1e3:.1f}" for m in names)
    lines.append(f"| {label} | {kernel_label} | {cells} | **{best}** | {auto} |")
    print(lines[-1], flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    lines = [f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC: `python benchmarks/crossover.py`; "
             f"{machine()}; {versions()}. Medians (ms) of interleaved runs, float32 unless said.", "",
             "| image | kernel | medians (ms) | fastest | auto picks |", "| --- | --- | --- | --- | --- |"]
    print("\n".join(lines), flush=True)
    sizes = [(512, 5), (4096, 3)] if not args.quick else [(512, 3)]
    ks = (3, 5, 7, 9, 11, 15, 19, 23, 31)
    for n, repeats in sizes:
        for dtype in (np.float32, np.float64):
            if dtype == np.float64 and n > 1024:
                continue
            x = rng.random((n, n)).astype(dtype)
            for k in ks:
                w = rng.standard_normal((k, k)).astype(dtype)
                row(lines, f"{n}² {np.dtype(dtype).name}", np.pad(x, k // 2), w, repeats, f"{k}x{k}")
        for k in (3, 5, 9, 15):
            g = gaussian(k).astype(np.float32)
            row(lines, f"{n}² float32", np.pad(x.astype(np.float32), k // 2), g, repeats, f"Gaussian {k}x{k}")
    x3 = rng.random((512, 512, 3)).astype(np.float32)
    for k in (3, 5, 7, 9, 11, 15, 31):
        w = rng.standard_normal((k, k)).astype(np.float32)
        row(lines, "512²x3 per channel", np.pad(x3, ((k // 2,) * 2, (k // 2,) * 2, (0, 0))), w, 5, f"{k}x{k}")
    for c, n_out in ((3, 4), (8, 8), (8, 16), (16, 32)):
        x = rng.random((128, 128, c)).astype(np.float32)
        w = rng.standard_normal((3, 3, c, n_out)).astype(np.float32)
        row(lines, f"128²x{c} bank", x, w, 5, f"3x3x{c}x{n_out}")
    if not args.quick:
        write_section(Path(__file__).resolve().parents[1] / "BENCHMARKS.md", "crossover", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
