"""``cnnconv train``: fit a small CNN on a folder of images and save it as one .npz."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click

from cnnconv.cli._common import EXIT_USAGE, CliError, stderr_console

EXIT_INTERRUPTED = 130  # as for Ctrl-C anywhere else in cnnconv (see cnnconv.cli.main)
MAX_PIXELS = 89_478_485  # Pillow's decompression-bomb limit: no resize target may exceed it


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
        if height * width > MAX_PIXELS:
            self.fail(f"{value!r} is {height * width} pixels per image, over the limit of {MAX_PIXELS}; "
                      "a small CNN wants small images, e.g. 64x64", param, ctx)
        return height, width


def decode_progress(console, what: str):
    """A context manager yielding a ``progress(done, total)`` callback (a bar only on a terminal)."""
    from contextlib import contextmanager

    @contextmanager
    def bar():
        if not console.is_terminal:
            yield None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, transient=True) as progress:
            task = progress.add_task(what, total=None)

            def update(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            yield update

    return bar()


def warn_skipped(skipped, console) -> None:
    for path, reason in skipped:
        console.print(f"cnnconv: warning: skipped {path}: {reason}", markup=False, soft_wrap=True)
    if skipped:
        console.print(f"cnnconv: warning: {len(skipped)} file(s) could not be read and were skipped",
                      markup=False, soft_wrap=True)


class Run:
    """Everything prepared before the first epoch: the data, the network, where it goes."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


def prepare(data_dir, *, spec, channels, size, val_split, seed, output, resume, plots, as_json) -> Run:
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
    layers = _parse_spec(spec) if spec is not None else None
    previous = None
    if resume is not None:
        previous = _resume(resume, spec, channels, size)
        channels, size = previous[1]["channels"], tuple(previous[1]["input_shape"][:2])
    with decode_progress(console, "decoding") as progress:
        data = load_dataset(data_dir, channels=channels, size=size, val_split=val_split, seed=seed,
                            class_names=previous[1]["class_names"] if previous else None, progress=progress)
    warn_skipped(data.skipped, console)
    if previous is not None:
        network, meta = previous
        data.mean, data.std = meta["mean"], meta["std"]  # the network was trained on these
        history, optimizer_state = list(meta.get("history") or []), meta.get("optimizer_state")
    else:
        network = _build(data, spec, layers, seed)
        history, optimizer_state = [], None
    if not as_json:
        _print_shape_table(network)
    return Run(data=data, network=network, output=output, resume=resume, console=console, as_json=as_json,
               data_dir=data_dir, history=history, optimizer_state=optimizer_state)


def _refuse_writing_into_the_data(data_dir: Path, output: Path, plots: Path | None) -> None:
    """An image of the data set is an input; PNG plots inside it would become training images."""
    from cnnconv.io.dataset import IMAGE_SUFFIXES

    root = data_dir.resolve()
    if output.suffix.lower() in IMAGE_SUFFIXES and output.resolve().is_relative_to(root):
        raise click.BadParameter(f"{output} is an image inside the data folder {data_dir}; "
                                 "the model file goes elsewhere (e.g. -o model.npz)", param_hint="-o/--output")
    if plots is not None and plots.resolve().is_relative_to(root):
        raise click.BadParameter(f"{plots} is inside the data folder {data_dir}, where the PNGs would be "
                                 "taken for training images; choose a folder outside it", param_hint="--plots")


def _parse_spec(spec):
    """Parse --layers before any image is decoded; a bad token is shown with a caret (exit 2)."""
    from cnnconv.cli.shape import caret_lines
    from cnnconv.layerspec import LayerSpecError, parse_layers

    try:
        return parse_layers(spec)
    except LayerSpecError as exc:
        click.echo(f"cnnconv: error: --layers: {exc}", err=True)
        for line in caret_lines(spec, exc.pos, exc.length):
            click.echo(line, err=True)
        raise click.exceptions.Exit(EXIT_USAGE) from None


def _resume(resume, spec, channels, size):
    """Load the model to continue; options that contradict it are usage errors."""
    from cnnconv.io.model import load_model

    network, meta = load_model(resume)
    compact = "".join((spec or "").split())
    conflicts = [
        ("--layers", spec is not None and meta["spec"] not in (compact, f"{compact},fc{meta['num_classes']}"), meta["spec"]),
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
    from cnnconv.errors import CnnconvError
    from cnnconv.layerspec import parse_layers
    from cnnconv.nn.model import build_network, default_spec

    input_shape = tuple(int(n) for n in data.x_train.shape[1:])
    if layers is None:
        layers = parse_layers(default_spec(input_shape))
    try:
        return build_network(layers, input_shape, len(data.class_names), seed=seed)
    except CnnconvError as exc:
        if spec is None:
            raise
        click.echo(f"cnnconv: error: --layers: {exc} (input {'x'.join(map(str, input_shape))})", err=True)
        raise click.exceptions.Exit(EXIT_USAGE) from None


def _print_shape_table(network) -> None:
    """The ``cnnconv shape`` table of the network about to be trained (the shape command's own rendering)."""
    from cnnconv.cli.shape import _print_table
    from cnnconv.netshape import summarize_network

    _print_table(summarize_network(network.input_shape, network.spec), False)


def fit_and_report(run: Run, options: dict):
    """Train, drawing a bar per epoch (on a terminal) and printing one line per epoch."""
    from cnnconv.io.dataset import standardise
    from cnnconv.nn.train import FitResult, fit

    data, console = run.data, run.console
    x_train = standardise(data.x_train, data.mean, data.std)
    x_val = standardise(data.x_val, data.mean, data.std)
    total = options["epochs"] + len(run.history)
    bar = {"progress": None, "task": None}

    def on_batch(epoch, i, n_batches, running_loss):
        if not console.is_terminal:
            return
        if bar["progress"] is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            bar["progress"] = Progress(TextColumn(f"epoch {epoch}/{total}"), BarColumn(), MofNCompleteColumn(),
                                       TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
                                       console=console, transient=True)
            bar["progress"].start()
            bar["task"] = bar["progress"].add_task("", total=n_batches, loss="-")
        bar["progress"].update(bar["task"], completed=i + 1, loss=f"{running_loss:.4f}")

    def close_bar():
        if bar["progress"] is not None:
            bar["progress"].stop()
            bar["progress"] = None

    # fit keeps the best weights itself, but a Ctrl-C that lands between its epochs (in this
    # callback, say) escapes it: track the best here too so that case saves it as well
    scores = [h["val_acc"] for h in run.history if h.get("val_acc") is not None]
    seen = {"history": list(run.history), "acc": max(scores, default=-1.0), "state": run.network.state(),
            "epoch": max((h["epoch"] for h in run.history if h.get("val_acc") == max(scores, default=None)), default=0)}

    def on_epoch(stats):
        close_bar()
        seen["history"].append(stats)
        if stats.get("val_acc") is None or stats["val_acc"] > seen["acc"]:
            seen.update(acc=stats.get("val_acc") or 0.0, state=run.network.state(), epoch=stats["epoch"])
        if not run.as_json:
            click.echo(epoch_line(stats, total))

    fit_options = {k: v for k, v in options.items() if k != "epochs"}
    try:
        return fit(run.network, x_train, data.y_train, x_val, data.y_val, epochs=options["epochs"],
                   on_batch=on_batch, on_epoch=on_epoch, initial_history=run.history or None,
                   optimizer_state=run.optimizer_state, **fit_options)
    except KeyboardInterrupt:
        return FitResult(history=seen["history"], best_state=seen["state"], best_epoch=seen["epoch"],
                         stopped="interrupted", optimizer_state=run.optimizer_state or {})
    finally:
        close_bar()


def epoch_line(stats, total: int) -> str:
    """``epoch  3/10  loss 0.4120  train  88.1%  val  90.0%  2.1 s  1450 img/s``."""
    val = stats.get("val_acc")
    val_text = f"val {val:6.1%}" if val is not None else "val      -"
    return (f"epoch {stats['epoch']:>{len(str(total))}}/{total}  loss {stats['loss']:.4f}  train {stats['train_acc']:6.1%}  "
            f"{val_text}  {stats['seconds']:5.1f} s  {stats['images_per_s']:6.0f} img/s")


def finish(run: Run, result, options: dict, *, plots) -> None:
    """Save the best weights (or the last good ones), write plots, report how it ended."""
    from cnnconv.io.model import save_model
    from cnnconv.io.plots import save_training_plots

    network, data, history = run.network, run.data, list(result.history)
    if result.stopped == "interrupted" and not history:
        run.console.print("cnnconv: interrupted before the first epoch ended: nothing learned, no model saved",
                          markup=False, soft_wrap=True)
        click.get_current_context().exit(EXIT_INTERRUPTED)
    network.load_state(result.best_state)
    meta = dict(class_names=data.class_names, channels=data.channels, mean=data.mean, std=data.std,
                history=history, optimizer_state=result.optimizer_state,
                training=dict(options, data_dir=str(run.data_dir), validation=data.validation,
                              train_images=len(data.y_train), val_images=len(data.y_val),
                              best_epoch=result.best_epoch, stopped=result.stopped))
    save_model(run.output, network, meta)
    written = save_training_plots(plots, network, history) if plots is not None else []
    if run.as_json:
        click.echo(json.dumps({
            "model": str(run.output), "stopped": result.stopped, "best_epoch": result.best_epoch,
            "classes": data.class_names, "input_shape": list(network.input_shape), "spec": network.spec,
            "train_images": len(data.y_train), "val_images": len(data.y_val), "validation": data.validation,
            "history": history, "plots": [str(p) for p in written],
            "skipped": [{"file": f, "reason": r} for f, r in data.skipped],
        }))
    best = _describe_best(history, result.best_epoch)
    if result.stopped == "nan":
        raise CliError(f"the loss became NaN or infinite (learning rate {options['lr']:g}; try a smaller --lr); "
                       f"kept the last good model in {run.output} ({best})")
    if result.stopped == "interrupted":
        run.console.print(f"cnnconv: interrupted: saved the best model so far to {run.output} ({best})",
                          markup=False, soft_wrap=True)
        click.get_current_context().exit(EXIT_INTERRUPTED)
    early = (f"stopped early: no better validation accuracy for {options['patience']} epochs; "
             if result.stopped == "early" else "")
    message = f"{early}saved {run.output}: best {best}"
    if run.as_json:
        run.console.print(f"cnnconv: {message}", markup=False, soft_wrap=True)
        return
    click.echo(message)
    for path in written:
        click.echo(f"wrote {path}")


def _describe_best(history, best_epoch: int) -> str:
    entry = next((h for h in history if h["epoch"] == best_epoch), None)
    if entry is None:
        return "the starting weights, from before the first epoch"
    if entry.get("val_acc") is None:
        return f"epoch {best_epoch}"
    return f"epoch {best_epoch}, validation accuracy {entry['val_acc']:.1%}"


EXAMPLES = """
\b
Examples:
  cnnconv train shapes/ --epochs 5 -o shapes.npz
  cnnconv train digits/ --gray --size 28x28 --layers conv5x8:p2,relu,pool2,conv5x16,relu,pool2,fc120,relu,fc84,relu,fc10
  cnnconv train photos/ --rgb --size 64x64 --optimizer sgd --lr 0.01 --momentum 0.9 --nesterov
  cnnconv train shapes/ --resume shapes.npz --epochs 5 -o shapes-more.npz --plots plots/

\b
DATA_DIR is root/<class>/*.png (ImageFolder), or root/train/<class>/... with root/test/
(or root/val/) beside it. Without a test folder, --val-split of each class is held out.
Ctrl-C stops cleanly and saves the best model so far (exit status 130).
"""


@click.command("train", epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--layers", "spec", metavar="SPEC", help="Layers as for 'cnnconv shape' (see its --help for the grammar; default: LeNet-like for the input size).")
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
@click.option("--weight-decay", type=click.FloatRange(0), default=0.0, show_default=True, help="L2 weight decay.")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True, help="Epochs to train (more epochs with --resume).")
@click.option("--patience", type=click.IntRange(1), help="Stop after N epochs without a better validation accuracy.")
@click.option("--seed", type=int, help="Seed of the split, the initial weights and the batch order.  [default: 0, or the resumed model's]")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("model.npz"), show_default=True,
              help="Model file to write (atomically).")
@click.option("--resume", type=click.Path(dir_okay=False, exists=True, path_type=Path), metavar="MODEL",
              help="Continue training a model file (its layers, classes, size and optimiser state).")
@click.option("--plots", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write kernels.png (first-layer kernels) and curves.png (loss and accuracy) here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the table and epoch lines.")
def train_cmd(data_dir, spec, channels, size, val_split, loss, optimizer, lr, momentum, nesterov, weight_decay,
              batch_size, epochs, patience, seed, output, resume, plots, as_json):
    """Fit a small CNN on the images in DATA_DIR and save it as one .npz model file."""
    if lr is None:
        lr = 1e-3 if optimizer == "adam" else 1e-2
    if seed is None:
        seed = resumed_seed(resume) if resume is not None else 0
    if lr <= 0:  # NaN is let through on purpose: training then stops and says so
        raise click.BadParameter(f"{lr!r} is not a learning rate; give a positive number like 0.001", param_hint="--lr")
    options = dict(loss=loss, optimizer=optimizer, lr=lr, momentum=momentum, nesterov=nesterov,
                   weight_decay=weight_decay, batch_size=batch_size, epochs=epochs, patience=patience, seed=seed)
    run = prepare(data_dir, spec=spec, channels=channels, size=size, val_split=val_split, seed=seed,
                    output=output, resume=resume, plots=plots, as_json=as_json)
    result = fit_and_report(run, options)
    finish(run, result, options, plots=plots)
