"""Pictures read a part at a time: rows of chunks decoded once, however low the bands that read them."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cnnconv.image import FilterSettings, filter_image
from cnnconv.io.parts import ChunkRows, open_in_parts, read_header
from cnnconv.kernels import Kernel


class Counting:
    """An array whose slices are counted by the rows they read."""

    def __init__(self, a):
        self.a, self.shape, self.dtype, self.rows_read = a, a.shape, a.dtype, 0

    def __getitem__(self, key):
        part = self.a[key]
        self.rows_read += part.shape[0]
        return part


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40), st.integers(1, 9), st.data())
def test_slices_of_chunk_rows_are_the_array_s(h, chunk, data):
    a = np.arange(h * 5 * 2).reshape(h, 5, 2)
    rows = ChunkRows(a, chunk)
    start = data.draw(st.integers(0, h))
    stop = data.draw(st.integers(start, h + 3))
    cols = data.draw(st.sampled_from([slice(None), slice(1, 4), 2]))
    np.testing.assert_array_equal(rows[start:stop, cols], a[start:stop, cols])
    np.testing.assert_array_equal(rows[h // 2], a[h // 2])


@pytest.mark.parametrize("threads", [1, 2])
def test_a_picture_filtered_in_low_bands_decodes_each_row_of_chunks_once(threads):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (1000, 300, 3), dtype=np.uint8)
    source = Counting(a)
    s = FilterSettings((Kernel("box", np.ones((5, 5)) / 25),))
    (streamed,) = filter_image(ChunkRows(source, 256), s, band_rows=32, threads=threads)
    (whole,) = filter_image(a, s, band_rows=32)
    np.testing.assert_array_equal(streamed.samples, whole.samples)
    assert source.rows_read == 1000  # read alone, every band would read its 256-row chunk row again


def test_a_tiled_tiff_is_read_through_its_rows_of_tiles(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    pytest.importorskip("zarr")
    x = np.random.default_rng(2).integers(0, 256, (300, 200), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "t.tif", x, tile=(64, 64))
    src = open_in_parts(str(tmp_path / "t.tif"))
    assert isinstance(src, ChunkRows) and src.rows == 64 and read_header(str(tmp_path / "t.tif")).shape == x.shape
    np.testing.assert_array_equal(src[60:130, 5:70], x[60:130, 5:70])
    assert src.reads == 3  # rows of tiles 0, 1 and 2


@pytest.mark.parametrize("options, shape, dtype", [
    ({"tile": (64, 64)}, (300, 270, 3), np.uint8),
    ({"rowsperstrip": 7}, (300, 270), np.uint16),
    ({"tile": (32, 48), "compression": "zlib", "predictor": True}, (130, 100, 4), np.uint16),
    ({}, (50, 60, 3), np.uint8),
    ({"tile": (16, 16), "compression": "zlib"}, (33, 17), np.float32),
    ({"tile": (16, 32), "byteorder": ">"}, (40, 70, 3), np.uint16),
    ({"tile": (16, 16), "bigtiff": True}, (40, 70), np.uint8),
], ids=["tiles", "strips", "zlib+predictor", "one-strip", "float", "big-endian", "bigtiff"])
def test_a_tiff_s_rows_of_tiles_read_directly_are_tifffile_s_samples(tmp_path, options, shape, dtype):
    tifffile = pytest.importorskip("tifffile")
    from cnnconv.io.parts import TiffChunkRows

    x = np.random.default_rng(3).integers(0, 200, shape).astype(dtype)
    tifffile.imwrite(tmp_path / "a.tif", x, **options)
    src = open_in_parts(str(tmp_path / "a.tif"))
    assert isinstance(src.source, TiffChunkRows)  # not through the Zarr view
    h = shape[0]
    for rows in (slice(0, h), slice(5, 37), slice(20, 21), slice(h - 3, h), slice(30, 2, -3), 7, slice(5, 5)):
        np.testing.assert_array_equal(src[rows, 1:5], x[rows, 1:5])


def test_a_tiff_tifffile_reads_only_through_its_zarr_view_still_streams(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    pytest.importorskip("zarr")
    x = np.random.default_rng(4).integers(0, 200, (3, 40, 50), dtype=np.uint8)  # planar: one plane a channel
    tifffile.imwrite(tmp_path / "p.tif", x, planarconfig="separate", photometric="rgb", tile=(16, 16))
    src = open_in_parts(str(tmp_path / "p.tif"))
    assert type(src.source).__name__ != "TiffChunkRows" and src.shape == (40, 50, 3)
    np.testing.assert_array_equal(src[3:30, 5:9], np.moveaxis(x, 0, -1)[3:30, 5:9])
