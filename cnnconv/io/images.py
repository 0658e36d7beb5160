"""Read images with Pillow as NumPy arrays, saying what was done to them.

Arrays are channels-last and keep the file's sample type: ``uint8`` (8-bit gray,
gray+alpha, RGB, RGBA, CMYK), ``uint16`` (16-bit gray) or ``float32`` (float TIFF).
Everything Pillow does behind the user's back (palette expansion, EXIF rotation, first
frame of an animation, a 16-bit colour PNG read as 8-bit) is reported in ``ImageInfo.notes``.
Writing lives in :mod:`cnnconv.io._image_write`; its public names are re-exported here.
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

from cnnconv.errors import CnnconvError
from cnnconv.io._image_write import IMAGE_FORMATS, encode_image, format_for, suffix_for
from cnnconv.io._read import read_input_bytes

__all__ = [
    "DEFAULT_MAX_PIXELS", "IMAGE_FORMATS", "ImageInfo", "encode_image", "format_for", "read_image",
    "read_image_bytes", "suffix_for",
]

#: Pillow's own default limit against decompression bombs (about 0.25 GB of RGB).
DEFAULT_MAX_PIXELS = 89_478_485


@dataclass(frozen=True)
class ImageInfo:
    """What was read: plain data, safe to print as JSON (``dataclasses.asdict``).

    ``colour`` is ``"gray"``, ``"rgb"`` or ``"cmyk"``; ``mode`` is Pillow's mode as stored
    in the file; ``bit_depth`` is 8, 16 or 32 (float).
    """

    format: str
    mode: str
    bit_depth: int
    has_alpha: bool
    colour: str
    width: int
    height: int
    notes: tuple[str, ...] = field(default=())


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
        data, name = read_image_bytes(source), name or str(source)
    notes: list[str] = []
    try:
        with pillow_messages_to(notes):
            im = _open(data, name, max_pixels)
            frames = getattr(im, "n_frames", 1)
            if frames > 1:
                im.seek(0)
                notes.append(f"animated image with {frames} frames: only the first frame is used")
            orientation = im.getexif().get(0x0112, 1) if hasattr(im, "getexif") else 1
            file_mode, file_format = im.mode, im.format or "?"
            im.load()
            if orientation not in (1, None):
                im = ImageOps.exif_transpose(im)
                notes.append(f"EXIF orientation {orientation} applied (the image is turned upright)")
            if file_format == "PNG" and len(data) > 25 and data[24] == 16 and data[25] in (2, 6):
                notes.append("16-bit colour PNG: Pillow reads 8 bits per sample, so the output is 8-bit")
            im = _normalise_mode(im, notes, gray, name)
            array = _to_array(im, name)
    except CnnconvError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, KeyError, TypeError) as exc:
        # Pillow signals corrupt and truncated files with any of these.
        raise CnnconvError(f"{name}: corrupt or truncated image ({exc}); re-export the file") from None
    except Image.DecompressionBombError as exc:  # pragma: no cover - our own check comes first
        raise CnnconvError(f"{name}: {exc}") from None
    colour = "gray" if im.mode in ("L", "LA", "I;16", "F") else "cmyk" if im.mode == "CMYK" else "rgb"
    info = ImageInfo(
        format=file_format, mode=file_mode, bit_depth={"uint8": 8, "uint16": 16}.get(array.dtype.name, 32),
        has_alpha=im.mode in ("LA", "RGBA"), colour=colour, width=im.width, height=im.height,
        notes=tuple(notes),
    )
    return array, info


@contextmanager
def pillow_messages_to(notes: list[str]):
    """Pillow's warnings and log records on a damaged file become notes, not stray stderr lines."""

    class ToNotes(logging.Handler):
        def emit(self, record):
            notes.append(f"Pillow: {record.getMessage()}")

    logger, handler = logging.getLogger("PIL"), ToNotes(logging.WARNING)
    logger.addHandler(handler)  # with a handler in place, logging's last-resort stderr output stays silent
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        logger.removeHandler(handler)
        notes.extend(dict.fromkeys(f"Pillow: {w.message}" for w in caught))


def _open(data: bytes, name: str, max_pixels: int | None) -> Image.Image:
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own limit below, with a message that says how to lift it
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise CnnconvError(
            f"{name}: not an image Pillow can read (PNG, JPEG, TIFF, BMP, WebP, GIF); "
            "is it corrupt, or another kind of file?"
        ) from None
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    pixels = im.width * im.height
    if max_pixels is not None and pixels > max_pixels:
        raise CnnconvError(
            f"{name}: {im.width}x{im.height} = {pixels} pixels is over the limit of {max_pixels} "
            f"that guards against decompression bombs; if you trust the file, allow it with "
            f"--max-pixels {pixels}"
        )
    return im


def _normalise_mode(im: Image.Image, notes: list[str], gray: bool, name: str) -> Image.Image:
    mode = im.mode
    if mode == "P" or mode == "PA":
        alpha = mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if alpha else "RGB")
        notes.append(f"palette image expanded to {im.mode}")
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
