"""Alpha weighting: an opaque image filters as its RGB copy, transparent pixels add no colour,
zero-sum kernels stay bounded; one case computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from cnnconv.image import FilterSettings, Geometry, PoolSettings, filter_image, pool_image
from cnnconv.kernels import Kernel

RNG = np.random.default_rng(5)
KERNELS = {
    "sobel-x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "blur": [[1, 2, 1], [2, 4, 2], [1, 2, 1]],
    "odd": [[0.3, -1.7, 2.0, 0.1, 0.05]],
}


@pytest.mark.parametrize("boundary", ["zero", "constant", "edge", "reflect", "mirror", "wrap"])
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_an_opaque_image_filters_exactly_as_its_rgb_copy_with_an_opaque_alpha(name, boundary):
    rgb = RNG.integers(0, 256, (11, 13, 3)).astype(np.uint8)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    settings = FilterSettings((Kernel(name, KERNELS[name]),), geometry=Geometry(boundary=boundary, cval=9.0 if boundary == "constant" else 0.0))
    (plain,) = filter_image(rgb, settings)
    (weighted,) = filter_image(rgba, settings)
    np.testing.assert_array_equal(weighted.samples[..., :3], plain.samples)
    assert (weighted.samples[..., 3] == 255).all()
    assert (weighted.report.min, weighted.report.max) == (plain.report.min, plain.report.max)


@pytest.mark.parametrize("mode", ["full", "valid"])
def test_an_opaque_image_stays_its_rgb_copy_in_full_and_valid_mode(mode):
    rgb = RNG.random((6, 7, 3))
    rgba = np.dstack([rgb, np.ones(rgb.shape[:2])])
    settings = FilterSettings((Kernel("s", KERNELS["sobel-x"]),), geometry=Geometry(mode=mode))
    (plain,) = filter_image(rgb, settings, dtype=None)
    (weighted,) = filter_image(rgba, settings, dtype=None)
    np.testing.assert_array_equal(weighted.samples[..., :3], plain.samples)
    np.testing.assert_array_equal(weighted.samples[..., 3], 1.0)


def test_the_hand_computed_case():
    # gray 100, 50, 200 with alpha 1, 0.5, 0 and the derivative [-1, 0, 1], zero boundary (opaque 0):
    # |w|/sum|w| = [0.5, 0, 0.5]
    # left:   coverage 0.5*1 + 0.5*0.5 = 0.75, F(a x) = -0 + 0.5*50   =   25 -> 33.33
    # middle: coverage 0.5*1 + 0.5*0   = 0.5,  F(a x) = -100 + 0*200  = -100 -> -200
    # right:  coverage 0.5*0.5 + 0.5*1 = 0.75, F(a x) = -0.5*50 + 0   =  -25 -> -33.33
    samples = np.array([[[100.0, 1.0], [50.0, 0.5], [200.0, 0.0]]])
    (out,) = filter_image(samples, FilterSettings((Kernel("d", [[-1, 0, 1]]),)), has_alpha=True, dtype=None)
    np.testing.assert_allclose(out.samples[0, :, 0], [100 / 3, -200, -100 / 3])
    np.testing.assert_allclose(out.samples[0, :, 1], [0.75, 0.5, 0.75])


def test_transparent_pixels_add_no_colour():
    rgba = RNG.integers(0, 256, (9, 9, 4)).astype(np.uint8)
    rgba[:, 4:, 3] = 0
    other = rgba.copy()
    other[:, 4:, :3] = RNG.integers(0, 256, (9, 5, 3))  # the colour hidden under alpha 0 changes
    settings = FilterSettings((Kernel("blur", KERNELS["blur"]),), geometry=Geometry(boundary="edge"))
    (a,), (b,) = filter_image(rgba, settings), filter_image(other, settings)
    seen = a.samples[..., 3] > 0
    assert seen[:, :5].all() and not seen[:, 6:].any()
    np.testing.assert_array_equal(a.samples[seen], b.samples[seen])  # every visible pixel is unchanged
    np.testing.assert_array_equal(b.samples[:, 6:, 3], 0)


def test_zero_sum_kernels_stay_within_the_plain_filters_bound():
    rgba = RNG.integers(0, 256, (20, 20, 4)).astype(np.uint8)
    rgba[..., 3] = RNG.choice([0, 1, 2, 255], size=(20, 20))  # nearly transparent pixels beside opaque ones
    for name in ("sobel-x", "laplacian", "odd"):
        w = np.asarray(KERNELS[name], float)
        (out,) = filter_image(rgba, FilterSettings((Kernel(name, w),)), dtype=None)
        bound = np.abs(w).sum() * 255
        assert np.isfinite(out.samples).all()
        assert np.abs(out.samples[..., :3]).max() <= bound * (1 + 1e-6), name


def test_average_pooling_of_an_opaque_image_is_its_rgb_copys_with_counted_padding_too():
    rgb = RNG.integers(0, 256, (7, 9, 3)).astype(np.uint8)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    for settings in (PoolSettings(size=3, op="avg", padding=1), PoolSettings(size=3, op="avg", padding=1,
                                                                             count_include_pad=True, ceil_mode=True)):
        np.testing.assert_array_equal(pool_image(rgba, settings).samples[..., :3], pool_image(rgb, settings).samples)
        assert (pool_image(rgba, settings).samples[..., 3] == 255).all()
