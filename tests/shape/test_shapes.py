"""Integer shape arithmetic against brute-force enumeration of windows and taps.

Golden values: seed 003_def129c27ac6a2b8.txt (output size (n + 2p − f)/s + 1, the
6×6 image with a 3×3 filter giving 4×4, the 7×7 image with stride 2; the transposed
convolution O = (n − 1)·s + k − 2p with the 2×2 kernel on a 2×2 input: 3×3 at stride 1,
4×4 at stride 2).
"""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from cnnconv.errors import CnnconvError
from cnnconv.shape.arithmetic import (
    conv_out_size,
    conv_transpose_out_size,
    full_padding,
    pool_out_size,
    same_padding,
)
from cnnconv.shape.receptive import (
    read_fraction,
    receptive_field_step,
    transposed_receptive_field_step,
    unread_tail,
)

small = st.integers(1, 12)


# ---- slow references: enumerate windows over the padded axis ---------------------------------

def windows(n, k, s, before, after, d):
    """Start positions (in padded coordinates) of every window that fits."""
    span = d * (k - 1) + 1
    return [o for o in range(0, n + before + after) if o % s == 0 and o + span <= n + before + after]


def torch_pool_windows(n, k, s, p, ceil):
    """PyTorch's pooling windows: floor mode keeps windows that fit the padded axis; ceil mode
    also keeps a window overhanging the end by less than a stride, unless it starts in the
    right padding (at or after n + p)."""
    overhang = s - 1 if ceil else 0
    return [o for o in range(0, n + 2 * p + s, s) if o + k <= n + 2 * p + overhang and o < n + p]


# ---- golden values from seed 003 ------------------------------------------------------------

def test_seed_003_output_sizes():
    assert conv_out_size(6, 3) == 4            # 6×6 image, 3×3 filter → 4×4
    assert conv_out_size(7, 3, stride=2) == 3  # the 7×7 strided-convolution example
    assert conv_out_size(32, 5) == 28 and pool_out_size(28, 2) == 14
    assert conv_out_size(14, 5) == 10 and pool_out_size(10, 2) == 5
    assert pool_out_size(4, 2, stride=2) == 2  # "4*4*3 with a 2*2 max pool, stride 2"
    assert conv_out_size(28, 5, padding=2) == 28  # same: p = (f − 1)/2


def test_seed_003_transposed_sizes():
    assert conv_transpose_out_size(2, 2) == 3
    assert conv_transpose_out_size(2, 2, stride=2) == 4
    assert conv_transpose_out_size(4, 3, padding=1) == 4  # padding removes first/last rows


# ---- formulas against enumeration -------------------------------------------------------------

@given(small, st.integers(1, 5), st.integers(1, 4), st.integers(0, 3), st.integers(0, 3), st.integers(1, 3))
def test_conv_out_size_counts_the_windows_that_fit(n, k, s, before, after, d):
    expected = len(windows(n, k, s, before, after, d))
    got = conv_out_size(n, k, s, (before, after), d)
    assert got == expected or (expected == 0 and got <= 0)


@given(small, st.integers(1, 5), st.integers(1, 4), st.integers(1, 3))
def test_same_padding_gives_ceil_n_over_s_with_smaller_half_first(n, k, s, d):
    before, after = same_padding(n, k, s, d)
    assert 0 <= before <= after <= before + 1
    assert conv_out_size(n, k, s, (before, after), d) == -(-n // s)


def test_same_padding_golden():
    assert same_padding(224, 7, 2) == (2, 3)
    assert same_padding(5, 4) == (1, 2)
    assert full_padding(3, 2) == (4, 4)


@given(small, st.integers(1, 5), st.integers(1, 4), st.data(), st.booleans())
def test_pool_out_size_is_pytorchs_rule(n, k, s, data, ceil):
    p = data.draw(st.integers(0, k // 2))
    expected = len(torch_pool_windows(n, k, s, p, ceil))
    got = pool_out_size(n, k, s, p, ceil_mode=ceil)
    assert got == expected or (expected == 0 and got <= 0)


def test_pool_ceil_mode_drops_a_window_that_starts_in_the_right_padding():
    # n=5, k=2, s=2, p=1: padded length 7; windows at 0, 2, 4 fit, one at 6 would start in
    # the right padding (index 6 = n + p) and is dropped: 3, not ceil(5/2) + 1 = 4.
    assert pool_out_size(5, 2, 2, 1, ceil_mode=True) == 3
    assert pool_out_size(6, 3, 2, 0, ceil_mode=True) == 3 and pool_out_size(6, 3, 2, 0) == 2


@pytest.mark.parametrize("n, k, s, p, ceil, out", [
    # measured once with torch.nn.functional.max_pool2d (torch 2.x; torch is not a test dependency)
    (3, 4, 2, 0, True, 1), (2, 3, 2, 1, False, 1), (2, 3, 2, 1, True, 2), (1, 2, 2, 1, True, 1),
    (3, 4, 4, 0, True, 1), (5, 4, 3, 2, False, 2), (5, 4, 3, 2, True, 3),
])
def test_pool_out_size_matches_torch(n, k, s, p, ceil, out):
    assert pool_out_size(n, k, s, p, ceil_mode=ceil) == out


@pytest.mark.parametrize("n, k, s, ceil", [(3, 4, 2, False), (1, 2, 1, False), (1, 2, 1, True), (3, 4, 4, False)])
def test_pool_out_size_is_empty_where_torch_refuses(n, k, s, ceil):
    assert pool_out_size(n, k, s, 0, ceil_mode=ceil) <= 0


def test_pool_padding_limit():
    with pytest.raises(CnnconvError, match="kernel_size // 2"):
        pool_out_size(8, 2, padding=2)


@given(st.integers(1, 8), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2), st.data())
def test_transposed_size_is_the_scatter_extent(n, k, s, p, d, data):
    op = data.draw(st.integers(0, max(s, d) - 1))
    # scatter: input i writes outputs i*s + t*d; then p is cut from each side, op added at the end
    extent = (n - 1) * s + d * (k - 1) + 1
    assert conv_transpose_out_size(n, k, s, p, op, d) == extent - 2 * p + op
    # ... and it is an input size that the matching correlation maps back to n
    out = conv_transpose_out_size(n, k, s, p, op, d)
    if out >= 1 and op < s:
        assert conv_out_size(out, k, s, p, d) == n


def test_transposed_output_padding_limit():
    with pytest.raises(CnnconvError, match="output_padding"):
        conv_transpose_out_size(4, 3, stride=2, output_padding=2)


# ---- receptive fields: exact index sets in 1-D ------------------------------------------------

def conv_inputs(o, k, s, p, d):
    return {o * s - p + t * d for t in range(k)}


def tconv_inputs(o, k, s, p, d):
    return {(o + p - t * d) // s for t in range(k) if (o + p - t * d) % s == 0}


def field(layers, o):
    """Input indices (padding ones included) that output ``o`` of the last layer depends on."""
    current = {o}
    for kind, k, s, p, d in reversed(layers):
        step = conv_inputs if kind == "conv" else tconv_inputs
        current = set().union(*(step(i, k, s, p, d) for i in current))
    return current


layer_st = st.tuples(st.sampled_from(["conv", "conv", "tconv"]), st.integers(1, 4), st.integers(1, 3),
                     st.integers(0, 2), st.integers(1, 2))


def chain(layers):
    rf, jump, start = 1, 1, 0
    for kind, k, s, p, d in layers:
        step = receptive_field_step if kind == "conv" else transposed_receptive_field_step
        rf, jump, start = step(rf, jump, start, k, s, p, d)
    return rf, jump, start


@given(st.lists(layer_st.filter(lambda l: l[0] == "conv"), min_size=1, max_size=4))
def test_receptive_field_recurrence_matches_the_index_sets(layers):
    rf, jump, start = chain(layers)
    first, second = field(layers, 0), field(layers, 1)
    assert rf == max(first) - min(first) + 1
    assert start == min(first)
    assert jump == min(second) - min(first)


@given(st.lists(layer_st, min_size=1, max_size=4))
def test_transposed_receptive_field_is_a_safe_bound(layers):
    rf, _, _ = chain(layers)
    widest = max((max(f) - min(f) + 1 for f in (field(layers, o) for o in range(12)) if f), default=0)
    assert widest <= rf


def test_transposed_receptive_field_is_tight_for_one_layer():
    for k, s, p in [(3, 2, 1), (4, 2, 1), (2, 2, 0), (5, 1, 0), (3, 3, 0), (4, 3, 2)]:
        rf, jump, start = transposed_receptive_field_step(1, 1, 0, k, s, p)
        assert rf == max(len(field([("tconv", k, s, p, 1)], o)) for o in range(10))
        assert start == min(field([("tconv", k, s, p, 1)], 0))  # first input the first output reads


def test_distill_closed_form_for_vgg16():
    # r0 = sum (k_l − 1) prod_{i<l} s_i + 1 (Araujo et al. 2019): VGG16 reaches 212 at pool5
    rf, jump, start = 1, 1, 0
    for block in (2, 2, 3, 3, 3):
        for _ in range(block):
            rf, jump, start = receptive_field_step(rf, jump, start, 3, 1, 1)
        rf, jump, start = receptive_field_step(rf, jump, start, 2, 2, 0)
    assert (rf, jump, start) == (212, 32, -90)


# ---- pixels never read --------------------------------------------------------------------------

@given(small, st.integers(1, 5), st.integers(1, 4), st.integers(0, 3), st.integers(0, 3), st.integers(1, 3))
def test_unread_tail_against_enumeration(n, k, s, before, after, d):
    out = conv_out_size(n, k, s, (before, after), d)
    if out < 1:
        return
    read = set().union(*(conv_inputs(o, k, s, before, d) for o in range(out)))
    last_read = max(read)
    real = sum(1 for i in range(n) if i > last_read)
    padding = sum(1 for i in range(n, n + after) if i > last_read)
    assert unread_tail(n, out, k, s, (before, after), d) == (real, padding)


def test_alexnet_conv1_loses_a_column_on_224_but_not_on_227():
    assert unread_tail(224, conv_out_size(224, 11, 4), 11, 4) == (1, 0)
    assert unread_tail(227, conv_out_size(227, 11, 4), 11, 4) == (0, 0)


@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4))
def test_read_fraction_against_enumeration(k, s, d):
    residues = {(o * s + t * d) % s for o in range(s) for t in range(k)}
    assert read_fraction(k, s, d) == (len(residues), s)


def test_huge_sizes_cost_nothing():
    assert read_fraction(3, 10**9, 1) == (3, 10**9)
    assert conv_out_size(10**9, 10**9 - 1) == 2
    assert receptive_field_step(1, 10**9, 0, 10**9, 10**9)[1] == 10**18
