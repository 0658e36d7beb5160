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


# -- pixels: reference commands and the cnnconv command giving the same pixels -----------------------------

COMPAT = FIXTURES / "compat"
#: Kernels the pixel cases share: a libvips matrix (binomial 3x3 over 16) and an asymmetric one that shows
#: which tool flips (correlation and convolution differ on it).
MATRICES = {
    "blur.mat": "3 3 16 0\n1 2 1\n2 4 2\n1 2 1\n",
    "skew.mat": "3 3 7 0\n4 1 0\n1 0 0\n0 0 1\n",
}
_SKEW = [[4, 1, 0], [1, 0, 0], [0, 0, 1]]
_SKEW_INLINE = "4,1,0; 1,0,0; 0,0,1"

#: id -> (tool, input, reference command as shown, how it runs, cnnconv command). ``{in}``/``{out}`` are files;
#: a Python reference is an expression over ``x`` (the uint8 input) and the modules it names.
PIXEL_CASES = {
    "im-morphology-convolve": ("imagemagick", "gray", "convert {in} -define convolve:scale='!' -morphology Convolve "
                               "'3x3: 4,1,0 1,0,0 0,0,1' {out}", "shell",
                               f"filter {{in}} -k '{_SKEW_INLINE}' --convolve --normalize --boundary edge -o {{out}}"),
    "im-convolve": ("imagemagick", "gray", "convert {in} -convolve '4,1,0,1,0,0,0,0,1' {out}", "shell",
                    f"filter {{in}} -k '{_SKEW_INLINE}' --normalize --boundary edge -o {{out}}"),
    "im-morphology-sobel": ("imagemagick", "gray", "convert {in} -morphology Convolve Sobel {out}", "shell",
                            "filter {in} -k im:Sobel --convolve --boundary edge -o {out}"),
    "im-convolve-rgb": ("imagemagick", "rgb", "convert {in} -convolve '1,2,1,2,4,2,1,2,1' {out}", "shell",
                        "filter {in} -k '1,2,1; 2,4,2; 1,2,1' --normalize --boundary edge -o {out}"),
    "im-gaussian-blur": ("imagemagick", "rgb", "convert {in} -gaussian-blur 0x1.5 {out}", "shell",
                         "filter {in} -k im:Gaussian:0x1.5 --boundary edge -o {out}"),
    "im-unsharp": ("imagemagick", "gray", "convert {in} -unsharp 0x1+1+0 {out}", "shell",
                   "filter {in} -k unsharp:sigma=1,amount=1 --boundary edge -o {out}"),
    "im-median": ("imagemagick", "rgb", "convert {in} -statistic Median 3x3 {out}", "shell",
                  "pool {in} --op median --size 3 --mode same --boundary edge -o {out}"),
    "im-erode": ("imagemagick", "gray", "convert {in} -morphology Erode Square:1 {out}", "shell",
                 "pool {in} --op min --size 3 --mode same -o {out}"),
    "im-dilate": ("imagemagick", "gray", "convert {in} -morphology Dilate Square:1 {out}", "shell",
                  "pool {in} --op max --size 3 --mode same -o {out}"),
    "vips-conv": ("libvips", "rgb", "vips conv {in} {out} blur.mat --precision integer", "shell",
                  "filter {in} -k blur.mat --boundary edge -o {out}"),
    "vips-conv-skew": ("libvips", "gray", "vips conv {in} {out} skew.mat --precision integer", "shell",
                       "filter {in} -k skew.mat --boundary edge -o {out}"),
    "vips-median": ("libvips", "gray", "vips rank {in} {out} 3 3 4", "shell",
                    "pool {in} --op median --size 3 --mode same --boundary edge -o {out}"),
    "vips-gaussblur": ("libvips", "gray", "vips gaussblur {in} {out} 1.5", "shell",
                       "filter {in} -k gauss.mat --boundary edge -o {out}"),
    "vips-gaussblur-sampled": ("libvips", "gray", "vips gaussblur {in} {out} 1.5", "shell",
                               "filter {in} -k gaussian:sigma=1.5 --boundary edge -o {out}"),
    "opencv-filter2d": ("opencv", "rgb", "cv2.filter2D(x, -1, np.array(SKEW, np.float32) / 7)", "python",
                        f"filter {{in}} -k '{_SKEW_INLINE}' --normalize --boundary mirror -o {{out}}"),
    "opencv-gaussian": ("opencv", "gray", "cv2.GaussianBlur(x, (5, 5), 1.0)", "python",
                        "filter {in} -k gaussian:sigma=1,size=5 --boundary mirror -o {out}"),
    "opencv-median": ("opencv", "rgb", "cv2.medianBlur(x, 3)", "python",
                      "pool {in} --op median --size 3 --mode same --boundary edge -o {out}"),
    "opencv-erode": ("opencv", "gray", "cv2.erode(x, np.ones((3, 3), np.uint8))", "python",
                     "pool {in} --op min --size 3 --mode same -o {out}"),
    "scipy-median": ("scipy", "rgb", "ndimage.median_filter(x, size=(3, 3, 1), mode='reflect')", "python",
                     "pool {in} --op median --size 3 --mode same --boundary reflect -o {out}"),
    "scipy-median-even": ("scipy", "gray", "ndimage.median_filter(x, size=4, mode='mirror', origin=-1)", "python",
                          "pool {in} --op median --size 4 --mode same --boundary mirror -o {out}"),
    "scipy-median-wrap": ("scipy", "gray", "ndimage.median_filter(x, size=(3, 5), mode='wrap')", "python",
                          "pool {in} --op median --size 3,5 --mode same --boundary wrap -o {out}"),
    "scipy-correlate": ("scipy", "gray", "np.clip(np.rint(ndimage.correlate(x / 1.0, np.array(SKEW) / 7, "
                        "mode='mirror')), 0, 255)", "python",
                        f"filter {{in}} -k '{_SKEW_INLINE}' --normalize --boundary mirror -o {{out}}"),
    "scipy-convolve": ("scipy", "gray", "np.clip(np.rint(ndimage.convolve(x / 1.0, np.array(SKEW) / 7, "
                       "mode='nearest')), 0, 255)", "python",
                       f"filter {{in}} -k '{_SKEW_INLINE}' --normalize --convolve --boundary edge -o {{out}}"),
    "scipy-uniform": ("scipy", "gray", "np.rint(ndimage.uniform_filter(x / 1.0, 5, mode='reflect'))", "python",
                      "pool {in} --op avg --size 5 --mode same --boundary reflect -o {out}"),
    "scipy-grey-dilation": ("scipy", "gray", "ndimage.grey_dilation(x, size=(3, 3), mode='nearest')", "python",
                            "pool {in} --op max --size 3 --mode same --boundary edge -o {out}"),
}


def _inputs() -> dict:
    """32x32 crops of the sample images (8-bit gray and RGB), written as the fixtures' inputs."""
    from PIL import Image

    gray = np.asarray(Image.open(ROOT / "sample_images" / "camera.png").convert("L"))[100:132, 200:232]
    rgb = np.asarray(Image.open(ROOT / "sample_images" / "astronaut.png").convert("RGB"))[60:92, 200:232]
    made = {"gray": gray, "rgb": rgb}
    for name, x in made.items():
        Image.fromarray(x).save(COMPAT / f"{name}.png")
    return made


def _reference(case: str, x: np.ndarray, work: Path) -> np.ndarray:
    from PIL import Image

    tool, kind, command, how, _ = PIXEL_CASES[case]
    if how == "shell":
        out = work / f"{case}-ref.png"
        line = command.replace("convert ", CONVERT + " ", 1).format(**{"in": str(COMPAT / f"{kind}.png"),
                                                                      "out": str(out)})
        run(shlex.split(line), cwd=COMPAT)
        y = np.asarray(Image.open(out))
        return y[..., :3] if kind == "rgb" and y.ndim == 3 else y
    import cv2  # noqa: F401 - named in the expressions
    from scipy import ndimage  # noqa: F401

    y = eval(command, {"np": np, "cv2": cv2, "ndimage": ndimage, "SKEW": _SKEW, "x": x})  # noqa: S307 - our own table
    return np.asarray(y).astype(np.uint8)


def _cnnconv(case: str, work: Path) -> np.ndarray:
    from PIL import Image

    _, kind, _, _, command = PIXEL_CASES[case]
    out = work / f"{case}-cnnconv.png"
    line = command.format(**{"in": str(COMPAT / f"{kind}.png"), "out": str(out)})
    run([sys.executable, "-m", "cnnconv", *shlex.split(line)], cwd=COMPAT)
    return np.asarray(Image.open(out))


def pixel_part(versions: dict, *, write: bool = False) -> None:
    """Run every pixel case, pin the references as fixtures, print (and with ``write`` store) the table."""
    from PIL import Image

    COMPAT.mkdir(parents=True, exist_ok=True)
    for name, text in MATRICES.items():
        (COMPAT / name).write_text(text)
    # the mask vips gaussblur 1.5 builds (min_ampl 0.2, integer), as a file cnnconv reads
    run(["vips", "gaussmat", str(COMPAT / "gauss.mat"), "1.5", "0.2", "--precision", "integer"])
    inputs = _inputs()
    records = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for case, (tool, kind, command, how, cnn) in PIXEL_CASES.items():
            try:
                ref = _reference(case, inputs[kind], work)
            except (subprocess.CalledProcessError, ImportError) as exc:
                print(f"{case}: reference failed: {exc}")
                continue
            mine = _cnnconv(case, work)
            diff = int(np.abs(ref.astype(int) - mine.astype(int)).max())
            Image.fromarray(ref).save(COMPAT / f"{case}.png")
            records[case] = {"tool": tool, "version": versions.get(tool), "input": f"{kind}.png",
                             "reference": command, "cnnconv": cnn, "max_difference": diff,
                             "differing_pixels": int(np.count_nonzero(ref != mine))}
            print(f"{case:24s} max difference {diff:3d}  ({records[case]['differing_pixels']} samples differ)")
    (COMPAT / "compat.json").write_text(json.dumps({"made_by": "benchmarks/compat.py", "versions": versions,
                                                    "cases": records}, indent=1) + "\n")
    print(f"wrote {COMPAT.relative_to(ROOT)}/ ({len(records)} cases)")
    if write:
        _write_table(records, versions)


def shown(command: str) -> str:
    """A table command with its files named as a reader types them.

    >>> shown("convert {in} -blur 0x1 {out}")
    'convert in.png -blur 0x1 out.png'
    """
    return command.replace("{in}", "in.png").replace("{out}", "out.png")


def _write_table(records: dict, versions: dict) -> None:
    doc = ROOT / "docs" / "compat.md"
    text = doc.read_text()
    rows = ["| tool | reference command | cnnconv command | max difference |", "|---|---|---|---|"]
    for rec in records.values():
        rows.append(f"| {rec['tool']} | `{shown(rec['reference'])}` | `cnnconv {shown(rec['cnnconv'])}` | "
                    f"{rec['max_difference']} |")
    table = "\n".join(rows)
    start, end = "<!-- compat table -->", "<!-- end compat table -->"
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    made = "; ".join(f"{k}: {v}" for k, v in versions.items())
    doc.write_text(f"{head}{start}\nMeasured by `python benchmarks/compat.py --parts pixels --write` on 32x32 crops "
                   f"of sample_images/camera.png (gray) and astronaut.png (RGB), 8-bit; tools: {made}. "
                   "`in.png` is the input, `out.png` the output; a Python reference is an expression over `x`, the "
                   f"input as a uint8 array.\n\n{table}\n{end}{tail}")
    print(f"wrote the table in {doc.relative_to(ROOT)}")


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
        pixel_part(versions, write=args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
