"""The bad-input matrix (docs/errors.md): every bad input gets one clear line, and nothing is lost.

One table, :data:`ROWS`. Each row builds its input in ``tmp_path``, runs one command line
in-process (``CliRunner`` on ``cnnconv.cli.cli``) and states the exit code and a regex for
the one stderr line that must say what happened (an error line ``cnnconv: error: ...`` when
the command fails, a note or warning when it succeeds with something to say).

For every row, whatever it tests, the harness also checks the promises every command makes:

* no traceback and no exception other than a clean exit;
* the exit code is exactly 0 (success), 1 (some work failed), 2 (usage) or 130 (interrupted);
* every stderr line is a ``cnnconv: ...`` line (error, note, warning, batch summary), except
  the two-line illustration under a bad layer spec (the spec and a caret under the token);
* the message regex matches exactly one line, and failed rows have one error line per error;
* where the command has ``--json``, the same row run with ``--json`` gives the same exit code,
  stdout made of JSON lines only, and the error (or the note) inside a JSON record.

The SIGINT row runs the real ``python -m cnnconv train`` in a subprocess; so do two rows
that check a real process's stderr.  ``python tests/test_bad_input.py`` prints the table of
docs/errors.md from real runs of the matrix.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import shlex
import signal
import struct
import subprocess
import sys
import tracemalloc
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cnnconv.cli import cli

JSON_COMMANDS = {"filter", "pool", "kernels", "train", "predict", "evaluate"}
TRAIN = "--epochs 1 --batch-size 4 --layers conv3x4,relu,pool2"
#: Lines besides errors a command may print on stderr.
OTHER_LINE = re.compile(r"^cnnconv: (note|warning|interrupted|\d+ of \d+ inputs failed$)")


# --------------------------------------------------------------------------- builders


def png(size=(8, 8), mode="RGB", color=None, fmt="PNG", **save) -> bytes:
    """An image file's bytes (a gradient unless ``color``), made with Pillow."""
    w, h = size
    if color is None:
        values = (np.arange(w * h).reshape(h, w) * 7 % 256).astype(np.uint8)
        im = Image.fromarray(values).convert(mode)
    else:
        im = Image.new(mode, size, color)
    buffer = io.BytesIO()
    im.save(buffer, fmt, **save)
    return buffer.getvalue()


def noise_png(size=(32, 32), seed=0) -> bytes:
    """A PNG of random RGB pixels: it does not compress, so cutting it really truncates the data."""
    values = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, "PNG")
    return buffer.getvalue()


def truncated_png() -> bytes:
    data = noise_png()
    return data[: len(data) // 2]


def tiff_with_tag(tag: int, value: int) -> bytes:
    """An RGBA TIFF whose IFD entry ``tag`` holds ``value`` (a damaged or hostile header)."""
    values = (np.arange(6 * 8 * 4).reshape(6, 8, 4) * 11 % 256).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(values, "RGBA").save(buffer, "TIFF")
    data = bytearray(buffer.getvalue())
    assert data[:4] == b"II*\x00"  # little-endian TIFF
    ifd = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        at = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, at)[0] == tag:
            struct.pack_into("<I", data, at + 8, value)
            return bytes(data)
    raise LookupError(tag)


def npy_with_header(old: bytes, new: bytes) -> bytes:
    """A .npy of a 3x3 array with part of its header text replaced."""
    buffer = io.BytesIO()
    np.save(buffer, np.arange(9.0).reshape(3, 3))
    data = buffer.getvalue()
    assert old in data
    return data.replace(old, new.ljust(len(old)))


def files(**named) -> Callable[[Path], None]:
    """A builder writing ``{name: bytes or str}`` (a name may hold ``/`` and spaces; ``__`` is ``.``)."""

    def build(tmp: Path) -> None:
        for name, data in named.items():
            path = tmp / name.replace("__", ".")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data.encode() if isinstance(data, str) else data)

    return build


def write(tmp: Path, name: str, data) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def both(*builders):
    def build(tmp):
        for b in builders:
            b(tmp)

    return build


def bomb_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (the data is a 1x1 image's)."""
    data = bytearray(png((1, 1), "L", 0))
    data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


def animated_gif(tmp: Path) -> None:
    frames = [Image.new("L", (6, 5), v) for v in (40, 120, 200)]
    frames[0].save(tmp / "anim.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)


def exif_jpeg(tmp: Path) -> None:
    im = Image.new("L", (8, 4), 0)
    im.paste(255, (4, 0, 8, 4))  # stored: dark left half, bright right half
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    im.save(tmp / "photo.jpg", "JPEG", exif=exif.tobytes(), quality=100)


def palette_png(tmp: Path) -> None:
    im = Image.new("P", (4, 3), 0)
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (253 * 3))
    im.putpixel((1, 1), 1)
    im.putpixel((2, 2), 2)
    im.save(tmp / "pal.png")


def cmyk_tiff(tmp: Path) -> None:
    values = (np.arange(5 * 4 * 4).reshape(5, 4, 4) * 13 % 256).astype(np.uint8)
    Image.frombytes("CMYK", (4, 5), values.tobytes()).save(tmp / "print.tif")


def dataset(tmp: Path, classes=("a", "b"), per_class=4, size=(8, 8), root="data") -> Path:
    """A tiny folder data set: class ``a`` dark squares, ``b`` bright ones."""
    for k, name in enumerate(classes):
        folder = tmp / root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            im = Image.new("L", size, 30 + 170 * k + 5 * i)
            im.putpixel((i % size[0], 0), 255 - 30 * k)
            im.save(folder / f"{i}.png")
    return tmp / root


def model_file(tmp: Path, name: str = "m.npz") -> Path:
    """A real model trained (one epoch) on :func:`dataset`, copied from the module's cache."""
    target = tmp / name
    target.write_bytes(_trained_model_bytes())
    return target


_MODEL_CACHE: dict[str, bytes] = {}


def _trained_model_bytes() -> bytes:
    if "model" not in _MODEL_CACHE:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            data = dataset(tmp)
            result = CliRunner().invoke(cli, ["train", str(data), "-o", str(tmp / "m.npz"), *TRAIN.split()])
            assert result.exit_code == 0, result.output
            _MODEL_CACHE["model"] = (tmp / "m.npz").read_bytes()
    return _MODEL_CACHE["model"]


def rewrite_npz(path: Path, change: Callable[[dict], None]) -> None:
    """Rewrite an .npz with ``change(entries)`` applied (entries read with pickles allowed)."""
    with np.load(path, allow_pickle=True) as npz:
        entries = {k: npz[k] for k in npz.files}
    change(entries)
    with open(path, "wb") as f:
        np.savez(f, **entries)


class PickleBomb:
    """Unpickling this creates the file ``self.marker``: proof that a pickle was run."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def object_array_model(tmp: Path) -> None:
    path = model_file(tmp)
    marker = str(tmp / "UNPICKLED")
    bomb = np.empty(1, dtype=object)
    bomb[0] = PickleBomb(marker)

    def add(entries):
        first = next(k for k in entries if k.startswith("w/"))
        entries[first] = bomb

    rewrite_npz(path, add)


def newer_version_model(tmp: Path) -> None:
    path = model_file(tmp)

    def bump(entries):
        meta = json.loads(entries["cnnconv.json"].tobytes().decode())
        meta["format_version"] += 1
        entries["cnnconv.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)

    rewrite_npz(path, bump)


def changed_model(change_meta=None, change_entries=None, raw_meta: bytes | None = None):
    """A trained model whose JSON description (or entries) a hostile hand changed."""

    def build(tmp: Path) -> None:
        path = model_file(tmp)

        def change(entries):
            meta = json.loads(entries["cnnconv.json"].tobytes().decode())
            if change_meta is not None:
                change_meta(meta)
            text = raw_meta if raw_meta is not None else json.dumps(meta).encode()
            entries["cnnconv.json"] = np.frombuffer(text, np.uint8)
            if change_entries is not None:
                change_entries(entries)

        rewrite_npz(path, change)

    return build


def first_weight(value):
    def change(entries):
        key = next(k for k in sorted(entries) if k.startswith("w/"))
        entries[key] = value(entries[key])

    return change


def huge_unused_entry(tmp: Path) -> None:
    """A model with an extra 64 MiB entry no network uses: it must not be read."""
    import zipfile

    path = model_file(tmp)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (8 << 20,)})
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_STORED) as z, z.open("junk.npy", "w", force_zip64=True) as f:
        f.write(header.getvalue())
        block = bytes(1 << 20)
        for _ in range(64):
            f.write(block)


# --------------------------------------------------------------------------- patches


def fail_writes(err: int, *, on_call: int = 1, exc=None):
    """A monkeypatch making the ``on_call``-th atomic write raise (``OSError(err)`` by default)."""

    def patch(monkeypatch):
        import cnnconv.io.atomic as atomic

        real_fdopen = atomic.os.fdopen
        calls = {"n": 0}

        class Failing(io.RawIOBase):
            def __init__(self, f):
                self.f = f

            def write(self, data):
                self.f.write(bytes(data)[: len(data) // 2])  # half of it lands first, as on a real disk
                raise exc if exc is not None else OSError(err, os.strerror(err))

            def __getattr__(self, name):
                return getattr(self.f, name)

            def __enter__(self):
                return self

            def __exit__(self, *args):
                self.f.close()

        def fdopen(fd, *args, **kwargs):
            f = real_fdopen(fd, *args, **kwargs)
            calls["n"] += 1
            return Failing(f) if calls["n"] == on_call else f

        monkeypatch.setattr(atomic.os, "fdopen", fdopen)

    return patch


def deny_temp_files(monkeypatch):
    import cnnconv.io.atomic as atomic

    def mkstemp(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)


# --------------------------------------------------------------------------- checks


def leftovers(folder: Path) -> list[str]:
    """Temporary or partial files an interrupted write might have left."""
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".part")


def no_output(*names):
    def check(tmp, result):
        for name in names:
            assert not (tmp / name).exists(), f"{name} was written"
        assert leftovers(tmp) == []

    return check


def same_pixels(output: str, expected: Callable[[Path], np.ndarray]):
    def check(tmp, result):
        got = np.asarray(Image.open(tmp / output))
        np.testing.assert_array_equal(got, expected(tmp))

    return check


def first_frame(tmp):
    return np.full((5, 6, 3), 40, np.uint8)  # palette expanded to RGB, frame 0 only


def palette_rgb(tmp):
    expected = np.zeros((3, 4, 3), np.uint8)
    expected[1, 1] = (255, 0, 0)
    expected[2, 2] = (0, 255, 0)
    return expected


def upright(tmp, result):
    out = np.asarray(Image.open(tmp / "up.png"))
    assert out.shape == (8, 4), "EXIF orientation 6 turns an 8x4 (WxH) image into 4x8"
    assert out[:4].max() < 60 and out[4:].min() > 195, "the stored left half must end on top"


def cmyk_kept(tmp, result):
    out = Image.open(tmp / "out.tif")
    assert out.mode == "CMYK"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(Image.open(tmp / "print.tif")))


def unchanged(name: str, data: bytes):
    def check(tmp, result):
        assert (tmp / name).read_bytes() == data, f"{name} was changed"
        assert leftovers(tmp) == []

    return check


def model_loads(name: str = "m.npz"):
    def check(tmp, result):
        from cnnconv.io.model import load_model

        network, meta = load_model(tmp / name)
        assert meta["class_names"] == ["a", "b"]

    return check


def no_unpickling(tmp, result):
    assert not (tmp / "UNPICKLED").exists(), "the object array was unpickled"
    # the file really is a pickle bomb: loading it the unsafe way sets it off
    with np.load(tmp / "m.npz", allow_pickle=True) as npz:
        for key in npz.files:
            npz[key]
    assert (tmp / "UNPICKLED").exists()


def batch_survivors(tmp, result):
    assert sorted(p.name for p in (tmp / "out").iterdir()) == ["a-box3.png", "c-box3.png"]
    assert leftovers(tmp) == []


def interrupted_batch(tmp, result):
    written = sorted(p.name for p in (tmp / "out").iterdir() if not p.name.startswith("."))
    assert written == ["a-box3.png"], written  # done before the interrupt; nothing else, nothing partial
    Image.open(tmp / "out" / "a-box3.png").load()
    assert leftovers(tmp) == []


def kernel_like(reference: str):
    """The output equals the one from the same kernel written plainly (in ``ref.txt``)."""

    def check(tmp, result):
        write(tmp, "ref.txt", reference)
        again = CliRunner().invoke(cli, ["filter", str(tmp / "in.png"), "-k", str(tmp / "ref.txt"),
                                         "-o", str(tmp / "ref.png")])
        assert again.exit_code == 0, again.output
        np.testing.assert_array_equal(np.asarray(Image.open(tmp / "out.png")), np.asarray(Image.open(tmp / "ref.png")))

    return check


# --------------------------------------------------------------------------- the table


@dataclass
class Row:
    cmd: str  # the command line, run in tmp_path
    code: int
    message: str | None  # regex for the one line (after "cnnconv: error: " when code != 0)
    build: Callable[[Path], None] = lambda tmp: None
    check: Callable | None = None  # check(tmp_path, result) after the run
    patch: Callable | None = None  # patch(monkeypatch) before the run
    max_alloc: int | None = None  # bytes the run may allocate (tracemalloc peak)
    caret: bool = False  # a layer-spec error: the spec and a caret follow the error line
    errors: int = 1  # error lines expected when code == 1
    json: bool = True  # also run with --json (if the command has it)
    stdin: bytes | None = None  # what the command reads on stdin
    json_message: str | None = None  # what a JSON record must say, when not ``message``


IMG = files(in__png=png())
IMG_GRAY = files(in__png=png(mode="L"))

_ROWS: list[tuple[str, Row, dict]] = []


def row(name: str, *, xfail: str | None = None, json_xfail: str | None = None, **fields) -> None:
    _ROWS.append((name, Row(**fields), {"xfail": xfail, "json_xfail": json_xfail}))


# Images
row("image: zero-byte file", build=files(in__png=b""), cmd="filter in.png -k box3 -o out.png", code=1,
    message=r"^in\.png: the file is empty \(0 bytes\)$", check=no_output("out.png"))
row("image: truncated PNG", build=files(in__png=truncated_png()), cmd="filter in.png -k box3 -o out.png",
    code=1, message=r"^in\.png: corrupt or truncated image", check=no_output("out.png"))
row("image: text file named .png", build=files(in__png="hello, I am text\n"),
    cmd="filter in.png -k box3 -o out.png", code=1, message=r"^in\.png: not an image Pillow can read")
row("image: unsupported format (SVG)", build=files(in__svg='<svg xmlns="http://www.w3.org/2000/svg"/>'),
    cmd="pool in.svg --size 2 -o out.png", code=1, message=r"^in\.svg: not an image Pillow can read")
row("image: unsupported output suffix", build=IMG, cmd="filter in.png -k box3 -o out.svg", code=2,
    message=r"output out\.svg: unknown suffix '\.svg'", check=no_output("out.svg"))
row("image: directory given as the input", build=lambda t: (t / "photos").mkdir(),
    cmd="filter photos -k box3 --out-dir out", code=1, message=r"^photos: no images or arrays in this directory")
row("image: directory named like an image", build=lambda t: (t / "dir.png").mkdir(),
    cmd="pool dir.png --size 2 --out-dir out", code=1, message=r"^dir\.png: no images or arrays in this directory")
row("image: missing path", cmd="filter nope.png -k box3 -o out.png", code=1, message=r"^nope\.png: no such file")
row("image: missing path with spaces and non-ASCII", cmd="filter 'mes photos/été 1.png' -k box3 -o out.png",
    code=1, message=r"^mes photos/été 1\.png: no such file")
row("image: path with spaces and non-ASCII", build=files(**{"mes images/café noir.png": png()}),
    cmd="filter 'mes images/café noir.png' -k identity -o 'sortie ü.png'", code=0, message=None,
    check=same_pixels("sortie ü.png", lambda t: np.asarray(Image.open(t / "mes images/café noir.png"))))
row("image: 1x1 image, 3x3 kernel, valid mode", build=files(one__png=png((1, 1), "L")),
    cmd="filter one.png -k box3 --mode valid -o out.png", code=1,
    message=r"^one\.png: .*(output would be empty|empty output)", check=no_output("out.png"))
row("image: 1x1 image, pool window 3", build=files(one__png=png((1, 1), "L")),
    cmd="pool one.png --size 3 -o out.png", code=1, message=r"^one\.png: .*(empty|larger than|only)",
    check=no_output("out.png"))
row("image: animated GIF", build=animated_gif, cmd="filter anim.gif -k identity -o first.png", code=0,
    message=r"^anim\.gif: animated image with 3 frames: only the first frame is used",
    check=same_pixels("first.png", first_frame))
row("image: palette PNG", build=palette_png, cmd="filter pal.png -k identity -o out.png", code=0,
    message=r"^pal\.png: palette image expanded to RGB", check=same_pixels("out.png", palette_rgb))
row("image: CMYK TIFF", build=cmyk_tiff, cmd="filter print.tif -k identity -o out.tif", code=0, message=None,
    check=cmyk_kept)
row("image: CMYK JPEG to PNG", build=files(print__jpg=png((6, 4), "CMYK", fmt="JPEG", quality=95)),
    cmd="filter print.jpg -k identity -o out.png", code=0, message=r"^out\.png: PNG cannot hold CMYK: converted to RGB",
    check=lambda t, r: Image.open(t / "out.png").mode == "RGB" or pytest.fail("not RGB"))
row("image: EXIF-rotated JPEG", build=exif_jpeg, cmd="pool photo.jpg --size 1 -o up.png", code=0,
    message=r"^photo\.jpg: EXIF orientation 6 applied", check=upright)
row("image: over the decompression-bomb limit", build=files(big__png=bomb_header(10_000, 10_000)),
    cmd="filter big.png -k box3 -o out.png", code=1, max_alloc=30 << 20,
    message=r"^big\.png: 10000x10000 \(HxW\) = 100000000 pixels is over the limit of 89478485 .*--max-pixels 100000000$")
row("image: over --max-pixels", build=IMG, cmd="filter in.png -k box3 --max-pixels 63 -o out.png", code=1,
    message=r"^in\.png: 8x8 \(HxW\) = 64 pixels is over the limit of 63 .*--max-pixels 64$")
row("image: within --max-pixels", build=IMG, cmd="filter in.png -k box3 --max-pixels 64 -o out.png", code=0,
    message=None)
row("image: bomb allowed by --max-pixels reaches the decoder", build=files(big__png=bomb_header(5000, 4000)),
    cmd="filter big.png -k box3 --max-pixels none -o out.png", code=1,
    message=r"^big\.png: corrupt or truncated image")
row("image: bad --max-pixels", build=IMG, cmd="filter in.png -k box3 --max-pixels -5 -o out.png", code=2,
    message=r"--max-pixels.*'-5' is not a pixel count")
row("image: one corrupt file in a batch",
    build=files(a__png=png(), b__png=b"\x89PNG\r\n\x1a\n broken", c__png=png()),
    cmd="filter a.png b.png c.png -k box3 --out-dir out", code=1, message=r"^b\.png: ", check=batch_survivors)
row("image: TIFF claiming 30000 samples per pixel", build=files(t__tif=tiff_with_tag(277, 30000)),
    cmd="filter t.tif -k box3 -o out.tif", code=1, message=r"^t\.tif: not an image Pillow can read")
row("image: TIFF tag pointing past the end of the file", build=files(t__tif=tiff_with_tag(258, 0x7FFFFFF0)),
    cmd="filter t.tif -k box3 -o out.tif", code=1, message=r"^t\.tif: not an image Pillow can read")
row("array: damaged .npy header", build=files(bad__npy=npy_with_header(b"(3, 3)", b"(3, 3")),
    cmd="filter bad.npy -k box3 -o out.npy", code=1, message=r"^bad\.npy: not a valid \.npy file")
row("array: .npy header claiming 745 GiB", build=files(bad__npy=npy_with_header(b"(3, 3)", b"(99999999999,)")),
    cmd="filter bad.npy -k box3 -o out.npy", code=1, max_alloc=30 << 20,
    message=r"^bad\.npy: the \.npy header claims shape \(99999999999,\) .*truncated or damaged")
row("array: .npy of Python objects", build=lambda t: np.save(open(t / "obj.npy", "wb"), np.array([{}]),
                                                            allow_pickle=True),
    cmd="filter obj.npy -k box3 -o out.npy", code=1, message=r"^obj\.npy: holds Python objects, which are never unpickled")
row("array: ragged .csv", build=files(s__csv="1,2,3\n4,5\n"), cmd="filter s.csv -k 1,1 -o out.csv", code=1,
    message=r"^s\.csv: line 2 has 2 values, line 1 has 3")
row("array: .csv with a word", build=files(s__csv="1,2,x\n"), cmd="filter s.csv -k 1,1 -o out.csv", code=1,
    message=r"^s\.csv: line 1: 'x' is not a number")
row("image: one corrupt file in a batch, --jobs 2",
    build=files(a__png=png(), b__png=truncated_png(), c__png=png()),
    cmd="filter a.png b.png c.png -k box3 --out-dir out --jobs 2", code=1, message=r"^b\.png: corrupt or truncated",
    check=batch_survivors)
row("image: two bad files in a batch of four",
    build=files(a__png=png(), b__png=b"", c__png=png(), d__png="text"),
    cmd="filter a.png b.png c.png d.png -k box3 --out-dir out", code=1, errors=2,
    message=r"^cnnconv: 2 of 4 inputs failed$", json_message=r"^d\.png: not an image")
row("image: empty stdin", cmd="filter - -k box3 -o out.png", stdin=b"", code=1,
    message=r"^<stdin>: no data on stdin", check=no_output("out.png"))
row("image: garbage on stdin", cmd="filter - -k box3 -o out.png", stdin=b"\x00\x01garbage", code=1,
    message=r"^<stdin>: ", check=no_output("out.png"))

T0 = "train data -o m.npz --epochs 1 --batch-size 4 --layers conv3x4,relu,pool2"

# Options shared by filter and pool
for option, value, what in [("--stride", "0", "'0' is not an integer >= 1"), ("--stride", "1,2,3", "'1,2,3'"),
                            ("--dilation", "x", "'x'"), ("--padding", "-1", "'-1'"), ("--padding", "1,2,3", "'1,2,3'"),
                            ("--boundary", "constant:nan", "constant needs a finite value"),
                            ("--boundary", "circular", "'circular' is not a boundary rule"),
                            ("--scale", "inf", "'inf' is not a finite number"), ("--jobs", "0", "0"),
                            ("--max-pixels", "inf", "'inf' is not a pixel count")]:
    row(f"option: {option} {value}", build=IMG, cmd=f"filter in.png -k box3 {option} {value} -o out.png", code=2,
        message=rf"'?{option}'?: .*{re.escape(what)}", check=no_output("out.png"))
row("option: absurd --padding 10**9, nothing allocated", build=IMG, cmd="filter in.png -k box3 --padding 1000000000 -o out.npy",
    code=1, max_alloc=30 << 20, message=r"^in\.png: the padded input would be 2000000008x2000000008 = \d+ pixels, over the limit")
row("option: absurd --padding with --max-pixels none", build=IMG,
    cmd="filter in.png -k box3 --padding 1000000000 --max-pixels none -o out.npy", code=1, max_alloc=30 << 20,
    message=r"^in\.png: the padded input would be 2000000008x2000000008")
row("option: absurd --dilation in full mode, nothing allocated", build=IMG,
    cmd="filter in.png -k box3 --dilation 100000 --mode full -o out.npy", code=1, max_alloc=30 << 20,
    message=r"^in\.png: the padded input would be 400008x400008")
row("option: absurd --stride is fine (one output pixel)", build=IMG, cmd="filter in.png -k box3 --stride 1000000000 -o out.npy",
    code=0, message=None, max_alloc=30 << 20)
row("option: pool window far larger than the image with --ceil, nothing allocated", build=IMG,
    cmd="pool in.png --size 3000 --ceil -o out.npy", code=0, message=None, max_alloc=30 << 20)
row("option: pool window of 30000 with --ceil and padding, nothing allocated", build=IMG,
    cmd="pool in.png --size 30000 --ceil --padding 8 --op avg -o out.npy", code=0, message=None, max_alloc=30 << 20)
row("option: pool window of 10**9 with --ceil, nothing allocated", build=IMG,
    cmd="pool in.png --size 1000000000 --ceil -o out.npy", code=0, message=None, max_alloc=30 << 20)
row("option: pool --size 0", build=IMG, cmd="pool in.png --size 0 -o out.png", code=2, message=r"--size.*'?0'?")
row("option: pool --padding larger than the window allows", build=IMG, cmd="pool in.png --size 2 --padding 2 -o out.png",
    code=2, message=r"--padding: 2 is more than half the window of 2 \(at most 1\)", check=no_output("out.png"))
row("option: pool --padding too large for one side of the window", build=IMG, cmd="pool in.png --size 4,2 --padding 1,2 -o out.png",
    code=2, message=r"--padding: 2 is more than half the window of 2")
row("option: --max-pixels 0 is not 'no limit'", build=IMG, cmd="filter in.png -k box3 --max-pixels 0 -o out.png", code=2,
    message=r"--max-pixels.*'0' is not a pixel count", check=no_output("out.png"))
for option, value in [("--scale", "1e39"), ("--offset", "1e308"), ("--scale", "-1e308")]:
    row(f"option: {option} {value} overflows float32", build=IMG, cmd=f"filter in.png -k box3 {option} {value} -o out.png",
        code=2, message=rf"{option}.*'{re.escape(value)}' is beyond what float32 holds", check=no_output("out.png"))
row("option: --boundary constant:1e308", build=IMG, cmd="filter in.png -k box3 --boundary constant:1e308 -o out.png",
    code=2, message=r"--boundary.*constant is beyond what float32 holds")
row("option: --scale 1e38 with --precision float32 overflows in the sum, refused per file", build=IMG,
    cmd="filter in.png -k box3 --scale 1e38 --precision float32 -o out.npy", code=1,
    message=r"^in\.png: .*(overflow|infinite)", check=no_output("out.npy"))
# auto precision computes in float64 where float32 would overflow: the numbers come out whole
row("option: --scale 1e38 is computed in float64, where the sums fit", build=IMG,
    cmd="filter in.png -k box3 --scale 1e38 -o out.npy", code=0, message=None,
    check=lambda t, r: (np.load(t / "out.npy").dtype == np.float64 and np.isfinite(np.load(t / "out.npy")).all()
                        and np.load(t / "out.npy").max() > 1e39) or pytest.fail(r.output))
row("train: --seed -1", build=dataset, cmd=T0 + " --seed -1", code=2, message=r"--seed.*-1 is not in the range 0<=x")
for value in ("inf", "1e308"):
    row(f"train: --lr {value}", build=dataset, cmd=T0 + f" --lr {value}", code=2,
        message=rf"--lr: {value.replace('1e308', '1e[+]?308')} is not a learning rate", check=no_output("m.npz"))
row("train: --weight-decay 1e308", build=dataset, cmd=T0 + " --weight-decay 1e308", code=2,
    message=r"--weight-decay.*1e\+308 is not in the range", check=no_output("m.npz"))
row("train: --plots the same path as -o, refused before training", build=dataset, cmd=T0 + " --plots m.npz", code=2,
    message=r"--plots: m\.npz is where the model file m\.npz goes", check=no_output("m.npz"))
row("option: --mode and --padding together", build=IMG, cmd="filter in.png -k box3 --mode same --padding 1 -o out.png",
    code=2, message=r"--mode and --padding both set the padding")
row("option: -o with two inputs", build=files(a__png=png(), b__png=png()), cmd="filter a.png b.png -k box3 -o out.png",
    code=2, message=r"-o names one output but there are 2 inputs; use --out-dir")
row("option: no output named", build=IMG, cmd="filter in.png -k box3", code=2, message=r"say where the output goes")
row("option: unknown --name field", build=IMG, cmd="filter in.png -k box3 --out-dir out --name '{bogus}.png'", code=2,
    message=r"--name.*unknown field \{bogus\}")
row("option: no such subcommand", cmd="filtr in.png", code=2, message=r"No such command 'filtr'")

# Kernels
K = "filter in.png -k {} -o out.png"
row("kernel: empty file", build=both(IMG, files(k__txt="")), cmd=K.format("k.txt"), code=2,
    message=r"--kernel: k\.txt: no kernel values found", check=no_output("out.png"))
row("kernel: comments only", build=both(IMG, files(k__txt="# nothing\n\n")), cmd=K.format("k.txt"), code=2,
    message=r"--kernel: k\.txt: no kernel values found")
row("kernel: ragged rows", build=both(IMG, files(k__txt="1 2 1\n0 0\n-1 -2 -1\n")), cmd=K.format("k.txt"),
    code=2, message=r"--kernel: k\.txt line 2: row has 2 values, expected 3")
row("kernel: not a number", build=both(IMG, files(k__txt="1 2 1\n0 abc 0\n")), cmd=K.format("k.txt"), code=2,
    message=r"--kernel: k\.txt line 2: 'abc' is not a number")
row("kernel: NaN", build=both(IMG, files(k__txt="1 nan 1\n")), cmd=K.format("k.txt"), code=2,
    message=r"--kernel: k\.txt line 1: 'nan' is not a finite number")
row("kernel: infinity", build=both(IMG, files(k__txt="1 1\n-inf 1\n")), cmd=K.format("k.txt"), code=2,
    message=r"--kernel: k\.txt line 2: '-inf' is not a finite number")
row("kernel: huge number overflows to infinity", build=both(IMG, files(k__txt="1 1e999\n")),
    cmd=K.format("k.txt"), code=2, message=r"--kernel: k\.txt line 1: '1e999' is (not a finite number|too large)")
row("kernel: UTF-8 BOM", build=both(IMG, files(k__txt="\ufeff1 2 1\n0 0 0\n-1 -2 -1\n")), cmd=K.format("k.txt"),
    code=0, message=None, check=kernel_like("1 2 1\n0 0 0\n-1 -2 -1\n"))
row("kernel: Windows line endings", build=both(IMG, files(k__txt="1 2 1\r\n0 0 0\r\n-1 -2 -1\r\n")),
    cmd=K.format("k.txt"), code=0, message=None, check=kernel_like("1 2 1\n0 0 0\n-1 -2 -1\n"))
row("kernel: BOM and CRLF in a .mat", build=both(IMG, files(k__mat="\ufeff3 1 2\r\n1 2 1\r\n")),
    cmd=K.format("k.mat"), code=0, message=None, check=kernel_like("0.5 1 0.5\n"))
row("kernel: not UTF-8", build=both(IMG, files(k__txt=b"1 2 \xff\n")), cmd=K.format("k.txt"), code=2,
    message=r"--kernel: k\.txt is not a UTF-8 text file")
row("kernel: .mat header disagrees with the rows", build=both(IMG, files(k__mat="3 3\n1 1 1\n1 1 1\n")),
    cmd=K.format("k.mat"), code=2, message=r"--kernel: k\.mat: the header says 3 rows .*found 2")
row("kernel: .mat row wider than the header", build=both(IMG, files(k__mat="2 2\n1 1\n1 1 1\n")),
    cmd=K.format("k.mat"), code=2, message=r"--kernel: k\.mat line 3: row has 3 values, the header says W = 2")
row("kernel: .mat bad header", build=both(IMG, files(k__mat="three 3\n1 1 1\n")), cmd=K.format("k.mat"),
    code=2, message=r"--kernel: k\.mat line 1: .*'three'")
row("kernel: scale 0 in a text file", build=both(IMG, files(k__txt="scale 0\n1 2 1\n")), cmd=K.format("k.txt"),
    code=2, message=r"--kernel: k\.txt.*scale must not be 0")
row("kernel: scale 0 in a .mat", build=both(IMG, files(k__mat="3 1 0\n1 2 1\n")), cmd=K.format("k.mat"),
    code=2, message=r"--kernel: k\.mat line 1: scale must not be 0")
row("kernel: unknown name, closest suggested", build=IMG, cmd=K.format("sobelx"), code=2,
    message=r"--kernel: unknown kernel 'sobelx'; did you mean 'sobel-x'\?")
row("kernel: unknown name in 'cnnconv kernels'", cmd="kernels gausian3", code=2,
    message=r"unknown kernel 'gausian3'; did you mean 'gaussian3'\?")
row("kernel: ragged file in 'cnnconv kernels'", build=files(k__txt="1 2\n3\n"), cmd="kernels k.txt", code=2,
    message=r"k\.txt line 2: row has 1 value, expected 2")
row("kernel: zero-sum kernel with --normalize", build=IMG, cmd="filter in.png -k sobel-x --normalize -o out.png",
    code=2, message=r"--kernel: sobel-x sums to 0, so --normalize cannot divide by its sum",
    check=no_output("out.png"))
row("kernel: inline, ragged", build=IMG, cmd=K.format("'1,2,1; 0,0'"), code=2,
    message=r"--kernel: .*row 2 has 2 values, expected 3")
row("kernel: damaged .npy header", build=both(IMG, files(k__npy=npy_with_header(b"(3, 3)", b"(3, 3"))),
    cmd=K.format("k.npy"), code=2, message=r"--kernel: k\.npy is not a readable \.npy array")
row("kernel: a directory", build=both(IMG, lambda t: (t / "kdir").mkdir()), cmd=K.format("kdir"), code=2,
    message=r"--kernel: kernel file .*kdir.* is a directory")
row("kernel: parametric, bad sigma", build=IMG, cmd=K.format("gaussian:sigma=-1"), code=2,
    message=r"--kernel: .*sigma.*-1")
row("kernel: log with sigma 1e100 (sigma**4 would overflow)", build=IMG, cmd=K.format("log:sigma=1e100,size=3"), code=2,
    message=r"--kernel: kernel 'log:sigma=1e100,size=3': sigma must be a number from 0\.01 to 1e\+06, got 1e\+100")
row("kernel: log with sigma 1e100 in 'cnnconv kernels'", cmd="kernels log:sigma=1e100,size=3", code=2,
    message=r"KERNEL: kernel 'log:sigma=1e100,size=3': sigma must be a number from")
row("kernel: a weight beyond float32, inline", build=IMG, cmd=K.format("1e39,1"), code=2,
    message=r"--kernel: kernel '1e39,1': the weight 1e\+39 is beyond what float32 holds", check=no_output("out.png"))
row("kernel: a weight beyond float32, .npy", build=both(IMG, lambda t: np.save(t / "k.npy", np.array([[1e39, 1.0]]))),
    cmd=K.format("k.npy"), code=2, message=r"--kernel: kernel 'k': the weight 1e\+39 is beyond what float32 holds")
row("kernel: 1e308 in 'cnnconv kernels'", build=files(k308__txt="1e308 1e308\n"), cmd="kernels k308.txt", code=2,
    message=r"kernel 'k308': the weight 1e\+308 is beyond what float32 holds")
row("kernel: all zeros", build=IMG, cmd=K.format("'0 0;0 0'"), code=2, message=r"--kernel: .*every weight is 0")
row("kernel: underflows float32", build=IMG, cmd=K.format("1e-50,1e-50"), code=2,
    message=r"--kernel: .*its largest weight 1e-50 is below float32's smallest normal number")
row("kernel: parametric, absurd size", build=IMG, cmd=K.format("box:1000000000"), code=2,
    message=r"--kernel: .*1000000000", max_alloc=30 << 20)

# Layer specs (shape, and train's --layers)
S = "shape -i 32x32x3 -l '{}'"
for spec, token in [
    ("convx8,relu,fc10", "convx8"), ("conv5x,relu,fc10", "conv5x"), ("conv5x8:,relu", "conv5x8:"),
    ("conv5x8:s,relu", "conv5x8:s"), ("conv5x8:q3,relu", "conv5x8:q3"), ("conv5x8:p-1", "conv5x8:p-1"),
    ("conv5x8:s2:s3", "conv5x8:s2:s3"), ("conv5x8,relu3,fc10", "relu3"), ("conv5x8,pool,fc10", "pool"),
    ("conv5x8,poolx,fc10", "poolx"), ("conv5x8,pool2:s,fc10", "pool2:s"), ("conv5x8,fc,fc10", "fc"),
    ("conv5x8,fc10x,fc10", "fc10x"), ("conv5x8,dropout:2,fc10", "dropout:2"), ("tconv4x8:s2:op2", "tconv4x8:s2:op2"),
    ("(conv3x8,relu", "("), ("conv3x8),relu", ")"), ("(conv3x8,relu)*0", "*0"), ("(conv3x8,relu)*", "*"),
    ("conv3x8,,fc10", ","), ("conv3x8,", ","), ("bogus,fc10", "bogus"), ("conv3x8:g3", "conv3x8:g3"),
    ("conv3x8:dw", "conv3x8:dw"),
]:
    row(f"layer spec: malformed token {token!r} in {spec!r}", cmd=S.format(spec), code=2, caret=True,
        message=rf"layer spec: .*{re.escape(token)}")
row("layer spec: empty", cmd="shape -i 32x32x3 -l ''", code=2, message=r"(layer spec|--layers).*empty", caret=True)
for spec, token in [("conv0x8", "conv0x8"), ("conv3x0", "conv3x0"), ("pool0", "pool0"), ("fc0", "fc0"),
                    ("conv3x8:s0", "conv3x8:s0"), ("conv3x8:d0", "conv3x8:d0"), ("conv-3x8", "conv-3x8"),
                    ("fc-5", "fc-5"), ("(relu)*-2", "*-"), ("conv3x99999999999", "conv3x99999999999")]:
    row(f"layer spec: zero or negative size {spec!r}", cmd=S.format(spec), code=2, caret=True,
        message=rf"layer spec: .*{re.escape(token)}", max_alloc=30 << 20)
row("layer spec: absurd kernel 10**9 shrinks to nothing, nothing allocated", cmd=S.format("conv1000000000x8"),
    code=2, caret=True, max_alloc=30 << 20,
    message=r"layer spec: conv1000000000x8 \(at 0\): output would be .* shrinks to nothing")
row("layer spec: absurd width 10**9 is only arithmetic, nothing allocated", cmd=S.format("fc1000000000"),
    code=0, max_alloc=30 << 20, message=None)
row("layer spec: absurd repeat count", cmd=S.format("(relu)*1000000000"), code=2, caret=True,
    max_alloc=30 << 20, message=r"layer spec: .*more than 10000 layers")
row("layer spec: stack shrinks to nothing (named)", cmd="shape -i 8x8 -l conv5x4,conv5x4", code=2, caret=True,
    message=r"layer spec: conv5x4 \(at 8\): output would be 0×0 .*shrinks to nothing")
row("layer spec: pooling shrinks to nothing (named)", cmd="shape -i 4x4 -l pool2,pool2,pool2", code=2,
    caret=True, message=r"layer spec: pool2 \(at 12\): .*")
row("layer spec: a repeat count that is not a whole number", cmd=S.format("relu*1e3"), code=2, caret=True,
    message=r"layer spec: relu\*1e3 \(at 0\): repeat count '1e3' is not a whole number")
row("layer spec: a size of 19 digits is named whole", cmd=S.format("fc9223372036854775808"), code=2, caret=True,
    message=r"unit count 9223372036854775808 is too large \(at most 2147483647\)")
row("layer spec: bad --input", cmd="shape -i 0x5 -l relu", code=2, message=r"--input.*0x5")
row("train: malformed --layers", build=dataset, cmd="train data --layers conv5x:s2 -o m.npz", code=2, caret=True,
    message=r"--layers: .*conv5x", check=no_output("m.npz"))
row("train: --layers shrink to nothing (named)", build=dataset, cmd="train data --layers conv5x4,conv5x4 -o m.npz",
    code=2, message=r"--layers: .*conv5x4", check=no_output("m.npz"))
row("train: absurd --layers size 10**9, nothing allocated", build=dataset,
    cmd="train data --layers conv3x1000000000 -o m.npz", code=2, max_alloc=50 << 20, check=no_output("m.npz"),
    message=r"--layers: training would need about [0-9.]+ TiB of memory, over the limit of 8\.0 GiB; "
            r"the largest layer is 1 conv3x1000000000 \(.*--max-memory")
row("train: absurd padding in --layers, nothing allocated", build=dataset,
    cmd="train data --layers conv3x4:p1000000 -o m.npz", code=2, max_alloc=50 << 20, check=no_output("m.npz"),
    message=r"--layers: training would need .* the largest layer is 1 conv3x4:p1000000 \(.*outputs per image")
row("train: a small --max-memory refuses a normal network", build=dataset, cmd="train data -o m.npz " + TRAIN + " --max-memory 1K", code=2,
    message=r"--layers: training would need about .* over the limit of 1\.0 KiB; the largest layer is", check=no_output("m.npz"))
row("train: bad --max-memory", build=dataset, cmd="train data -o m.npz " + TRAIN + " --max-memory lots", code=2,
    message=r"--max-memory.*'lots' is not a memory size")

# Training
T = "train data -o m.npz " + TRAIN
row("train: empty data folder", build=lambda t: (t / "data").mkdir(), cmd=T, code=1,
    message=r"data.* has no class folders", check=no_output("m.npz"))
row("train: class folders without images",
    build=lambda t: [(t / "data" / c).mkdir(parents=True) for c in "ab"], cmd=T, code=1,
    message=r"data.*no images", check=no_output("m.npz"))
row("train: one class", build=lambda t: dataset(t, classes=("only",)), cmd=T, code=1,
    message=r"(one class|only|at least 2|two classes)", check=no_output("m.npz"))
row("train: missing data folder", cmd=T, code=1, message=r"data.*(does not exist|no such)")
row("train: data folder is a file", build=files(data="x"), cmd=T, code=2, message=r"DATA_DIR.*data.*is a file")
row("train: corrupt file among good ones", build=both(dataset, files(**{"data/a/bad.png": truncated_png()})), cmd=T,
    code=0, message=r"^cnnconv: warning: skipped .*bad\.png: ", check=model_loads())
row("train: an image over Pillow's pixel limit among good ones",
    build=both(dataset, files(**{"data/a/bomb.png": bomb_header(10_000, 10_000)})), cmd=T, code=0, max_alloc=60 << 20,
    message=r"^cnnconv: warning: skipped .*bomb\.png: 10000x10000 \(HxW\) = 100000000 pixels is over the limit of 89478485 "
            r".*--max-pixels 100000000$",
    check=model_loads())
row("train: a TIFF with a damaged tag among good ones",
    build=both(dataset, files(**{"data/b/t.tif": tiff_with_tag(277, 30000)})), cmd=T, code=0,
    message=r"^cnnconv: warning: skipped .*t\.tif: ", check=model_loads())
row("train: mixed sizes without --size", build=both(dataset, files(**{"data/b/wide.png": png((12, 8), "L")})),
    cmd=T, code=1, message=r"wide\.png.*12|wide\.png.*size", check=no_output("m.npz"))
row("train: mixed sizes with --size", build=both(dataset, files(**{"data/b/wide.png": png((12, 8), "L")})),
    cmd=T + " --size 8x8", code=0, message=None, check=model_loads())
row("train: bad --size", build=dataset, cmd=T + " --size 0x8", code=2, message=r"--size.*'0x8' is not a size")
row("train: learning rate NaN", build=dataset, cmd=T + " --lr nan", code=1,
    message=r"loss became NaN or infinite in epoch 1 .*no epoch finished with a finite loss; nothing saved \(try a smaller --lr\)$",
    check=no_output("m.npz"))
row("train: NaN in the first epoch leaves an existing model alone",
    build=lambda t: (dataset(t), model_file(t)), cmd=T + " --lr nan", code=1, message=r"loss became NaN",
    check=lambda t, r: unchanged("m.npz", _trained_model_bytes())(t, r))
row("train: negative learning rate", build=dataset, cmd=T + " --lr -1", code=2, message=r"--lr.*-1")
row("train: output directory missing", build=dataset, cmd="train data -o nodir/m.npz " + TRAIN, code=1,
    message=r"nodir.*does not exist")

# Model files (predict, evaluate)
P = "predict m.npz in.png"
row("model: not an npz", build=both(IMG, files(m__npz="definitely not a zip")), cmd=P, code=1,
    message=r"'m\.npz' is not a valid cnnconv model: not an \.npz archive")
row("model: empty file", build=both(IMG, files(m__npz=b"")), cmd=P, code=1, message=r"'m\.npz' is not a valid cnnconv model: not an \.npz archive")
row("model: a single .npy", build=both(IMG, lambda t: np.save(open(t / "m.npz", "wb"), np.zeros(3))), cmd=P, code=1,
    message=r"'m\.npz' is not a valid cnnconv model: it is a single \.npy array")
row("model: npz from elsewhere", build=both(IMG, lambda t: np.savez(t / "m.npz", weights=np.ones((3, 3)))), cmd=P,
    code=1, message=r"'m\.npz' is not a valid cnnconv model: an \.npz from another program .*weights")
row("model: object array refused without unpickling", build=both(IMG, object_array_model), cmd=P, code=1,
    message=r"'m\.npz' is not a valid cnnconv model: entry 'w/.*' is an object array; refused", check=no_unpickling)
row("model: object array, evaluate", build=both(dataset, object_array_model), cmd="evaluate m.npz data", code=1,
    message=r"'m\.npz' is not a valid cnnconv model: entry 'w/.*' is an object array; refused", check=no_unpickling)
row("model: newer format version", build=both(IMG, newer_version_model), cmd=P, code=1,
    message=r"'m\.npz' is not a valid cnnconv model: it has model format version \d+, newer than this cnnconv reads .*upgrade cnnconv")
row("model: truncated", build=both(IMG, lambda t: write(t, "m.npz", _trained_model_bytes()[:-200])), cmd=P,
    code=1, message=r"'m\.npz' is not a valid cnnconv model: ")
row("model: a folder", build=both(IMG, lambda t: (t / "m.npz").mkdir()), cmd=P, code=2,
    message=r"MODEL.*'m\.npz' is a directory")
row("model: missing", build=IMG, cmd=P, code=1, message=r"'m\.npz' does not exist")
row("model: --resume with a damaged model", build=both(dataset, files(old__npz="nope")),
    cmd="train data --resume old.npz -o m.npz --epochs 1", code=1, message=r"'old\.npz' is not a valid cnnconv model: ")
# The schema of a model file, checked before anything is allocated
M = "'m\\.npz' is not a valid cnnconv model: "
for name, build, why in [
    ("description nested 100000 deep", changed_model(raw_meta=b'{"format": "cnnconv-model", "x": ' + b"[" * 100000 + b"]" * 100000 + b"}"),
     r"the 'cnnconv\.json' entry is nested 100001 deep \(at most 32\)"),
    ("mean of text", changed_model(lambda m: m.update(mean=["x"])), r"'mean' is \[\"x\"\]; it must hold finite numbers"),
    ("empty mean", changed_model(lambda m: m.update(mean=[])), r"'mean' has 0 values; a gray model needs 1"),
    ("input shape of text", changed_model(lambda m: m.update(input_shape=["a", "b", "c"])),
     r"'input_shape' is \[\"a\", \"b\", \"c\"\], not \[H, W, C\] of positive integers"),
    ("input shape 100000x100000", changed_model(lambda m: m.update(input_shape=[100000, 100000, 1])),
     r"'input_shape' 100000x100000 is 10000000000 pixels, over the limit"),
    ("a network of 80 GB", changed_model(lambda m: m.update(input_shape=[9000, 9000, 1], spec="fc1000,fc2")),
     r"its weights would take \d+ bytes, more than the limit"),
    ("optimizer of a bad form", changed_model(lambda m: m.update(optimizer={"__dict__": 5})),
     r"its optimiser state is damaged near \{\"__dict__\": 5\}"),
    ("std 0", changed_model(lambda m: m.update(std=[0.0])), r"'std' is \[0\.0\]; it must hold finite positive numbers"),
    ("std NaN", changed_model(lambda m: m.update(std=[float("nan")])), r"'std' is \[NaN\]; it must hold finite positive"),
    ("seed of text", changed_model(lambda m: m["training"].update(seed="x")), r"'training' seed is 'x'"),
    ("one class name for two classes", changed_model(lambda m: m.update(class_names=["a"])), r"1 class names for 2 classes"),
    ("weights of text", changed_model(change_entries=first_weight(lambda w: w.astype(str))), r"entry 'w/.*' holds <U\d+ values, not real"),
    ("structured weights", changed_model(change_entries=first_weight(lambda w: np.zeros(w.shape, "f4,f4"))),
     r"entry 'w/.*' holds .* values, not real floating-point numbers"),
    ("complex weights", changed_model(change_entries=first_weight(lambda w: w.astype(np.complex64))),
     r"entry 'w/.*' holds complex64 values, not real floating-point numbers"),
    ("integer weights", changed_model(change_entries=first_weight(lambda w: w.astype(np.int64))),
     r"entry 'w/.*' holds int64 values, not real"),
    ("weights of the wrong shape", changed_model(change_entries=first_weight(lambda w: w.reshape(-1, 1))),
     r"weight '.*' has shape \(\d+, 1\), its network needs"),
]:
    row(f"model: {name}", build=both(IMG, build), cmd=P, code=1, message=M + why, max_alloc=60 << 20)
row("model: an unused 64 MiB entry is never read", build=both(IMG, huge_unused_entry), cmd=P, code=0,
    message=None, max_alloc=30 << 20)
row("model: the schema check in evaluate", build=both(dataset, changed_model(lambda m: m.update(std=[-1.0]))),
    cmd="evaluate m.npz data", code=1, message=M + r"'std' is \[-1\.0\]")
row("model: the schema check in --resume", build=both(dataset, changed_model(lambda m: m.update(num_classes=True))),
    cmd="train data --resume m.npz -o m2.npz --epochs 1", code=1, message=M + r"'num_classes' is true, not an integer")
row("predict: an image over Pillow's pixel limit", build=lambda t: (model_file(t), write(t, "big.png", bomb_header(10_000, 10_000))),
    cmd="predict m.npz big.png", code=1, max_alloc=60 << 20,
    message=r"^big\.png: 10000x10000 \(HxW\) = 100000000 pixels is over the limit of 89478485 .*--max-pixels 100000000$")
row("predict: a big image allowed by --max-pixels", build=lambda t: (model_file(t), write(t, "big.png", png((40, 30), "L"))),
    cmd="predict m.npz big.png --max-pixels 1200", code=0, message=r"^big\.png: resized from 30x40 to the model's 8x8")
row("predict: an image over --max-pixels", build=lambda t: (model_file(t), write(t, "big.png", png((40, 30), "L"))),
    cmd="predict m.npz big.png --max-pixels 1199", code=1,
    message=r"^big\.png: 30x40 \(HxW\) = 1200 pixels is over the limit of 1199 .*--max-pixels 1200$")
row("evaluate: an image over --max-pixels is skipped", build=both(dataset, model_file, files(**{"data/a/big.png": png((40, 30), "L")})),
    cmd="evaluate m.npz data --max-pixels 1199", code=0,
    message=r"^cnnconv: warning: skipped data/a/big\.png: 30x40 \(HxW\) = 1200 pixels is over the limit of 1199 ")
row("predict: a good model and a corrupt image", build=lambda t: (model_file(t), write(t, "in.png", b"junk")),
    cmd=P, code=1, message=r"^in\.png: (not an image|cannot read the image)")

# Outputs
row("output: parent is a regular file", build=both(IMG, files(notadir="x")),
    cmd="filter in.png -k box3 -o notadir/out.png", code=1, message=r"notadir/out\.png: notadir is a file, not a directory",
    check=no_output("notadir/out.png"))
row("output: --out-dir is a regular file", build=both(IMG, files(notadir="x")),
    cmd="filter in.png -k box3 --out-dir notadir", code=2, message=r"--out-dir notadir: cannot create it")
row("output: directory refuses new files", build=IMG, patch=deny_temp_files, cmd="filter in.png -k box3 -o out.png",
    code=1, message=r"^in\.png: out\.png: cannot write here: [Pp]ermission denied", check=no_output("out.png"))
row("output: equal to the input", build=IMG, cmd="filter in.png -k box3 -o in.png", code=1,
    message=r"^in\.png: the output in\.png is this input file", check=unchanged("in.png", png()))
row("output: the input by another path", build=IMG, cmd="pool in.png --size 2 -o ./sub/../in.png", code=1,
    message=r"^in\.png: the output \./sub/\.\./in\.png is this input file", check=unchanged("in.png", png()))
row("output: a symbolic link to the input", build=both(IMG, lambda t: (t / "link.png").symlink_to(t / "in.png")),
    cmd="filter in.png -k box3 -o link.png", code=1, message=r"^in\.png: the output link\.png is this input file",
    check=unchanged("in.png", png()))
row("output: a template naming an input", build=files(a__png=png()), cmd="filter a.png -k box3 --out-dir . --name '{name}'",
    code=1, message=r"^a\.png: the output .*a\.png is this input file", check=unchanged("a.png", png()))
row("output: train -o equal to --resume", build=lambda t: (dataset(t), model_file(t)),
    cmd="train data --resume m.npz -o m.npz --epochs 1", code=2, message=r"-o/--output.*m\.npz.*is this input file")
row("output: full disk", build=IMG, patch=fail_writes(errno.ENOSPC), cmd="filter in.png -k box3 -o out.png",
    code=1, message=r"^in\.png: out\.png: cannot write: [Nn]o space left on device", check=no_output("out.png"))
row("output: full disk keeps the previous output", build=both(IMG, files(out__png=b"previous")),
    patch=fail_writes(errno.ENOSPC), cmd="filter in.png -k box3 -o out.png", code=1,
    message=r"cannot write: [Nn]o space left on device", check=unchanged("out.png", b"previous"))
row("output: full disk while saving a model", build=dataset, patch=fail_writes(errno.ENOSPC), cmd=T, code=1,
    message=r"m\.npz: cannot write: [Nn]o space left on device", check=no_output("m.npz"))
row("output: batch interrupted (Ctrl-C) during the second file",
    build=files(a__png=png(), b__png=png(), c__png=png()), patch=fail_writes(0, on_call=2, exc=KeyboardInterrupt()),
    cmd="filter a.png b.png c.png -k box3 --out-dir out", code=130, message=r"^cnnconv: interrupted$",
    check=interrupted_batch)


# Faults a hostile probe found: inputs against outputs, the output-name planner, OS errors
def symlink_loop(*names):
    """Links ``a -> b -> a`` for each name pair, or a link to itself."""
    def build(tmp):
        for name in names:
            os.symlink(name + ".other", tmp / name)
            os.symlink(name, tmp / (name + ".other"))
    return build


KERNEL_TXT = "0.5 0.3 0.2\n"
POS = files(pos__txt="1\n2\n4\n8\n16\n", k__txt=KERNEL_TXT)
row("fault: -o names the kernel file", build=POS, cmd="filter pos.txt -k k.txt -o k.txt", code=2,
    message=r"the output k\.txt is the kernel file k\.txt", check=unchanged("k.txt", KERNEL_TXT.encode()))
row("fault: --out-dir/--name names the kernel file", build=POS, cmd="filter pos.txt -k k.txt --out-dir . --name k.txt",
    code=2, message=r"the output \./k\.txt is the kernel file k\.txt", check=unchanged("k.txt", KERNEL_TXT.encode()))
row("fault: -o names a .npy kernel through ./ and a hard link",
    build=both(IMG, lambda t: (np.save(t / "kk.npy", np.ones((3, 3))), os.link(t / "kk.npy", t / "hard.npy"))),
    cmd="filter in.png -k kk.npy -o ./hard.npy", code=2, message=r"the output \./hard\.npy is the kernel file kk\.npy",
    check=lambda t, r: np.testing.assert_array_equal(np.load(t / "kk.npy"), np.ones((3, 3))))
row("fault: two kernels with one label and -o", build=IMG, cmd="filter in.png -k '1,2;1,2' -k '1,2,1,2' -o dup.png",
    code=2, message=r"two outputs would both be dup-1-2-1-2\.png \(kernels 1 and 2 have the same label.*kernel_index",
    check=no_output("dup-1-2-1-2.png"))
row("fault: the same kernel twice with -o", build=IMG, cmd="filter in.png -k sobel-x -k sobel-x -o d.png", code=2,
    message=r"two outputs would both be d-sobel-x\.png", check=no_output("d-sobel-x.png"))
row("fault: {kernel_index:03d} numbers the outputs", build=IMG,
    cmd="filter in.png -k sobel-x -k sobel-x --out-dir o --name '{stem}-{kernel_index:03d}.png' -q", code=0, message=None,
    check=lambda t, r: sorted(p.name for p in (t / "o").iterdir()) == ["in-001.png", "in-002.png"] or pytest.fail(r.output))
row("fault: a bad format spec in --name", build=IMG, cmd="filter in.png -k box3 --out-dir o --name '{index:q}.png'",
    code=2, message=r"--name: '\{index:q\}\.png': Unknown format code 'q'")
row("fault: a bad conversion in --name", build=IMG, cmd="filter in.png -k box3 --out-dir o --name '{stem!x}.png'",
    code=2, message=r"--name: '\{stem!x\}\.png': Unknown conversion specifier x")
row("fault: --name giving a name over 255 bytes", build=IMG, cmd="filter in.png -k box3 --out-dir o --name '{stem:>300}.png'",
    code=2, message=r"gives names of at least 304 bytes \(file systems allow 255\)")
row("fault: a symbolic link loop among the inputs", build=both(IMG, symlink_loop("loop.png")),
    cmd="filter loop.png in.png -k box3 --out-dir out", code=1, errors=1,
    message=r"^loop\.png: symbolic link loop", check=lambda t, r: (t / "out" / "in-box3.png").exists() or pytest.fail())
row("fault: -o inside a symbolic link loop", build=both(IMG, symlink_loop("loop")),
    cmd="filter in.png -k box3 -o loop/out.png", code=1, message=r"^in\.png: loop/out\.png: cannot write here: symbolic link loop")
row("fault: --out-dir a symbolic link loop", build=both(IMG, symlink_loop("loop")),
    cmd="filter in.png -k box3 --out-dir loop", code=2, message=r"--out-dir loop: cannot create it: symbolic link loop")
row("fault: a data folder that is a symbolic link loop", build=symlink_loop("data"),
    cmd=f"train data -o m.npz {TRAIN}", code=1, message=r"data: symbolic link loop", check=no_output("m.npz"))
row("fault: an input name over 255 bytes", build=IMG, cmd=f"filter {'a' * 300}.png in.png -k box3 --out-dir out",
    code=1, message=r"^a{300}\.png: (a name in the path is too long|its output name would be 309 bytes)")
row("fault: -o with a name over 255 bytes", build=IMG, cmd=f"filter in.png -k box3 -o {'a' * 300}.png",
    code=1, message=r"^in\.png: its output name would be 304 bytes long \(file systems allow 255\); give -o a shorter name")
row("fault: a model path over 255 bytes", build=IMG, cmd=f"predict {'m' * 300}.npz in.png", code=1,
    message=r"(too long|does not exist)")
row("fault: a data folder over 255 bytes", cmd=f"train {'d' * 300} -o m.npz {TRAIN}", code=1,
    message=r"a name in the path is too long")
row("fault: a missing input folder beside a good file", build=IMG, cmd="filter nodir/ in.png -k box3 --out-dir x",
    code=1, message=r"^nodir/: no such file", check=lambda t, r: (t / "x" / "in-box3.png").exists() or pytest.fail())
row("fault: an input without a suffix beside a good file", build=both(IMG, files(noext=png())),
    cmd="filter noext in.png -k box3 --out-dir x", code=1,
    message=r"^noext: the output x/noext-box3 takes its suffix '\(none\)' from this input",
    check=lambda t, r: (t / "x" / "in-box3.png").exists() or pytest.fail())



def nan_tiff(tmp):
    values = np.ones((8, 8), np.float32)
    values[2, 2] = np.nan
    Image.fromarray(values, "F").save(tmp / "fnan.tif")


def exif_orientation(value):
    def build(tmp):
        im = Image.fromarray((np.arange(32).reshape(4, 8) * 7 % 256).astype(np.uint8))
        exif = im.getexif()
        exif[0x0112] = value
        im.save(tmp / "in.jpg", exif=exif)
    return build


row("fault: a NaN in a float TIFF is refused as in a .npy", build=nan_tiff, cmd="filter fnan.tif -k box3 -o out.tif",
    code=1, message=r"^fnan\.tif: 1 NaN or infinite values; replace them with numbers first$", check=no_output("out.tif"))
row("fault: a newline in a file name stays on one line", build=files(**{"c\nd.png": "not an image"}),
    cmd="filter 'c\nd.png' -k box3 -o out.png", code=1, message=r"^c\\nd\.png: not an image",
    json_message=r"c\nd\.png: not an image")  # JSON escapes the newline itself
row("fault: EXIF orientation 9 is not applied", build=exif_orientation(9), cmd="filter in.jpg -k box3 -o out.png",
    code=0, message=r"EXIF orientation 9 is not one of 1\.\.8; ignored")
row("fault: a large file that is not an image is refused before it is read",
    build=lambda t: (t / "fake.png").open("wb").truncate(80 << 20), cmd="filter fake.png -k box3 -o out.png",
    code=1, message=r"^fake\.png: not an image: its first bytes are no image format's.*refused before reading",
    max_alloc=40 << 20)
row("fault: a large .npy that is not one is refused before it is read",
    build=lambda t: (t / "fake.npy").open("wb").truncate(80 << 20), cmd="filter fake.npy -k box3 -o out.npy",
    code=1, message=r"^fake\.npy: not a \.npy file: it does not start as one \(\\x93NUMPY\); refused before reading",
    max_alloc=40 << 20)
row("fault: a large .csv that is not text is refused before it is read",
    build=lambda t: (t / "fake.csv").open("wb").truncate(80 << 20), cmd="filter fake.csv -k box3 -o out.csv",
    code=1, message=r"^fake\.csv: not a text table of numbers: its first bytes are not UTF-8 text; refused before",
    max_alloc=40 << 20)
row("fault: a small .npy that is not one is not called a pickle", build=files(fake__npy="1,2,3\n"),
    cmd="filter fake.npy -k box3 -o out.npy", code=1, message=r"^fake\.npy: not a \.npy file: it does not start as one")


def damaged_ico() -> bytes:
    """An ICO whose embedded bitmap's width has its high byte (file byte 29) set to 200."""
    buffer = io.BytesIO()
    Image.fromarray((np.arange(256).reshape(16, 16)).astype(np.uint8)).save(buffer, "ICO", bitmap_format="bmp")
    data = bytearray(buffer.getvalue())
    assert data[22:26] == (40).to_bytes(4, "little")  # the BITMAPINFOHEADER; its width is bytes 26..29
    data[29] = 200
    return bytes(data)


row("fault: a damaged ICO", build=files(bad__ico=damaged_ico()), cmd="filter bad.ico -k box3 -o out.png", code=1,
    message=r"^bad\.ico: corrupt or truncated image", check=no_output("out.png"))
row("fault: a damaged ICO among training images is skipped",
    build=both(dataset, files(**{"data/a/ico.png": damaged_ico()})), cmd=T, code=0,
    message=r"^cnnconv: warning: skipped data/a/ico\.png: corrupt or truncated image", check=model_loads())
row("fault: a damaged ICO among evaluated images is skipped",
    build=both(dataset, model_file, files(**{"data/a/ico.png": damaged_ico()})), cmd="evaluate m.npz data", code=0,
    message=r"^cnnconv: warning: skipped data/a/ico\.png: corrupt or truncated image")
row("fault: a damaged ICO among predicted images fails alone",
    build=lambda t: (model_file(t), write(t, "bad.ico", damaged_ico()), write(t, "in.png", png())),
    cmd="predict m.npz bad.ico in.png", code=1, message=r"^bad\.ico: corrupt or truncated image")
row("fault: float32 results are written at float32's precision", build=files(one__png=png((3, 2), "L", 1)),
    cmd="filter one.png -k 0.1,0.2 --mode valid -o out.csv", code=0, message=None,
    check=lambda t, r: (t / "out.csv").read_text() == "0.3,0.3\n0.3,0.3\n" or pytest.fail((t / "out.csv").read_text()))
row("fault: EXIF orientation 0 is not applied", build=exif_orientation(0), cmd="filter in.jpg -k box3 -o out.png",
    code=0, message=r"EXIF orientation 0 is not one of 1\.\.8; ignored")
row("fault: 'sobel' is ImageMagick's Sobel kernel, not a guess at sobel-y", cmd="kernels sobel", code=0, message=None,
    check=lambda t, r: "# im:sobel: 3x3, sum 0" in r.stdout or pytest.fail(r.output))
row("fault: 'gauss' suggests a gaussian with its sigma and the bundled ones", cmd="kernels gauss", code=2,
    message=r"did you mean 'gaussian:sigma=1' or 'gaussian3'")


def damaged_lzw_tiff() -> bytes:
    """An LZW-compressed TIFF (decoded by libtiff, not by Pillow itself) with two bytes of its strip damaged."""
    values = (np.arange(64 * 64).reshape(64, 64) % 97).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, "TIFF", compression="tiff_lzw")
    data = bytearray(buffer.getvalue())
    strip = Image.open(io.BytesIO(bytes(data))).tag_v2[273][0]
    for at in (strip + 10, strip + 11):
        data[at] ^= 0xFF
    return bytes(data)


LZW_REASON = r"corrupt or truncated image \(libtiff: Using code not yet in table\); re-export the file$"
row("fault: an LZW TIFF with two damaged bytes", build=files(lzw__tif=damaged_lzw_tiff()),
    cmd="filter lzw.tif -k box3 -o out.png", code=1, message=r"^lzw\.tif: " + LZW_REASON, check=no_output("out.png"))
row("fault: an LZW TIFF with two damaged bytes among training images",
    build=both(dataset, files(**{"data/a/lzw.tif": damaged_lzw_tiff()})), cmd=T + " --size 8x8", code=0,
    message=r"^cnnconv: warning: skipped data/a/lzw\.tif: " + LZW_REASON, check=model_loads())
COMPLEX_KERNEL = lambda t: np.save(t / "kc.npy", np.array([[1 + 1j, 2.0], [3.0, 4.0]]))  # noqa: E731
row("fault: a complex .npy kernel is refused, not cut to its real part", build=both(IMG, COMPLEX_KERNEL),
    cmd="filter in.png -k kc.npy -o out.png", code=2,
    message=r"^Invalid value for --kernel: kc\.npy must hold real numbers, got complex128", check=no_output("out.png"))
row("fault: a complex .npy kernel in 'cnnconv kernels'", build=COMPLEX_KERNEL, cmd="kernels kc.npy", code=2,
    message=r"^Invalid value for KERNEL: kc\.npy must hold real numbers, got complex128")
row("fault: a complex .npy input is refused", build=lambda t: np.save(t / "c.npy", np.ones((4, 4)) * (1 + 1j)),
    cmd="filter c.npy -k box3 -o out.npy", code=1, message=r"^c\.npy: holds complex128 values; only real numbers",
    check=no_output("out.npy"))


ROWS = [pytest.param(name, r, id=name, marks=[pytest.mark.xfail(strict=True, reason=m["xfail"])] if m["xfail"] else [])
        for name, r, m in _ROWS]
JSON_ROWS = [
    pytest.param(name, r, id=name, marks=[pytest.mark.xfail(strict=True, reason=m["json_xfail"])] if m["json_xfail"] else [])
    for name, r, m in _ROWS if r.json and shlex.split(r.cmd)[0] in JSON_COMMANDS
]


# --------------------------------------------------------------------------- harness


def run(r: Row, tmp: Path, monkeypatch, extra: tuple[str, ...] = ()):
    tmp.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(tmp)
    monkeypatch.setenv("COLUMNS", "200")
    r.build(tmp)
    if r.patch is not None:
        r.patch(monkeypatch)
    argv = shlex.split(r.cmd) + list(extra)
    if r.max_alloc is not None:
        tracemalloc.start()
    try:
        result = CliRunner().invoke(cli, argv, input=r.stdin, prog_name="cnnconv")
        peak = tracemalloc.get_traced_memory()[1] if r.max_alloc is not None else 0
    finally:
        if r.max_alloc is not None:
            tracemalloc.stop()
    return result, peak


def check_common(r: Row, result, peak: int) -> list[str]:
    """The promises every row keeps; returns the stderr lines."""
    stderr = result.stderr
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "internal error" not in result.output, result.output
    assert result.exit_code == r.code, f"exit {result.exit_code}, expected {r.code}:\n{result.output}"
    if r.max_alloc is not None:
        assert peak < r.max_alloc, f"allocated {peak} bytes at the peak"
    lines = stderr.splitlines()
    errors = [line for line in lines if line.startswith("cnnconv: error: ")]
    others = [line for line in lines if not line.startswith("cnnconv: error: ")]
    if r.caret and errors:
        assert len(others) >= 2 and others[-1].lstrip().startswith("^"), stderr  # the spec, then the caret
        others = others[:-2]
    strays = [line for line in others if not OTHER_LINE.match(line)]
    assert not strays, f"stderr lines that are not one-line messages: {strays}"
    if r.code in (1, 2):
        assert len(errors) == r.errors, f"expected {r.errors} error line(s):\n{stderr}"
    else:
        assert not errors, stderr
    if r.message is not None:
        pattern = re.compile(r.message)
        whole = r.message.startswith("^cnnconv")  # a summary or interrupt line, matched as it stands
        hits = [line for line in lines
                if pattern.search(line if whole else re.sub(r"^cnnconv: (error|note|warning): ", "", line))]
        assert len(hits) == 1, f"{r.message!r} should match one stderr line:\n{stderr}"
        if r.code in (1, 2) and not whole:
            assert hits[0].startswith("cnnconv: error: "), hits
    return lines


@pytest.mark.parametrize(("name", "r"), ROWS)
def test_row(name, r, tmp_path, monkeypatch):
    result, peak = run(r, tmp_path, monkeypatch)
    check_common(r, result, peak)
    if r.check is not None:
        r.check(tmp_path, result)


def _not_json(constant: str):
    raise AssertionError(f"{constant} is not JSON; a strict parser refuses the line")


def strict_json(line: str):
    """``json.loads`` as a strict parser reads: ``NaN`` and ``Infinity`` are errors, not numbers."""
    return json.loads(line, parse_constant=_not_json)


def test_strict_json_refuses_nan():
    with pytest.raises(AssertionError, match="NaN is not JSON"):
        strict_json('{"min": NaN}')
    assert strict_json('{"min": null, "null_because": {"min": "nan"}}')["min"] is None


@pytest.mark.parametrize(("name", "r"), JSON_ROWS)
def test_row_json(name, r, tmp_path, monkeypatch):
    """The same row with --json: same exit code, JSON lines on stdout, the message inside a record."""
    result, peak = run(r, tmp_path, monkeypatch, extra=("--json",))
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    assert result.exit_code == r.code, result.output
    records = []
    for line in result.stdout.splitlines():
        if line.strip():
            records.append(strict_json(line))  # stdout holds JSON only
    for line in result.stderr.splitlines():
        if line.startswith("{"):
            records.append(strict_json(line))
    message = r.json_message or r.message
    if message is not None and r.code != 0:
        pattern = re.compile(re.sub(r"^\^(cnnconv: )?", "", message))
        failed = [rec for rec in records if rec.get("ok") is False or "error" in rec]
        assert any(pattern.search(str(rec.get("error", ""))) for rec in failed), (r.message, records)
    elif r.message is not None and r.code == 0 and not r.message.startswith("^cnnconv"):
        text = json.dumps(records, ensure_ascii=False)
        assert re.search(r.message.lstrip("^").split(": ", 1)[-1], text), (r.message, records)


# --------------------------------------------------------------------------- real processes


def _env():
    return dict(os.environ, PYTHONIOENCODING="utf-8", COLUMNS="120")


@pytest.mark.parametrize("cmd", ["filter in.png -k box3 -o out.png", "filter ok.png -k sobelx -o out.png"])
def test_real_process_one_line(tmp_path, cmd):
    """A real ``python -m cnnconv``: one stderr line, no traceback, the right exit code."""
    write(tmp_path, "in.png", b"")
    write(tmp_path, "ok.png", png())
    proc = subprocess.run([sys.executable, "-m", "cnnconv", *shlex.split(cmd)], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=60)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnconv: error: "), proc.stderr
    assert proc.returncode == (1 if "in.png" in cmd else 2)
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize(("args", "code", "message"), [
    (["filter", "/dev/zero", "-k", "box3", "-o", "out.png"], 1,
     r"^cnnconv: error: /dev/zero: is a device, not an image file"),
    (["filter", "in.png", "-k", "/dev/zero", "-o", "out.png"], 2,
     r"^cnnconv: error: Invalid value for --kernel: kernel file /dev/zero is larger than \d+ bytes"),
])
def test_device_files_are_not_read_to_the_end(tmp_path, args, code, message):
    """/dev/zero as an image or a kernel: refused, not read until memory runs out.

    In a real process with its address space capped, so that a regression fails
    (MemoryError or a timeout) instead of eating the machine's memory.
    """
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    write(tmp_path, "in.png", png())
    proc = subprocess.run([sys.executable, "-m", "cnnconv", *args], cwd=tmp_path, env=_env(), preexec_fn=cap,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == code, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and re.search(message, proc.stderr), proc.stderr
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize(("args", "code", "line"), [
    (["filter", "lzw.tif", "-k", "box3", "-o", "out.png"], 1, "cnnconv: error: lzw.tif: "),
    (["predict", "m.npz", "lzw.tif"], 1, "cnnconv: error: lzw.tif: "),
])
def test_libtiff_says_nothing_on_stderr(tmp_path, args, code, line):
    """libtiff writes to file descriptor 2 itself: only a real process shows that its words are caught."""
    write(tmp_path, "lzw.tif", damaged_lzw_tiff())
    model_file(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "cnnconv", *args], cwd=tmp_path, env=_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.splitlines() == [line + "corrupt or truncated image (libtiff: Using code not yet in table); "
                                        "re-export the file"], proc.stderr


@pytest.mark.parametrize(("name", "message"), [
    ("big.png", "big.png: not an image: its first bytes are no image format's (PNG, JPEG, TIFF, BMP, WebP, GIF, "
                "PPM/PGM/PBM)"),
    ("big.npy", "big.npy: not a .npy file: it does not start as one (\\x93NUMPY)"),
    ("big.csv", "big.csv: not a text table of numbers: its first bytes are not UTF-8 text"),
])
def test_a_3_gb_file_of_the_wrong_kind_is_not_read(tmp_path, name, message):
    """A sparse 3 GB file (truncate): refused by its first bytes, in a process that could not hold it."""
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    with open(tmp_path / name, "wb") as f:
        f.truncate(3 << 30)
    proc = subprocess.run([sys.executable, "-m", "cnnconv", "filter", name, "-k", "box3", "-o", "out" + name[3:]],
                          cwd=tmp_path, env=_env(), preexec_fn=cap, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines() == [f"cnnconv: error: {message}; refused before reading its 3,221,225,472 bytes"]


def test_sigint_during_training_saves_the_best_model(tmp_path):
    """Ctrl-C once the first epoch line is out: the best model so far is saved, loads and predicts."""
    dataset(tmp_path, per_class=12)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnconv", "train", "data", "-o", "m.npz", "--epochs", "5000",
         "--batch-size", "4", "--layers", "conv3x4,relu,pool2"],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        for line in proc.stdout:
            if re.match(r"epoch\s+1/", line):
                break
        else:
            pytest.fail("no epoch line: " + proc.stderr.read())
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err, err
    assert proc.returncode == 130, err
    lines = err.splitlines()
    assert [line for line in lines if "interrupted" in line] == [line for line in lines if line.startswith("cnnconv: ")]
    assert re.search(r"^cnnconv: interrupted: saved the best model so far to m\.npz \(epoch \d+", err, re.M), err
    from cnnconv.io.model import load_model

    network, meta = load_model(tmp_path / "m.npz")
    assert meta["class_names"] == ["a", "b"] and meta["history"]
    result = CliRunner().invoke(cli, ["predict", str(tmp_path / "m.npz"), str(tmp_path / "data/a/0.png"), "--json"])
    assert result.exit_code == 0, result.output
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- docs/errors.md


def markdown_table() -> str:
    """The table of docs/errors.md: every row's real exit code and stderr line(s)."""
    import tempfile

    class _MonkeyPatch:
        def __init__(self):
            self.mp = pytest.MonkeyPatch()

        def __getattr__(self, name):
            return getattr(self.mp, name)

    out = ["| case | command | exit | message (stderr) |", "| --- | --- | --- | --- |"]
    for name, r, marks in _ROWS:
        if marks["xfail"]:
            name += " (open problem, see below)"
        mp = _MonkeyPatch()
        with tempfile.TemporaryDirectory() as d:
            try:
                result, _ = run(r, Path(d) / "t", mp)
            finally:
                mp.mp.undo()
                os.chdir(Path(__file__).parent)
        lines = [line for line in result.stderr.splitlines() if line.startswith("cnnconv: ")]
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            # what cnnconv.cli.main, the last line of defence, prints for it in a real process
            exc = result.exception
            lines.append(f"cnnconv: internal error: {type(exc).__name__}: {exc} (set CNNCONV_DEBUG=1 ...)")
        shown = "<br>".join(line.replace("|", "\\|") for line in lines) or "(none)"
        command = r.cmd.replace("|", "\\|")
        out.append(f"| {name} | `{command}` | {result.exit_code} | {shown} |")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown_table())
