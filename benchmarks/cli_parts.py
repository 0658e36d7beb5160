"""The subprocess parts of benchmarks/run.py: memory, start-up, end-to-end filter, --jobs.

Each measures whole processes (interpreter start-up included on both sides of a ratio) and
skips with a message when the cnnconv subcommand it needs is not there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from _timing import run_times

PY = sys.executable
CNNCONV = str(Path(PY).with_name("cnnconv")) if Path(PY).with_name("cnnconv").exists() else None
ROOT = Path(__file__).resolve().parents[1]

MEMORY_CHILD = r"""
import json, sys, tracemalloc
import numpy as np
from cnnconv.conv import correlation as conv
def status():
    return {ln.split(":")[0]: int(ln.split()[1]) * 1024 for ln in open("/proc/self/status") if ln.startswith("Vm")}
for m in ("direct", "banded", "toeplitz", "im2col", "fft"):  # load the lazily imported engines first
    conv.correlate(np.ones((40, 40), np.float32), np.ones((3, 3), np.float32), mode="same", method=m)
base = status()["VmRSS"]
n, k, method, sep = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] == "sep"
x = np.random.default_rng(0).random((n, n), dtype=np.float32)
w = np.outer(np.hanning(k + 2)[1:-1], np.hanning(k + 2)[1:-1]).astype(np.float32) if sep else \
    np.random.default_rng(1).standard_normal((k, k)).astype(np.float32)
trace = sys.argv[5] == "trace"  # tracemalloc's own bookkeeping would inflate VmHWM
if trace:
    tracemalloc.start()
out = conv.correlate(x, w, mode="same", method=method)
peak = tracemalloc.get_traced_memory()[1] if trace else 0
print(json.dumps({"base": base, "hwm": status()["VmHWM"], "traced_peak": peak, "image": x.nbytes}))
"""


def _has(subcommand):
    if CNNCONV is None:
        return False
    return subprocess.run([CNNCONV, subcommand, "--help"], capture_output=True).returncode == 0


def memory_part(quick):
    n = 512 if quick else 4096
    rows = ["| case | method | traced peak during the call | process peak above the interpreter + imports | goal ≤ 4× image | met |",
            "| --- | --- | --- | --- | --- | --- |"]
    for k, method, sep in ((3, "direct", False), (7, "banded", False), (7, "toeplitz", False), (5, "im2col", False),
                           (31, "fft", False), (15, "separable", True), (3, "auto", False)):
        r = {}
        for mode in ("trace", "rss"):
            res = subprocess.run([PY, "-c", MEMORY_CHILD, str(n), str(k), method, "sep" if sep else "gen", mode],
                                 capture_output=True, text=True, check=True)
            got = json.loads(res.stdout)
            r.update({key: v for key, v in got.items() if mode == "trace" or key != "traced_peak"})
        img = r["image"]
        above = (r["hwm"] - r["base"]) / img
        rows.append(f"| {n}² float32, {k}×{k}{' separable' if sep else ''}, same | {method} | "
                    f"{r['traced_peak'] / img:.2f}× image | {above:.2f}× image | ≤ 4× | {'yes' if above < 4 else 'no'} |")
        print(rows[-1], flush=True)
    return ("\n".join(rows) + f"\n\nImage = {img / 2**20:.0f} MiB. 'Traced peak' is tracemalloc's peak of NumPy "
            "allocations during `conv.correlate` (padded copy, except for the banded and separable engines, "
            "which pad as they read; output; engine buffers; the input existed before). 'Process peak' (a second run, without tracemalloc) is the peak resident size (VmHWM) minus the resident size after "
            "`import numpy, cnnconv.conv.correlation` and one tiny call per engine: input, padded copy, output, buffers and whatever NumPy and the "
            "allocator keep.")


def startup_part(quick):
    if not (_has("shape")):
        return "Skipped: `cnnconv shape` is not available yet."
    cmds = {
        "python -c 'import numpy'": [PY, "-c", "import numpy"],
        "cnnconv --help": [CNNCONV, "--help"],
        "cnnconv shape --input 32x32x3 --layers conv5x8": [CNNCONV, "shape", "--input", "32x32x3", "--layers", "conv5x8"],
    }
    med, spread = run_times(cmds, repeats=5 if quick else 15, warmup=2)
    base = med["python -c 'import numpy'"]
    rows = ["| command | median (ms) | max/min | ratio to `import numpy` | goal | met |", "| --- | --- | --- | --- | --- | --- |"]
    for name, t in med.items():
        ratio = t / base
        goal = "" if name.startswith("python") else "≤ 1.5×"
        met = "" if not goal else ("yes" if ratio <= 1.5 else "no")
        rows.append(f"| `{name}` | {t * 1e3:.0f} | {spread[name]:.1f} | {ratio:.2f}× | {goal} | {met} |")
    return "\n".join(rows)


def _png(path, size, seed):
    from PIL import Image

    src = Image.open(ROOT / "sample_images" / "camera.png").convert("L").resize((size, size), Image.BICUBIC)
    arr = np.asarray(src, dtype=np.int16) + np.random.default_rng(seed).integers(-8, 9, (size, size))
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path)


def e2e_part(quick):
    if not _has("filter"):
        return "Skipped: `cnnconv filter` is not available yet."
    n = 1024 if quick else 4096
    with tempfile.TemporaryDirectory() as tmp:
        src, a, b = Path(tmp, "in.png"), Path(tmp, "pil.png"), Path(tmp, "out.png")
        _png(src, n, 0)
        ours = [CNNCONV, "filter", str(src), "--kernel", "sobel-x", "-o", str(b), "-q"]
        subprocess.run(ours, check=True)
        edges = Path(tmp, "edges.png")
        edges.write_bytes(b.read_bytes())
        pil = f"from PIL import Image; im = Image.open({str(src)!r}); im.load(); im.save({str(a)!r})"
        pil_out = (f"from PIL import Image; Image.open({str(src)!r}).load(); im = Image.open({str(edges)!r}); "
                   f"im.load(); im.save({str(a)!r})")
        cmds = {"Pillow decode + encode": [PY, "-c", pil],
                "cnnconv filter --kernel sobel-x": ours,
                "Pillow decode input, decode + encode the edge image": [PY, "-c", pil_out]}
        med, spread = run_times(cmds, repeats=3 if quick else 7)
    ratio = med["cnnconv filter --kernel sobel-x"] / med["Pillow decode + encode"]
    rows = ["| command (one process each) | median (ms) | max/min |", "| --- | --- | --- |"]
    rows += [f"| {name} | {t * 1e3:.0f} | {spread[name]:.1f} |" for name, t in med.items()]
    ratio2 = med["cnnconv filter --kernel sobel-x"] / med["Pillow decode input, decode + encode the edge image"]
    return (f"{n}×{n} 8-bit gray PNG (camera.png upscaled, with noise).\n\n" + "\n".join(rows)
            + f"\n\nRatio to Pillow decode + encode of the input {ratio:.2f}× (goal ≤ 1.5×): "
            f"{'met' if ratio <= 1.5 else 'not met'}. The edge image is slower to PNG-compress than the photo "
            f"it came from; against Pillow writing that same edge image the ratio is {ratio2:.2f}×.")


def jobs_part(quick):
    if not _has("filter"):
        return "Skipped: `cnnconv filter` is not available yet."
    count = 20 if quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(count):
            files.append(str(Path(tmp, f"img{i:03d}.png")))
            _png(files[-1], 512, i)
        cmd = [CNNCONV, "filter", *files, "--kernel", "sobel-x", "-q", "--out-dir"]
        cmds = {f"--jobs {j}": cmd + [str(Path(tmp, f"out{j}")), "--jobs", str(j)] for j in (1, 2)}
        med, spread = run_times(cmds, repeats=2 if quick else 5)
    ratio = med["--jobs 1"] / med["--jobs 2"]
    rows = ["| command | median (s) | max/min |", "| --- | --- | --- |"]
    rows += [f"| `cnnconv filter {count} files --kernel sobel-x {name}` | {t:.2f} | {spread[name]:.1f} |" for name, t in med.items()]
    return (f"{count} gray PNGs of 512×512.\n\n" + "\n".join(rows)
            + f"\n\nSpeed-up {ratio:.2f}× (goal ≥ 1.7×): {'met' if ratio >= 1.7 else 'not met'}.")
