"""``cnnconv train``: fit a small CNN on a folder of images and save it as one .npz."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click

from cnnconv.cli._common import EXIT_USAGE, CliError, stderr_console
from cnnconv.cli._options import MemoryType, PathArg
from cnnconv.cli._training import (Run, decode_progress, fit_and_report, finish, max_pixels_option, pixel_limit,
                                   warn_skipped)

#: Largest --lr and --weight-decay: beyond it a step overflows float32 weights instead of learning.
MAX_RATE = 1e6


class SizeType(click.ParamType):
    """``HxW`` or ``N`` (square), both >= 1."""

    name = "HxW"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        match = re.fullmatch(r"\s*(\d+)\s*(?:[x×,]\s*(\d+)\s*)?", str(value))
        if not match or int(match[1]) < 1 or (match[2] is not None and int(match[2]) < 1):
            self.fail(f"{value!r} is not a size; give HxW like 32x32 (or one number for a square)", param, ctx)
        height = int(match[1])
        width = int(match[2]) if match[2] is not None else height
        from cnnconv.io.formats import DEFAULT_MAX_PIXELS  # no resize target may exceed the decoding limit

        if height * width > DEFAULT_MAX_PIXELS:
            self.fail(f"{value!r} is {height * width} pixels per image, over the limit of {DEFAULT_MAX_PIXELS}; "
                      "a small CNN wants small images, e.g. 64x64", param, ctx)
        return height, width


def prepare(data_dir, *, spec, channels, size, val_split, seed, output, resume, plots, as_json,
            options, max_memory: int | None, max_pixels: int | None) -> Run:
    """Check the options, load the data (or the model to resume), build the network."""
    from cnnconv.errors import CnnconvError
    from cnnconv.io.atomic import refuse_overwriting_inputs
    from cnnconv.io.dataset import load_dataset

    console = stderr_console()
    try:
        refuse_overwriting_inputs(output, [resume] if resume else [])
    except CnnconvError as exc:
        raise click.BadParameter(f"{exc} (e.g. -o {output.stem}-2{output.suffix})", param_hint="-o/--output") from None
    _refuse_writing_into_the_data(data_dir, output, plots)
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise CliError(f"{output}: the directory {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):  # find out now, not after the training
        raise CliError(f"{output}: cannot write to the directory {folder} (permission denied)")
    if plots is not None:
        _check_plots_folder(plots)
    layers = _parse_spec(spec) if spec is not None else None
    previous = None
    if resume is not None:
        previous = _resume(resume, spec, channels, size)
        channels, size = previous[1]["channels"], tuple(previous[1]["input_shape"][:2])
    with decode_progress(console, "decoding") as progress:
        data = load_dataset(data_dir, channels=channels, size=size, val_split=val_split, seed=seed,
                            class_names=previous[1]["class_names"] if previous else None, progress=progress,
                            max_pixels=pixel_limit(max_pixels))
    warn_skipped(data.skipped, console)
    if previous is not None:
        network, meta = previous
        data.mean, data.std = meta["mean"], meta["std"]  # the network was trained on these
        history, optimizer_state = list(meta.get("history") or []), meta.get("optimizer_state")
        _check_memory(data, network, None, options, max_memory, spec)
    else:
        _check_memory(data, None, layers, options, max_memory, spec)
        network = _build(data, spec, layers, seed)
        history, optimizer_state = [], None
    if not as_json:
        _print_shape_table(network)
    return Run(data=data, network=network, output=output, resume=resume, console=console, as_json=as_json,
               data_dir=data_dir, history=tuple(history), optimizer_state=optimizer_state)


def _check_plots_folder(plots: Path) -> None:
    """Find out before the training, not after it, that the plots cannot be written."""
    existing = plots
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise CliError(f"--plots {plots}: {existing} is a file, not a folder; choose another --plots folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "write into" if existing == plots else "create a folder in"
        raise CliError(f"--plots {plots}: cannot {what} {existing} (permission denied); "
                       "check the permissions (ls -l) or choose another --plots folder")


def _refuse_writing_into_the_data(data_dir: Path, output: Path, plots: Path | None) -> None:
    """An image of the data set is an input; PNG plots inside it would become training images."""
    from cnnconv.io.formats import input_kind

    if plots is not None and (plots.resolve() == output.resolve() or plots.resolve() in output.resolve().parents):
        raise click.BadParameter(f"{plots} is where the model file {output} goes; give the plots a folder of their own",
                                 param_hint="--plots")
    root = data_dir.resolve()
    if input_kind(output) == "image" and output.resolve().is_relative_to(root):
        raise click.BadParameter(f"{output} is an image inside the data folder {data_dir}; "
                                 "the model file goes elsewhere (e.g. -o model.npz)", param_hint="-o/--output")
    if plots is not None and plots.resolve().is_relative_to(root):
        raise click.BadParameter(f"{plots} is inside the data folder {data_dir}, where the PNGs would be "
                                 "taken for training images; choose a folder outside it", param_hint="--plots")


def _parse_spec(spec):
    """Parse --layers before any image is decoded; a bad token, or a network that cannot be trained
    as a classifier of whole images (a U-Net's per-pixel output), is shown with a caret (exit 2)."""
    from cnnconv.cli.shape import LayerSpecUsageError
    from cnnconv.nn.head import refuse_dense_prediction
    from cnnconv.shape.grammar import LayerSpecError, parse_network

    try:
        graph = parse_network(spec)
        refuse_dense_prediction(graph)
        return graph
    except LayerSpecError as exc:
        raise LayerSpecUsageError(f"--layers: {exc}", spec, exc.pos, exc.length) from None


def _resume(resume, spec, channels, size):
    """Load the model to continue; options that contradict it are usage errors."""
    from cnnconv.io.model import load_model

    from cnnconv.errors import CnnconvError
    from cnnconv.nn.head import classifier_graph

    network, meta = load_model(resume)
    compact = "".join((spec or "").split())
    same = {compact, f"{compact},fc{meta['num_classes']}"}
    if spec is not None:
        try:
            same.add(classifier_graph(spec, meta["num_classes"])[1])
        except CnnconvError:
            pass  # not a spec this model could have: the clash below says so
    conflicts = [
        ("--layers", spec is not None and meta["spec"] not in same, meta["spec"]),
        ("--gray/--rgb", channels is not None and channels != meta["channels"], meta["channels"]),
        ("--size", size is not None and tuple(size) != tuple(meta["input_shape"][:2]),
         "x".join(map(str, meta["input_shape"][:2]))),
    ]
    for hint, clash, value in conflicts:
        if clash:
            raise click.BadParameter(f"{resume} was trained with {value}; drop the option to resume it", param_hint=hint)
    return network, meta


def resumed_seed(resume) -> int:
    """The seed a model was trained with, so a resumed run keeps its validation split."""
    from cnnconv.io.model import read_meta

    seed = read_meta(resume)[0].get("training", {}).get("seed", 0)
    return seed if isinstance(seed, int) else 0


def _build(data, spec, layers, seed):
    from cnnconv.cli.shape import LayerSpecUsageError
    from cnnconv.errors import CnnconvError
    from cnnconv.shape.grammar import parse_layers
    from cnnconv.nn.model import build_network, default_spec

    input_shape = tuple(int(n) for n in data.x_train.shape[1:])
    if layers is None:
        layers = parse_layers(default_spec(input_shape))
    try:
        return build_network(layers, input_shape, len(data.class_names), seed=seed)
    except CnnconvError as exc:
        if spec is None:
            raise
        raise LayerSpecUsageError(f"--layers: {exc} (input {'x'.join(map(str, input_shape))})") from None


def _check_memory(data, network, layers, options, limit: int | None, spec) -> None:
    """Refuse (exit 2) a run whose estimated peak memory is over ``limit``, before anything is built."""
    from cnnconv.shape.memory import optimizer_slots, training_bytes
    from cnnconv.cli.shape import format_bytes
    from cnnconv.errors import CnnconvError
    from cnnconv.nn.head import classifier_graph
    from cnnconv.nn.model import default_spec
    from cnnconv.shape.summary import summarize_network

    if limit is None:
        return
    input_shape = tuple(int(n) for n in data.x_train.shape[1:])
    if network is not None:
        layers = network.spec
    else:
        try:
            layers = classifier_graph(layers if layers is not None else default_spec(input_shape),
                                      len(data.class_names))[0]
        except CnnconvError:
            return  # a class layer of the wrong size: building the network says so
    try:
        rows = summarize_network(input_shape, layers).rows
    except CnnconvError:
        return  # a stack that does not fit its input: building it says which layer, and why
    # validation runs forward only (one copy per activation) in batches of up to 256
    batch = max(min(options.batch_size, len(data.y_train)), -(-min(256, len(data.y_val)) // 3))
    total, per_layer = training_bytes([(r.params, r.activations) for r in rows],
                                      input_values=input_shape[0] * input_shape[1] * input_shape[2],
                                      batch_size=batch, slots=optimizer_slots(options.optimizer, options.momentum))
    if total <= limit:
        return
    worst = max(range(len(rows)), key=per_layer.__getitem__)
    row = rows[worst]
    parts = [f"{row.params:,} parameters" if row.params else "", f"{row.activations:,} outputs per image"]
    raise click.BadParameter(
        f"training would need about {format_bytes(total)} of memory, over the limit of {format_bytes(limit)}; "
        f"the largest layer is {row.index} {row.text} ({format_bytes(per_layer[worst])}: "
        f"{', '.join(p for p in parts if p)}); use smaller layers, a smaller --batch-size or --size, "
        f"or raise --max-memory if the machine has the memory",
        param_hint="--layers" if spec is not None else "--size")


def _print_shape_table(network) -> None:
    """The ``cnnconv shape`` table of the network about to be trained (the shape command's own rendering)."""
    from cnnconv.cli.shape import print_shape_table
    from cnnconv.shape.summary import summarize_network

    print_shape_table(summarize_network(network.input_shape, network.spec), False)


EXAMPLES = """
\b
Examples:
  cnnconv train shapes/ --epochs 5 -o shapes.npz
  cnnconv train digits/ --layers lenet5 --epochs 3 -o lenet.npz
  cnnconv train digits/ --gray --size 28x28 --layers conv5x8:p2,relu,pool2,conv5x16,relu,pool2,fc120,relu,fc84,relu,fc10
  cnnconv train photos/ --rgb --size 64x64 --optimizer sgd --lr 0.01 --momentum 0.9 --nesterov
  cnnconv train shapes/ --resume shapes.npz --epochs 5 -o shapes-more.npz --plots plots/

\b
DATA_DIR is root/<class>/*.png (ImageFolder), or root/train/<class>/... with root/test/
(or root/val/) beside it. Without a test folder, --val-split of each class is held out.
Ctrl-C stops cleanly and saves the best model so far (exit status 130).
"""


@click.command("train", epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("data_dir", type=PathArg(file_okay=False, path_type=Path))
@click.option("-l", "--layers", "spec", metavar="SPEC", help="Layers as for 'cnnconv shape' (see its --help for the grammar), or a zoo network's name "
                   "(cnnconv shape --list), e.g. lenet5; default: LeNet-like for the input size.")
@click.option("--gray", "channels", flag_value="gray", help="Train on gray images (default: gray if every image is gray).")
@click.option("--rgb", "channels", flag_value="rgb", help="Train on colour images.")
@click.option("--size", type=SizeType(), help="Resize every image to HxW (default: the size of the first image; all must match).")
@click.option("--val-split", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.1, show_default=True,
              help="Part of each class held out for validation when there is no test/ or val/ folder.")
@click.option("--loss", type=click.Choice(["xent", "sse"]), default="xent", show_default=True,
              help="Softmax cross-entropy, or the sum of squared errors.")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", show_default=True)
@click.option("--lr", type=float, help="Learning rate (default 0.001 for adam, 0.01 for sgd).")
@click.option("--momentum", type=click.FloatRange(0, 1, max_open=True), default=0.9, show_default=True, help="SGD momentum.")
@click.option("--nesterov", is_flag=True, help="Nesterov momentum (sgd).")
@click.option("--weight-decay", type=click.FloatRange(0, MAX_RATE), default=0.0, show_default=True, help="L2 weight decay.")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True, help="Epochs to train (more epochs with --resume).")
@click.option("--patience", type=click.IntRange(1), help="Stop after N epochs without a better validation accuracy.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Seed of the split, the initial weights and the batch order.  [default: 0, or the resumed model's]")
@click.option("-o", "--output", type=PathArg(dir_okay=False, path_type=Path), default=Path("model.npz"), show_default=True,
              help="Model file to write (atomically).")
@click.option("--resume", type=PathArg(dir_okay=False, exists=True, path_type=Path), metavar="MODEL",
              help="Continue training a model file (its layers, classes, size and optimiser state).")
@click.option("--plots", type=PathArg(file_okay=False, path_type=Path), metavar="DIR",
              help="Write kernels.png (first-layer kernels) and curves.png (loss and accuracy) here.")
@max_pixels_option
@click.option("--max-memory", type=MemoryType(), default="8GB", show_default=True,
              help="Refuse a run whose estimated peak memory (weights, gradients, optimiser state, activations "
                   "of a batch) is larger; K, M, G, T are powers of 1024; 'none' for no limit.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the table and epoch lines.")
def train_cmd(data_dir, spec, channels, size, val_split, loss, optimizer, lr, momentum, nesterov, weight_decay,
              batch_size, epochs, patience, seed, output, resume, plots, max_pixels, max_memory, as_json):
    """Fit a small CNN on the images in DATA_DIR and save it as one .npz model file."""
    if lr is None:
        lr = 1e-3 if optimizer == "adam" else 1e-2
    if seed is None:
        seed = resumed_seed(resume) if resume is not None else 0
    if lr <= 0 or lr > MAX_RATE:  # NaN is let through on purpose: training then stops and says so
        raise click.BadParameter(f"{lr!r} is not a learning rate; give a positive number up to {MAX_RATE:g} like 0.001 "
                                 "(a larger one only overflows the weights)", param_hint="--lr")
    from cnnconv.cli._signals import stop_requests
    from cnnconv.nn.train import FitOptions
    from cnnconv.shape.zoo import find_zoo

    zoo = find_zoo(spec) if spec is not None else None
    if zoo is not None:  # its layers, with the class layer made for the data set's classes
        spec = zoo.trunk

    options = FitOptions(loss=loss, optimizer=optimizer, lr=lr, momentum=momentum, nesterov=nesterov,
                         weight_decay=weight_decay, batch_size=batch_size, epochs=epochs, patience=patience, seed=seed)
    run = prepare(data_dir, spec=spec, channels=channels, size=size, val_split=val_split, seed=seed,
                  output=output, resume=resume, plots=plots, as_json=as_json, options=options, max_memory=max_memory,
                  max_pixels=max_pixels)
    with stop_requests() as stop:  # from here a signal stops the training at a batch boundary and the save is whole
        result = fit_and_report(run, options, stop)
        finish(run, result, options, stop, plots=plots)
