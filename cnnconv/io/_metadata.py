"""What a picture says about itself besides its samples: ICC profile, resolution, EXIF.

Read from the file by Pillow (which parses every format's chunks and tags, also for the
files whose samples another decoder reads), carried to every output format that can hold
it, and dropped by ``--strip`` as ``mogrify -strip`` does. The EXIF orientation is removed
once it has been applied, so that no viewer turns the upright output a second time.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

from PIL import Image

#: EXIF tags that are the orientation (applied on reading) or describe how a TIFF stores its
#: samples; they are never copied, because they would be wrong for the written file.
_ORIENTATION = 0x0112
#: TIFF IFD0 tags that describe the picture rather than the file's layout: the ones a TIFF
#: input hands on as EXIF (its other tags, strip offsets and the like, belong to that file).
_TIFF_DESCRIPTIVE = {
    0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x013C, 0x8298,  # description, make, model, software, date, artist, host, copyright
}
_SUB_IFDS = (0x8769, 0x8825)  # the Exif and GPS sub-IFDs
_DESCRIPTION = 0x010E


def _describes_layout(description) -> bool:
    """Whether an ImageDescription is a writer's record of the file's shape, not words about the picture.

    tifffile writes ``{"shape": [...]}``, ImageJ ``ImageJ=...``, OME an XML document: each
    states the stored array's shape, which a filtered or pooled output no longer has (and
    tifffile then warns on reading it).

    >>> _describes_layout('{"shape": [8192, 8192]}'), _describes_layout("ImageJ=1.11a\\nimages=1")
    (True, True)
    >>> _describes_layout("Harbour at dawn")
    False
    """
    text = description.decode("latin-1", "replace") if isinstance(description, bytes) else str(description)
    text = text.lstrip()
    return text.startswith(("{", "ImageJ=", "<?xml", "<OME"))


@dataclass(frozen=True)
class ImageMetadata:
    """ICC profile bytes, resolution in dots per inch (x, y) and EXIF bytes; each None when absent.

    Examples
    --------
    >>> ImageMetadata(dpi=(300.0, 300.0)).describe()
    {'icc_profile': None, 'dpi': [300.0, 300.0], 'exif_bytes': None}
    >>> bool(ImageMetadata())
    False
    """

    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    exif: bytes | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.icc_profile, self.dpi, self.exif))

    def describe(self) -> dict:
        """A JSON-ready summary: the profile's description, the resolution, the EXIF size."""
        return {"icc_profile": icc_description(self.icc_profile) if self.icc_profile else None,
                "dpi": list(self.dpi) if self.dpi else None,
                "exif_bytes": len(self.exif) if self.exif else None}


def icc_description(profile: bytes) -> str:
    """The profile's own name ("Adobe RGB (1998)", "sRGB IEC61966-2.1"), or "unnamed" if it has none."""
    try:
        from PIL import ImageCms

        text = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(profile))).strip()
    except (ImportError, OSError, ValueError, TypeError):  # Pillow without littlecms, or a damaged profile
        text = ""
    return text or "unnamed"


def metadata_of(im: Image.Image) -> ImageMetadata:
    """The metadata of an opened (not necessarily decoded) Pillow image, orientation removed."""
    icc = im.info.get("icc_profile") or None
    dpi = im.info.get("dpi")
    if dpi is not None:
        try:
            dpi = tuple(_whole_if_same_file_value(float(v), im.format) for v in dpi[:2])
        except (TypeError, ValueError):
            dpi = None
        if dpi is not None and (len(dpi) != 2 or min(dpi) <= 0):
            dpi = None
    return ImageMetadata(icc_profile=bytes(icc) if icc else None, dpi=dpi, exif=_exif_bytes(im))


def _whole_if_same_file_value(dpi: float, fmt: str | None) -> float:
    """PNG stores whole dots per metre, so 300 dpi reads back as 299.9994: the whole number of dpi
    that the file's value stands for, when there is one (else four decimals).

    >>> _whole_if_same_file_value(299.9994, "PNG"), _whole_if_same_file_value(72.009, "PNG")
    (300.0, 72.0)
    """
    if fmt == "PNG" and round(round(dpi) / 0.0254) == round(dpi / 0.0254):
        return float(round(dpi))
    return round(dpi, 4)


def _exif_bytes(im: Image.Image) -> bytes | None:
    try:
        exif = im.getexif()
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, struct.error):
        return None  # damaged EXIF: the picture itself is still fine
    if not exif:
        return None
    out = Image.Exif()
    tiff = im.format == "TIFF"
    for tag, value in exif.items():
        if tag == _ORIENTATION or tag in _SUB_IFDS or (tiff and tag not in _TIFF_DESCRIPTIVE):
            continue
        if tag == _DESCRIPTION and _describes_layout(value):
            continue
        out[tag] = value
    for tag in _SUB_IFDS:
        try:
            sub = dict(exif.get_ifd(tag))
        except (OSError, ValueError, KeyError, TypeError, struct.error):
            sub = {}
        if sub:
            out[tag] = sub
    if not len(out):
        return None
    try:
        return out.tobytes()
    except (ValueError, TypeError, struct.error):
        return None


def tiff_text_tags(meta: ImageMetadata | None) -> list[tuple] | None:
    """The EXIF of ``meta`` as tifffile ``extratags``, when it is only TIFF text tags (software, artist...).

    None when there is more (a camera's Exif or GPS block, numbers): Pillow then writes the
    TIFF, as it writes any EXIF. An empty list when there is no EXIF at all.

    >>> e = Image.Exif(); e[0x0131] = "tifffile.py"
    >>> tiff_text_tags(ImageMetadata(exif=e.tobytes()))
    [(305, 's', 0, 'tifffile.py', True)]
    >>> e[0x8769] = {0x9003: "2026:12:04 00:00:00"}
    >>> tiff_text_tags(ImageMetadata(exif=e.tobytes())) is None
    True
    """
    if not meta or not meta.exif:
        return []
    exif = Image.Exif()
    try:
        exif.load(meta.exif)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, struct.error):
        return None
    tags = []
    for tag, value in exif.items():
        if tag not in _TIFF_DESCRIPTIVE or not isinstance(value, str) or not value.isascii():
            return None
        tags.append((tag, "s", 0, value, True))
    return tags


def pillow_save_options(meta: ImageMetadata | None, fmt: str) -> dict:
    """The keyword arguments that make Pillow's writer for ``fmt`` store the metadata it can hold."""
    if not meta:
        return {}
    options = {}
    if meta.icc_profile and fmt in ("PNG", "JPEG", "TIFF", "WEBP"):
        options["icc_profile"] = meta.icc_profile
    if meta.dpi and fmt in ("PNG", "JPEG", "TIFF", "BMP"):
        options["dpi"] = meta.dpi
    if meta.exif and fmt in ("PNG", "JPEG", "TIFF", "WEBP"):
        options["exif"] = meta.exif
    return options


def dropped_note(meta: ImageMetadata | None, fmt: str) -> str | None:
    """A note naming the metadata ``fmt`` cannot hold, or None when it holds all of it."""
    if not meta:
        return None
    held = pillow_save_options(meta, fmt)
    lost = [name for name, key, value in (("the ICC profile", "icc_profile", meta.icc_profile),
                                           ("the resolution", "dpi", meta.dpi), ("EXIF", "exif", meta.exif))
            if value is not None and key not in held]
    if not lost:
        return None
    return f"{fmt} cannot hold {' and '.join(lost)}: not written (write .png, .jpg, .tif or .webp to keep it)"


def png_chunks(meta: ImageMetadata | None) -> bytes:
    """iCCP, pHYs and eXIf chunks for cnnconv's PNG writer (:mod:`cnnconv.io._png`) to put after the IHDR.

    Examples
    --------
    >>> png_chunks(ImageMetadata(dpi=(254.0, 254.0)))[4:8], len(png_chunks(None))
    (b'pHYs', 0)
    """
    from cnnconv.io._png import chunk

    if not meta:
        return b""
    parts = []
    if meta.icc_profile:
        parts.append(chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(meta.icc_profile)))
    if meta.dpi:
        x, y = (round(v / 0.0254) for v in meta.dpi)
        parts.append(chunk(b"pHYs", struct.pack(">IIB", x, y, 1)))
    if meta.exif:
        exif = meta.exif[6:] if meta.exif.startswith(b"Exif\0\0") else meta.exif
        parts.append(chunk(b"eXIf", exif))
    return b"".join(parts)
