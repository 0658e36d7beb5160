"""Same pixels as ImageMagick, libvips, OpenCV and scipy: the compat table and its fixtures.

Run from the repository root: ``python benchmarks/compat.py`` (needs root for apt-get, or
ImageMagick and libvips-tools already installed, and ``pip install scipy
opencv-python-headless``). It

1. installs ``imagemagick`` and ``libvips-tools`` with apt-get when they are missing;
2. prints every ImageMagick kernel form with ``-define morphology:showKernel=1`` and
   writes the values to ``tests/fixtures/imagemagick_kernels.json``;
3. runs each reference command of docs/compat.md on a 32x32 crop of
   sample_images/ (8-bit gray and RGB), writes the reference outputs as small fixtures
   (``tests/fixtures/compat/``) with the tool versions in ``compat.json``, runs the
   cnnconv command that should give the same pixels, and prints the maximum difference
   (the table of docs/compat.md; ``--write`` replaces it there).

The tests (tests/test_compat.py, tests/kernels/test_imagemagick.py) read only the
fixtures: none of these tools is a test dependency.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
CONVERT = "/usr/bin/convert"  # the real ImageMagick, not a wrapper earlier on PATH

#: Every kernel form the ImageMagick reader claims to know, checked value by value.
KERNEL_SPECS = [
    "3x3: 1,2,1 2,4,2 1,2,1", "3x3+0+0: 1,2,3 4,5,6 7,8,9", "2x3+1+0: 1 2 3 4 5 6", "3: 1,-,1 -,4,- 1,-,1",
    "1,2,1,2,4,2,1,2,1", "3x3@: 1,2,3 4,5,6 7,8,9", "3x3>: 1,2,3 4,5,6 7,8,9", "3x3<: 1,2,3 4,5,6 7,8,9",
    "3x3+0+0>: 1,2,3 4,5,6 7,8,9",
    "Unity", "Unity:2", "Gaussian:0x1", "Gaussian:2x1", "Gaussian:0x0.5", "Gaussian:0x2", "Gaussian:3", "Gaussian:1x3",
    "LoG:0,1", "LoG:3,1.4", "DoG:0,1,2", "DoG:3,1,1.6", "DoG:0x2+1",
    "Blur:0x1", "Blur:3x1", "Blur:0x2+90", "Blur:2x1+270", "Comet:0x1", "Comet:5x2", "Comet:0x1+90", "Comet:3x1+180",
    "Comet:3x1+270", "Comet:0.5x0.5", "Binomial", "Binomial:2", "Binomial:3",
    "Laplacian", "Laplacian:0", "Laplacian:1", "Laplacian:2", "Laplacian:3", "Laplacian:5", "Laplacian:7",
    "Laplacian:15", "Laplacian:19",
    "Sobel", "Sobel:45", "Sobel:90", "Sobel:135", "Sobel:180", "Sobel:225", "Sobel:270", "Sobel:315", "Sobel:-90",
    "Sobel:30", "Sobel:@", "Sobel:>", "Sobel:<", "Prewitt", "Prewitt:90", "Roberts", "Roberts:@", "Compass",
    "Compass:@", "Kirsch", "Kirsch:@", "Kirsch:135",
    "FreiChen", "FreiChen:0", "FreiChen:1", "FreiChen:2", "FreiChen:10", "FreiChen:11", "FreiChen:12", "FreiChen:13",
    "FreiChen:14", "FreiChen:15", "FreiChen:16", "FreiChen:17", "FreiChen:18", "FreiChen:19", "FreiChen:45",
    "FreiChen:1,90", "FreiChen:@",
    "Square", "Square:2", "Square:1x2", "Diamond", "Diamond:2", "Diamond:3x2", "Disk", "Disk:1", "Disk:2", "Disk:3",
    "Disk:4", "Octagon", "Octagon:3", "Plus", "Plus:1", "Cross", "Cross:3", "Rectangle:3x2", "Rectangle:4x3+0+2",
]  # fmt: skip


def run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, check=True, **kw)


def ensure_tools() -> dict:
    """Install ImageMagick and libvips-tools when missing; return their versions."""
    if not Path(CONVERT).exists() or shutil.which("vips") is None:
        subprocess.run(["apt-get", "install", "-y", "imagemagick", "libvips-tools"], check=True)
    im = run([CONVERT, "-version"]).stdout.decode().splitlines()[0]
    vips = run(["vips", "--version"]).stdout.decode().strip()
    out = {"imagemagick": im.replace("Version: ", ""), "libvips": vips}
    try:
        import scipy

        out["scipy"] = scipy.__version__
    except ImportError:
        pass
    try:
        import cv2

        out["opencv"] = cv2.__version__
    except ImportError:
        pass
    return out


_HEADER = re.compile(r'Kernel (?:#\d+ )?"[^"]*" of size (\d+)x(\d+)([+-]\d+)([+-]\d+)')


def show_kernels(spec: str) -> list[dict]:
    """ImageMagick's own values for a kernel string: [{"origin": [row, col], "weights": rows}]."""
    proc = subprocess.run([CONVERT, "xc:", "-define", "morphology:showKernel=1", "-morphology", "Convolve:0", spec,
                           "null:"], capture_output=True, text=True)
    kernels = []
    for line in proc.stderr.splitlines():
        m = _HEADER.search(line)
        if m:
            w, h, x, y = map(int, m.groups())
            kernels.append({"origin": [y, x], "shape": [h, w], "weights": []})
        elif kernels and re.match(r"\s*\d+:", line):
            kernels[-1]["weights"].append([None if v == "nan" else float(v) for v in line.split(":", 1)[1].split()])
    if not kernels:
        raise RuntimeError(f"ImageMagick refused {spec!r}: {proc.stderr.strip()}")
    return kernels


def kernel_fixture(versions: dict) -> None:
    table = {spec: show_kernels(spec) for spec in KERNEL_SPECS}
    path = FIXTURES / "imagemagick_kernels.json"
    path.write_text(json.dumps({"made_by": "benchmarks/compat.py", "imagemagick": versions["imagemagick"],
                                "kernels": table}, indent=0) + "\n")
    print(f"wrote {path.relative_to(ROOT)} ({len(table)} kernel strings)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="kernels,pixels", help="kernels, pixels (comma separated)")
    parser.add_argument("--write", action="store_true", help="Replace the table in docs/compat.md.")
    args = parser.parse_args(argv)
    versions = ensure_tools()
    print(versions)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    parts = args.parts.split(",")
    if "kernels" in parts:
        kernel_fixture(versions)
    if "pixels" in parts:
        from compat_pixels import pixel_part

        pixel_part(versions, write=args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
