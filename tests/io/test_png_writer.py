"""cnnconv.io._png: every layout and depth PNG holds, read back by Pillow and libpng as written."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnconv.io import _png
from cnnconv.io._metadata import ImageMetadata, png_chunks
from cnnconv.io.images import read_image


def chunks_of(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, each CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        out.append((kind, body))
        at += 12 + length
    return out


def unfilter_sub(rows: np.ndarray, pixel: int) -> np.ndarray:
    """The slow obvious inverse of the Sub filter: a running sum, byte by byte, modulo 256."""
    out = rows[:, 1:].astype(np.int64)
    for x in range(pixel, out.shape[1]):
        out[:, x] = (out[:, x] + out[:, x - pixel]) % 256
    return out.astype(np.uint8)


layouts = st.sampled_from([(), (2,), (3,), (4,)])
depths = st.sampled_from([np.uint8, np.uint16])


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), channels=layouts, dtype=depths, seed=st.integers(0, 2**16))
def test_every_layout_and_depth_reads_back_as_written(h, w, channels, dtype, seed):
    top = np.iinfo(dtype).max
    x = np.random.default_rng(seed).integers(0, top + 1, (h, w) + channels, dtype=dtype)
    data = _png.encode_png(x)
    back, _ = read_image(data)  # Pillow, or libpng through imagecodecs for the 16-bit colour layouts
    np.testing.assert_array_equal(back, x)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), channels=layouts, dtype=depths, seed=st.integers(0, 2**16))
def test_the_sub_filter_against_its_obvious_inverse(h, w, channels, dtype, seed):
    x = np.random.default_rng(seed).integers(0, np.iinfo(dtype).max + 1, (h, w) + channels, dtype=dtype)
    rows = _png.sub_filtered(x)
    pixel = (channels[0] if channels else 1) * np.dtype(dtype).itemsize
    big_endian = np.ascontiguousarray(x, dtype=">u2" if dtype == np.uint16 else np.uint8)
    np.testing.assert_array_equal(unfilter_sub(rows, pixel), big_endian.view(np.uint8).reshape(h, -1))
    assert (rows[:, 0] == 1).all()


@pytest.mark.parametrize("deflate", ["installed", "zlib"])
def test_a_picture_of_many_pieces_is_one_valid_stream(monkeypatch, deflate):
    """Pieces deflated apart and joined: one zlib stream whose Adler-32 is the whole data's (zlib-ng's or zlib's)."""
    if deflate == "zlib":
        monkeypatch.setattr(_png, "deflate_library", lambda: zlib)
    monkeypatch.setattr(_png, "PIECE_BYTES", 1000)
    x = np.random.default_rng(1).integers(0, 256, (300, 70, 3), dtype=np.uint8)
    data = _png.encode_png(x, threads=3)
    idats = [body for kind, body in chunks_of(data) if kind == b"IDAT"]
    assert len(idats) > 10
    raw = zlib.decompress(b"".join(idats))  # zlib checks the Adler-32 at the end
    assert raw == _png.sub_filtered(x).tobytes()  # and its checksum, joined from the pieces', checked
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), x)


def test_the_bytes_do_not_depend_on_the_thread_count(monkeypatch):
    monkeypatch.setattr(_png, "PIECE_BYTES", 5000)
    x = np.random.default_rng(2).integers(0, 65536, (90, 60, 4), dtype=np.uint16)
    assert _png.encode_png(x, threads=1) == _png.encode_png(x, threads=2) == _png.encode_png(x, threads=4)


def test_the_header_and_the_metadata_chunks():
    meta = ImageMetadata(icc_profile=b"\0" * 128, dpi=(300.0, 300.0), exif=b"Exif\0\0II*\0\x08\0\0\0\0\0")
    data = _png.encode_png(np.zeros((5, 7, 2), np.uint16), png_chunks(meta))
    kinds = [kind for kind, _ in chunks_of(data)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and kinds[1:4] == [b"iCCP", b"pHYs", b"eXIf"]
    ihdr = dict(chunks_of(data))[b"IHDR"]
    assert struct.unpack(">IIBBBBB", ihdr) == (7, 5, 16, 4, 0, 0, 0)  # width, height, 16 bits, gray+alpha
    im = Image.open(io.BytesIO(data))
    assert im.info["icc_profile"] == b"\0" * 128 and round(im.info["dpi"][0]) == 300


def test_libpng_reads_it_too():
    imagecodecs = pytest.importorskip("imagecodecs")
    x = np.random.default_rng(4).integers(0, 256, (33, 17, 3), dtype=np.uint8)
    np.testing.assert_array_equal(imagecodecs.png_decode(_png.encode_png(x)), x)


@pytest.mark.parametrize("bad", [np.zeros((2, 2), np.float32), np.zeros((2, 2, 5), np.uint8),
                                 np.zeros((2, 2, 2, 2), np.uint8)])
def test_what_png_cannot_hold_is_refused(bad):
    with pytest.raises(ValueError, match="PNG holds 8- or 16-bit samples in 1 to 4 channels"):
        _png.encode_png(bad)


@settings(max_examples=100, deadline=None)
@given(a=st.binary(max_size=300), b=st.binary(max_size=70000))
def test_adler32_combine_is_zlibs_of_the_joined_bytes(a, b):
    assert _png.adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


def test_zlib_ng_deflates_when_the_large_extra_is_installed():
    zlib_ng = pytest.importorskip("zlib_ng")
    assert _png.deflate_library() is zlib_ng.zlib_ng
