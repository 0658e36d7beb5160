"""``cnnconv filter`` with ImageMagick kernel strings: lists, origins, error lines."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from PIL import Image

from cnnconv.cli import cli


def run(*args):
    return CliRunner().invoke(cli, ["filter", *map(str, args)])


def impulse(tmp_path, value=10):
    x = np.zeros((7, 7), np.uint8)
    x[3, 3] = value
    Image.fromarray(x).save(tmp_path / "dot.png")
    return tmp_path / "dot.png"


def test_a_rotation_list_gives_one_output_per_kernel(tmp_path):
    result = run(impulse(tmp_path), "-k", "Sobel:>", "-o", tmp_path / "s.png", "-q")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.glob("s-*.png"))
    assert names == ["s-im-Sobel-180.png", "s-im-Sobel-270.png", "s-im-Sobel-90.png", "s-im-Sobel.png"]
    # correlation reads the kernel rotated about the impulse: Sobel (1 0 -1 on the left) puts 10 at the right
    assert np.asarray(Image.open(tmp_path / "s-im-Sobel.png"))[2:5, 2:5].tolist() == [[0, 0, 10], [0, 0, 20], [0, 0, 10]]


def test_combine_max_merges_a_list(tmp_path):
    result = run(impulse(tmp_path), "-k", "Sobel:>", "--combine", "max", "-o", tmp_path / "m.png", "-q")
    assert result.exit_code == 0, result.output
    assert np.asarray(Image.open(tmp_path / "m.png"))[2:5, 2:5].tolist() == [[10, 20, 10], [20, 0, 20], [10, 20, 10]]


def test_the_origin_places_the_kernel_as_imagemagick_does(tmp_path):
    # -morphology Convolve "3x3+0+0: 1,2,3 4,5,6 7,8,9" on an impulse at (3, 3): the kernel at rows/cols 3..5
    # (measured with ImageMagick 6.9.11); -morphology Correlate: rotated, at 1..3.
    dot = impulse(tmp_path, 1)
    spec = "3x3+0+0: 1,2,3 4,5,6 7,8,9"
    assert run(dot, "-k", spec, "--convolve", "-o", tmp_path / "conv.png").exit_code == 0
    assert run(dot, "-k", spec, "-o", tmp_path / "corr.png").exit_code == 0
    conv, corr = (np.asarray(Image.open(tmp_path / n)).astype(int) for n in ("conv.png", "corr.png"))
    assert conv[3:6, 3:6].tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]] and conv.sum() == 45
    assert corr[1:4, 1:4].tolist() == [[9, 8, 7], [6, 5, 4], [3, 2, 1]] and corr.sum() == 45


def test_kernel_errors_are_one_line_and_exit_2(tmp_path):
    dot = impulse(tmp_path)
    for spec, words in [("Sobl:90", "did you mean 'Sobel:90'"), ("3x3: 1 2 3", "needs 9 values"),
                        ("Laplacian:4", "write Laplacian:0"), ("log:0", "write im:log:0")]:
        result = run(dot, "-k", spec, "-o", tmp_path / "o.png")
        assert result.exit_code == 2 and words in result.output, result.output
        assert result.output.count("\n") == 1
