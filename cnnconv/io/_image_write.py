"""Write NumPy arrays as image files: formats, suffixes, and what each can hold.

Every sample type a format holds is written as it is: ``uint8`` gray/gray+alpha/RGB/RGBA/
CMYK, ``uint16`` and ``float32`` (TIFF) in any of those layouts. PNG is written by
:mod:`cnnconv.io._png`, TIFF by tifffile where it can keep the metadata, and the rest by
Pillow; 16-bit and float colour TIFF and 16-bit PPM go through :mod:`cnnconv.io._deep`. A format that cannot hold the samples is an error naming the
formats that can (and ``--depth 8`` where 8 bits would fit); nothing is dropped in
silence. The ICC profile, resolution and EXIF are written where the format holds them.
Reading is :mod:`cnnconv.io.images`, which re-exports these names.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from cnnconv.errors import CnnconvError
from cnnconv.io import _deep, _png
from cnnconv.io.formats import IMAGE_FORMATS
from cnnconv.io._metadata import ImageMetadata, dropped_note, pillow_save_options, png_chunks, tiff_text_tags

_FORMAT_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "BMP": ".bmp", "WEBP": ".webp", "GIF": ".gif",
                  "PPM": ".ppm", "PGM": ".pgm", "PBM": ".pbm", "PFM": ".pfm"}
_DEEP = {m + d for m in ("LA", "RGB", "RGBA") for d in (";16", ";F")} | {"CMYK;16", "CMYK;F"}
_CAN_HOLD = {  # format -> modes it stores without loss of channels or depth (";16"/";F": 16-bit/float colour)
    "PNG": {"L", "LA", "RGB", "RGBA", "I;16", "LA;16", "RGB;16", "RGBA;16"},
    "TIFF": {"L", "LA", "RGB", "RGBA", "CMYK", "I;16", "F"} | _DEEP,
    "JPEG": {"L", "RGB", "CMYK"},
    "BMP": {"L", "RGB"},
    "WEBP": {"RGB", "RGBA"},
    "GIF": {"L", "RGB", "RGBA"},
    "PPM": {"RGB", "RGB;16"},
    "PGM": {"L", "I;16"},
    "PBM": {"1"},
    "PFM": {"F", "RGB;F"},
}
_WIDENED = {  # (mode, format) -> the mode written instead, exactly (the same samples in more channels)
    ("L", "WEBP"): "RGB", ("L", "PPM"): "RGB", ("I;16", "PPM"): "RGB;16",
}
#: The formats whose writer takes ``quality`` (lossy compression).
LOSSY = ("JPEG", "WEBP")
#: JPEG quality when none is given: a high one, as a filter's output is usually looked at closely.
DEFAULT_JPEG_QUALITY = 95


def format_for(path: str | os.PathLike) -> str | None:
    """Pillow's format name for an output path's suffix, or None if it is not an image suffix.

    Examples
    --------
    >>> format_for("edges.JPG"), format_for("x.npy")
    ('JPEG', None)
    """
    return IMAGE_FORMATS.get(Path(path).suffix.lower())


def suffix_for(fmt: str) -> str:
    """The usual file suffix for a Pillow format name (``.png`` when unknown).

    >>> suffix_for("JPEG")
    '.jpg'
    """
    return _FORMAT_SUFFIX.get(fmt, ".png")


def encode_image(
    array: np.ndarray, fmt: str, *, colour: str = "rgb", metadata: ImageMetadata | None = None,
    quality: int | None = None,
) -> tuple[bytes, tuple[str, ...]]:
    """Encode an array as an image file in ``fmt``; return the bytes and notes on conversions.

    The sample type is kept: ``uint8``, ``uint16`` or ``float32``, any channels the format
    holds. A format that cannot hold the channels or the depth is an error that names the
    formats that can; nothing is dropped in silence. ``metadata`` (ICC profile, resolution,
    EXIF) is written where the format holds it, with a note naming what it cannot.
    ``quality`` (1..100) is for JPEG and WebP: JPEG defaults to 95, and keeps full colour
    resolution (4:4:4) from quality 90 up, 4:2:0 below, as ImageMagick does; WebP without
    a quality is lossless. PBM holds one bit: gray is thresholded at half its range.
    :func:`image_writer` writes the same file into an open one instead.

    Shape
    -----
    (H, W), (H, W, 1), (H, W, 2) gray+alpha, (H, W, 3) RGB, (H, W, 4) RGBA (or CMYK with
    ``colour="cmyk"``).

    Examples
    --------
    >>> data, notes = encode_image(np.zeros((2, 3), np.uint16), "PNG")
    >>> Image.open(io.BytesIO(data)).mode
    'I;16'
    >>> encode_image(np.zeros((2, 3, 4), np.uint8), "JPEG")
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: JPEG cannot hold RGBA samples; write .png or .tif or .webp instead
    >>> encode_image(np.zeros((2, 3, 3), np.uint16), "JPEG")
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: JPEG cannot hold 16-bit RGB samples; write .png or .ppm or .tif instead, or add --depth 8 for 8-bit samples
    """
    write, notes = image_writer(array, fmt, colour=colour, metadata=metadata, quality=quality)
    buffer = io.BytesIO()
    write(buffer)
    return buffer.getvalue(), notes


def image_writer(
    array: np.ndarray, fmt: str, *, colour: str = "rgb", metadata: ImageMetadata | None = None,
    quality: int | None = None,
) -> tuple[Callable[[BinaryIO], None], tuple[str, ...]]:
    """What :func:`encode_image` encodes, as a function that writes it into a binary file, and the notes.

    Everything that can fail on the samples (a format that cannot hold them) fails here, before
    anything is written. The writer puts a TIFF (through tifffile, when the file has no EXIF to
    keep) and a PNG's compressed pieces into the file from the samples, without the encoded
    file held whole in memory as well (for an uncompressed TIFF, a second copy of the samples;
    Pillow's writer held a third, as it keeps RGB as four bytes a pixel).

    >>> buffer = io.BytesIO()
    >>> write, notes = image_writer(np.zeros((2, 3, 3), np.uint8), "TIFF")
    >>> write(buffer); Image.open(buffer).size
    (3, 2)
    """
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    mode = _mode_of(array, colour)
    notes: list[str] = []
    if fmt == "PBM" and mode == "L":
        array, mode = array >= 128, "1"
        notes.append("PBM holds 1 bit per pixel: gray thresholded at 128 (values 128..255 are white)")
    mode_out = _WIDENED.get((mode, fmt), mode)
    if mode_out not in _CAN_HOLD.get(fmt, ()):
        if mode == "CMYK" and fmt in ("PNG", "WEBP", "BMP", "GIF", "PPM"):
            mode_out = "RGB"
            notes.append(f"{fmt} cannot hold CMYK: converted to RGB")
        else:
            raise CnnconvError(_cannot_hold(fmt, mode))
    if quality is not None and fmt not in LOSSY:
        notes.append(f"--quality is for JPEG and WebP; {fmt} is lossless, so it was not used")
    meta = metadata or None
    if fmt == "PNG":  # every mode PNG holds, by cnnconv's own writer (see cnnconv.io._png for why)
        if mode == "CMYK":
            array = np.asarray(Image.frombytes("CMYK", (array.shape[1], array.shape[0]),
                                               np.ascontiguousarray(array).tobytes()).convert("RGB"))
        chunks = png_chunks(meta)
        _png.png_pieces(array, chunks)  # the samples checked now; the pieces made as they are written
        return (lambda f: f.writelines(_png.png_pieces(array, chunks))), tuple(notes)
    if fmt == "PFM":
        note = dropped_note(meta, fmt)
        return _bytes_writer(_deep.write_pfm(array)), tuple(notes + [note] if note else notes)
    if mode_out in _DEEP or (mode_out in ("I;16", "RGB;16") and fmt in ("PPM", "PGM")):
        return _encode_deep(array, fmt, mode_out, colour, meta, notes)
    tags = tiff_text_tags(meta) if fmt == "TIFF" else None
    if tags is not None and mode_out in ("L", "LA", "RGB", "RGBA", "I;16", "F") and _deep.has("tifffile"):
        colour = "gray" if mode_out in ("L", "LA", "I;16", "F") else "rgb"
        return (lambda f: _deep.write_tiff_to(f, array, colour, meta, tags)), tuple(notes)
    if array.dtype == np.uint16:
        im = Image.frombytes("I;16", (array.shape[1], array.shape[0]), array.astype("<u2").tobytes())
    elif mode == "CMYK":
        im = Image.frombytes("CMYK", (array.shape[1], array.shape[0]), np.ascontiguousarray(array).tobytes())
    else:
        im = Image.fromarray(np.ascontiguousarray(array))
    if mode_out != im.mode:
        im = im.convert(mode_out)
    if fmt == "GIF":
        notes.append("GIF holds at most 256 colours: the output may be quantised")
    options = pillow_save_options(meta, fmt)
    if fmt == "JPEG":
        q = DEFAULT_JPEG_QUALITY if quality is None else quality
        options.update(quality=q, subsampling=0 if q >= 90 else 2)
    elif fmt == "WEBP":
        options.update(lossless=True) if quality is None else options.update(quality=quality)
    note = dropped_note(meta, fmt)
    if note:
        notes.append(note)
    return (lambda f: im.save(f, {"PGM": "PPM", "PBM": "PPM"}.get(fmt, fmt), **options)), tuple(notes)


def _bytes_writer(data: bytes) -> Callable[[BinaryIO], None]:
    return lambda f: f.write(data)


def _encode_deep(array, fmt, mode, colour, meta, notes) -> tuple[Callable[[BinaryIO], None], tuple[str, ...]]:
    """Samples Pillow cannot write: 16-bit PNG/PPM/PGM and deep TIFF through :mod:`cnnconv.io._deep`."""
    if fmt == "TIFF":
        tags = tiff_text_tags(meta)
        if tags is None:
            notes.append("EXIF is not written to a 16-bit or float colour TIFF (tifffile writes its text tags "
                         "only); the ICC profile and resolution are")
        _deep.require_for_tiff()
        return (lambda f: _deep.write_tiff_to(f, array, colour, meta, tags or ())), tuple(notes)
    if array.ndim == 2 and fmt == "PPM":
        array = np.repeat(array[..., None], 3, axis=2)
    note = dropped_note(meta, fmt)
    return _bytes_writer(_deep.write_pnm(array)), tuple(notes + [note] if note else notes)


def _cannot_hold(fmt: str, mode: str) -> str:
    can = sorted(suffix_for(f) for f, modes in _CAN_HOLD.items()
                 if (mode in modes or _WIDENED.get((mode, f)) in modes) and f not in ("GIF", "PBM"))
    message = f"{fmt} cannot hold {_describe(mode)} samples; write {' or '.join(can) or '.npy'} instead"
    shallow = _SHALLOW.get(mode)
    if shallow and (shallow in _CAN_HOLD.get(fmt, ()) or _WIDENED.get((shallow, fmt)) in _CAN_HOLD.get(fmt, ())):
        message += ", or add --depth 8 for 8-bit samples"
    return message


_SHALLOW = {"I;16": "L", "F": "L", "CMYK;16": "CMYK", "CMYK;F": "CMYK"} | {
    m + d: m for m in ("LA", "RGB", "RGBA") for d in (";16", ";F")}


def _mode_of(array: np.ndarray, colour: str) -> str:
    channels = 1 if array.ndim == 2 else array.shape[2]
    if array.ndim not in (2, 3) or channels > 4:
        raise CnnconvError(f"cannot store an array of shape {array.shape} as an image; write .npy instead")
    depth = {np.dtype(np.uint8): "", np.dtype(np.uint16): ";16", np.dtype(np.float32): ";F"}.get(array.dtype)
    if depth is None:
        raise CnnconvError(f"cannot store {array.dtype} samples as an image; write .npy instead")
    if channels == 1:
        return {"": "L", ";16": "I;16", ";F": "F"}[depth]
    base = "CMYK" if channels == 4 and colour == "cmyk" else {2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    return base + depth


def _describe(mode: str) -> str:
    """How a mode is called in messages: "16-bit RGB", "float gray", "gray+alpha".

    >>> _describe("RGBA;16"), _describe("F"), _describe("LA")
    ('16-bit RGBA', 'float gray', 'gray+alpha')
    """
    base, _, depth = mode.partition(";")
    if mode in ("I;16", "F"):
        base, depth = "L", "16" if mode == "I;16" else "F"
    name = {"L": "gray", "LA": "gray+alpha", "1": "1-bit"}.get(base, base)
    return {"16": "16-bit ", "F": "float "}.get(depth, "") + name
