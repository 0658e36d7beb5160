"""PNG pictures drawn with Pillow: kernel grids, feature-map grids, learning curves."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from PIL import Image

from cnnconv.errors import CnnconvError
from cnnconv.io.plots import (
    BACKGROUND,
    COLOURS,
    GAP,
    curves_image,
    feature_map_grid,
    feature_map_sheet,
    grid_shape,
    kernel_grid,
    kernel_sheet,
    nearest_bundled,
    nice_ticks,
    save_png,
    tile,
)


def expected_size(n, h, w, zoom):
    rows, cols = grid_shape(n)
    return cols * w * zoom + (cols + 1) * GAP, rows * h * zoom + (rows + 1) * GAP


@given(st.integers(1, 200))
def test_grid_shape_holds_every_cell_and_is_near_square(n):
    rows, cols = grid_shape(n)
    assert rows * cols >= n and (rows - 1) * cols < n and cols - 1 <= rows <= cols


@pytest.mark.parametrize("c_in, c_out, k", [(1, 8, 5), (3, 6, 3), (4, 2, 7), (1, 1, 1)])
def test_kernel_grid_size_follows_the_formula(c_in, c_out, k):
    weights = np.random.default_rng(0).normal(size=(k, k, c_in, c_out))
    zoom = max(1, round(48 / k))
    assert kernel_grid(weights).size == expected_size(c_out, k, k, zoom)


def test_each_gray_kernel_is_scaled_on_its_own_and_enlarged_nearest_neighbour():
    weights = np.zeros((2, 2, 1, 2))
    weights[..., 0, 0] = [[0.0, 1.0], [2.0, 3.0]]
    weights[..., 0, 1] = [[-10.0, -10.0], [-10.0, 10.0]]
    pixels = np.asarray(kernel_grid(weights, zoom=3))
    first = pixels[GAP : GAP + 6, GAP : GAP + 6, 0]
    assert first[:3, :3].tolist() == [[0] * 3] * 3 and (first[3:, 3:] == 255).all()
    assert (first[:3, 3:] == 85).all() and (first[3:, :3] == 170).all()
    second = pixels[GAP : GAP + 6, 2 * GAP + 6 : 2 * GAP + 12, 0]
    assert (second[:3] == 0).all() and (second[3:, 3:] == 255).all()
    assert tuple(pixels[0, 0]) == BACKGROUND


def test_rgb_kernels_are_drawn_in_colour():
    weights = np.zeros((1, 1, 3, 2))
    weights[0, 0, :, 0] = [1.0, 0.0, 0.0]   # responds to red
    weights[0, 0, :, 1] = [0.0, 0.0, 1.0]   # responds to blue
    pixels = np.asarray(kernel_grid(weights, zoom=4))
    assert tuple(pixels[GAP, GAP]) == (255, 0, 0)
    assert tuple(pixels[GAP, 2 * GAP + 4]) == (0, 0, 255)


def test_kernel_grid_refuses_other_shapes():
    with pytest.raises(CnnconvError, match="C_in x C_out"):
        kernel_grid(np.zeros((3, 3)))


def test_feature_maps_are_a_grid_with_a_constant_map_mid_gray():
    maps = np.zeros((6, 4, 3))
    maps[..., 1] = np.arange(24).reshape(6, 4)
    image = feature_map_grid(maps, zoom=2)
    assert image.size == expected_size(3, 6, 4, 2)
    pixels = np.asarray(image)
    assert (pixels[GAP : GAP + 12, GAP : GAP + 8] == 128).all()
    second = pixels[GAP : GAP + 12, 2 * GAP + 8 : 2 * GAP + 16, 0]
    assert second[0, 0] == 0 and second[-1, -1] == 255


def test_tile_of_nothing_is_an_error():
    with pytest.raises(CnnconvError, match="nothing to draw"):
        tile([], 1)


@given(st.floats(-1e6, 1e6), st.floats(0, 1e6))
def test_nice_ticks_cover_the_range_with_equal_round_steps(lo, span):
    hi = lo + span
    ticks = nice_ticks(lo, hi)
    steps = np.diff(ticks)
    # covered up to a millionth of a step (invisible on any plot)
    assert ticks[0] <= lo + 1e-6 * steps[0] and ticks[-1] >= hi - 1e-6 * steps[0]
    assert 2 <= len(ticks) <= 13 and np.allclose(steps, steps[0], rtol=1e-6)
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
    assert min(abs(mantissa - m) for m in (1, 2, 2.5, 5, 10)) < 1e-6


def colour_pixels(image, colour):
    return int((np.asarray(image) == colour).all(axis=2).sum())


def test_curves_have_both_panels_lines_and_a_legend():
    image = curves_image({"train": [1.0, 0.6, 0.4]}, {"train": [0.5, 0.7, 0.9], "validation": [0.4, 0.6, 0.8]})
    assert image.size == (960, 360) and image.mode == "RGB"
    left, right = image.crop((0, 0, 480, 360)), image.crop((480, 0, 960, 360))
    assert colour_pixels(left, COLOURS[0]) > 100 and colour_pixels(left, COLOURS[1]) == 0
    assert colour_pixels(right, COLOURS[0]) > 100 and colour_pixels(right, COLOURS[1]) > 100
    assert colour_pixels(image, (0, 0, 0)) > 500  # axes, ticks and labels


def test_curves_survive_one_epoch_nan_and_missing_values():
    image = curves_image({"train": [float("nan")]}, {"train": [0.5], "validation": [None]}, size=(400, 200))
    assert image.size == (400, 200)
    curves_image({"train": [1.0, float("inf"), 0.5]}, {"train": [0.1, 0.2, 0.3]})


def test_save_png_writes_a_valid_png_atomically(tmp_path):
    target = tmp_path / "k.png"
    save_png(kernel_grid(np.ones((3, 3, 1, 4))), target)
    with Image.open(target) as img:
        img.verify()
    with Image.open(target) as img:
        assert img.format == "PNG" and img.size == expected_size(4, 3, 3, 16)
    assert [p.name for p in tmp_path.iterdir()] == ["k.png"]


def test_training_plots_skip_kernels_of_a_network_without_convolutions(tmp_path):
    from cnnconv.io.plots import save_training_plots
    from cnnconv.nn.model import build_network

    history = [{"epoch": 1, "loss": 1.0, "train_acc": 0.5, "val_acc": 0.4}]
    written = save_training_plots(tmp_path / "p", build_network("flatten,fc4,relu", (4, 4, 1), 2), history)
    assert [p.name for p in written] == ["curves.png"]
    written = save_training_plots(tmp_path / "q", build_network("conv3x2,relu", (4, 4, 1), 2), history)
    assert [p.name for p in written] == ["kernels.png", "curves.png"]
    (tmp_path / "file").write_text("")
    with pytest.raises(CnnconvError, match="cannot create the plots folder"):
        save_training_plots(tmp_path / "file" / "sub", build_network("flatten", (2, 2, 1), 2), history)


def test_nearest_bundled_finds_the_kernel_a_learned_one_resembles():
    sobel = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    name, score, weights = nearest_bundled(sobel + np.random.default_rng(0).normal(scale=0.05, size=(3, 3)))
    assert name == "sobel-x" and 0.98 < score <= 1.0 and np.array_equal(weights, sobel)
    name, score, weights = nearest_bundled(-np.pad(sobel, 1))  # a 5x5 kernel holding minus Sobel
    assert name == "-sobel-x" and score == pytest.approx(-1.0) and np.array_equal(weights, -np.pad(sobel, 1))
    assert nearest_bundled(np.zeros((3, 3))) is None
    assert nearest_bundled(np.ones((1, 1))) is None  # every bundled kernel is larger


def test_kernel_sheet_cards_hold_the_learned_and_the_matched_kernel_on_a_signed_scale():
    weights = np.zeros((3, 3, 1, 2))
    weights[..., 0, 0] = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    weights[1, 1, 0, 1] = -4.0
    pixels = np.asarray(kernel_sheet(weights, "layer 1", "conv3x2", side=72))
    zoom, x, y = 24, 8 + 10, 30 + 24  # the first card's learned kernel
    learned = pixels[y : y + 72 : zoom, x : x + 72 : zoom, 0]
    assert learned.tolist() == [[64, 128, 192], [1, 128, 255], [64, 128, 192]]
    bx = 8 + 20 + 72
    assert pixels[y : y + 72 : zoom, bx : bx + 72 : zoom, 0].tolist() == learned.tolist()  # sobel-x, same scale
    second = pixels[y : y + 72 : zoom, 8 + 200 + 8 + 10 :: zoom, 0][:, :3]
    assert second[1, 1] == 1 and second[0, 0] == 128  # a negative centre is black, zeros mid-gray


def test_feature_map_sheet_numbers_every_map_under_its_title():
    sheet = feature_map_sheet(np.zeros((6, 4, 3)), "layer 4: conv5x16")
    grid = feature_map_grid(np.zeros((6, 4, 3)))
    assert sheet.height == grid.height + 22 and sheet.width >= grid.width
    pixels = np.asarray(sheet)
    assert (pixels[:22].min(axis=2) < 60).sum() > 30  # the title
    label = pixels[22 + GAP : 22 + GAP + 11, GAP : GAP + 10]
    assert (label.min(axis=2) > 200).any() and (label == BACKGROUND).all(axis=2).any()  # white "0" on a tab
    assert not (feature_map_sheet(np.zeros((6, 4, 3)), "t", zoom=2).getpixel((GAP + 1, 22 + GAP + 1)) == BACKGROUND)


def test_training_curves_draw_the_validation_loss_beside_the_training_loss(tmp_path):
    from cnnconv.io.plots import save_training_plots
    from cnnconv.nn.model import build_network

    history = [{"epoch": e, "loss": 1.0 / e, "val_loss": 1.2 / e, "train_acc": 0.5, "val_acc": 0.4} for e in (1, 2, 3)]
    net = build_network("conv3x2,relu", (4, 4, 1), 2)
    save_training_plots(tmp_path / "p", net, history)
    with Image.open(tmp_path / "p" / "curves.png") as img:
        loss_panel = img.convert("RGB").crop((0, 0, 480, 360))
    assert colour_pixels(loss_panel, COLOURS[0]) > 100 and colour_pixels(loss_panel, COLOURS[1]) > 100
    without = [dict(h, val_loss=None) for h in history]
    save_training_plots(tmp_path / "q", net, without)
    with Image.open(tmp_path / "q" / "curves.png") as img:
        assert colour_pixels(img.convert("RGB").crop((0, 0, 480, 360)), COLOURS[1]) == 0
