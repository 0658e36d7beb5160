"""ICC profile, resolution and EXIF travel from the file read to every output that holds them;
JPEG/WebP quality; the Netpbm outputs; the extra that 16-bit colour needs."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from cnnconv.errors import CnnconvError, MissingExtraError
from cnnconv.io.images import ImageMetadata, encode_image, read_image

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from icc_profile import icc_profile  # noqa: E402

RNG = np.random.default_rng(3)
ADOBE = icc_profile()


def _photo_exif(orientation: int = 1) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0x0112] = orientation
    exif[0x8769] = {0x9003: "2024:05:06 07:08:09"}  # Exif IFD: DateTimeOriginal
    return exif.tobytes()


def _jpeg_photo(orientation: int = 1, size=(6, 4)) -> bytes:
    buffer = io.BytesIO()
    im = Image.fromarray(RNG.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    im.save(buffer, "JPEG", icc_profile=ADOBE, dpi=(300, 300), exif=_photo_exif(orientation), quality=95)
    return buffer.getvalue()


def test_a_photo_keeps_its_icc_profile_resolution_and_exif_when_read():
    x, info = read_image(_jpeg_photo())
    meta = info.metadata
    assert meta.icc_profile == ADOBE and meta.dpi == (300.0, 300.0)
    assert meta.describe() == {"icc_profile": "Adobe RGB (1998)", "dpi": [300.0, 300.0],
                               "exif_bytes": len(meta.exif)}


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "WEBP"])
def test_metadata_is_written_to_every_format_that_holds_it(fmt):
    _, info = read_image(_jpeg_photo())
    data, notes = encode_image(RNG.integers(0, 256, (4, 6, 3), dtype=np.uint8), fmt, metadata=info.metadata)
    back = read_image(data)[1].metadata
    assert back.icc_profile == ADOBE, "an Adobe RGB photo stays tagged Adobe RGB"
    exif = Image.Exif()
    exif.load(back.exif)
    assert exif[0x010F] == "Canon" and exif.get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09"
    assert back.dpi == ((300.0, 300.0) if fmt != "WEBP" else None)  # WebP has no resolution field
    assert notes == (() if fmt != "WEBP" else ("WEBP cannot hold the resolution: not written "
                                               "(write .png, .jpg, .tif or .webp to keep it)",))


def test_orientation_is_applied_once_and_removed_from_the_exif_written():
    x, info = read_image(_jpeg_photo(orientation=6, size=(6, 4)))
    assert x.shape[:2] == (6, 4) and any("orientation 6 applied" in n for n in info.notes)
    data, _ = encode_image(x, "JPEG", metadata=info.metadata)
    again, info2 = read_image(data)
    assert again.shape[:2] == (6, 4), "the upright output is not turned a second time"
    exif = Image.open(io.BytesIO(data)).getexif()
    assert 0x0112 not in exif and exif[0x010F] == "Canon"


def test_sixteen_bit_png_and_tiff_carry_icc_and_resolution():
    meta = ImageMetadata(icc_profile=ADOBE, dpi=(72.0, 144.0), exif=_photo_exif())
    samples = RNG.integers(0, 65536, (3, 5, 3)).astype(np.uint16)
    for fmt in ("PNG", "TIFF"):
        data, notes = encode_image(samples, fmt, metadata=meta)
        back, info = read_image(data)
        np.testing.assert_array_equal(back, samples)
        assert info.metadata.icc_profile == ADOBE and info.metadata.dpi == (72.0, 144.0)
        assert (info.metadata.exif is not None) == (fmt == "PNG")
        assert ("EXIF is not written" in "".join(notes)) == (fmt == "TIFF")


def test_formats_without_metadata_say_what_they_drop():
    meta = ImageMetadata(icc_profile=ADOBE, dpi=(300.0, 300.0))
    _, notes = encode_image(np.zeros((2, 2, 3), np.uint8), "GIF", metadata=meta)
    assert any("GIF cannot hold the ICC profile and the resolution" in n for n in notes)
    _, notes = encode_image(np.zeros((2, 2, 3), np.uint8), "BMP", metadata=meta)
    assert any("BMP cannot hold the ICC profile:" in n for n in notes)


def test_jpeg_quality_and_subsampling_follow_imagemagick():
    photo = RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    high, _ = encode_image(photo, "JPEG")
    low, _ = encode_image(photo, "JPEG", quality=50)
    assert len(low) < len(high)
    assert JpegImagePlugin.get_sampling(Image.open(io.BytesIO(high))) == 0  # 4:4:4 at 95 (>= 90)
    assert JpegImagePlugin.get_sampling(Image.open(io.BytesIO(low))) == 2  # 4:2:0 below 90


def test_webp_is_lossless_without_quality_and_lossy_with_it():
    photo = RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    exact, _ = encode_image(photo, "WEBP")
    np.testing.assert_array_equal(read_image(exact)[0], photo)
    lossy, _ = encode_image(photo, "WEBP", quality=40)
    assert not np.array_equal(read_image(lossy)[0], photo)
    _, notes = encode_image(photo, "PNG", quality=40)
    assert "--quality is for JPEG and WebP" in notes[0]


def test_netpbm_outputs():
    gray = np.array([[0, 127, 128, 255]], np.uint8)
    data, notes = encode_image(gray, "PBM")
    assert data.startswith(b"P4") and "thresholded at 128" in notes[0]
    assert read_image(data)[0].tolist() == [[0, 0, 255, 255]]
    assert encode_image(gray, "PGM")[0].startswith(b"P5\n4 1\n255\n")
    data, _ = encode_image(gray, "PPM")  # gray widened to RGB: a .ppm is P6
    back = read_image(data)[0]
    assert data.startswith(b"P6") and back.shape == (1, 4, 3) and (back == gray[..., None]).all()
    deep = np.array([[1, 65535]], np.uint16)
    assert encode_image(deep, "PGM")[0] == b"P5\n2 1\n65535\n\x00\x01\xff\xff"
    with pytest.raises(CnnconvError, match="PGM cannot hold RGB samples; write"):
        encode_image(np.zeros((1, 2, 3), np.uint8), "PGM")


@pytest.mark.parametrize("module", ["imagecodecs", "tifffile"])
def test_a_missing_codec_names_the_extra_to_install(monkeypatch, module):
    samples = np.zeros((2, 2, 3), np.uint16)
    fmt = "PNG" if module == "imagecodecs" else "TIFF"
    png = encode_image(samples, "PNG")[0]  # cnnconv's own writer: 16-bit colour PNG needs no extra
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'cnnconv\[large\]'") as caught:
        read_image(png) if module == "imagecodecs" else encode_image(samples, fmt)
    assert caught.value.extra == "large"
    assert encode_image(samples, "PNG")[0] == png
    # 8-bit and 16-bit gray need no extra
    assert read_image(encode_image(np.zeros((2, 2), np.uint16), fmt)[0])[0].dtype == np.uint16
