"""Images as a model sees them: 8-bit gray or RGB at one size, decoded by :func:`cnnconv.io.images.read_image`.

``read_image`` does what every command needs (the pixel limit against decompression bombs,
the first frame of an animation, the EXIF orientation, palette/1-bit/CMYK modes, 16-bit and float samples in any layout,
Pillow's messages kept off stderr); this module only brings its result to the one sample
type and channel count a network takes, and to the network's size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from cnnconv.errors import CnnconvError
from cnnconv.io.images import DEFAULT_MAX_PIXELS, ImageInfo, read_image

Progress = Callable[[int, int], None]


def decode_image(
    path: str | Path | bytes, channels: str | None, size: tuple[int, int] | None, *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decode one image file (or its bytes) to uint8 H×W (gray) or H×W×3 (rgb).

    ``channels=None`` keeps what the file holds: gray for a gray file (or a colour file
    whose three channels are equal everywhere), rgb otherwise. Transparency is dropped;
    16-bit samples (gray or colour) are scaled from 0..65535 and float ones from
    0..max(1, their maximum), not clipped. ``size=(H, W)`` resizes with Pillow's bilinear filter. A file that does not
    decode raises ``CnnconvError`` naming it (see ``read_image``).

    Shape
    -----
    (H, W) for gray, (H, W, 3) for rgb; (size[0], size[1]) when ``size`` is given.

    Examples
    --------
    >>> import io
    >>> buf = io.BytesIO(); Image.new("RGBA", (3, 2), (9, 9, 9, 0)).save(buf, "PNG")
    >>> x = decode_image(buf.getvalue(), None, None); x.shape, int(x[0, 0])
    ((2, 3), 9)
    >>> decode_image(buf.getvalue(), "rgb", (4, 6)).shape
    (4, 6, 3)
    """
    result = np.asarray(_resized(_decode(path, channels, max_pixels), size), dtype=np.uint8)
    if channels is None and result.ndim == 3 and (result == result[..., :1]).all():
        result = np.ascontiguousarray(result[..., 0])  # colour file holding a gray picture
    return result


def _decode(path, channels: str | None, max_pixels: int | None) -> Image.Image:
    """The file as an L or RGB image (L/RGB as ``channels`` asks, or as the file is)."""
    image = _as_8bit(*read_image(path, max_pixels=max_pixels))
    if channels == "gray" and image.mode != "L":
        return image.convert("L")
    if channels == "rgb" and image.mode != "RGB":
        return image.convert("RGB")
    return image


def _resized(image: Image.Image, size: tuple[int, int] | None) -> Image.Image:
    if size is None or (image.height, image.width) == tuple(size):
        return image
    return image.resize((size[1], size[0]), Image.Resampling.BILINEAR)


def _as_8bit(array: np.ndarray, info: ImageInfo) -> Image.Image:
    """An L or RGB Pillow image of what ``read_image`` returned (16-bit and float samples scaled to 8 bits)."""
    if info.has_alpha:
        array = array[..., :-1]
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.dtype != np.uint8:  # 16-bit or float: scale the file's range (Pillow would clip to 255)
        values = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        top = 65535.0 if array.dtype == np.uint16 else max(float(values.max(initial=0.0)), 1.0)
        array = np.clip(np.rint(values / top * 255.0), 0, 255).astype(np.uint8)
    if info.colour == "cmyk":
        cmyk = Image.frombytes("CMYK", (array.shape[1], array.shape[0]), np.ascontiguousarray(array).tobytes())
        return cmyk.convert("RGB")
    return Image.fromarray(np.ascontiguousarray(array), "L" if array.ndim == 2 else "RGB")


def to_channels(array: np.ndarray, channels: str) -> np.ndarray:
    """uint8 H×W or H×W×3 to H×W×C with C = 1 (gray) or 3 (rgb), as Pillow converts.

    >>> to_channels(np.zeros((2, 3), np.uint8), "rgb").shape
    (2, 3, 3)
    """
    if array.ndim == 2:
        return array[..., None] if channels == "gray" else np.repeat(array[..., None], 3, axis=2)
    if channels == "rgb":
        return array
    return np.asarray(Image.fromarray(array, "RGB").convert("L"))[..., None]


def decode_many(
    paths: list[Path],
    *,
    channels: str | None = None,
    size: tuple[int, int] | None = None,
    progress: Progress | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> tuple[np.ndarray, np.ndarray, str, list[tuple[str, str]]]:
    """Decode files into one N×H×W×C float32 batch in [0, 1].

    Returns ``(images, kept, channels, skipped)``: ``kept`` indexes the paths that
    decoded, ``channels`` is the channel count used (from the data when None: rgb if
    any image is in colour), ``skipped`` lists ``(path, reason)``. Without ``size`` all
    images must have the size of the first one; a different one is an error naming it.
    """
    arrays, kept, skipped = [], [], []
    first: tuple[Path, tuple[int, int]] | None = None
    for i, path in enumerate(paths):
        try:
            array = decode_image(path, channels, size, max_pixels=max_pixels)
        except CnnconvError as exc:
            skipped.append((str(path), _reason(str(exc), str(path))))
            array = None
        if array is not None:
            shape = array.shape[:2]
            if first is None:
                first = (path, shape)
            elif shape != first[1]:
                raise CnnconvError(
                    f"{str(path)!r} is {shape[0]}x{shape[1]} but {str(first[0])!r} is "
                    f"{first[1][0]}x{first[1][1]}; give --size HxW to resize every image to one size"
                )
            arrays.append(array)
            kept.append(i)
        if progress is not None:
            progress(i + 1, len(paths))
    if channels is None:
        channels = "rgb" if any(a.ndim == 3 for a in arrays) else "gray"
    depth = 1 if channels == "gray" else 3
    height, width = first[1] if first is not None else (size or (0, 0))
    images = np.empty((len(arrays), height, width, depth), dtype=np.float32)
    for j, array in enumerate(arrays):
        images[j] = to_channels(array, channels)
    images *= np.float32(1.0 / 255.0)
    return images, np.array(kept, dtype=np.int64), channels, skipped


def _reason(message: str, name: str) -> str:
    """The reason alone (the file is named beside it), on one line of at most 300 characters (Pillow can say a lot)."""
    text = message.splitlines()[0] if message else "unreadable"
    text = text[len(name) + 2:] if text.startswith(f"{name}: ") else text
    return text if len(text) <= 300 else text[:297] + "..."


def load_for_model(
    path: str | Path, channels: str, size: tuple[int, int], *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, tuple[int, int]]:
    """One image prepared as a model of ``channels`` and ``size`` expects it, and its own size.

    Returns ``(image, (height, width))``: ``image`` is H×W×C float32 in [0, 1] (not yet
    standardised), converted and resized exactly as the training images were.
    Raises ``CnnconvError`` naming the file when it cannot be decoded.
    """
    image = _decode(path, channels, max_pixels)
    array = np.asarray(_resized(image, size), dtype=np.uint8)
    return to_channels(array, channels).astype(np.float32) * np.float32(1.0 / 255.0), (image.height, image.width)
