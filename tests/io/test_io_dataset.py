"""Folder data sets: layouts, splitting, decoding, channels, sizes, corrupt files, clear errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st
from PIL import Image

from cnnconv.errors import CnnconvError
from cnnconv.io.dataset import (
    channel_stats,
    decode_image,
    find_layout,
    load_dataset,
    load_eval_set,
    load_for_model,
    standardise,
    stratified_split,
)


def write_gray(path, value, size=(8, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, dtype=np.uint8), "L").save(path)


def image_folder(root, classes=("a", "b", "c"), per_class=10, size=(8, 8)):
    for k, name in enumerate(classes):
        for i in range(per_class):
            write_gray(root / name / f"{i:02d}.png", 20 * k + i, size)
    return root


def test_image_folder_layout_is_split_stratified_and_scaled(tmp_path):
    data = load_dataset(image_folder(tmp_path), val_split=0.2, seed=0)
    assert data.class_names == ["a", "b", "c"]
    assert data.channels == "gray" and data.validation == "split"
    assert data.x_train.shape == (24, 8, 8, 1) and data.x_val.shape == (6, 8, 8, 1)
    assert np.bincount(data.y_val).tolist() == [2, 2, 2]
    assert data.x_train.dtype == np.float32
    # every pixel of image i of class k is 20k + i: the labels and the scaling agree
    values = np.rint(data.x_train[:, 0, 0, 0] * 255).astype(int)
    assert ((values // 20) == data.y_train).all()
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0


def test_mean_and_std_come_from_the_training_part_only(tmp_path):
    data = load_dataset(image_folder(tmp_path), val_split=0.3, seed=1)
    assert np.allclose(data.mean, data.x_train.mean(), atol=1e-6)
    assert np.allclose(data.std, data.x_train.std(), atol=1e-6)
    z = standardise(data.x_train, data.mean, data.std)
    assert abs(float(z.mean())) < 1e-4 and abs(float(z.std()) - 1) < 1e-3


def test_the_same_seed_gives_the_same_split_and_another_seed_another(tmp_path):
    root = image_folder(tmp_path, per_class=12)
    a, b, c = (load_dataset(root, seed=s, val_split=0.25) for s in (3, 3, 4))
    assert np.array_equal(a.x_val, b.x_val) and np.array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.x_val, c.x_val)


@given(st.lists(st.integers(0, 4), min_size=1, max_size=60), st.floats(0.01, 0.99), st.integers(0, 99))
def test_stratified_split_partitions_and_keeps_every_class_on_both_sides(labels, fraction, seed):
    labels = np.array(labels)
    train, val = stratified_split(labels, fraction, seed)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(labels)))
    for k in np.unique(labels):
        members = int((labels == k).sum())
        assert (labels[train] == k).sum() >= 1
        assert (labels[val] == k).sum() == (0 if members < 2 else max(1, min(members - 1, round(members * fraction))))


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, float("nan")])
def test_a_split_fraction_outside_0_1_is_refused(fraction):
    with pytest.raises(CnnconvError, match="val_split"):
        stratified_split(np.array([0, 1]), fraction, 0)


@pytest.mark.parametrize("held_out", ["test", "val"])
def test_train_and_test_folders_are_used_as_given(tmp_path, held_out):
    image_folder(tmp_path / "train", per_class=5)
    image_folder(tmp_path / held_out, classes=("a", "c"), per_class=2)
    data = load_dataset(tmp_path)
    assert data.validation == held_out
    assert len(data.y_train) == 15 and data.y_val.tolist() == [0, 0, 2, 2]


def test_a_test_class_unknown_to_training_is_an_error(tmp_path):
    image_folder(tmp_path / "train", classes=("a", "b"), per_class=2)
    image_folder(tmp_path / "test", classes=("a", "zebra"), per_class=1)
    with pytest.raises(CnnconvError, match="'zebra'"):
        find_layout(tmp_path)


def test_channels_default_to_rgb_when_any_image_is_in_colour(tmp_path):
    image_folder(tmp_path, classes=("a", "b"), per_class=3)
    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / "b" / "red.png")
    data = load_dataset(tmp_path, val_split=0.3)
    assert data.channels == "rgb" and data.x_train.shape[-1] == 3
    grays = np.concatenate([data.x_train, data.x_val])
    reds = grays[(grays[..., 0] != grays[..., 1]).any(axis=(1, 2))]
    assert len(reds) == 1 and np.allclose(reds[0, 0, 0] * 255, [200, 10, 10])


def test_a_colour_file_holding_a_gray_picture_counts_as_gray(tmp_path):
    Image.new("RGB", (4, 4), (90, 90, 90)).save(tmp_path / "g.png")
    assert decode_image(tmp_path / "g.png", None, None).shape == (4, 4)


def test_gray_is_forced_with_pillows_luma_conversion(tmp_path):
    Image.new("RGB", (4, 4), (200, 10, 10)).save(tmp_path / "red.png")
    expected = np.asarray(Image.new("RGB", (4, 4), (200, 10, 10)).convert("L"))
    assert np.array_equal(decode_image(tmp_path / "red.png", "gray", None), expected)


def test_sixteen_bit_gray_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.array([[0, 32768], [65535, 65535]], dtype=np.uint16)).save(tmp_path / "deep.png")
    assert decode_image(tmp_path / "deep.png", None, None).tolist() == [[0, 128], [255, 255]]
    assert decode_image(tmp_path / "deep.png", "rgb", None)[..., 1].tolist() == [[0, 128], [255, 255]]


def test_the_exif_orientation_is_honoured(tmp_path):
    img = Image.new("L", (8, 4), 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    img.save(tmp_path / "turned.jpg", exif=exif)
    assert decode_image(tmp_path / "turned.jpg", None, None).shape == (8, 4)


def test_mixed_sizes_without_size_name_the_file(tmp_path):
    image_folder(tmp_path, classes=("a", "b"), per_class=2)
    write_gray(tmp_path / "b" / "big.png", 0, size=(10, 12))
    with pytest.raises(CnnconvError, match=r"big\.png.*10x12.*8x8.*--size"):
        load_dataset(tmp_path)


def test_with_size_every_image_is_resized(tmp_path):
    image_folder(tmp_path, classes=("a", "b"), per_class=2)
    write_gray(tmp_path / "b" / "big.png", 0, size=(10, 12))
    data = load_dataset(tmp_path, size=(5, 6), val_split=0.5)
    assert data.x_train.shape[1:] == (5, 6, 1)


def test_corrupt_files_are_skipped_and_reported(tmp_path):
    image_folder(tmp_path, classes=("a", "b"), per_class=3)
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "b" / "notes.txt").write_text("not an image, and not named like one")
    data = load_dataset(tmp_path, val_split=0.3)
    assert [p.endswith("broken.png") for p, _ in data.skipped] == [True]
    assert data.skipped[0][1]
    assert len(data.y_train) + len(data.y_val) == 6


def test_a_class_whose_files_all_fail_is_an_error(tmp_path):
    image_folder(tmp_path, classes=("a",), per_class=3)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.png").write_bytes(b"")
    with pytest.raises(CnnconvError, match="'b'"):
        load_dataset(tmp_path)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda root: None, "no class folders"),
        (lambda root: write_gray(root / "loose.png", 0), "own sub-folder"),
        (lambda root: image_folder(root, classes=("only",), per_class=3), "1 class .*'only'.*at least 2"),
        (lambda root: (image_folder(root, classes=("a",)), (root / "empty").mkdir()), "empty.* has no images"),
    ],
    ids=["no-images", "loose-images", "one-class", "empty-class"],
)
def test_unusable_folders_get_clear_errors(tmp_path, build, message):
    build(tmp_path)
    with pytest.raises(CnnconvError, match=message):
        load_dataset(tmp_path)


def test_a_missing_data_folder_is_an_error(tmp_path):
    with pytest.raises(CnnconvError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")


def test_progress_is_reported_for_every_file(tmp_path):
    calls = []
    load_dataset(image_folder(tmp_path, per_class=2), val_split=0.5, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 6) for i in range(1, 7)]


def test_resumed_class_order_is_kept(tmp_path):
    data = load_dataset(image_folder(tmp_path, classes=("a", "b")), class_names=["b", "a", "c"], val_split=0.2)
    assert data.class_names == ["b", "a", "c"]
    assert float(data.x_train[data.y_train == 1].max()) < 20 / 255  # class a (values 0..9) is label 1


def test_load_for_model_converts_and_resizes_like_training(tmp_path):
    Image.new("RGB", (12, 10), (200, 10, 10)).save(tmp_path / "red.png")
    image, original = load_for_model(tmp_path / "red.png", "gray", (5, 6))
    assert original == (10, 12) and image.shape == (5, 6, 1) and image.dtype == np.float32
    with pytest.raises(CnnconvError, match="nothing.png"):
        load_for_model(tmp_path / "nothing.png", "gray", (5, 6))


def test_evaluation_uses_the_test_folder_when_there_is_one(tmp_path):
    image_folder(tmp_path / "train", classes=("a", "b"), per_class=3)
    image_folder(tmp_path / "test", classes=("b",), per_class=2)
    x, y, skipped, folder = load_eval_set(tmp_path, ["a", "b"], channels="gray", size=(8, 8))
    assert x.shape == (2, 8, 8, 1) and y.tolist() == [1, 1] and folder.endswith("test") and not skipped
    with pytest.raises(CnnconvError, match="'b'.*not a class of the model"):
        load_eval_set(tmp_path / "test", ["a", "c"], channels="gray", size=(8, 8))


def test_channel_stats_of_a_constant_channel_keep_std_one():
    mean, std = channel_stats(np.full((3, 2, 2, 1), 0.5, dtype=np.float32))
    assert mean.tolist() == [0.5] and std.tolist() == [1.0]


@pytest.mark.parametrize(
    "mode, fmt, colour",
    [("CMYK", "jpeg", True), ("P", "png", True), ("LA", "png", False), ("RGBA", "png", True),
     ("1", "png", False), ("F", "tiff", False), ("L", "bmp", False), ("RGB", "webp", True)],
)
def test_every_common_mode_decodes_to_8_bit_gray_or_rgb(tmp_path, mode, fmt, colour):
    path = tmp_path / f"x.{fmt}"
    image = Image.new("RGB", (6, 5), (250, 30, 30)).convert(mode) if mode != "F" else Image.new("F", (6, 5), 0.5)
    image.save(path)
    native = decode_image(path, None, None)
    assert native.dtype == np.uint8 and native.shape == ((5, 6, 3) if colour else (5, 6))
    assert decode_image(path, "gray", None).shape == (5, 6)
    assert decode_image(path, "rgb", (3, 4)).shape == (3, 4, 3)


@pytest.mark.parametrize("make", [lambda root: root.mkdir(), lambda root: None], ids=["no-class-folders", "missing"])
def test_the_expected_layout_is_shown_with_the_real_folder_name(tmp_path, make):
    root = tmp_path / "DATA"
    make(root)
    with pytest.raises(CnnconvError, match=r"; expected .*/DATA/<class>/\*\.png$"):
        load_dataset(root)
    with pytest.raises(CnnconvError, match=r"; expected .*/DATA/<class>/\*\.png$"):
        load_eval_set(root, ["a", "b"], channels="gray", size=(4, 4))


def test_data_set_images_are_decoded_by_read_image(tmp_path):
    """One decoder: a palette image and an EXIF-turned JPEG come out as read_image gives them."""
    from cnnconv.io.images import read_image

    palette = Image.new("RGB", (5, 4), (200, 10, 10)).convert("P")
    palette.putpixel((0, 0), 1)
    palette.save(tmp_path / "p.png")
    expected, _ = read_image(tmp_path / "p.png")
    assert np.array_equal(decode_image(tmp_path / "p.png", "rgb", None), expected)
    img = Image.new("L", (8, 4), 0)
    img.putpixel((0, 0), 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(tmp_path / "turned.jpg", exif=exif)
    expected, _ = read_image(tmp_path / "turned.jpg")
    assert np.array_equal(decode_image(tmp_path / "turned.jpg", None, None), expected)
    image, original = load_for_model(tmp_path / "turned.jpg", "gray", (2, 2))
    assert original == (8, 4) and image.shape == (2, 2, 1)


def test_the_pixel_limit_skips_a_file_and_names_the_option(tmp_path):
    image_folder(tmp_path, classes=("a", "b"), per_class=3)
    write_gray(tmp_path / "a" / "big.png", 0, size=(10, 12))
    data = load_dataset(tmp_path, size=(8, 8), max_pixels=100)
    assert [(Path(f).name, r) for f, r in data.skipped] == [
        ("big.png", "10x12 (HxW) = 120 pixels is over the limit of 100 that guards against decompression bombs; "
                    "if you trust the file, allow it with --max-pixels 120")]
    assert len(load_dataset(tmp_path, size=(8, 8), max_pixels=None).skipped) == 0
    with pytest.raises(CnnconvError, match=r"big\.png: 10x12 \(HxW\) = 120 pixels is over the limit of 100"):
        load_for_model(tmp_path / "a" / "big.png", "gray", (8, 8), max_pixels=100)


def test_float_images_with_nan_are_refused_without_a_warning(tmp_path):
    """A NaN in a float TIFF is refused as a NaN in a .npy is (a data set skips the file, with a warning)."""
    values = np.array([[0.0, np.nan], [2.0, 1.0]], dtype=np.float32)
    Image.fromarray(values, "F").save(tmp_path / "f.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CnnconvError, match=r"f\.tif: 1 NaN or infinite values"):
            decode_image(tmp_path / "f.tif", None, None)
