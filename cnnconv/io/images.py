"""Read and write images with Pillow as NumPy arrays, saying what was done to them.

Arrays are channels-last and keep the file's sample type: ``uint8`` (8-bit gray,
gray+alpha, RGB, RGBA, CMYK), ``uint16`` (16-bit gray) or ``float32`` (float TIFF).
Everything Pillow does behind the user's back (palette expansion, EXIF rotation, first
frame of an animation, a 16-bit colour PNG read as 8-bit) is reported in ``ImageInfo.notes``.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnnconv.errors import CnnconvError

#: File suffix -> Pillow format name, for the formats cnnconv reads and writes.
IMAGE_FORMATS = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF",
    ".bmp": "BMP", ".webp": "WEBP", ".gif": "GIF",
}
#: Pillow's own default limit against decompression bombs (about 0.25 GB of RGB).
DEFAULT_MAX_PIXELS = 89_478_485

_FORMAT_SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "BMP": ".bmp", "WEBP": ".webp", "GIF": ".gif"}
_CAN_HOLD = {  # format -> Pillow modes it stores without loss of channels or depth
    "PNG": {"L", "LA", "RGB", "RGBA", "I;16"},
    "TIFF": {"L", "LA", "RGB", "RGBA", "CMYK", "I;16", "F"},
    "JPEG": {"L", "RGB", "CMYK"},
    "BMP": {"L", "RGB"},
    "WEBP": {"RGB", "RGBA"},
    "GIF": {"L", "RGB", "RGBA"},
}
# PNG at zlib level 3, not Pillow's 6: on 4096x4096 filter outputs it encodes 2.6-3x faster
# (edges 1.97 -> 0.64 s, a blur 1.43 -> 0.55 s) for files 1-14% larger; the pixels are the same.
_SAVE_OPTIONS = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True}, "PNG": {"compress_level": 3}}


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
    """The bytes of an input file, with one-line errors for the usual mistakes."""
    path = Path(source)
    if path.is_dir():
        raise CnnconvError(f"{source}: is a directory, not an image file")
    if path.is_char_device() or path.is_block_device():  # /dev/zero would be read until memory runs out
        raise CnnconvError(f"{source}: is a device, not an image file; pipe it with '-' if you mean it")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CnnconvError(f"{source}: no such file; check the path") from None
    except OSError as exc:
        raise CnnconvError(f"{source}: cannot read: {exc.strerror or exc}") from None
    if not data:
        raise CnnconvError(f"{source}: the file is empty (0 bytes)")
    return data


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


def encode_image(array: np.ndarray, fmt: str, *, colour: str = "rgb") -> tuple[bytes, tuple[str, ...]]:
    """Encode an array as an image file in ``fmt``; return the bytes and notes on conversions.

    The sample type is kept: ``uint8`` any channels, ``uint16`` and ``float32`` gray
    only (Pillow cannot write deeper colour). A format that cannot hold the channels
    or the depth is an error that names the formats that can; nothing is dropped in silence.

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
    """
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    mode = _mode_of(array, colour)
    notes: list[str] = []
    if mode not in _CAN_HOLD.get(fmt, ()):
        if mode == "L" and fmt == "WEBP":
            mode_out = "RGB"
        elif mode == "CMYK" and fmt in ("PNG", "WEBP", "BMP", "GIF"):
            mode_out = "RGB"
            notes.append(f"{fmt} cannot hold CMYK: converted to RGB")
        else:
            can = sorted(suffix_for(f) for f, modes in _CAN_HOLD.items() if mode in modes and f != "GIF")
            raise CnnconvError(
                f"{fmt} cannot hold {_describe(mode)} samples; write {' or '.join(can) or '.npy'} instead"
            )
    else:
        mode_out = mode
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
    buffer = io.BytesIO()
    im.save(buffer, fmt, **_SAVE_OPTIONS.get(fmt, {}))
    return buffer.getvalue(), tuple(notes)


def _mode_of(array: np.ndarray, colour: str) -> str:
    channels = 1 if array.ndim == 2 else array.shape[2]
    if array.ndim not in (2, 3) or channels > 4:
        raise CnnconvError(f"cannot store an array of shape {array.shape} as an image; write .npy instead")
    if array.dtype == np.uint8:
        if channels == 4 and colour == "cmyk":
            return "CMYK"
        return {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels]
    kind = {np.dtype(np.uint16): "I;16", np.dtype(np.float32): "F"}.get(array.dtype)
    if kind is None:
        raise CnnconvError(f"cannot store {array.dtype} samples as an image; write .npy instead")
    if channels != 1:
        depth = "16-bit" if kind == "I;16" else "float"
        raise CnnconvError(
            f"Pillow cannot write {depth} colour images; use --gray, or write .npy to keep every channel"
        )
    return kind


def _describe(mode: str) -> str:
    return {"I;16": "16-bit", "F": "float", "LA": "gray+alpha", "L": "gray"}.get(mode, mode)
