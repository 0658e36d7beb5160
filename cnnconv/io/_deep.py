"""Samples Pillow cannot hold: 16-bit colour and gray+alpha, float colour.

Pillow keeps 16 bits only for gray (mode ``I;16``): it reads a 16-bit RGB, RGBA or
gray+alpha PNG or TIFF, and a 16-bit PPM, as 8 bits, and cannot write them at all. Those
files go through libraries that do them well instead:

- TIFF through ``tifffile`` (the reference TIFF library for scientific imaging, also what
  reads large pictures in parts);
- PNG read through ``imagecodecs`` (libpng's and zlib-ng's C code, by tifffile's author, which
  tifffile itself needs for compressed TIFFs). ``pypng`` is pure Python, about 50 times
  slower on a 4096² picture; imageio reads PNG through Pillow, with the same 8-bit limit.
  PNG of every depth is written by :mod:`cnnconv.io._png`, which needs neither.

Both are in the ``large`` extra; without it these files are refused with the command to
install it (exit 2), and everything else still works. Pillow still reads the header and
the metadata of these files (it parses them well), only not their samples.

PPM/PGM with more than 8 bits (maxval above 255) are read and written here: the format is
a short text header and raw big-endian samples, which NumPy reads and writes at memory speed.
"""

from __future__ import annotations

import io
import re
from contextlib import contextmanager

import numpy as np

from cnnconv.errors import CnnconvError, MissingExtraError

#: The optional extra that holds the 16-bit colour codecs.
EXTRA = "large"
_PNM_HEADER = re.compile(rb"\A(P[1-7])(?:\s|#[^\n]*\n)+(\d+)(?:\s|#[^\n]*\n)+(\d+)(?:\s|#[^\n]*\n)+(\d+)\s")


def has(module: str) -> bool:
    """Whether the optional ``module`` (tifffile, imagecodecs) can be imported."""
    try:
        _require(module, "")
    except MissingExtraError:
        return False
    return True


def require_for_tiff() -> None:
    """Raise :class:`MissingExtraError` now, not half-way through writing, if deep TIFF cannot be written."""
    _require("tifffile", "writing a TIFF with more than 8 bits per colour sample")


def _require(module: str, what: str):
    try:
        if module == "tifffile":
            import tifffile

            return tifffile
        import imagecodecs

        return imagecodecs
    except ImportError:
        raise MissingExtraError(
            f"{what} needs the optional package {module}; install it with pip install 'cnnconv[{EXTRA}]'",
            extra=EXTRA,
        ) from None


# --- which files need this module ------------------------------------------------------

def png_is_deep(data: bytes) -> bool:
    """A 16-bit PNG with colour or alpha (IHDR bit depth 16, colour type 2, 4 or 6).

    >>> png_is_deep(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(16) + bytes([16, 6]))
    True
    """
    return len(data) > 25 and data[:8] == b"\x89PNG\r\n\x1a\n" and data[24] == 16 and data[25] in (2, 4, 6)


def tiff_is_deep(im) -> bool:
    """A TIFF whose samples Pillow would cut: more than 8 bits in more than one channel."""
    tags = getattr(im, "tag_v2", None)
    if tags is None:
        return False
    bits = tags.get(258, (8,))
    bits = bits if isinstance(bits, tuple) else (bits,)
    samples = int(tags.get(277, 1))
    return samples > 1 and max(bits) > 8


def pnm_header(data: bytes) -> tuple[str, int, int, int, int] | None:
    """(magic, width, height, maxval, offset of the samples) of a binary PGM/PPM, else None.

    >>> pnm_header(b"P6\\n# made by hand\\n3 2\\n65535\\n" + bytes(36))
    ('P6', 3, 2, 65535, 28)
    """
    match = _PNM_HEADER.match(data[:1024])
    if match is None or match.group(1) not in (b"P5", b"P6"):
        return None
    return match.group(1).decode(), int(match.group(2)), int(match.group(3)), int(match.group(4)), match.end()


# --- reading -----------------------------------------------------------------------------

def read_png(data: bytes, name: str) -> np.ndarray:
    """A 16-bit PNG's samples as uint16 (H, W, C)."""
    codecs = _require("imagecodecs", "a 16-bit colour or gray+alpha PNG")
    try:
        array = codecs.png_decode(data)
    except Exception as exc:  # noqa: BLE001 - imagecodecs raises its own PngError and friends
        raise CnnconvError(f"{name}: corrupt or truncated PNG ({exc}); re-export the file") from None
    return np.ascontiguousarray(array, dtype=np.uint16)


#: Bytes of a TIFF's tiles or strips tifffile reads at a time (its default, 256 MiB, holds the
#: file of a tiled 8192² picture whole beside its samples).
DECODE_BUFFER = 4 << 20


@contextmanager
def tiff_file(data):
    """tifffile's ``TiffFile`` on a TIFF's bytes or on a :class:`~cnnconv.io._read.FileOnDisk`.

    From disk, tifffile reads the samples straight into the array (the file is never in
    memory whole); the bytes' stream is closed on the way out, so they go at once (tifffile's
    objects sit in reference cycles that would keep them until the next garbage collection).
    """
    import tifffile

    from cnnconv.io._read import FileOnDisk

    if isinstance(data, FileOnDisk):
        with tifffile.TiffFile(data.path) as tif:
            yield tif
        return
    with io.BytesIO(data) as stream, tifffile.TiffFile(stream) as tif:
        yield tif


def read_tiff(data: bytes, name: str) -> tuple[np.ndarray, str]:
    """The first page of a TIFF as (H, W, C) in its own sample type, and its colour (gray, rgb, cmyk)."""
    tifffile = _require("tifffile", "a TIFF with more than 8 bits per colour sample")
    try:
        with tiff_file(data) as tif:
            page = tif.pages[0]
            array = page.asarray(buffersize=DECODE_BUFFER)
            axes, photometric = page.axes, int(page.photometric)
    except Exception as exc:  # noqa: BLE001 - tifffile signals damaged files with many types (struct.error too)
        if "imagecodecs" in str(exc):
            raise MissingExtraError(
                f"{name}: this TIFF's compression needs imagecodecs; install it with pip install 'cnnconv[{EXTRA}]'",
                extra=EXTRA) from None
        raise CnnconvError(f"{name}: corrupt or unsupported TIFF ({exc}); re-export the file") from None
    if axes.startswith("S") and array.ndim == 3:  # planar configuration: one plane per channel
        array = np.moveaxis(array, 0, -1)
    if array.ndim != 3:
        raise CnnconvError(f"{name}: a TIFF page of shape {array.shape} ({axes}) is not a picture cnnconv reads")
    if array.dtype.kind == "f":
        array = array.astype(np.float32)
    elif array.dtype.kind in "ui" and array.dtype.itemsize <= 2:
        array = array.astype(np.uint16, copy=False)
    else:
        raise CnnconvError(
            f"{name}: {array.dtype} colour samples are not supported; save the image with 16-bit or float samples"
        )
    colour = {5: "cmyk"}.get(photometric, "gray" if array.shape[2] <= 2 else "rgb")
    return np.ascontiguousarray(array), colour


def tiff_header(data: bytes, name: str) -> dict:
    """Size, page count, orientation, ICC profile and resolution (dpi) of a TIFF, from tifffile.

    For the TIFF layouts Pillow cannot even open (16-bit gray+alpha, float colour), whose
    tags Pillow therefore cannot read either.
    """
    tifffile = _require("tifffile", "a TIFF with more than 8 bits per colour sample")
    try:
        with tiff_file(data) as tif:
            page, pages = tif.pages[0], len(tif.pages)
            tags = {tag.code: tag.value for tag in page.tags.values()}
            width, height = int(page.imagewidth), int(page.imagelength)
    except Exception as exc:  # noqa: BLE001 - tifffile signals damaged files with many types (struct.error too)
        raise CnnconvError(f"{name}: corrupt or unsupported TIFF ({exc}); re-export the file") from None
    dpi = None
    if 282 in tags and 283 in tags and int(tags.get(296, 2)) in (2, 3):
        per = 2.54 if int(tags.get(296, 2)) == 3 else 1.0  # unit 3: per centimetre
        ratio = lambda v: v[0] / v[1] if isinstance(v, tuple) and v[1] else float(v)  # noqa: E731
        dpi = (round(ratio(tags[282]) * per, 4), round(ratio(tags[283]) * per, 4))
    icc = tags.get(34675)
    return {"width": width, "height": height, "pages": pages, "orientation": int(tags.get(274, 1)),
            "icc_profile": bytes(icc) if icc else None, "dpi": dpi}


def read_pnm(data: bytes, name: str, header: tuple[str, int, int, int, int]) -> tuple[np.ndarray, list[str]]:
    """The samples of a binary PGM (H, W) or PPM (H, W, 3) with maxval above 255, as uint16.

    A maxval other than 65535 (a 10- or 12-bit file) is scaled to 0..65535, as ImageMagick does.
    """
    magic, width, height, maxval, start = header
    channels = 3 if magic == "P6" else 1
    count = width * height * channels
    if not 0 < maxval < 65536:
        raise CnnconvError(f"{name}: PNM maxval {maxval} is not in 1..65535; the file is damaged")
    body = data[start:start + 2 * count]
    if len(body) < 2 * count:
        raise CnnconvError(f"{name}: corrupt or truncated image (the PNM header promises {count} samples); "
                           "re-export the file")
    array = np.frombuffer(body, dtype=">u2").astype(np.uint16).reshape((height, width, channels)[:2 + (channels > 1)])
    notes = []
    if maxval != 65535:
        array = np.rint(np.minimum(array, maxval) * (65535.0 / maxval)).astype(np.uint16)
        notes.append(f"samples scaled from 0..{maxval} to 0..65535 (16-bit)")
    return array, notes


# --- writing -----------------------------------------------------------------------------

def write_tiff(array: np.ndarray, colour: str, meta) -> bytes:
    """A TIFF of uint16 or float32 samples (gray, gray+alpha, RGB, RGBA, CMYK), with ICC and resolution."""
    buffer = io.BytesIO()
    write_tiff_to(buffer, array, colour, meta)
    return buffer.getvalue()


def write_tiff_to(f, array: np.ndarray, colour: str, meta, extratags=()) -> None:
    """:func:`write_tiff` into the binary file ``f``, from the samples straight (no encoded copy held).

    Any sample type tifffile writes: uint8 too, which the command line writes so when the
    EXIF to keep is only TIFF text tags (``extratags``; tifffile cannot write an EXIF block,
    and Pillow then writes the file).
    """
    tifffile = _require("tifffile", "writing a TIFF with more than 8 bits per colour sample")
    channels = 1 if array.ndim == 2 else array.shape[2]
    photometric = "separated" if colour == "cmyk" else "minisblack" if channels <= 2 else "rgb"
    options = {}
    if channels in (2, 4) and colour != "cmyk":
        options["extrasamples"] = ["unassalpha"]
    if meta and meta.dpi:
        options.update(resolution=tuple(meta.dpi), resolutionunit="INCH")
    if meta and meta.icc_profile:
        options["iccprofile"] = meta.icc_profile
    if not isinstance(f, io.BytesIO):  # a handle from os.fdopen is named by its descriptor, no path to split
        f = tifffile.FileHandle(f, mode="wb", name="output.tif")
    # metadata=None, software="": no tifffile JSON description or Software tag in the file
    tifffile.imwrite(f, array, photometric=photometric, planarconfig="contig", metadata=None, software="",
                     extratags=list(extratags), **options)


_PFM_HEADER = re.compile(rb"\A(P[Ff])\s+(\d+)\s+(\d+)\s+([-+]?[0-9.eE+-]+)\s")


def pfm_header(data: bytes) -> tuple[int, int, int, str, int] | None:
    """(channels, width, height, byte order, data offset) of a Portable Float Map, or None.

    >>> pfm_header(b"PF\\n3 2\\n-1.0\\n" + bytes(72))
    (3, 3, 2, '<', 12)
    """
    match = _PFM_HEADER.match(data[:256])
    if match is None:
        return None
    try:
        scale = float(match.group(4))
    except ValueError:
        return None
    return (3 if match.group(1) == b"PF" else 1, int(match.group(2)), int(match.group(3)),
            "<" if scale < 0 else ">", match.end())


def read_pfm(data: bytes, name: str, header: tuple[int, int, int, str, int]) -> np.ndarray:
    """Float32 samples of a PFM (rows stored bottom to top), (H, W) or (H, W, 3)."""
    channels, width, height, order, offset = header
    count = channels * width * height
    if len(data) - offset < 4 * count:
        raise CnnconvError(f"{name}: corrupt or truncated image (the PFM header promises {count} samples); "
                           "re-export the file")
    array = np.frombuffer(data, dtype=order + "f4", count=count, offset=offset).astype(np.float32)
    array = array.reshape((height, width, channels) if channels == 3 else (height, width))
    return np.ascontiguousarray(array[::-1])


def write_pfm(array: np.ndarray) -> bytes:
    """A little-endian PFM of float32 (H, W) gray or (H, W, 3) colour, rows bottom to top.

    >>> write_pfm(np.array([[1.5]], np.float32))
    b'Pf\\n1 1\\n-1.0\\n\\x00\\x00\\xc0?'
    """
    magic = "Pf" if array.ndim == 2 else "PF"
    header = f"{magic}\n{array.shape[1]} {array.shape[0]}\n-1.0\n".encode("ascii")
    return header + np.ascontiguousarray(array[::-1], dtype="<f4").tobytes()


def write_pnm(array: np.ndarray) -> bytes:
    """A binary 16-bit PGM (H, W) or PPM (H, W, 3), maxval 65535.

    >>> write_pnm(np.array([[1, 65535]], np.uint16))
    b'P5\\n2 1\\n65535\\n\\x00\\x01\\xff\\xff'
    """
    magic = "P5" if array.ndim == 2 else "P6"
    header = f"{magic}\n{array.shape[1]} {array.shape[0]}\n65535\n".encode("ascii")
    return header + np.ascontiguousarray(array, dtype=">u2").tobytes()


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """``array`` turned upright by an EXIF orientation (1..8), as ``PIL.ImageOps.exif_transpose`` turns an image.

    >>> orient(np.array([[1, 2], [3, 4]]), 6).tolist()
    [[3, 1], [4, 2]]
    """
    turns = {
        2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    turn = turns.get(orientation)
    return array if turn is None else np.ascontiguousarray(turn(array))
