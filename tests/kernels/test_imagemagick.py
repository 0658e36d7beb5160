"""ImageMagick kernel strings: every form against ImageMagick's own values.

The fixture ``tests/fixtures/imagemagick_kernels.json`` holds what ImageMagick 6.9.11
printed (``-define morphology:showKernel=1``, six significant digits) for each string;
``benchmarks/compat.py`` made it. ImageMagick's ``nan`` elements are 0 in cnnconv.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnnconv.errors import CnnconvError
from cnnconv.kernels.imagemagick import is_imagemagick, parse_imagemagick

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "imagemagick_kernels.json").read_text())


@pytest.mark.parametrize("spec", sorted(FIXTURE["kernels"]))
def test_kernel_matches_imagemagick(spec):
    want = FIXTURE["kernels"][spec]
    got = parse_imagemagick(spec)
    assert len(got) == len(want), [k.name for k in got]
    for kernel, expected in zip(got, want):
        weights = np.array([[0.0 if v is None else v for v in row] for row in expected["weights"]])
        assert kernel.shape == tuple(expected["shape"])
        origin = kernel.origin or tuple((n - 1) // 2 for n in kernel.shape)
        assert origin == tuple(expected["origin"])
        np.testing.assert_allclose(kernel.effective(), weights, rtol=6e-6, atol=1e-300)


@pytest.mark.parametrize("spec, claimed", [
    ("im:Gaussian:2", True), ("IM:gaussian:sigma=2", True), ("3x3: 1,2,1 2,4,2 1,2,1", True),
    ("3x3+0+0: 1 2 1 2 4 2 1 2 1", True), ("3: 1 2 1 2 4 2 1 2 1", True), ("Sobel", True), ("sobel:90", True),
    ("Unity", True), ("Disk:2", True), ("Laplacian:1", True), ("Sobel:@", True),
    ("laplacian", False), ("Laplacian", False), ("gaussian:sigma=2", False), ("Gaussian:0x2", False),
    ("DoG:0,1,2", False), ("sobel-x", False), ("1,2,1", False), ("box:3", False), ("squares.txt", False),
])
def test_which_strings_are_imagemagick_alone(spec, claimed):
    assert is_imagemagick(spec) is claimed


def test_nan_elements_are_zero_and_the_origin_is_kept():
    k, = parse_imagemagick("3x2+2+1: 1,-,3 nan,5,6")
    assert k.weights.tolist() == [[1, 0, 3], [0, 5, 6]] and k.origin == (1, 2)


def test_a_semicolon_separates_kernels_and_rotations_apply_to_each():
    kernels = parse_imagemagick("Sobel;Prewitt:>")
    assert [k.name for k in kernels] == ["im:Sobel", "im:Prewitt:>", "im:Prewitt@90", "im:Prewitt@180", "im:Prewitt@270"]


def test_a_turned_origin_turns_with_the_values():
    # ImageMagick: "3x3+0+0>" gives +0+0, +2+0, +2+2, +0+2 (fixture), i.e. (row, col) below
    assert [k.origin for k in parse_imagemagick("3x3+0+0>: 1,2,3 4,5,6 7,8,9")] == [(0, 0), (0, 2), (2, 2), (2, 0)]


@pytest.mark.parametrize("spec, message", [
    ("3x3: 1,2,3", r"a 3x3 kernel needs 9 values \(W columns x H rows\), got 3"),
    ("3x3+3+0: 1 2 3 4 5 6 7 8 9", r"origin \+3\+0 must lie inside the 3x3 kernel"),
    ("3y3: 1 2 3", r"'3y3' is not a kernel size; write WxH\[\+X\+Y\]"),
    ("1,2,3,4,5", r"needs a square count \(4, 9\), got 5"),
    ("3: nan nan nan nan nan nan nan nan nan", "every value is nan"),
    ("3: 1 2 x 4 5 6 7 8 9", "'x' is not a number"),
    ("Sobl:90", r"'Sobl' is not an ImageMagick convolution kernel; did you mean 'Sobel'\?"),
    ("Laplacian:4", r"Laplacian types are 0, 1, 2, 3, 5, 7, 15, 19 .*write Laplacian:0"),
    ("FreiChen:5", "FreiChen types are 0, 1, 2, 10 and 11 to 19"),
    ("Gaussian:0x1!", "the '!' flag scales kernels in ImageMagick; cnnconv takes --normalize and --scale"),
    ("Sobel:@>", "give one rotation flag"),
    ("Disk:2@", r"'@' turns 3x3 kernels by 45 degrees, this one is 5x5; use '>' for 90"),
    ("Rectangle:3x2>", "turns only square or 1-D kernels by 90 degrees"),
    ("Blur:0xabc", "is not ImageMagick's argument form RxS"),
    (";;", "is empty"),
])
def test_errors_say_what_is_wrong(spec, message):
    with pytest.raises(CnnconvError, match=message) as info:
        parse_imagemagick(spec)
    assert "\n" not in str(info.value)
