"""Output depth (--depth 8|16|float), the one rule for float samples to integers, --range never
ignored, and --strip / --quality through the command line."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cnnconv.cli import cli
from cnnconv.image import FilterSettings, filter_image
from cnnconv.image.depth import depth_factor, sample_type
from cnnconv.io.images import read_image
from cnnconv.kernels import Kernel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from icc_profile import icc_profile  # noqa: E402

RNG = np.random.default_rng(8)
IDENTITY = FilterSettings((Kernel("identity", [[1]]),))


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_sixteen_to_eight_rounds_v_over_257_and_eight_to_sixteen_multiplies_by_257():
    deep = np.array([[0, 128, 129, 385, 386, 65535]], np.uint16)
    (out,) = filter_image(deep, IDENTITY, dtype=sample_type(deep.dtype, "8"))
    assert out.samples.tolist() == [[0, 0, 1, 1, 2, 255]]  # 128/257 = 0.498, 129/257 = 0.502, 385.5 is the half
    shallow = np.array([[0, 1, 254, 255]], np.uint8)
    (out,) = filter_image(shallow, IDENTITY, dtype=sample_type(shallow.dtype, "16"))
    assert out.samples.dtype == np.uint16 and out.samples.tolist() == [[0, 257, 65278, 65535]]
    assert depth_factor(np.dtype(np.uint8), np.dtype(np.uint8)) == 1.0


def test_alpha_follows_the_output_depth():
    la = np.array([[[10, 255], [20, 0]]], np.uint8)
    (out,) = filter_image(la, IDENTITY, dtype=np.dtype(np.uint16))
    assert out.samples[0, 0].tolist() == [2570, 65535] and out.samples[0, 1, 1] == 0
    (out,) = filter_image(la, IDENTITY, dtype=np.dtype(np.float32))  # float: the source's units
    assert out.samples[0, 0].tolist() == [10.0, 255.0]


def test_depth_on_the_command_line(tmp_path):
    x = RNG.integers(0, 65536, (5, 6, 3)).astype(np.uint16)
    src = tmp_path / "deep.png"
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(src)  # replaced below by a real 16-bit RGB PNG
    from cnnconv.io.images import encode_image

    src.write_bytes(encode_image(x, "PNG")[0])
    result = run("filter", src, "-k", "identity", "--depth", "8", "-o", tmp_path / "o8.png")
    assert result.exit_code == 0, result.output
    back, info = read_image(str(tmp_path / "o8.png"))
    assert back.dtype == np.uint8 and info.bit_depth == 8
    np.testing.assert_array_equal(back, np.rint(x / 257).astype(np.uint8))
    result = run("filter", src, "-k", "sobel-x", "--depth", "float", "-o", tmp_path / "f.tif")
    assert result.exit_code == 0, result.output
    back, _ = read_image(str(tmp_path / "f.tif"))
    assert back.dtype == np.float32 and back.min() < 0  # the computed values, not clipped
    result = run("filter", src, "-k", "identity", "--depth", "float", "-o", tmp_path / "f.png")
    assert result.exit_code == 1 and "PNG cannot hold float" in result.output


def test_the_jpeg_refusal_names_depth_8_and_depth_8_writes_it(tmp_path):
    from cnnconv.io.images import encode_image

    src = tmp_path / "deep.png"
    src.write_bytes(encode_image(RNG.integers(0, 65536, (4, 4, 3)).astype(np.uint16), "PNG")[0])
    result = run("filter", src, "-k", "identity", "-o", tmp_path / "o.jpg")
    assert result.exit_code == 1 and "--depth 8" in result.output
    assert run("filter", src, "-k", "identity", "--depth", "8", "-o", tmp_path / "o.jpg").exit_code == 0


def test_float_samples_go_to_integers_by_one_rule_whatever_the_source(tmp_path):
    values = np.array([[-3.0, 0.4, 0.6, 2.0, 300.0]], np.float32)
    np.save(tmp_path / "v.npy", values.astype(np.float64))
    np.savetxt(tmp_path / "v.csv", values, delimiter=",")
    from cnnconv.io.images import encode_image

    (tmp_path / "v.tif").write_bytes(encode_image(values, "TIFF")[0])
    written = {}
    for name in ("v.npy", "v.csv", "v.tif"):
        out = tmp_path / f"{name}.png"
        result = run("filter", tmp_path / name, "-k", "0,1,0", "-o", out)
        assert result.exit_code == 0, result.output
        assert "2 values fell outside 0..255" in result.output
        written[name] = np.asarray(Image.open(out))
    for name, samples in written.items():
        assert samples.tolist() == [[0, 0, 1, 2, 255]], name


def test_values_in_0_to_1_written_to_integers_get_a_note_naming_scale(tmp_path):
    np.save(tmp_path / "unit.npy", RNG.random((4, 4)))
    result = run("filter", tmp_path / "unit.npy", "-k", "identity", "-o", tmp_path / "u.png")
    assert result.exit_code == 0 and "--scale 255" in result.output


def test_range_is_applied_or_refused_never_ignored(tmp_path):
    np.save(tmp_path / "v.npy", np.array([[-3.0, 1.0, 5.0]] * 3))
    result = run("filter", tmp_path / "v.npy", "-k", "0,1,0", "--range", "rescale", "-o", tmp_path / "o.npy")
    assert result.exit_code == 2 and "--depth 8" in result.output
    result = run("filter", tmp_path / "v.npy", "-k", "0,1,0", "--range", "rescale", "--depth", "8",
                 "-o", tmp_path / "o.npy")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "o.npy").tolist() == [[0, 128, 255]] * 3
    result = run("filter", tmp_path / "v.npy", "-k", "0,1,0", "--range", "abs", "-o", tmp_path / "a.npy")
    assert result.exit_code == 0 and np.load(tmp_path / "a.npy").tolist() == [[3.0, 1.0, 5.0]] * 3
    result = run("filter", tmp_path / "v.npy", "-k", "0,1,0", "--range", "rescale", "--depth", "float",
                 "-o", tmp_path / "f.tif")
    assert result.exit_code == 2 and "--depth float" in result.output
    from cnnconv.io.images import encode_image

    (tmp_path / "f.tif").write_bytes(encode_image(np.ones((3, 3), np.float32), "TIFF")[0])
    result = run("pool", tmp_path / "f.tif", "--size", "2", "--range", "rescale", "-o", tmp_path / "p.tif")
    assert result.exit_code == 1 and "--depth 8" in result.output


def test_strip_drops_the_icc_profile_and_quality_sets_the_jpeg_quality(tmp_path):
    src = tmp_path / "tagged.png"
    Image.fromarray(RNG.integers(0, 256, (32, 32, 3)).astype(np.uint8)).save(src, icc_profile=icc_profile(),
                                                                              dpi=(300, 300))
    assert run("filter", src, "-k", "box3", "-o", tmp_path / "kept.png").exit_code == 0
    assert Image.open(tmp_path / "kept.png").info.get("icc_profile") == icc_profile()
    assert run("filter", src, "-k", "box3", "--strip", "-o", tmp_path / "bare.png").exit_code == 0
    bare = Image.open(tmp_path / "bare.png")
    assert "icc_profile" not in bare.info and "dpi" not in bare.info
    sizes = {}
    for q in (20, 95):
        assert run("filter", src, "-k", "identity", "--quality", q, "-o", tmp_path / f"q{q}.jpg").exit_code == 0
        sizes[q] = (tmp_path / f"q{q}.jpg").stat().st_size
    assert sizes[20] < sizes[95]
    result = run("filter", src, "-k", "identity", "--quality", "0", "-o", tmp_path / "q0.jpg")
    assert result.exit_code == 2 and "--quality" in result.output
    from cnnconv.io._image_write import DEFAULT_JPEG_QUALITY  # noqa: F401 - the default stays documented there
    assert io  # the module is used by the helpers above


def test_depth_float_writes_the_computed_values_to_pfm_and_reads_them_back(tmp_path):
    x = RNG.integers(0, 256, (6, 5, 3)).astype(np.uint8)
    Image.fromarray(x).save(tmp_path / "rgb.png")
    result = run("filter", tmp_path / "rgb.png", "-k", "sobel-x", "--depth", "float", "-o", tmp_path / "edges.pfm")
    assert result.exit_code == 0, result.output
    back, info = read_image(str(tmp_path / "edges.pfm"))
    (expected,) = filter_image(x, FilterSettings((Kernel("s", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),)),
                               dtype=np.dtype(np.float32))
    assert info.format == "PFM" and back.dtype == np.float32
    np.testing.assert_array_equal(back, expected.samples)  # rows come back top to bottom, values as computed
    gray = tmp_path / "g.npy"
    np.save(gray, RNG.normal(size=(4, 3)))
    assert run("filter", gray, "-k", "box3", "-o", tmp_path / "g.pfm").exit_code == 0  # an array: float32 PFM
    assert read_image(str(tmp_path / "g.pfm"))[0].shape == (4, 3)
    result = run("filter", tmp_path / "rgb.png", "-k", "box3", "-o", tmp_path / "o.pfm")
    assert result.exit_code == 1 and "PFM cannot hold RGB samples" in result.output and "--depth" not in result.output
