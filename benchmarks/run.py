"""cnnconv against scipy.ndimage and OpenCV, in one run; writes the tables into BENCHMARKS.md.

Run from the repository root: ``python benchmarks/run.py`` (everything, ~10 min on 2 cores),
or ``--parts filters,memory,startup,e2e,jobs`` for some; ``--quick`` for a smoke run (small
images, 3 repeats, nothing written). Reference libraries run in this process (never torch).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

import numpy as np

from _timing import interleaved_medians, machine, nproc, versions, write_section
from cli_parts import e2e_part, jobs_part, memory_part, startup_part

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "BENCHMARKS.md"


def gaussian_1d(k):
    """OpenCV's default sigma for a k-tap Gaussian, normalised."""
    sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8
    t = np.exp(-0.5 * ((np.arange(k) - (k - 1) / 2) / sigma) ** 2)
    return (t / t.sum()).astype(np.float32)


def ours(x, w):
    """The public path: conv.correlate, same mode, zero boundary; the method named is the one
    ``auto`` picks for this kernel (passed explicitly so the table can say which)."""
    from cnnconv.conv import correlation as conv, dispatch as methods

    pad = tuple(n + k - 1 for n, k in zip(x.shape, w.shape))
    method = methods.choose_method(pad, w.shape, np.float32, kernel=w)
    return method, (lambda: conv.correlate(x, w, mode="same", method=method))


def check_agreement(got, ref):
    err = np.abs(got.astype(np.float64) - ref).max() / max(1e-30, np.abs(ref).max())
    if err > 1e-4:
        raise SystemExit(f"cnnconv disagrees with OpenCV: max error {err:.2g} of the largest value")
    return err


def filter_part(quick):
    import cv2
    import scipy.ndimage as ndi

    rng = np.random.default_rng(0)
    sizes = (256,) if quick else (512, 4096)
    repeats = 3 if quick else 5
    rows = ["| image | kernel | cnnconv (method) | cv2.filter2D | scipy.ndimage | cnnconv / cv2 | scipy / cnnconv | goal | met |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n in sizes:
        x = rng.random((n, n), dtype=np.float32)
        for k in (3, 5, 7, 15, 31):
            w = rng.standard_normal((k, k)).astype(np.float32)
            method, run = ours(x, w)
            check_agreement(run(), cv2.filter2D(x, -1, w, borderType=cv2.BORDER_CONSTANT).astype(np.float64))
            heavy = n >= 4096 and k >= 15
            med, _ = interleaved_medians({
                "ours": run,
                "cv2": lambda: cv2.filter2D(x, -1, w, borderType=cv2.BORDER_CONSTANT),
                "scipy": lambda: ndi.correlate(x, w, mode="constant", cval=0.0),
            }, repeats=repeats, warmup=0 if heavy else 1)  # fmt: skip
            r_cv, r_sp = med["ours"] / med["cv2"], med["scipy"] / med["ours"]
            goal = ("≤ 3× cv2, ≥ 3× faster than scipy", 3.0, 3.0) if k <= 7 else ("≤ 1.5× cv2, ≥ 5× faster than scipy", 1.5, 5.0)
            met = "yes" if r_cv <= goal[1] and r_sp >= goal[2] else "no"
            rows.append(f"| {n}² | {k}×{k} random | {med['ours'] * 1e3:.1f} ({method}) | {med['cv2'] * 1e3:.1f} | "
                        f"{med['scipy'] * 1e3:.0f} | {r_cv:.2f}× | {r_sp:.1f}× | {goal[0]} | {met} |")
            print(rows[-1], flush=True)
    rows += ["", "| image | Gaussian | cnnconv (method) | cv2.sepFilter2D | cv2.filter2D | cnnconv / sepFilter2D | goal | met |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n in sizes:
        x = rng.random((n, n), dtype=np.float32)
        for k in (5, 9, 15, 31):
            v = gaussian_1d(k)
            w = np.outer(v, v)
            method, run = ours(x, w)
            check_agreement(run(), cv2.sepFilter2D(x, -1, v, v, borderType=cv2.BORDER_CONSTANT).astype(np.float64))
            med, _ = interleaved_medians({
                "ours": run,
                "sep": lambda: cv2.sepFilter2D(x, -1, v, v, borderType=cv2.BORDER_CONSTANT),
                "cv2": lambda: cv2.filter2D(x, -1, w, borderType=cv2.BORDER_CONSTANT),
            }, repeats=repeats)  # fmt: skip
            ratio = med["ours"] / med["sep"]
            rows.append(f"| {n}² | {k}×{k} | {med['ours'] * 1e3:.1f} ({method}) | {med['sep'] * 1e3:.1f} | "
                        f"{med['cv2'] * 1e3:.1f} | {ratio:.2f}× | ≤ 3× | {'yes' if ratio <= 3 else 'no'} |")
            print(rows[-1], flush=True)
    return "\n".join(rows) + f"\n\ncv2 threads: {cv2.getNumThreads()}; all times in ms, medians of {repeats} interleaved runs."


PARTS = {"filters": filter_part, "memory": memory_part, "startup": startup_part, "e2e": e2e_part, "jobs": jobs_part}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated: {', '.join(PARTS)}")
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats, BENCHMARKS.md untouched")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    head = (f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC: `python benchmarks/run.py "
            f"--parts {args.parts}`\n\nMachine: {machine()} (nproc {nproc()}); {versions()}.\n")
    print(head, flush=True)
    for name in args.parts.split(","):
        text = PARTS[name](args.quick)
        print(text, "\n", flush=True)
        if not args.quick:
            write_section(DOC, f"run.py {name}", head + "\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
