"""cnnconv.io.images: every mode and format round-trips; every bad file is one clear CnnconvError."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnconv.errors import CnnconvError
from cnnconv.io.images import encode_image, format_for, read_image

RNG = np.random.default_rng(0)


def _bytes(im: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return buffer.getvalue()


def _random(shape, dtype=np.uint8, top=255):
    return RNG.integers(0, top + 1, size=shape).astype(dtype)


LOSSLESS = [  # (array, colour, formats that hold it exactly)
    (_random((5, 7)), "gray", ["PNG", "TIFF", "BMP"]),
    (_random((5, 7, 2)), "gray", ["PNG", "TIFF"]),
    (_random((5, 7, 3)), "rgb", ["PNG", "TIFF", "BMP", "WEBP"]),
    (_random((5, 7, 4)), "rgb", ["PNG", "TIFF", "WEBP"]),
    (_random((5, 7, 4)), "cmyk", ["TIFF"]),
    (_random((5, 7), np.uint16, 65535), "gray", ["PNG", "TIFF"]),
    (RNG.normal(size=(5, 7)).astype(np.float32), "gray", ["TIFF"]),
    # deeper than Pillow holds: 16-bit gray+alpha/RGB/RGBA, float colour (tifffile, imagecodecs, PNM by hand)
    (_random((5, 7), np.uint16, 65535), "gray", ["PGM"]),
    (_random((5, 7, 2), np.uint16, 65535), "gray", ["PNG", "TIFF"]),
    (_random((5, 7, 3), np.uint16, 65535), "rgb", ["PNG", "TIFF", "PPM"]),
    (_random((5, 7, 4), np.uint16, 65535), "rgb", ["PNG", "TIFF"]),
    (_random((5, 7, 4), np.uint16, 65535), "cmyk", ["TIFF"]),
    (RNG.normal(size=(5, 7, 3)).astype(np.float32), "rgb", ["TIFF"]),
    (_random((5, 7)), "gray", ["PGM"]),
    (_random((5, 7, 3)), "rgb", ["PPM"]),
]


@pytest.mark.parametrize(
    "array, colour, fmt",
    [(a, c, f) for a, c, formats in LOSSLESS for f in formats],
    ids=lambda v: v if isinstance(v, str) else f"{v.dtype}{v.shape}",
)
def test_lossless_round_trip_keeps_every_sample_and_the_sample_type(array, colour, fmt):
    data, notes = encode_image(array, fmt, colour=colour)
    back, info = read_image(data)
    assert back.dtype == array.dtype and info.colour == colour
    np.testing.assert_array_equal(back, array)
    assert info.bit_depth == {np.uint8: 8, np.uint16: 16, np.float32: 32}[array.dtype.type]
    assert info.has_alpha == (array.ndim == 3 and array.shape[2] in (2, 4) and colour != "cmyk")


def test_sixteen_bit_png_stays_sixteen_bit_beyond_the_8_bit_range():
    array = np.array([[0, 256, 65535], [1000, 40000, 7]], np.uint16)
    back, info = read_image(encode_image(array, "PNG")[0])
    assert back.dtype == np.uint16 and info.mode == "I;16"
    np.testing.assert_array_equal(back, array)


def test_jpeg_round_trip_is_close_and_keeps_the_mode():
    array = np.full((16, 16, 3), (200, 40, 90), np.uint8)
    back, info = read_image(encode_image(array, "JPEG")[0])
    assert info.format == "JPEG" and back.shape == array.shape
    assert np.abs(back.astype(int) - array).max() <= 3


def test_palette_image_is_expanded_with_a_note():
    im = Image.new("P", (4, 3))
    im.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    im.putpixel((1, 1), 1)
    x, info = read_image(_bytes(im, "PNG"))
    assert x.shape == (3, 4, 3) and info.mode == "P" and "palette" in info.notes[0]
    assert x[1, 1].tolist() == [10, 20, 30] and x[0, 0].tolist() == [0, 0, 0]


def test_palette_with_transparency_becomes_rgba():
    im = Image.new("P", (2, 2))
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    im.info["transparency"] = 0
    x, info = read_image(_bytes(im, "PNG", transparency=0))
    assert x.shape == (2, 2, 4) and info.has_alpha and x[0, 0, 3] == 0


def test_one_bit_image_reads_as_0_and_255():
    im = Image.new("1", (3, 1))
    im.putpixel((1, 0), 1)
    x, info = read_image(_bytes(im, "PNG"))
    assert x.tolist() == [[0, 255, 0]] and info.notes


def test_gray_option_converts_colour_and_keeps_alpha():
    rgba = np.dstack([_random((4, 4, 3)), np.full((4, 4), 9, np.uint8)])
    x, info = read_image(encode_image(rgba, "PNG")[0], gray=True)
    assert x.shape == (4, 4, 2) and x[..., 1].tolist() == [[9] * 4] * 4 and info.colour == "gray"


def test_exif_orientation_is_honoured():
    im = Image.fromarray(np.zeros((2, 6, 3), np.uint8))  # wide
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: turn 90 degrees clockwise to view
    x, info = read_image(_bytes(im, "JPEG", exif=exif))
    assert x.shape[:2] == (6, 2)
    assert any("EXIF orientation 6" in n for n in info.notes)


def test_animated_gif_gives_the_first_frame_and_says_so():
    frames = [Image.new("L", (3, 3), v) for v in (10, 200)]
    data = _bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])
    x, info = read_image(data)
    assert x.shape[:2] == (3, 3) and "2 frames" in " ".join(info.notes)
    assert np.all(x == x.flat[0])


def test_sixteen_bit_colour_png_built_by_hand_keeps_every_sample():
    # a PNG written from the specification (no encoder of ours): 2x2 RGB, 16 bits, filter 0
    def chunk(tag, payload):
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload))

    samples = np.array([[[0, 256, 65535], [1, 40000, 257]], [[65534, 2, 30000], [7, 8, 9]]], np.uint16)
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in samples)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 16, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    x, info = read_image(png)
    assert x.dtype == np.uint16 and info.mode == "RGB;16" and info.bit_depth == 16 and not info.notes
    np.testing.assert_array_equal(x, samples)


def test_sixteen_bit_ppm_built_by_hand_and_a_12_bit_pgm_scaled_to_16():
    samples = np.array([[[0, 256, 65535], [1, 40000, 257]]], np.uint16)
    x, info = read_image(b"P6\n# by hand\n2 1\n65535\n" + samples.astype(">u2").tobytes())
    assert (info.format, info.mode) == ("PPM", "RGB;16")
    np.testing.assert_array_equal(x, samples)
    x, info = read_image(b"P5 2 1 4095 " + np.array([0, 4095], ">u2").tobytes())
    assert info.format == "PGM" and x.tolist() == [[0, 65535]] and "0..4095" in info.notes[0]
    with pytest.raises(CnnconvError, match="truncated"):
        read_image(b"P6\n2 1\n65535\n" + bytes(5))


def test_exif_orientation_of_deep_samples_turns_them_as_pillow_turns_8_bit():
    from PIL import ImageOps

    from cnnconv.io._deep import orient

    array = _random((3, 5))
    for orientation in range(1, 9):
        im = Image.fromarray(array)
        im.getexif()[0x0112] = orientation
        np.testing.assert_array_equal(orient(array, orientation), np.asarray(ImageOps.exif_transpose(im)))


def test_decompression_bomb_limit_and_its_override():
    data = _bytes(Image.new("L", (100, 60)), "PNG")
    with pytest.raises(CnnconvError, match=r"60x100 \(HxW\) = 6000 pixels .* --max-pixels 6000"):
        read_image(data, max_pixels=5000)
    assert read_image(data, max_pixels=6000)[0].shape == (60, 100)
    assert read_image(data, max_pixels=None)[0].shape == (60, 100)


def test_pillows_own_bomb_error_does_not_preempt_a_raised_limit(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # Pillow refuses over 2x this on open
    data = _bytes(Image.new("L", (10, 10)), "PNG")
    assert read_image(data, max_pixels=None)[0].shape == (10, 10)
    assert Image.MAX_IMAGE_PIXELS == 10  # restored


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"hello, I am text\n", "not an image"),
        (None, "corrupt or truncated"),  # a PNG cut in half
    ],
    ids=["zero-bytes", "text-named-png", "truncated"],
)
def test_bad_files_give_one_line_naming_the_file(tmp_path, content, message):
    if content is None:
        full = _bytes(Image.fromarray(_random((64, 64, 3))), "PNG")
        content = full[: len(full) // 2]
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(CnnconvError, match=message) as caught:
        read_image(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CnnconvError, match="no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(CnnconvError, match="is a directory"):
        read_image(tmp_path)


def test_path_with_spaces_and_non_ascii(tmp_path):
    path = tmp_path / "my pictures – été.png"
    path.write_bytes(_bytes(Image.new("L", (2, 2), 7), "PNG"))
    assert read_image(path)[0].tolist() == [[7, 7], [7, 7]]


@pytest.mark.parametrize(
    "array, fmt, message",
    [
        (np.zeros((2, 2, 4), np.uint8), "JPEG", "JPEG cannot hold RGBA"),
        (np.zeros((2, 2, 2), np.uint8), "BMP", "BMP cannot hold gray\\+alpha"),
        (np.zeros((2, 2), np.uint16), "JPEG", "16-bit gray samples; write .pgm or .png or .ppm or .tif instead, "
                                              "or add --depth 8"),
        (np.zeros((2, 2, 3), np.uint16), "WEBP", "16-bit RGB samples; write .png or .ppm or .tif instead, "
                                                 "or add --depth 8"),
        (np.zeros((2, 2), np.float32), "PNG", "float gray samples; write .pfm or .tif instead, or add --depth 8"),
        (np.zeros((2, 2, 3), np.float32), "PNG", "float RGB samples; write .pfm or .tif"),
        (np.zeros((2, 2, 2), np.uint8), "PGM", "PGM cannot hold gray\\+alpha"),
        (np.zeros((2, 2, 3), np.uint8), "PBM", "PBM cannot hold RGB"),
        (np.zeros((2, 2, 5), np.uint8), "PNG", "write .npy"),
        (np.zeros((2, 2), np.float64), "TIFF", "write .npy"),
    ],
)
def test_formats_that_cannot_hold_the_result_are_refused_not_degraded(array, fmt, message):
    with pytest.raises(CnnconvError, match=message):
        encode_image(array, fmt)


def test_cmyk_to_png_converts_with_a_note_and_gray_webp_reads_back_equal():
    data, notes = encode_image(np.zeros((2, 2, 4), np.uint8), "PNG", colour="cmyk")
    assert read_image(data)[1].mode == "RGB" and "CMYK" in notes[0]
    gray = _random((3, 3))
    back, _ = read_image(encode_image(gray, "WEBP")[0])
    np.testing.assert_array_equal(back[..., 0], gray)


def test_format_for_suffixes():
    assert [format_for(p) for p in ("a.png", "b.TIFF", "c.jpeg", "d.webp", "e.csv")] == [
        "PNG", "TIFF", "JPEG", "WEBP", None,
    ]


@settings(max_examples=60)
@given(st.binary(max_size=300))
def test_random_bytes_give_an_image_or_cnnconv_error(data):
    try:
        x, info = read_image(data)
    except CnnconvError:
        return
    assert x.ndim in (2, 3)


@settings(max_examples=40)
@given(st.integers(0, 300), st.integers(1, 255))
def test_a_damaged_png_gives_its_exact_samples_or_a_cnnconv_error(position, value):
    """Every byte of a PNG is under a CRC or zlib's checksum, or is one that says nothing about
    the samples: a damaged file that still decodes must decode to the very same samples."""
    original = _random((8, 8, 3))
    data = bytearray(_bytes(Image.fromarray(original), "PNG"))
    data[position % len(data)] = (data[position % len(data)] + value) % 256
    try:
        x, info = read_image(bytes(data))
    except CnnconvError as error:
        assert str(error) and "\n" not in str(error)
        return
    assert info.format == "PNG" and x.dtype == np.uint8
    np.testing.assert_array_equal(x, original)


def test_png_is_written_lossless_at_the_fastest_zlib_level_with_the_sub_filter():
    rng = np.random.default_rng(3)
    array = rng.integers(0, 256, (64, 80), dtype=np.uint8)
    data, _ = encode_image(array, "PNG")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), array)
    idat = data.index(b"IDAT") + 4
    # zlib header FLEVEL (bits 6-7 of the second byte): 0 = the fastest, 2 = Pillow's default 6
    assert data[idat + 1] >> 6 == 0
    length = int.from_bytes(data[idat - 8:idat - 4], "big")
    rows = np.frombuffer(zlib.decompress(data[idat:idat + length]), np.uint8).reshape(64, 81)
    assert (rows[:, 0] == 1).all()  # filter type Sub on every row


def _exif_with_orientation(value: int) -> bytes:
    """EXIF (as a PNG eXIf chunk holds it: no "Exif" prefix) with an orientation and an artist."""
    exif = Image.Exif()
    exif[0x0112], exif[0x013B] = value, "cnnconv tests"
    data = exif.tobytes()
    return data[6:] if data.startswith(b"Exif\x00\x00") else data


def _png_with_exif_after_the_data(array, exif: bytes) -> bytes:
    from cnnconv.io import _png

    data = _png.encode_png(array)
    end = data.rindex(b"IEND") - 4
    return data[:end] + _png.chunk(b"eXIf", exif) + data[end:]


@pytest.mark.parametrize("codec", ["libpng", "pillow"])
def test_a_png_reads_the_same_with_or_without_libpng(monkeypatch, codec):
    import sys

    from cnnconv.io import images

    decoded = []
    if codec == "pillow":
        monkeypatch.setitem(sys.modules, "imagecodecs", None)
    else:
        pytest.importorskip("imagecodecs")
        plain = images._plain_png
        monkeypatch.setattr(images, "_plain_png", lambda *a: decoded.append(1) or plain(*a))
    rng = np.random.default_rng(8)
    for shape in [(9, 7), (9, 7, 2), (9, 7, 3), (9, 7, 4)]:
        x = rng.integers(0, 256, shape, dtype=np.uint8)
        back, info = read_image(_png_with_exif_after_the_data(x, _exif_with_orientation(1)))
        np.testing.assert_array_equal(back, x)
        assert b"cnnconv tests" in info.metadata.exif  # found after the image data, kept for the output
    x = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    back, info = read_image(_png_with_exif_after_the_data(x, _exif_with_orientation(6)))
    np.testing.assert_array_equal(back, np.rot90(x, -1))  # orientation 6: turned a quarter clockwise
    assert any("EXIF orientation 6 applied" in n for n in info.notes)
    assert len(decoded) == (4 if codec == "libpng" else 0)  # the turned one is Pillow's (it turns it)


def test_a_png_with_a_transparent_colour_is_left_to_pillow(monkeypatch):
    from cnnconv.io import images

    monkeypatch.setattr(images, "_plain_png", lambda *a: pytest.fail("libpng asked to decode a tRNS PNG"))
    buf = io.BytesIO()
    Image.fromarray(np.full((3, 3, 3), 7, np.uint8)).save(buf, "PNG", transparency=(7, 7, 7))
    back, info = read_image(buf.getvalue())
    np.testing.assert_array_equal(back[..., :3], 7)
    assert info.has_alpha and (back[..., 3] == 0).all()


@pytest.mark.parametrize("mode, transparent", [("RGB", (7, 7, 7)), ("L", 7)])
def test_a_transparent_colour_becomes_alpha_with_a_note(mode, transparent):
    x = np.full((2, 3, 3) if mode == "RGB" else (2, 3), 7, np.uint8)
    x[0, 0] = 9
    buf = io.BytesIO()
    Image.fromarray(x, mode).save(buf, "PNG", transparency=transparent)
    back, info = read_image(buf.getvalue())
    assert info.has_alpha and back.shape[-1] == (4 if mode == "RGB" else 2)
    assert back[0, 0, -1] == 255 and (back[..., -1].reshape(-1)[1:] == 0).all()
    np.testing.assert_array_equal(back[..., :-1].reshape(x.shape), x)
    assert any("transparent colour made into an alpha channel" in n for n in info.notes)


@pytest.mark.parametrize("fmt, shape, dtype", [("TIFF", (6, 5, 3), np.uint8), ("TIFF", (6, 5), np.uint16),
                                               ("PNG", (6, 5, 4), np.uint16), ("JPEG", (6, 5, 3), np.uint8),
                                               ("TIFF", (6, 5, 2), np.uint16), ("PPM", (6, 5, 3), np.uint16)])
def test_the_writer_writes_what_encode_image_returns(fmt, shape, dtype):
    pytest.importorskip("tifffile")
    from cnnconv.io.images import image_writer

    x = np.random.default_rng(9).integers(0, 200, shape, dtype=dtype)
    write, notes = image_writer(x, fmt)
    buffer = io.BytesIO()
    write(buffer)
    assert (buffer.getvalue(), notes) == encode_image(x, fmt)


def test_a_tiff_keeps_its_text_tags_and_a_camera_exif_alike():
    tifffile = pytest.importorskip("tifffile")
    from cnnconv.io._metadata import ImageMetadata

    text = Image.Exif()
    text[0x0131], text[0x013B] = "scanner 2.1", "A. Person"
    camera = Image.Exif()
    camera[0x013B] = "A. Person"
    camera[0x8769] = {0x9003: "2026:12:04 10:00:00"}
    x = np.zeros((4, 4, 3), np.uint8)
    for exif in (text, camera):
        meta = ImageMetadata(icc_profile=None, dpi=(300.0, 300.0), exif=exif.tobytes())
        data, _ = encode_image(x, "TIFF", metadata=meta)
        back, info = read_image(data)
        kept = Image.Exif()
        kept.load(info.metadata.exif)
        assert kept[0x013B] == "A. Person" and info.metadata.dpi == (300.0, 300.0)
        with tifffile.TiffFile(io.BytesIO(data)) as tif:  # the text tags alone: tifffile wrote it, else Pillow
            assert (tif.pages[0].tags.get(305) is not None) == (exif is text)


def test_reading_a_picture_does_not_keep_its_file_s_bytes():
    """Decoders' objects sit in reference cycles: the file's bytes must go with the decode, not at a later gc."""
    import gc
    import tracemalloc

    pytest.importorskip("tifffile")
    x = np.random.default_rng(10).integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    for fmt in ("TIFF", "PNG"):
        data, _ = encode_image(x, fmt)
        read_image(data)  # the decoders' imports and caches, which stay, are not what is measured
        gc.collect()
        gc.disable()
        try:
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            back, _ = read_image(data)
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
            gc.enable()
        assert held < x.nbytes + len(data) // 2, fmt  # the samples, not the samples and the file


def _traced_peak(work):
    """(result, peak traced bytes above the start) of ``work()``."""
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = work()
        return result, tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("layout", ["strips", "tiles", "16-bit"])
def test_a_tiff_on_disk_is_read_into_its_samples_without_its_file_in_memory(tmp_path, layout):
    """Uncompressed, a TIFF's file is its samples' size: read whole first, the peak would be twice them."""
    tifffile = pytest.importorskip("tifffile")
    rng = np.random.default_rng(12)
    from cnnconv.io._deep import DECODE_BUFFER

    deep = layout == "16-bit"
    x = rng.integers(0, 65536 if deep else 256, (2048, 2048 if deep else 4096, 3), dtype=np.uint16 if deep else np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", x, **({"tile": (256, 256)} if layout == "tiles" else {}))
    read_image(tmp_path / "a.tif")  # imports and caches, which stay, are not what is measured
    (back, info), peak = _traced_peak(lambda: read_image(tmp_path / "a.tif"))
    np.testing.assert_array_equal(back, x)
    # the samples and a few of tifffile's read buffers (25 MB of samples; read whole, the file too: 2x)
    assert info.format == "TIFF" and peak < x.nbytes + 4 * DECODE_BUFFER < 1.7 * x.nbytes, peak / x.nbytes


def test_a_png_is_written_piece_by_piece_not_held_whole(tmp_path, monkeypatch):
    """The deflated pieces go to the file as they are made: the peak is a few pieces, not the file."""
    from cnnconv.io import _png
    from cnnconv.io.images import image_writer

    monkeypatch.setattr(_png, "PIECE_BYTES", 1 << 16)  # pieces far smaller than the file
    x = np.random.default_rng(13).integers(0, 256, (2048, 2048, 3), dtype=np.uint8)  # noise: a 12 MB file
    with open(tmp_path / "a.png", "wb") as f:
        _, peak = _traced_peak(lambda: image_writer(x, "PNG")[0](f))
    size = (tmp_path / "a.png").stat().st_size
    assert size > x.nbytes // 2 and peak < 20 * _png.PIECE_BYTES, (peak, size)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.png")), x)


def test_a_16_bit_colour_tiff_keeps_text_tags_and_says_when_it_drops_a_camera_exif():
    pytest.importorskip("tifffile")
    from cnnconv.io._metadata import ImageMetadata

    x = np.zeros((4, 4, 3), np.uint16)
    text = Image.Exif()
    text[0x013B] = "A. Person"
    data, notes = encode_image(x, "TIFF", metadata=ImageMetadata(exif=text.tobytes()))
    kept = Image.Exif()
    kept.load(read_image(data)[1].metadata.exif)
    assert kept[0x013B] == "A. Person" and notes == ()
    text[0x8769] = {0x9003: "2026:12:04 10:00:00"}
    _, notes = encode_image(x, "TIFF", metadata=ImageMetadata(exif=text.tobytes()))
    assert any("EXIF is not written to a 16-bit or float colour TIFF" in n for n in notes)
