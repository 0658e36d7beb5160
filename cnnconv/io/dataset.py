"""Folder data sets: find the images of each class, decode them once, make them one array.

Two layouts are understood, the ones users already have:

* ``root/<class>/*.png`` (the ImageFolder convention), split into training and validation
  images by a stratified, seeded ``val_split``;
* ``root/train/<class>/...`` with ``root/test/<class>/...`` (or ``root/val/``) beside it.

Every image is converted to one channel count (``"gray"`` or ``"rgb"``) and one size, and
scaled to [0, 1]. Files that do not decode are skipped and reported, never fatal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnconv.errors import CnnconvError
from cnnconv.io._decode import Progress, decode_image, decode_many, load_for_model, to_channels  # noqa: F401
from cnnconv.io.formats import DEFAULT_MAX_PIXELS, describe_suffixes, input_files, input_kind
#: Names of the held-out folder beside ``train/``, in order of preference.
HELD_OUT_FOLDERS = ("test", "val")


@dataclass
class FolderDataset:
    """A decoded data set: images N×H×W×C float32 in [0, 1] and integer labels.

    ``mean``/``std`` are the per-channel statistics of the training images (what the model
    standardises with); ``skipped`` lists ``(path, reason)`` for files that did not decode.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    class_names: list[str]
    channels: str
    mean: np.ndarray
    std: np.ndarray
    validation: str
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _is_image(path: Path) -> bool:
    return input_kind(path) == "image" and path.is_file() and not path.name.startswith(".")


def _readable(folder: Path, what: str, listing):
    """``listing()``, with a folder that cannot be listed said so (not taken for one without images)."""
    from cnnconv.io.oserrors import describe

    try:
        return listing()
    except OSError as exc:
        where = Path(exc.filename) if exc.filename is not None else folder
        what = what if where == folder else f"the folder {str(where)!r} in {what}"
        raise CnnconvError(f"{what} {str(folder)!r} cannot be read: {describe(exc)}") from None


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _data_folder(root: str | Path) -> Path:
    """``root`` as a Path, refused by name unless it is a folder (the one check of a data folder)."""
    root = Path(root)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise CnnconvError(f"data folder {str(root)!r} {what}; expected {root}/<class>/*.png")
    _readable(root, "data folder", lambda: os.scandir(root).close())
    return root


def _scan_classes(folder: Path, what: str) -> dict[str, list[Path]]:
    """Map each class folder name under ``folder`` to its image files (sorted)."""
    classes = {d.name: _readable(d, "class folder", lambda d=d: input_files(d, ("image",), recursive=True))
               for d in _readable(folder, what, lambda: _class_dirs(folder))}
    if not classes:
        loose = any(_is_image(p) for p in folder.iterdir())
        hint = " (the images lie loose in it: put each class in its own sub-folder)" if loose else ""
        raise CnnconvError(
            f"{what} {str(folder)!r} has no class folders{hint}; expected {folder}/<class>/*.png"
        )
    empty = [name for name, files in classes.items() if not files]
    if empty:
        raise CnnconvError(
            f"class folder {str(folder / empty[0])!r} has no images "
            f"(looked for {describe_suffixes(('image',))}); add images or remove the folder"
        )
    return classes


def find_layout(root: str | Path) -> tuple[dict[str, list[Path]], dict[str, list[Path]] | None, str]:
    """Find the class folders of a data set.

    Returns
    -------
    train : dict
        Class name -> image paths to train on.
    held_out : dict or None
        Class name -> image paths of ``root/test`` (or ``root/val``); None for the
        ImageFolder layout.
    validation : str
        Where the validation images come from: ``"test"``, ``"val"`` or ``"split"``.
    """
    root = _data_folder(root)
    train_dir = root / "train"
    if train_dir.is_dir() and _class_dirs(train_dir):
        train = _scan_classes(train_dir, "train folder")
        for name in HELD_OUT_FOLDERS:
            if (root / name).is_dir():
                held_out = _scan_classes(root / name, f"{name} folder")
                unknown = sorted(set(held_out) - set(train))
                if unknown:
                    raise CnnconvError(
                        f"class {unknown[0]!r} of {str(root / name)!r} has no folder in "
                        f"{str(train_dir)!r} (training classes: {', '.join(sorted(train))})"
                    )
                return train, held_out, name
        return train, None, "split"
    return _scan_classes(root, "data folder"), None, "split"


def _require_two_classes(classes: dict[str, list], where: str) -> None:
    if len(classes) < 2:
        only = f" (only {next(iter(classes))!r})" if classes else ""
        raise CnnconvError(
            f"{where} has {len(classes)} class{'es' if len(classes) != 1 else ''}{only}; "
            "a classifier needs at least 2 class folders"
        )


def stratified_split(labels: np.ndarray, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a training and a validation part, each class split in the same proportion.

    Every class with at least two images gives at least one to validation and keeps at
    least one for training; the same ``seed`` gives the same split.

    Examples
    --------
    >>> train, val = stratified_split(np.array([0] * 10 + [1] * 10), 0.2, seed=0)
    >>> len(train), len(val), int(np.bincount(np.asarray([0] * 10 + [1] * 10)[val]).min())
    (16, 4, 2)
    """
    if not 0.0 < val_split < 1.0:
        raise CnnconvError(f"val_split must be between 0 and 1 (exclusive), got {val_split}")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val = 0 if len(members) < 2 else min(len(members) - 1, max(1, round(len(members) * val_split)))
        val.extend(members[:n_val].tolist())
        train.extend(members[n_val:].tolist())
    return np.array(sorted(train), dtype=np.int64), np.array(sorted(val), dtype=np.int64)


def parse_channels(name: str | None) -> str | None:
    if name not in (None, "gray", "rgb"):
        raise CnnconvError(f"channels must be 'gray' or 'rgb', got {name!r}")
    return name


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of N×H×W×C images (std 1 where it is ~0).

    Examples
    --------
    >>> m, s = channel_stats(np.array([0.0, 1.0], dtype=np.float32).reshape(2, 1, 1, 1))
    >>> m.tolist(), s.tolist()
    ([0.5], [0.5])
    """
    mean = x.mean(axis=(0, 1, 2), dtype=np.float64)
    std = x.std(axis=(0, 1, 2), dtype=np.float64)
    std = np.where(std > 1e-6, std, 1.0)  # a constant channel carries no information to scale
    return mean.astype(np.float32), std.astype(np.float32)


def standardise(x: np.ndarray, mean, std) -> np.ndarray:
    """``(x - mean) / std`` per channel, float32 (what the model sees).

    Examples
    --------
    >>> standardise(np.ones((1, 1, 1, 1), np.float32), [0.5], [0.25]).ravel().tolist()
    [2.0]
    """
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    return ((x - mean) / std).astype(np.float32, copy=False)


def load_dataset(
    root: str | Path,
    *,
    channels: str | None = None,
    size: tuple[int, int] | None = None,
    val_split: float = 0.1,
    seed: int = 0,
    class_names: list[str] | None = None,
    progress: Progress | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> FolderDataset:
    """Find, decode and split a folder data set.

    ``class_names`` fixes the class order (when resuming a model); by default it is the
    sorted class folder names. ``progress(done, total)`` is called after each file. An
    image of more than ``max_pixels`` pixels (None: no limit) is skipped, not decoded.

    Shape
    -----
    ``x_train`` N×H×W×C, ``y_train`` (N,), likewise the validation part; C is 1 or 3.
    """
    channels = parse_channels(channels)
    train, held_out, validation = find_layout(root)
    where = f"data folder {str(root)!r}"
    _require_two_classes(train, where)
    names = sorted(train) if class_names is None else list(class_names)
    unknown = sorted(set(train) - set(names))
    if unknown:
        raise CnnconvError(
            f"class folder {unknown[0]!r} is not a class of the model (its classes: {', '.join(names)})"
        )
    index = {name: i for i, name in enumerate(names)}
    paths, labels, part = [], [], []
    for which, classes in ((0, train), (1, held_out or {})):
        for name in sorted(classes):
            paths.extend(classes[name])
            labels.extend([index[name]] * len(classes[name]))
            part.extend([which] * len(classes[name]))
    if held_out is None:
        stratified_split(np.zeros(2, dtype=np.int64), val_split, seed)  # validate before decoding
    images, kept, channels, skipped = decode_many(paths, channels=channels, size=size, progress=progress,
                                                  max_pixels=max_pixels)
    labels = np.array(labels, dtype=np.int64)[kept]
    part = np.array(part, dtype=np.int64)[kept]
    train_idx = np.flatnonzero(part == 0)
    present = set(labels[train_idx].tolist())
    lost = [name for name in sorted(train) if index[name] not in present]
    if lost:
        raise CnnconvError(f"no image of class {lost[0]!r} could be decoded (see the skipped files)")
    if held_out is None:
        fit_idx, val_idx = stratified_split(labels, val_split, seed)
    else:
        fit_idx, val_idx = train_idx, np.flatnonzero(part == 1)
    mean, std = channel_stats(images[fit_idx])
    return FolderDataset(
        x_train=images[fit_idx], y_train=labels[fit_idx], x_val=images[val_idx], y_val=labels[val_idx],
        class_names=names, channels=channels, mean=mean, std=std, validation=validation, skipped=skipped,
    )


def load_eval_set(
    root: str | Path,
    class_names: list[str],
    *,
    channels: str,
    size: tuple[int, int],
    progress: Progress | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]], str]:
    """The images to evaluate a model on: ``root/test`` (or ``root/val``) if there is one,
    else every ``root/<class>/`` image. Returns ``(x, y, skipped, folder)``."""
    root = _data_folder(root)
    _, held_out, validation = find_layout(root) if (root / "train").is_dir() else (None, None, "")
    folder = root / validation if held_out is not None else root
    classes = held_out if held_out is not None else _scan_classes(root, "data folder")
    unknown = sorted(set(classes) - set(class_names))
    if unknown:
        raise CnnconvError(
            f"class folder {unknown[0]!r} in {str(folder)!r} is not a class of the model "
            f"(its classes: {', '.join(class_names)})"
        )
    paths, labels = [], []
    for name in sorted(classes):
        paths.extend(classes[name])
        labels.extend([class_names.index(name)] * len(classes[name]))
    images, kept, _, skipped = decode_many(paths, channels=channels, size=size, progress=progress,
                                           max_pixels=max_pixels)
    if not len(kept):
        raise CnnconvError(f"no image in {str(folder)!r} could be decoded")
    return images, np.array(labels, dtype=np.int64)[kept], skipped, str(folder)
