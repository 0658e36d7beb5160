"""``cnnconv predict`` and ``cnnconv evaluate``: use a model file written by ``cnnconv train``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from cnnconv.cli._common import EXIT_FAILED, CliError, say, stderr_console
from cnnconv.cli._options import PathArg
from cnnconv.cli._training import max_pixels_option, pixel_limit

PREDICT_EXAMPLES = """
\b
Examples:
  cnnconv predict model.npz cat.png dog.jpg
  cnnconv predict model.npz test/*.png --top-k 1 --json
  cnnconv predict model.npz digit.png --feature-maps maps/

\b
Each image is prepared as the training images were: converted to the model's channels,
resized to its input size, and standardised with the training set's mean and std.
"""

EVALUATE_EXAMPLES = """
\b
Examples:
  cnnconv evaluate model.npz data/
  cnnconv evaluate model.npz data/ --json

\b
DATA_DIR is root/<class>/*.png, or a root/train + root/test (or root/val) layout, in which
case the test (or val) images are used. Its class folders must be classes of the model.
"""


def _stdout_console():
    """Rich console on stdout; piped output is never folded (scripts split lines on whitespace)."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    return console if console.is_terminal else Console(highlight=False, soft_wrap=True, width=4096)


def _percent(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.1%}"


@click.command("predict", epilog=PREDICT_EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model", type=PathArg(dir_okay=False, path_type=Path))
@click.argument("images", nargs=-1, required=True, type=PathArg(path_type=Path))
@click.option("--top-k", type=click.IntRange(1), default=3, show_default=True, help="Classes to show per image.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per image on stdout.")
@click.option("--feature-maps", type=PathArg(file_okay=False, path_type=Path), metavar="DIR",
              help="Write each convolution layer's feature maps of each image as a PNG grid here.")
@max_pixels_option
def predict_cmd(model, images, top_k, as_json, feature_maps, max_pixels):
    """Classify IMAGE... with MODEL (a .npz from 'cnnconv train'): the top-k classes and their probabilities."""
    import numpy as np

    from cnnconv.errors import CnnconvError
    from cnnconv.io.dataset import load_for_model, standardise
    from cnnconv.io.model import load_model
    from cnnconv.nn.model import predict_proba

    network, meta = load_model(model)
    console = stderr_console()
    h, w, _ = network.input_shape
    results: list[dict] = [{"image": str(path)} for path in images]  # one per input, in order
    good, arrays = [], []
    for i, path in enumerate(images):
        try:
            array, original = load_for_model(path, meta["channels"], (h, w), max_pixels=pixel_limit(max_pixels))
        except CnnconvError as exc:
            results[i]["error"] = str(exc)
            continue
        if original != (h, w):
            note = f"resized from {original[0]}x{original[1]} to the model's {h}x{w}"
            results[i]["notes"] = [note]
            if not as_json:
                say(console, "note", f"{path}: {note}")
        good.append(i)
        arrays.append(array)
    top_k = min(top_k, network.num_classes)
    if arrays:
        x = standardise(np.stack(arrays), meta["mean"], meta["std"])
        for i, p in zip(good, predict_proba(network, x)):
            # the NumPy scalar, so --json writes it at the network's precision (float32: 0.64648724)
            top = [{"class": meta["class_names"][k], "probability": p[k]}
                   for k in np.argsort(-p, kind="stable")[:top_k]]
            results[i].update({"class": top[0]["class"], "probability": top[0]["probability"], "top": top})
        if feature_maps is not None:
            written = _write_feature_maps(feature_maps, network, [images[i] for i in good], x, console, as_json)
            for i, paths in zip(good, written):
                results[i]["feature_maps"] = [str(p) for p in paths]
    _report_predictions(results, top_k, as_json)
    failures = [r for r in results if "error" in r]
    for record in failures:
        say(console, "error", record["error"])
    if failures:
        raise click.exceptions.Exit(EXIT_FAILED)


def _report_predictions(results, top_k, as_json) -> None:
    if as_json:  # one JSON line per input, failures included
        for record in results:
            click.echo(_dumps(record))
        return
    if not any("top" in r for r in results):
        return
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("image", overflow="fold")
    for rank in range(1, top_k + 1):
        table.add_column(f"#{rank}")
    for record in results:
        if "top" in record:
            table.add_row(escape(record["image"]), *(escape(f"{t['class']} {t['probability']:.1%}") for t in record["top"]))
    _stdout_console().print(table)


def _write_feature_maps(folder: Path, network, paths, x, console, as_json) -> list[list[Path]]:
    """One PNG grid per convolution layer and image; returns the files written for each image."""
    from cnnconv.io.plots import feature_map_sheet, save_png

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"{folder}: cannot create the feature-map folder: {exc.strerror or exc}") from None
    stems = [path.stem for path in paths]
    clash = len(set(stems)) < len(stems)  # a/0.png and b/0.png must not overwrite each other
    written: list[list[Path]] = []
    for i, path in enumerate(paths):
        name = f"{i + 1:03d}-{path.stem}" if clash else path.stem
        written.append([])
        for index, text, maps in network.feature_maps(x[i : i + 1]):
            number = index + 1  # the row number of the layer in 'cnnconv shape' and train's table
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)
            target = folder / f"{name}-layer{number:02d}-{safe}.png"
            shape = "×".join(map(str, maps.shape[1:]))
            save_png(feature_map_sheet(maps[0], f"{path.name}: layer {number} ({text}), {shape}"), target)
            written[-1].append(target)
            if not as_json:  # with --json the record of the image lists them
                say(console, "note", f"{path}: wrote {target} ({maps.shape[-1]} feature maps of layer "
                                     f"{number}, {text})")
    return written


@click.command("evaluate", epilog=EVALUATE_EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model", type=PathArg(dir_okay=False, path_type=Path))
@click.argument("data_dir", type=PathArg(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of tables.")
@max_pixels_option
def evaluate_cmd(model, data_dir, as_json, max_pixels):
    """Measure MODEL on the labelled images of DATA_DIR: accuracy, per-class precision and recall, confusion matrix."""
    from cnnconv.cli._training import decode_progress, warn_skipped
    from cnnconv.io.dataset import load_eval_set, standardise
    from cnnconv.io.model import load_model
    from cnnconv.nn.metrics import accuracy, confusion_matrix, precision_recall
    from cnnconv.nn.model import predict_proba

    network, meta = load_model(model)
    console = stderr_console()
    h, w, _ = network.input_shape
    with decode_progress(console, "decoding") as progress:
        x, y, skipped, folder = load_eval_set(data_dir, meta["class_names"], channels=meta["channels"],
                                              size=(h, w), progress=progress, max_pixels=pixel_limit(max_pixels))
    warn_skipped(skipped, console)
    predicted = predict_proba(network, standardise(x, meta["mean"], meta["std"])).argmax(axis=1)
    names = meta["class_names"]
    cm = confusion_matrix(y, predicted, len(names))
    precision, recall = precision_recall(cm)
    # a class never predicted has no precision: shown as '-' rather than a misleading 0
    precision = [float(p) if cm[:, k].sum() else None for k, p in enumerate(precision)]
    recall = [float(r) if cm[k].sum() else None for k, r in enumerate(recall)]
    acc = accuracy(y, predicted)
    if as_json:
        click.echo(_dumps({
            "model": str(model), "data": folder, "images": int(len(y)), "accuracy": acc,
            "classes": [{"class": n, "precision": p, "recall": r, "support": int(cm[k].sum())}
                        for k, (n, p, r) in enumerate(zip(names, precision, recall))],
            "confusion_matrix": cm.tolist(), "skipped": [{"file": f, "reason": r} for f, r in skipped],
        }))
        return
    _print_evaluation(folder, acc, int((y == predicted).sum()), names, precision, recall, cm)


def _print_evaluation(folder, acc, correct, names, precision, recall, cm) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    out = _stdout_console()
    out.print(f"accuracy {acc:.1%} ({correct}/{int(cm.sum())} images in {folder})", markup=False)
    out.print()
    per_class = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for title in ("class", "precision", "recall", "images"):
        per_class.add_column(title, justify="left" if title == "class" else "right")
    for k, name in enumerate(names):
        per_class.add_row(escape(name), _percent(precision[k]), _percent(recall[k]), str(int(cm[k].sum())))
    out.print(per_class)
    out.print()
    matrix = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title="confusion matrix (rows: true class, columns: predicted)",
                   title_justify="left")
    matrix.add_column("true \\ predicted")
    for name in names:
        matrix.add_column(escape(name), justify="right")
    for k, name in enumerate(names):
        matrix.add_row(escape(name), *(str(int(v)) for v in cm[k]))
    out.print(matrix)


def _dumps(value) -> str:
    """Strict JSON (:func:`cnnconv.io.numbers.dumps`: a NaN is null and a field says why)."""
    from cnnconv.io.numbers import dumps

    return dumps(value)
