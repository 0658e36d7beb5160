"""Read images with Pillow as NumPy arrays, saying what was done to them.

Arrays are channels-last and keep the file's sample type: ``uint8``, ``uint16`` or
``float32``, gray, gray+alpha, RGB, RGBA or CMYK, as many bits as the file holds (samples
Pillow would cut to 8 bits, 16-bit colour PNG, TIFF and PPM, are read by :mod:`cnnconv.io._deep`).
Everything done behind the user's back (palette expansion, EXIF rotation, first frame of an
animation) is reported in ``ImageInfo.notes``; the ICC profile, resolution and EXIF travel in
``ImageInfo.metadata`` to the writer. Writing lives in :mod:`cnnconv.io._image_write`; its
public names are re-exported here.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnnconv.errors import CnnconvError, MissingExtraError
from cnnconv.io import _deep, _libtiff, _png
from cnnconv.io._image_write import encode_image, format_for, image_writer, suffix_for
from cnnconv.io.formats import DEFAULT_MAX_PIXELS, IMAGE_FORMATS
from cnnconv.io._metadata import ImageMetadata, metadata_of
from cnnconv.io._read import TIFF_SIGNATURES, FileOnDisk, read_input, read_input_bytes

__all__ = [
    "DEFAULT_MAX_PIXELS", "IMAGE_FORMATS", "ImageInfo", "ImageMetadata", "encode_image", "format_for", "image_writer",
    "read_image",
    "read_image_bytes", "suffix_for",
]


@dataclass(frozen=True)
class ImageInfo:
    """What was read.

    ``colour`` is ``"gray"``, ``"rgb"`` or ``"cmyk"``; ``mode`` is Pillow's mode as stored
    in the file (``RGB;16``, ``LA;16``, ``RGBA;F`` ... for the samples Pillow has no mode
    for); ``bit_depth`` is 8, 16 or 32 (float). ``metadata`` (ICC profile, resolution, EXIF
    less the orientation) is bytes: ``metadata.describe()`` is its JSON-ready summary.
    """

    format: str
    mode: str
    bit_depth: int
    has_alpha: bool
    colour: str
    width: int
    height: int
    notes: tuple[str, ...] = field(default=())
    metadata: ImageMetadata = field(default=ImageMetadata(), repr=False)


def read_image_bytes(source: str | os.PathLike) -> bytes:
    """The bytes of an image file, with one-line errors for the usual mistakes."""
    return read_input_bytes(source, kind="image")


def read_image(
    source: str | os.PathLike | bytes,
    *,
    name: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    gray: bool = False,
) -> tuple[np.ndarray, ImageInfo]:
    """Decode an image file (a path, or its bytes) into an array and an :class:`ImageInfo`.

    Parameters
    ----------
    source : path or bytes
        The file, or its content (``-``/stdin input).
    name : str, optional
        How to call the input in messages (default: the path, or ``<stdin>``).
    max_pixels : int or None
        Refuse images with more pixels than this (decompression bombs); ``None`` for no limit.
    gray : bool
        Convert colour to 8-bit luminance first (ITU-R 601, keeping alpha).

    Returns
    -------
    array : np.ndarray
        ``uint8``, ``uint16`` or ``float32``; (H, W) or (H, W, C), channels last.
    info : ImageInfo

    Shape
    -----
    (H, W) for gray, (H, W, 2) gray+alpha, (H, W, 3) RGB, (H, W, 4) RGBA or CMYK.

    Examples
    --------
    >>> buf = io.BytesIO()
    >>> Image.new("P", (3, 2), 1).save(buf, "PNG")
    >>> x, info = read_image(buf.getvalue())
    >>> x.shape, x.dtype.name, info.mode, info.colour
    ((2, 3, 3), 'uint8', 'P', 'rgb')
    """
    if isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), name or "<stdin>"
    else:
        data, name = read_input(source, kind="image"), name or str(source)
    notes: list[str] = []
    opened = None
    try:
        with pillow_messages_to(notes):
            pfm = _deep.pfm_header(data)
            im = opened = None if pfm else _open(data, name, max_pixels)
            libpng = False
            if pfm:  # a Portable Float Map: read here (Pillow reads gray ones only)
                _check_pixels(name, pfm[1], pfm[2], max_pixels)
                array = _deep.read_pfm(data, name, pfm)
                colour, file_format, metadata, orientation = "gray" if array.ndim == 2 else "rgb", "PFM", ImageMetadata(), 1
                deep = array, colour
            elif im is None:  # a TIFF layout Pillow has no mode for (16-bit gray+alpha, float RGB, ...)
                array, colour, file_format, metadata, orientation = _tiff_pillow_cannot_open(
                    data, name, max_pixels, notes)
                deep = array, colour
            else:
                frames = getattr(im, "n_frames", 1)
                if frames > 1:
                    im.seek(0)
                    notes.append(f"animated image with {frames} frames: only the first frame is used")
                libpng = _decodes_png(data, im, gray)
                if libpng:
                    # found without decoding: Pillow would decode the whole image to look after its data
                    exif = _png.find_chunk(data, b"eXIf")
                    im.info["exif"] = b"Exif\x00\x00" + exif if exif else b""
                orientation = im.getexif().get(0x0112, 1) if hasattr(im, "getexif") else 1
                file_mode, file_format = im.mode, _format_name(im.format or "?", data)
                metadata = metadata_of(im)
                deep = _deep_samples(data, im, file_format, name, notes)
            plain = None if deep is not None else _plain_tiff(data, im, file_format, gray, orientation)
            if plain is None and deep is None and libpng and orientation not in _TURNS:
                plain = _plain_png(data, im)
            if plain is not None:
                array, mode = plain, im.mode
                colour = "gray" if mode in ("L", "LA") else "rgb"
                has_alpha = mode in ("LA", "RGBA")
            elif deep is None:
                saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # ours was checked in _open
                try:
                    im.load()
                finally:
                    Image.MAX_IMAGE_PIXELS = saved
                if orientation in _TURNS:
                    im = ImageOps.exif_transpose(im)
                im = _normalise_mode(im, notes, gray, name)
                array = _to_array(im, name)
                mode = im.mode
                colour = "gray" if mode in ("L", "LA", "I;16", "F") else "cmyk" if mode == "CMYK" else "rgb"
                has_alpha = mode in ("LA", "RGBA")
            else:
                array, colour = deep
                array = _deep.orient(array, orientation)
                has_alpha = array.ndim == 3 and array.shape[2] in (2, 4) and colour != "cmyk"
                if gray and colour == "rgb":
                    array, colour = _luminance(array, has_alpha), "gray"
                    notes.append("converted to gray (ITU-R 601 luminance)")
                mode = _deep_mode(array, colour, has_alpha)
                file_mode = mode
            if orientation in _TURNS:
                notes.append(f"EXIF orientation {orientation} applied (the image is turned upright)")
            elif orientation not in (1, None):
                notes.append(f"EXIF orientation {orientation!r} is not one of 1..8; ignored (the image is used as stored)")
    except CnnconvError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError) as exc:
        # Pillow signals corrupt and truncated files with any of these; libtiff's own words say more.
        why = next((n for n in reversed(notes) if n.startswith("libtiff: ")), exc)
        raise CnnconvError(f"{name}: corrupt or truncated image ({why}); re-export the file") from None
    except Image.DecompressionBombError as exc:  # pragma: no cover - our own check comes first
        raise CnnconvError(f"{name}: {exc}") from None
    finally:
        # Pillow's image sits in a reference cycle holding the file's bytes: closed here, they go at
        # once instead of at the next garbage collection (a whole input's size at the memory peak)
        if opened is not None:
            opened.close()
    if array.dtype.kind == "f":  # a float TIFF: refused as a .npy with NaN is, not spread by the kernel
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise CnnconvError(f"{name}: {bad} NaN or infinite values; replace them with numbers first")
    info = ImageInfo(
        format=file_format, mode=file_mode, bit_depth={"uint8": 8, "uint16": 16}.get(array.dtype.name, 32),
        has_alpha=has_alpha, colour=colour, width=array.shape[1], height=array.shape[0],
        notes=tuple(notes), metadata=metadata,
    )
    return array, info


#: The EXIF orientations that turn or mirror the image (1 is upright; others are not valid).
_TURNS = (2, 3, 4, 5, 6, 7, 8)


def _format_name(pillow_format: str, data: bytes) -> str:
    """Pillow's format name, with its one "PPM" told apart into PBM, PGM and PPM by the file's magic."""
    if pillow_format != "PPM":
        return pillow_format
    return {b"P1": "PBM", b"P4": "PBM", b"P2": "PGM", b"P5": "PGM"}.get(data[:2], "PPM")


def _plain_tiff(data: bytes, im: Image.Image, fmt: str, gray: bool, orientation) -> np.ndarray | None:
    """An 8-bit gray or RGB(A) TIFF's samples decoded by tifffile, else None (Pillow decodes it).

    tifffile reads a 4096² RGB TIFF in ~0.05 s where Pillow's strip-by-strip decode takes ~0.5 s;
    the samples are the same (checked against Pillow's shape, the file's mode from Pillow).
    """
    if fmt != "TIFF" or gray or orientation in _TURNS or im.mode not in ("L", "LA", "RGB", "RGBA"):
        return None
    try:
        import tifffile
    except ImportError:
        return None
    try:
        with _deep.tiff_file(data) as tif:
            page = tif.pages[0]
            if page.dtype != np.uint8 or int(page.planarconfig) != 1 or int(page.photometric) not in (1, 2):
                return None
            array = page.asarray(buffersize=_deep.DECODE_BUFFER)
    except Exception:  # noqa: BLE001 - whatever tifffile cannot read, Pillow reads or reports
        return None
    expected = (im.height, im.width) + (() if im.mode == "L" else (len(im.mode),))
    return np.ascontiguousarray(array) if array.shape == expected else None


def _decodes_png(data: bytes, im: Image.Image, gray: bool) -> bool:
    """Whether libpng (``imagecodecs``, the ``large`` extra) decodes this PNG instead of Pillow.

    8-bit gray, gray+alpha, RGB and RGBA, one frame, no transparent colour (``tRNS``), no
    ``--gray``: the layouts both decode to the same samples. libpng with zlib-ng decodes a
    4096² RGB photo in ~0.25 s where Pillow takes ~0.5 s, into the array itself (Pillow holds
    RGB as four bytes a pixel, then copies). Anything else, or without the extra, is Pillow's.
    """
    if im.format != "PNG" or gray or im.mode not in ("L", "LA", "RGB", "RGBA") or "transparency" in im.info:
        return False
    if len(data) < 29 or data[24] != 8 or getattr(im, "n_frames", 1) != 1:
        return False
    try:
        import imagecodecs
    except ImportError:
        return False
    return hasattr(imagecodecs, "png_decode")


def _plain_png(data: bytes, im: Image.Image) -> np.ndarray | None:
    """An 8-bit PNG's samples decoded by libpng (see :func:`_decodes_png`), else None (Pillow decodes it)."""
    import imagecodecs

    try:
        array = imagecodecs.png_decode(data)
    except Exception:  # noqa: BLE001 - whatever libpng cannot read, Pillow reads or reports
        return None
    expected = (im.height, im.width) + (() if im.mode == "L" else (len(im.mode),))
    if array.dtype != np.uint8 or array.shape != expected:
        return None
    return np.ascontiguousarray(array)


def _deep_samples(data: bytes, im: Image.Image, fmt: str, name: str, notes: list[str]):
    """(samples, colour) for a file whose samples Pillow would cut to 8 bits, else None."""
    if fmt == "PNG" and _deep.png_is_deep(data):
        array = _deep.read_png(data, name)
        return array, "gray" if array.shape[2] <= 2 else "rgb"
    if fmt == "TIFF" and _deep.tiff_is_deep(im):
        return _deep.read_tiff(data, name)
    if fmt in ("PGM", "PPM"):
        header = _deep.pnm_header(data)
        if header is not None and header[3] > 255:
            array, more = _deep.read_pnm(data, name, header)
            notes.extend(more)
            return array, "gray" if array.ndim == 2 else "rgb"
    return None


def _luminance(array: np.ndarray, has_alpha: bool) -> np.ndarray:
    """ITU-R 601 luminance of 16-bit or float RGB(A), alpha kept, rounded as Pillow rounds 8-bit."""
    rgb = array[..., :3]
    if array.dtype == np.uint16:
        wide = rgb.astype(np.int64)
        gray = ((wide[..., 0] * 19595 + wide[..., 1] * 38470 + wide[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint16)
    else:
        gray = (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114).astype(array.dtype)
    return np.dstack([gray, array[..., 3]]) if has_alpha else gray


def _deep_mode(array: np.ndarray, colour: str, has_alpha: bool) -> str:
    """A Pillow-like mode name for samples Pillow has no mode for: ``RGB;16``, ``LA;16``, ``RGBA;F``, ``I;16``."""
    if array.ndim == 2:
        return "I;16" if array.dtype == np.uint16 else "F"
    base = "CMYK" if colour == "cmyk" else ("LA" if colour == "gray" else "RGBA") if has_alpha else \
        "L" if colour == "gray" else "RGB"
    return base + (";16" if array.dtype == np.uint16 else ";F")


@contextmanager
def pillow_messages_to(notes: list[str]):
    """Pillow's (and tifffile's and libtiff's) warnings and log records on a damaged file become notes,
    not stray stderr lines."""

    class ToNotes(logging.Handler):
        def emit(self, record):
            notes.append(f"{'Pillow' if record.name.startswith('PIL') else record.name}: {record.getMessage()}")

    handler = ToNotes(logging.WARNING)
    loggers = [logging.getLogger("PIL"), logging.getLogger("tifffile")]
    for logger in loggers:  # with a handler in place, logging's last-resort stderr output stays silent
        logger.addHandler(handler)
    libtiff: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught, _libtiff.collecting(libtiff):
            warnings.simplefilter("always")
            yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        notes.extend(dict.fromkeys(f"Pillow: {w.message}" for w in caught))
        notes.extend(dict.fromkeys(f"libtiff: {m}" for m in libtiff))


def _open(data: bytes, name: str, max_pixels: int | None) -> Image.Image | None:
    """The file opened by Pillow (header only); None for a TIFF Pillow has no mode for."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own limit below, with a message that says how to lift it
    try:
        im = Image.open(data.path if isinstance(data, FileOnDisk) else io.BytesIO(data))
    except UnidentifiedImageError:
        if data[:4] in TIFF_SIGNATURES:
            return None
        raise _unreadable(name) from None
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    _check_pixels(name, im.width, im.height, max_pixels)
    return im


def _unreadable(name: str) -> CnnconvError:
    return CnnconvError(
        f"{name}: not an image Pillow can read (PNG, JPEG, TIFF, BMP, WebP, GIF, PPM/PGM/PBM); "
        "is it corrupt, or another kind of file?"
    )


def _check_pixels(name: str, width: int, height: int, max_pixels: int | None) -> None:
    pixels = width * height
    if max_pixels is not None and pixels > max_pixels:
        raise CnnconvError(
            f"{name}: {height}x{width} (HxW) = {pixels} pixels is over the limit of {max_pixels} "
            f"that guards against decompression bombs; if you trust the file, allow it with "
            f"--max-pixels {pixels}"
        )


def _tiff_or_unreadable(read, data: bytes, name: str):
    """``read(data, name)``; a TIFF that neither Pillow nor tifffile makes sense of is "not an image"."""
    try:
        return read(data, name)
    except MissingExtraError:
        raise
    except CnnconvError:
        raise _unreadable(name) from None


def _tiff_pillow_cannot_open(data: bytes, name: str, max_pixels: int | None, notes: list[str]):
    """(samples, colour, "TIFF", metadata, orientation) of a TIFF read by tifffile alone."""
    header = _tiff_or_unreadable(_deep.tiff_header, data, name)
    _check_pixels(name, header["width"], header["height"], max_pixels)
    array, colour = _tiff_or_unreadable(_deep.read_tiff, data, name)
    if header["pages"] > 1:
        notes.append(f"multi-page TIFF with {header['pages']} pages: only the first page is used")
    metadata = ImageMetadata(icc_profile=header["icc_profile"], dpi=header["dpi"])
    return array, colour, "TIFF", metadata, header["orientation"]


def _normalise_mode(im: Image.Image, notes: list[str], gray: bool, name: str) -> Image.Image:
    mode = im.mode
    if mode == "P" or mode == "PA":
        alpha = mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if alpha else "RGB")
        notes.append(f"palette image expanded to {im.mode}")
    elif mode in ("L", "RGB") and "transparency" in im.info:  # a PNG's tRNS: one colour marked transparent
        im = im.convert("LA" if mode == "L" else "RGBA")
        notes.append(f"the file's transparent colour made into an alpha channel ({im.mode})")
    elif mode == "1":
        im = im.convert("L")
        notes.append("1-bit image read as 8-bit gray (0 and 255)")
    elif mode in ("La", "RGBa"):
        im = im.convert(mode[:-1] + "A")
    elif mode in ("YCbCr", "LAB", "HSV", "RGBX"):
        im = im.convert("RGB")
        notes.append(f"{mode} image converted to RGB")
    elif mode.startswith("I;16"):
        im = Image.fromarray(np.asarray(im).astype(np.uint16))
    elif mode == "I":
        values = np.asarray(im)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise CnnconvError(
                f"{name}: 32-bit integer samples outside 0..65535 are not supported; save the image as a "
                "float TIFF or a .npy array"
            )
        im = Image.fromarray(values.astype(np.uint16))
    if gray and im.mode in ("RGB", "RGBA", "CMYK"):
        im = im.convert("LA" if im.mode == "RGBA" else "L")
        notes.append("converted to gray (ITU-R 601 luminance)")
    return im


def _to_array(im: Image.Image, name: str) -> np.ndarray:
    if im.mode not in ("L", "LA", "RGB", "RGBA", "CMYK", "I;16", "F"):
        raise CnnconvError(f"{name}: Pillow mode {im.mode} is not supported; convert the image to RGB")
    array = np.asarray(im)
    if im.mode == "I;16":
        return array.astype(np.uint16)
    if im.mode == "F":
        return array.astype(np.float32)
    return np.ascontiguousarray(array)
