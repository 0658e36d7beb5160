"""``filter_image`` and ``pool_image``: a script gets the samples the commands write."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cnnconv.cli import cli
from cnnconv.errors import CnnconvError
from cnnconv.image import FilterSettings, Geometry, PoolSettings, filter_image, pool_image
from cnnconv.io.arrays import read_array
from cnnconv.io.images import read_image
from cnnconv.io.kernels import load_kernel

RNG = np.random.default_rng(11)


def _pictures(tmp_path):
    """(path, samples) for 8-bit gray, RGB, RGBA (partly transparent), 16-bit gray and float .npy."""
    rgba = RNG.integers(0, 256, (9, 12, 4)).astype(np.uint8)
    rgba[2:5, 3:7, 3] = 0
    made = {
        "gray.png": RNG.integers(0, 256, (9, 12)).astype(np.uint8),
        "rgb.png": RNG.integers(0, 256, (9, 12, 3)).astype(np.uint8),
        "rgba.png": rgba,
        "gray16.png": RNG.integers(0, 65536, (9, 12)).astype(np.uint16),
    }
    for name, samples in made.items():
        Image.fromarray(samples).save(tmp_path / name)
    np.save(tmp_path / "values.npy", RNG.normal(size=(9, 12)))
    return ["gray.png", "rgb.png", "rgba.png", "gray16.png", "values.npy"]


def _decoded(path):
    return read_array(str(path))[0] if str(path).endswith(".npy") else read_image(str(path))[0]


@pytest.mark.parametrize("args", [
    ["-k", "sobel-x"],
    ["-k", "gaussian:sigma=1", "--boundary", "edge", "--range", "rescale"],
    ["-k", "sobel-x", "-k", "sobel-y", "--combine", "magnitude", "--scale", "0.5", "--offset", "3"],
    ["-k", "laplacian", "--range", "abs", "--mode", "valid", "--stride", "2"],
], ids=["sobel", "gauss-rescale", "magnitude", "laplacian-abs-valid"])
def test_a_script_calling_filter_image_gets_the_samples_the_command_writes(tmp_path, args):
    names = _pictures(tmp_path)
    kernels = tuple(load_kernel(spec) for flag, spec in zip(args, args[1:]) if flag == "-k")
    option = lambda name, default: args[args.index(name) + 1] if name in args else default  # noqa: E731
    settings = FilterSettings(
        kernels, geometry=Geometry(mode=option("--mode", "same"), stride=int(option("--stride", 1)),
                                   boundary=option("--boundary", "zero")),
        combine=option("--combine", None), scale=float(option("--scale", 1)), offset=float(option("--offset", 0)),
        range=option("--range", "clip"))
    for name in names:
        if name.endswith(".npy") and "rescale" in args:
            continue  # refused: a float output has no sample range (tests/image/test_depth.py)
        out = tmp_path / ("out-" + name)
        result = CliRunner().invoke(cli, ["filter", str(tmp_path / name), *args, "-o", str(out)])
        assert result.exit_code == 0, result.output
        values = _decoded(tmp_path / name)
        info_alpha = name == "rgba.png"
        (mine,) = filter_image(values, settings, has_alpha=info_alpha,
                               dtype=None if name.endswith(".npy") else "input")
        written = _decoded(out)
        assert written.dtype == mine.samples.dtype, name
        np.testing.assert_array_equal(written, mine.samples, err_msg=name)


def test_a_script_calling_pool_image_gets_the_samples_the_command_writes(tmp_path):
    for name in _pictures(tmp_path):
        out = tmp_path / ("out-" + name)
        result = CliRunner().invoke(cli, ["pool", str(tmp_path / name), "--size", "2", "--op", "avg", "-o", str(out)])
        assert result.exit_code == 0, result.output
        mine = pool_image(_decoded(tmp_path / name), PoolSettings(size=2, op="avg"),
                          has_alpha=name == "rgba.png", dtype=None if name.endswith(".npy") else "input")
        np.testing.assert_array_equal(_decoded(out), mine.samples, err_msg=name)


def test_settings_and_outputs_pickle_for_worker_processes():
    settings = FilterSettings((load_kernel("sobel-x"),), geometry=Geometry(boundary="edge"), combine=None)
    back = pickle.loads(pickle.dumps(settings))
    assert back == settings and back.geometry.boundary == "edge"
    pooled = PoolSettings(size=(2, 3), op="min")
    assert pickle.loads(pickle.dumps(pooled)) == pooled


def test_settings_refuse_unknown_policies_by_name():
    with pytest.raises(CnnconvError, match="range must be one of 'clip', 'abs', 'rescale', got 'wrap'"):
        FilterSettings((load_kernel("identity"),), range="wrap")
    with pytest.raises(CnnconvError, match="at least one kernel"):
        FilterSettings(())
    with pytest.raises(CnnconvError, match="either a mode or an explicit padding"):
        Geometry(mode="valid", padding=1)


def test_several_kernels_give_one_output_each_in_order():
    x = RNG.integers(0, 256, (6, 7)).astype(np.uint8)
    outs = filter_image(x, FilterSettings((load_kernel("sobel-x"), load_kernel("identity"))))
    assert [o.label for o in outs] == ["sobel-x", "identity"]
    np.testing.assert_array_equal(outs[1].samples, x)
    assert outs[1].report.clipped == 0 and outs[1].report.notes == ()


def test_raw_float_outputs_keep_alpha_in_the_input_units():
    x = np.zeros((3, 3, 4), np.uint8)
    x[..., 3] = 255
    (out,) = filter_image(x, FilterSettings((load_kernel("identity"),)), has_alpha=True, dtype=None)
    assert out.samples.dtype.kind == "f" and out.samples[..., 3].tolist() == [[255.0] * 3] * 3
