"""Kernel parsers, parametric kernels and kernel facts (the pure core, no files)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnconv.errors import CnnconvError
from cnnconv.kernels import Kernel, closest_name, kernel_info, parse_inline, parse_kernel_text, parse_vips_mat
from cnnconv.kernels.parametric import MAX_SIZE, dog, gaussian, is_parametric, log, parse_parametric

# ---- text matrix format ----------------------------------------------------------------------


def test_text_format_with_description_scale_and_offset():
    text = "# my blur\n# a second comment\n1 2 1\n2\t4\t2\n1, 2, 1   # trailing comment\n\nscale 1/16\noffset = 0.5\n"
    k = parse_kernel_text(text, "blur.txt", name="blur")
    assert (k.name, k.description, k.scale, k.offset) == ("blur", "my blur", 1 / 16, 0.5)
    assert k.weights.tolist() == [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
    assert k.weights.dtype == np.float64 and k.effective().sum() == 1.0


def test_bom_crlf_and_cr_line_endings_are_accepted():
    expected = [[1.0, 0.0], [0.0, -1.0]]
    assert parse_kernel_text("\ufeff1 0\r\n0 -1\r\n", "k.txt").weights.tolist() == expected
    assert parse_kernel_text("1 0\r0 -1\r", "k.txt").weights.tolist() == expected


def test_unicode_minus_and_exponents():
    assert parse_kernel_text("\u22121 2.5e-1 .5 +3.\n", "k.txt").weights.tolist() == [[-1, 0.25, 0.5, 3]]


def test_three_d_slices():
    k = parse_kernel_text("1 2\n3 4\n---\n5 6\n7 8\n", "k.txt")
    assert k.shape == (2, 2, 2)
    assert k.weights[:, :, 0].tolist() == [[1, 2], [3, 4]] and k.weights[:, :, 1].tolist() == [[5, 6], [7, 8]]
    assert kernel_info(k)["separable"] is None and kernel_info(k)["size"] == "2x2x2"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "k.txt: no kernel values found"),
        ("# only a comment\n\n", "k.txt: no kernel values found"),
        ("1 2 3\n4 5\n", "k.txt line 2: row has 2 values, expected 3"),
        ("1 2 3\n\n# c\n4 5 6 7\n", "k.txt line 4: row has 4 values, expected 3"),
        ("1 2\n3 x\n", "k.txt line 2: 'x' is not a number"),
        ("1 2\n3 0x10\n", "k.txt line 2: '0x10' is not a number"),
        ("1 nan\n", "k.txt line 1: 'nan' is not a finite number"),
        ("1 -inf\n", "k.txt line 1: '-inf' is not a finite number"),
        ("1 Infinity\n", "k.txt line 1: 'Infinity' is not a finite number"),
        ("1 1e999\n", "k.txt line 1: '1e999' is too large"),
        ("1,,2\n", "k.txt line 1: empty value between commas"),
        ("1 2\nscale 0\n", "k.txt: scale must not be 0"),
        ("1 2\nscale 1/0\n", "k.txt line 2: division by zero in '1/0'"),
        ("1 2\nscale two\n", "k.txt line 2: 'two' is not a number"),
        ("1 2\noffset\n", "k.txt line 2: offset needs a value, like 'offset 128'"),
        ("1 2\nscale 2\nscale 3\n", "k.txt line 3: a second scale line"),
        ("---\n1 2\n", "k.txt line 1: '---' must follow the rows of a slice"),
        ("1 2\n---\n", "k.txt: nothing after the last '---'"),
        ("1 2\n---\n3 4\n5 6\n", "same number of rows, got 1, 2"),
        ("1 2\n---\n3 4 5\n", "k.txt line 3: row has 3 values, expected 2"),
    ],
)
def test_malformed_text_names_the_line(text, message):
    with pytest.raises(CnnconvError) as err:
        parse_kernel_text(text, "k.txt")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


# ---- libvips .mat ------------------------------------------------------------------------------


def test_vips_mat_scale_divides_and_offset_adds():
    k = parse_vips_mat("3 3 16 128\n1 2 1\n2 4 2\n1 2 1\n", "g.mat")
    assert k.scale == 1 / 16 and k.offset == 128 and k.shape == (3, 3)
    assert parse_vips_mat("2 1\n1 -1\n", "d.mat").scale == 1.0


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "k.mat: empty file"),
        ("3\n1 2 3\n", "k.mat line 1: header must be 'W H [scale [offset]]'"),
        ("3 0\n", "header must be"),
        ("2.5 1\n1 2\n", "header must be"),
        ("3 2\n1 2 3\n", "k.mat: the header says 2 rows (W H = 3 2), found 1"),
        ("3 1\n1 2 3\n4 5 6\n", "the header says 1 rows (W H = 3 1), found 2"),
        ("3 1\n1 2\n", "k.mat line 2: row has 2 values, the header says W = 3"),
        ("2 1 0\n1 2\n", "k.mat line 1: scale must not be 0"),
        ("2 1\n1 nan\n", "k.mat line 2: 'nan' is not a finite number"),
    ],
)
def test_malformed_vips_mat(text, message):
    with pytest.raises(CnnconvError) as err:
        parse_vips_mat(text, "k.mat")
    assert message in str(err.value)


# ---- inline ------------------------------------------------------------------------------------


def test_inline_forms():
    assert parse_inline("1,2,1; 0,0,0; -1,-2,-1").shape == (3, 3)
    assert parse_inline("1 2 1").weights.tolist() == [[1, 2, 1]]
    assert parse_inline("0.5;").weights.tolist() == [[0.5]]


@pytest.mark.parametrize(
    "text, message",
    [
        ("1,2;3", "row 2 has 1 value, expected 2"),
        ("1,2;;3,4", "row 2 is empty"),
        ("1,a", "'a' is not a number"),
        ("1,nan", "'nan' is not a finite number"),
        ("", "row 1 is empty"),
    ],
)
def test_malformed_inline(text, message):
    with pytest.raises(CnnconvError, match=message):
        parse_inline(text)


# ---- parametric --------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.4, 2.0, 3.3])
def test_gaussian_sums_to_one_and_is_separable(sigma):
    k = gaussian(sigma)
    assert k.shape == (2 * int(np.ceil(3 * sigma)) + 1,) * 2
    assert k.effective().sum() == pytest.approx(1.0, abs=1e-12)
    info = kernel_info(k)
    assert info["separable"] and info["rank"] == 1
    np.testing.assert_allclose(k.weights, k.weights.T)
    assert k.weights.argmax() == k.weights.size // 2


def test_gaussian_matches_its_formula():
    k = gaussian(1.0, size=3)
    g = np.exp(-np.array([1.0, 0.0, 1.0]) / 2)
    np.testing.assert_allclose(k.weights, np.outer(g, g) / np.outer(g, g).sum())


@pytest.mark.parametrize("spec", ["log:sigma=1.4", "log:0.7,size=9", "dog:1,2", "dog:sigma1=2,sigma2=1,size=7"])
def test_log_and_dog_sum_to_zero(spec):
    k = parse_parametric(spec)
    assert abs(k.effective().sum()) < 1e-12
    assert kernel_info(k)["sum"] == 0.0


def test_log_is_negative_at_the_centre_and_dog_positive():
    assert log(1.4).weights[6, 6] < 0 and log(1.4).shape == (13, 13)
    assert dog(1, 2).weights[8, 8] > 0 and dog(1, 2).shape == (17, 17)


def test_box():
    k = parse_parametric("box:7")
    assert k.shape == (7, 7) and k.effective().sum() == pytest.approx(1.0) and k.scale == 1 / 49
    assert parse_parametric("box:size=2").shape == (2, 2)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("gaussian:", "gaussian needs sigma (write it as gaussian:sigma=S[,size=N])"),
        ("gaussian:sigma=abc", "sigma must be a number, got 'abc'"),
        ("gaussian:sigma=0", "sigma must be a number from 0.01 to 1e+06, got 0"),
        ("gaussian:sigma=nan", "sigma must be a number from 0.01 to 1e+06"),
        ("gaussian:sigma=-1", "sigma must be a number from 0.01 to 1e+06"),
        ("gaussian:sigma=1e5", "needs a 600001x600001 kernel, larger than 1001x1001; give a size"),
        ("gaussian:radius=2", "unknown parameter 'radius' for gaussian; it takes sigma, size"),
        ("gaussian:2,sigma=3", "sigma is given twice"),
        ("gaussian:1,size=2.5", "size must be a whole number, got '2.5'"),
        ("gaussian:1,size=0", "size must be a whole number from 1 to 1001, got 0"),
        ("box:3,4", "box takes at most 1 values (size)"),
        ("box:1e9", f"from 1 to {MAX_SIZE}, got 1000000000"),
        ("box:", "box needs size"),
        ("dog:1", "dog needs sigma2"),
        ("dog:1,1", "dog needs two different sigmas, got 1 twice"),
        ("dog:0.01,0.02,size=1", "is all zeros"),
        ("log:sigma=1,size=inf", "size must be a whole number, got 'inf'"),
    ],
)
def test_bad_parametric_specs(spec, message):
    with pytest.raises(CnnconvError) as err:
        parse_parametric(spec)
    assert message in str(err.value) and str(err.value).startswith(f"kernel {spec!r}")


def test_is_parametric():
    assert is_parametric("Gaussian:sigma=2") and is_parametric("dog:1,2")
    assert not is_parametric("gaussian3") and not is_parametric("c:/k.txt") and not is_parametric("box3")


# ---- the Kernel record and kernel_info ----------------------------------------------------------


def test_kernel_is_frozen_and_its_weights_read_only():
    k = Kernel("k", [[1, 2]])
    with pytest.raises(AttributeError):
        k.name = "other"
    with pytest.raises(ValueError):
        k.weights[0, 0] = 5
    assert k == Kernel("k", np.array([[1.0, 2.0]])) and k != Kernel("k", [[1, 3]])


@pytest.mark.parametrize(
    "weights, kwargs, message",
    [
        ([], {}, "non-empty 2-D or 3-D array, got shape (0,)"),
        ([1, 2], {}, "got shape (2,)"),
        ([[1, np.nan]], {}, "finite numbers"),
        ([[1]], {"scale": 0}, "scale must not be 0"),
        ([[1]], {"offset": np.inf}, "offset must be a finite number"),
        ([[1]], {"scale": "x"}, "scale must be a finite number, got 'x'"),
        ([[1, 2], [3]], {}, "weights must be a rectangular array of real numbers"),
        ([[1j]], {}, "weights must be a rectangular array of real numbers"),
        ([["a"]], {}, "weights must be a rectangular array of real numbers"),
    ],
)
def test_kernel_refuses_bad_weights(weights, kwargs, message):
    with pytest.raises(CnnconvError) as err:
        Kernel("k", weights, **kwargs)
    assert message in str(err.value)


def test_kernel_info_rank_and_separability():
    assert kernel_info(Kernel("s", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]))["rank"] == 1
    lap = kernel_info(Kernel("l", [[0, 1, 0], [1, -4, 1], [0, 1, 0]]))
    assert (lap["separable"], lap["rank"], lap["sum"]) == (False, 2, 0.0)
    zero = kernel_info(Kernel("z", [[0.0, 0.0]]))
    assert zero["rank"] == 0 and zero["separable"]


def test_closest_name():
    names = ["sobel-x", "sobel-y", "laplacian", "laplacian-8", "box3"]
    assert closest_name("sobelx", names) == "sobel-x"
    assert closest_name("Laplacien", names) == "laplacian"
    assert closest_name("zzzz", names) is None


# ---- fuzz: a Kernel or CnnconvError, never another exception ------------------------------------

_TOKENS = list("0123456789 \t,;.-+eE#/\n\r\ufeff\u2212x=:") + ["---\n", "nan", "inf", "1e400", "scale ", "offset "]
_KERNELISH = st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join)


@given(st.one_of(st.text(), _KERNELISH))
def test_fuzz_parse_kernel_text(text):
    try:
        k = parse_kernel_text(text, "fuzz.txt")
    except CnnconvError:
        return
    assert np.isfinite(k.weights).all() and k.scale != 0


@given(st.one_of(st.text(), _KERNELISH))
def test_fuzz_parse_inline_and_vips(text):
    for parse in (parse_inline, lambda t: parse_vips_mat(t, "fuzz.mat")):
        try:
            k = parse(text)
        except CnnconvError:
            continue
        assert np.isfinite(k.weights).all()


@given(
    st.sampled_from(["gaussian", "box", "log", "dog", "Gaussian"]),
    st.lists(st.sampled_from(list("0123456789.,=-e") + ["sigma", "size", "sigma1", "sigma2", "nan", "inf"]), max_size=12).map("".join),
)
def test_fuzz_parametric(kind, rest):
    try:
        k = parse_parametric(f"{kind}:{rest}")
    except CnnconvError:
        return
    assert max(k.shape) <= MAX_SIZE and np.isfinite(k.weights).all()
