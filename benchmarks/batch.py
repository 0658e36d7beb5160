"""A batch of photos end to end: ``cnnconv filter DIR --out-dir --jobs 2`` against ``mogrify -path``
and libvips (a ``vips`` process per file, and one pyvips process for all), same kernel, same border.

Run from the repository root on a quiet machine::

    python benchmarks/batch.py                     # 200 photos of 512x512 and 20 of 4096x4096
    python benchmarks/batch.py --small 20 --large 2 --repeats 1   # a quick look
    python benchmarks/batch.py --write             # also replace the section in BENCHMARKS.md

Needs ImageMagick and libvips-tools (installed with apt-get when missing, as root) and, for the
one-process libvips run, ``pip install pyvips``. The photos are made once from sample_images/
(resized, shifted and cropped so no two files are alike; the 4096x4096 ones upscaled with a
little noise so they compress like photos) and kept in ``--photos`` between runs.

Every tool blurs with the binomial 3x3 kernel ``1 2 1; 2 4 2; 1 2 1`` / 16 with the edge
pixel repeated at the border (ImageMagick's and libvips' default; ``--boundary edge`` for
cnnconv) and writes PNG with its own default compression. Reported per tool: the median wall
time over ``--repeats`` runs (tools interleaved run by run, so a busy moment slows all), the
peak resident memory of the whole process tree (sampled every 20 ms from /proc, the RSS of
every descendant summed: forked workers' shared pages count once per process), and the largest
difference of its outputs from cnnconv's.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KERNEL = "1,2,1; 2,4,2; 1,2,1"
MASK = "3 3 16 0\n1 2 1\n2 4 2\n1 2 1\n"  # the same kernel as a libvips matrix (scale 16)
SOURCES = ("astronaut.png", "chelsea.png", "coffee.png", "camera.png", "coins.png", "horse.png")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def ensure_tools() -> dict:
    """ImageMagick and libvips, installed when missing; their versions."""
    if shutil.which("mogrify") is None or shutil.which("vips") is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "imagemagick", "libvips-tools"], check=True)
    im = subprocess.run(["mogrify", "-version"], capture_output=True, text=True).stdout.splitlines()[0]
    vips = subprocess.run(["vips", "--version"], capture_output=True, text=True).stdout.strip()
    versions = {"imagemagick": im.replace("Version: ", ""), "libvips": vips}
    try:
        import pyvips

        versions["pyvips"] = pyvips.__version__
    except ImportError:
        pass
    return versions


def make_photos(folder: Path, count: int, size: int) -> list[Path]:
    """``count`` RGB photos of ``size`` x ``size`` in ``folder`` (made once, reused)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(folder.glob("*.png"))
    if len(existing) == count:
        return existing
    for p in existing:
        p.unlink()
    rng = np.random.default_rng(size)
    sources = [Image.open(ROOT / "sample_images" / name).convert("RGB") for name in SOURCES
               if (ROOT / "sample_images" / name).exists()]
    for i in range(count):
        im = sources[i % len(sources)]
        w, h = im.size
        side = int(min(w, h) * rng.uniform(0.6, 1.0))  # a different crop of the source each time
        x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        photo = im.crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.LANCZOS)
        if size > 1024:  # upscaled: add the grain of a real photo, or PNG would compress it far too well
            arr = np.asarray(photo).astype(np.int16) + rng.integers(-3, 4, (size, size, 3), dtype=np.int16)
            photo = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        photo.save(folder / f"photo{i:04d}.png", compress_level=6)
    return sorted(folder.glob("*.png"))


def _tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * _PAGE
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def measure(commands: list[list[str]]) -> tuple[float, int]:
    """Run the commands one after the other; wall seconds and the peak RSS of any one command's tree."""
    peak = 0
    start = time.perf_counter()
    for cmd in commands:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        done = threading.Event()

        def sample(pid=proc.pid):
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss(pid))
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, err = proc.communicate()
        done.set()
        sampler.join()
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}): {err.decode()[-500:]}")
    return time.perf_counter() - start, peak


_PYVIPS = """
import sys, pyvips
mask = pyvips.Image.new_from_file(sys.argv[1])
out = sys.argv[2]
for path in sys.argv[3:]:
    image = pyvips.Image.new_from_file(path, access="sequential")
    image.conv(mask, precision="integer").write_to_file(out + "/" + path.rsplit("/", 1)[1])
"""


def tools(photos: list[Path], folder: Path, out: Path, mask: Path, has_pyvips: bool) -> dict:
    """Tool name -> the commands that blur every photo into ``out``."""
    files = [str(p) for p in photos]
    table = {
        "cnnconv --jobs 2": [[sys.executable, "-m", "cnnconv", "filter", str(folder), "-k", KERNEL, "--normalize",
                              "--boundary", "edge", "--out-dir", str(out), "--name", "{stem}{ext}", "--jobs", "2",
                              "-q"]],
        "mogrify -path": [["mogrify", "-path", str(out), "-convolve", "1,2,1,2,4,2,1,2,1", *files]],
        "vips, a process per file": [["vips", "conv", f, str(out / Path(f).name), str(mask), "--precision", "integer"]
                                     for f in files],
    }
    if has_pyvips:
        table["pyvips, one process"] = [[sys.executable, "-c", _PYVIPS, str(mask), str(out), *files]]
    return table


def compare(reference: Path, other: Path, names: list[str]) -> int:
    """The largest sample difference between two output folders over ``names``."""
    from PIL import Image

    worst = 0
    for name in names:
        a = np.asarray(Image.open(reference / name).convert("RGB")).astype(np.int16)
        b = np.asarray(Image.open(other / name).convert("RGB")).astype(np.int16)
        worst = max(worst, int(np.abs(a - b).max()))
    return worst


def run_set(label: str, photos: list[Path], repeats: int, work: Path, mask: Path, has_pyvips: bool) -> list[dict]:
    folder = photos[0].parent
    outs = {}
    times: dict[str, list[float]] = {}
    peaks: dict[str, int] = {}
    names = tools(photos, folder, work, mask, has_pyvips)
    for r in range(repeats):
        for i, name in enumerate(names):
            out = work / f"{label}-{i}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            wall, peak = measure(tools(photos, folder, out, mask, has_pyvips)[name])
            times.setdefault(name, []).append(wall)
            peaks[name] = max(peaks.get(name, 0), peak)
            outs[name] = out
            print(f"  {label} run {r + 1}: {name:26s} {wall:7.2f} s, peak {peak / 2**20:6.0f} MiB", flush=True)
    reference = outs["cnnconv --jobs 2"]
    checked = [p.name for p in photos[:: max(1, len(photos) // 10)]]
    rows = []
    base = statistics.median(times["cnnconv --jobs 2"])
    for name in names:
        wall = statistics.median(times[name])
        rows.append({"set": label, "tool": name, "wall": wall, "per_file_ms": 1000 * wall / len(photos),
                     "peak_mib": peaks[name] / 2**20, "ratio": wall / base,
                     "max_diff": 0 if name.startswith("cnnconv") else compare(reference, outs[name], checked),
                     "files": len(photos), "runs": len(times[name])})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| photos | tool | wall (median) | per file | peak memory | time / cnnconv's | max diff from cnnconv |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['set']} | {r['tool']} | {r['wall']:.2f} s ({r['runs']} runs) | {r['per_file_ms']:.0f} ms | "
                     f"{r['peak_mib']:.0f} MiB | {r['ratio']:.2f}x | {r['max_diff']} |")
    return "\n".join(lines)


def write_section(text: str) -> None:
    doc = ROOT / "BENCHMARKS.md"
    start, end = "<!-- batch -->", "<!-- end batch -->"
    body = doc.read_text()
    if start in body:
        head, _, rest = body.partition(start)
        _, _, tail = rest.partition(end)
        body = f"{head}{start}\n{text}\n{end}{tail}"
    else:
        body = body.rstrip("\n") + f"\n\n{start}\n{text}\n{end}\n"
    doc.write_text(body)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=200, help="photos of 512x512 (0: none)")
    parser.add_argument("--large", type=int, default=20, help="photos of 4096x4096 (0: none)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the 512x512 set (the 4096x4096 set: 1)")
    parser.add_argument("--photos", type=Path, default=Path(tempfile.gettempdir()) / "cnnconv-batch-photos",
                        help="where the photos are made and kept")
    parser.add_argument("--prepare", action="store_true", help="only make the photos")
    parser.add_argument("--write", action="store_true", help="replace the batch section of BENCHMARKS.md")
    args = parser.parse_args(argv)
    versions = ensure_tools()
    try:
        import pyvips  # noqa: F401

        has_pyvips = True
    except ImportError:
        has_pyvips = False
        print("pyvips is not installed: the one-process libvips run is left out (pip install pyvips)")
    sets = [(f"{args.small} of 512²", args.small, 512, args.repeats), (f"{args.large} of 4096²", args.large, 4096, 1)]
    photos = {label: make_photos(args.photos / str(size), n, size) for label, n, size, _ in sets if n}
    if args.prepare:
        return 0
    load = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mask = work / "blur.mat"
        mask.write_text(MASK)
        for label, n, size, repeats in sets:
            if n:
                rows += run_set(label, photos[label], repeats, work, mask, has_pyvips)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"## Batches against mogrify and libvips (`benchmarks/batch.py`)\n\n"
            f"Run of {now}, `python benchmarks/batch.py --small {args.small} --large {args.large} "
            f"--repeats {args.repeats}` on {platform.machine()} with {os.cpu_count()} cores (load average "
            f"{load[0]:.1f} at the start); {', '.join(f'{k} {v}' for k, v in versions.items())}. Every tool blurs "
            "RGB PNG photos with the binomial 3x3 kernel, edge pixels repeated at the border, and writes PNG at its "
            "own default compression (cnnconv zlib level 1 run-length, ImageMagick 7, libvips 6). Peak memory is the "
            "largest resident size of one command's process tree (the vips loop: of one of its processes). "
            "\"max diff\" is the largest sample difference from cnnconv's output over every tenth photo.\n\n"
            + table(rows))
    print()
    print(text)
    if args.write:
        write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
