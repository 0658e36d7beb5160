"""The kernel origin: which tap lies over each output's pixel (ImageMagick's ``WxH+X+Y``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnconv.conv import conv_plan, convolve, correlate
from cnnconv.errors import CnnconvError
from reference import source_index


def _origin_reference(x, w, origin, stride, dilation, boundary, flip):
    """out[i] = sum_a x[i*s + (a - o)*d] w[a] (correlate), sum_j x[i*s + (o - j)*d] w[j] (convolve)."""
    (h, wd), (kh, kw) = x.shape, w.shape
    out = np.zeros((-(-h // stride[0]), -(-wd // stride[1])))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            total = 0.0
            for a in range(kh):
                for b in range(kw):
                    sign = -1 if flip else 1
                    r = i * stride[0] + sign * (a - origin[0]) * dilation[0]
                    c = j * stride[1] + sign * (b - origin[1]) * dilation[1]
                    si, sj = source_index(r, h, boundary), source_index(c, wd, boundary)
                    if si is not None and sj is not None:
                        total += x[si, sj] * w[a, b]
            out[i, j] = total
    return out


@settings(max_examples=40)
@given(st.data())
def test_origin_matches_the_definition(data):
    h, wd = data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7))
    kh, kw = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    origin = (data.draw(st.integers(0, kh - 1)), data.draw(st.integers(0, kw - 1)))
    stride = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    dilation = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    boundary = data.draw(st.sampled_from(["zero", "edge", "wrap", "reflect"]))
    flip = data.draw(st.booleans())
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x, w = rng.normal(size=(h, wd)), rng.normal(size=(kh, kw))
    fn = convolve if flip else correlate
    got = fn(x, w, origin=origin, stride=stride, dilation=dilation, boundary=boundary)
    want = _origin_reference(x, w, origin, stride, dilation, boundary, flip)
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_default_origin_is_same_mode():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(9, 8))
    for k in ((3, 3), (4, 2), (2, 5)):
        w = rng.normal(size=k)
        centre = tuple((n - 1) // 2 for n in k)
        for fn in (correlate, convolve):
            np.testing.assert_array_equal(fn(x, w, origin=centre), fn(x, w, mode="same"))


def test_impulse_lands_where_imagemagick_puts_it():
    # An impulse at (3, 3) through "3x3+0+0: 1,2,3 4,5,6 7,8,9": measured with ImageMagick
    # 6.9.11 (-morphology Convolve puts the kernel at rows/cols 3..5 as written, Correlate
    # puts it rotated at 1..3).
    x = np.zeros((7, 7))
    x[3, 3] = 1
    w = np.arange(1.0, 10.0).reshape(3, 3)
    conv, corr = convolve(x, w, origin=(0, 0)), correlate(x, w, origin=(0, 0))
    np.testing.assert_array_equal(conv[3:6, 3:6], w)
    np.testing.assert_array_equal(corr[1:4, 1:4], w[::-1, ::-1])
    assert conv.sum() == corr.sum() == w.sum()


def test_origin_errors():
    with pytest.raises(CnnconvError, match="must lie in the kernel"):
        conv_plan((5, 5), (3, 3), origin=(0, 3))
    with pytest.raises(CnnconvError, match="goes with mode 'same', not 'valid'"):
        conv_plan((5, 5), (3, 3), origin=1, mode="valid")
    with pytest.raises(CnnconvError, match="not padding"):
        conv_plan((5, 5), (3, 3), origin=1, padding=1)
    with pytest.raises(CnnconvError, match="origin must be"):
        conv_plan((5, 5), (3, 3), origin=-1)
