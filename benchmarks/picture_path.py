"""The picture path: one 8- or 16-bit picture through the command line, beside libvips and OpenCV.

Each run is a fresh process timed with GNU time (wall seconds and peak RSS), the contenders
interleaved, the median of ``--repeats`` kept. The pictures are made once in ``--work``
(synthetic photos: 16-pixel blocks plus noise, so PNG compresses as photos do).

    python benchmarks/picture_path.py --work /tmp/picture-path --repeats 3 [--huge] [--write]

``--huge`` adds the 1-gigapixel gray BigTIFF (32,768²) and the 30,000² RGB BigTIFF
(2.7 GB of samples), streamed by cnnconv with ``--max-memory 1GB``. ``--write`` puts the
table into BENCHMARKS.md between its ``picture-path`` markers. Needs ``vips`` (Debian's
libvips-tools), tifffile and OpenCV (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine  # noqa: E402

SOBEL = "3 3 1 0\n-1 0 1\n-2 0 2\n-1 0 1\n"
BOX = "3 3 9 0\n1 1 1\n1 1 1\n1 1 1\n"
OPENCV = """
import sys, cv2, numpy as np
src, dst, kernel = sys.argv[1:4]
k = {"sobel-x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32),
     "box3": np.full((3, 3), 1 / 9, np.float32)}[kernel]
img = cv2.imread(src, cv2.IMREAD_UNCHANGED)
cv2.imwrite(dst, cv2.filter2D(img, -1, k, borderType=cv2.BORDER_CONSTANT))
"""


def photo(h, w, c, bits, rng):
    import numpy as np

    small = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, c)).astype(np.float32)
    out = np.empty((h, w, c), np.uint16 if bits == 16 else np.uint8)
    for r in range(0, h, 1024):  # in row blocks, so the 2.7 GB picture is made in little memory
        block = np.repeat(np.repeat(small[r // 16:(r + 1024) // 16 + 1], 16, 0), 16, 1)[: min(1024, h - r), :w]
        block = np.clip(block + rng.normal(0, 8, block.shape).astype(np.float32), 0, 255)
        out[r:r + block.shape[0]] = block * 257 if bits == 16 else block
    return out[..., 0] if c == 1 else out


def make_pictures(work: Path, huge: bool):
    import numpy as np
    import tifffile
    from PIL import Image

    rng = np.random.default_rng(0)
    cases = [("4096² RGB PNG", "rgb4096.png", "sobel-x"), ("4096² RGB TIFF", "rgb4096.tif", "sobel-x"),
             ("4096² RGB 16-bit TIFF", "rgb4096_16.tif", "sobel-x"),
             ("8192² gray tiled TIFF", "gray8192.tif", "box3"), ("16384² gray tiled TIFF", "gray16384.tif", "box3")]
    if huge:
        cases += [("32768² gray tiled BigTIFF (1 Gpx)", "gray32768.tif", "box3"),
                  ("30000² RGB tiled BigTIFF (2.7 GB)", "rgb30000.tif", "box3")]
    for _, name, _ in cases:
        path = work / name
        if path.exists():
            continue
        if name == "rgb4096.png":
            Image.fromarray(photo(4096, 4096, 3, 8, rng)).save(path)
        elif name == "rgb4096.tif":
            tifffile.imwrite(path, photo(4096, 4096, 3, 8, rng))
        elif name == "rgb4096_16.tif":
            tifffile.imwrite(path, photo(4096, 4096, 3, 16, rng))
        else:
            side = int(re.search(r"\d+", name).group())
            channels = 3 if name.startswith("rgb") else 1
            tifffile.imwrite(path, photo(side, side, channels, 8, rng), tile=(256, 256), bigtiff=side > 16384)
    return cases


def timed(cmd):
    """(wall seconds, peak RSS in MB) of one run of ``cmd`` under GNU time."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", *cmd], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    wall, rss = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss) / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/picture-path"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--huge", action="store_true")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "sobel-x.mat").write_text(SOBEL)
    (args.work / "box3.mat").write_text(BOX)
    (args.work / "opencv_filter.py").write_text(OPENCV)
    vips = shutil.which("vips")
    version = subprocess.run([vips, "--version"], capture_output=True, text=True).stdout.strip() if vips else "missing"
    cnnconv = [sys.executable, "-m", "cnnconv", "filter"]
    rows = []
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = machine()
    for title, name, kernel in make_pictures(args.work, args.huge):
        src = str(args.work / name)
        ext = Path(name).suffix
        big = "BigTIFF" in title
        contenders = {
            "cnnconv": cnnconv + [src, "-k", kernel, "-q", "-o", str(args.work / f"out-cnnconv{ext}")]
            + (["--max-memory", "1GB", "--max-pixels", "none"] if big else ["--max-pixels", "none"]),
            "vips": [vips, "conv", src, str(args.work / f"out-vips{ext}"), str(args.work / f"{kernel}.mat"),
                     "--precision", "integer"],
        }
        if not big and "16384" not in title:
            contenders["opencv"] = [sys.executable, str(args.work / "opencv_filter.py"), src,
                                    str(args.work / f"out-opencv{ext}"), kernel]
        runs = {k: [] for k in contenders}
        for _ in range(args.repeats):
            for k, cmd in contenders.items():
                runs[k].append(timed(cmd))
        med = {k: (statistics.median(w for w, _ in v), statistics.median(m for _, m in v)) for k, v in runs.items()}
        size_mb = os.path.getsize(src) / 2**20
        rows.append((title, kernel, size_mb, med))
        print(title, {k: f"{w:.2f} s {m:.0f} MB" for k, (w, m) in med.items()}, flush=True)
    lines = [f"Machine: {header}. Date: {started}. libvips: {version}.",
             f"Command: `python benchmarks/picture_path.py --repeats {args.repeats}{' --huge' if args.huge else ''}`; "
             "each run a fresh process under GNU time (wall, peak RSS), contenders interleaved, medians. "
             "cnnconv: `cnnconv filter IN -k KERNEL -o OUT` (`--max-memory 1GB` for the BigTIFFs); "
             "libvips: `vips conv IN OUT KERNEL.mat --precision integer`; OpenCV: imread, filter2D, imwrite from Python.",
             "",
             "| picture | kernel | cnnconv | libvips | OpenCV | cnnconv / libvips (time) | cnnconv / OpenCV (time) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for title, kernel, _, med in rows:
        c, v, o = med["cnnconv"], med["vips"], med.get("opencv")
        fmt = lambda t: f"{t[0]:.2f} s, {t[1]:.0f} MB"  # noqa: E731
        lines.append(f"| {title} | {kernel} | {fmt(c)} | {fmt(v)} | {fmt(o) if o else '—'} | {c[0] / v[0]:.2f}× | "
                     f"{f'{c[0] / o[0]:.2f}×' if o else '—'} |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        bench = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
        doc = bench.read_text()
        block = f"<!-- picture-path:begin -->\n## The picture path: one picture through the command line (`benchmarks/picture_path.py`)\n\n{text}\n<!-- picture-path:end -->"
        if "<!-- picture-path:begin -->" in doc:
            doc = re.sub(r"<!-- picture-path:begin -->.*?<!-- picture-path:end -->", lambda m: block, doc, flags=re.S)
        else:
            doc = doc.rstrip() + "\n\n" + block + "\n"
        bench.write_text(doc)


if __name__ == "__main__":
    main()
