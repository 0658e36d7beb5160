"""--max-memory: a picture whose working set passes it is streamed in bands, with the in-memory result."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cnnconv.cli import cli

tifffile = pytest.importorskip("tifffile")
zarr = pytest.importorskip("zarr")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def load(path):
    if str(path).endswith(".zarr"):
        return np.asarray(zarr.open(str(path), mode="r")[...])
    return np.load(path) if str(path).endswith(".npy") else tifffile.imread(path)


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(7)
    tifffile.imwrite(tmp_path / "tiled.tif", rng.integers(0, 256, (530, 610, 3), dtype=np.uint8), tile=(64, 64))
    tifffile.imwrite(tmp_path / "alpha16.tif", rng.integers(0, 65536, (300, 270, 4), dtype=np.uint16),
                     rowsperstrip=16, photometric="rgb", extrasamples=["unassalpha"])
    np.save(tmp_path / "gray.npy", rng.random((400, 333)))
    np.save(tmp_path / "u16.npy", rng.integers(0, 65536, (400, 300), dtype=np.uint16))
    chunked = zarr.open_array(store=str(tmp_path / "rgb.zarr"), mode="w", shape=(310, 280, 3), dtype=np.uint8,
                              chunks=(70, 90, 3))
    chunked[...] = rng.integers(0, 256, (310, 280, 3), dtype=np.uint8)
    return tmp_path


GEOMETRIES = [
    ["-k", "sobel-x"],
    ["-k", "gaussian:sigma=2", "--boundary", "reflect", "--stride", "2"],
    ["-k", "box:5", "--mode", "valid", "--dilation", "2"],
    ["-k", "sobel-x", "-k", "sobel-y", "--combine", "magnitude", "--boundary", "wrap", "--mode", "full"],
    ["-k", "laplacian", "--boundary", "constant:40", "--range", "abs"],
]


@pytest.mark.parametrize("name", ["tiled.tif", "alpha16.tif", "gray.npy", "u16.npy", "rgb.zarr"])
@pytest.mark.parametrize("out", ["o.tif", "o.npy", "o.zarr"])
@pytest.mark.parametrize("options", GEOMETRIES, ids=lambda o: " ".join(o))
def test_a_streamed_picture_equals_the_in_memory_one(inputs, name, out, options):
    whole = run("filter", inputs / name, *options, "--max-memory", "none", "-q", "-o", inputs / ("w" + out))
    assert whole.exit_code == 0, whole.output
    parts = run("filter", inputs / name, *options, "--max-memory", "1MB", "--json", "-q", "-o", inputs / ("p" + out))
    assert parts.exit_code == 0, parts.output
    record = json.loads(parts.stdout.splitlines()[0])
    (rows,) = record["streamed"]["band_rows"]
    assert 16 <= rows <= 256 and record["streamed"]["parts"] == -(-len(load(inputs / ("w" + out))) // rows)
    a, b = load(inputs / ("w" + out)), load(inputs / ("p" + out))
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


def test_two_kernels_streamed_give_two_outputs(inputs):
    result = run("filter", inputs / "tiled.tif", "-k", "sobel-x", "-k", "sobel-y", "--max-memory", "1MB", "-q",
                 "--out-dir", inputs / "out", "--name", "{kernel}.tif")
    assert result.exit_code == 0, result.output
    for k in ("sobel-x", "sobel-y"):
        single = run("filter", inputs / "tiled.tif", "-k", k, "-q", "-o", inputs / f"{k}.tif")
        assert single.exit_code == 0
        np.testing.assert_array_equal(load(inputs / "out" / f"{k}.tif"), load(inputs / f"{k}.tif"))


def test_a_png_over_the_budget_is_refused_with_the_way_to_convert_it(tmp_path):
    Image.fromarray(np.zeros((600, 600, 3), np.uint8)).save(tmp_path / "big.png")
    result = run("filter", tmp_path / "big.png", "-k", "box3", "--max-memory", "1MB", "-o", tmp_path / "o.png")
    assert result.exit_code == 1
    assert "cannot be read in parts; convert it to a tiled TIFF (vips tiffsave big.png big.tif --tile --bigtiff)" \
        in result.output
    assert not (tmp_path / "o.png").exists()


def test_a_streamed_output_must_be_written_in_parts(inputs):
    result = run("filter", inputs / "tiled.tif", "-k", "box3", "--max-memory", "1MB", "-o", inputs / "o.png")
    assert result.exit_code == 1
    assert "its output must be .npy, .zarr or .tif, written as computed; got" in result.output
    assert not (inputs / "o.png").exists()


def test_max_memory_is_checked_as_a_size(inputs):
    result = run("filter", inputs / "tiled.tif", "-k", "box3", "--max-memory", "lots", "-o", inputs / "o.tif")
    assert result.exit_code == 2 and "is not a memory size" in result.output


POOLINGS = [
    ["--size", "2"],
    ["--size", "3", "--stride", "2", "--padding", "1", "--op", "avg"],
    ["--size", "3,2", "--op", "min", "--ceil"],
    ["--size", "5", "--stride", "1", "--padding", "2", "--op", "avg", "--count-pad", "--range", "rescale",
     "--depth", "8"],
    ["--size", "3", "--op", "median", "--mode", "same"],
    ["--size", "4", "--op", "median", "--mode", "same", "--boundary", "wrap"],
    ["--size", "5,2", "--op", "max", "--mode", "same", "--boundary", "reflect"],
    ["--size", "3", "--op", "avg", "--mode", "same", "--boundary", "constant:40"],
    ["--size", "2", "--op", "min", "--mode", "same", "--boundary", "edge"],
    ["--size", "3", "--stride", "2", "--op", "median", "--ceil"],
]


@pytest.mark.parametrize("name", ["tiled.tif", "alpha16.tif", "gray.npy", "rgb.zarr"])
@pytest.mark.parametrize("options", POOLINGS, ids=lambda o: " ".join(o))
def test_a_streamed_pooling_equals_the_in_memory_one(inputs, name, options):
    if "rescale" in options and name in ("gray.npy", "rgb.zarr"):
        options = options[:-2]  # float samples have no range to rescale onto, with or without streaming
        options = [o for o in options if o not in ("--range", "rescale")]
    whole = run("pool", inputs / name, *options, "--max-memory", "none", "-q", "-o", inputs / "w.tif")
    assert whole.exit_code == 0, whole.output
    parts = run("pool", inputs / name, *options, "--max-memory", "1MB", "--json", "-q", "-o", inputs / "p.tif")
    assert parts.exit_code == 0, parts.output
    record = json.loads(parts.stdout.splitlines()[0])
    (rows,) = record["streamed"]["band_rows"]
    assert record["streamed"]["parts"] == -(-len(load(inputs / "w.tif")) // rows)
    a, b = load(inputs / "w.tif"), load(inputs / "p.tif")
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


def test_a_padded_median_pooling_over_the_budget_is_refused(inputs):
    result = run("pool", inputs / "tiled.tif", "--size", "3", "--padding", "1", "--op", "median",
                 "--max-memory", "1MB", "-o", inputs / "o.tif")
    assert result.exit_code == 1
    assert "a padded median pooling is computed on the whole image; it cannot run in bands" in result.output
    assert not (inputs / "o.tif").exists()


def test_a_pooled_tiff_does_not_keep_the_input_s_record_of_its_shape(inputs):
    """tifffile writes {"shape": [...]} as the ImageDescription; copied, it would misstate the smaller output."""
    result = run("pool", inputs / "tiled.tif", "--size", "2", "--max-memory", "none", "-q", "-o", inputs / "o.tif")
    assert result.exit_code == 0, result.output
    with tifffile.TiffFile(inputs / "o.tif") as tif:
        assert tif.pages[0].shape == (265, 305, 3)
        assert '"shape"' not in (tif.pages[0].description or "")


def _stderr_on_a_terminal(args, cwd):
    """Run cnnconv with stderr on a pseudo-terminal (a real one, as a user sees); its exit code and stderr."""
    import os
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cnnconv", *map(str, args)], cwd=cwd, stderr=slave,
                            stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    return proc.wait(timeout=60), seen.decode("utf-8", "replace")


def test_one_streamed_picture_shows_its_bands_on_a_terminal(inputs):
    code, seen = _stderr_on_a_terminal(["filter", "tiled.tif", "-k", "box3", "--max-memory", "1MB", "-o", "o.tif"],
                                       inputs)
    assert code == 0, seen
    assert "tiled.tif: streamed" in seen and "3/3" in seen and "bands" in seen  # 530 rows: 3 bands of 256
    code, seen = _stderr_on_a_terminal(["filter", "tiled.tif", "-k", "box3", "--max-memory", "1MB", "-q",
                                        "-o", "o.tif"], inputs)
    assert code == 0 and seen == ""


@pytest.mark.parametrize("kernel", ["sobel-x", "gaussian:sigma=3"])
def test_a_wide_picture_is_cut_into_lower_bands_and_its_tiff_into_rows_of_256(tmp_path, kernel):
    """Bands of a wide picture are fewer rows (a band reads about a million samples), whose edges fall
    inside the streamed TIFF's rows of tiles; in memory the same bands give the same samples."""
    rng = np.random.default_rng(11)
    tifffile.imwrite(tmp_path / "wide.tif", rng.integers(0, 256, (700, 4000, 3), dtype=np.uint8), tile=(64, 64))
    whole = run("filter", tmp_path / "wide.tif", "-k", kernel, "--max-memory", "none", "-q", "-o", tmp_path / "w.tif")
    assert whole.exit_code == 0, whole.output
    parts = run("filter", tmp_path / "wide.tif", "-k", kernel, "--max-memory", "1MB", "--json", "-q",
                "-o", tmp_path / "p.tif")
    assert parts.exit_code == 0, parts.output
    record = json.loads(parts.stdout.splitlines()[0])
    assert record["streamed"]["band_rows"] == [80] and record["streamed"]["parts"] == 9  # 2**20 // 12000 → 80
    with tifffile.TiffFile(tmp_path / "p.tif") as tif:
        assert (tif.pages[0].tilelength, tif.pages[0].tilewidth) == (256, 256)
    np.testing.assert_array_equal(load(tmp_path / "w.tif"), load(tmp_path / "p.tif"))


def test_a_planar_tiff_streams_as_it_is_read_whole(tmp_path):
    """One plane a channel (planar configuration 2): read as (H, W, C) in bands too, not as H=3."""
    x = np.random.default_rng(12).integers(0, 256, (3, 300, 200), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "planar.tif", x, planarconfig="separate", photometric="rgb", tile=(64, 64))
    whole = run("filter", tmp_path / "planar.tif", "-k", "box3", "--max-memory", "none", "-q", "-o", tmp_path / "w.tif")
    parts = run("filter", tmp_path / "planar.tif", "-k", "box3", "--max-memory", "10KB", "--json", "-q",
                "-o", tmp_path / "p.tif")
    assert whole.exit_code == parts.exit_code == 0, parts.output
    assert json.loads(parts.stdout.splitlines()[0])["streamed"]["parts"] > 1
    a, b = load(tmp_path / "w.tif"), load(tmp_path / "p.tif")
    assert a.shape == (300, 200, 3)
    np.testing.assert_array_equal(a, b)

